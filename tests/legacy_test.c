/*
 * legacy_test.c — legacy and exotic TLS <= 1.2 suites from real OpenSSL 3 peers (tlsgen,
 * in-process, security level 0): Camellia-CBC (SHA, SHA256, SHA384), NULL encryption
 * (MD5, SHA, SHA256 MACs — the MAC is still verified), DHE_DSS (DSA certificate),
 * DH_anon and ECDH_anon (no certificate at all), ECDHE with NULL and Camellia, over
 * TLS 1.0-1.2, with the RSA key (RSA suites), the NSS key log (ephemeral and anonymous
 * key exchanges) or a static "ephemeral" EC key (ECDH_anon). Each case carries SIP or
 * HTTP and runs under a TCP mangling too; every message of both directions must be
 * delivered once, in order, byte-exact (genverify).
 *
 * Also: versions. A ServerHello choosing a TLS 1.3 draft (0x7f1c, Facebook's 0xfb1a) is
 * reported as unsupported_version with no suite; a ClientHello whose record header says
 * 0x0300 (OpenSSL 1.0 wrote that) is found while resynchronising after binary junk.
 * The draft ServerHellos are real OpenSSL TLS 1.3 ServerHellos with the supported_versions
 * value rewritten (no key material is involved: the session must stop at the hello).
 *
 * Debian's OpenSSL 3 has no 3DES, RC4, SEED, IDEA or DES TLS suites (not even with the
 * legacy provider) and no SSL 3.0: those are tested against gnutls in legacy_gnutls.sh,
 * and SSL 3.0, SEED, DES and static ECDH in handbuilt_test.c (records built from libcrypto
 * primitives: no peer on Debian speaks them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"
#include "genverify.h"
#include <gcrypt.h>
#include "cipher.h"

static char RSA_KEY[512], RSA_CERT[512], EC_KEY[512], EC_CERT[512], DSA_KEY[512], DSA_CERT[512], STATIC_KEY[512];

enum { SRC_RSA, SRC_KEYLOG, SRC_STATIC };

struct lcase {
	const char *cipher;       /* OpenSSL name */
	uint16_t id;              /* IANA id expected in the session report */
	const char *cert;         /* "rsa", "ec", "dsa" */
	int src;
	uint16_t vmin, vmax;
};

