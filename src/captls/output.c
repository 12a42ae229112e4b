/*
 * output.c — captls's stdout records: text for people, JSON Lines for programs.
 *
 * JSON follows design.md's `captls` contract field by field, in the same order and with
 * the same formatting json-c produced before (JSON_C_TO_STRING_PLAIN: no spaces; "ts"
 * printed "%.6f"): the schema is fixed, so a small writer of our own does it (json-c
 * spent 78 % of captls's time escaping the base64 string, which needs no escaping).
 * "data" is standard base64, so concatenating a flow direction's "data" fields yields
 * the exact plaintext byte stream; the only strings that can hold arbitrary bytes (SNI)
 * go through enc_json_string (RFC 8259, invalid UTF-8 as U+FFFD). Text shows one header
 * line per message followed by the plaintext with CRLF shown as line breaks and every
 * other non-printable byte escaped as \xHH (and '\' as "\\"), so binary bodies cannot
 * mess up a terminal.
 *
 * Records are assembled in one fixed buffer (OUT_BUF bytes, allocated once) and handed
 * to stdio in large blocks; a message larger than the buffer streams through it in
 * chunks. With line_flush (live captures) every record is written and flushed at once.
 *
 * The engine's counters for --stats are printed here too (the same kind of formatting).
 *
 * Write errors (EPIPE when `| head` exits, ENOSPC) are latched: the first failure is
 * remembered, later records are skipped, and captls stops reading input.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "output.h"
#include "enc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#define OUT_BUF (256u << 10)
#define OUT_SLACK 4096u             /* room always kept for one record's fixed fields */

struct out_ctx {
	FILE *f;
	out_format_t fmt;
	bool line_flush;
	int err;            /* errno of the first failed write */
	char *buf;
	size_t len;
	time_t ts_sec;      /* text: the second last formatted, and its date string */
	char ts_date[32];
};

/* ---------------------------------------------------------------- helpers */

size_t base64_len(size_t len) { return (len + 2) / 3 * 4 + 1; }

size_t base64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t n = enc_base64(in, len, out);
	out[n] = 0;
	return n;
}

static const char *ip_str(int family, const uint8_t *ip, char *buf, size_t buflen)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, ip, buf, (socklen_t)buflen))
		snprintf(buf, buflen, "?");
	return buf;
}

char *fmt_endpoint(int family, const uint8_t *ip, uint16_t port, char *buf, size_t buflen)
{
	char a[INET6_ADDRSTRLEN];
	ip_str(family, ip, a, sizeof a);
	snprintf(buf, buflen, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, (unsigned)port);
	return buf;
}

const char *app_name(tls_app_t a)
{
	switch (a) {
	case TLS_APP_SIP: return "sip";
	case TLS_APP_HTTP: return "http";
	default: return "raw";
	}
}

const char *suite_label(uint16_t suite)
{
	static _Thread_local char buf[8];
	if (!suite) return NULL;
	const char *n = tls_suite_name(suite);
	if (n) return n;
	snprintf(buf, sizeof buf, "0x%04X", (unsigned)suite);
	return buf;
}

/* "2024-01-31 12:00:00.123456" (UTC); the date part is cached per second. */
static void fmt_ts(out_ctx_t *o, double ts, char *buf, size_t buflen)
{
	if (!(ts >= 0) || ts > 253402300799.0) { snprintf(buf, buflen, "%.6f", ts); return; }
	time_t t = (time_t)ts;                      /* truncation = floor for ts >= 0 */
	unsigned us = (unsigned)((ts - (double)t) * 1e6 + 0.5);
	if (us >= 1000000) { t++; us -= 1000000; }
	if (t != o->ts_sec || !o->ts_date[0]) {
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(o->ts_date, sizeof o->ts_date, "%Y-%m-%d %H:%M:%S", &tm);
		o->ts_sec = t;
	}
	snprintf(buf, buflen, "%s.%06u", o->ts_date, us % 1000000);
}

/* ---------------------------------------------------------------- buffer */

out_ctx_t *out_new(FILE *f, out_format_t fmt, bool line_flush)
{
	out_ctx_t *o = calloc(1, sizeof *o);
	if (!o) return NULL;
	o->buf = malloc(OUT_BUF);
	if (!o->buf) { free(o); return NULL; }
	o->f = f;
	o->fmt = fmt;
	o->line_flush = line_flush;
	return o;
}

/* Hand the buffer to stdio; latch the first error. */
static void drain(out_ctx_t *o)
{
	if (o->len && !o->err) {
		errno = 0;
		if (fwrite(o->buf, 1, o->len, o->f) != o->len) o->err = errno ? errno : EIO;
	}
	o->len = 0;
}

