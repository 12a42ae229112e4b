/*
 * samples_test.c — decrypts the real-peer captures of ../shared/samples (kamailio/sipp
 * SIP over TLS 1.2 RSA+EMS, curl/nginx HTTPS TLS 1.3 with a key log, and an ECDHE session
 * without keys) and compares byte-exact with the plaintext the applications logged.
 * Driven by manifest.tsv; skips cleanly when ../shared is absent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "testutil.h"

#define MAXF 16

static int split_tabs(char *line, char **f, int max)
{
	int n = 0;
	char *s = line;
	while (n < max) {
		f[n++] = s;
		char *t = strchr(s, '\t');
		if (!t) break;
		*t = 0;
		s = t + 1;
	}
	char *nl = strpbrk(f[n - 1], "\r\n");
	if (nl) *nl = 0;
	return n;
}

static void check_case(const char *dir, char **f)
{
	const char *id = f[0], *pcap = f[1], *keymat = f[3], *ver = f[4], *suite = f[5], *ems = f[6];
	const char *expect = f[12];
	char path[2048], kpath[2048], err[512];
	snprintf(path, sizeof path, "%s/%s", dir, pcap);
	tls_keystore_t *ks = tls_keystore_new();
	const char *colon = strchr(keymat, ':');
	if (!colon) { tap_ok(0, "%s: bad key_material %s", id, keymat); return; }
	snprintf(kpath, sizeof kpath, "%s/%s", dir, colon + 1);
	int krc;
	if (!strncmp(keymat, "rsa:", 4))
		krc = tls_keystore_add_key_file(ks, kpath, NULL, NULL, NULL, err, sizeof err, NULL, 0);
	else
		krc = tls_keystore_add_keylog(ks, kpath, 0, err, sizeof err);
	if (!tap_ok(krc == 0, "%s: key material loads (%s)", id, krc ? err : "ok")) { tls_keystore_unref(ks); return; }
	tu_run_t r;
	int rc = tu_run_pcap(path, &ks, 1, NULL, &r);
	tls_keystore_unref(ks);
	tap_ok(rc == 0, "%s: pcap readable", id);
	tap_ok(r.n_sess == 1, "%s: exactly one session reported (%zu)", id, r.n_sess);
	const tu_session_t *s = r.n_sess ? &r.sess[0] : NULL;
	if (s) tap_ok(s->final_reports == 1, "%s: one final session report", id);
	if (!strcmp(expect, "decrypt")) {
		if (s) {
			tap_ok(s->decrypted && s->reason == TLS_REASON_NONE, "%s: session decrypted (reason %s)", id,
			       tls_reason_name(s->reason));
			tap_ok(tls_version_name(s->version) && !strcmp(tls_version_name(s->version), ver),
			       "%s: version %s", id, ver);
			tap_ok(tls_suite_name(s->suite) && !strcmp(tls_suite_name(s->suite), suite), "%s: suite %s (got %s)",
			       id, suite, tls_suite_name(s->suite) ? tls_suite_name(s->suite) : "?");
			if (!strcmp(ems, "yes")) tap_ok(s->ems, "%s: extended master secret", id);
		}
		for (int d = 0; d < 2; d++) {
			char pp[2048];
			snprintf(pp, sizeof pp, "%s/%s", dir, f[10 + d]);
			uint8_t *want = NULL;
			size_t wl = 0;
			if (tu_read_file(pp, &want, &wl) != 0) { tap_ok(0, "%s: read %s", id, pp); continue; }
			size_t gl = 0;
			uint8_t *got = s ? tu_concat(&r, s->flow, d, &gl) : NULL;
			tap_ok(got && gl == wl && memcmp(got, want, wl) == 0, "%s: %s plaintext byte-exact (%zu/%zu bytes)",
			       id, d ? "s2c" : "c2s", gl, wl);
			size_t nmsg = 0;
			for (size_t i = 0; i < r.n_msgs; i++)
				if (s && r.msgs[i].flow == s->flow && r.msgs[i].dir == d && !r.msgs[i].keepalive) nmsg++;
			size_t want_n = (size_t)atoi(f[8 + d]);
			tap_ok(nmsg == want_n, "%s: %s message count %zu (want %zu)", id, d ? "s2c" : "c2s", nmsg, want_n);
			free(got);
			free(want);
		}
	} else {
		tap_ok(r.n_msgs == 0, "%s: no plaintext emitted (%zu messages)", id, r.n_msgs);
		if (s) {
			tap_ok(!s->decrypted, "%s: session not decrypted", id);
			tap_ok(s->reason == TLS_REASON_PFS_NO_KEYLOG, "%s: reason pfs_no_keylog (got %s)", id,
			       tls_reason_name(s->reason));
		}
	}
	tu_run_free(&r);
}

/* The capture bundled in the repository (samples/, used by the README quick start). */
static void bundled_sample(void)
{
	const char *top = getenv("top_srcdir");
	char pcap[1024], key[1024], txt[1024];
	snprintf(pcap, sizeof pcap, "%s/samples/sip-tls12-rsa.pcap", top ? top : ".");
	snprintf(key, sizeof key, "%s/samples/server-rsa.key", top ? top : ".");
	tls_keystore_t *ks = tu_keystore(key, NULL);
	tu_run_t r;
	int rc = tu_run_pcap(pcap, &ks, 1, NULL, &r);
	tls_keystore_unref(ks);
	tap_ok(rc == 0 && r.n_sess == 1 && r.sess[0].decrypted && r.sess[0].ems, "bundled sample: one session, decrypted, EMS");
	for (int d = 0; d < 2; d++) {
		snprintf(txt, sizeof txt, "%s/samples/sip-tls12-rsa.%s.txt", top ? top : ".", d ? "s2c" : "c2s");
		uint8_t *want = NULL;
		size_t wl = 0, gl = 0;
		uint8_t *got = r.n_sess ? tu_concat(&r, r.sess[0].flow, d, &gl) : NULL;
		int rrc = tu_read_file(txt, &want, &wl);
		tap_ok(rrc == 0 && got && gl == wl && !memcmp(got, want, wl),
		       "bundled sample: %s byte-exact (%zu/%zu)", d ? "s2c" : "c2s", gl, wl);
		free(want);
		free(got);
	}
	tu_run_free(&r);
}

int main(void)
{
	bundled_sample();
	const char *dir = tu_samples_dir();
	if (!dir) {
		tap_skip("../shared/samples not found (set SHARED_SAMPLES): real-peer captures not tested");
		return tap_done();
	}
	char mpath[2048];
	snprintf(mpath, sizeof mpath, "%s/manifest.tsv", dir);
	FILE *m = fopen(mpath, "r");
	if (!m) { tap_skip("manifest.tsv missing"); return tap_done(); }
	char line[8192];
	int n = 0;
	while (fgets(line, sizeof line, m)) {
		if (n++ == 0) continue;              /* header */
		char *f[MAXF];
		if (split_tabs(line, f, MAXF) < 13) continue;
		check_case(dir, f);
	}
	fclose(m);
	return tap_done();
}
