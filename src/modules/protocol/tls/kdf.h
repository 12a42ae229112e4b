/*
 * kdf.h — key derivation for TLS: the TLS 1.0/1.1 PRF (MD5 ⊕ SHA-1), the TLS 1.2 PRF
 * (P_SHA256 / P_SHA384), running handshake transcript hashes (for extended master
 * secret, RFC 7627, and the TLS 1.3 key schedule), and HKDF / HKDF-Expand-Label
 * (RFC 5869, RFC 8446 §7.1). All through libgcrypt. Outputs are secrets: callers wipe them.
 */
#ifndef PTLS_KDF_H
#define PTLS_KDF_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

typedef enum tls_hash {
	TLS_HASH_NONE = 0,
	TLS_HASH_MD5_SHA1,   /* TLS 1.0/1.1 PRF and their transcript hash (MD5||SHA-1, 36 bytes) */
	TLS_HASH_SHA1,       /* only for HMAC-SHA1 record MACs */
	TLS_HASH_SHA256,
	TLS_HASH_SHA384,
	TLS_HASH_MD5         /* only for HMAC-MD5 / SSL 3.0 MD5 record MACs (RC4_128_MD5, NULL_MD5) */
} tls_hash_t;

#define TLS_MAX_HASH_LEN 48

/* Digest length of h in bytes (MD5_SHA1 = 36), 0 for NONE. */
size_t tls_hash_len(tls_hash_t h);

/* PRF(secret, label, seed1 || seed2) → out[outlen]. h = TLS_HASH_MD5_SHA1 selects the
 * TLS 1.0/1.1 construction (RFC 2246 §5), SHA256/SHA384 the TLS 1.2 one (RFC 5246 §5).
 * seed2 may be NULL. Returns 0 or -1. */
int tls_prf(tls_hash_t h, const uint8_t *secret, size_t slen, const char *label,
            const uint8_t *seed1, size_t s1len, const uint8_t *seed2, size_t s2len,
            uint8_t *out, size_t outlen);

/* SSL 3.0 key derivation (RFC 6101 §6.1, §6.2.2): out = MD5(secret || SHA1("A" || secret ||
 * seed1 || seed2)) || MD5(secret || SHA1("BB" || ...)) || ... truncated to outlen
 * (at most 26 * 16 = 416 bytes). Master secret: secret = pre-master, seeds = client random,
 * server random; key block: secret = master, seeds = server random, client random.
 * Returns 0 or -1. */
int ssl3_prf(const uint8_t *secret, size_t slen, const uint8_t *seed1, size_t s1len,
             const uint8_t *seed2, size_t s2len, uint8_t *out, size_t outlen);

/* Running hash over handshake messages. The negotiated hash is not known when the
 * ClientHello is hashed, and running four hashes costs ~2 KB per connection (most of a
 * half-open flow's memory), so the messages are kept as bytes until the ServerHello
 * selects the hash (tls_transcript_select), and only that one runs from then on. */
typedef struct tls_transcript {
	void *md;            /* gcry_md_hd_t of the selected hash (two for MD5_SHA1); NULL before */
	uint8_t *raw;        /* messages so far, until a hash is selected */
	uint32_t raw_len, raw_cap;
	uint8_t sel;         /* selected tls_hash_t + 1; 0: none yet */
	bool on;             /* initialized and not failed */
} tls_transcript_t;
#define TLS_TRANSCRIPT_MAX_RAW (32u * 1024u)    /* hello bytes kept before a hash is selected */
/* Start an empty transcript (no allocation yet). Returns 0 or -1. */
int tls_transcript_init(tls_transcript_t *t);
/* Append handshake message bytes. Beyond TLS_TRANSCRIPT_MAX_RAW unselected bytes, or on
 * allocation failure, the transcript turns off (digests then fail). */
void tls_transcript_update(tls_transcript_t *t, const uint8_t *data, size_t len);
/* Current digest for h without finalizing the running state (MD5_SHA1 gives MD5||SHA1).
 * Before selection any hash works; after it, only the selected one. *outlen receives the
 * length. Returns 0 or -1. */
int tls_transcript_digest(const tls_transcript_t *t, tls_hash_t h, uint8_t *out, size_t *outlen);
/* Keep only hash h from now on: the kept bytes are hashed and freed. Returns 0 or -1. */
int tls_transcript_select(tls_transcript_t *t, tls_hash_t h);
/* True while the transcript can produce digests. */
static inline bool tls_transcript_active(const tls_transcript_t *t) { return t && t->on; }
/* Duplicate state (e.g. to remember the hash at a point). Returns 0 or -1. */
int tls_transcript_copy(tls_transcript_t *dst, const tls_transcript_t *src);
/* Free (kept bytes are wiped). Safe on an unused or freed transcript. */
void tls_transcript_free(tls_transcript_t *t);

/* HMAC(h) one-shot. Returns 0 or -1. out gets tls_hash_len(h) bytes. */
int tls_hmac(tls_hash_t h, const uint8_t *key, size_t klen, const uint8_t *data, size_t dlen, uint8_t *out);
/* Plain hash one-shot. Returns 0 or -1. */
int tls_hash(tls_hash_t h, const uint8_t *data, size_t len, uint8_t *out);

/* HKDF-Extract(salt, ikm) → out[tls_hash_len(h)]. salt may be NULL/0 (hash-length zeros). */
int tls_hkdf_extract(tls_hash_t h, const uint8_t *salt, size_t saltlen,
                     const uint8_t *ikm, size_t ikmlen, uint8_t *out);
/* HKDF-Expand(prk, info) → out[outlen]. */
int tls_hkdf_expand(tls_hash_t h, const uint8_t *prk, size_t prklen,
                    const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen);
/* HKDF-Expand-Label(secret, "tls13 " + label, context) → out[outlen] (RFC 8446 §7.1). */
int tls13_hkdf_expand_label(tls_hash_t h, const uint8_t *secret, size_t slen, const char *label,
                            const uint8_t *context, size_t ctxlen, uint8_t *out, size_t outlen);
/* Derive-Secret(secret, label, transcript_hash) = Expand-Label(secret, label, hash, Hash.length).
 * secret and transcript_hash are Hash.length bytes; transcript_hash NULL means Hash("")
 * (the "derived" steps). out gets Hash.length bytes. */
int tls13_derive_secret(tls_hash_t h, const uint8_t *secret, const char *label,
                        const uint8_t *transcript_hash, uint8_t *out);

/* Wipe memory in a way the compiler cannot elide. */
void tls_wipe(void *p, size_t n);

#endif
