/*
 * tlsgen.c — test capture generator: OpenSSL client + server in one process over memory
 * BIOs, realistic SIP/HTTP application messages, written as a pcap of a synthetic TCP
 * connection whose payload bytes are exactly what libssl produced.
 *
 * Why: the passive decryption engine has to be checked against genuine TLS from an
 * independent implementation, with the plaintext known byte for byte. Nothing here
 * frames or encrypts a TLS record: after every SSL call the SSL object's write BIO is
 * drained and those bytes become TCP payload (and the peer's input).
 *
 * Pieces, in file order:
 *   - deterministic PRNG (splitmix64) and growable byte buffers;
 *   - message planning + rendering (SIP dialogs, HTTP exchanges) with size classes;
 *   - the TCP model: segments with seq/ack, pure ACKs, handshake/FIN, and the mangling
 *     passes (coalesce, reorder, duplicate) that keep the byte stream identical;
 *   - the TLS driver (contexts, handshake pump, message exchange, shutdown, resumption,
 *     key update, HRR detection, key log);
 *   - pcap output through pcapw, and key/certificate generation for the tests.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include "tlsgen.h"
#include "pcapw.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/rand.h>
#include <openssl/core_names.h>
#include <openssl/sha.h>

/* ------------------------------------------------------------------------------------ */
/* PRNG and buffers                                                                      */

typedef struct { uint64_t s; } rng_t;

static uint64_t rng_next(rng_t *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
/* uniform in [0, n) (n > 0) */
static uint32_t rng_u(rng_t *r, uint32_t n) { return n ? (uint32_t)(rng_next(r) % n) : 0; }
/* uniform in [lo, hi] */
static uint32_t rng_range(rng_t *r, uint32_t lo, uint32_t hi) { return lo + rng_u(r, hi - lo + 1); }

typedef struct { uint8_t *p; size_t len, cap; } buf_t;

static void buf_reserve(buf_t *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap) return;
	size_t nc = b->cap ? b->cap : 256;
	while (nc < b->len + extra + 1) nc *= 2;
	uint8_t *n = realloc(b->p, nc);
	if (!n) { fputs("tlsgen: out of memory\n", stderr); abort(); }
	b->p = n; b->cap = nc;
}
static void buf_put(buf_t *b, const void *d, size_t n)
{
	buf_reserve(b, n);
	if (n) memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = 0;
}
static void buf_puts(buf_t *b, const char *s) { buf_put(b, s, strlen(s)); }
__attribute__((format(printf, 2, 3)))
static void buf_printf(buf_t *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n <= 0) return;
	if ((size_t)n < sizeof tmp) { buf_put(b, tmp, (size_t)n); return; }
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}
static void buf_free(buf_t *b) { free(b->p); b->p = NULL; b->len = b->cap = 0; }
/* hand the bytes over (never NULL: an empty buffer gives a 1-byte allocation) */
static uint8_t *buf_take(buf_t *b, size_t *len)
{
	if (!b->p) buf_reserve(b, 0);
	uint8_t *p = b->p;
	*len = b->len;
	b->p = NULL; b->len = b->cap = 0;
	return p;
}

static size_t ndigits(size_t v) { size_t n = 1; while (v >= 10) { v /= 10; n++; } return n; }

/* ------------------------------------------------------------------------------------ */
/* Filler content                                                                        */

static const char *const words[] = {
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
	"juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
	"sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "voice",
	"media", "session", "stream", "codec", "packet", "record", "cipher", "secure", "call",
};

/* exactly n bytes of printable words and spaces */
static void fill_words(buf_t *b, rng_t *r, size_t n)
{
	size_t start = b->len;
	while (b->len - start < n) {
		const char *w = words[rng_u(r, sizeof words / sizeof words[0])];
		buf_puts(b, w);
		buf_puts(b, rng_u(r, 9) ? " " : ". ");
	}
	b->len = start + n;
	b->p[b->len] = 0;
}

/* exactly n bytes of [A-Za-z0-9] */
static void fill_alnum(buf_t *b, rng_t *r, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	buf_reserve(b, n);
	for (size_t i = 0; i < n; i++) b->p[b->len + i] = (uint8_t)al[rng_u(r, 62)];
	b->len += n;
	b->p[b->len] = 0;
}

/* exactly `total` bytes of lines "prefix<alnum>\r\n" of at most ~80 bytes each; if
 * total is too small for one line, nothing is written. Returns bytes written. */
static size_t fill_lines(buf_t *b, rng_t *r, size_t total, const char *prefix)
{
	size_t minl = strlen(prefix) + 3;
	if (total < minl) return 0;
	size_t m = (total + 77) / 78;
	if (m * minl > total) m = total / minl;
	size_t base = total / m, extra = total % m;
	for (size_t i = 0; i < m; i++) {
		size_t l = base + (i < extra);
		buf_puts(b, prefix);
		fill_alnum(b, r, l - strlen(prefix) - 2);
		buf_puts(b, "\r\n");
	}
	return total;
}

/* ------------------------------------------------------------------------------------ */
/* Message plan                                                                          */

enum {
	/* SIP */
	S_PING = 1, S_PONG, S_INVITE, S_100, S_180, S_200_INVITE, S_ACK, S_OPTIONS, S_200_OPTIONS,
	S_MESSAGE, S_202, S_NOTIFY, S_200_NOTIFY, S_BYE, S_200_BYE, S_REGISTER, S_200_REGISTER,
	/* HTTP */
	H_REQ, H_RESP,
};

typedef struct spec {
	int dir;
	int type;
	int sizeable;            /* size class may be chosen (body can be padded) */
	int cls;                 /* TLSGEN_* size class wanted */
	int merge_prev;          /* written in the same flush as the previous spec */
	int req;                 /* index of the request this responds to, -1 */
	/* SIP request header values, kept for the response */
	char via[192], from[192], to[192], callid[96], cseq[48];
	/* HTTP */
	char method[8];
	int tiny_resp;           /* HTTP: response tiny (304/204) */
	/* output */
	buf_t data;
	bool keepalive, chunked;
	bool early;              /* already sent as 0-RTT early data */
	int ws;                  /* TLSGEN_APP_WS_SIP: see tlsgen_msg_t.ws */
	buf_t ws_payload;
} spec_t;

typedef struct { spec_t *v; size_t n, cap; } plan_t;

static spec_t *plan_add(plan_t *p, int dir, int type, int sizeable)
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
static void plan_free(plan_t *p)
{
	for (size_t i = 0; i < p->n; i++) { buf_free(&p->v[i].data); buf_free(&p->v[i].ws_payload); }
	free(p->v);
	memset(p, 0, sizeof *p);
}

/* target total message length for a class (0 = natural size) */
static size_t class_target(rng_t *r, int cls)
{
	switch (cls) {
	case TLSGEN_MID: return rng_range(r, 2100, 4900);
	case TLSGEN_BIG: return rng_range(r, 20500, 39500);
	case TLSGEN_NORMAL: return rng_u(r, 2) ? 0 : rng_range(r, 500, 1300);
	default: return 0;
	}
}

/* Give each direction's sizeable specs the classes MID and BIG at least once (as far as
 * there are sizeable specs), the rest a random class. If a direction has only one
 * sizeable spec, the two directions get different classes so the capture has both. */
static void assign_classes(plan_t *p, rng_t *r)
{
	for (int d = 0; d < 2; d++) {
		size_t idx[256], n = 0;
		for (size_t i = 0; i < p->n && n < 256; i++)
			if (p->v[i].dir == d && p->v[i].sizeable) idx[n++] = i;
		/* shuffle */
		for (size_t i = n; i > 1; i--) { size_t j = rng_u(r, (uint32_t)i); size_t t = idx[i - 1]; idx[i - 1] = idx[j]; idx[j] = t; }
		int req[2] = { d ? TLSGEN_MID : TLSGEN_BIG, d ? TLSGEN_BIG : TLSGEN_MID };
		for (size_t k = 0; k < n; k++) {
			int c;
			if (k < 2) c = req[k];
			else {
				uint32_t x = rng_u(r, 100);
				c = x < 50 ? TLSGEN_NORMAL : x < 80 ? TLSGEN_MID : TLSGEN_BIG;
			}
			p->v[idx[k]].cls = c;
		}
	}
}

/* ---- SIP ---------------------------------------------------------------------------- */

typedef struct {
	rng_t *r;
	char chost[64], shost[64];      /* for Via/Contact: "10.0.0.1" / "[fd00::1]" */
	char caddr[64], saddr[64];      /* for SDP c=/o=: "IP4 10.0.0.1" / "IP6 fd00::1" */
	unsigned cport, sport;
	/* current INVITE dialog */
	char callid[96], ftag[24], ttag[24];
	unsigned cseq;
} sipctx_t;

enum { BODY_NONE, BODY_SDP, BODY_TEXT, BODY_PIDF };

static void hexstr(rng_t *r, char *out, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) out[i] = hx[rng_u(r, 16)];
	out[n] = 0;
}

static void gen_body(sipctx_t *c, buf_t *b, int kind, int from_client, size_t want)
{
	size_t start = b->len;
	switch (kind) {
	case BODY_SDP: {
		const char *addr = from_client ? c->caddr : c->saddr;
		buf_printf(b, "v=0\r\no=- %u %u IN %s\r\ns=tlsgen\r\nc=IN %s\r\nt=0 0\r\n"
		              "m=audio %u RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
		              "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
		              "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:",
		           rng_range(c->r, 100000, 999999), rng_range(c->r, 1, 9), addr, addr,
		           2 * rng_range(c->r, 5000, 15000));
		fill_alnum(b, c->r, 40);
		buf_puts(b, "\r\na=sendrecv\r\n");
		if (want > b->len - start) fill_lines(b, c->r, want - (b->len - start), "a=x-tlsgen-pad:");
		break;
	}
	case BODY_TEXT: {
		buf_puts(b, "Hello from tlsgen. ");
		size_t have = b->len - start;
		fill_words(b, c->r, want > have + 20 ? want - have : rng_range(c->r, 20, 120));
		break;
	}
	case BODY_PIDF: {
		buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
		            "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sips:bob@example.com\">\r\n"
		            "<tuple id=\"t1\"><status><basic>open</basic></status></tuple>\r\n<note>");
		const char *tail = "</note>\r\n</presence>\r\n";
		size_t have = b->len - start + strlen(tail);
		fill_words(b, c->r, want > have + 10 ? want - have : rng_range(c->r, 10, 60));
		buf_puts(b, tail);
		break;
	}
	default:
		break;
	}
}

/* Append Content-Type/Content-Length and the body to the header block h (which ends
 * with "\r\n" after its last header) into out, aiming at a total of `target` bytes. */
static void finish_msg(sipctx_t *c, buf_t *out, buf_t *h, const char *ctype, int kind,
                       int from_client, size_t target)
{
	buf_put(out, h->p, h->len);
	if (kind == BODY_NONE) { buf_puts(out, "Content-Length: 0\r\n\r\n"); return; }
	size_t fixed = h->len + strlen("Content-Type: \r\n") + strlen(ctype) + strlen("Content-Length: \r\n\r\n");
	size_t want = 0;
	if (target > fixed + 8) {
		want = target - fixed - 5;
		want = target - fixed - ndigits(want);
	}
	buf_t body = { 0 };
	gen_body(c, &body, kind, from_client, want);
	buf_printf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", ctype, body.len);
	buf_put(out, body.p, body.len);
	buf_free(&body);
}

static void sip_request(sipctx_t *c, spec_t *s, const char *method, int in_dialog,
                        int kind, const char *ctype, const char *extra)
{
	rng_t *r = c->r;
	char branch[24], tag[24], cid[40];
	hexstr(r, branch, 16);
	int fc = s->dir == 0;
	const char *host = fc ? c->chost : c->shost;
	unsigned port = fc ? c->cport : c->sport;
	const char *me = fc ? "alice" : "bob", *peer = fc ? "bob" : "alice";
	const char *ruri_host = fc ? "example.com" : c->chost;

	snprintf(s->via, sizeof s->via, "SIP/2.0/TLS %s:%u;branch=z9hG4bK%s;rport", host, port, branch);
	if (in_dialog) {
		snprintf(s->from, sizeof s->from, "\"Alice\" <sips:alice@example.com>;tag=%s", c->ftag);
		snprintf(s->to, sizeof s->to, "<sips:bob@example.com>;tag=%s", c->ttag);
		snprintf(s->callid, sizeof s->callid, "%s", c->callid);
	} else {
		hexstr(r, tag, 10);
		hexstr(r, cid, 24);
		snprintf(s->from, sizeof s->from, "<sips:%s@example.com>;tag=%s", me, tag);
		snprintf(s->to, sizeof s->to, "<sips:%s@example.com>", peer);
		snprintf(s->callid, sizeof s->callid, "%s@%s", cid, fc ? "client.example.com" : "server.example.com");
	}
	unsigned cseq = in_dialog ? c->cseq : rng_range(r, 1, 9000);
	snprintf(s->cseq, sizeof s->cseq, "%u %s", cseq, method);

	buf_t h = { 0 };
	if (!strcmp(method, "REGISTER"))
		buf_printf(&h, "REGISTER sips:example.com SIP/2.0\r\n");
	else
		buf_printf(&h, "%s sips:%s@%s SIP/2.0\r\n", method, peer, ruri_host);
	buf_printf(&h, "Via: %s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n",
	           s->via, s->from, s->to, s->callid, s->cseq);
	if (strcmp(method, "ACK") && strcmp(method, "BYE") && strcmp(method, "MESSAGE"))
		buf_printf(&h, "Contact: <sips:%s@%s:%u;transport=tls>\r\n", me, host, port);
	if (extra) buf_puts(&h, extra);
	buf_puts(&h, "User-Agent: tlsgen/1.0\r\n");
	finish_msg(c, &s->data, &h, ctype, kind, fc, class_target(r, s->cls) * (size_t)s->sizeable);
	buf_free(&h);
}

static void sip_response(sipctx_t *c, spec_t *s, const spec_t *rq, int code, const char *reason,
                         int kind, const char *ctype, const char *extra)
{
	int fc = s->dir == 0;
	const char *rhost = rq->dir == 0 ? c->chost : c->shost;
	buf_t h = { 0 };
	buf_printf(&h, "SIP/2.0 %d %s\r\nVia: %s;received=%s\r\nFrom: %s\r\n", code, reason,
	           rq->via, rhost[0] == '[' ? (rq->dir == 0 ? "fd00::1" : "fd00::2") : rhost, rq->from);
	if (strstr(rq->to, ";tag=") || code == 100) {
		buf_printf(&h, "To: %s\r\n", rq->to);
	} else {
		char tag[24];
		if (c->callid[0] && !strcmp(rq->callid, c->callid)) snprintf(tag, sizeof tag, "%s", c->ttag);
		else hexstr(c->r, tag, 10);
		buf_printf(&h, "To: %s;tag=%s\r\n", rq->to, tag);
	}
	buf_printf(&h, "Call-ID: %s\r\nCSeq: %s\r\n", rq->callid, rq->cseq);
	if (extra) buf_puts(&h, extra);
	buf_puts(&h, fc ? "User-Agent: tlsgen/1.0\r\n" : "Server: tlsgen/1.0\r\n");
	finish_msg(c, &s->data, &h, ctype, kind, fc, class_target(c->r, s->cls) * (size_t)s->sizeable);
	buf_free(&h);
}

