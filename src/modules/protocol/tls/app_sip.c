/*
 * app_sip.c — SIP message framing over a stream (RFC 3261 §18.3), one parse step at a
 * time for app_framing.c's loop (file layout: app_internal.h).
 *
 * What: a SIP message is its start line and header fields up to the empty line, then a
 * body of exactly Content-Length (or compact "l") bytes; a message without the field is
 * taken as bodiless and counted (n_missing_length: the field is mandatory on streams,
 * and guessing would swallow the next message). CRLF keep-alives between messages
 * (RFC 5626 §4.4.1: "\r\n\r\n" ping, "\r\n" pong) are emitted alone with keepalive set.
 * A disagreeing or unparsable Content-Length, or a body longer than max_message, makes
 * the direction raw (app_common.c's fallback): re-framing a SIP stream whose lengths
 * are wrong would be guesswork, and parse_sip must only ever see whole messages.
 *
 * Why a file of its own: the SIP rules are few but are the ones Homer depends on; HTTP's
 * many rules (app_http.c) should not be in the way when reading them. The steps shared
 * with HTTP (keep-alives, header lines, Content-Length bodies, resynchronisation after a
 * gap) are in app_common.c; this file calls nothing else.
 */
#include <stdint.h>
#include "app_internal.h"

/* Header section complete (af_cur_msg(c)[0..msg_len)): how long is the body?
 * Returns 0 (message complete), 1 (body follows, S_BODY) or -1 (cannot frame). */
static int sip_on_headers(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	hdrinfo_t hi;
	size_t hl = (size_t)d->msg_len;
	uint64_t room = (uint64_t)af_max_msg(c->f) - hl;
	af_parse_headers(af_cur_msg(c), hl, true, &hi);
	if (hi.cl < 0) return -1;
	if (hi.cl == 0) { d->n_missing_length++; return 0; }  /* RFC 3261 §18.3: required */
	if (hi.clv > room) return -1;
	d->need = hi.clv;
	d->state = S_BODY;
	return hi.clv ? 1 : 0;
}

/* Contract in app_internal.h: consumes bytes at c->pos or moves to a state that will. */
void sip_step(pctx_t *c)
{
	switch (c->d->state) {
	case S_IDLE: af_step_idle(c); break;
	case S_KA: af_step_ka(c); break;
	case S_HDR: {
		startline_t sl;
		if (af_step_header_line(c, &sl) <= 0) break;   /* more to come, or fell back */
		int r = sip_on_headers(c);
		if (r < 0) af_fallback(c);
		else if (r == 0) af_finish(c);
		break;
	}
	case S_BODY: af_step_body(c); break;
	default: af_fallback(c); break;                  /* not a SIP state */
	}
}
