/*
 * handbuilt_test.c — suites no TLS implementation on Debian speaks any more: SSL 3.0
 * (3DES, RC4-MD5, AES-CBC, NULL-MD5), SEED-CBC and DES-CBC (TLS 1.0-1.2), IDEA-CBC (TLS
 * 1.0-1.1), and static ECDH
 * with the server certificate's EC key (ECDH_ECDSA / ECDH_RSA: OpenSSL 3 removed them,
 * gnutls never had them).
 *
 * HONEST NOTE: these sessions are NOT produced by a real TLS peer — none exists for them
 * here. This file writes the records itself, from OpenSSL libcrypto primitives only
 * (RSA PKCS#1 encryption, ECDH, MD5/SHA-1/SHA-256, HMAC, EVP ciphers incl. the legacy
 * provider's SEED/DES/RC4, the TLS1-PRF KDF), following RFC 6101 (SSL 3.0 key derivation,
 * MAC, padding, Finished) and RFC 2246/4346/5246/4492 — never with the engine's code.
 * IDEA is the one exception: Debian's OpenSSL is built without it, so its records are
 * encrypted with libgcrypt's IDEA (the library the engine decrypts with, but none of the
 * engine's record code: framing, MAC, padding and IVs are this file's, after RFC 2246).
 * Every other suite is tested against real peers in legacy_test.c and
 * legacy_gnutls_test.c.
 *
 * Each session: ClientHello / ServerHello+Certificate+ServerHelloDone /
 * ClientKeyExchange+CCS+Finished / CCS+Finished, then SIP or HTTP messages both ways in
 * several records, fed as TCP segments (once whole, once cut into 37-byte segments with
 * neighbours swapped). Both directions must come out byte-exact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/rand.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <gcrypt.h>
#include <openssl/core_names.h>
#include <openssl/provider.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"

typedef struct buf { uint8_t *p; size_t n, cap; } buf_t;
static void put(buf_t *b, const void *d, size_t n)
{
	if (!n) return;
	if (b->n + n > b->cap) { b->cap = (b->n + n) * 2 + 256; b->p = realloc(b->p, b->cap); }
	memcpy(b->p + b->n, d, n);
	b->n += n;
}
static void put8(buf_t *b, unsigned v) { uint8_t x = (uint8_t)v; put(b, &x, 1); }
static void put16(buf_t *b, unsigned v) { put8(b, v >> 8); put8(b, v); }
static void put24(buf_t *b, unsigned v) { put8(b, v >> 16); put16(b, v & 0xffff); }

typedef struct hcase {
	const char *label;
	uint16_t version, suite;
	const char *cipher;        /* EVP name, NULL for NULL encryption */
	int block;                 /* 0 stream/NULL */
	int key_len;
	const char *mac;           /* "MD5", "SHA1", "SHA256" */
	const char *kx;            /* "rsa", "p256", "p384" */
} hcase_t;

