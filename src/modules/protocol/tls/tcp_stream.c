/*
 * tcp_stream.c — per-direction TCP reassembly (order, retransmits, overlaps, gaps).
 *
 * What: turns the segments of one TCP direction, as captured (reordered, duplicated,
 * overlapping, lost, starting mid-flow, wrapping at 2^32), into the byte stream the sender
 * wrote, delivered exactly once and in order to a callback; lost bytes are reported as
 * gaps (deliver(NULL, n)) so the TLS layer above can resynchronise or give up.
 *
 * Why this shape: the common case (in-order data) must cost nothing, so it is delivered
 * straight from the caller's buffer with no allocation. Only future segments are copied,
 * into a list sorted by sequence number whose entries never overlap; that list is bounded
 * per direction (bytes and segments) and globally (a counter shared by all streams), and
 * when a bound is hit we skip ahead over the missing bytes instead of growing: a segment
 * the capture lost never arrives, so waiting longer only costs memory. Every sequence
 * comparison is a signed 32-bit difference (RFC 1982 style), so wraparound is free.
 *
 * Invariants (checked by the tests through behaviour):
 *  - every held segment starts strictly after next_seq and before fin_seq (if FIN seen);
 *  - held segments are sorted and disjoint; their byte and segment counts and the
 *    shared total match the list;
 *  - all offsets relative to next_seq of anything we keep are in (0, WINDOW + MAX_SEGMENT],
 *    so offset arithmetic in int64_t / uint32_t never overflows.
 */
#include "tcp_stream.h"

#include <stdlib.h>
#include <string.h>

typedef struct tcp_ooo_seg {
	struct tcp_ooo_seg *next, *prev;
	uint32_t seq;       /* sequence number of data[0] */
	uint32_t len;       /* valid bytes in data */
	uint32_t charged;   /* bytes charged to the limits (allocation size; >= len) */
	uint8_t data[];
} tcp_ooo_seg_t;

/* A direction's out-of-order state, allocated when it first holds a segment and freed
 * when it holds none (an in-order stream, the common case, keeps only a NULL pointer). */
struct tcp_ooo {
	tcp_ooo_seg_t *head;    /* held segments, sorted by seq, non-overlapping, all > next_seq */
	tcp_ooo_seg_t *tail;    /* last held segment (O(1) append in the common loss case) */
	uint32_t bytes, count;  /* held bytes (as charged to the limits) and segments */
	/* ACK evidence about the first hole: the peer acknowledged bytes up to hole_ack, which
	 * covers the start of the first held segment (hole_seq), first seen at hole_ack_ts. */
	bool hole_acked;
	uint32_t hole_seq, hole_ack;
	double hole_ack_ts;
};

/* First / last held segment, or NULL. */
static inline tcp_ooo_seg_t *head(const tcp_stream_t *s) { return s->ooo ? s->ooo->head : NULL; }
static inline tcp_ooo_seg_t *tail(const tcp_stream_t *s) { return s->ooo ? s->ooo->tail : NULL; }

/* Give the out-of-order state back once nothing is held. */
static void ooo_put(tcp_stream_t *s)
{
	if (s->ooo && !s->ooo->head) {
		free(s->ooo);
		s->ooo = NULL;
	}
}

typedef struct lims {
	uint32_t max_bytes, max_segs;
	uint64_t max_total;
	uint64_t *total;
} lims_t;

static lims_t get_lims(const tcp_limits_t *lim)
{
	lims_t l;
	if (lim) {
		l.max_bytes = lim->max_ooo_bytes;
		l.max_segs = lim->max_ooo_segments;
		l.max_total = lim->max_total;
		l.total = lim->total;
	} else {
		l.max_bytes = TCP_STREAM_DEFAULT_MAX_OOO_BYTES;
		l.max_segs = TCP_STREAM_DEFAULT_MAX_OOO_SEGMENTS;
		l.max_total = 0;
		l.total = NULL;
	}
	return l;
}

/* Sink wrapper: tolerate a NULL callback, never pass len == 0. */
static void emit(tcp_deliver_fn deliver, void *ctx, const uint8_t *data, size_t len)
{
	if (deliver && len)
		deliver(ctx, data, len);
}

/* ---- held-segment list ---- */

static void seg_unlink(tcp_stream_t *s, tcp_ooo_seg_t *n, const lims_t *l)
{
	tcp_ooo_t *o = s->ooo;
	if (n->prev) n->prev->next = n->next; else o->head = n->next;
	if (n->next) n->next->prev = n->prev; else o->tail = n->prev;
	n->next = n->prev = NULL;
	o->bytes = o->bytes >= n->charged ? o->bytes - n->charged : 0;
	if (o->count) o->count--;
	if (l->total)
		*l->total = *l->total >= n->charged ? *l->total - n->charged : 0;
}

