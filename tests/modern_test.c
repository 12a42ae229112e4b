/*
 * modern_test.c — forward-secret and TLS 1.3 sessions from real OpenSSL peers:
 * NSS key logs (TLS 1.2 CLIENT_RANDOM and TLS 1.3 traffic secrets) for every TLS 1.3
 * suite and the ECDHE/DHE/ChaCha20/CCM TLS 1.2 suites, also mangled; HelloRetryRequest;
 * KeyUpdate; a key log written only after the packets were fed (live follow); a key log
 * missing a session; a key log with garbage lines. Byte-exact message comparison.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"
#include "genverify.h"

static char RSA_KEY[512], RSA_CERT[512], EC_KEY[512], EC_CERT[512];


/* Generate with a key log, decrypt with only that key log. */
static int run_keylog_case(tlsgen_opts_t *o, const char *label)
{
	char pcap[600], kl[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/m.pcap", tu_tmpdir());
	snprintf(kl, sizeof kl, "%s/m.keys", tu_tmpdir());
	unlink(kl);
	o->keylog_file = kl;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "%s: generator: %s", label, err); return 0; }
	tls_keystore_t *ks = tls_keystore_new();
	tls_keystore_add_keylog(ks, kl, 0, err, sizeof err);
	tu_run_t r;
	tu_run_pcap(pcap, &ks, 1, NULL, &r);
	tls_keystore_unref(ks);
	int ok = gv_verify(&g, &r, label, GV_KEY_NOT_RSA);
	if (o->early_data && (g.n_conns < 2 || !g.conns[g.n_conns - 1].early_data)) {
		tap_diag("%s: the server did not accept 0-RTT data: case does not test it", label);
		ok = 0;
	}
	size_t nm = r.n_msgs;
	tu_run_free(&r);
	tlsgen_result_free(&g);
	return tap_ok(ok, "%s (%zu messages)", label, nm);
}

static void base(tlsgen_opts_t *o, bool ec)
{
	tlsgen_opts_defaults(o);
	o->key_file = ec ? EC_KEY : RSA_KEY;
	o->cert_file = ec ? EC_CERT : RSA_CERT;
}

