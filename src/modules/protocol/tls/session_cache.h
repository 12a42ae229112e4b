/*
 * session_cache.h — resumption: TLS <= 1.2 master secrets of proven sessions, found by
 * session id or by session ticket (SHA-256 of the ticket), and TLS 1.3 resumption PSKs
 * (RFC 8446 §4.6.1) found by SHA-256 of the ticket; bounded LRU, wiped on eviction.
 * Internally locked: the engine's shards share one cache.
 */
#ifndef PTLS_SESSION_CACHE_H
#define PTLS_SESSION_CACHE_H

#include <stdint.h>
#include <stddef.h>

typedef struct session_cache session_cache_t;

/* Create a cache of at most `capacity` entries (0 disables caching). */
session_cache_t *session_cache_new(size_t capacity);
void session_cache_free(session_cache_t *c);
/* Store ms[48] (+ the suite and EMS flag it was made with) under an id (session id or ticket). */
void session_cache_put(session_cache_t *c, const uint8_t *id, size_t idlen, const uint8_t ms[48],
                       uint16_t suite, uint16_t version);
/* Look up; 0 and ms on hit, -1 on miss. */
int session_cache_get(session_cache_t *c, const uint8_t *id, size_t idlen, uint8_t ms[48],
                      uint16_t *suite, uint16_t *version);

/* TLS 1.3: store a resumption PSK (psklen <= 48 bytes; hash is the tls_hash_t of its
 * key schedule, suite the suite of the session that issued the ticket) under an id
 * (SHA-256 of the ticket). Replaces whatever the id had. */
void session_cache_put_psk(session_cache_t *c, const uint8_t *id, size_t idlen, const uint8_t *psk,
                           size_t psklen, int hash, uint16_t suite);
/* TLS 1.3 lookup: the PSK's length (psk filled, *hash and *suite set) on hit, 0 on a miss
 * or when the id holds a TLS <= 1.2 master secret. session_cache_get likewise never
 * returns a PSK. */
size_t session_cache_get_psk(session_cache_t *c, const uint8_t *id, size_t idlen, uint8_t psk[48],
                             int *hash, uint16_t *suite);

/* Number of entries stored so far: sessions waiting for another shard's entry retry
 * when it changes. */
uint64_t session_cache_generation(session_cache_t *c);

#endif
