/*
 * reasm_test.c — unit tests for tcp_stream.c (per-direction TCP reassembly).
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
#include "tcp_stream.h"

#define F_FIN TCP_STREAM_FIN
#define F_SYN TCP_STREAM_SYN
#define F_RST TCP_STREAM_RST
#define F_ACK 0x10
#define F_PSH 0x08

/* ---- deterministic PRNG (xorshift64*) ---- */
static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static uint32_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
	rng_state = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}
static uint32_t rng_below(uint32_t n) { return n ? rng() % n : 0; }

/* ---- recording sink ---- */
#define MAX_GAPS 64
typedef struct sink {
	uint8_t *buf;          /* reconstructed stream: data at its position, gaps left zero */
	bool *is_gap;          /* per position: delivered as a gap */
	size_t cap, pos;       /* pos: stream bytes reported so far (data + gaps) */
	size_t data_bytes;
	size_t calls, ngaps;
	size_t gap_off[MAX_GAPS], gap_len[MAX_GAPS];
	const uint8_t *last_ptr;
	bool bad;              /* len == 0 call or overflow */
} sink_t;

static void sink_init(sink_t *k, size_t cap)
{
	memset(k, 0, sizeof(*k));
	k->cap = cap;
	k->buf = calloc(cap ? cap : 1, 1);
	k->is_gap = calloc(cap ? cap : 1, sizeof(bool));
}
static void sink_free(sink_t *k) { free(k->buf); free(k->is_gap); }

static void deliver(void *ctx, const uint8_t *data, size_t len)
{
	sink_t *k = ctx;
	k->calls++;
	if (len == 0 || len > k->cap - k->pos) {
		k->bad = true;
		return;
	}
	if (data) {
		memcpy(k->buf + k->pos, data, len);
		k->data_bytes += len;
		k->last_ptr = data;
	} else {
		for (size_t i = 0; i < len; i++) k->is_gap[k->pos + i] = true;
		if (k->ngaps < MAX_GAPS) {
			k->gap_off[k->ngaps] = k->pos;
			k->gap_len[k->ngaps] = len;
		}
		k->ngaps++;
	}
	k->pos += len;
}

/* The sink saw exactly `orig[0..n)` with no gaps. */
static bool sink_equals(const sink_t *k, const uint8_t *orig, size_t n)
{
	return !k->bad && k->ngaps == 0 && k->pos == n && memcmp(k->buf, orig, n) == 0;
}
/* Every data byte the sink saw is the original byte at that position. */
static bool sink_data_consistent(const sink_t *k, const uint8_t *orig, size_t n)
{
	if (k->bad || k->pos > n) return false;
	for (size_t i = 0; i < k->pos; i++)
		if (!k->is_gap[i] && k->buf[i] != orig[i]) return false;
	return true;
}

static uint8_t *make_stream(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	rng_seed(seed);
	for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng();
	return p;
}

/* Segment list: stream offsets and lengths. */
typedef struct seg { size_t off, len; } seg_t;

static size_t split(seg_t *segs, size_t max, size_t n, size_t minlen, size_t maxlen)
{
	size_t k = 0, off = 0;
	while (off < n && k < max) {
		size_t l = minlen + rng_below((uint32_t)(maxlen - minlen + 1));
		if (l > n - off) l = n - off;
		segs[k].off = off; segs[k].len = l;
		off += l; k++;
	}
	return k;
}
static void shuffle(seg_t *segs, size_t k)
{
	for (size_t i = k; i > 1; i--) {
		size_t j = rng_below((uint32_t)i);
		seg_t t = segs[i - 1]; segs[i - 1] = segs[j]; segs[j] = t;
	}
}

/* Shared environment for one case. */
typedef struct env {
	tcp_stream_t s;
	tcp_limits_t lim;
	tcp_counters_t cnt;
	uint64_t total;
	sink_t k;
} env_t;

static void env_init(env_t *e, size_t cap, uint32_t max_bytes, uint32_t max_segs, uint64_t max_total)
{
	memset(e, 0, sizeof(*e));
	tcp_stream_init(&e->s);
	e->lim.max_ooo_bytes = max_bytes;
	e->lim.max_ooo_segments = max_segs;
	e->lim.max_total = max_total;
	e->lim.total = &e->total;
	sink_init(&e->k, cap);
}
static void env_free(env_t *e)
{
	tcp_stream_free(&e->s, &e->lim);
	sink_free(&e->k);
}
/* Feed stream bytes [off, off+len) of `orig`; the first data byte is isn+1. */
static int feed(env_t *e, uint32_t isn, const uint8_t *orig, size_t off, size_t len, uint8_t flags)
{
	return tcp_stream_segment(&e->s, isn + 1 + (uint32_t)off, flags | F_ACK, orig + off, len,
	                          &e->lim, &e->cnt, deliver, &e->k);
}
static int syn(env_t *e, uint32_t isn)
{
	return tcp_stream_segment(&e->s, isn, F_SYN, NULL, 0, &e->lim, &e->cnt, deliver, &e->k);
}

