/*
 * app_framing_test.c — unit tests of the application framing layer (app_framing.c):
 * SIP / HTTP/1.x / raw message splitting of decrypted plaintext pushed one record at a
 * time. Every push comes from its own heap copy that is freed right after the call, so
 * (under ASan) any reference the framer kept into caller memory is caught. The central
 * property checked everywhere: the concatenation of everything emitted for a direction
 * equals the input, and the framing does not depend on where the records were cut.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include "app_framing.h"
#include "tap.h"

/* ------------------------------------------------------------------ collector */

typedef struct rec {
	int dir;
	tls_app_t app;
	bool ka;
	uint8_t *data;
	size_t len;
	const uint8_t *ptr;       /* address the framer emitted from */
} rec_t;

typedef struct coll {
	rec_t *v;
	size_t n, cap;
	uint8_t *cat[2];
	size_t catlen[2], catcap[2];
} coll_t;

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) { fprintf(stderr, "out of memory\n"); exit(99); }
	return q;
}

static void on_emit(void *ctx, int dir, tls_app_t app, const uint8_t *data, size_t len, bool ka)
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

static void coll_free(coll_t *c)
{
	for (size_t i = 0; i < c->n; i++) free(c->v[i].data);
	free(c->v);
	free(c->cat[0]);
	free(c->cat[1]);
	memset(c, 0, sizeof *c);
}

/* push data as a fresh heap copy, freed afterwards */
static int push_copy(app_framing_t *f, int dir, const void *data, size_t len, coll_t *c)
{
	uint8_t *b = xrealloc(NULL, len);
	memcpy(b, data, len);
	int rc = app_framing_push(f, dir, b, len, on_emit, c);
	memset(b, 0xEE, len);
	free(b);
	return rc;
}

