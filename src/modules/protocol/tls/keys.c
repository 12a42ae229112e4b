/*
 * keys.c — server key material through OpenSSL libcrypto (see keys.h for the why).
 * Key files are decoded with OSSL_DECODER, which accepts PEM and DER, PKCS#1, SEC1 and
 * PKCS#8 (plain or encrypted) alike. Errors are one line naming the file and the problem,
 * and never include key bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/rsa.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include "keys.h"
#include "kdf.h"
#include "cursor.h"

#define MAX_KEY_FILE (1024 * 1024)

static int read_file(const char *path, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open key file: %s", path, strerror(errno));
		return -1;
	}
	uint8_t *buf = malloc(MAX_KEY_FILE);
	if (!buf) { fclose(f); snprintf(err, errlen, "%s: out of memory", path); return -1; }
	size_t n = fread(buf, 1, MAX_KEY_FILE, f);
	int rerr = ferror(f);
	int more = !feof(f);
	fclose(f);
	if (rerr) {
		tls_wipe(buf, n);
		free(buf);
		snprintf(err, errlen, "%s: cannot read key file", path);
		return -1;
	}
	if (more) {
		tls_wipe(buf, n); free(buf);
		snprintf(err, errlen, "%s: key file larger than 1 MiB", path);
		return -1;
	}
	if (n == 0) { free(buf); snprintf(err, errlen, "%s: key file is empty", path); return -1; }
	*out = buf; *outlen = n;
	return 0;
}

static EVP_PKEY *decode_key(const uint8_t *buf, size_t len, const char *password)
{
	EVP_PKEY *pkey = NULL;
	OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, NULL, NULL, NULL,
	                                                       EVP_PKEY_KEYPAIR, NULL, NULL);
	if (!dctx) return NULL;
	/* An empty passphrase keeps OpenSSL from prompting on a terminal. */
	OSSL_DECODER_CTX_set_passphrase(dctx, (const unsigned char *)(password ? password : ""),
	                                password ? strlen(password) : 0);
	const unsigned char *p = buf;
	size_t l = len;
	if (!OSSL_DECODER_from_data(dctx, &p, &l)) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	OSSL_DECODER_CTX_free(dctx);
	return pkey;
}

static int spki_hash_of(EVP_PKEY *pk, uint8_t out[32])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pk, &der);
	if (n <= 0) return -1;
	unsigned int ol = 32;
	int ok = EVP_Digest(der, (size_t)n, out, &ol, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok ? 0 : -1;
}

int keys_load_file(ks_key_t *k, const char *path, const char *password, char *err, size_t errlen,
                   char *warn, size_t warnlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	memset(k, 0, sizeof *k);
	if (warn && warnlen) warn[0] = 0;
	struct stat sb;
	if (stat(path, &sb) != 0) {
		snprintf(err, errlen, "%s: cannot open key file: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (read_file(path, &buf, &len, err, errlen) != 0) return -1;
	if ((sb.st_mode & 077) && warn)
		snprintf(warn, warnlen, "%s: private key file is readable by group/other (mode %03o); chmod 600 it",
		         path, (unsigned)(sb.st_mode & 0777));
	bool encrypted = memmem(buf, len, "ENCRYPTED", 9) != NULL;
	EVP_PKEY *pk = decode_key(buf, len, password);
	bool has_cert = memmem(buf, len, "BEGIN CERTIFICATE", 17) != NULL;
	tls_wipe(buf, len);
	free(buf);
	ERR_clear_error();
	if (!pk) {
		if (encrypted && !password)
			snprintf(err, errlen, "%s: key is encrypted and no password was given", path);
		else if (encrypted)
			snprintf(err, errlen, "%s: wrong password for encrypted key", path);
		else if (has_cert)
			snprintf(err, errlen, "%s: file holds a certificate, not a private key", path);
		else
			snprintf(err, errlen, "%s: not a private key (PEM or DER, PKCS#1/PKCS#8/SEC1) or wrong password", path);
		return -1;
	}
	int id = EVP_PKEY_get_base_id(pk);
	if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
		if (id == EVP_PKEY_RSA_PSS) {
			snprintf(err, errlen, "%s: RSA-PSS key cannot decrypt a pre-master secret", path);
			EVP_PKEY_free(pk);
			return -1;
		}
		k->type = KS_RSA;
	} else if (id == EVP_PKEY_X25519) {
		k->type = KS_X25519;
	} else if (id == EVP_PKEY_EC) {
		char gname[64] = "";
		size_t gl = 0;
		EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, gname, sizeof gname, &gl);
		if (!strcmp(gname, "prime256v1") || !strcmp(gname, "P-256") || !strcmp(gname, "secp256r1"))
			k->type = KS_EC_P256;
		else if (!strcmp(gname, "secp384r1") || !strcmp(gname, "P-384"))
			k->type = KS_EC_P384;
		else {
			snprintf(err, errlen, "%s: unsupported EC curve %s (need P-256 or P-384)", path, gname[0] ? gname : "?");
			EVP_PKEY_free(pk);
			return -1;
		}
	} else {
		snprintf(err, errlen, "%s: unsupported key type %s (need RSA, EC P-256/P-384 or X25519)",
		         path, OBJ_nid2sn(id) ? OBJ_nid2sn(id) : "?");
		EVP_PKEY_free(pk);
		return -1;
	}
	if (k->type != KS_RSA) {
		unsigned char *pub = NULL;
		size_t pl = EVP_PKEY_get1_encoded_public_key(pk, &pub);
		if (pl == 0 || pl > sizeof k->pub) {
			OPENSSL_free(pub);
			snprintf(err, errlen, "%s: cannot read the public part of the key", path);
			EVP_PKEY_free(pk);
			return -1;
		}
		memcpy(k->pub, pub, pl);
		k->pub_len = pl;
		OPENSSL_free(pub);
	}
	if (spki_hash_of(pk, k->spki_hash) != 0) memset(k->spki_hash, 0, 32);
	k->pkey = pk;
	k->path = strdup(path);
	return 0;
}

