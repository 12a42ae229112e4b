/*
 * matrix_test.c — every supported RSA suite × valid version × EMS on/off × EtM on/off,
 * each also under TCP mangling (small segments, coalescing, reordering, duplication),
 * plus link types, IPv6, VLAN, sequence wraparound, HTTP, several connections and
 * resumption (session id, ticket), and key file encodings. Traffic comes from real
 * OpenSSL peers (tlsgen); each case asserts that every message each peer wrote is
 * delivered exactly once, in order, byte-exact, and that the session report is right.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"
#include "genverify.h"

static char KEY[512], CERT[512];
static tls_keystore_t *KS;


static int run_case(tlsgen_opts_t *o, tls_keystore_t *ks, const char *label)
{
	char pcap[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/case.pcap", tu_tmpdir());
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(o, pcap, &g, err, sizeof err) != 0) {
		tap_ok(0, "%s: generator failed: %s", label, err);
		return 0;
	}
	tu_run_t r;
	tu_run_pcap(pcap, &ks, 1, NULL, &r);
	int ok = gv_verify(&g, &r, label, GV_CHECK_EMS_RESUMED);
	size_t nm = r.n_msgs;
	tu_run_free(&r);
	tlsgen_result_free(&g);
	return tap_ok(ok, "%s (%zu messages)", label, nm);
}

struct suite { const char *ossl; int vmin, vmax; int cbc; };
static const struct suite SUITES[] = {
	{ "AES128-GCM-SHA256", 0x0303, 0x0303, 0 },
	{ "AES256-GCM-SHA384", 0x0303, 0x0303, 0 },
	{ "AES128-SHA", 0x0301, 0x0303, 1 },
	{ "AES256-SHA", 0x0301, 0x0303, 1 },
	{ "AES128-SHA256", 0x0303, 0x0303, 1 },
	{ "AES256-SHA256", 0x0303, 0x0303, 1 },
};
struct mangle { const char *name; int split, coalesce, reorder, duplicate; };
static const struct mangle MANGLES[] = {
	{ "plain", 0, 0, 0, 0 }, { "split", 97, 0, 0, 0 }, { "coalesce", 0, 1, 0, 0 },
	{ "reorder", 0, 0, 1, 0 }, { "duplicate", 0, 0, 0, 1 }, { "split+reorder+dup", 300, 0, 1, 1 },
};

static void base_opts(tlsgen_opts_t *o)
{
	tlsgen_opts_defaults(o);
	o->key_file = KEY;
	o->cert_file = CERT;
	o->n_messages = 6;
}

int main(void)
{
	tls_engine_global_init();
	snprintf(KEY, sizeof KEY, "%s/rsa.key", tu_tmpdir());
	snprintf(CERT, sizeof CERT, "%s/rsa.crt", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", KEY, CERT, NULL) != 0) { tap_ok(0, "make RSA key"); return tap_done(); }
	KS = tu_keystore(KEY, NULL);
	char label[256];
	unsigned seed = 1;

	/* suite × version × EMS × EtM × mangling */
	for (size_t s = 0; s < sizeof SUITES / sizeof *SUITES; s++)
		for (int v = SUITES[s].vmin; v <= SUITES[s].vmax; v++)
			for (int ems = 0; ems <= 1; ems++)
				for (int etm = 0; etm <= SUITES[s].cbc; etm++)
					for (size_t m = 0; m < sizeof MANGLES / sizeof *MANGLES; m++) {
						tlsgen_opts_t o;
						base_opts(&o);
						o.tls_version = v;
						o.cipher = SUITES[s].ossl;
						o.ems = ems;
						o.etm = SUITES[s].cbc ? etm : 1;
						o.split = MANGLES[m].split;
						o.coalesce = MANGLES[m].coalesce;
						o.reorder = MANGLES[m].reorder;
						o.duplicate = MANGLES[m].duplicate;
						o.seed = seed++;
						snprintf(label, sizeof label, "%s %s ems=%d etm=%d %s", SUITES[s].ossl,
						         tls_version_name((uint16_t)v), ems, o.etm, MANGLES[m].name);
						run_case(&o, KS, label);
					}

	/* network shapes */
	static const struct { const char *name; int linktype, vlan, ipv6, wrap; } NETS[] = {
		{ "IPv6", 1, 0, 1, 0 }, { "VLAN", 1, 1, 0, 0 }, { "raw IP", 101, 0, 0, 0 },
		{ "Linux SLL", 113, 0, 0, 0 }, { "Linux SLL2", 276, 0, 1, 0 }, { "BSD loopback", 0, 0, 0, 0 },
		{ "seq wraparound", 1, 0, 0, 1 },
	};
	for (size_t i = 0; i < sizeof NETS / sizeof *NETS; i++) {
		tlsgen_opts_t o;
		base_opts(&o);
		o.cipher = "AES256-GCM-SHA384";
		o.linktype = NETS[i].linktype;
		o.vlan = NETS[i].vlan;
		o.ipv6 = NETS[i].ipv6;
		o.isn_near_wrap = (uint32_t)NETS[i].wrap;
		o.reorder = 1;
		o.seed = seed++;
		snprintf(label, sizeof label, "network: %s", NETS[i].name);
		run_case(&o, KS, label);
	}

	/* HTTP framing (Content-Length, chunked, bodiless) */
	for (int m = 0; m < 3; m++) {
		tlsgen_opts_t o;
		base_opts(&o);
		o.app = TLSGEN_APP_HTTP;
		o.cipher = m == 2 ? "AES128-SHA" : "AES128-GCM-SHA256";
		o.n_messages = 8;
		o.split = m == 1 ? 50 : 0;
		o.seed = seed++;
		snprintf(label, sizeof label, "HTTP %s%s", o.cipher, m == 1 ? " split" : "");
		run_case(&o, KS, label);
	}

	/* several connections, resumption by session id and by ticket */
	for (int res = 0; res <= 2; res++) {
		tlsgen_opts_t o;
		base_opts(&o);
		o.cipher = "AES128-GCM-SHA256";
		o.connections = 3;
		o.resume = res;
		o.seed = seed++;
		snprintf(label, sizeof label, "3 connections, resumption %s", res == 0 ? "none" : res == 1 ? "session-id" : "ticket");
		run_case(&o, KS, label);
	}
	/* many messages, long session */
	{
		tlsgen_opts_t o;
		base_opts(&o);
		o.cipher = "AES256-SHA256";
		o.n_messages = 60;
		o.split = 700;
		o.duplicate = 1;
		o.seed = seed++;
		run_case(&o, KS, "60 messages each way, split + duplicates");
	}

	/* lossy captures: one segment lost per direction. Every delivered message must be one
	 * the peer sent (never garbage), the session stays decrypted, and framing resumes
	 * after the gap: the last message of each direction still arrives intact. */
	static const struct { const char *c; int v; } LOSSY[] = {
		{ "AES128-GCM-SHA256", 0x0303 }, { "AES256-SHA256", 0x0303 }, { "AES128-SHA", 0x0302 },
		{ "ECDHE-RSA-CHACHA20-POLY1305", 0x0303 }, { "TLS_AES_128_GCM_SHA256", 0x0304 },
		{ "TLS_CHACHA20_POLY1305_SHA256", 0x0304 },
	};
	for (size_t i = 0; i < sizeof LOSSY / sizeof *LOSSY; i++)
		for (int app = 1; app <= 2; app++) {
			char pcap[600], kl[600], err[512];
			snprintf(pcap, sizeof pcap, "%s/lossy.pcap", tu_tmpdir());
			snprintf(kl, sizeof kl, "%s/lossy.keys", tu_tmpdir());
			unlink(kl);
			tlsgen_opts_t o;
			base_opts(&o);
			o.tls_version = LOSSY[i].v;
			o.cipher = LOSSY[i].c;
			o.app = app;
			o.n_messages = 16;
			o.mss = 600;
			o.drop = 1;
			o.keylog_file = kl;
			o.seed = seed++;
			snprintf(label, sizeof label, "lossy capture %s %s %s", tls_version_name((uint16_t)o.tls_version), o.cipher,
			         app == 1 ? "SIP" : "HTTP");
			tlsgen_result_t g;
			memset(&g, 0, sizeof g);
			if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "%s: generator: %s", label, err); continue; }
			tls_keystore_t *ks = tu_keystore(KEY, NULL);
			tls_keystore_add_keylog(ks, kl, 0, err, sizeof err);
			tu_run_t r;
			tu_run_pcap(pcap, &ks, 1, NULL, &r);
			tls_keystore_unref(ks);
			const tlsgen_conn_t *gc = &g.conns[0];
			int garbage = 0, framed = 0, last_ok[2] = { 0, 0 };
			for (size_t k = 0; k < r.n_msgs; k++) {
				const tu_msg_t *m = &r.msgs[k];
				int match = 0;
				for (size_t j = 0; j < gc->n_msgs && !match; j++)
					if (gc->msgs[j].dir == m->dir && gc->msgs[j].len == m->len && !memcmp(gc->msgs[j].data, m->data, m->len)) {
						match = 1;
						framed++;
					}
				if (!match && (m->app != TLS_APP_RAW ||
				               !memmem(gc->plain[m->dir], gc->plain_len[m->dir], m->data, m->len))) garbage++;
			}
			/* framing resumes after the loss: past the first message that did not arrive,
			 * a later one of the same direction arrives intact (unless the lost one was last) */
			for (int d = 0; d < 2; d++) {
				int seen_missing = 0, later_ok = 0, last_was_missing = 0;
				for (size_t j = 0; j < gc->n_msgs; j++) {
					const tlsgen_msg_t *w = &gc->msgs[j];
					if (w->dir != d || w->keepalive) continue;
					int here = 0;
					for (size_t k = 0; k < r.n_msgs && !here; k++)
						here = r.msgs[k].dir == d && r.msgs[k].len == w->len && !memcmp(r.msgs[k].data, w->data, w->len);
					if (!here) seen_missing = 1;
					else if (seen_missing) later_ok = 1;
					last_was_missing = !here;
				}
				last_ok[d] = !seen_missing || later_ok || last_was_missing;
			}
			const tu_session_t *s = r.n_sess ? &r.sess[0] : NULL;
			tap_ok(s && s->decrypted && garbage == 0 && last_ok[0] && last_ok[1] && framed + 4 >= (int)gc->n_msgs,
			       "%s: %d of %zu messages intact, %d not from the peer, framing %s after the loss (gaps %llu)", label,
			       framed, gc->n_msgs, garbage, last_ok[0] && last_ok[1] ? "resumed" : "DID NOT RESUME",
			       (unsigned long long)r.st.gaps);
			tu_run_free(&r);
			tlsgen_result_free(&g);
		}

	/* key file encodings: the same capture decrypts with PKCS#1/PKCS#8, PEM/DER, encrypted */
	{
		tlsgen_opts_t o;
		base_opts(&o);
		o.cipher = "AES128-GCM-SHA256";
		o.seed = seed++;
		static const struct { const char *name; int fmt; const char *pw; } FMTS[] = {
			{ "PEM PKCS#8", TLSGEN_KEY_PEM_PKCS8, NULL }, { "PEM PKCS#1", TLSGEN_KEY_PEM_TRAD, NULL },
			{ "DER PKCS#8", TLSGEN_KEY_DER_PKCS8, NULL }, { "DER PKCS#1", TLSGEN_KEY_DER_TRAD, NULL },
			{ "PEM PKCS#8 encrypted", TLSGEN_KEY_PEM_PKCS8, "s3cret" },
			{ "PEM PKCS#1 encrypted", TLSGEN_KEY_PEM_TRAD, "s3cret" },
			{ "DER PKCS#8 encrypted", TLSGEN_KEY_DER_PKCS8, "s3cret" },
		};
		for (size_t i = 0; i < sizeof FMTS / sizeof *FMTS; i++) {
			char kp[600], err[512];
			snprintf(kp, sizeof kp, "%s/conv%zu.key", tu_tmpdir(), i);
			if (tlsgen_convert_key(KEY, NULL, kp, FMTS[i].pw, FMTS[i].fmt) != 0) {
				tap_ok(0, "convert key to %s", FMTS[i].name);
				continue;
			}
			tls_keystore_t *ks = tls_keystore_new();
			int rc = tls_keystore_add_key_file(ks, kp, FMTS[i].pw, NULL, NULL, err, sizeof err, NULL, 0);
			if (!tap_ok(rc == 0, "key file %s loads (%s)", FMTS[i].name, rc ? err : "ok")) { tls_keystore_unref(ks); continue; }
			snprintf(label, sizeof label, "decrypt with %s key", FMTS[i].name);
			run_case(&o, ks, label);
			tls_keystore_unref(ks);
		}
	}
	tls_keystore_unref(KS);
	return tap_done();
}
