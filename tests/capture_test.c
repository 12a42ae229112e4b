/*
 * capture_test.c — the engine under real capture conditions (issue 9), TAP.
 *
 * Why: a capture point is not a clean lab. SPAN ports merge two directions through
 * different queues (an ACK or a reply captured before the data it answers, a segment
 * captured after the peer ACKed it), middleboxes and attackers inject RSTs and SYNs,
 * capture clocks step and single frames carry absurd time stamps, TLS 1.2 peers
 * renegotiate, TLS 1.3 servers refuse 0-RTT, and resumption meets static ECDHE keys.
 * Every capture here is made by tlsgen from real OpenSSL peers (the manglings change only
 * packet order, time stamps or add foreign packets, never the peers' byte streams), and
 * the check is gv_verify: every message delivered once, in order, byte-exact, one final
 * report per connection, session decrypted, no session split in two.
 *
 * Profiles: TLS 1.2 RSA key exchange with the server key (AES-128-GCM and AES-256-CBC),
 * TLS 1.2 ECDHE with a key log, TLS 1.3 with a key log; apps SIP and HTTP.
 * Each generator mangling has a self-check in tlsgen (a mangling that produced nothing
 * fails the generator, and so the case); the counts are printed in the case names.
 * Loss fields (gaps, lost_bytes) are asserted only when the engine defines
 * TLS_SESSION_HAS_LOSS in tls_engine.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"
#include "genverify.h"

static char RSA_KEY[512], RSA_CERT[512], ST_P256[512], ST_X25519[512];
static unsigned seed = 9000;

enum { P_RSA_GCM, P_RSA_CBC, P_ECDHE, P_TLS13, P__N };
static const struct { const char *name; int v; const char *cipher; int keylog; } PROF[P__N] = {
	{ "TLS1.2 RSA AES128-GCM", 0x0303, "AES128-GCM-SHA256", 0 },
	{ "TLS1.2 RSA AES256-CBC-SHA256", 0x0303, "AES256-SHA256", 0 },
	{ "TLS1.2 ECDHE key log", 0x0303, "ECDHE-RSA-AES128-GCM-SHA256", 1 },
	{ "TLS1.3 key log", 0x0304, NULL, 1 },
};

static void base(tlsgen_opts_t *o, int prof, int app)
{
	tlsgen_opts_defaults(o);
	o->key_file = RSA_KEY;
	o->cert_file = RSA_CERT;
	o->tls_version = PROF[prof].v;
	o->cipher = PROF[prof].cipher;
	o->app = app;
	o->n_messages = 8;
	o->seed = seed++;
}

/* One generated capture and the engine's output for it. */
typedef struct cap {
	tlsgen_result_t g;
	tu_run_t r;
	char pcap[600], kl[600];
	int ok;                      /* generator and engine ran */
} cap_t;

static void cap_free(cap_t *c)
{
	tlsgen_result_free(&c->g);
	tu_run_free(&c->r);
}

/* Keystore of a profile: the RSA key, or the key log file. */
static tls_keystore_t *prof_store(int prof, const char *kl)
{
	if (!PROF[prof].keylog) return tu_keystore(RSA_KEY, NULL);
	char err[512];
	tls_keystore_t *ks = tls_keystore_new();
	if (!ks || tls_keystore_add_keylog(ks, kl, 0, err, sizeof err) != 0) abort();
	return ks;
}

/* Generate (with a fresh key log for key-log profiles) and run the engine. On a generator
 * failure a failing case is reported and 0 returned. */
static int gen_run(tlsgen_opts_t *o, int prof, const char *label, cap_t *c, const tls_engine_config_t *cfg)
{
	char err[512];
	memset(c, 0, sizeof *c);
	snprintf(c->pcap, sizeof c->pcap, "%s/cap.pcap", tu_tmpdir());
	snprintf(c->kl, sizeof c->kl, "%s/cap.keys", tu_tmpdir());
	unlink(c->kl);
	if (PROF[prof].keylog) o->keylog_file = c->kl;
	if (tlsgen_run(o, c->pcap, &c->g, err, sizeof err) != 0) {
		tap_ok(0, "%s: generator: %s", label, err);
		return 0;
	}
	tls_keystore_t *ks = prof_store(prof, c->kl);
	if (tu_run_pcap(c->pcap, &ks, 1, cfg, &c->r) != 0) {
		tls_keystore_unref(ks);
		tap_ok(0, "%s: cannot read the capture", label);
		tlsgen_result_free(&c->g);
		return 0;
	}
	tls_keystore_unref(ks);
	c->ok = 1;
	return 1;
}

/* No connection was split into two flows (injected SYN/RST): one session per client port. */
static int not_split(const cap_t *c, const char *label)
{
	int ok = 1;
	for (size_t i = 0; i < c->g.n_conns; i++) {
		size_t n = tu_sessions_with_port(&c->r, c->g.conns[i].client_port);
		if (n != 1) { tap_diag("%s: conn %zu reported as %zu sessions (flow split or lost)", label, i, n); ok = 0; }
	}
	return ok;
}

/* ---- the manglings, checked on the pcap itself (not on tlsgen's own counters) ---- */