#define BIG (1u << 30)

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
	       e.cnt.dropped == 0 && e.s.ooo_count == 0 && e.total == 0,
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
	tap_ok(sink_equals(&e.k, orig, 300) && e.s.ooo_count == 0 && e.total == 0,
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
		if (e.k.pos != 0 || e.s.ooo_count != 64 - i || e.total != (64 - i) * 100) held_ok = false;
	}
	tap_ok(held_ok, "reverse: 63 segments held, nothing delivered, total tracks held bytes");
	feed(&e, 42, orig, 0, 100, 0);
	tap_ok(sink_equals(&e.k, orig, N), "reverse: exact stream once the first segment arrives");
	tap_ok(e.cnt.out_of_order == 63 && e.s.ooo_count == 0 && e.s.ooo_bytes == 0 && e.total == 0,
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
		if (e.total != e.s.ooo_bytes) ok = false;
	}
	ok = ok && sink_equals(&e.k, orig, N) && e.s.ooo_count == 0 && e.total == 0 && e.cnt.gaps == 0;
	if (!ok)
		tap_diag("seed %llu: pos=%zu/%zu gaps=%llu held=%u", (unsigned long long)seed,
		         e.k.pos, N, (unsigned long long)e.cnt.gaps, e.s.ooo_count);
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
	tap_ok(e.s.ooo_count == 2 && e.s.ooo_bytes == 1000 && e.total == 1000 && e.cnt.retransmits == 2,
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
	tap_ok(e.s.ooo_bytes == 200 && e.total == 200 && e.s.ooo_count == 3 && e.cnt.retransmits == 2,
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
	tap_ok(e.s.ooo_count == 2 && e.s.ooo_bytes == 550 && e.total == 550,
	       "spanning segment: covered held segments merged ([150,600) + [600,700))");
	feed(&e, 0, orig, 0, 150, 0);
	feed(&e, 0, orig, 650, 350, 0);
	bool first_wins = memcmp(e.k.buf + 200, orig + 200, 100) == 0 &&
	                  memcmp(e.k.buf + 400, orig + 400, 100) == 0 &&
	                  memcmp(e.k.buf + 300, alt + 300, 100) == 0 &&
	                  memcmp(e.k.buf + 150, alt + 150, 50) == 0 &&
	                  memcmp(e.k.buf + 600, orig + 600, 100) == 0;
	tap_ok(e.k.pos == N && first_wins && e.total == 0 && e.s.ooo_count == 0,
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
	tap_ok(sink_equals(&e.k, orig, N) && e.s.ooo_count == 0 && e.total == 0,
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
	tap_ok(held_ok && e.s.ooo_count == 4, "gap (segments): 4 segments held after a loss");
	feed(&e, 1, orig, 500, 100, 0);
	tap_ok(e.cnt.gaps == 1 && e.k.ngaps == 1 && e.k.gap_off[0] == 0 && e.k.gap_len[0] == 100 &&
	       e.k.pos == 600 && memcmp(e.k.buf + 100, orig + 100, 500) == 0 && e.s.ooo_count == 0 &&
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
	tap_ok(e.k.ngaps == 1 && e.k.gap_len[0] == 100 && e.k.pos == 200 && e.s.ooo_count == 2 &&
	       e.s.ooo_bytes == 200 && e.total == 200 && e.s.next_seq == 1 + 1 + 200,
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
	tap_ok(total == 800 && sa.ooo_bytes == 800 && ka.pos == 0, "global: stream A holds 800 of 1000");
	tcp_stream_segment(&sb, 1 + 100, F_ACK, b + 100, 100, &lim, &cb, deliver, &kb);
	tcp_stream_segment(&sb, 1 + 300, F_ACK, b + 300, 100, &lim, &cb, deliver, &kb);
	if (total > lim.max_total) bounded = false;
	tap_ok(total == 1000 && sb.ooo_bytes == 200 && cb.gaps == 0, "global: stream B holds 200, total 1000");
	tcp_stream_segment(&sb, 1 + 500, F_ACK, b + 500, 100, &lim, &cb, deliver, &kb);
	if (total > lim.max_total) bounded = false;
	tap_ok(bounded && cb.gaps == 1 && kb.ngaps == 1 && kb.gap_off[0] == 0 && kb.gap_len[0] == 100 &&
	       kb.pos == 200 && sb.ooo_bytes == 200 && total == 1000 && ca.gaps == 0 && sa.ooo_bytes == 800,
	       "global: B gaps when the shared total is full, A untouched, total never above max");
	tcp_stream_segment(&sa, 1, F_ACK, a, 100, &lim, &ca, deliver, &ka);
	tap_ok(ka.pos == 900 && memcmp(ka.buf, a, 900) == 0 && total == 200,
	       "global: A drains, shared total drops to B's 200");
	tcp_stream_free(&sa, &lim);
	tcp_stream_free(&sb, &lim);
	tap_ok(total == 0 && sb.ooo == NULL && sb.ooo_count == 0, "global: free returns shared total to 0");
	sink_free(&ka); sink_free(&kb);
	free(a); free(b);
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
	tap_ok(e.s.ooo_count == 1 && e.total == e.s.ooo_bytes && e.cnt.dropped >= 1,
	       "FIN: held segment wholly beyond FIN freed");
	feed(&e, 50, orig, 0, 200, 0);
	tap_ok(e.k.pos == 350 && memcmp(e.k.buf, orig, 350) == 0 && tcp_stream_finished(&e.s) &&
	       e.total == 0 && e.s.ooo_count == 0,
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
	tap_ok(e.total == 0 && e.s.ooo_count == 0, "RST: free releases held data");
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
	tap_ok(e.k.pos == 100 && e.k.calls == 1 && e.s.ooo_count == 0 && e.cnt.out_of_order == 0 &&
	       e.cnt.retransmits == 0 && !e.k.bad,
	       "zero-length segments: no delivery, nothing held, no counters");
	feed(&e, 1, orig, 100, 200, 0);
	tap_ok(sink_equals(&e.k, orig, N), "zero-length segments: stream continues exactly");
	tcp_stream_segment(&e.s, 1000, F_ACK, NULL, 0, &e.lim, &e.cnt, NULL, NULL);
	tcp_stream_segment(&e.s, 1000, F_ACK, NULL, 10, &e.lim, NULL, deliver, &e.k); /* NULL payload */
	tap_ok(e.k.pos == N && e.s.ooo_count == 0, "NULL payload with len, NULL sink/counters: safe, ignored");
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
	tap_ok(e.s.ooo_count == 0 && e.s.ooo_bytes == 0 && e.total == 0 && e.s.ooo == NULL,
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
	tap_ok(e.s.fin_seen && !tcp_stream_finished(&e.s) && e.s.ooo_count == 0,
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
	tap_ok(before == 2500 && e.total == 0 && e.s.ooo == NULL && e.s.ooo_bytes == 0 &&
	       e.s.ooo_count == 0, "free: held 2500 bytes, *total back to 0");
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
	tap_ok(e.s.ooo_count == 0 && e.total == 0 && e.cnt.dropped == 1 && e.k.pos == 100,
	       "garbage: seq more than 1 GiB ahead never held, counted dropped");
	tcp_stream_segment(&e.s, next - 0x70000000u, F_ACK, orig, 100, &e.lim, &e.cnt, deliver, &e.k);
	tcp_stream_segment(&e.s, next - 1000, F_ACK, orig, 100, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.s.ooo_count == 0 && e.total == 0 && e.cnt.retransmits == 3 && e.k.pos == 100,
	       "garbage: seq behind (incl. exactly 2^31 away) never held, counted as retransmit");
	tcp_stream_segment(&e.s, next + TCP_STREAM_WINDOW + 5, F_FIN, NULL, 0, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(!e.s.fin_seen, "garbage: FIN far ahead ignored");
	tcp_stream_segment(&e.s, next + TCP_STREAM_WINDOW, F_ACK, orig, 10, &e.lim, &e.cnt, deliver, &e.k);
	tap_ok(e.s.ooo_count == 1 && e.total == 10, "window edge: exactly 1 GiB ahead is still held");
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
			if (e.s.ooo_bytes > e.lim.max_ooo_bytes || e.s.ooo_count > e.lim.max_ooo_segments ||
			    e.total != e.s.ooo_bytes) ok = false;
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
			if (total > lim.max_total || st->ooo_bytes > lim.max_ooo_bytes ||
			    st->ooo_count > lim.max_ooo_segments ||
			    total != (uint64_t)s[0].ooo_bytes + s[1].ooo_bytes) ok = false;
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
	tap_ok(e.s.ooo_count == TCP_STREAM_DEFAULT_MAX_OOO_SEGMENTS && e.cnt.gaps == 0 && e.k.pos == 0,
	       "lim NULL: default bound holds 256 segments");
	tcp_stream_segment(&e.s, 1, F_ACK, orig, SEG, NULL, &e.cnt, deliver, &e.k);
	tap_ok(sink_equals(&e.k, orig, N) && e.s.ooo_count == 0, "lim NULL: 257 segments delivered exactly");
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
	test_gap_bound();
	test_global_bound();
	test_fin_rst();
	test_zero_len();
	test_flush();
	test_free();
	test_garbage();
	test_loss_property();
	test_hostile();
	test_many_held();
	return tap_done();
}
