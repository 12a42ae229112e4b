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
 * directions into a raw tunnel. A Transfer-Encoding that does not end in chunked on a
 * request, a bad chunk or a disagreeing Content-Length make the direction raw.
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
	if (st < 200) {
		if (st == 101) d->after = AFTER_RAW;
		return 0;                                       /* interim: request still pending */
	}
	int m = q_pop(&c->f->dir[!c->dir]);
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
	if (af_finish(c) != AFTER_RAW) return;
	app_dir_state_t *d = c->d, *o = &c->f->dir[!c->dir];
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
	default:
		af_fallback(c);
		break;
	}
}
