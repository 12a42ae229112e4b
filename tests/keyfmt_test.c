/*
 * keyfmt_test.c — the key-log formats Wireshark reads besides CLIENT_RANDOM, decrypting
 * real OpenSSL sessions end to end (TAP output):
 *     RSA Session-ID:<session id> Master-Key:<master secret>
 *     RSA <first 8 bytes of the encrypted pre-master> <pre-master secret>
 *     PMS_CLIENT_RANDOM <client random> <pre-master secret>
 *
 * Why: these lines come from other tools (OpenSSL's SSL_SESSION text, Wireshark's
 * "Export TLS Session Keys", PMS dumps); until they were read they counted as malformed
 * and the sessions stayed opaque. Every secret here comes from the peers, never from us:
 * tlsgen runs OpenSSL client and server (TLS 1.2, RSA key exchange, with and without
 * extended master secret, connection 2 resuming connection 1 by session id); the master
 * secret is the one OpenSSL's keylog callback printed, the session id and the client
 * random are read from the ServerHello / ClientHello OpenSSL wrote, and the pre-master
 * secret is the ClientKeyExchange OpenSSL wrote, decrypted with the server key by
 * libcrypto. Each key log holds ONLY lines of one format (no CLIENT_RANDOM, no server
 * key), and both connections must decrypt byte-exact through the engine API and through
 * `captls -l`, also under TCP mangling (split, reorder, duplicates, ACK before data).
 * A wrong secret in each format must give "wrong_key" and no plaintext. PMS_CLIENT_RANDOM
 * also for ECDHE (X25519, P-256): the server's share comes from a known key, so the
 * pre-master is ECDH of that key and the client's share, computed by libcrypto.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"

enum { F_SID = 0, F_RSA, F_PMS, F__N };
static const char *FNAME[F__N] = { "RSA Session-ID", "RSA enc-PMS", "PMS_CLIENT_RANDOM" };

static char KEY[600], CERT[600], CAPTLS[1024];

/* What the peers' handshake bytes tell about one connection. */
typedef struct hsinfo {
	uint8_t cr[32];
	uint8_t sid[32];
	size_t sid_len;
	uint8_t enc_pms[512];
	size_t enc_len;      /* 0: no ClientKeyExchange (resumed), or not RSA */
	uint8_t cke[600];    /* the ClientKeyExchange body as sent */
	size_t cke_len;
} hsinfo_t;

/* Walk the plaintext handshake records of one TCP stream (until ChangeCipherSpec) and
 * call back for each handshake message. Test-side reader of OpenSSL's bytes. */
static int walk_hs(const uint8_t *s, size_t n, hsinfo_t *h, int server)
{
	uint8_t buf[65536];
	size_t bl = 0, off = 0;
	while (off + 5 <= n) {
		uint8_t type = s[off];
		size_t rl = (size_t)s[off + 3] << 8 | s[off + 4];
		if (off + 5 + rl > n) return -1;
		if (type == 20) break;
		if (type == 22 && bl + rl <= sizeof buf) {
			memcpy(buf + bl, s + off + 5, rl);
			bl += rl;
		}
		off += 5 + rl;
	}
	for (size_t p = 0; p + 4 <= bl; ) {
		uint8_t mt = buf[p];
		size_t ml = (size_t)buf[p + 1] << 16 | (size_t)buf[p + 2] << 8 | buf[p + 3];
		const uint8_t *m = buf + p + 4;
		if (p + 4 + ml > bl) return -1;
		if (!server && mt == 1 && ml >= 34) memcpy(h->cr, m + 2, 32);
		if (server && mt == 2 && ml >= 35) {
			h->sid_len = m[34];
			if (h->sid_len > 32 || 35 + h->sid_len > ml) return -1;
			memcpy(h->sid, m + 35, h->sid_len);
		}
		if (!server && mt == 16 && ml >= 2 && ml <= sizeof h->cke) {
			size_t el = (size_t)m[0] << 8 | m[1];
			memcpy(h->cke, m, ml);
			h->cke_len = ml;
			if (el + 2 == ml && el <= sizeof h->enc_pms) {     /* RSA: 2-byte length, ciphertext */
				memcpy(h->enc_pms, m + 2, el);
				h->enc_len = el;
			}
		}
		p += 4 + ml;
	}
	return 0;
}