static const hcase_t CASES[] = {
	{ "SSL3.0 RSA 3DES-EDE-CBC-SHA", 0x0300, 0x000A, "DES-EDE3-CBC", 8, 24, "SHA1", "rsa" },
	{ "SSL3.0 RSA RC4-128-MD5", 0x0300, 0x0004, "RC4", 0, 16, "MD5", "rsa" },
	{ "SSL3.0 RSA RC4-128-SHA", 0x0300, 0x0005, "RC4", 0, 16, "SHA1", "rsa" },
	{ "SSL3.0 RSA AES-128-CBC-SHA", 0x0300, 0x002F, "AES-128-CBC", 16, 16, "SHA1", "rsa" },
	{ "SSL3.0 RSA NULL-MD5", 0x0300, 0x0001, NULL, 0, 0, "MD5", "rsa" },
	{ "TLS1.0 RSA SEED-CBC-SHA", 0x0301, 0x0096, "SEED-CBC", 16, 16, "SHA1", "rsa" },
	{ "TLS1.2 RSA SEED-CBC-SHA", 0x0303, 0x0096, "SEED-CBC", 16, 16, "SHA1", "rsa" },
	{ "TLS1.0 RSA IDEA-CBC-SHA", 0x0301, 0x0007, "IDEA-CBC", 8, 16, "SHA1", "rsa" },
	{ "TLS1.1 RSA IDEA-CBC-SHA", 0x0302, 0x0007, "IDEA-CBC", 8, 16, "SHA1", "rsa" },
	{ "TLS1.0 RSA DES-CBC-SHA", 0x0301, 0x0009, "DES-CBC", 8, 8, "SHA1", "rsa" },
	{ "TLS1.1 RSA DES-CBC-SHA", 0x0302, 0x0009, "DES-CBC", 8, 8, "SHA1", "rsa" },
	{ "TLS1.2 ECDH_ECDSA AES-128-CBC-SHA (P-256)", 0x0303, 0xC004, "AES-128-CBC", 16, 16, "SHA1", "p256" },
	{ "TLS1.2 ECDH_ECDSA AES-128-CBC-SHA256 (P-256)", 0x0303, 0xC025, "AES-128-CBC", 16, 16, "SHA256", "p256" },
	{ "TLS1.0 ECDH_RSA AES-256-CBC-SHA (P-384)", 0x0301, 0xC00F, "AES-256-CBC", 16, 32, "SHA1", "p384" },
	{ "TLS1.2 ECDH_ECDSA RC4-128-SHA (P-256)", 0x0303, 0xC002, "RC4", 0, 16, "SHA1", "p256" },
	{ "TLS1.1 ECDH_RSA 3DES-EDE-CBC-SHA (P-256)", 0x0302, 0xC00D, "DES-EDE3-CBC", 8, 24, "SHA1", "p256" },
};

/* ---- key derivation (RFC 6101 §6.2.2 / RFC 5246 §5 via OpenSSL's TLS1-PRF) ---- */

static void ssl3_kdf(const uint8_t *sec, size_t sl, const uint8_t *s1, const uint8_t *s2, uint8_t *out, size_t n)
{
	for (size_t i = 0, done = 0; done < n; i++) {
		uint8_t lab[26], sha[20], md5[16];
		memset(lab, 'A' + (int)i, i + 1);
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		EVP_DigestInit_ex(c, EVP_sha1(), NULL);
		EVP_DigestUpdate(c, lab, i + 1); EVP_DigestUpdate(c, sec, sl);
		EVP_DigestUpdate(c, s1, 32); EVP_DigestUpdate(c, s2, 32);
		EVP_DigestFinal_ex(c, sha, NULL);
		EVP_DigestInit_ex(c, EVP_md5(), NULL);
		EVP_DigestUpdate(c, sec, sl); EVP_DigestUpdate(c, sha, 20);
		EVP_DigestFinal_ex(c, md5, NULL);
		EVP_MD_CTX_free(c);
		size_t k = n - done < 16 ? n - done : 16;
		memcpy(out + done, md5, k);
		done += k;
	}
}

static void tls_prf(uint16_t v, const uint8_t *sec, size_t sl, const char *label, const uint8_t *s1, size_t l1,
                    const uint8_t *s2, size_t l2, uint8_t *out, size_t n)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	EVP_KDF_CTX *k = EVP_KDF_CTX_new(kdf);
	uint8_t seed[128];
	size_t ll = strlen(label);
	memcpy(seed, label, ll); memcpy(seed + ll, s1, l1);
	if (l2) memcpy(seed + ll + l1, s2, l2);
	OSSL_PARAM p[4] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, v >= 0x0303 ? "SHA256" : "MD5-SHA1", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)sec, sl),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, ll + l1 + l2), OSSL_PARAM_construct_end() };
	if (EVP_KDF_derive(k, out, n, p) <= 0) memset(out, 0, n);
	EVP_KDF_CTX_free(k);
	EVP_KDF_free(kdf);
}

/* ---- record protection, sender side ---- */

typedef struct wdir {
	const hcase_t *hc;
	uint8_t mac_key[32], key[32], iv[16];
	size_t mac_len;
	EVP_CIPHER_CTX *ctx;       /* RC4 keystream / CBC key */
	gcry_cipher_hd_t gh;       /* IDEA-CBC: libgcrypt (Debian's libcrypto has no IDEA) */
	uint64_t seq;
	bool on;
} wdir_t;