enum { B_PING, B_CALL, B_OPT, B_MSG, B_NTF, B_BYE, B_REG };

static void sip_plan(plan_t *p, rng_t *r, int n)
{
	int blocks[512], nb = 0;
	int rem = n;
	int want_bye = 0;
	if (n >= 3) { blocks[nb++] = B_CALL; blocks[nb++] = B_PING; rem -= 3; }
	else if (n == 2) { blocks[nb++] = B_CALL; rem -= 2; }
	if (n >= 4) { blocks[nb++] = B_MSG; rem--; }
	if (n >= 5) { blocks[nb++] = B_OPT; rem--; }
	if (n >= 6) { want_bye = 1; rem--; }
	while (rem > 0 && nb < 500) {
		static const int pool[] = { B_PING, B_OPT, B_MSG, B_NTF, B_REG, B_CALL, B_CALL };
		int b = pool[rng_u(r, sizeof pool / sizeof pool[0])];
		if (b == B_CALL && rem < 2) continue;
		blocks[nb++] = b;
		rem -= b == B_CALL ? 2 : 1;
	}
	/* shuffle, then move a CALL to the front so the final BYE always ends a dialog */
	for (int i = nb; i > 1; i--) { int j = (int)rng_u(r, (uint32_t)i); int t = blocks[i - 1]; blocks[i - 1] = blocks[j]; blocks[j] = t; }
	for (int i = 0; i < nb; i++) if (blocks[i] == B_CALL) { int t = blocks[0]; blocks[0] = blocks[i]; blocks[i] = t; break; }
	if (want_bye) blocks[nb++] = B_BYE;

	for (int i = 0; i < nb; i++) {
		int b = blocks[i];
		/* pipelining: two client-initiated simple exchanges, requests back to back */
		int simple = b == B_OPT || b == B_MSG || b == B_REG || b == B_BYE;
		int nsimple = i + 1 < nb && (blocks[i + 1] == B_OPT || blocks[i + 1] == B_MSG || blocks[i + 1] == B_REG);
		if (simple && nsimple && b != B_BYE && rng_u(r, 3) == 0) {
			static const int rq_t[] = { [B_OPT] = S_OPTIONS, [B_MSG] = S_MESSAGE, [B_REG] = S_REGISTER, [B_BYE] = S_BYE };
			static const int rs_t[] = { [B_OPT] = S_200_OPTIONS, [B_MSG] = S_202, [B_REG] = S_200_REGISTER, [B_BYE] = S_200_BYE };
			int b2 = blocks[i + 1];
			size_t q1 = p->n;
			plan_add(p, 0, rq_t[b], b == B_MSG);
			size_t q2 = p->n;
			plan_add(p, 0, rq_t[b2], b2 == B_MSG)->merge_prev = 1;
			spec_t *s1 = plan_add(p, 1, rs_t[b], b == B_OPT);
			s1->req = (int)q1;
			spec_t *s2 = plan_add(p, 1, rs_t[b2], b2 == B_OPT);
			s2->req = (int)q2;
			s2->merge_prev = 1;
			i++;
			continue;
		}
		size_t q = p->n;
		spec_t *s;
		switch (b) {
		case B_PING:
			plan_add(p, 0, S_PING, 0)->cls = TLSGEN_TINY;
			s = plan_add(p, 1, S_PONG, 0); s->cls = TLSGEN_TINY; s->req = (int)q;
			break;
		case B_CALL:
			plan_add(p, 0, S_INVITE, 1);
			s = plan_add(p, 1, rng_u(r, 2) ? S_100 : S_180, 0); s->req = (int)q;
			s = plan_add(p, 1, S_200_INVITE, 1); s->req = (int)q; s->merge_prev = (int)rng_u(r, 2);
			plan_add(p, 0, S_ACK, 0);
			break;
		case B_OPT:
			plan_add(p, 0, S_OPTIONS, 0);
			plan_add(p, 1, S_200_OPTIONS, 1)->req = (int)q;
			break;
		case B_MSG:
			plan_add(p, 0, S_MESSAGE, 1);
			plan_add(p, 1, S_202, 0)->req = (int)q;
			break;
		case B_NTF:
			plan_add(p, 1, S_NOTIFY, 1);
			plan_add(p, 0, S_200_NOTIFY, 0)->req = (int)q;
			break;
		case B_BYE:
			plan_add(p, 0, S_BYE, 0);
			plan_add(p, 1, S_200_BYE, 0)->req = (int)q;
			break;
		case B_REG:
			plan_add(p, 0, S_REGISTER, 0);
			plan_add(p, 1, S_200_REGISTER, 0)->req = (int)q;
			break;
		}
		/* an ACK is often sent together with the client's next request */
		if (b == B_CALL && i + 1 < nb && blocks[i + 1] != B_PING && blocks[i + 1] != B_NTF && rng_u(r, 2))
			p->v[p->n - 1].merge_prev = -1; /* marker: the next spec merges with this ACK */
	}
	/* resolve the ACK markers: the spec after a marked ACK merges into its flush */
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].merge_prev == -1) {
			p->v[i].merge_prev = 0;
			if (i + 1 < p->n && p->v[i + 1].dir == p->v[i].dir) p->v[i + 1].merge_prev = 1;
		}
	assign_classes(p, r);
}

static void sip_render(plan_t *p, sipctx_t *c)
{
	rng_t *r = c->r;
	for (size_t i = 0; i < p->n; i++) {
		spec_t *s = &p->v[i];
		const spec_t *rq = s->req >= 0 ? &p->v[s->req] : NULL;
		char extra[512];
		switch (s->type) {
		case S_PING:
			buf_puts(&s->data, "\r\n\r\n");
			s->keepalive = true;
			break;
		case S_PONG:
			buf_puts(&s->data, "\r\n");
			s->keepalive = true;
			break;
		case S_INVITE: {
			char cid[40];
			hexstr(r, cid, 24);
			snprintf(c->callid, sizeof c->callid, "%s@client.example.com", cid);
			hexstr(r, c->ftag, 10);
			hexstr(r, c->ttag, 10);
			c->cseq = rng_range(r, 1, 5000);
			sip_request(c, s, "INVITE", 1, BODY_SDP, "application/sdp",
			            "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY, INFO, UPDATE\r\n"
			            "Supported: replaces, timer\r\nSession-Expires: 1800\r\n");
			/* the To tag is added by the responses */
			snprintf(s->to, sizeof s->to, "<sips:bob@example.com>");
			char *line = strstr((char *)s->data.p, "\r\nTo: ");
			if (line) {
				/* drop ";tag=..." from the INVITE's own To header */
				char *t = strstr(line + 2, ";tag=");
				char *e = strstr(line + 2, "\r\n");
				if (t && e && t < e) {
					size_t cut = (size_t)(e - t);
					memmove(t, e, s->data.len - (size_t)(e - (char *)s->data.p) + 1);
					s->data.len -= cut;
				}
			}
			break;
		}
		case S_100:
			sip_response(c, s, rq, 100, "Trying", BODY_NONE, NULL, NULL);
			break;
		case S_180:
			snprintf(extra, sizeof extra, "Contact: <sips:bob@%s:%u;transport=tls>\r\n", c->shost, c->sport);
			sip_response(c, s, rq, 180, "Ringing", BODY_NONE, NULL, extra);
			break;
		case S_200_INVITE:
			snprintf(extra, sizeof extra, "Contact: <sips:bob@%s:%u;transport=tls>\r\n"
			         "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY, INFO\r\n"
			         "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n", c->shost, c->sport);
			sip_response(c, s, rq, 200, "OK", BODY_SDP, "application/sdp", extra);
			break;
		case S_ACK:
			sip_request(c, s, "ACK", 1, BODY_NONE, NULL, NULL);
			break;
		case S_OPTIONS:
			sip_request(c, s, "OPTIONS", 0, BODY_NONE, NULL, "Accept: application/sdp\r\n");
			break;
		case S_200_OPTIONS:
			sip_response(c, s, rq, 200, "OK", BODY_SDP, "application/sdp",
			             "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY\r\n"
			             "Accept: application/sdp\r\nSupported: replaces, timer\r\n");
			break;
		case S_MESSAGE:
			sip_request(c, s, "MESSAGE", 0, BODY_TEXT, "text/plain;charset=UTF-8", NULL);
			break;
		case S_202:
			if (rng_u(r, 2)) sip_response(c, s, rq, 202, "Accepted", BODY_NONE, NULL, NULL);
			else sip_response(c, s, rq, 200, "OK", BODY_NONE, NULL, NULL);
			break;
		case S_NOTIFY:
			sip_request(c, s, "NOTIFY", 0, BODY_PIDF, "application/pidf+xml",
			            "Event: presence\r\nSubscription-State: active;expires=3600\r\n");
			break;
		case S_200_NOTIFY: case S_200_BYE:
			sip_response(c, s, rq, 200, "OK", BODY_NONE, NULL, NULL);
			break;
		case S_BYE:
			c->cseq++;
			sip_request(c, s, "BYE", 1, BODY_NONE, NULL, NULL);
			break;
		case S_REGISTER:
			sip_request(c, s, "REGISTER", 0, BODY_NONE, NULL, "Expires: 3600\r\n");
			break;
		case S_200_REGISTER:
			snprintf(extra, sizeof extra, "Contact: <sips:alice@%s:%u;transport=tls>;expires=3600\r\n"
			         "Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n", c->chost, c->cport);
			sip_response(c, s, rq, 200, "OK", BODY_NONE, NULL, extra);
			break;
		}
	}
}

/* ---- HTTP --------------------------------------------------------------------------- */

typedef struct {
	rng_t *r;
	const char *host;
	int chunked_done;
} httpctx_t;

static void http_body(httpctx_t *c, buf_t *b, const char *ctype, size_t want)
{
	size_t start = b->len;
	if (!strncmp(ctype, "application/json", 16)) {
		buf_printf(b, "{\"id\":%u,\"status\":\"ok\",\"data\":\"", rng_range(c->r, 1, 99999));
		size_t have = b->len - start + 3;
		fill_alnum(b, c->r, want > have + 8 ? want - have : rng_range(c->r, 20, 200));
		buf_puts(b, "\"}\n");
	} else {
		buf_puts(b, "<!DOCTYPE html>\n<html><head><title>tlsgen</title></head><body><p>");
		const char *tail = "</p></body></html>\n";
		size_t have = b->len - start + strlen(tail);
		fill_words(b, c->r, want > have + 8 ? want - have : rng_range(c->r, 60, 500));
		buf_puts(b, tail);
	}
}

/* headers in h end with "\r\n" after the last header; append Content-Length (or
 * chunked framing) + body aiming at `target` total bytes */
static void http_finish(httpctx_t *c, buf_t *out, buf_t *h, const char *ctype, size_t target, int chunked)
{
	buf_put(out, h->p, h->len);
	size_t fixed = h->len + strlen("Content-Type: \r\n") + strlen(ctype) + strlen("Content-Length: \r\n\r\n");
	size_t want = target > fixed + 8 ? target - fixed - 5 : 0;
	buf_t body = { 0 };
	http_body(c, &body, ctype, want);
	if (!chunked) {
		buf_printf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", ctype, body.len);
		buf_put(out, body.p, body.len);
	} else {
		buf_printf(out, "Content-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n", ctype);
		size_t off = 0;
		while (off < body.len) {
			size_t n = rng_range(c->r, 300, 9000);
			if (n > body.len - off) n = body.len - off;
			buf_printf(out, "%zx\r\n", n);
			buf_put(out, body.p + off, n);
			buf_puts(out, "\r\n");
			off += n;
		}
		buf_puts(out, "0\r\n\r\n");
	}
	buf_free(&body);
}

static void http_plan(plan_t *p, rng_t *r, int n)
{
	int cc[512], sc[512];
	if (n > 512) n = 512;
	for (int d = 0; d < 2; d++) {
		int *cls = d ? sc : cc;
		for (int i = 0; i < n; i++) {
			uint32_t x = rng_u(r, 100);
			cls[i] = x < 15 ? TLSGEN_TINY : x < 60 ? TLSGEN_NORMAL : x < 85 ? TLSGEN_MID : TLSGEN_BIG;
		}
		if (n >= 3) {
			int pos[512];
			for (int i = 0; i < n; i++) pos[i] = i;
			for (int i = n; i > 1; i--) { int j = (int)rng_u(r, (uint32_t)i); int t = pos[i - 1]; pos[i - 1] = pos[j]; pos[j] = t; }
			cls[pos[0]] = TLSGEN_TINY; cls[pos[1]] = TLSGEN_MID; cls[pos[2]] = TLSGEN_BIG;
		}
	}
	for (int i = 0; i < n; i++) {
		int pipe = i + 1 < n && rng_u(r, 4) == 0;
		int k = pipe ? 2 : 1;
		size_t q = p->n;
		for (int j = 0; j < k; j++) {
			spec_t *s = plan_add(p, 0, H_REQ, 1);
			s->cls = cc[i + j];
			s->tiny_resp = sc[i + j] == TLSGEN_TINY;
			s->merge_prev = j > 0;
		}
		for (int j = 0; j < k; j++) {
			spec_t *s = plan_add(p, 1, H_RESP, 1);
			s->cls = sc[i + j];
			s->req = (int)(q + (size_t)j);
			s->merge_prev = j > 0;
		}
		i += k - 1;
	}
}

