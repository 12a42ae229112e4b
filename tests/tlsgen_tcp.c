/*
 * tlsgen_tcp.c — the TCP model of a capture: segments (direction, flags, seq/ack, a slice
 * of one side's byte stream) and the passes that mangle their order and timing: coalesce,
 * drop, reorder, duplicate, ACK before data, late segments, replies before requests,
 * stray RST/SYN, plus the count of bytes no segment carries.
 *
 * Why: reassembly must be tested against captures real networks and capture points
 * produce; these passes change segmentation, order or add packets outside the peers'
 * streams, never the bytes the peers sent.
 */
#include "tlsgen_int.h"

#include <stdlib.h>
#include <string.h>

void tg_segv_push(segv_t *s, seg_t g)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		seg_t *n = realloc(s->v, nc * sizeof *n);
		if (!n) abort();
		s->v = n; s->cap = nc;
	}
	s->v[s->n++] = g;
}

static int is_data(const seg_t *g) { return g->len > 0 && !(g->flags & (PCAPW_SYN | PCAPW_FIN)); }

/* merge runs of same-direction contiguous data segments (up to 65000 payload bytes) */
void tg_mangle_coalesce(segv_t *s)
{
	segv_t o = { 0 };
	for (size_t i = 0; i < s->n; i++) {
		seg_t g = s->v[i];
		if (o.n && is_data(&g)) {
			seg_t *l = &o.v[o.n - 1];
			if (is_data(l) && l->dir == g.dir && l->off + l->len == g.off && l->len + g.len <= 65000) {
				l->len += g.len;
				l->flags |= g.flags;
				l->ack = g.ack;
				continue;
			}
		}
		tg_segv_push(&o, g);
	}
	free(s->v);
	*s = o;
}

/* lossy capture: remove one data segment per direction, chosen among those starting
 * between 50 % and 75 % of that direction's byte stream (past the handshake, and well
 * before the last messages), as a capture that missed it would; the peers did not. */
void tg_mangle_drop(segv_t *s, rng_t *r, const buf_t tls[2])
{
	for (int d = 0; d < 2; d++) {
		size_t lo = tls[d].len / 2, hi = tls[d].len * 3 / 4, n = 0;
		for (size_t i = 0; i < s->n; i++)
			if (is_data(&s->v[i]) && s->v[i].dir == d && s->v[i].off >= lo && s->v[i].off < hi) n++;
		if (n == 0) continue;
		size_t pick = tg_rng_u(r, (uint32_t)n), k = 0;
		for (size_t i = 0; i < s->n; i++) {
			if (!is_data(&s->v[i]) || s->v[i].dir != d || s->v[i].off < lo || s->v[i].off >= hi) continue;
			if (k++ == pick) {
				memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
				s->n--;
				break;
			}
		}
	}
}

/* swap some adjacent same-direction data segment pairs (at least one if possible) */
void tg_mangle_reorder(segv_t *s, rng_t *r)
{
	int done = 0;
	size_t first = (size_t)-1;
	for (size_t i = 0; i + 1 < s->n; i++) {
		seg_t *a = &s->v[i], *b = &s->v[i + 1];
		if (!is_data(a) || !is_data(b) || a->dir != b->dir) continue;
		if (first == (size_t)-1) first = i;
		if (tg_rng_u(r, 4) == 0) {
			seg_t t = *a; *a = *b; *b = t;
			done++;
			i++;
		}
	}
	if (!done && first != (size_t)-1) {
		seg_t t = s->v[first]; s->v[first] = s->v[first + 1]; s->v[first + 1] = t;
	}
}

/* Offset just past the TLS record that contains stream offset `off` (record headers are
 * only read, to place retransmissions; nothing is built), or (size_t)-1 if unknown. */
static size_t record_end(const buf_t *stream, size_t off)
{
	size_t p = 0;
	while (p + 5 <= stream->len) {
		size_t e = p + 5 + ((size_t)stream->p[p + 3] << 8 | stream->p[p + 4]);
		if (off < e) return e;
		p = e;
	}
	return (size_t)-1;
}