static void compute_mac(wdir_t *w, uint8_t type, const uint8_t *d, size_t n, uint8_t *out)
{
	uint8_t hdr[13];
	for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)(w->seq >> (56 - 8 * i));
	hdr[8] = type; hdr[9] = (uint8_t)(w->hc->version >> 8); hdr[10] = (uint8_t)w->hc->version;
	hdr[11] = (uint8_t)(n >> 8); hdr[12] = (uint8_t)n;
	const EVP_MD *md = EVP_get_digestbyname(w->hc->mac);
	if (w->hc->version == 0x0300) {
		uint8_t pad[48], inner[20];
		size_t np = !strcmp(w->hc->mac, "MD5") ? 48 : 40;
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		memset(pad, 0x36, sizeof pad);
		EVP_DigestInit_ex(c, md, NULL);
		EVP_DigestUpdate(c, w->mac_key, w->mac_len); EVP_DigestUpdate(c, pad, np);
		EVP_DigestUpdate(c, hdr, 9); EVP_DigestUpdate(c, hdr + 11, 2); EVP_DigestUpdate(c, d, n);
		EVP_DigestFinal_ex(c, inner, NULL);
		memset(pad, 0x5c, sizeof pad);
		EVP_DigestInit_ex(c, md, NULL);
		EVP_DigestUpdate(c, w->mac_key, w->mac_len); EVP_DigestUpdate(c, pad, np);
		EVP_DigestUpdate(c, inner, w->mac_len);
		EVP_DigestFinal_ex(c, out, NULL);
		EVP_MD_CTX_free(c);
	} else {
		unsigned ol = 0;
		uint8_t *m = malloc(13 + n);
		memcpy(m, hdr, 13); memcpy(m + 13, d, n);
		HMAC(md, w->mac_key, (int)w->mac_len, m, 13 + n, out, &ol);
		free(m);
	}
}

static void record(buf_t *b, wdir_t *w, uint8_t type, const uint8_t *d, size_t n)
{
	put8(b, type); put16(b, w->hc->version);
	if (!w->on) { put16(b, (unsigned)n); put(b, d, n); return; }
	uint8_t frag[20000], mac[32];
	size_t fl = 0;
	int bs = w->hc->block;
	bool explicit_iv = bs && w->hc->version >= 0x0302;
	if (explicit_iv) { RAND_bytes(frag, bs); fl = (size_t)bs; }
	memcpy(frag + fl, d, n); fl += n;
	compute_mac(w, type, d, n, mac);
	memcpy(frag + fl, mac, w->mac_len); fl += w->mac_len;
	if (bs) {
		size_t body = fl - (explicit_iv ? (size_t)bs : 0);
		size_t pad = (size_t)bs - (body + 1) % (size_t)bs;
		if (w->hc->version == 0x0300) RAND_bytes(frag + fl, (int)pad + 1);   /* SSL 3.0: arbitrary padding bytes */
		else memset(frag + fl, (int)pad, pad);
		fl += pad;
		frag[fl++] = (uint8_t)pad;
		int ol = 0;
		size_t off = explicit_iv ? (size_t)bs : 0;
		if (w->gh) {
			gcry_cipher_setiv(w->gh, explicit_iv ? frag : w->iv, (size_t)bs);
			gcry_cipher_encrypt(w->gh, frag + off, fl - off, NULL, 0);
		} else {
			if (explicit_iv) EVP_EncryptInit_ex(w->ctx, NULL, NULL, NULL, frag);   /* IV = the explicit IV block */
			else EVP_EncryptInit_ex(w->ctx, NULL, NULL, NULL, w->iv);              /* chained IV */
			EVP_EncryptUpdate(w->ctx, frag + off, &ol, frag + off, (int)(fl - off));
		}
		memcpy(w->iv, frag + fl - bs, bs);
	} else if (w->hc->cipher) {
		int ol = 0;
		EVP_EncryptUpdate(w->ctx, frag, &ol, frag, (int)fl);                 /* RC4 keystream runs on */
	}
	w->seq++;
	put16(b, (unsigned)fl);
	put(b, frag, fl);
}

