/*
 * output.c — captls's stdout records: text for people, JSON Lines for programs.
 *
 * JSON follows design.md's `captls` contract field by field (built with json-c so
 * escaping is always right; "data" is our own standard base64 so that concatenating a
 * flow direction's "data" fields yields the exact plaintext byte stream). Text shows one
 * header line per message followed by the plaintext with CRLF shown as line breaks and
 * every other non-printable byte escaped as \xHH (and '\' as "\\"), so binary bodies
 * cannot mess up a terminal.
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

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <json-c/json.h>

struct out_ctx {
	FILE *f;
	out_format_t fmt;
	bool line_flush;
	int err;            /* errno of the first failed write */
};

/* ---------------------------------------------------------------- helpers */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_len(size_t len) { return (len + 2) / 3 * 4 + 1; }

size_t base64_encode(const uint8_t *in, size_t len, char *out)
{
	char *o = out;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*o++ = B64[v >> 18];
		*o++ = B64[(v >> 12) & 63];
		*o++ = B64[(v >> 6) & 63];
		*o++ = B64[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*o++ = B64[v >> 18];
		*o++ = B64[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*o++ = B64[v >> 18];
		*o++ = B64[(v >> 12) & 63];
		*o++ = B64[(v >> 6) & 63];
		*o++ = '=';
	}
	*o = 0;
	return (size_t)(o - out);
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

/* "2024-01-31 12:00:00.123456" (UTC) */
static void fmt_ts(double ts, char *buf, size_t buflen)
{
	if (!(ts >= 0) || ts > 253402300799.0) { snprintf(buf, buflen, "%.6f", ts); return; }
	time_t t = (time_t)ts;                      /* truncation = floor for ts >= 0 */
	unsigned us = (unsigned)((ts - (double)t) * 1e6 + 0.5);
	if (us >= 1000000) { t++; us -= 1000000; }
	struct tm tm;
	gmtime_r(&t, &tm);
	char d[32];
	strftime(d, sizeof d, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, buflen, "%s.%06u", d, us % 1000000);
}

/* ---------------------------------------------------------------- writer */

out_ctx_t *out_new(FILE *f, out_format_t fmt, bool line_flush)
{
	out_ctx_t *o = calloc(1, sizeof *o);
	if (!o) return NULL;
	o->f = f;
	o->fmt = fmt;
	o->line_flush = line_flush;
	return o;
}

/* Check the stream after a record; latch the first error. */
static int check(out_ctx_t *o)
{
	if (!o->err && o->line_flush) fflush(o->f);
	if (!o->err && ferror(o->f)) o->err = errno ? errno : EIO;
	return o->err ? -1 : 0;
}

static int put_json(out_ctx_t *o, json_object *j)
{
	const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	errno = 0;
	if (!s) { if (!o->err) o->err = ENOMEM; }
	else if (fputs(s, o->f) == EOF || putc('\n', o->f) == EOF) { if (!o->err) o->err = errno ? errno : EIO; }
	json_object_put(j);
	return check(o);
}

static json_object *str_or_null(const char *s) { return s ? json_object_new_string(s) : NULL; }

/* Text: plaintext with CRLF as line breaks and other non-printables escaped. */
static void put_escaped(FILE *f, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = d[i];
		if (c == '\r' && i + 1 < n && d[i + 1] == '\n') continue;
		if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f && c != '\\')) putc(c, f);
		else if (c == '\\') fputs("\\\\", f);
		else if (c == '\r') fputs("\\r", f);
		else fprintf(f, "\\x%02x", c);
	}
	if (n == 0 || d[n - 1] != '\n') putc('\n', f);
}