static void http_render(plan_t *p, httpctx_t *c)
{
	rng_t *r = c->r;
	for (size_t i = 0; i < p->n; i++) {
		spec_t *s = &p->v[i];
		buf_t h = { 0 };
		if (s->type == H_REQ) {
			unsigned id = rng_range(r, 1, 999);
			if (s->cls == TLSGEN_TINY) {
				/* < 100 bytes: conditional GET (-> 304) or DELETE (-> 204) or plain GET */
				if (s->tiny_resp && rng_u(r, 2)) {
					strcpy(s->method, "DELETE");
					buf_printf(&s->data, "DELETE /i/%u HTTP/1.1\r\nHost: %s\r\n\r\n", id, c->host);
				} else if (s->tiny_resp) {
					strcpy(s->method, "GET");
					buf_printf(&s->data, "GET /s/%u.css HTTP/1.1\r\nHost: %s\r\nIf-None-Match: \"%08x\"\r\n\r\n",
					           id, c->host, (unsigned)rng_next(r));
				} else {
					strcpy(s->method, "GET");
					buf_printf(&s->data, "GET /i/%u HTTP/1.1\r\nHost: %s\r\n\r\n", id, c->host);
				}
			} else if (s->cls == TLSGEN_NORMAL && rng_u(r, 3) != 0) {
				strcpy(s->method, "GET");
				buf_printf(&s->data, "GET /api/v1/items/%u?expand=%s HTTP/1.1\r\nHost: %s\r\n"
				           "User-Agent: tlsgen/1.0 (test capture generator)\r\nAccept: application/json, text/html;q=0.9, */*;q=0.8\r\n"
				           "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: identity\r\n%s"
				           "Cookie: sid=%016llx; pref=compact\r\nConnection: keep-alive\r\n\r\n",
				           id, words[rng_u(r, 10)], c->host,
				           s->tiny_resp ? "If-None-Match: \"5f3c9a01\"\r\n" : "",
				           (unsigned long long)rng_next(r));
			} else {
				strcpy(s->method, s->tiny_resp ? "PUT" : (rng_u(r, 2) ? "POST" : "PUT"));
				buf_printf(&h, "%s /api/v1/items/%u HTTP/1.1\r\nHost: %s\r\nUser-Agent: tlsgen/1.0\r\n"
				           "Accept: application/json\r\nConnection: keep-alive\r\n", s->method, id, c->host);
				http_finish(c, &s->data, &h, "application/json", class_target(r, s->cls), 0);
			}
		} else {
			const spec_t *rq = &p->v[s->req];
			if (s->cls == TLSGEN_TINY) {
				if (!strcmp(rq->method, "GET"))
					buf_printf(&s->data, "HTTP/1.1 304 Not Modified\r\nETag: \"%08x\"\r\n\r\n", (unsigned)rng_next(r));
				else
					buf_puts(&s->data, "HTTP/1.1 204 No Content\r\nServer: tlsgen\r\n\r\n");
			} else {
				int notfound = s->cls == TLSGEN_NORMAL && rng_u(r, 5) == 0;
				int chunked = !notfound && ((!c->chunked_done && s->cls >= TLSGEN_MID) || rng_u(r, 4) == 0);
				if (chunked) c->chunked_done = 1;
				s->chunked = chunked;
				buf_printf(&h, "HTTP/1.1 %s\r\nDate: Tue, 14 Nov 2023 22:13:%02u GMT\r\nServer: tlsgen/1.0\r\n"
				           "Cache-Control: no-cache\r\nConnection: keep-alive\r\n",
				           notfound ? "404 Not Found" : "200 OK", rng_u(r, 60));
				http_finish(c, &s->data, &h, rng_u(r, 2) ? "text/html; charset=utf-8" : "application/json",
				            class_target(r, s->cls), chunked);
			}
		}
		buf_free(&h);
	}
}

/* ------------------------------------------------------------------------------------ */
/* TCP model                                                                             */

typedef struct seg {
	uint8_t dir;
	uint8_t flags;
	uint8_t syn_opts;        /* carries the SYN options */
	uint8_t stray;           /* injected stray RST/SYN (not part of the peers' exchange) */
	uint32_t seq, ack;
	size_t off, len;         /* payload: tls[dir][off .. off+len) */
} seg_t;

typedef struct { seg_t *v; size_t n, cap; } segv_t;

static void segv_push(segv_t *s, seg_t g)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		seg_t *n = realloc(s->v, nc * sizeof *n);
		if (!n) abort();
		s->v = n; s->cap = nc;
	}
	s->v[s->n++] = g;
}

static int is_data(const seg_t *g) { return g->len > 0 && !(g->flags & (PCAPW_SYN | PCAPW_FIN)); }

/* merge runs of same-direction contiguous data segments (up to 65000 payload bytes) */
static void mangle_coalesce(segv_t *s)
{
	segv_t o = { 0 };
	for (size_t i = 0; i < s->n; i++) {
		seg_t g = s->v[i];
		if (o.n && is_data(&g)) {
			seg_t *l = &o.v[o.n - 1];
			if (is_data(l) && l->dir == g.dir && l->off + l->len == g.off && l->len + g.len <= 65000) {
				l->len += g.len;
				l->flags |= g.flags;
				l->ack = g.ack;
				continue;
			}
		}
		segv_push(&o, g);
	}
	free(s->v);
	*s = o;
}

/* lossy capture: remove one data segment per direction, chosen among those starting
 * between 50 % and 75 % of that direction's byte stream (past the handshake, and well
 * before the last messages), as a capture that missed it would; the peers did not. */
static void mangle_drop(segv_t *s, rng_t *r, const buf_t tls[2])
{
	for (int d = 0; d < 2; d++) {
		size_t lo = tls[d].len / 2, hi = tls[d].len * 3 / 4, n = 0;
		for (size_t i = 0; i < s->n; i++)
			if (is_data(&s->v[i]) && s->v[i].dir == d && s->v[i].off >= lo && s->v[i].off < hi) n++;
		if (n == 0) continue;
		size_t pick = rng_u(r, (uint32_t)n), k = 0;
		for (size_t i = 0; i < s->n; i++) {
			if (!is_data(&s->v[i]) || s->v[i].dir != d || s->v[i].off < lo || s->v[i].off >= hi) continue;
			if (k++ == pick) {
				memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
				s->n--;
				break;
			}
		}
	}
}

/* swap some adjacent same-direction data segment pairs (at least one if possible) */
static void mangle_reorder(segv_t *s, rng_t *r)
{
	int done = 0;
	size_t first = (size_t)-1;
	for (size_t i = 0; i + 1 < s->n; i++) {
		seg_t *a = &s->v[i], *b = &s->v[i + 1];
		if (!is_data(a) || !is_data(b) || a->dir != b->dir) continue;
		if (first == (size_t)-1) first = i;
		if (rng_u(r, 4) == 0) {
			seg_t t = *a; *a = *b; *b = t;
			done++;
			i++;
		}
	}
	if (!done && first != (size_t)-1) {
		seg_t t = s->v[first]; s->v[first] = s->v[first + 1]; s->v[first + 1] = t;
	}
}

/* Offset just past the TLS record that contains stream offset `off` (record headers are
 * only read, to place retransmissions; nothing is built), or (size_t)-1 if unknown. */
static size_t record_end(const buf_t *stream, size_t off)
{
	size_t p = 0;
	while (p + 5 <= stream->len) {
		size_t e = p + 5 + ((size_t)stream->p[p + 3] << 8 | stream->p[p + 4]);
		if (off < e) return e;
		p = e;
	}
	return (size_t)-1;
}

/* Insert exact retransmissions and retransmissions overlapping the end of one segment
 * and the start of the next (at least one of each if possible). Overlapping ones are
 * preferably placed where the bytes they cover belong to one TLS record that is still
 * incomplete after the second segment (a retransmission reaching back into an already
 * completed record is legal TCP, but tshark reports it as a reassembly error). */
static void mangle_duplicate(segv_t *s, rng_t *r, const buf_t tls[2])
{
	size_t n = s->n;
	uint8_t *exact = calloc(n ? n : 1, 1), *over = calloc(n ? n : 1, 1);
	if (!exact || !over) abort();
	size_t ne = 0, no = 0, fe = (size_t)-1, fo = (size_t)-1, fog = (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		seg_t *g = &s->v[i];
		if (!is_data(g)) continue;
		if (fe == (size_t)-1) fe = i;
		if (rng_u(r, 6) == 0) { exact[i] = 1; ne++; }
		if (i > 0) {
			seg_t *p = &s->v[i - 1];
			if (is_data(p) && p->dir == g->dir && p->off + p->len == g->off && p->len >= 2 && g->len >= 2) {
				size_t re = record_end(&tls[g->dir], p->off + p->len / 2);
				int good = re != (size_t)-1 && re > g->off + g->len;
				if (fo == (size_t)-1) fo = i;
				if (good && fog == (size_t)-1) fog = i;
				if (good && rng_u(r, 5) == 0) { over[i] = 1; no++; }
			}
		}
	}
	if (!ne && fe != (size_t)-1) exact[fe] = 1;
	if (!no && fog != (size_t)-1) over[fog] = 1;
	else if (!no && fo != (size_t)-1) over[fo] = 1;
	segv_t o = { 0 };
	for (size_t i = 0; i < n; i++) {
		seg_t g = s->v[i];
		segv_push(&o, g);
		if (over[i]) {
			const seg_t *p = &s->v[i - 1];
			seg_t x = g;
			x.off = p->off + p->len / 2;
			x.len = g.off + g.len / 2 - x.off;
			x.seq = p->seq + (uint32_t)(p->len / 2);
			x.flags = PCAPW_ACK;
			segv_push(&o, x);
		}
		if (exact[i]) segv_push(&o, g);
	}
	free(exact); free(over);
	free(s->v);
	*s = o;
}

static int is_pure_ack(const seg_t *g) { return g->len == 0 && g->flags == PCAPW_ACK; }

/* ack_before_data: [D, ACK(D)] -> [ACK(D), D] for some pairs (each with probability 1/3,
 * plus the first candidate of a direction that got none). Returns the number swapped. */
static unsigned mangle_ack_first(segv_t *s, rng_t *r)
{
	size_t n = s->n;
	uint8_t *pick = calloc(n ? n : 1, 1);
	if (!pick) abort();
	unsigned got[2] = { 0, 0 };
	size_t first[2] = { (size_t)-1, (size_t)-1 };
	for (size_t i = 1; i < n; i++) {
		const seg_t *a = &s->v[i], *d = &s->v[i - 1];
		if (!is_pure_ack(a) || !is_data(d) || d->dir == a->dir || a->ack != d->seq + (uint32_t)d->len) continue;
		if (first[d->dir] == (size_t)-1) first[d->dir] = i;
		if (rng_u(r, 3) == 0) { pick[i] = 1; got[d->dir]++; }
	}
	for (int d = 0; d < 2; d++)
		if (!got[d] && first[d] != (size_t)-1) { pick[first[d]] = 1; got[d]++; }
	for (size_t i = 1; i < n; i++)
		if (pick[i]) { seg_t t = s->v[i]; s->v[i] = s->v[i - 1]; s->v[i - 1] = t; }
	free(pick);
	return got[0] + got[1];
}

/* late_segment: [D, ACK(D), D2] -> [D2, ACK(D), D] (D2 continues D's direction's stream,
 * ACK(D) is the peer's pure ACK of exactly D's end). Choice: the first candidate of each
 * direction where D ends an application write (PSH) and the first in application data are
 * always taken, the others with probability 1/3, then up to 3 per direction are filled in;
 * chosen triples never overlap. Counts per direction go to n_late. */
static void mangle_late(segv_t *s, rng_t *r, const size_t hs_end[2], unsigned n_late[2])
{
	size_t n = s->n;
	uint8_t *cand = calloc(n ? n : 1, 1), *pick = calloc(n ? n : 1, 1);
	if (!cand || !pick) abort();
	for (size_t i = 0; i + 2 < n; i++) {
		const seg_t *d = &s->v[i], *a = &s->v[i + 1], *d2 = &s->v[i + 2];
		if (!is_data(d) || !is_pure_ack(a) || !is_data(d2)) continue;
		if (a->dir == d->dir || d2->dir != d->dir) continue;
		if (a->ack != d->seq + (uint32_t)d->len || d2->off != d->off + d->len) continue;
		cand[i] = 1;
	}
	/* can index i be picked without overlapping a picked triple? */
#define LATE_FREE(i) (!pick[i] && ((i) < 1 || !pick[(i) - 1]) && ((i) < 2 || !pick[(i) - 2]) && \
                      ((i) + 1 >= n || !pick[(i) + 1]) && ((i) + 2 >= n || !pick[(i) + 2]))
	unsigned cnt[2] = { 0, 0 };
	for (int d = 0; d < 2; d++) {
		for (int pass = 0; pass < 2; pass++)
			for (size_t i = 0; i < n; i++) {
				const seg_t *g = &s->v[i];
				if (!cand[i] || g->dir != d || g->off < hs_end[d] || !LATE_FREE(i)) continue;
				if (pass == 0 && !(g->flags & PCAPW_PSH)) continue;
				pick[i] = 1; cnt[d]++;
				break;
			}
	}
	for (size_t i = 0; i < n; i++)
		if (cand[i] && LATE_FREE(i) && rng_u(r, 3) == 0) { pick[i] = 1; cnt[s->v[i].dir]++; }
	for (int d = 0; d < 2; d++)
		for (size_t i = 0; i < n && cnt[d] < 3; i++)
			if (cand[i] && s->v[i].dir == d && LATE_FREE(i)) { pick[i] = 1; cnt[d]++; }
#undef LATE_FREE
	for (size_t i = 0; i < n; i++)
		if (pick[i]) { seg_t t = s->v[i]; s->v[i] = s->v[i + 2]; s->v[i + 2] = t; }
	n_late[0] = cnt[0]; n_late[1] = cnt[1];
	free(cand); free(pick);
}

/* reply_first: move the first data segment F of a flight k (1..maxk) packets earlier than
 * the last data segment A of the other direction before it (see tlsgen.h). Flights in the
 * handshake (F below hs_end of its direction) always, the first server flight in
 * application data always, other application flights with probability 1/2. */
static void mangle_reply_first(segv_t *s, rng_t *r, int maxk, const size_t hs_end[2], unsigned *n_all, unsigned *n_hs)
{
	int app_s2c_done = 0;
	for (size_t i = 3; i < s->n; i++) {
		seg_t f = s->v[i];
		if (!is_data(&f)) continue;
		int d = f.dir;
		/* a retransmission does not start a flight */
		int retrans = 0;
		for (size_t k = 0; k < i && !retrans; k++)
			if (is_data(&s->v[k]) && s->v[k].dir == d && s->v[k].off + s->v[k].len > f.off) retrans = 1;
		if (retrans) continue;
		size_t j = i;
		while (j > 0 && !is_data(&s->v[j - 1])) j--;
		if (j == 0) continue;
		j--;                                   /* the closest earlier data segment */
		if (s->v[j].dir == d) continue;        /* not the first segment of a flight */
		int hs = f.off < hs_end[d];
		int mv = hs;
		if (!hs) {
			if (d == 1 && !app_s2c_done) mv = 1;
			else mv = rng_u(r, 2) == 0;
		}
		if (!mv) continue;
		size_t lb = 3;
		for (size_t k = j; k > 0; k--)
			if (is_data(&s->v[k - 1]) && s->v[k - 1].dir == d) { if (k > lb) lb = k; break; }
		size_t kk = rng_range(r, 1, (uint32_t)maxk);
		size_t target = j + 1 > kk ? j + 1 - kk : 0;
		if (target < lb) target = lb;
		if (target > j) continue;              /* cannot be put before A */
		memmove(&s->v[target + 1], &s->v[target], (i - target) * sizeof *s->v);
		s->v[target] = f;
		(*n_all)++;
		if (hs) (*n_hs)++;
		else if (d == 1) app_s2c_done = 1;
	}
}

