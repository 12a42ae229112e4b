/*
 * bounds_test.c — memory bounds of the engine under attack (TAP).
 *
 * Why: a passive decryptor sits on a network anyone can send packets to; whatever they
 * send, the engine must keep its tracked state and its memory within the configured
 * bounds. Each scenario runs in a forked child (so its RSS growth is measured on its own)
 * against an engine configured small — max_flows 1000, max_total_buffer 8 MiB,
 * max_reasm_bytes 64 KiB — and checks the engine's own statistics (flows_active <=
 * max_flows, bytes_buffered <= max_total_buffer, sampled during the attack) AND the
 * process RSS growth (/proc/self/statm, sampled) against a stated limit:
 *   1. 200k SYNs from distinct source ports;
 *   2. 200k ClientHellos from distinct source ports (no handshake, data first);
 *   3. endless out-of-order segments on one flow (a hole that never fills);
 *   4. 1000 flows each holding max out-of-order data (64 KiB a direction: 128 MiB offered);
 *   5. huge declared lengths: records of the largest legal length never completed, and
 *      handshake messages declaring 256 KiB trickled in full records, on 1000 flows;
 *   6. 1000 flows that each completed a 256 KiB handshake message;
 *   7. a key log whose lines are megabytes long, followed by the real key line of a
 *      session (must still decrypt, the long lines must not be buffered);
 *   8. 1000 decrypted sessions each stopped inside a large application message (the
 *      message framer's buffers), and 9. just after it.
 * Checks failing because of a known engine bug are reported as TODO (expected failure)
 * with the bug named; they turn into plain passes when the bug is fixed.
 * The RSS limit per scenario is 8 MiB (buffer bound) + 1000 flows' fixed state + 24 MiB
 * slack for allocator behaviour; figures are printed with tap_diag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include "tap.h"
#include "tls_engine.h"
#include "tlsgen.h"
#include "testutil.h"

#define MAX_FLOWS 1000
#define MAX_TOTAL (8u << 20)
#define MAX_REASM (64u << 10)
#define MiB (1024.0 * 1024.0)

static long page_size;

static size_t rss_now(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
		fclose(f);
	}
	return (size_t)res * (size_t)page_size;
}

/* Result a scenario child sends back to the parent. */
typedef struct result {
	int n;
	struct { int ok; char name[160]; char todo[160]; char skip[160]; } r[8];
	char diag[4096];
} result_t;

static result_t *R;      /* the child's result (in its own memory, written to the pipe) */

/* A check that fails because of a known, reported engine bug: reported as "not ok ...
 * # TODO bug" (an expected failure for the TAP driver) while the bug is there, as a plain
 * "ok" once it is fixed. */
static int known_bug;        /* set by the scenario: the next checks are covered by `bug` */
static const char *bug;


static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	if (R->n >= 8) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(R->r[R->n].name, sizeof R->r[0].name, fmt, ap);
	va_end(ap);
	if (!ok && known_bug && bug) snprintf(R->r[R->n].todo, sizeof R->r[0].todo, "%s", bug);
	R->r[R->n++].ok = ok;
}