/* Insert n before `before` (NULL: append at the tail) and charge it (s->ooo exists). */
static void seg_link(tcp_stream_t *s, tcp_ooo_seg_t *n, tcp_ooo_seg_t *before, const lims_t *l)
{
	tcp_ooo_t *o = s->ooo;
	n->next = before;
	n->prev = before ? before->prev : o->tail;
	if (n->prev) n->prev->next = n; else o->head = n;
	if (before) before->prev = n; else o->tail = n;
	o->bytes += n->charged;
	o->count++;
	if (l->total)
		*l->total += n->charged;
}

/* Offset of sequence number q from next_seq. */
static inline int64_t rel(const tcp_stream_t *s, uint32_t q)
{
	return tcp_seq_diff(q, s->next_seq);
}

/* Deliver every held segment that is now in order (trimming bytes already delivered),
 * freeing each. State is updated before each callback. */
static void drain(tcp_stream_t *s, const lims_t *l, tcp_counters_t *cnt,
                  tcp_deliver_fn deliver, void *ctx)
{
	tcp_ooo_seg_t *n;
	while ((n = head(s)) != NULL) {
		int64_t off = rel(s, n->seq);
		if (off > 0)
			break;
		seg_unlink(s, n, l);
		uint64_t skip = (uint64_t)(-off);
		if (skip)
			cnt->retransmits++;    /* part of it was already delivered from a newer segment */
		if (skip < n->len) {
			size_t m = n->len - (size_t)skip;
			s->next_seq += (uint32_t)m;
			emit(deliver, ctx, n->data + skip, m);
		}
		free(n);
	}
	ooo_put(s);
}

/* Declare the bytes [next_seq, to) lost. */
static void gap_to(tcp_stream_t *s, uint32_t to, tcp_counters_t *cnt,
                   tcp_deliver_fn deliver, void *ctx)
{
	int64_t g = rel(s, to);
	if (g <= 0)
		return;
	s->next_seq = to;
	cnt->gaps++;
	cnt->lost_bytes += (uint64_t)g;
	s->gaps++;
	s->lost_bytes += (uint64_t)g;
	if (s->ooo) s->ooo->hole_acked = false;
	emit(deliver, ctx, NULL, (size_t)g);
}

/* Discard held bytes at or beyond fin_seq (called when a FIN is first recorded). */
static void trim_beyond_fin(tcp_stream_t *s, const lims_t *l, tcp_counters_t *cnt)
{
	tcp_ooo_seg_t *n = tail(s);
	while (n) {
		tcp_ooo_seg_t *p = n->prev;
		int64_t room = tcp_seq_diff(s->fin_seq, n->seq);   /* bytes of n before FIN */
		if (room >= (int64_t)n->len)
			break;                                     /* this and all earlier fit */
		cnt->dropped++;
		if (room <= 0) {
			seg_unlink(s, n, l);
			free(n);
		} else {
			n->len = (uint32_t)room;                   /* stays charged at full size */
		}
		n = p;
	}
	ooo_put(s);
}

enum hold_res { HOLD_OK, HOLD_DUP, HOLD_NOROOM, HOLD_NOMEM };

/* Try to hold the future bytes [seq, seq+len) (0 < offset <= WINDOW). Bytes already held
 * are kept (first wins); held segments entirely covered by the new one are merged into a
 * single new node, so the segment count never grows by more than one per call. */
