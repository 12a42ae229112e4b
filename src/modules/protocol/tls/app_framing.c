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
 *     101 Switching Protocols and 2xx answers to CONNECT turn both directions to raw;
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
 * added or duplicated. Whenever framing is impossible (malformed start line, disagreeing or
 * unparsable Content-Length, bad chunk syntax, header section without an end within
 * min(max_message, 64 KiB), a message longer than max_message, allocation failure) the
 * buffered bytes are emitted as TLS_APP_RAW and the direction stays raw until flushed:
 * re-synchronising on a stream whose framing was lost would be guesswork.
 */
#include <string.h>
#include <stdlib.h>
#include "app_framing.h"

#define AF_DEFAULT_MAX   (1024u * 1024u)   /* max_message when 0 is given */
#define AF_HDR_LIMIT     (64u * 1024u)     /* header section bound (also capped by max_message) */
#define AF_DETECT_MAX    1024u             /* bytes waited for to see the first line */
#define AF_MIN_CAP       512u              /* first buffer allocation */

enum { P_UNDECIDED = 0, P_SIP, P_HTTP, P_RAW };
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
	S_CLOSE         /* HTTP response body delimited by the end of the stream */
};
enum { L_START = 0, L_CR, L_TEXT };            /* line-end tracker */
enum { K_REQ = 1, K_RESP };
enum { AFTER_NONE = 0, AFTER_RAW };
enum { M_OTHER = 0, M_HEAD, M_CONNECT };

/* result of one matcher on a (possibly incomplete) start line */
#define M_FAIL (-1)
#define M_NEED 0
#define M_OK   1

/* ------------------------------------------------------------------ utilities */

static void wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;
	for (size_t i = 0; i < n; i++) v[i] = 0;
}

static uint32_t max_msg(const app_framing_t *f)
{
	return f->max_message ? f->max_message : AF_DEFAULT_MAX;
}

static size_t hdr_limit(const app_framing_t *f)
{
	uint32_t m = max_msg(f);
	return m < AF_HDR_LIMIT ? m : AF_HDR_LIMIT;
}

static size_t detect_max(const app_framing_t *f)
{
	uint32_t m = max_msg(f);
	return m < AF_DETECT_MAX ? m : AF_DETECT_MAX;
}

/* Make room for `add` more bytes. Grows geometrically, never (much) beyond the limit the
 * callers enforce; copies to a fresh block so the old plaintext can be wiped. */
static int reserve(app_framing_t *f, app_dir_state_t *d, size_t add)
{
	if (add > SIZE_MAX - d->len) return -1;
	size_t want = d->len + add;
	if (want <= d->cap) return 0;
	size_t lim = max_msg(f), nc = d->cap ? d->cap : AF_MIN_CAP;
	while (nc < want && nc <= SIZE_MAX / 2) nc *= 2;
	if (nc > lim) nc = lim;
	if (nc < want) nc = want;
	/* the engine's memory bound: growing past it means "cannot buffer", i.e. raw output */
	if (f->budget_used && *f->budget_used + (nc - d->cap) > f->budget_max) return -1;
	uint8_t *nb = malloc(nc);
	if (!nb) return -1;
	if (f->budget_used) *f->budget_used += nc - d->cap;
	if (d->buf) {
		if (d->len) memcpy(nb, d->buf, d->len);
		wipe(d->buf, d->cap);
		free(d->buf);
	}
	d->buf = nb;
	d->cap = nc;
	return 0;
}

static int append(app_framing_t *f, app_dir_state_t *d, const uint8_t *p, size_t n)
{
	if (!n) return 0;
	if (reserve(f, d, n) < 0) return -1;
	memcpy(d->buf + d->len, p, n);
	d->len += n;
	return 0;
}

#define AF_KEEP_BUFFER 65536      /* buffers up to this size are reused between messages */

static void release(app_framing_t *f, app_dir_state_t *d)
{
	if (f->budget_used) *f->budget_used -= d->cap;
	if (d->buf) {
		wipe(d->buf, d->cap);
		free(d->buf);
	}
	d->buf = NULL;
	d->len = d->cap = 0;
}

static void do_emit(app_emit_fn emit, void *ctx, int dir, tls_app_t app, const uint8_t *p,
                    size_t n, bool ka)
{
	if (emit && n) emit(ctx, dir, app, p, n, ka);
}

