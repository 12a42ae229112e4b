/*
 * app_framing_test_random.c — randomized cases: realistic SIP and HTTP streams cut at
 * random record boundaries must give the exact concatenation and the same messages every
 * time, and random hostile
 * input (fragments of valid syntax glued with random bytes) must keep the concatenation
 * property without crashing.
 *
 * Why: the framing must not depend on where records were cut; random cuts find the
 * boundary cases hand-written ones miss. Deterministic (fixed seeds).
 */
#include "app_framing_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void test_random_splits(void)
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
void test_fuzz(void)
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
