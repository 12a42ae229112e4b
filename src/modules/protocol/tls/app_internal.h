/*
 * app_internal.h — what the application-framing files share (not part of any API).
 *
 * Why several files: the framer has one byte-stream front end and three protocols with
 * their own message rules. The files and the only direction calls go:
 *
 *   app_framing.c   public API (app_framing.h), per-direction protocol detection,
 *     |    |    \    the parse loop that dispatches each step to the protocol, gaps
 *     v    v     \
 *  app_sip.c  app_http.c   per-protocol steps: how a message's length is known (SIP
 *     |         |    \     Content-Length; HTTP Content-Length, chunked, bodiless
 *     |         |     v    responses, request queue, tunnels, the WebSocket upgrade)
 *     |         |   app_ws.c   WebSocket frames (RFC 6455) after the upgrade, SIP in them
 *     |         |     |        (RFC 7118), permessage-deflate (zlib)
 *     v         v     v
 *   app_common.c   primitives the protocols use: message buffer and memory account,
 *                  emitting, raw fallback, start-line and header-field parsing, line
 *                  scanning, keep-alives, the header and Content-Length body steps,
 *                  the resynchronisation search after a gap
 *
 * Nothing calls upward: app_common.c calls no other framing file, app_sip.c and app_ws.c
 * call only app_common.c, app_http.c calls app_common.c and app_ws.c (ws_start, when a
 * 101 switches a direction), and only app_framing.c runs the parse loop.
 */
#ifndef PTLS_APP_INTERNAL_H
#define PTLS_APP_INTERNAL_H

#include <string.h>
#include "app_framing.h"

#define AF_DEFAULT_MAX   (1024u * 1024u)   /* max_message when 0 is given */
#define AF_HDR_LIMIT     (64u * 1024u)     /* header section bound (also capped by max_message) */
#define AF_DETECT_MAX    1024u             /* bytes waited for to see the first line */
#define AF_MIN_CAP       512u              /* first buffer allocation */
#define AF_KEEP_BUFFER   65536u            /* buffers up to this size are reused between messages */

enum { P_UNDECIDED = 0, P_SIP, P_HTTP, P_RAW, P_WS };
enum {
	S_IDLE = 0,     /* between messages (buffer empty) */
	S_KA,           /* partial keep-alive ("\r" or "\r\n\r") held in the buffer */
	S_HDR,          /* start line + header fields, up to the empty line */
	S_BODY,         /* need more body bytes (Content-Length) */
	S_CH_SIZE0,     /* chunked: first hex digit of a chunk-size */
	S_CH_SIZE,      /* chunked: further hex digits */
	S_CH_EXT,       /* chunked: extensions / CR up to the LF of the size line */
	S_CH_DATA,      /* chunked: need more chunk-data bytes */
	S_CH_DATA_CR,   /* chunked: CR (or bare LF) after chunk data */
	S_CH_DATA_LF,   /* chunked: LF after chunk data */
	S_TRAILER,      /* chunked: trailer fields up to the empty line */
	S_CLOSE,        /* HTTP response body delimited by the end of the stream */
	S_UPG_HOLD      /* HTTP: a WebSocket upgrade request was sent, its answer not seen yet:
	                 * later bytes are held (d->buf) until it is (101: frames, else HTTP) */
};
/* app_dir_state_t.upg */
enum { UPG_NONE = 0, UPG_REQ, UPG_ACCEPTED };
/* app_framing_t.ws_neg */
#define WSN_SIP     1u
#define WSN_DEFLATE 2u
enum { L_START = 0, L_CR, L_TEXT };            /* line-end tracker */
enum { K_REQ = 1, K_RESP };
enum { AFTER_NONE = 0, AFTER_RAW, AFTER_WS, AFTER_HOLD };
enum { M_OTHER = 0, M_HEAD, M_CONNECT };
/* app_dir_state_t.resync: after a gap, bytes up to the next start line are emitted raw
 * (RESYNC_RAW), or dropped with the cut message counted already (RESYNC_DROP_COUNTED) or
 * still to count (RESYNC_DROP) */
