/*
 * cipher.h — the cipher-suite table (cipher_suites.c) and record protection (decrypt +
 * verify) through libgcrypt (cipher.c): AES/Camellia-GCM, AES-CCM / CCM_8,
 * ChaCha20-Poly1305 (TLS 1.2 RFC 5288/6655/7905 and TLS 1.3 RFC 8446 §5.2-5.3), CBC
 * (AES, Camellia, 3DES, DES, IDEA, SEED) with HMAC-MD5/SHA1/256/384 in MAC-then-encrypt and
 * encrypt-then-MAC (RFC 7366), TLS 1.0 / SSL 3.0 chained IVs, RC4-128, NULL encryption,
 * and the SSL 3.0 MAC (RFC 6101 §5.2.3.1). The MAC or tag is always verified: nothing
 * unauthenticated is ever returned as plaintext.
 */
#ifndef PTLS_CIPHER_H
#define PTLS_CIPHER_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "kdf.h"

typedef enum tls_kx {
	TLS_KX_RSA = 1, TLS_KX_ECDHE_RSA, TLS_KX_ECDHE_ECDSA, TLS_KX_DHE_RSA, TLS_KX_TLS13,
	TLS_KX_DHE_DSS,        /* key log only: the DH share is ephemeral */
	TLS_KX_DH_ANON,        /* key log only */
	TLS_KX_ECDH_ANON,      /* key log only (or a static key whose point the server sends) */
	TLS_KX_ECDH_ECDSA,     /* static ECDH: the certificate's EC key is the key-exchange key */
	TLS_KX_ECDH_RSA,       /* static ECDH, certificate signed with RSA */
	TLS_KX_KEYLOG_ONLY     /* PSK, DHE_PSK, RSA_PSK, ECDHE_PSK, SRP_*: the pre-master holds a
	                        * pre-shared key or SRP password, so only a key log serves */
} tls_kx_t;

typedef enum tls_bulk {
	TLS_BULK_AES_GCM = 1, TLS_BULK_AES_CBC, TLS_BULK_CHACHA20_POLY1305, TLS_BULK_AES_CCM, TLS_BULK_AES_CCM_8,
	TLS_BULK_NULL,            /* no encryption, MAC only */
	TLS_BULK_RC4_128,         /* stream: the keystream continues across records */
	TLS_BULK_3DES_EDE_CBC, TLS_BULK_DES_CBC, TLS_BULK_IDEA_CBC, TLS_BULK_SEED_CBC,
	TLS_BULK_CAMELLIA_CBC, TLS_BULK_CAMELLIA_GCM,
	TLS_BULK_ARIA_CBC, TLS_BULK_ARIA_GCM  /* refused when libgcrypt lacks ARIA (< 1.11) */
} tls_bulk_t;

/* One row of the suite table (cipher_suites.c). */
typedef struct tls_suite {
	uint16_t id;
	const char *name;      /* IANA name */
	tls_kx_t kx;
	tls_bulk_t bulk;
	uint8_t key_len;       /* bulk key bytes: 16/32 AES, Camellia, ARIA; 24 3DES; 8 DES; 16 IDEA, SEED, RC4; 0 NULL */
	uint8_t iv_len;        /* key-block IV bytes: GCM/CCM 4 (TLS1.2), ChaCha 12, CBC the block size
	                        * (16, or 8 for 3DES/DES/IDEA), RC4/NULL 0; TLS 1.3 suites: 12 */
	tls_hash_t mac;        /* CBC/stream/NULL suites: MAC hash (MD5/SHA1/SHA256/SHA384); AEAD: TLS_HASH_NONE */
	uint8_t mac_len;       /* HMAC length = MAC key length; 0 for AEAD */
	uint8_t tag_len;       /* AEAD tag length (16, or 8 for CCM_8); 0 otherwise */
	tls_hash_t prf;        /* TLS 1.2 PRF / TLS 1.3 HKDF hash */
	bool min_tls12;        /* min_version >= TLS 1.2 (AEAD and SHA-256/384 suites) */
	uint16_t min_version;  /* lowest protocol version the suite is decrypted with (0x0300 SSL 3.0) */
	uint16_t max_version;  /* highest (0x0303 for TLS <= 1.2 suites, 0x0304 for TLS 1.3 suites) */
} tls_suite_t;

/* Suite by IANA id, or NULL if the engine cannot decrypt it (unknown, PSK/SRP/export, or
 * a bulk cipher this libgcrypt lacks: ARIA before 1.11). */
const tls_suite_t *tls_suite_lookup(uint16_t id);
/* IANA name for any id in the table (also used for names of suites listed but unsupported). */
const char *tls_suite_name(uint16_t id);
/* Why a named suite cannot be decrypted ("ARIA needs libgcrypt >= 1.11", "PSK key exchange",
 * ...), or NULL when it can be (or is unknown). For logs and reports. */
