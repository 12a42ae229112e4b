/*
 * cipher.c — the cipher-suite table and TLS record decryption (implements cipher.h).
 *
 * What: the table of suites the engine can decrypt (RSA, DHE_RSA, ECDHE_RSA, ECDHE_ECDSA
 * key exchange with AES-CBC+HMAC, AES-GCM, AES-CCM(_8), ChaCha20-Poly1305, plus the five
 * TLS 1.3 suites), names for a few common suites it cannot decrypt (so reports can say
 * which one was negotiated), and per-direction record protection removal through
 * libgcrypt:
 *   - TLS 1.2 AES-GCM / AES-CCM / CCM_8 (RFC 5288, RFC 6655, RFC 7251): nonce = 4-byte
 *     salt || 8-byte explicit nonce, AAD = seq || type || version || plaintext length;
 *   - TLS 1.2 ChaCha20-Poly1305 (RFC 7905): nonce = IV xor seq, no explicit nonce;
 *   - AES-CBC with HMAC-SHA1/256/384, MAC-then-encrypt and encrypt-then-MAC (RFC 7366),
 *     explicit IVs (TLS 1.1+) or chained IVs (TLS 1.0);
 *   - TLS 1.3 AEAD (RFC 8446 §5.2-5.3): nonce = IV xor seq, AAD = record header, inner
 *     content type recovered after stripping zero padding.
 *
 * Why this shape: a passive decoder sees every record of every decrypted session, so the
 * per-record path allocates nothing (handles are opened and keyed once at init; a record
 * only sets an IV/nonce), and nothing unauthenticated is ever handed out: every MAC and
 * tag is verified, and plaintext decrypted in place from a record that then fails is
 * wiped. Failures leave the state untouched (seq / chained IV advance only on success), so
 * the caller can classify a failure (-1 wrong key / tampering, -2 malformed) and decide.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "cipher.h"

#include <string.h>
#include <gcrypt.h>

/* ---- suite table ---- */

#define CBC(id, name, kx, klen, mac, maclen, prf, t12) \
	{ id, name, kx, TLS_BULK_AES_CBC, klen, 16, mac, maclen, 0, prf, t12 }
#define AEAD(id, name, kx, bulk, klen, ivlen, tag, prf) \
	{ id, name, kx, bulk, klen, ivlen, TLS_HASH_NONE, 0, tag, prf, true }

/* iv_len is the number of IV bytes taken from the key block (RFC 5246 §6.3): 4 for
 * GCM/CCM (the salt), 12 for ChaCha20-Poly1305. For CBC it is 16, but only TLS 1.0 takes
 * IVs from the key block; TLS 1.1+ CBC key blocks contain no IVs (the caller decides).
 * The TLS 1.2 PRF hash is SHA-384 for *_SHA384 suites and SHA-256 otherwise (TLS 1.0/1.1
 * always use MD5+SHA-1: the caller's business). */