/* One captured TCP packet (Ethernet/IPv4 only: tlsgen's default framing). */
typedef struct pk {
	int tcp, dir;                 /* dir: 0 from the client port, 1 to it, -1 other 5-tuple */
	uint8_t flags;
	uint32_t seq, ack;
	size_t off;                   /* payload offset in the sender's stream (seq - isn - 1) */
	const uint8_t *pl; size_t len;
	double ts;
} pk_t;

static size_t parse_pcap(const tu_frames_t *fr, const tlsgen_conn_t *c, pk_t *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < fr->n && n < max; i++) {
		pk_t *p = &out[n++];
		memset(p, 0, sizeof *p);
		p->dir = -1;
		p->ts = fr->ts[i];
		const uint8_t *f = fr->d[i];
		size_t L = fr->len[i];
		if (fr->dlt != 1 || L < 54 || f[12] != 0x08 || f[13] != 0 || f[23] != 6) continue;
		size_t ihl = (size_t)(f[14] & 15) * 4, tot = (size_t)f[16] << 8 | f[17];
		const uint8_t *t = f + 14 + ihl;
		size_t thl = (size_t)(t[12] >> 4) * 4;
		uint16_t sp = (uint16_t)(t[0] << 8 | t[1]), dp = (uint16_t)(t[2] << 8 | t[3]);
		p->tcp = 1;
		p->seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
		p->ack = (uint32_t)t[8] << 24 | (uint32_t)t[9] << 16 | (uint32_t)t[10] << 8 | t[11];
		p->flags = t[13];
		p->pl = t + thl;
		p->len = tot > ihl + thl ? tot - ihl - thl : 0;
		if (sp == c->client_port && dp == c->server_port) p->dir = 0;
		else if (dp == c->client_port && sp == c->server_port) p->dir = 1;
		if (p->dir >= 0) p->off = (size_t)(uint32_t)(p->seq - c->isn[p->dir] - 1);
	}
	return n;
}

static int is_dat(const pk_t *p) { return p->dir >= 0 && p->len > 0 && !(p->flags & 0x07); }
static int is_ack(const pk_t *p) { return p->dir >= 0 && p->len == 0 && p->flags == 0x10; }

/* Offset of the first application-data record (type 23) of a TLS <= 1.2 stream. */
static size_t app_start(const uint8_t *b, size_t n)
{
	size_t p = 0;
	while (p + 5 <= n && b[p] != 23) p += 5 + ((size_t)b[p + 3] << 8 | b[p + 4]);
	return p;
}

/* Capture index of the s2c/c2s packet carrying stream offset off of direction d (first copy). */
static size_t pk_at(const pk_t *v, size_t n, int d, size_t off)
{
	for (size_t i = 0; i < n; i++)
		if (is_dat(&v[i]) && v[i].dir == d && v[i].off <= off && off < v[i].off + v[i].len) return i;
	return (size_t)-1;
}

/* Offset of the first record of content type ct (and handshake type hs, or -1) in a stream. */
static size_t rec_off(const uint8_t *b, size_t n, int ct, int hs)
{
	size_t p = 0;
	while (p + 5 <= n) {
		if (b[p] == ct && (hs < 0 || (p + 5 < n && b[p + 5] == hs))) return p;
		p += 5 + ((size_t)b[p + 3] << 8 | b[p + 4]);
	}
	return (size_t)-1;
}

#define MAXPK 20000
static pk_t PK[MAXPK];

