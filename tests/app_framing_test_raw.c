/*
 * app_framing_test_raw.c — protocol detection and raw mode: streams that are neither SIP
 * nor HTTP/1.x (e.g. HTTP/2) are passed on as raw chunks, zero-copy; a short first record
 * waits for the decision, the detection window is bounded; flush of a partial message.
 *
 * Why: undetected traffic must still reach the callback complete and unaltered, never
 * mis-framed as SIP or HTTP.
 */
#include "app_framing_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void test_raw(void)
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