enum { RESYNC_NONE = 0, RESYNC_RAW, RESYNC_DROP, RESYNC_DROP_COUNTED };

/* result of one matcher on a (possibly incomplete) start line */
#define M_FAIL (-1)
#define M_NEED 0
#define M_OK   1

typedef struct startline {
	int kind;       /* 0 none, K_REQ, K_RESP */
	int proto;      /* P_SIP / P_HTTP */
	int method;     /* M_* (HTTP requests) */
	int status;
} startline_t;

typedef struct hdrinfo {
	int cl;             /* 0 absent, 1 valid, -1 invalid / disagreeing */
	uint64_t clv;
	bool te, chunked;   /* Transfer-Encoding present; its last coding is "chunked" */
	/* HTTP only: the WebSocket upgrade (RFC 6455 §4): Upgrade lists "websocket",
	 * Connection lists "upgrade", Sec-WebSocket-Protocol lists "sip" (RFC 7118),
	 * Sec-WebSocket-Extensions lists "permessage-deflate" (RFC 7692) */
	bool upg_ws, conn_upg, ws_sip, ws_deflate;
} hdrinfo_t;

/* One push being parsed. */
typedef struct pctx {
	app_framing_t *f;
	app_dir_state_t *d;
	int dir;
	const uint8_t *data;
	size_t n, pos;
	size_t ms;              /* start of the current message in data (when not buffered) */
	app_emit_fn emit;
	void *ctx;
	int rc;
} pctx_t;

