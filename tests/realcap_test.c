/*
 * realcap_test.c — the engine on captures of REAL peers (../shared/samples: kamailio/sipp
 * SIP over TLS 1.2, curl/nginx HTTPS over TLS 1.3, an ECDHE session without keys; and the
 * bundled samples/sip-tls12-rsa.pcap) replayed under real capture conditions (issue 9):
 * late segments behind their ACK, ACKs before their data, replies before their requests,
 * stray RST/SYN, timestamp outliers and clock steps, SPAN-like merging of the two
 * directions, duplicates, and combinations. The variants are made by tests/pcapmangle.c,
 * which never changes the peers' byte streams, so for every variant:
 *   - the decrypted c2s / s2c plaintext equals what the applications sent, byte for byte,
 *     every message exactly once and in order (count = manifest msgs_c2s / msgs_s2c);
 *   - exactly one session (one final report) for the TCP connection, decrypted, reason
 *     none, no loss reported (gaps and lost bytes 0: the manglings lose nothing);
 *   - for the keyless ECDHE capture: no plaintext at all, reason pfs_no_keylog.
 * A variant that turned out to change nothing fails (no vacuous pass). A few variants also
 * go through `captls -o json` and its session record is checked. Mangled captures of
 * failing cases are kept (path printed) so the engine owner can replay them with captls.
 * Skips the shared samples cleanly when ../shared/samples is absent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "tap.h"
#include "testutil.h"
#include "pcapmangle.h"

#define MAXF 16

typedef struct rcase {
	char id[128];
	char pcap[2048];
	int keylog;                 /* key material is a key log (else an RSA key) */
	char key[2048];
	char ref[2][2048];          /* reference plaintext per direction ("" for negative) */
	long msgs[2];               /* -1: take from the clean run */
	int negative;
	uint16_t server_port;       /* 0: take from the clean run */
} rcase_t;

typedef struct variant {
	const char *name;
	unsigned kinds;
	int seeds;                  /* how many seeds (1.. seeds) */
} variant_t;

static const variant_t variants[] = {
	{ "clean", 0, 1 },
	{ "late", PM_LATE, 2 },
	{ "ackfirst", PM_ACKFIRST, 2 },
	{ "replyfirst", PM_REPLYFIRST, 3 },
	{ "stray-oow", PM_STRAY_OOW, 2 },
	{ "rst-next", PM_RST_NEXT, 1 },
	{ "ts-future", PM_TS_FUTURE, 1 },
	{ "ts-past", PM_TS_PAST, 1 },
	{ "ts-step", PM_TS_STEP, 1 },
	{ "span", PM_SPAN, 8 },
	{ "dup", PM_DUP, 2 },
	{ "combo-late-dup-span", PM_LATE | PM_DUP | PM_SPAN, 3 },
	{ "combo-reply-ack-stray-span", PM_REPLYFIRST | PM_ACKFIRST | PM_STRAY_OOW | PM_SPAN, 3 },
	{ "combo-rst-next-stray-oow", PM_RST_NEXT | PM_STRAY_OOW, 6 },
	{ "combo-clock-span-dup", PM_TS_FUTURE | PM_TS_PAST | PM_TS_STEP | PM_SPAN | PM_DUP, 2 },
	{ "combo-all", PM_LATE | PM_ACKFIRST | PM_REPLYFIRST | PM_DUP | PM_STRAY_OOW | PM_RST_NEXT | PM_SPAN |
	               PM_TS_FUTURE | PM_TS_PAST | PM_TS_STEP, 3 },
};
#define NVAR (sizeof variants / sizeof variants[0])

static char outdir[1024];

static tls_keystore_t *load_keys(const rcase_t *c, char *err, size_t errlen)
{
	tls_keystore_t *ks = tls_keystore_new();
	if (!ks) abort();
	int rc = c->keylog ? tls_keystore_add_keylog(ks, c->key, 0, err, errlen)
	                   : tls_keystore_add_key_file(ks, c->key, NULL, NULL, NULL, err, errlen, NULL, 0);
	if (rc) { tls_keystore_unref(ks); return NULL; }
	return ks;
}

/* Count the sessions of the case's connection (server port on either side). */
static const tu_session_t *our_session(const tu_run_t *r, uint16_t port, size_t *n)
{
	const tu_session_t *s = NULL;
	*n = 0;
	for (size_t i = 0; i < r->n_sess; i++)
		if (r->sess[i].ep.server_port == port || r->sess[i].ep.client_port == port) { (*n)++; if (!s) s = &r->sess[i]; }
	return s;
}

