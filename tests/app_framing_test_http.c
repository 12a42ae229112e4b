/*
 * app_framing_test_http.c — HTTP/1.x framing cases: requests and responses with
 * Content-Length, chunked bodies (extensions, trailers, every two-way split), bodiless
 * responses (HEAD, 100, 204, 304), close-delimited bodies, other transfer codings,
 * 101 and CONNECT tunnels (raw afterwards), hostile chunked encodings.
 *
 * Why: the framer must find HTTP message ends exactly as a peer does, pairing responses
 * with the requests they answer, whatever the record boundaries.
 */
#include "app_framing_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* run c2s pushes and s2c pushes in the given interleaving: one push per string */
static void http_pair(app_framing_t *f, const char *c2s, const char *s2c, coll_t *c)
{
	if (c2s) push_copy(f, TLS_DIR_C2S, c2s, strlen(c2s), c);
	if (s2c) push_copy(f, TLS_DIR_S2C, s2c, strlen(s2c), c);
}


void test_http(void)
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
