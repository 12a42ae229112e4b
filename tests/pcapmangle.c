/*
 * pcapmangle.c — reorders, restamps and injects packets of an existing capture without
 * touching the peers' TCP byte streams (see pcapmangle.h for what and why).
 *
 * Model: the input frames are parsed once (link, IP, TCP; connections keyed by the
 * unordered 4-tuple, client = sender of the first SYN without ACK, else of the first
 * packet). The output is a sequence `ord` of frame indices. Reordering manglings permute
 * a window of `ord` and leave the timestamps with the positions (a capture point stamps
 * packets when it sees them, so the file stays monotonic); injections take the time of
 * the packet before them; SPAN and the clock manglings rewrite timestamps explicitly.
 */
#include "pcapmangle.h"
#include "pcapw.h"

#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXCONN 64
#define NBITS 10

typedef struct pkt {
	uint8_t *d;
	size_t len;
	int64_t ts;               /* microseconds */
	int orig;                 /* index in the input, -1 for made-up frames */
	int dup_of;               /* for duplicates: the original index, else -1 */
	int synthetic;            /* injected, payload-free (RST/SYN) or unrelated */
	int tcp;                  /* a TCP packet of a tracked connection */
	int conn, dir;            /* dir 0 = client -> server */
	int ipv6;
	size_t l2len;
	uint8_t src[16], dst[16];
	uint16_t sport, dport, win;
	uint32_t seq, ack;
	uint8_t flags;
	size_t plen;
	const uint8_t *pay;
} pkt_t;

typedef struct conn {
	int ipv6;
	uint8_t cip[16], sip[16];
	uint16_t cport, sport;
} conn_t;

typedef struct mg {
	int dlt;
	pkt_t *p;
	size_t np, capp;
	int *ord;
	size_t n, capo;
	conn_t conn[MAXCONN];
	int nconn;
	uint32_t rng;
	pm_report_t *rep;
} mg_t;

static const char *kind_names[NBITS] = {
	"late", "ackfirst", "replyfirst", "dup", "stray-oow", "rst-next", "span",
	"ts-future", "ts-past", "ts-step",
};

const char *pm_kind_name(unsigned bit)
{
	for (int i = 0; i < NBITS; i++)
		if (bit == (1u << i)) return kind_names[i];
	return "?";
}

static uint32_t rnd(mg_t *m)
{
	uint32_t x = m->rng;
	x ^= x << 13; x ^= x >> 17; x ^= x << 5;
	return m->rng = x;
}
static uint32_t rnd_below(mg_t *m, uint32_t n) { return n ? rnd(m) % n : 0; }

static void say(mg_t *m, const char *fmt, ...)
{
	size_t o = strlen(m->rep->desc);
	if (o >= sizeof m->rep->desc - 2) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->rep->desc + o, sizeof m->rep->desc - o, fmt, ap);
	va_end(ap);
}

static uint16_t g16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t g32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static int seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static int seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

/* ---- parsing ---- */

static int link_len(int dlt, const uint8_t *d, size_t len, int *ipver)
{
	size_t off;
	uint16_t et = 0;
	switch (dlt) {
	case DLT_EN10MB:
		if (len < 14) return -1;
		off = 12;
		et = g16(d + off);
		while ((et == 0x8100 || et == 0x88a8) && len >= off + 6) { off += 4; et = g16(d + off); }
		off += 2;
		break;
	case DLT_LINUX_SLL:
		if (len < 16) return -1;
		et = g16(d + 14); off = 16;
		break;
#ifdef DLT_LINUX_SLL2
	case DLT_LINUX_SLL2:
		if (len < 20) return -1;
		et = g16(d); off = 20;
		break;
#endif
	case DLT_RAW: case 101: off = 0; break;
	case DLT_NULL: case DLT_LOOP: off = 4; break;
	default: return -1;
	}
	if (len <= off) return -1;
	if (et == 0x0800 || et == 0x86dd) *ipver = et == 0x86dd ? 6 : 4;
	else *ipver = d[off] >> 4;
	return (int)off;
}

