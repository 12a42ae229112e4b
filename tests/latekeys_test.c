/*
 * latekeys_test.c — renegotiating TLS 1.2 sessions decrypted with a key-log file that
 * grows late, the way a live capture sees it (TAP).
 *
 * Why: an endpoint writes its key-log line asynchronously and the capture reader reads
 * the file later, so every handshake of a session — the first one and each renegotiation
 * — meets records it cannot decrypt yet. The engine must hold them (both directions),
 * and when the line appears replay them in protocol order, exactly as if the key had been
 * there all along. Real OpenSSL peers (tlsgen --renegotiate) make the capture; the test
 * feeds it frame by frame to an engine whose key-log file starts empty and appends each
 * handshake's line only K packets after the first packet that needs it (the first record
 * after either side's ChangeCipherSpec, or after the server's), with capture clocks that
 * let the engine notice the new line mid-capture or only at the end of input. TLS 1.2
 * ECDHE and RSA key exchange, plain and with late segments + replies captured first.
 * Every message must come out once, in order, byte-exact (gv_verify).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"
#include "genverify.h"

#define MAX_HS 64

static char RSA_KEY[512], RSA_CERT[512];

/* One generated capture: frames, and per handshake the packet that first needs its key. */
typedef struct cap {
	tlsgen_result_t g;
	tu_frames_t fr;
	char *lines[MAX_HS];               /* key-log lines of the connection, in handshake order */
	size_t n_lines;
	size_t need[2][MAX_HS];            /* [anchor][handshake]: first packet needing its key */
	size_t n_hs;
} cap_t;

/* Offsets (in the direction's TCP stream) just past each ChangeCipherSpec record. */
static size_t ccs_ends(const uint8_t *s, size_t len, size_t *out, size_t max)
{
	size_t n = 0, off = 0;
	while (off + 5 <= len && n < max) {
		size_t rl = (size_t)s[off + 3] << 8 | s[off + 4];
		if (off + 5 + rl > len) break;
		if (s[off] == 20) out[n++] = off + 5 + rl;
		off += 5 + rl;
	}
	return n;
}

/* Direction and stream range of a frame's TCP payload (Ethernet, IPv4, as tlsgen writes). */
static int frame_range(const tlsgen_conn_t *c, const uint8_t *p, size_t len, size_t *from, size_t *to)
{
	if (len < 14 + 20 || p[12] != 0x08 || p[13] != 0x00) return -1;
	const uint8_t *ip = p + 14;
	size_t ihl = (size_t)(ip[0] & 15) * 4, tot = (size_t)ip[2] << 8 | ip[3];
	if (ip[9] != 6 || tot > len - 14 || tot < ihl + 20) return -1;
	const uint8_t *tcp = ip + ihl;
	size_t doff = (size_t)(tcp[12] >> 4) * 4;
	if (tot < ihl + doff) return -1;
	size_t pl = tot - ihl - doff;
	if (!pl) return -1;
	uint16_t sport = (uint16_t)(tcp[0] << 8 | tcp[1]);
	int dir = sport == c->client_port ? 0 : 1;
	uint32_t seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
	*from = (uint32_t)(seq - c->isn[dir] - 1);
	*to = *from + pl;
	return dir;
}

static void cap_free(cap_t *c)
{
	for (size_t i = 0; i < c->n_lines; i++) free(c->lines[i]);
	tu_free_frames(&c->fr);
	tlsgen_result_free(&c->g);
	memset(c, 0, sizeof *c);
}

/* Generate the capture and find, per handshake, the first packet carrying bytes after a
 * ChangeCipherSpec of that handshake: anchor 0 either direction, anchor 1 the server's. */
