/*
 * ws_test.c — SIP over WebSocket over TLS (RFC 7118 / RFC 6455).
 *
 * Part 1, the frame parser through the framing API (frames built here, byte layouts
 * from RFC 6455 §5.2): 7/16/64-bit lengths, client masking, fragmentation with control
 * frames between fragments, every push split at every byte, the upgrade seen in either
 * capture order (101 before the request; client frames before the 101), a refused
 * upgrade staying HTTP, the max_message bound, RSV bits / reserved opcodes counted,
 * permessage-deflate inflated (context takeover, fragments, a deflate bomb, bad data), a gap never letting a cut message out, the end of
 * the stream likewise, a non-WebSocket 101 staying a raw tunnel.
 *
 * Part 2, real TLS (OpenSSL libssl peers in tlsgen, --app ws-sip: the WebSocket framing is
 * tlsgen's, the TLS is OpenSSL's): a SIP dialog INVITE/1xx/200/ACK/.../BYE/200 with 16-
 * and 64-bit lengths, masked client frames, fragmentation, interleaved ping/pong/close,
 * TLS 1.2 (RSA key) and TLS 1.3 (key log); each SIP message delivered exactly once as SIP
 * with exactly the bytes the peer framed, the upgrade as HTTP. The same under capture
 * conditions (split, reorder, duplicates, ACK first, late segments, replies first, SPAN
 * queues via pcapmangle) and with loss (a segment dropped per direction): then every
 * delivered message is still exactly one the peer sent, in order — none cut by the gap.
 * Part 3, captls -o json says "app":"sip" for them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"
#include "pcapmangle.h"
#include "app_framing.h"
#include <zlib.h>

/* The framer's WebSocket counters (zero before any upgrade). */
#define WSC(f) (*app_framing_ws_counters(&(f)))

/* ------------------------------------------------------------------ part 1 helpers */

typedef struct { tls_app_t app; int dir; bool ka; uint8_t *p; size_t n; } cmsg_t;
typedef struct { cmsg_t m[256]; size_t n; } coll_t;

static void on_emit(void *ctx, int dir, tls_app_t app, const uint8_t *d, size_t n, bool ka)
{
	coll_t *c = ctx;
	if (c->n >= 256) return;
	cmsg_t *m = &c->m[c->n++];
	m->app = app; m->dir = dir; m->ka = ka;
	m->p = malloc(n);
	memcpy(m->p, d, n);
	m->n = n;
}
static void coll_free(coll_t *c)
{
	for (size_t i = 0; i < c->n; i++) free(c->m[i].p);
	c->n = 0;
}
static bool is(const coll_t *c, size_t i, int dir, tls_app_t app, const void *p, size_t n)
{
	if (i >= c->n) return false;
	const cmsg_t *m = &c->m[i];
	return m->dir == dir && m->app == app && m->n == n && !memcmp(m->p, p, n);
}

typedef struct { uint8_t p[200000]; size_t n; } wbuf_t;

static void put(wbuf_t *b, const void *p, size_t n) { memcpy(b->p + b->n, p, n); b->n += n; }
static void puts_(wbuf_t *b, const char *s) { put(b, s, strlen(s)); }

/* one frame, RFC 6455 §5.2 (b0 given whole: FIN, RSV, opcode) */
static void frame(wbuf_t *b, uint8_t b0, bool mask, const void *pl, size_t n)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	uint8_t h[14];
	size_t hl = 0;
	h[hl++] = b0;
	uint8_t mb = mask ? 0x80 : 0;
	if (n < 126) h[hl++] = (uint8_t)(mb | n);
	else if (n <= 0xffff) { h[hl++] = mb | 126; h[hl++] = (uint8_t)(n >> 8); h[hl++] = (uint8_t)n; }
	else { h[hl++] = mb | 127; for (int k = 7; k >= 0; k--) h[hl++] = (uint8_t)((uint64_t)n >> (8 * k)); }
	if (mask) { memcpy(h + hl, key, 4); hl += 4; }
	put(b, h, hl);
	const uint8_t *s = pl;
	for (size_t i = 0; i < n; i++) b->p[b->n + i] = mask ? s[i] ^ key[i & 3] : s[i];
	b->n += n;
}

static const char REQ[] = "GET /ws HTTP/1.1\r\nHost: proxy.example.com\r\nUpgrade: websocket\r\n"
	"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n";
static const char RESP[] = "HTTP/1.1 101 Switching Protocols\r\nUPGRADE: WebSocket\r\n"
	"connection: upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	"Sec-WebSocket-Protocol: sip\r\n\r\n";