const char *tls_suite_unsupported_why(uint16_t id);
/* Bulk cipher classes. */
bool tls_bulk_is_cbc(tls_bulk_t b);
bool tls_bulk_is_aead(tls_bulk_t b);
/* RC4: record i can only be decrypted after records 0..i-1 (no resynchronisation after loss). */
static inline bool tls_bulk_is_stream(tls_bulk_t b) { return b == TLS_BULK_RC4_128; }
/* Number of rows in the table and the i-th row (tests, docs); rows of unavailable bulk
 * ciphers are included (tls_suite_lookup refuses them). */
size_t tls_suite_count(void);
const tls_suite_t *tls_suite_at(size_t i);

typedef struct tls_cipher_state {
	const tls_suite_t *suite;
	void *hd;              /* gcry_cipher_hd_t, opened and keyed once at init */
	void *mac_hd;          /* CBC/stream/NULL suites: gcry_md_hd_t (HMAC keyed with the MAC key; plain
	                        * hash for the SSL 3.0 MAC); else NULL */
	uint8_t *km;           /* key material, exactly what the suite needs (heap, wiped when freed).
	                        * TLS <= 1.2: the bulk key (suite->key_len; kept so a parked state
	                        * can reopen its handles), then the MAC key (suite->mac_len, MAC
	                        * suites). TLS 1.3: the traffic secret the state was made from (the
	                        * key is derived from it again on reopening; the next KeyUpdate
	                        * derives from it: tls13_cipher_secret) */
	uint64_t seq;          /* next record sequence number */
	uint16_t version;      /* negotiated version, wire value */
	uint8_t km_len;
	bool etm;              /* encrypt-then-MAC (CBC only) */
	bool tls13;
	bool parked;           /* handles closed by tls_cipher_park; reopened on the next record */
	uint8_t iv[16];        /* GCM/CCM: fixed 4-byte salt; ChaCha/TLS1.3: 12-byte IV;
	                        * TLS 1.0 CBC: the IV for the next record (key-block IV, then the
	                        * last ciphertext block of the previous successful record) */
} tls_cipher_state_t;

/* SSL 3.0–TLS 1.2: set up decryption for one direction from key-block material. iv may be
 * NULL for TLS 1.1+/CBC and for RC4/NULL. key may be NULL for NULL suites. Returns 0 or -1.
 * Everything is copied; the caller wipes its copies. cs is overwritten entirely (call
 * tls_cipher_free first if it held keys). Rejects TLS 1.3 suites and versions outside the
 * suite's [min_version, max_version]. etm is used by CBC suites only (not SSL 3.0). */
int tls_cipher_init(tls_cipher_state_t *cs, const tls_suite_t *s, uint16_t version, bool etm,
                    const uint8_t *key, const uint8_t *iv, const uint8_t *mac_key);
/* TLS 1.3: set up from a traffic secret (derives key and iv with HKDF-Expand-Label; the
 * secret is kept: tls13_cipher_secret). secret must not point into cs's key material. */
int tls13_cipher_init(tls_cipher_state_t *cs, const tls_suite_t *s, const uint8_t *secret, size_t slen);
/* The traffic secret a TLS 1.3 state was made from (hash-length bytes), or NULL. */
static inline const uint8_t *tls13_cipher_secret(const tls_cipher_state_t *cs)
{
	return cs->tls13 ? cs->km : NULL;
}

/* Decrypt and verify one record in place. `ctype` is the outer content type, replaced by
 * the inner type for TLS 1.3 (padding stripped). `rec_version` is the record header's
 * version field. On success *plain and *plen give the plaintext inside frag and seq advances.
 * Returns 0 on success, -1 when authentication failed (MAC/tag mismatch, and for CBC also
 * bad padding bytes or a padding length that does not fit: with a wrong key those are
 * what one sees; frag contents are then undefined, any unauthenticated plaintext is
 * wiped), -2 when the record is malformed for the suite before any key is involved
 * (fragment too short, CBC length not a block multiple) or, for TLS 1.3, the
 * authenticated inner plaintext is all zeros. On failure *plain = NULL, *plen = 0 and the
 * state (seq, TLS 1.0 IV) is unchanged — except for RC4, whose keystream has advanced
 * past the record (a stream cipher cannot rewind: after a failure the direction is lost). */
int tls_cipher_decrypt(tls_cipher_state_t *cs, uint8_t *ctype, uint16_t rec_version,
                       uint8_t *frag, size_t flen, uint8_t **plain, size_t *plen);

/* Close an idle state's libgcrypt handles (a keyed AES-GCM handle is ~2 KB), keeping the
 * compact key material in cs (key, IV / chained IV, MAC key, seq): the next
 * tls_cipher_decrypt reopens and rekeys them, with identical results. Nothing for RC4 (its
 * keystream position cannot be re-derived) nor a state without handles. Returns true if
 * handles were closed. */
bool tls_cipher_park(tls_cipher_state_t *cs);
/* True if cs holds open libgcrypt handles (what tls_cipher_park would close). */
static inline bool tls_cipher_is_open(const tls_cipher_state_t *cs)
{
	return cs->suite && (cs->hd || cs->mac_hd) && !tls_bulk_is_stream(cs->suite->bulk);
}

/* Release the handle and wipe keys. Safe on a zeroed or already freed state. */
void tls_cipher_free(tls_cipher_state_t *cs);

#endif