static const tls_suite_t suites[] = {
	/* RSA key exchange */
	CBC(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", TLS_KX_RSA, 16, TLS_HASH_SHA1, 20, TLS_HASH_SHA256, false),
	CBC(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", TLS_KX_RSA, 32, TLS_HASH_SHA1, 20, TLS_HASH_SHA256, false),
	CBC(0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", TLS_KX_RSA, 16, TLS_HASH_SHA256, 32, TLS_HASH_SHA256, true),
	CBC(0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", TLS_KX_RSA, 32, TLS_HASH_SHA256, 32, TLS_HASH_SHA256, true),
	AEAD(0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", TLS_KX_RSA, TLS_BULK_AES_GCM, 16, 4, 16, TLS_HASH_SHA256),
	AEAD(0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", TLS_KX_RSA, TLS_BULK_AES_GCM, 32, 4, 16, TLS_HASH_SHA384),
	AEAD(0xC09C, "TLS_RSA_WITH_AES_128_CCM", TLS_KX_RSA, TLS_BULK_AES_CCM, 16, 4, 16, TLS_HASH_SHA256),
	AEAD(0xC09D, "TLS_RSA_WITH_AES_256_CCM", TLS_KX_RSA, TLS_BULK_AES_CCM, 32, 4, 16, TLS_HASH_SHA256),
	AEAD(0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8", TLS_KX_RSA, TLS_BULK_AES_CCM_8, 16, 4, 8, TLS_HASH_SHA256),
	AEAD(0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8", TLS_KX_RSA, TLS_BULK_AES_CCM_8, 32, 4, 8, TLS_HASH_SHA256),
	/* DHE_RSA */
	CBC(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", TLS_KX_DHE_RSA, 16, TLS_HASH_SHA1, 20, TLS_HASH_SHA256, false),
	CBC(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", TLS_KX_DHE_RSA, 32, TLS_HASH_SHA1, 20, TLS_HASH_SHA256, false),
	CBC(0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", TLS_KX_DHE_RSA, 16, TLS_HASH_SHA256, 32, TLS_HASH_SHA256, true),
	CBC(0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", TLS_KX_DHE_RSA, 32, TLS_HASH_SHA256, 32, TLS_HASH_SHA256, true),
	AEAD(0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", TLS_KX_DHE_RSA, TLS_BULK_AES_GCM, 16, 4, 16, TLS_HASH_SHA256),
	AEAD(0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", TLS_KX_DHE_RSA, TLS_BULK_AES_GCM, 32, 4, 16, TLS_HASH_SHA384),
	AEAD(0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", TLS_KX_DHE_RSA, TLS_BULK_CHACHA20_POLY1305, 32, 12, 16, TLS_HASH_SHA256),
	AEAD(0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM", TLS_KX_DHE_RSA, TLS_BULK_AES_CCM, 16, 4, 16, TLS_HASH_SHA256),
	AEAD(0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM", TLS_KX_DHE_RSA, TLS_BULK_AES_CCM, 32, 4, 16, TLS_HASH_SHA256),
	AEAD(0xC0A2, "TLS_DHE_RSA_WITH_AES_128_CCM_8", TLS_KX_DHE_RSA, TLS_BULK_AES_CCM_8, 16, 4, 8, TLS_HASH_SHA256),
	AEAD(0xC0A3, "TLS_DHE_RSA_WITH_AES_256_CCM_8", TLS_KX_DHE_RSA, TLS_BULK_AES_CCM_8, 32, 4, 8, TLS_HASH_SHA256),
	/* ECDHE_RSA */
	CBC(0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", TLS_KX_ECDHE_RSA, 16, TLS_HASH_SHA1, 20, TLS_HASH_SHA256, false),
	CBC(0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", TLS_KX_ECDHE_RSA, 32, TLS_HASH_SHA1, 20, TLS_HASH_SHA256, false),
	CBC(0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", TLS_KX_ECDHE_RSA, 16, TLS_HASH_SHA256, 32, TLS_HASH_SHA256, true),
	CBC(0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", TLS_KX_ECDHE_RSA, 32, TLS_HASH_SHA384, 48, TLS_HASH_SHA384, true),
	AEAD(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", TLS_KX_ECDHE_RSA, TLS_BULK_AES_GCM, 16, 4, 16, TLS_HASH_SHA256),
	AEAD(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", TLS_KX_ECDHE_RSA, TLS_BULK_AES_GCM, 32, 4, 16, TLS_HASH_SHA384),
	AEAD(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", TLS_KX_ECDHE_RSA, TLS_BULK_CHACHA20_POLY1305, 32, 12, 16, TLS_HASH_SHA256),
	/* ECDHE_ECDSA */
	CBC(0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", TLS_KX_ECDHE_ECDSA, 16, TLS_HASH_SHA1, 20, TLS_HASH_SHA256, false),
	CBC(0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", TLS_KX_ECDHE_ECDSA, 32, TLS_HASH_SHA1, 20, TLS_HASH_SHA256, false),
	CBC(0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", TLS_KX_ECDHE_ECDSA, 16, TLS_HASH_SHA256, 32, TLS_HASH_SHA256, true),
	CBC(0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", TLS_KX_ECDHE_ECDSA, 32, TLS_HASH_SHA384, 48, TLS_HASH_SHA384, true),
	AEAD(0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", TLS_KX_ECDHE_ECDSA, TLS_BULK_AES_GCM, 16, 4, 16, TLS_HASH_SHA256),
	AEAD(0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", TLS_KX_ECDHE_ECDSA, TLS_BULK_AES_GCM, 32, 4, 16, TLS_HASH_SHA384),
	AEAD(0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", TLS_KX_ECDHE_ECDSA, TLS_BULK_CHACHA20_POLY1305, 32, 12, 16, TLS_HASH_SHA256),
	AEAD(0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", TLS_KX_ECDHE_ECDSA, TLS_BULK_AES_CCM, 16, 4, 16, TLS_HASH_SHA256),
	AEAD(0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", TLS_KX_ECDHE_ECDSA, TLS_BULK_AES_CCM, 32, 4, 16, TLS_HASH_SHA256),
	AEAD(0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", TLS_KX_ECDHE_ECDSA, TLS_BULK_AES_CCM_8, 16, 4, 8, TLS_HASH_SHA256),
	AEAD(0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", TLS_KX_ECDHE_ECDSA, TLS_BULK_AES_CCM_8, 32, 4, 8, TLS_HASH_SHA256),
	/* TLS 1.3 (RFC 8446 Appendix B.4): iv_len is the 12-byte per-record nonce base */
	AEAD(0x1301, "TLS_AES_128_GCM_SHA256", TLS_KX_TLS13, TLS_BULK_AES_GCM, 16, 12, 16, TLS_HASH_SHA256),
	AEAD(0x1302, "TLS_AES_256_GCM_SHA384", TLS_KX_TLS13, TLS_BULK_AES_GCM, 32, 12, 16, TLS_HASH_SHA384),
	AEAD(0x1303, "TLS_CHACHA20_POLY1305_SHA256", TLS_KX_TLS13, TLS_BULK_CHACHA20_POLY1305, 32, 12, 16, TLS_HASH_SHA256),
	AEAD(0x1304, "TLS_AES_128_CCM_SHA256", TLS_KX_TLS13, TLS_BULK_AES_CCM, 16, 12, 16, TLS_HASH_SHA256),
	AEAD(0x1305, "TLS_AES_128_CCM_8_SHA256", TLS_KX_TLS13, TLS_BULK_AES_CCM_8, 16, 12, 8, TLS_HASH_SHA256),
};

/* Names only: common suites the engine cannot decrypt, so that a session report can say
 * what was negotiated ("unsupported_suite: TLS_RSA_WITH_3DES_EDE_CBC_SHA"). */
static const struct { uint16_t id; const char *name; } unsupported_names[] = {
	{ 0x0000, "TLS_NULL_WITH_NULL_NULL" },
	{ 0x0001, "TLS_RSA_WITH_NULL_MD5" },
	{ 0x0002, "TLS_RSA_WITH_NULL_SHA" },
	{ 0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5" },
	{ 0x0004, "TLS_RSA_WITH_RC4_128_MD5" },
	{ 0x0005, "TLS_RSA_WITH_RC4_128_SHA" },
	{ 0x0009, "TLS_RSA_WITH_DES_CBC_SHA" },
	{ 0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA" },
	{ 0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA" },
	{ 0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA" },
	{ 0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA" },
	{ 0x003A, "TLS_DH_anon_WITH_AES_256_CBC_SHA" },
	{ 0x003B, "TLS_RSA_WITH_NULL_SHA256" },
	{ 0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256" },
	{ 0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA" },
	{ 0x006A, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256" },
	{ 0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA" },
	{ 0x008C, "TLS_PSK_WITH_AES_128_CBC_SHA" },
	{ 0x008D, "TLS_PSK_WITH_AES_256_CBC_SHA" },
	{ 0x0096, "TLS_RSA_WITH_SEED_CBC_SHA" },
	{ 0x00A2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256" },
	{ 0x00A3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384" },
	{ 0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256" },
	{ 0x00A9, "TLS_PSK_WITH_AES_256_GCM_SHA384" },
	{ 0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV" },
	{ 0x5600, "TLS_FALLBACK_SCSV" },
	{ 0xC004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA" },
	{ 0xC005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA" },
	{ 0xC006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA" },
	{ 0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA" },
	{ 0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xC00E, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA" },
	{ 0xC00F, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA" },
	{ 0xC010, "TLS_ECDHE_RSA_WITH_NULL_SHA" },
	{ 0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA" },
	{ 0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xC018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA" },
	{ 0xC02D, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256" },
	{ 0xC02E, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384" },
	{ 0xC031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256" },
	{ 0xC032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384" },
	{ 0xC035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA" },
	{ 0xC050, "TLS_RSA_WITH_ARIA_128_GCM_SHA256" },
	{ 0xC0A4, "TLS_PSK_WITH_AES_128_CCM" },
	{ 0xCCAB, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xCCAC, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xCCAD, "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256" },
};

const tls_suite_t *tls_suite_lookup(uint16_t id)
{
	size_t i;
	for (i = 0; i < sizeof suites / sizeof suites[0]; i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

const char *tls_suite_name(uint16_t id)
{
	const tls_suite_t *s = tls_suite_lookup(id);
	size_t i;
	if (s)
		return s->name;
	for (i = 0; i < sizeof unsupported_names / sizeof unsupported_names[0]; i++)
		if (unsupported_names[i].id == id)
			return unsupported_names[i].name;
	return NULL;
}

/* ---- helpers ---- */

static int ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t d = 0;
	size_t i;
	for (i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	int i;
	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* seq(8) || type || version(2) || length(2): the TLS 1.2 AEAD AAD and the HMAC prefix. */
static void build_hdr13(uint8_t hdr[13], uint64_t seq, uint8_t type, uint16_t ver, size_t len)
{
	put_u64(hdr, seq);
	hdr[8] = type;
	hdr[9] = (uint8_t)(ver >> 8);
	hdr[10] = (uint8_t)ver;
	hdr[11] = (uint8_t)(len >> 8);
	hdr[12] = (uint8_t)len;
}

/* 12-byte nonce = iv xor (0^4 || seq64) (RFC 7905 §2, RFC 8446 §5.3). */
static void xor_nonce(uint8_t nonce[12], const uint8_t iv[12], uint64_t seq)
{
	int i;
	memcpy(nonce, iv, 12);
	for (i = 11; i >= 4; i--) {
		nonce[i] ^= (uint8_t)seq;
		seq >>= 8;
	}
}

static int bulk_is_aead(tls_bulk_t b)
{
	return b == TLS_BULK_AES_GCM || b == TLS_BULK_AES_CCM || b == TLS_BULK_AES_CCM_8 ||
	       b == TLS_BULK_CHACHA20_POLY1305;
}

/* Open and key the bulk cipher handle for suite s. */
static int open_cipher(tls_cipher_state_t *cs, const tls_suite_t *s, const uint8_t *key)
{
	gcry_cipher_hd_t hd = NULL;
	int algo, mode;

	switch (s->bulk) {
	case TLS_BULK_AES_GCM:  mode = GCRY_CIPHER_MODE_GCM; break;
	case TLS_BULK_AES_CCM:
	case TLS_BULK_AES_CCM_8: mode = GCRY_CIPHER_MODE_CCM; break;
	case TLS_BULK_AES_CBC:  mode = GCRY_CIPHER_MODE_CBC; break;
	case TLS_BULK_CHACHA20_POLY1305: mode = GCRY_CIPHER_MODE_POLY1305; break;
	default: return -1;
	}
	if (s->bulk == TLS_BULK_CHACHA20_POLY1305) {
		if (s->key_len != 32)
			return -1;
		algo = GCRY_CIPHER_CHACHA20;
	} else if (s->key_len == 16) {
		algo = GCRY_CIPHER_AES128;
	} else if (s->key_len == 32) {
		algo = GCRY_CIPHER_AES256;
	} else {
		return -1;
	}
	if (gcry_cipher_open(&hd, algo, mode, 0) != 0)
		return -1;
	if (gcry_cipher_setkey(hd, key, s->key_len) != 0) {
		gcry_cipher_close(hd);
		return -1;
	}
	cs->hd = hd;
	return 0;
}

/* ---- init / free ---- */

int tls_cipher_init(tls_cipher_state_t *cs, const tls_suite_t *s, uint16_t version, bool etm,
                    const uint8_t *key, const uint8_t *iv, const uint8_t *mac_key)
{
	if (!cs)
		return -1;
	memset(cs, 0, sizeof *cs);
	if (!s || !key || s->kx == TLS_KX_TLS13)
		return -1;
	if (version < 0x0301 || version > 0x0303)
		return -1; /* SSL 3.0 (different MAC) and DTLS are not supported */
	if (s->min_tls12 && version < 0x0303)
		return -1;

	switch (s->bulk) {
	case TLS_BULK_AES_GCM:
	case TLS_BULK_AES_CCM:
	case TLS_BULK_AES_CCM_8:
		if (!iv || s->iv_len != 4)
			return -1;
		memcpy(cs->iv, iv, 4);
		break;
	case TLS_BULK_CHACHA20_POLY1305:
		if (!iv || s->iv_len != 12)
			return -1;
		memcpy(cs->iv, iv, 12);
		break;
	case TLS_BULK_AES_CBC:
		if (!mac_key || s->mac_len == 0 || s->mac_len > sizeof cs->mac_key ||
		    s->mac_len != tls_hash_len(s->mac))
			return -1;
		if (version == 0x0301) {
			if (!iv)
				return -1;
			memcpy(cs->iv, iv, 16);
		}
		memcpy(cs->mac_key, mac_key, s->mac_len);
		break;
	default:
		return -1;
	}

	if (s->bulk == TLS_BULK_AES_CBC) {
		gcry_md_hd_t md = NULL;
		int algo = s->mac == TLS_HASH_SHA1 ? GCRY_MD_SHA1 :
		           s->mac == TLS_HASH_SHA256 ? GCRY_MD_SHA256 :
		           s->mac == TLS_HASH_SHA384 ? GCRY_MD_SHA384 : 0;
		if (!algo || gcry_md_open(&md, algo, GCRY_MD_FLAG_HMAC) != 0)
			goto fail;
		if (gcry_md_setkey(md, cs->mac_key, s->mac_len) != 0) {
			gcry_md_close(md);
			goto fail;
		}
		cs->mac_hd = md;
	}
	if (open_cipher(cs, s, key) != 0)
		goto fail;
	cs->suite = s;
	cs->version = version;
	cs->etm = etm && s->bulk == TLS_BULK_AES_CBC;
	cs->tls13 = false;
	cs->seq = 0;
	return 0;
fail:
	tls_cipher_free(cs);
	return -1;
}

int tls13_cipher_init(tls_cipher_state_t *cs, const tls_suite_t *s, const uint8_t *secret, size_t slen)
{
	uint8_t key[32];
	int rc = -1;

	if (!cs)
		return -1;
	memset(cs, 0, sizeof *cs);
	if (!s || !secret || s->kx != TLS_KX_TLS13 || !bulk_is_aead(s->bulk) || s->iv_len != 12 ||
	    s->key_len > sizeof key)
		return -1;
	if (tls13_hkdf_expand_label(s->prf, secret, slen, "key", NULL, 0, key, s->key_len) != 0 ||
	    tls13_hkdf_expand_label(s->prf, secret, slen, "iv", NULL, 0, cs->iv, 12) != 0)
		goto out;
	if (open_cipher(cs, s, key) != 0)
		goto out;
	cs->suite = s;
	cs->version = 0x0304;
	cs->tls13 = true;
	cs->etm = false;
	cs->seq = 0;
	rc = 0;
out:
	tls_wipe(key, sizeof key);
	if (rc != 0)
		tls_cipher_free(cs);
	return rc;
}

void tls_cipher_free(tls_cipher_state_t *cs)
{
	if (!cs)
		return;
	if (cs->hd)
		gcry_cipher_close((gcry_cipher_hd_t)cs->hd); /* libgcrypt wipes the key schedule */
	if (cs->mac_hd)
		gcry_md_close((gcry_md_hd_t)cs->mac_hd);
	tls_wipe(cs, sizeof *cs);
}

/* ---- record decryption ---- */

/* AEAD open: setiv(nonce), [CCM lengths], AAD, decrypt ct in place, check tag. */
static int aead_open(tls_cipher_state_t *cs, const uint8_t nonce[12], const uint8_t *aad,
                     size_t aadlen, uint8_t *ct, size_t ctlen, const uint8_t *tag, size_t taglen)
{
	gcry_cipher_hd_t hd = (gcry_cipher_hd_t)cs->hd;

	gcry_cipher_reset(hd);
	if (gcry_cipher_setiv(hd, nonce, 12) != 0)
		return -2;
	if (cs->suite->bulk == TLS_BULK_AES_CCM || cs->suite->bulk == TLS_BULK_AES_CCM_8) {
		uint64_t params[3] = { ctlen, aadlen, taglen };
		if (gcry_cipher_ctl(hd, GCRYCTL_SET_CCM_LENGTHS, params, sizeof params) != 0)
			return -2;
	}
	if (gcry_cipher_authenticate(hd, aad, aadlen) != 0)
		return -2;
	if (ctlen && gcry_cipher_decrypt(hd, ct, ctlen, NULL, 0) != 0) {
		tls_wipe(ct, ctlen);
		return -1;
	}
	if (gcry_cipher_checktag(hd, tag, taglen) != 0) {
		tls_wipe(ct, ctlen); /* never leave unauthenticated plaintext behind */
		return -1;
	}
	return 0;
}

/* HMAC(mac_key, seq || type || version || len || data[0..dlen]) compared with mac. */
static int cbc_mac_ok(tls_cipher_state_t *cs, uint8_t type, uint16_t ver,
                      const uint8_t *data, size_t dlen, const uint8_t *mac)
{
	gcry_md_hd_t md = (gcry_md_hd_t)cs->mac_hd;
	int algo = gcry_md_get_algo(md);
	uint8_t hdr[13];
	const unsigned char *d;

	build_hdr13(hdr, cs->seq, type, ver, dlen);
	gcry_md_reset(md);
	gcry_md_write(md, hdr, sizeof hdr);
	if (dlen)
		gcry_md_write(md, data, dlen);
	d = gcry_md_read(md, algo);
	return d && ct_equal(d, mac, cs->suite->mac_len);
}

/* Check TLS CBC padding of p[0..n): last byte = pad, the pad bytes before it all equal
 * pad, and pad + 1 + reserve <= n. Returns the padding-free length or (size_t)-1. */
static size_t cbc_unpad(const uint8_t *p, size_t n, size_t reserve)
{
	uint8_t pad, bad = 0;
	size_t i;
	if (n == 0)
		return (size_t)-1;
	pad = p[n - 1];
	if ((size_t)pad + 1 + reserve > n)
		return (size_t)-1;
	for (i = 0; i <= pad; i++)
		bad |= p[n - 1 - i] ^ pad;
	if (bad)
		return (size_t)-1;
	return n - pad - 1;
}

static int decrypt_cbc(tls_cipher_state_t *cs, uint8_t type, uint16_t ver,
                       uint8_t *frag, size_t flen, uint8_t **plain, size_t *plen)
{
	gcry_cipher_hd_t hd = (gcry_cipher_hd_t)cs->hd;
	const size_t bs = 16, maclen = cs->suite->mac_len;
	const size_t ivlen = cs->version >= 0x0302 ? bs : 0; /* explicit IV (TLS 1.1+) */
	uint8_t next_iv[16];
	uint8_t *ct;
	size_t enclen, ctlen, n;

	if (cs->etm) {
		/* RFC 7366: IV || ENC(content || padding || pad_len) || MAC, the MAC over
		 * seq || type || version || len(IV + ciphertext) || IV + ciphertext. */
		if (flen < ivlen + bs + maclen)
			return -2;
		enclen = flen - maclen;
		if ((enclen - ivlen) % bs)
			return -2;
		if (!cbc_mac_ok(cs, type, ver, frag, enclen, frag + enclen))
			return -1;
	} else {
		enclen = flen;
		if (enclen < ivlen + bs || (enclen - ivlen) % bs || enclen - ivlen < maclen + 1)
			return -2;
	}
	ct = frag + ivlen;
	ctlen = enclen - ivlen;
	memcpy(next_iv, frag + enclen - bs, bs); /* TLS 1.0: chains into the next record */

	if (gcry_cipher_setiv(hd, ivlen ? frag : cs->iv, bs) != 0 ||
	    gcry_cipher_decrypt(hd, ct, ctlen, NULL, 0) != 0) {
		tls_wipe(ct, ctlen);
		return -1;
	}

	if (cs->etm) {
		n = cbc_unpad(ct, ctlen, 0);
		if (n == (size_t)-1) {
			tls_wipe(ct, ctlen);
			return -1;
		}
	} else {
		n = cbc_unpad(ct, ctlen, maclen);
		if (n == (size_t)-1) {
			tls_wipe(ct, ctlen);
			return -1;
		}
		n -= maclen;
		if (!cbc_mac_ok(cs, type, ver, ct, n, ct + n)) {
			tls_wipe(ct, ctlen);
			return -1;
		}
	}
	if (!ivlen)
		memcpy(cs->iv, next_iv, bs);
	*plain = ct;
	*plen = n;
	return 0;
}

int tls_cipher_decrypt(tls_cipher_state_t *cs, uint8_t *ctype, uint16_t rec_version,
                       uint8_t *frag, size_t flen, uint8_t **plain, size_t *plen)
{
	const tls_suite_t *s;
	uint8_t nonce[12], aad[13];
	size_t tag, ctlen;
	int rc;

	if (plain)
		*plain = NULL;
	if (plen)
		*plen = 0;
	if (!cs || !cs->suite || !cs->hd || !ctype || !plain || !plen || (!frag && flen))
		return -2;
	s = cs->suite;
	tag = s->tag_len;

	if (cs->tls13) {
		/* RFC 8446 §5.2: TLSCiphertext.encrypted_record = AEAD(TLSInnerPlaintext);
		 * additional_data = opaque_type || legacy_record_version || length. */
		size_t i;
		if (flen < tag + 1 || flen > 0xFFFF)
			return -2;
		ctlen = flen - tag;
		xor_nonce(nonce, cs->iv, cs->seq);
		aad[0] = *ctype;
		aad[1] = (uint8_t)(rec_version >> 8);
		aad[2] = (uint8_t)rec_version;
		aad[3] = (uint8_t)(flen >> 8);
		aad[4] = (uint8_t)flen;
		rc = aead_open(cs, nonce, aad, 5, frag, ctlen, frag + ctlen, tag);
		if (rc != 0)
			return rc;
		/* TLSInnerPlaintext = content || ContentType type || uint8 zeros[pad] */
		i = ctlen;
		while (i > 0 && frag[i - 1] == 0)
			i--;
		if (i == 0)
			return -2; /* no content type: malformed (authenticated, though) */
		*ctype = frag[i - 1];
		*plain = frag;
		*plen = i - 1;
		cs->seq++;
		return 0;
	}

	switch (s->bulk) {
	case TLS_BULK_AES_GCM:
	case TLS_BULK_AES_CCM:
	case TLS_BULK_AES_CCM_8:
		/* RFC 5288 §3 / RFC 6655 §3: explicit_nonce(8) || ciphertext || tag */
		if (flen < 8 + tag)
			return -2;
		ctlen = flen - 8 - tag;
		if (ctlen > 0xFFFF)
			return -2;
		memcpy(nonce, cs->iv, 4);
		memcpy(nonce + 4, frag, 8);
		build_hdr13(aad, cs->seq, *ctype, rec_version, ctlen);
		rc = aead_open(cs, nonce, aad, 13, frag + 8, ctlen, frag + 8 + ctlen, tag);
		if (rc != 0)
			return rc;
		*plain = frag + 8;
		*plen = ctlen;
		break;
	case TLS_BULK_CHACHA20_POLY1305:
		/* RFC 7905: ciphertext || tag, nonce = iv xor seq */
		if (flen < tag)
			return -2;
		ctlen = flen - tag;
		if (ctlen > 0xFFFF)
			return -2;
		xor_nonce(nonce, cs->iv, cs->seq);
		build_hdr13(aad, cs->seq, *ctype, rec_version, ctlen);
		rc = aead_open(cs, nonce, aad, 13, frag, ctlen, frag + ctlen, tag);
		if (rc != 0)
			return rc;
		*plain = frag;
		*plen = ctlen;
		break;
	case TLS_BULK_AES_CBC:
		if (!cs->mac_hd)
			return -2;
		if (flen > 0xFFFF)
			return -2;
		rc = decrypt_cbc(cs, *ctype, rec_version, frag, flen, plain, plen);
		if (rc != 0)
			return rc;
		break;
	default:
		return -2;
	}
	cs->seq++;
	return 0;
}
