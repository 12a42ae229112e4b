/*
 * app_framing_test_sip.c — SIP framing cases: zero-copy emission, every two-way and
 * one-byte split, several messages per push, compact / case-insensitive / folded headers,
 * missing Content-Length, LF-only line ends, other URI schemes, RFC 5626 keep-alives,
 * a 40 KB message and buffer reuse, max_message exceeded, garbage and wrong start lines.
 *
 * Why: SIP over TLS is the framer's main job; each message must come out once, whole and
 * byte-exact, whatever the record boundaries, and hostile input must never overrun.
 */
#include "app_framing_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void test_sip_basic(void)
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

void test_sip_multi(void)
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

void test_sip_headers(void)
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

void test_sip_keepalive(void)
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

void test_sip_large(void)
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

void test_sip_hostile(void)
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