/* push s[0..len) to dir cut at cuts[] (ascending offsets), then flush */
static int push_cuts(app_framing_t *f, int dir, const void *s, size_t len, const size_t *cuts,
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
static int frame(const void *s, size_t len, const size_t *cuts, size_t ncuts, uint32_t max,
                 coll_t *c)
{
	app_framing_t f;
	app_framing_init(&f, max);
	int rc = push_cuts(&f, TLS_DIR_C2S, s, len, cuts, ncuts, c, true);
	app_framing_free(&f);
	return rc;
}

static bool cat_ok(const coll_t *c, int dir, const void *s, size_t len)
{
	return c->catlen[dir] == len && (len == 0 || memcmp(c->cat[dir], s, len) == 0);
}

/* same messages (optionally ignoring keep-alives, whose grouping depends on the cuts) */
static bool same_msgs(const coll_t *a, const coll_t *b, bool skip_ka)
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

static bool msg_is(const coll_t *c, size_t i, tls_app_t app, const void *s, size_t len)
{
	return i < c->n && c->v[i].app == app && !c->v[i].ka && c->v[i].len == len &&
	       memcmp(c->v[i].data, s, len) == 0;
}

static size_t count_app(const coll_t *c, tls_app_t app)
{
	size_t k = 0;
	for (size_t i = 0; i < c->n; i++) k += c->v[i].app == app && !c->v[i].ka;
	return k;
}

/* ------------------------------------------------------------------ builders */

typedef struct sbuf { char *p; size_t n, cap; } sbuf_t;

static void sb_add(sbuf_t *b, const void *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}
static void sb_str(sbuf_t *b, const char *s) { sb_add(b, s, strlen(s)); }

/* SIP message with a correct Content-Length */
static void sip_msg(sbuf_t *b, const char *start, const char *hdrs, const char *body)
{
	char cl[64];
	sb_str(b, start);
	sb_str(b, "\r\n");
	sb_str(b, hdrs);
	snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", strlen(body));
	sb_str(b, cl);
	sb_str(b, body);
}

static const char *SIP_HDRS =
	"Via: SIP/2.0/TLS client.atlanta.example.com:5061;branch=z9hG4bK74bf9\r\n"
	"Max-Forwards: 70\r\n"
	"From: Alice <sips:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
	"To: Bob <sips:bob@biloxi.example.com>\r\n"
	"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
	"CSeq: 1 INVITE\r\n"
	"Contact: <sips:alice@client.atlanta.example.com;transport=tls>\r\n"
	"Content-Type: application/sdp\r\n";

static const char *SDP =
	"v=0\r\n"
	"o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n"
	"s=-\r\n"
	"c=IN IP4 192.0.2.101\r\n"
	"t=0 0\r\n"
	"m=audio 49172 RTP/AVP 0\r\n"
	"a=rtpmap:0 PCMU/8000\r\n";

/* deterministic PRNG (xorshift64*) */
static uint64_t rng_s;
static uint64_t rnd(void)
{
	rng_s ^= rng_s >> 12;
	rng_s ^= rng_s << 25;
	rng_s ^= rng_s >> 27;
	return rng_s * 2685821657736338717ULL;
}
static size_t rnd_below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* random ascending cut points in (0, len) */
static size_t random_cuts(size_t len, size_t *cuts, size_t maxcuts)
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

/* ------------------------------------------------------------------ SIP tests */

static void test_sip_basic(void)
{
	sbuf_t inv = {0};
	sip_msg(&inv, "INVITE sip:bob@biloxi.example.com SIP/2.0", SIP_HDRS, SDP);

	/* one push, zero copy */
	app_framing_t f;
	coll_t c = {0};
	app_framing_init(&f, 0);
	uint8_t *buf = xrealloc(NULL, inv.n);
	memcpy(buf, inv.p, inv.n);
	int rc = app_framing_push(&f, TLS_DIR_C2S, buf, inv.n, on_emit, &c);
	tap_ok(rc == 0 && c.n == 1, "SIP INVITE+SDP in one push: one message (got %zu)", c.n);
	tap_ok(msg_is(&c, 0, TLS_APP_SIP, inv.p, inv.n), "SIP INVITE+SDP: app sip, exact bytes");
	tap_ok(c.n == 1 && c.v[0].ptr == buf, "SIP INVITE+SDP: emitted straight from the pushed buffer (zero copy)");
	tap_ok(app_framing_buffered(&f) == 0, "SIP INVITE+SDP: nothing buffered afterwards");
	free(buf);
	app_framing_free(&f);
	coll_free(&c);

	/* every 2-way split */
	coll_t ref = {0};
	frame(inv.p, inv.n, NULL, 0, 0, &ref);
	size_t bad = 0, first_bad = 0;
	for (size_t i = 1; i < inv.n; i++) {
		coll_t x = {0};
		size_t cut = i;
		frame(inv.p, inv.n, &cut, 1, 0, &x);
		if (!same_msgs(&ref, &x, false) || !cat_ok(&x, 0, inv.p, inv.n)) {
			if (!bad) first_bad = i;
			bad++;
		}
		coll_free(&x);
	}
	tap_ok(bad == 0, "SIP INVITE: all %zu two-way splits give the identical message (bad %zu, first at %zu)",
	       inv.n - 1, bad, first_bad);

	/* each byte its own record */
	{
		size_t *cuts = xrealloc(NULL, inv.n * sizeof *cuts);
		for (size_t i = 1; i < inv.n; i++) cuts[i - 1] = i;
		coll_t x = {0};
		frame(inv.p, inv.n, cuts, inv.n - 1, 0, &x);
		tap_ok(same_msgs(&ref, &x, false), "SIP INVITE: one byte per record gives the identical message");
		coll_free(&x);
		free(cuts);
	}
	coll_free(&ref);

	/* 3-way splits of a short two-message stream */
	sbuf_t two = {0};
	sip_msg(&two, "OPTIONS sip:a@b SIP/2.0", "CSeq: 1 OPTIONS\r\n", "hello");
	sip_msg(&two, "MESSAGE sips:x@y SIP/2.0", "l-no: 1\r\n", "0123456789");
	coll_t r2 = {0};
	frame(two.p, two.n, NULL, 0, 0, &r2);
	tap_ok(r2.n == 2, "two short SIP messages in one push: two messages");
	bad = 0;
	size_t combos = 0;
	for (size_t i = 1; i < two.n; i++)
		for (size_t j = i + 1; j < two.n; j++) {
			size_t cuts[2] = { i, j };
			coll_t x = {0};
			frame(two.p, two.n, cuts, 2, 0, &x);
			combos++;
			if (!same_msgs(&r2, &x, false) || !cat_ok(&x, 0, two.p, two.n)) bad++;
			coll_free(&x);
		}
	tap_ok(bad == 0, "two SIP messages: all %zu three-way splits identical (bad %zu)", combos, bad);
	coll_free(&r2);
	free(two.p);
	free(inv.p);
}

static void test_sip_multi(void)
{
	sbuf_t s = {0};
	size_t off[4];
	off[0] = 0;
	sip_msg(&s, "INVITE sip:bob@biloxi.example.com SIP/2.0", SIP_HDRS, SDP);
	off[1] = s.n;
	sip_msg(&s, "ACK sip:bob@biloxi.example.com SIP/2.0", "CSeq: 1 ACK\r\n", "");
	off[2] = s.n;
	sip_msg(&s, "BYE sip:bob@biloxi.example.com SIP/2.0", "CSeq: 2 BYE\r\n", "");
	off[3] = s.n;
	app_framing_t f;
	coll_t c = {0};
	app_framing_init(&f, 0);
	app_framing_push(&f, TLS_DIR_C2S, (const uint8_t *)s.p, s.n, on_emit, &c);
	bool ok = c.n == 3, zc = c.n == 3;
	for (size_t i = 0; ok && i < 3; i++) {
		ok = msg_is(&c, i, TLS_APP_SIP, s.p + off[i], off[i + 1] - off[i]);
		zc = zc && c.v[i].ptr == (const uint8_t *)s.p + off[i];
	}
	tap_ok(ok, "three SIP messages in one push: three exact messages (got %zu)", c.n);
	tap_ok(zc, "three SIP messages in one push: all emitted zero-copy");
	app_framing_free(&f);
	coll_free(&c);

	/* a complete message after a buffered tail: the first is copied, the next zero-copy */
	app_framing_init(&f, 0);
	size_t cut = off[1] - 10;
	app_framing_push(&f, TLS_DIR_C2S, (const uint8_t *)s.p, cut, on_emit, &c);
	app_framing_push(&f, TLS_DIR_C2S, (const uint8_t *)s.p + cut, s.n - cut, on_emit, &c);
	tap_ok(c.n == 3 && c.v[0].ptr != (const uint8_t *)s.p &&
	       c.v[1].ptr == (const uint8_t *)s.p + off[1] && c.v[2].ptr == (const uint8_t *)s.p + off[2],
	       "split first message: reassembled copy, then the following ones zero-copy");
	app_framing_free(&f);
	coll_free(&c);
	free(s.p);
}

static void test_sip_headers(void)
{
	coll_t c = {0};
	/* compact l: */
	const char *m1 = "MESSAGE sip:bob@example.com SIP/2.0\r\nCSeq: 1 MESSAGE\r\nl: 5\r\n\r\nhello";
	const char *m2 = "MESSAGE sip:bob@example.com SIP/2.0\r\nCSeq: 2 MESSAGE\r\nL:3\r\n\r\nbye";
	sbuf_t s = {0};
	sb_str(&s, m1);
	sb_str(&s, m2);
	frame(s.p, s.n, NULL, 0, 0, &c);
	tap_ok(c.n == 2 && msg_is(&c, 0, TLS_APP_SIP, m1, strlen(m1)) && msg_is(&c, 1, TLS_APP_SIP, m2, strlen(m2)),
	       "compact 'l:' / 'L:' header delimits the body");
	coll_free(&c);
	free(s.p);
	s = (sbuf_t){0};

	/* case-insensitive names, whitespace before the colon, folding */
	const char *v[] = {
		"MESSAGE sip:b@e SIP/2.0\r\ncontent-length: 4\r\n\r\nabcd",
		"MESSAGE sip:b@e SIP/2.0\r\nCONTENT-LENGTH:4\r\n\r\nabcd",
		"MESSAGE sip:b@e SIP/2.0\r\ncOnTeNt-LeNgTh  \t:   4  \r\n\r\nabcd",
		"MESSAGE sip:b@e SIP/2.0\r\nContent-Length:\r\n   4\r\nX: y\r\n\r\nabcd",
		"MESSAGE sip:b@e SIP/2.0\r\nSubject: folded\r\n  line\r\nContent-Length: 4\r\n\r\nabcd",
		"MESSAGE sip:b@e SIP/2.0\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
	};
	const char *names[] = { "lower-case content-length", "upper-case CONTENT-LENGTH",
		"whitespace around the colon", "value on a folded line", "folded other header",
		"two agreeing Content-Length" };
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		s = (sbuf_t){0};
		sb_str(&s, v[i]);
		sb_str(&s, "OPTIONS sip:b@e SIP/2.0\r\nContent-Length: 0\r\n\r\n");
		frame(s.p, s.n, NULL, 0, 0, &c);
		tap_ok(c.n == 2 && msg_is(&c, 0, TLS_APP_SIP, v[i], strlen(v[i])) && c.v[1].app == TLS_APP_SIP,
		       "SIP %s: body framed, next message intact", names[i]);
		coll_free(&c);
		free(s.p);
	}

	/* missing Content-Length on a stream: 0, counted */
	{
		const char *a = "OPTIONS sip:b@e SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n";
		const char *b = "SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
		s = (sbuf_t){0};
		sb_str(&s, a);
		sb_str(&s, b);
		app_framing_t f;
		app_framing_init(&f, 0);
		app_framing_push(&f, 0, (const uint8_t *)s.p, s.n, on_emit, &c);
		tap_ok(c.n == 2 && msg_is(&c, 0, TLS_APP_SIP, a, strlen(a)) && msg_is(&c, 1, TLS_APP_SIP, b, strlen(b)) &&
		       f.dir[0].n_missing_length == 1,
		       "SIP without Content-Length: body 0, next message intact, counted");
		app_framing_free(&f);
		coll_free(&c);
		free(s.p);
	}

	/* LF-only line ends */
	{
		const char *a = "MESSAGE sip:b@e SIP/2.0\nContent-Length: 2\n\nhi";
		s = (sbuf_t){0};
		sb_str(&s, a);
		sb_str(&s, a);
		frame(s.p, s.n, NULL, 0, 0, &c);
		tap_ok(c.n == 2 && msg_is(&c, 0, TLS_APP_SIP, a, strlen(a)) && msg_is(&c, 1, TLS_APP_SIP, a, strlen(a)),
		       "SIP with bare-LF line ends is framed");
		coll_free(&c);
		free(s.p);
	}

	/* other URI schemes, extension method, status lines */
	{
		const char *a = "X-CUSTOM.m tel:+15551234567 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
		frame(a, strlen(a), NULL, 0, 0, &c);
		tap_ok(c.n == 1 && msg_is(&c, 0, TLS_APP_SIP, a, strlen(a)), "extension method with tel: URI is SIP");
		coll_free(&c);
		const char *b = "SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n";
		s = (sbuf_t){0};
		sb_str(&s, b);
		sip_msg(&s, "SIP/2.0 200 OK", "CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n", SDP);
		frame(s.p, s.n, NULL, 0, 0, &c);
		tap_ok(c.n == 2 && msg_is(&c, 0, TLS_APP_SIP, b, strlen(b)) && msg_is(&c, 1, TLS_APP_SIP, s.p + strlen(b), s.n - strlen(b)),
		       "SIP responses (180, 200+SDP) framed");
		coll_free(&c);
		free(s.p);
	}
}

