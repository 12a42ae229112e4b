/*
 * app_common.c — the primitives of application framing that SIP and HTTP share (see
 * app_internal.h for the file layout; app_framing.c for what framing does and why).
 *
 * What: the per-direction message buffer and its memory account (grows geometrically up
 * to max_message, copied to a fresh block so old plaintext can be wiped), emitting, the
 * raw fallback, start-line classification (RFC 3261 §7.1 / RFC 9112 §3, §4) and protocol
 * detection, the header-field walk (Content-Length, compact "l", Transfer-Encoding, the
 * WebSocket upgrade fields),
 * line scanning that resumes across pushes, CRLF keep-alives (RFC 5626 §4.4.1), the
 * header-section and Content-Length body steps, and the search for a start line after a
 * gap.
 *
 * Why a file of its own: both protocol files need exactly these, and keeping them below
 * both (this file calls no other framing file) is what keeps the call graph one-way.
 * The input is hostile decrypted plaintext: every reader stays inside the pushed span or
 * its own buffer, numbers are parsed with overflow checks, each byte is looked at a
 * constant number of times.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* explicit_bzero */
#endif
#include <string.h>
#include <stdlib.h>
#include <stdint.h>
#include "app_internal.h"

/* ------------------------------------------------------------------ utilities */

void af_wipe(void *p, size_t n)
{
	if (p && n) explicit_bzero(p, n);    /* memset speed; never optimised away */
}

uint32_t af_max_msg(const app_framing_t *f)
{
	return f->max_message ? f->max_message : AF_DEFAULT_MAX;
}

size_t af_hdr_limit(const app_framing_t *f)
{
	uint32_t m = af_max_msg(f);
	return m < AF_HDR_LIMIT ? m : AF_HDR_LIMIT;
}

size_t af_detect_max(const app_framing_t *f)
{
	uint32_t m = af_max_msg(f);
	return m < AF_DETECT_MAX ? m : AF_DETECT_MAX;
}

/* Make room for `add` more bytes. Grows geometrically, never (much) beyond the limit the
 * callers enforce; copies to a fresh block so the old plaintext can be wiped. */
static int reserve(app_framing_t *f, app_dir_state_t *d, size_t add)
{
	if (add > SIZE_MAX - d->len) return -1;
	size_t want = d->len + add;
	if (want <= d->cap) return 0;
	if (want > UINT32_MAX) return -1;           /* buffers stay below 4 GiB (max_message is 32-bit) */
	size_t lim = af_max_msg(f), nc = d->cap ? d->cap : AF_MIN_CAP;
	while (nc < want && nc <= SIZE_MAX / 2) nc *= 2;
	if (nc > lim) nc = lim;
	if (nc < want) nc = want;
	if (nc > UINT32_MAX) nc = want;
	/* the engine's memory bound: growing past it means "cannot buffer", i.e. raw output */
	if (af_budget(f) && *af_budget(f) + (nc - d->cap) > af_budget_max(f)) return -1;
	uint8_t *nb = malloc(nc);
	if (!nb) return -1;
	if (af_budget(f)) *af_budget(f) += nc - d->cap;
	if (d->buf) {
		if (d->len) memcpy(nb, d->buf, d->len);
		af_wipe(d->buf, d->cap);
		free(d->buf);
	}
	d->buf = nb;
	d->cap = (uint32_t)nc;
	return 0;
}

int af_append(app_framing_t *f, app_dir_state_t *d, const uint8_t *p, size_t n)
{
	if (!n) return 0;
	if (reserve(f, d, n) < 0) return -1;
	memcpy(d->buf + d->len, p, n);
	d->len += n;
	return 0;
}

void af_release(app_framing_t *f, app_dir_state_t *d)
{
	if (af_budget(f)) *af_budget(f) -= d->cap;
	if (d->buf) {
		af_wipe(d->buf, d->cap);
		free(d->buf);
	}
	d->buf = NULL;
	d->len = d->cap = 0;
}

void af_emit(app_emit_fn emit, void *ctx, int dir, tls_app_t app, const uint8_t *p, size_t n, bool ka)
{
	if (emit && n) emit(ctx, dir, app, p, n, ka);
}

