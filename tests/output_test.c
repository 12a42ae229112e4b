/*
 * output_test.c — captls's stdout writer (src/captls/output.c, enc.c) against an oracle:
 * the earlier implementation built on json-c (JSON records) and on per-byte stdio (text),
 * kept here verbatim in spirit, so the fast writer is proven byte-identical to it:
 *   - message records (JSON and text) for payloads of every byte value, random binary,
 *     CRLF at every chunk boundary, lengths 0..300 and up to 700 KB (bigger than the
 *     writer's 256 KiB buffer, so it streams), IPv4/IPv6, keep-alives, unknown suites;
 *   - session records with every field combination that changes the layout, SNIs with
 *     quotes, backslashes and control characters;
 *   - enc_base64 against a byte-at-a-time encoder (all lengths 0..100, chunked encoding);
 *   - enc_json_string: json-c parses the output back to the input for valid UTF-8 (all
 *     control characters included); invalid UTF-8 becomes U+FFFD per bad byte (overlong,
 *     surrogate, > U+10FFFF, truncated, stray continuation) and the line stays valid JSON;
 *   - a failing stream (/dev/full) latches the error and later records return -1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <json-c/json.h>
#include "tap.h"
#include "output.h"
#include "enc.h"

/* ---------------------------------------------------------------- oracle */

static const char *o_ip(int family, const uint8_t *ip, char *buf, size_t n)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, ip, buf, (socklen_t)n)) snprintf(buf, n, "?");
	return buf;
}

static json_object *o_str(const char *s) { return s ? json_object_new_string(s) : NULL; }

static void o_fmt_ts(double ts, char *buf, size_t buflen)
{
	if (!(ts >= 0) || ts > 253402300799.0) { snprintf(buf, buflen, "%.6f", ts); return; }
	time_t t = (time_t)ts;
	unsigned us = (unsigned)((ts - (double)t) * 1e6 + 0.5);
	if (us >= 1000000) { t++; us -= 1000000; }
	struct tm tm;
	gmtime_r(&t, &tm);
	char d[32];
	strftime(d, sizeof d, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, buflen, "%s.%06u", d, us % 1000000);
}

static void o_b64(const uint8_t *in, size_t len, char *out)
{
	static const char B[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len) v |= in[i + 2];
		out[o++] = B[v >> 18];
		out[o++] = B[(v >> 12) & 63];
		out[o++] = i + 1 < len ? B[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? B[v & 63] : '=';
	}
	out[o] = 0;
}

static void o_json(FILE *f, json_object *j)
{
	fputs(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), f);
	putc('\n', f);
	json_object_put(j);
}