/* ---- character classes ---- */
static inline bool af_is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}
static inline bool af_is_ws(uint8_t c) { return c == ' ' || c == '\t'; }
static inline bool af_is_lws(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static inline uint8_t af_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }
static inline int af_hexval(uint8_t c)
{
	if (c >= '0' && c <= '9') return c - '0';
	c = af_lower(c);
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

/* The shared memory account (NULL: none) and its bound. */
static inline uint64_t *af_budget(const app_framing_t *f) { return f->env ? f->env->budget_used : NULL; }
static inline uint64_t af_budget_max(const app_framing_t *f) { return f->env ? f->env->budget_max : 0; }

/* ---- app_common.c: limits and memory ---- */
/* Wipe n bytes (plaintext) in a way the compiler keeps. */
void af_wipe(void *p, size_t n);
/* max_message in force (the default when 0). */
uint32_t af_max_msg(const app_framing_t *f);
/* Header-section bound: min(max_message, AF_HDR_LIMIT). */
size_t af_hdr_limit(const app_framing_t *f);
/* Detection window: min(max_message, AF_DETECT_MAX). */
size_t af_detect_max(const app_framing_t *f);
/* Append p[0..n) to d's buffer, growing it geometrically up to max_message within the
 * memory account. 0, or -1 (nothing appended) when it cannot grow. */
int af_append(app_framing_t *f, app_dir_state_t *d, const uint8_t *p, size_t n);
/* Free d's buffer (wiped) and give its capacity back to the memory account. */
void af_release(app_framing_t *f, app_dir_state_t *d);

/* ---- app_common.c: emitting ---- */
/* emit(ctx, ...) when emit is set and n > 0. */
void af_emit(app_emit_fn emit, void *ctx, int dir, tls_app_t app, const uint8_t *p, size_t n, bool ka);
/* The tls_app_t of d's protocol (RAW unless SIP/HTTP). */
tls_app_t af_app_of(const app_dir_state_t *d);

/* ---- app_common.c: start lines and header fields ---- */
/* Classify a start line p[0..n) (without its line end when complete). M_OK with *sl
 * filled, M_NEED (only when !complete: still a possible start line) or M_FAIL. */
int af_classify(const uint8_t *p, size_t n, bool complete, startline_t *sl);
/* Protocol of direction dir from its first bytes p[0..n): P_SIP, P_HTTP, P_RAW, or -1 to
 * wait for more (only while n < the detection window). */
int af_detect(const app_framing_t *f, int dir, const uint8_t *p, size_t n);
/* After a gap: offset of the first line in p[0..n) that is a complete SIP/HTTP start
 * line (0 only if the gap ended exactly on a message boundary), or n. */
size_t af_resync_point(const app_framing_t *f, int dir, const uint8_t *p, size_t n);
/* Content-Length (and SIP's compact "l" when sip) and Transfer-Encoding of the header
 * section h[0..hl) (start line included, ends with the empty line). */
void af_parse_headers(const uint8_t *h, size_t hl, bool sip, hdrinfo_t *hi);
/* End of the current header/trailer line in p[0..avail): bytes up to and including the
 * LF (all when there is none: *eol false); *empty: the line that ended was empty. */
size_t af_scan_line(app_dir_state_t *d, const uint8_t *p, size_t avail, bool *eol, bool *empty);

/* ---- app_common.c: message accounting and shared steps ----
 * A step consumes bytes at c->pos of the current push; on a framing error it falls back
 * to raw itself (af_fallback: everything not yet emitted goes out raw, c->pos = c->n). */
/* Back to "between messages" (the buffer is left alone). */
void af_reset_msg(app_dir_state_t *d);
/* Give up framing: emit the buffer and the rest of the push raw, direction stays raw. */
void af_fallback(pctx_t *c);
/* Account k more bytes of the current message (copied when it is buffered). false:
 * beyond max_message or out of memory (c->rc = -1) — the caller falls back. */
bool af_take(pctx_t *c, size_t k);
/* Start of the current message: the buffer, or the caller's data. */
const uint8_t *af_cur_msg(const pctx_t *c);
/* The current message is complete: emit it as the direction's protocol, reset. Returns
 * the message's `after` action (AFTER_RAW: the caller switches to a tunnel). */
int af_finish(pctx_t *c);
/* S_IDLE: a keep-alive (emitted alone, keepalive=true; a partial one is held: S_KA) or
 * the first byte of a start line (→ S_HDR); anything else falls back. */
void af_step_idle(pctx_t *c);
/* S_KA: complete a held partial keep-alive. */
void af_step_ka(pctx_t *c);
/* S_HDR: one header line. Returns -1 (fell back), 0 (more to come) or 1 (the empty line:
 * the header section is af_cur_msg(c)[0..msg_len)). When the start line completes, *sl
 * gets it (sl->kind != 0 only then). */
int af_step_header_line(pctx_t *c, startline_t *sl);
/* S_BODY: body bytes up to d->need; the message is finished when they are all there. */
void af_step_body(pctx_t *c);

/* ---- app_sip.c ---- */
/* One parse step of a SIP direction (states S_IDLE, S_KA, S_HDR, S_BODY). */
void sip_step(pctx_t *c);

/* ---- app_http.c ---- */
/* One parse step of an HTTP/1.x direction: the states SIP has (keep-alives are stray
 * CRLFs here) plus chunked bodies, trailers and close-delimited bodies. */
void http_step(pctx_t *c);

/* ---- app_ws.c ---- */
/* Switch direction d to WebSocket framing (P_WS, frame state reset; counted). */
void ws_start(app_framing_t *f, app_dir_state_t *d);
/* One parse step of a WebSocket direction: consumes bytes at c->pos (frame headers,
 * payloads, resynchronisation after a gap); complete messages are emitted. */
void ws_step(pctx_t *c);
/* Bytes of a WebSocket direction were lost: the message in progress is wiped (never
 * emitted, counted) and frames are searched for again from the next push. */
void ws_gap(app_framing_t *f, app_dir_state_t *d);
/* End of a WebSocket direction: a message in progress is wiped, not emitted (counted);
 * the inflate state is freed (wiped). */
void ws_flush(app_framing_t *f, app_dir_state_t *d);

#endif
