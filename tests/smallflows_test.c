/*
 * smallflows_test.c — cipher handles parked and reopened (issue 11 "small flows") decrypt
 * exactly what the peers sent (TAP).
 *
 * Why: an idle flow keeps only compact keys; its libgcrypt handles go back when more than
 * max_open_ciphers flows of a shard hold them (least recently used first) and are reopened
 * by the flow's next record. With max_open_ciphers = 1 and the connections of a real-peer
 * capture (tlsgen: OpenSSL libssl on both sides) fed interleaved packet by packet (each
 * connection's packets in capture order), nearly every record of every connection runs on
 * a reopened handle: GCM / ChaCha20 nonces, TLS 1.0 CBC chained IVs, HMAC keys, TLS 1.3
 * epochs, renegotiation's pending states and manglings (late segments, replies first) must
 * all come out byte-exact, as with the default bound (the reference run).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "testutil.h"
#include "genverify.h"
#include "tlsgen.h"

static char KEY[600], CERT[600];

/* Feed the connections of g interleaved (one packet of each in turn), engine time
 * increasing; flush; collect into r. */
static int run_interleaved(const tu_frames_t *fr, const tlsgen_result_t *g, tls_keystore_t *ks,
                           uint32_t max_open, tu_run_t *r)
{
	memset(r, 0, sizeof *r);
	tls_engine_config_t cfg;
	tls_engine_config_defaults(&cfg);
	cfg.max_open_ciphers = max_open;
	tls_callbacks_t cb = tu_callbacks(r);
	tls_engine_t *e = tls_engine_new(&cfg, &ks, 1, &cb);
	if (!e) return -1;
	size_t *next = calloc(g->n_conns, sizeof *next);
	if (!next) { tls_engine_free(e); return -1; }
	double ts = 1700000000.0;
	for (bool any = true; any;) {
		any = false;
		for (size_t c = 0; c < g->n_conns; c++) {
			if (next[c] >= g->conns[c].n_packets) continue;
			size_t k = g->conns[c].first_packet + next[c]++;
			if (k >= fr->n) continue;
			tls_engine_feed_frame(e, fr->dlt, fr->d[k], fr->len[k], ts);
			ts += 1e-4;
			any = true;
		}
	}
	free(next);
	tls_engine_flush(e);
	tls_engine_get_stats(e, &r->st);
	tls_engine_free(e);
	return 0;
}

int main(void)
{
	const char *dir = tu_tmpdir();
	snprintf(KEY, sizeof KEY, "%s/k.pem", dir);
	snprintf(CERT, sizeof CERT, "%s/c.pem", dir);
	if (tlsgen_make_key("rsa2048", KEY, CERT, NULL) != 0) {
		tap_ok(0, "tlsgen_make_key rsa2048");
		return tap_done();
	}
	static const struct { const char *name, *cipher; int version, app, reneg, mangle; } S[] = {
		{ "TLS1.2 RSA AES128-GCM", "AES128-GCM-SHA256", 0x0303, TLSGEN_APP_SIP, 0, 0 },
		{ "TLS1.2 RSA AES128-GCM, late segments + replies first", "AES128-GCM-SHA256", 0x0303, TLSGEN_APP_SIP, 0, 1 },
		{ "TLS1.2 ECDHE ChaCha20-Poly1305 (key log)", "ECDHE-RSA-CHACHA20-POLY1305", 0x0303, TLSGEN_APP_HTTP, 0, 0 },
		{ "TLS1.0 RSA AES128-CBC-SHA (chained IVs)", "AES128-SHA:@SECLEVEL=0", 0x0301, TLSGEN_APP_SIP, 0, 0 },
		{ "TLS1.2 RSA AES256-CBC-SHA256, 2 renegotiations", "AES256-SHA256", 0x0303, TLSGEN_APP_SIP, 2, 0 },
		{ "TLS1.3 AES-128-GCM (key log)", "TLS_AES_128_GCM_SHA256", 0x0304, TLSGEN_APP_SIP, 0, 0 },
		{ "TLS1.3 ChaCha20 (key log), late segments + replies first", "TLS_CHACHA20_POLY1305_SHA256", 0x0304, TLSGEN_APP_HTTP, 0, 1 },
	};
	for (size_t s = 0; s < sizeof S / sizeof *S; s++) {
		char pcap[700], kl[700], err[512];
		snprintf(pcap, sizeof pcap, "%s/small%zu.pcap", dir, s);
		snprintf(kl, sizeof kl, "%s/small%zu.keys", dir, s);
		remove(kl);
		tlsgen_opts_t o;
		tlsgen_opts_defaults(&o);
		o.key_file = KEY; o.cert_file = CERT;
		o.tls_version = S[s].version;
		o.cipher = S[s].cipher;
		o.app = S[s].app;
		o.connections = 5;
		o.n_messages = 8;
		o.renegotiate = S[s].reneg;
		o.keylog_file = kl;
		o.seed = 9100 + (unsigned)s;
		if (S[s].mangle) { o.late_segment = 1; o.reply_first = 2; }
		tlsgen_result_t g;
		memset(&g, 0, sizeof g);
		if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) {
			tap_ok(0, "%s: generator: %s", S[s].name, err);   /* a broken generator is a failure */
			continue;
		}
		tu_frames_t fr;
		if (tu_load_frames(pcap, &fr) != 0) { tap_ok(0, "%s: load frames", S[s].name); tlsgen_result_free(&g); continue; }
		tls_keystore_t *ks = tls_keystore_new();
		if (!ks || tls_keystore_add_key_file(ks, KEY, NULL, NULL, NULL, err, sizeof err, NULL, 0) != 0 ||
		    tls_keystore_add_keylog(ks, kl, 0, err, sizeof err) != 0) {
			tap_ok(0, "%s: keystore: %s", S[s].name, err);
			tu_free_frames(&fr);
			tlsgen_result_free(&g);
			continue;
		}
		static const uint32_t BOUND[] = { 1024, 1 };
		for (size_t b = 0; b < 2; b++) {
			tu_run_t r;
			char label[300];
			snprintf(label, sizeof label, "%s: %zu connections interleaved, max_open_ciphers %u", S[s].name,
			         g.n_conns, BOUND[b]);
			if (run_interleaved(&fr, &g, ks, BOUND[b], &r) != 0) { tap_ok(0, "%s: engine", label); continue; }
			tap_ok(gv_verify(&g, &r, label, 0) && r.n_msgs > 0, "%s: %zu messages, %zu sessions byte-exact",
			       label, r.n_msgs, r.n_sess);
			tu_run_free(&r);
		}
		tls_keystore_unref(ks);
		tu_free_frames(&fr);
		tlsgen_result_free(&g);
	}
	return tap_done();
}