/* Insert exact retransmissions and retransmissions overlapping the end of one segment
 * and the start of the next (at least one of each if possible). Overlapping ones are
 * preferably placed where the bytes they cover belong to one TLS record that is still
 * incomplete after the second segment (a retransmission reaching back into an already
 * completed record is legal TCP, but tshark reports it as a reassembly error). */
void tg_mangle_duplicate(segv_t *s, rng_t *r, const buf_t tls[2])
{
	size_t n = s->n;
	uint8_t *exact = calloc(n ? n : 1, 1), *over = calloc(n ? n : 1, 1);
	if (!exact || !over) abort();
	size_t ne = 0, no = 0, fe = (size_t)-1, fo = (size_t)-1, fog = (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		seg_t *g = &s->v[i];
		if (!is_data(g)) continue;
		if (fe == (size_t)-1) fe = i;
		if (tg_rng_u(r, 6) == 0) { exact[i] = 1; ne++; }
		if (i > 0) {
			seg_t *p = &s->v[i - 1];
			if (is_data(p) && p->dir == g->dir && p->off + p->len == g->off && p->len >= 2 && g->len >= 2) {
				size_t re = record_end(&tls[g->dir], p->off + p->len / 2);
				int good = re != (size_t)-1 && re > g->off + g->len;
				if (fo == (size_t)-1) fo = i;
				if (good && fog == (size_t)-1) fog = i;
				if (good && tg_rng_u(r, 5) == 0) { over[i] = 1; no++; }
			}
		}
	}
	if (!ne && fe != (size_t)-1) exact[fe] = 1;
	if (!no && fog != (size_t)-1) over[fog] = 1;
	else if (!no && fo != (size_t)-1) over[fo] = 1;
	segv_t o = { 0 };
	for (size_t i = 0; i < n; i++) {
		seg_t g = s->v[i];
		tg_segv_push(&o, g);
		if (over[i]) {
			const seg_t *p = &s->v[i - 1];
			seg_t x = g;
			x.off = p->off + p->len / 2;
			x.len = g.off + g.len / 2 - x.off;
			x.seq = p->seq + (uint32_t)(p->len / 2);
			x.flags = PCAPW_ACK;
			tg_segv_push(&o, x);
		}
		if (exact[i]) tg_segv_push(&o, g);
	}
	free(exact); free(over);
	free(s->v);
	*s = o;
}

static int is_pure_ack(const seg_t *g) { return g->len == 0 && g->flags == PCAPW_ACK; }

/* ack_before_data: [D, ACK(D)] -> [ACK(D), D] for some pairs (each with probability 1/3,
 * plus the first candidate of a direction that got none). Returns the number swapped. */
unsigned tg_mangle_ack_first(segv_t *s, rng_t *r)
{
	size_t n = s->n;
	uint8_t *pick = calloc(n ? n : 1, 1);
	if (!pick) abort();
	unsigned got[2] = { 0, 0 };
	size_t first[2] = { (size_t)-1, (size_t)-1 };
	for (size_t i = 1; i < n; i++) {
		const seg_t *a = &s->v[i], *d = &s->v[i - 1];
		if (!is_pure_ack(a) || !is_data(d) || d->dir == a->dir || a->ack != d->seq + (uint32_t)d->len) continue;
		if (first[d->dir] == (size_t)-1) first[d->dir] = i;
		if (tg_rng_u(r, 3) == 0) { pick[i] = 1; got[d->dir]++; }
	}
	for (int d = 0; d < 2; d++)
		if (!got[d] && first[d] != (size_t)-1) { pick[first[d]] = 1; got[d]++; }
	for (size_t i = 1; i < n; i++)
		if (pick[i]) { seg_t t = s->v[i]; s->v[i] = s->v[i - 1]; s->v[i - 1] = t; }
	free(pick);
	return got[0] + got[1];
}

