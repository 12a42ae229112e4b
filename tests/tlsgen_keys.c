/*
 * tlsgen_keys.c — server keys and certificates for the tests: generates RSA, EC, X25519
 * and Ed25519 keys with a self-signed certificate, writes them in the encodings the engine
 * accepts (PEM/DER, PKCS#8/traditional, encrypted or not), converts between encodings,
 * and reads any of them back (tg_load_key).
 *
 * Why: key-file parsing is part of what the engine must get right; the tests present it
 * the same key in every form a real deployment might use.
 */
#include "tlsgen_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static int pw_cb(char *buf, int size, int rwflag, void *u)
{
	(void)rwflag;
	if (!u) return 0;
	int n = (int)strlen(u);
	if (n > size) n = size;
	memcpy(buf, u, (size_t)n);
	return n;
}

/* Read a private key in any encoding tlsgen_make_key_fmt writes (PEM PKCS#8/traditional,
 * encrypted or not; DER PKCS#8 encrypted or not; DER traditional). NULL on failure. */
EVP_PKEY *tg_load_key(const char *path, const char *pw)
{
	BIO *b = BIO_new_file(path, "rb");
	if (!b) return NULL;
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, pw_cb, (void *)pw);
	if (!k) {
		(void)BIO_reset(b);
		k = d2i_PKCS8PrivateKey_bio(b, NULL, pw_cb, (void *)pw);
	}
	if (!k) {
		(void)BIO_reset(b);
		k = d2i_PrivateKey_bio(b, NULL);
	}
	BIO_free(b);
	if (k) ERR_clear_error();
	return k;
}

static EVP_PKEY *gen_key(const char *kind)
{
	if (!strncasecmp(kind, "rsa", 3)) {
		unsigned bits = (unsigned)atoi(kind + 3);
		if (bits < 512 || bits > 16384) return NULL;
		return EVP_RSA_gen(bits);
	}
	if (!strcasecmp(kind, "p256")) return EVP_EC_gen("P-256");
	if (!strcasecmp(kind, "p384")) return EVP_EC_gen("P-384");
	if (!strcasecmp(kind, "x25519")) return EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	if (!strcasecmp(kind, "ed25519")) return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return NULL;
}

static int write_key(EVP_PKEY *k, const char *path, const char *pw, int fmt)
{
	BIO *b = BIO_new_file(path, "wb");
	if (!b) return -1;
	const EVP_CIPHER *enc = pw ? EVP_aes_256_cbc() : NULL;
	int ok = 0;
	switch (fmt) {
	case TLSGEN_KEY_PEM_PKCS8:
		ok = PEM_write_bio_PKCS8PrivateKey(b, k, enc, NULL, 0, NULL, (void *)pw);
		break;
	case TLSGEN_KEY_PEM_TRAD:
		/* X25519/Ed25519 have no traditional encoding: PKCS#8 is their only form */
		if (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "EC"))
			ok = PEM_write_bio_PrivateKey_traditional(b, k, enc, NULL, 0, NULL, (void *)pw);
		else
			ok = PEM_write_bio_PKCS8PrivateKey(b, k, enc, NULL, 0, NULL, (void *)pw);
		break;
	case TLSGEN_KEY_DER_PKCS8:
		ok = i2d_PKCS8PrivateKey_bio(b, k, enc, NULL, 0, NULL, (void *)pw);
		break;
	case TLSGEN_KEY_DER_TRAD:
		if (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "EC")) ok = !pw && i2d_PrivateKey_bio(b, k);
		else ok = !pw && i2d_PKCS8PrivateKey_bio(b, k, NULL, NULL, 0, NULL, NULL);
		break;
	}
	if (BIO_free(b) != 1) ok = 0;
	return ok ? 0 : -1;
}

static int write_cert(EVP_PKEY *k, const char *path)
{
	int rc = -1;
	X509 *x = X509_new();
	X509_NAME *nm = NULL;
	X509_EXTENSION *ext = NULL;
	if (!x) return -1;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(time(NULL) & 0x7fffffff));
	X509_gmtime_adj(X509_getm_notBefore(x), -86400L);
	X509_gmtime_adj(X509_getm_notAfter(x), 20L * 365 * 86400);
	X509_set_pubkey(x, k);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"tlsgen test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"sip.example.com", -1, -1, 0);
	X509_set_issuer_name(x, nm);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:sip.example.com,DNS:www.example.com,DNS:localhost");
	if (ext) { X509_add_ext(x, ext, -1); X509_EXTENSION_free(ext); }
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:FALSE");
	if (ext) { X509_add_ext(x, ext, -1); X509_EXTENSION_free(ext); }
	int nomd = EVP_PKEY_is_a(k, "ED25519") || EVP_PKEY_is_a(k, "ED448");
	if (!X509_sign(x, k, nomd ? NULL : EVP_sha256())) goto out;
	FILE *fp = fopen(path, "wb");
	if (!fp) goto out;
	if (PEM_write_X509(fp, x) == 1) rc = 0;
	if (fclose(fp) != 0) rc = -1;
out:
	X509_free(x);
	return rc;
}

int tlsgen_make_key_fmt(const char *kind, const char *key_path, const char *cert_path,
                        const char *password, int key_format)
{
	if (!kind || !key_path) return -1;
	EVP_PKEY *k = gen_key(kind);
	if (!k) { ERR_clear_error(); return -1; }
	int rc = write_key(k, key_path, password, key_format);
	if (!rc && cert_path && strcasecmp(kind, "x25519")) rc = write_cert(k, cert_path);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return rc;
}

int tlsgen_make_key(const char *kind, const char *key_path, const char *cert_path, const char *password)
{
	return tlsgen_make_key_fmt(kind, key_path, cert_path, password, TLSGEN_KEY_PEM_PKCS8);
}

int tlsgen_convert_key(const char *in_path, const char *in_pw, const char *out_path,
                       const char *out_pw, int key_format)
{
	EVP_PKEY *k = tg_load_key(in_path, in_pw);
	if (!k) { ERR_clear_error(); return -1; }
	int rc = write_key(k, out_path, out_pw, key_format);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return rc;
}
