/*
 * reasm_util.h — what the TCP reassembly tests share: a deterministic PRNG, a sink that
 * records the delivered stream (data at its position, gaps marked), segment lists, and
 * an environment (stream + limits + counters + sink) with feed helpers.
 */
#ifndef TESTS_REASM_UTIL_H
#define TESTS_REASM_UTIL_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "tcp_stream.h"

#define F_FIN TCP_STREAM_FIN
#define F_SYN TCP_STREAM_SYN
#define F_RST TCP_STREAM_RST
#define F_ACK 0x10
#define F_PSH 0x08
#define BIG (1u << 30)
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

typedef struct seg { size_t off, len; } seg_t;

typedef struct env {
	tcp_stream_t s;
	tcp_limits_t lim;
	tcp_counters_t cnt;
	uint64_t total;
	sink_t k;
} env_t;

void rng_seed(uint64_t s);
uint32_t rng(void);
uint32_t rng_below(uint32_t n);
void sink_init(sink_t *k, size_t cap);
void sink_free(sink_t *k);
/* tcp_deliver_fn recording into the sink_t ctx */
void deliver(void *ctx, const uint8_t *data, size_t len);
/* The sink saw exactly orig[0..n) with no gaps. */
bool sink_equals(const sink_t *k, const uint8_t *orig, size_t n);
/* Every data byte the sink saw is the original byte at that position. */
bool sink_data_consistent(const sink_t *k, const uint8_t *orig, size_t n);
uint8_t *make_stream(size_t n, uint64_t seed);
size_t split(seg_t *segs, size_t max, size_t n, size_t minlen, size_t maxlen);
void shuffle(seg_t *segs, size_t k);
void env_init(env_t *e, size_t cap, uint32_t max_bytes, uint32_t max_segs, uint64_t max_total);
void env_free(env_t *e);
/* Feed stream bytes [off, off+len) of orig; the first data byte is isn+1. */
int feed(env_t *e, uint32_t isn, const uint8_t *orig, size_t off, size_t len, uint8_t flags);
int syn(env_t *e, uint32_t isn);

#endif
