/*
 * app_framing_test_util.c — the tools of app_framing_test: the collector of emitted
 * messages and the checks on it, the pushes (every record from its own heap copy, freed
 * right after the call, so under ASan any reference the framer kept into caller memory is
 * caught), SIP/HTTP stream builders and the deterministic PRNG for cut points.
 *
 * Why: every test group checks the same property (the concatenation of everything
 * emitted for a direction equals the input, and the framing does not depend on where the
 * records were cut) with the same tools; they live here once.
 */
#define TAP_DEFINE_STATE
#include "app_framing_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) { fprintf(stderr, "out of memory\n"); exit(99); }
	return q;
}

void on_emit(void *ctx, int dir, tls_app_t app, const uint8_t *data, size_t len, bool ka)
{
	coll_t *c = ctx;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = xrealloc(c->v, c->cap * sizeof *c->v);
	}
	rec_t *r = &c->v[c->n++];
	r->dir = dir;
	r->app = app;
	r->ka = ka;
	r->len = len;
	r->ptr = data;
	r->data = xrealloc(NULL, len);
	memcpy(r->data, data, len);
	if (c->catlen[dir] + len > c->catcap[dir]) {
		c->catcap[dir] = (c->catlen[dir] + len) * 2;
		c->cat[dir] = xrealloc(c->cat[dir], c->catcap[dir]);
	}
	memcpy(c->cat[dir] + c->catlen[dir], data, len);
	c->catlen[dir] += len;
}

void coll_free(coll_t *c)
{
	for (size_t i = 0; i < c->n; i++) free(c->v[i].data);
	free(c->v);
	free(c->cat[0]);
	free(c->cat[1]);
	memset(c, 0, sizeof *c);
}

/* push data as a fresh heap copy, freed afterwards */
int push_copy(app_framing_t *f, int dir, const void *data, size_t len, coll_t *c)
{
	uint8_t *b = xrealloc(NULL, len);
	memcpy(b, data, len);
	int rc = app_framing_push(f, dir, b, len, on_emit, c);
	memset(b, 0xEE, len);
	free(b);
	return rc;
}

/* push s[0..len) to dir cut at cuts[] (ascending offsets), then flush */
int push_cuts(app_framing_t *f, int dir, const void *s, size_t len, const size_t *cuts,
              size_t ncuts, coll_t *c, bool flush)
{
	size_t prev = 0;
	int rc = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		if (end > prev) rc |= push_copy(f, dir, (const uint8_t *)s + prev, end - prev, c);
		prev = end;
	}
	if (flush) app_framing_flush(f, dir, on_emit, c);
	return rc;
}

/* one direction, one framer: push with cuts, flush, free */
int frame(const void *s, size_t len, const size_t *cuts, size_t ncuts, uint32_t max,
          coll_t *c)
{
	app_framing_t f;
	app_framing_init(&f, max);
	int rc = push_cuts(&f, TLS_DIR_C2S, s, len, cuts, ncuts, c, true);
	app_framing_free(&f);
	return rc;
}

bool cat_ok(const coll_t *c, int dir, const void *s, size_t len)
{
	return c->catlen[dir] == len && (len == 0 || memcmp(c->cat[dir], s, len) == 0);
}

/* same messages (optionally ignoring keep-alives, whose grouping depends on the cuts) */
bool same_msgs(const coll_t *a, const coll_t *b, bool skip_ka)
{
	size_t i = 0, j = 0;
	for (;;) {
		while (skip_ka && i < a->n && a->v[i].ka) i++;
		while (skip_ka && j < b->n && b->v[j].ka) j++;
		if (i == a->n || j == b->n) return i == a->n && j == b->n;
		const rec_t *x = &a->v[i++], *y = &b->v[j++];
		if (x->dir != y->dir || x->app != y->app || x->ka != y->ka || x->len != y->len ||
		    memcmp(x->data, y->data, x->len)) return false;
	}
}

bool msg_is(const coll_t *c, size_t i, tls_app_t app, const void *s, size_t len)
{
	return i < c->n && c->v[i].app == app && !c->v[i].ka && c->v[i].len == len &&
	       memcmp(c->v[i].data, s, len) == 0;
}

size_t count_app(const coll_t *c, tls_app_t app)
{
	size_t k = 0;
	for (size_t i = 0; i < c->n; i++) k += c->v[i].app == app && !c->v[i].ka;
	return k;
}

/* ---- builders ---- */

void sb_add(sbuf_t *b, const void *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}
void sb_str(sbuf_t *b, const char *s) { sb_add(b, s, strlen(s)); }

/* SIP message with a correct Content-Length */
void sip_msg(sbuf_t *b, const char *start, const char *hdrs, const char *body)
{
	char cl[64];
	sb_str(b, start);
	sb_str(b, "\r\n");
	sb_str(b, hdrs);
	snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", strlen(body));
	sb_str(b, cl);
	sb_str(b, body);
}

const char *SIP_HDRS =
	"Via: SIP/2.0/TLS client.atlanta.example.com:5061;branch=z9hG4bK74bf9\r\n"
	"Max-Forwards: 70\r\n"
	"From: Alice <sips:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
	"To: Bob <sips:bob@biloxi.example.com>\r\n"
	"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
	"CSeq: 1 INVITE\r\n"
	"Contact: <sips:alice@client.atlanta.example.com;transport=tls>\r\n"
	"Content-Type: application/sdp\r\n";

const char *SDP =
	"v=0\r\n"
	"o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n"
	"s=-\r\n"
	"c=IN IP4 192.0.2.101\r\n"
	"t=0 0\r\n"
	"m=audio 49172 RTP/AVP 0\r\n"
	"a=rtpmap:0 PCMU/8000\r\n";

/* deterministic PRNG (xorshift64*) */
uint64_t rng_s;
uint64_t rnd(void)
{
	rng_s ^= rng_s >> 12;
	rng_s ^= rng_s << 25;
	rng_s ^= rng_s >> 27;
	return rng_s * 2685821657736338717ULL;
}
size_t rnd_below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* random ascending cut points in (0, len) */
size_t random_cuts(size_t len, size_t *cuts, size_t maxcuts)
{
	size_t k = 0, pos = 0;
	while (k < maxcuts) {
		size_t step = 1 + rnd_below(rnd_below(4) == 0 ? 8 : 400);
		pos += step;
		if (pos >= len) break;
		cuts[k++] = pos;
	}
	return k;
}


const rec_t *nth_dir(const coll_t *c, int dir, size_t k)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].dir == dir && k-- == 0) return &c->v[i];
	return NULL;
}

bool rec_is(const rec_t *r, tls_app_t app, const char *s)
{
	return r && r->app == app && !r->ka && r->len == strlen(s) && !memcmp(r->data, s, r->len);
}
