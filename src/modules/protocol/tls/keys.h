/*
 * keys.h — server key material loaded with OpenSSL libcrypto and the public-key
 * operations the engine needs: RSA PKCS#1 v1.5 pre-master secret decryption and static
 * (EC)DH with P-256 / P-384 / X25519 keys. OpenSSL does these (≈14× faster than libgcrypt
 * for RSA-2048 on our machines; see design.md "Crypto split"); symmetric work stays in
 * libgcrypt. Also: selectors (server ip/port, SNI) and matching keys to certificates.
 */
#ifndef PTLS_KEYS_H
#define PTLS_KEYS_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "tls_engine.h"

typedef enum ks_key_type { KS_RSA = 1, KS_EC_P256, KS_EC_P384, KS_X25519 } ks_key_type_t;

/* TLS NamedGroup ids */
enum { TLS_GROUP_P256 = 23, TLS_GROUP_P384 = 24, TLS_GROUP_X25519 = 29 };

typedef struct ks_key {
	void *pkey;                 /* EVP_PKEY* */
	ks_key_type_t type;
	char *path;
	/* selector */
	int sel_family;             /* 0: any address */
	uint8_t sel_ip[16];
	uint16_t sel_port;          /* 0: any port */
	char *sel_sni;              /* NULL: any */
	uint8_t spki_hash[32];      /* SHA-256 of the DER SubjectPublicKeyInfo */
	uint8_t pub[133];           /* EC: uncompressed point; X25519: 32 bytes */
	size_t pub_len;
} ks_key_t;

/* Load a key file into k (see tls_keystore_add_key_file for the contract). */
int keys_load_file(ks_key_t *k, const char *path, const char *password, char *err, size_t errlen,
                   char *warn, size_t warnlen);
/* Parse a selector "ip", "ip:port", ":port", "[v6]:port" into k. Returns 0 / -1. */
int keys_parse_selector(ks_key_t *k, const char *server, const char *sni);
/* Free and wipe. */
void keys_free(ks_key_t *k);
/* Does the key apply to this server / SNI? */
bool keys_selector_match(const ks_key_t *k, const tls_endpoints_t *ep, const char *sni);
/* RSA: decrypt an encrypted pre-master secret. Returns 0 with pms[48], or -1. */
int keys_rsa_decrypt_pms(const ks_key_t *k, const uint8_t *enc, size_t enclen, uint8_t pms[48]);
/* Static (EC)DH: does this key belong to TLS group `group`? */
bool keys_group_match(const ks_key_t *k, uint16_t group);
/* Static (EC)DH with the peer's public value (EC point or X25519 bytes). Returns the
 * shared secret length written to out (<= outcap), or 0 on failure. */
size_t keys_ecdh(const ks_key_t *k, const uint8_t *peer, size_t peerlen, uint8_t *out, size_t outcap);
/* SHA-256 of the SubjectPublicKeyInfo of a DER certificate. Returns 0 / -1. */
int keys_cert_spki_hash(const uint8_t *der, size_t len, uint8_t out[32]);

#endif
