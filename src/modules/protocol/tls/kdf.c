/*
 * kdf.c — key derivation for the passive TLS decryption engine (implements kdf.h).
 *
 * What: the SSL 3.0 key derivation (MD5/SHA-1 mix, RFC 6101 §6.2.2), the TLS 1.0/1.1 PRF (P_MD5 xor P_SHA1 over the two halves of the secret,
 * RFC 2246 §5), the TLS 1.2 PRF (P_SHA256 / P_SHA384, RFC 5246 §5), running handshake
 * transcript hashes (one libgcrypt handle hashing with MD5, SHA-1, SHA-256 and SHA-384 at
 * once, because the negotiated hash is unknown when the ClientHello goes by), one-shot
 * HMAC / hash, HKDF (RFC 5869) and the TLS 1.3 HKDF-Expand-Label / Derive-Secret
 * (RFC 8446 §7.1), and a wipe the compiler cannot elide.
 *
 * Why here: every decryption path (RSA / key-log master secrets, extended master secret,
 * TLS 1.3 traffic secrets, Finished verification) funnels through these few functions,
 * so they are small, allocation-light and checked against published vectors
 * (tests/kdf_test.c). All symmetric primitives come from libgcrypt (see design.md); the
 * library must already be initialised (tls_engine_global_init does that, tests do it
 * themselves). Intermediate values are wiped before returning.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* explicit_bzero */
#endif
#include "kdf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <gcrypt.h>

/* ---- helpers ---- */

void tls_wipe(void *p, size_t n)
{
	if (!p || !n)
		return;
	explicit_bzero(p, n);
}

/* libgcrypt algorithm of a single-hash tls_hash_t; 0 for NONE / MD5_SHA1. */
static int gcry_algo(tls_hash_t h)
{
	switch (h) {
	case TLS_HASH_SHA1:   return GCRY_MD_SHA1;
	case TLS_HASH_SHA256: return GCRY_MD_SHA256;
	case TLS_HASH_SHA384: return GCRY_MD_SHA384;
	case TLS_HASH_MD5:    return GCRY_MD_MD5;
	default:              return 0;
	}
}

size_t tls_hash_len(tls_hash_t h)
{
	switch (h) {
	case TLS_HASH_MD5_SHA1: return 36;
	case TLS_HASH_SHA1:     return 20;
	case TLS_HASH_SHA256:   return 32;
	case TLS_HASH_SHA384:   return 48;
	case TLS_HASH_MD5:      return 16;
	default:                return 0;
	}
}

/*
 * HMAC handles are reused from a small process-wide pool per hash algorithm:
 * gcry_md_open costs more than the few HMACs of a PRF call (it allocates, and libgcrypt
 * runs a "fast random poll" — getrusage + clock_gettime — on every open), ~6% of a full
 * RSA handshake's CPU. A handle is out of the pool while in use (so no two users share
 * one) and goes back re-keyed with a constant, so no secret stays in it between uses.
 * The pool lock is held only to pop or push a pointer. Why not per-thread handles: a
 * thread-exit destructor would point into this library after captagent unloads it.
 */
enum { HMAC_SLOTS = 4, HMAC_POOL = 8 };  /* MD5, SHA-1, SHA-256, SHA-384; handles kept each */
static struct {
	pthread_mutex_t mu;
	gcry_md_hd_t h[HMAC_SLOTS][HMAC_POOL];
	unsigned n[HMAC_SLOTS];
} hmac_pool = { .mu = PTHREAD_MUTEX_INITIALIZER };
static const uint8_t nokey[1] = { 0 };

static int hmac_slot(int algo)
{
	switch (algo) {
	case GCRY_MD_MD5:    return 0;
	case GCRY_MD_SHA1:   return 1;
	case GCRY_MD_SHA256: return 2;
	case GCRY_MD_SHA384: return 3;
	default:             return -1;
	}
}

/* An HMAC handle for algo keyed with key (a pooled one when there is one). NULL on
 * failure. Give it back with hmac_close. */
