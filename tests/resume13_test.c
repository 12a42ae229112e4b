/*
 * resume13_test.c — TLS 1.3 resumption without a key log (issue 9): real OpenSSL peers
 * whose server computes its key share with a static ECDHE key (tlsgen static_ecdhe_key)
 * resume with session tickets (psk_dhe_ke: the PSK of the previous connection plus a
 * fresh key exchange with the same static key, OpenSSL's default). The engine gets only
 * the static key: the first connection decrypts with it, and each later one with the
 * PSK that the engine derived from the previous connection's resumption master secret
 * and NewSessionTicket (RFC 8446 §4.6.1) — byte-exact, key kind "resumption". A resumed
 * connection whose first connection is not in the capture ends as resumption_miss.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"
#include "genverify.h"
#include "session_cache.h"

static char RSA_KEY[512], RSA_CERT[512];

static const char *static_key(const char *kind)
{
	static char sk[600];
	snprintf(sk, sizeof sk, "%s/static-%s.key", tu_tmpdir(), kind);
	if (access(sk, R_OK) != 0 && tlsgen_make_key(kind, sk, NULL, NULL) != 0) return NULL;
	return sk;
}

static void base(tlsgen_opts_t *o, const char *sk)
{
	tlsgen_opts_defaults(o);
	o->key_file = RSA_KEY;
	o->cert_file = RSA_CERT;
	o->tls_version = 0x0304;
	o->static_ecdhe_key = sk;
}

/* Generate, then decrypt with only the static key. conn_from: feed the capture from
 * this connection on (earlier connections are not captured). */