static void hexs(char *out, const uint8_t *b, size_t n, int upper)
{
	for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, upper ? "%02X" : "%02x", b[i]);
	out[2 * n] = 0;
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* OpenSSL's master secret of the connection, from its own keylog callback line. */
static int master_from_keylog(const tlsgen_conn_t *c, const uint8_t cr[32], uint8_t ms[48])
{
	char want[80];
	hexs(want, cr, 32, 0);
	for (const char *l = c->keylog; l && *l; ) {
		const char *e = strchr(l, '\n');
		if (!strncmp(l, "CLIENT_RANDOM ", 14) && !strncasecmp(l + 14, want, 64) && l[78] == ' ')
			return unhex(l + 79, ms, 48);
		l = e ? e + 1 : NULL;
	}
	return -1;
}

/* The pre-master secret: the client's ClientKeyExchange decrypted with the server key. */
static int pms_decrypt(const hsinfo_t *h, uint8_t pms[48])
{
	FILE *f = fopen(KEY, "r");
	if (!f) return -1;
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k) return -1;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	uint8_t out[512];
	size_t ol = sizeof out;
	int ok = ctx && EVP_PKEY_decrypt_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
	         EVP_PKEY_decrypt(ctx, out, &ol, h->enc_pms, h->enc_len) > 0 && ol == 48;
	if (ok) memcpy(pms, out, 48);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

/* Write the key log of format f for every connection that has what f needs. bad: flip
 * one bit of each secret. Returns lines written, -1 on failure. */
static int write_keylog(const tlsgen_result_t *g, const hsinfo_t *hs, int f, int bad, const char *path)
{
	FILE *o = fopen(path, "w");
	if (!o) return -1;
	int lines = 0;
	fputs("# key log written by keyfmt_test from OpenSSL's session data\n", o);
	for (size_t i = 0; i < g->n_conns; i++) {
		const hsinfo_t *h = &hs[i];
		char a[200], b[200];
		uint8_t sec[48];
		if (f == F_SID) {
			if (g->conns[i].resumed || master_from_keylog(&g->conns[i], h->cr, sec) != 0) continue;
			if (bad) sec[47] ^= 1;
			hexs(a, h->sid, h->sid_len, 1);
			hexs(b, sec, 48, 1);          /* upper-case hex, as OpenSSL prints it */
			fprintf(o, "RSA Session-ID:%s Master-Key:%s\n", a, b);
		} else {
			if (!h->enc_len || pms_decrypt(h, sec) != 0) continue;
			if (bad) sec[47] ^= 1;
			hexs(b, sec, 48, 0);
			if (f == F_RSA) {
				hexs(a, h->enc_pms, 8, 0);
				fprintf(o, "RSA %s %s\r\n", a, b);
			} else {
				hexs(a, h->cr, 32, 0);
				fprintf(o, "PMS_CLIENT_RANDOM %s %s\n", a, b);
			}
		}
		explicit_bzero(sec, sizeof sec);
		lines++;
	}
	return fclose(o) == 0 ? lines : -1;
}

static char *run_captls(const char *args)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", CAPTLS, args);
	FILE *p = popen(cmd, "r");
	if (!p) return NULL;
	size_t cap = 1 << 20, n = 0, r;
	char *b = malloc(cap);
	while ((r = fread(b + n, 1, cap - n - 1, p)) > 0) {
		n += r;
		if (cap - n < 4096) { cap *= 2; b = realloc(b, cap); }
	}
	b[n] = 0;
	if (pclose(p) != 0) { free(b); return NULL; }
	return b;
}

static void check_engine(const char *label, const char *pcap, const char *klog, const tlsgen_result_t *g, int bad)
{
	tls_keystore_t *ks = tls_keystore_new();
	char err[256];
	if (tls_keystore_add_keylog(ks, klog, 0, err, sizeof err) != 0) { tap_ok(0, "%s: keylog %s", label, err); return; }
	tu_run_t r;
	int rc = tu_run_pcap(pcap, &ks, 1, NULL, &r);
	tls_keystore_unref(ks);
	tap_ok(rc == 0 && r.st.keylog_malformed == 0, "%s: engine ran, no malformed key-log line (%llu)",
	       label, (unsigned long long)r.st.keylog_malformed);
	for (size_t i = 0; i < g->n_conns; i++) {
		const tlsgen_conn_t *c = &g->conns[i];
		const tu_session_t *s = tu_session_by_port(&r, c->client_port);
		if (!s) { tap_ok(0, "%s conn %zu: session reported", label, i + 1); continue; }
		if (bad) {
			size_t n0 = tu_count(&r, s->flow, 0) + tu_count(&r, s->flow, 1);
			tap_ok(!s->decrypted && n0 == 0 && (s->reason == TLS_REASON_WRONG_KEY || s->reason == TLS_REASON_RESUMPTION_MISS),
			       "%s conn %zu: wrong secret -> not decrypted (%s), no plaintext", label, i + 1,
			       tls_reason_name(s->reason));
			continue;
		}
		bool same = s->decrypted && s->resumed == c->resumed;
		for (int d = 0; d < 2; d++) {
			size_t n;
			uint8_t *p = tu_concat(&r, s->flow, d, &n);
			same = same && n == c->plain_len[d] && (n == 0 || memcmp(p, c->plain[d], n) == 0);
			free(p);
		}
		tap_ok(same && (s->key == TLS_KEY_KEYLOG || (c->resumed && s->key == TLS_KEY_RESUMPTION)),
		       "%s conn %zu%s: decrypted byte-exact both directions (%zu+%zu bytes, key %s)", label, i + 1,
		       c->resumed ? " (resumed)" : "", c->plain_len[0], c->plain_len[1], tls_key_kind_name(s->key));
	}
	tu_run_free(&r);
}