static gcry_md_hd_t hmac_open(int algo, const uint8_t *key, size_t klen)
{
	gcry_md_hd_t md = NULL;
	int slot = hmac_slot(algo);
	if (slot >= 0) {
		pthread_mutex_lock(&hmac_pool.mu);
		if (hmac_pool.n[slot]) md = hmac_pool.h[slot][--hmac_pool.n[slot]];
		pthread_mutex_unlock(&hmac_pool.mu);
	}
	if (md) {
		gcry_md_reset(md);
	} else if (gcry_md_open(&md, algo, GCRY_MD_FLAG_HMAC) != 0) {
		return NULL;
	}
	/* An empty HMAC key is legal (it is zero-padded to the block size); pass a valid
	 * pointer so libgcrypt never sees NULL. */
	if (gcry_md_setkey(md, klen ? key : nokey, klen) != 0) {
		gcry_md_close(md);
		return NULL;
	}
	return md;
}

/* Done with an hmac_open handle: its key replaced by a constant and back in the pool,
 * or closed when the pool is full (libgcrypt wipes the buffers on close). */
static void hmac_close(gcry_md_hd_t md, int algo)
{
	int slot = hmac_slot(algo);
	if (slot < 0 || gcry_md_setkey(md, nokey, 1) != 0) {
		gcry_md_close(md);
		return;
	}
	gcry_md_reset(md);
	pthread_mutex_lock(&hmac_pool.mu);
	if (hmac_pool.n[slot] < HMAC_POOL) {
		hmac_pool.h[slot][hmac_pool.n[slot]++] = md;
		md = NULL;
	}
	pthread_mutex_unlock(&hmac_pool.mu);
	if (md) gcry_md_close(md);
}

/*
 * P_hash(secret, label || seed1 || seed2) (RFC 5246 §5), XORed into out when `xor` is
 * set (the TLS 1.0 PRF combines P_MD5 and P_SHA1 that way), else written.
 *   A(0) = seed, A(i) = HMAC(secret, A(i-1)),
 *   output = HMAC(secret, A(1) || seed) || HMAC(secret, A(2) || seed) || ...
 */
static int p_hash(int algo, const uint8_t *secret, size_t slen, const char *label,
                  const uint8_t *s1, size_t s1len, const uint8_t *s2, size_t s2len,
                  uint8_t *out, size_t outlen, int xor)
{
	size_t hl = gcry_md_get_algo_dlen(algo);
	size_t llen = label ? strlen(label) : 0;
	uint8_t a[64];
	gcry_md_hd_t md;
	size_t done = 0;

	if (hl == 0 || hl > sizeof a)
		return -1;
	md = hmac_open(algo, secret, slen);
	if (!md)
		return -1;

	/* A(1) = HMAC(secret, seed) */
	if (llen) gcry_md_write(md, label, llen);
	if (s1len) gcry_md_write(md, s1, s1len);
	if (s2 && s2len) gcry_md_write(md, s2, s2len);
	memcpy(a, gcry_md_read(md, algo), hl);

	while (done < outlen) {
		const uint8_t *blk;
		size_t n, i;

		gcry_md_reset(md); /* keeps the HMAC key */
		gcry_md_write(md, a, hl);
		if (llen) gcry_md_write(md, label, llen);
		if (s1len) gcry_md_write(md, s1, s1len);
		if (s2 && s2len) gcry_md_write(md, s2, s2len);
		blk = gcry_md_read(md, algo);
		n = outlen - done < hl ? outlen - done : hl;
		if (xor)
			for (i = 0; i < n; i++) out[done + i] ^= blk[i];
		else
			memcpy(out + done, blk, n);
		done += n;
		if (done >= outlen)
			break;
		/* A(i+1) = HMAC(secret, A(i)) */
		gcry_md_reset(md);
		gcry_md_write(md, a, hl);
		memcpy(a, gcry_md_read(md, algo), hl);
	}
	hmac_close(md, algo);
	tls_wipe(a, sizeof a);
	return 0;
}

/* ---- PRF ---- */

