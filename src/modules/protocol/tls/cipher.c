/*
 * cipher.c — TLS record decryption (implements cipher.h; the suite table is in
 * cipher_suites.c).
 *
 * What: per-direction record protection removal through libgcrypt:
 *   - TLS 1.2 AES/Camellia/ARIA-GCM, AES-CCM / CCM_8 (RFC 5288, RFC 6655, RFC 6367,
 *     RFC 7251): nonce = 4-byte salt || 8-byte explicit nonce, AAD = seq || type ||
 *     version || plaintext length;
 *   - TLS 1.2 ChaCha20-Poly1305 (RFC 7905): nonce = IV xor seq, no explicit nonce;
 *   - CBC (AES, Camellia, ARIA, 3DES-EDE, DES, IDEA, SEED; 16- or 8-byte blocks) with
 *     HMAC-SHA1/256/384, MAC-then-encrypt and encrypt-then-MAC (RFC 7366), explicit IVs
 *     (TLS 1.1+) or chained IVs (SSL 3.0, TLS 1.0);
 *   - RC4-128 (the keystream runs on across the records of a direction) and NULL
 *     encryption, both with HMAC-MD5/SHA1/SHA256 — the MAC is verified all the same;
 *   - SSL 3.0 (RFC 6101 §5.2.3): its own MAC, hash(secret || pad_2 || hash(secret ||
 *     pad_1 || seq || type || length || data)), and CBC padding whose bytes are arbitrary
 *     (only the length byte counts, and it must be shorter than a block);
 *   - TLS 1.3 AEAD (RFC 8446 §5.2-5.3): nonce = IV xor seq, AAD = record header, inner
 *     content type recovered after stripping zero padding.
 *
 * Why this shape: a passive decoder sees every record of every decrypted session, so the
 * per-record path allocates nothing (handles are opened and keyed once at init; a record
 * only sets an IV/nonce), and nothing unauthenticated is ever handed out: every MAC and
 * tag is verified, and plaintext decrypted in place from a record that then fails is
 * wiped. Failures leave the state untouched (seq / chained IV advance only on success;
 * RC4 excepted: a stream cipher cannot rewind), so the caller can classify a failure
 * (-1 wrong key / tampering, -2 malformed) and decide. No cipher is implemented here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "cipher.h"

#include <stdlib.h>
#include <string.h>
#include <gcrypt.h>

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

/* libgcrypt algorithm and mode of a suite's bulk cipher; 0 when unknown/unavailable. */
static int bulk_algo(const tls_suite_t *s, int *mode)
{
	bool k16 = s->key_len == 16, k32 = s->key_len == 32;
	*mode = tls_bulk_is_cbc(s->bulk) ? GCRY_CIPHER_MODE_CBC : GCRY_CIPHER_MODE_GCM;
	switch (s->bulk) {
	case TLS_BULK_AES_GCM:
	case TLS_BULK_AES_CBC:
		return k16 ? GCRY_CIPHER_AES128 : k32 ? GCRY_CIPHER_AES256 : 0;
	case TLS_BULK_AES_CCM:
	case TLS_BULK_AES_CCM_8:
		*mode = GCRY_CIPHER_MODE_CCM;
		return k16 ? GCRY_CIPHER_AES128 : k32 ? GCRY_CIPHER_AES256 : 0;
	case TLS_BULK_CHACHA20_POLY1305:
		*mode = GCRY_CIPHER_MODE_POLY1305;
		return k32 ? GCRY_CIPHER_CHACHA20 : 0;
	case TLS_BULK_CAMELLIA_GCM:
	case TLS_BULK_CAMELLIA_CBC:
		return k16 ? GCRY_CIPHER_CAMELLIA128 : k32 ? GCRY_CIPHER_CAMELLIA256 : 0;
#if GCRYPT_VERSION_NUMBER >= 0x010b00
	case TLS_BULK_ARIA_GCM:
	case TLS_BULK_ARIA_CBC:
		return k16 ? GCRY_CIPHER_ARIA128 : k32 ? GCRY_CIPHER_ARIA256 : 0;
#endif
	case TLS_BULK_3DES_EDE_CBC: return s->key_len == 24 ? GCRY_CIPHER_3DES : 0;
	case TLS_BULK_DES_CBC:      return s->key_len == 8 ? GCRY_CIPHER_DES : 0;
	case TLS_BULK_IDEA_CBC:     return k16 ? GCRY_CIPHER_IDEA : 0;
	case TLS_BULK_SEED_CBC:     return k16 ? GCRY_CIPHER_SEED : 0;
	case TLS_BULK_RC4_128:
		*mode = GCRY_CIPHER_MODE_STREAM;
		return k16 ? GCRY_CIPHER_ARCFOUR : 0;
	default:
		return 0;
	}
}