static void parse(mg_t *m, pkt_t *p)
{
	int v = 0;
	int l2 = link_len(m->dlt, p->d, p->len, &v);
	p->tcp = 0; p->conn = -1; p->dir = -1;
	if (l2 < 0) return;
	const uint8_t *ip = p->d + l2;
	size_t rem = p->len - (size_t)l2, iphl, iplen;
	if (v == 4) {
		if (rem < 20 || (ip[0] >> 4) != 4 || ip[9] != 6) return;
		iphl = (size_t)(ip[0] & 15) * 4;
		iplen = g16(ip + 2);
		if ((g16(ip + 6) & 0x3fff) != 0) return;   /* fragments: leave alone */
		p->ipv6 = 0;
		memset(p->src, 0, 16); memset(p->dst, 0, 16);
		memcpy(p->src, ip + 12, 4); memcpy(p->dst, ip + 16, 4);
	} else if (v == 6) {
		if (rem < 40 || ip[6] != 6) return;
		iphl = 40;
		iplen = 40 + (size_t)g16(ip + 4);
		p->ipv6 = 1;
		memcpy(p->src, ip + 8, 16); memcpy(p->dst, ip + 24, 16);
	} else return;
	if (iplen > rem) iplen = rem;   /* truncated capture: what is there */
	if (iplen < iphl + 20) return;
	const uint8_t *t = ip + iphl;
	size_t thl = (size_t)(t[12] >> 4) * 4;
	if (thl < 20 || iphl + thl > iplen) return;
	p->l2len = (size_t)l2;
	p->sport = g16(t); p->dport = g16(t + 2);
	p->seq = g32(t + 4); p->ack = g32(t + 8);
	p->flags = t[13];
	p->win = g16(t + 14);
	p->pay = t + thl;
	p->plen = iplen - iphl - thl;
	p->tcp = 1;
}

static void assign_conn(mg_t *m, pkt_t *p)
{
	size_t al = p->ipv6 ? 16 : 4;
	for (int c = 0; c < m->nconn; c++) {
		conn_t *k = &m->conn[c];
		if (k->ipv6 != p->ipv6) continue;
		if (!memcmp(k->cip, p->src, al) && !memcmp(k->sip, p->dst, al) && k->cport == p->sport && k->sport == p->dport) {
			p->conn = c; p->dir = 0; return;
		}
		if (!memcmp(k->sip, p->src, al) && !memcmp(k->cip, p->dst, al) && k->sport == p->sport && k->cport == p->dport) {
			p->conn = c; p->dir = 1; return;
		}
	}
	if (m->nconn == MAXCONN) { p->tcp = 0; return; }
	conn_t *k = &m->conn[m->nconn];
	k->ipv6 = p->ipv6;
	int client_is_src = !((p->flags & 0x12) == 0x12);   /* a SYN-ACK first: its dst is the client */
	memcpy(k->cip, client_is_src ? p->src : p->dst, 16);
	memcpy(k->sip, client_is_src ? p->dst : p->src, 16);
	k->cport = client_is_src ? p->sport : p->dport;
	k->sport = client_is_src ? p->dport : p->sport;
	p->conn = m->nconn++;
	p->dir = client_is_src ? 0 : 1;
}

static int add_pkt(mg_t *m, const uint8_t *d, size_t len, int64_t ts, int orig)
{
	if (m->np == m->capp) {
		m->capp = m->capp ? m->capp * 2 : 256;
		pkt_t *n = realloc(m->p, m->capp * sizeof *n);
		if (!n) abort();
		m->p = n;
	}
	pkt_t *p = &m->p[m->np];
	memset(p, 0, sizeof *p);
	p->d = malloc(len ? len : 1);
	if (!p->d) abort();
	memcpy(p->d, d, len);
	p->len = len;
	p->ts = ts;
	p->orig = orig;
	p->dup_of = -1;
	parse(m, p);
	if (p->tcp) assign_conn(m, p);
	return (int)m->np++;
}

/* ---- the output order ---- */

static void ord_insert(mg_t *m, size_t pos, int idx)
{
	if (m->n == m->capo) {
		m->capo = m->capo * 2 + 16;
		m->ord = realloc(m->ord, m->capo * sizeof *m->ord);
		if (!m->ord) abort();
	}
	memmove(m->ord + pos + 1, m->ord + pos, (m->n - pos) * sizeof *m->ord);
	m->ord[pos] = idx;
	m->n++;
	m->p[idx].ts = pos ? m->p[m->ord[pos - 1]].ts : (m->n > 1 ? m->p[m->ord[1]].ts : 0);
}