int tls_prf(tls_hash_t h, const uint8_t *secret, size_t slen, const char *label,
            const uint8_t *seed1, size_t s1len, const uint8_t *seed2, size_t s2len,
            uint8_t *out, size_t outlen)
{
	if (!out || (!secret && slen) || (!seed1 && s1len))
		return -1;
	if (!seed2)
		s2len = 0;
	if (outlen == 0)
		return 0;
	if (slen == 0)
		secret = (const uint8_t *)""; /* no pointer arithmetic on NULL below */

	if (h == TLS_HASH_MD5_SHA1) {
		/* RFC 2246 §5: S1 = first ceil(L/2) bytes, S2 = last ceil(L/2) bytes (they
		 * share the middle byte when L is odd). PRF = P_MD5(S1) xor P_SHA1(S2). */
		size_t half = (slen + 1) / 2;
		memset(out, 0, outlen);
		if (p_hash(GCRY_MD_MD5, secret, half, label, seed1, s1len, seed2, s2len,
		           out, outlen, 1) != 0 ||
		    p_hash(GCRY_MD_SHA1, secret + (slen - half), half, label, seed1, s1len,
		           seed2, s2len, out, outlen, 1) != 0) {
			tls_wipe(out, outlen);
			return -1;
		}
		return 0;
	}
	if (h != TLS_HASH_SHA256 && h != TLS_HASH_SHA384)
		return -1;
	return p_hash(gcry_algo(h), secret, slen, label, seed1, s1len, seed2, s2len,
	              out, outlen, 0);
}

int ssl3_prf(const uint8_t *secret, size_t slen, const uint8_t *seed1, size_t s1len,
             const uint8_t *seed2, size_t s2len, uint8_t *out, size_t outlen)
{
	uint8_t label[26], sha[20], md5[16];
	size_t done = 0, i;
	gcry_buffer_t iov[4];
	if (!out || !secret || !seed1 || !seed2 || outlen > 26 * 16)
		return -1;
	for (i = 0; done < outlen; i++) {
		size_t n = outlen - done < 16 ? outlen - done : 16;
		memset(label, 'A' + (int)i, i + 1);
		memset(iov, 0, sizeof iov);
		iov[0].data = label;         iov[0].len = i + 1;
		iov[1].data = (void *)secret; iov[1].len = slen;
		iov[2].data = (void *)seed1; iov[2].len = s1len;
		iov[3].data = (void *)seed2; iov[3].len = s2len;
		if (gcry_md_hash_buffers(GCRY_MD_SHA1, 0, sha, iov, 4) != 0)
			goto fail;
		iov[0].data = (void *)secret; iov[0].len = slen;
		iov[1].data = sha;           iov[1].len = sizeof sha;
		if (gcry_md_hash_buffers(GCRY_MD_MD5, 0, md5, iov, 2) != 0)
			goto fail;
		memcpy(out + done, md5, n);
		done += n;
	}
	tls_wipe(sha, sizeof sha);
	tls_wipe(md5, sizeof md5);
	return 0;
fail:
	tls_wipe(sha, sizeof sha);
	tls_wipe(md5, sizeof md5);
	tls_wipe(out, outlen);
	return -1;
}

/* ---- transcript ---- */

int tls_transcript_init(tls_transcript_t *t)
{
	if (!t)
		return -1;
	memset(t, 0, sizeof *t);
	t->on = true;
	return 0;
}

static void transcript_off(tls_transcript_t *t)
{
	tls_transcript_free(t);
	t->on = false;
}

void tls_transcript_update(tls_transcript_t *t, const uint8_t *data, size_t len)
{
	if (!t || !t->on || !data || !len)
		return;
	if (t->md) {
		gcry_md_write((gcry_md_hd_t)t->md, data, len);
		return;
	}
	if (len > TLS_TRANSCRIPT_MAX_RAW - t->raw_len) {
		transcript_off(t);
		return;
	}
	if (t->raw_len + len > t->raw_cap) {
		size_t nc = t->raw_cap ? t->raw_cap : 512;
		while (nc < t->raw_len + len) nc *= 2;
		if (nc > TLS_TRANSCRIPT_MAX_RAW) nc = TLS_TRANSCRIPT_MAX_RAW;
		uint8_t *n = malloc(nc);
		if (!n) { transcript_off(t); return; }
		if (t->raw) {
			memcpy(n, t->raw, t->raw_len);
			tls_wipe(t->raw, t->raw_cap);
			free(t->raw);
		}
		t->raw = n;
		t->raw_cap = (uint32_t)nc;
	}
	memcpy(t->raw + t->raw_len, data, len);
	t->raw_len += (uint32_t)len;
}

static int md_open(gcry_md_hd_t *md, tls_hash_t h)
{
	*md = NULL;
	if (h == TLS_HASH_MD5_SHA1) {
		if (gcry_md_open(md, GCRY_MD_MD5, 0) != 0) return -1;
		if (gcry_md_enable(*md, GCRY_MD_SHA1) != 0) { gcry_md_close(*md); *md = NULL; return -1; }
		return 0;
	}
	return gcry_md_open(md, gcry_algo(h), 0) == 0 ? 0 : -1;
}

