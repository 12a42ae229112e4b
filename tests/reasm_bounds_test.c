/*
 * reasm_bounds_test.c — unit tests for tcp_stream.c at its limits: the per-direction and
 * global hold bounds (a hole is declared lost only there), ACK evidence (an ACK never
 * declares a late segment lost by itself; tcp_stream_age_hole does after the wait), zero
 * lengths, flush, free, garbage and hostile sequence numbers, the loss property.
 */
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <stdlib.h>
#include "tap.h"
#include "reasm_util.h"

static void test_zero_len(void)
{
	const size_t N = 300;
	uint8_t *orig = make_stream(N, 12);
	env_t e; env_init(&e, N, 65536, 64, BIG);
	syn(&e, 1);
	feed(&e, 1, orig, 0, 100, 0);
	feed(&e, 1, orig, 100, 0, 0);        /* pure ACK at next_seq */
	feed(&e, 1, orig, 250, 0, 0);        /* zero-length in the future */
	tcp_stream_segment(&e.s, 2 + 99, F_ACK, orig, 0, &e.lim, &e.cnt, deliver, &e.k); /* keep-alive */
	tap_ok(e.k.pos == 100 && e.k.calls == 1 && tcp_stream_held_segments(&e.s) == 0 && e.cnt.out_of_order == 0 &&
	       e.cnt.retransmits == 0 && !e.k.bad,
	       "zero-length segments: no delivery, nothing held, no counters");
	feed(&e, 1, orig, 100, 200, 0);
	tap_ok(sink_equals(&e.k, orig, N), "zero-length segments: stream continues exactly");
	tcp_stream_segment(&e.s, 1000, F_ACK, NULL, 0, &e.lim, &e.cnt, NULL, NULL);
	tcp_stream_segment(&e.s, 1000, F_ACK, NULL, 10, &e.lim, NULL, deliver, &e.k); /* NULL payload */
	tap_ok(e.k.pos == N && tcp_stream_held_segments(&e.s) == 0, "NULL payload with len, NULL sink/counters: safe, ignored");
	env_free(&e);
	free(orig);
}

static void test_flush(void)
{
	const size_t N = 1000;
	uint8_t *orig = make_stream(N, 13);
	env_t e; env_init(&e, N, 65536, 64, BIG);
	syn(&e, 3);
	feed(&e, 3, orig, 0, 100, 0);
	feed(&e, 3, orig, 200, 100, 0);
	feed(&e, 3, orig, 300, 50, 0);
	feed(&e, 3, orig, 600, 100, 0);
	tcp_stream_flush(&e.s, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.k.ngaps == 2 && e.k.gap_off[0] == 100 && e.k.gap_len[0] == 100 &&
	       e.k.gap_off[1] == 350 && e.k.gap_len[1] == 250 && e.k.pos == 700 &&
	       sink_data_consistent(&e.k, orig, N) && e.cnt.gaps == 2,
	       "flush: held data delivered in order with gaps between");
	tap_ok(tcp_stream_held_segments(&e.s) == 0 && tcp_stream_held_bytes(&e.s) == 0 && e.total == 0 && e.s.ooo == NULL,
	       "flush: nothing held afterwards");
	tcp_stream_flush(&e.s, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.k.pos == 700 && e.cnt.gaps == 2, "flush twice: second is a no-op");
	env_free(&e);

	/* flush with FIN seen and trailing bytes missing */
	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 3);
	feed(&e, 3, orig, 0, 100, 0);
	feed(&e, 3, orig, 200, 100, 0);
	feed(&e, 3, orig, 900, 100, F_FIN);
	feed(&e, 3, orig, 500, 100, 0);
	tcp_stream_flush(&e.s, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.k.pos == N && e.k.ngaps == 3 && e.k.gap_off[2] == 600 && e.k.gap_len[2] == 300 &&
	       sink_data_consistent(&e.k, orig, N) && tcp_stream_finished(&e.s),
	       "flush with FIN: gaps up to fin_seq, finished");
	env_free(&e);

	/* bare FIN ahead of the data: nothing held, the missing tail is reported on flush */
	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 3);
	feed(&e, 3, orig, 0, 300, 0);
	feed(&e, 3, orig, 500, 0, F_FIN);
	tap_ok(e.s.fin_seen && !tcp_stream_finished(&e.s) && tcp_stream_held_segments(&e.s) == 0,
	       "bare FIN ahead of next_seq: recorded, not finished");
	tcp_stream_flush(&e.s, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.k.pos == 500 && e.k.ngaps == 1 && e.k.gap_off[0] == 300 && e.k.gap_len[0] == 200 &&
	       tcp_stream_finished(&e.s), "flush: trailing gap up to a bare FIN, then finished");
	env_free(&e);

	/* flush on a stream never started */
	env_init(&e, N, 65536, 64, BIG);
	tcp_stream_flush(&e.s, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.k.calls == 0, "flush on an unstarted stream: nothing");
	env_free(&e);
	free(orig);
}