static void check_cli(const char *label, const char *pcap, const char *klog, const tlsgen_result_t *g)
{
	char args[2000];
	snprintf(args, sizeof args, "-r %s -l %s -o json", pcap, klog);
	char *out = run_captls(args);
	if (!out) { tap_ok(0, "%s: captls -l exits 0", label); return; }
	uint8_t *buf = malloc(1 << 20);
	for (size_t i = 0; i < g->n_conns; i++) {
		const tlsgen_conn_t *c = &g->conns[i];
		bool same = true;
		for (int d = 0; d < 2; d++) {
			size_t n = tu_json_concat(out, (int)c->client_port, d ? "s2c" : "c2s", buf, 1 << 20);
			same = same && n == c->plain_len[d] && memcmp(buf, c->plain[d], n) == 0;
		}
		tap_ok(same, "%s conn %zu: captls -l output byte-exact both directions", label, i + 1);
	}
	free(buf);
	free(out);
}

/* TLS 1.2 ECDHE with the server's (EC)DHE share from a known key (tlsgen's static_ecdhe_key):
 * the pre-master is ECDH(server key, client share from the ClientKeyExchange), computed
 * by libcrypto, written as a PMS_CLIENT_RANDOM line; the engine gets no key file. */
static void test_ecdhe_pms(const char *kind)
{
	char ek[700], pcap[700], klog[700], err[512], label[64];
	snprintf(label, sizeof label, "ECDHE %s, PMS_CLIENT_RANDOM", kind);
	snprintf(ek, sizeof ek, "%s/static-%s.key", tu_tmpdir(), kind);
	if (tlsgen_make_key(kind, ek, NULL, NULL) != 0) { tap_ok(0, "%s: make key", label); return; }
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.tls_version = 0x0303;
	o.cipher = "ECDHE-RSA-AES128-GCM-SHA256";
	o.key_file = KEY;
	o.cert_file = CERT;
	o.static_ecdhe_key = ek;
	o.seed = 77;
	o.split = 500;
	o.reorder = 1;
	snprintf(pcap, sizeof pcap, "%s/ecdhe-%s.pcap", tu_tmpdir(), kind);
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "%s: generator: %s", label, err); return; }
	hsinfo_t h;
	memset(&h, 0, sizeof h);
	int ok = walk_hs(g.conns[0].tls[0], g.conns[0].tls_len[0], &h, 0) == 0 && h.cke_len >= 2 &&
	         (size_t)h.cke[0] + 1 == h.cke_len;
	uint8_t pms[80];
	size_t pl = sizeof pms;
	if (ok) {
		FILE *f = fopen(ek, "r");
		EVP_PKEY *priv = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
		if (f) fclose(f);
		EVP_PKEY *peer = NULL;
		if (priv && !strcmp(kind, "x25519")) {
			peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, h.cke + 1, h.cke_len - 1);
		} else if (priv) {
			peer = EVP_PKEY_new();
			if (peer && (EVP_PKEY_copy_parameters(peer, priv) <= 0 ||
			             EVP_PKEY_set1_encoded_public_key(peer, h.cke + 1, h.cke_len - 1) <= 0)) {
				EVP_PKEY_free(peer);
				peer = NULL;
			}
		}
		EVP_PKEY_CTX *ctx = priv ? EVP_PKEY_CTX_new(priv, NULL) : NULL;
		ok = ctx && peer && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_derive_set_peer(ctx, peer) > 0 &&
		     EVP_PKEY_derive(ctx, pms, &pl) > 0;
		EVP_PKEY_CTX_free(ctx);
		EVP_PKEY_free(peer);
		EVP_PKEY_free(priv);
	}
	tap_ok(ok, "%s: pre-master from the server's key and the client's share (%zu bytes)", label, pl);
	if (!ok) { tlsgen_result_free(&g); return; }
	snprintf(klog, sizeof klog, "%s/ecdhe-%s.keys", tu_tmpdir(), kind);
	FILE *f = fopen(klog, "w");
	char a[80], b[200];
	hexs(a, h.cr, 32, 0);
	hexs(b, pms, pl, 0);
	fprintf(f, "PMS_CLIENT_RANDOM %s %s\n", a, b);
	fclose(f);
	explicit_bzero(pms, sizeof pms);
	check_engine(label, pcap, klog, &g, 0);
	tlsgen_result_free(&g);
}