static enum hold_res try_hold(tcp_stream_t *s, uint32_t seq, const uint8_t *p, uint32_t len,
                              const lims_t *l, tcp_counters_t *cnt)
{
	int64_t a = rel(s, seq), b = a + len;   /* wanted range, relative to next_seq */
	const int64_t a0 = a;
	tcp_ooo_seg_t *before = NULL;           /* node to insert before (NULL: tail) */
	tcp_ooo_seg_t *first_cov = NULL;        /* first node entirely inside [a, b) */
	uint32_t ncov = 0;
	uint64_t cov_charged = 0;
	bool dup = false;

	tcp_ooo_seg_t *t = tail(s);
	if (t && rel(s, t->seq) + t->len <= a) {
		before = NULL;                  /* fast path: beyond everything held */
	} else {
		tcp_ooo_seg_t *n = head(s);
		while (n && rel(s, n->seq) + n->len <= a)
			n = n->next;
		if (n && rel(s, n->seq) <= a) {  /* overlaps our start: keep its bytes */
			a = rel(s, n->seq) + n->len;
			dup = true;
			n = n->next;
		}
		for (; n; n = n->next) {
			int64_t ns = rel(s, n->seq), ne = ns + n->len;
			if (ns >= b)
				break;
			if (ne > b) {                   /* overlaps our end: keep its bytes */
				b = ns;
				dup = true;
				break;
			}
			if (!first_cov)
				first_cov = n;
			ncov++;
			cov_charged += n->charged;
		}
		before = n;
		if (a >= b) {
			cnt->retransmits++;
			return HOLD_DUP;
		}
		if (ncov)
			dup = true;
	}

	uint64_t span = (uint64_t)(b - a);
	uint64_t new_bytes = (uint64_t)tcp_stream_held_bytes(s) - cov_charged + span;
	uint64_t new_count = (uint64_t)tcp_stream_held_segments(s) - ncov + 1;
	if (new_bytes > l->max_bytes || new_count > l->max_segs)
		return HOLD_NOROOM;
	if (l->total) {
		uint64_t tot = *l->total >= cov_charged ? *l->total - cov_charged : 0;
		if (tot + span > l->max_total)
			return HOLD_NOROOM;
	}

	if (!s->ooo && !(s->ooo = calloc(1, sizeof *s->ooo)))
		return HOLD_NOMEM;
	tcp_ooo_seg_t *nn = malloc(sizeof(*nn) + (size_t)span);
	if (!nn) {
		ooo_put(s);
		return HOLD_NOMEM;
	}
	nn->seq = s->next_seq + (uint32_t)a;
	nn->len = nn->charged = (uint32_t)span;
	memcpy(nn->data, p + (a - a0), (size_t)span);
	/* Covered nodes: their bytes win (first wins); then they are freed. */
	tcp_ooo_seg_t *c = first_cov;
	for (uint32_t i = 0; i < ncov; i++) {
		tcp_ooo_seg_t *nx = c->next;
		memcpy(nn->data + (rel(s, c->seq) - a), c->data, c->len);
		seg_unlink(s, c, l);
		free(c);
		c = nx;
	}
	seg_link(s, nn, before, l);
	if (dup)
		cnt->retransmits++;
	return HOLD_OK;
}

/* ---- public API ---- */

void tcp_stream_init(tcp_stream_t *s)
{
	if (s)
		memset(s, 0, sizeof(*s));
}

int tcp_stream_segment(tcp_stream_t *s, uint32_t seq, uint8_t flags, const uint8_t *payload,
                       size_t len, const tcp_limits_t *lim, tcp_counters_t *cnt,
                       tcp_deliver_fn deliver, void *ctx)
{
	tcp_counters_t scratch = { 0 };
	if (!cnt)
		cnt = &scratch;
	if (!s)
		return 0;
	if (s->rst_seen || len > TCP_STREAM_MAX_SEGMENT || (len && !payload)) {
		if (len)
			cnt->dropped++;
		return 0;
	}
	if (flags & TCP_STREAM_RST) {
		s->rst_seen = true;
		if (len)
			cnt->dropped++;
		return 0;
	}
	const lims_t l = get_lims(lim);
	const bool fin = flags & TCP_STREAM_FIN;
	uint32_t dseq = seq;
	if (flags & TCP_STREAM_SYN) {
		dseq = seq + 1;                 /* the SYN occupies seq */
		if (!s->started) {
			s->started = true;
			s->next_seq = dseq;
		}
		s->syn_seen = true;
	}
	if (!s->started) {
		if (!len && !fin)
			return 0;               /* a pure ACK does not tell where data starts */
		s->started = true;
		s->next_seq = dseq;
	}

	int64_t off = rel(s, dseq);
	if (off > (int64_t)TCP_STREAM_WINDOW) {   /* garbage far ahead: never held */
		if (len || fin)
			cnt->dropped++;
		return 0;
	}
	uint32_t n = (uint32_t)len;     /* <= TCP_STREAM_MAX_SEGMENT */

	if (fin && !s->fin_seen) {
		uint32_t fs = dseq + n;
		if (tcp_seq_geq(fs, s->next_seq)) {
			s->fin_seen = true;
			s->fin_seq = fs;
			trim_beyond_fin(s, &l, cnt);
		}
	}
	if (s->fin_seen) {              /* nothing exists at or beyond the FIN */
		int64_t room = tcp_seq_diff(s->fin_seq, dseq);
		if (room < (int64_t)n) {
			cnt->dropped++;
			n = room > 0 ? (uint32_t)room : 0;
		}
	}
	if (!n)
		return 0;

	bool counted_ooo = false;
	for (;;) {
		off = rel(s, dseq);
		int64_t end = off + n;
		if (end <= 0) {                 /* everything already delivered */
			cnt->retransmits++;
			return 0;
		}
		if (off <= 0) {                 /* in order (maybe with an old prefix): zero copy */
			size_t skip = (size_t)(-off);
			if (skip)
				cnt->retransmits++;
			size_t m = n - skip;
			s->next_seq += (uint32_t)m;
			emit(deliver, ctx, payload + skip, m);
			drain(s, &l, cnt, deliver, ctx);
			return 0;
		}
		if (!counted_ooo) {
			cnt->out_of_order++;
			counted_ooo = true;
		}
		switch (try_hold(s, dseq, payload, n, &l, cnt)) {
		case HOLD_OK:
		case HOLD_DUP:
			return 0;
		case HOLD_NOMEM:
			cnt->dropped++;
			return -1;
		case HOLD_NOROOM:
			break;
		}
		/* No room: the bytes before the earliest thing we know of are presumed lost. */
		uint32_t to = dseq;
		if (head(s) && tcp_seq_lt(head(s)->seq, dseq))
			to = head(s)->seq;
		gap_to(s, to, cnt, deliver, ctx);
		drain(s, &l, cnt, deliver, ctx);
	}
}