/* Next expected stream offset of direction d from the segments before index i. */
static size_t next_off(const segv_t *s, size_t i, int d)
{
	size_t e = 0;
	for (size_t k = 0; k < i; k++)
		if (is_data(&s->v[k]) && s->v[k].dir == d && s->v[k].off + s->v[k].len > e) e = s->v[k].off + s->v[k].len;
	return e;
}

/* Inject one stray RST (rst=1, side d) or SYN (rst=0, client side) into the application data,
 * before a data segment of the same side that starts exactly at that side's next expected
 * offset, choosing the candidate closest to `frac` (0..1) of the capture. Returns the index
 * of the injected packet in s, or (size_t)-1 if there is no candidate. */
static size_t inject_stray(segv_t *s, const uint32_t isn[2], const size_t hs_end[2], int rst, int d, int in_window, double frac)
{
	size_t best = (size_t)-1, want = (size_t)(frac * (double)s->n);
	for (size_t i = 3; i < s->n; i++) {
		const seg_t *g = &s->v[i];
		if (!is_data(g) || g->dir != d || g->off < hs_end[d] || g->off == 0) continue;
		if (next_off(s, i, d) != g->off) continue;
		size_t dist = i > want ? i - want : want - i, bd = best == (size_t)-1 ? (size_t)-1 : best > want ? best - want : want - best;
		if (dist < bd) best = i;
	}
	if (best == (size_t)-1) return best;
	size_t off = s->v[best].off;
	seg_t x = { .dir = (uint8_t)d, .stray = 1 };
	x.seq = isn[d] + 1 + (uint32_t)off + (in_window ? 0 : 0x40000000u);
	if (rst) {
		x.flags = PCAPW_RST | PCAPW_ACK;
		x.ack = isn[!d] + 1 + (uint32_t)next_off(s, best, !d);
	} else {
		x.flags = PCAPW_SYN;
		x.syn_opts = 1;
	}
	segv_push(s, x);                           /* grow, then move into place */
	memmove(&s->v[best + 1], &s->v[best], (s->n - 1 - best) * sizeof *s->v);
	s->v[best] = x;
	return best;
}

/* Bytes of each direction's stream that no data segment carries. */
static void count_lost(const segv_t *s, const buf_t tls[2], uint64_t lost[2])
{
	for (int d = 0; d < 2; d++) {
		size_t L = tls[d].len;
		uint8_t *cov = calloc(L ? L : 1, 1);
		if (!cov) abort();
		for (size_t i = 0; i < s->n; i++) {
			const seg_t *g = &s->v[i];
			if (!is_data(g) || g->dir != d) continue;
			for (size_t k = g->off; k < g->off + g->len && k < L; k++) cov[k] = 1;
		}
		uint64_t m = 0;
		for (size_t k = 0; k < L; k++) m += !cov[k];
		lost[d] = m;
		free(cov);
	}
}

/* ------------------------------------------------------------------------------------ */
/* TLS driver                                                                            */

typedef struct gconn {
	const tlsgen_opts_t *o;
	rng_t *r;
	SSL *ssl[2];
	BIO *rbio[2], *wbio[2];
	buf_t tls[2];            /* TCP byte stream sent by each side */
	buf_t plain[2];          /* plaintext written by each side */
	buf_t recv[2];           /* plaintext of side d as decrypted by the peer */
	buf_t keylog;
	FILE *keylog_fp;
	segv_t segs;
	uint32_t isn[2];
	size_t segmax;
	int peer_closed[2];
	int hrr_seen, etm_seen;
	size_t hs_end[2];        /* stream offsets where the (first) handshake ended */
	unsigned renegotiations;
	int reject_early;        /* this connection's server refuses 0-RTT (1) / the ticket (2) */
	buf_t early_plain;       /* the early data the client wrote (accepted or not) */
	int early_sent;          /* the client wrote early data */
	uint8_t ch_psk_modes;
	int ch_key_share, ch_psk, sh_psk, sh_key_share;
	tlsgen_msg_t *msgs; size_t n_msgs, cap_msgs;
	char *err; size_t errlen;
} gconn_t;

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* append the OpenSSL error queue (first error) to err */
static void add_ssl_err(char *err, size_t errlen)
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

static void tcp_send(gconn_t *g, int dir, size_t off, size_t len)
{
	size_t done = 0;
	uint32_t ack = g->isn[!dir] + 1 + (uint32_t)g->tls[!dir].len;
	size_t nseg = 0;
	while (done < len) {
		size_t n = len - done < g->segmax ? len - done : g->segmax;
		seg_t s = { .dir = (uint8_t)dir, .flags = PCAPW_ACK, .seq = g->isn[dir] + 1 + (uint32_t)(off + done),
		            .ack = ack, .off = off + done, .len = n };
		done += n;
		if (done == len) s.flags |= PCAPW_PSH;
		segv_push(&g->segs, s);
		nseg++;
		/* late_segment: the receiver ACKs every second segment (delayed ACK) */
		if (g->o->late_segment && done < len && nseg % 2 == 0) {
			seg_t a = { .dir = (uint8_t)!dir, .flags = PCAPW_ACK, .seq = ack,
			            .ack = g->isn[dir] + 1 + (uint32_t)(off + done) };
			segv_push(&g->segs, a);
		}
	}
	/* the receiver acknowledges now and then (always after a multi-segment write, and
	 * after every write with late_segment) */
	if (nseg >= 2 || g->o->late_segment || rng_u(g->r, 3) == 0) {
		seg_t a = { .dir = (uint8_t)!dir, .flags = PCAPW_ACK, .seq = ack,
		            .ack = g->isn[dir] + 1 + (uint32_t)(off + len) };
		segv_push(&g->segs, a);
	}
}

/* move everything side `d` produced to the TCP stream and the peer's input */
static int flush_side(gconn_t *g, int d)
{
	size_t n = BIO_ctrl_pending(g->wbio[d]);
	if (!n) return 0;
	size_t off = g->tls[d].len;
	buf_reserve(&g->tls[d], n);
	int rd = BIO_read(g->wbio[d], g->tls[d].p + off, (int)n);
	if (rd != (int)n) { set_err(g->err, g->errlen, "BIO_read short"); return -1; }
	g->tls[d].len += n;
	if (BIO_write(g->rbio[!d], g->tls[d].p + off, (int)n) != (int)n) {
		set_err(g->err, g->errlen, "BIO_write failed");
		return -1;
	}
	tcp_send(g, d, off, n);
	return 0;
}

static void server_rand(gconn_t *g, int on);

/* side d reads all plaintext available; output it produced is flushed */
static int drain_read(gconn_t *g, int d)
{
	uint8_t tmp[16384];
	for (;;) {
		if (d == 1) server_rand(g, 1);
		int n = SSL_read(g->ssl[d], tmp, sizeof tmp);
		if (d == 1) server_rand(g, 0);
		if (n > 0) { buf_put(&g->recv[!d], tmp, (size_t)n); continue; }
		int e = SSL_get_error(g->ssl[d], n);
		if (e == SSL_ERROR_WANT_READ) break;
		if (e == SSL_ERROR_ZERO_RETURN) { g->peer_closed[d] = 1; break; }
		set_err(g->err, g->errlen, "%s: SSL_read failed (error %d)", d ? "server" : "client", e);
		add_ssl_err(g->err, g->errlen);
		return -1;
	}
	return flush_side(g, d);
}

static int ssl_write_all(gconn_t *g, int d, const uint8_t *p, size_t len)
{
	if (!len) return 0;
	int n = SSL_write(g->ssl[d], p, (int)len);
	if (n != (int)len) {
		set_err(g->err, g->errlen, "%s: SSL_write failed (error %d)", d ? "server" : "client",
		        SSL_get_error(g->ssl[d], n));
		add_ssl_err(g->err, g->errlen);
		return -1;
	}
	return 0;
}

/* ---- static ECDHE server ("static ephemeral") ----
 * OpenSSL 3.0 has no option to reuse a fixed (EC)DHE key. But its key generation draws
 * the private scalar from RAND_priv_bytes_ex(), which defers to an installed legacy
 * RAND_METHOD. While the *server* processes a handshake step we install a method that
 * returns the configured private key bytes for every request, so the key share libssl
 * generates (X25519: the raw 32 bytes; P-256/P-384: BN_priv_rand_range draws exactly
 * the scalar, which is below the group order) is the configured key. The client side
 * never sees this method. */
static uint8_t static_priv[48];
static size_t static_priv_len;

static uint64_t static_rand_state = 0x9e3779b97f4a7c15ull;

/* Requests of exactly the key's length (the key-share scalar; also e.g. the server
 * random, harmlessly) get the key; all others (RSA blinding, padding) a PRNG stream, so
 * rejection sampling elsewhere terminates. */
static int static_rand_bytes(unsigned char *buf, int num)
{
	if ((size_t)num == static_priv_len) {
		memcpy(buf, static_priv, static_priv_len);
		return 1;
	}
	for (int i = 0; i < num; i++) {
		uint64_t z = (static_rand_state += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		buf[i] = (uint8_t)(z ^ (z >> 31));
	}
	return 1;
}
static int static_rand_status(void) { return 1; }
static const RAND_METHOD static_rand_method = {
	NULL, static_rand_bytes, NULL, NULL, static_rand_bytes, static_rand_status
};

/* Load the static key; returns its OpenSSL group name or NULL. */
static const char *load_static_key(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f) fclose(f);
	if (!k) { set_err(err, errlen, "cannot read static ECDHE key %s", path); return NULL; }
	const char *group = NULL;
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_X25519) {
		size_t l = sizeof static_priv;
		if (EVP_PKEY_get_raw_private_key(k, static_priv, &l) == 1 && l == 32) { static_priv_len = 32; group = "X25519"; }
	} else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
		char gn[64] = "";
		BIGNUM *d = NULL;
		EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, gn, sizeof gn, NULL);
		size_t l = !strcmp(gn, "prime256v1") ? 32 : !strcmp(gn, "secp384r1") ? 48 : 0;
		if (l && EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
		    BN_bn2binpad(d, static_priv, (int)l) == (int)l) {
			static_priv_len = l;
			group = l == 32 ? "P-256" : "P-384";
		}
		BN_clear_free(d);
	}
	EVP_PKEY_free(k);
	if (!group) set_err(err, errlen, "static ECDHE key %s is not X25519, P-256 or P-384", path);
	return group;
}

/* The static key as the server's randomness (if set) while the server works. */
static void server_rand(gconn_t *g, int on)
{
	if (!g->o->static_ecdhe_key) return;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	RAND_set_rand_method(on ? &static_rand_method : NULL);
#pragma GCC diagnostic pop
}

/* One server handshake step, with the static key as the server's randomness if set. */
static int server_step(gconn_t *g, int (*step)(SSL *), SSL *ssl)
{
	server_rand(g, 1);
	int rc = step(ssl);
	server_rand(g, 0);
	return rc;
}

static int server_read_early(gconn_t *g, uint8_t *buf, size_t n, size_t *rb)
{
	server_rand(g, 1);
	int r = SSL_read_early_data(g->ssl[1], buf, n, rb);
	server_rand(g, 0);
	return r;
}

static void add_msg(gconn_t *g, const spec_t *s);

/* TLS 1.3 0-RTT: the client sends the plan's first message as early data with its
 * ClientHello; the server reads it with SSL_read_early_data. Returns 1 if the server
 * accepted it, 0 if not sent or rejected (the message then goes normally), -1 on error. */
static int early_data(gconn_t *g, plan_t *p)
{
	if (!p->n || p->v[0].dir != 0) return 0;
	spec_t *s = &p->v[0];
	size_t written = 0;
	if (SSL_write_early_data(g->ssl[0], s->data.p, s->data.len, &written) != 1 || written != s->data.len) {
		set_err(g->err, g->errlen, "SSL_write_early_data failed");
		add_ssl_err(g->err, g->errlen);
		return -1;
	}
	if (flush_side(g, 0)) return -1;
	g->early_sent = 1;
	buf_put(&g->early_plain, s->data.p, s->data.len);
	uint8_t tmp[16384];
	for (int it = 0; it < 32; it++) {
		size_t rb = 0;
		int r = server_read_early(g, tmp, sizeof tmp, &rb);
		if (r == SSL_READ_EARLY_DATA_SUCCESS) { buf_put(&g->recv[0], tmp, rb); continue; }
		if (flush_side(g, 1)) return -1;
		if (r == SSL_READ_EARLY_DATA_FINISH) break;
		if (SSL_get_error(g->ssl[1], r) != SSL_ERROR_WANT_READ) {
			set_err(g->err, g->errlen, "SSL_read_early_data failed");
			add_ssl_err(g->err, g->errlen);
			return -1;
		}
		SSL_do_handshake(g->ssl[0]);           /* client: EndOfEarlyData + Finished */
		if (flush_side(g, 0)) return -1;
	}
	if (SSL_get_early_data_status(g->ssl[1]) != SSL_EARLY_DATA_ACCEPTED) {
		g->recv[0].len = 0;
		return 0;
	}
	buf_put(&g->plain[0], s->data.p, s->data.len);
	add_msg(g, s);
	s->early = true;
	return 1;
}

/* STARTTLS and friends: the clear-text bytes each side sends before its first record,
 * written to the TCP stream in protocol order (server first where the protocol says so). */
static void plain_send(gconn_t *g, int d, const void *p, size_t n)
{
	size_t off = g->tls[d].len;
	buf_put(&g->tls[d], p, n);
	tcp_send(g, d, off, n);
}