/* late_segment: [D, ACK(D), D2] -> [D2, ACK(D), D] (D2 continues D's direction's stream,
 * ACK(D) is the peer's pure ACK of exactly D's end). Choice: the first candidate of each
 * direction where D ends an application write (PSH) and the first in application data are
 * always taken, the others with probability 1/3, then up to 3 per direction are filled in;
 * chosen triples never overlap. Counts per direction go to n_late. */
void tg_mangle_late(segv_t *s, rng_t *r, const size_t hs_end[2], unsigned n_late[2])
{
	size_t n = s->n;
	uint8_t *cand = calloc(n ? n : 1, 1), *pick = calloc(n ? n : 1, 1);
	if (!cand || !pick) abort();
	for (size_t i = 0; i + 2 < n; i++) {
		const seg_t *d = &s->v[i], *a = &s->v[i + 1], *d2 = &s->v[i + 2];
		if (!is_data(d) || !is_pure_ack(a) || !is_data(d2)) continue;
		if (a->dir == d->dir || d2->dir != d->dir) continue;
		if (a->ack != d->seq + (uint32_t)d->len || d2->off != d->off + d->len) continue;
		cand[i] = 1;
	}
	/* can index i be picked without overlapping a picked triple? */
#define LATE_FREE(i) (!pick[i] && ((i) < 1 || !pick[(i) - 1]) && ((i) < 2 || !pick[(i) - 2]) && \
                      ((i) + 1 >= n || !pick[(i) + 1]) && ((i) + 2 >= n || !pick[(i) + 2]))
	unsigned cnt[2] = { 0, 0 };
	for (int d = 0; d < 2; d++) {
		for (int pass = 0; pass < 2; pass++)
			for (size_t i = 0; i < n; i++) {
				const seg_t *g = &s->v[i];
				if (!cand[i] || g->dir != d || g->off < hs_end[d] || !LATE_FREE(i)) continue;
				if (pass == 0 && !(g->flags & PCAPW_PSH)) continue;
				pick[i] = 1; cnt[d]++;
				break;
			}
	}
	for (size_t i = 0; i < n; i++)
		if (cand[i] && LATE_FREE(i) && tg_rng_u(r, 3) == 0) { pick[i] = 1; cnt[s->v[i].dir]++; }
	for (int d = 0; d < 2; d++)
		for (size_t i = 0; i < n && cnt[d] < 3; i++)
			if (cand[i] && s->v[i].dir == d && LATE_FREE(i)) { pick[i] = 1; cnt[d]++; }
#undef LATE_FREE
	for (size_t i = 0; i < n; i++)
		if (pick[i]) { seg_t t = s->v[i]; s->v[i] = s->v[i + 2]; s->v[i + 2] = t; }
	n_late[0] = cnt[0]; n_late[1] = cnt[1];
	free(cand); free(pick);
}

/* reply_first: move the first data segment F of a flight k (1..maxk) packets earlier than
 * the last data segment A of the other direction before it (see tlsgen.h). Flights in the
 * handshake (F below hs_end of its direction) always, the first server flight in
 * application data always, other application flights with probability 1/2. */
