/*
 * app_ws.c — WebSocket frames (RFC 6455 §5) after an HTTP/1.1 upgrade, and SIP carried
 * in them (RFC 7118), one parse step at a time for app_framing.c's loop (file layout:
 * app_internal.h; app_http.c decides when a direction switches here).
 *
 * What: a frame is FIN, RSV1-3, opcode, MASK, a 7-bit length (126: a 16-bit length
 * follows, 127: a 64-bit one), a 4-byte masking key when MASK is set (client frames), then
 * the payload (XORed with the key). A message is one data frame (text/binary) with FIN,
 * or a first frame without FIN plus continuation frames up to one with FIN; control frames
 * (close, ping, pong; at most 125 bytes, never fragmented) may come between the fragments.
 * Each complete message's unmasked payload is emitted once: as SIP when the server agreed
 * to the "sip" subprotocol or the payload starts with a SIP start line (RFC 7118 §5: one
 * SIP message per WebSocket message — no Content-Length framing across messages; a
 * payload of only CR/LF is a keep-alive), else raw. Control frames are counted, not
 * emitted (design.md: app is "sip", "http" or "raw"; a ping is none of these).
 *
 * Bounds and hostile input: frame headers (2..14 bytes) are gathered in a fixed buffer
 * and read through cursor.h, payload spans are taken through a cursor over the push; a
 * message is assembled (unmasked) in the direction's buffer, bounded by max_message and
 * reused between messages (no allocation per packet in steady state). A message that
 * would exceed max_message is dropped — never emitted, not even in part — counted, and
 * its remaining frames are skipped by their lengths (framing is not lost). RSV bits that
 * no negotiated extension allows, reserved opcodes, a continuation without a message, a
 * data frame inside a fragmented message (the unfinished one is dropped), control frames
 * that are fragmented or longer than 125 bytes, unmasked client / masked server frames
 * and non-minimal lengths are counted as unexpected; a message with bad RSV bits is
 * emitted raw. A 64-bit length with its top bit set loses the framing: handled like a gap.
 *
 * permessage-deflate (RFC 7692): when negotiated, a message whose first frame has RSV1 is
 * compressed. It is not inflated (that needs zlib and a 32 KiB window per direction per
 * flow, kept across messages): it is emitted raw, counted (compressed) and logged by the
 * engine, so an operator sees why SIP is missing instead of garbage indexed as SIP. The
 * SIP WebSocket servers we know (Kamailio, Asterisk, FreeSWITCH) do not negotiate it.
 *
 * Gaps: the message in progress is wiped and counted (never emitted), and the position
 * in the frame stream is unknown. Frames are searched for again: a candidate is a header
 * complete in the push, opening a text/binary message, with the mask bit the direction
 * must have, no RSV bits, a length within max_message, and whose (unmasked) payload
 * begins with a complete SIP start line. Everything before it is dropped (counted in
 * gap_dropped). So after a gap only SIP messages resynchronise; a non-SIP WebSocket
 * stream stays dropped after a gap (never emitted cut). At end of stream a message in
 * progress is likewise wiped, not emitted.
 */
#include <string.h>
#include <stdlib.h>
#include <stdint.h>
#include "app_internal.h"
#include "cursor.h"

enum { WS_HDR = 0, WS_PAYLOAD, WS_RESYNC };
enum { SINK_SKIP = 0, SINK_MSG };
#define WSM_COMPRESSED 1u
#define WSM_BADRSV     2u
#define WSM_DROPPED    4u
#define WS_CTRL_MAX    125u
#define WS_SNIFF       256u      /* payload bytes looked at to recognise SIP after a gap */
#define OP_CLOSE       8u

/* opcode classes (RFC 6455 §5.2, §11.8) */
enum { OC_CONT = 0, OC_DATA, OC_CTRL, OC_RESERVED };
static const uint8_t op_class[16] = {
	OC_CONT, OC_DATA, OC_DATA, OC_RESERVED, OC_RESERVED, OC_RESERVED, OC_RESERVED, OC_RESERVED,
	OC_CTRL, OC_CTRL, OC_CTRL, OC_RESERVED, OC_RESERVED, OC_RESERVED, OC_RESERVED, OC_RESERVED,
};