static int cap_make(cap_t *c, const char *cipher, int app, int reneg, int n_msgs, bool mangle, unsigned seed,
                    const char *label)
{
	memset(c, 0, sizeof *c);
	char pcap[600], kl[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/late.pcap", tu_tmpdir());
	snprintf(kl, sizeof kl, "%s/late.keys", tu_tmpdir());
	unlink(kl);
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = RSA_KEY;
	o.cert_file = RSA_CERT;
	o.tls_version = 0x0303;
	o.cipher = cipher;
	o.app = app;
	o.n_messages = n_msgs;
	o.renegotiate = reneg;
	o.seed = seed;
	o.keylog_file = kl;
	if (mangle) { o.late_segment = 1; o.reply_first = 2; }
	if (tlsgen_run(&o, pcap, &c->g, err, sizeof err) != 0) {
		tap_ok(0, "%s: generator: %s", label, err);
		return 0;
	}
	const tlsgen_conn_t *k = &c->g.conns[0];
	if (c->g.n_conns != 1 || (int)k->renegotiations != reneg) {
		tap_ok(0, "%s: generator made %zu connections, %u renegotiations (want 1, %d)", label, c->g.n_conns,
		       c->g.n_conns ? k->renegotiations : 0, reneg);
		return 0;
	}
	for (char *p = k->keylog, *e; p && *p && c->n_lines < MAX_HS; p = e + 1) {
		e = strchr(p, '\n');
		if (!e) break;
		c->lines[c->n_lines++] = strndup(p, (size_t)(e - p + 1));
	}
	if (c->n_lines == 2 * ((size_t)reneg + 1)) {
		/* RSA key exchange: OpenSSL writes an RSA line and a CLIENT_RANDOM line per handshake */
		for (size_t i = 0; i < c->n_lines / 2; i++) {
			size_t a = strlen(c->lines[2 * i]), b = strlen(c->lines[2 * i + 1]);
			char *m = malloc(a + b + 1);
			if (!m) abort();
			memcpy(m, c->lines[2 * i], a);
			memcpy(m + a, c->lines[2 * i + 1], b + 1);
			free(c->lines[2 * i]);
			free(c->lines[2 * i + 1]);
			c->lines[i] = m;
		}
		c->n_lines /= 2;
	}
	size_t ends[2][MAX_HS], ne[2];
	for (int d = 0; d < 2; d++) ne[d] = ccs_ends(k->tls[d], k->tls_len[d], ends[d], MAX_HS);
	c->n_hs = (size_t)reneg + 1;
	if (c->n_lines != c->n_hs || ne[0] != c->n_hs || ne[1] != c->n_hs) {
		tap_ok(0, "%s: %zu key-log lines, %zu/%zu ChangeCipherSpec records for %zu handshakes", label,
		       c->n_lines, ne[0], ne[1], c->n_hs);
		return 0;
	}
	if (tu_load_frames(pcap, &c->fr) != 0) { tap_ok(0, "%s: pcap unreadable", label); return 0; }
	for (size_t h = 0; h < c->n_hs; h++) {
		c->need[0][h] = c->need[1][h] = c->fr.n;
		for (size_t i = 0; i < c->fr.n; i++) {
			size_t from, to;
			int d = frame_range(k, c->fr.d[i], c->fr.len[i], &from, &to);
			if (d < 0 || to <= ends[d][h]) continue;
			if (i < c->need[0][h]) c->need[0][h] = i;
			if (d == 1 && i < c->need[1][h]) c->need[1][h] = i;
		}
		if (c->need[0][h] == c->fr.n || c->need[1][h] == c->fr.n) {
			tap_ok(0, "%s: no packet after handshake %zu's ChangeCipherSpec", label, h);
			return 0;
		}
	}
	return 1;
}

/* Feed the capture with the key-log file growing late: handshake h's line is appended
 * after packet need[anchor][h] + lag (the engine has started waiting for it). With
 * spacing > 0 the frames are re-timed spacing seconds apart (the engine re-reads key logs
 * every 50 ms of capture time while sessions wait); 0 keeps tlsgen's clock (the whole
 * capture lasts a few ms: the lines are noticed at the end of input). */
static int run_late(const cap_t *c, int anchor, size_t lag, double spacing, unsigned flags, const char *label)
{
	char kl[600], err[512];
	static unsigned n_run;
	snprintf(kl, sizeof kl, "%s/grow%u.keys", tu_tmpdir(), n_run++);
	FILE *f = fopen(kl, "w");
	if (!f) { tap_ok(0, "%s: cannot create %s", label, kl); return 0; }
	fclose(f);
	tls_keystore_t *ks = tls_keystore_new();
	if (!ks || tls_keystore_add_keylog(ks, kl, 0, err, sizeof err) != 0) {
		tap_ok(0, "%s: key log: %s", label, err);
		return 0;
	}
	tu_run_t r;
	memset(&r, 0, sizeof r);
	tls_callbacks_t cb = tu_callbacks(&r);
	tls_engine_config_t cfg;
	tls_engine_config_defaults(&cfg);
	cfg.keylog_wait = 3600;          /* the test decides when lines come, not the wait bound */
	tls_engine_t *e = tls_engine_new(&cfg, &ks, 1, &cb);
	if (!e) { tap_ok(0, "%s: engine", label); tls_keystore_unref(ks); return 0; }
	size_t next = 0;
	for (size_t i = 0; i < c->fr.n; i++) {
		double ts = spacing > 0 ? c->fr.ts[0] + spacing * (double)i : c->fr.ts[i];
		tls_engine_feed_frame(e, c->fr.dlt, c->fr.d[i], c->fr.len[i], ts);
		while (next < c->n_hs && c->need[anchor][next] + lag <= i) {
			f = fopen(kl, "a");
			if (!f) break;
			fputs(c->lines[next], f);
			fclose(f);
			next++;
		}
	}
	f = fopen(kl, "a");                      /* lines still due after the last packet */
	for (; f && next < c->n_hs; next++) fputs(c->lines[next], f);
	if (f) fclose(f);
	tls_engine_flush(e);
	tls_engine_get_stats(e, &r.st);
	tls_engine_free(e);
	tls_keystore_unref(ks);
	int ok = gv_verify(&c->g, &r, label, flags);
	tu_run_free(&r);
	return ok;
}

int main(void)
{
	const char *dir = tu_tmpdir();
	snprintf(RSA_KEY, sizeof RSA_KEY, "%s/k.pem", dir);
	snprintf(RSA_CERT, sizeof RSA_CERT, "%s/c.pem", dir);
	if (tlsgen_make_key("rsa2048", RSA_KEY, RSA_CERT, NULL) != 0) {
		tap_ok(0, "tlsgen_make_key rsa2048");
		return tap_done();
	}
	static const struct { const char *name, *cipher; int app, reneg, msgs; } S[] = {
		{ "TLS1.2 ECDHE", "ECDHE-RSA-AES128-GCM-SHA256", TLSGEN_APP_HTTP, 5, 8 },
		{ "TLS1.2 RSA", "AES128-GCM-SHA256", TLSGEN_APP_SIP, 6, 12 },
		{ "TLS1.2 ECDHE CBC", "ECDHE-RSA-AES128-SHA256", TLSGEN_APP_SIP, 4, 10 },
	};
	static const size_t LAG[] = { 0, 1, 3, 8, 20 };
	static const double SPACING[] = { 0, 0.02, 0.06 };
	unsigned seed = 4200;
	for (size_t s = 0; s < sizeof S / sizeof *S; s++)
		for (int mangle = 0; mangle < 2; mangle++) {
			char base[200];
			snprintf(base, sizeof base, "%s %s key log, %d renegotiations%s", S[s].name,
			         S[s].app == TLSGEN_APP_SIP ? "SIP" : "HTTP", S[s].reneg,
			         mangle ? ", late segments + reply first" : "");
			cap_t c;
			if (!cap_make(&c, S[s].cipher, S[s].app, S[s].reneg, S[s].msgs, mangle, seed++, base)) {
				cap_free(&c);
				continue;
			}
			int bad = 0, runs = 0;
			for (int anchor = 0; anchor < 2; anchor++)
				for (size_t l = 0; l < sizeof LAG / sizeof *LAG; l++)
					for (size_t sp = 0; sp < sizeof SPACING / sizeof *SPACING; sp++) {
						char label[400];
						snprintf(label, sizeof label, "%s: line %zu packets after the %s ChangeCipherSpec, frames %.2f s apart",
						         base, LAG[l], anchor ? "server's" : "first", SPACING[sp]);
						runs++;
						if (!run_late(&c, anchor, LAG[l], SPACING[sp], GV_KEY_NOT_RSA, label)) {
							bad++;
							tap_diag("FAILED: %s", label);
						}
					}
			tap_ok(bad == 0, "%s: key-log lines appended late, %d timings: %d byte-exact", base, runs, runs - bad);
			cap_free(&c);
		}
	return tap_done();
}