static const struct lcase CASES[] = {
	{ "CAMELLIA128-SHA", 0x0041, "rsa", SRC_RSA, 0x0301, 0x0303 },
	{ "CAMELLIA256-SHA", 0x0084, "rsa", SRC_RSA, 0x0302, 0x0303 },
	{ "CAMELLIA128-SHA256", 0x00BA, "rsa", SRC_RSA, 0x0303, 0x0303 },
	{ "CAMELLIA256-SHA256", 0x00C0, "rsa", SRC_RSA, 0x0303, 0x0303 },
	{ "NULL-MD5", 0x0001, "rsa", SRC_RSA, 0x0301, 0x0303 },
	{ "NULL-SHA", 0x0002, "rsa", SRC_RSA, 0x0301, 0x0303 },
	{ "NULL-SHA256", 0x003B, "rsa", SRC_RSA, 0x0303, 0x0303 },
	{ "DHE-DSS-AES128-SHA", 0x0032, "dsa", SRC_KEYLOG, 0x0301, 0x0303 },
	{ "DHE-DSS-AES256-SHA", 0x0038, "dsa", SRC_KEYLOG, 0x0302, 0x0302 },
	{ "DHE-DSS-AES128-SHA256", 0x0040, "dsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "DHE-DSS-AES256-SHA256", 0x006A, "dsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "DHE-DSS-AES128-GCM-SHA256", 0x00A2, "dsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "DHE-DSS-AES256-GCM-SHA384", 0x00A3, "dsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "DHE-DSS-CAMELLIA128-SHA", 0x0044, "dsa", SRC_KEYLOG, 0x0301, 0x0301 },
	{ "DHE-DSS-CAMELLIA256-SHA256", 0x00C3, "dsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "DHE-RSA-CAMELLIA128-SHA", 0x0045, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "DHE-RSA-CAMELLIA256-SHA256", 0x00C4, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "ADH-AES128-SHA", 0x0034, "rsa", SRC_KEYLOG, 0x0301, 0x0303 },
	{ "ADH-AES256-SHA", 0x003A, "rsa", SRC_KEYLOG, 0x0302, 0x0302 },
	{ "ADH-AES128-SHA256", 0x006C, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "ADH-AES256-SHA256", 0x006D, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "ADH-AES128-GCM-SHA256", 0x00A6, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "ADH-AES256-GCM-SHA384", 0x00A7, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "ADH-CAMELLIA128-SHA", 0x0046, "rsa", SRC_KEYLOG, 0x0301, 0x0303 },
	{ "ADH-CAMELLIA256-SHA", 0x0089, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "ADH-CAMELLIA128-SHA256", 0x00BF, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "ADH-CAMELLIA256-SHA256", 0x00C5, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "AECDH-AES128-SHA", 0xC018, "rsa", SRC_KEYLOG, 0x0301, 0x0303 },
	{ "AECDH-AES256-SHA", 0xC019, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "AECDH-NULL-SHA", 0xC015, "rsa", SRC_KEYLOG, 0x0301, 0x0303 },
	{ "AECDH-AES128-SHA", 0xC018, "rsa", SRC_STATIC, 0x0303, 0x0303 },
	{ "AECDH-NULL-SHA", 0xC015, "rsa", SRC_STATIC, 0x0301, 0x0301 },
	{ "ECDHE-RSA-NULL-SHA", 0xC010, "rsa", SRC_KEYLOG, 0x0301, 0x0303 },
	{ "ECDHE-ECDSA-NULL-SHA", 0xC006, "ec", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "ECDHE-RSA-CAMELLIA128-SHA256", 0xC076, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "ECDHE-RSA-CAMELLIA256-SHA384", 0xC077, "rsa", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "ECDHE-ECDSA-CAMELLIA128-SHA256", 0xC072, "ec", SRC_KEYLOG, 0x0303, 0x0303 },
	{ "ECDHE-ECDSA-CAMELLIA256-SHA384", 0xC073, "ec", SRC_KEYLOG, 0x0303, 0x0303 },
};

struct mangle { const char *name; int split, coalesce, reorder, duplicate, ack_first, late; };
static const struct mangle MANGLES[] = {
	{ "split", 113, 0, 0, 0, 0, 0 }, { "reorder+dup", 0, 0, 1, 1, 0, 0 }, { "coalesce", 0, 1, 0, 0, 0, 0 },
	{ "ack-before-data", 0, 0, 0, 0, 1, 0 }, { "late segments", 0, 0, 0, 0, 0, 1 },
};

static const char *vname(int v)
{
	return v == 0x0301 ? "TLS1.0" : v == 0x0302 ? "TLS1.1" : "TLS1.2";
}

static int run_case(const struct lcase *c, int v, int app, const struct mangle *m, unsigned seed)
{
	char pcap[600], kl[600], err[512], label[256];
	snprintf(label, sizeof label, "%s %s %s %s%s%s", c->cipher, vname(v), app == TLSGEN_APP_SIP ? "SIP" : "HTTP",
	         c->src == SRC_RSA ? "rsa key" : c->src == SRC_KEYLOG ? "key log" : "static ECDH key",
	         m ? ", " : "", m ? m->name : "");
	snprintf(pcap, sizeof pcap, "%s/l.pcap", tu_tmpdir());
	snprintf(kl, sizeof kl, "%s/l.keys", tu_tmpdir());
	unlink(kl);
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = !strcmp(c->cert, "ec") ? EC_KEY : !strcmp(c->cert, "dsa") ? DSA_KEY : RSA_KEY;
	o.cert_file = !strcmp(c->cert, "ec") ? EC_CERT : !strcmp(c->cert, "dsa") ? DSA_CERT : RSA_CERT;
	char cipher[128];
	snprintf(cipher, sizeof cipher, "%s:@SECLEVEL=0", c->cipher);
	o.cipher = cipher;
	o.tls_version = v;
	o.app = app;
	o.seed = seed;
	o.n_messages = 6;
	if (c->src == SRC_KEYLOG) o.keylog_file = kl;
	if (c->src == SRC_STATIC) o.static_ecdhe_key = STATIC_KEY;
	if (m) {
		o.split = m->split; o.coalesce = m->coalesce; o.reorder = m->reorder; o.duplicate = m->duplicate;
		o.ack_before_data = m->ack_first; o.late_segment = m->late;
	}
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) return tap_ok(0, "%s: generator: %s", label, err);
	tls_keystore_t *ks = tls_keystore_new();
	if (c->src == SRC_RSA) tls_keystore_add_key_file(ks, RSA_KEY, NULL, NULL, NULL, err, sizeof err, NULL, 0);
	if (c->src == SRC_KEYLOG) tls_keystore_add_keylog(ks, kl, 0, err, sizeof err);
	if (c->src == SRC_STATIC) tls_keystore_add_key_file(ks, STATIC_KEY, NULL, NULL, NULL, err, sizeof err, NULL, 0);
	tu_run_t r;
	tu_run_pcap(pcap, &ks, 1, NULL, &r);
	tls_keystore_unref(ks);
	int ok = gv_verify(&g, &r, label, c->src == SRC_RSA ? 0 : GV_KEY_NOT_RSA);
	if (g.n_conns != 1 || g.conns[0].suite != c->id || g.conns[0].version != v) {
		tap_diag("%s: peers negotiated %04x/%04x", label, g.n_conns ? g.conns[0].suite : 0, g.n_conns ? g.conns[0].version : 0);
		ok = 0;
	}
	size_t nm = r.n_msgs;
	tu_run_free(&r);
	tlsgen_result_free(&g);
	return tap_ok(ok, "%s (%zu messages)", label, nm);
}