static size_t count_msgs(const tu_run_t *r, uint64_t flow, int d)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_msgs; i++)
		if (r->msgs[i].flow == flow && r->msgs[i].dir == d && !r->msgs[i].keepalive) n++;
	return n;
}

/* First differing offset of two buffers (or the shorter length). */
static size_t first_diff(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t n = al < bl ? al : bl, i = 0;
	while (i < n && a[i] == b[i]) i++;
	return i;
}

/* Run one capture; returns NULL when everything holds, else the first diagnostic. */
static const char *verify(rcase_t *c, const char *pcap, const uint8_t *const ref[2], const size_t refl[2])
{
	static char diag[1024];
	char err[512];
	tls_keystore_t *ks = load_keys(c, err, sizeof err);
	if (!ks) { snprintf(diag, sizeof diag, "key material: %s", err); return diag; }
	tu_run_t r;
	int rc = tu_run_pcap(pcap, &ks, 1, NULL, &r);
	tls_keystore_unref(ks);
	const char *res = NULL;
	size_t ns = 0;
	if (rc != 0) { snprintf(diag, sizeof diag, "pcap unreadable"); res = diag; goto out; }
	if (!c->server_port && r.n_sess) c->server_port = r.sess[0].ep.server_port;
	const tu_session_t *s = our_session(&r, c->server_port, &ns);
	if (ns != 1) {
		snprintf(diag, sizeof diag, "%zu sessions for the one TCP connection (want 1)", ns);
		for (size_t i = 0; i < r.n_sess && strlen(diag) < 800; i++)
		{
			size_t l0 = 0, l1 = 0;
			uint8_t *g0 = tu_concat(&r, r.sess[i].flow, 0, &l0), *g1 = tu_concat(&r, r.sess[i].flow, 1, &l1);
			free(g0);
			free(g1);
			snprintf(diag + strlen(diag), sizeof diag - strlen(diag),
			         "; flow %llu %u->%u decrypted=%d reason=%s plaintext c2s %zu/%zu s2c %zu/%zu gaps %llu/%llu",
			         (unsigned long long)r.sess[i].flow, r.sess[i].ep.client_port, r.sess[i].ep.server_port,
			         r.sess[i].decrypted, tls_reason_name(r.sess[i].reason), l0, refl[0], l1, refl[1],
			         (unsigned long long)r.sess[i].gaps[0], (unsigned long long)r.sess[i].gaps[1]);
		}
		res = diag; goto out;
	}
	if (s->final_reports != 1) { snprintf(diag, sizeof diag, "%d final session reports (want 1)", s->final_reports); res = diag; goto out; }
	if (c->negative) {
		if (r.n_msgs) { snprintf(diag, sizeof diag, "%zu messages emitted for a keyless ECDHE session", r.n_msgs); res = diag; goto out; }
		if (s->decrypted || s->reason != TLS_REASON_PFS_NO_KEYLOG) {
			snprintf(diag, sizeof diag, "decrypted=%d reason=%s (want pfs_no_keylog)", s->decrypted, tls_reason_name(s->reason));
			res = diag; goto out;
		}
		goto out;
	}
	for (int d = 0; d < 2; d++) {
		size_t gl;
		uint8_t *got = tu_concat(&r, s->flow, d, &gl);
		size_t nm = count_msgs(&r, s->flow, d);
		int bad = gl != refl[d] || memcmp(got, ref[d], gl);
		if (bad) {
			size_t off = first_diff(got, gl, ref[d], refl[d]);
			/* which message holds the first difference */
			size_t o = 0, mi = 0, k = 0;
			for (size_t i = 0; i < r.n_msgs; i++) {
				if (r.msgs[i].flow != s->flow || r.msgs[i].dir != d) continue;
				if (o + r.msgs[i].len > off) { mi = k; break; }
				o += r.msgs[i].len; k++; mi = k;
			}
			char want[48] = "", have[48] = "";
			for (size_t i = 0; i < 40 && off + i < refl[d]; i++) want[i] = (ref[d][off + i] >= 32 && ref[d][off + i] < 127) ? (char)ref[d][off + i] : '.';
			for (size_t i = 0; i < 40 && off + i < gl; i++) have[i] = (got[off + i] >= 32 && got[off + i] < 127) ? (char)got[off + i] : '.';
			snprintf(diag, sizeof diag, "%s plaintext differs: %zu/%zu bytes, %zu msgs (want %ld), first difference at byte %zu (message #%zu): want \"%s\" got \"%s\"; session decrypted=%d reason=%s gaps=%llu/%llu lost=%llu/%llu",
			         d ? "s2c" : "c2s", gl, refl[d], nm, c->msgs[d], off, mi, want, have, s->decrypted,
			         tls_reason_name(s->reason), (unsigned long long)s->gaps[0], (unsigned long long)s->gaps[1],
			         (unsigned long long)s->lost_bytes[0], (unsigned long long)s->lost_bytes[1]);
			free(got);
			res = diag; goto out;
		}
		free(got);
		if (c->msgs[d] < 0) c->msgs[d] = (long)nm;
		if ((long)nm != c->msgs[d]) {
			snprintf(diag, sizeof diag, "%s: %zu messages (want %ld) although the bytes match", d ? "s2c" : "c2s", nm, c->msgs[d]);
			res = diag; goto out;
		}
	}
	if (!s->decrypted || s->reason != TLS_REASON_NONE) {
		snprintf(diag, sizeof diag, "plaintext complete but session decrypted=%d reason=%s", s->decrypted, tls_reason_name(s->reason));
		res = diag; goto out;
	}
	if (s->gaps[0] || s->gaps[1] || s->lost_bytes[0] || s->lost_bytes[1]) {
		snprintf(diag, sizeof diag, "loss reported where none: gaps %llu/%llu lost_bytes %llu/%llu",
		         (unsigned long long)s->gaps[0], (unsigned long long)s->gaps[1],
		         (unsigned long long)s->lost_bytes[0], (unsigned long long)s->lost_bytes[1]);
		res = diag; goto out;
	}
out:
	tu_run_free(&r);
	return res;
}