void tg_mangle_reply_first(segv_t *s, rng_t *r, int maxk, const size_t hs_end[2], unsigned *n_all, unsigned *n_hs)
{
	int app_s2c_done = 0;
	for (size_t i = 3; i < s->n; i++) {
		seg_t f = s->v[i];
		if (!is_data(&f)) continue;
		int d = f.dir;
		/* a retransmission does not start a flight */
		int retrans = 0;
		for (size_t k = 0; k < i && !retrans; k++)
			if (is_data(&s->v[k]) && s->v[k].dir == d && s->v[k].off + s->v[k].len > f.off) retrans = 1;
		if (retrans) continue;
		size_t j = i;
		while (j > 0 && !is_data(&s->v[j - 1])) j--;
		if (j == 0) continue;
		j--;                                   /* the closest earlier data segment */
		if (s->v[j].dir == d) continue;        /* not the first segment of a flight */
		int hs = f.off < hs_end[d];
		int mv = hs;
		if (!hs) {
			if (d == 1 && !app_s2c_done) mv = 1;
			else mv = tg_rng_u(r, 2) == 0;
		}
		if (!mv) continue;
		size_t lb = 3;
		for (size_t k = j; k > 0; k--)
			if (is_data(&s->v[k - 1]) && s->v[k - 1].dir == d) { if (k > lb) lb = k; break; }
		size_t kk = tg_rng_range(r, 1, (uint32_t)maxk);
		size_t target = j + 1 > kk ? j + 1 - kk : 0;
		if (target < lb) target = lb;
		if (target > j) continue;              /* cannot be put before A */
		memmove(&s->v[target + 1], &s->v[target], (i - target) * sizeof *s->v);
		s->v[target] = f;
		(*n_all)++;
		if (hs) (*n_hs)++;
		else if (d == 1) app_s2c_done = 1;
	}
}

/* Next expected stream offset of direction d from the segments before index i. */
static size_t next_off(const segv_t *s, size_t i, int d)
{
	size_t e = 0;
	for (size_t k = 0; k < i; k++)
		if (is_data(&s->v[k]) && s->v[k].dir == d && s->v[k].off + s->v[k].len > e) e = s->v[k].off + s->v[k].len;
	return e;
}

/* Inject one stray RST (rst=1, side d) or SYN (rst=0, client side) into the application data,
 * before a data segment of the same side that starts exactly at that side's next expected
 * offset, choosing the candidate closest to `frac` (0..1) of the capture. Returns the index
 * of the injected packet in s, or (size_t)-1 if there is no candidate. */
size_t tg_inject_stray(segv_t *s, const uint32_t isn[2], const size_t hs_end[2], int rst, int d, int in_window, double frac)
{
	size_t best = (size_t)-1, want = (size_t)(frac * (double)s->n);
	for (size_t i = 3; i < s->n; i++) {
		const seg_t *g = &s->v[i];
		if (!is_data(g) || g->dir != d || g->off < hs_end[d] || g->off == 0) continue;
		if (next_off(s, i, d) != g->off) continue;
		size_t dist = i > want ? i - want : want - i, bd = best == (size_t)-1 ? (size_t)-1 : best > want ? best - want : want - best;
		if (dist < bd) best = i;
	}
	if (best == (size_t)-1) return best;
	size_t off = s->v[best].off;
	seg_t x = { .dir = (uint8_t)d, .stray = 1 };
	x.seq = isn[d] + 1 + (uint32_t)off + (in_window ? 0 : 0x40000000u);
	if (rst) {
		x.flags = PCAPW_RST | PCAPW_ACK;
		x.ack = isn[!d] + 1 + (uint32_t)next_off(s, best, !d);
	} else {
		x.flags = PCAPW_SYN;
		x.syn_opts = 1;
	}
	tg_segv_push(s, x);                           /* grow, then move into place */
	memmove(&s->v[best + 1], &s->v[best], (s->n - 1 - best) * sizeof *s->v);
	s->v[best] = x;
	return best;
}

/* Bytes of each direction's stream that no data segment carries. */
void tg_count_lost(const segv_t *s, const buf_t tls[2], uint64_t lost[2])
{
	for (int d = 0; d < 2; d++) {
		size_t L = tls[d].len;
		uint8_t *cov = calloc(L ? L : 1, 1);
		if (!cov) abort();
		for (size_t i = 0; i < s->n; i++) {
			const seg_t *g = &s->v[i];
			if (!is_data(g) || g->dir != d) continue;
			for (size_t k = g->off; k < g->off + g->len && k < L; k++) cov[k] = 1;
		}
		uint64_t m = 0;
		for (size_t k = 0; k < L; k++) m += !cov[k];
		lost[d] = m;
		free(cov);
	}
}