void tcp_stream_flush(tcp_stream_t *s, const tcp_limits_t *lim, tcp_counters_t *cnt,
                      tcp_deliver_fn deliver, void *ctx)
{
	tcp_counters_t scratch = { 0 };
	if (!cnt)
		cnt = &scratch;
	if (!s || !s->started)
		return;
	const lims_t l = get_lims(lim);
	while (head(s)) {
		gap_to(s, head(s)->seq, cnt, deliver, ctx);
		drain(s, &l, cnt, deliver, ctx);
	}
	if (s->fin_seen)
		gap_to(s, s->fin_seq, cnt, deliver, ctx);
}

void tcp_stream_acked(tcp_stream_t *s, uint32_t ack, double now)
{
	if (!s || !s->started || !head(s))
		return;
	tcp_ooo_t *o = s->ooo;
	/* ACKs of bytes we hold are normal; an ACK covering the start of the held data means
	 * the receiver got the bytes of the hole. They may still be on their way to us (late
	 * segment): only remember when this was first seen. */
	int64_t a = rel(s, ack);
	if (a <= 0 || a > (int64_t)TCP_STREAM_WINDOW || tcp_seq_gt(o->head->seq, ack))
		return;
	if (!o->hole_acked || o->hole_seq != o->head->seq) {
		o->hole_acked = true;
		o->hole_seq = o->head->seq;
		o->hole_ack_ts = now;
	}
	o->hole_ack = ack;
}

bool tcp_stream_age_hole(tcp_stream_t *s, double now, double wait, const tcp_limits_t *lim,
                         tcp_counters_t *cnt, tcp_deliver_fn deliver, void *ctx)
{
	tcp_counters_t scratch = { 0 };
	if (!cnt)
		cnt = &scratch;
	if (!s || !s->started || !head(s) || !s->ooo->hole_acked)
		return false;
	tcp_ooo_t *o = s->ooo;
	if (o->hole_seq != o->head->seq) {       /* the hole changed since the ACK: start over */
		o->hole_acked = false;
		return false;
	}
	if (now - o->hole_ack_ts < wait)
		return false;
	const lims_t l = get_lims(lim);
	gap_to(s, o->head->seq, cnt, deliver, ctx);
	drain(s, &l, cnt, deliver, ctx);
	return true;
}

bool tcp_stream_finished(const tcp_stream_t *s)
{
	if (!s)
		return true;
	if (s->rst_seen)
		return true;
	return s->started && s->fin_seen && tcp_seq_geq(s->next_seq, s->fin_seq);
}

void tcp_stream_free(tcp_stream_t *s, const tcp_limits_t *lim)
{
	if (!s)
		return;
	const lims_t l = get_lims(lim);
	tcp_ooo_seg_t *n;
	while ((n = head(s)) != NULL) {
		seg_unlink(s, n, &l);
		free(n);
	}
	free(s->ooo);
	s->ooo = NULL;
}

uint32_t tcp_stream_held_bytes(const tcp_stream_t *s)
{
	return s && s->ooo ? s->ooo->bytes : 0;
}

uint32_t tcp_stream_held_segments(const tcp_stream_t *s)
{
	return s && s->ooo ? s->ooo->count : 0;
}

bool tcp_stream_hole_acked(const tcp_stream_t *s)
{
	return s && s->ooo && s->ooo->hole_acked;
}