/* ---- one handshake + data ---- */

typedef struct conn { buf_t s[2]; buf_t plain[2]; } conn_t;

static void hs_msg(buf_t *hs, buf_t *out, uint8_t type, const buf_t *body)
{
	buf_t m = { 0 };
	put8(&m, type); put24(&m, (unsigned)body->n); put(&m, body->p, body->n);
	put(hs, m.p, m.n);
	put(out, m.p, m.n);
	free(m.p);
}

static void finished(const hcase_t *hc, const buf_t *hs, const uint8_t ms[48], int client, buf_t *body)
{
	uint8_t out[36];
	if (hc->version == 0x0300) {
		static const uint8_t snd[2][4] = { { 0x53, 0x52, 0x56, 0x52 }, { 0x43, 0x4C, 0x4E, 0x54 } };
		uint8_t pad[48], inner[20];
		const EVP_MD *mds[2] = { EVP_md5(), EVP_sha1() };
		size_t np[2] = { 48, 40 }, hl[2] = { 16, 20 }, off = 0;
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		for (int k = 0; k < 2; k++) {
			memset(pad, 0x36, sizeof pad);
			EVP_DigestInit_ex(c, mds[k], NULL);
			EVP_DigestUpdate(c, hs->p, hs->n); EVP_DigestUpdate(c, snd[client], 4);
			EVP_DigestUpdate(c, ms, 48); EVP_DigestUpdate(c, pad, np[k]);
			EVP_DigestFinal_ex(c, inner, NULL);
			memset(pad, 0x5c, sizeof pad);
			EVP_DigestInit_ex(c, mds[k], NULL);
			EVP_DigestUpdate(c, ms, 48); EVP_DigestUpdate(c, pad, np[k]); EVP_DigestUpdate(c, inner, hl[k]);
			EVP_DigestFinal_ex(c, out + off, NULL);
			off += hl[k];
		}
		EVP_MD_CTX_free(c);
		put(body, out, 36);
		return;
	}
	uint8_t h[36];
	unsigned hl1 = 0, hl2 = 0;
	if (hc->version >= 0x0303) EVP_Digest(hs->p, hs->n, h, &hl1, EVP_sha256(), NULL);
	else { EVP_Digest(hs->p, hs->n, h, &hl1, EVP_md5(), NULL); EVP_Digest(hs->p, hs->n, h + 16, &hl2, EVP_sha1(), NULL); }
	tls_prf(hc->version, ms, 48, client ? "client finished" : "server finished", h, hl1 + hl2, NULL, 0, out, 12);
	put(body, out, 12);
}

static void setup_dir(wdir_t *w, const hcase_t *hc, const uint8_t *kb, int dir)
{
	size_t ml = !strcmp(hc->mac, "MD5") ? 16 : !strcmp(hc->mac, "SHA1") ? 20 : 32;
	size_t kl = (size_t)hc->key_len, il = hc->version <= 0x0301 ? (size_t)hc->block : 0;
	w->hc = hc;
	w->mac_len = ml;
	memcpy(w->mac_key, kb + (dir ? ml : 0), ml);
	memcpy(w->key, kb + 2 * ml + (dir ? kl : 0), kl);
	if (il) memcpy(w->iv, kb + 2 * ml + 2 * kl + (dir ? il : 0), il);
	if (hc->cipher && !strcmp(hc->cipher, "IDEA-CBC")) {
		if (gcry_cipher_open(&w->gh, GCRY_CIPHER_IDEA, GCRY_CIPHER_MODE_CBC, 0) == 0)
			gcry_cipher_setkey(w->gh, w->key, kl);
	} else if (hc->cipher) {
		w->ctx = EVP_CIPHER_CTX_new();
		EVP_CIPHER *ci = EVP_CIPHER_fetch(NULL, hc->cipher, NULL);
		EVP_EncryptInit_ex(w->ctx, ci, NULL, w->key, hc->block ? w->iv : NULL);
		EVP_CIPHER_CTX_set_padding(w->ctx, 0);
		EVP_CIPHER_free(ci);
	}
	w->on = true;
}

