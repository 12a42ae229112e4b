/*
 * keylog.h — NSS key log (SSLKEYLOGFILE) reader that follows a growing file.
 *
 * Endpoints append secrets while traffic flows, so the file is read incrementally: each
 * refresh reads only the bytes appended since the last one (a shrunk or replaced file is
 * re-read from the start). Secrets are kept in a bounded table keyed by (label, client
 * random) and wiped when evicted or freed. Malformed and over-long lines are counted and
 * skipped. Thread-safe (one mutex per key log).
 *
 * A key log can also be fed from memory (tls_keylog_open_mem + tls_keylog_feed_dgram):
 * lines that arrive as UDP datagrams (Kamailio's keylog_peer, any SSL_CTX_set_keylog_callback
 * that forwards them) go into the same bounded table, with the same parser and counters.
 */
#ifndef PTLS_KEYLOG_H
#define PTLS_KEYLOG_H

#include <stdint.h>
#include <stddef.h>

typedef enum tls_keylog_label {
	KL_CLIENT_RANDOM = 0,                 /* TLS <= 1.2 master secret (48 bytes) */
	KL_CLIENT_EARLY_TRAFFIC_SECRET,
	KL_CLIENT_HANDSHAKE_TRAFFIC_SECRET,
	KL_SERVER_HANDSHAKE_TRAFFIC_SECRET,
	KL_CLIENT_TRAFFIC_SECRET_0,
	KL_SERVER_TRAFFIC_SECRET_0,
	KL_RSA,                               /* "RSA <8 bytes of encrypted PMS> <PMS>" : key = first 8 bytes */
	KL_SESSION_ID,                        /* "RSA Session-ID:<id> Master-Key:<ms>": key = session id (1..32) */
	KL_PMS_CLIENT_RANDOM,                 /* "PMS_CLIENT_RANDOM <client random> <PMS>": PMS 1..KL_MAX_PMS bytes */
	KL__COUNT
} tls_keylog_label_t;

/* Longest pre-master secret a PMS_CLIENT_RANDOM line may carry: finite-field DHE up to
 * 3072-bit groups (384 bytes; the hex line then stays under the 1024-byte line bound). */
#define KL_MAX_PMS 384

typedef struct tls_keylog tls_keylog_t;

/* Open a key log to follow. The file may not exist yet (it is polled later). max_entries
 * bounds the secrets kept (0 = default 100000). NULL + err on allocation failure. */
tls_keylog_t *tls_keylog_open(const char *path, size_t max_entries, char *err, size_t errlen);

/* A key log with no file, fed only by tls_keylog_feed_dgram (refresh does nothing).
 * max_entries as above. NULL + err on allocation failure. */
tls_keylog_t *tls_keylog_open_mem(size_t max_entries, char *err, size_t errlen);

/* Counts of one tls_keylog_feed_dgram call. */
typedef struct tls_keylog_feed_counts {
	uint32_t lines;       /* lines parsed into secrets (new or replaced) */
	uint32_t malformed;   /* known label with bad fields, or a line over 1024 bytes */
	uint32_t ignored;     /* other non-blank lines: unknown labels, comments */
} tls_keylog_feed_counts_t;

/* Parse one datagram's worth of key-log text: one NSS line with or without a trailing
 * newline ("\r\n" too), or several lines separated by newlines. Independent of any file
 * position (no partial line is carried to the next call). Thread-safe. Returns the number
 * of new secrets (the generation moves by that much); c (may be NULL) gets the counts. */
size_t tls_keylog_feed_dgram(tls_keylog_t *kl, const uint8_t *data, size_t len,
                             tls_keylog_feed_counts_t *c);

/* Read lines appended since the last refresh (cheap when the file did not change:
 * one stat()). Returns the number of new secrets. */
size_t tls_keylog_refresh(tls_keylog_t *kl);

/* Find the secret for (label, id) — id is the 32-byte client random, for KL_RSA the
 * first 8 bytes of the encrypted pre-master secret (idlen 8), for KL_SESSION_ID the
 * ServerHello's session id (idlen 1..32). If absent, refreshes once and retries. Returns the secret length copied to out (<= outcap), or 0 if unknown. */
size_t tls_keylog_lookup(tls_keylog_t *kl, tls_keylog_label_t label, const uint8_t *id,
                         size_t idlen, uint8_t *out, size_t outcap);

/* Counters: lines parsed into secrets, malformed/over-long lines skipped. */
/* Like tls_keylog_lookup without the refresh on a miss: what the engine uses, so that a
 * miss costs no stat() however many sessions never get their keys (the engine re-reads
 * the file once per period and retries waiting sessions only when secrets were added). */
size_t tls_keylog_find(tls_keylog_t *kl, tls_keylog_label_t label, const uint8_t *id,
                       size_t idlen, uint8_t *out, size_t outcap);

/* Changes whenever a refresh added secrets: a session that missed its keys only needs a
 * new lookup when this moved. */
uint64_t tls_keylog_generation(tls_keylog_t *kl);

void tls_keylog_counters(tls_keylog_t *kl, uint64_t *lines, uint64_t *malformed);

/* Wipe all secrets and free. */
void tls_keylog_free(tls_keylog_t *kl);

#endif
