/*
 * reasm_test.c — unit tests for tcp_stream.c (per-direction TCP reassembly): order,
 * SYN, reordering, duplicates, overlaps, wraparound, mid-stream start, FIN/RST.
 * reasm_bounds_test.c covers the bounds, gaps, ACK evidence and hostile input.
 *
 * Every case rebuilds the delivered byte stream through a recording sink and compares it
 * byte for byte with the stream the "sender" wrote; gaps are recorded with their stream
 * position and length. Reorderings are driven by a deterministic PRNG so failures replay.
 */
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <stdlib.h>
#include "tap.h"
#include "reasm_util.h"

/* ================================================================== */

static void test_seq_helpers(void)
{
	tap_ok(tcp_seq_diff(1, 0xffffffffu) == 2 && tcp_seq_diff(0xffffffffu, 1) == -2,
	       "seq_diff across the wrap");
	tap_ok(tcp_seq_diff(0x80000000u, 0) == INT32_MIN && tcp_seq_diff(0x7fffffffu, 0) == INT32_MAX,
	       "seq_diff extremes");
	tap_ok(tcp_seq_lt(0xfffffff0u, 0x10) && tcp_seq_gt(0x10, 0xfffffff0u) &&
	       tcp_seq_leq(5, 5) && tcp_seq_geq(5, 5) && !tcp_seq_lt(5, 5),
	       "seq_lt/gt/leq/geq modulo 2^32");
}

static void test_in_order(void)
{
	const size_t N = 5000;
	uint8_t *orig = make_stream(N, 1);
	env_t e; env_init(&e, N, 65536, 16, BIG);
	syn(&e, 1000);
	bool zero_copy = true;
	for (size_t off = 0; off < N; off += 500) {
		feed(&e, 1000, orig, off, 500, 0);
		if (e.k.last_ptr != orig + off) zero_copy = false;
	}
	tap_ok(sink_equals(&e.k, orig, N), "in-order: exact stream");
	tap_ok(zero_copy && e.k.calls == 10, "in-order: delivered from caller's buffer, one call per segment");
	tap_ok(e.cnt.out_of_order == 0 && e.cnt.retransmits == 0 && e.cnt.gaps == 0 &&
	       e.cnt.dropped == 0 && tcp_stream_held_segments(&e.s) == 0 && e.total == 0,
	       "in-order: no counters, nothing held");
	env_free(&e);
	free(orig);
}

static void test_syn(void)
{
	uint8_t *orig = make_stream(300, 2);
	env_t e; env_init(&e, 300, 65536, 16, BIG);
	syn(&e, 5000);
	tap_ok(e.s.started && e.s.syn_seen && e.s.next_seq == 5001 && e.k.calls == 0,
	       "SYN: next_seq = isn+1, nothing delivered");
	/* a byte claiming the SYN's own sequence number is old */
	tcp_stream_segment(&e.s, 5000, F_ACK, orig, 1, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.k.pos == 0 && e.cnt.retransmits == 1, "SYN: data at the SYN's seq is not delivered");
	feed(&e, 5000, orig, 0, 100, 0);
	syn(&e, 5000);      /* retransmitted SYN after data */
	feed(&e, 5000, orig, 100, 200, F_PSH);
	tap_ok(sink_equals(&e.k, orig, 300), "SYN: data from isn+1, SYN retransmission harmless");
	env_free(&e);

	/* SYN carrying data (TFO-like), then more */
	env_init(&e, 300, 65536, 16, BIG);
	tcp_stream_segment(&e.s, 77, F_SYN, orig, 50, &e.lim, &e.cnt, deliver, &e.k);
	feed(&e, 77, orig, 50, 250, 0);
	tap_ok(sink_equals(&e.k, orig, 300) && e.s.next_seq == 77 + 1 + 300, "SYN with payload: payload at seq+1");
	env_free(&e);

	/* SYN after data already held: later data reordered before the SYN in the capture */
	env_init(&e, 300, 65536, 16, BIG);
	syn(&e, 10);
	feed(&e, 10, orig, 100, 200, 0);
	tcp_stream_segment(&e.s, 10, F_SYN, orig, 100, &e.lim, &e.cnt, deliver, &e.k); /* SYN+data retx */
	tap_ok(sink_equals(&e.k, orig, 300) && tcp_stream_held_segments(&e.s) == 0 && e.total == 0,
	       "SYN+data retransmission fills the hole before held data");
	env_free(&e);
	free(orig);
}