/* Open and key the bulk cipher handle for suite s (nothing for NULL encryption). */
static int open_cipher(tls_cipher_state_t *cs, const tls_suite_t *s, const uint8_t *key)
{
	gcry_cipher_hd_t hd = NULL;
	gcry_error_t err;
	int algo, mode;

	if (s->bulk == TLS_BULK_NULL)
		return 0;
	algo = bulk_algo(s, &mode);
	if (!algo || !key)
		return -1;
	if (tls_bulk_is_cbc(s->bulk) && gcry_cipher_get_algo_blklen(algo) != s->iv_len)
		return -1;
	if (s->key_len > 32)
		return -1;
	if (gcry_cipher_open(&hd, algo, mode, 0) != 0)
		return -1;
	err = gcry_cipher_setkey(hd, key, s->key_len);
	/* DES/3DES: a weak key is still set (libgcrypt reports it; the peers used it) */
	if (err != 0 && gcry_err_code(err) != GPG_ERR_WEAK_KEY) {
		gcry_cipher_close(hd);
		return -1;
	}
	cs->hd = hd;
	return 0;
}

/* Room for the suite's key material (bulk key + `extra` bytes), kept in cs->km. */
static uint8_t *km_alloc(tls_cipher_state_t *cs, const tls_suite_t *s, size_t extra)
{
	size_t n = (size_t)s->key_len + extra;
	if (n == 0 || n > 255)
		return NULL;
	cs->km = malloc(n);
	if (cs->km)
		cs->km_len = (uint8_t)n;
	return cs->km;
}

/* Open the MAC handle (CBC/stream/NULL suites): TLS HMAC keyed once with the MAC key
 * (cs->km after the bulk key); SSL 3.0 a plain hash, keyed by hand per record. */
static int open_mac(tls_cipher_state_t *cs, const tls_suite_t *s, uint16_t version)
{
	gcry_md_hd_t md = NULL;
	int algo = s->mac == TLS_HASH_SHA1 ? GCRY_MD_SHA1 :
	           s->mac == TLS_HASH_SHA256 ? GCRY_MD_SHA256 :
	           s->mac == TLS_HASH_SHA384 ? GCRY_MD_SHA384 :
	           s->mac == TLS_HASH_MD5 ? GCRY_MD_MD5 : 0;
	if (!algo || gcry_md_open(&md, algo, version == 0x0300 ? 0 : GCRY_MD_FLAG_HMAC) != 0)
		return -1;
	if (version != 0x0300 && gcry_md_setkey(md, cs->km + s->key_len, s->mac_len) != 0) {
		gcry_md_close(md);
		return -1;
	}
	cs->mac_hd = md;
	return 0;
}

/* ---- init / free ---- */