static int starttls_prefix(gconn_t *g, const char *proto)
{
	static const char *const smtp[] = { "S220 mail.example.com ESMTP Postfix\r\n", "CEHLO client.example.com\r\n",
		"S250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
		"CSTARTTLS\r\n", "S220 2.0.0 Ready to start TLS\r\n", NULL };
	static const char *const imap[] = { "S* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n",
		"Ca1 STARTTLS\r\n", "Sa1 OK Begin TLS negotiation now.\r\n", NULL };
	static const char *const pop3[] = { "S+OK Dovecot ready.\r\n", "CSTLS\r\n", "S+OK Begin TLS negotiation now.\r\n", NULL };
	static const char *const xmpp[] = {
		"C<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
		"S<?xml version='1.0'?><stream:stream from='example.com' id='x1' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
		"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
		"C<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", "S<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", NULL };
	static const char *const ftp[] = { "S220 (vsFTPd 3.0.3)\r\n", "CAUTH TLS\r\n", "S234 Proceed with negotiation.\r\n", NULL };
	const char *const *steps = !strcmp(proto, "smtp") ? smtp : !strcmp(proto, "imap") ? imap :
	                           !strcmp(proto, "pop3") ? pop3 : !strcmp(proto, "xmpp") ? xmpp :
	                           !strcmp(proto, "ftp") ? ftp : NULL;
	if (steps) {
		for (int i = 0; steps[i]; i++)
			plain_send(g, steps[i][0] == 'S', steps[i] + 1, strlen(steps[i] + 1));
		return 0;
	}
	if (!strcmp(proto, "postgres")) {        /* SSLRequest: length 8, code 80877103; answer 'S' */
		static const uint8_t req[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
		plain_send(g, 0, req, sizeof req);
		plain_send(g, 1, "S", 1);
		return 0;
	}
	if (!strcmp(proto, "ldap")) {            /* ExtendedRequest 1.3.6.1.4.1.1466.20037 and its success */
		static const uint8_t req[] = { 0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16,
			'1','.','3','.','6','.','1','.','4','.','1','.','1','4','6','6','.','2','0','0','3','7' };
		static const uint8_t rsp[] = { 0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00,
			0x04, 0x00, 0x04, 0x00 };
		plain_send(g, 0, req, sizeof req);
		plain_send(g, 1, rsp, sizeof rsp);
		return 0;
	}
	set_err(g->err, g->errlen, "unknown starttls protocol '%s'", proto);
	return -1;
}

static int handshake(gconn_t *g)
{
	for (int it = 0; it < 64; it++) {
		int rc[2];
		for (int d = 0; d < 2; d++) {
			rc[d] = d ? server_step(g, SSL_do_handshake, g->ssl[d]) : SSL_do_handshake(g->ssl[d]);
			if (rc[d] <= 0) {
				int e = SSL_get_error(g->ssl[d], rc[d]);
				if (e != SSL_ERROR_WANT_READ) {
					/* let the alert reach the capture, then report */
					flush_side(g, d);
					set_err(g->err, g->errlen, "TLS handshake failed on the %s side", d ? "server" : "client");
					add_ssl_err(g->err, g->errlen);
					return -1;
				}
			}
			if (flush_side(g, d)) return -1;
		}
		if (rc[0] == 1 && rc[1] == 1) return 0;
	}
	set_err(g->err, g->errlen, "TLS handshake did not complete");
	return -1;
}

static void add_msg(gconn_t *g, const spec_t *s)
{
	if (g->n_msgs == g->cap_msgs) {
		size_t nc = g->cap_msgs ? g->cap_msgs * 2 : 16;
		tlsgen_msg_t *n = realloc(g->msgs, nc * sizeof *n);
		if (!n) abort();
		g->msgs = n; g->cap_msgs = nc;
	}
	tlsgen_msg_t *m = &g->msgs[g->n_msgs++];
	memset(m, 0, sizeof *m);
	m->dir = s->dir;
	m->len = s->data.len;
	m->data = malloc(s->data.len ? s->data.len : 1);
	if (!m->data) abort();
	memcpy(m->data, s->data.p, s->data.len);
	m->offset = g->plain[s->dir].len - s->data.len;
	m->size_class = m->len < 100 ? TLSGEN_TINY : m->len < 2000 ? TLSGEN_NORMAL : m->len <= 16384 ? TLSGEN_MID : TLSGEN_BIG;
	m->keepalive = s->keepalive;
	m->chunked = s->chunked;
	m->ws = s->ws;
	if (s->ws_payload.len) {
		m->ws_payload = malloc(s->ws_payload.len);
		if (!m->ws_payload) abort();
		memcpy(m->ws_payload, s->ws_payload.p, s->ws_payload.len);
		m->ws_payload_len = s->ws_payload.len;
	}
}

/* TLS <= 1.2: one client-initiated renegotiation (a full handshake under the current keys). */
static int renegotiate_once(gconn_t *g)
{
	if (SSL_renegotiate(g->ssl[0]) != 1) {
		set_err(g->err, g->errlen, "SSL_renegotiate failed");
		add_ssl_err(g->err, g->errlen);
		return -1;
	}
	for (int it = 0; it < 32; it++) {
		int r = SSL_do_handshake(g->ssl[0]);
		if (r <= 0 && SSL_get_error(g->ssl[0], r) != SSL_ERROR_WANT_READ) {
			flush_side(g, 0);
			set_err(g->err, g->errlen, "renegotiation %u: client handshake failed", g->renegotiations + 1);
			add_ssl_err(g->err, g->errlen);
			return -1;
		}
		if (flush_side(g, 0) || drain_read(g, 1)) return -1;
		if (r == 1 && !SSL_renegotiate_pending(g->ssl[0])) { g->renegotiations++; return 0; }
	}
	set_err(g->err, g->errlen, "renegotiation %u did not complete", g->renegotiations + 1);
	return -1;
}

static int exchange(gconn_t *g, plan_t *p)
{
	const tlsgen_opts_t *o = g->o;
	int tls13 = o->tls_version >= 0x0304;
	/* key update points: the client before its write near 1/3 of the plan, the server
	 * before its write near 2/3 */
	size_t ku_c = (size_t)-1, ku_s = (size_t)-1;
	if (o->key_update && tls13) {
		for (size_t i = p->n / 3; i < p->n; i++) if (p->v[i].dir == 0 && !p->v[i].merge_prev) { ku_c = i; break; }
		for (size_t i = (2 * p->n) / 3; i < p->n; i++) if (p->v[i].dir == 1 && !p->v[i].merge_prev && i != ku_c) { ku_s = i; break; }
		if (ku_s == (size_t)-1)
			for (size_t i = 0; i < p->n; i++) if (p->v[i].dir == 1 && !p->v[i].merge_prev) { ku_s = i; break; }
	}
	/* renegotiations: spread over the write points (specs starting a flush, not the first) */
	size_t nwp = 0;
	for (size_t i = 1; i < p->n; i++) if (!p->v[i].merge_prev && !p->v[i].early) nwp++;
	size_t wp = 0;
	int reneg = o->renegotiate > 0 ? o->renegotiate : 0;
	for (size_t i = 0; i < p->n; i++) {
		spec_t *s = &p->v[i];
		int d = s->dir;
		if (s->early) continue;
		if (reneg && i > 0 && !s->merge_prev) {
			/* write point wp (0-based) of nwp gets renegotiations up to (wp+1)*reneg/nwp */
			size_t upto = nwp ? (size_t)(((uint64_t)(wp + 1) * (uint64_t)reneg) / nwp) : (size_t)reneg;
			wp++;
			while (g->renegotiations < upto)
				if (renegotiate_once(g)) return -1;
		}
		if (i == ku_c || i == ku_s) {
			if (!SSL_key_update(g->ssl[d], d == 0 ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED)) {
				set_err(g->err, g->errlen, "SSL_key_update failed");
				add_ssl_err(g->err, g->errlen);
				return -1;
			}
			/* sometimes the KeyUpdate goes out in its own flush, else with the data */
			if (rng_u(g->r, 2)) {
				if (SSL_do_handshake(g->ssl[d]) != 1) {
					set_err(g->err, g->errlen, "KeyUpdate: SSL_do_handshake failed");
					add_ssl_err(g->err, g->errlen);
					return -1;
				}
				if (flush_side(g, d) || drain_read(g, !d)) return -1;
			}
		}
		buf_put(&g->plain[d], s->data.p, s->data.len);
		size_t cut = 0;
		if (o->split_writes && s->data.len > 200 && rng_u(g->r, 4) == 0) {
			/* two SSL_write calls: at the header/body boundary when there is one */
			const char *hb = strstr((const char *)s->data.p, "\r\n\r\n");
			cut = hb ? (size_t)(hb - (const char *)s->data.p) + 4 : 0;
			if (cut == 0 || cut >= s->data.len) cut = rng_range(g->r, 1, (uint32_t)s->data.len - 1);
		}
		if (cut) {
			if (ssl_write_all(g, d, s->data.p, cut)) return -1;
			if (rng_u(g->r, 2) && (flush_side(g, d) || drain_read(g, !d))) return -1;
			if (ssl_write_all(g, d, s->data.p + cut, s->data.len - cut)) return -1;
		} else if (ssl_write_all(g, d, s->data.p, s->data.len)) {
			return -1;
		}
		add_msg(g, s);
		if (i + 1 < p->n && p->v[i + 1].merge_prev && p->v[i + 1].dir == d) continue;
		if (flush_side(g, d) || drain_read(g, !d)) return -1;
	}
	while (reneg && g->renegotiations < (unsigned)reneg)     /* no write point at all */
		if (renegotiate_once(g)) return -1;
	return 0;
}

static int shutdown_both(gconn_t *g)
{
	int r0 = SSL_shutdown(g->ssl[0]);
	if (r0 < 0) goto fail;
	if (flush_side(g, 0) || drain_read(g, 1)) return -1;
	int r1 = SSL_shutdown(g->ssl[1]);
	if (r1 < 0) goto fail;
	if (flush_side(g, 1) || drain_read(g, 0)) return -1;
	if (r0 == 0) {
		r0 = SSL_shutdown(g->ssl[0]);
		if (r0 < 0) goto fail;
		if (flush_side(g, 0)) return -1;
	}
	return 0;
fail:
	set_err(g->err, g->errlen, "SSL_shutdown failed");
	add_ssl_err(g->err, g->errlen);
	return -1;
}

static const uint8_t hrr_random[32] = {
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
};

static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg)
{
	(void)version; (void)arg;
	const uint8_t *b = buf;
	gconn_t *g = SSL_get_app_data(ssl);
	if (!g || content_type != SSL3_RT_HANDSHAKE || len < 38) return;
	if (write_p && b[0] == 1) {
		/* ClientHello: psk_key_exchange_modes (45), key_share (51), pre_shared_key (41) */
		size_t p = 38;
		g->ch_psk_modes = 0; g->ch_key_share = g->ch_psk = 0;
		if (p >= len) return;
		p += 1 + b[p];                     /* session id */
		if (p + 2 > len) return;
		p += 2 + ((size_t)b[p] << 8 | b[p + 1]);   /* cipher suites */
		if (p >= len) return;
		p += 1 + b[p];                     /* compression */
		if (p + 2 > len) return;
		size_t end = p + 2 + ((size_t)b[p] << 8 | b[p + 1]);
		if (end > len) end = len;
		for (p += 2; p + 4 <= end; ) {
			unsigned type = (unsigned)b[p] << 8 | b[p + 1];
			size_t l = (size_t)b[p + 2] << 8 | b[p + 3];
			if (type == 51) g->ch_key_share = 1;
			if (type == 41) g->ch_psk = 1;
			if (type == 45 && l >= 1 && p + 4 + l <= end)
				for (size_t k = 0; k < b[p + 4] && k + 1 < l; k++) {
					if (b[p + 5 + k] == 0) g->ch_psk_modes |= 1;
					if (b[p + 5 + k] == 1) g->ch_psk_modes |= 2;
				}
			p += 4 + l;
		}
		return;
	}
	if (write_p || b[0] != 2) return;
	if (!memcmp(b + 6, hrr_random, 32)) { g->hrr_seen = 1; return; }
	g->sh_psk = g->sh_key_share = 0;
	/* ServerHello: note whether encrypt_then_mac (22) was accepted */
	size_t p = 38;
	if (p >= len) return;
	p += 1 + b[p];                     /* session id */
	p += 3;                            /* cipher suite, compression */
	if (p + 2 > len) return;
	size_t end = p + 2 + ((size_t)b[p] << 8 | b[p + 1]);
	if (end > len) end = len;
	for (p += 2; p + 4 <= end; ) {
		unsigned type = (unsigned)b[p] << 8 | b[p + 1];
		size_t l = (size_t)b[p + 2] << 8 | b[p + 3];
		if (type == 22) g->etm_seen = 1;
		if (type == 41) g->sh_psk = 1;
		if (type == 51) g->sh_key_share = 1;
		p += 4 + l;
	}
}

static void keylog_cb(const SSL *ssl, const char *line)
{
	gconn_t *g = SSL_get_app_data(ssl);
	if (!g) return;
	buf_printf(&g->keylog, "%s\n", line);
	if (g->keylog_fp) { fprintf(g->keylog_fp, "%s\n", line); fflush(g->keylog_fp); }
	if (g->o && g->o->keylog_line) g->o->keylog_line(g->o->keylog_user, line);
}

static int pw_cb(char *buf, int size, int rwflag, void *u)
{
	(void)rwflag;
	if (!u) return 0;
	int n = (int)strlen(u);
	if (n > size) n = size;
	memcpy(buf, u, (size_t)n);
	return n;
}

/* Read a private key in any encoding tlsgen_make_key_fmt writes (PEM PKCS#8/traditional,
 * encrypted or not; DER PKCS#8 encrypted or not; DER traditional). NULL on failure. */
static EVP_PKEY *load_key(const char *path, const char *pw)
{
	BIO *b = BIO_new_file(path, "rb");
	if (!b) return NULL;
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, pw_cb, (void *)pw);
	if (!k) {
		(void)BIO_reset(b);
		k = d2i_PKCS8PrivateKey_bio(b, NULL, pw_cb, (void *)pw);
	}
	if (!k) {
		(void)BIO_reset(b);
		k = d2i_PrivateKey_bio(b, NULL);
	}
	BIO_free(b);
	if (k) ERR_clear_error();
	return k;
}

/* first group name not contained in list */
static const char *other_group(const char *list)
{
	static const char *const cand[] = { "X25519", "P-384", "P-521", "X448", "P-256" };
	for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++)
		if (!strcasestr(list, cand[i])) return cand[i];
	return "ffdhe2048";
}

/* early_data_reject: the server's decisions for connections whose gconn says so */
static int allow_early_cb(SSL *s, void *arg)
{
	(void)arg;
	gconn_t *g = SSL_get_app_data(s);
	return !(g && g->reject_early);
}
static SSL_TICKET_RETURN ticket_dec_cb(SSL *s, SSL_SESSION *ss, const unsigned char *kn, size_t knl,
                                       SSL_TICKET_STATUS st, void *arg)
{
	(void)ss; (void)kn; (void)knl; (void)arg;
	gconn_t *g = SSL_get_app_data(s);
	if (g && g->reject_early == 2) return SSL_TICKET_RETURN_IGNORE_RENEW;
	switch (st) {
	case SSL_TICKET_SUCCESS: return SSL_TICKET_RETURN_USE;
	case SSL_TICKET_SUCCESS_RENEW: return SSL_TICKET_RETURN_USE_RENEW;
	case SSL_TICKET_EMPTY: case SSL_TICKET_NO_DECRYPT: return SSL_TICKET_RETURN_IGNORE_RENEW;
	default: return SSL_TICKET_RETURN_IGNORE;
	}
}