int keys_parse_selector(ks_key_t *k, const char *server, const char *sni)
{
	k->sel_family = 0;
	k->sel_port = 0;
	if (sni && *sni) {
		k->sel_sni = strdup(sni);
		if (!k->sel_sni) return -1;
	}
	if (!server || !*server) return 0;
	char host[128];
	const char *port = NULL;
	if (server[0] == '[') {
		const char *e = strchr(server, ']');
		if (!e || (size_t)(e - server - 1) >= sizeof host) return -1;
		memcpy(host, server + 1, (size_t)(e - server - 1));
		host[e - server - 1] = 0;
		if (e[1] == ':') port = e + 2; else if (e[1]) return -1;
	} else {
		const char *c1 = strchr(server, ':'), *c2 = strrchr(server, ':');
		if (c1 && c1 == c2) {            /* ip:port or :port */
			if ((size_t)(c1 - server) >= sizeof host) return -1;
			memcpy(host, server, (size_t)(c1 - server));
			host[c1 - server] = 0;
			port = c1 + 1;
		} else {                         /* ip, or bare IPv6 */
			if (strlen(server) >= sizeof host) return -1;
			strcpy(host, server);
		}
	}
	if (port) {
		char *end;
		long p = strtol(port, &end, 10);
		if (*port == 0 || *end || p <= 0 || p > 65535) return -1;
		k->sel_port = (uint16_t)p;
	}
	if (host[0]) {
		if (inet_pton(AF_INET, host, k->sel_ip) == 1) k->sel_family = AF_INET;
		else if (inet_pton(AF_INET6, host, k->sel_ip) == 1) k->sel_family = AF_INET6;
		else return -1;
	}
	return 0;
}

bool keys_selector_match(const ks_key_t *k, const tls_endpoints_t *ep, const char *sni)
{
	if (k->sel_port && ep->server_port != k->sel_port) return false;
	if (k->sel_family) {
		if (k->sel_family != ep->family) return false;
		if (memcmp(k->sel_ip, ep->server_ip, k->sel_family == AF_INET ? 4 : 16) != 0) return false;
	}
	if (k->sel_sni && (!sni || strcasecmp(k->sel_sni, sni) != 0)) return false;
	return true;
}

void keys_free(ks_key_t *k)
{
	if (!k) return;
	EVP_PKEY_free(k->pkey);      /* OpenSSL clears private key bignums on free */
	free(k->path);
	free(k->sel_sni);
	tls_wipe(k, sizeof *k);
}