static tls_app_t app_of(const app_dir_state_t *d)
{
	return d->proto == P_SIP ? TLS_APP_SIP : d->proto == P_HTTP ? TLS_APP_HTTP : TLS_APP_RAW;
}

static bool is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ws(uint8_t c) { return c == ' ' || c == '\t'; }
static bool is_lws(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9') return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

static bool eq_ci(const uint8_t *p, size_t n, const char *s)
{
	size_t l = strlen(s);
	if (n != l) return false;
	for (size_t i = 0; i < n; i++)
		if (lower(p[i]) != (uint8_t)s[i]) return false;
	return true;
}

/* ------------------------------------------------------------------ start line */

typedef struct startline {
	int kind;       /* 0 none, K_REQ, K_RESP */
	int proto;      /* P_SIP / P_HTTP */
	int method;     /* M_* (HTTP requests) */
	int status;
} startline_t;

/* Literal at p[i..]: M_OK, M_NEED (prefix matches but the input ends), M_FAIL. */
static int lit(const uint8_t *p, size_t n, size_t i, const char *s, bool ci)
{
	for (size_t j = 0; s[j]; j++) {
		if (i + j >= n) return M_NEED;
		uint8_t c = p[i + j];
		if ((ci ? lower(c) : c) != (uint8_t)(ci ? lower((uint8_t)s[j]) : s[j])) return M_FAIL;
	}
	return M_OK;
}

/* "SIP/2.0" (case-insensitive, RFC 3261 §7.1) or "HTTP/1." DIGIT. */
static int m_version(const uint8_t *p, size_t n, size_t *i, int *proto)
{
	int rs = lit(p, n, *i, "SIP/2.0", true), rh = lit(p, n, *i, "HTTP/1.", false);
	if (rs == M_OK) { *i += 7; *proto = P_SIP; return M_OK; }
	if (rh == M_OK) {
		if (*i + 7 >= n) return M_NEED;
		if (p[*i + 7] < '0' || p[*i + 7] > '9') return M_FAIL;
		*i += 8;
		*proto = P_HTTP;
		return M_OK;
	}
	return (rs == M_NEED || rh == M_NEED) ? M_NEED : M_FAIL;
}

/* Status-Line: version SP 3DIGIT (SP reason | end). */
static int m_status(const uint8_t *p, size_t n, bool complete, startline_t *sl)
{
	size_t i = 0;
	int r = m_version(p, n, &i, &sl->proto);
	if (r != M_OK) return r;
	if (i >= n) return M_NEED;
	if (p[i++] != ' ') return M_FAIL;
	int st = 0;
	for (int k = 0; k < 3; k++, i++) {
		if (i >= n) return M_NEED;
		if (p[i] < '0' || p[i] > '9') return M_FAIL;
		st = st * 10 + (p[i] - '0');
	}
	if (st < 100) return M_FAIL;
	if (i < n && !is_ws(p[i])) return M_FAIL;
	if (i >= n && !complete) return M_NEED;   /* a fourth digit could still follow */
	sl->kind = K_RESP;
	sl->status = st;
	return M_OK;
}

/* Request-Line: token SP target SP version *WSP end. SIP targets must be absolute URIs
 * (scheme ":" ..., e.g. sip:, sips:, tel:, urn:). */
static int m_request(const uint8_t *p, size_t n, bool complete, startline_t *sl)
{
	size_t i = 0;
	while (i < n && is_tchar(p[i])) i++;
	if (i >= n) return M_NEED;
	if (i == 0 || p[i] != ' ') return M_FAIL;
	size_t mlen = i++, t0 = i;
	while (i < n && p[i] > 0x20 && p[i] != 0x7f) i++;
	if (i >= n) return M_NEED;
	if (i == t0 || p[i] != ' ') return M_FAIL;
	size_t t1 = i++;
	int r = m_version(p, n, &i, &sl->proto);
	if (r != M_OK) return r;
	while (i < n && is_ws(p[i])) i++;
	if (i < n) return M_FAIL;
	if (!complete) return M_NEED;
	if (sl->proto == P_SIP) {
		size_t k = t0;
		if (!((p[k] >= 'a' && p[k] <= 'z') || (p[k] >= 'A' && p[k] <= 'Z'))) return M_FAIL;
		while (k < t1 && p[k] != ':') {
			uint8_t c = p[k];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '+' || c == '-' || c == '.')) return M_FAIL;
			k++;
		}
		if (k >= t1) return M_FAIL;
	}
	sl->kind = K_REQ;
	sl->method = M_OTHER;
	if (mlen == 4 && !memcmp(p, "HEAD", 4)) sl->method = M_HEAD;
	else if (mlen == 7 && !memcmp(p, "CONNECT", 7)) sl->method = M_CONNECT;
	return M_OK;
}