static void test_reverse(void)
{
	const size_t N = 64 * 100;
	uint8_t *orig = make_stream(N, 3);
	env_t e; env_init(&e, N, 65536, 256, BIG);
	syn(&e, 42);
	bool held_ok = true;
	for (size_t i = 64; i-- > 1;) {
		feed(&e, 42, orig, i * 100, 100, 0);
		if (e.k.pos != 0 || tcp_stream_held_segments(&e.s) != 64 - i || e.total != (64 - i) * 100) held_ok = false;
	}
	tap_ok(held_ok, "reverse: 63 segments held, nothing delivered, total tracks held bytes");
	feed(&e, 42, orig, 0, 100, 0);
	tap_ok(sink_equals(&e.k, orig, N), "reverse: exact stream once the first segment arrives");
	tap_ok(e.cnt.out_of_order == 63 && tcp_stream_held_segments(&e.s) == 0 && tcp_stream_held_bytes(&e.s) == 0 && e.total == 0,
	       "reverse: 63 out-of-order, all freed");
	env_free(&e);
	free(orig);
}

/* Random permutation with random sizes, some duplicates and overlapping re-segmented
 * retransmissions; everything eventually arrives, so the stream must be exact. */
static bool run_permutation(uint64_t seed, uint32_t isn, size_t N, bool dups, bool overlaps)
{
	uint8_t *orig = make_stream(N, seed * 7 + 11);
	seg_t segs[1024];
	rng_seed(seed);
	size_t k = split(segs, 512, N, 1, 300);
	if (dups) {
		size_t extra = k / 4;
		for (size_t i = 0; i < extra && k < 1024; i++) { segs[k] = segs[rng_below((uint32_t)k)]; k++; }
	}
	if (overlaps) {
		size_t extra = k / 4;
		for (size_t i = 0; i < extra && k < 1024; i++) {
			size_t o = rng_below((uint32_t)N), l = 1 + rng_below(700);
			if (l > N - o) l = N - o;
			segs[k].off = o; segs[k].len = l; k++;
		}
	}
	shuffle(segs, k);
	env_t e; env_init(&e, N, 1u << 20, 2048, BIG);
	syn(&e, isn);
	bool ok = true;
	for (size_t i = 0; i < k; i++) {
		feed(&e, isn, orig, segs[i].off, segs[i].len, 0);
		if (e.total != tcp_stream_held_bytes(&e.s)) ok = false;
	}
	ok = ok && sink_equals(&e.k, orig, N) && tcp_stream_held_segments(&e.s) == 0 && e.total == 0 && e.cnt.gaps == 0;
	if (!ok)
		tap_diag("seed %llu: pos=%zu/%zu gaps=%llu held=%u", (unsigned long long)seed,
		         e.k.pos, N, (unsigned long long)e.cnt.gaps, tcp_stream_held_segments(&e.s));
	env_free(&e);
	free(orig);
	return ok;
}

static void test_permutations(void)
{
	for (uint64_t seed = 1; seed <= 12; seed++)
		tap_ok(run_permutation(seed, (uint32_t)(seed * 0x10001u), 20000, false, false),
		       "random permutation seed %llu: exact stream", (unsigned long long)seed);
	bool ok = true;
	for (uint64_t seed = 100; seed < 300 && ok; seed++)
		ok = run_permutation(seed, (uint32_t)rng(), 5000, false, false);
	tap_ok(ok, "random permutations, 200 more seeds (random ISN): exact streams");
	ok = true;
	for (uint64_t seed = 300; seed < 400 && ok; seed++)
		ok = run_permutation(seed, 0xFFFFFF00u + (uint32_t)(seed % 256), 5000, true, false);
	tap_ok(ok, "permutations with duplicated segments, ISN near wrap, 100 seeds: exact streams");
	ok = true;
	for (uint64_t seed = 400; seed < 500 && ok; seed++)
		ok = run_permutation(seed, (uint32_t)(seed << 24), 5000, true, true);
	tap_ok(ok, "permutations with duplicates and overlapping re-segmentation, 100 seeds: exact");
}