/* Make room for n more bytes (n <= OUT_BUF). */
static char *room(out_ctx_t *o, size_t n)
{
	if (OUT_BUF - o->len < n) drain(o);
	return o->buf + o->len;
}

static void put(out_ctx_t *o, const char *s, size_t n)
{
	while (n) {
		size_t k = OUT_BUF - o->len;
		if (!k) { drain(o); continue; }
		if (k > n) k = n;
		memcpy(o->buf + o->len, s, k);
		o->len += k;
		s += k;
		n -= k;
	}
}

static void puts_(out_ctx_t *o, const char *s) { put(o, s, strlen(s)); }

static void bprintf(out_ctx_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(out_ctx_t *o, const char *fmt, ...)
{
	va_list ap;
	room(o, OUT_SLACK);
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, OUT_BUF - o->len, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if ((size_t)n < OUT_BUF - o->len) { o->len += (size_t)n; return; }
	/* longer than the free space (never for our records): format on the heap */
	char *p = NULL;
	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n >= 0) put(o, p, (size_t)n);
	free(p);
}

/* A JSON string value ("..." with RFC 8259 escaping) or null. */
static void json_str(out_ctx_t *o, const char *s)
{
	if (!s) { put(o, "null", 4); return; }
	size_t n = strlen(s);
	if (n > (OUT_BUF - 2) / 6) n = (OUT_BUF - 2) / 6;   /* our strings are short */
	char *p = room(o, 6 * n + 2);
	*p++ = '"';
	p += enc_json_string((const uint8_t *)s, n, p);
	*p++ = '"';
	o->len = (size_t)(p - o->buf);
}

/* End of record: flush when asked, latch stream errors. */
static int check(out_ctx_t *o)
{
	if (o->line_flush) {
		drain(o);
		if (!o->err) fflush(o->f);
	}
	if (!o->err && ferror(o->f)) o->err = errno ? errno : EIO;
	return o->err ? -1 : 0;
}

/* ---------------------------------------------------------------- records */

static void put_base64(out_ctx_t *o, const uint8_t *d, size_t n)
{
	while (n) {
		size_t space = OUT_BUF - o->len;
		if (space < 4096) { drain(o); space = OUT_BUF; }
		size_t k = space / 4 * 3;           /* a multiple of 3 unless it is the end */
		if (k >= n) k = n;
		o->len += enc_base64(d, k, o->buf + o->len);
		d += k;
		n -= k;
	}
}

/* Text: plaintext with CRLF as line breaks and other non-printables escaped. */
static void put_escaped(out_ctx_t *o, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; ) {
		size_t space = OUT_BUF - o->len;
		if (space < 4096) { drain(o); space = OUT_BUF; }
		size_t k = space / 4;
		if (k > n - i) k = n - i;
		o->len += enc_text(d, n, i, i + k, o->buf + o->len);
		i += k;
	}
	if (n == 0 || d[n - 1] != '\n') put(o, "\n", 1);
}

int out_message(out_ctx_t *o, const tls_message_t *m)
{
	if (o->err) return -1;
	const tls_endpoints_t *ep = m->ep;
	bool c2s = m->dir == TLS_DIR_C2S;
	const uint8_t *sip = c2s ? ep->client_ip : ep->server_ip, *dip = c2s ? ep->server_ip : ep->client_ip;
	uint16_t sport = c2s ? ep->client_port : ep->server_port, dport = c2s ? ep->server_port : ep->client_port;
	const char *ver = tls_version_name(m->tls_version), *su = suite_label(m->suite);

	if (o->fmt == OUT_JSON) {
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
		bprintf(o, "{\"type\":\"message\",\"flow\":%llu,\"ts\":%.6f,\"src\":\"%s\",\"sport\":%u,"
		        "\"dst\":\"%s\",\"dport\":%u,\"dir\":\"%s\",\"tls\":",
		        (unsigned long long)m->flow_id, m->ts, ip_str(ep->family, sip, a, sizeof a),
		        (unsigned)sport, ip_str(ep->family, dip, b, sizeof b), (unsigned)dport, c2s ? "c2s" : "s2c");
		json_str(o, ver);
		puts_(o, ",\"suite\":");
		json_str(o, su);
		bprintf(o, ",\"app\":\"%s\",\"len\":%zu,\"data\":\"", app_name(m->app), m->len);
		put_base64(o, m->data, m->len);
		if (m->keepalive) puts_(o, "\",\"keepalive\":true}\n");
		else put(o, "\"}\n", 3);
		return check(o);
	}

	char tsb[64], s[64], d[64];
	fmt_ts(o, m->ts, tsb, sizeof tsb);
	bprintf(o, "[%s] flow %llu %s %s -> %s %s %s %s %zu bytes%s\n", tsb,
	        (unsigned long long)m->flow_id, c2s ? "c2s" : "s2c",
	        fmt_endpoint(ep->family, sip, sport, s, sizeof s),
	        fmt_endpoint(ep->family, dip, dport, d, sizeof d),
	        ver ? ver : "TLS?", su ? su : "-", app_name(m->app), m->len,
	        m->keepalive ? " (keep-alive)" : "");
	put_escaped(o, m->data, m->len);
	put(o, "\n", 1);
	return check(o);
}