int main(void)
{
	tls_engine_global_init();
	snprintf(RSA_KEY, sizeof RSA_KEY, "%s/rsa.key", tu_tmpdir());
	snprintf(RSA_CERT, sizeof RSA_CERT, "%s/rsa.crt", tu_tmpdir());
	snprintf(EC_KEY, sizeof EC_KEY, "%s/ec.key", tu_tmpdir());
	snprintf(EC_CERT, sizeof EC_CERT, "%s/ec.crt", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", RSA_KEY, RSA_CERT, NULL) || tlsgen_make_key("p256", EC_KEY, EC_CERT, NULL)) {
		tap_ok(0, "make keys");
		return tap_done();
	}
	char label[256];
	unsigned seed = 100;
	static const char *T13[] = { "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
	                             "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256" };
	static const struct { const char *n; int split, reorder, dup, coalesce; } MG[] = {
		{ "plain", 0, 0, 0, 0 }, { "split", 61, 0, 0, 0 }, { "reorder+dup", 0, 1, 1, 0 }, { "coalesce", 0, 0, 0, 1 } };
	for (size_t s = 0; s < 5; s++)
		for (size_t m = 0; m < 4; m++)
			for (int app = 1; app <= 2; app++) {
				tlsgen_opts_t o;
				base(&o, s % 2);
				o.tls_version = 0x0304;
				o.cipher = T13[s];
				o.app = app;
				o.split = MG[m].split; o.reorder = MG[m].reorder; o.duplicate = MG[m].dup; o.coalesce = MG[m].coalesce;
				o.seed = seed++;
				snprintf(label, sizeof label, "TLS1.3 %s %s key log %s", T13[s], app == 1 ? "SIP" : "HTTP", MG[m].n);
				run_keylog_case(&o, label);
			}
	/* HelloRetryRequest, KeyUpdate, several connections with resumption (PSK) */
	{
		tlsgen_opts_t o;
		base(&o, 0);
		o.tls_version = 0x0304; o.hrr = 1; o.seed = seed++;
		run_keylog_case(&o, "TLS1.3 HelloRetryRequest");
		base(&o, 0);
		o.tls_version = 0x0304; o.key_update = 1; o.n_messages = 10; o.seed = seed++;
		run_keylog_case(&o, "TLS1.3 KeyUpdate both directions");
		base(&o, 0);
		o.tls_version = 0x0304; o.connections = 3; o.resume = 2; o.seed = seed++;
		run_keylog_case(&o, "TLS1.3 3 connections with PSK resumption");
		base(&o, 0);
		o.tls_version = 0x0304; o.ipv6 = 1; o.linktype = 276; o.reorder = 1; o.seed = seed++;
		run_keylog_case(&o, "TLS1.3 IPv6 SLL2 reordered");
		for (int m = 0; m < 2; m++) {
			base(&o, 0);
			o.tls_version = 0x0304; o.connections = 2; o.resume = 2; o.early_data = 1; o.seed = seed++;
			o.cipher = m ? "TLS_CHACHA20_POLY1305_SHA256" : NULL;
			o.split = m ? 77 : 0;
			run_keylog_case(&o, m ? "TLS1.3 0-RTT early data, ChaCha20, split" : "TLS1.3 0-RTT early data");
		}
	}
	/* TLS 1.2 forward-secret suites with a key log */
	static const struct { const char *c; int ec; int etm; } T12[] = {
		{ "ECDHE-RSA-AES128-GCM-SHA256", 0, 1 }, { "ECDHE-RSA-AES256-GCM-SHA384", 0, 1 },
		{ "ECDHE-RSA-AES128-SHA", 0, 1 }, { "ECDHE-RSA-AES256-SHA", 0, 0 },
		{ "ECDHE-RSA-AES128-SHA256", 0, 1 }, { "ECDHE-RSA-AES256-SHA384", 0, 0 },
		{ "ECDHE-RSA-CHACHA20-POLY1305", 0, 1 },
		{ "ECDHE-ECDSA-AES128-GCM-SHA256", 1, 1 }, { "ECDHE-ECDSA-AES256-GCM-SHA384", 1, 1 },
		{ "ECDHE-ECDSA-AES128-SHA256", 1, 1 }, { "ECDHE-ECDSA-AES256-SHA384", 1, 1 },
		{ "ECDHE-ECDSA-CHACHA20-POLY1305", 1, 1 },
		{ "ECDHE-ECDSA-AES128-CCM", 1, 1 }, { "ECDHE-ECDSA-AES256-CCM", 1, 1 },
		{ "ECDHE-ECDSA-AES128-CCM8", 1, 1 }, { "ECDHE-ECDSA-AES256-CCM8", 1, 1 },
		{ "DHE-RSA-AES128-GCM-SHA256", 0, 1 }, { "DHE-RSA-AES256-SHA256", 0, 0 },
		{ "DHE-RSA-CHACHA20-POLY1305", 0, 1 }, { "DHE-RSA-AES128-CCM", 0, 1 },
		{ "AES128-CCM", 0, 1 }, { "AES256-CCM8", 0, 1 },
	};
	for (size_t i = 0; i < sizeof T12 / sizeof *T12; i++)
		for (int m = 0; m < 2; m++) {
			tlsgen_opts_t o;
			base(&o, T12[i].ec);
			o.tls_version = 0x0303;
			o.cipher = T12[i].c;
			o.etm = T12[i].etm;
			o.split = m ? 113 : 0; o.reorder = m;
			o.seed = seed++;
			snprintf(label, sizeof label, "TLS1.2 %s etm=%d key log%s", T12[i].c, T12[i].etm, m ? " split+reorder" : "");
			run_keylog_case(&o, label);
		}

	/* static ECDHE: the real OpenSSL server computes its (EC)DHE share with the configured
	 * key (see tlsgen_static_ecdhe.c); the engine gets only that key file */
	{
		static const struct { const char *kind; int v; const char *cipher; int ec_cert; } ST[] = {
			{ "x25519", 0x0303, "ECDHE-RSA-AES128-GCM-SHA256", 0 }, { "p256", 0x0303, "ECDHE-RSA-AES256-GCM-SHA384", 0 },
			{ "p384", 0x0303, "ECDHE-RSA-CHACHA20-POLY1305", 0 }, { "p256", 0x0303, "ECDHE-ECDSA-AES128-SHA256", 1 },
			{ "x25519", 0x0303, "ECDHE-ECDSA-AES256-CCM8", 1 },
			{ "x25519", 0x0304, "TLS_AES_128_GCM_SHA256", 0 }, { "p256", 0x0304, "TLS_AES_256_GCM_SHA384", 0 },
			{ "p384", 0x0304, "TLS_CHACHA20_POLY1305_SHA256", 1 }, { "x25519", 0x0304, "TLS_AES_128_CCM_SHA256", 0 },
			{ "p256", 0x0304, "TLS_AES_128_CCM_8_SHA256", 0 },
		};
		for (size_t i = 0; i < sizeof ST / sizeof *ST; i++)
			for (int m = 0; m < 2; m++) {
				char sk[600], pcap[600], err[512];
				snprintf(sk, sizeof sk, "%s/static-%s.key", tu_tmpdir(), ST[i].kind);
				if (access(sk, R_OK) != 0 && tlsgen_make_key(ST[i].kind, sk, NULL, NULL) != 0) { tap_ok(0, "make %s", sk); continue; }
				snprintf(pcap, sizeof pcap, "%s/static.pcap", tu_tmpdir());
				tlsgen_opts_t o;
				base(&o, ST[i].ec_cert);
				o.tls_version = ST[i].v;
				o.cipher = ST[i].cipher;
				o.static_ecdhe_key = sk;
				o.split = m ? 89 : 0; o.reorder = m; o.duplicate = m;
				o.seed = seed++;
				tlsgen_result_t g;
				memset(&g, 0, sizeof g);
				snprintf(label, sizeof label, "static ECDHE %s %s %s%s", ST[i].kind, tls_version_name((uint16_t)ST[i].v),
				         ST[i].cipher, m ? " mangled" : "");
				if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "%s: generator: %s", label, err); continue; }
				tls_keystore_t *ks = tls_keystore_new();
				int rc = tls_keystore_add_key_file(ks, sk, NULL, NULL, NULL, err, sizeof err, NULL, 0);
				tu_run_t r;
				tu_run_pcap(pcap, &ks, 1, NULL, &r);
				tls_keystore_unref(ks);
				int ok = rc == 0 && gv_verify(&g, &r, label, GV_KEY_NOT_RSA) && r.n_sess == 1 && r.sess[0].key == TLS_KEY_ECDHE_STATIC;
				tap_ok(ok, "%s (%zu messages)", label, r.n_msgs);
				tu_run_free(&r);
				tlsgen_result_free(&g);
			}
		/* a server whose ephemeral key is not the configured one is not decrypted */
		char sk[600], pcap[600], err[512];
		snprintf(sk, sizeof sk, "%s/static-x25519.key", tu_tmpdir());
		snprintf(pcap, sizeof pcap, "%s/nostatic.pcap", tu_tmpdir());
		for (int v = 0x0303; v <= 0x0304; v++) {
			tlsgen_opts_t o;
			base(&o, 0);
			o.tls_version = v;
			o.groups = "X25519";
			o.seed = seed++;
			tlsgen_result_t g;
			memset(&g, 0, sizeof g);
			if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "generator: %s", err); continue; }
			tls_keystore_t *ks = tls_keystore_new();
			tls_keystore_add_key_file(ks, sk, NULL, NULL, NULL, err, sizeof err, NULL, 0);
			tu_run_t r;
			tu_run_pcap(pcap, &ks, 1, NULL, &r);
			tls_keystore_unref(ks);
			tap_ok(r.n_sess == 1 && !r.sess[0].decrypted && r.sess[0].reason == TLS_REASON_PFS_NO_KEYLOG && r.n_msgs == 0,
			       "%s: fresh ephemeral key, static key configured: pfs_no_keylog, no plaintext (%s)",
			       tls_version_name((uint16_t)v), r.n_sess ? tls_reason_name(r.sess[0].reason) : "-");
			tu_run_free(&r);
			tlsgen_result_free(&g);
		}
	}

	/* live follow: the key log is written only after every packet was fed */
	for (int v = 0; v < 2; v++) {
		char pcap[600], kl[600], kl_late[600], err[512];
		snprintf(pcap, sizeof pcap, "%s/live.pcap", tu_tmpdir());
		snprintf(kl, sizeof kl, "%s/live-gen.keys", tu_tmpdir());
		snprintf(kl_late, sizeof kl_late, "%s/live.keys", tu_tmpdir());
		unlink(kl); unlink(kl_late);
		tlsgen_opts_t o;
		base(&o, 0);
		o.tls_version = v ? 0x0304 : 0x0303;
		o.cipher = v ? NULL : "ECDHE-RSA-AES128-GCM-SHA256";
		o.keylog_file = kl;
		o.seed = seed++;
		tlsgen_result_t g;
		memset(&g, 0, sizeof g);
		if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "live: generator: %s", err); continue; }
		tls_keystore_t *ks = tls_keystore_new();
		int rc = tls_keystore_add_keylog(ks, kl_late, 0, err, sizeof err);   /* does not exist yet */
		tap_ok(rc == 0, "key log that does not exist yet is accepted (%s)", rc ? err : "ok");
		tu_run_t r;
		memset(&r, 0, sizeof r);
		tls_callbacks_t cb = tu_callbacks(&r);
		tls_engine_t *e = tls_engine_new(NULL, &ks, 1, &cb);
		tu_feed_pcap(e, pcap);
		tap_ok(r.n_msgs == 0, "live %s: nothing decrypted before the key log has the keys", v ? "TLS1.3" : "TLS1.2");
		/* the endpoint writes its key log now: first a partial line, then the rest */
		uint8_t *keys; size_t kn;
		tu_read_file(kl, &keys, &kn);
		FILE *f = fopen(kl_late, "w");
		fwrite(keys, 1, kn / 3, f);
		fclose(f);
		f = fopen(kl_late, "a");
		fwrite(keys + kn / 3, 1, kn - kn / 3, f);
		fclose(f);
		free(keys);
		tls_engine_flush(e);
		tls_engine_free(e);
		tls_keystore_unref(ks);
		snprintf(label, sizeof label, "live %s: key log written after the packets still decrypts", v ? "TLS1.3" : "TLS1.2");
		tap_ok(gv_verify(&g, &r, label, GV_KEY_NOT_RSA), "%s", label);
		tu_run_free(&r);
		tlsgen_result_free(&g);
	}

	/* a key log missing one session; garbage lines are skipped */
	{
		char pcap[600], kl[600], kl2[600], err[512];
		snprintf(pcap, sizeof pcap, "%s/miss.pcap", tu_tmpdir());
		snprintf(kl, sizeof kl, "%s/miss-gen.keys", tu_tmpdir());
		snprintf(kl2, sizeof kl2, "%s/miss.keys", tu_tmpdir());
		unlink(kl);
		tlsgen_opts_t o;
		base(&o, 0);
		o.tls_version = 0x0304;
		o.connections = 2;
		o.keylog_file = kl;
		o.seed = seed++;
		tlsgen_result_t g;
		memset(&g, 0, sizeof g);
		if (tlsgen_run(&o, pcap, &g, err, sizeof err) == 0) {
			FILE *f = fopen(kl2, "w");
			fprintf(f, "# garbage follows\nCLIENT_RANDOM zz 00\nSERVER_TRAFFIC_SECRET_0 1234\n");
			fwrite(g.conns[1].keylog, 1, g.conns[1].keylog_len, f);   /* only the second session */
			fclose(f);
			tls_keystore_t *ks = tls_keystore_new();
			tls_keystore_add_keylog(ks, kl2, 0, err, sizeof err);
			tu_run_t r;
			tu_run_pcap(pcap, &ks, 1, NULL, &r);
			tls_keystore_unref(ks);
			const tu_session_t *s0 = tu_session_by_port(&r, g.conns[0].client_port);
			const tu_session_t *s1 = tu_session_by_port(&r, g.conns[1].client_port);
			tap_ok(s0 && !s0->decrypted && s0->reason == TLS_REASON_PFS_NO_KEYLOG && tu_count(&r, s0->flow, 0) == 0,
			       "session missing from the key log: pfs_no_keylog, no plaintext (%s)", s0 ? tls_reason_name(s0->reason) : "none");
			tap_ok(s1 && s1->decrypted && tu_count(&r, s1->flow, 0) > 0, "the other session decrypts");
			tap_ok(r.st.keylog_malformed == 2, "malformed key log lines counted (%llu)", (unsigned long long)r.st.keylog_malformed);
			tu_run_free(&r);
			tlsgen_result_free(&g);
		}
	}
	return tap_done();
}