/* Replace ord[s..s+len) by idx[0..len), timestamps staying with the positions. */
static void permute(mg_t *m, size_t s, const int *idx, size_t len)
{
	int64_t *ts = malloc(len * sizeof *ts);
	if (!ts) abort();
	for (size_t i = 0; i < len; i++) ts[i] = m->p[m->ord[s + i]].ts;
	for (size_t i = 0; i < len; i++) { m->ord[s + i] = idx[i]; m->p[idx[i]].ts = ts[i]; }
	free(ts);
}

static pkt_t *at(mg_t *m, size_t pos) { return &m->p[m->ord[pos]]; }
static int is_data(const pkt_t *p) { return p->tcp && p->plen > 0 && !p->synthetic; }
static size_t pos_of(mg_t *m, int idx)
{
	for (size_t i = 0; i < m->n; i++) if (m->ord[i] == idx) return i;
	return (size_t)-1;
}
static void shuffle(mg_t *m, size_t *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd_below(m, (uint32_t)i);
		size_t t = a[i - 1]; a[i - 1] = a[j]; a[j] = t;
	}
}
static void count(mg_t *m, int bit, unsigned n) { m->rep->per_kind[bit] += n; m->rep->applied += n; }

/* (1) [D, ACK(D), D2] -> [D2, ACK(D), D]: up to 3 per direction and connection. */
static void do_late(mg_t *m)
{
	size_t *ci = malloc((m->n + 1) * sizeof *ci), *ck = malloc((m->n + 1) * sizeof *ck);
	if (!ci || !ck) abort();
	unsigned done[2] = { 0, 0 };
	/* windows [D .. D2] of all swaps are disjoint (also across directions), so each swap
	 * leaves exactly [D2, ACK(D), D] */
	size_t taken[3 * 2 * MAXCONN][2];
	unsigned nt = 0;
	for (int c = 0; c < m->nconn; c++)
		for (int d = 0; d < 2; d++) {
			size_t nc = 0;
			for (size_t i = 0; i < m->n; i++) {
				pkt_t *D = at(m, i);
				if (!is_data(D) || D->conn != c || D->dir != d) continue;
				size_t k = i + 1, j = (size_t)-1;
				for (; k < m->n; k++) {
					pkt_t *q = at(m, k);
					if (q->tcp && q->conn == c && q->dir != d && j == (size_t)-1 && (q->flags & 0x10) &&
					    seq_ge(q->ack, D->seq + (uint32_t)D->plen))
						j = k;
					if (is_data(q) && q->conn == c && q->dir == d) break;
				}
				if (k >= m->n || j == (size_t)-1) continue;
				if (!seq_lt(D->seq, at(m, k)->seq)) continue;   /* D2 must be new data */
				ci[nc] = i; ck[nc] = k; nc++;
			}
			size_t *order = malloc((nc + 1) * sizeof *order);
			if (!order) abort();
			for (size_t x = 0; x < nc; x++) order[x] = x;
			shuffle(m, order, nc);
			unsigned nt0 = nt;
			for (size_t x = 0; x < nc && nt - nt0 < 3; x++) {
				size_t i = ci[order[x]], k = ck[order[x]];
				int clash = 0;
				for (unsigned y = 0; y < nt; y++)
					if (!(k < taken[y][0] || i > taken[y][1])) clash = 1;
				if (clash) continue;
				taken[nt][0] = i; taken[nt][1] = k; nt++;
				int a = m->ord[i], b = m->ord[k];
				int64_t ti = m->p[a].ts, tk = m->p[b].ts;
				m->ord[i] = b; m->p[b].ts = ti;
				m->ord[k] = a; m->p[a].ts = tk;
			}
			free(order);
			done[d] += nt - nt0;
		}
	free(ci); free(ck);
	count(m, 0, done[0] + done[1]);
	say(m, "late: %u c2s + %u s2c segments captured after the next one and its ACK; ", done[0], done[1]);
}

