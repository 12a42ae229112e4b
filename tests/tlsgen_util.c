/*
 * tlsgen_util.c — the generator's small tools: a deterministic PRNG (splitmix64), growable
 * byte buffers, and the one-line error text of tlsgen_run (with the OpenSSL error appended).
 *
 * Why: every other piece of tlsgen builds messages, streams and captures in these buffers
 * and draws every choice from a seeded PRNG, so that the plaintext, ports and ISNs of a
 * capture depend only on the options.
 */
#include "tlsgen_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

uint64_t tg_rng_next(rng_t *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
/* uniform in [0, n) (n > 0) */
uint32_t tg_rng_u(rng_t *r, uint32_t n) { return n ? (uint32_t)(tg_rng_next(r) % n) : 0; }
/* uniform in [lo, hi] */
uint32_t tg_rng_range(rng_t *r, uint32_t lo, uint32_t hi) { return lo + tg_rng_u(r, hi - lo + 1); }


void tg_buf_reserve(buf_t *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap) return;
	size_t nc = b->cap ? b->cap : 256;
	while (nc < b->len + extra + 1) nc *= 2;
	uint8_t *n = realloc(b->p, nc);
	if (!n) { fputs("tlsgen: out of memory\n", stderr); abort(); }
	b->p = n; b->cap = nc;
}
void tg_buf_put(buf_t *b, const void *d, size_t n)
{
	tg_buf_reserve(b, n);
	if (n) memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = 0;
}
void tg_buf_puts(buf_t *b, const char *s) { tg_buf_put(b, s, strlen(s)); }
__attribute__((format(printf, 2, 3)))
void tg_buf_printf(buf_t *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n <= 0) return;
	if ((size_t)n < sizeof tmp) { tg_buf_put(b, tmp, (size_t)n); return; }
	tg_buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}
void tg_buf_free(buf_t *b) { free(b->p); b->p = NULL; b->len = b->cap = 0; }
/* hand the bytes over (never NULL: an empty buffer gives a 1-byte allocation) */
uint8_t *tg_buf_take(buf_t *b, size_t *len)
{
	if (!b->p) tg_buf_reserve(b, 0);
	uint8_t *p = b->p;
	*len = b->len;
	b->p = NULL; b->len = b->cap = 0;
	return p;
}

size_t tg_ndigits(size_t v) { size_t n = 1; while (v >= 10) { v /= 10; n++; } return n; }


void tg_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* append the OpenSSL error queue (first error) to err */
void tg_add_ssl_err(char *err, size_t errlen)
{
	unsigned long e = ERR_peek_last_error();
	if (!e || !err || !errlen) { ERR_clear_error(); return; }
	size_t l = strlen(err);
	if (l + 3 < errlen) {
		err[l++] = ':'; err[l++] = ' ';
		ERR_error_string_n(e, err + l, errlen - l);
	}
	ERR_clear_error();
}