static void test_sip_keepalive(void)
{
	coll_t c = {0};
	const char *a = "OPTIONS sip:b@e SIP/2.0\r\nContent-Length: 0\r\n\r\n";
	sbuf_t s = {0};
	sb_str(&s, "\r\n\r\n");
	sb_str(&s, a);
	sb_str(&s, "\r\n\r\n");
	sb_str(&s, a);
	sb_str(&s, "\r\n");
	frame(s.p, s.n, NULL, 0, 0, &c);
	bool ok = c.n == 5 &&
	          c.v[0].ka && c.v[0].len == 4 && c.v[0].app == TLS_APP_SIP &&
	          msg_is(&c, 1, TLS_APP_SIP, a, strlen(a)) &&
	          c.v[2].ka && c.v[2].len == 4 &&
	          msg_is(&c, 3, TLS_APP_SIP, a, strlen(a)) &&
	          c.v[4].ka && c.v[4].len == 2 && c.v[4].app == TLS_APP_SIP;
	tap_ok(ok, "SIP keep-alives: leading ping, ping between messages, trailing pong (%zu msgs)", c.n);
	tap_ok(cat_ok(&c, 0, s.p, s.n), "SIP keep-alives: concatenation exact");
	coll_free(&c);

	/* a ping split inside, before the first message: still one 4-byte ping */
	size_t cuts[2] = { 1, 3 };
	frame(s.p, s.n, cuts, 2, 0, &c);
	tap_ok(c.n == 5 && c.v[0].ka && c.v[0].len == 4 && c.v[0].app == TLS_APP_SIP,
	       "ping split over three records before detection: one 4-byte SIP keep-alive");
	coll_free(&c);
	free(s.p);

	/* s2c pong with c2s known SIP: emitted at once */
	app_framing_t f;
	app_framing_init(&f, 0);
	app_framing_push(&f, TLS_DIR_C2S, (const uint8_t *)"\r\n\r\n", 4, on_emit, &c);
	tap_ok(c.n == 0, "a lone ping on an undecided stream waits for the protocol");
	app_framing_push(&f, TLS_DIR_C2S, (const uint8_t *)a, strlen(a), on_emit, &c);
	tap_ok(c.n == 2 && c.v[0].ka && c.v[0].dir == 0 && msg_is(&c, 1, TLS_APP_SIP, a, strlen(a)),
	       "…and is emitted as a keep-alive once the first message shows SIP");
	app_framing_push(&f, TLS_DIR_S2C, (const uint8_t *)"\r\n", 2, on_emit, &c);
	tap_ok(c.n == 3 && c.v[2].ka && c.v[2].dir == 1 && c.v[2].app == TLS_APP_SIP && c.v[2].len == 2,
	       "pong on s2c (c2s is SIP): emitted immediately as SIP keep-alive");
	app_framing_free(&f);
	coll_free(&c);
}