int keys_rsa_decrypt_pms(const ks_key_t *k, const uint8_t *enc, size_t enclen, uint8_t pms[48])
{
	if (k->type != KS_RSA || !k->pkey) return -1;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->pkey, NULL);
	if (!ctx) return -1;
	int rc = -1;
	uint8_t out[1024];
	size_t outlen = sizeof out;
	if (EVP_PKEY_decrypt_init(ctx) > 0 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0) {
		/* OpenSSL >= 3.2 would otherwise answer a bad padding with random bytes
		 * ("implicit rejection"); we prefer an explicit failure. Unknown on 3.0: ignored. */
		EVP_PKEY_CTX_ctrl_str(ctx, "rsa_pkcs1_implicit_rejection", "0");
		if ((size_t)EVP_PKEY_get_size(k->pkey) <= sizeof out &&
		    EVP_PKEY_decrypt(ctx, out, &outlen, enc, enclen) > 0 && outlen == 48) {
			memcpy(pms, out, 48);
			rc = 0;
		}
	}
	tls_wipe(out, sizeof out);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

bool keys_group_match(const ks_key_t *k, uint16_t group)
{
	return (k->type == KS_EC_P256 && group == TLS_GROUP_P256) ||
	       (k->type == KS_EC_P384 && group == TLS_GROUP_P384) ||
	       (k->type == KS_X25519 && group == TLS_GROUP_X25519);
}

size_t keys_ecdh(const ks_key_t *k, const uint8_t *peer, size_t peerlen, uint8_t *out, size_t outcap)
{
	if (!k->pkey || k->type == KS_RSA) return 0;
	EVP_PKEY *pp = NULL;
	size_t result = 0;
	if (k->type == KS_X25519) {
		if (peerlen != 32) return 0;
		pp = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, peerlen);
	} else {
		pp = EVP_PKEY_new();
		if (pp && (EVP_PKEY_copy_parameters(pp, k->pkey) <= 0 ||
		           EVP_PKEY_set1_encoded_public_key(pp, peer, peerlen) <= 0)) {
			EVP_PKEY_free(pp);
			pp = NULL;
		}
	}
	if (!pp) { ERR_clear_error(); return 0; }
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->pkey, NULL);
	size_t ol = outcap;
	if (ctx && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_derive_set_peer(ctx, pp) > 0 &&
	    EVP_PKEY_derive(ctx, out, &ol) > 0)
		result = ol;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pp);
	ERR_clear_error();
	return result;
}

/* One DER TLV: tag byte, definite length (short or long form up to 4 bytes); the value
 * becomes a sub-cursor. Returns false on any malformation. */
static bool der_tlv(cursor_t *c, uint8_t *tag, cursor_t *val)
{
	*tag = cur_u8(c);
	uint8_t l0 = cur_u8(c);
	size_t n = l0;
	if (l0 & 0x80) {
		int k = l0 & 0x7f;
		if (k == 0 || k > 4) return cur_fail(c);
		n = 0;
		for (int i = 0; i < k; i++) n = (n << 8) | cur_u8(c);
	}
	*val = cur_sub(c, n);
	return !cur_failed(c);
}

/* The SubjectPublicKeyInfo element of a DER certificate, found by walking
 * Certificate → tbsCertificate → [version], serial, signature, issuer, validity, subject. */
static bool der_find_spki(const uint8_t *der, size_t len, const uint8_t **spki, size_t *spki_len)
{
	cursor_t c = cur_init(der, len), cert, tbs, v;
	uint8_t tag;
	if (!der_tlv(&c, &tag, &cert) || tag != 0x30) return false;
	if (!der_tlv(&cert, &tag, &tbs) || tag != 0x30) return false;
	cursor_t probe = tbs;
	if (der_tlv(&probe, &tag, &v) && tag == 0xa0) tbs = probe;      /* [0] version */
	for (int i = 0; i < 5; i++)                                      /* serial .. subject */
		if (!der_tlv(&tbs, &tag, &v)) return false;
	size_t start = cur_offset(&tbs);
	if (!der_tlv(&tbs, &tag, &v) || tag != 0x30) return false;
	*spki = tbs.p + start;
	*spki_len = cur_offset(&tbs) - start;
	return true;
}

int keys_cert_spki_hash(const uint8_t *der, size_t len, uint8_t out[32])
{
	/* Fast path (a full X.509 decode cost more than half of a handshake): hash the
	 * SubjectPublicKeyInfo bytes as they stand in the DER certificate, which are exactly
	 * what i2d_PUBKEY produces for the key. */
	const uint8_t *spki;
	size_t sl;
	unsigned int ol = 32;
	if (der_find_spki(der, len, &spki, &sl) && EVP_Digest(spki, sl, out, &ol, EVP_sha256(), NULL))
		return 0;
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	if (!x) { ERR_clear_error(); return -1; }
	EVP_PKEY *pk = X509_get0_pubkey(x);
	int rc = pk ? spki_hash_of(pk, out) : -1;
	X509_free(x);
	ERR_clear_error();
	return rc;
}
