/*
 * sslv2_test.c — SSLv2-format ClientHello (RFC 5246 appendix E.2) against a real server.
 *
 * No client on Debian still sends one (OpenSSL 3 and GnuTLS dropped it; python's ssl is
 * OpenSSL), but OpenSSL's server side still accepts it. So the server here is real
 * in-process OpenSSL libssl (memory BIOs, TLS 1.2, RSA key exchange) and the client side is
 * this test, written with libcrypto: it sends a hand-built SSLv2 CLIENT-HELLO (version
 * 0x0303, 3-byte cipher specs, a 16- or 32-byte challenge), reads the server's flight,
 * encrypts a pre-master secret to the server certificate's key, derives the keys with
 * OpenSSL's TLS1-PRF, and sends ClientKeyExchange, ChangeCipherSpec and an AES-GCM Finished
 * whose verify_data covers the SSLv2 message from msg_type on (without its 2-byte record
 * header). The OpenSSL server completing the handshake (SSL_do_handshake == 1) proves
 * that reading (and a control case hashing the header too is rejected); the server then reads the client's application data (checked equal to
 * what the test encrypted) and writes its own with SSL_write. Only the client's records are
 * built by the test; the engine must decrypt both directions byte-exact, report TLS 1.2
 * with the suite and key kind rsa, and count one SSLv2 hello. Variants: TCP segments of
 * 1400 and of 37 bytes (the SSLv2 record spans segments), and the capture cut into IP
 * fragments (pcapfrag.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"
#include "pcapw.h"
#include "pcapfrag.h"

static char KEY[512], CERT[512];

typedef struct bytes { uint8_t *p; size_t n, cap; } bytes_t;
static void bput(bytes_t *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 4096;
		while (nc < b->n + n) nc *= 2;
		b->p = realloc(b->p, nc);
		b->cap = nc;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static int prf(const char *md, const uint8_t *sec, size_t sl, const char *label, const uint8_t *s1, size_t l1,
               const uint8_t *s2, size_t l2, uint8_t *out, size_t ol)
{
	uint8_t seed[256];
	size_t ll = strlen(label);
	memcpy(seed, label, ll);
	memcpy(seed + ll, s1, l1);
	if (l2) memcpy(seed + ll + l1, s2, l2);
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	EVP_KDF_CTX *k = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)sec, sl),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, ll + l1 + l2),
		OSSL_PARAM_construct_end()
	};
	int rc = EVP_KDF_derive(k, out, ol, p) == 1 ? 0 : -1;
	EVP_KDF_CTX_free(k);
	EVP_KDF_free(kdf);
	return rc;
}

/* One TLS 1.2 record; AES-GCM encrypted when key != NULL (explicit nonce = seq). */
static void record(bytes_t *out, uint8_t type, const uint8_t *data, size_t len, const EVP_CIPHER *ciph,
                   const uint8_t *key, const uint8_t *salt, uint64_t seq)
{
	uint8_t h[5] = { type, 3, 3, 0, 0 };
	if (!key) {
		h[3] = (uint8_t)(len >> 8); h[4] = (uint8_t)len;
		bput(out, h, 5);
		bput(out, data, len);
		return;
	}
	uint8_t nonce[12], aad[13], tag[16], *ct = malloc(len + 1);
	memcpy(nonce, salt, 4);
	for (int i = 0; i < 8; i++) nonce[4 + i] = aad[i] = (uint8_t)(seq >> (56 - 8 * i));
	aad[8] = type; aad[9] = 3; aad[10] = 3; aad[11] = (uint8_t)(len >> 8); aad[12] = (uint8_t)len;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0;
	EVP_EncryptInit_ex(c, ciph, NULL, key, nonce);
	EVP_EncryptUpdate(c, NULL, &l, aad, 13);
	EVP_EncryptUpdate(c, ct, &l, data, (int)len);
	EVP_EncryptFinal_ex(c, ct + l, &l);
	EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
	EVP_CIPHER_CTX_free(c);
	size_t rl = 8 + len + 16;
	h[3] = (uint8_t)(rl >> 8); h[4] = (uint8_t)rl;
	bput(out, h, 5);
	bput(out, nonce + 4, 8);
	bput(out, ct, len);
	bput(out, tag, 16);
	free(ct);
}