static void o_message(FILE *f, int json, const tls_message_t *m)
{
	const tls_endpoints_t *ep = m->ep;
	int c2s = m->dir == TLS_DIR_C2S;
	const uint8_t *sip = c2s ? ep->client_ip : ep->server_ip, *dip = c2s ? ep->server_ip : ep->client_ip;
	uint16_t sport = c2s ? ep->client_port : ep->server_port, dport = c2s ? ep->server_port : ep->client_port;
	if (json) {
		char a[64], b[64], tsb[40];
		char *data = malloc((m->len + 2) / 3 * 4 + 1);
		o_b64(m->data, m->len, data);
		snprintf(tsb, sizeof tsb, "%.6f", m->ts);
		json_object *j = json_object_new_object();
		json_object_object_add(j, "type", json_object_new_string("message"));
		json_object_object_add(j, "flow", json_object_new_uint64(m->flow_id));
		json_object_object_add(j, "ts", json_object_new_double_s(m->ts, tsb));
		json_object_object_add(j, "src", json_object_new_string(o_ip(ep->family, sip, a, sizeof a)));
		json_object_object_add(j, "sport", json_object_new_int(sport));
		json_object_object_add(j, "dst", json_object_new_string(o_ip(ep->family, dip, b, sizeof b)));
		json_object_object_add(j, "dport", json_object_new_int(dport));
		json_object_object_add(j, "dir", json_object_new_string(c2s ? "c2s" : "s2c"));
		json_object_object_add(j, "tls", o_str(tls_version_name(m->tls_version)));
		json_object_object_add(j, "suite", o_str(suite_label(m->suite)));
		json_object_object_add(j, "app", json_object_new_string(app_name(m->app)));
		json_object_object_add(j, "len", json_object_new_uint64(m->len));
		json_object_object_add(j, "data", json_object_new_string(data));
		if (m->keepalive) json_object_object_add(j, "keepalive", json_object_new_boolean(1));
		free(data);
		o_json(f, j);
		return;
	}
	char tsb[64], s[64], d[64];
	o_fmt_ts(m->ts, tsb, sizeof tsb);
	const char *ver = tls_version_name(m->tls_version), *su = suite_label(m->suite);
	fprintf(f, "[%s] flow %llu %s %s -> %s %s %s %s %zu bytes%s\n", tsb, (unsigned long long)m->flow_id,
	        c2s ? "c2s" : "s2c", fmt_endpoint(ep->family, sip, sport, s, sizeof s),
	        fmt_endpoint(ep->family, dip, dport, d, sizeof d), ver ? ver : "TLS?", su ? su : "-",
	        app_name(m->app), m->len, m->keepalive ? " (keep-alive)" : "");
	const uint8_t *p = m->data;
	size_t n = m->len;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '\r' && i + 1 < n && p[i + 1] == '\n') continue;
		if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f && c != '\\')) putc(c, f);
		else if (c == '\\') fputs("\\\\", f);
		else if (c == '\r') fputs("\\r", f);
		else fprintf(f, "\\x%02x", c);
	}
	if (n == 0 || p[n - 1] != '\n') putc('\n', f);
	putc('\n', f);
}

static void o_session(FILE *f, int json, const tls_session_info_t *si)
{
	const tls_endpoints_t *ep = si->ep;
	char c[64], s[64];
	fmt_endpoint(ep->family, ep->client_ip, ep->client_port, c, sizeof c);
	fmt_endpoint(ep->family, ep->server_ip, ep->server_port, s, sizeof s);
	const char *ver = tls_version_name(si->tls_version), *su = suite_label(si->suite);
	const char *key = tls_key_kind_name(si->key);
	const char *reason = si->reason == TLS_REASON_NONE ? NULL : tls_reason_name(si->reason);
	if (json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "type", json_object_new_string("session"));
		json_object_object_add(j, "flow", json_object_new_uint64(si->flow_id));
		json_object_object_add(j, "client", json_object_new_string(c));
		json_object_object_add(j, "server", json_object_new_string(s));
		json_object_object_add(j, "tls", o_str(ver));
		json_object_object_add(j, "suite", o_str(su));
		json_object_object_add(j, "sni", o_str(si->sni));
		json_object_object_add(j, "resumed", json_object_new_boolean(si->resumed));
		json_object_object_add(j, "ems", json_object_new_boolean(si->ems));
		json_object_object_add(j, "etm", json_object_new_boolean(si->etm));
		json_object_object_add(j, "key", o_str(key));
		json_object_object_add(j, "decrypted", json_object_new_boolean(si->decrypted));
		json_object_object_add(j, "reason", o_str(reason));
		json_object_object_add(j, "msgs_c2s", json_object_new_uint64(si->msgs[0]));
		json_object_object_add(j, "msgs_s2c", json_object_new_uint64(si->msgs[1]));
		json_object_object_add(j, "bytes_c2s", json_object_new_uint64(si->bytes[0]));
		json_object_object_add(j, "bytes_s2c", json_object_new_uint64(si->bytes[1]));
		json_object_object_add(j, "gaps_c2s", json_object_new_uint64(si->gaps[0]));
		json_object_object_add(j, "gaps_s2c", json_object_new_uint64(si->gaps[1]));
		json_object_object_add(j, "lost_bytes_c2s", json_object_new_uint64(si->lost_bytes[0]));
		json_object_object_add(j, "lost_bytes_s2c", json_object_new_uint64(si->lost_bytes[1]));
		o_json(f, j);
		return;
	}
	fprintf(f, "session %llu %s -> %s", (unsigned long long)si->flow_id, c, s);
	if (ver) fprintf(f, " %s", ver);
	if (su) fprintf(f, " %s", su);
	if (!ver && !su) fputs(" (handshake not seen)", f);
	if (si->sni) fprintf(f, " sni=%s", si->sni);
	if (si->resumed) fputs(" resumed", f);
	if (si->ems) fputs(" ems", f);
	if (si->etm) fputs(" etm", f);
	if (key) fprintf(f, " key=%s", key);
	if (si->decrypted) fputs(": decrypted", f);
	else fprintf(f, ": NOT decrypted (%s)", reason ? reason : "reason unknown");
	if (si->decrypted && reason) fprintf(f, " (then %s)", reason);
	fprintf(f, ", c2s %llu msgs %llu bytes, s2c %llu msgs %llu bytes\n",
	        (unsigned long long)si->msgs[0], (unsigned long long)si->bytes[0],
	        (unsigned long long)si->msgs[1], (unsigned long long)si->bytes[1]);
	if (si->gaps[0] || si->gaps[1])
		fprintf(f, "session %llu lost: c2s %llu bytes in %llu gaps, s2c %llu bytes in %llu gaps\n",
		        (unsigned long long)si->flow_id, (unsigned long long)si->lost_bytes[0],
		        (unsigned long long)si->gaps[0], (unsigned long long)si->lost_bytes[1],
		        (unsigned long long)si->gaps[1]);
}

