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
 * compressed. It is inflated with zlib as its frames arrive (raw deflate, 15-bit window:
 * enough for any *_max_window_bits; the 4 bytes 00 00 ff ff the sender removed are fed
 * after the last fragment, §7.2.2) straight into the message buffer, so the bound is on
 * the inflated size (max_message; a deflate bomb is dropped like any oversize message
 * while its input is still fed through, keeping the shared window in step). The inflate
 * state (about 40 KiB, charged to the memory account, wiped when freed) is made at the
 * first compressed message and kept across messages: with context takeover later
 * messages refer back to earlier ones; without it they simply do not. Whenever that
 * history is lost (a gap, a message abandoned midway, an inflate error) the state is
 * reset, so a later message that refers to lost history fails to inflate (zlib refuses a
 * distance beyond its window) and is dropped and counted — never delivered as wrong
 * bytes. If the state cannot be allocated the message is emitted raw (compressed),
 * counted and logged by the engine.
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
#include <zlib.h>
#include "app_internal.h"
#include "cursor.h"

enum { WS_HDR = 0, WS_PAYLOAD, WS_RESYNC };
enum { SINK_SKIP = 0, SINK_MSG, SINK_INFLATE };
#define WSM_COMPRESSED 1u        /* compressed and not inflated: emitted raw */
#define WSM_BADRSV     2u
#define WSM_DROPPED    4u
#define WSM_INFLATE    8u        /* compressed, being inflated (the shared window is fed) */
#define WS_INFLATE_CHUNK 4096u   /* unmasked input / inflated output per inflate() call */
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

#define WS_COUNT(f, field) do { (f)->ws->cnt.field++; if ((f)->env && (f)->env->ws_total) (f)->env->ws_total->field++; } while (0)
/* Frame state of direction d (f->ws exists once a direction was switched: ws_start). */
#define WSD(f, d) (&(f)->ws->dir[(d) - (f)->dir])

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

/* ---- permessage-deflate: zlib's memory goes through the framing memory account ---- */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
	app_framing_t *f = opaque;
	if (size && items > (SIZE_MAX - 16) / size) return Z_NULL;
	size_t n = (size_t)items * size;
	if (af_budget(f) && *af_budget(f) + n > af_budget_max(f)) return Z_NULL;
	uint8_t *p = malloc(n + 16);
	if (!p) return Z_NULL;
	memcpy(p, &n, sizeof n);
	if (af_budget(f)) *af_budget(f) += n;
	return p + 16;
}

static void z_free(voidpf opaque, voidpf q)
{
	app_framing_t *f = opaque;
	if (!q) return;
	uint8_t *p = (uint8_t *)q - 16;
	size_t n;
	memcpy(&n, p, sizeof n);
	af_wipe(p + 16, n);                       /* the window holds plaintext */
	if (af_budget(f)) *af_budget(f) -= n;
	free(p);
}

/* The direction's inflate state, made on first use. NULL: cannot (memory). */
static z_stream *z_get(app_framing_t *f, app_ws_dir_t *w)
{
	if (w->z) return w->z;
	z_stream *z = z_alloc(f, 1, sizeof *z);
	if (!z) return NULL;
	memset(z, 0, sizeof *z);
	z->zalloc = z_alloc;
	z->zfree = z_free;
	z->opaque = f;
	if (inflateInit2(z, -15) != Z_OK) {
		z_free(f, z);
		return NULL;
	}
	w->z = z;
	return z;
}

/* History shared with the sender is lost: start from an empty window. */
static void z_reset(app_ws_dir_t *w)
{
	if (w->z) inflateReset(w->z);
}

static void z_end(app_framing_t *f, app_ws_dir_t *w)
{
	if (!w->z) return;
	inflateEnd(w->z);
	z_free(f, w->z);
	w->z = NULL;
}

/* Inflate in[0..n) into the message buffer (discarded once the message is dropped). On a
 * zlib error the message is dropped, counted, and the state reset. */
static void inflate_feed(pctx_t *c, const uint8_t *in, size_t n)
{
	app_framing_t *f = c->f;
	app_dir_state_t *d = c->d;
	app_ws_dir_t *w = WSD(f, d);
	z_stream *z = w->z;
	uint8_t out[WS_INFLATE_CHUNK];
	z->next_in = (Bytef *)(uintptr_t)in;      /* zlib's API is not const; it does not write */
	z->avail_in = (uInt)n;
	for (;;) {
		z->next_out = out;
		z->avail_out = sizeof out;
		int r = inflate(z, Z_SYNC_FLUSH);
		size_t got = sizeof out - z->avail_out;
		/* the output first (also what came before an error): the counters must not depend
		 * on how the input was cut into pushes */
		if (got && !(w->msg_flags & WSM_DROPPED)) {
			if (got > (uint64_t)af_max_msg(f) - d->len || af_append(f, d, out, got) < 0) {
				WS_COUNT(f, oversize);            /* a deflate bomb, or the memory bound */
				f->ws_events |= APP_WS_EV_OVERSIZE;
				drop_msg(f, d);
				w->msg_flags |= WSM_DROPPED;  /* still inflated: the window must follow */
			}
		}
		if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
			unexpected(c);                    /* not deflate data, or history we lost */
			drop_msg(f, d);
			w->msg_flags = (uint8_t)((w->msg_flags | WSM_DROPPED) & ~WSM_INFLATE);
			w->sink = SINK_SKIP;
			z_reset(w);
			break;
		}
		if (r == Z_STREAM_END) z_reset(w);   /* BFINAL: the next message starts afresh */
		if (r == Z_BUF_ERROR || (z->avail_in == 0 && z->avail_out != 0)) break;
	}
	z->next_in = NULL;
	z->avail_in = 0;
	af_wipe(out, sizeof out);
}