int out_message(out_ctx_t *o, const tls_message_t *m)
{
	if (o->err) return -1;
	const tls_endpoints_t *ep = m->ep;
	bool c2s = m->dir == TLS_DIR_C2S;
	const uint8_t *sip = c2s ? ep->client_ip : ep->server_ip, *dip = c2s ? ep->server_ip : ep->client_ip;
	uint16_t sport = c2s ? ep->client_port : ep->server_port, dport = c2s ? ep->server_port : ep->client_port;

	if (o->fmt == OUT_JSON) {
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], tsb[40];
		char *data = malloc(base64_len(m->len));
		if (!data) { o->err = ENOMEM; return -1; }
		size_t dl = base64_encode(m->data, m->len, data);
		snprintf(tsb, sizeof tsb, "%.6f", m->ts);
		json_object *j = json_object_new_object();
		json_object_object_add(j, "type", json_object_new_string("message"));
		json_object_object_add(j, "flow", json_object_new_uint64(m->flow_id));
		json_object_object_add(j, "ts", json_object_new_double_s(m->ts, tsb));
		json_object_object_add(j, "src", json_object_new_string(ip_str(ep->family, sip, a, sizeof a)));
		json_object_object_add(j, "sport", json_object_new_int(sport));
		json_object_object_add(j, "dst", json_object_new_string(ip_str(ep->family, dip, b, sizeof b)));
		json_object_object_add(j, "dport", json_object_new_int(dport));
		json_object_object_add(j, "dir", json_object_new_string(c2s ? "c2s" : "s2c"));
		json_object_object_add(j, "tls", str_or_null(tls_version_name(m->tls_version)));
		json_object_object_add(j, "suite", str_or_null(suite_label(m->suite)));
		json_object_object_add(j, "app", json_object_new_string(app_name(m->app)));
		json_object_object_add(j, "len", json_object_new_uint64(m->len));
		json_object_object_add(j, "data", json_object_new_string_len(data, (int)dl));
		if (m->keepalive) json_object_object_add(j, "keepalive", json_object_new_boolean(1));
		free(data);
		return put_json(o, j);
	}

	char tsb[64], s[64], d[64];
	errno = 0;
	fmt_ts(m->ts, tsb, sizeof tsb);
	const char *ver = tls_version_name(m->tls_version), *su = suite_label(m->suite);
	fprintf(o->f, "[%s] flow %llu %s %s -> %s %s %s %s %zu bytes%s\n", tsb,
	        (unsigned long long)m->flow_id, c2s ? "c2s" : "s2c",
	        fmt_endpoint(ep->family, sip, sport, s, sizeof s),
	        fmt_endpoint(ep->family, dip, dport, d, sizeof d),
	        ver ? ver : "TLS?", su ? su : "-", app_name(m->app), m->len,
	        m->keepalive ? " (keep-alive)" : "");
	put_escaped(o->f, m->data, m->len);
	putc('\n', o->f);
	return check(o);
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
		json_object *j = json_object_new_object();
		json_object_object_add(j, "type", json_object_new_string("session"));
		json_object_object_add(j, "flow", json_object_new_uint64(si->flow_id));
		json_object_object_add(j, "client", json_object_new_string(c));
		json_object_object_add(j, "server", json_object_new_string(s));
		json_object_object_add(j, "tls", str_or_null(ver));
		json_object_object_add(j, "suite", str_or_null(su));
		json_object_object_add(j, "sni", str_or_null(si->sni));
		json_object_object_add(j, "resumed", json_object_new_boolean(si->resumed));
		json_object_object_add(j, "ems", json_object_new_boolean(si->ems));
		json_object_object_add(j, "etm", json_object_new_boolean(si->etm));
		json_object_object_add(j, "key", str_or_null(key));
		json_object_object_add(j, "decrypted", json_object_new_boolean(si->decrypted));
		json_object_object_add(j, "reason", str_or_null(reason));
		json_object_object_add(j, "msgs_c2s", json_object_new_uint64(si->msgs[TLS_DIR_C2S]));
		json_object_object_add(j, "msgs_s2c", json_object_new_uint64(si->msgs[TLS_DIR_S2C]));
		json_object_object_add(j, "bytes_c2s", json_object_new_uint64(si->bytes[TLS_DIR_C2S]));
		json_object_object_add(j, "bytes_s2c", json_object_new_uint64(si->bytes[TLS_DIR_S2C]));
		json_object_object_add(j, "gaps_c2s", json_object_new_uint64(si->gaps[TLS_DIR_C2S]));
		json_object_object_add(j, "gaps_s2c", json_object_new_uint64(si->gaps[TLS_DIR_S2C]));
		json_object_object_add(j, "lost_bytes_c2s", json_object_new_uint64(si->lost_bytes[TLS_DIR_C2S]));
		json_object_object_add(j, "lost_bytes_s2c", json_object_new_uint64(si->lost_bytes[TLS_DIR_S2C]));
		return put_json(o, j);
	}

	errno = 0;
	/* what the handshake did not show is left out, not printed as "TLS?" / "-" */
	fprintf(o->f, "session %llu %s -> %s", (unsigned long long)si->flow_id, c, s);
	if (ver) fprintf(o->f, " %s", ver);
	if (su) fprintf(o->f, " %s", su);
	if (!ver && !su) fputs(" (handshake not seen)", o->f);
	if (si->sni) fprintf(o->f, " sni=%s", si->sni);
	if (si->resumed) fputs(" resumed", o->f);
	if (si->ems) fputs(" ems", o->f);
	if (si->etm) fputs(" etm", o->f);
	if (key) fprintf(o->f, " key=%s", key);
	if (si->decrypted)
		fputs(": decrypted", o->f);
	else
		fprintf(o->f, ": NOT decrypted (%s)", reason ? reason : "reason unknown");
	if (si->decrypted && reason) fprintf(o->f, " (then %s)", reason);
	fprintf(o->f, ", c2s %llu msgs %llu bytes, s2c %llu msgs %llu bytes\n",
	        (unsigned long long)si->msgs[TLS_DIR_C2S], (unsigned long long)si->bytes[TLS_DIR_C2S],
	        (unsigned long long)si->msgs[TLS_DIR_S2C], (unsigned long long)si->bytes[TLS_DIR_S2C]);
	if (si->gaps[0] || si->gaps[1])
		fprintf(o->f, "session %llu lost: c2s %llu bytes in %llu gaps, s2c %llu bytes in %llu gaps\n",
		        (unsigned long long)si->flow_id,
		        (unsigned long long)si->lost_bytes[TLS_DIR_C2S], (unsigned long long)si->gaps[TLS_DIR_C2S],
		        (unsigned long long)si->lost_bytes[TLS_DIR_S2C], (unsigned long long)si->gaps[TLS_DIR_S2C]);
	return check(o);
}

int out_flush(out_ctx_t *o)
{
	errno = 0;
	if (fflush(o->f) != 0 && !o->err) o->err = errno ? errno : EIO;
	return check(o);
}

int out_error(const out_ctx_t *o) { return o->err; }

void out_free(out_ctx_t *o) { free(o); }

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