static void generator_checks(void)
{
	char err[512], pcap[600];
	snprintf(pcap, sizeof pcap, "%s/gen.pcap", tu_tmpdir());
	for (int kind = 0; kind < 8; kind++) {
		static const char *const KN[] = { "late segment", "ACK before data", "reply first", "stray RST in window",
		                                  "stray SYN out of window", "timestamp outliers", "clock step", "drop" };
		tlsgen_opts_t o;
		base(&o, P_RSA_GCM, TLSGEN_APP_SIP);
		switch (kind) {
		case 0: o.late_segment = 1; break;
		case 1: o.ack_before_data = 1; break;
		case 2: o.reply_first = 1; break;
		case 3: o.stray_rst = 1; o.stray_in_window = 1; break;
		case 4: o.stray_syn = 1; break;
		case 5: o.ts_outlier = 1; break;
		case 6: o.ts_step = 1; break;
		case 7: o.drop = 1; break;
		}
		tlsgen_result_t g;
		memset(&g, 0, sizeof g);
		tu_frames_t fr;
		if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "generator %s: %s", KN[kind], err); continue; }
		if (tu_load_frames(pcap, &fr) != 0) { tap_ok(0, "generator %s: unreadable pcap", KN[kind]); tlsgen_result_free(&g); continue; }
		const tlsgen_conn_t *c = &g.conns[0];
		size_t n = parse_pcap(&fr, c, PK, MAXPK);
		size_t as[2] = { app_start(c->tls[0], c->tls_len[0]), app_start(c->tls[1], c->tls_len[1]) };
		int ok = 0;
		char what[300] = "";
		switch (kind) {
		case 0: {   /* [D2, ACK(D), D]: D late, D2 continues D's stream, the ACK covers D's end */
			unsigned cnt[2] = { 0, 0 }, app[2] = { 0, 0 };
			for (size_t i = 0; i + 2 < n; i++) {
				const pk_t *d2 = &PK[i], *a = &PK[i + 1], *d = &PK[i + 2];
				if (!is_dat(d2) || !is_ack(a) || !is_dat(d) || d->dir != d2->dir || a->dir == d->dir) continue;
				if (d->off + d->len != d2->off || a->ack != d->seq + (uint32_t)d->len) continue;
				cnt[d->dir]++;
				if (d->off >= as[d->dir]) app[d->dir]++;
			}
			ok = cnt[0] == c->n_late[0] && cnt[1] == c->n_late[1] && app[0] && app[1];
			snprintf(what, sizeof what, "[D2, ACK(D), D] in the pcap: c2s %u (%u in app data), s2c %u (%u); tlsgen says %u/%u",
			         cnt[0], app[0], cnt[1], app[1], c->n_late[0], c->n_late[1]);
			break;
		}
		case 1: {
			unsigned cnt = 0;
			for (size_t i = 0; i + 1 < n; i++) {
				const pk_t *a = &PK[i], *d = &PK[i + 1];
				if (is_ack(a) && is_dat(d) && a->dir != d->dir && a->ack == d->seq + (uint32_t)d->len) cnt++;
			}
			ok = cnt >= 1 && cnt >= c->n_ack_first;
			snprintf(what, sizeof what, "ACK directly before the data it acknowledges: %u (tlsgen says %u)", cnt, c->n_ack_first);
			break;
		}
		case 2: {
			size_t ch = pk_at(PK, n, 0, 0), sh = pk_at(PK, n, 1, 0);
			size_t cke = pk_at(PK, n, 0, rec_off(c->tls[0], c->tls_len[0], 22, 16));
			size_t ccs = pk_at(PK, n, 1, rec_off(c->tls[1], c->tls_len[1], 20, -1));
			/* server application data acknowledging client bytes not yet captured */
			size_t early_reply = 0, cmax = 0;
			for (size_t i = 0; i < n; i++) {
				if (is_dat(&PK[i]) && PK[i].dir == 0 && PK[i].off + PK[i].len > cmax) cmax = PK[i].off + PK[i].len;
				if (is_dat(&PK[i]) && PK[i].dir == 1 && PK[i].off >= as[1] &&
				    (size_t)(uint32_t)(PK[i].ack - c->isn[0] - 1) > cmax) early_reply++;
			}
			ok = sh < ch && ccs < cke && early_reply > 0;
			snprintf(what, sizeof what, "ServerHello at %zu before ClientHello at %zu; server CCS at %zu before "
			         "ClientKeyExchange at %zu; %zu server app packets before the request they answer", sh, ch, ccs, cke, early_reply);
			break;
		}
		case 3: case 4: {
			int rst = kind == 3;
			size_t at = (size_t)-1;
			for (size_t i = 0; i < n; i++)
				if (PK[i].dir >= 0 && (PK[i].flags & (rst ? 0x04 : 0x02)) && i > 3) at = i;
			if (at == (size_t)-1) { snprintf(what, sizeof what, "no injected packet"); break; }
			int d = PK[at].dir;
			size_t exp = 0;
			for (size_t i = 0; i < at; i++)
				if (is_dat(&PK[i]) && PK[i].dir == d && PK[i].off + PK[i].len > exp) exp = PK[i].off + PK[i].len;
			uint32_t want = c->isn[d] + 1 + (uint32_t)exp;
			int more = 0;
			for (size_t i = at + 1; i < n; i++) if (is_dat(&PK[i]) && PK[i].dir == d && PK[i].off == exp) more = 1;
			int fin_end = n >= 3 && (PK[n - 3].flags & 0x01) && (PK[n - 2].flags & 0x01) && PK[n - 1].flags == 0x10;
			uint32_t dist = PK[at].seq - want;
			if (dist > 0x80000000u) dist = 0u - dist;
			ok = at == c->stray_packet[0] && more && fin_end && (rst ? dist == 0 : dist >= 0x20000000u) && c->n_stray == 1;
			snprintf(what, sizeof what, "%s at packet %zu (tlsgen says %zu): seq %+lld from next expected, same sender's data "
			         "follows %d, FIN exchange at the end %d", rst ? "RST" : "SYN", at, c->stray_packet[0],
			         (long long)(int32_t)(PK[at].seq - want), more, fin_end);
			break;
		}
		case 5: {
			size_t fut = g.ts_outlier_packet[0], past = g.ts_outlier_packet[1];
			ok = g.n_ts_outliers == 2 && fut < n && past < n && PK[fut].dir == -1 && PK[past].dir == -1 && !PK[past].tcp &&
			     PK[fut].ts > PK[fut - 1].ts + 3649.0 * 86400 && PK[past].ts < PK[past - 1].ts - 86399.0 &&
			     PK[fut + 1].ts < PK[fut - 1].ts + 1 && PK[past + 1].ts > PK[past - 1].ts - 1 &&
			     fut > n / 4 && past < n * 3 / 4 + 2;
			snprintf(what, sizeof what, "future frame %zu (+%.0f days), past frame %zu (%.0f s), of %zu packets", fut,
			         fut < n && fut ? (PK[fut].ts - PK[fut - 1].ts) / 86400 : 0.0, past,
			         past < n && past ? PK[past].ts - PK[past - 1].ts : 0.0, n);
			break;
		}
		case 6: {
			size_t k = g.ts_step_packet;
			int later = 1;
			for (size_t i = k; i < n && k; i++) if (PK[i].ts > PK[k - 1].ts - 3590) later = 0;
			ok = g.ts_steps == 1 && k > n / 4 && k < n && PK[k].ts < PK[k - 1].ts - 3599 && later;
			snprintf(what, sizeof what, "clock steps back at packet %zu of %zu (%.0f s), every later packet earlier %d", k, n,
			         k && k < n ? PK[k].ts - PK[k - 1].ts : 0.0, later);
			break;
		}
		case 7: {
			uint64_t lost[2];
			for (int d = 0; d < 2; d++) {
				uint8_t *cov = calloc(c->tls_len[d] + 1, 1);
				for (size_t i = 0; i < n; i++)
					if (is_dat(&PK[i]) && PK[i].dir == d)
						for (size_t b = PK[i].off; b < PK[i].off + PK[i].len && b < c->tls_len[d]; b++) cov[b] = 1;
				lost[d] = 0;
				for (size_t b = 0; b < c->tls_len[d]; b++) lost[d] += !cov[b];
				free(cov);
			}
			ok = lost[0] == c->lost[0] && lost[1] == c->lost[1] && lost[0] + lost[1] > 0;
			snprintf(what, sizeof what, "bytes missing from the pcap %llu/%llu, tlsgen says %llu/%llu",
			         (unsigned long long)lost[0], (unsigned long long)lost[1], (unsigned long long)c->lost[0],
			         (unsigned long long)c->lost[1]);
			break;
		}
		}
		tap_ok(ok, "generator %s, checked on the pcap: %s", KN[kind], what);
		tu_free_frames(&fr);
		tlsgen_result_free(&g);
	}
}