/* ---------------------------------------------------------------- driver */

typedef struct stream { FILE *f; char *buf; size_t len; } stream_t;

static void s_open(stream_t *s) { s->buf = NULL; s->len = 0; s->f = open_memstream(&s->buf, &s->len); }
static void s_close(stream_t *s) { fclose(s->f); }

static uint64_t rng = 88172645463325252ULL;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)rng; }

/* Feed the same records to the writer and the oracle; compare the two byte streams. */
typedef struct rec { int kind; tls_message_t m; tls_session_info_t s; } rec_t;

static int same_output(int json, const rec_t *r, size_t n, const char *what)
{
	stream_t a, b;
	s_open(&a);
	s_open(&b);
	out_ctx_t *o = out_new(a.f, json ? OUT_JSON : OUT_TEXT, false);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (r[i].kind == 0) { rc |= out_message(o, &r[i].m); o_message(b.f, json, &r[i].m); }
		else { rc |= out_session(o, &r[i].s); o_session(b.f, json, &r[i].s); }
	}
	rc |= out_flush(o);
	out_free(o);
	s_close(&a);
	s_close(&b);
	size_t at = 0;
	while (at < a.len && at < b.len && a.buf[at] == b.buf[at]) at++;
	int ok = rc == 0 && a.len == b.len && at == a.len;
	tap_ok(ok, "%s %s: %zu records, %zu bytes identical to the json-c/stdio writer%s", json ? "json" : "text", what,
	       n, a.len, ok ? "" : " (DIFFERS)");
	if (!ok) tap_diag("first difference at byte %zu (lengths %zu vs %zu, rc %d)", at, a.len, b.len, rc);
	free(a.buf);
	free(b.buf);
	return ok;
}

static tls_endpoints_t EP4, EP6;