static void test_sip_large(void)
{
	/* 40 KB message across 3 pushes */
	size_t bl = 40000;
	char *body = xrealloc(NULL, bl + 1);
	for (size_t i = 0; i < bl; i++) body[i] = (char)('a' + i % 26);
	body[bl] = 0;
	sbuf_t s = {0};
	sip_msg(&s, "MESSAGE sip:bob@example.com SIP/2.0", "Content-Type: text/plain\r\n", body);
	app_framing_t f;
	coll_t c = {0};
	app_framing_init(&f, 0);
	size_t a = 15000, b = 30000;
	push_copy(&f, 0, s.p, a, &c);
	size_t n1 = c.n;
	push_copy(&f, 0, s.p + a, b - a, &c);
	size_t n2 = c.n;
	size_t buffered = app_framing_buffered(&f);
	push_copy(&f, 0, s.p + b, s.n - b, &c);
	tap_ok(n1 == 0 && n2 == 0 && buffered >= b, "40 KB SIP message: nothing emitted until complete, %zu allocated", buffered);
	tap_ok(c.n == 1 && msg_is(&c, 0, TLS_APP_SIP, s.p, s.n), "40 KB SIP message across 3 pushes: one exact message");
	tap_ok(app_framing_buffered(&f) <= 65536, "40 KB SIP message: at most a 64 KiB buffer kept for reuse afterwards (%zu)",
	       app_framing_buffered(&f));

	/* steady state: the buffer is reused, no reallocation for more such messages */
	uint8_t *bp = f.dir[0].buf;
	size_t cap = f.dir[0].cap;
	bool same = true;
	for (int k = 0; k < 5; k++) {
		push_copy(&f, 0, s.p, a, &c);
		push_copy(&f, 0, s.p + a, s.n - a, &c);
		same = same && f.dir[0].buf == bp && f.dir[0].cap == cap;
	}
	tap_ok(same && c.n == 6, "steady state: the direction buffer is reused (no reallocation)");
	app_framing_free(&f);
	coll_free(&c);

	/* max_message exceeded: raw, exact, direction stays raw */
	const char *next = "OPTIONS sip:b@e SIP/2.0\r\nContent-Length: 0\r\n\r\n";
	sbuf_t t = {0};
	sip_msg(&t, "OPTIONS sip:b@e SIP/2.0", "", "ok");
	size_t first = t.n;
	sb_add(&t, s.p, s.n);
	sb_str(&t, next);
	app_framing_init(&f, 8192);
	size_t maxbuf = 0;
	for (size_t off = 0; off < t.n; off += 1000) {
		size_t l = t.n - off < 1000 ? t.n - off : 1000;
		push_copy(&f, 0, t.p + off, l, &c);
		if (app_framing_buffered(&f) > maxbuf) maxbuf = app_framing_buffered(&f);
	}
	app_framing_flush(&f, 0, on_emit, &c);
	tap_ok(c.n >= 2 && msg_is(&c, 0, TLS_APP_SIP, t.p, first) && count_app(&c, TLS_APP_SIP) == 1,
	       "max_message exceeded: first message SIP, the rest raw (%zu msgs)", c.n);
	tap_ok(cat_ok(&c, 0, t.p, t.n), "max_message exceeded: concatenation exact");
	tap_ok(maxbuf <= 8192, "max_message exceeded: never buffered more than max_message (%zu)", maxbuf);
	app_framing_free(&f);
	coll_free(&c);

	/* chunked growth beyond max_message (no Content-Length known up front) */
	app_framing_init(&f, 4096);
	push_copy(&f, 0, "GET / HTTP/1.1\r\n\r\n", 18, &c);
	sbuf_t h = {0};
	sb_str(&h, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int k = 0; k < 40; k++) sb_str(&h, "80\r\n" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	                                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n");
	sb_str(&h, "0\r\n\r\n");
	maxbuf = 0;
	for (size_t off = 0; off < h.n; off += 700) {
		size_t l = h.n - off < 700 ? h.n - off : 700;
		push_copy(&f, 1, h.p + off, l, &c);
		if (app_framing_buffered(&f) > maxbuf) maxbuf = app_framing_buffered(&f);
	}
	app_framing_flush(&f, 1, on_emit, &c);
	tap_ok(cat_ok(&c, 1, h.p, h.n) && maxbuf <= 4096 && count_app(&c, TLS_APP_HTTP) == 1,
	       "chunked body beyond max_message: raw, exact, bounded (%zu buffered max)", maxbuf);
	app_framing_free(&f);
	coll_free(&c);
	free(h.p);
	free(t.p);
	free(s.p);
	free(body);
}

static void test_sip_hostile(void)
{
	coll_t c = {0};
	const char *good = "OPTIONS sip:b@e SIP/2.0\r\nContent-Length: 0\r\n\r\n";
	struct { const char *m, *name; } v[] = {
		{ "MESSAGE sip:b@e SIP/2.0\r\nContent-Length: 99999999999999999999\r\n\r\nabc", "huge Content-Length 99999999999999999999" },
		{ "MESSAGE sip:b@e SIP/2.0\r\nContent-Length: 18446744073709551615\r\n\r\nabc", "Content-Length UINT64_MAX" },
		{ "MESSAGE sip:b@e SIP/2.0\r\nContent-Length: 3\r\nl: 4\r\n\r\nabcd", "disagreeing Content-Length / l" },
		{ "MESSAGE sip:b@e SIP/2.0\r\nContent-Length: abc\r\n\r\nabc", "non-numeric Content-Length" },
		{ "MESSAGE sip:b@e SIP/2.0\r\nContent-Length: -3\r\n\r\nabc", "negative Content-Length" },
		{ "MESSAGE sip:b@e SIP/2.0\r\nContent-Length: 3 4\r\n\r\nabc", "two numbers in Content-Length" },
		{ "MESSAGE sip:b@e SIP/2.0\r\nContent-Length:\r\n\r\nabc", "empty Content-Length" },
		{ "MESSAGE sip:b@e SIP/2.0\r\nContent-Length: 5000000\r\n\r\nabc", "Content-Length beyond max_message" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		sbuf_t s = {0};
		sb_str(&s, good);
		sb_str(&s, v[i].m);
		sb_str(&s, good);
		frame(s.p, s.n, NULL, 0, 0, &c);
		bool ok = c.n >= 2 && msg_is(&c, 0, TLS_APP_SIP, good, strlen(good)) &&
		          count_app(&c, TLS_APP_SIP) == 1 && count_app(&c, TLS_APP_RAW) == c.n - 1 &&
		          cat_ok(&c, 0, s.p, s.n);
		tap_ok(ok, "SIP %s: raw for the rest of the stream, exact, no crash", v[i].name);
		coll_free(&c);
		free(s.p);
	}
	/* garbage after a valid message */
	sbuf_t s = {0};
	sb_str(&s, good);
	sb_str(&s, "\x01\x02garbage that is not SIP\r\n\r\n");
	sb_str(&s, good);
	frame(s.p, s.n, NULL, 0, 0, &c);
	tap_ok(c.n == 2 && msg_is(&c, 0, TLS_APP_SIP, good, strlen(good)) && c.v[1].app == TLS_APP_RAW &&
	       cat_ok(&c, 0, s.p, s.n), "binary garbage after a SIP message: rest raw, exact");
	coll_free(&c);
	free(s.p);
	/* a start line of the wrong protocol in a SIP stream */
	s = (sbuf_t){0};
	sb_str(&s, good);
	sb_str(&s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	frame(s.p, s.n, NULL, 0, 0, &c);
	tap_ok(c.n == 2 && c.v[1].app == TLS_APP_RAW && cat_ok(&c, 0, s.p, s.n),
	       "HTTP request inside a SIP stream: raw from there, exact");
	coll_free(&c);
	free(s.p);
	/* header section without end */
	s = (sbuf_t){0};
	sb_str(&s, "MESSAGE sip:b@e SIP/2.0\r\n");
	while (s.n < 70000) sb_str(&s, "X-Filler: 0123456789012345678901234567890123456789\r\n");
	app_framing_t f;
	app_framing_init(&f, 0);
	size_t maxbuf = 0;
	for (size_t off = 0; off < s.n; off += 1500) {
		size_t l = s.n - off < 1500 ? s.n - off : 1500;
		push_copy(&f, 0, s.p + off, l, &c);
		if (app_framing_buffered(&f) > maxbuf) maxbuf = app_framing_buffered(&f);
	}
	app_framing_flush(&f, 0, on_emit, &c);
	tap_ok(count_app(&c, TLS_APP_SIP) == 0 && cat_ok(&c, 0, s.p, s.n) && maxbuf <= 65536,
	       "70 KB header section without end: raw at 64 KiB, exact (max buffered %zu)", maxbuf);
	app_framing_free(&f);
	coll_free(&c);
	free(s.p);
}

/* ------------------------------------------------------------------ HTTP tests */

/* run c2s pushes and s2c pushes in the given interleaving: one push per string */
static void http_pair(app_framing_t *f, const char *c2s, const char *s2c, coll_t *c)
{
	if (c2s) push_copy(f, TLS_DIR_C2S, c2s, strlen(c2s), c);
	if (s2c) push_copy(f, TLS_DIR_S2C, s2c, strlen(s2c), c);
}

static const rec_t *nth_dir(const coll_t *c, int dir, size_t k)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].dir == dir && k-- == 0) return &c->v[i];
	return NULL;
}

static bool rec_is(const rec_t *r, tls_app_t app, const char *s)
{
	return r && r->app == app && !r->ka && r->len == strlen(s) && !memcmp(r->data, s, r->len);
}

