/*
 * flow.c — the flow table (see flow.h): keyed hash buckets + an LRU list by activity.
 * The hash is keyed with random bits chosen at creation so crafted 5-tuples cannot pile
 * into one chain. Lookups, inserts, removals and "touch" are O(1).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <gcrypt.h>
#include "flow.h"

static int cmp_ep(const uint8_t *ip1, uint16_t p1, const uint8_t *ip2, uint16_t p2, size_t alen)
{
	int r = memcmp(ip1, ip2, alen);
	if (r) return r;
	return (int)p1 - (int)p2;
}

void flow_key_make(flow_key_t *k, int family, const uint8_t *src, uint16_t sport,
                   const uint8_t *dst, uint16_t dport, bool *swapped)
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	memset(k, 0, sizeof *k);
	k->family = (uint8_t)family;
	if (cmp_ep(src, sport, dst, dport, alen) <= 0) {
		memcpy(k->ip[0], src, alen); k->port[0] = sport;
		memcpy(k->ip[1], dst, alen); k->port[1] = dport;
		*swapped = false;
	} else {
		memcpy(k->ip[0], dst, alen); k->port[0] = dport;
		memcpy(k->ip[1], src, alen); k->port[1] = sport;
		*swapped = true;
	}
}

static inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

/* SipHash-inspired keyed mixing over the 38-byte key (the whole key is zero-padded). */
uint64_t flow_key_hash(const uint64_t seed[2], const flow_key_t *k)
{
	uint64_t v0 = seed[0] ^ 0x736f6d6570736575ULL, v1 = seed[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = seed[0] ^ 0x6c7967656e657261ULL, v3 = seed[1] ^ 0x7465646279746573ULL;
	uint64_t words[5];
	memset(words, 0, sizeof words);
	memcpy(words, k->ip, sizeof k->ip);
	words[4] = ((uint64_t)k->family << 32) | ((uint64_t)k->port[0] << 16) | k->port[1];
	for (int i = 0; i < 5; i++) {
		v3 ^= words[i];
		for (int r = 0; r < 2; r++) {
			v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
			v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
			v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
			v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
		}
		v0 ^= words[i];
	}
	v2 ^= 0xff;
	for (int r = 0; r < 4; r++) {
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
	}
	return v0 ^ v1 ^ v2 ^ v3;
}

static inline uint64_t flow_hash(const flow_table_t *t, const flow_key_t *k)
{
	return flow_key_hash(t->seed, k);
}

int flow_table_init(flow_table_t *t, size_t max_flows)
{
	memset(t, 0, sizeof *t);
	size_t n = 64;
	while (n < max_flows && n < ((size_t)1 << 24)) n <<= 1;
	t->buckets = calloc(n, sizeof *t->buckets);
	if (!t->buckets) return -1;
	t->nbuckets = n;
	flow_random_seed(t->seed, sizeof t->seed);
	return 0;
}

void flow_random_seed(void *buf, size_t len)
{
	/* getrandom, not gcry_create_nonce: touching libgcrypt's CSPRNG makes it poll on
	 * every later handle open (see do_global_init) */
	uint8_t *p = buf;
	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n <= 0) { gcry_create_nonce(p, len); return; }
		p += n;
		len -= (size_t)n;
	}
}

void flow_table_destroy(flow_table_t *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = t->count = 0;
}

static bool key_eq(const flow_key_t *a, const flow_key_t *b)
{
	return a->family == b->family && a->port[0] == b->port[0] && a->port[1] == b->port[1] &&
	       memcmp(a->ip, b->ip, sizeof a->ip) == 0;
}

flow_node_t *flow_table_find(flow_table_t *t, const flow_key_t *k)
{
	size_t b = flow_hash(t, k) & (t->nbuckets - 1);
	for (flow_node_t *n = t->buckets[b]; n; n = n->hnext)
		if (key_eq(&n->key, k)) return n;
	return NULL;
}

static void lru_unlink(flow_table_t *t, flow_node_t *n)
{
	if (n->lru_prev) n->lru_prev->lru_next = n->lru_next; else t->lru_head = n->lru_next;
	if (n->lru_next) n->lru_next->lru_prev = n->lru_prev; else t->lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
}

static void lru_append(flow_table_t *t, flow_node_t *n)
{
	n->lru_prev = t->lru_tail;
	n->lru_next = NULL;
	if (t->lru_tail) t->lru_tail->lru_next = n; else t->lru_head = n;
	t->lru_tail = n;
}

void flow_table_insert(flow_table_t *t, flow_node_t *n)
{
	size_t b = flow_hash(t, &n->key) & (t->nbuckets - 1);
	n->hnext = t->buckets[b];
	t->buckets[b] = n;
	lru_append(t, n);
	t->count++;
}

void flow_table_remove(flow_table_t *t, flow_node_t *n)
{
	size_t b = flow_hash(t, &n->key) & (t->nbuckets - 1);
	for (flow_node_t **pp = &t->buckets[b]; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) { *pp = n->hnext; break; }
	}
	lru_unlink(t, n);
	n->hnext = NULL;
	t->count--;
}

void flow_table_touch(flow_table_t *t, flow_node_t *n, double ts)
{
	if (ts > n->last_ts) n->last_ts = ts;
	if (t->lru_tail != n) { lru_unlink(t, n); lru_append(t, n); }
}