/* Classify a start line p[0..n) (without its line end when complete). Returns M_OK with
 * *sl filled, M_NEED (only when !complete: still a possible start line) or M_FAIL. */
static int classify(const uint8_t *p, size_t n, bool complete, startline_t *sl)
{
	startline_t a = {0}, b = {0};
	int rs = m_status(p, n, complete, &a);
	if (rs == M_OK) { *sl = a; return M_OK; }
	int rr = m_request(p, n, complete, &b);
	if (rr == M_OK) { *sl = b; return M_OK; }
	if (!complete && (rs == M_NEED || rr == M_NEED)) return M_NEED;
	return M_FAIL;
}

/* Protocol of a direction from its first bytes p[0..n); -1 = wait for more. */
static int detect(const app_framing_t *f, int dir, const uint8_t *p, size_t n)
{
	size_t i = 0, win = detect_max(f);
	while (i < n && (p[i] == '\r' || p[i] == '\n')) i++;
	if (i == n) {
		/* only CRLFs so far: keep-alives of the protocol the peer speaks, if known */
		int other = f->dir[!dir].proto;
		if (other == P_SIP || other == P_HTTP) return other;
		return n >= win ? P_RAW : -1;
	}
	const uint8_t *lf = memchr(p + i, '\n', n - i);
	startline_t sl;
	int r;
	if (lf) {
		size_t e = (size_t)(lf - p);
		if (e > i && p[e - 1] == '\r') e--;
		r = classify(p + i, e - i, true, &sl);
	} else {
		size_t e = n;
		if (p[e - 1] == '\r') e--;                  /* the CR of the line end: LF to come */
		r = classify(p + i, e - i, false, &sl);
		if (r == M_NEED) return n >= win ? P_RAW : -1;
	}
	return r == M_OK ? sl.proto : P_RAW;
}

/* ------------------------------------------------------------------ header fields */

typedef struct hdrinfo {
	int cl;             /* 0 absent, 1 valid, -1 invalid / disagreeing */
	uint64_t clv;
	bool te, chunked;   /* Transfer-Encoding present; its last coding is "chunked" */
} hdrinfo_t;

/* Content-Length value: 1#DIGIT list, all equal (RFC 9110 §8.6), LWS anywhere. */
static void parse_cl(const uint8_t *v, size_t n, hdrinfo_t *hi)
{
	size_t j = 0;
	bool any = false;
	if (hi->cl < 0) return;
	for (;;) {
		while (j < n && is_lws(v[j])) j++;
		if (j >= n) break;
		if (v[j] == ',') { j++; continue; }
		if (v[j] < '0' || v[j] > '9') { hi->cl = -1; return; }
		uint64_t x = 0;
		while (j < n && v[j] >= '0' && v[j] <= '9') {
			unsigned dg = (unsigned)(v[j++] - '0');
			if (x > (UINT64_MAX - dg) / 10) { hi->cl = -1; return; }
			x = x * 10 + dg;
		}
		while (j < n && is_lws(v[j])) j++;
		if (j < n && v[j] != ',') { hi->cl = -1; return; }
		if (hi->cl == 1 && hi->clv != x) { hi->cl = -1; return; }
		hi->cl = 1;
		hi->clv = x;
		any = true;
	}
	if (!any) hi->cl = -1;
}

/* Transfer-Encoding value: the last non-empty coding (parameters ignored) decides. */
static void parse_te(const uint8_t *v, size_t n, hdrinfo_t *hi)
{
	size_t j = 0;
	while (j < n) {
		while (j < n && (is_lws(v[j]) || v[j] == ',')) j++;
		if (j >= n) break;
		size_t t0 = j;
		while (j < n && is_tchar(v[j])) j++;
		size_t t1 = j;
		while (j < n && v[j] != ',') j++;        /* skip parameters */
		hi->te = true;
		hi->chunked = eq_ci(v + t0, t1 - t0, "chunked");
	}
}

/* Walk the header section h[0..hl) (start line included, ends with the empty line). Each
 * line is visited once; folded continuation lines belong to the preceding field. */