static void drain(BIO *b, bytes_t *out)
{
	uint8_t buf[16384];
	int n;
	while ((n = BIO_read(b, buf, sizeof buf)) > 0) bput(out, buf, (size_t)n);
}

/* The capture: one TCP connection, flights in order, segments of at most mss bytes. */
typedef struct cap { pcapw_t *w; uint32_t seq[2]; uint64_t ts; size_t mss; } cap_t;
static const uint8_t CIP[4] = { 10, 0, 0, 1 }, SIP[4] = { 10, 0, 0, 2 };
static void seg(cap_t *c, int dir, uint8_t flags, const uint8_t *d, size_t n)
{
	pcapw_tcp_t t = { .src = dir ? SIP : CIP, .dst = dir ? CIP : SIP, .sport = dir ? 443 : 40123,
	                  .dport = dir ? 40123 : 443, .seq = c->seq[dir], .ack = c->seq[1 - dir], .flags = flags,
	                  .window = 65535, .payload = d, .len = n, .ip_id = (uint16_t)(c->ts & 0xffff) };
	pcapw_write_tcp(c->w, c->ts, &t);
	c->ts += 1000;
	c->seq[dir] += (uint32_t)n + ((flags & (PCAPW_SYN | PCAPW_FIN)) ? 1 : 0);
}
static void flight(cap_t *c, int dir, const bytes_t *b)
{
	for (size_t o = 0; o < b->n; o += c->mss) {
		size_t n = b->n - o < c->mss ? b->n - o : c->mss;
		seg(c, dir, PCAPW_ACK | PCAPW_PSH, b->p + o, n);
	}
	seg(c, 1 - dir, PCAPW_ACK, NULL, 0);
}

typedef struct variant { const char *cipher, *md; const EVP_CIPHER *(*ciph)(void); size_t keylen; uint16_t suite;
                         size_t challenge, mss; int frag; int hdr_in_hash; } variant_t;