/* ---- single and combined manglings over profiles x apps ---- */

enum { CK_SPLIT = 1, CK_EVICT = 2 };

typedef struct mangle {
	const char *name;
	int ack_first, late, reply, rst, syn, inwin, outlier, step, conns, dup, reorder, split;
	unsigned checks;
} mangle_t;

static const mangle_t MANGLES[] = {
	{ "ACK before its data", .ack_first = 1 },
	{ "late segment [D2, ACK(D), D]", .late = 1 },
	{ "reply first (1 packet)", .reply = 1 },
	{ "reply first (up to 4 packets)", .reply = 4 },
	{ "stray RST out of window", .rst = 1, .checks = CK_SPLIT },
	{ "stray RST in window, data follows", .rst = 1, .inwin = 1, .checks = CK_SPLIT },
	{ "stray SYN out of window", .syn = 1, .checks = CK_SPLIT },
	{ "stray SYN in window, data follows", .syn = 1, .inwin = 1, .checks = CK_SPLIT },
	{ "timestamp outliers (+10 years, -1 day), 3 connections", .outlier = 1, .conns = 3, .checks = CK_EVICT },
	{ "capture clock steps back 1 hour, 3 connections", .step = 1, .conns = 3, .checks = CK_EVICT },
	/* combined */
	{ "late + ACK first + reply first 2", .late = 1, .ack_first = 1, .reply = 2 },
	{ "reply first 4 + in-window RST and SYN + clock step", .reply = 4, .rst = 1, .syn = 1, .inwin = 1, .step = 1,
	  .checks = CK_SPLIT | CK_EVICT },
	{ "late + duplicate + reorder + out-of-window RST + outliers, 3 connections", .late = 1, .dup = 1, .reorder = 1,
	  .rst = 1, .outlier = 1, .conns = 3, .checks = CK_SPLIT | CK_EVICT },
	{ "split 200 + late + reply first 3 + ACK first + out-of-window SYN", .split = 200, .late = 1, .reply = 3,
	  .ack_first = 1, .syn = 1, .checks = CK_SPLIT },
};

static void mangle_cases(void)
{
	for (size_t m = 0; m < sizeof MANGLES / sizeof *MANGLES; m++)
		for (int p = 0; p < P__N; p++)
			for (int app = TLSGEN_APP_SIP; app <= TLSGEN_APP_HTTP; app++) {
				const mangle_t *M = &MANGLES[m];
				char label[300];
				snprintf(label, sizeof label, "%s %s: %s", PROF[p].name, app == TLSGEN_APP_SIP ? "SIP" : "HTTP", M->name);
				tlsgen_opts_t o;
				base(&o, p, app);
				o.ack_before_data = M->ack_first; o.late_segment = M->late; o.reply_first = M->reply;
				o.stray_rst = M->rst; o.stray_syn = M->syn; o.stray_in_window = M->inwin;
				o.ts_outlier = M->outlier; o.ts_step = M->step; o.connections = M->conns ? M->conns : 1;
				o.duplicate = M->dup; o.reorder = M->reorder; o.split = M->split;
				cap_t c;
				if (!gen_run(&o, p, label, &c, NULL)) continue;
				int ok = gv_verify(&c.g, &c.r, label, GV_CHECK_EMS_RESUMED | (PROF[p].keylog ? GV_KEY_NOT_RSA : 0));
				if ((M->checks & CK_SPLIT) && !not_split(&c, label)) ok = 0;
				if ((M->checks & CK_EVICT) && c.r.st.flows_evicted_timeout != 0) {
					tap_diag("%s: %llu flows evicted by timeout", label, (unsigned long long)c.r.st.flows_evicted_timeout);
					ok = 0;
				}
				const tlsgen_conn_t *g0 = &c.g.conns[0];
				tap_ok(ok, "%s (late %u/%u, ack-first %u, reply-first %u/hs %u, stray %u): byte-exact, decrypted",
				       label, g0->n_late[0], g0->n_late[1], g0->n_ack_first, g0->n_reply_first, g0->n_reply_first_hs,
				       g0->n_stray);
				cap_free(&c);
			}
}

