/*
 * app_http.c — HTTP/1.x message framing (RFC 9112 §6), one parse step at a time for
 * app_framing.c's loop (file layout: app_internal.h).
 *
 * What: the body of a message is delimited by Transfer-Encoding chunked (chunk sizes
 * parsed byte by byte across pushes, extensions and trailers kept in the message), by
 * Content-Length, or not present: requests without either, 1xx/204/304 responses and
 * answers to HEAD. Requests are queued per direction in order (HEAD / CONNECT flags) so
 * the other direction's responses know which request they answer; pipelined requests
 * simply queue. A response without length runs to the end of the stream (emitted by
 * app_framing_flush). 101 Switching Protocols and a 2xx answer to CONNECT turn both
 * directions into a raw tunnel, except a WebSocket upgrade (RFC 6455 §4: a request with
 * Upgrade: websocket and Connection: upgrade, answered by 101 with Upgrade: websocket),
 * which turns both directions to WebSocket frames (app_ws.c) — only once the 101 is seen:
 * bytes the client sends after its upgrade request are held until the answer (101: they
 * are frames; any other final answer: HTTP again); a 101 captured before its request
 * switches the client when that request is complete. A Transfer-Encoding that does not
 * end in chunked on a request, a bad chunk or a disagreeing Content-Length make the
 * direction raw.
 *
 * Why a file of its own: HTTP's length rules are the longest part of framing and have
 * nothing to do with SIP's. The steps shared with SIP (keep-alives — stray CRLFs between
 * HTTP messages are emitted like SIP keep-alives —, header lines, Content-Length bodies)
 * are in app_common.c; this file calls nothing else.
 */
#include <stdint.h>
#include "app_internal.h"

/* ------------------------------------------------------------------ request queue */

static void q_push(app_dir_state_t *d, int method)
{
	if (d->q_n >= 64) return;                       /* not tracked: answered as non-HEAD */
	uint64_t bit = (uint64_t)1 << d->q_n;
	if (method == M_HEAD) d->q_head |= bit;
	if (method == M_CONNECT) d->q_connect |= bit;
	d->q_n++;
}

static int q_pop(app_dir_state_t *d)
{
	if (!d->q_n) return M_OTHER;
	int m = (d->q_head & 1) ? M_HEAD : (d->q_connect & 1) ? M_CONNECT : M_OTHER;
	d->q_head >>= 1;
	d->q_connect >>= 1;
	d->q_n--;
	return m;
}

/* Header section complete (af_cur_msg(c)[0..msg_len)): how is the body delimited
 * (RFC 9112 §6.3)? Returns 0 (message complete), 1 (body follows, state set) or -1
 * (cannot frame). */
static int http_on_headers(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	hdrinfo_t hi;
	size_t hl = (size_t)d->msg_len;
	uint64_t room = (uint64_t)af_max_msg(c->f) - hl;
	af_parse_headers(af_cur_msg(c), hl, false, &hi);
	if (d->kind == K_REQ) {
		if (hi.upg_ws && hi.conn_upg) {
			/* a WebSocket upgrade (RFC 6455 §4.1): once this request is out, the client
			 * waits for the answer; what follows waits with it (http_finish) unless the
			 * 101 was already seen */
			d->after = AFTER_HOLD;
			if (d->upg != UPG_ACCEPTED) d->upg = UPG_REQ;
		}
		if (hi.te) {
			if (!hi.chunked) return -1;                 /* RFC 9112 §6.3: unframeable */
			d->state = S_CH_SIZE0;
			return 1;
		}
		if (hi.cl < 0) return -1;
		if (hi.cl == 0 || hi.clv == 0) return 0;
		if (hi.clv > room) return -1;
		d->need = hi.clv;
		d->state = S_BODY;
		return 1;
	}
	/* response */
	int st = d->status;
	app_dir_state_t *o = &c->f->dir[!c->dir];
	if (st == 101 && hi.upg_ws) {
		/* WebSocket accepted (RFC 6455 §4.2.2): the request is answered; what the server
		 * agreed to decides how messages are read (RFC 7118 "sip", RFC 7692 deflate) */
		q_pop(o);
		c->f->ws_neg = (uint8_t)((hi.ws_sip ? WSN_SIP : 0) | (hi.ws_deflate ? WSN_DEFLATE : 0));
		d->after = AFTER_WS;
		return 0;
	}
	if (st < 200) {
		if (st == 101) d->after = AFTER_RAW;
		return 0;                                       /* interim: request still pending */
	}
	if (o->upg == UPG_REQ && o->q_n <= 1) {
		/* the upgrade request (the newest queued) refused (e.g. 400, 401): the client's held
		 * bytes are HTTP after all; an answer to an earlier pipelined request is not that */
		o->upg = UPG_NONE;
		if (o->state == S_UPG_HOLD) {
			o->state = S_IDLE;
			if (o->len) c->f->replay = (uint8_t)(1 + !c->dir);
		}
	}
	int m = q_pop(o);
	if (m == M_CONNECT && st < 300) { d->after = AFTER_RAW; return 0; }
	if (m == M_HEAD || st == 204 || st == 304) return 0;
	if (hi.te) {
		d->state = hi.chunked ? S_CH_SIZE0 : S_CLOSE;
		return 1;
	}
	if (hi.cl < 0) return -1;
	if (hi.cl == 0) { d->state = S_CLOSE; return 1; }
	if (hi.clv == 0) return 0;
	if (hi.clv > room) return -1;
	d->need = hi.clv;
	d->state = S_BODY;
	return 1;
}