static void test_http(void)
{
	app_framing_t f;
	coll_t c = {0};
	const char *get = "GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
	const char *post = "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello world";

	app_framing_init(&f, 0);
	http_pair(&f, get, NULL, &c);
	tap_ok(c.n == 1 && rec_is(&c.v[0], TLS_APP_HTTP, get), "HTTP GET without body: one message");
	coll_free(&c);
	sbuf_t s = {0};
	sb_str(&s, get);
	sb_str(&s, post);
	sb_str(&s, get);
	push_copy(&f, 0, s.p, s.n, &c);
	tap_ok(c.n == 3 && rec_is(&c.v[0], TLS_APP_HTTP, get) && rec_is(&c.v[1], TLS_APP_HTTP, post) &&
	       rec_is(&c.v[2], TLS_APP_HTTP, get), "pipelined GET, POST with body, GET in one push: three messages");
	coll_free(&c);
	free(s.p);
	app_framing_free(&f);

	/* chunked response with extensions and trailers */
	const char *chk =
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
		"5;name=value;q=\"a b\"\r\nhello\r\n"
		"1A \r\nabcdefghijklmnopqrstuvwxyz\r\n"
		"0;last\r\nX-Sum: 42\r\nX-More: yes\r\n\r\n";
	const char *ok2 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	s = (sbuf_t){0};
	sb_str(&s, chk);
	sb_str(&s, ok2);
	app_framing_init(&f, 0);
	http_pair(&f, get, NULL, &c);
	http_pair(&f, get, NULL, &c);
	push_copy(&f, 1, s.p, s.n, &c);
	tap_ok(rec_is(nth_dir(&c, 1, 0), TLS_APP_HTTP, chk) && rec_is(nth_dir(&c, 1, 1), TLS_APP_HTTP, ok2) &&
	       !nth_dir(&c, 1, 2), "chunked response with extensions and trailers, then a Content-Length one");
	app_framing_free(&f);
	coll_free(&c);

	/* all 2-way splits of the chunked pair */
	size_t bad = 0;
	for (size_t i = 1; i < s.n; i++) {
		app_framing_init(&f, 0);
		http_pair(&f, get, NULL, &c);
		http_pair(&f, get, NULL, &c);
		push_cuts(&f, 1, s.p, s.n, &i, 1, &c, false);
		if (!rec_is(nth_dir(&c, 1, 0), TLS_APP_HTTP, chk) || !rec_is(nth_dir(&c, 1, 1), TLS_APP_HTTP, ok2) ||
		    nth_dir(&c, 1, 2)) bad++;
		app_framing_free(&f);
		coll_free(&c);
	}
	tap_ok(bad == 0, "chunked response: all %zu two-way splits identical (bad %zu)", s.n - 1, bad);
	free(s.p);

	/* chunked request */
	const char *creq = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
	s = (sbuf_t){0};
	sb_str(&s, creq);
	sb_str(&s, get);
	app_framing_init(&f, 0);
	push_copy(&f, 0, s.p, s.n, &c);
	tap_ok(c.n == 2 && rec_is(&c.v[0], TLS_APP_HTTP, creq) && rec_is(&c.v[1], TLS_APP_HTTP, get),
	       "chunked request ('gzip, chunked'), then a GET");
	app_framing_free(&f);
	coll_free(&c);
	free(s.p);

	/* 204 / 304 / 100 Continue */
	const char *r204 = "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n";
	const char *r304 = "HTTP/1.1 304 Not Modified\r\nContent-Length: 512\r\nETag: \"x\"\r\n\r\n";
	const char *r100 = "HTTP/1.1 100 Continue\r\n\r\n";
	const char *r200 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde";
	s = (sbuf_t){0};
	sb_str(&s, r204);
	sb_str(&s, r304);
	sb_str(&s, r100);
	sb_str(&s, r200);
	sb_str(&s, r200);
	app_framing_init(&f, 0);
	for (int k = 0; k < 4; k++) http_pair(&f, get, NULL, &c);
	push_copy(&f, 1, s.p, s.n, &c);
	tap_ok(rec_is(nth_dir(&c, 1, 0), TLS_APP_HTTP, r204) && rec_is(nth_dir(&c, 1, 1), TLS_APP_HTTP, r304) &&
	       rec_is(nth_dir(&c, 1, 2), TLS_APP_HTTP, r100) && rec_is(nth_dir(&c, 1, 3), TLS_APP_HTTP, r200) &&
	       rec_is(nth_dir(&c, 1, 4), TLS_APP_HTTP, r200) && !nth_dir(&c, 1, 5),
	       "204 and 304 with Content-Length have no body; 100 Continue is interim");
	app_framing_free(&f);
	coll_free(&c);
	free(s.p);

	/* HEAD: response with Content-Length but no body, in request order */
	const char *head = "HEAD /big HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *rhead = "HTTP/1.1 200 OK\r\nContent-Length: 123456\r\n\r\n";
	s = (sbuf_t){0};
	sb_str(&s, get);
	sb_str(&s, head);
	sb_str(&s, get);
	app_framing_init(&f, 0);
	push_copy(&f, 0, s.p, s.n, &c);
	free(s.p);
	s = (sbuf_t){0};
	sb_str(&s, r200);
	sb_str(&s, rhead);
	sb_str(&s, r200);
	push_copy(&f, 1, s.p, s.n, &c);
	tap_ok(rec_is(nth_dir(&c, 1, 0), TLS_APP_HTTP, r200) && rec_is(nth_dir(&c, 1, 1), TLS_APP_HTTP, rhead) &&
	       rec_is(nth_dir(&c, 1, 2), TLS_APP_HTTP, r200) && !nth_dir(&c, 1, 3),
	       "pipelined GET, HEAD, GET: the HEAD answer has no body despite Content-Length");
	app_framing_free(&f);
	coll_free(&c);
	free(s.p);

	/* close-delimited body at flush */
	const char *rclose = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until the connection closes";
	app_framing_init(&f, 0);
	http_pair(&f, get, NULL, &c);
	size_t cut = 30;
	push_cuts(&f, 1, rclose, strlen(rclose), &cut, 1, &c, false);
	tap_ok(!nth_dir(&c, 1, 0), "response without length: nothing emitted before the end");
	app_framing_flush(&f, 1, on_emit, &c);
	tap_ok(rec_is(nth_dir(&c, 1, 0), TLS_APP_HTTP, rclose) && !nth_dir(&c, 1, 1) && app_framing_buffered(&f) == 0,
	       "close-delimited body emitted at flush as one HTTP message");
	app_framing_free(&f);
	coll_free(&c);

	/* Transfer-Encoding not chunked on a response: close-delimited */
	const char *rgz = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08 binary";
	app_framing_init(&f, 0);
	http_pair(&f, get, rgz, &c);
	app_framing_flush(&f, 1, on_emit, &c);
	tap_ok(rec_is(nth_dir(&c, 1, 0), TLS_APP_HTTP, rgz) && !nth_dir(&c, 1, 1),
	       "response with non-chunked Transfer-Encoding: body until close");
	app_framing_free(&f);
	coll_free(&c);

	/* Transfer-Encoding not chunked on a request: unframeable -> raw */
	const char *rqgz = "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxyz";
	app_framing_init(&f, 0);
	push_copy(&f, 0, rqgz, strlen(rqgz), &c);
	tap_ok(c.n == 1 && c.v[0].app == TLS_APP_RAW && cat_ok(&c, 0, rqgz, strlen(rqgz)),
	       "request with non-chunked Transfer-Encoding: raw");
	app_framing_free(&f);
	coll_free(&c);

	/* 101 Switching Protocols to something other than WebSocket (which ws_test covers):
	 * both directions raw afterwards */
	const char *up = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
	const char *r101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
	const char wsf[] = "\x81\x05hello";
	app_framing_init(&f, 0);
	http_pair(&f, up, NULL, &c);
	s = (sbuf_t){0};
	sb_str(&s, r101);
	sb_add(&s, wsf, sizeof wsf - 1);
	push_copy(&f, 1, s.p, s.n, &c);
	push_copy(&f, 0, "GET / HTTP/1.1\r\n\r\n", 18, &c);
	push_copy(&f, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38, &c);
	tap_ok(rec_is(nth_dir(&c, 1, 0), TLS_APP_HTTP, r101) && nth_dir(&c, 1, 1) &&
	       nth_dir(&c, 1, 1)->app == TLS_APP_RAW && nth_dir(&c, 1, 1)->len == sizeof wsf - 1,
	       "101: the response is HTTP, the bytes after it raw");
	tap_ok(nth_dir(&c, 0, 1) && nth_dir(&c, 0, 1)->app == TLS_APP_RAW &&
	       nth_dir(&c, 1, 2) && nth_dir(&c, 1, 2)->app == TLS_APP_RAW,
	       "101: both directions stay raw afterwards (HTTP-looking bytes included)");
	app_framing_free(&f);
	coll_free(&c);
	free(s.p);

	/* CONNECT + 200: tunnel -> raw */
	app_framing_init(&f, 0);
	http_pair(&f, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	          "HTTP/1.1 200 Connection established\r\n\r\n", &c);
	push_copy(&f, 0, "\x16\x03\x01\x00\x05hello", 10, &c);
	push_copy(&f, 1, "\x16\x03\x03\x00\x02hi", 7, &c);
	tap_ok(c.n == 4 && c.v[0].app == TLS_APP_HTTP && c.v[1].app == TLS_APP_HTTP &&
	       c.v[2].app == TLS_APP_RAW && c.v[3].app == TLS_APP_RAW, "CONNECT answered 200: tunnel bytes raw");
	app_framing_free(&f);
	coll_free(&c);

	/* hostile chunked */
	const char *hc[] = {
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\nxx\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab",
	};
	const char *hcn[] = { "chunk-size overflow", "missing CRLF after chunk data", "non-hex chunk size",
	                      "disagreeing Content-Length list" };
	for (size_t i = 0; i < 4; i++) {
		app_framing_init(&f, 0);
		http_pair(&f, get, NULL, &c);
		push_copy(&f, 1, hc[i], strlen(hc[i]), &c);
		app_framing_flush(&f, 1, on_emit, &c);
		tap_ok(nth_dir(&c, 1, 0) && nth_dir(&c, 1, 0)->app == TLS_APP_RAW && cat_ok(&c, 1, hc[i], strlen(hc[i])),
		       "HTTP %s: raw, exact", hcn[i]);
		app_framing_free(&f);
		coll_free(&c);
	}
}