static void parse_headers(const uint8_t *h, size_t hl, bool sip, hdrinfo_t *hi)
{
	memset(hi, 0, sizeof *hi);
	const uint8_t *lf = memchr(h, '\n', hl);
	size_t i = lf ? (size_t)(lf - h) + 1 : hl;      /* skip the start line */
	while (i < hl) {
		size_t s = i;
		const uint8_t *e = memchr(h + i, '\n', hl - i);
		size_t le = e ? (size_t)(e - h) : hl;       /* LF position (or end) */
		size_t next = le < hl ? le + 1 : hl;
		size_t ce = le;
		if (ce > s && h[ce - 1] == '\r') ce--;
		if (ce == s) break;                         /* the empty line */
		/* continuation lines extend this field's value */
		size_t vend = le;
		while (next < hl && is_ws(h[next])) {
			const uint8_t *e2 = memchr(h + next, '\n', hl - next);
			vend = e2 ? (size_t)(e2 - h) : hl;
			next = vend < hl ? vend + 1 : hl;
		}
		i = next;
		if (is_ws(h[s])) continue;                  /* stray continuation: ignore */
		const uint8_t *colon = memchr(h + s, ':', ce - s);
		if (!colon) continue;                       /* malformed field: ignore */
		size_t ne = (size_t)(colon - h);
		while (ne > s && is_ws(h[ne - 1])) ne--;
		const uint8_t *v = colon + 1;
		size_t vn = vend - (size_t)(v - h);
		if (eq_ci(h + s, ne - s, "content-length") || (sip && eq_ci(h + s, ne - s, "l")))
			parse_cl(v, vn, hi);
		else if (!sip && eq_ci(h + s, ne - s, "transfer-encoding"))
			parse_te(v, vn, hi);
	}
}

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

/* ------------------------------------------------------------------ the parser */

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

static void reset_msg(app_dir_state_t *d)
{
	d->state = S_IDLE;
	d->msg_len = 0;
	d->need = 0;
	d->line = L_START;
	d->first_line = 0;
	d->kind = 0;
	d->status = 0;
	d->after = AFTER_NONE;
}

/* Give up framing: emit whatever is not emitted yet (buffer, then the rest of the push) as
 * raw and stay raw. */
static void fallback(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	size_t from = c->pos;
	if (d->len == 0 && d->state != S_IDLE && d->state != S_KA) from = c->ms;
	if (d->len) {
		do_emit(c->emit, c->ctx, c->dir, TLS_APP_RAW, d->buf, d->len, false);
		d->len = 0;
	}
	do_emit(c->emit, c->ctx, c->dir, TLS_APP_RAW, c->data + from, c->n - from, false);
	reset_msg(d);
	d->proto = P_RAW;
	d->n_fallbacks++;
	c->pos = c->n;
}

/* Account k more bytes of the current message (copying them when the message is buffered).
 * false: beyond max_message or out of memory — the caller falls back to raw. */
static bool take(pctx_t *c, size_t k)
{
	app_dir_state_t *d = c->d;
	if (k > (uint64_t)max_msg(c->f) - d->msg_len) return false;
	if (d->len && append(c->f, d, c->data + c->pos, k) < 0) { c->rc = -1; return false; }
	d->msg_len += k;
	c->pos += k;
	return true;
}

static const uint8_t *cur_msg(const pctx_t *c)
{
	return c->d->len ? c->d->buf : c->data + c->ms;
}

/* The current message is complete: emit it (from the caller's data when possible). */
static void finish(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	do_emit(c->emit, c->ctx, c->dir, app_of(d), cur_msg(c), (size_t)d->msg_len, false);
	d->len = 0;
	if (d->cap > AF_KEEP_BUFFER) release(c->f, d);     /* a big message's buffer is not kept idle */
	int after = d->after;
	reset_msg(d);
	if (after == AFTER_RAW) {
		/* 101 / CONNECT tunnel: both directions carry another protocol from now on; the
		 * other direction emits anything it still holds as raw on its next push/flush. */
		app_dir_state_t *o = &c->f->dir[!c->dir];
		d->proto = P_RAW;
		o->proto = P_RAW;
		o->state = S_IDLE;
		o->msg_len = 0;
	}
}

/* Header section complete (cur_msg(c)[0..msg_len)): decide how the body is delimited.
 * Returns 0 (message complete), 1 (body follows, state set) or -1 (cannot frame). */