/* ---- versions: feed a connection's two TCP streams, split at record boundaries ---- */

typedef struct feeder { tls_engine_t *e; uint32_t seq[2]; double ts; } feeder_t;

static void feed(feeder_t *fd, int dir, uint8_t flags, const uint8_t *p, size_t n)
{
	static const uint8_t cip[4] = { 10, 0, 0, 1 }, sip[4] = { 10, 0, 0, 2 };
	tls_tcp_segment_t s;
	memset(&s, 0, sizeof s);
	s.family = AF_INET;
	s.src_ip = dir ? sip : cip;
	s.dst_ip = dir ? cip : sip;
	s.sport = dir ? 5061 : 40000;
	s.dport = dir ? 40000 : 5061;
	s.seq = fd->seq[dir];
	s.ack = fd->seq[1 - dir];
	s.flags = flags;
	s.payload = p;
	s.len = n;
	tls_engine_feed_tcp(fd->e, &s, fd->ts += 0.001);
	fd->seq[dir] += (uint32_t)n + ((flags & 0x03) ? 1 : 0);
}

/* Length of the first record of stream p[n] (header included), 0 if none. */
static size_t first_record(const uint8_t *p, size_t n)
{
	if (n < 5) return 0;
	size_t l = 5 + ((size_t)p[3] << 8 | p[4]);
	return l <= n ? l : 0;
}

