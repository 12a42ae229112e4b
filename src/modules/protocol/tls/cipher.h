/*
 * cipher.h — the cipher-suite table and record protection (decrypt + verify) through
 * libgcrypt: AES-GCM, AES-CCM / CCM_8, ChaCha20-Poly1305 (TLS 1.2 RFC 5288/6655/7905 and
 * TLS 1.3 RFC 8446 §5.2-5.3), AES-CBC with HMAC-SHA1/256/384 in MAC-then-encrypt and
 * encrypt-then-MAC (RFC 7366), TLS 1.0 chained IVs. The MAC or tag is always verified:
 * nothing unauthenticated is ever returned as plaintext.
 */
#ifndef PTLS_CIPHER_H
#define PTLS_CIPHER_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "kdf.h"

typedef enum tls_kx {
	TLS_KX_RSA = 1, TLS_KX_ECDHE_RSA, TLS_KX_ECDHE_ECDSA, TLS_KX_DHE_RSA, TLS_KX_TLS13
} tls_kx_t;

typedef enum tls_bulk {
	TLS_BULK_AES_GCM = 1, TLS_BULK_AES_CBC, TLS_BULK_CHACHA20_POLY1305, TLS_BULK_AES_CCM, TLS_BULK_AES_CCM_8
} tls_bulk_t;

typedef struct tls_suite {
	uint16_t id;
	const char *name;      /* IANA name */
	tls_kx_t kx;
	tls_bulk_t bulk;
	uint8_t key_len;       /* 16 or 32 */
	uint8_t iv_len;        /* key-block IV bytes: GCM/CCM 4 (TLS1.2) , ChaCha 12, CBC 16; TLS 1.3 suites: 12 */
	tls_hash_t mac;        /* CBC suites: HMAC hash (SHA1/SHA256/SHA384); AEAD: TLS_HASH_NONE */
	uint8_t mac_len;       /* HMAC length = MAC key length; 0 for AEAD */
	uint8_t tag_len;       /* AEAD tag length (16, or 8 for CCM_8); 0 for CBC */
	tls_hash_t prf;        /* TLS 1.2 PRF / TLS 1.3 HKDF hash */
	bool min_tls12;        /* AEAD and SHA-256/384 suites need TLS 1.2 */
} tls_suite_t;

/* Suite by IANA id, or NULL if the engine cannot decrypt it. */
const tls_suite_t *tls_suite_lookup(uint16_t id);
/* IANA name for any id in the table (also used for names of suites listed but unsupported). */
const char *tls_suite_name(uint16_t id);

typedef struct tls_cipher_state {
	const tls_suite_t *suite;
	uint16_t version;      /* negotiated version, wire value */
	bool etm;              /* encrypt-then-MAC (CBC only) */
	bool tls13;
	void *hd;              /* gcry_cipher_hd_t, opened and keyed once at init */
	void *mac_hd;          /* CBC suites: gcry_md_hd_t HMAC handle keyed with mac_key; else NULL */
	uint8_t iv[16];        /* GCM/CCM: fixed 4-byte salt; ChaCha/TLS1.3: 12-byte IV;
	                        * TLS 1.0 CBC: the IV for the next record (key-block IV, then the
	                        * last ciphertext block of the previous successful record) */
	uint8_t mac_key[48];
	uint64_t seq;          /* next record sequence number */
} tls_cipher_state_t;

/* TLS 1.0–1.2: set up decryption for one direction from key-block material. iv may be
 * NULL for TLS 1.1+/CBC. Returns 0 or -1. Everything is copied; the caller wipes its copies.
 * cs is overwritten entirely (call tls_cipher_free first if it held keys). Rejects SSL 3.0,
 * TLS 1.3 suites and min_tls12 suites below TLS 1.2. etm is ignored for AEAD suites. */
int tls_cipher_init(tls_cipher_state_t *cs, const tls_suite_t *s, uint16_t version, bool etm,
                    const uint8_t *key, const uint8_t *iv, const uint8_t *mac_key);
/* TLS 1.3: set up from a traffic secret (derives key and iv with HKDF-Expand-Label). */
int tls13_cipher_init(tls_cipher_state_t *cs, const tls_suite_t *s, const uint8_t *secret, size_t slen);

/* Decrypt and verify one record in place. `ctype` is the outer content type, replaced by
 * the inner type for TLS 1.3 (padding stripped). `rec_version` is the record header's
 * version field. On success *plain and *plen give the plaintext inside frag and seq advances.
 * Returns 0 on success, -1 when authentication failed (MAC/tag mismatch, and for CBC also
 * bad padding bytes or a padding length that does not fit: with a wrong key those are
 * what one sees; frag contents are then undefined, any unauthenticated plaintext is
 * wiped), -2 when the record is malformed for the suite before any key is involved
 * (fragment too short, CBC length not a block multiple) or, for TLS 1.3, the
 * authenticated inner plaintext is all zeros. On failure *plain = NULL, *plen = 0 and the
 * state (seq, TLS 1.0 IV) is unchanged. */
int tls_cipher_decrypt(tls_cipher_state_t *cs, uint8_t *ctype, uint16_t rec_version,
                       uint8_t *frag, size_t flen, uint8_t **plain, size_t *plen);

/* Release the handle and wipe keys. Safe on a zeroed or already freed state. */
void tls_cipher_free(tls_cipher_state_t *cs);

#endif
