/*
 * psk_gnutls_test.c — the PSK family and SRP suites against real peers on loopback: runs
 * tests/psk_gnutls.sh (gnutls-serv --echo with a PSK password file or SRP verifiers;
 * gnutls-cli, or OpenSSL's s_client where this gnutls-cli crashes; dumpcap; the client's
 * NSS key log) and decrypts the capture: PSK with AES-CBC (SHA-1 at TLS 1.1, SHA-256),
 * 3DES at TLS 1.0, AES-GCM (SHA-256/384), AES-CCM, AES-CCM_8, ChaCha20-Poly1305,
 * Camellia-GCM, RC4, NULL; DHE_PSK (CBC-SHA256, GCM, ChaCha20); ECDHE_PSK (CBC-SHA256,
 * CBC-SHA, ChaCha20, NULL); RSA_PSK (GCM, CBC-SHA256); SRP_SHA (AES-128/256 at TLS 1.2
 * and 1.0, 3DES), SRP_SHA_RSA (TLS 1.2, 1.1), SRP_SHA_DSS (AES-128, 3DES at TLS 1.0);
 * and, OpenSSL at both ends, PSK AES-128-CBC-SHA256 at TLS 1.0 and ECDHE_PSK
 * AES-256-CBC-SHA384 at TLS 1.1 (RFC 5487's SHA-256/384 MACs below TLS 1.2).
 *
 * Why: with a CLIENT_RANDOM key-log line the key exchange is irrelevant below TLS 1.3, so
 * these suites decrypt like any other; their handshakes differ (no Certificate for PSK and
 * SRP_SHA, a ServerKeyExchange carrying only an identity hint or SRP parameters, a
 * ClientKeyExchange carrying an identity or SRP A) and must pass the handshake state
 * machine with nothing dropped. For every session both directions must be byte-exact:
 * c2s what the client wrote, s2c what the client read back (recorded by the client, not
 * taken from the capture). Without the key log (only the server's RSA key, which RSA_PSK
 * and SRP_SHA_RSA authenticate with) every session must be refused as pfs_no_keylog with
 * no plaintext. The capture is decrypted again under real-capture manglings (pcapmangle).
 * SKIP when gnutls, srptool, dumpcap or capture permission is missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "tap.h"
#include "testutil.h"
#include "pcapmangle.h"

typedef struct pcase { int n; uint16_t port, id, version; char name[96]; uint8_t *c2s, *s2c; size_t c2s_len, s2c_len; } pcase_t;

static pcase_t C[64];
static size_t NC;
static char DIR_[512];

static int load_cases(void)
{
	char p[700];
	snprintf(p, sizeof p, "%s/index", DIR_);
	FILE *f = fopen(p, "r");
	if (!f) return -1;
	unsigned n, port, id, ver;
	char name[96];
	while (NC < 64 && fscanf(f, "%u %u %x %95s %x", &n, &port, &id, name, &ver) == 5) {
		pcase_t *c = &C[NC++];
		c->n = (int)n; c->port = (uint16_t)port; c->id = (uint16_t)id; c->version = (uint16_t)ver;
		snprintf(c->name, sizeof c->name, "%s", name);
		snprintf(p, sizeof p, "%s/%u.c2s", DIR_, n);
		if (tu_read_file(p, &c->c2s, &c->c2s_len) != 0) { fclose(f); return -1; }
		snprintf(p, sizeof p, "%s/%u.s2c", DIR_, n);
		if (tu_read_file(p, &c->s2c, &c->s2c_len) != 0) { fclose(f); return -1; }
	}
	fclose(f);
	return 0;
}

/* Decrypt `pcap` with the key log (or not) plus the server's RSA key; each case byte-exact
 * (keylog) or refused as pfs_no_keylog with no plaintext (no keylog). */