static void test_duplicates(void)
{
	const size_t N = 2000;
	uint8_t *orig = make_stream(N, 4);
	env_t e; env_init(&e, N, 65536, 64, BIG);
	syn(&e, 9);
	for (size_t off = 0; off < N; off += 200) {
		feed(&e, 9, orig, off, 200, 0);
		feed(&e, 9, orig, off, 200, 0);
	}
	tap_ok(sink_equals(&e.k, orig, N) && e.cnt.retransmits == 10,
	       "in-order exact duplicates: delivered once, 10 retransmits");
	env_free(&e);

	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 9);
	feed(&e, 9, orig, 1000, 500, 0);
	feed(&e, 9, orig, 1000, 500, 0);
	feed(&e, 9, orig, 1500, 500, 0);
	feed(&e, 9, orig, 1500, 500, 0);
	tap_ok(tcp_stream_held_segments(&e.s) == 2 && tcp_stream_held_bytes(&e.s) == 1000 && e.total == 1000 && e.cnt.retransmits == 2,
	       "held exact duplicates: stored once, counted as retransmits");
	feed(&e, 9, orig, 0, 1000, 0);
	tap_ok(sink_equals(&e.k, orig, N) && e.total == 0, "held exact duplicates: exact stream");
	env_free(&e);
	free(orig);
}

static void test_overlaps(void)
{
	const size_t N = 1000;
	uint8_t *orig = make_stream(N, 5);
	env_t e;

	/* in-order retransmission covering old + new bytes */
	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 0);
	feed(&e, 0, orig, 0, 300, 0);
	feed(&e, 0, orig, 200, 300, 0);     /* 100 old + 200 new */
	tap_ok(e.k.pos == 500 && e.k.last_ptr == orig + 300 && e.cnt.retransmits == 1,
	       "partial overlap in order: old prefix trimmed, new part delivered zero-copy");
	feed(&e, 0, orig, 100, 50, 0);      /* entirely old */
	feed(&e, 0, orig, 0, 1000, 0);      /* 500 old + 500 new */
	tap_ok(sink_equals(&e.k, orig, N) && e.cnt.retransmits == 3,
	       "entirely old dropped, big retransmission trimmed: exact stream");
	env_free(&e);

	/* held segments overlapping each other */
	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 0);
	feed(&e, 0, orig, 100, 100, 0);     /* [100,200) */
	feed(&e, 0, orig, 150, 100, 0);     /* [150,250) -> stores [200,250) */
	feed(&e, 0, orig, 50, 100, 0);      /* [50,150)  -> stores [50,100) */
	tap_ok(tcp_stream_held_bytes(&e.s) == 200 && e.total == 200 && tcp_stream_held_segments(&e.s) == 3 && e.cnt.retransmits == 2,
	       "overlapping held segments: no byte stored twice (200 held)");
	feed(&e, 0, orig, 0, 60, 0);        /* [0,60) overlaps held [50,100) */
	tap_ok(e.k.pos == 250 && memcmp(e.k.buf, orig, 250) == 0 && e.total == 0,
	       "overlapping held segments: in-order run delivered exactly");
	feed(&e, 0, orig, 250, 750, 0);
	tap_ok(sink_equals(&e.k, orig, N), "overlapping held segments: exact stream");
	env_free(&e);

	/* segment spanning several held ones: merged into one node, held bytes kept */
	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 0);
	uint8_t *alt = malloc(N);
	for (size_t i = 0; i < N; i++) alt[i] = orig[i] ^ 0x5a;  /* different content */
	feed(&e, 0, orig, 200, 100, 0);
	feed(&e, 0, orig, 400, 100, 0);
	feed(&e, 0, orig, 600, 100, 0);
	tcp_stream_segment(&e.s, 1 + 150, F_ACK, alt + 150, 500, &e.lim, &e.cnt, deliver, &e.k); /* [150,650) */
	tap_ok(tcp_stream_held_segments(&e.s) == 2 && tcp_stream_held_bytes(&e.s) == 550 && e.total == 550,
	       "spanning segment: covered held segments merged ([150,600) + [600,700))");
	feed(&e, 0, orig, 0, 150, 0);
	feed(&e, 0, orig, 650, 350, 0);
	bool first_wins = memcmp(e.k.buf + 200, orig + 200, 100) == 0 &&
	                  memcmp(e.k.buf + 400, orig + 400, 100) == 0 &&
	                  memcmp(e.k.buf + 300, alt + 300, 100) == 0 &&
	                  memcmp(e.k.buf + 150, alt + 150, 50) == 0 &&
	                  memcmp(e.k.buf + 600, orig + 600, 100) == 0;
	tap_ok(e.k.pos == N && first_wins && e.total == 0 && tcp_stream_held_segments(&e.s) == 0,
	       "spanning segment: bytes already held win, holes filled from the new segment");
	free(alt);
	env_free(&e);

	/* a retransmission spanning the in-order point and held data */
	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 0);
	feed(&e, 0, orig, 0, 100, 0);
	feed(&e, 0, orig, 300, 100, 0);
	feed(&e, 0, orig, 500, 100, 0);
	feed(&e, 0, orig, 50, 900, 0);      /* old prefix, fills holes, covers held */
	feed(&e, 0, orig, 900, 100, 0);
	tap_ok(sink_equals(&e.k, orig, N) && tcp_stream_held_segments(&e.s) == 0 && e.total == 0,
	       "in-order segment spanning held ones: exact stream, held freed");
	env_free(&e);
	free(orig);
}