static int gen_run(tlsgen_opts_t *o, const char *label, size_t conn_from, tlsgen_result_t *g, tu_run_t *r)
{
	char pcap[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/r13.pcap", tu_tmpdir());
	memset(g, 0, sizeof *g);
	memset(r, 0, sizeof *r);
	if (tlsgen_run(o, pcap, g, err, sizeof err) != 0) { tap_ok(0, "%s: generator: %s", label, err); return -1; }
	tls_keystore_t *ks = tls_keystore_new();
	if (tls_keystore_add_key_file(ks, o->static_ecdhe_key, NULL, NULL, NULL, err, sizeof err, NULL, 0) != 0) {
		tls_keystore_unref(ks);
		tlsgen_result_free(g);
		tap_ok(0, "%s: static key: %s", label, err);
		return -1;
	}
	if (conn_from == 0) {
		tu_run_pcap(pcap, &ks, 1, NULL, r);
	} else {
		tu_frames_t fr;
		if (tu_load_frames(pcap, &fr) != 0) { tls_keystore_unref(ks); tlsgen_result_free(g); return -1; }
		tls_callbacks_t cb = tu_callbacks(r);
		tls_engine_t *e = tls_engine_new(NULL, &ks, 1, &cb);
		for (size_t i = g->conns[conn_from].first_packet; i < fr.n; i++)
			tls_engine_feed_frame(e, fr.dlt, fr.d[i], fr.len[i], fr.ts[i]);
		tls_engine_flush(e);
		tls_engine_get_stats(e, &r->st);
		tls_engine_free(e);
		tu_free_frames(&fr);
	}
	tls_keystore_unref(ks);
	return 0;
}

/* Every connection byte-exact; the first with the static key, the others resumed. */
static void check_chain(tlsgen_opts_t *o, const char *label)
{
	tlsgen_result_t g;
	tu_run_t r;
	if (gen_run(o, label, 0, &g, &r) != 0) return;
	int ok = gv_verify(&g, &r, label, GV_CHECK_EMS_RESUMED | GV_KEY_NOT_RSA);
	size_t resumed = 0;
	for (size_t c = 0; c < g.n_conns; c++) {
		const tu_session_t *s = tu_session_by_port(&r, g.conns[c].client_port);
		tls_key_kind_t want = c == 0 ? TLS_KEY_ECDHE_STATIC : TLS_KEY_RESUMPTION;
		if (c > 0 && !g.conns[c].resumed) { tap_diag("%s: conn %zu: OpenSSL did not resume", label, c); ok = 0; }
		if (o->hrr && !g.conns[c].hrr) { tap_diag("%s: conn %zu: no HelloRetryRequest", label, c); ok = 0; }
		if (!s || s->key != want) {
			tap_diag("%s: conn %zu: key %s, want %s", label, c, s ? tls_key_kind_name(s->key) : "-", tls_key_kind_name(want));
			ok = 0;
		}
		resumed += g.conns[c].resumed;
	}
	if (r.st.resumptions != resumed) {
		tap_diag("%s: %llu resumptions counted, %zu", label, (unsigned long long)r.st.resumptions, resumed);
		ok = 0;
	}
	if (o->early_data && (g.n_conns < 2 || !g.conns[g.n_conns - 1].early_data)) {
		tap_diag("%s: the server did not accept 0-RTT data: case does not test it", label);
		ok = 0;
	}
	tap_ok(ok, "%s (%zu connections, %zu messages)", label, g.n_conns, r.n_msgs);
	tu_run_free(&r);
	tlsgen_result_free(&g);
}

/* session_cache: TLS 1.3 PSKs and TLS <= 1.2 masters share the cache but never mix */
static void test_cache(void)
{
	session_cache_t *sc = session_cache_new(2);
	uint8_t a[32] = { 1 }, b[32] = { 2 }, c[32] = { 3 }, ms[48], psk[48], out[48];
	memset(ms, 0xA5, sizeof ms);
	memset(psk, 0x5A, sizeof psk);
	int h = 0;
	uint16_t suite = 0, ver = 0;
	session_cache_put(sc, a, 32, ms, 0xC02F, 0x0303);
	session_cache_put_psk(sc, b, 32, psk, 32, 3, 0x1301);
	size_t n = session_cache_get_psk(sc, b, 32, out, &h, &suite);
	tap_ok(n == 32 && h == 3 && suite == 0x1301 && !memcmp(out, psk, 32), "cache: PSK stored with its hash and suite");
	tap_ok(session_cache_get_psk(sc, a, 32, out, &h, &suite) == 0 && session_cache_get(sc, b, 32, out, &suite, &ver) != 0 &&
	       session_cache_get(sc, a, 32, out, &suite, &ver) == 0 && !memcmp(out, ms, 48) && ver == 0x0303,
	       "cache: a PSK is never returned as a master secret, nor a master as a PSK");
	session_cache_put_psk(sc, a, 32, psk, 48, 4, 0x1302);       /* replaces the master */
	tap_ok(session_cache_get(sc, a, 32, out, &suite, &ver) != 0 && session_cache_get_psk(sc, a, 32, out, &h, &suite) == 48 &&
	       h == 4, "cache: an id re-used for a PSK replaces the master secret");
	session_cache_put_psk(sc, c, 32, psk, 32, 3, 0x1301);       /* capacity 2: the oldest (b) goes */
	tap_ok(session_cache_get_psk(sc, b, 32, out, &h, &suite) == 0 && session_cache_get_psk(sc, c, 32, out, &h, &suite) == 32,
	       "cache: bounded, oldest PSK evicted");
	session_cache_put_psk(sc, b, 32, psk, 49, 3, 0x1301);       /* over 48 bytes: refused */
	tap_ok(session_cache_get_psk(sc, b, 32, out, &h, &suite) == 0, "cache: PSK over 48 bytes refused");
	session_cache_free(sc);
}

int main(void)
{
	tls_engine_global_init();
	test_cache();
	snprintf(RSA_KEY, sizeof RSA_KEY, "%s/rsa.key", tu_tmpdir());
	snprintf(RSA_CERT, sizeof RSA_CERT, "%s/rsa.crt", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", RSA_KEY, RSA_CERT, NULL)) {
		tap_ok(0, "make keys");
		return tap_done();
	}
	char label[256];
	unsigned seed = 900;

	/* psk_dhe_ke resumption chains: static key → PSK(conn 1) → PSK(conn 2) */
	static const char *KINDS[] = { "p256", "x25519" };
	static const char *SUITES[] = { "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256" };
	for (size_t k = 0; k < 2; k++)
		for (size_t s = 0; s < 2; s++)
			for (int app = 1; app <= 2; app++) {
				const char *sk = static_key(KINDS[k]);
				if (!sk) { tap_ok(0, "make %s key", KINDS[k]); continue; }
				tlsgen_opts_t o;
				base(&o, sk);
				o.cipher = SUITES[s];
				o.app = app;
				o.connections = 3;
				o.resume = 2;
				o.seed = seed++;
				snprintf(label, sizeof label, "static %s %s %s: 3 connections, ticket resumption", KINDS[k], SUITES[s],
				         app == 1 ? "SIP" : "HTTP");
				check_chain(&o, label);
			}
	{
		tlsgen_opts_t o;
		/* SHA-384 suite, mangled segments */
		base(&o, static_key("p256"));
		o.cipher = "TLS_AES_256_GCM_SHA384";
		o.connections = 3; o.resume = 2; o.split = 97; o.reorder = 1; o.duplicate = 1; o.seed = seed++;
		check_chain(&o, "static p256 TLS_AES_256_GCM_SHA384 split+reorder+dup: 3 connections, ticket resumption");
		/* 0-RTT under the PSK's early secret (fixed seeds: tlsgen's 0-RTT needs a first
		 * client message that fits OpenSSL's early-data limit) */
		base(&o, static_key("x25519"));
		o.cipher = "TLS_AES_128_GCM_SHA256";
		o.connections = 2; o.resume = 2; o.early_data = 1; o.seed = 4;
		check_chain(&o, "static x25519 0-RTT early data with the cached PSK");
		base(&o, static_key("p256"));
		o.cipher = "TLS_CHACHA20_POLY1305_SHA256";
		o.connections = 3; o.resume = 2; o.early_data = 1; o.split = 61; o.seed = 1;
		check_chain(&o, "static p256 ChaCha20 0-RTT early data with the cached PSK, split");
	}

	/* psk_ke: resumption without any (EC)DHE (the handshake secret's input is zeros) */
	for (size_t k = 0; k < 2; k++) {
		tlsgen_opts_t o;
		base(&o, static_key(KINDS[k]));
		o.cipher = SUITES[k];
		o.connections = 3; o.resume = 2; o.psk_ke = 1; o.seed = seed++;
		snprintf(label, sizeof label, "static %s %s: 3 connections, psk_ke resumption", KINDS[k], SUITES[k]);
		check_chain(&o, label);
	}

	/* HelloRetryRequest in every connection (the client's first key share is not the
	 * server's group): the resumed ClientHello2 offers the PSK again */
	{
		tlsgen_opts_t o;
		base(&o, static_key("p256"));
		o.groups = "P-256";
		o.hrr = 1;
		o.connections = 3; o.resume = 2; o.seed = seed++;
		check_chain(&o, "static p256 HelloRetryRequest: 3 connections, ticket resumption");
	}

	/* the connection that issued the ticket is not in the capture */
	{
		tlsgen_opts_t o;
		base(&o, static_key("p256"));
		o.cipher = "TLS_AES_128_GCM_SHA256";
		o.connections = 3; o.resume = 2; o.seed = seed++;
		tlsgen_result_t g;
		tu_run_t r;
		if (gen_run(&o, "resumption miss", 1, &g, &r) == 0) {
			const tu_session_t *s0 = tu_session_by_port(&r, g.conns[0].client_port);
			const tu_session_t *s1 = tu_session_by_port(&r, g.conns[1].client_port);
			const tu_session_t *s2 = tu_session_by_port(&r, g.conns[2].client_port);
			tap_ok(!s0, "connection before the capture: no session");
			tap_ok(s1 && !s1->decrypted && s1->resumed && s1->reason == TLS_REASON_RESUMPTION_MISS &&
			       tu_count(&r, s1->flow, 0) == 0 && tu_count(&r, s1->flow, 1) == 0,
			       "resumed session whose PSK is unknown: resumption_miss, no plaintext (%s)",
			       s1 ? tls_reason_name(s1->reason) : "none");
			/* its ticket could not be learnt either: the chain stays broken, visibly */
			tap_ok(s2 && !s2->decrypted && s2->reason == TLS_REASON_RESUMPTION_MISS,
			       "next resumption from it: resumption_miss too (%s)", s2 ? tls_reason_name(s2->reason) : "none");
			tap_ok(r.n_msgs == 0 && r.st.resumptions == 0, "nothing emitted (%zu messages)", r.n_msgs);
			tu_run_free(&r);
			tlsgen_result_free(&g);
		}
	}

	return tap_done();
}