static int on_headers(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	hdrinfo_t hi;
	size_t hl = (size_t)d->msg_len;
	uint64_t room = (uint64_t)max_msg(c->f) - hl;
	parse_headers(cur_msg(c), hl, d->proto == P_SIP, &hi);
	if (d->proto == P_SIP) {
		if (hi.cl < 0) return -1;
		if (hi.cl == 0) { d->n_missing_length++; return 0; }  /* RFC 3261 §18.3: required */
		if (hi.clv > room) return -1;
		d->need = hi.clv;
		d->state = S_BODY;
		return hi.clv ? 1 : 0;
	}
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

/* Length of the keep-alive at p[0..n) (p[0] is CR or LF); 0 = incomplete, wait. */
static size_t ka_len(const uint8_t *p, size_t n)
{
	if (p[0] == '\n') return 1;
	if (n < 2) return 0;
	if (p[1] != '\n') return 1;
	if (n < 3) return 2;                  /* "\r\n" at the end of a record: a pong, now */
	if (p[2] != '\r') return 2;
	if (n < 4) return 0;                  /* "\r\n\r": the LF is surely coming */
	return p[3] == '\n' ? 4 : 2;
}

/* Find the end of the current header/trailer line in data[pos..n). Returns the bytes up to
 * and including the LF (or all when there is none: *eol false); *empty tells whether the
 * line that ended was empty (the end of the section). d->line carries the state across
 * pushes so no byte is scanned twice. */
static size_t scan_line(app_dir_state_t *d, const uint8_t *p, size_t avail, bool *eol,
                        bool *empty)
{
	const uint8_t *lf = memchr(p, '\n', avail);
	*empty = false;
	if (!lf) {
		*eol = false;
		if (avail)
			d->line = (d->line == L_START && avail == 1 && p[0] == '\r') ? L_CR : L_TEXT;
		return avail;
	}
	size_t b = (size_t)(lf - p);
	*empty = (d->line == L_START && (b == 0 || (b == 1 && p[0] == '\r'))) ||
	         (d->line == L_CR && b == 0);
	d->line = L_START;
	*eol = true;
	return b + 1;
}

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
				do_emit(c->emit, c->ctx, c->dir, TLS_APP_RAW, d->buf, d->len, false);
				d->len = 0;
			}
			reset_msg(d);
			d->proto = P_RAW;
			do_emit(c->emit, c->ctx, c->dir, TLS_APP_RAW, p + pos, n - pos, false);
			c->pos = n;
			return;
		}
		switch (d->state) {
		case S_IDLE: {
			uint8_t ch = p[pos];
			if (ch == '\r' || ch == '\n') {
				size_t k = ka_len(p + pos, n - pos);
				if (!k) {
					if (append(c->f, d, p + pos, n - pos) < 0) { c->rc = -1; fallback(c); return; }
					d->state = S_KA;
					c->pos = n;
				} else {
					do_emit(c->emit, c->ctx, c->dir, app_of(d), p + pos, k, true);
					c->pos += k;
				}
				break;
			}
			if (!is_tchar(ch)) { fallback(c); return; }  /* cannot start a start line */
			reset_msg(d);
			d->state = S_HDR;
			d->first_line = 1;
			d->line = L_TEXT;
			c->ms = pos;
			break;
		}
		case S_KA: {
			uint8_t t[8];
			size_t m = d->len, k2 = n - pos < 4 ? n - pos : 4;
			memcpy(t, d->buf, m);                   /* m <= 3 */
			memcpy(t + m, p + pos, k2);
			size_t k = ka_len(t, m + k2);
			if (!k) {                               /* still partial (the push ended) */
				if (append(c->f, d, p + pos, k2) < 0) { c->rc = -1; fallback(c); return; }
				c->pos += k2;
				break;
			}
			if (k <= m) {
				do_emit(c->emit, c->ctx, c->dir, app_of(d), d->buf, k, true);
				memmove(d->buf, d->buf + k, m - k);
				d->len = m - k;
			} else {
				if (append(c->f, d, p + pos, k - m) < 0) { c->rc = -1; fallback(c); return; }
				c->pos += k - m;
				do_emit(c->emit, c->ctx, c->dir, app_of(d), d->buf, k, true);
				d->len = 0;
			}
			if (!d->len) d->state = S_IDLE;
			break;
		}
		case S_HDR: {
			bool eol, empty;
			size_t k = scan_line(d, p + pos, n - pos, &eol, &empty);
			if (d->msg_len + k > hdr_limit(c->f) || !take(c, k)) {
				fallback(c);
				return;
			}
			if (!eol) break;
			if (d->first_line) {
				const uint8_t *m = cur_msg(c);
				size_t ll = (size_t)d->msg_len - 1;
				startline_t sl;
				if (ll && m[ll - 1] == '\r') ll--;
				if (classify(m, ll, true, &sl) != M_OK || sl.proto != d->proto) {
					fallback(c);
					return;
				}
				d->first_line = 0;
				d->kind = (uint8_t)sl.kind;
				d->status = (uint16_t)sl.status;
				if (sl.kind == K_REQ && d->proto == P_HTTP) q_push(d, sl.method);
			}
			if (!empty) break;
			int r = on_headers(c);
			if (r < 0) { fallback(c); return; }
			if (r == 0) finish(c);
			break;
		}
		case S_BODY: {
			uint64_t k = d->need < n - pos ? d->need : n - pos;
			if (!take(c, (size_t)k)) { fallback(c); return; }
			d->need -= k;
			if (!d->need) finish(c);
			break;
		}
		case S_CH_SIZE0:
		case S_CH_SIZE: {
			uint8_t ch = p[pos];
			int hv = hexval(ch);
			if (hv >= 0) {
				if (d->state == S_CH_SIZE0) d->need = 0;
				if (d->need > (UINT64_MAX >> 4)) { fallback(c); return; }
				d->need = d->need << 4 | (uint64_t)hv;
				if (d->need > max_msg(c->f)) { fallback(c); return; }
				if (!take(c, 1)) { fallback(c); return; }
				d->state = S_CH_SIZE;
				break;
			}
			if (d->state == S_CH_SIZE0) { fallback(c); return; }
			if (ch == ';' || ch == ' ' || ch == '\t' || ch == '\r') {
				d->state = S_CH_EXT;
				break;
			}
			if (ch != '\n' || !take(c, 1)) { fallback(c); return; }
			goto size_line_done;
		}
		case S_CH_EXT: {
			const uint8_t *lf = memchr(p + pos, '\n', n - pos);
			size_t k = lf ? (size_t)(lf - (p + pos)) + 1 : n - pos;
			if (!take(c, k)) { fallback(c); return; }
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
			if (!take(c, (size_t)k)) { fallback(c); return; }
			d->need -= k;
			if (!d->need) d->state = S_CH_DATA_CR;
			break;
		}
		case S_CH_DATA_CR:
		case S_CH_DATA_LF: {
			uint8_t ch = p[pos];
			if (ch == '\r' && d->state == S_CH_DATA_CR) {
				if (!take(c, 1)) { fallback(c); return; }
				d->state = S_CH_DATA_LF;
			} else if (ch == '\n') {
				if (!take(c, 1)) { fallback(c); return; }
				d->state = S_CH_SIZE0;
			} else {
				fallback(c);
				return;
			}
			break;
		}
		case S_TRAILER: {
			bool eol, empty;
			size_t k = scan_line(d, p + pos, n - pos, &eol, &empty);
			if (!take(c, k)) { fallback(c); return; }
			if (eol && empty) finish(c);
			break;
		}
		case S_CLOSE:
			if (!take(c, n - pos)) { fallback(c); return; }
			break;
		default:
			fallback(c);
			return;
		}
	}
	/* an unfinished message that started in this push: keep its bytes */
	if (d->state != S_IDLE && d->state != S_KA && d->len == 0 && d->msg_len) {
		if (append(c->f, d, p + c->ms, n - c->ms) < 0) {
			c->rc = -1;
			c->pos = c->ms;                         /* nothing of it was emitted yet */
			d->state = S_IDLE;
			fallback(c);
		}
	}
}

