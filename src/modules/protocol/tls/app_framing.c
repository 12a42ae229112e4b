/*
 * app_framing.c — application message framing of decrypted TLS plaintext.
 *
 * What: the engine pushes the plaintext of each direction one TLS record at a time; record
 * boundaries have nothing to do with message boundaries. This file cuts that byte stream
 * into the application messages the peers exchanged, so that the capture plan (parse_sip,
 * HEP) sees one whole SIP or HTTP message at a time:
 *   - SIP over a stream (RFC 3261 §18.3): header section up to the empty line, body of
 *     Content-Length (or compact "l") bytes, 0 when absent; CRLF keep-alives between
 *     messages (RFC 5626 §4.4.1: "\r\n\r\n" ping, "\r\n" pong) are emitted separately with
 *     keepalive=true;
 *   - HTTP/1.x (RFC 9112 §6): Content-Length, chunked (extensions, trailers), no body for
 *     requests without either, for 1xx/204/304 and for answers to HEAD (requests are queued
 *     per direction, in order, for that), close-delimited bodies (emitted at flush);
 *     101 Switching Protocols and 2xx answers to CONNECT turn both directions to raw
 *     (a WebSocket 101 to WebSocket frames instead, see below);
 *     stray CRLFs between HTTP messages are emitted like SIP keep-alives (app HTTP);
 *   - anything else (HTTP/2, binary, unknown text): raw, one message per push.
 * The protocol is detected per direction from its first line (waiting for at most
 * DETECT_MAX bytes when the first record is shorter than that line).
 *
 * Why this shape: the input is hostile (a decrypted stream is only as sane as the peer that
 * produced it), so the parser is an incremental state machine that looks at every byte at
 * most a constant number of times (the header-end search resumes where it stopped, chunk
 * sizes are parsed byte by byte across pushes), parses numbers with overflow checks and
 * never reads outside the pushed span or its own buffer. Messages lying entirely inside a
 * push are emitted straight from the caller's memory (zero copy); only the unfinished tail
 * of a push is copied into the direction's buffer, which grows geometrically up to
 * max_message and is kept for the next messages (no allocation per push in steady state).
 *
 * Invariant: concatenating everything emitted for a direction (including keep-alives, raw
 * fallbacks and what flush emits) gives back exactly the pushed bytes — nothing is dropped,
 * added or duplicated — as long as no gap is reported. Whenever framing is impossible
 * (malformed start line, disagreeing or unparsable Content-Length, bad chunk syntax,
 * header section without an end within min(max_message, 64 KiB), a message longer than
 * max_message, allocation failure) the buffered bytes are emitted as TLS_APP_RAW and the
 * direction stays raw until flushed: re-synchronising on a stream whose framing was lost
 * would be guesswork.
 *
 * Gaps (app_framing_gap: bytes of the direction were lost): a SIP or HTTP message that a
 * gap cut is never emitted, neither as SIP/HTTP nor as raw. The captagent module hands
 * every message (raw included) to the capture plan, whose parse_sip then sees it, and a
 * message with a hole either fails there or, worse, is indexed with a truncated or
 * spliced body. So its buffered head is wiped, and the bytes after the gap up to the
 * next SIP/HTTP start line (its tail, or the tail of a message whose start was lost) are
 * dropped too; both are counted per direction (n_gap_cut messages, gap_dropped bytes),
 * and framing resumes at that start line. A raw (or not yet detected) direction has no
 * messages to cut: its bytes after a gap stay raw output, as before.
 *
 * WebSocket (RFC 6455): an HTTP/1.1 upgrade answered by 101 turns both directions to
 * WebSocket frames (app_http.c decides when, app_ws.c reads the frames); each complete
 * message's unmasked payload is emitted, as SIP when it is SIP (RFC 7118: one SIP
 * message per WebSocket message), else raw. A WebSocket message cut by a gap, by the end
 * of the stream or by max_message is never emitted (counted in app_framing_t.ws).
 *
 * Files: this one is the API, protocol detection and the dispatching loop; the SIP,
 * HTTP and WebSocket rules are in app_sip.c, app_http.c and app_ws.c, the primitives they
 * use in app_common.c (app_internal.h shows the one-way call graph).
 */
#include <string.h>
#include <stdlib.h>
#include <stdint.h>
#include "app_internal.h"

/* ------------------------------------------------------------------ the parse loop */

/* Frame one push: raw directions emit it whole; SIP and HTTP directions take one step
 * of their protocol at a time until the push is consumed. */