void ws_start(app_framing_t *f, app_dir_state_t *d)
{
	af_reset_msg(d);
	if (!f->ws && !(f->ws = calloc(1, sizeof *f->ws))) {
		d->proto = P_RAW;                     /* no memory for frame state: a raw tunnel */
		return;
	}
	d->proto = P_WS;
	memset(WSD(f, d), 0, sizeof *WSD(f, d));
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
	app_ws_dir_t *w = WSD(f, d);
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
		if (w->msg_flags & WSM_INFLATE) WS_COUNT(f, inflated);
		af_emit(c->emit, c->ctx, c->dir, app, d->buf, d->len, ka);
	}
	d->len = 0;
	if (d->cap > AF_KEEP_BUFFER) af_release(f, d);    /* a big message's buffer is not kept idle */
}

/* The current frame's payload is complete. */
static void frame_done(pctx_t *c)
{
	app_ws_dir_t *w = WSD(c->f, c->d);
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
	if (w->msg_flags & WSM_INFLATE) {
		static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };   /* RFC 7692 §7.2.2 */
		inflate_feed(c, tail, sizeof tail);
	}
	if (!(w->msg_flags & WSM_DROPPED)) emit_msg(c);
	w->msg = 0;
	w->msg_flags = 0;
}

/* A frame header is complete: decide where its payload goes (table-driven). */
static void on_frame(pctx_t *c, const ws_frame_t *fr)
{
	app_framing_t *f = c->f;
	app_dir_state_t *d = c->d;
	app_ws_dir_t *w = WSD(f, d);
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
		if (w->msg_flags & WSM_INFLATE) z_reset(w);   /* its deflate stream was abandoned */
		/* fall through */
	case A_START:
		w->msg = fr->op;
		w->msg_flags = 0;
		if (deflate && (fr->rsv & 4))
			w->msg_flags |= z_get(f, w) ? WSM_INFLATE : WSM_COMPRESSED;
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
	bool data = act == A_START || act == A_RESTART || act == A_CONTINUE;
	if (data && (w->msg_flags & WSM_INFLATE)) {
		w->sink = SINK_INFLATE;               /* bounded on the inflated size */
	} else if (data && !(w->msg_flags & WSM_DROPPED)) {
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
	app_ws_dir_t *w = WSD(f, d);
	d->gap_dropped += d->len;
	if (w->msg && !(w->msg_flags & WSM_DROPPED)) {
		WS_COUNT(f, gap_cut);
		d->n_gap_cut++;
	}
	drop_msg(f, d);
	void *z = w->z;
	memset(w, 0, sizeof *w);
	w->z = z;
	z_reset(w);                               /* the history before the loss is gone */
	w->st = WS_RESYNC;
}

static void step_hdr(pctx_t *c)
{
	app_ws_dir_t *w = WSD(c->f, c->d);
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
	app_ws_dir_t *w = WSD(f, d);
	uint64_t avail = c->n - c->pos;
	size_t k = (size_t)(w->left < avail ? w->left : avail);
	const uint8_t *s = take(c, k);
	if (!s) return;
	if (w->sink == SINK_INFLATE) {
		uint8_t t[WS_INFLATE_CHUNK];
		for (size_t o = 0; o < k && w->sink == SINK_INFLATE; o += sizeof t) {
			size_t m = k - o < sizeof t ? k - o : sizeof t;
			memcpy(t, s + o, m);
			if (w->masked)
				for (size_t i = 0; i < m; i++) t[i] ^= w->key[(w->kpos + o + i) & 3];
			inflate_feed(c, t, m);
		}
		af_wipe(t, sizeof t);
	} else if (w->sink == SINK_MSG) {
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
		WSD(c->f, d)->st = WS_HDR;
		WS_COUNT(c->f, resyncs);
	}
}

/* Contract in app_internal.h. */
void ws_step(pctx_t *c)
{
	switch (WSD(c->f, c->d)->st) {
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
	app_ws_dir_t *w = WSD(f, d);
	if (w->msg && !(w->msg_flags & WSM_DROPPED)) {
		WS_COUNT(f, gap_cut);                 /* cut by the end of the stream */
		d->n_gap_cut++;
	}
	drop_msg(f, d);
	z_end(f, w);
	memset(w, 0, sizeof *w);
}