/* captls -o json on a capture: the session record says decrypted, no reason, no gaps. */
static void check_captls(const rcase_t *c, const char *pcap, const char *label)
{
	const char *bdir = getenv("top_builddir");
	char exe[1024], cmd[8192], line[1 << 16];
	snprintf(exe, sizeof exe, "%s/captls", bdir ? bdir : ".");
	if (access(exe, X_OK) != 0) { tap_skip("captls not built: JSON session record not checked"); return; }
	snprintf(cmd, sizeof cmd, "'%s' -r '%s' %s '%s' -o json 2>/dev/null", exe, pcap, c->keylog ? "-l" : "-k", c->key);
	FILE *p = popen(cmd, "r");
	if (!p) { tap_ok(0, "captls json %s %s: popen", c->id, label); return; }
	int nsess = 0, good = 0;
	char first[512] = "";
	char port[32];
	snprintf(port, sizeof port, ":%u\"", c->server_port);
	while (fgets(line, sizeof line, p)) {
		if (!strstr(line, "\"type\":\"session\"") || !strstr(line, port)) continue;
		nsess++;
		int ok = strstr(line, "\"decrypted\":true") && strstr(line, "\"reason\":null") &&
		         strstr(line, "\"gaps_c2s\":0,") && strstr(line, "\"gaps_s2c\":0,");
		if (ok) good++;
		else if (!first[0]) snprintf(first, sizeof first, "%.400s", line);
	}
	int st = pclose(p);
	tap_ok(st == 0 && nsess == 1 && good == 1, "captls -o json %s %s: one session record, decrypted, reason null, gaps 0%s%s",
	       c->id, label, first[0] ? ": " : "", first);
}