int tls_cipher_init(tls_cipher_state_t *cs, const tls_suite_t *s, uint16_t version, bool etm,
                    const uint8_t *key, const uint8_t *iv, const uint8_t *mac_key)
{
	bool cbc, aead;

	if (!cs)
		return -1;
	memset(cs, 0, sizeof *cs);
	if (!s || s->kx == TLS_KX_TLS13 || (!key && s->bulk != TLS_BULK_NULL))
		return -1;
	if (version < 0x0300 || version > 0x0303 || version < s->min_version || version > s->max_version)
		return -1; /* DTLS and TLS 1.3 have their own paths */
	cbc = tls_bulk_is_cbc(s->bulk);
	aead = tls_bulk_is_aead(s->bulk);

	if (aead) {
		size_t want = s->bulk == TLS_BULK_CHACHA20_POLY1305 ? 12 : 4;
		if (!iv || s->iv_len != want)
			return -1;
		memcpy(cs->iv, iv, want);
	} else {
		/* CBC, RC4, NULL: MAC key; CBC below TLS 1.1 also the key-block IV */
		if (!mac_key || s->mac_len == 0 || s->mac_len > 48 ||
		    s->mac_len != tls_hash_len(s->mac))
			return -1;
		if (version == 0x0300 && s->mac != TLS_HASH_MD5 && s->mac != TLS_HASH_SHA1)
			return -1;
		if (cbc && version <= 0x0301) {
			if (!iv || s->iv_len > sizeof cs->iv)
				return -1;
			memcpy(cs->iv, iv, s->iv_len);
		}
	}
	if (s->key_len > 32 || !km_alloc(cs, s, aead ? 0 : s->mac_len))
		goto fail;
	if (s->key_len)
		memcpy(cs->km, key, s->key_len);
	if (!aead)
		memcpy(cs->km + s->key_len, mac_key, s->mac_len);

	if (!aead && open_mac(cs, s, version) != 0)
		goto fail;
	if (open_cipher(cs, s, cs->km) != 0)
		goto fail;
	cs->suite = s;
	cs->version = version;
	cs->etm = etm && cbc && version >= 0x0301;
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
	if (!s || !secret || s->kx != TLS_KX_TLS13 || !tls_bulk_is_aead(s->bulk) || s->iv_len != 12 ||
	    s->key_len > sizeof key || slen == 0 || slen > TLS_MAX_HASH_LEN)
		return -1;
	if (tls13_hkdf_expand_label(s->prf, secret, slen, "key", NULL, 0, key, s->key_len) != 0 ||
	    tls13_hkdf_expand_label(s->prf, secret, slen, "iv", NULL, 0, cs->iv, 12) != 0)
		goto out;
	/* only the secret is kept: the key is derived again when a parked state reopens */
	if (!(cs->km = malloc(slen)))
		goto out;
	cs->km_len = (uint8_t)slen;
	memcpy(cs->km, secret, slen);
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

bool tls_cipher_park(tls_cipher_state_t *cs)
{
	if (!cs || !tls_cipher_is_open(cs))
		return false;
	if (cs->hd)
		gcry_cipher_close((gcry_cipher_hd_t)cs->hd); /* libgcrypt wipes the key schedule */
	if (cs->mac_hd)
		gcry_md_close((gcry_md_hd_t)cs->mac_hd);
	cs->hd = cs->mac_hd = NULL;
	cs->parked = true;
	return true;
}

/* Reopen a parked state's handles from its kept key material. Returns 0 or -1. */
static int unpark(tls_cipher_state_t *cs)
{
	const tls_suite_t *s = cs->suite;
	if (cs->tls13) {                             /* the key from the kept traffic secret */
		uint8_t key[32];
		int rc = s->key_len <= sizeof key &&
		         tls13_hkdf_expand_label(s->prf, cs->km, cs->km_len, "key", NULL, 0, key, s->key_len) == 0
		         ? open_cipher(cs, s, key) : -1;
		tls_wipe(key, sizeof key);
		if (rc != 0)
			return -1;
		cs->parked = false;
		return 0;
	}
	if (!tls_bulk_is_aead(s->bulk) && open_mac(cs, s, cs->version) != 0)
		return -1;
	if (open_cipher(cs, s, cs->km) != 0) {
		if (cs->mac_hd)
			gcry_md_close((gcry_md_hd_t)cs->mac_hd);
		cs->mac_hd = NULL;
		return -1;
	}
	cs->parked = false;
	return 0;
}

void tls_cipher_free(tls_cipher_state_t *cs)
{
	if (!cs)
		return;
	if (cs->hd)
		gcry_cipher_close((gcry_cipher_hd_t)cs->hd); /* libgcrypt wipes the key schedule */
	if (cs->mac_hd)
		gcry_md_close((gcry_md_hd_t)cs->mac_hd);
	if (cs->km) {
		tls_wipe(cs->km, cs->km_len);
		free(cs->km);
	}
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

/* The record MAC over data[0..dlen] compared with mac. TLS: HMAC(mac_key, seq || type ||
 * version || len || data). SSL 3.0 (RFC 6101 §5.2.3.1): hash(mac_key || pad_2 ||
 * hash(mac_key || pad_1 || seq || type || len || data)), pad_1 = 0x36 and pad_2 = 0x5c
 * repeated 48 times for MD5, 40 times for SHA-1. */
static int cbc_mac_ok(tls_cipher_state_t *cs, uint8_t type, uint16_t ver,
                      const uint8_t *data, size_t dlen, const uint8_t *mac)
{
	gcry_md_hd_t md = (gcry_md_hd_t)cs->mac_hd;
	int algo = gcry_md_get_algo(md);
	size_t ml = cs->suite->mac_len;
	uint8_t hdr[13];
	const unsigned char *d;

	build_hdr13(hdr, cs->seq, type, ver, dlen);
	gcry_md_reset(md);
	if (cs->version == 0x0300) {
		static const uint8_t pad1[48] = { 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36,
			0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36,
			0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36,
			0x36, 0x36, 0x36, 0x36 };
		uint8_t pad2[48], inner[20];
		size_t np = algo == GCRY_MD_MD5 ? 48 : 40;
		memset(pad2, 0x5c, sizeof pad2);
		gcry_md_write(md, cs->km + cs->suite->key_len, ml);
		gcry_md_write(md, pad1, np);
		gcry_md_write(md, hdr, 8);           /* seq */
		gcry_md_write(md, hdr + 8, 1);       /* type (no version in SSL 3.0) */
		gcry_md_write(md, hdr + 11, 2);      /* length */
		if (dlen)
			gcry_md_write(md, data, dlen);
		d = gcry_md_read(md, algo);
		if (!d || ml > sizeof inner)
			return 0;
		memcpy(inner, d, ml);
		gcry_md_reset(md);
		gcry_md_write(md, cs->km + cs->suite->key_len, ml);
		gcry_md_write(md, pad2, np);
		gcry_md_write(md, inner, ml);
		tls_wipe(inner, sizeof inner);
	} else {
		gcry_md_write(md, hdr, sizeof hdr);
		if (dlen)
			gcry_md_write(md, data, dlen);
	}
	d = gcry_md_read(md, algo);
	return d && ct_equal(d, mac, ml);
}

/* Check TLS CBC padding of p[0..n): last byte = pad, the pad bytes before it all equal
 * pad, and pad + 1 + reserve <= n. SSL 3.0 (ssl3): the padding bytes are arbitrary and
 * pad must be shorter than a block (bs). Returns the padding-free length or (size_t)-1. */
static size_t cbc_unpad(const uint8_t *p, size_t n, size_t reserve, bool ssl3, size_t bs)
{
	uint8_t pad, bad = 0;
	size_t i;
	if (n == 0)
		return (size_t)-1;
	pad = p[n - 1];
	if ((size_t)pad + 1 + reserve > n)
		return (size_t)-1;
	if (ssl3)
		return pad < bs ? n - pad - 1 : (size_t)-1;
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
	const size_t bs = cs->suite->iv_len, maclen = cs->suite->mac_len;
	const bool ssl3 = cs->version == 0x0300;
	const size_t ivlen = cs->version >= 0x0302 ? bs : 0; /* explicit IV (TLS 1.1+) */
	if (bs != 8 && bs != 16)
		return -2;
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
		n = cbc_unpad(ct, ctlen, 0, ssl3, bs);
		if (n == (size_t)-1) {
			tls_wipe(ct, ctlen);
			return -1;
		}
	} else {
		n = cbc_unpad(ct, ctlen, maclen, ssl3, bs);
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

/* RC4 and NULL: ENC(content || MAC) — RC4 decrypts in place (its keystream advances
 * whatever the MAC says), NULL is the identity. */
static int decrypt_stream(tls_cipher_state_t *cs, uint8_t type, uint16_t ver,
                          uint8_t *frag, size_t flen, uint8_t **plain, size_t *plen)
{
	const size_t maclen = cs->suite->mac_len;
	if (flen < maclen)
		return -2;
	if (cs->hd && flen && gcry_cipher_decrypt((gcry_cipher_hd_t)cs->hd, frag, flen, NULL, 0) != 0) {
		tls_wipe(frag, flen);
		return -1;
	}
	if (!cbc_mac_ok(cs, type, ver, frag, flen - maclen, frag + flen - maclen)) {
		if (cs->hd)
			tls_wipe(frag, flen);
		return -1;
	}
	*plain = frag;
	*plen = flen - maclen;
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
	if (cs && cs->suite && cs->parked && unpark(cs) != 0)
		return -2;
	if (!cs || !cs->suite || (!cs->hd && cs->suite->bulk != TLS_BULK_NULL) || !ctype || !plain || !plen ||
	    (!frag && flen))
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
	case TLS_BULK_CAMELLIA_GCM:
	case TLS_BULK_ARIA_GCM:
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
	case TLS_BULK_NULL:
	case TLS_BULK_RC4_128:
		if (!cs->mac_hd || flen > 0xFFFF)
			return -2;
		rc = decrypt_stream(cs, *ctype, rec_version, frag, flen, plain, plen);
		if (rc != 0)
			return rc;
		break;
	default:
		if (!tls_bulk_is_cbc(s->bulk) || !cs->mac_hd || flen > 0xFFFF)
			return -2;
		rc = decrypt_cbc(cs, *ctype, rec_version, frag, flen, plain, plen);
		if (rc != 0)
			return rc;
		break;
	}
	cs->seq++;
	return 0;
}