int main(void)
{
	const char *top = getenv("top_builddir");
	snprintf(CAPTLS, sizeof CAPTLS, "%s/captls", top ? top : ".");
	snprintf(KEY, sizeof KEY, "%s/k.key", tu_tmpdir());
	snprintf(CERT, sizeof CERT, "%s/k.crt", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", KEY, CERT, NULL) != 0) {
		tap_ok(0, "make RSA key");
		return tap_done();
	}
	FILE *t = fopen(CAPTLS, "r");
	bool have_cli = t != NULL;
	if (t) fclose(t);

	static const struct { const char *name; int ems; int mangle; const char *cipher; } CASES[] = {
		{ "ems", 1, 0, "AES128-GCM-SHA256" },
		{ "no-ems", 0, 0, "AES256-SHA256" },
		{ "ems+mangled", 1, 1, "AES256-GCM-SHA384" },
	};
	for (size_t ci = 0; ci < sizeof CASES / sizeof CASES[0]; ci++) {
		tlsgen_opts_t o;
		tlsgen_opts_defaults(&o);
		o.tls_version = 0x0303;
		o.cipher = CASES[ci].cipher;
		o.ems = CASES[ci].ems;
		o.key_file = KEY;
		o.cert_file = CERT;
		o.connections = 2;
		o.resume = 1;
		o.n_messages = 6;
		o.seed = 40 + (unsigned)ci;
		if (CASES[ci].mangle) {
			o.split = 301;
			o.reorder = 1;
			o.duplicate = 1;
			o.ack_before_data = 1;
		}
		char pcap[700], err[512];
		snprintf(pcap, sizeof pcap, "%s/%s.pcap", tu_tmpdir(), CASES[ci].name);
		tlsgen_result_t g;
		memset(&g, 0, sizeof g);
		if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) {
			tap_ok(0, "%s: generator: %s", CASES[ci].name, err);
			continue;
		}
		hsinfo_t hs[2];
		memset(hs, 0, sizeof hs);
		bool ok = g.n_conns == 2 && !g.conns[0].resumed && g.conns[1].resumed && g.conns[0].ems == (bool)o.ems;
		for (size_t i = 0; i < g.n_conns && i < 2; i++)
			ok = ok && walk_hs(g.conns[i].tls[0], g.conns[i].tls_len[0], &hs[i], 0) == 0 &&
			     walk_hs(g.conns[i].tls[1], g.conns[i].tls_len[1], &hs[i], 1) == 0;
		ok = ok && hs[0].sid_len > 0 && hs[0].enc_len >= 8 && hs[1].enc_len == 0 &&
		     hs[1].sid_len == hs[0].sid_len && !memcmp(hs[1].sid, hs[0].sid, hs[0].sid_len);
		tap_ok(ok, "%s: OpenSSL made a full RSA handshake (session id %zu bytes, CKE %zu bytes) and a session-id resumption",
		       CASES[ci].name, hs[0].sid_len, hs[0].enc_len);
		if (!ok) { tlsgen_result_free(&g); continue; }
		for (int f = 0; f < F__N; f++)
			for (int bad = 0; bad < 2; bad++) {
				if (bad && CASES[ci].mangle) continue;
				char klog[700], label[160];
				snprintf(klog, sizeof klog, "%s/%s.%d.%d.keys", tu_tmpdir(), CASES[ci].name, f, bad);
				snprintf(label, sizeof label, "%s, %s%s", CASES[ci].name, FNAME[f], bad ? " (wrong secret)" : "");
				int n = write_keylog(&g, hs, f, bad, klog);
				tap_ok(n == 1, "%s: one key-log line from OpenSSL's session data", label);
				if (n != 1) continue;
				check_engine(label, pcap, klog, &g, bad);
				if (!bad) {
					if (have_cli) check_cli(label, pcap, klog, &g);
					else tap_skip("captls not built");
				}
			}
		tlsgen_result_free(&g);
	}
	test_ecdhe_pms("x25519");
	test_ecdhe_pms("p256");
	return tap_done();
}