static void test_wraparound(void)
{
	const size_t N = 3000;
	uint8_t *orig = make_stream(N, 6);
	env_t e; env_init(&e, N, 65536, 64, BIG);
	syn(&e, 0xFFFFFF00u);
	for (size_t off = 0; off < N; off += 100) feed(&e, 0xFFFFFF00u, orig, off, 100, 0);
	tap_ok(sink_equals(&e.k, orig, N) && e.s.next_seq == (uint32_t)(0xFFFFFF00u + 1 + N),
	       "wraparound in order: exact stream, next_seq wrapped");
	env_free(&e);

	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 0xFFFFFF00u);
	for (size_t i = 30; i-- > 0;) feed(&e, 0xFFFFFF00u, orig, i * 100, 100, 0);
	tap_ok(sink_equals(&e.k, orig, N) && e.total == 0, "wraparound reversed: exact stream");
	env_free(&e);

	/* segment straddling 2^32 held, then filled */
	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 0xFFFFFF00u);          /* data starts at 0xFFFFFF01; byte 255 is at seq 0 */
	feed(&e, 0xFFFFFF00u, orig, 200, 100, 0);   /* [0xFFFFFFC9, 0x2D) */
	feed(&e, 0xFFFFFF00u, orig, 250, 200, 0);   /* overlaps across zero */
	feed(&e, 0xFFFFFF00u, orig, 0, 200, 0);
	tap_ok(e.k.pos == 450 && memcmp(e.k.buf, orig, 450) == 0 && e.total == 0,
	       "wraparound: held overlap across seq 0 trimmed and delivered exactly");
	env_free(&e);
	free(orig);
}