static void run_case(rcase_t *c, int *captls_budget)
{
	uint8_t *ref[2] = { NULL, NULL };
	size_t refl[2] = { 0, 0 };
	if (!c->negative)
		for (int d = 0; d < 2; d++)
			if (tu_read_file(c->ref[d], &ref[d], &refl[d]) != 0) {
				tap_ok(0, "%s: reference plaintext %s readable", c->id, c->ref[d]);
				return;
			}
	for (size_t v = 0; v < NVAR; v++)
		for (int seed = 1; seed <= variants[v].seeds; seed++) {
			char out[2048];
			snprintf(out, sizeof out, "%s/%s.%s.s%d.pcap", outdir, c->id, variants[v].name, seed);
			pm_report_t rep;
			const char *cap = c->pcap;
			if (variants[v].kinds) {
				int mrc = pm_mangle(c->pcap, out, variants[v].kinds, (uint32_t)seed, &rep);
				if (mrc != 0) {
					tap_ok(0, "%s %s seed %d: mangling did what it should (%s%s)", c->id, variants[v].name, seed,
					       mrc < 0 ? rep.err : "", rep.desc);
					continue;
				}
				cap = out;
			}
			const char *why = verify(c, cap, (const uint8_t *const *)ref, refl);
			if (why && variants[v].kinds) tap_diag("%s", rep.desc);
			tap_ok(!why, "%s %s seed %d%s%s%s%s", c->id, variants[v].name, seed, why ? ": " : "", why ? why : "",
			       why && variants[v].kinds ? " — kept " : "", why && variants[v].kinds ? out : "");
			if (!c->negative && variants[v].kinds && *captls_budget > 0 && seed == 1 &&
			    (!strcmp(variants[v].name, "span") || !strcmp(variants[v].name, "combo-all") ||
			     !strcmp(variants[v].name, "late"))) {
				check_captls(c, out, variants[v].name);
				(*captls_budget)--;
			}
			if (!why && variants[v].kinds) unlink(out);
		}
	free(ref[0]);
	free(ref[1]);
}

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

int main(void)
{
	const char *top = getenv("top_srcdir");
	if (!top) top = ".";
	snprintf(outdir, sizeof outdir, "%s", tu_tmpdir());
	int budget = 9;   /* 3 captls runs per decryptable case */

	/* the capture bundled in the repository */
	rcase_t b;
	memset(&b, 0, sizeof b);
	snprintf(b.id, sizeof b.id, "bundled-sip-tls12-rsa");
	snprintf(b.pcap, sizeof b.pcap, "%s/samples/sip-tls12-rsa.pcap", top);
	snprintf(b.key, sizeof b.key, "%s/samples/server-rsa.key", top);
	snprintf(b.ref[0], sizeof b.ref[0], "%s/samples/sip-tls12-rsa.c2s.txt", top);
	snprintf(b.ref[1], sizeof b.ref[1], "%s/samples/sip-tls12-rsa.s2c.txt", top);
	b.msgs[0] = b.msgs[1] = -1;   /* the clean run (checked byte-exact first) sets them */
	run_case(&b, &budget);

	const char *dir = tu_samples_dir();
	if (!dir) {
		tap_skip("../shared/samples not found (set SHARED_SAMPLES): real-peer captures under capture conditions not tested");
		return tap_done();
	}
	char mpath[2048];
	snprintf(mpath, sizeof mpath, "%s/manifest.tsv", dir);
	FILE *m = fopen(mpath, "r");
	if (!m) { tap_skip("manifest.tsv missing"); return tap_done(); }
	char line[8192];
	int n = 0, ncases = 0;
	while (fgets(line, sizeof line, m)) {
		if (n++ == 0) continue;
		char *f[MAXF];
		if (split_tabs(line, f, MAXF) < 13) continue;
		rcase_t c;
		memset(&c, 0, sizeof c);
		snprintf(c.id, sizeof c.id, "%s", f[0]);
		snprintf(c.pcap, sizeof c.pcap, "%s/%s", dir, f[1]);
		const char *colon = strrchr(f[2], ':');
		c.server_port = colon ? (uint16_t)atoi(colon + 1) : 0;
		const char *km = strchr(f[3], ':');
		if (!km) { tap_ok(0, "%s: key_material %s", c.id, f[3]); continue; }
		c.keylog = !strncmp(f[3], "keylog:", 7);
		snprintf(c.key, sizeof c.key, "%s/%s", dir, km + 1);
		c.msgs[0] = atol(f[8]);
		c.msgs[1] = atol(f[9]);
		if (!strcmp(f[12], "decrypt")) {
			snprintf(c.ref[0], sizeof c.ref[0], "%s/%s", dir, f[10]);
			snprintf(c.ref[1], sizeof c.ref[1], "%s/%s", dir, f[11]);
		} else if (!strncmp(f[12], "fail:pfs", 8)) {
			c.negative = 1;
		} else {
			tap_skip("manifest case with an expectation this test does not know");
			continue;
		}
		run_case(&c, &budget);
		ncases++;
	}
	fclose(m);
	tap_ok(ncases >= 3, "manifest has the real-peer cases (%d)", ncases);
	return tap_done();
}