/* What a frame does, by its opcode class and whether a data message is in progress. */
enum { A_START, A_CONTINUE, A_RESTART, A_STRAY, A_CONTROL, A_RESERVED };
static const uint8_t frame_action[4][2] = {
	/*                 no message   message in progress */
	[OC_CONT]     = { A_STRAY,    A_CONTINUE },
	[OC_DATA]     = { A_START,    A_RESTART },     /* RESTART: the unfinished one is dropped */
	[OC_CTRL]     = { A_CONTROL,  A_CONTROL },     /* may interleave fragments */
	[OC_RESERVED] = { A_RESERVED, A_RESERVED },    /* skipped by its length */
};

#define WS_COUNT(f, field) do { (f)->ws.field++; if ((f)->ws_total) (f)->ws_total->field++; } while (0)

typedef struct ws_frame {
	uint8_t fin, rsv, op, masked;
	uint8_t key[4];
	uint64_t len;
	bool minimal;               /* the shortest length encoding was used */
} ws_frame_t;

/* Frame header at h[0..n): its length when complete (fr filled), 0 when more bytes are
 * needed (*need: the header's length as far as known), -1 when invalid (64-bit length
 * with the top bit set). */
static int frame_parse(const uint8_t *h, size_t n, ws_frame_t *fr, size_t *need)
{
	cursor_t cu = cur_init(h, n);
	*need = 2;
	if (n < 2) return 0;
	uint8_t b0 = cur_u8(&cu), b1 = cur_u8(&cu);
	fr->fin = b0 >> 7;
	fr->rsv = (b0 >> 4) & 7;
	fr->op = b0 & 15;
	fr->masked = b1 >> 7;
	uint8_t l7 = b1 & 0x7f;
	size_t hl = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + (fr->masked ? 4 : 0);
	*need = hl;
	if (n < hl) return 0;
	if (l7 == 126) {
		fr->len = cur_u16(&cu);
		fr->minimal = fr->len >= 126;
	} else if (l7 == 127) {
		uint64_t hi = cur_u32(&cu);
		fr->len = hi << 32 | cur_u32(&cu);
		if (fr->len >> 63) return -1;
		fr->minimal = fr->len > 0xffff;
	} else {
		fr->len = l7;
		fr->minimal = true;
	}
	if (fr->masked) cur_copy(&cu, fr->key, 4);
	else memset(fr->key, 0, 4);
	return cur_failed(&cu) ? -1 : (int)hl;
}

/* Take k bytes of the push at c->pos (a span through a cursor; k is within the push). */
static const uint8_t *take(pctx_t *c, size_t k)
{
	cursor_t cu = cur_init(c->data, c->n);
	cur_skip(&cu, c->pos);
	const uint8_t *s = cur_span(&cu, k);
	if (s) c->pos += k;
	return s;
}

static void unexpected(pctx_t *c)
{
	WS_COUNT(c->f, unexpected);
	c->f->ws_events |= APP_WS_EV_UNEXPECTED;
}

/* Forget the message in progress (its assembled payload is wiped). */
static void drop_msg(app_framing_t *f, app_dir_state_t *d)
{
	if (d->len) af_wipe(d->buf, d->len);
	d->len = 0;
	if (d->cap > AF_KEEP_BUFFER) af_release(f, d);
}

void ws_start(app_framing_t *f, app_dir_state_t *d)
{
	af_reset_msg(d);
	d->proto = P_WS;
	memset(&d->ws, 0, sizeof d->ws);
	WS_COUNT(f, upgrades);
}

/* Is the message p[0..n) SIP (RFC 7118)? *ka: it is only CR/LF (a keep-alive). */
static bool is_sip(const app_framing_t *f, const uint8_t *p, size_t n, bool *ka)
{
	bool neg = (f->ws_neg & WSN_SIP) != 0;
	size_t i = 0;
	*ka = false;
	while (i < n && (p[i] == '\r' || p[i] == '\n')) i++;
	if (i == n) {
		*ka = neg;
		return neg;
	}
	size_t lim = n - i < AF_DETECT_MAX ? n - i : AF_DETECT_MAX;
	const uint8_t *lf = memchr(p + i, '\n', lim);
	if (lf) {
		size_t e = (size_t)(lf - p);
		if (e > i && p[e - 1] == '\r') e--;
		startline_t sl;
		if (af_classify(p + i, e - i, true, &sl) == M_OK && sl.proto == P_SIP) return true;
	}
	return neg;
}