tls_app_t af_app_of(const app_dir_state_t *d)
{
	return d->proto == P_SIP ? TLS_APP_SIP : d->proto == P_HTTP ? TLS_APP_HTTP : TLS_APP_RAW;
}

static bool eq_ci(const uint8_t *p, size_t n, const char *s)
{
	size_t l = strlen(s);
	if (n != l) return false;
	for (size_t i = 0; i < n; i++)
		if (af_lower(p[i]) != (uint8_t)s[i]) return false;
	return true;
}

/* ------------------------------------------------------------------ start line */
/* Literal at p[i..]: M_OK, M_NEED (prefix matches but the input ends), M_FAIL. */
static int lit(const uint8_t *p, size_t n, size_t i, const char *s, bool ci)
{
	for (size_t j = 0; s[j]; j++) {
		if (i + j >= n) return M_NEED;
		uint8_t c = p[i + j];
		if ((ci ? af_lower(c) : c) != (uint8_t)(ci ? af_lower((uint8_t)s[j]) : s[j])) return M_FAIL;
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
	if (i < n && !af_is_ws(p[i])) return M_FAIL;
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
	while (i < n && af_is_tchar(p[i])) i++;
	if (i >= n) return M_NEED;
	if (i == 0 || p[i] != ' ') return M_FAIL;
	size_t mlen = i++, t0 = i;
	while (i < n && p[i] > 0x20 && p[i] != 0x7f) i++;
	if (i >= n) return M_NEED;
	if (i == t0 || p[i] != ' ') return M_FAIL;
	size_t t1 = i++;
	int r = m_version(p, n, &i, &sl->proto);
	if (r != M_OK) return r;
	while (i < n && af_is_ws(p[i])) i++;
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
int af_classify(const uint8_t *p, size_t n, bool complete, startline_t *sl)
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
int af_detect(const app_framing_t *f, int dir, const uint8_t *p, size_t n)
{
	size_t i = 0, win = af_detect_max(f);
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
		r = af_classify(p + i, e - i, true, &sl);
	} else {
		size_t e = n;
		if (p[e - 1] == '\r') e--;                  /* the CR of the line end: LF to come */
		r = af_classify(p + i, e - i, false, &sl);
		if (r == M_NEED) return n >= win ? P_RAW : -1;
	}
	return r == M_OK ? sl.proto : P_RAW;
}

/* ------------------------------------------------------------------ header fields */
/* Content-Length value: 1#DIGIT list, all equal (RFC 9110 §8.6), LWS anywhere. */
static void parse_cl(const uint8_t *v, size_t n, hdrinfo_t *hi)
{
	size_t j = 0;
	bool any = false;
	if (hi->cl < 0) return;
	for (;;) {
		while (j < n && af_is_lws(v[j])) j++;
		if (j >= n) break;
		if (v[j] == ',') { j++; continue; }
		if (v[j] < '0' || v[j] > '9') { hi->cl = -1; return; }
		uint64_t x = 0;
		while (j < n && v[j] >= '0' && v[j] <= '9') {
			unsigned dg = (unsigned)(v[j++] - '0');
			if (x > (UINT64_MAX - dg) / 10) { hi->cl = -1; return; }
			x = x * 10 + dg;
		}
		while (j < n && af_is_lws(v[j])) j++;
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
		while (j < n && (af_is_lws(v[j]) || v[j] == ',')) j++;
		if (j >= n) break;
		size_t t0 = j;
		while (j < n && af_is_tchar(v[j])) j++;
		size_t t1 = j;
		while (j < n && v[j] != ',') j++;        /* skip parameters */
		hi->te = true;
		hi->chunked = eq_ci(v + t0, t1 - t0, "chunked");
	}
}

/* Does the comma-separated list v[0..n) hold the token tok (case-insensitive; a
 * "/version" or ";parameters" after a token is ignored: "websocket", "Upgrade",
 * "permessage-deflate; client_max_window_bits")? */
static bool list_has(const uint8_t *v, size_t n, const char *tok)
{
	size_t j = 0;
	while (j < n) {
		while (j < n && (af_is_lws(v[j]) || v[j] == ',')) j++;
		size_t t0 = j;
		while (j < n && af_is_tchar(v[j])) j++;
		if (j > t0 && eq_ci(v + t0, j - t0, tok)) return true;
		while (j < n && v[j] != ',') j++;        /* skip version / parameters */
	}
	return false;
}

/* Walk the header section h[0..hl) (start line included, ends with the empty line). Each
 * line is visited once; folded continuation lines belong to the preceding field. */
void af_parse_headers(const uint8_t *h, size_t hl, bool sip, hdrinfo_t *hi)
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
		while (next < hl && af_is_ws(h[next])) {
			const uint8_t *e2 = memchr(h + next, '\n', hl - next);
			vend = e2 ? (size_t)(e2 - h) : hl;
			next = vend < hl ? vend + 1 : hl;
		}
		i = next;
		if (af_is_ws(h[s])) continue;                  /* stray continuation: ignore */
		const uint8_t *colon = memchr(h + s, ':', ce - s);
		if (!colon) continue;                       /* malformed field: ignore */
		size_t ne = (size_t)(colon - h);
		while (ne > s && af_is_ws(h[ne - 1])) ne--;
		const uint8_t *v = colon + 1;
		size_t vn = vend - (size_t)(v - h);
		if (eq_ci(h + s, ne - s, "content-length") || (sip && eq_ci(h + s, ne - s, "l")))
			parse_cl(v, vn, hi);
		else if (!sip && eq_ci(h + s, ne - s, "transfer-encoding"))
			parse_te(v, vn, hi);
		else if (!sip && eq_ci(h + s, ne - s, "upgrade"))
			hi->upg_ws |= list_has(v, vn, "websocket");
		else if (!sip && eq_ci(h + s, ne - s, "connection"))
			hi->conn_upg |= list_has(v, vn, "upgrade");
		else if (!sip && eq_ci(h + s, ne - s, "sec-websocket-protocol"))
			hi->ws_sip |= list_has(v, vn, "sip");
		else if (!sip && eq_ci(h + s, ne - s, "sec-websocket-extensions"))
			hi->ws_deflate |= list_has(v, vn, "permessage-deflate");
	}
}
/* ------------------------------------------------------------------ messages */

