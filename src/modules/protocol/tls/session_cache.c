/*
 * session_cache.c — bounded resumption cache (see session_cache.h). A fixed bucket array
 * with chaining plus a FIFO/LRU list; the oldest entry is evicted (and wiped) when full.
 * One entry holds either a TLS <= 1.2 master secret (48 bytes) or a TLS 1.3 PSK (up to
 * 48 bytes, with its hash); a lookup of one kind never returns the other.
 * One mutex guards it: the engine's shards share one cache, so a session resumed on a
 * connection that landed on another shard still finds its master secret.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include "session_cache.h"
#include "kdf.h"

typedef struct sc_entry {
	struct sc_entry *hnext, *prev, *next;
	uint8_t id[32];          /* session id, or SHA-256 of a ticket */
	uint8_t idlen;
	uint8_t ms[48];          /* master secret, or the PSK in its first ms_len bytes */
	uint8_t ms_len;          /* 48 for a master secret */
	bool psk;                /* TLS 1.3 resumption PSK (then hash is its HKDF hash) */
	uint8_t hash;            /* tls_hash_t of a PSK */
	uint16_t suite, version;
} sc_entry_t;

struct session_cache {
	sc_entry_t **buckets;
	size_t nbuckets, count, cap;
	sc_entry_t *head, *tail;   /* head = oldest */
	pthread_mutex_t mu;
	_Atomic uint64_t gen;      /* entries stored so far */
};

session_cache_t *session_cache_new(size_t capacity)
{
	session_cache_t *c = calloc(1, sizeof *c);
	if (!c) return NULL;
	c->cap = capacity;
	c->nbuckets = 64;
	while (c->nbuckets < capacity && c->nbuckets < (1u << 22)) c->nbuckets <<= 1;
	c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
	if (!c->buckets) { free(c); return NULL; }
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static size_t sc_hash(const session_cache_t *c, const uint8_t *id, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++) { h ^= id[i]; h *= 1099511628211ULL; }
	return (size_t)(h & (c->nbuckets - 1));
}

static sc_entry_t *sc_find(session_cache_t *c, const uint8_t *id, size_t len, sc_entry_t ***pp_out)
{
	sc_entry_t **pp = &c->buckets[sc_hash(c, id, len)];
	for (; *pp; pp = &(*pp)->hnext)
		if ((*pp)->idlen == len && memcmp((*pp)->id, id, len) == 0) {
			if (pp_out) *pp_out = pp;
			return *pp;
		}
	return NULL;
}

static void sc_unlink_list(session_cache_t *c, sc_entry_t *e)
{
	if (e->prev) e->prev->next = e->next; else c->head = e->next;
	if (e->next) e->next->prev = e->prev; else c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void sc_remove(session_cache_t *c, sc_entry_t *e)
{
	sc_entry_t **pp;
	if (sc_find(c, e->id, e->idlen, &pp) == e) *pp = e->hnext;
	sc_unlink_list(c, e);
	tls_wipe(e, sizeof *e);
	free(e);
	c->count--;
}

static void sc_put(session_cache_t *c, const uint8_t *id, size_t idlen, const uint8_t *ms, size_t mslen,
                   bool psk, uint8_t hash, uint16_t suite, uint16_t version)
{
	if (!c || !c->cap || idlen == 0 || idlen > 32 || mslen == 0 || mslen > 48) return;
	sc_entry_t *e = sc_find(c, id, idlen, NULL);
	if (e) {
		sc_unlink_list(c, e);
	} else {
		if (c->count >= c->cap && c->head) sc_remove(c, c->head);
		e = calloc(1, sizeof *e);
		if (!e) return;
		memcpy(e->id, id, idlen);
		e->idlen = (uint8_t)idlen;
		size_t b = sc_hash(c, id, idlen);
		e->hnext = c->buckets[b];
		c->buckets[b] = e;
		c->count++;
	}
	tls_wipe(e->ms, sizeof e->ms);
	memcpy(e->ms, ms, mslen);
	e->ms_len = (uint8_t)mslen;
	e->psk = psk;
	e->hash = hash;
	e->suite = suite; e->version = version;
	e->prev = c->tail;
	if (c->tail) c->tail->next = e; else c->head = e;
	c->tail = e;
}

void session_cache_put(session_cache_t *c, const uint8_t *id, size_t idlen, const uint8_t ms[48],
                       uint16_t suite, uint16_t version)
{
	if (!c) return;
	pthread_mutex_lock(&c->mu);
	sc_put(c, id, idlen, ms, 48, false, 0, suite, version);
	pthread_mutex_unlock(&c->mu);
	atomic_fetch_add(&c->gen, 1);
}

void session_cache_put_psk(session_cache_t *c, const uint8_t *id, size_t idlen, const uint8_t *psk,
                           size_t psklen, int hash, uint16_t suite)
{
	if (!c || hash < 0 || hash > 255) return;
	pthread_mutex_lock(&c->mu);
	sc_put(c, id, idlen, psk, psklen, true, (uint8_t)hash, suite, 0x0304);
	pthread_mutex_unlock(&c->mu);
	atomic_fetch_add(&c->gen, 1);
}

size_t session_cache_get_psk(session_cache_t *c, const uint8_t *id, size_t idlen, uint8_t psk[48],
                             int *hash, uint16_t *suite)
{
	if (!c || idlen == 0 || idlen > 32) return 0;
	size_t n = 0;
	pthread_mutex_lock(&c->mu);
	sc_entry_t *e = sc_find(c, id, idlen, NULL);
	if (e && e->psk) {
		memcpy(psk, e->ms, e->ms_len);
		if (hash) *hash = e->hash;
		if (suite) *suite = e->suite;
		n = e->ms_len;
	}
	pthread_mutex_unlock(&c->mu);
	return n;
}

int session_cache_get(session_cache_t *c, const uint8_t *id, size_t idlen, uint8_t ms[48],
                      uint16_t *suite, uint16_t *version)
{
	if (!c || idlen == 0 || idlen > 32) return -1;
	int rc = -1;
	pthread_mutex_lock(&c->mu);
	sc_entry_t *e = sc_find(c, id, idlen, NULL);
	if (e && !e->psk) {
		memcpy(ms, e->ms, 48);
		if (suite) *suite = e->suite;
		if (version) *version = e->version;
		rc = 0;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

uint64_t session_cache_generation(session_cache_t *c)
{
	return c ? atomic_load(&c->gen) : 0;
}

void session_cache_free(session_cache_t *c)
{
	if (!c) return;
	while (c->head) sc_remove(c, c->head);
	free(c->buckets);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