static SSL_CTX *make_ctx(const tlsgen_opts_t *o, int server, char *err, size_t errlen)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!c) { set_err(err, errlen, "SSL_CTX_new failed"); add_ssl_err(err, errlen); return NULL; }
	const char *who = server ? "server" : "client";
	int v = o->tls_version;
	if (!SSL_CTX_set_min_proto_version(c, v) || !SSL_CTX_set_max_proto_version(c, v)) {
		set_err(err, errlen, "TLS version 0x%04x not supported by this OpenSSL", v);
		add_ssl_err(err, errlen);
		goto fail;
	}
	if (o->cipher && *o->cipher) {
		int ok = v >= 0x0304 ? SSL_CTX_set_ciphersuites(c, o->cipher) : SSL_CTX_set_cipher_list(c, o->cipher);
		if (!ok) {
			set_err(err, errlen, "cipher \"%s\" not available in this OpenSSL build", o->cipher);
			add_ssl_err(err, errlen);
			goto fail;
		}
	}
	/* tests need the legacy protocols, RSA key exchange, SHA-1 and small keys */
	SSL_CTX_set_security_level(c, 0);
	uint64_t opts = 0;
	if (!o->ems) opts |= SSL_OP_NO_EXTENDED_MASTER_SECRET;
	if (!o->etm) opts |= SSL_OP_NO_ENCRYPT_THEN_MAC;
	if (o->no_tickets || o->resume == 1) opts |= SSL_OP_NO_TICKET;
	if (o->psk_ke_only) opts |= SSL_OP_ALLOW_NO_DHE_KEX;
	if (server && o->renegotiate > 0) opts |= SSL_OP_ALLOW_CLIENT_RENEGOTIATION;
	if (o->psk_ke) opts |= SSL_OP_ALLOW_NO_DHE_KEX;
	SSL_CTX_set_options(c, opts);

	if (server) SSL_CTX_set_dh_auto(c, 1);     /* DHE suites need parameters */
	const char *groups = o->groups;
	char gbuf[256];
	if (o->static_ecdhe_key) {
		const char *sg = load_static_key(o->static_ecdhe_key, err, errlen);
		if (!sg) goto fail;
		/* server: only the key's group; client: that group first (its TLS 1.3 key share,
		 * so no HelloRetryRequest), then the usual curves (TLS 1.2 ECDSA certificates) */
		if (server) groups = sg;
		else {
			snprintf(gbuf, sizeof gbuf, "%s", sg);
			static const char *const more[] = { "P-256", "P-384", "X25519" };
			for (size_t i = 0; i < 3; i++)
				if (strcmp(more[i], sg)) { strcat(gbuf, ":"); strcat(gbuf, more[i]); }
			groups = gbuf;
		}
	}
	if (o->psk_ke_only && !server && !groups) groups = "X25519:P-256";
	if (o->hrr && v >= 0x0304) {
		const char *g = o->groups && *o->groups ? o->groups : "P-256";
		if (server) groups = g;
		else { snprintf(gbuf, sizeof gbuf, "%s:%s", other_group(g), g); groups = gbuf; }
	}
	if (groups && *groups && !SSL_CTX_set1_groups_list(c, groups)) {
		set_err(err, errlen, "%s: groups \"%s\" not available", who, groups);
		add_ssl_err(err, errlen);
		goto fail;
	}

	if (server) {
		if (!o->cert_file || SSL_CTX_use_certificate_chain_file(c, o->cert_file) != 1) {
			set_err(err, errlen, "cannot load certificate %s", o->cert_file ? o->cert_file : "(none given)");
			add_ssl_err(err, errlen);
			goto fail;
		}
		EVP_PKEY *pk = o->key_file ? load_key(o->key_file, o->key_password) : NULL;
		if (!pk || SSL_CTX_use_PrivateKey(c, pk) != 1) {
			EVP_PKEY_free(pk);
			set_err(err, errlen, "cannot load private key %s%s", o->key_file ? o->key_file : "(none given)",
			        o->key_password ? " (wrong password?)" : "");
			add_ssl_err(err, errlen);
			goto fail;
		}
		EVP_PKEY_free(pk);
		if (SSL_CTX_check_private_key(c) != 1) {
			set_err(err, errlen, "private key %s does not match certificate %s", o->key_file, o->cert_file);
			add_ssl_err(err, errlen);
			goto fail;
		}
		SSL_CTX_set_session_id_context(c, (const unsigned char *)"tlsgen", 6);
		if (o->resume == 2) SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
		else SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
		if (o->no_tickets) SSL_CTX_set_num_tickets(c, 0);
		if (o->early_data) {
			SSL_CTX_set_max_early_data(c, 65536);
			SSL_CTX_set_recv_max_early_data(c, 65536);   /* default 16384: a BIG first message is more */
			SSL_CTX_set_options(c, SSL_OP_NO_ANTI_REPLAY);   /* stateless tickets */
		}
		if (o->early_data_reject) SSL_CTX_set_allow_early_data_cb(c, allow_early_cb, NULL);
		if (o->early_data_reject == 2) SSL_CTX_set_session_ticket_cb(c, NULL, ticket_dec_cb, NULL);
	} else {
		SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_keylog_callback(c, keylog_cb);
		SSL_CTX_set_msg_callback(c, msg_cb);
	}
	return c;
fail:
	SSL_CTX_free(c);
	return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Output                                                                                */

typedef struct {
	const tlsgen_opts_t *o;
	pcapw_t *w;
	uint64_t ts_us;
	uint16_t ip_id[2];
	uint8_t addr[2][16];
	uint8_t mac[2][6];
} out_t;

/* ts_outlier: an unrelated UDP datagram 192.0.2.8:5353 -> 198.51.100.9:9 (or 2001:db8::8 ->
 * 2001:db8::9) with a small payload. */
static int write_udp(out_t *ow, uint64_t ts_us)
{
	const tlsgen_opts_t *o = ow->o;
	uint8_t f[128];
	int lh = pcapw_link_header(f, o->linktype, o->ipv6, 0, ow->mac[1], ow->mac[0], o->vlan ? 100 : 0);
	if (lh < 0) return -1;
	static const char pl[] = "tlsgen unrelated datagram";
	size_t plen = sizeof pl - 1, ulen = 8 + plen, p = (size_t)lh;
	uint8_t src[16] = { 0 }, dst[16] = { 0 };
	uint32_t sum = 0;
	if (o->ipv6) {
		static const uint8_t s6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 8 }, d6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 9 };
		memcpy(src, s6, 16); memcpy(dst, d6, 16);
		uint8_t *ip = f + p;
		memset(ip, 0, 40);
		ip[0] = 0x60; ip[4] = (uint8_t)(ulen >> 8); ip[5] = (uint8_t)ulen; ip[6] = 17; ip[7] = 64;
		memcpy(ip + 8, src, 16); memcpy(ip + 24, dst, 16);
		sum = pcapw_csum_add(sum, src, 16); sum = pcapw_csum_add(sum, dst, 16);
		p += 40;
	} else {
		static const uint8_t s4[4] = { 192, 0, 2, 8 }, d4[4] = { 198, 51, 100, 9 };
		memcpy(src, s4, 4); memcpy(dst, d4, 4);
		uint8_t *ip = f + p;
		memset(ip, 0, 20);
		size_t tot = 20 + ulen;
		ip[0] = 0x45; ip[2] = (uint8_t)(tot >> 8); ip[3] = (uint8_t)tot; ip[8] = 64; ip[9] = 17;
		memcpy(ip + 12, src, 4); memcpy(ip + 16, dst, 4);
		uint16_t c = pcapw_csum_fold(pcapw_csum_add(0, ip, 20));
		ip[10] = (uint8_t)(c >> 8); ip[11] = (uint8_t)c;
		sum = pcapw_csum_add(sum, src, 4); sum = pcapw_csum_add(sum, dst, 4);
		p += 20;
	}
	uint8_t *u = f + p;
	u[0] = 5353 >> 8; u[1] = 5353 & 0xff; u[2] = 0; u[3] = 9;
	u[4] = (uint8_t)(ulen >> 8); u[5] = (uint8_t)ulen; u[6] = u[7] = 0;
	memcpy(u + 8, pl, plen);
	uint8_t ph[4] = { 0, 17, (uint8_t)(ulen >> 8), (uint8_t)ulen };
	sum = pcapw_csum_add(sum, ph, 4);
	sum = pcapw_csum_add(sum, u, ulen);
	uint16_t c = pcapw_csum_fold(sum);
	if (!c) c = 0xffff;
	u[6] = (uint8_t)(c >> 8); u[7] = (uint8_t)c;
	return pcapw_write(ow->w, ts_us, f, p + ulen);
}

/* ts_outlier: an unrelated TCP pure ACK 192.0.2.7:40001 -> 198.51.100.9:8080 (v6: 2001:db8::7 -> ::9). */
static int write_unrelated_tcp(out_t *ow, uint64_t ts_us)
{
	const tlsgen_opts_t *o = ow->o;
	static const uint8_t s4[16] = { 192, 0, 2, 7 }, d4[16] = { 198, 51, 100, 9 };
	static const uint8_t s6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 }, d6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 9 };
	pcapw_tcp_t t = {
		.ipv6 = o->ipv6, .src = o->ipv6 ? s6 : s4, .dst = o->ipv6 ? d6 : d4,
		.sport = 40001, .dport = 8080, .seq = 0x12345678u, .ack = 0x9abcdef0u, .flags = PCAPW_ACK,
		.window = 512, .ip_id = 4242, .outbound = 0, .src_mac = ow->mac[1], .dst_mac = ow->mac[0],
		.vlan = o->vlan ? 100 : 0,
	};
	return pcapw_write_tcp(ow->w, ts_us, &t);
}

/* What write_conn does besides the connection's own packets. */
typedef struct wextra {
	int outliers, step;           /* this connection carries the ts outliers / the clock step */
	tlsgen_result_t *acc;         /* where their pcap indexes go */
	tlsgen_conn_t *oc;            /* stray packet indexes */
} wextra_t;