/* ---- timestamp outliers with a key log that is written only after every packet ---- */

static void outlier_late_keylog(void)
{
	for (int p = P_ECDHE; p <= P_TLS13; p++) {
		char label[200], kl_late[600], err[512];
		snprintf(label, sizeof label, "%s: outliers, key log written after the last packet", PROF[p].name);
		tlsgen_opts_t o;
		base(&o, p, TLSGEN_APP_SIP);
		o.connections = 3;
		o.ts_outlier = 1;
		cap_t c;
		memset(&c, 0, sizeof c);
		snprintf(c.pcap, sizeof c.pcap, "%s/late.pcap", tu_tmpdir());
		snprintf(c.kl, sizeof c.kl, "%s/late-gen.keys", tu_tmpdir());
		snprintf(kl_late, sizeof kl_late, "%s/late.keys", tu_tmpdir());
		unlink(c.kl); unlink(kl_late);
		o.keylog_file = c.kl;
		if (tlsgen_run(&o, c.pcap, &c.g, err, sizeof err) != 0) { tap_ok(0, "%s: generator: %s", label, err); continue; }
		tls_keystore_t *ks = tls_keystore_new();
		tls_keystore_add_keylog(ks, kl_late, 0, err, sizeof err);
		tls_callbacks_t cb = tu_callbacks(&c.r);
		tls_engine_t *e = tls_engine_new(NULL, &ks, 1, &cb);   /* keylog_wait: default */
		tu_feed_pcap(e, c.pcap);
		uint8_t *keys; size_t kn;
		if (tu_read_file(c.kl, &keys, &kn) == 0) {
			FILE *f = fopen(kl_late, "w");
			if (f) { fwrite(keys, 1, kn, f); fclose(f); }
			free(keys);
		}
		tls_engine_flush(e);
		tls_engine_get_stats(e, &c.r.st);
		tls_engine_free(e);
		tls_keystore_unref(ks);
		int ok = gv_verify(&c.g, &c.r, label, GV_KEY_NOT_RSA);
		if (c.r.st.flows_evicted_timeout) { tap_diag("%s: %llu flows evicted by timeout", label, (unsigned long long)c.r.st.flows_evicted_timeout); ok = 0; }
		tap_ok(ok, "%s: nothing evicted, every session decrypted", label);
		cap_free(&c);
	}
}

/* ---- real loss: reported, never invented ---- */

/* Every non-raw message delivered for (flow, dir) is one of the generated messages of that
 * direction, in order (a message cut by a gap must not be emitted as SIP/HTTP). */
static int subsequence(const tlsgen_conn_t *gc, const tu_run_t *r, uint64_t flow, int d, const char *label)
{
	size_t k = 0;
	for (size_t i = 0; i < r->n_msgs; i++) {
		const tu_msg_t *m = &r->msgs[i];
		if (m->flow != flow || m->dir != d || m->app == TLS_APP_RAW) continue;
		while (k < gc->n_msgs && !(gc->msgs[k].dir == d && gc->msgs[k].len == m->len &&
		                           memcmp(gc->msgs[k].data, m->data, m->len) == 0)) k++;
		if (k == gc->n_msgs) {
			tap_diag("%s: dir %d: delivered %s message of %zu bytes is not one the peer sent (%.40s)", label, d,
			         m->app == TLS_APP_SIP ? "SIP" : "HTTP", m->len, (const char *)m->data);
			return 0;
		}
		k++;
	}
	return 1;
}