/* (2) a pure ACK moved before the data segment it acknowledges: up to 4 per direction. */
static void do_ackfirst(mg_t *m)
{
	size_t *ci = malloc((m->n + 1) * sizeof *ci), *cj = malloc((m->n + 1) * sizeof *cj);
	if (!ci || !cj) abort();
	unsigned done[2] = { 0, 0 };
	for (int d = 0; d < 2; d++) {
		size_t nc = 0;
		for (size_t i = 0; i < m->n; i++) {
			pkt_t *D = at(m, i);
			if (!is_data(D) || D->dir != d) continue;
			for (size_t j = i + 1; j < m->n; j++) {
				pkt_t *A = at(m, j);
				if (!A->tcp || A->conn != D->conn) continue;
				if (A->dir == d) {
					if (is_data(A)) break;   /* the ACK must cover D as the latest data */
					continue;
				}
				if (A->plen == 0 && A->flags == 0x10 && seq_ge(A->ack, D->seq + (uint32_t)D->plen) &&
				    seq_lt(D->seq, A->ack)) {
					ci[nc] = i; cj[nc] = j; nc++;
				}
				break;   /* only the first packet of the other direction after D */
			}
		}
		size_t *order = malloc((nc + 1) * sizeof *order);
		if (!order) abort();
		for (size_t x = 0; x < nc; x++) order[x] = x;
		shuffle(m, order, nc);
		size_t taken[4][2];
		unsigned nt = 0;
		for (size_t x = 0; x < nc && nt < 4; x++) {
			size_t i = ci[order[x]], j = cj[order[x]];
			int clash = 0;
			for (unsigned y = 0; y < nt; y++)
				if (!(j < taken[y][0] || i > taken[y][1])) clash = 1;
			if (clash) continue;
			taken[nt][0] = i; taken[nt][1] = j; nt++;
			size_t len = j - i + 1;
			int *w = malloc(len * sizeof *w);
			if (!w) abort();
			w[0] = m->ord[j];
			for (size_t y = 0; y + 1 < len; y++) w[y + 1] = m->ord[i + y];
			permute(m, i, w, len);
			free(w);
		}
		free(order);
		done[d] = nt;
	}
	free(ci); free(cj);
	count(m, 1, done[0] + done[1]);
	say(m, "ackfirst: %u ACKs of c2s data + %u of s2c data before their data; ", done[0], done[1]);
}

static int is_hs(const pkt_t *p, uint8_t type)
{
	return p->plen >= 6 && p->pay[0] == 0x16 && p->pay[1] == 3 && p->pay[5] == type;
}

/* (3) reply first: every other flight (1, 3, 5, ...) of each connection, its first packet
 * (with any same-direction packets since the previous flight's last packet) moved before
 * that packet and 0..3 more packets of the other direction. Never before a SYN. */