static int write_conn(out_t *ow, gconn_t *g, uint16_t cport, uint16_t sport, wextra_t *x)
{
	const tlsgen_opts_t *o = ow->o;
	size_t n = g->segs.n, at_future = n * 2 / 5, at_past = n * 3 / 5, at_step = n / 2;
	for (size_t i = 0; i < g->segs.n; i++) {
		const seg_t *s = &g->segs.v[i];
		if (x->outliers && (i == at_future || i == at_past)) {
			int fut = i == at_future;
			uint64_t ts = fut ? ow->ts_us + 3650ull * 86400ull * 1000000ull : ow->ts_us - 86400ull * 1000000ull;
			x->acc->ts_outlier_packet[fut ? 0 : 1] = (size_t)pcapw_count(ow->w);
			if ((fut ? write_unrelated_tcp(ow, ts) : write_udp(ow, ts)) != 0) return -1;
			x->acc->n_ts_outliers++;
		}
		if (x->step && i == at_step) {
			ow->ts_us -= 3600ull * 1000000ull;
			x->acc->ts_step_packet = (size_t)pcapw_count(ow->w);
			x->acc->ts_steps++;
		}
		if (s->stray && x->oc->n_stray < 2) x->oc->stray_packet[x->oc->n_stray++] = (size_t)pcapw_count(ow->w);
		int d = s->dir;
		uint8_t opts[12];
		pcapw_tcp_t t = {
			.ipv6 = o->ipv6, .src = ow->addr[d], .dst = ow->addr[!d],
			.sport = d ? sport : cport, .dport = d ? cport : sport,
			.seq = s->seq, .ack = (s->flags & PCAPW_ACK) ? s->ack : 0, .flags = s->flags,
			.window = 2048, .ip_id = ow->ip_id[d]++,
			.payload = s->len ? g->tls[d].p + s->off : NULL, .len = s->len,
			.outbound = d == 0, .src_mac = ow->mac[d], .dst_mac = ow->mac[!d],
			.vlan = o->vlan ? 100 : 0,
		};
		if (s->syn_opts) {
			uint16_t mss = (uint16_t)o->mss;
			uint8_t so[12] = { 2, 4, (uint8_t)(mss >> 8), (uint8_t)mss, 1, 1, 4, 2, 1, 3, 3, 7 };
			memcpy(opts, so, sizeof so);
			t.opts = opts; t.optlen = 12;
			t.window = 64240;
		}
		if (pcapw_write_tcp(ow->w, ow->ts_us, &t)) return -1;
		ow->ts_us += 100;
	}
	ow->ts_us += 900; /* small gap between connections */
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* tlsgen_run                                                                            */

void tlsgen_opts_defaults(tlsgen_opts_t *o)
{
	memset(o, 0, sizeof *o);
	o->tls_version = 0x0303;
	o->ems = 1;
	o->etm = 1;
	o->app = TLSGEN_APP_SIP;
	o->n_messages = 6;
	o->seed = 1;
	o->mss = 1460;
	o->connections = 1;
	o->linktype = PCAPW_LINK_ETHERNET;
	o->start_ts = 1700000000.0;
	o->split_writes = 1;
}

void tlsgen_result_free(tlsgen_result_t *r)
{
	if (!r) return;
	for (size_t i = 0; i < r->n_conns; i++) {
		tlsgen_conn_t *c = &r->conns[i];
		for (int d = 0; d < 2; d++) { free(c->plain[d]); free(c->tls[d]); }
		for (size_t k = 0; k < c->n_msgs; k++) { free(c->msgs[k].data); free(c->msgs[k].ws_payload); }
		free(c->msgs);
		free(c->keylog);
		free(c->early_plain);
	}
	free(r->conns);
	memset(r, 0, sizeof *r);
}

static void gconn_free(gconn_t *g)
{
	for (int d = 0; d < 2; d++) {
		if (g->ssl[d]) SSL_free(g->ssl[d]); /* frees its BIOs */
		buf_free(&g->tls[d]); buf_free(&g->plain[d]); buf_free(&g->recv[d]);
	}
	buf_free(&g->keylog);
	buf_free(&g->early_plain);
	free(g->segs.v);
	for (size_t k = 0; k < g->n_msgs; k++) { free(g->msgs[k].data); free(g->msgs[k].ws_payload); }
	free(g->msgs);
	memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------------------------------ */
/* SIP over WebSocket (TLSGEN_APP_WS_SIP): the SIP plan, framed (RFC 6455) by tlsgen      */

/* One frame: FIN/opcode, minimal length encoding, masked with a random key when from the
 * client (RFC 6455 §5.2, §5.3). */
static void ws_frame(buf_t *out, rng_t *r, int client, int fin, int op, const uint8_t *p, size_t n)
{
	uint8_t h[14];
	size_t hl = 0;
	h[hl++] = (uint8_t)((fin ? 0x80 : 0) | op);
	uint8_t mb = client ? 0x80 : 0;
	if (n < 126) {
		h[hl++] = (uint8_t)(mb | n);
	} else if (n <= 0xffff) {
		h[hl++] = (uint8_t)(mb | 126);
		h[hl++] = (uint8_t)(n >> 8);
		h[hl++] = (uint8_t)n;
	} else {
		h[hl++] = (uint8_t)(mb | 127);
		for (int k = 7; k >= 0; k--) h[hl++] = (uint8_t)((uint64_t)n >> (8 * k));
	}
	uint8_t key[4] = { 0 };
	if (client) {
		uint32_t k = (uint32_t)rng_next(r);
		for (int i = 0; i < 4; i++) key[i] = h[hl++] = (uint8_t)(k >> (8 * i));
	}
	buf_put(out, h, hl);
	size_t at = out->len;
	buf_put(out, p, n);
	if (client)
		for (size_t i = 0; i < n; i++) out->p[at + i] ^= key[i & 3];
}

/* A control frame (ping 9 / pong 10 / close 8) with a short payload. */
static void ws_control(buf_t *out, rng_t *r, int client, int op)
{
	char pl[32];
	int n = op == 8 ? 2 : snprintf(pl, sizeof pl, "ka-%u", (unsigned)rng_u(r, 100000));
	if (op == 8) { pl[0] = 0x03; pl[1] = (char)0xe8; }      /* 1000 normal closure */
	ws_frame(out, r, client, 1, op, (const uint8_t *)pl, (size_t)n);
}

/* The SIP plan p (rendered) becomes: upgrade GET, 101, each SIP message as one WebSocket
 * message (sometimes fragmented, control frames between fragments), keep-alives as ping /
 * pong frames, one ~70 KB MESSAGE (64-bit length) in the middle, and a close
 * frame from each side. */
static void ws_sip_transform(plan_t *p, rng_t *r, const sipctx_t *sc)
{
	plan_t q = { 0 };
	uint8_t nonce[16], dg[SHA_DIGEST_LENGTH];
	char key[32], acc[40];
	for (int i = 0; i < 16; i++) nonce[i] = (uint8_t)rng_next(r);
	EVP_EncodeBlock((unsigned char *)key, nonce, 16);
	char cat[96];
	snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
	SHA1((const unsigned char *)cat, strlen(cat), dg);
	EVP_EncodeBlock((unsigned char *)acc, dg, SHA_DIGEST_LENGTH);
	spec_t *s = plan_add(&q, 0, H_REQ, 0);
	buf_printf(&s->data, "GET /ws HTTP/1.1\r\nHost: %s\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
	           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n"
	           "Origin: https://%s\r\n\r\n", sc->shost, key, sc->shost);
	s = plan_add(&q, 1, H_RESP, 0);
	buf_printf(&s->data, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	           "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: sip\r\n\r\n", acc);
	for (size_t i = 0; i < p->n; i++) {
		spec_t *in = &p->v[i];
		int cl = in->dir == 0;
		if (i == p->n / 2 && p->n > 2) {
			/* a MESSAGE too big for a 16-bit length */
			spec_t *b = plan_add(&q, 0, S_MESSAGE, 0);
			buf_t body = { 0 };
			fill_lines(&body, r, 70000, "");
			buf_printf(&b->ws_payload, "MESSAGE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/WSS %s;branch=z9hG4bKbig%u\r\n"
			           "From: <sip:alice@%s>;tag=big\r\nTo: <sip:bob@%s>\r\nCall-ID: big-%u@%s\r\nCSeq: 1 MESSAGE\r\n"
			           "Max-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
			           sc->shost, sc->chost, (unsigned)rng_u(r, 1u << 30), sc->chost, sc->shost,
			           (unsigned)rng_u(r, 1u << 30), sc->chost, body.len);
			buf_put(&b->ws_payload, body.p, body.len);
			buf_free(&body);
			b->ws = 1;
			ws_frame(&b->data, r, 1, 1, 1, b->ws_payload.p, b->ws_payload.len);
		}
		s = plan_add(&q, in->dir, in->type, 0);
		s->merge_prev = in->merge_prev;
		if (in->keepalive) {
			s->ws = 2;
			ws_control(&s->data, r, cl, cl ? 9 : 10);
			continue;
		}
		s->ws = 1;
		buf_put(&s->ws_payload, in->data.p, in->data.len);
		int op = rng_u(r, 4) ? 1 : 2;
		size_t n = in->data.len, nf = (n > 8 && rng_u(r, 3) == 0) ? rng_range(r, 2, 4) : 1;
		size_t off = 0;
		for (size_t k = 0; k < nf; k++) {
			size_t len = k + 1 == nf ? n - off : rng_range(r, 1, (uint32_t)((n - off) - (nf - k - 1)));
			ws_frame(&s->data, r, cl, k + 1 == nf, k ? 0 : op, in->data.p + off, len);
			off += len;
			if (k + 1 < nf && rng_u(r, 2)) ws_control(&s->data, r, cl, cl ? 9 : 10);
		}
	}
	s = plan_add(&q, 0, S_BYE, 0);
	s->ws = 2;
	ws_control(&s->data, r, 1, 8);
	s = plan_add(&q, 1, S_200_BYE, 0);
	s->ws = 2;
	ws_control(&s->data, r, 0, 8);
	plan_free(p);
	*p = q;
}

static void plan_conn(const tlsgen_opts_t *o, rng_t *r, plan_t *p, uint16_t cport, uint16_t sport)
{
	int n = o->n_messages > 0 ? o->n_messages : 0;
	if (o->app == TLSGEN_APP_HTTP) {
		http_plan(p, r, n);
		httpctx_t hc = { .r = r, .host = (o->sni && *o->sni) ? o->sni : "www.example.com" };
		http_render(p, &hc);
	} else {
		sip_plan(p, r, n);
		sipctx_t sc = { .r = r, .cport = cport, .sport = sport };
		snprintf(sc.chost, sizeof sc.chost, "%s", o->ipv6 ? "[fd00::1]" : "10.0.0.1");
		snprintf(sc.shost, sizeof sc.shost, "%s", o->ipv6 ? "[fd00::2]" : "10.0.0.2");
		snprintf(sc.caddr, sizeof sc.caddr, "%s", o->ipv6 ? "IP6 fd00::1" : "IP4 10.0.0.1");
		snprintf(sc.saddr, sizeof sc.saddr, "%s", o->ipv6 ? "IP6 fd00::2" : "IP4 10.0.0.2");
		sip_render(p, &sc);
		if (o->app == TLSGEN_APP_WS_SIP) ws_sip_transform(p, r, &sc);
	}
}

int tlsgen_run(const tlsgen_opts_t *oin, const char *pcap_path, tlsgen_result_t *res, char *err, size_t errlen)
{
	tlsgen_opts_t o = *oin;
	if (res) memset(res, 0, sizeof *res);
	if (err && errlen) err[0] = 0;
	if (o.tls_version < 0x0301 || o.tls_version > 0x0304) {
		set_err(err, errlen, "unsupported TLS version 0x%04x", o.tls_version);
		return -1;
	}
	if (o.app != TLSGEN_APP_HTTP && o.app != TLSGEN_APP_WS_SIP) o.app = TLSGEN_APP_SIP;
	if (!o.server_port) o.server_port = o.app == TLSGEN_APP_SIP ? 5061 : 443;
	if (o.mss <= 0) o.mss = 1460;
	if (o.connections <= 0) o.connections = 1;
	if (o.n_messages < 0) o.n_messages = 0;
	if (o.n_messages > 500) o.n_messages = 500;
	if (o.start_ts <= 0) o.start_ts = 1700000000.0;
	if (o.resume == 2 && o.no_tickets) {
		set_err(err, errlen, "ticket resumption requested with tickets disabled");
		return -1;
	}
	if (o.renegotiate < 0 || (o.renegotiate > 0 && o.tls_version > 0x0303)) {
		set_err(err, errlen, "renegotiate needs TLS <= 1.2");
		return -1;
	}
	if (o.early_data_reject && (!o.early_data || o.resume != 2 || o.tls_version < 0x0304 || o.connections < 2 ||
	                            o.early_data_reject > 2)) {
		set_err(err, errlen, "early_data_reject (1 or 2) needs early_data, resume=2, TLS 1.3 and >= 2 connections");
		return -1;
	}
	if (o.psk_ke_only && (o.resume != 2 || o.tls_version < 0x0304 || o.connections < 2)) {
		set_err(err, errlen, "psk_ke_only needs TLS 1.3, resume=2 and >= 2 connections");
		return -1;
	}
	if (o.reply_first < 0 || o.reply_first > 4) {
		set_err(err, errlen, "reply_first must be 0..4");
		return -1;
	}
	if (o.linktype != PCAPW_LINK_NULL && o.linktype != PCAPW_LINK_ETHERNET && o.linktype != PCAPW_LINK_RAW &&
	    o.linktype != PCAPW_LINK_SLL && o.linktype != PCAPW_LINK_SLL2) {
		set_err(err, errlen, "unsupported link type %d", o.linktype);
		return -1;
	}
	ERR_clear_error();

	int rc = -1;
	SSL_CTX *ctx[2] = { NULL, NULL };
	SSL_SESSION *sess = NULL;
	pcapw_t *w = NULL;
	FILE *klf = NULL;
	tlsgen_conn_t *conns = calloc((size_t)o.connections, sizeof *conns);
	size_t nconns = 0;
	gconn_t g = { 0 };
	plan_t plan = { 0 };
	tlsgen_result_t acc;           /* whole-capture counters (ts_outlier, ts_step) */
	memset(&acc, 0, sizeof acc);
	/* two streams: `rng` (ports, ISNs, message plan and content) never depends on the TLS
	 * byte counts, so the plaintext is identical run to run even where OpenSSL's output
	 * length varies (e.g. ECDSA signatures); `nrng` drives segmentation-level choices */
	rng_t rng = { (uint64_t)o.seed * 0x2545f4914f6cdd1dull + 0x1234567ull };
	rng_t nrng = { (uint64_t)o.seed * 0x9e3779b97f4a7c15ull + 0x7654321ull };
	if (!conns) { set_err(err, errlen, "out of memory"); return -1; }

	ctx[0] = make_ctx(&o, 0, err, errlen);
	if (!ctx[0]) goto out;
	ctx[1] = make_ctx(&o, 1, err, errlen);
	if (!ctx[1]) goto out;
	if (o.keylog_file && *o.keylog_file) {
		klf = fopen(o.keylog_file, "a");
		if (!klf) { set_err(err, errlen, "cannot open key log file %s", o.keylog_file); goto out; }
	}
	w = pcapw_open(pcap_path, o.linktype);
	if (!w) { set_err(err, errlen, "cannot create %s", pcap_path); goto out; }

	out_t ow = { .o = &o, .w = w, .ts_us = (uint64_t)(o.start_ts * 1e6 + 0.5) };
	ow.ip_id[0] = (uint16_t)rng_next(&nrng); ow.ip_id[1] = (uint16_t)rng_next(&nrng);
	if (o.ipv6) {
		static const uint8_t a6[2][16] = { { 0xfd, [15] = 1 }, { 0xfd, [15] = 2 } };
		memcpy(ow.addr, a6, sizeof a6);
	} else {
		static const uint8_t a4[2][4] = { { 10, 0, 0, 1 }, { 10, 0, 0, 2 } };
		memcpy(ow.addr[0], a4[0], 4); memcpy(ow.addr[1], a4[1], 4);
	}
	static const uint8_t macs[2][6] = { { 0x02, 0x00, 0x00, 0xc0, 0x00, 0x01 }, { 0x02, 0x00, 0x00, 0x5e, 0x00, 0x02 } };
	memcpy(ow.mac, macs, sizeof macs);

	const char *sni = o.sni ? o.sni : (o.app == TLSGEN_APP_HTTP ? "www.example.com" : "sip.example.com");

	for (int k = 0; k < o.connections; k++) {
		tlsgen_conn_t *oc = &conns[k];
		memset(&g, 0, sizeof g);
		g.o = &o; g.r = &nrng; g.err = err; g.errlen = errlen; g.keylog_fp = klf;
		g.segmax = (size_t)o.mss;
		if (o.split > 0 && (size_t)o.split < g.segmax) g.segmax = (size_t)o.split;

		if (o.client_hosts > 1) {   /* spread the connections over client addresses */
			unsigned h = (unsigned)(k % o.client_hosts);
			if (o.ipv6) { ow.addr[0][13] = 1; ow.addr[0][14] = (uint8_t)(h >> 8); ow.addr[0][15] = (uint8_t)(h + 1); }
			else { ow.addr[0][1] = (uint8_t)(1 + (h >> 16)); ow.addr[0][2] = (uint8_t)(h >> 8); ow.addr[0][3] = (uint8_t)(h + 1); }
		}
		/* ports and ISNs */
		uint16_t cport;
		for (;;) {
			cport = (uint16_t)rng_range(&rng, 32768, 60999);
			int dup = cport == o.server_port;
			for (int j = 0; j < k; j++) if (conns[j].client_port == cport) dup = 1;
			if (!dup) break;
		}
		for (int d = 0; d < 2; d++)
			g.isn[d] = o.isn_near_wrap ? 0xFFFFFFFFu - rng_range(&rng, 1000, 6000) : (uint32_t)rng_next(&rng);

		plan_conn(&o, &rng, &plan, cport, o.server_port);

		/* TCP handshake */
		segv_push(&g.segs, (seg_t){ .dir = 0, .flags = PCAPW_SYN, .syn_opts = 1, .seq = g.isn[0] });
		segv_push(&g.segs, (seg_t){ .dir = 1, .flags = PCAPW_SYN | PCAPW_ACK, .syn_opts = 1, .seq = g.isn[1], .ack = g.isn[0] + 1 });
		segv_push(&g.segs, (seg_t){ .dir = 0, .flags = PCAPW_ACK, .seq = g.isn[0] + 1, .ack = g.isn[1] + 1 });

		for (int d = 0; d < 2; d++) {
			g.ssl[d] = SSL_new(ctx[d]);
			g.rbio[d] = BIO_new(BIO_s_mem());
			g.wbio[d] = BIO_new(BIO_s_mem());
			if (!g.ssl[d] || !g.rbio[d] || !g.wbio[d]) {
				if (g.rbio[d]) BIO_free(g.rbio[d]);
				if (g.wbio[d]) BIO_free(g.wbio[d]);
				set_err(err, errlen, "SSL_new failed");
				add_ssl_err(err, errlen);
				goto out;
			}
			SSL_set_bio(g.ssl[d], g.rbio[d], g.wbio[d]);
			SSL_set_app_data(g.ssl[d], &g);
		}
		SSL_set_connect_state(g.ssl[0]);
		SSL_set_accept_state(g.ssl[1]);
		if (*sni) SSL_set_tlsext_host_name(g.ssl[0], sni);
		if (k > 0 && o.resume && sess) SSL_set_session(g.ssl[0], sess);
		if (k > 0) g.reject_early = o.early_data_reject;
		if (k > 0 && o.psk_ke_only && !SSL_set1_groups_list(g.ssl[1], "P-521")) {
			set_err(err, errlen, "psk_ke_only: cannot set the server's groups");
			add_ssl_err(err, errlen);
			goto out;
		}
		if (k > 0 && o.psk_ke && sess) SSL_set1_groups_list(g.ssl[0], "ffdhe2048");   /* no common group: psk_ke */

		int early = 0;
		if (o.early_data && k > 0 && sess && o.tls_version >= 0x0304 && SSL_SESSION_get_max_early_data(sess) > 0) {
			early = early_data(&g, &plan);
			if (early < 0) goto out;
		}
		if (o.starttls && starttls_prefix(&g, o.starttls)) goto out;
		if (handshake(&g)) goto out;
		g.hs_end[0] = g.tls[0].len; g.hs_end[1] = g.tls[1].len;
		if (exchange(&g, &plan)) goto out;
		oc->early_data = early == 1;
		oc->early_rejected = g.early_sent && early != 1;
		oc->early_resent = oc->early_rejected;       /* exchange() wrote plan[0] normally */
		if (g.early_sent) oc->early_plain = buf_take(&g.early_plain, &oc->early_len);
		oc->renegotiations = g.renegotiations;
		oc->ch_psk_modes = g.ch_psk_modes;
		oc->ch_key_share = g.ch_key_share;
		oc->ch_psk = g.ch_psk;
		oc->psk_mode = g.sh_psk ? (g.sh_key_share ? 2 : 1) : 0;
		if (o.renegotiate > 0 && g.renegotiations != (unsigned)o.renegotiate) {
			set_err(err, errlen, "renegotiate: %u of %d renegotiations done", g.renegotiations, o.renegotiate);
			goto out;
		}
		if (k > 0 && o.early_data_reject) {
			int resumed = SSL_session_reused(g.ssl[0]) == 1;
			if (!g.early_sent || early == 1 || SSL_get_early_data_status(g.ssl[0]) != SSL_EARLY_DATA_REJECTED ||
			    resumed != (o.early_data_reject == 1)) {
				set_err(err, errlen, "early_data_reject: conn %d: early data sent %d, accepted %d, resumed %d", k + 1,
				        g.early_sent, early == 1, resumed);
				goto out;
			}
		}
		if (k > 0 && o.psk_ke_only && (SSL_session_reused(g.ssl[0]) != 1 || oc->psk_mode != 1)) {
			set_err(err, errlen, "psk_ke_only: conn %d: resumed %d, psk mode %d (want psk_ke)", k + 1,
			        SSL_session_reused(g.ssl[0]) == 1, oc->psk_mode);
			goto out;
		}
		oc->version = (uint16_t)SSL_version(g.ssl[0]);
		oc->suite = SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(g.ssl[0]));
		oc->ems = SSL_get_extms_support(g.ssl[0]) == 1;
		oc->resumed = SSL_session_reused(g.ssl[0]) == 1;
		oc->hrr = g.hrr_seen;
		oc->etm = g.etm_seen && SSL_CIPHER_is_aead(SSL_get_current_cipher(g.ssl[0])) == 0;
		if (shutdown_both(&g)) goto out;
		if (o.resume && (k == 0 || o.tls_version >= 0x0304)) {
			/* (after the clean shutdown, so TLS 1.3 tickets sent late have been read)
			 * TLS 1.3 stateful tickets are single use: continue with the newest one */
			SSL_SESSION *ns = SSL_get1_session(g.ssl[0]);
			if (ns && SSL_SESSION_is_resumable(ns)) { if (sess) SSL_SESSION_free(sess); sess = ns; }
			else if (ns) SSL_SESSION_free(ns);
		}

		for (int d = 0; d < 2; d++)
			if (g.recv[d].len != g.plain[d].len || memcmp(g.recv[d].p, g.plain[d].p, g.plain[d].len)) {
				set_err(err, errlen, "internal: plaintext received differs from plaintext sent (%s)", d ? "s2c" : "c2s");
				goto out;
			}

		/* FIN exchange */
		uint32_t end[2] = { g.isn[0] + 1 + (uint32_t)g.tls[0].len, g.isn[1] + 1 + (uint32_t)g.tls[1].len };
		segv_push(&g.segs, (seg_t){ .dir = 0, .flags = PCAPW_FIN | PCAPW_ACK, .seq = end[0], .ack = end[1] });
		segv_push(&g.segs, (seg_t){ .dir = 1, .flags = PCAPW_FIN | PCAPW_ACK, .seq = end[1], .ack = end[0] + 1 });
		segv_push(&g.segs, (seg_t){ .dir = 0, .flags = PCAPW_ACK, .seq = end[0] + 1, .ack = end[1] + 1 });

		if (o.coalesce) mangle_coalesce(&g.segs);
		if (o.reorder) mangle_reorder(&g.segs, &nrng);
		if (o.duplicate) mangle_duplicate(&g.segs, &nrng, g.tls);
		if (o.drop) mangle_drop(&g.segs, &nrng, g.tls);
		if (o.late_segment) {
			mangle_late(&g.segs, &nrng, g.hs_end, oc->n_late);
			if (!oc->n_late[0] || !oc->n_late[1]) {
				set_err(err, errlen, "late_segment: conn %d: %u c2s / %u s2c late segments (need >= 1 each)",
				        k + 1, oc->n_late[0], oc->n_late[1]);
				goto out;
			}
		}
		if (o.ack_before_data) {
			oc->n_ack_first = mangle_ack_first(&g.segs, &nrng);
			if (!oc->n_ack_first) { set_err(err, errlen, "ack_before_data: conn %d: no ACK to move", k + 1); goto out; }
		}
		if (o.reply_first) {
			mangle_reply_first(&g.segs, &nrng, o.reply_first, g.hs_end, &oc->n_reply_first, &oc->n_reply_first_hs);
			if (!oc->n_reply_first_hs) {
				set_err(err, errlen, "reply_first: conn %d: no handshake flight moved", k + 1);
				goto out;
			}
		}
		if (o.stray_rst || o.stray_syn) {
			unsigned want = 0, got = 0;
			if (o.stray_rst) {
				want++;
				got += inject_stray(&g.segs, g.isn, g.hs_end, 1, (int)rng_u(&nrng, 2), o.stray_in_window, 0.45) != (size_t)-1;
			}
			if (o.stray_syn) {
				want++;
				got += inject_stray(&g.segs, g.isn, g.hs_end, 0, 0, o.stray_in_window, 0.6) != (size_t)-1;
			}
			if (got != want) {
				set_err(err, errlen, "stray: conn %d: %u of %u packets injected (no application data segment "
				        "at the next expected sequence number)", k + 1, got, want);
				goto out;
			}
		}
		count_lost(&g.segs, g.tls, oc->lost);
		if (o.drop && !oc->lost[0] && !oc->lost[1]) {
			set_err(err, errlen, "drop: conn %d: no byte lost", k + 1);
			goto out;
		}

		oc->first_packet = (size_t)pcapw_count(w);
		wextra_t wx = { .outliers = o.ts_outlier && k == (o.connections - 1) / 2,
		                .step = o.ts_step && k == (o.connections - 1) / 2, .acc = &acc, .oc = oc };
		if (write_conn(&ow, &g, cport, o.server_port, &wx)) {
			set_err(err, errlen, "write to %s failed", pcap_path);
			goto out;
		}
		oc->n_packets = (size_t)pcapw_count(w) - oc->first_packet;
		oc->client_port = cport;
		oc->server_port = o.server_port;
		oc->isn[0] = g.isn[0]; oc->isn[1] = g.isn[1];
		for (int d = 0; d < 2; d++) {
			oc->plain[d] = buf_take(&g.plain[d], &oc->plain_len[d]);
			oc->tls[d] = buf_take(&g.tls[d], &oc->tls_len[d]);
		}
		oc->keylog = (char *)buf_take(&g.keylog, &oc->keylog_len);
		oc->msgs = g.msgs; oc->n_msgs = g.n_msgs;
		g.msgs = NULL; g.n_msgs = g.cap_msgs = 0;
		nconns++;
		gconn_free(&g);
		plan_free(&plan);
	}
	if (pcapw_close(w)) { w = NULL; set_err(err, errlen, "write to %s failed", pcap_path); goto out; }
	w = NULL;
	if ((o.ts_outlier && acc.n_ts_outliers != 2) || (o.ts_step && acc.ts_steps != 1)) {
		set_err(err, errlen, "ts_outlier/ts_step: %u outlier frames, %u clock steps written", acc.n_ts_outliers, acc.ts_steps);
		goto out;
	}
	if (res) {
		*res = acc;
		res->conns = conns; res->n_conns = nconns;
		for (size_t i = 0; i < nconns; i++) res->n_packets += conns[i].n_packets;
		conns = NULL;
	}
	rc = 0;
out:
	gconn_free(&g);
	plan_free(&plan);
	if (w) pcapw_close(w);
	if (klf) fclose(klf);
	if (sess) SSL_SESSION_free(sess);
	for (int d = 0; d < 2; d++) if (ctx[d]) SSL_CTX_free(ctx[d]);
	if (conns) { tlsgen_result_t tmp = { .conns = conns, .n_conns = nconns }; tlsgen_result_free(&tmp); }
	ERR_clear_error();
	return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Keys and certificates                                                                 */

static EVP_PKEY *gen_key(const char *kind)
{
	if (!strncasecmp(kind, "rsa", 3)) {
		unsigned bits = (unsigned)atoi(kind + 3);
		if (bits < 512 || bits > 16384) return NULL;
		return EVP_RSA_gen(bits);
	}
	if (!strcasecmp(kind, "p256")) return EVP_EC_gen("P-256");
	if (!strcasecmp(kind, "p384")) return EVP_EC_gen("P-384");
	if (!strcasecmp(kind, "x25519")) return EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	if (!strcasecmp(kind, "ed25519")) return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return NULL;
}

static int write_key(EVP_PKEY *k, const char *path, const char *pw, int fmt)
{
	BIO *b = BIO_new_file(path, "wb");
	if (!b) return -1;
	const EVP_CIPHER *enc = pw ? EVP_aes_256_cbc() : NULL;
	int ok = 0;
	switch (fmt) {
	case TLSGEN_KEY_PEM_PKCS8:
		ok = PEM_write_bio_PKCS8PrivateKey(b, k, enc, NULL, 0, NULL, (void *)pw);
		break;
	case TLSGEN_KEY_PEM_TRAD:
		/* X25519/Ed25519 have no traditional encoding: PKCS#8 is their only form */
		if (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "EC"))
			ok = PEM_write_bio_PrivateKey_traditional(b, k, enc, NULL, 0, NULL, (void *)pw);
		else
			ok = PEM_write_bio_PKCS8PrivateKey(b, k, enc, NULL, 0, NULL, (void *)pw);
		break;
	case TLSGEN_KEY_DER_PKCS8:
		ok = i2d_PKCS8PrivateKey_bio(b, k, enc, NULL, 0, NULL, (void *)pw);
		break;
	case TLSGEN_KEY_DER_TRAD:
		if (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "EC")) ok = !pw && i2d_PrivateKey_bio(b, k);
		else ok = !pw && i2d_PKCS8PrivateKey_bio(b, k, NULL, NULL, 0, NULL, NULL);
		break;
	}
	if (BIO_free(b) != 1) ok = 0;
	return ok ? 0 : -1;
}