static void test_messages(void)
{
	enum { N = 420 };
	static rec_t r[N];
	static uint8_t all[256], crlf[300000];
	uint8_t *big = malloc(700000), *rb = malloc(300 * 301);
	for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
	for (size_t i = 0; i < 700000; i++) big[i] = (uint8_t)rnd();
	/* CRLF and lone CR/backslash everywhere, incl. at the writer's chunk boundaries */
	for (size_t i = 0; i < sizeof crlf; i++) crlf[i] = "ab\r\nc\\\r\x01\xff"[(i * 7 + i / 3) % 10];
	for (size_t i = 0; i < 300 * 301; i++) rb[i] = (uint8_t)(rnd() % 3 ? 'a' + rnd() % 26 : rnd());
	size_t n = 0;
	const uint16_t suites[] = { 0x009c, 0x1301, 0xc0ff, 0 };
	const uint16_t vers[] = { 0x0303, 0x0304, 0x0301, 0 };
	for (int i = 0; i <= 300; i++, n++) {
		r[n].kind = 0;
		r[n].m = (tls_message_t){ .flow_id = (uint64_t)i * 977, .ep = i % 3 ? &EP4 : &EP6, .dir = i & 1,
			.app = (tls_app_t)(i % 4), .tls_version = vers[i % 4], .suite = suites[i % 4],
			.data = rb + (size_t)i * 300, .len = (size_t)i, .ts = 1700000000.0 + i * 0.1234567 + (i == 7 ? 0.9999996 : 0),
			.keepalive = i % 17 == 0 };
	}
	const struct { const uint8_t *d; size_t len; } big_ones[] = {
		{ all, 256 }, { crlf, sizeof crlf }, { crlf + 1, sizeof crlf - 1 }, { big, 700000 }, { big, 262143 },
		{ big, 262144 }, { big, 262145 }, { big, 196608 }, { (const uint8_t *)"\r", 1 }, { (const uint8_t *)"\r\n", 2 },
		{ (const uint8_t *)"x\n", 2 }, { (const uint8_t *)"", 0 },
	};
	for (size_t k = 0; k < sizeof big_ones / sizeof *big_ones; k++, n++) {
		r[n].kind = 0;
		r[n].m = (tls_message_t){ .flow_id = 5, .ep = &EP4, .dir = TLS_DIR_S2C, .app = TLS_APP_HTTP,
			.tls_version = 0x0303, .suite = 0xc02f, .data = big_ones[k].d, .len = big_ones[k].len,
			.ts = k == 3 ? -1.5 : 1e12 };
	}
	same_output(1, r, n, "messages");
	same_output(0, r, n, "messages");
	free(big);
	free(rb);
}

static void test_sessions(void)
{
	static rec_t r[64];
	const char *snis[] = { NULL, "sip.example.com", "a\"b\\c", "tab\there\x01\x1f/slash", "" };
	size_t n = 0;
	for (int i = 0; i < 40; i++, n++) {
		r[n].kind = 1;
		tls_session_info_t *s = &r[n].s;
		memset(s, 0, sizeof *s);
		s->flow_id = (uint64_t)i << 40 | (uint64_t)i;
		s->ep = i & 1 ? &EP6 : &EP4;
		s->tls_version = i % 5 ? 0x0303 : 0;
		s->suite = i % 7 ? 0x1302 : (i % 2 ? 0x1234 : 0);
		s->sni = snis[i % 5];
		s->resumed = i % 3 == 0; s->ems = i % 4 == 0; s->etm = i % 6 == 0;
		s->key = (tls_key_kind_t)(i % 4);
		s->decrypted = i % 2;
		s->reason = (tls_reason_t)(i % TLS_REASON__COUNT);
		s->final = true;
		s->msgs[0] = (uint64_t)i; s->msgs[1] = UINT64_MAX - (uint64_t)i;
		s->bytes[0] = 12345; s->bytes[1] = 0;
		s->gaps[0] = i % 8 == 0; s->gaps[1] = i % 9 == 0 ? 3 : 0;
		s->lost_bytes[0] = s->gaps[0] * 1460; s->lost_bytes[1] = s->gaps[1] * 100;
	}
	same_output(1, r, n, "sessions");
	same_output(0, r, n, "sessions");
}

static void test_base64(void)
{
	uint8_t in[120];
	char a[200], b[200];
	int bad = 0;
	for (size_t len = 0; len <= 100; len++) {
		for (size_t i = 0; i < len; i++) in[i] = (uint8_t)rnd();
		o_b64(in, len, b);
		size_t n = enc_base64(in, len, a);
		a[n] = 0;
		if (strcmp(a, b)) bad++;
		/* in two pieces, the first a multiple of 3 */
		size_t cut = len / 3 / 2 * 3;
		n = enc_base64(in, cut, a);
		n += enc_base64(in + cut, len - cut, a + n);
		a[n] = 0;
		if (strcmp(a, b)) bad++;
	}
	tap_ok(!bad, "enc_base64 equals a byte-at-a-time encoder for lengths 0..100, whole and in two pieces (%d bad)", bad);
}

