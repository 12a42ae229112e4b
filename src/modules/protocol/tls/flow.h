/*
 * flow.h — the flow table: one entry per TCP connection keyed by the full 5-tuple (both
 * directions map to the same flow), O(1) lookup through a keyed hash (attackers cannot
 * aim at one bucket), an LRU list by last activity so idle eviction (flow-timeout) and the
 * max-flows bound each cost O(1) per packet — never a sweep of the whole table.
 */
#ifndef PTLS_FLOW_H
#define PTLS_FLOW_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

typedef struct flow_key {
	uint8_t family;          /* AF_INET / AF_INET6 */
	uint8_t ip[2][16];       /* canonical order: (ip[0],port[0]) < (ip[1],port[1]) */
	uint16_t port[2];
} flow_key_t;

typedef struct flow_node {
	struct flow_node *hnext;             /* hash chain */
	struct flow_node *lru_prev, *lru_next;
	flow_key_t key;
	double last_ts;
} flow_node_t;

typedef struct flow_table {
	flow_node_t **buckets;
	size_t nbuckets, count;
	flow_node_t *lru_head, *lru_tail;    /* head = least recently active */
	uint64_t seed[2];
} flow_table_t;

/* Build the canonical key for a packet; *swapped says whether src is ip[1]. */
void flow_key_make(flow_key_t *k, int family, const uint8_t *src, uint16_t sport,
                   const uint8_t *dst, uint16_t dport, bool *swapped);
int flow_table_init(flow_table_t *t, size_t max_flows);
void flow_table_destroy(flow_table_t *t);
/* Fill buf with len unpredictable bytes (hash seeds), from the kernel's generator. */
void flow_random_seed(void *buf, size_t len);   /* does not free nodes */
/* Keyed hash of a key (attackers who do not know seed cannot aim at one bucket). */
uint64_t flow_key_hash(const uint64_t seed[2], const flow_key_t *k);
flow_node_t *flow_table_find(flow_table_t *t, const flow_key_t *k);
void flow_table_insert(flow_table_t *t, flow_node_t *n);   /* n->key set; becomes most recent */
void flow_table_remove(flow_table_t *t, flow_node_t *n);
/* Mark activity: moves n to the most-recent end. */
void flow_table_touch(flow_table_t *t, flow_node_t *n, double ts);
/* Least recently active node, or NULL. */
static inline flow_node_t *flow_table_oldest(const flow_table_t *t) { return t->lru_head; }

#endif