void af_reset_msg(app_dir_state_t *d)
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
void af_fallback(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	size_t from = c->pos;
	if (d->len == 0 && d->state != S_IDLE && d->state != S_KA) from = c->ms;
	if (d->len) {
		af_emit(c->emit, c->ctx, c->dir, TLS_APP_RAW, d->buf, d->len, false);
		d->len = 0;
	}
	af_emit(c->emit, c->ctx, c->dir, TLS_APP_RAW, c->data + from, c->n - from, false);
	af_reset_msg(d);
	d->proto = P_RAW;
	d->n_fallbacks++;
	c->pos = c->n;
}

/* Account k more bytes of the current message (copying them when the message is buffered).
 * false: beyond max_message or out of memory — the caller falls back to raw. */
bool af_take(pctx_t *c, size_t k)
{
	app_dir_state_t *d = c->d;
	if (k > (uint64_t)af_max_msg(c->f) - d->msg_len) return false;
	if (d->len && af_append(c->f, d, c->data + c->pos, k) < 0) { c->rc = -1; return false; }
	d->msg_len += k;
	c->pos += k;
	return true;
}

const uint8_t *af_cur_msg(const pctx_t *c)
{
	return c->d->len ? c->d->buf : c->data + c->ms;
}

/* The current message is complete: emit it (from the caller's data when possible). */
int af_finish(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	af_emit(c->emit, c->ctx, c->dir, af_app_of(d), af_cur_msg(c), (size_t)d->msg_len, false);
	d->len = 0;
	if (d->cap > AF_KEEP_BUFFER) af_release(c->f, d);     /* a big message's buffer is not kept idle */
	int after = d->after;
	af_reset_msg(d);
	return after;
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
size_t af_scan_line(app_dir_state_t *d, const uint8_t *p, size_t avail, bool *eol, bool *empty)
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

/* ------------------------------------------------------------------ resynchronisation */

/* After a gap: offset of the first line in p[0..n) that is a complete SIP/HTTP start
 * line (at 0 only if the gap ended exactly on a message boundary), or n. */
size_t af_resync_point(const app_framing_t *f, int dir, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && p[i - 1] != '\n') continue;
		if (p[i] == '\r' || p[i] == '\n') continue;
		const uint8_t *lf = memchr(p + i, '\n', n - i);
		if (!lf) return n;
		int pr = af_detect(f, dir, p + i, (size_t)(lf - p) - i + 1);
		if (pr == P_SIP || pr == P_HTTP) return i;
	}
	return n;
}