static void run(const variant_t *v, const char *label)
{
	char pcap[600], fpcap[600];
	snprintf(pcap, sizeof pcap, "%s/v2.pcap", tu_tmpdir());
	snprintf(fpcap, sizeof fpcap, "%s/v2-frag.pcap", tu_tmpdir());
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_security_level(ctx, 0);        /* TLS 1.2 without signature_algorithms: SHA-1 defaults */
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	if (SSL_CTX_use_certificate_file(ctx, CERT, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, KEY, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, v->cipher) != 1) {
		tap_ok(0, "%s: server setup", label);
		SSL_CTX_free(ctx);
		return;
	}
	SSL *s = SSL_new(ctx);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	SSL_set_bio(s, rb, wb);
	SSL_set_accept_state(s);

	/* ---- SSLv2 CLIENT-HELLO ---- */
	uint8_t chal[32], cr[32] = { 0 };
	RAND_bytes(chal, sizeof chal);
	memcpy(cr + 32 - v->challenge, chal, v->challenge);
	uint8_t msg[64];
	size_t ml = 0;
	msg[ml++] = 1;                                     /* msg_type CLIENT-HELLO */
	msg[ml++] = 3; msg[ml++] = 3;                      /* version TLS 1.2 */
	msg[ml++] = 0; msg[ml++] = 9;                      /* cipher_spec_length: 3 specs */
	msg[ml++] = 0; msg[ml++] = 0;                      /* session_id_length */
	msg[ml++] = 0; msg[ml++] = (uint8_t)v->challenge;  /* challenge_length */
	const uint8_t specs[9] = { 0x01, 0x00, 0x80,       /* SSL_CK_RC4_128_WITH_MD5 (SSL 2.0 only) */
	                           0x00, (uint8_t)(v->suite >> 8), (uint8_t)v->suite,
	                           0x00, 0x00, 0xff };     /* TLS_EMPTY_RENEGOTIATION_INFO_SCSV */
	memcpy(msg + ml, specs, 9); ml += 9;
	memcpy(msg + ml, chal, v->challenge); ml += v->challenge;
	bytes_t c1 = { 0 }, s1 = { 0 }, c2 = { 0 }, s2 = { 0 }, hs = { 0 };
	uint8_t rh[2] = { (uint8_t)(0x80 | (ml >> 8)), (uint8_t)ml };
	bput(&c1, rh, 2);
	bput(&c1, msg, ml);
	if (v->hdr_in_hash) bput(&hs, rh, 2);             /* the wrong reading (control) */
	bput(&hs, msg, ml);                                /* transcript: without the 2-byte header */
	BIO_write(rb, c1.p, (int)c1.n);
	SSL_do_handshake(s);
	drain(wb, &s1);

	/* ---- the server's flight: ServerHello .. ServerHelloDone ---- */
	uint8_t sr[32];
	uint16_t suite = 0;
	int shd = 0;
	for (size_t o = 0; o + 5 <= s1.n;) {
		size_t rl = (size_t)s1.p[o + 3] << 8 | s1.p[o + 4];
		if (s1.p[o] != 22 || o + 5 + rl > s1.n) break;
		for (size_t m = o + 5; m + 4 <= o + 5 + rl;) {
			size_t l = (size_t)s1.p[m + 1] << 16 | (size_t)s1.p[m + 2] << 8 | s1.p[m + 3];
			if (s1.p[m] == 2) { memcpy(sr, s1.p + m + 6, 32); size_t sl = s1.p[m + 38]; suite = (uint16_t)(s1.p[m + 39 + sl] << 8 | s1.p[m + 40 + sl]); }
			if (s1.p[m] == 14) shd = 1;
			bput(&hs, s1.p + m, 4 + l);
			m += 4 + l;
		}
		o += 5 + rl;
	}
	if (!shd || suite != v->suite) {
		tap_ok(0, "%s: OpenSSL did not answer the SSLv2 hello with ServerHello..Done for 0x%04x (%s)", label,
		       v->suite, ERR_reason_error_string(ERR_get_error()));
		goto out;
	}
	/* ---- ClientKeyExchange, ChangeCipherSpec, Finished ---- */
	{
		uint8_t pms[48] = { 3, 3 };
		RAND_bytes(pms + 2, 46);
		FILE *cf = fopen(CERT, "r");
		X509 *x = PEM_read_X509(cf, NULL, NULL, NULL);
		fclose(cf);
		EVP_PKEY *pk = X509_get_pubkey(x);
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pk, NULL);
		uint8_t enc[512];
		size_t el = sizeof enc;
		EVP_PKEY_encrypt_init(pc);
		EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING);
		EVP_PKEY_encrypt(pc, enc, &el, pms, sizeof pms);
		EVP_PKEY_CTX_free(pc);
		EVP_PKEY_free(pk);
		X509_free(x);
		uint8_t cke[4 + 2 + 512];
		size_t cl = 0;
		cke[cl++] = 16; cke[cl++] = 0; cke[cl++] = (uint8_t)((el + 2) >> 8); cke[cl++] = (uint8_t)(el + 2);
		cke[cl++] = (uint8_t)(el >> 8); cke[cl++] = (uint8_t)el;
		memcpy(cke + cl, enc, el); cl += el;
		bput(&hs, cke, cl);
		uint8_t master[48], kb[2 * 32 + 2 * 4], hash[64], fin[16] = { 20, 0, 0, 12 };
		unsigned hl = 0;
		prf(v->md, pms, 48, "master secret", cr, 32, sr, 32, master, 48);
		prf(v->md, master, 48, "key expansion", sr, 32, cr, 32, kb, 2 * v->keylen + 8);
		EVP_Digest(hs.p, hs.n, hash, &hl, EVP_get_digestbyname(v->md), NULL);
		prf(v->md, master, 48, "client finished", hash, hl, NULL, 0, fin + 4, 12);
		const uint8_t *ckey = kb, *civ = kb + 2 * v->keylen;
		record(&c2, 22, cke, cl, NULL, NULL, NULL, 0);
		const uint8_t one = 1;
		record(&c2, 20, &one, 1, NULL, NULL, NULL, 0);
		record(&c2, 22, fin, 16, v->ciph(), ckey, civ, 0);
		BIO_write(rb, c2.p, (int)c2.n);
		int hsr = SSL_do_handshake(s);
		drain(wb, &s2);
		if (v->hdr_in_hash) {
			tap_ok(hsr != 1, "%s: OpenSSL rejects that Finished (%s)", label,
			       hsr != 1 ? ERR_reason_error_string(ERR_get_error()) : "accepted");
			goto out;
		}
		if (hsr != 1) {
			tap_ok(0, "%s: OpenSSL rejected the client Finished (%s)", label, ERR_reason_error_string(ERR_get_error()));
			goto out;
		}
		/* ---- application data: client records by the test, server's by SSL_write ---- */
		bytes_t plain[2] = { { 0 }, { 0 } }, app[2 * 6] = { { 0 } };
		int got_ok = 1;
		for (int i = 0; i < 6; i++) {
			char m[3000];
			int n = snprintf(m, sizeof m, "OPTIONS sip:%d@example.com SIP/2.0\r\nCall-ID: v2-%d\r\nContent-Length: 0\r\n\r\n", i, i);
			record(&app[2 * i], 23, (const uint8_t *)m, (size_t)n, v->ciph(), ckey, civ, (uint64_t)i + 1);
			bput(&plain[0], m, (size_t)n);
			BIO_write(rb, app[2 * i].p, (int)app[2 * i].n);
			char rd[3000];
			int r = SSL_read(s, rd, sizeof rd);
			if (r != n || memcmp(rd, m, (size_t)n)) got_ok = 0;
			n = snprintf(m, sizeof m, "SIP/2.0 200 OK\r\nCall-ID: v2-%d\r\nX-Pad: %0*d\r\nContent-Length: 0\r\n\r\n",
			             i, 40 + 300 * i, i);
			SSL_write(s, m, n);
			bput(&plain[1], m, (size_t)n);
			drain(wb, &app[2 * i + 1]);
		}
		if (!got_ok) { tap_ok(0, "%s: the server did not read the client's records", label); goto out; }
		/* ---- capture ---- */
		cap_t cp = { pcapw_open(pcap, PCAPW_LINK_ETHERNET), { 1000, 90000 }, 1700000000000000ull, v->mss };
		seg(&cp, 0, PCAPW_SYN, NULL, 0);
		seg(&cp, 1, PCAPW_SYN | PCAPW_ACK, NULL, 0);
		seg(&cp, 0, PCAPW_ACK, NULL, 0);
		flight(&cp, 0, &c1);
		flight(&cp, 1, &s1);
		flight(&cp, 0, &c2);
		flight(&cp, 1, &s2);
		for (int i = 0; i < 12; i++) flight(&cp, i & 1, &app[i]);
		seg(&cp, 0, PCAPW_FIN | PCAPW_ACK, NULL, 0);
		seg(&cp, 1, PCAPW_FIN | PCAPW_ACK, NULL, 0);
		seg(&cp, 0, PCAPW_ACK, NULL, 0);
		pcapw_close(cp.w);
		const char *in = pcap;
		if (v->frag) {
			pf_opts_t po = { .frag_size = 48, .seed = 77, .shuffle = 1, .dup_pct = 10 };
			pf_report_t pr;
			if (pf_fragment(pcap, fpcap, &po, &pr) != 0) { tap_ok(0, "%s: fragmenter: %s", label, pr.err); goto out; }
			in = fpcap;
		}
		tls_keystore_t *ks = tu_keystore(KEY, NULL);
		tu_run_t r;
		memset(&r, 0, sizeof r);
		tu_run_pcap(in, &ks, 1, NULL, &r);
		tls_keystore_unref(ks);
		int ok = r.n_sess == 1;
		if (ok) {
			const tu_session_t *se = &r.sess[0];
			for (int d = 0; d < 2; d++) {
				size_t n = 0;
				uint8_t *got = tu_concat(&r, se->flow, d, &n);
				if (n != plain[d].n || memcmp(got, plain[d].p, n)) {
					tap_diag("%s: %s: %zu bytes decrypted, %zu sent", label, d ? "s2c" : "c2s", n, plain[d].n);
					ok = 0;
				}
				free(got);
			}
			if (!se->decrypted || se->version != 0x0303 || se->suite != v->suite || se->key != TLS_KEY_RSA ||
			    memcmp(se->ep.client_ip, CIP, 4)) {
				tap_diag("%s: session decrypted %d version %04x suite %04x key %d", label, se->decrypted,
				         se->version, se->suite, (int)se->key);
				ok = 0;
			}
		}
		if (r.st.sslv2_hellos != 1) { tap_diag("%s: sslv2_hellos %llu", label, (unsigned long long)r.st.sslv2_hellos); ok = 0; }
		tap_ok(ok, "%s: OpenSSL server finished the handshake; %zu+%zu bytes byte-exact both ways", label,
		       plain[0].n, plain[1].n);
		tu_run_free(&r);
		for (int i = 0; i < 2; i++) free(plain[i].p);
		for (int i = 0; i < 12; i++) free(app[i].p);
	}