static void do_replyfirst(mg_t *m)
{
	unsigned done = 0, sh = 0, ccs = 0, app = 0;
	for (int c = 0; c < m->nconn; c++) {
		/* flights as (first packet of flight f, last packet of flight f-1) frame indices */
		int firsts[64], answers[64], nf = 0, flight = 0, lastdir = -1, lastidx = -1;
		for (size_t i = 0; i < m->n && nf < 64; i++) {
			pkt_t *p = at(m, i);
			if (!is_data(p) || p->conn != c) continue;
			if (lastdir != -1 && p->dir != lastdir) {
				flight++;
				if (flight % 2 == 1) { firsts[nf] = m->ord[i]; answers[nf] = lastidx; nf++; }
			}
			lastdir = p->dir;
			lastidx = m->ord[i];
		}
		for (int f = 0; f < nf; f++) {
			size_t k = pos_of(m, firsts[f]), q = pos_of(m, answers[f]);
			if (k == (size_t)-1 || q == (size_t)-1 || q > k) continue;
			int d = m->p[firsts[f]].dir;
			size_t lim = 0;   /* first position the window may start at */
			for (size_t i = 0; i < q; i++) {
				pkt_t *p = at(m, i);
				if (p->tcp && p->conn == c && (p->flags & 0x02)) lim = i + 1;
			}
			size_t mv = rnd_below(m, 4), s = q;
			while (mv-- && s > lim) s--;
			if (s < lim) continue;
			size_t len = k - s + 1, o = 0;
			int *w = malloc(len * sizeof *w);
			if (!w) abort();
			for (size_t y = s; y <= k; y++) { pkt_t *p = at(m, y); if (p->tcp && p->conn == c && p->dir == d) w[o++] = m->ord[y]; }
			for (size_t y = s; y <= k; y++) { pkt_t *p = at(m, y); if (!(p->tcp && p->conn == c && p->dir == d)) w[o++] = m->ord[y]; }
			permute(m, s, w, len);
			free(w);
		}
		for (int f = 0; f < nf; f++) {
			size_t k = pos_of(m, firsts[f]), q = pos_of(m, answers[f]);
			if (k > q) continue;
			done++;
			const pkt_t *K = &m->p[firsts[f]], *Q = &m->p[answers[f]];
			if (is_hs(K, 2) && is_hs(Q, 1)) sh++;
			else if (K->dir == 1 && (K->pay[0] == 0x14 || is_hs(K, 4)) && Q->dir == 0) {
				/* a ClientKeyExchange still to come after the moved server packet? */
				int cke_after = 0;
				for (size_t y = pos_of(m, firsts[f]); y < m->n; y++) {
					pkt_t *p = at(m, y);
					if (p->tcp && p->conn == c && p->dir == 0 && is_hs(p, 16)) cke_after = 1;
				}
				if (cke_after) ccs++;
				else app++;
			} else if (K->pay[0] == 0x17) app++;
		}
	}
	count(m, 2, done);
	say(m, "replyfirst: %u flights before the packet they answer (%u ServerHello<ClientHello, %u server CCS/Finished<ClientKeyExchange, %u application replies); ",
	    done, sh, ccs, app);
}

/* (7) byte-identical duplicates of ~8% of the TCP packets (at least 2 data segments per
 * direction), each 1..4 positions after the original. */
static void do_dup(mg_t *m)
{
	unsigned done = 0, data[2] = { 0, 0 };
	size_t n0 = m->n;
	int *src = malloc((n0 + 1) * sizeof *src);
	if (!src) abort();
	size_t ns = 0;
	for (size_t i = 0; i < n0; i++) {
		pkt_t *p = at(m, i);
		if (!p->tcp || p->synthetic || p->dup_of >= 0) continue;
		int want = rnd_below(m, 100) < 8 || (is_data(p) && p->dir >= 0 && data[p->dir] < 2 && rnd_below(m, 3) == 0);
		if (!want) continue;
		if (is_data(p)) data[p->dir]++;
		src[ns++] = m->ord[i];
	}
	for (size_t x = 0; x < ns; x++) {
		pkt_t *o = &m->p[src[x]];
		size_t pos = pos_of(m, src[x]) + 1 + rnd_below(m, 4);
		if (pos > m->n) pos = m->n;
		int idx = add_pkt(m, o->d, o->len, 0, -1);
		o = &m->p[src[x]];   /* add_pkt may move the array */
		m->p[idx].dup_of = o->orig;
		ord_insert(m, pos, idx);
		done++;
	}
	free(src);
	count(m, 3, done);
	say(m, "dup: %u duplicates (%u c2s + %u s2c data); ", done, data[0], data[1]);
}

/* Sender's next sequence number and the other side's, from the packets before pos. */
static void next_seqs(mg_t *m, int c, size_t pos, uint32_t nxt[2], int have[2], pkt_t **ex)
{
	have[0] = have[1] = 0;
	ex[0] = ex[1] = NULL;
	for (size_t i = 0; i < pos; i++) {
		pkt_t *p = at(m, i);
		if (!p->tcp || p->conn != c || p->synthetic) continue;
		uint32_t end = p->seq + (uint32_t)p->plen + ((p->flags & 0x03) ? 1u : 0u);
		if (!have[p->dir] || seq_lt(nxt[p->dir], end)) nxt[p->dir] = end;
		have[p->dir] = 1;
		ex[p->dir] = p;
	}
}

