/*
 * tlsgen_plan.c — the message plan of a connection (the list of application messages in
 * write order, see spec_t) and what fills it: printable filler text and the size classes
 * (tiny / normal / mid / big) that decide how long each message becomes.
 *
 * Why: SIP, HTTP and WebSocket rendering (tlsgen_sip.c, tlsgen_http.c, tlsgen_ws.c) share
 * one plan container and one notion of message size, so the tests' guarantees ("every
 * connection has tiny, mid and big messages") are enforced in one place.
 */
#include "tlsgen_int.h"

#include <stdlib.h>
#include <string.h>

const char *const tg_words[] = {
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
	"juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
	"sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "voice",
	"media", "session", "stream", "codec", "packet", "record", "cipher", "secure", "call",
};

/* exactly n bytes of printable words and spaces */
void tg_fill_words(buf_t *b, rng_t *r, size_t n)
{
	size_t start = b->len;
	while (b->len - start < n) {
		const char *w = tg_words[tg_rng_u(r, sizeof tg_words / sizeof tg_words[0])];
		tg_buf_puts(b, w);
		tg_buf_puts(b, tg_rng_u(r, 9) ? " " : ". ");
	}
	b->len = start + n;
	b->p[b->len] = 0;
}

/* exactly n bytes of [A-Za-z0-9] */
void tg_fill_alnum(buf_t *b, rng_t *r, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	tg_buf_reserve(b, n);
	for (size_t i = 0; i < n; i++) b->p[b->len + i] = (uint8_t)al[tg_rng_u(r, 62)];
	b->len += n;
	b->p[b->len] = 0;
}

/* exactly `total` bytes of lines "prefix<alnum>\r\n" of at most ~80 bytes each; if
 * total is too small for one line, nothing is written. Returns bytes written. */
size_t tg_fill_lines(buf_t *b, rng_t *r, size_t total, const char *prefix)
{
	size_t minl = strlen(prefix) + 3;
	if (total < minl) return 0;
	size_t m = (total + 77) / 78;
	if (m * minl > total) m = total / minl;
	size_t base = total / m, extra = total % m;
	for (size_t i = 0; i < m; i++) {
		size_t l = base + (i < extra);
		tg_buf_puts(b, prefix);
		tg_fill_alnum(b, r, l - strlen(prefix) - 2);
		tg_buf_puts(b, "\r\n");
	}
	return total;
}


spec_t *tg_plan_add(plan_t *p, int dir, int type, int sizeable)
{
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 16;
		spec_t *n = realloc(p->v, nc * sizeof *n);
		if (!n) abort();
		p->v = n; p->cap = nc;
	}
	spec_t *s = &p->v[p->n++];
	memset(s, 0, sizeof *s);
	s->dir = dir; s->type = type; s->sizeable = sizeable; s->cls = TLSGEN_NORMAL; s->req = -1;
	return s;
}
void tg_plan_free(plan_t *p)
{
	for (size_t i = 0; i < p->n; i++) { tg_buf_free(&p->v[i].data); tg_buf_free(&p->v[i].ws_payload); }
	free(p->v);
	memset(p, 0, sizeof *p);
}

/* target total message length for a class (0 = natural size) */
size_t tg_class_target(rng_t *r, int cls)
{
	switch (cls) {
	case TLSGEN_MID: return tg_rng_range(r, 2100, 4900);
	case TLSGEN_BIG: return tg_rng_range(r, 20500, 39500);
	case TLSGEN_NORMAL: return tg_rng_u(r, 2) ? 0 : tg_rng_range(r, 500, 1300);
	default: return 0;
	}
}

/* Give each direction's sizeable specs the classes MID and BIG at least once (as far as
 * there are sizeable specs), the rest a random class. If a direction has only one
 * sizeable spec, the two directions get different classes so the capture has both. */
void tg_assign_classes(plan_t *p, rng_t *r)
{
	for (int d = 0; d < 2; d++) {
		size_t idx[256], n = 0;
		for (size_t i = 0; i < p->n && n < 256; i++)
			if (p->v[i].dir == d && p->v[i].sizeable) idx[n++] = i;
		/* shuffle */
		for (size_t i = n; i > 1; i--) { size_t j = tg_rng_u(r, (uint32_t)i); size_t t = idx[i - 1]; idx[i - 1] = idx[j]; idx[j] = t; }
		int req[2] = { d ? TLSGEN_MID : TLSGEN_BIG, d ? TLSGEN_BIG : TLSGEN_MID };
		for (size_t k = 0; k < n; k++) {
			int c;
			if (k < 2) c = req[k];
			else {
				uint32_t x = tg_rng_u(r, 100);
				c = x < 50 ? TLSGEN_NORMAL : x < 80 ? TLSGEN_MID : TLSGEN_BIG;
			}
			p->v[idx[k]].cls = c;
		}
	}
}