static int build(const hcase_t *hc, EVP_PKEY *srv, const uint8_t *cert_der, size_t cert_len, int app, conn_t *cn)
{
	uint8_t cr[32], sr[32], pms[66], ms[48], kb[256];
	size_t pmsl = 48;
	buf_t hs = { 0 }, b = { 0 }, fl = { 0 };
	wdir_t w[2];
	memset(w, 0, sizeof w);
	w[0].hc = w[1].hc = hc;
	RAND_bytes(cr, 32); RAND_bytes(sr, 32);
	/* ClientHello */
	put16(&b, hc->version); put(&b, cr, 32); put8(&b, 0); put16(&b, 2); put16(&b, hc->suite); put8(&b, 1); put8(&b, 0);
	hs_msg(&hs, &fl, 1, &b); b.n = 0;
	record(&cn->s[0], &w[0], 22, fl.p, fl.n); fl.n = 0;
	/* ServerHello, Certificate, ServerHelloDone */
	uint8_t sid[32];
	RAND_bytes(sid, 32);
	put16(&b, hc->version); put(&b, sr, 32); put8(&b, 32); put(&b, sid, 32); put16(&b, hc->suite); put8(&b, 0);
	hs_msg(&hs, &fl, 2, &b); b.n = 0;
	put24(&b, (unsigned)cert_len + 3); put24(&b, (unsigned)cert_len); put(&b, cert_der, cert_len);
	hs_msg(&hs, &fl, 11, &b); b.n = 0;
	hs_msg(&hs, &fl, 14, &b);
	record(&cn->s[1], &w[1], 22, fl.p, fl.n); fl.n = 0;
	/* ClientKeyExchange */
	if (EVP_PKEY_get_base_id(srv) == EVP_PKEY_RSA) {
		pms[0] = (uint8_t)(hc->version >> 8); pms[1] = (uint8_t)hc->version;
		RAND_bytes(pms + 2, 46);
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(srv, NULL);
		uint8_t enc[512];
		size_t el = sizeof enc;
		EVP_PKEY_encrypt_init(pc);
		EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING);
		if (EVP_PKEY_encrypt(pc, enc, &el, pms, 48) <= 0) el = 0;
		EVP_PKEY_CTX_free(pc);
		if (hc->version != 0x0300) put16(&b, (unsigned)el);              /* SSL 3.0: no length prefix */
		put(&b, enc, el);
	} else {
		EVP_PKEY *eph = EVP_PKEY_new();
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, srv, NULL);
		EVP_PKEY_keygen_init(pc);
		EVP_PKEY_free(eph);
		eph = NULL;
		EVP_PKEY_keygen(pc, &eph);
		EVP_PKEY_CTX_free(pc);
		pc = EVP_PKEY_CTX_new(eph, NULL);
		EVP_PKEY_derive_init(pc);
		EVP_PKEY_derive_set_peer(pc, srv);                 /* only the server's public part is used */
		pmsl = sizeof pms;
		if (EVP_PKEY_derive(pc, pms, &pmsl) <= 0) pmsl = 0;
		EVP_PKEY_CTX_free(pc);
		unsigned char *pt = NULL;
		size_t ptl = EVP_PKEY_get1_encoded_public_key(eph, &pt);
		put8(&b, (unsigned)ptl); put(&b, pt, ptl);
		OPENSSL_free(pt);
		EVP_PKEY_free(eph);
	}
	hs_msg(&hs, &fl, 16, &b); b.n = 0;
	record(&cn->s[0], &w[0], 22, fl.p, fl.n); fl.n = 0;
	if (hc->version == 0x0300) ssl3_kdf(pms, pmsl, cr, sr, ms, 48);
	else tls_prf(hc->version, pms, pmsl, "master secret", cr, 32, sr, 32, ms, 48);
	size_t ml = !strcmp(hc->mac, "MD5") ? 16 : !strcmp(hc->mac, "SHA1") ? 20 : 32;
	size_t kbl = 2 * (ml + (size_t)hc->key_len + (hc->version <= 0x0301 ? (size_t)hc->block : 0));
	if (hc->version == 0x0300) ssl3_kdf(ms, 48, sr, cr, kb, kbl);
	else tls_prf(hc->version, ms, 48, "key expansion", sr, 32, cr, 32, kb, kbl);
	/* client CCS + Finished, server CCS + Finished */
	static const uint8_t ccs = 1;
	record(&cn->s[0], &w[0], 20, &ccs, 1);
	setup_dir(&w[0], hc, kb, 0);
	finished(hc, &hs, ms, 1, &b);
	hs_msg(&hs, &fl, 20, &b); b.n = 0;
	record(&cn->s[0], &w[0], 22, fl.p, fl.n); fl.n = 0;
	record(&cn->s[1], &w[1], 20, &ccs, 1);
	setup_dir(&w[1], hc, kb, 1);
	finished(hc, &hs, ms, 0, &b);
	hs_msg(&hs, &fl, 20, &b); b.n = 0;
	record(&cn->s[1], &w[1], 22, fl.p, fl.n); fl.n = 0;
	/* application data: 3 messages each way, each written in records of <= 700 bytes */
	for (int i = 0; i < 3; i++)
		for (int d = 0; d < 2; d++) {
			char body[2600], msg[3200];
			size_t bl = (size_t)(200 + 900 * i + 31 * d);
			for (size_t k = 0; k < bl; k++) body[k] = (char)('a' + (k * 13 + (size_t)i) % 26);
			int n;
			if (app == TLSGEN_APP_SIP)
				n = d == 0 ? snprintf(msg, sizeof msg, "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1;branch=z9hG4bK%d\r\n"
				                      "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: hb%d\r\nCSeq: %d MESSAGE\r\n"
				                      "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%.*s", i, i, i + 1, bl, (int)bl, body)
				           : snprintf(msg, sizeof msg, "SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 10.0.0.1;branch=z9hG4bK%d\r\n"
				                      "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\nCall-ID: hb%d\r\nCSeq: %d MESSAGE\r\n"
				                      "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%.*s", i, i, i + 1, bl, (int)bl, body);
			else
				n = d == 0 ? snprintf(msg, sizeof msg, "POST /m%d HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: %zu\r\n\r\n%.*s",
				                      i, bl, (int)bl, body)
				           : snprintf(msg, sizeof msg, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%.*s",
				                      bl, (int)bl, body);
			put(&cn->plain[d], msg, (size_t)n);
			for (int off = 0; off < n; off += 700)
				record(&cn->s[d], &w[d], 23, (uint8_t *)msg + off, (size_t)(n - off < 700 ? n - off : 700));
		}
	for (int d = 0; d < 2; d++) {
		if (w[d].ctx) EVP_CIPHER_CTX_free(w[d].ctx);
		if (w[d].gh) gcry_cipher_close(w[d].gh);
	}
	free(hs.p); free(b.p); free(fl.p);
	return 0;
}