static void loss_cases(void)
{
	static const int profs[] = { P_RSA_GCM, P_RSA_CBC, P_TLS13 };
	for (size_t i = 0; i < sizeof profs / sizeof *profs; i++)
		for (int app = TLSGEN_APP_SIP; app <= TLSGEN_APP_HTTP; app++) {
			int p = profs[i];
			char label[300];
			snprintf(label, sizeof label, "%s %s: one data segment per direction dropped", PROF[p].name,
			         app == TLSGEN_APP_SIP ? "SIP" : "HTTP");
			tlsgen_opts_t o;
			base(&o, p, app);
			o.drop = 1;
			cap_t c;
			if (!gen_run(&o, p, label, &c, NULL)) { tap_ok(0, "%s: loss reported", label); continue; }
			const tlsgen_conn_t *gc = &c.g.conns[0];
			const tu_session_t *s = tu_session_by_port(&c.r, gc->client_port);
			int ok = s != NULL;
			for (int d = 0; d < 2 && s; d++) if (!subsequence(gc, &c.r, s->flow, d, label)) ok = 0;
			tap_ok(ok, "%s: nothing invented (every SIP/HTTP message delivered is one the peer sent; lost %llu/%llu bytes)",
			       label, (unsigned long long)gc->lost[0], (unsigned long long)gc->lost[1]);
#ifdef TLS_SESSION_HAS_LOSS
			ok = s != NULL;
			if (s) {
				int clean = s->decrypted && s->reason == TLS_REASON_NONE && !s->gaps[0] && !s->gaps[1];
				if (clean) { tap_diag("%s: session reported clean despite loss", label); ok = 0; }
				if (!(s->reason == TLS_REASON_GAP || s->decrypted)) {
					tap_diag("%s: reason %s (want gap, or decrypted with gaps)", label, tls_reason_name(s->reason));
					ok = 0;
				}
				for (int d = 0; d < 2; d++) {
					if (!gc->lost[d]) continue;
					if (s->gaps[d] == 0 || s->lost_bytes[d] != gc->lost[d]) {
						tap_diag("%s: dir %d: gaps %llu, lost_bytes %llu; tlsgen dropped %llu bytes", label, d,
						         (unsigned long long)s->gaps[d], (unsigned long long)s->lost_bytes[d],
						         (unsigned long long)gc->lost[d]);
						ok = 0;
					}
				}
			}
			tap_ok(ok, "%s: loss reported (gaps > 0, lost_bytes = bytes dropped, per direction)", label);
#else
			tap_ok(s && !(s->decrypted && s->reason == TLS_REASON_NONE && c.r.st.gaps == 0),
			       "%s: loss visible (session not a clean success, or the engine counted a gap: %llu gaps, reason %s)",
			       label, (unsigned long long)c.r.st.gaps, s ? tls_reason_name(s->reason) : "-");
			tap_skip("per-session gaps/lost_bytes: engine does not define TLS_SESSION_HAS_LOSS yet");
#endif
			cap_free(&c);
		}
}

/* ---- renegotiation ---- */

/* Heap checks (glibc mallinfo2) only without AddressSanitizer, whose allocator is not
 * glibc's; under ASan its leak checker covers the same ground at exit. */
#if defined(__SANITIZE_ADDRESS__)
#define HEAP_CHECKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_CHECKS 0
#endif
#endif
#if !defined(HEAP_CHECKS) && !(defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33))
#define HEAP_CHECKS 0     /* mallinfo2 needs glibc 2.33 */
#endif
#ifndef HEAP_CHECKS
#define HEAP_CHECKS 1
#endif

/* Heap bytes left allocated after a keystore + engine run over the capture + collected
 * output are all freed again. Runs twice; the second run is measured. */
#if HEAP_CHECKS
static long engine_heap_leftover(const cap_t *c, int prof)
{
	long left = 0;
	for (int k = 0; k < 2; k++) {
		struct mallinfo2 b0 = mallinfo2();
		tls_keystore_t *ks = prof_store(prof, c->kl);
		tu_run_t r;
		tu_run_pcap(c->pcap, &ks, 1, NULL, &r);
		tu_run_free(&r);
		tls_keystore_unref(ks);          /* also frees key-log secrets loaded during the run */
		struct mallinfo2 m1 = mallinfo2();
		left = (long)m1.uordblks - (long)b0.uordblks;
	}
	return left;
}
#else
static long engine_heap_leftover(const cap_t *c, int prof) { (void)c; (void)prof; return 0; }
#endif

static void renegotiation_cases(void)
{
	static const struct { int prof, n, msgs, app; } R[] = {
		{ P_RSA_GCM, 100, 60, TLSGEN_APP_SIP }, { P_RSA_CBC, 20, 20, TLSGEN_APP_HTTP },
		{ P_ECDHE, 30, 20, TLSGEN_APP_SIP }, { P_ECDHE, 5, 8, TLSGEN_APP_HTTP },
	};
	/* control for the heap measurement: the same without renegotiation leaves nothing */
	if (HEAP_CHECKS) {
		tlsgen_opts_t o;
		base(&o, P_RSA_GCM, TLSGEN_APP_SIP);
		o.n_messages = 60;
		cap_t c;
		if (gen_run(&o, P_RSA_GCM, "heap control", &c, NULL)) {
			long left = engine_heap_leftover(&c, P_RSA_GCM);
			tap_ok(left < 16384, "heap control: TLS1.2 RSA without renegotiation leaves %ld heap bytes (< 16 KiB)", left);
			cap_free(&c);
		}
	}
	for (size_t i = 0; i < sizeof R / sizeof *R; i++) {
		char label[300];
		snprintf(label, sizeof label, "%s %s: %d renegotiations in one connection", PROF[R[i].prof].name,
		         R[i].app == TLSGEN_APP_SIP ? "SIP" : "HTTP", R[i].n);
		tlsgen_opts_t o;
		base(&o, R[i].prof, R[i].app);
		o.renegotiate = R[i].n;
		o.n_messages = R[i].msgs;
		if (i == 3) { o.late_segment = 1; o.reply_first = 2; }
		cap_t c;
		if (!gen_run(&o, R[i].prof, label, &c, NULL)) continue;
		int ok = gv_verify(&c.g, &c.r, label, PROF[R[i].prof].keylog ? GV_KEY_NOT_RSA : 0);
		tap_ok(ok, "%s%s (%u done by the peers): byte-exact", label, i == 3 ? ", late segments + reply first" : "",
		       c.g.conns[0].renegotiations);
		if (i < 3) {
			if (HEAP_CHECKS) {
				long left = engine_heap_leftover(&c, R[i].prof);
				tap_ok(left < 16384, "%s: engine leaves %ld heap bytes allocated after tls_engine_free (< 16 KiB)", label, left);
			} else {
				tap_skip("heap accounting under AddressSanitizer: its leak checker reports at exit");
			}
		}
		cap_free(&c);
	}
}