static char SIP1[300], SIP2[4000], SIP3[80000];
static size_t L1, L2, L3;

static void make_sip(void)
{
	L1 = (size_t)snprintf(SIP1, sizeof SIP1, "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks\r\n"
	                      "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: a@b\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
	L2 = (size_t)snprintf(SIP2, sizeof SIP2, "SIP/2.0 200 OK\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\nCall-ID: a@b\r\nCSeq: 1 INVITE\r\n"
	                      "Content-Type: application/sdp\r\nContent-Length: 3000\r\n\r\n");
	memset(SIP2 + L2, 'v', 3000); L2 += 3000;
	L3 = (size_t)snprintf(SIP3, sizeof SIP3, "MESSAGE sip:bob@example.com SIP/2.0\r\nCall-ID: m@b\r\nCSeq: 2 MESSAGE\r\nContent-Length: 70000\r\n\r\n");
	memset(SIP3 + L3, 'm', 70000); L3 += 70000;
}

/* the standard exchange: c2s request + frames, s2c 101 + frames */
static void exchange(wbuf_t *c2s, wbuf_t *s2c)
{
	c2s->n = s2c->n = 0;
	puts_(c2s, REQ);
	frame(c2s, 0x81, true, SIP1, L1);                         /* 16-bit length (L1 > 125) */
	frame(c2s, 0x89, true, "ping", 4);                        /* ping between messages */
	frame(c2s, 0x01, true, SIP3, 30000);                      /* fragmented, 64-bit total */
	frame(c2s, 0x89, true, "p2", 2);                          /* ping inside the message */
	frame(c2s, 0x00, true, SIP3 + 30000, 40000);
	frame(c2s, 0x8A, true, "", 0);                            /* pong, empty */
	frame(c2s, 0x80, true, SIP3 + 70000, L3 - 70000);
	frame(c2s, 0x81, true, "\r\n\r\n", 4);                     /* keep-alive message (7-bit) */
	frame(c2s, 0x88, true, "\x03\xe8", 2);                    /* close */
	puts_(s2c, RESP);
	frame(s2c, 0x8A, false, "ping", 4);
	frame(s2c, 0x82, false, SIP2, L2);                         /* binary, 16-bit */
	frame(s2c, 0x02, false, SIP1, 10);
	frame(s2c, 0x80, false, SIP1 + 10, L1 - 10);
	frame(s2c, 0x88, false, "\x03\xe8", 2);
}

/* push buf in pieces of `step` bytes (0: whole) */
static void push(app_framing_t *f, int dir, const wbuf_t *b, size_t step, coll_t *c)
{
	if (!step) { app_framing_push(f, dir, b->p, b->n, on_emit, c); return; }
	for (size_t o = 0; o < b->n; o += step)
		app_framing_push(f, dir, b->p + o, b->n - o < step ? b->n - o : step, on_emit, c);
}

/* the expected per-direction output of exchange() */
static bool expect_std(const coll_t *c, int dir, size_t *k0)
{
	size_t k = 0;
	const cmsg_t *v[16];
	for (size_t i = 0; i < c->n && k < 16; i++) if (c->m[i].dir == dir) v[k++] = &c->m[i];
	coll_t t;
	t.n = k;
	for (size_t i = 0; i < k; i++) t.m[i] = *v[i];
	*k0 = k;
	if (dir == 0)
		return k == 4 && is(&t, 0, 0, TLS_APP_HTTP, REQ, strlen(REQ)) && is(&t, 1, 0, TLS_APP_SIP, SIP1, L1) &&
		       is(&t, 2, 0, TLS_APP_SIP, SIP3, L3) && is(&t, 3, 0, TLS_APP_SIP, "\r\n\r\n", 4) && t.m[3].ka;
	return k == 3 && is(&t, 0, 1, TLS_APP_HTTP, RESP, strlen(RESP)) && is(&t, 1, 1, TLS_APP_SIP, SIP2, L2) &&
	       is(&t, 2, 1, TLS_APP_SIP, SIP1, L1);
}

static wbuf_t A, B;

static void part1(void)
{
	make_sip();
	exchange(&A, &B);
	/* in order, whole and at every split size */
	static const size_t steps[] = { 0, 1, 2, 3, 7, 13, 125, 126, 1000, 16384 };
	for (size_t s = 0; s < sizeof steps / sizeof *steps; s++) {
		for (int order = 0; order < 3; order++) {
			app_framing_t f;
			app_framing_init(&f, 0);
			coll_t c = { .n = 0 };
			if (order == 0) {                      /* request, 101, then everything else */
				wbuf_t r1 = { .n = 0 }, r2 = { .n = 0 };
				put(&r1, A.p, strlen(REQ));
				put(&r2, B.p, strlen(RESP));
				push(&f, 0, &r1, steps[s], &c);
				push(&f, 1, &r2, steps[s], &c);
				wbuf_t a2 = { .n = 0 }, b2 = { .n = 0 };
				put(&a2, A.p + strlen(REQ), A.n - strlen(REQ));
				put(&b2, B.p + strlen(RESP), B.n - strlen(RESP));
				push(&f, 0, &a2, steps[s], &c);
				push(&f, 1, &b2, steps[s], &c);
			} else if (order == 1) {               /* client's request AND frames before the 101 */
				push(&f, 0, &A, steps[s], &c);
				push(&f, 1, &B, steps[s], &c);
			} else {                               /* the 101 (and server frames) first */
				push(&f, 1, &B, steps[s], &c);
				push(&f, 0, &A, steps[s], &c);
			}
			app_framing_flush(&f, 0, on_emit, &c);
			app_framing_flush(&f, 1, on_emit, &c);
			size_t k0, k1;
			bool ok = expect_std(&c, 0, &k0) && expect_std(&c, 1, &k1);
			ok = ok && WSC(f).messages == 5 && WSC(f).sip == 5 && WSC(f).control == 6 && WSC(f).unexpected == 0 &&
			     WSC(f).upgrades == 2 && app_framing_buffered(&f) == 0;
			static const char *on[] = { "in order", "client frames before the 101", "101 before the request" };
			tap_ok(ok, "WS exchange, %s, pushes of %zu bytes: upgrade as http, 5 SIP messages byte-exact, 6 control counted "
			       "(c2s %zu s2c %zu, msgs %llu ctl %llu unexp %llu)", on[order], steps[s], k0, k1,
			       (unsigned long long)WSC(f).messages, (unsigned long long)WSC(f).control, (unsigned long long)WSC(f).unexpected);
			coll_free(&c);
			app_framing_free(&f);
		}
	}

	/* a refused upgrade: the client's next bytes (held meanwhile) are HTTP */
	{
		app_framing_t f;
		app_framing_init(&f, 0);
		coll_t c = { .n = 0 };
		static const char R2[] = "GET /other HTTP/1.1\r\nHost: x\r\n\r\n";
		static const char N401[] = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
		static const char OK[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
		wbuf_t a = { .n = 0 };
		puts_(&a, REQ); puts_(&a, R2);
		app_framing_push(&f, 0, a.p, a.n, on_emit, &c);
		bool held = c.n == 1;
		app_framing_push(&f, 1, (const uint8_t *)N401, strlen(N401), on_emit, &c);
		app_framing_push(&f, 1, (const uint8_t *)OK, strlen(OK), on_emit, &c);
		tap_ok(held && c.n == 4 && is(&c, 0, 0, TLS_APP_HTTP, REQ, strlen(REQ)) && is(&c, 1, 1, TLS_APP_HTTP, N401, strlen(N401)) &&
		       is(&c, 2, 0, TLS_APP_HTTP, R2, strlen(R2)) && is(&c, 3, 1, TLS_APP_HTTP, OK, strlen(OK)) && WSC(f).upgrades == 0,
		       "upgrade refused (401): the bytes held after the request are HTTP, nothing switches (%zu msgs)", c.n);
		coll_free(&c);
		app_framing_free(&f);
	}

	/* an earlier pipelined request's answer is not the upgrade's answer */
	{
		app_framing_t f;
		app_framing_init(&f, 0);
		coll_t c = { .n = 0 };
		static const char G[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
		static const char OK[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
		wbuf_t a = { .n = 0 }, b = { .n = 0 };
		puts_(&a, G); puts_(&a, REQ);
		frame(&a, 0x81, true, SIP1, L1);
		puts_(&b, OK); puts_(&b, RESP);
		frame(&b, 0x81, false, SIP1, L1);
		app_framing_push(&f, 0, a.p, a.n, on_emit, &c);
		app_framing_push(&f, 1, b.p, b.n, on_emit, &c);
		size_t sip = 0;
		for (size_t i = 0; i < c.n; i++) sip += c.m[i].app == TLS_APP_SIP && c.m[i].n == L1 && !memcmp(c.m[i].p, SIP1, L1);
		tap_ok(c.n == 6 && sip == 2 && WSC(f).upgrades == 2, "pipelined GET then upgrade: the GET's 200 does not end the "
		       "hold, the 101 does (%zu msgs, %zu SIP)", c.n, sip);
		coll_free(&c);
		app_framing_free(&f);
	}

	/* max_message: an over-long (fragmented) message dropped whole, the next one delivered */
	{
		app_framing_t f;
		app_framing_init(&f, 8192);
		coll_t c = { .n = 0 };
		wbuf_t a = { .n = 0 }, b = { .n = 0 };
		puts_(&a, REQ); puts_(&b, RESP);
		frame(&a, 0x01, true, SIP3, 5000);
		frame(&a, 0x89, true, "x", 1);
		frame(&a, 0x00, true, SIP3 + 5000, 5000);               /* now 10000 > 8192 */
		frame(&a, 0x80, true, SIP3 + 10000, 100);
		frame(&a, 0x81, true, SIP1, L1);
		frame(&a, 0x82, true, SIP3, 20000);                     /* one frame over the bound */
		frame(&a, 0x81, true, SIP1, L1);
		app_framing_push(&f, 1, b.p, b.n, on_emit, &c);
		push(&f, 0, &a, 977, &c);
		tap_ok(c.n == 4 && is(&c, 2, 0, TLS_APP_SIP, SIP1, L1) && is(&c, 3, 0, TLS_APP_SIP, SIP1, L1) &&
		       WSC(f).oversize == 2 && WSC(f).control == 1 && WSC(f).messages == 2,
		       "messages over max_message dropped whole and counted (%llu), framing kept: the next ones delivered",
		       (unsigned long long)WSC(f).oversize);
		coll_free(&c);
		app_framing_free(&f);
	}

	/* protocol violations: counted; RSV → raw; reserved opcode skipped; stray continuation */
	{
		app_framing_t f;
		app_framing_init(&f, 0);
		coll_t c = { .n = 0 };
		wbuf_t a = { .n = 0 }, b = { .n = 0 };
		puts_(&a, REQ); puts_(&b, RESP);
		frame(&a, 0xC1, true, SIP1, L1);                        /* RSV1 without deflate */
		frame(&a, 0x83, true, "zz", 2);                         /* reserved data opcode */
		frame(&a, 0x80, true, "cc", 2);                         /* continuation, no message */
		frame(&a, 0x09, true, "nofin", 5);                      /* fragmented control frame */
		frame(&a, 0x81, false, SIP1, L1);                       /* unmasked client frame: counted, used */
		frame(&a, 0x81, true, "hello", 5);                      /* not SIP, but sip negotiated */
		app_framing_push(&f, 1, b.p, b.n, on_emit, &c);
		app_framing_push(&f, 0, a.p, a.n, on_emit, &c);
		tap_ok(c.n == 5 && is(&c, 2, 0, TLS_APP_RAW, SIP1, L1) && is(&c, 3, 0, TLS_APP_SIP, SIP1, L1) &&
		       is(&c, 4, 0, TLS_APP_SIP, "hello", 5) && WSC(f).unexpected == 5,
		       "RSV bits (raw), reserved opcode, stray continuation, fragmented control, unmasked client frame: "
		       "counted as unexpected (%llu)", (unsigned long long)WSC(f).unexpected);
		coll_free(&c);
		app_framing_free(&f);
	}

	/* without the sip subprotocol: SIP recognised by its start line, other text raw */
	{
		app_framing_t f;
		app_framing_init(&f, 0);
		coll_t c = { .n = 0 };
		wbuf_t a = { .n = 0 };
		puts_(&a, "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
		static const char R[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
		frame(&a, 0x81, true, "{\"json\":1}", 10);
		frame(&a, 0x81, true, SIP1, L1);
		app_framing_push(&f, 0, a.p, a.n, on_emit, &c);
		app_framing_push(&f, 1, (const uint8_t *)R, strlen(R), on_emit, &c);
		tap_ok(c.n == 4 && is(&c, 2, 0, TLS_APP_RAW, "{\"json\":1}", 10) && is(&c, 3, 0, TLS_APP_SIP, SIP1, L1),
		       "no subprotocol: a SIP start line makes SIP, other messages raw");
		coll_free(&c);
		app_framing_free(&f);
	}

	/* permessage-deflate negotiated (RFC 7692): compressed messages inflated */
	{
		static const char R[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			"Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n\r\n";
		/* one deflate stream per direction (context takeover: the second message refers
		 * back to the first), each message sync-flushed and its 00 00 ff ff removed */
		z_stream zs;
		memset(&zs, 0, sizeof zs);
		deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
		static uint8_t z1[8000], z2[8000], zb[4000];
		size_t n1, n2, nb;
		zs.next_in = (Bytef *)SIP2; zs.avail_in = (uInt)L2; zs.next_out = z1; zs.avail_out = sizeof z1;
		deflate(&zs, Z_SYNC_FLUSH); n1 = sizeof z1 - zs.avail_out - 4;
		zs.next_in = (Bytef *)SIP2; zs.avail_in = (uInt)L2; zs.next_out = z2; zs.avail_out = sizeof z2;
		deflate(&zs, Z_SYNC_FLUSH); n2 = sizeof z2 - zs.avail_out - 4;
		/* a bomb: 200 KB of 'x' in a few hundred bytes, then the same stream goes on */
		static uint8_t bomb[200000];
		memset(bomb, 'x', sizeof bomb);
		zs.next_in = bomb; zs.avail_in = sizeof bomb; zs.next_out = zb; zs.avail_out = sizeof zb;
		deflate(&zs, Z_SYNC_FLUSH); nb = sizeof zb - zs.avail_out - 4;
		static uint8_t z3[8000];
		zs.next_in = (Bytef *)SIP2; zs.avail_in = (uInt)L2; zs.next_out = z3; zs.avail_out = sizeof z3;
		deflate(&zs, Z_SYNC_FLUSH); size_t n3 = sizeof z3 - zs.avail_out - 4;
		deflateEnd(&zs);
		for (int masked = 0; masked < 2; masked++) {
			app_framing_t f;
			app_framing_init(&f, 65536);
			uint64_t budget = 0;
			app_framing_env_t env = { &budget, 1u << 26, NULL };
			f.env = &env;
			coll_t c = { .n = 0 };
			wbuf_t b = { .n = 0 };
			int dir = masked ? 0 : 1;
			frame(&b, 0xC1, masked, z1, n1);                     /* one frame */
			frame(&b, 0x41, masked, z2, n2 / 2);                 /* fragmented, RSV1 on the first only */
			frame(&b, masked ? 0x89 : 0x8A, masked, "pp", 2);
			frame(&b, 0x80, masked, z2 + n2 / 2, n2 - n2 / 2);
			frame(&b, 0xC1, masked, zb, nb);                     /* inflates beyond max_message */
			frame(&b, 0xC1, masked, z3, n3);                     /* refers back across the bomb */
			frame(&b, 0x81, masked, SIP1, L1);                   /* not compressed */
			frame(&b, 0xC1, masked, "\xff\xff\xff\xff", 4);     /* not deflate */
			frame(&b, 0x81, masked, SIP1, L1);
			if (masked) {
				app_framing_push(&f, 1, (const uint8_t *)R, strlen(R), on_emit, &c);
				app_framing_push(&f, 0, (const uint8_t *)REQ, strlen(REQ), on_emit, &c);
			} else {
				app_framing_push(&f, 0, (const uint8_t *)REQ, strlen(REQ), on_emit, &c);
				app_framing_push(&f, 1, (const uint8_t *)R, strlen(R), on_emit, &c);
			}
			push(&f, dir, &b, 333, &c);
			bool ok = c.n == 7 && is(&c, 2, dir, TLS_APP_SIP, SIP2, L2) && is(&c, 3, dir, TLS_APP_SIP, SIP2, L2) &&
			          is(&c, 4, dir, TLS_APP_SIP, SIP2, L2) && is(&c, 5, dir, TLS_APP_SIP, SIP1, L1) &&
			          is(&c, 6, dir, TLS_APP_SIP, SIP1, L1) && WSC(f).inflated == 3 && WSC(f).oversize == 1 &&
			          WSC(f).unexpected == 1 && WSC(f).compressed == 0 && budget > 30000;
			unsigned long long ninf = (unsigned long long)WSC(f).inflated;
			app_framing_free(&f);
			tap_ok(ok && budget == 0, "permessage-deflate, %s frames: inflated byte-exact (context takeover, fragmented "
			       "with a control frame between), a deflate bomb over max_message dropped with the window kept in step, "
			       "non-deflate data dropped + counted, inflate memory charged and given back (%zu msgs, inflated %llu)",
			       masked ? "masked client" : "server", c.n, ninf);
			coll_free(&c);
		}
	}

	/* gaps: the cut message never delivered; frames found again at the next SIP message */
	{
		app_framing_t f;
		app_framing_init(&f, 0);
		coll_t c = { .n = 0 };
		wbuf_t a = { .n = 0 };
		frame(&a, 0x81, true, SIP2, L2);
		frame(&a, 0x89, true, "pp", 2);
		frame(&a, 0x81, true, SIP1, L1);
		frame(&a, 0x81, true, "hello", 5);
		app_framing_push(&f, 1, (const uint8_t *)RESP, strlen(RESP), on_emit, &c);
		app_framing_push(&f, 0, (const uint8_t *)REQ, strlen(REQ), on_emit, &c);
		app_framing_push(&f, 0, a.p, 1000, on_emit, &c);          /* part of SIP2 */
		app_framing_gap(&f, 0);
		app_framing_push(&f, 0, a.p + 1500, a.n - 1500, on_emit, &c);
		bool ok1 = c.n == 4 && is(&c, 2, 0, TLS_APP_SIP, SIP1, L1) && is(&c, 3, 0, TLS_APP_SIP, "hello", 5) &&
		           WSC(f).gap_cut == 1 && WSC(f).resyncs == 1;
		/* a gap between messages, then the rest arrives frame-aligned */
		app_framing_gap(&f, 0);
		app_framing_push(&f, 0, a.p, a.n, on_emit, &c);
		bool ok2 = c.n == 7 && is(&c, 4, 0, TLS_APP_SIP, SIP2, L2) && WSC(f).gap_cut == 1 && WSC(f).resyncs == 2;
		/* a message cut by the end of the stream */
		app_framing_push(&f, 0, a.p, 700, on_emit, &c);
		app_framing_flush(&f, 0, on_emit, &c);
		bool ok3 = c.n == 7 && WSC(f).gap_cut == 2 && app_framing_buffered(&f) == 0;
		tap_ok(ok1 && ok2 && ok3, "gap: the cut message is never delivered (not even raw), frames found again at "
		       "the next SIP message; end of stream mid-message: dropped (%zu msgs, cut %llu, resyncs %llu)",
		       c.n, (unsigned long long)WSC(f).gap_cut, (unsigned long long)WSC(f).resyncs);
		coll_free(&c);
		app_framing_free(&f);
	}

	/* client bytes before the 101 beyond max_message: not held forever, delivered raw */
	{
		app_framing_t f;
		app_framing_init(&f, 4096);
		coll_t c = { .n = 0 };
		wbuf_t a = { .n = 0 };
		puts_(&a, REQ);
		for (int i = 0; i < 30; i++) frame(&a, 0x81, true, SIP1, L1);
		push(&f, 0, &a, 500, &c);
		app_framing_push(&f, 1, (const uint8_t *)RESP, strlen(RESP), on_emit, &c);
		size_t raw = 0, sip = 0;
		for (size_t i = 0; i < c.n; i++) {
			if (c.m[i].dir == 0 && c.m[i].app == TLS_APP_RAW) raw += c.m[i].n;
			if (c.m[i].app == TLS_APP_SIP) sip++;
		}
		tap_ok(is(&c, 0, 0, TLS_APP_HTTP, REQ, strlen(REQ)) && raw == a.n - strlen(REQ) && sip == 0 &&
		       app_framing_buffered(&f) <= 8192,
		       "no 101 within max_message of client bytes: they go out raw (%zu bytes), nothing held beyond the bound", raw);
		coll_free(&c);
		app_framing_free(&f);
	}

	/* a 101 that is not WebSocket (h2c) stays a raw tunnel */
	{
		app_framing_t f;
		app_framing_init(&f, 0);
		coll_t c = { .n = 0 };
		static const char Q[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n";
		static const char R[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
		wbuf_t b = { .n = 0 };
		puts_(&b, R);
		frame(&b, 0x81, false, SIP1, L1);
		app_framing_push(&f, 0, (const uint8_t *)Q, strlen(Q), on_emit, &c);
		app_framing_push(&f, 1, b.p, b.n, on_emit, &c);
		tap_ok(c.n == 3 && c.m[2].app == TLS_APP_RAW && WSC(f).upgrades == 0, "101 to h2c: raw tunnel as before");
		coll_free(&c);
		app_framing_free(&f);
	}
}

/* ------------------------------------------------------------------ part 2: real TLS */

static char KEY[600], CERT[600];

/* Expected messages of direction d: (app, bytes) in order. */
typedef struct { tls_app_t app; const uint8_t *p; size_t n; } exp_t;

static size_t expected(const tlsgen_conn_t *cn, int d, exp_t *e, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < cn->n_msgs && k < max; i++) {
		const tlsgen_msg_t *m = &cn->msgs[i];
		if (m->dir != d || m->ws == 2) continue;
		if (m->ws == 0) e[k++] = (exp_t){ TLS_APP_HTTP, m->data, m->len };
		else e[k++] = (exp_t){ TLS_APP_SIP, m->ws_payload, m->ws_payload_len };
	}
	return k;
}

/* Lossless: the delivered messages of each direction are exactly the expected ones.
 * Lossy: each delivered one is the next-or-later expected one, byte-exact (a subsequence:
 * never a cut message, never one twice). *missing: expected ones not delivered. */
static bool verify(const tlsgen_conn_t *cn, const tu_run_t *r, bool lossy, const char *label, size_t *missing,
                   size_t *after_loss)
{
	bool ok = true;
	*missing = 0;
	*after_loss = 0;
	for (int d = 0; d < 2; d++) {
		exp_t e[512];
		size_t ne = expected(cn, d, e, 512), j = 0, got = 0;
		bool skipped = false;
		for (size_t i = 0; i < r->n_msgs; i++) {
			const tu_msg_t *m = &r->msgs[i];
			if (m->dir != d) continue;
			got++;
			size_t j0 = j;
			while (j < ne && !(e[j].app == m->app && e[j].n == m->len && !memcmp(e[j].p, m->data, m->len))) {
				if (!lossy) break;
				j++;
			}
			if (j >= ne || (!lossy && j != j0) ||
			    !(e[j].app == m->app && e[j].n == m->len && !memcmp(e[j].p, m->data, m->len))) {
				tap_diag("%s: %s message %zu (app %d, %zu bytes) is not the next one the peer sent", label,
				         d ? "s2c" : "c2s", got, (int)m->app, m->len);
				ok = false;
				break;
			}
			if (j > j0) skipped = true;
			else if (skipped) (*after_loss)++;
			j++;
		}
		if (ok && !lossy && j != ne) {
			tap_diag("%s: %s: %zu of %zu messages delivered", label, d ? "s2c" : "c2s", j, ne);
			ok = false;
		}
		*missing += ne - got;
	}
	return ok;
}

static void tls_case(tlsgen_opts_t *o, unsigned pm_kinds, const char *label)
{
	char pcap[700], mp[700], kl[700], err[512];
	snprintf(pcap, sizeof pcap, "%s/ws.pcap", tu_tmpdir());
	snprintf(mp, sizeof mp, "%s/ws-m.pcap", tu_tmpdir());
	snprintf(kl, sizeof kl, "%s/ws.keys", tu_tmpdir());
	unlink(kl);
	bool keylog = o->tls_version == 0x0304;
	if (keylog) o->keylog_file = kl;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "%s: generator: %s", label, err); return; }
	const char *in = pcap;
	if (pm_kinds) {
		pm_report_t rep;
		int pr = pm_mangle(pcap, mp, pm_kinds, o->seed, &rep);
		if (pr != 0) {
			tap_ok(0, "%s: mangler: %s", label, pr < 0 ? rep.err : rep.desc);
			tlsgen_result_free(&g);
			return;
		}
		in = mp;
	}
	tls_keystore_t *ks = keylog ? tls_keystore_new() : tu_keystore(KEY, NULL);
	if (keylog) tls_keystore_add_keylog(ks, kl, 0, err, sizeof err);
	tu_run_t r;
	memset(&r, 0, sizeof r);
	tu_run_pcap(in, &ks, 1, NULL, &r);
	tls_keystore_unref(ks);
	bool lossy = o->drop != 0;
	size_t missing = 0, after = 0;
	const tlsgen_conn_t *cn = &g.conns[0];
	bool ok = g.n_conns == 1 && verify(cn, &r, lossy, label, &missing, &after);
	size_t nsip = 0, nexp = 0;
	for (size_t i = 0; i < r.n_msgs; i++) nsip += r.msgs[i].app == TLS_APP_SIP;
	for (size_t i = 0; i < cn->n_msgs; i++) nexp += cn->msgs[i].ws == 1;
	if (!lossy) ok = ok && nsip == nexp && r.st.ws_sip == nexp && r.st.ws_gap_cut == 0 && r.st.ws_unexpected == 0;
	else ok = ok && (cn->lost[0] || cn->lost[1]) && missing > 0;
	tap_ok(ok, "%s: %zu SIP messages of %zu delivered as sip, byte-exact%s (control %llu, unexpected %llu, cut %llu, "
	       "resyncs after loss: %zu delivered after the hole)", label, nsip, nexp, lossy ? ", none cut by the loss" : "",
	       (unsigned long long)r.st.ws_control, (unsigned long long)r.st.ws_unexpected,
	       (unsigned long long)r.st.ws_gap_cut, after);
	tu_run_free(&r);
	tlsgen_result_free(&g);
}

static void part2(void)
{
	snprintf(KEY, sizeof KEY, "%s/ws-rsa.key", tu_tmpdir());
	snprintf(CERT, sizeof CERT, "%s/ws-rsa.crt", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", KEY, CERT, NULL)) { tap_ok(0, "make keys"); return; }
	static const struct { const char *name; int split, reorder, dup, ackf, late, reply, drop; unsigned pm; } V[] = {
		{ "plain", 0, 0, 0, 0, 0, 0, 0, 0 },
		{ "split 7 + reorder", 7, 1, 0, 0, 0, 0, 0, 0 },
		{ "duplicates", 0, 0, 1, 0, 0, 0, 0, 0 },
		{ "ACK before data + late segments", 0, 0, 0, 1, 1, 0, 0, 0 },
		{ "replies first", 0, 0, 0, 0, 0, 2, 0, 0 },
		{ "pcapmangle span+replyfirst+dup+late", 0, 0, 0, 0, 0, 0, 0, PM_SPAN | PM_REPLYFIRST | PM_DUP | PM_LATE },
		{ "loss (one segment per direction)", 0, 0, 0, 0, 0, 0, 1, 0 },
		{ "loss + split 300", 300, 0, 0, 0, 0, 0, 1, 0 },
	};
	unsigned seed = 7100;
	char label[300];
	for (int v = 0; v < 2; v++)
		for (size_t i = 0; i < sizeof V / sizeof *V; i++)
			for (int rep = 0; rep < (V[i].drop ? 3 : 1); rep++) {
				tlsgen_opts_t o;
				tlsgen_opts_defaults(&o);
				o.key_file = KEY; o.cert_file = CERT;
				o.app = TLSGEN_APP_WS_SIP;
				o.n_messages = 14;
				o.tls_version = v ? 0x0304 : 0x0303;
				if (!v) o.cipher = "AES128-GCM-SHA256";
				o.seed = seed++;
				o.split = V[i].split; o.reorder = V[i].reorder; o.duplicate = V[i].dup;
				o.ack_before_data = V[i].ackf; o.late_segment = V[i].late; o.reply_first = V[i].reply;
				o.drop = V[i].drop;
				snprintf(label, sizeof label, "SIP/WSS TLS1.%d %s, %s (seed %u)", v ? 3 : 2, v ? "key log" : "RSA key",
				         V[i].name, o.seed);
				tls_case(&o, V[i].pm, label);
			}
}

/* ------------------------------------------------------------------ part 3: captls JSON */

static void part3(void)
{
	const char *top = getenv("top_builddir");
	char captls[700], pcap[700], cmd[2400], err[512];
	snprintf(captls, sizeof captls, "%s/captls", top ? top : ".");
	if (access(captls, X_OK) != 0) { tap_skip("captls not built"); return; }
	snprintf(pcap, sizeof pcap, "%s/ws-cli.pcap", tu_tmpdir());
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = KEY; o.cert_file = CERT;
	o.app = TLSGEN_APP_WS_SIP;
	o.n_messages = 8;
	o.server_port = 8443;
	o.cipher = "AES256-GCM-SHA384";
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "captls case: generator: %s", err); return; }
	size_t nexp = 0;
	for (size_t i = 0; i < g.conns[0].n_msgs; i++) nexp += g.conns[0].msgs[i].ws == 1;
	snprintf(cmd, sizeof cmd, "%s -r %s -k %s -o json 2>/dev/null", captls, pcap, KEY);
	FILE *p = popen(cmd, "r");
	size_t sip = 0, http = 0, other = 0;
	char line[1 << 18];
	while (p && fgets(line, sizeof line, p)) {
		if (!strstr(line, "\"type\":\"message\"")) continue;
		if (strstr(line, "\"app\":\"sip\"")) sip++;
		else if (strstr(line, "\"app\":\"http\"")) http++;
		else other++;
	}
	int rc = p ? pclose(p) : -1;
	tap_ok(rc == 0 && sip == nexp && http == 2 && other == 0,
	       "captls -o json on port 8443: %zu of %zu WebSocket SIP messages \"app\":\"sip\", upgrade 2 \"http\", %zu other",
	       sip, nexp, other);
	tlsgen_result_free(&g);
}

int main(void)
{
	tls_engine_global_init();
	part1();
	part2();
	part3();
	return tap_done();
}