/* The message is complete: emit it; after 101 / CONNECT both directions carry another
 * protocol from now on (the other direction emits anything it still holds as raw on its
 * next push/flush). */
static void http_finish(pctx_t *c)
{
	app_dir_state_t *d = c->d, *o = &c->f->dir[!c->dir];
	int after = af_finish(c);
	if (after == AFTER_HOLD) {
		/* d sent a WebSocket upgrade request */
		if (d->upg == UPG_ACCEPTED) {               /* its 101 was captured first */
			d->upg = UPG_NONE;
			ws_start(c->f, d);
		} else if (d->upg == UPG_REQ) {
			d->state = S_UPG_HOLD;                  /* wait for the answer */
		}
		return;
	}
	if (after == AFTER_WS) {
		/* d answered 101: its next bytes are frames; the client's after its request */
		ws_start(c->f, d);
		if (o->upg == UPG_REQ && o->state == S_UPG_HOLD) {
			bool held = o->len != 0;
			o->upg = UPG_NONE;
			ws_start(c->f, o);
			if (held) c->f->replay = (uint8_t)(1 + !c->dir);
		} else {
			o->upg = UPG_ACCEPTED;                  /* request not complete (or not seen) yet */
		}
		return;
	}
	if (after != AFTER_RAW) return;
	d->proto = P_RAW;
	o->proto = P_RAW;
	o->state = S_IDLE;
	o->msg_len = 0;
}

/* Contract in app_internal.h: consumes bytes at c->pos or moves to a state that will. */
void http_step(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	const uint8_t *p = c->data;
	size_t n = c->n, pos = c->pos;
	switch (d->state) {
	case S_IDLE: af_step_idle(c); break;
	case S_KA: af_step_ka(c); break;
	case S_HDR: {
		startline_t sl;
		int r = af_step_header_line(c, &sl);
		if (sl.kind == K_REQ) q_push(d, sl.method);
		if (r <= 0) break;                           /* more to come, or fell back */
		r = http_on_headers(c);
		if (r < 0) af_fallback(c);
		else if (r == 0) http_finish(c);
		break;
	}
	case S_BODY: af_step_body(c); break;
	case S_CH_SIZE0:
	case S_CH_SIZE: {
		uint8_t ch = p[pos];
		int hv = af_hexval(ch);
		if (hv >= 0) {
			if (d->state == S_CH_SIZE0) d->need = 0;
			if (d->need > (UINT64_MAX >> 4)) { af_fallback(c); return; }
			d->need = d->need << 4 | (uint64_t)hv;
			if (d->need > af_max_msg(c->f)) { af_fallback(c); return; }
			if (!af_take(c, 1)) { af_fallback(c); return; }
			d->state = S_CH_SIZE;
			break;
		}
		if (d->state == S_CH_SIZE0) { af_fallback(c); return; }
		if (ch == ';' || ch == ' ' || ch == '\t' || ch == '\r') {
			d->state = S_CH_EXT;
			break;
		}
		if (ch != '\n' || !af_take(c, 1)) { af_fallback(c); return; }
		goto size_line_done;
	}
	case S_CH_EXT: {
		const uint8_t *lf = memchr(p + pos, '\n', n - pos);
		size_t k = lf ? (size_t)(lf - (p + pos)) + 1 : n - pos;
		if (!af_take(c, k)) { af_fallback(c); return; }
		if (!lf) break;
		goto size_line_done;
	}
	size_line_done:
		if (d->need == 0) {
			d->state = S_TRAILER;
			d->line = L_START;
		} else {
			d->state = S_CH_DATA;
		}
		break;
	case S_CH_DATA: {
		uint64_t k = d->need < n - pos ? d->need : n - pos;
		if (!af_take(c, (size_t)k)) { af_fallback(c); return; }
		d->need -= k;
		if (!d->need) d->state = S_CH_DATA_CR;
		break;
	}
	case S_CH_DATA_CR:
	case S_CH_DATA_LF: {
		uint8_t ch = p[pos];
		if (ch == '\r' && d->state == S_CH_DATA_CR) {
			if (!af_take(c, 1)) { af_fallback(c); return; }
			d->state = S_CH_DATA_LF;
		} else if (ch == '\n') {
			if (!af_take(c, 1)) { af_fallback(c); return; }
			d->state = S_CH_SIZE0;
		} else {
			af_fallback(c);
			return;
		}
		break;
	}
	case S_TRAILER: {
		bool eol, empty;
		size_t k = af_scan_line(d, p + pos, n - pos, &eol, &empty);
		if (!af_take(c, k)) { af_fallback(c); return; }
		if (eol && empty) http_finish(c);
		break;
	}
	case S_CLOSE:
		if (!af_take(c, n - pos)) { af_fallback(c); return; }
		break;
	case S_UPG_HOLD:
		/* bytes after a WebSocket upgrade request, before its answer: held (bounded by
		 * max_message); if the answer does not come before that, they go out raw */
		if (d->len + (n - pos) > af_max_msg(c->f) || af_append(c->f, d, p + pos, n - pos) < 0) {
			d->upg = UPG_NONE;
			d->state = S_IDLE;
			af_fallback(c);
			return;
		}
		c->pos = n;
		break;
	default:
		af_fallback(c);
		break;
	}
}