static int run(app_framing_t *f, int dir, const uint8_t *data, size_t len, app_emit_fn emit,
               void *ctx)
{
	pctx_t c = { .f = f, .d = &f->dir[dir], .dir = dir, .data = data, .n = len,
	             .emit = emit, .ctx = ctx };
	parse(&c);
	return c.rc;
}

/* ------------------------------------------------------------------ API */

void app_framing_init(app_framing_t *f, uint32_t max_message)
{
	memset(f, 0, sizeof *f);
	f->max_message = max_message ? max_message : AF_DEFAULT_MAX;
}

/* After a gap: offset of the first line in p[0..n) that is a complete SIP/HTTP start
 * line (at 0 only if the gap ended exactly on a message boundary), or n. */
static size_t resync_point(const app_framing_t *f, int dir, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && p[i - 1] != '\n') continue;
		if (p[i] == '\r' || p[i] == '\n') continue;
		const uint8_t *lf = memchr(p + i, '\n', n - i);
		if (!lf) return n;
		int pr = detect(f, dir, p + i, (size_t)(lf - p) - i + 1);
		if (pr == P_SIP || pr == P_HTTP) return i;
	}
	return n;
}

void app_framing_gap(app_framing_t *f, int dir)
{
	if (!f || (dir != TLS_DIR_C2S && dir != TLS_DIR_S2C)) return;
	app_framing_flush(f, dir, NULL, NULL);
	f->dir[dir].resync = 1;
}