/* ---- feeding: the flights in handshake order, as TCP segments ---- */

typedef struct feeder { tls_engine_t *e; uint32_t seq[2]; double ts; } feeder_t;

static void seg(feeder_t *fd, int dir, uint8_t flags, const uint8_t *p, size_t n, uint32_t seq)
{
	static const uint8_t cip[4] = { 10, 0, 0, 1 }, sip[4] = { 10, 0, 0, 2 };
	tls_tcp_segment_t s = { AF_INET, dir ? sip : cip, dir ? cip : sip, (uint16_t)(dir ? 5061 : 40001),
	                        (uint16_t)(dir ? 40001 : 5061), seq, fd->seq[1 - dir], flags, p, n };
	tls_engine_feed_tcp(fd->e, &s, fd->ts += 0.001);
}

/* Send p[n] of direction dir: whole, or in 37-byte segments with neighbours swapped. */
static void send_bytes(feeder_t *fd, int dir, const uint8_t *p, size_t n, bool mangle)
{
	if (!mangle) { seg(fd, dir, 0x18, p, n, fd->seq[dir]); fd->seq[dir] += (uint32_t)n; return; }
	size_t off = 0;
	while (off < n) {
		size_t a = n - off < 37 ? n - off : 37, b2 = n - off - a < 37 ? n - off - a : 37;
		if (b2) seg(fd, dir, 0x18, p + off + a, b2, fd->seq[dir] + (uint32_t)a);   /* the later one first */
		seg(fd, dir, 0x18, p + off, a, fd->seq[dir]);
		fd->seq[dir] += (uint32_t)(a + b2);
		off += a + b2;
	}
}