out:
	free(c1.p); free(s1.p); free(c2.p); free(s2.p); free(hs.p);
	SSL_free(s);
	SSL_CTX_free(ctx);
}

int main(void)
{
	tls_engine_global_init();
	snprintf(KEY, sizeof KEY, "%s/v2-rsa.key", tu_tmpdir());
	snprintf(CERT, sizeof CERT, "%s/v2-rsa.crt", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", KEY, CERT, NULL)) { tap_ok(0, "make keys"); return tap_done(); }
	const variant_t v[] = {
		{ "AES128-GCM-SHA256", "SHA256", EVP_aes_128_gcm, 16, 0x009c, 32, 1400, 0, 0 },
		{ "AES256-GCM-SHA384", "SHA384", EVP_aes_256_gcm, 32, 0x009d, 16, 1400, 0, 0 },
		{ "AES128-GCM-SHA256", "SHA256", EVP_aes_128_gcm, 16, 0x009c, 20, 37, 0, 0 },
		{ "AES256-GCM-SHA384", "SHA384", EVP_aes_256_gcm, 32, 0x009d, 32, 1400, 1, 0 },
		{ "AES128-GCM-SHA256", "SHA256", EVP_aes_128_gcm, 16, 0x009c, 32, 1400, 0, 1 },
	};
	const char *names[] = {
		"SSLv2 hello, TLS 1.2 AES128-GCM-SHA256, 32-byte challenge",
		"SSLv2 hello, TLS 1.2 AES256-GCM-SHA384, 16-byte challenge (zero-padded random)",
		"SSLv2 hello, TLS 1.2 AES128-GCM-SHA256, 20-byte challenge, 37-byte TCP segments",
		"SSLv2 hello, TLS 1.2 AES256-GCM-SHA384, capture cut into 48-byte IP fragments",
		"control: a Finished hashing the SSLv2 record header too",
	};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) run(&v[i], names[i]);
	return tap_done();
}