/* ------------------------------------------------------------------ raw / detection */

static void test_raw(void)
{
	app_framing_t f;
	coll_t c = {0};
	const char pre[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	const char settings[] = "\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64";
	app_framing_init(&f, 0);
	push_copy(&f, 0, pre, sizeof pre - 1, &c);
	push_copy(&f, 0, settings, sizeof settings - 1, &c);
	tap_ok(c.n == 2 && c.v[0].app == TLS_APP_RAW && c.v[0].len == sizeof pre - 1 &&
	       c.v[1].app == TLS_APP_RAW && c.v[1].len == sizeof settings - 1,
	       "HTTP/2 preface + SETTINGS: raw, one message per push");
	app_framing_free(&f);
	coll_free(&c);

	app_framing_init(&f, 0);
	push_copy(&f, 1, "\x00\x01\x02", 3, &c);
	tap_ok(c.n == 1 && c.v[0].app == TLS_APP_RAW && app_framing_buffered(&f) == 0,
	       "binary first bytes: raw immediately, nothing held");
	app_framing_free(&f);
	coll_free(&c);

	/* zero copy for raw */
	app_framing_init(&f, 0);
	uint8_t bin[5] = { 0xde, 0xad, 0xbe, 0xef, 0 };
	app_framing_push(&f, 0, bin, 5, on_emit, &c);
	tap_ok(c.n == 1 && c.v[0].ptr == bin, "raw push emitted zero-copy");
	app_framing_free(&f);
	coll_free(&c);

	/* short first record: wait, then decide */
	const char *inv = "INVITE sip:bob@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n";
	app_framing_init(&f, 0);
	push_copy(&f, 0, inv, 3, &c);
	size_t n1 = c.n, b1 = app_framing_buffered(&f);
	push_copy(&f, 0, inv + 3, 10, &c);
	size_t n2 = c.n;
	push_copy(&f, 0, inv + 13, strlen(inv) - 13, &c);
	tap_ok(n1 == 0 && b1 >= 3 && n2 == 0 && c.n == 1 && rec_is(&c.v[0], TLS_APP_SIP, inv),
	       "first record shorter than the request line: waits, then one SIP message");
	app_framing_free(&f);
	coll_free(&c);

	/* a token-like first line that never ends: raw after the detection window */
	char *aa = xrealloc(NULL, 3000);
	memset(aa, 'A', 3000);
	app_framing_init(&f, 0);
	size_t maxbuf = 0;
	for (size_t off = 0; off < 3000; off += 100) {
		push_copy(&f, 0, aa + off, 100, &c);
		if (app_framing_buffered(&f) > maxbuf) maxbuf = app_framing_buffered(&f);
	}
	tap_ok(count_app(&c, TLS_APP_RAW) == c.n && c.n > 0 && maxbuf <= 1024 && cat_ok(&c, 0, aa, 3000),
	       "endless token-like first line: raw after at most 1 KiB held (held %zu)", maxbuf);
	app_framing_free(&f);
	coll_free(&c);
	free(aa);

	/* plain text that is neither SIP nor HTTP */
	const char *txt = "HELLO world this is not a request line\r\nmore\r\n";
	frame(txt, strlen(txt), NULL, 0, 0, &c);
	tap_ok(c.n == 1 && c.v[0].app == TLS_APP_RAW && cat_ok(&c, 0, txt, strlen(txt)), "unknown text protocol: raw");
	coll_free(&c);

	/* flush of a partial SIP message: raw; flush with NULL emit: discarded; re-detect */
	app_framing_init(&f, 0);
	push_copy(&f, 0, inv, 20, &c);
	push_copy(&f, 0, inv + 20, 10, &c);
	app_framing_flush(&f, 0, on_emit, &c);
	tap_ok(c.n == 1 && c.v[0].app == TLS_APP_RAW && cat_ok(&c, 0, inv, 30) && app_framing_buffered(&f) == 0,
	       "flush of a partial SIP message: emitted raw, buffer empty");
	push_copy(&f, 0, inv, 30, &c);
	app_framing_flush(&f, 0, NULL, NULL);
	tap_ok(c.n == 1 && app_framing_buffered(&f) == 0, "flush with NULL emit discards the partial message");
	push_copy(&f, 0, inv, strlen(inv), &c);
	tap_ok(c.n == 2 && rec_is(&c.v[1], TLS_APP_SIP, inv), "after flush the direction is detected again");
	app_framing_free(&f);
	coll_free(&c);
}

/* ------------------------------------------------------------------ random splits */

static void build_sip_stream(sbuf_t *s)
{
	sb_str(s, "\r\n\r\n");
	sip_msg(s, "INVITE sip:bob@biloxi.example.com SIP/2.0", SIP_HDRS, SDP);
	sb_str(s, "ACK sip:bob@biloxi.example.com SIP/2.0\r\nl: 0\r\n\r\n");
	sb_str(s, "\r\n\r\n");
	sb_str(s, "MESSAGE sip:bob@e SIP/2.0\r\ncontent-length  :\r\n 12\r\n\r\nhello world!");
	sip_msg(s, "SUBSCRIBE sips:presence@e SIP/2.0", "Event: presence\r\n", "");
	sb_str(s, "\r\n");
	char big[5000];
	for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (char)('0' + i % 10);
	big[sizeof big - 1] = 0;
	sip_msg(s, "NOTIFY sip:alice@e SIP/2.0", "Event: presence\r\n", big);
	sb_str(s, "BYE sip:bob@e SIP/2.0\r\nCSeq: 3 BYE\r\n\r\n");   /* no Content-Length */
	sip_msg(s, "OPTIONS sip:x@y SIP/2.0", "", "");
}

static void build_http_streams(sbuf_t *req, sbuf_t *resp)
{
	sb_str(req, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
	sb_str(req, "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n12345");
	sb_str(req, "HEAD /c HTTP/1.1\r\nHost: h\r\n\r\n");
	sb_str(req, "PUT /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n");
	sb_str(req, "GET /e HTTP/1.1\r\n\r\n");
	sb_str(req, "GET /f HTTP/1.1\r\n\r\n");
	sb_str(resp, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
	sb_str(resp, "HTTP/1.1 100 Continue\r\n\r\n");
	sb_str(resp, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n");
	sb_str(resp, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n");                 /* HEAD */
	sb_str(resp, "HTTP/1.1 204 No Content\r\n\r\n");
	sb_str(resp, "HTTP/1.1 304 Not Modified\r\n\r\n");
	sb_str(resp, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nclose-delimited tail");
}

static void test_random_splits(void)
{
	sbuf_t sip = {0}, req = {0}, resp = {0};
	build_sip_stream(&sip);
	build_http_streams(&req, &resp);
	size_t cuts[4096];

	coll_t ref = {0};
	frame(sip.p, sip.n, NULL, 0, 0, &ref);
	tap_ok(count_app(&ref, TLS_APP_SIP) == 7 && count_app(&ref, TLS_APP_RAW) == 0,
	       "mixed SIP stream in one push: 7 SIP messages (got %zu)", count_app(&ref, TLS_APP_SIP));

	coll_t href = {0};
	app_framing_t f;
	app_framing_init(&f, 0);
	push_copy(&f, 0, req.p, req.n, &href);
	push_copy(&f, 1, resp.p, resp.n, &href);
	app_framing_flush(&f, 0, on_emit, &href);
	app_framing_flush(&f, 1, on_emit, &href);
	app_framing_free(&f);
	tap_ok(count_app(&href, TLS_APP_HTTP) == 13 && count_app(&href, TLS_APP_RAW) == 0,
	       "mixed HTTP exchange in one push each: 6 requests + 7 responses (got %zu)", count_app(&href, TLS_APP_HTTP));

	for (uint64_t seed = 1; seed <= 6; seed++) {
		bool ok = true;
		rng_s = seed * 0x9E3779B97F4A7C15ULL;
		for (int rep = 0; rep < 50 && ok; rep++) {
			coll_t x = {0};
			size_t nc = random_cuts(sip.n, cuts, 4096);
			frame(sip.p, sip.n, cuts, nc, 0, &x);
			ok = cat_ok(&x, 0, sip.p, sip.n) && same_msgs(&ref, &x, true);
			coll_free(&x);
		}
		tap_ok(ok, "SIP stream, seed %llu: 50 random splits, exact concatenation and same messages",
		       (unsigned long long)seed);
		ok = true;
		for (int rep = 0; rep < 50 && ok; rep++) {
			coll_t x = {0};
			app_framing_init(&f, 0);
			/* requests first (responses follow their requests), each direction split */
			size_t nc = random_cuts(req.n, cuts, 4096);
			push_cuts(&f, 0, req.p, req.n, cuts, nc, &x, false);
			nc = random_cuts(resp.n, cuts, 4096);
			push_cuts(&f, 1, resp.p, resp.n, cuts, nc, &x, false);
			app_framing_flush(&f, 0, on_emit, &x);
			app_framing_flush(&f, 1, on_emit, &x);
			app_framing_free(&f);
			ok = cat_ok(&x, 0, req.p, req.n) && cat_ok(&x, 1, resp.p, resp.n) && same_msgs(&href, &x, true);
			coll_free(&x);
		}
		tap_ok(ok, "HTTP exchange, seed %llu: 50 random splits, exact concatenation and same messages",
		       (unsigned long long)seed);
	}
	coll_free(&ref);
	coll_free(&href);
	free(sip.p);
	free(req.p);
	free(resp.p);
}

/* random hostile input: fragments of valid syntax glued with random bytes */
static void test_fuzz(void)
{
	static const char *frag[] = {
		"INVITE sip:a@b SIP/2.0\r\n", "SIP/2.0 200 OK\r\n", "GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n",
		"HEAD / HTTP/1.1\r\n", "HTTP/1.1 101 x\r\n", "HTTP/1.1 204 x\r\n", "Content-Length: ", "l: ",
		"Transfer-Encoding: chunked\r\n", "\r\n", "\r\n\r\n", "\n", "\r", "0", "5", "17", "ffff",
		"99999999999999999999", ";ext=1", " ", "\t", ":", "abcdef", "\x00\xff", ",", "-1",
	};
	size_t nf = sizeof frag / sizeof frag[0];
	bool ok = true;
	size_t iters = 0;
	rng_s = 0x1234567ULL;
	uint8_t *buf = xrealloc(NULL, 8192), *in[2] = { xrealloc(NULL, 8192), xrealloc(NULL, 8192) };
	size_t cuts[1024];
	for (int it = 0; it < 3000 && ok; it++, iters++) {
		size_t n = 0, target = 1 + rnd_below(4000);
		while (n < target) {
			if (rnd_below(3)) {
				const char *s = frag[rnd_below(nf)];
				size_t l = strlen(s);
				if (!l) l = 2;                   /* "\x00\xff" */
				if (n + l > 8192) break;
				memcpy(buf + n, s, l);
				n += l;
			} else {
				buf[n++] = (uint8_t)rnd();
			}
		}
		uint32_t maxm = rnd_below(4) == 0 ? (uint32_t)(16 + rnd_below(2000)) : 0;
		app_framing_t f;
		coll_t x = {0};
		app_framing_init(&f, maxm);
		size_t nc = random_cuts(n, cuts, 1024);
		size_t prev = 0, inl[2] = { 0, 0 };
		size_t lim = maxm ? maxm : 1024 * 1024;
		for (size_t i = 0; i <= nc; i++) {
			size_t end = i < nc ? cuts[i] : n;
			int dir = (int)(rnd() & 1);
			if (end > prev) {
				push_copy(&f, dir, buf + prev, end - prev, &x);
				memcpy(in[dir] + inl[dir], buf + prev, end - prev);
				inl[dir] += end - prev;
			}
			/* held: at most max_message per direction (the detection window is smaller) */
			if (app_framing_buffered(&f) > 2 * (lim > 1024 ? lim : 1024)) ok = false;
			prev = end;
		}
		app_framing_flush(&f, 0, on_emit, &x);
		app_framing_flush(&f, 1, on_emit, &x);
		if (app_framing_buffered(&f) != 0) ok = false;
		app_framing_free(&f);
		if (!cat_ok(&x, 0, in[0], inl[0]) || !cat_ok(&x, 1, in[1], inl[1])) ok = false;
		coll_free(&x);
	}
	/* per-direction exactness with the same generator, one direction */
	for (int it = 0; it < 1500 && ok; it++, iters++) {
		size_t n = 0, target = 1 + rnd_below(3000);
		while (n < target) {
			const char *s = frag[rnd_below(nf)];
			size_t l = strlen(s);
			if (!l) l = 2;
			if (n + l > 8192) break;
			memcpy(buf + n, s, l);
			n += l;
		}
		coll_t x = {0};
		size_t nc = random_cuts(n, cuts, 1024);
		frame(buf, n, cuts, nc, rnd_below(3) == 0 ? (uint32_t)(8 + rnd_below(500)) : 0, &x);
		if (!cat_ok(&x, 0, buf, n)) ok = false;
		coll_free(&x);
	}
	free(buf);
	free(in[0]);
	free(in[1]);
	tap_ok(ok, "hostile fragments + random bytes, random splits/limits: exact, bounded (%zu streams)", iters);
}

/* ------------------------------------------------------------------ gaps */

/* A message that a gap cut is never emitted (not as SIP/HTTP, not as raw): Homer's
 * capture plan hands everything to parse_sip. Dropped and counted; framing resumes at the
 * next start line. Raw streams stay raw after a gap. */
static void test_gaps(void)
{
	sbuf_t m1 = {0}, m2 = {0}, m3 = {0};
	sip_msg(&m1, "INVITE sip:bob@example.com SIP/2.0", SIP_HDRS, SDP);
	sip_msg(&m2, "SIP/2.0 200 OK", SIP_HDRS, SDP);
	sip_msg(&m3, "BYE sip:bob@example.com SIP/2.0", SIP_HDRS, "");
	size_t body2 = m2.n - strlen(SDP);           /* where m2's body starts */
	for (int where = 0; where < 3; where++) {
		/* the gap cuts m2 inside its header section (0), its body (1), or right after its
		 * start line (2); some of its bytes are lost, the rest arrives after the gap */
		size_t cut = where == 0 ? 40 : where == 1 ? body2 + 10 : strlen("SIP/2.0 200 OK\r\n");
		size_t lost = 7;
		app_framing_t f;
		coll_t c = {0};
		app_framing_init(&f, 0);
		push_copy(&f, TLS_DIR_S2C, m1.p, m1.n, &c);
		push_copy(&f, TLS_DIR_S2C, m2.p, cut, &c);
		app_framing_gap(&f, TLS_DIR_S2C);
		push_copy(&f, TLS_DIR_S2C, m2.p + cut + lost, m2.n - cut - lost, &c);
		push_copy(&f, TLS_DIR_S2C, m3.p, m3.n, &c);
		app_framing_flush(&f, TLS_DIR_S2C, on_emit, &c);
		const app_dir_state_t *d = &f.dir[TLS_DIR_S2C];
		tap_ok(c.n == 2 && msg_is(&c, 0, TLS_APP_SIP, m1.p, m1.n) && msg_is(&c, 1, TLS_APP_SIP, m3.p, m3.n) &&
		       d->n_gap_cut == 1 && d->gap_dropped == m2.n - lost,
		       "SIP message cut by a gap (%s): not emitted at all, the next one framed, 1 cut / %llu bytes counted",
		       where == 0 ? "in its headers" : where == 1 ? "in its body" : "after its start line",
		       (unsigned long long)d->gap_dropped);
		app_framing_free(&f);
		coll_free(&c);
	}
	{
		/* the gap swallowed the start of m2: its tail (after an idle point) is dropped */
		app_framing_t f;
		coll_t c = {0};
		app_framing_init(&f, 0);
		push_copy(&f, TLS_DIR_C2S, m1.p, m1.n, &c);
		app_framing_gap(&f, TLS_DIR_C2S);
		size_t tail = m2.n - body2 + 20;           /* tail with a CRLF-terminated header line first */
		push_copy(&f, TLS_DIR_C2S, m2.p + m2.n - tail, tail, &c);
		push_copy(&f, TLS_DIR_C2S, m3.p, m3.n, &c);
		const app_dir_state_t *d = &f.dir[TLS_DIR_C2S];
		tap_ok(c.n == 2 && msg_is(&c, 1, TLS_APP_SIP, m3.p, m3.n) && d->n_gap_cut == 1 && d->gap_dropped == tail,
		       "tail of a message whose start a gap lost: dropped and counted, not raw (%zu messages)", c.n);
		app_framing_free(&f);
		coll_free(&c);
		/* a gap exactly between messages cuts nothing */
		app_framing_init(&f, 0);
		push_copy(&f, TLS_DIR_C2S, m1.p, m1.n, &c);
		app_framing_gap(&f, TLS_DIR_C2S);
		push_copy(&f, TLS_DIR_C2S, m3.p, m3.n, &c);
		tap_ok(c.n == 2 && msg_is(&c, 1, TLS_APP_SIP, m3.p, m3.n) && f.dir[0].n_gap_cut == 0 && f.dir[0].gap_dropped == 0,
		       "gap on a message boundary: nothing dropped");
		app_framing_free(&f);
		coll_free(&c);
	}
	{
		/* HTTP: a chunked response cut by a gap; the next response is framed */
		static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
		static const char r1[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
		static const char r2[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n";
		app_framing_t f;
		coll_t c = {0};
		app_framing_init(&f, 0);
		push_copy(&f, TLS_DIR_C2S, req, sizeof req - 1, &c);
		push_copy(&f, TLS_DIR_S2C, r1, 50, &c);
		app_framing_gap(&f, TLS_DIR_S2C);
		push_copy(&f, TLS_DIR_S2C, r1 + 60, sizeof r1 - 61, &c);
		push_copy(&f, TLS_DIR_S2C, r2, sizeof r2 - 1, &c);
		const rec_t *a = nth_dir(&c, 1, 0);
		tap_ok(a && rec_is(a, TLS_APP_HTTP, r2) && !nth_dir(&c, 1, 1) && f.dir[1].n_gap_cut == 1 &&
		       f.dir[1].gap_dropped == sizeof r1 - 11,
		       "HTTP chunked response cut by a gap: not emitted, the next response framed");
		app_framing_free(&f);
		coll_free(&c);
	}
	{
		/* a raw stream keeps its bytes after a gap (there is no message to cut) */
		static const uint8_t bin[] = { 0x00, 0x00, 0x12, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x10, 0x0d, 0x0a };
		app_framing_t f;
		coll_t c = {0};
		app_framing_init(&f, 0);
		push_copy(&f, TLS_DIR_C2S, bin, sizeof bin, &c);
		app_framing_gap(&f, TLS_DIR_C2S);
		push_copy(&f, TLS_DIR_C2S, bin, sizeof bin, &c);
		tap_ok(c.n == 2 && count_app(&c, TLS_APP_RAW) == 2 && c.catlen[0] == 2 * sizeof bin &&
		       f.dir[0].n_gap_cut == 0 && f.dir[0].gap_dropped == 0, "raw stream: bytes after a gap still emitted raw");
		app_framing_free(&f);
		coll_free(&c);
	}
	free(m1.p);
	free(m2.p);
	free(m3.p);
}

int main(void)
{
	test_sip_basic();
	test_sip_multi();
	test_sip_headers();
	test_sip_keepalive();
	test_sip_large();
	test_sip_hostile();
	test_http();
	test_raw();
	test_random_splits();
	test_fuzz();
	test_gaps();
	return tap_done();
}