int app_framing_push(app_framing_t *f, int dir, const uint8_t *data, size_t len,
                     app_emit_fn emit, void *ctx)
{
	if (!f || (dir != TLS_DIR_C2S && dir != TLS_DIR_S2C) || !data || !len) return 0;
	app_dir_state_t *d = &f->dir[dir];
	if (d->resync) {
		size_t k = resync_point(f, dir, data, len);
		if (k) do_emit(emit, ctx, dir, TLS_APP_RAW, data, k, false);
		if (k == len) return 0;                  /* still looking */
		d->resync = 0;
		data += k;
		len -= k;
	}
	if (d->proto != P_UNDECIDED) return run(f, dir, data, len, emit, ctx);

	size_t win = detect_max(f);
	if (d->len == 0) {
		int pr = detect(f, dir, data, len < win ? len : win);
		if (pr >= 0) {
			d->proto = (uint8_t)pr;
			return run(f, dir, data, len, emit, ctx);
		}
		if (append(f, d, data, len) == 0) return 0;  /* len < win: wait for more */
		d->proto = P_RAW;
		run(f, dir, data, len, emit, ctx);
		return -1;
	}
	/* the first line is spread over several records: extend the detection window */
	size_t tk = win > d->len ? win - d->len : 0;
	if (tk > len) tk = len;
	int rc = 0;
	if (append(f, d, data, tk) < 0) {
		d->proto = P_RAW;                        /* emits the buffer, then data */
		run(f, dir, data, len, emit, ctx);
		return -1;
	}
	int pr = detect(f, dir, d->buf, d->len);
	if (pr < 0) {
		if (tk == len) return 0;
		pr = P_RAW;                              /* not reached: the window is full */
	}
	d->proto = (uint8_t)pr;
	/* parse the held bytes as a push of their own (the buffer is swapped out so the parser
	 * can keep a partial message in a fresh one), then the rest of this push */
	uint8_t *tmp = d->buf;
	size_t tl = d->len, tc = d->cap;
	d->buf = NULL;
	d->len = d->cap = 0;
	rc |= run(f, dir, tmp, tl, emit, ctx);
	if (!d->buf) {
		wipe(tmp, tl);
		d->buf = tmp;
		d->cap = tc;
	} else {
		wipe(tmp, tc);
		free(tmp);
		if (f->budget_used) *f->budget_used -= tc;
	}
	if (tk < len) rc |= run(f, dir, data + tk, len - tk, emit, ctx);
	return rc;
}

void app_framing_flush(app_framing_t *f, int dir, app_emit_fn emit, void *ctx)
{
	if (!f || (dir != TLS_DIR_C2S && dir != TLS_DIR_S2C)) return;
	app_dir_state_t *d = &f->dir[dir];
	if (d->len) {
		tls_app_t app = (d->proto == P_HTTP && d->state == S_CLOSE) ? TLS_APP_HTTP : TLS_APP_RAW;
		do_emit(emit, ctx, dir, app, d->buf, d->len, false);
	}
	/* the request queue survives: it belongs to responses still to come on the other side */
	uint64_t qh = d->q_head, qc = d->q_connect;
	uint8_t qn = d->q_n;
	uint32_t nm = d->n_missing_length, nf = d->n_fallbacks;
	release(f, d);
	memset(d, 0, sizeof *d);
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

void app_framing_free(app_framing_t *f)
{
	if (!f) return;
	release(f, &f->dir[0]);
	release(f, &f->dir[1]);
	uint32_t mm = f->max_message;
	memset(f, 0, sizeof *f);
	f->max_message = mm;
}