/* Record boundaries: the end offset of the k-th record of stream b. */
static size_t rec_end(const buf_t *b, int k)
{
	size_t off = 0;
	for (int i = 0; i < k && off + 5 <= b->n; i++) off += 5 + ((size_t)b->p[off + 3] << 8 | b->p[off + 4]);
	return off;
}

/* keyfile: what the engine gets; srv/der: the server's real key and certificate. With
 * wrong set, keyfile is another key: the session must fail as wrong_key, no plaintext. */
static void run(const hcase_t *hc, const char *keyfile, EVP_PKEY *srv, const uint8_t *der, size_t derl, int app, bool mangle,
                bool wrong)
{
	conn_t cn;
	memset(&cn, 0, sizeof cn);
	build(hc, srv, der, derl, app, &cn);
	tu_run_t r;
	memset(&r, 0, sizeof r);
	tls_callbacks_t cb = tu_callbacks(&r);
	tls_keystore_t *ks = tu_keystore(keyfile, NULL);
	tls_engine_t *e = tls_engine_new(NULL, &ks, 1, &cb);
	feeder_t fd = { e, { 1000, 9000 }, 1700000000.0 };
	seg(&fd, 0, 0x02, NULL, 0, fd.seq[0]++);
	seg(&fd, 1, 0x12, NULL, 0, fd.seq[1]++);
	/* c: ClientHello | s: ServerHello flight | c: CKE, CCS, Finished | s: CCS, Finished | data */
	size_t c1 = rec_end(&cn.s[0], 1), c2 = rec_end(&cn.s[0], 4), s1 = rec_end(&cn.s[1], 1), s2 = rec_end(&cn.s[1], 3);
	send_bytes(&fd, 0, cn.s[0].p, c1, mangle);
	send_bytes(&fd, 1, cn.s[1].p, s1, mangle);
	send_bytes(&fd, 0, cn.s[0].p + c1, c2 - c1, mangle);
	send_bytes(&fd, 1, cn.s[1].p + s1, s2 - s1, mangle);
	send_bytes(&fd, 0, cn.s[0].p + c2, cn.s[0].n - c2, mangle);
	send_bytes(&fd, 1, cn.s[1].p + s2, cn.s[1].n - s2, mangle);
	seg(&fd, 0, 0x11, NULL, 0, fd.seq[0]);
	seg(&fd, 1, 0x11, NULL, 0, fd.seq[1]);
	tls_engine_flush(e);
	tls_engine_free(e);
	tls_keystore_unref(ks);
	const tu_session_t *s = r.n_sess ? &r.sess[0] : NULL;
	size_t l0 = 0, l1 = 0;
	uint8_t *p0 = s ? tu_concat(&r, s->flow, 0, &l0) : NULL, *p1 = s ? tu_concat(&r, s->flow, 1, &l1) : NULL;
	if (wrong) {
		tap_ok(s && !s->decrypted && s->reason == TLS_REASON_WRONG_KEY && r.n_msgs == 0,
		       "%s with another server key: wrong_key, no plaintext (%s, %zu messages)", hc->label,
		       s ? tls_reason_name(s->reason) : "no session", r.n_msgs);
		free(p0); free(p1);
		for (int d = 0; d < 2; d++) { free(cn.s[d].p); free(cn.plain[d].p); }
		tu_run_free(&r);
		return;
	}
	bool ok = s && s->decrypted && s->version == hc->version && s->suite == hc->suite &&
	          s->key == (strcmp(hc->kx, "rsa") ? TLS_KEY_ECDHE_STATIC : TLS_KEY_RSA) &&
	          l0 == cn.plain[0].n && l1 == cn.plain[1].n && !memcmp(p0, cn.plain[0].p, l0) && !memcmp(p1, cn.plain[1].p, l1);
	tap_ok(ok, "%s %s%s: c2s %zu/%zu s2c %zu/%zu bytes byte-exact (%s, %zu messages)", hc->label,
	       app == TLSGEN_APP_SIP ? "SIP" : "HTTP", mangle ? ", 37-byte segments swapped" : "", l0, cn.plain[0].n, l1,
	       cn.plain[1].n, s ? tls_reason_name(s->reason) : "no session", r.n_msgs);
	free(p0); free(p1);
	for (int d = 0; d < 2; d++) { free(cn.s[d].p); free(cn.plain[d].p); }
	tu_run_free(&r);
}