static void parse(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	const uint8_t *p = c->data;
	size_t n = c->n;
	c->ms = 0;
	while (c->pos < n) {
		size_t pos = c->pos;
		if (d->proto == P_RAW || d->proto == P_UNDECIDED) {
			if (d->len) {
				af_emit(c->emit, c->ctx, c->dir, TLS_APP_RAW, d->buf, d->len, false);
				d->len = 0;
			}
			af_reset_msg(d);
			d->proto = P_RAW;
			af_emit(c->emit, c->ctx, c->dir, TLS_APP_RAW, p + pos, n - pos, false);
			c->pos = n;
			return;
		}
		if (d->proto == P_SIP) sip_step(c);
		else if (d->proto == P_WS) ws_step(c);
		else http_step(c);
	}
	/* an unfinished message that started in this push: keep its bytes */
	if (d->state != S_IDLE && d->state != S_KA && d->len == 0 && d->msg_len) {
		if (af_append(c->f, d, p + c->ms, n - c->ms) < 0) {
			c->rc = -1;
			c->pos = c->ms;                         /* nothing of it was emitted yet */
			d->state = S_IDLE;
			af_fallback(c);
		}
	}
}

static int run_one(app_framing_t *f, int dir, const uint8_t *data, size_t len, app_emit_fn emit,
                   void *ctx)
{
	pctx_t c = { .f = f, .d = &f->dir[dir], .dir = dir, .data = data, .n = len,
	             .emit = emit, .ctx = ctx };
	parse(&c);
	return c.rc;
}

/* Parse the bytes held in dir's buffer as a push of their own (the buffer is swapped out
 * so the parser can keep a partial message in a fresh one; the old block is reused or
 * freed after). */
static int reparse_held(app_framing_t *f, int dir, app_emit_fn emit, void *ctx)
{
	app_dir_state_t *d = &f->dir[dir];
	uint8_t *tmp = d->buf;
	size_t tl = d->len, tc = d->cap;
	d->buf = NULL;
	d->len = d->cap = 0;
	int rc = run_one(f, dir, tmp, tl, emit, ctx);
	if (!d->buf) {
		af_wipe(tmp, tl);
		d->buf = tmp;
		d->cap = tc;
	} else {
		af_wipe(tmp, tc);
		free(tmp);
		if (af_budget(f)) *af_budget(f) -= tc;
	}
	return rc;
}

/* One push, then the held bytes a WebSocket upgrade's answer released (the client's
 * bytes after its upgrade request: frames after a 101, HTTP after a refusal). A loop, not
 * recursion: a replay may release another one only by consuming held bytes. */
static int run(app_framing_t *f, int dir, const uint8_t *data, size_t len, app_emit_fn emit,
               void *ctx)
{
	int rc = run_one(f, dir, data, len, emit, ctx);
	while (f->replay) {
		int rd = f->replay - 1;
		f->replay = 0;
		rc |= reparse_held(f, rd, emit, ctx);
	}
	return rc;
}

/* ------------------------------------------------------------------ API */

void app_framing_init(app_framing_t *f, uint32_t max_message)
{
	memset(f, 0, sizeof *f);
	f->max_message = max_message ? max_message : AF_DEFAULT_MAX;
}

/* A message is in progress (bytes of it consumed, or a partial keep-alive held). */
static bool in_message(const app_dir_state_t *d)
{
	return d->state != S_IDLE || d->len != 0;
}

void app_framing_gap(app_framing_t *f, int dir)
{
	if (!f || (dir != TLS_DIR_C2S && dir != TLS_DIR_S2C)) return;
	app_dir_state_t *d = &f->dir[dir];
	if (d->proto == P_WS) {                     /* frames: app_ws.c resynchronises */
		ws_gap(f, d);
		return;
	}
	bool framing = d->proto == P_SIP || d->proto == P_HTTP;
	bool cut = framing && in_message(d) && d->state != S_KA;
	if (framing) d->gap_dropped += d->len;
	if (cut) d->n_gap_cut++;
	app_framing_flush(f, dir, NULL, NULL);      /* the partial message is wiped, not emitted */
	/* SIP/HTTP: what follows up to the next start line is the rest of a message with a
	 * hole (the one cut here, or one whose start the gap swallowed): dropped, counted.
	 * Raw or undecided streams have no messages to cut: their bytes stay raw output. */
	d->resync = framing ? (cut ? RESYNC_DROP_COUNTED : RESYNC_DROP) : RESYNC_RAW;
}

static int push_inner(app_framing_t *f, int dir, const uint8_t *data, size_t len,
                      app_emit_fn emit, void *ctx);

/* An idle flow keeps no message buffer: a direction's buffer is given back as soon as it
 * holds nothing (messages inside one record, the common case, never need it). */
int app_framing_push(app_framing_t *f, int dir, const uint8_t *data, size_t len,
                     app_emit_fn emit, void *ctx)
{
	if (!f || (dir != TLS_DIR_C2S && dir != TLS_DIR_S2C) || !data || !len) return 0;
	int rc = push_inner(f, dir, data, len, emit, ctx);
	for (int i = 0; i < 2; i++)
		if (f->dir[i].buf && f->dir[i].len == 0) af_release(f, &f->dir[i]);
	return rc;
}