static int write_cert(EVP_PKEY *k, const char *path)
{
	int rc = -1;
	X509 *x = X509_new();
	X509_NAME *nm = NULL;
	X509_EXTENSION *ext = NULL;
	if (!x) return -1;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(time(NULL) & 0x7fffffff));
	X509_gmtime_adj(X509_getm_notBefore(x), -86400L);
	X509_gmtime_adj(X509_getm_notAfter(x), 20L * 365 * 86400);
	X509_set_pubkey(x, k);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"tlsgen test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"sip.example.com", -1, -1, 0);
	X509_set_issuer_name(x, nm);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:sip.example.com,DNS:www.example.com,DNS:localhost");
	if (ext) { X509_add_ext(x, ext, -1); X509_EXTENSION_free(ext); }
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:FALSE");
	if (ext) { X509_add_ext(x, ext, -1); X509_EXTENSION_free(ext); }
	int nomd = EVP_PKEY_is_a(k, "ED25519") || EVP_PKEY_is_a(k, "ED448");
	if (!X509_sign(x, k, nomd ? NULL : EVP_sha256())) goto out;
	FILE *fp = fopen(path, "wb");
	if (!fp) goto out;
	if (PEM_write_X509(fp, x) == 1) rc = 0;
	if (fclose(fp) != 0) rc = -1;
out:
	X509_free(x);
	return rc;
}

int tlsgen_make_key_fmt(const char *kind, const char *key_path, const char *cert_path,
                        const char *password, int key_format)
{
	if (!kind || !key_path) return -1;
	EVP_PKEY *k = gen_key(kind);
	if (!k) { ERR_clear_error(); return -1; }
	int rc = write_key(k, key_path, password, key_format);
	if (!rc && cert_path && strcasecmp(kind, "x25519")) rc = write_cert(k, cert_path);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return rc;
}

int tlsgen_make_key(const char *kind, const char *key_path, const char *cert_path, const char *password)
{
	return tlsgen_make_key_fmt(kind, key_path, cert_path, password, TLSGEN_KEY_PEM_PKCS8);
}

int tlsgen_convert_key(const char *in_path, const char *in_pw, const char *out_path,
                       const char *out_pw, int key_format)
{
	EVP_PKEY *k = load_key(in_path, in_pw);
	if (!k) { ERR_clear_error(); return -1; }
	int rc = write_key(k, out_path, out_pw, key_format);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return rc;
}