static int md_read(gcry_md_hd_t c, tls_hash_t h, uint8_t *out)
{
	const unsigned char *d;
	if (h == TLS_HASH_MD5_SHA1) {
		d = gcry_md_read(c, GCRY_MD_MD5);
		if (!d) return -1;
		memcpy(out, d, 16);
		d = gcry_md_read(c, GCRY_MD_SHA1);
		if (!d) return -1;
		memcpy(out + 16, d, 20);
		return 0;
	}
	d = gcry_md_read(c, gcry_algo(h));
	if (!d) return -1;
	memcpy(out, d, tls_hash_len(h));
	return 0;
}

int tls_transcript_digest(const tls_transcript_t *t, tls_hash_t h, uint8_t *out, size_t *outlen)
{
	gcry_md_hd_t c = NULL;
	int rc;
	if (!t || !t->on || !out || tls_hash_len(h) == 0)
		return -1;
	if (t->md) {
		if (t->sel != (uint8_t)(h + 1))
			return -1;                   /* only the selected hash runs */
		/* Finalize a copy so the running state keeps accumulating. */
		if (gcry_md_copy(&c, (gcry_md_hd_t)t->md) != 0)
			return -1;
	} else {
		if (md_open(&c, h) != 0)
			return -1;
		if (t->raw_len)
			gcry_md_write(c, t->raw, t->raw_len);
	}
	rc = md_read(c, h, out);
	gcry_md_close(c);
	if (rc == 0 && outlen)
		*outlen = tls_hash_len(h);
	return rc;
}

int tls_transcript_select(tls_transcript_t *t, tls_hash_t h)
{
	gcry_md_hd_t md = NULL;
	if (!t || !t->on || tls_hash_len(h) == 0)
		return -1;
	if (t->md)
		return t->sel == (uint8_t)(h + 1) ? 0 : -1;
	if (md_open(&md, h) != 0) {
		transcript_off(t);
		return -1;
	}
	if (t->raw_len)
		gcry_md_write(md, t->raw, t->raw_len);
	if (t->raw) {
		tls_wipe(t->raw, t->raw_cap);
		free(t->raw);
	}
	t->raw = NULL;
	t->raw_len = t->raw_cap = 0;
	t->md = md;
	t->sel = (uint8_t)(h + 1);
	return 0;
}

int tls_transcript_copy(tls_transcript_t *dst, const tls_transcript_t *src)
{
	gcry_md_hd_t c = NULL;
	if (!dst || !src)
		return -1;
	memset(dst, 0, sizeof *dst);
	dst->on = src->on;
	dst->sel = src->sel;
	if (src->md) {
		if (gcry_md_copy(&c, (gcry_md_hd_t)src->md) != 0)
			return -1;
		dst->md = c;
	} else if (src->raw_len) {
		dst->raw = malloc(src->raw_len);
		if (!dst->raw)
			return -1;
		memcpy(dst->raw, src->raw, src->raw_len);
		dst->raw_len = dst->raw_cap = src->raw_len;
	}
	return 0;
}

void tls_transcript_free(tls_transcript_t *t)
{
	if (!t)
		return;
	if (t->md)
		gcry_md_close((gcry_md_hd_t)t->md);
	if (t->raw) {
		tls_wipe(t->raw, t->raw_cap);
		free(t->raw);
	}
	t->md = NULL;
	t->raw = NULL;
	t->raw_len = t->raw_cap = 0;
	t->sel = 0;
}

/* ---- HMAC / hash ---- */

int tls_hmac(tls_hash_t h, const uint8_t *key, size_t klen, const uint8_t *data, size_t dlen, uint8_t *out)
{
	int algo = gcry_algo(h);
	gcry_md_hd_t md;
	if (!algo || !out || (!key && klen) || (!data && dlen))
		return -1;
	md = hmac_open(algo, key, klen);
	if (!md)
		return -1;
	if (dlen)
		gcry_md_write(md, data, dlen);
	memcpy(out, gcry_md_read(md, algo), tls_hash_len(h));
	hmac_close(md, algo);
	return 0;
}