/* ---- 0-RTT accepted and rejected ---- */

/* Number of c2s messages of flow containing the bytes p[0..n). */
static size_t count_containing(const tu_run_t *r, uint64_t flow, const uint8_t *p, size_t n, double *first_ts)
{
	size_t k = 0;
	for (size_t i = 0; i < r->n_msgs; i++) {
		const tu_msg_t *m = &r->msgs[i];
		if (m->flow != flow || m->dir != 0 || !memmem(m->data, m->len, p, n)) continue;
		if (!k && first_ts) *first_ts = m->ts;
		k++;
	}
	return k;
}

static void early_data_cases(void)
{
	for (int mode = 0; mode <= 2; mode++)
		for (int app = TLSGEN_APP_SIP; app <= TLSGEN_APP_HTTP; app++)
			for (int mg = 0; mg < 2; mg++) {
				static const char *const MN[] = { "accepted", "rejected (PSK accepted, early data refused)",
				                                  "rejected (ticket refused, full handshake)" };
				char label[300];
				snprintf(label, sizeof label, "TLS1.3 0-RTT %s %s%s", MN[mode], app == TLSGEN_APP_SIP ? "SIP" : "HTTP",
				         mg ? ", split 300 + duplicate" : "");
				tlsgen_opts_t o;
				base(&o, P_TLS13, app);
				o.connections = 2; o.resume = 2; o.early_data = 1; o.early_data_reject = mode;
				if (mg) { o.duplicate = 1; o.split = 300; }
				cap_t c;
				if (!gen_run(&o, P_TLS13, label, &c, NULL)) continue;
				const tlsgen_conn_t *g1 = &c.g.conns[1];
				int ok = gv_verify(&c.g, &c.r, label, GV_KEY_NOT_RSA);
				if (mode == 0 && !g1->early_data) { tap_diag("%s: server did not accept 0-RTT", label); ok = 0; }
				if (mode > 0) {
					if (!g1->early_rejected || !g1->early_resent || g1->early_data) {
						tap_diag("%s: generator: early rejected %d resent %d", label, g1->early_rejected, g1->early_resent);
						ok = 0;
					}
					const tu_session_t *s = tu_session_by_port(&c.r, g1->client_port);
					if (s && g1->early_plain) {
						double ts = 0;
						size_t n = count_containing(&c.r, s->flow, g1->early_plain, g1->early_len, &ts);
						/* the re-sent copy exactly once, never the refused early record */
						if (n != 1) { tap_diag("%s: early plaintext delivered %zu times (want 1: the re-sent copy)", label, n); ok = 0; }
						/* the copy delivered was completed by a packet after the server's first
						 * flight (the 0-RTT records all precede it in these captures) */
						tu_frames_t fr;
						if (n == 1 && tu_load_frames(c.pcap, &fr) == 0) {
							size_t np = parse_pcap(&fr, g1, PK, MAXPK), sh = (size_t)-1;
							for (size_t k = 0; k < np && sh == (size_t)-1; k++) if (is_dat(&PK[k]) && PK[k].dir == 1) sh = k;
							if (sh == (size_t)-1 || ts <= PK[sh].ts) {
								tap_diag("%s: the early plaintext was delivered from the 0-RTT flight", label);
								ok = 0;
							}
							tu_free_frames(&fr);
						}
					}
				}
				tap_ok(ok, "%s: %s", label, mode ? "byte-exact, rejected early data never emitted, the re-sent copy once"
				                                  : "byte-exact, the accepted early data delivered once, first");
				cap_free(&c);
			}
}

/* ---- TLS 1.3 resumption with a static ECDHE key (psk_dhe_ke) and psk_ke ---- */