static int inject_tcp(mg_t *m, size_t pos, const pkt_t *like, uint8_t flags, uint32_t seq, uint32_t ack)
{
	uint8_t buf[256];
	if (like->l2len > 64) return -1;
	memcpy(buf, like->d, like->l2len);
	pcapw_tcp_t t = { 0 };
	t.ipv6 = like->ipv6;
	t.src = like->src; t.dst = like->dst;
	t.sport = like->sport; t.dport = like->dport;
	t.seq = seq; t.ack = ack; t.flags = flags;
	t.window = (flags & 0x04) ? 0 : like->win;
	t.ip_id = 0x5151;
	size_t n = pcapw_build_ip_tcp(buf + like->l2len, sizeof buf - like->l2len, &t);
	if (!n) return -1;
	/* SLL/SLL2/NULL headers carry no length; Ethernet neither: a copy is fine */
	int idx = add_pkt(m, buf, like->l2len + n, 0, -1);
	m->p[idx].synthetic = 1;
	ord_insert(m, pos, idx);
	return idx;
}

/* Position just after the data segment at `frac` percent of connection c's data. */
static size_t mid_data_pos(mg_t *m, int c, int dir, unsigned frac)
{
	size_t nd = 0, k = 0;
	for (size_t i = 0; i < m->n; i++) { pkt_t *p = at(m, i); if (is_data(p) && p->conn == c && (dir < 0 || p->dir == dir)) nd++; }
	if (!nd) return (size_t)-1;
	size_t want = nd * frac / 100;
	for (size_t i = 0; i < m->n; i++) {
		pkt_t *p = at(m, i);
		if (is_data(p) && p->conn == c && (dir < 0 || p->dir == dir) && k++ == want) return i + 1;
	}
	return (size_t)-1;
}

/* (4a) out-of-window RST from each side and an out-of-window client SYN, mid-session. */
static void do_stray_oow(mg_t *m)
{
	unsigned done = 0;
	for (int c = 0; c < m->nconn; c++) {
		size_t pos = mid_data_pos(m, c, -1, 50 + rnd_below(m, 20));
		if (pos == (size_t)-1) continue;
		uint32_t nxt[2]; int have[2]; pkt_t *ex[2];
		next_seqs(m, c, pos, nxt, have, ex);
		if (!have[0] || !have[1]) continue;
		pkt_t e0 = *ex[0], e1 = *ex[1];
		if (inject_tcp(m, pos, &e0, 0x14, nxt[0] + 0x70000000u + rnd_below(m, 1u << 20), nxt[1]) >= 0) done++;
		if (inject_tcp(m, pos + 1 + rnd_below(m, 2), &e1, 0x04, nxt[1] - 0x40000000u - rnd_below(m, 1u << 20), 0) >= 0) done++;
		size_t p2 = mid_data_pos(m, c, -1, 75);
		if (p2 == (size_t)-1) p2 = m->n;
		if (inject_tcp(m, p2, &e0, 0x02, nxt[0] + 0x80000000u + rnd_below(m, 1u << 24), 0) >= 0) done++;
	}
	count(m, 4, done);
	say(m, "stray-oow: %u out-of-window RST/SYN injected; ", done);
}

/* (4b) RST at exactly the sender's next sequence number, then more data from it. */
static void do_rst_next(mg_t *m)
{
	unsigned done = 0;
	for (int c = 0; c < m->nconn; c++)
		for (int d = 0; d < 2; d++) {
			size_t pos = mid_data_pos(m, c, d, 40 + rnd_below(m, 30));
			if (pos == (size_t)-1) continue;
			uint32_t nxt[2]; int have[2]; pkt_t *ex[2];
			next_seqs(m, c, pos, nxt, have, ex);
			if (!have[d] || !have[!d]) continue;
			int later = 0;   /* more data from this sender after the RST? */
			for (size_t i = pos; i < m->n; i++) { pkt_t *p = at(m, i); if (is_data(p) && p->conn == c && p->dir == d) later = 1; }
			if (!later) continue;
			pkt_t e = *ex[d];
			if (inject_tcp(m, pos, &e, 0x14, nxt[d], nxt[!d]) >= 0) done++;
		}
	count(m, 5, done);
	say(m, "rst-next: %u in-sequence RSTs followed by more data; ", done);
}

/* (6) SPAN-like merge of two queues with independent random 0..5 ms delays. */
typedef struct arr { int64_t t; size_t pos; int idx; } arr_t;
static int arr_cmp(const void *a, const void *b)
{
	const arr_t *x = a, *y = b;
	if (x->t != y->t) return x->t < y->t ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}
