/*
 * reasm_util.c — shared helpers of the TCP reassembly tests (see reasm_util.h).
 */
#include <string.h>
#include <stdlib.h>
#include "reasm_util.h"


/* ---- deterministic PRNG (xorshift64*) ---- */
static uint64_t rng_state;
void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
uint32_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
	rng_state = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}
uint32_t rng_below(uint32_t n) { return n ? rng() % n : 0; }

/* ---- recording sink ---- */

void sink_init(sink_t *k, size_t cap)
{
	memset(k, 0, sizeof(*k));
	k->cap = cap;
	k->buf = calloc(cap ? cap : 1, 1);
	k->is_gap = calloc(cap ? cap : 1, sizeof(bool));
}
void sink_free(sink_t *k) { free(k->buf); free(k->is_gap); }

void deliver(void *ctx, const uint8_t *data, size_t len)
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
bool sink_equals(const sink_t *k, const uint8_t *orig, size_t n)
{
	return !k->bad && k->ngaps == 0 && k->pos == n && memcmp(k->buf, orig, n) == 0;
}
/* Every data byte the sink saw is the original byte at that position. */
bool sink_data_consistent(const sink_t *k, const uint8_t *orig, size_t n)
{
	if (k->bad || k->pos > n) return false;
	for (size_t i = 0; i < k->pos; i++)
		if (!k->is_gap[i] && k->buf[i] != orig[i]) return false;
	return true;
}

uint8_t *make_stream(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	rng_seed(seed);
	for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng();
	return p;
}

/* Segment list: stream offsets and lengths. */

size_t split(seg_t *segs, size_t max, size_t n, size_t minlen, size_t maxlen)
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
void shuffle(seg_t *segs, size_t k)
{
	for (size_t i = k; i > 1; i--) {
		size_t j = rng_below((uint32_t)i);
		seg_t t = segs[i - 1]; segs[i - 1] = segs[j]; segs[j] = t;
	}
}

/* Shared environment for one case. */

void env_init(env_t *e, size_t cap, uint32_t max_bytes, uint32_t max_segs, uint64_t max_total)
{
	memset(e, 0, sizeof(*e));
	tcp_stream_init(&e->s);
	e->lim.max_ooo_bytes = max_bytes;
	e->lim.max_ooo_segments = max_segs;
	e->lim.max_total = max_total;
	e->lim.total = &e->total;
	sink_init(&e->k, cap);
}
void env_free(env_t *e)
{
	tcp_stream_free(&e->s, &e->lim);
	sink_free(&e->k);
}
/* Feed stream bytes [off, off+len) of `orig`; the first data byte is isn+1. */
int feed(env_t *e, uint32_t isn, const uint8_t *orig, size_t off, size_t len, uint8_t flags)
{
	return tcp_stream_segment(&e->s, isn + 1 + (uint32_t)off, flags | F_ACK, orig + off, len,
	                          &e->lim, &e->cnt, deliver, &e->k);
}
int syn(env_t *e, uint32_t isn)
{
	return tcp_stream_segment(&e->s, isn, F_SYN, NULL, 0, &e->lim, &e->cnt, deliver, &e->k);
}