static void test_draft_versions(void)
{
	static const uint16_t DRAFTS[] = { 0x7f1c, 0xfb1a, 0x0305 };
	char pcap[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/v.pcap", tu_tmpdir());
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = RSA_KEY; o.cert_file = RSA_CERT;
	o.tls_version = 0x0304;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "TLS 1.3 generator: %s", err); return; }
	const tlsgen_conn_t *c = &g.conns[0];
	size_t chl = first_record(c->tls[0], c->tls_len[0]), shl = first_record(c->tls[1], c->tls_len[1]);
	uint8_t *sh = malloc(shl ? shl : 1);
	size_t at = 0;
	if (shl) {
		memcpy(sh, c->tls[1], shl);
		for (size_t i = 5; i + 6 <= shl; i++)
			if (!memcmp(sh + i, "\x00\x2b\x00\x02\x03\x04", 6)) { at = i + 4; break; }
	}
	if (!chl || !at) { tap_ok(0, "TLS 1.3 ServerHello with supported_versions found"); free(sh); tlsgen_result_free(&g); return; }
	for (size_t k = 0; k < sizeof DRAFTS / sizeof *DRAFTS; k++) {
		sh[at] = (uint8_t)(DRAFTS[k] >> 8);
		sh[at + 1] = (uint8_t)DRAFTS[k];
		tu_run_t r;
		memset(&r, 0, sizeof r);
		tls_callbacks_t cb = tu_callbacks(&r);
		tls_keystore_t *ks = tu_keystore(RSA_KEY, NULL);
		tls_engine_t *e = tls_engine_new(NULL, &ks, 1, &cb);
		feeder_t fd = { e, { 1000, 5000 }, 1700000000.0 };
		feed(&fd, 0, 0x02, NULL, 0);
		feed(&fd, 1, 0x12, NULL, 0);
		feed(&fd, 0, 0x18, c->tls[0], chl);
		feed(&fd, 1, 0x18, sh, shl);
		feed(&fd, 1, 0x18, c->tls[1] + shl, c->tls_len[1] - shl);   /* the encrypted rest */
		feed(&fd, 0, 0x18, c->tls[0] + chl, c->tls_len[0] - chl);
		tls_engine_flush(e);
		tls_engine_get_stats(e, &r.st);
		tls_engine_free(e);
		tls_keystore_unref(ks);
		const tu_session_t *s = r.n_sess ? &r.sess[0] : NULL;
		tap_ok(s && !s->decrypted && s->reason == TLS_REASON_UNSUPPORTED_VERSION && s->suite == 0 && r.n_msgs == 0 &&
		       !strcmp(tls_reason_name(TLS_REASON_UNSUPPORTED_VERSION), "unsupported_version"),
		       "ServerHello version 0x%04x: unsupported_version, no suite, no plaintext (%s, suite %04x, %zu msgs)",
		       DRAFTS[k], s ? tls_reason_name(s->reason) : "no session", s ? s->suite : 0, r.n_msgs);
		tu_run_free(&r);
	}
	free(sh);
	tlsgen_result_free(&g);
}

/* A ClientHello in a record that says 0x0300 (OpenSSL 1.0 wrote that) arriving while the
 * direction resynchronises: the capture saw a record of something earlier on the 5-tuple
 * (a stray warning alert), then lost bytes (a TCP gap), then the new ClientHello. The
 * header search after a gap accepts only real record versions: 0x0300 is one. */
static void test_ssl3_record_version(void)
{
	char pcap[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/r.pcap", tu_tmpdir());
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = RSA_KEY; o.cert_file = RSA_CERT;
	o.cipher = "AES128-SHA";
	o.tls_version = 0x0301;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "TLS 1.0 generator: %s", err); return; }
	const tlsgen_conn_t *c = &g.conns[0];
	size_t chl = first_record(c->tls[0], c->tls_len[0]);
	uint8_t *ch = malloc(chl ? chl : 1);
	if (chl) { memcpy(ch, c->tls[0], chl); ch[1] = 3; ch[2] = 0; }
	static const uint8_t alert[7] = { 21, 3, 1, 0, 2, 1, 0 };     /* warning close_notify */
	tu_run_t r;
	memset(&r, 0, sizeof r);
	tls_callbacks_t cb = tu_callbacks(&r);
	tls_keystore_t *ks = tu_keystore(RSA_KEY, NULL);
	tls_engine_t *e = tls_engine_new(NULL, &ks, 1, &cb);
	feeder_t fd = { e, { 1000, 5000 }, 1700000000.0 };
	feed(&fd, 0, 0x02, NULL, 0);
	feed(&fd, 1, 0x12, NULL, 0);
	feed(&fd, 0, 0x18, alert, sizeof alert);
	fd.seq[0] += 200;                                              /* 200 bytes never captured */
	feed(&fd, 0, 0x18, ch, chl);
	feed(&fd, 1, 0x18, c->tls[1], c->tls_len[1]);
	feed(&fd, 0, 0x18, c->tls[0] + chl, c->tls_len[0] - chl);
	tls_engine_flush(e);
	tls_engine_free(e);
	tls_keystore_unref(ks);
	const tu_session_t *s = r.n_sess ? &r.sess[0] : NULL;
	size_t l0 = 0, l1 = 0;
	uint8_t *p0 = s ? tu_concat(&r, s->flow, 0, &l0) : NULL, *p1 = s ? tu_concat(&r, s->flow, 1, &l1) : NULL;
	tap_ok(s && s->decrypted && s->version == 0x0301 && l0 == c->plain_len[0] && l1 == c->plain_len[1] &&
	       !memcmp(p0, c->plain[0], l0) && !memcmp(p1, c->plain[1], l1),
	       "ClientHello record version 0x0300 after a gap: resynchronised, both directions byte-exact (%zu/%zu bytes)",
	       l0, l1);
	free(p0); free(p1); free(ch);
	tu_run_free(&r);
	tlsgen_result_free(&g);
}