/* json-c parses "<escaped>" back to `want` (want_len bytes). */
static int parses_to(const uint8_t *in, size_t n, const char *want, size_t want_len)
{
	char *buf = malloc(6 * n + 3);
	buf[0] = '"';
	size_t k = enc_json_string(in, n, buf + 1);
	buf[k + 1] = '"';
	buf[k + 2] = 0;
	json_object *j = json_tokener_parse(buf);
	int ok = j && json_object_is_type(j, json_type_string) && (size_t)json_object_get_string_len(j) == want_len &&
	         !memcmp(json_object_get_string(j), want, want_len);
	if (j) json_object_put(j);
	free(buf);
	return ok;
}

static void test_json_string(void)
{
	uint8_t ctl[128];
	for (int i = 0; i < 127; i++) ctl[i] = (uint8_t)(i + 1);     /* 0x01..0x7f */
	tap_ok(parses_to(ctl, 127, (const char *)ctl, 127), "every ASCII byte incl. control characters round-trips through json-c");
	const char *utf8 = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd \xf4\x8f\xbf\xbf";
	tap_ok(parses_to((const uint8_t *)utf8, strlen(utf8), utf8, strlen(utf8)), "valid UTF-8 (2, 3, 4 bytes, U+10FFFF) is kept");
	char out[64];
	size_t k = enc_json_string((const uint8_t *)"a\0b", 3, out);
	tap_ok(k == 8 && !memcmp(out, "a\\u0000b", 8), "NUL is written as \\u0000");
	static const struct { const char *in; size_t len; int repl; } bad[] = {
		{ "\xff", 1, 1 }, { "\xc0\x80", 2, 2 }, { "\xc1\xbf", 2, 2 }, { "\xe0\x80\x80", 3, 3 },
		{ "\xed\xa0\x80", 3, 3 }, { "\xf4\x90\x80\x80", 4, 4 }, { "\xf5\x80\x80\x80", 4, 4 },
		{ "\xe2\x82", 2, 2 }, { "\x80", 1, 1 }, { "\xf0\x9f\x98", 3, 3 },
	};
	int fails = 0;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char want[64];
		size_t w = 0;
		want[w++] = 'x';
		for (int r = 0; r < bad[i].repl; r++) { memcpy(want + w, "\xef\xbf\xbd", 3); w += 3; }
		want[w++] = 'y';
		uint8_t in[16];
		in[0] = 'x';
		memcpy(in + 1, bad[i].in, bad[i].len);
		in[bad[i].len + 1] = 'y';
		if (!parses_to(in, bad[i].len + 2, want, w)) { fails++; tap_diag("invalid UTF-8 case %zu", i); }
	}
	tap_ok(!fails, "invalid UTF-8 (stray, overlong, surrogate, > U+10FFFF, truncated) becomes U+FFFD per byte, output valid JSON (%d bad)", fails);
}

static void test_write_error(void)
{
	FILE *f = fopen("/dev/full", "w");
	if (!f) { tap_skip("no /dev/full"); return; }
	setvbuf(f, NULL, _IONBF, 0);
	out_ctx_t *o = out_new(f, OUT_JSON, true);
	tls_message_t m = { .flow_id = 1, .ep = &EP4, .data = (const uint8_t *)"hi", .len = 2, .ts = 1 };
	int r1 = out_message(o, &m), r2 = out_message(o, &m);
	tap_ok(r1 == -1 && r2 == -1 && out_error(o) == ENOSPC, "a full device latches ENOSPC (%d %d %d)", r1, r2, out_error(o));
	out_free(o);
	fclose(f);
}

int main(void)
{
	EP4.family = AF_INET;
	memcpy(EP4.client_ip, "\x0a\x00\x00\x01", 4);
	memcpy(EP4.server_ip, "\xc0\xa8\x01\xfe", 4);
	EP4.client_port = 40001; EP4.server_port = 5061;
	EP6.family = AF_INET6;
	inet_pton(AF_INET6, "fd00::1", EP6.client_ip);
	inet_pton(AF_INET6, "2001:db8::5:6", EP6.server_ip);
	EP6.client_port = 1; EP6.server_port = 443;
	test_messages();
	test_sessions();
	test_base64();
	test_json_string();
	test_write_error();
	return tap_done();
}