static EVP_PKEY *load(const char *key, const char *crt, uint8_t **der, size_t *derl)
{
	FILE *f = fopen(key, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f) fclose(f);
	f = fopen(crt, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f) fclose(f);
	*der = NULL;
	int n = x ? i2d_X509(x, der) : -1;
	*derl = n > 0 ? (size_t)n : 0;
	X509_free(x);
	return n > 0 ? k : NULL;
}

int main(void)
{
	tls_engine_global_init();
	OSSL_PROVIDER *legacy = OSSL_PROVIDER_load(NULL, "legacy");
	OSSL_PROVIDER *deflt = OSSL_PROVIDER_load(NULL, "default");
	const char *kinds[3] = { "rsa2048", "p256", "p384" }, *names[3] = { "rsa", "p256", "p384" };
	char key[3][600], crt[3][600];
	EVP_PKEY *pk[3];
	uint8_t *der[3];
	size_t derl[3];
	for (int i = 0; i < 3; i++) {
		snprintf(key[i], sizeof key[i], "%s/%s.key", tu_tmpdir(), names[i]);
		snprintf(crt[i], sizeof crt[i], "%s/%s.crt", tu_tmpdir(), names[i]);
		if (tlsgen_make_key(kinds[i], key[i], crt[i], NULL) != 0 || !(pk[i] = load(key[i], crt[i], &der[i], &derl[i]))) {
			tap_ok(0, "make %s key", kinds[i]);
			return tap_done();
		}
	}
	char other[600];
	snprintf(other, sizeof other, "%s/other.key", tu_tmpdir());
	if (tlsgen_make_key("p256", other, NULL, NULL) != 0) { tap_ok(0, "make second P-256 key"); return tap_done(); }
	for (size_t c = 0; c < sizeof CASES / sizeof *CASES; c++) {
		const hcase_t *hc = &CASES[c];
		int k = !strcmp(hc->kx, "rsa") ? 0 : !strcmp(hc->kx, "p256") ? 1 : 2;
		if (hc->cipher && !strcmp(hc->cipher, "IDEA-CBC")) {
			if (gcry_cipher_test_algo(GCRY_CIPHER_IDEA)) { tap_skip("IDEA not in this libgcrypt"); continue; }
		} else {
			EVP_CIPHER *ci = hc->cipher ? EVP_CIPHER_fetch(NULL, hc->cipher, NULL) : NULL;
			if (hc->cipher && !ci) { tap_skip("cipher not in this libcrypto (legacy provider missing)"); continue; }
			EVP_CIPHER_free(ci);
		}
		run(hc, key[k], pk[k], der[k], derl[k], TLSGEN_APP_SIP, false, false);
		run(hc, key[k], pk[k], der[k], derl[k], TLSGEN_APP_HTTP, true, false);
		if (k == 1 && hc->version == 0x0303 && hc->block)        /* static ECDH: a P-256 key of another server */
			run(hc, other, pk[k], der[k], derl[k], TLSGEN_APP_SIP, false, true);
	}
	for (int i = 0; i < 3; i++) { EVP_PKEY_free(pk[i]); OPENSSL_free(der[i]); }
	if (legacy) OSSL_PROVIDER_unload(legacy);
	if (deflt) OSSL_PROVIDER_unload(deflt);
	return tap_done();
}