/* The suite table: legacy rows present with the right shape, export named but refused, PSK/SRP key log only, ARIA
 * refused exactly when libgcrypt lacks it, one row per id, sane version ranges; SSL 3.0
 * accepted by the record layer for CBC suites. */
static void test_suite_table(void)
{
	tap_ok(tls_suite_lookup(0x000A) && tls_suite_lookup(0x000A)->bulk == TLS_BULK_3DES_EDE_CBC &&
	       tls_suite_lookup(0x000A)->iv_len == 8 && tls_suite_lookup(0x000A)->key_len == 24 &&
	       tls_suite_lookup(0x0005) && tls_suite_lookup(0x0005)->bulk == TLS_BULK_RC4_128 &&
	       tls_suite_lookup(0x0004)->mac == TLS_HASH_MD5 && tls_suite_lookup(0x0004)->mac_len == 16 &&
	       tls_suite_lookup(0x0002) && tls_suite_lookup(0x0002)->bulk == TLS_BULK_NULL &&
	       tls_suite_lookup(0xC07A) && tls_suite_lookup(0xC07A)->bulk == TLS_BULK_CAMELLIA_GCM &&
	       tls_suite_lookup(0xC004) && tls_suite_lookup(0xC004)->kx == TLS_KX_ECDH_ECDSA &&
	       tls_suite_lookup(0x0034) && tls_suite_lookup(0x0034)->kx == TLS_KX_DH_ANON,
	       "legacy suites (3DES, RC4, NULL, Camellia-GCM, static ECDH, DH_anon) are decryptable");
	tap_ok(tls_suite_lookup(0x0003) == NULL && tls_suite_name(0x0003) &&
	       strcmp(tls_suite_name(0x0003), "TLS_RSA_EXPORT_WITH_RC4_40_MD5") == 0 &&
	       tls_suite_unsupported_why(0x0003) && tls_suite_unsupported_why(0x002F) == NULL,
	       "export suites are named but not decryptable, with a reason");
	tap_ok(tls_suite_lookup(0x00A8) && tls_suite_lookup(0x00A8)->kx == TLS_KX_KEYLOG_ONLY &&
	       tls_suite_lookup(0xC01D) && tls_suite_lookup(0xC01D)->kx == TLS_KX_KEYLOG_ONLY &&
	       tls_suite_lookup(0x00AE) && tls_suite_lookup(0x00AE)->min_version == 0x0301 &&
	       tls_suite_unsupported_why(0x00A8) == NULL,
	       "PSK and SRP suites are decryptable through the key log (kx keylog-only)");
#if GCRYPT_VERSION_NUMBER >= 0x010b00
	tap_ok(tls_suite_lookup(0xC050) != NULL, "ARIA suites decryptable with libgcrypt >= 1.11");
#else
	tap_ok(tls_suite_lookup(0xC050) == NULL && tls_suite_name(0xC050) &&
	       strstr(tls_suite_unsupported_why(0xC050), "libgcrypt >= 1.11") != NULL,
	       "ARIA suites refused with libgcrypt < 1.11, reason says so");
#endif
	{
		size_t i, bad = 0;
		for (i = 0; i < tls_suite_count(); i++) {   /* one row per id; names unique */
			for (size_t j = i + 1; j < tls_suite_count(); j++)
				if (tls_suite_at(i)->id == tls_suite_at(j)->id ||
				    strcmp(tls_suite_at(i)->name, tls_suite_at(j)->name) == 0) bad++;
			if (tls_suite_at(i)->min_version > tls_suite_at(i)->max_version) bad++;
		}
		tap_ok(bad == 0, "suite table: %zu rows, ids and names unique, version ranges sane", tls_suite_count());
	}
	uint8_t key[32] = { 1 }, iv[16] = { 2 }, mk[48] = { 3 };
	tls_cipher_state_t cs;
	tap_ok(tls_cipher_init(&cs, tls_suite_lookup(0x002F), 0x0300, false, key, iv, mk) == 0 && !cs.etm,
	       "init: SSL 3.0 CBC accepted (chained IV, never EtM)");
	tls_cipher_free(&cs);
	tap_ok(tls_cipher_init(&cs, tls_suite_lookup(0x009C), 0x0300, false, key, iv, NULL) == -1 &&
	       tls_cipher_init(&cs, tls_suite_lookup(0x002F), 0x0304, false, key, iv, mk) == -1,
	       "init: versions outside a suite's range rejected (GCM at SSL 3.0, CBC at TLS 1.3)");
}