static void check_run(const char *pcap, bool keylog, const char *what)
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
	size_t good = 0;
	for (size_t i = 0; i < NC; i++) {
		const pcase_t *c = &C[i];
		const tu_session_t *s = tu_session_by_server_port(&r, c->port);
		size_t l0 = 0, l1 = 0;
		uint8_t *p0 = s ? tu_concat(&r, s->flow, 0, &l0) : NULL, *p1 = s ? tu_concat(&r, s->flow, 1, &l1) : NULL;
		bool ok;
		if (keylog)
			ok = s && s->decrypted && s->reason == TLS_REASON_NONE && s->suite == c->id && s->key == TLS_KEY_KEYLOG &&
			     s->version == c->version &&
			     s->final_reports == 1 && l0 == c->c2s_len && l1 == c->s2c_len && !memcmp(p0, c->c2s, l0) &&
			     !memcmp(p1, c->s2c, l1);
		else
			ok = s && !s->decrypted && s->reason == TLS_REASON_PFS_NO_KEYLOG && s->suite == c->id &&
			     s->final_reports == 1 && l0 == 0 && l1 == 0;
		good += ok;
		if (keylog)
			tap_ok(ok, "%s 0x%04x (case %d), %s: c2s %zu/%zu, s2c %zu/%zu bytes byte-exact (%s)", c->name, c->version,
			       c->n, what, l0, c->c2s_len, l1, c->s2c_len, s ? tls_reason_name(s->reason) : "no session");
		else
			tap_ok(ok, "%s (case %d), %s: refused as pfs_no_keylog, no plaintext (%s, %zu+%zu bytes)", c->name,
			       c->n, what, s ? tls_reason_name(s->reason) : "no session", l0, l1);
		free(p0);
		free(p1);
	}
	/* PSK / SRP handshake messages (hint-only ServerKeyExchange, identity or SRP A in the
	 * ClientKeyExchange, no Certificate) all fit the state machine: none dropped */
	tap_ok(r.st.hs_unexpected == 0 && good == NC, "%s: %zu/%zu sessions as expected, %llu handshake messages "
	       "dropped as unexpected", what, good, NC, (unsigned long long)r.st.hs_unexpected);
	tu_run_free(&r);
}

int main(void)
{
	tls_engine_global_init();
	snprintf(DIR_, sizeof DIR_, "%s/pskgnutls", tu_tmpdir());
	char why[256];
	int rc = tu_run_peer_script("psk_gnutls.sh", DIR_, why, sizeof why);
	if (rc == 77) {
		printf("1..0 # SKIP %s\n", why);
		return 0;
	}
	if (rc != 0 || load_cases() != 0) {
		tap_ok(0, "psk_gnutls.sh ran and wrote its index (exit %d)", rc);
		return tap_done();
	}
	char failed[700];
	snprintf(failed, sizeof failed, "%s/failed", DIR_);
	uint8_t *fl = NULL;
	size_t fll = 0;
	tu_read_file(failed, &fl, &fll);
	/* a broken generator is a failure: every listed peer pair must have connected */
	tap_ok(NC >= 29 && fll == 0, "PSK/SRP peers: %zu sessions captured, none failed%s%.*s", NC, fll ? ": " : "",
	       (int)(fll > 300 ? 300 : fll), fll ? (const char *)fl : "");
	free(fl);
	char pcap[700], mpcap[700];
	snprintf(pcap, sizeof pcap, "%s/cap.pcap", DIR_);
	check_run(pcap, true, "key log + RSA key");
	check_run(pcap, false, "RSA key only");
	static const struct { unsigned kinds; const char *name; } MG[] = {
		{ PM_LATE | PM_ACKFIRST | PM_DUP, "late segments + ACK first + duplicates" },
		{ PM_REPLYFIRST, "replies captured first" },
		{ PM_SPAN, "SPAN-port reordering" },
	};
	for (size_t m = 0; m < sizeof MG / sizeof *MG; m++) {
		pm_report_t rep;
		memset(&rep, 0, sizeof rep);
		snprintf(mpcap, sizeof mpcap, "%s/m%zu.pcap", DIR_, m);
		int mrc = pm_mangle(pcap, mpcap, MG[m].kinds, (uint32_t)(91 + m), &rep);
		if (!tap_ok(mrc == 0 && rep.applied > 0, "mangle: %s (%u changes) %s", MG[m].name, rep.applied, mrc < 0 ? rep.err : ""))
			continue;
		check_run(mpcap, true, MG[m].name);
	}
	for (size_t i = 0; i < NC; i++) { free(C[i].c2s); free(C[i].s2c); }
	return tap_done();
}