int tls_hash(tls_hash_t h, const uint8_t *data, size_t len, uint8_t *out)
{
	if (!out || (!data && len))
		return -1;
	if (h == TLS_HASH_MD5_SHA1) {
		gcry_md_hash_buffer(GCRY_MD_MD5, out, len ? data : (const uint8_t *)"", len);
		gcry_md_hash_buffer(GCRY_MD_SHA1, out + 16, len ? data : (const uint8_t *)"", len);
		return 0;
	}
	if (!gcry_algo(h))
		return -1;
	gcry_md_hash_buffer(gcry_algo(h), out, len ? data : (const uint8_t *)"", len);
	return 0;
}

/* ---- HKDF (RFC 5869) ---- */

int tls_hkdf_extract(tls_hash_t h, const uint8_t *salt, size_t saltlen,
                     const uint8_t *ikm, size_t ikmlen, uint8_t *out)
{
	uint8_t zeros[TLS_MAX_HASH_LEN] = { 0 };
	size_t hl = tls_hash_len(h);
	if (!gcry_algo(h) || h == TLS_HASH_SHA1)
		return -1; /* HKDF is only used with SHA-256 / SHA-384 here */
	if (!salt || saltlen == 0) {
		salt = zeros;
		saltlen = hl;
	}
	return tls_hmac(h, salt, saltlen, ikm, ikmlen, out);
}

int tls_hkdf_expand(tls_hash_t h, const uint8_t *prk, size_t prklen,
                    const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen)
{
	int algo = gcry_algo(h);
	size_t hl = tls_hash_len(h);
	uint8_t t[TLS_MAX_HASH_LEN];
	size_t done = 0;
	uint8_t ctr = 0;
	gcry_md_hd_t md;

	if (!algo || h == TLS_HASH_SHA1 || !out || !prk || (!info && infolen))
		return -1;
	if (outlen > 255 * hl)
		return -1;
	if (outlen == 0)
		return 0;
	md = hmac_open(algo, prk, prklen);
	if (!md)
		return -1;
	while (done < outlen) {
		size_t n;
		ctr++;
		gcry_md_reset(md);
		if (ctr > 1)
			gcry_md_write(md, t, hl);        /* T(i-1) */
		if (infolen)
			gcry_md_write(md, info, infolen);
		gcry_md_write(md, &ctr, 1);
		memcpy(t, gcry_md_read(md, algo), hl);
		n = outlen - done < hl ? outlen - done : hl;
		memcpy(out + done, t, n);
		done += n;
	}
	hmac_close(md, algo);
	tls_wipe(t, sizeof t);
	return 0;
}

int tls13_hkdf_expand_label(tls_hash_t h, const uint8_t *secret, size_t slen, const char *label,
                            const uint8_t *context, size_t ctxlen, uint8_t *out, size_t outlen)
{
	/* struct { uint16 length; opaque label<7..255> = "tls13 " + Label;
	 *          opaque context<0..255>; } HkdfLabel; */
	uint8_t info[2 + 1 + 255 + 1 + 255];
	size_t llen = label ? strlen(label) : 0;
	size_t p = 0;
	int rc;

	if (!context)
		ctxlen = 0;
	if (llen + 6 > 255 || ctxlen > 255 || outlen > 0xFFFF)
		return -1;
	info[p++] = (uint8_t)(outlen >> 8);
	info[p++] = (uint8_t)outlen;
	info[p++] = (uint8_t)(6 + llen);
	memcpy(info + p, "tls13 ", 6);
	p += 6;
	if (llen) {
		memcpy(info + p, label, llen);
		p += llen;
	}
	info[p++] = (uint8_t)ctxlen;
	if (ctxlen) {
		memcpy(info + p, context, ctxlen);
		p += ctxlen;
	}
	rc = tls_hkdf_expand(h, secret, slen, info, p, out, outlen);
	tls_wipe(info, p);
	return rc;
}

int tls13_derive_secret(tls_hash_t h, const uint8_t *secret, const char *label,
                        const uint8_t *transcript_hash, uint8_t *out)
{
	uint8_t empty[TLS_MAX_HASH_LEN];
	size_t hl = tls_hash_len(h);
	if (h != TLS_HASH_SHA256 && h != TLS_HASH_SHA384)
		return -1;
	if (!transcript_hash) {
		/* Convenience: NULL means Hash("") (the "derived" steps). */
		if (tls_hash(h, NULL, 0, empty) != 0)
			return -1;
		transcript_hash = empty;
	}
	return tls13_hkdf_expand_label(h, secret, hl, label, transcript_hash, hl, out, hl);
}
