/*
 * pcap_out_test.c — tests for captls's plaintext pcap writer (src/captls/pcap_out.c).
 *
 * Writes flows through the public API (IPv4 and IPv6, Ethernet and raw-IP link types,
 * messages larger than one segment, a flow ended explicitly and one ended by close),
 * reads the file back with libpcap and checks, with checksum and TCP bookkeeping code
 * written independently here: IPv4 header checksums, TCP checksums over the
 * pseudo-header, IP length fields, the SYN / SYN-ACK / ACK opening, per-direction
 * sequence numbers advancing by exactly the payload, ACKs equal to the peer's next
 * sequence number, never more than one 65535-byte window unacknowledged, segment sizes,
 * timestamps, the FIN exchange, and that the reassembled payload equals the messages.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tap.h"
#include "pcap_out.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------------- independent checks */

static unsigned rd16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* RFC 1071 sum over a byte range, folded; a correct header/segment sums to 0xffff. */
static uint16_t ocsum(uint32_t acc, const uint8_t *p, size_t n)
{
	uint64_t s = acc;
	for (size_t i = 0; i + 1 < n; i += 2) s += (uint64_t)(p[i] << 8 | p[i + 1]);
	if (n & 1) s += (uint64_t)p[n - 1] << 8;
	while (s >> 16) s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

typedef struct seg {
	int family;
	uint8_t src[16], dst[16];
	unsigned sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	const uint8_t *payload;
	size_t plen;
	double ts;
	int ip_ok, tcp_ok, len_ok;
} seg_t;

/* Parse one record at link type dlt into s. 0 ok. */
static int parse(int dlt, const uint8_t *p, size_t n, seg_t *s)
{
	memset(s, 0, sizeof *s);
	size_t off = 0;
	int v6;
	if (dlt == DLT_EN10MB) {
		if (n < 14) return -1;
		unsigned et = rd16(p + 12);
		if (et != 0x0800 && et != 0x86dd) return -1;
		v6 = et == 0x86dd;
		off = 14;
	} else {
		if (n < 1) return -1;
		v6 = (p[0] >> 4) == 6;
	}
	const uint8_t *ip = p + off;
	size_t iplen = n - off;
	const uint8_t *tcp;
	size_t tcplen;
	uint32_t pseudo = 0;
	if (!v6) {
		if (iplen < 20 || ip[0] != 0x45 || ip[9] != 6) return -1;
		s->family = AF_INET;
		s->ip_ok = ocsum(0, ip, 20) == 0xffff;
		s->len_ok = rd16(ip + 2) == iplen;
		memcpy(s->src, ip + 12, 4);
		memcpy(s->dst, ip + 16, 4);
		tcp = ip + 20;
		tcplen = iplen - 20;
		uint8_t ph[12];
		memcpy(ph, ip + 12, 8);
		ph[8] = 0; ph[9] = 6; ph[10] = (uint8_t)(tcplen >> 8); ph[11] = (uint8_t)tcplen;
		pseudo = ocsum(0, ph, 12);
	} else {
		if (iplen < 40 || (ip[0] >> 4) != 6 || ip[6] != 6) return -1;
		s->family = AF_INET6;
		s->ip_ok = 1;
		s->len_ok = rd16(ip + 4) + 40 == iplen;
		memcpy(s->src, ip + 8, 16);
		memcpy(s->dst, ip + 24, 16);
		tcp = ip + 40;
		tcplen = iplen - 40;
		uint8_t ph[40];
		memcpy(ph, ip + 8, 32);
		ph[32] = (uint8_t)(tcplen >> 24); ph[33] = (uint8_t)(tcplen >> 16);
		ph[34] = (uint8_t)(tcplen >> 8); ph[35] = (uint8_t)tcplen;
		ph[36] = ph[37] = ph[38] = 0; ph[39] = 6;
		pseudo = ocsum(0, ph, 40);
	}
	if (tcplen < 20) return -1;
	size_t doff = (size_t)(tcp[12] >> 4) * 4;
	if (doff < 20 || doff > tcplen) return -1;
	s->tcp_ok = ocsum(pseudo, tcp, tcplen) == 0xffff;
	s->sport = rd16(tcp);
	s->dport = rd16(tcp + 2);
	s->seq = rd32(tcp + 4);
	s->ack = rd32(tcp + 8);
	s->flags = tcp[13];
	s->payload = tcp + doff;
	s->plen = tcplen - doff;
	return 0;
}

/* ---------------------------------------------------------------- expected traffic */

#define NFLOWS 2
typedef struct flowexp {
	uint64_t id;
	tls_endpoints_t ep;
	uint8_t *sent[2];           /* concatenated message bytes per direction */
	size_t sentlen[2];
	/* observed */
	uint8_t *got[2];
	size_t gotlen[2];
	uint32_t next[2];           /* next expected seq per direction */
	uint32_t lastack[2];        /* last ack seen *for* direction d (sent by the peer) */
	int state;                  /* 0 nothing, 1 SYN, 2 SYN-ACK, 3 established */
	int fins[2];
	int errors;
	int max_inflight_exceeded;
	size_t maxseg;
	int npkts;
	double first_ts, last_ts;
} flowexp_t;

static void append(uint8_t **b, size_t *n, const uint8_t *d, size_t l)
{
	*b = realloc(*b, *n + l + 1);
	memcpy(*b + *n, d, l);
	*n += l;
}

static int msg(pcap_out_t *w, flowexp_t *f, tls_dir_t dir, const uint8_t *d, size_t l, double ts)
{
	append(&f->sent[dir], &f->sentlen[dir], d, l);
	return pcap_out_message(w, f->id, &f->ep, dir, d, l, ts);
}

/* Which flow and direction a segment belongs to. */
static flowexp_t *match(flowexp_t *fl, const seg_t *s, tls_dir_t *dir)
{
	for (int i = 0; i < NFLOWS; i++) {
		flowexp_t *f = &fl[i];
		size_t al = f->ep.family == AF_INET6 ? 16 : 4;
		if (f->ep.family != s->family) continue;
		if (!memcmp(s->src, f->ep.client_ip, al) && !memcmp(s->dst, f->ep.server_ip, al) &&
		    s->sport == f->ep.client_port && s->dport == f->ep.server_port) { *dir = TLS_DIR_C2S; return f; }
		if (!memcmp(s->src, f->ep.server_ip, al) && !memcmp(s->dst, f->ep.client_ip, al) &&
		    s->sport == f->ep.server_port && s->dport == f->ep.client_port) { *dir = TLS_DIR_S2C; return f; }
	}
	return NULL;
}

/* Apply one segment to the flow's TCP bookkeeping; counts protocol errors. */
static void track(flowexp_t *f, tls_dir_t d, const seg_t *s)
{
	tls_dir_t o = d == TLS_DIR_C2S ? TLS_DIR_S2C : TLS_DIR_C2S;
	uint8_t fl = s->flags;
	if (!f->npkts++) f->first_ts = s->ts;
	if (s->ts < f->last_ts) f->errors++;
	f->last_ts = s->ts;
	if (f->state == 0) {
		if (d != TLS_DIR_C2S || fl != 0x02 || s->plen) f->errors++;
		f->next[d] = s->seq + 1;
		f->state = 1;
		return;
	}
	if (f->state == 1) {
		if (d != TLS_DIR_S2C || fl != 0x12 || s->ack != f->next[o] || s->plen) f->errors++;
		f->next[d] = s->seq + 1;
		f->lastack[o] = s->ack;
		f->state = 2;
		return;
	}
	if (f->state == 2) {
		if (d != TLS_DIR_C2S || fl != 0x10 || s->seq != f->next[d] || s->ack != f->next[o]) f->errors++;
		f->lastack[o] = s->ack;
		f->state = 3;
		return;
	}
	if (!(fl & 0x10) || (fl & 0x02)) f->errors++;     /* every later segment ACKs, none SYNs */
	if (s->seq != f->next[d]) f->errors++;            /* no gap, no overlap */
	if (s->ack != f->next[o]) f->errors++;            /* acks the peer's next byte */
	f->lastack[o] = s->ack;
	if (s->plen) {
		if (f->fins[d]) f->errors++;                  /* data after FIN */
		append(&f->got[d], &f->gotlen[d], s->payload, s->plen);
		if (s->plen > f->maxseg) f->maxseg = s->plen;
		f->next[d] += (uint32_t)s->plen;
		if ((uint32_t)(f->next[d] - f->lastack[d]) > 65535) f->max_inflight_exceeded++;
	}
	if (fl & 0x01) { f->fins[d]++; f->next[d] += 1; }
}

/* ---------------------------------------------------------------- scenario */

static void setup_flows(flowexp_t *fl)
{
	memset(fl, 0, sizeof(flowexp_t) * NFLOWS);
	fl[0].id = 7;
	fl[0].ep.family = AF_INET;
	inet_pton(AF_INET, "10.1.2.3", fl[0].ep.client_ip);
	inet_pton(AF_INET, "10.9.8.7", fl[0].ep.server_ip);
	fl[0].ep.client_port = 40001;
	fl[0].ep.server_port = 5061;
	fl[1].id = 0xfffffffffff0ULL;
	fl[1].ep.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::10", fl[1].ep.client_ip);
	inet_pton(AF_INET6, "2001:db8:1::20", fl[1].ep.server_ip);
	fl[1].ep.client_port = 51000;
	fl[1].ep.server_port = 443;
}

static void run(int linktype, const char *path)
{
	const char *name = linktype == PCAP_OUT_ETHERNET ? "ethernet" : "raw";
	char err[512];
	pcap_out_t *w = pcap_out_open(path, linktype, err, sizeof err);
	tap_ok(w != NULL, "[%s] open %s", name, w ? path : err);
	if (!w) return;
	flowexp_t fl[NFLOWS];
	setup_flows(fl);

	static uint8_t big[200000];
	for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 31 + (i >> 9));
	const char *inv = "INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: 1@a\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
	const char *ok = "SIP/2.0 200 OK\r\nCall-ID: 1@a\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
	const char *get = "GET /big HTTP/1.1\r\nHost: h\r\n\r\n";
	int rc = 0;
	rc |= msg(w, &fl[0], TLS_DIR_C2S, (const uint8_t *)inv, strlen(inv), 1700000000.100000);
	rc |= msg(w, &fl[1], TLS_DIR_C2S, (const uint8_t *)get, strlen(get), 1700000000.150000);
	rc |= msg(w, &fl[0], TLS_DIR_S2C, (const uint8_t *)ok, strlen(ok), 1700000000.200000);
	rc |= msg(w, &fl[1], TLS_DIR_S2C, big, 150000, 1700000000.300000);       /* 3 segments */
	rc |= msg(w, &fl[1], TLS_DIR_S2C, big + 150000, 50000, 1700000000.350000); /* ACK needed first */
	for (int i = 0; i < 40; i++)                                                /* many small ones */
		rc |= msg(w, &fl[0], TLS_DIR_C2S, big + i * 3000, 3000, 1700000000.400000 + i * 0.001);
	rc |= msg(w, &fl[0], TLS_DIR_C2S, big, 0, 1700000000.5);                  /* empty: nothing */
	rc |= pcap_out_message(w, 99, &fl[0].ep, TLS_DIR_C2S, big, 0, 1700000000.5);
	tap_ok(rc == 0, "[%s] all messages written", name);
	tap_ok(pcap_out_flow_end(w, fl[0].id, 1700000001.0) == 0, "[%s] flow 1 ended", name);
	tap_ok(pcap_out_flow_end(w, 12345, 1700000001.0) == 0, "[%s] ending an unknown flow is harmless", name);
	pcap_out_stats_t st;
	pcap_out_get_stats(w, &st);
	tap_ok(st.flows_opened == 2 && st.flows_closed == 1 && st.flows_active == 1,
	       "[%s] stats: 2 flows opened, 1 closed, 1 active", name);
	tap_ok(pcap_out_close(w, err, sizeof err) == 0, "[%s] close (ends flow 2)", name);

	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, eb);
	tap_ok(p != NULL, "[%s] libpcap opens the file (%s)", name, p ? "ok" : eb);
	if (!p) return;
	int dlt = pcap_datalink(p);
	tap_ok(dlt == (linktype == PCAP_OUT_ETHERNET ? DLT_EN10MB : DLT_RAW) ||
	       (linktype == PCAP_OUT_RAW && dlt == 101), "[%s] link type %d", name, dlt);
	struct pcap_pkthdr *h;
	const u_char *d;
	int n = 0, bad_parse = 0, bad_ip = 0, bad_tcp = 0, bad_len = 0, unmatched = 0, trunc = 0, backwards = 0;
	double prev_ts = 0;
	while (pcap_next_ex(p, &h, &d) == 1) {
		seg_t s;
		n++;
		if (h->caplen != h->len) trunc++;
		if (parse(dlt, d, h->caplen, &s) < 0) { bad_parse++; continue; }
		s.ts = (double)h->ts.tv_sec + (double)h->ts.tv_usec / 1e6;
		if (s.ts < prev_ts) backwards++;
		prev_ts = s.ts;
		bad_ip += !s.ip_ok;
		bad_tcp += !s.tcp_ok;
		bad_len += !s.len_ok;
		tls_dir_t dir;
		flowexp_t *f = match(fl, &s, &dir);
		if (!f) { unmatched++; continue; }
		track(f, dir, &s);
	}
	pcap_close(p);
	tap_ok(n > 0 && !bad_parse && !trunc, "[%s] %d packets, all parse as IP/TCP, none truncated", name, n);
	tap_ok(!bad_ip, "[%s] IPv4 header checksums verify (%d bad)", name, bad_ip);
	tap_ok(!bad_tcp, "[%s] TCP checksums verify over the pseudo-header (%d bad)", name, bad_tcp);
	tap_ok(!bad_len, "[%s] IP length fields match the packet (%d bad)", name, bad_len);
	tap_ok(!unmatched, "[%s] every packet belongs to a written flow, none for empty messages", name);
	for (int i = 0; i < NFLOWS; i++) {
		flowexp_t *f = &fl[i];
		const char *fam = f->ep.family == AF_INET6 ? "IPv6" : "IPv4";
		tap_ok(f->state == 3 && !f->errors, "[%s] %s flow: handshake, seq/ack bookkeeping consistent (%d errors)",
		       name, fam, f->errors);
		for (int d2 = 0; d2 < 2; d2++)
			tap_ok(f->gotlen[d2] == f->sentlen[d2] && (!f->gotlen[d2] || !memcmp(f->got[d2], f->sent[d2], f->gotlen[d2])),
			       "[%s] %s %s payload stream equals the messages (%zu/%zu bytes)", name, fam,
			       d2 ? "s2c" : "c2s", f->gotlen[d2], f->sentlen[d2]);
		tap_ok(f->fins[0] == 1 && f->fins[1] == 1, "[%s] %s flow ends with one FIN per direction", name, fam);
		tap_ok(!f->max_inflight_exceeded, "[%s] %s never more than one window unacknowledged", name, fam);
		tap_ok(f->maxseg <= PCAP_OUT_MAX_SEG, "[%s] %s largest segment %zu <= %u", name, fam, f->maxseg, PCAP_OUT_MAX_SEG);
		free(f->sent[0]); free(f->sent[1]); free(f->got[0]); free(f->got[1]);
	}
	tap_ok(fl[1].maxseg == PCAP_OUT_MAX_SEG, "[%s] the 150000-byte message was split at %u bytes", name, PCAP_OUT_MAX_SEG);
	tap_ok(fl[0].first_ts == 1700000000.1 && fl[0].last_ts == 1700000001.0,
	       "[%s] timestamps: first at the first message, FIN at flow end (%.6f, %.6f)", name,
	       fl[0].first_ts, fl[0].last_ts);
	tap_ok(fl[1].first_ts == 1700000000.15 && fl[1].last_ts == 1700000001.0,
	       "[%s] a flow ended by close gets its FIN at the file's latest time (%.6f)", name, fl[1].last_ts);
	tap_ok(!backwards, "[%s] packet timestamps never go backwards in the file", name);
}

static void test_errors(void)
{
	char err[512] = "";
	pcap_out_t *w = pcap_out_open("/nonexistent-dir/x.pcap", PCAP_OUT_ETHERNET, err, sizeof err);
	tap_ok(!w && strstr(err, "/nonexistent-dir/x.pcap"), "unwritable path fails with the path named: %s", err);
	w = pcap_out_open("/tmp/x.pcap", 42, err, sizeof err);
	tap_ok(!w, "unsupported link type rejected: %s", err);
	if (access("/dev/full", W_OK) == 0) {
		err[0] = 0;
		w = pcap_out_open("/dev/full", PCAP_OUT_ETHERNET, err, sizeof err);
		tap_ok(!w && err[0], "a full device fails at open: %s", err);
		if (w) pcap_out_close(w, NULL, 0);
	} else {
		tap_skip("/dev/full not available");
	}
}

int main(void)
{
	char path[] = "/tmp/pcap_out_test.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) { tap_ok(0, "mkstemp"); return tap_done(); }
	close(fd);
	run(PCAP_OUT_ETHERNET, path);
	run(PCAP_OUT_RAW, path);
	unlink(path);
	test_errors();
	return tap_done();
}