static void json_u64(out_ctx_t *o, const char *key, uint64_t v)
{
	bprintf(o, ",\"%s\":%llu", key, (unsigned long long)v);
}

static void json_bool(out_ctx_t *o, const char *key, bool v)
{
	bprintf(o, ",\"%s\":%s", key, v ? "true" : "false");
}

static void json_key_str(out_ctx_t *o, const char *key, const char *v)
{
	bprintf(o, ",\"%s\":", key);
	json_str(o, v);
}

int out_session(out_ctx_t *o, const tls_session_info_t *si)
{
	if (o->err) return -1;
	const tls_endpoints_t *ep = si->ep;
	char c[64], s[64];
	fmt_endpoint(ep->family, ep->client_ip, ep->client_port, c, sizeof c);
	fmt_endpoint(ep->family, ep->server_ip, ep->server_port, s, sizeof s);
	const char *ver = tls_version_name(si->tls_version), *su = suite_label(si->suite);
	const char *key = tls_key_kind_name(si->key);
	const char *reason = si->reason == TLS_REASON_NONE ? NULL : tls_reason_name(si->reason);

	if (o->fmt == OUT_JSON) {
		bprintf(o, "{\"type\":\"session\",\"flow\":%llu", (unsigned long long)si->flow_id);
		json_key_str(o, "client", c);
		json_key_str(o, "server", s);
		json_key_str(o, "tls", ver);
		json_key_str(o, "suite", su);
		json_key_str(o, "sni", si->sni);
		json_bool(o, "resumed", si->resumed);
		json_bool(o, "ems", si->ems);
		json_bool(o, "etm", si->etm);
		json_key_str(o, "key", key);
		json_bool(o, "decrypted", si->decrypted);
		json_key_str(o, "reason", reason);
		json_u64(o, "msgs_c2s", si->msgs[TLS_DIR_C2S]);
		json_u64(o, "msgs_s2c", si->msgs[TLS_DIR_S2C]);
		json_u64(o, "bytes_c2s", si->bytes[TLS_DIR_C2S]);
		json_u64(o, "bytes_s2c", si->bytes[TLS_DIR_S2C]);
		json_u64(o, "gaps_c2s", si->gaps[TLS_DIR_C2S]);
		json_u64(o, "gaps_s2c", si->gaps[TLS_DIR_S2C]);
		json_u64(o, "lost_bytes_c2s", si->lost_bytes[TLS_DIR_C2S]);
		json_u64(o, "lost_bytes_s2c", si->lost_bytes[TLS_DIR_S2C]);
		put(o, "}\n", 2);
		return check(o);
	}

	/* what the handshake did not show is left out, not printed as "TLS?" / "-" */
	bprintf(o, "session %llu %s -> %s", (unsigned long long)si->flow_id, c, s);
	if (ver) bprintf(o, " %s", ver);
	if (su) bprintf(o, " %s", su);
	if (!ver && !su) puts_(o, " (handshake not seen)");
	if (si->sni) bprintf(o, " sni=%s", si->sni);
	if (si->resumed) puts_(o, " resumed");
	if (si->ems) puts_(o, " ems");
	if (si->etm) puts_(o, " etm");
	if (key) bprintf(o, " key=%s", key);
	if (si->decrypted)
		puts_(o, ": decrypted");
	else
		bprintf(o, ": NOT decrypted (%s)", reason ? reason : "reason unknown");
	if (si->decrypted && reason) bprintf(o, " (then %s)", reason);
	bprintf(o, ", c2s %llu msgs %llu bytes, s2c %llu msgs %llu bytes\n",
	        (unsigned long long)si->msgs[TLS_DIR_C2S], (unsigned long long)si->bytes[TLS_DIR_C2S],
	        (unsigned long long)si->msgs[TLS_DIR_S2C], (unsigned long long)si->bytes[TLS_DIR_S2C]);
	if (si->gaps[0] || si->gaps[1])
		bprintf(o, "session %llu lost: c2s %llu bytes in %llu gaps, s2c %llu bytes in %llu gaps\n",
		        (unsigned long long)si->flow_id,
		        (unsigned long long)si->lost_bytes[TLS_DIR_C2S], (unsigned long long)si->gaps[TLS_DIR_C2S],
		        (unsigned long long)si->lost_bytes[TLS_DIR_S2C], (unsigned long long)si->gaps[TLS_DIR_S2C]);
	return check(o);
}