static void do_span(mg_t *m)
{
	arr_t *a = malloc((m->n + 1) * sizeof *a);
	int64_t last[MAXCONN * 2 + 1];
	if (!a) abort();
	for (size_t i = 0; i < MAXCONN * 2 + 1; i++) last[i] = INT64_MIN;
	for (size_t i = 0; i < m->n; i++) {
		pkt_t *p = at(m, i);
		size_t q = p->tcp ? (size_t)(p->conn * 2 + p->dir) : MAXCONN * 2;
		int64_t t = p->ts + (int64_t)rnd_below(m, 5001);
		if (t < last[q]) t = last[q];
		last[q] = t;
		a[i].t = t; a[i].pos = i; a[i].idx = m->ord[i];
	}
	qsort(a, m->n, sizeof *a, arr_cmp);
	unsigned moved = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (a[i].pos != i) moved++;
		m->ord[i] = a[i].idx;
		m->p[a[i].idx].ts = a[i].t;
	}
	free(a);
	count(m, 6, moved);
	say(m, "span: %u of %zu packets at another position; ", moved, m->n);
}

/* (5) one unrelated frame stamped +10 years / -1 day, or the clock stepping back 1 h. */
static void do_outlier(mg_t *m, int bit, int64_t delta, unsigned frac)
{
	uint8_t buf[256];
	int lh = pcapw_link_header(buf, m->dlt == DLT_RAW ? PCAPW_LINK_RAW : m->dlt, 0, 0, NULL, NULL, 0);
	if (lh < 0) { say(m, "%s: link type %d not supported; ", kind_names[bit], m->dlt); return; }
	static const uint8_t a[4] = { 192, 0, 2, 1 }, b[4] = { 192, 0, 2, 2 };
	static const uint8_t pl[] = "GET / HTTP/1.0\r\n\r\n";
	pcapw_tcp_t t = { 0 };
	t.src = a; t.dst = b; t.sport = 40000; t.dport = 80; t.seq = 1000; t.ack = 2000;
	t.flags = 0x18; t.window = 512; t.payload = pl; t.len = sizeof pl - 1;
	size_t n = pcapw_build_ip_tcp(buf + lh, sizeof buf - (size_t)lh, &t);
	size_t pos = m->n * frac / 100;
	int idx = add_pkt(m, buf, (size_t)lh + n, 0, -1);
	m->p[idx].synthetic = 1;
	ord_insert(m, pos, idx);
	m->p[idx].ts += delta;
	if (m->p[idx].ts < 0) m->p[idx].ts = 0;
	count(m, bit, 1);
	say(m, "%s: unrelated frame at %zu/%zu stamped %+lld s; ", kind_names[bit], pos, m->n, (long long)(delta / 1000000));
}

static void do_step(mg_t *m)
{
	size_t pos = mid_data_pos(m, 0, -1, 50);
	if (pos == (size_t)-1) pos = m->n / 2;
	unsigned done = 0;
	for (size_t i = pos; i < m->n; i++) { at(m, i)->ts -= 3600LL * 1000000; done++; }
	count(m, 9, done);
	say(m, "ts-step: clock back 1 h from packet %zu on (%u packets); ", pos, done);
}

/* Nothing lost or altered, nothing with payload invented. */
static int check_invariant(mg_t *m, size_t norig)
{
	unsigned *seen = calloc(norig + 1, sizeof *seen);
	if (!seen) abort();
	int ok = 1;
	for (size_t i = 0; i < m->n; i++) {
		pkt_t *p = at(m, i);
		if (p->orig >= 0) { seen[p->orig]++; continue; }
		if (p->dup_of >= 0) {
			const pkt_t *o = &m->p[p->dup_of];
			if (o->len != p->len || memcmp(o->d, p->d, p->len)) { ok = 0; snprintf(m->rep->err, sizeof m->rep->err, "duplicate differs"); }
			continue;
		}
		if (p->tcp && p->conn >= 0 && p->plen && p->conn < m->nconn && !(p->sport == 40000 && p->dport == 80)) {
			ok = 0;
			snprintf(m->rep->err, sizeof m->rep->err, "injected packet with payload on a session");
		}
	}
	for (size_t i = 0; i < norig; i++)
		if (!seen[i]) { ok = 0; snprintf(m->rep->err, sizeof m->rep->err, "frame %zu lost", i); }
	free(seen);
	return ok;
}

