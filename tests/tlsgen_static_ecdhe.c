/*
 * tlsgen_static_ecdhe.c — the server's fixed ("static ephemeral") (EC)DHE key: loads the
 * configured X25519 / P-256 / P-384 private key and, while the server side works, makes
 * it OpenSSL's randomness so libssl's key share is that key.
 *
 * Why: the engine can decrypt sessions whose server uses a known static (EC)DHE key;
 * tests need real libssl sessions of that kind, and OpenSSL 3.0 has no option to reuse a
 * key share.
 */
#include "tlsgen_int.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

/* How:
 * OpenSSL 3.0 has no option to reuse a fixed (EC)DHE key. But its key generation draws
 * the private scalar from RAND_priv_bytes_ex(), which defers to an installed legacy
 * RAND_METHOD. While the *server* processes a handshake step we install a method that
 * returns the configured private key bytes for every request, so the key share libssl
 * generates (X25519: the raw 32 bytes; P-256/P-384: BN_priv_rand_range draws exactly
 * the scalar, which is below the group order) is the configured key. The client side
 * never sees this method. */
static uint8_t static_priv[48];
static size_t static_priv_len;

static uint64_t static_rand_state = 0x9e3779b97f4a7c15ull;

/* Requests of exactly the key's length (the key-share scalar; also e.g. the server
 * random, harmlessly) get the key; all others (RSA blinding, padding) a PRNG stream, so
 * rejection sampling elsewhere terminates. */
static int static_rand_bytes(unsigned char *buf, int num)
{
	if ((size_t)num == static_priv_len) {
		memcpy(buf, static_priv, static_priv_len);
		return 1;
	}
	for (int i = 0; i < num; i++) {
		uint64_t z = (static_rand_state += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		buf[i] = (uint8_t)(z ^ (z >> 31));
	}
	return 1;
}
static int static_rand_status(void) { return 1; }
static const RAND_METHOD static_rand_method = {
	NULL, static_rand_bytes, NULL, NULL, static_rand_bytes, static_rand_status
};

/* Load the static key; returns its OpenSSL group name or NULL. */
const char *tg_load_static_key(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f) fclose(f);
	if (!k) { tg_set_err(err, errlen, "cannot read static ECDHE key %s", path); return NULL; }
	const char *group = NULL;
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_X25519) {
		size_t l = sizeof static_priv;
		if (EVP_PKEY_get_raw_private_key(k, static_priv, &l) == 1 && l == 32) { static_priv_len = 32; group = "X25519"; }
	} else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
		char gn[64] = "";
		BIGNUM *d = NULL;
		EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, gn, sizeof gn, NULL);
		size_t l = !strcmp(gn, "prime256v1") ? 32 : !strcmp(gn, "secp384r1") ? 48 : 0;
		if (l && EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
		    BN_bn2binpad(d, static_priv, (int)l) == (int)l) {
			static_priv_len = l;
			group = l == 32 ? "P-256" : "P-384";
		}
		BN_clear_free(d);
	}
	EVP_PKEY_free(k);
	if (!group) tg_set_err(err, errlen, "static ECDHE key %s is not X25519, P-256 or P-384", path);
	return group;
}

/* The static key as the server's randomness (if set) while the server works. */
void tg_server_rand(gconn_t *g, int on)
{
	if (!g->o->static_ecdhe_key) return;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	RAND_set_rand_method(on ? &static_rand_method : NULL);
#pragma GCC diagnostic pop
}