/* A check that cannot be made here (reported "ok N # SKIP reason", never as a pass). */
static void skip(const char *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip(const char *reason, const char *fmt, ...)
{
	if (R->n >= 8) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(R->r[R->n].name, sizeof R->r[0].name, fmt, ap);
	va_end(ap);
	snprintf(R->r[R->n].skip, sizeof R->r[0].skip, "%s", reason);
	R->r[R->n++].ok = 1;
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
	size_t l = strlen(R->diag);
	if (l + 2 >= sizeof R->diag) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(R->diag + l, sizeof R->diag - l - 1, fmt, ap);
	va_end(ap);
	l = strlen(R->diag);
	R->diag[l] = '\n';
	R->diag[l + 1] = '\0';
}

/* ---- engine + sampling ---- */

typedef struct watch {
	tls_engine_t *e;
	size_t rss0, rss_max;
	uint64_t flows_max, buffered_max;
	uint64_t msgs, bytes;
	unsigned long n;
} watch_t;

static void on_message(void *u, const tls_message_t *m)
{
	watch_t *w = u;
	w->msgs++;
	w->bytes += m->len;
}

static tls_engine_t *mk_engine(watch_t *w, tls_keystore_t *ks)
{
	tls_engine_config_t cfg;
	tls_engine_config_defaults(&cfg);
	cfg.max_flows = MAX_FLOWS;
	cfg.max_total_buffer = MAX_TOTAL;
	cfg.max_reasm_bytes = MAX_REASM;
	tls_callbacks_t cb = { on_message, NULL, NULL, w };
	memset(w, 0, sizeof *w);
	w->e = tls_engine_new(&cfg, ks ? &ks : NULL, ks ? 1 : 0, &cb);
	if (!w->e) abort();
	w->rss0 = w->rss_max = rss_now();
	return w->e;
}

static void sample(watch_t *w)
{
	tls_engine_stats_t st;
	tls_engine_get_stats(w->e, &st);
	if (st.flows_active > w->flows_max) w->flows_max = st.flows_active;
	if (st.bytes_buffered > w->buffered_max) w->buffered_max = st.bytes_buffered;
	size_t r = rss_now();
	if (r > w->rss_max) w->rss_max = r;
}

/* Sample every `every` calls. */
static inline void tick(watch_t *w, unsigned every)
{
	if (++w->n % every == 0) sample(w);
}

/* RSS limits are only meaningful without AddressSanitizer. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_CHECKS 0
#endif
#endif
#ifndef RSS_CHECKS
#define RSS_CHECKS 1
#endif

/* Common verdicts: flows, buffer, RSS growth under limit_mib. */
static void verdicts(watch_t *w, const char *what, double limit_mib)
{
	sample(w);
	tls_engine_stats_t st;
	tls_engine_get_stats(w->e, &st);
	double grow = (double)(w->rss_max - w->rss0) / MiB;
	diag("%s: %llu packets, flows created %llu, evicted(limit) %llu, max active %llu; "
	     "max buffered %.2f MiB; reasm dropped %llu; RSS %.1f -> peak %.1f MiB (+%.1f MiB, limit %.0f)",
	     what, (unsigned long long)st.packets, (unsigned long long)st.flows_created,
	     (unsigned long long)st.flows_evicted_limit, (unsigned long long)w->flows_max,
	     w->buffered_max / MiB, (unsigned long long)st.reasm_dropped,
	     w->rss0 / MiB, w->rss_max / MiB, grow, limit_mib);
	check(w->flows_max <= MAX_FLOWS, "%s: flows_active <= max_flows (%llu <= %d)", what,
	      (unsigned long long)w->flows_max, MAX_FLOWS);
	check(w->buffered_max <= MAX_TOTAL, "%s: bytes_buffered <= max_total_buffer (%.0f <= %.0f bytes)", what,
	      (double)w->buffered_max, (double)MAX_TOTAL);
	if (RSS_CHECKS)
		check(grow <= limit_mib, "%s: RSS growth %.1f MiB <= %.0f MiB", what, grow, limit_mib);
	else                          /* ASan's quarantine and shadow memory are not ours */
		skip("RSS is meaningless under AddressSanitizer", "%s: RSS growth %.1f MiB", what, grow);
}

static void seg(tls_engine_t *e, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                uint32_t seq, uint8_t flags, const uint8_t *p, size_t len, double ts)
{
	uint32_t s = htonl(src), d = htonl(dst);
	tls_tcp_segment_t g = { AF_INET, (const uint8_t *)&s, (const uint8_t *)&d, sport, dport,
	                        seq, 0, flags, p, len };
	tls_engine_feed_tcp(e, &g, ts);
}

/* Limit: the buffer bound + fixed per-flow state of max_flows flows (a few KB each,
 * generously 8 KiB) + 24 MiB of allocator slack. */
static double limit_default(void)
{
	return MAX_TOTAL / MiB + MAX_FLOWS * 8192.0 / MiB + 24.0;
}

#define CLI 0x0a000001u   /* 10.0.0.1 */
#define SRV 0x0a000002u   /* 10.0.0.2 */

/* ---- scenarios ---- */

static void sc_syn_flood(void)
{
	watch_t w;
	tls_engine_t *e = mk_engine(&w, NULL);
	double ts = 1700000000.0;
	for (uint32_t i = 0; i < 200000; i++) {
		seg(e, CLI + (i >> 16), (uint16_t)(1024 + (i & 0xffff) % 64000), SRV, 5061, i * 7919u, 0x02, NULL, 0, ts);
		ts += 1e-5;
		tick(&w, 5000);
	}
	verdicts(&w, "200k SYNs", limit_default());
	tls_engine_free(e);
}

static size_t client_hello(uint8_t *b, uint32_t salt)
{
	static const uint8_t sni[] = "sip.example.com";
	size_t p = 0;
	b[p++] = 22; b[p++] = 3; b[p++] = 1; p += 2;            /* record header, length later */
	size_t hs = p;
	b[p++] = 1; p += 3;                                     /* ClientHello, length later */
	b[p++] = 3; b[p++] = 3;
	for (int i = 0; i < 32; i++) b[p++] = (uint8_t)(salt >> ((i % 4) * 8)) ^ (uint8_t)i;
	b[p++] = 0;                                             /* session id */
	b[p++] = 0; b[p++] = 4; b[p++] = 0x00; b[p++] = 0x9c; b[p++] = 0xc0; b[p++] = 0x2f;
	b[p++] = 1; b[p++] = 0;                                 /* compression */
	size_t el = p; p += 2;
	size_t sl = sizeof sni - 1;                             /* server_name */
	b[p++] = 0; b[p++] = 0; b[p++] = 0; b[p++] = (uint8_t)(sl + 5);
	b[p++] = 0; b[p++] = (uint8_t)(sl + 3); b[p++] = 0; b[p++] = 0; b[p++] = (uint8_t)sl;
	memcpy(b + p, sni, sl); p += sl;
	b[p++] = 0x00; b[p++] = 0x17; b[p++] = 0; b[p++] = 0;   /* extended_master_secret */
	b[el] = (uint8_t)((p - el - 2) >> 8); b[el + 1] = (uint8_t)(p - el - 2);
	size_t hl = p - hs - 4;
	b[hs + 1] = 0; b[hs + 2] = (uint8_t)(hl >> 8); b[hs + 3] = (uint8_t)hl;
	b[3] = (uint8_t)((p - 5) >> 8); b[4] = (uint8_t)(p - 5);
	return p;
}

static void sc_hello_flood(void)
{
	watch_t w;
	tls_engine_t *e = mk_engine(&w, NULL);
	uint8_t ch[512];
	double ts = 1700000000.0;
	for (uint32_t i = 0; i < 200000; i++) {
		size_t n = client_hello(ch, i * 2654435761u);
		seg(e, CLI + (i >> 16), (uint16_t)(1024 + (i & 0xffff) % 64000), SRV, 5061, 1000 + i, 0x18, ch, n, ts);
		ts += 1e-5;
		tick(&w, 5000);
	}
	verdicts(&w, "200k ClientHellos", limit_default());
	tls_engine_free(e);
}

static void sc_ooo_one_flow(void)
{
	watch_t w;
	tls_engine_t *e = mk_engine(&w, NULL);
	static uint8_t data[1400];
	memset(data, 0x17, sizeof data);
	double ts = 1700000000.0;
	seg(e, CLI, 40000, SRV, 443, 1000, 0x02, NULL, 0, ts);
	seg(e, SRV, 443, CLI, 40000, 5000, 0x12, NULL, 0, ts);
	/* byte 1001 never arrives: every segment lands beyond the hole, forever */
	uint32_t seq = 1001 + 1;
	for (unsigned i = 0; i < 300000; i++) {
		seg(e, CLI, 40000, SRV, 443, seq, 0x18, data, sizeof data, ts);
		seq += (i % 3 == 0) ? 2800 : 1400;     /* gaps and runs */
		if (seq - 1001 > (1u << 29)) seq = 1001 + 2;
		ts += 1e-5;
		tick(&w, 10000);
	}
	tls_engine_stats_t st;
	tls_engine_get_stats(e, &st);
	check(w.buffered_max <= MAX_REASM + 2048, "endless out-of-order on one flow: held <= max_reasm_bytes (%.1f KiB)",
	      w.buffered_max / 1024.0);
	verdicts(&w, "endless out-of-order, one flow", limit_default());
	tls_engine_free(e);
}

static void sc_many_flows_ooo(void)
{
	watch_t w;
	tls_engine_t *e = mk_engine(&w, NULL);
	static uint8_t data[1400];
	memset(data, 0x16, sizeof data);
	double ts = 1700000000.0;
	for (unsigned f = 0; f < MAX_FLOWS; f++) {
		uint16_t cp = (uint16_t)(10000 + f);
		seg(e, CLI, cp, SRV, 443, 1000, 0x02, NULL, 0, ts);
		seg(e, SRV, 443, CLI, cp, 9000, 0x12, NULL, 0, ts);
	}
	/* both directions of every flow: a hole at the start, then 70 KiB beyond it */
	for (unsigned k = 0; k < 52; k++)
		for (unsigned f = 0; f < MAX_FLOWS; f++) {
			uint16_t cp = (uint16_t)(10000 + f);
			seg(e, CLI, cp, SRV, 443, 1001 + 100 + k * 1400, 0x18, data, sizeof data, ts);
			seg(e, SRV, 443, CLI, cp, 9001 + 100 + k * 1400, 0x18, data, sizeof data, ts);
			ts += 1e-6;
			tick(&w, 20000);
		}
	verdicts(&w, "1000 flows x max out-of-order", limit_default());
	tls_engine_free(e);
}

/* A ClientHello-typed handshake message declaring 256 KiB - 4 bytes of body, sent as
 * `nrec` full 16 KiB plaintext handshake records (16 complete it). */
static void handshake_256k(tls_engine_t *e, uint16_t cp, int nrec, double ts, uint8_t *rec)
{
	uint32_t s = 1001;
	for (int r = 0; r < nrec; r++) {
		size_t body = 16384;
		rec[0] = 22; rec[1] = 3; rec[2] = 1; rec[3] = body >> 8; rec[4] = body & 0xff;
		memset(rec + 5, 0x42, body);
		if (r == 0) { rec[5] = 1; rec[6] = 0x03; rec[7] = 0xff; rec[8] = 0xfc; rec[9] = 3; rec[10] = 3; }
		seg(e, CLI, cp, SRV, 443, s, 0x18, rec, 5 + body, ts);
		s += (uint32_t)(5 + body);
	}
}

static void sc_huge_lengths(void)
{
	watch_t w;
	tls_engine_t *e = mk_engine(&w, NULL);
	double ts = 1700000000.0;
	static uint8_t rec[5 + 16384];
	uint8_t ch[512];
	/* (a) a record header over the legal maximum: not TLS, nothing may be held */
	uint8_t bad[5] = { 23, 3, 3, 0xff, 0xff };
	seg(e, CLI, 999, SRV, 443, 1, 0x18, bad, 5, ts);
	/* (b) half the flows: ClientHello, then a record of the largest legal length
	 *     (16384 + 2048) that never completes;
	 * (c) the other half: a ClientHello handshake message declaring 256 KiB, sent in full
	 *     16 KiB plaintext handshake records, one short of completing it */
	for (unsigned f = 0; f < MAX_FLOWS; f++) {
		uint16_t cp = (uint16_t)(20000 + f);
		seg(e, CLI, cp, SRV, 443, 1000, 0x02, NULL, 0, ts);
		seg(e, SRV, 443, CLI, cp, 9000, 0x12, NULL, 0, ts);
		if (f % 2 == 0) {
			size_t n = client_hello(ch, f);
			seg(e, CLI, cp, SRV, 443, 1001, 0x18, ch, n, ts);
			uint8_t h[5] = { 22, 3, 3, (16384 + 2048) >> 8, (16384 + 2048) & 0xff };
			uint32_t s = (uint32_t)(1001 + n);
			size_t left = 5 + 16384 + 2048 - 1, off = 0;
			while (left) {
				size_t k = left > 1400 ? 1400 : left;
				uint8_t tmp[1400];
				for (size_t i = 0; i < k; i++) tmp[i] = off + i < 5 ? h[off + i] : 0x41;
				seg(e, CLI, cp, SRV, 443, s, 0x18, tmp, k, ts);
				s += (uint32_t)k; off += k; left -= k;
			}
		} else {
			handshake_256k(e, cp, 15, ts, rec);
		}
		ts += 1e-4;
		tick(&w, 50);
	}
	verdicts(&w, "huge declared lengths never completed, 1000 flows", limit_default());
	tls_engine_free(e);
}

static void sc_handshake_256k_done(void)
{
	watch_t w;
	tls_engine_t *e = mk_engine(&w, NULL);
	static uint8_t rec[5 + 16384];
	double ts = 1700000000.0;
	for (unsigned f = 0; f < MAX_FLOWS; f++) {
		uint16_t cp = (uint16_t)(20000 + f);
		seg(e, CLI, cp, SRV, 443, 1000, 0x02, NULL, 0, ts);
		seg(e, SRV, 443, CLI, cp, 9000, 0x12, NULL, 0, ts);
		handshake_256k(e, cp, 16, ts, rec);
		ts += 1e-4;
		tick(&w, 50);
	}
	verdicts(&w, "1000 flows x completed 256 KiB handshake message", limit_default());
	tls_engine_free(e);
}

static char KEY[600], CERT[600];

static void sc_keylog_long_lines(void)
{
	/* a real TLS 1.2 ECDHE session whose key log line comes after 3 lines of 4 MB */
	char pcap[700], kl[700], err[512];
	snprintf(pcap, sizeof pcap, "%s/kl.pcap", tu_tmpdir());
	snprintf(kl, sizeof kl, "%s/session.keys", tu_tmpdir());
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = KEY; o.cert_file = CERT;
	o.cipher = "ECDHE-RSA-AES128-GCM-SHA256";
	o.keylog_file = kl;
	o.app = TLSGEN_APP_HTTP;
	o.n_messages = 3;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { check(0, "key log: generator failed: %s", err); return; }
	uint8_t *line;
	size_t ll;
	if (tu_read_file(kl, &line, &ll) != 0) { check(0, "key log: cannot read"); return; }
	char big[700];
	snprintf(big, sizeof big, "%s/long.keys", tu_tmpdir());
	FILE *f = fopen(big, "w");
	static char junk[1 << 20];
	memset(junk, 'a', sizeof junk);
	memcpy(junk, "CLIENT_RANDOM ", 14);
	for (int l = 0; l < 3; l++) {
		for (int m = 0; m < 4; m++) fwrite(junk, 1, sizeof junk, f);
		fputc('\n', f);
	}
	fwrite(line, 1, ll, f);
	fclose(f);
	free(line);
	tu_frames_t fr;
	tu_load_frames(pcap, &fr);

	tls_keystore_t *ks = tls_keystore_new();
	tls_keystore_add_keylog(ks, big, 0, err, sizeof err);
	watch_t w;
	tls_engine_t *e = mk_engine(&w, ks);
	tls_keystore_unref(ks);
	for (size_t i = 0; i < fr.n; i++) {
		tls_engine_feed_frame(e, fr.dlt, fr.d[i], fr.len[i], fr.ts[i]);
		sample(&w);
	}
	tls_engine_flush(e);
	tls_engine_stats_t st;
	tls_engine_get_stats(e, &st);
	size_t want = 0;
	for (size_t i = 0; i < g.conns[0].n_msgs; i++) want += g.conns[0].msgs[i].len;
	diag("key log of 12 MB in 3 lines + 1 real line: %llu lines parsed, %llu malformed; session decrypted %llu; "
	     "%llu of %zu plaintext bytes", (unsigned long long)st.keylog_lines, (unsigned long long)st.keylog_malformed,
	     (unsigned long long)st.sessions_decrypted, (unsigned long long)w.bytes, want);
	check(st.sessions_decrypted == 1 && w.bytes == want, "key log with 4 MB lines: session still decrypted");
	check(st.keylog_malformed == 3, "key log with 4 MB lines: 3 over-long lines skipped (%llu)",
	      (unsigned long long)st.keylog_malformed);
	double grow = (double)(w.rss_max - w.rss0) / MiB;
	diag("key log with 4 MB lines: RSS +%.1f MiB", grow);
	if (RSS_CHECKS)
		check(grow <= 4.0, "key log with 4 MB lines: RSS growth %.1f MiB <= 4 MiB (lines not buffered)", grow);
	else
		skip("RSS is meaningless under AddressSanitizer", "key log with 4 MB lines: RSS growth %.1f MiB", grow);
	tls_engine_free(e);
	tu_free_frames(&fr);
	tlsgen_result_free(&g);
}

/* Rewrite the client port of an Ethernet/IPv4/TCP frame (either direction). */
static void set_client_port(uint8_t *fr, size_t len, uint16_t oldp, uint16_t newp)
{
	if (len < 14 + 20 + 20) return;
	size_t ihl = (size_t)(fr[14] & 0x0f) * 4;
	uint8_t *t = fr + 14 + ihl;
	if ((size_t)(t - fr) + 4 > len) return;
	uint16_t sp = (uint16_t)(t[0] << 8 | t[1]), dp = (uint16_t)(t[2] << 8 | t[3]);
	if (sp == oldp) { t[0] = newp >> 8; t[1] = newp & 0xff; }
	if (dp == oldp) { t[2] = newp >> 8; t[3] = newp & 0xff; }
}

/* One RSA session with a large first client message, replayed as 1000 flows (distinct
 * client ports), each cut in the middle of that message (complete = 0: the framer holds
 * the partial message) or just after it (complete = 1: the message went out; what stays
 * allocated is the buffers' capacity). */
static void app_messages(int complete)
{
	char pcap[700], err[512];
	snprintf(pcap, sizeof pcap, "%s/big.pcap", tu_tmpdir());
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = KEY; o.cert_file = CERT;
	o.cipher = "AES128-GCM-SHA256";
	o.app = TLSGEN_APP_SIP;
	o.n_messages = 2;
	o.split_writes = 0;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	/* a seed whose first client message is BIG (20-40 KB) */
	int found = 0;
	for (unsigned sd = 1; sd < 200 && !found; sd++) {
		o.seed = sd;
		tlsgen_result_free(&g);
		if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { check(0, "app messages: generator: %s", err); return; }
		const tlsgen_conn_t *c = &g.conns[0];
		for (size_t i = 0; i < c->n_msgs; i++)
			if (c->msgs[i].dir == 0) { found = c->msgs[i].size_class == TLSGEN_BIG; break; }
	}
	if (!found) { check(0, "app messages: no seed with a big first message"); tlsgen_result_free(&g); return; }
	const tlsgen_conn_t *c = &g.conns[0];
	size_t first_len = 0;
	for (size_t i = 0; i < c->n_msgs; i++) if (c->msgs[i].dir == 0) { first_len = c->msgs[i].len; break; }
	tu_frames_t fr;
	tu_load_frames(pcap, &fr);
	/* where to cut, found on a probe engine: partial = once half the message is buffered,
	 * complete = the frame that delivered the first message */
	size_t cut_partial = 0, cut_done = 0;
	{
		tls_keystore_t *ks = tu_keystore(KEY, NULL);
		watch_t pw;
		tls_engine_t *pe = mk_engine(&pw, ks);
		tls_keystore_unref(ks);
		for (size_t i = 0; i < fr.n; i++) {
			tls_engine_feed_frame(pe, fr.dlt, fr.d[i], fr.len[i], fr.ts[i]);
			tls_engine_stats_t st;
			tls_engine_get_stats(pe, &st);
			if (!cut_partial && !pw.msgs && st.bytes_buffered > first_len / 2) cut_partial = i + 1;
			if (pw.msgs) { cut_done = i + 1; break; }
		}
		tls_engine_free(pe);
	}
	size_t cut = complete ? cut_done : cut_partial;
	if (!cut) { check(0, "app messages: no cut point found"); tu_free_frames(&fr); tlsgen_result_free(&g); return; }
	tls_keystore_t *ks = tu_keystore(KEY, NULL);
	watch_t w;
	tls_engine_t *e = mk_engine(&w, ks);
	tls_keystore_unref(ks);
	uint16_t port = c->client_port;
	for (unsigned f = 0; f < MAX_FLOWS; f++) {
		uint16_t np = (uint16_t)(30000 + f);
		for (size_t i = 0; i < cut; i++) {
			set_client_port(fr.d[i], fr.len[i], port, np);
			tls_engine_feed_frame(e, fr.dlt, fr.d[i], fr.len[i], fr.ts[i] + f * 1e-3);
			set_client_port(fr.d[i], fr.len[i], np, port);
		}
		tick(&w, 20);
	}
	tls_engine_stats_t st;
	tls_engine_get_stats(e, &st);
	diag("app messages: first client message %zu bytes, %zu of %zu frames fed per flow; %llu flows, "
	     "%llu sessions failed (truncated), %llu messages delivered", first_len, cut, fr.n,
	     (unsigned long long)st.flows_active, (unsigned long long)st.sessions_failed[TLS_REASON_TRUNCATED],
	     (unsigned long long)w.msgs);
	if (complete) {
		verdicts(&w, "1000 decrypted flows after a large message", limit_default());
	} else {
		verdicts(&w, "1000 decrypted flows inside a large message", limit_default());
	}
	tls_engine_free(e);
	tu_free_frames(&fr);
	tlsgen_result_free(&g);
}

static void sc_partial_app_messages(void) { app_messages(0); }
static void sc_done_app_messages(void) { app_messages(1); }

/* 65,536 half-open flows: each a SYN and one real ClientHello (OpenSSL's, TLS 1.3), no
 * reply, distinct client addresses/ports, on an engine with default limits (max_flows
 * 65536). Per-flow cost from the engine's bytes_buffered and from the RSS growth. The
 * issue-9 engine keeps such a flow <= 2 KiB; that bound is asserted only when the engine
 * says it has landed (TLS_SESSION_HAS_LOSS comes with it), and never under ASan. */
#define HALF_OPEN 65536
static void sc_half_open(void)
{
	char pcap[700], err[512];
	snprintf(pcap, sizeof pcap, "%s/ch.pcap", tu_tmpdir());
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = KEY; o.cert_file = CERT;
	o.tls_version = 0x0304;
	o.n_messages = 1;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { check(0, "half-open: generator: %s", err); return; }
	const uint8_t *t = g.conns[0].tls[0];
	size_t chl = 5 + ((size_t)t[3] << 8 | t[4]);
	if (t[0] != 22 || chl > g.conns[0].tls_len[0]) { check(0, "half-open: no ClientHello record"); tlsgen_result_free(&g); return; }
	uint8_t ch[2048];
	if (chl > sizeof ch) { check(0, "half-open: ClientHello of %zu bytes", chl); tlsgen_result_free(&g); return; }
	memcpy(ch, t, chl);
	tlsgen_result_free(&g);

	tls_engine_config_t cfg;
	tls_engine_config_defaults(&cfg);
	cfg.max_flows = HALF_OPEN;
	tls_callbacks_t cb = { NULL, NULL, NULL, NULL };
	tls_engine_t *e = tls_engine_new(&cfg, NULL, 0, &cb);
	if (!e) { check(0, "half-open: engine"); return; }
	size_t rss0 = rss_now();
	double ts = 1700000000.0;
	for (uint32_t i = 0; i < HALF_OPEN; i++) {
		uint32_t src = CLI + (i >> 14);
		uint16_t sp = (uint16_t)(1024 + (i & 0x3fff));
		uint32_t isn = i * 2654435761u;
		seg(e, src, sp, SRV, 443, isn, 0x02, NULL, 0, ts);
		for (size_t k = 32; k < 38 && k + 6 < chl; k++) ch[k] = (uint8_t)(i >> (k - 32));   /* vary the client random */
		seg(e, src, sp, SRV, 443, isn + 1, 0x18, ch, chl, ts + 1e-4);
		ts += 1e-5;
	}
	size_t rss1 = rss_now();
	tls_engine_stats_t st;
	tls_engine_get_stats(e, &st);
	double per_buf = (double)st.bytes_buffered / HALF_OPEN, per_rss = (double)(rss1 - rss0) / HALF_OPEN;
	diag("half-open: %d flows of one %zu-byte ClientHello: flows created %llu, active %llu; bytes_buffered %llu "
	     "(%.0f B/flow); RSS +%.1f MiB (%.0f B/flow)", HALF_OPEN, chl, (unsigned long long)st.flows_created,
	     (unsigned long long)st.flows_active, (unsigned long long)st.bytes_buffered, per_buf, (rss1 - rss0) / MiB, per_rss);
	check(st.flows_created == HALF_OPEN && st.flows_active <= HALF_OPEN && st.sessions_decrypted == 0,
	      "half-open: %d flows created, active <= max_flows (%llu, %llu)", HALF_OPEN,
	      (unsigned long long)st.flows_created, (unsigned long long)st.flows_active);
#ifdef TLS_SESSION_HAS_LOSS
	check(per_buf <= 2048, "half-open: bytes_buffered %.0f B/flow <= 2048", per_buf);
	if (RSS_CHECKS) check(per_rss <= 2048, "half-open: RSS growth %.0f B/flow <= 2048", per_rss);
	else skip("RSS is meaningless under AddressSanitizer", "half-open: RSS growth %.0f B/flow", per_rss);
#else
	skip("engine without TLS_SESSION_HAS_LOSS (issue 9 not landed): bound not asserted",
	     "half-open: bytes_buffered %.0f B/flow <= 2048", per_buf);
	skip(RSS_CHECKS ? "engine without TLS_SESSION_HAS_LOSS (issue 9 not landed): bound not asserted"
	                : "RSS is meaningless under AddressSanitizer", "half-open: RSS growth %.0f B/flow <= 2048", per_rss);
#endif
	tls_engine_free(e);
}

/* ---- driver ---- */

static void run(const char *name, void (*fn)(void))
{
	int p[2];
	if (pipe(p) != 0) { tap_ok(0, "%s: pipe", name); return; }
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		static result_t res;
		R = &res;
		fn();
		size_t off = 0;
		while (off < sizeof res) {
			ssize_t w = write(p[1], (char *)&res + off, sizeof res - off);
			if (w <= 0) _exit(1);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(p[1]);
	static result_t res;
	memset(&res, 0, sizeof res);
	size_t off = 0;
	ssize_t r;
	while (off < sizeof res && (r = read(p[0], (char *)&res + off, sizeof res - off)) > 0) off += (size_t)r;
	close(p[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (off != sizeof res || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		tap_ok(0, "%s: scenario process died (status %d)", name, status);
		return;
	}
	char *s = res.diag, *nl;
	while ((nl = strchr(s, '\n')) != NULL) { *nl = '\0'; tap_diag("%s", s); s = nl + 1; }
	for (int i = 0; i < res.n; i++) {
		if (res.r[i].skip[0]) {
			printf("ok %d - %s # SKIP %s\n", ++tap_n, res.r[i].name, res.r[i].skip);
			fflush(stdout);
		} else if (!res.r[i].ok && res.r[i].todo[0]) {
			printf("not ok %d - %s # TODO %s\n", ++tap_n, res.r[i].name, res.r[i].todo);
			fflush(stdout);
		} else {
			tap_ok(res.r[i].ok, "%s", res.r[i].name);
		}
	}
	tap_diag("%s: %.1f s", name, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

int main(void)
{
	page_size = sysconf(_SC_PAGESIZE);
	tls_engine_global_init();
	snprintf(KEY, sizeof KEY, "%s/rsa.key", tu_tmpdir());
	snprintf(CERT, sizeof CERT, "%s/rsa.crt", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", KEY, CERT, NULL) != 0) { tap_ok(0, "make RSA key"); return tap_done(); }
	tap_diag("bounds: max_flows %d, max_total_buffer %.0f MiB, max_reasm_bytes %u KiB; RSS limit %.0f MiB per scenario",
	         MAX_FLOWS, MAX_TOTAL / MiB, MAX_REASM / 1024, limit_default());
	run("SYN flood", sc_syn_flood);
	run("ClientHello flood", sc_hello_flood);
	run("out-of-order one flow", sc_ooo_one_flow);
	run("out-of-order many flows", sc_many_flows_ooo);
	run("huge lengths", sc_huge_lengths);
	run("256 KiB handshake messages", sc_handshake_256k_done);
	run("key log long lines", sc_keylog_long_lines);
	run("partial app messages", sc_partial_app_messages);
	run("completed app messages", sc_done_app_messages);
	run("65,536 half-open flows", sc_half_open);
	return tap_done();
}