int pm_mangle(const char *in, const char *out, unsigned kinds, uint32_t seed, pm_report_t *rep)
{
	memset(rep, 0, sizeof *rep);
	mg_t m;
	memset(&m, 0, sizeof m);
	m.rep = rep;
	m.rng = seed * 2654435761u + 0x9e3779b9u;
	if (!m.rng) m.rng = 1;
	for (int i = 0; i < 8; i++) rnd(&m);
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(in, eb);
	if (!pc) { snprintf(rep->err, sizeof rep->err, "%s: %s", in, eb); return -1; }
	m.dlt = pcap_datalink(pc);
	struct pcap_pkthdr *h;
	const u_char *d;
	while (pcap_next_ex(pc, &h, &d) == 1) {
		int idx = add_pkt(&m, d, h->caplen, (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec, (int)m.np);
		ord_insert(&m, m.n, idx);
		m.p[idx].ts = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
	}
	pcap_close(pc);
	size_t norig = m.np;
	int rc = 0;
	if (kinds & PM_LATE) do_late(&m);
	if (kinds & PM_ACKFIRST) do_ackfirst(&m);
	if (kinds & PM_REPLYFIRST) do_replyfirst(&m);
	if (kinds & PM_DUP) do_dup(&m);
	if (kinds & PM_STRAY_OOW) do_stray_oow(&m);
	if (kinds & PM_RST_NEXT) do_rst_next(&m);
	if (kinds & PM_SPAN) do_span(&m);
	if (kinds & PM_TS_FUTURE) do_outlier(&m, 7, (int64_t)3652 * 86400 * 1000000, 40);
	if (kinds & PM_TS_PAST) do_outlier(&m, 8, -(int64_t)86400 * 1000000, 60);
	if (kinds & PM_TS_STEP) do_step(&m);
	for (int b = 0; b < NBITS; b++)
		if ((kinds & (1u << b)) && !rep->per_kind[b]) { rc = 1; say(&m, "[%s did nothing] ", kind_names[b]); }
	if (!check_invariant(&m, norig)) rc = -1;
	if (rc >= 0) {
		pcapw_t *w = pcapw_open(out, m.dlt == DLT_RAW ? PCAPW_LINK_RAW : m.dlt);
		if (!w) { snprintf(rep->err, sizeof rep->err, "%s: cannot create", out); rc = -1; }
		else {
			for (size_t i = 0; i < m.n; i++) {
				pkt_t *p = at(&m, i);
				pcapw_write(w, p->ts < 0 ? 0 : (uint64_t)p->ts, p->d, p->len);
			}
			if (pcapw_close(w) != 0) { snprintf(rep->err, sizeof rep->err, "%s: write failed", out); rc = -1; }
		}
	}
	for (size_t i = 0; i < m.np; i++) free(m.p[i].d);
	free(m.p);
	free(m.ord);
	return rc;
}

#ifdef PCAPMANGLE_MAIN
/* Stand-alone tool for reproducing a variant by hand:
 *   cc -DPCAPMANGLE_MAIN -Itests tests/pcapmangle.c tests/pcapw.c -lpcap -o pcapmangle
 *   ./pcapmangle IN.pcap OUT.pcap SEED late,span,...   */
int main(int argc, char **argv)
{
	if (argc != 5) { fprintf(stderr, "usage: %s IN OUT SEED kind[,kind...]\n", argv[0]); return 2; }
	unsigned kinds = 0;
	char *list = argv[4], *tok, *save = NULL;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int b;
		for (b = 0; b < NBITS; b++) if (!strcmp(tok, kind_names[b])) break;
		if (b == NBITS) { fprintf(stderr, "unknown kind %s\n", tok); return 2; }
		kinds |= 1u << b;
	}
	pm_report_t rep;
	int rc = pm_mangle(argv[1], argv[2], kinds, (uint32_t)strtoul(argv[3], NULL, 10), &rep);
	printf("%s%s\n", rep.desc, rep.err);
	return rc < 0 ? 1 : rc;
}
#endif