/* The message in d's buffer is complete: emit it once (SIP, or raw), then reuse the buffer. */
static void emit_msg(pctx_t *c)
{
	app_framing_t *f = c->f;
	app_dir_state_t *d = c->d;
	app_ws_dir_t *w = &d->ws;
	tls_app_t app = TLS_APP_RAW;
	bool ka = false;
	if (w->msg_flags & WSM_COMPRESSED) {
		WS_COUNT(f, compressed);
		f->ws_events |= APP_WS_EV_COMPRESSED;
	} else if (!(w->msg_flags & WSM_BADRSV) && is_sip(f, d->buf, d->len, &ka)) {
		app = TLS_APP_SIP;
	}
	if (d->len) {
		WS_COUNT(f, messages);
		if (app == TLS_APP_SIP) WS_COUNT(f, sip);
		af_emit(c->emit, c->ctx, c->dir, app, d->buf, d->len, ka);
	}
	d->len = 0;
	if (d->cap > AF_KEEP_BUFFER) af_release(f, d);    /* a big message's buffer is not kept idle */
}

/* The current frame's payload is complete. */
static void frame_done(pctx_t *c)
{
	app_ws_dir_t *w = &c->d->ws;
	w->st = WS_HDR;
	switch (op_class[w->op]) {
	case OC_CTRL:
		WS_COUNT(c->f, control);
		return;
	case OC_RESERVED:
		return;
	default:
		break;
	}
	if (!w->msg || !w->fin) return;           /* stray continuation, or more fragments to come */
	if (!(w->msg_flags & WSM_DROPPED)) emit_msg(c);
	w->msg = 0;
	w->msg_flags = 0;
}

/* A frame header is complete: decide where its payload goes (table-driven). */
static void on_frame(pctx_t *c, const ws_frame_t *fr)
{
	app_framing_t *f = c->f;
	app_dir_state_t *d = c->d;
	app_ws_dir_t *w = &d->ws;
	uint8_t cls = op_class[fr->op];
	uint8_t act = frame_action[cls][w->msg != 0];
	bool deflate = (f->ws_neg & WSN_DEFLATE) != 0;
	w->op = fr->op;
	w->fin = fr->fin;
	w->masked = fr->masked;
	memcpy(w->key, fr->key, 4);
	w->kpos = 0;
	w->left = fr->len;
	w->sink = SINK_SKIP;
	/* RFC 6455 §5.1: clients mask, servers do not; §5.2: minimal length encoding */
	if ((fr->masked != 0) != (c->dir == TLS_DIR_C2S) || !fr->minimal) unexpected(c);
	switch (act) {
	case A_RESTART:
		unexpected(c);                        /* a new message inside a fragmented one */
		drop_msg(f, d);
		/* fall through */
	case A_START:
		w->msg = fr->op;
		w->msg_flags = 0;
		if (deflate && (fr->rsv & 4)) w->msg_flags |= WSM_COMPRESSED;
		if (fr->rsv & (deflate ? 3 : 7)) {
			unexpected(c);
			w->msg_flags |= WSM_BADRSV;
		}
		break;
	case A_CONTINUE:
		if (fr->rsv) {                        /* RFC 7692 §6.1: RSV1 on the first frame only */
			unexpected(c);
			w->msg_flags |= WSM_BADRSV;
		}
		break;
	case A_CONTROL:
		if (!fr->fin || fr->len > WS_CTRL_MAX || fr->rsv) unexpected(c);
		break;
	case A_STRAY:
	case A_RESERVED:
	default:
		unexpected(c);
		break;
	}
	if ((act == A_START || act == A_RESTART || act == A_CONTINUE) && !(w->msg_flags & WSM_DROPPED)) {
		if (fr->len > (uint64_t)af_max_msg(f) - d->len) {
			/* over the bound: the message is dropped whole, its frames skipped */
			WS_COUNT(f, oversize);
			f->ws_events |= APP_WS_EV_OVERSIZE;
			drop_msg(f, d);
			w->msg_flags |= WSM_DROPPED;
		} else {
			w->sink = SINK_MSG;
		}
	}
	w->st = WS_PAYLOAD;
	if (!w->left) frame_done(c);
}

/* Framing is lost (a gap, an impossible length): drop the message, search again. */
static void lose_framing(app_framing_t *f, app_dir_state_t *d)
{
	app_ws_dir_t *w = &d->ws;
	d->gap_dropped += d->len;
	if (w->msg && !(w->msg_flags & WSM_DROPPED)) {
		WS_COUNT(f, gap_cut);
		d->n_gap_cut++;
	}
	drop_msg(f, d);
	memset(w, 0, sizeof *w);
	w->st = WS_RESYNC;
}