static int make_dsa(void)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
	         "openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 -out %s/dsa.param 2>/dev/null && "
	         "openssl genpkey -paramfile %s/dsa.param -out %s 2>/dev/null && "
	         "openssl req -x509 -new -key %s -subj /CN=dsa.example.com -days 30 -sha256 -out %s 2>/dev/null",
	         tu_tmpdir(), tu_tmpdir(), DSA_KEY, DSA_KEY, DSA_CERT);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	tls_engine_global_init();
	const char *t = tu_tmpdir();
	snprintf(RSA_KEY, sizeof RSA_KEY, "%s/rsa.key", t);
	snprintf(RSA_CERT, sizeof RSA_CERT, "%s/rsa.crt", t);
	snprintf(EC_KEY, sizeof EC_KEY, "%s/ec.key", t);
	snprintf(EC_CERT, sizeof EC_CERT, "%s/ec.crt", t);
	snprintf(DSA_KEY, sizeof DSA_KEY, "%s/dsa.key", t);
	snprintf(DSA_CERT, sizeof DSA_CERT, "%s/dsa.crt", t);
	snprintf(STATIC_KEY, sizeof STATIC_KEY, "%s/static.key", t);
	if (tlsgen_make_key("rsa2048", RSA_KEY, RSA_CERT, NULL) || tlsgen_make_key("p256", EC_KEY, EC_CERT, NULL) ||
	    tlsgen_make_key("p256", STATIC_KEY, NULL, NULL)) {
		tap_ok(0, "make keys");
		return tap_done();
	}
	test_suite_table();
	int have_dsa = make_dsa() == 0;
	tap_ok(have_dsa, "DSA key and certificate made with the openssl command");
	unsigned seed = 300;
	size_t mi = 0;
	for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
		const struct lcase *c = &CASES[i];
		if (!strcmp(c->cert, "dsa") && !have_dsa) { tap_skip("no DSA key"); continue; }
		for (int v = c->vmin; v <= c->vmax; v++) {
			/* SIP unmangled, HTTP under a mangling (rotating through the list) */
			run_case(c, v, TLSGEN_APP_SIP, NULL, seed++);
			run_case(c, v, TLSGEN_APP_HTTP, &MANGLES[mi++ % (sizeof MANGLES / sizeof *MANGLES)], seed++);
		}
	}
	test_draft_versions();
	test_ssl3_record_version();
	return tap_done();
}