static void test_midstream(void)
{
	const size_t N = 1000;
	uint8_t *orig = make_stream(N, 7);
	env_t e; env_init(&e, N, 65536, 64, BIG);
	/* pure ACK does not start the stream */
	tcp_stream_segment(&e.s, 123456, F_ACK, NULL, 0, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(!e.s.started && e.k.calls == 0, "mid-stream: pure ACK does not start the stream");
	uint32_t base = 0x7FFFFFF0u;
	tcp_stream_segment(&e.s, base, F_ACK, orig, 400, &e.lim, &e.cnt, deliver, &e.k);
	tcp_stream_segment(&e.s, base + 700, F_ACK, orig + 700, 300, &e.lim, &e.cnt, deliver, &e.k);
	tcp_stream_segment(&e.s, base + 400, F_ACK, orig + 400, 300, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.s.started && !e.s.syn_seen && sink_equals(&e.k, orig, N),
	       "mid-stream: first data segment starts the stream at its seq");
	tcp_stream_segment(&e.s, base - 100, F_ACK, orig, 100, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.k.pos == N && e.cnt.retransmits == 1,
	       "mid-stream: bytes before the start are treated as old");
	env_free(&e);
	free(orig);
}



static void test_fin_rst(void)
{
	const size_t N = 1000;
	uint8_t *orig = make_stream(N, 11);
	env_t e;

	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 50);
	feed(&e, 50, orig, 500, 500, F_FIN);   /* FIN with data, out of order */
	tap_ok(e.s.fin_seen && e.s.fin_seq == 50 + 1 + N && !tcp_stream_finished(&e.s),
	       "FIN out of order: fin_seq = seq+len, not finished yet");
	feed(&e, 50, orig, 0, 500, 0);
	tap_ok(sink_equals(&e.k, orig, N) && tcp_stream_finished(&e.s),
	       "FIN: finished once every byte before it is delivered");
	feed(&e, 50, orig, N - 1, 1, F_FIN);   /* retransmitted FIN with last byte */
	tcp_stream_segment(&e.s, 50 + 1 + N, F_ACK, orig, 10, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.k.pos == N && tcp_stream_finished(&e.s) && e.cnt.dropped == 1,
	       "FIN: retransmission harmless, data beyond FIN dropped");
	env_free(&e);

	/* bare FIN (no data), then finishes */
	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 50);
	feed(&e, 50, orig, 0, 100, 0);
	feed(&e, 50, orig, 100, 0, F_FIN);
	tap_ok(tcp_stream_finished(&e.s) && e.s.fin_seq == 50 + 1 + 100 && e.k.pos == 100,
	       "bare FIN at next_seq: finished");
	env_free(&e);

	/* held data beyond a later FIN is trimmed and uncharged */
	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 50);
	feed(&e, 50, orig, 300, 100, 0);
	feed(&e, 50, orig, 500, 100, 0);
	feed(&e, 50, orig, 200, 150, F_FIN);    /* FIN at stream offset 350 */
	tap_ok(tcp_stream_held_segments(&e.s) == 1 && e.total == tcp_stream_held_bytes(&e.s) && e.cnt.dropped >= 1,
	       "FIN: held segment wholly beyond FIN freed");
	feed(&e, 50, orig, 0, 200, 0);
	tap_ok(e.k.pos == 350 && memcmp(e.k.buf, orig, 350) == 0 && tcp_stream_finished(&e.s) &&
	       e.total == 0 && tcp_stream_held_segments(&e.s) == 0,
	       "FIN: straddling held segment cut at fin_seq, stream finished at 350 bytes");
	env_free(&e);

	/* RST: finished at once, later data ignored, held data kept for flush/free */
	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 50);
	feed(&e, 50, orig, 0, 100, 0);
	feed(&e, 50, orig, 200, 100, 0);
	tcp_stream_segment(&e.s, 50 + 1 + 100, F_RST, orig, 5, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(tcp_stream_finished(&e.s) && e.s.rst_seen && e.k.pos == 100, "RST: finished immediately");
	feed(&e, 50, orig, 100, 100, 0);
	tap_ok(e.k.pos == 100 && e.cnt.dropped == 2, "RST: payload and later data ignored (dropped)");
	tcp_stream_free(&e.s, &e.lim);
	tap_ok(e.total == 0 && tcp_stream_held_segments(&e.s) == 0, "RST: free releases held data");
	env_free(&e);

	/* SYN+FIN with data */
	env_init(&e, N, 65536, 64, BIG);
	tcp_stream_segment(&e.s, 7, F_SYN | F_FIN, orig, 20, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(sink_equals(&e.k, orig, 20) && e.s.fin_seq == 7 + 1 + 20 && tcp_stream_finished(&e.s),
	       "SYN+FIN with payload: delivered, finished");
	env_free(&e);

	/* FIN behind next_seq is garbage: ignored */
	env_init(&e, N, 65536, 64, BIG);
	syn(&e, 50);
	feed(&e, 50, orig, 0, 300, 0);
	feed(&e, 50, orig, 0, 100, F_FIN);
	tap_ok(!e.s.fin_seen && !tcp_stream_finished(&e.s), "FIN behind next_seq ignored");
	env_free(&e);
	free(orig);
}








int main(void)
{
	test_seq_helpers();
	test_in_order();
	test_syn();
	test_reverse();
	test_permutations();
	test_duplicates();
	test_overlaps();
	test_wraparound();
	test_midstream();
	test_fin_rst();
	return tap_done();
}