static void step_hdr(pctx_t *c)
{
	app_ws_dir_t *w = &c->d->ws;
	ws_frame_t fr;
	size_t need;
	int r;
	while ((r = frame_parse(w->hdr, w->hlen, &fr, &need)) == 0) {
		size_t k = need - w->hlen;
		if (k > c->n - c->pos) k = c->n - c->pos;
		if (!k) return;                       /* the rest of the header is in the next push */
		const uint8_t *s = take(c, k);
		if (!s) return;
		memcpy(w->hdr + w->hlen, s, k);
		w->hlen = (uint8_t)(w->hlen + k);
	}
	w->hlen = 0;
	if (r < 0) {
		unexpected(c);
		c->f->ws_events |= APP_WS_EV_GAP;
		lose_framing(c->f, c->d);
		return;
	}
	on_frame(c, &fr);
}

static void step_payload(pctx_t *c)
{
	app_framing_t *f = c->f;
	app_dir_state_t *d = c->d;
	app_ws_dir_t *w = &d->ws;
	uint64_t avail = c->n - c->pos;
	size_t k = (size_t)(w->left < avail ? w->left : avail);
	const uint8_t *s = take(c, k);
	if (!s) return;
	if (w->sink == SINK_MSG) {
		size_t at = d->len;
		if (af_append(f, d, s, k) < 0) {
			/* the memory bound: like a message over max_message */
			c->rc = -1;
			WS_COUNT(f, oversize);
			f->ws_events |= APP_WS_EV_OVERSIZE;
			drop_msg(f, d);
			w->msg_flags |= WSM_DROPPED;
			w->sink = SINK_SKIP;
		} else if (w->masked) {
			for (size_t i = 0; i < k; i++) d->buf[at + i] ^= w->key[(w->kpos + i) & 3];
		}
	}
	w->kpos = (uint8_t)((w->kpos + k) & 3);
	w->left -= k;
	if (!w->left) frame_done(c);
}

/* After a gap: is there a frame at p[i..n) that opens a SIP message? (see the top) */
static bool resync_candidate(const pctx_t *c, size_t i)
{
	const uint8_t *p = c->data;
	size_t n = c->n;
	uint8_t b0 = p[i];
	if (b0 != 0x81 && b0 != 0x82 && b0 != 0x01 && b0 != 0x02) return false;
	ws_frame_t fr;
	size_t need;
	int hl = frame_parse(p + i, n - i, &fr, &need);
	if (hl <= 0 || (fr.masked != 0) != (c->dir == TLS_DIR_C2S)) return false;
	if (!fr.len || fr.len > af_max_msg(c->f) || !fr.minimal) return false;
	cursor_t cu = cur_init(p + i, n - i);
	cur_skip(&cu, (size_t)hl);
	size_t a = cur_left(&cu);
	if (a > fr.len) a = (size_t)fr.len;
	if (a > WS_SNIFF) a = WS_SNIFF;
	uint8_t t[WS_SNIFF];
	if (!cur_copy(&cu, t, a)) return false;
	for (size_t j = 0; j < a; j++) t[j] ^= fr.key[j & 3];
	const uint8_t *lf = memchr(t, '\n', a);
	bool ok = false;
	if (lf) {
		size_t e = (size_t)(lf - t);
		if (e && t[e - 1] == '\r') e--;
		startline_t sl;
		ok = af_classify(t, e, true, &sl) == M_OK && sl.proto == P_SIP;
	}
	af_wipe(t, a);
	return ok;
}

static void step_resync(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	size_t i = c->pos;
	while (i < c->n && !resync_candidate(c, i)) i++;
	d->gap_dropped += i - c->pos;
	c->pos = i;
	if (i < c->n) {
		d->ws.st = WS_HDR;
		WS_COUNT(c->f, resyncs);
	}
}

/* Contract in app_internal.h. */
void ws_step(pctx_t *c)
{
	switch (c->d->ws.st) {
	case WS_HDR: step_hdr(c); break;
	case WS_PAYLOAD: step_payload(c); break;
	default: step_resync(c); break;
	}
}

void ws_gap(app_framing_t *f, app_dir_state_t *d)
{
	f->ws_events |= APP_WS_EV_GAP;
	lose_framing(f, d);
}

void ws_flush(app_framing_t *f, app_dir_state_t *d)
{
	app_ws_dir_t *w = &d->ws;
	if (w->msg && !(w->msg_flags & WSM_DROPPED)) {
		WS_COUNT(f, gap_cut);                 /* cut by the end of the stream */
		d->n_gap_cut++;
	}
	drop_msg(f, d);
	memset(w, 0, sizeof *w);
}