static void static_resumption_cases(void)
{
	static const struct { const char *key; int psk_ke; int app; int mg; } S[] = {
		{ ST_P256, 0, TLSGEN_APP_SIP, 0 }, { ST_X25519, 0, TLSGEN_APP_HTTP, 0 }, { ST_X25519, 0, TLSGEN_APP_SIP, 1 },
		{ ST_P256, 1, TLSGEN_APP_SIP, 0 }, { ST_X25519, 1, TLSGEN_APP_HTTP, 0 },
	};
	for (size_t i = 0; i < sizeof S / sizeof *S; i++) {
		char label[300], err[512], pcap[600];
		snprintf(label, sizeof label, "TLS1.3 static ECDHE %s resumption %s %s%s", S[i].key == ST_P256 ? "P-256" : "X25519",
		         S[i].psk_ke ? "psk_ke" : "psk_dhe_ke", S[i].app == TLSGEN_APP_SIP ? "SIP" : "HTTP",
		         S[i].mg ? ", late + reply first" : "");
		snprintf(pcap, sizeof pcap, "%s/st.pcap", tu_tmpdir());
		tlsgen_opts_t o;
		base(&o, P_TLS13, S[i].app);
		o.static_ecdhe_key = S[i].key;
		o.connections = 2; o.resume = 2; o.psk_ke_only = S[i].psk_ke;
		if (S[i].mg) { o.late_segment = 1; o.reply_first = 2; }
		tlsgen_result_t g;
		memset(&g, 0, sizeof g);
		if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "%s: generator: %s", label, err); continue; }
		const tlsgen_conn_t *c1 = &g.conns[1];
		int want_mode = S[i].psk_ke ? 1 : 2;
		tap_ok(c1->resumed && c1->ch_psk && (c1->ch_psk_modes & 2) && c1->ch_key_share && c1->psk_mode == want_mode,
		       "%s: generator: conn 2 resumed %d, ClientHello psk modes %u key_share %d, ServerHello mode %d (want %d)",
		       label, c1->resumed, c1->ch_psk_modes, c1->ch_key_share, c1->psk_mode, want_mode);
		tls_keystore_t *ks = tls_keystore_new();
		int rc = tls_keystore_add_key_file(ks, S[i].key, NULL, NULL, NULL, err, sizeof err, NULL, 0);
		tu_run_t r;
		tu_run_pcap(pcap, &ks, 1, NULL, &r);
		tls_keystore_unref(ks);
		int ok = rc == 0 && gv_verify(&g, &r, label, GV_KEY_NOT_RSA);
		const tu_session_t *s1 = tu_session_by_port(&r, c1->client_port);
		if (s1 && s1->key != TLS_KEY_ECDHE_STATIC && s1->key != TLS_KEY_RESUMPTION) ok = 0;
		tap_ok(ok, "%s: connection 2 byte-exact, key %s (%s)", label,
		       s1 && tls_key_kind_name(s1->key) ? tls_key_kind_name(s1->key) : "none",
		       s1 ? tls_reason_name(s1->reason) : "no session");
		/* the resumed connection alone (its first connection not captured): resumption_miss */
		tu_frames_t fr;
		if (!S[i].mg && tu_load_frames(pcap, &fr) == 0) {
			tu_run_t r2;
			memset(&r2, 0, sizeof r2);
			ks = tls_keystore_new();
			tls_keystore_add_key_file(ks, S[i].key, NULL, NULL, NULL, err, sizeof err, NULL, 0);
			tls_callbacks_t cb = tu_callbacks(&r2);
			tls_engine_t *e = tls_engine_new(NULL, &ks, 1, &cb);
			for (size_t k = c1->first_packet; k < c1->first_packet + c1->n_packets && k < fr.n; k++)
				tls_engine_feed_frame(e, fr.dlt, fr.d[k], fr.len[k], fr.ts[k]);
			tls_engine_flush(e);
			tls_engine_free(e);
			tls_keystore_unref(ks);
			tap_ok(r2.n_sess == 1 && !r2.sess[0].decrypted && r2.sess[0].reason == TLS_REASON_RESUMPTION_MISS && r2.n_msgs == 0,
			       "%s: without the first connection: resumption_miss, no plaintext (%s, %zu messages)", label,
			       r2.n_sess ? tls_reason_name(r2.sess[0].reason) : "no session", r2.n_msgs);
			tu_run_free(&r2);
			tu_free_frames(&fr);
		}
		tu_run_free(&r);
		tlsgen_result_free(&g);
	}
}

/* The session flags of TLS 1.3 PSK resumption (key log): resumed is reported. */
static void resumed_flag_case(void)
{
	tlsgen_opts_t o;
	base(&o, P_TLS13, TLSGEN_APP_SIP);
	o.connections = 2; o.resume = 2;
	cap_t c;
	const char *label = "TLS1.3 key log ticket resumption";
	if (!gen_run(&o, P_TLS13, label, &c, NULL)) return;
	int ok = c.g.conns[1].resumed && gv_verify(&c.g, &c.r, label, GV_KEY_NOT_RSA | GV_CHECK_EMS_RESUMED);
	tap_ok(ok, "%s: byte-exact, connection 2 reported resumed", label);
	cap_free(&c);
}

int main(void)
{
	tls_engine_global_init();
	snprintf(RSA_KEY, sizeof RSA_KEY, "%s/rsa.key", tu_tmpdir());
	snprintf(RSA_CERT, sizeof RSA_CERT, "%s/rsa.crt", tu_tmpdir());
	snprintf(ST_P256, sizeof ST_P256, "%s/static-p256.key", tu_tmpdir());
	snprintf(ST_X25519, sizeof ST_X25519, "%s/static-x25519.key", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", RSA_KEY, RSA_CERT, NULL) || tlsgen_make_key("p256", ST_P256, NULL, NULL) ||
	    tlsgen_make_key("x25519", ST_X25519, NULL, NULL)) {
		tap_ok(0, "make keys");
		return tap_done();
	}
#ifdef TLS_SESSION_HAS_LOSS
	tap_diag("engine reports per-session loss (TLS_SESSION_HAS_LOSS)");
#else
	tap_diag("engine does not define TLS_SESSION_HAS_LOSS: per-session loss checks are skipped");
#endif
	generator_checks();
	mangle_cases();
	outlier_late_keylog();
	loss_cases();
	renegotiation_cases();
	early_data_cases();
	static_resumption_cases();
	resumed_flag_case();
	return tap_done();
}