/* ------------------------------------------------------------------ shared steps */

void af_step_idle(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	const uint8_t *p = c->data;
	size_t n = c->n, pos = c->pos;
	uint8_t ch = p[pos];
	if (ch == '\r' || ch == '\n') {
		size_t k = ka_len(p + pos, n - pos);
		if (!k) {
			if (af_append(c->f, d, p + pos, n - pos) < 0) { c->rc = -1; af_fallback(c); return; }
			d->state = S_KA;
			c->pos = n;
		} else {
			af_emit(c->emit, c->ctx, c->dir, af_app_of(d), p + pos, k, true);
			c->pos += k;
		}
		return;
	}
	if (!af_is_tchar(ch)) { af_fallback(c); return; }  /* cannot start a start line */
	af_reset_msg(d);
	d->state = S_HDR;
	d->first_line = 1;
	d->line = L_TEXT;
	c->ms = pos;
}

void af_step_ka(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	const uint8_t *p = c->data;
	size_t n = c->n, pos = c->pos;
	uint8_t t[8];
	size_t m = d->len, k2 = n - pos < 4 ? n - pos : 4;
	memcpy(t, d->buf, m);                   /* m <= 3 */
	memcpy(t + m, p + pos, k2);
	size_t k = ka_len(t, m + k2);
	if (!k) {                               /* still partial (the push ended) */
		if (af_append(c->f, d, p + pos, k2) < 0) { c->rc = -1; af_fallback(c); return; }
		c->pos += k2;
		return;
	}
	if (k <= m) {
		af_emit(c->emit, c->ctx, c->dir, af_app_of(d), d->buf, k, true);
		memmove(d->buf, d->buf + k, m - k);
		d->len = m - k;
	} else {
		if (af_append(c->f, d, p + pos, k - m) < 0) { c->rc = -1; af_fallback(c); return; }
		c->pos += k - m;
		af_emit(c->emit, c->ctx, c->dir, af_app_of(d), d->buf, k, true);
		d->len = 0;
	}
	if (!d->len) d->state = S_IDLE;
}

int af_step_header_line(pctx_t *c, startline_t *sl)
{
	app_dir_state_t *d = c->d;
	bool eol, empty;
	memset(sl, 0, sizeof *sl);
	size_t k = af_scan_line(d, c->data + c->pos, c->n - c->pos, &eol, &empty);
	if (d->msg_len + k > af_hdr_limit(c->f) || !af_take(c, k)) {
		af_fallback(c);
		return -1;
	}
	if (!eol) return 0;
	if (d->first_line) {
		const uint8_t *m = af_cur_msg(c);
		size_t ll = (size_t)d->msg_len - 1;
		if (ll && m[ll - 1] == '\r') ll--;
		if (af_classify(m, ll, true, sl) != M_OK || sl->proto != d->proto) {
			memset(sl, 0, sizeof *sl);
			af_fallback(c);
			return -1;
		}
		d->first_line = 0;
		d->kind = (uint8_t)sl->kind;
		d->status = (uint16_t)sl->status;
	}
	return empty ? 1 : 0;
}

void af_step_body(pctx_t *c)
{
	app_dir_state_t *d = c->d;
	uint64_t k = d->need < c->n - c->pos ? d->need : c->n - c->pos;
	if (!af_take(c, (size_t)k)) { af_fallback(c); return; }
	d->need -= k;
	if (!d->need) af_finish(c);
}