int out_flush(out_ctx_t *o)
{
	drain(o);
	errno = 0;
	if (fflush(o->f) != 0 && !o->err) o->err = errno ? errno : EIO;
	return check(o);
}

int out_error(const out_ctx_t *o) { return o->err; }

void out_free(out_ctx_t *o)
{
	if (!o) return;
	free(o->buf);
	free(o);
}

void out_print_engine_stats(FILE *f, tls_engine_t *e)
{
	tls_engine_stats_t st;
	tls_engine_get_stats(e, &st);
	fprintf(f, "captls: packets %llu (malformed %llu, non-TCP %llu), %llu bytes\n",
	        (unsigned long long)st.packets, (unsigned long long)st.packets_malformed,
	        (unsigned long long)st.packets_non_tcp, (unsigned long long)st.bytes_in);
	fprintf(f, "captls: flows %llu created, %llu closed, %llu evicted idle, %llu evicted at the limit, %llu active\n",
	        (unsigned long long)st.flows_created, (unsigned long long)st.flows_closed,
	        (unsigned long long)st.flows_evicted_timeout, (unsigned long long)st.flows_evicted_limit,
	        (unsigned long long)st.flows_active);
	fprintf(f, "captls: sessions %llu, decrypted %llu", (unsigned long long)st.sessions,
	        (unsigned long long)st.sessions_decrypted);
	for (int r = 1; r < TLS_REASON__COUNT; r++)
		if (st.sessions_failed[r])
			fprintf(f, ", %s %llu", tls_reason_name((tls_reason_t)r),
			        (unsigned long long)st.sessions_failed[r]);
	fputc('\n', f);
	fprintf(f, "captls: records %llu, decrypted %llu, failed authentication %llu, oversize %llu\n",
	        (unsigned long long)st.records, (unsigned long long)st.records_decrypted,
	        (unsigned long long)st.records_auth_failed, (unsigned long long)st.records_oversize);
	fprintf(f, "captls: messages %llu, plaintext bytes %llu\n",
	        (unsigned long long)st.messages, (unsigned long long)st.plaintext_bytes);
	fprintf(f, "captls: reassembly: out of order %llu, retransmits %llu, dropped %llu, gaps %llu\n",
	        (unsigned long long)st.reasm_out_of_order, (unsigned long long)st.reasm_retransmits,
	        (unsigned long long)st.reasm_dropped, (unsigned long long)st.gaps);
	if (st.frag_fragments)
		fprintf(f, "captls: IP fragments %llu: datagrams %llu, timeouts %llu, overlaps %llu, duplicates %llu, "
		        "evicted %llu, dropped %llu\n", (unsigned long long)st.frag_fragments,
		        (unsigned long long)st.frag_datagrams, (unsigned long long)st.frag_timeouts,
		        (unsigned long long)st.frag_overlaps, (unsigned long long)st.frag_duplicates,
		        (unsigned long long)st.frag_evicted, (unsigned long long)st.frag_dropped);
	fprintf(f, "captls: key log lines %llu (malformed %llu), resumptions %llu\n",
	        (unsigned long long)st.keylog_lines, (unsigned long long)st.keylog_malformed,
	        (unsigned long long)st.resumptions);
	if (st.ws_upgrades)
		fprintf(f, "captls: websocket: upgrades %llu, messages %llu (sip %llu), control %llu, unexpected %llu, "
		        "oversize %llu, inflated %llu, compressed %llu, cut %llu\n",
		        (unsigned long long)st.ws_upgrades, (unsigned long long)st.ws_messages,
		        (unsigned long long)st.ws_sip, (unsigned long long)st.ws_control,
		        (unsigned long long)st.ws_unexpected, (unsigned long long)st.ws_oversize,
		        (unsigned long long)st.ws_inflated, (unsigned long long)st.ws_compressed, (unsigned long long)st.ws_gap_cut);
}
