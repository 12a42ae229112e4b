/*
 * legacy_gnutls_test.c — legacy suites against real gnutls peers on loopback: runs
 * tests/legacy_gnutls.sh (gnutls-serv --echo / gnutls-cli, dumpcap, the client's NSS key
 * log) and decrypts the capture: 3DES-EDE-CBC (TLS 1.0, 1.1, 1.2, with gnutls' default
 * encrypt-then-MAC), RC4-128 with MD5 and SHA-1 MACs (keystream across records), Camellia
 * GCM, NULL with MD5/SHA-1 MACs, under RSA (server key and key log), DHE_RSA, DH_anon,
 * ECDH_anon, ECDHE_RSA and ECDHE_ECDSA. For every session both directions must be
 * byte-exact: c2s what gnutls-cli wrote, s2c what gnutls-cli read back (recorded by the
 * client itself, not taken from the capture). The same capture is then decrypted again
 * after real-capture manglings (pcapmangle: late segments, ACK before data, replies first,
 * duplicates; and SPAN-port reordering), and with only the RSA key for the RSA sessions.
 * SKIP when gnutls, dumpcap or capture permission is missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "tap.h"
#include "testutil.h"
#include "pcapmangle.h"

typedef struct gcase { int n; uint16_t port, id; char name[96]; uint8_t *c2s, *s2c; size_t c2s_len, s2c_len; } gcase_t;

static gcase_t C[64];
static size_t NC;
static char DIR_[512];

static int load_cases(void)
{
	char p[700];
	snprintf(p, sizeof p, "%s/index", DIR_);
	FILE *f = fopen(p, "r");
	if (!f) return -1;
	unsigned n, port, id;
	char name[96];
	while (NC < 64 && fscanf(f, "%u %u %x %95s", &n, &port, &id, name) == 4) {
		gcase_t *c = &C[NC++];
		c->n = (int)n; c->port = (uint16_t)port; c->id = (uint16_t)id;
		snprintf(c->name, sizeof c->name, "%s", name);
		snprintf(p, sizeof p, "%s/%u.c2s", DIR_, n);
		if (tu_read_file(p, &c->c2s, &c->c2s_len) != 0) { fclose(f); return -1; }
		snprintf(p, sizeof p, "%s/%u.s2c", DIR_, n);
		if (tu_read_file(p, &c->s2c, &c->s2c_len) != 0) { fclose(f); return -1; }
	}
	fclose(f);
	return 0;
}

/* Every case (or only the RSA key-exchange ones) decrypted byte-exact in both directions. */
static void check_run(const char *pcap, bool keylog, bool rsa_only, const char *what)
{
	char kl[700], key[700], err[256];
	snprintf(kl, sizeof kl, "%s/keys", DIR_);
	snprintf(key, sizeof key, "%s/rsa.key", DIR_);
	tls_keystore_t *ks = tls_keystore_new();
	if (keylog) tls_keystore_add_keylog(ks, kl, 0, err, sizeof err);
	tls_keystore_add_key_file(ks, key, NULL, NULL, NULL, err, sizeof err, NULL, 0);
	tu_run_t r;
	tu_run_pcap(pcap, &ks, 1, NULL, &r);
	tls_keystore_unref(ks);
	for (size_t i = 0; i < NC; i++) {
		const gcase_t *c = &C[i];
		bool rsa_kx = !strncmp(c->name, "TLS_RSA_", 8);
		if (rsa_only && !rsa_kx) continue;
		const tu_session_t *s = tu_session_by_server_port(&r, c->port);
		size_t l0 = 0, l1 = 0;
		uint8_t *p0 = s ? tu_concat(&r, s->flow, 0, &l0) : NULL, *p1 = s ? tu_concat(&r, s->flow, 1, &l1) : NULL;
		bool ok = s && s->decrypted && s->reason == TLS_REASON_NONE && s->suite == c->id && s->final_reports == 1 &&
		          l0 == c->c2s_len && l1 == c->s2c_len && !memcmp(p0, c->c2s, l0) && !memcmp(p1, c->s2c, l1);
		if (rsa_only && s && s->key != TLS_KEY_RSA) ok = false;
		tap_ok(ok, "gnutls %s (case %d), %s: c2s %zu/%zu, s2c %zu/%zu bytes byte-exact (%s)", c->name, c->n, what,
		       l0, c->c2s_len, l1, c->s2c_len, s ? tls_reason_name(s->reason) : "no session");
		free(p0);
		free(p1);
	}
	tu_run_free(&r);
}

int main(void)
{
	tls_engine_global_init();
	snprintf(DIR_, sizeof DIR_, "%s/gnutls", tu_tmpdir());
	char why[256];
	int rc = tu_run_peer_script("legacy_gnutls.sh", DIR_, why, sizeof why);
	if (rc == 77) {
		printf("1..0 # SKIP %s\n", why);
		return 0;
	}
	if (rc != 0 || load_cases() != 0) {
		tap_ok(0, "legacy_gnutls.sh ran and wrote its index (exit %d)", rc);
		return tap_done();
	}
	char failed[700];
	snprintf(failed, sizeof failed, "%s/failed", DIR_);
	uint8_t *fl = NULL;
	size_t fll = 0;
	tu_read_file(failed, &fl, &fll);
	/* a broken generator is a failure: every listed peer pair must have connected */
	tap_ok(NC >= 25 && fll == 0, "gnutls peers: %zu sessions captured, none failed%s%.*s", NC, fll ? ": " : "",
	       (int)(fll > 300 ? 300 : fll), fll ? (const char *)fl : "");
	free(fl);
	char pcap[700], mpcap[700];
	snprintf(pcap, sizeof pcap, "%s/cap.pcap", DIR_);
	check_run(pcap, true, false, "key log + RSA key");
	check_run(pcap, false, true, "RSA key only");
	static const struct { unsigned kinds; const char *name; } MG[] = {
		{ PM_LATE | PM_ACKFIRST | PM_DUP, "late segments + ACK first + duplicates" },
		{ PM_REPLYFIRST, "replies captured first" },
		{ PM_SPAN, "SPAN-port reordering" },
	};
	for (size_t m = 0; m < sizeof MG / sizeof *MG; m++) {
		pm_report_t rep;
		memset(&rep, 0, sizeof rep);
		snprintf(mpcap, sizeof mpcap, "%s/m%zu.pcap", DIR_, m);
		int mrc = pm_mangle(pcap, mpcap, MG[m].kinds, (uint32_t)(77 + m), &rep);
		if (!tap_ok(mrc == 0 && rep.applied > 0, "mangle: %s (%u changes) %s", MG[m].name, rep.applied, mrc < 0 ? rep.err : ""))
			continue;
		check_run(mpcap, true, false, MG[m].name);
	}
	for (size_t i = 0; i < NC; i++) { free(C[i].c2s); free(C[i].s2c); }
	return tap_done();
}