static int push_inner(app_framing_t *f, int dir, const uint8_t *data, size_t len,
                      app_emit_fn emit, void *ctx)
{
	app_dir_state_t *d = &f->dir[dir];
	if (d->resync) {
		size_t k = af_resync_point(f, dir, data, len);
		if (k && d->resync == RESYNC_RAW) {
			af_emit(emit, ctx, dir, TLS_APP_RAW, data, k, false);
		} else if (k) {
			d->gap_dropped += k;                 /* never a SIP/HTTP message with a hole */
			if (d->resync == RESYNC_DROP) { d->n_gap_cut++; d->resync = RESYNC_DROP_COUNTED; }
		}
		if (k == len) return 0;                  /* still looking */
		d->resync = RESYNC_NONE;
		data += k;
		len -= k;
	}
	if (d->proto != P_UNDECIDED) return run(f, dir, data, len, emit, ctx);

	size_t win = af_detect_max(f);
	if (d->len == 0) {
		int pr = af_detect(f, dir, data, len < win ? len : win);
		if (pr >= 0) {
			d->proto = (uint8_t)pr;
			return run(f, dir, data, len, emit, ctx);
		}
		if (af_append(f, d, data, len) == 0) return 0;  /* len < win: wait for more */
		d->proto = P_RAW;
		run(f, dir, data, len, emit, ctx);
		return -1;
	}
	/* the first line is spread over several records: extend the detection window */
	size_t tk = win > d->len ? win - d->len : 0;
	if (tk > len) tk = len;
	int rc = 0;
	if (af_append(f, d, data, tk) < 0) {
		d->proto = P_RAW;                        /* emits the buffer, then data */
		run(f, dir, data, len, emit, ctx);
		return -1;
	}
	int pr = af_detect(f, dir, d->buf, d->len);
	if (pr < 0) {
		if (tk == len) return 0;
		pr = P_RAW;                              /* not reached: the window is full */
	}
	d->proto = (uint8_t)pr;
	/* parse the held bytes as a push of their own, then the rest of this push */
	rc |= reparse_held(f, dir, emit, ctx);
	while (f->replay) {
		int rd = f->replay - 1;
		f->replay = 0;
		rc |= reparse_held(f, rd, emit, ctx);
	}
	if (tk < len) rc |= run(f, dir, data + tk, len - tk, emit, ctx);
	return rc;
}

void app_framing_flush(app_framing_t *f, int dir, app_emit_fn emit, void *ctx)
{
	if (!f || (dir != TLS_DIR_C2S && dir != TLS_DIR_S2C)) return;
	app_dir_state_t *d = &f->dir[dir];
	if (d->proto == P_WS) ws_flush(f, d);       /* a cut WebSocket message is never emitted */
	else if (d->len) {
		tls_app_t app = (d->proto == P_HTTP && d->state == S_CLOSE) ? TLS_APP_HTTP : TLS_APP_RAW;
		af_emit(emit, ctx, dir, app, d->buf, d->len, false);
	}
	/* the request queue survives: it belongs to responses still to come on the other side */
	uint64_t qh = d->q_head, qc = d->q_connect;
	uint8_t qn = d->q_n;
	uint32_t nm = d->n_missing_length, nf = d->n_fallbacks, ng = d->n_gap_cut;
	uint64_t gd = d->gap_dropped;
	af_release(f, d);
	memset(d, 0, sizeof *d);
	d->n_gap_cut = ng;
	d->gap_dropped = gd;
	d->q_head = qh;
	d->q_connect = qc;
	d->q_n = qn;
	d->n_missing_length = nm;
	d->n_fallbacks = nf;
}

size_t app_framing_buffered(const app_framing_t *f)
{
	return f ? f->dir[0].cap + f->dir[1].cap : 0;   /* allocated, not just used */
}

const app_ws_counters_t *app_framing_ws_counters(const app_framing_t *f)
{
	static const app_ws_counters_t none;
	return f && f->ws ? &f->ws->cnt : &none;
}

void app_framing_free(app_framing_t *f)
{
	if (!f) return;
	for (int i = 0; i < 2; i++)
		if (f->dir[i].proto == P_WS) ws_flush(f, &f->dir[i]);    /* frees the inflate state */
	if (f->ws) { af_wipe(f->ws, sizeof *f->ws); free(f->ws); }
	af_release(f, &f->dir[0]);
	af_release(f, &f->dir[1]);
	uint32_t mm = f->max_message;
	memset(f, 0, sizeof *f);
	f->max_message = mm;
}