static void test_free(void)
{
	const size_t N = 5000;
	uint8_t *orig = make_stream(N, 14);
	env_t e; env_init(&e, N, 1u << 20, 256, BIG);
	syn(&e, 3);
	for (size_t off = 100; off < N; off += 200) feed(&e, 3, orig, off, 100, 0);
	uint64_t before = e.total;
	tcp_stream_free(&e.s, &e.lim);
	tap_ok(before == 2500 && e.total == 0 && e.s.ooo == NULL && tcp_stream_held_bytes(&e.s) == 0 &&
	       tcp_stream_held_segments(&e.s) == 0, "free: held 2500 bytes, *total back to 0");
	tcp_stream_free(&e.s, &e.lim);
	tap_ok(e.total == 0, "free twice: safe");
	/* the stream stays usable after free */
	feed(&e, 3, orig, 0, 100, 0);
	tap_ok(e.k.pos == 100 && memcmp(e.k.buf, orig, 100) == 0, "free: stream still usable");
	env_free(&e);
	free(orig);
}

static void test_garbage(void)
{
	const size_t N = 1000;
	uint8_t *orig = make_stream(N, 15);
	env_t e; env_init(&e, N, 1u << 20, 256, BIG);
	syn(&e, 100);
	feed(&e, 100, orig, 0, 100, 0);
	uint32_t next = e.s.next_seq;
	tcp_stream_segment(&e.s, next + TCP_STREAM_WINDOW + 1, F_ACK, orig, 100, &e.lim, &e.cnt, deliver, &e.k);
	tcp_stream_segment(&e.s, next + 0x80000000u, F_ACK, orig, 100, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(tcp_stream_held_segments(&e.s) == 0 && e.total == 0 && e.cnt.dropped == 1 && e.k.pos == 100,
	       "garbage: seq more than 1 GiB ahead never held, counted dropped");
	tcp_stream_segment(&e.s, next - 0x70000000u, F_ACK, orig, 100, &e.lim, &e.cnt, deliver, &e.k);
	tcp_stream_segment(&e.s, next - 1000, F_ACK, orig, 100, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(tcp_stream_held_segments(&e.s) == 0 && e.total == 0 && e.cnt.retransmits == 3 && e.k.pos == 100,
	       "garbage: seq behind (incl. exactly 2^31 away) never held, counted as retransmit");
	tcp_stream_segment(&e.s, next + TCP_STREAM_WINDOW + 5, F_FIN, NULL, 0, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(!e.s.fin_seen, "garbage: FIN far ahead ignored");
	tcp_stream_segment(&e.s, next + TCP_STREAM_WINDOW, F_ACK, orig, 10, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(tcp_stream_held_segments(&e.s) == 1 && e.total == 10, "window edge: exactly 1 GiB ahead is still held");
	env_free(&e);

	/* oversized segments */
	size_t big = 256 * 1024, huge = TCP_STREAM_MAX_SEGMENT + 1;
	uint8_t *bigbuf = make_stream(huge, 16);
	env_init(&e, huge, 1u << 20, 256, BIG);
	syn(&e, 0);
	tcp_stream_segment(&e.s, 1 + (uint32_t)big, F_ACK, bigbuf + big, big, &e.lim, &e.cnt, deliver, &e.k);
	tcp_stream_segment(&e.s, 1, F_ACK, bigbuf, big, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.k.pos == 2 * big && memcmp(e.k.buf, bigbuf, 2 * big) == 0 && e.total == 0,
	       "256 KiB coalesced segments held and delivered exactly");
	tcp_stream_segment(&e.s, 1 + 2 * (uint32_t)big, F_ACK, bigbuf, huge, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.k.pos == 2 * big && e.cnt.dropped == 1, "segment over 1 MiB refused as dropped");
	env_free(&e);
	free(bigbuf);
	free(orig);
}

/* Loss + bounded hold: whatever is delivered must be at the right stream position. */
static void test_loss_property(void)
{
	bool ok = true;
	for (uint64_t seed = 1; seed <= 200 && ok; seed++) {
		const size_t N = 8000;
		uint8_t *orig = make_stream(N, seed + 1000);
		seg_t segs[1024];
		rng_seed(seed);
		size_t k = split(segs, 1024, N, 1, 200);
		/* the last segment (with FIN) is never lost; others lost with p = 1/10 */
		size_t w = 0;
		for (size_t i = 0; i < k; i++)
			if (i == k - 1 || rng_below(10)) segs[w++] = segs[i];
		/* local reordering */
		for (size_t i = 0; i + 1 < w; i++)
			if (rng_below(3) == 0) { seg_t t = segs[i]; segs[i] = segs[i + 1]; segs[i + 1] = t; }
		uint32_t isn = rng();
		env_t e; env_init(&e, N, 1000 + rng_below(2000), 1 + rng_below(8), BIG);
		syn(&e, isn);
		for (size_t i = 0; i < w; i++) {
			bool last = segs[i].off + segs[i].len == N;
			feed(&e, isn, orig, segs[i].off, segs[i].len, last ? F_FIN : 0);
			if (tcp_stream_held_bytes(&e.s) > e.lim.max_ooo_bytes || tcp_stream_held_segments(&e.s) > e.lim.max_ooo_segments ||
			    e.total != tcp_stream_held_bytes(&e.s)) ok = false;
		}
		tcp_stream_flush(&e.s, &e.lim, &e.cnt, deliver, &e.k);
		ok = ok && e.k.pos == N && sink_data_consistent(&e.k, orig, N) &&
		     tcp_stream_finished(&e.s) && e.total == 0;
		if (!ok) tap_diag("loss seed %llu: pos %zu", (unsigned long long)seed, e.k.pos);
		env_free(&e);
		free(orig);
	}
	tap_ok(ok, "loss + reordering, 200 seeds: bounds hold, every delivered byte at its position");
}

/* Hostile input: random seq/len/flags; nothing may crash, leak, or exceed a bound. */
static void test_hostile(void)
{
	static uint8_t junk[70000];
	for (size_t i = 0; i < sizeof(junk); i++) junk[i] = (uint8_t)i;
	bool ok = true;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		rng_seed(seed * 977);
		uint64_t total = 0;
		tcp_limits_t lim = { .max_ooo_bytes = 1 + rng_below(100000), .max_ooo_segments = 1 + rng_below(300),
		                     .max_total = 1 + rng_below(150000), .total = &total };
		tcp_stream_t s[2];
		tcp_counters_t c = { 0 };
		sink_t k;
		sink_init(&k, (size_t)1 << 31 >> 8);      /* 8 MiB: enough for data, gaps skip */
		tcp_stream_init(&s[0]); tcp_stream_init(&s[1]);
		uint32_t base = rng();
		for (int i = 0; i < 3000; i++) {
			tcp_stream_t *st = &s[rng_below(2)];
			uint32_t r = rng_below(8), seq;
			if (r < 5) seq = (st->started ? st->next_seq : base) + rng_below(20000) - 2000;
			else if (r < 7) seq = rng();
			else seq = st->next_seq + rng_below(3) - 1;
			size_t len = rng_below(4) ? rng_below(1500) : rng_below(sizeof(junk));
			uint8_t flags = (uint8_t)(rng_below(300) == 0 ? rng() :
			                          (rng() & (0x18 | (rng_below(30) == 0 ? F_SYN | F_FIN : 0))));
			if (tcp_stream_finished(st) && rng_below(10) == 0) {
				tcp_stream_free(st, &lim);
				tcp_stream_init(st);
			}
			k.pos = 0;                       /* positions are meaningless here */
			tcp_stream_segment(st, seq, flags, junk, len, &lim, &c, deliver, &k);
			if (total > lim.max_total || tcp_stream_held_bytes(st) > lim.max_ooo_bytes ||
			    tcp_stream_held_segments(st) > lim.max_ooo_segments ||
			    total != (uint64_t)tcp_stream_held_bytes(&s[0]) + tcp_stream_held_bytes(&s[1])) ok = false;
			if (rng_below(500) == 0) { tcp_stream_flush(st, &lim, &c, NULL, NULL); }
		}
		tcp_stream_flush(&s[0], &lim, &c, NULL, NULL);
		tcp_stream_free(&s[0], &lim);
		tcp_stream_free(&s[1], &lim);
		if (total != 0) ok = false;
		sink_free(&k);
	}
	tap_ok(ok, "hostile random seq/len/flags on two streams: bounds always held, total back to 0");
}

/* Many segments after a single loss: append path stays linear (bounded by lim->segments). */
static void test_many_held(void)
{
	const size_t SEG = 10, CNT = 256, N = SEG * (CNT + 1);
	uint8_t *orig = make_stream(N, 17);
	env_t e;
	env_init(&e, N, 1u << 20, 0, BIG);
	/* lim == NULL: defaults (256 segments, 256 KiB, no global bound) */
	tcp_stream_segment(&e.s, 0, F_SYN, NULL, 0, NULL, &e.cnt, deliver, &e.k);
	for (size_t i = 1; i <= CNT; i++)
		tcp_stream_segment(&e.s, 1 + (uint32_t)(i * SEG), F_ACK, orig + i * SEG, SEG, NULL, &e.cnt, deliver, &e.k);
	tap_ok(tcp_stream_held_segments(&e.s) == TCP_STREAM_DEFAULT_MAX_OOO_SEGMENTS && e.cnt.gaps == 0 && e.k.pos == 0,
	       "lim NULL: default bound holds 256 segments");
	tcp_stream_segment(&e.s, 1, F_ACK, orig, SEG, NULL, &e.cnt, deliver, &e.k);
	tap_ok(sink_equals(&e.k, orig, N) && tcp_stream_held_segments(&e.s) == 0, "lim NULL: 257 segments delivered exactly");
	env_free(&e);
	free(orig);
}

static void test_gap_bound(void)
{
	const size_t N = 2000;
	uint8_t *orig = make_stream(N, 8);
	env_t e;

	/* segment bound: segment 0 lost, at most 4 held */
	env_init(&e, N, 65536, 4, BIG);
	syn(&e, 1);
	bool held_ok = true;
	for (size_t i = 1; i <= 4; i++) {
		feed(&e, 1, orig, i * 100, 100, 0);
		if (e.k.calls != 0) held_ok = false;
	}
	tap_ok(held_ok && tcp_stream_held_segments(&e.s) == 4, "gap (segments): 4 segments held after a loss");
	feed(&e, 1, orig, 500, 100, 0);
	tap_ok(e.cnt.gaps == 1 && e.k.ngaps == 1 && e.k.gap_off[0] == 0 && e.k.gap_len[0] == 100 &&
	       e.k.pos == 600 && memcmp(e.k.buf + 100, orig + 100, 500) == 0 && tcp_stream_held_segments(&e.s) == 0 &&
	       e.total == 0,
	       "gap (segments): deliver(NULL,100), then held data and the new segment in order");
	for (size_t off = 600; off < N; off += 100) feed(&e, 1, orig, off, 100, 0);
	tap_ok(e.k.pos == N && memcmp(e.k.buf + 100, orig + 100, N - 100) == 0 && e.cnt.gaps == 1,
	       "gap (segments): data continues in order after the gap");
	feed(&e, 1, orig, 0, 100, 0);       /* the lost segment arrives much too late */
	tap_ok(e.k.pos == N && e.cnt.retransmits == 1, "gap: late lost segment is old, not delivered");
	env_free(&e);

	/* byte bound: 250 bytes; two holes */
	env_init(&e, N, 250, 64, BIG);
	syn(&e, 1);
	feed(&e, 1, orig, 100, 100, 0);     /* hole [0,100) */
	feed(&e, 1, orig, 300, 100, 0);     /* hole [200,300) */
	feed(&e, 1, orig, 500, 100, 0);     /* 300 > 250: gap to 100, deliver [100,200) */
	tap_ok(e.k.ngaps == 1 && e.k.gap_len[0] == 100 && e.k.pos == 200 && tcp_stream_held_segments(&e.s) == 2 &&
	       tcp_stream_held_bytes(&e.s) == 200 && e.total == 200 && e.s.next_seq == 1 + 1 + 200,
	       "gap (bytes): skip only as far as needed, then hold the new segment");
	tcp_stream_flush(&e.s, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.k.ngaps == 3 && e.k.gap_off[1] == 200 && e.k.gap_len[1] == 100 &&
	       e.k.gap_off[2] == 400 && e.k.gap_len[2] == 100 && e.k.pos == 600 &&
	       sink_data_consistent(&e.k, orig, N) && e.total == 0,
	       "gap (bytes) then flush: gaps exactly where bytes are missing");
	env_free(&e);

	/* a segment larger than the whole per-direction bound is never held: gap to it */
	env_init(&e, N, 100, 64, BIG);
	syn(&e, 1);
	feed(&e, 1, orig, 500, 1000, 0);
	tap_ok(e.k.ngaps == 1 && e.k.gap_len[0] == 500 && e.k.pos == 1500 && e.k.last_ptr == orig + 500 &&
	       e.total == 0, "gap: unholdable segment delivered zero-copy after a gap");
	env_free(&e);

	/* zero bounds: every future segment becomes a gap */
	env_init(&e, N, 0, 0, BIG);
	syn(&e, 1);
	feed(&e, 1, orig, 300, 100, 0);
	feed(&e, 1, orig, 700, 100, 0);
	tap_ok(e.k.ngaps == 2 && e.k.gap_len[0] == 300 && e.k.gap_len[1] == 300 && e.k.pos == 800 &&
	       sink_data_consistent(&e.k, orig, N), "gap: zero bounds hold nothing");
	env_free(&e);
	free(orig);
}

static void test_global_bound(void)
{
	const size_t N = 4000;
	uint8_t *a = make_stream(N, 9), *b = make_stream(N, 10);
	uint64_t total = 0;
	tcp_limits_t lim = { .max_ooo_bytes = 10000, .max_ooo_segments = 64, .max_total = 1000,
	                     .total = &total };
	tcp_stream_t sa, sb;
	tcp_counters_t ca = { 0 }, cb = { 0 };
	sink_t ka, kb;
	tcp_stream_init(&sa); tcp_stream_init(&sb);
	sink_init(&ka, N); sink_init(&kb, N);
	tcp_stream_segment(&sa, 0, F_SYN, NULL, 0, &lim, &ca, deliver, &ka);
	tcp_stream_segment(&sb, 0, F_SYN, NULL, 0, &lim, &cb, deliver, &kb);
	bool bounded = true;
	for (size_t off = 100; off < 900; off += 100) {
		tcp_stream_segment(&sa, 1 + (uint32_t)off, F_ACK, a + off, 100, &lim, &ca, deliver, &ka);
		if (total > lim.max_total) bounded = false;
	}
	tap_ok(total == 800 && tcp_stream_held_bytes(&sa) == 800 && ka.pos == 0, "global: stream A holds 800 of 1000");
	tcp_stream_segment(&sb, 1 + 100, F_ACK, b + 100, 100, &lim, &cb, deliver, &kb);
	tcp_stream_segment(&sb, 1 + 300, F_ACK, b + 300, 100, &lim, &cb, deliver, &kb);
	if (total > lim.max_total) bounded = false;
	tap_ok(total == 1000 && tcp_stream_held_bytes(&sb) == 200 && cb.gaps == 0, "global: stream B holds 200, total 1000");
	tcp_stream_segment(&sb, 1 + 500, F_ACK, b + 500, 100, &lim, &cb, deliver, &kb);
	if (total > lim.max_total) bounded = false;
	tap_ok(bounded && cb.gaps == 1 && kb.ngaps == 1 && kb.gap_off[0] == 0 && kb.gap_len[0] == 100 &&
	       kb.pos == 200 && tcp_stream_held_bytes(&sb) == 200 && total == 1000 && ca.gaps == 0 && tcp_stream_held_bytes(&sa) == 800,
	       "global: B gaps when the shared total is full, A untouched, total never above max");
	tcp_stream_segment(&sa, 1, F_ACK, a, 100, &lim, &ca, deliver, &ka);
	tap_ok(ka.pos == 900 && memcmp(ka.buf, a, 900) == 0 && total == 200,
	       "global: A drains, shared total drops to B's 200");
	tcp_stream_free(&sa, &lim);
	tcp_stream_free(&sb, &lim);
	tap_ok(total == 0 && sb.ooo == NULL && tcp_stream_held_segments(&sb) == 0, "global: free returns shared total to 0");
	sink_free(&ka); sink_free(&kb);
	free(a); free(b);
}

/* [D2, ACK(D), D]: the ACK covering the hole only marks it; the late D still fills it.
 * Only when the hole stays open HOLE wait seconds after the ACK is it declared lost. */
static void test_ack_evidence(void)
{
	const size_t N = 3000;
	uint8_t *orig = make_stream(N, 77);
	env_t e;
	env_init(&e, N, 1u << 20, 256, BIG);
	syn(&e, 1000);
	feed(&e, 1000, orig, 0, 1000, 0);
	feed(&e, 1000, orig, 2000, 1000, 0);                  /* D2 first */
	tcp_stream_acked(&e.s, 1000 + 1 + 2000, 10.0);         /* the peer ACKs D (and D2) */
	bool held = e.k.pos == 1000 && e.k.ngaps == 0 && tcp_stream_hole_acked(&e.s);
	tap_ok(!tcp_stream_age_hole(&e.s, 11.0, 2.0, &e.lim, &e.cnt, deliver, &e.k) && e.k.ngaps == 0,
	       "ACK over a hole declares nothing; 1 s later it is still open (held %d)", held);
	feed(&e, 1000, orig, 1000, 1000, 0);                  /* the late D */
	tap_ok(sink_equals(&e.k, orig, N) && e.s.lost_bytes == 0 && e.s.gaps == 0,
	       "late segment after its ACK fills the hole: stream exact, nothing lost");
	env_free(&e);

	env_init(&e, N, 1u << 20, 256, BIG);
	syn(&e, 5000);
	feed(&e, 5000, orig, 0, 1000, 0);
	feed(&e, 5000, orig, 2000, 1000, 0);
	tcp_stream_acked(&e.s, 5000 + 1 + 2000, 20.0);
	bool early = tcp_stream_age_hole(&e.s, 21.9, 2.0, &e.lim, &e.cnt, deliver, &e.k);
	bool late = tcp_stream_age_hole(&e.s, 22.0, 2.0, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(!early && late && e.k.ngaps == 1 && e.k.gap_off[0] == 1000 && e.k.gap_len[0] == 1000 &&
	       e.s.lost_bytes == 1000 && e.s.gaps == 1 && sink_data_consistent(&e.k, orig, N) && e.k.pos == N,
	       "hole still open 2 s after its ACK: declared lost (1000 bytes), the rest delivered");
	feed(&e, 5000, orig, 1000, 1000, 0);                  /* too late now: a retransmission */
	tap_ok(e.k.pos == N && e.k.ngaps == 1, "segment arriving after the hole was declared lost is not delivered twice");
	/* an ACK below the hole marks nothing */
	env_free(&e);
	env_init(&e, N, 1u << 20, 256, BIG);
	syn(&e, 9000);
	feed(&e, 9000, orig, 0, 1000, 0);
	feed(&e, 9000, orig, 2000, 1000, 0);
	tcp_stream_acked(&e.s, 9000 + 1 + 500, 30.0);
	tap_ok(!tcp_stream_hole_acked(&e.s) && !tcp_stream_age_hole(&e.s, 99.0, 2.0, &e.lim, &e.cnt, deliver, &e.k),
	       "ACK short of the hole is no evidence");
	env_free(&e);
	free(orig);
}

int main(void)
{
	test_zero_len();
	test_flush();
	test_free();
	test_garbage();
	test_loss_property();
	test_hostile();
	test_many_held();
	test_gap_bound();
	test_global_bound();
	test_ack_evidence();
	return tap_done();
}
