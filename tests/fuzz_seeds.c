/*
 * fuzz_seeds.c — writes the seed corpora of the three fuzz targets:
 *   OUTDIR/packet/  one file per capture, frames encoded in fuzz_packet's input format
 *                   (fuzz_common.h), from real OpenSSL captures made by tlsgen with the
 *                   fuzzers' embedded RSA key — TLS 1.0-1.2 RSA with GCM/CBC/CCM (EtM and
 *                   EMS on/off), resumption by session id and ticket, TLS 1.2 ECDHE and TLS
 *                   1.3 (AES-GCM, ChaCha20, CCM, HelloRetryRequest, KeyUpdate, PSK
 *                   resumption) with their key log carried inside the input, legacy suites
 *                   (Camellia-CBC, NULL-MD5, DH_anon, ECDH_anon), TCP mangling,
 *                   every link type, three of them cut into IP fragments (pcapfrag.c) —
 *                   plus the real-peer captures of ../shared/samples;
 *   OUTDIR/keylog/  key log files (from those captures, the sample's, and hand-made edge
 *                   cases: comments, CRLF, tabs, upper-case hex, bad lines, a 3 KB line);
 *   OUTDIR/config/  protocol_tls.xml variants (the shipped file, every param in attribute
 *                   and child form, several profiles, bad values).
 *
 * Why: coverage-guided fuzzing of a decryptor goes nowhere from random bytes — a mutation
 * can only reach record decryption if it starts from a capture whose handshake the engine
 * can complete with its key. The seeds are committed under tests/fuzz-seeds/ (small) so a
 * fresh clone can fuzz and `make check` can replay them; rerun this to regenerate:
 *     tests/fuzz_seeds tests/fuzz-seeds [../shared/samples]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pcap/pcap.h>
#define FUZZ_NO_DRIVER 1
#include "fuzz_common.h"
#include "tlsgen.h"
#include "pcapfrag.h"

static char outdir[512];
static int n_written;

/* growable byte buffer */
typedef struct buf { uint8_t *p; size_t n, cap; } buf_t;

static void bput(buf_t *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		while (nc < b->n + n) nc *= 2;
		b->p = realloc(b->p, nc);
		if (!b->p) abort();
		b->cap = nc;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void brec(buf_t *b, uint8_t sel, const uint8_t *d, size_t n)
{
	uint8_t h[3] = { sel, (uint8_t)(n >> 8), (uint8_t)n };
	bput(b, h, 3);
	bput(b, d, n);
}

/* Key log text as 0xFF records (chunks of < 64 KiB). */
static void bkeylog(buf_t *b, const char *kl, size_t n)
{
	while (n) {
		size_t c = n > 60000 ? 60000 : n;
		brec(b, FUZZ_SEL_KEYLOG, (const uint8_t *)kl, c);
		kl += c;
		n -= c;
	}
}

static void write_out(const char *sub, const char *name, const void *d, size_t n)
{
	char p[1024];
	snprintf(p, sizeof p, "%s/%s", outdir, sub);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/%s/%s", outdir, sub, name);
	fuzz_write(p, d, n, "wb");
	printf("%-10s %-48s %7zu bytes\n", sub, name, n);
	n_written++;
}

/* Encode the frames of a pcap; the key log (if any) goes first, or after the frames when
 * keylog_last (the engine then holds records until the log grows). */
static int encode_pcap(const char *pcap, uint8_t flags, const char *kl, size_t kllen, int keylog_last, buf_t *b)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(pcap, eb);
	if (!p) { fprintf(stderr, "%s: %s\n", pcap, eb); return -1; }
	int dlt = pcap_datalink(p);
	if (dlt == 12 || dlt == 14) dlt = 101;     /* DLT_RAW as libpcap reports LINKTYPE_RAW */
	int di = fuzz_dlt_index(dlt);
	if (di < 0) { fprintf(stderr, "%s: link type %d not encodable\n", pcap, pcap_datalink(p)); pcap_close(p); return -1; }
	bput(b, &flags, 1);
	if (kl && kllen && !keylog_last) bkeylog(b, kl, kllen);
	struct pcap_pkthdr *h;
	const u_char *d;
	double last = -1;
	size_t skipped = 0;
	while (pcap_next_ex(p, &h, &d) == 1) {
		double ts = h->ts.tv_sec + h->ts.tv_usec / 1e6;
		unsigned code = 0;
		if (last >= 0 && ts > last) {
			double ms = (ts - last) * 1000.0;
			code = ms < 0.5 ? 0 : ms > 28 ? 28 : (unsigned)(ms + 0.5);
		}
		last = ts;
		if (h->caplen > 65535) { skipped++; continue; }
		brec(b, (uint8_t)(di | code << 3), d, h->caplen);
	}
	pcap_close(p);
	if (kl && kllen && keylog_last) bkeylog(b, kl, kllen);
	if (skipped) fprintf(stderr, "%s: %zu frames over 64 KiB skipped\n", pcap, skipped);
	return 0;
}

static char KEY[600], CERT[600], TMPPCAP[600], TMPKL[600];
static buf_t all_keylogs;

typedef struct gcase {
	const char *name;
	int version;
	const char *cipher;
	int app, ems, etm;
	int split, reorder, duplicate, linktype, vlan, ipv6, wrap;
	int connections, resume, key_update, hrr;
	int keylog;          /* 1: key log first, 2: key log after the frames */
	uint8_t flags;       /* fuzz config flags */
	const char *groups;
	int big;             /* keep messages of every size class (several records each) */
} gcase_t;

static const gcase_t CASES[] = {
	{ "tls12-rsa-aes128gcm-sip", 0x0303, "AES128-GCM-SHA256", 1, 1, 1, 0,0,0, 1,0,0,0, 1,0,0,0, 0, 0, NULL, 0 },
	{ "tls12-rsa-aes256gcm-http-reorder-dup-big", 0x0303, "AES256-GCM-SHA384", 2, 1, 1, 0,1,1, 1,0,0,0, 1,0,0,0, 0, 0, NULL, 1 },
	{ "tls12-rsa-aes128cbc-etm-split", 0x0303, "AES128-SHA", 2, 1, 1, 400,0,0, 1,0,0,0, 1,0,0,0, 0, 0, NULL, 0 },
	{ "tls12-rsa-aes256sha256-noetm-noems-sll", 0x0303, "AES256-SHA256", 2, 0, 0, 0,0,0, 113,0,0,0, 1,0,0,0, 0, 0, NULL, 0 },
	{ "tls10-rsa-aes128sha-rawip", 0x0301, "AES128-SHA", 2, 1, 0, 0,0,0, 101,0,0,0, 1,0,0,0, 0, 0, NULL, 0 },
	{ "tls11-rsa-aes256sha-ipv6-sll2", 0x0302, "AES256-SHA", 2, 1, 1, 0,0,0, 276,0,1,0, 1,0,0,0, 0, 0, NULL, 0 },
	{ "tls12-rsa-aes128ccm", 0x0303, "AES128-CCM", 2, 1, 1, 0,0,0, 1,0,0,0, 1,0,0,0, 0, 0, NULL, 0 },
	{ "tls12-rsa-aes256ccm8", 0x0303, "AES256-CCM8", 2, 1, 1, 0,0,0, 1,0,0,0, 1,0,0,0, 0, 0, NULL, 0 },
	{ "tls12-rsa-resume-sessionid", 0x0303, "AES128-GCM-SHA256", 2, 1, 1, 0,0,0, 1,0,0,0, 2,1,0,0, 0, 0, NULL, 0 },
	{ "tls12-rsa-resume-ticket-small-bounds", 0x0303, "AES256-GCM-SHA384", 2, 1, 1, 0,0,0, 1,0,0,0, 2,2,0,0, 0, FUZZ_CFG_SMALL_BOUNDS, NULL, 0 },
	{ "tls12-rsa-seqwrap-vlan-ports", 0x0303, "AES128-SHA256", 2, 1, 1, 0,0,0, 1,1,0,1, 1,0,0,0, 0, FUZZ_CFG_TLS_PORTS, NULL, 0 },
	{ "tls12-ecdhe-aes128gcm-keylog", 0x0303, "ECDHE-RSA-AES128-GCM-SHA256", 2, 1, 1, 0,0,0, 1,0,0,0, 1,0,0,0, 1, 0, NULL, 0 },
	{ "tls12-ecdhe-chacha20-keylog-late", 0x0303, "ECDHE-RSA-CHACHA20-POLY1305", 2, 1, 1, 0,0,0, 1,0,0,0, 1,0,0,0, 2, 0, NULL, 0 },
	{ "tls12-ecdhe-nokeylog", 0x0303, "ECDHE-RSA-AES256-GCM-SHA384", 2, 1, 1, 0,0,0, 1,0,0,0, 1,0,0,0, 0, 0, NULL, 0 },
	{ "tls13-aes128gcm-keylog-null", 0x0304, "TLS_AES_128_GCM_SHA256", 1, 1, 1, 0,0,0, 0,0,0,0, 1,0,0,0, 1, 0, NULL, 0 },
	{ "tls13-chacha20-keyupdate-keylog", 0x0304, "TLS_CHACHA20_POLY1305_SHA256", 2, 1, 1, 0,0,0, 1,0,0,0, 1,0,1,0, 1, 0, NULL, 0 },
	{ "tls13-aes256gcm-hrr-keylog-late", 0x0304, "TLS_AES_256_GCM_SHA384", 2, 1, 1, 0,0,0, 1,0,0,0, 1,0,0,1, 2, FUZZ_CFG_SHORT_WAIT, NULL, 0 },
	{ "tls13-aes128ccm-keylog-split", 0x0304, "TLS_AES_128_CCM_SHA256", 2, 1, 1, 300,1,0, 1,0,0,0, 1,0,0,0, 1, 0, NULL, 0 },
	{ "tls13-psk-resume-keylog", 0x0304, "TLS_AES_128_GCM_SHA256", 2, 1, 1, 0,0,0, 1,0,0,0, 2,2,0,0, 1, 0, "P-256", 0 },
	{ "tls12-rsa-camellia128-sha", 0x0303, "CAMELLIA128-SHA:@SECLEVEL=0", 1, 1, 0, 0,0,0, 1,0,0,0, 1,0,0,0, 0, 0, NULL, 0 },
	{ "tls10-rsa-null-md5", 0x0301, "NULL-MD5:@SECLEVEL=0", 1, 1, 1, 0,0,0, 1,0,0,0, 1,0,0,0, 0, 0, NULL, 0 },
	{ "tls12-adh-camellia256-sha256-keylog", 0x0303, "ADH-CAMELLIA256-SHA256:@SECLEVEL=0", 2, 1, 1, 0,0,0, 1,0,0,0, 1,0,0,0, 1, 0, NULL, 0 },
	{ "tls12-aecdh-null-sha-keylog", 0x0303, "AECDH-NULL-SHA:@SECLEVEL=0", 2, 1, 1, 0,0,0, 1,0,0,0, 1,0,0,0, 1, 0, NULL, 0 },
	{ "tls13-nokeylog", 0x0304, "TLS_AES_128_GCM_SHA256", 2, 1, 1, 0,0,0, 1,0,0,0, 1,0,0,0, 0, FUZZ_CFG_NO_HS_ONLY, NULL, 0 },
};

/* frag > 0: the capture's IP packets are cut into fragments of that many bytes (pcapfrag.c,
 * shuffled, with duplicates) before encoding: seeds that reach the reassembly (ipfrag.c) */
static void gen_case(const gcase_t *c, size_t frag)
{
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = KEY;
	o.cert_file = CERT;
	o.tls_version = c->version;
	o.cipher = c->cipher;
	o.app = c->app;
	o.ems = c->ems;
	o.etm = c->etm;
	o.n_messages = c->big ? 3 : 2;
	o.split = c->split;
	o.reorder = c->reorder;
	o.duplicate = c->duplicate;
	o.linktype = c->linktype;
	o.vlan = c->vlan;
	o.ipv6 = c->ipv6;
	o.isn_near_wrap = (uint32_t)c->wrap;
	o.connections = c->connections;
	o.resume = c->resume;
	o.key_update = c->key_update;
	o.hrr = c->hrr;
	o.groups = c->groups;
	o.split_writes = 1;
	/* small inputs fuzz faster: of 32 generator seeds keep the one giving the smallest
	 * capture (message sizes are drawn from the seed), except for the "big" cases which
	 * keep multi-record messages */
	unsigned best = 0;
	long best_size = -1;
	char err[512];
	for (unsigned k = 0; k < (c->big ? 1u : 32u); k++) {
		o.seed = 1000 + 16 * (unsigned)(c - CASES) + k;
		o.keylog_file = NULL;
		if (tlsgen_run(&o, TMPPCAP, NULL, err, sizeof err) != 0) {
			fprintf(stderr, "skipped %s: %s\n", c->name, err);
			return;
		}
		struct stat sb;
		if (stat(TMPPCAP, &sb) == 0 && (best_size < 0 || sb.st_size < best_size)) {
			best_size = sb.st_size;
			best = o.seed;
		}
	}
	o.seed = best;
	/* key log always written (it feeds the key log corpus); carried in the input only
	 * when the case says so */
	fuzz_write(TMPKL, "", 0, "w");
	o.keylog_file = TMPKL;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, TMPPCAP, &g, err, sizeof err) != 0) {
		fprintf(stderr, "skipped %s: %s\n", c->name, err);
		return;
	}
	tlsgen_result_free(&g);
	uint8_t *kl = NULL;
	size_t kln = 0;
	FILE *f = fopen(TMPKL, "rb");
	if (f) {
		fseek(f, 0, SEEK_END);
		long l = ftell(f);
		fseek(f, 0, SEEK_SET);
		if (l > 0 && (kl = malloc((size_t)l)) && fread(kl, 1, (size_t)l, f) == (size_t)l) kln = (size_t)l;
		fclose(f);
	}
	if (kln) bput(&all_keylogs, kl, kln);
	buf_t b = { 0 };
	const char *pcap = TMPPCAP;
	static char fpcap[620];
	if (frag) {
		snprintf(fpcap, sizeof fpcap, "%s.frag", TMPPCAP);
		pf_opts_t po = { .frag_size = frag, .seed = o.seed, .shuffle = 1, .dup_pct = 10 };
		pf_report_t pr;
		if (pf_fragment(TMPPCAP, fpcap, &po, &pr) != 0) { fprintf(stderr, "skipped %s: %s\n", c->name, pr.err); free(kl); return; }
		pcap = fpcap;
	}
	if (encode_pcap(pcap, c->flags, (char *)kl, c->keylog ? kln : 0, c->keylog == 2, &b) == 0) {
		char name[128];
		if (frag) snprintf(name, sizeof name, "%s-frag%zu.bin", c->name, frag);
		else snprintf(name, sizeof name, "%s.bin", c->name);
		write_out("packet", name, b.p, b.n);
	}
	free(b.p);
	free(kl);
}

static uint8_t *read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	buf_t b = { 0 };
	uint8_t tmp[65536];
	size_t r;
	while ((r = fread(tmp, 1, sizeof tmp, f)) > 0) bput(&b, tmp, r);
	fclose(f);
	*n = b.n;
	return b.p;
}

/* pcapfile/ (captls's classic pcap reader): the first frames of a tlsgen capture (little-
 * endian, microseconds, as tlsgen writes) rewritten into both byte orders and time stamp
 * resolutions, a small snap length, a file cut inside a record, a header only. */
static void put32x(uint8_t *p, uint32_t v, int be)
{
	for (int i = 0; i < 4; i++) p[be ? 3 - i : i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32le(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void gen_pcapfile(void)
{
	size_t n;
	uint8_t *in = read_all(TMPPCAP, &n);
	if (!in || n < 24 || get32le(in) != 0xa1b2c3d4u) { free(in); return; }
	size_t end = 24;                              /* the first 8 records */
	for (int i = 0; i < 8 && end + 16 <= n && end + 16 + get32le(in + end + 8) <= n; i++)
		end += 16 + get32le(in + end + 8);
	static const struct { const char *name; int be, ns; uint32_t snap; size_t cut; } V[] = {
		{ "le-us.pcap", 0, 0, 0, 0 }, { "be-ns.pcap", 1, 1, 0, 0 }, { "le-ns-snap100.pcap", 0, 1, 100, 0 },
		{ "be-us-cut.pcap", 1, 0, 0, 24 + 16 * 3 + 200 }, { "empty.pcap", 0, 0, 0, 24 },
	};
	uint8_t *v = malloc(end);
	for (size_t k = 0; v && k < sizeof V / sizeof *V; k++) {
		memcpy(v, in, end);
		put32x(v, V[k].ns ? 0xa1b23c4du : 0xa1b2c3d4u, V[k].be);
		v[4] = V[k].be ? 0 : 2; v[5] = V[k].be ? 2 : 0; v[6] = V[k].be ? 0 : 4; v[7] = V[k].be ? 4 : 0;
		put32x(v + 16, V[k].snap ? V[k].snap : get32le(in + 16), V[k].be);
		put32x(v + 20, get32le(in + 20), V[k].be);
		for (size_t off = 24; off + 16 <= end; off += 16 + get32le(in + off + 8)) {
			put32x(v + off, get32le(in + off), V[k].be);
			put32x(v + off + 4, V[k].ns ? get32le(in + off + 4) * 1000 + 789 : get32le(in + off + 4), V[k].be);
			put32x(v + off + 8, get32le(in + off + 8), V[k].be);
			put32x(v + off + 12, get32le(in + off + 12), V[k].be);
		}
		write_out("pcapfile", V[k].name, v, V[k].cut && V[k].cut < end ? V[k].cut : end);
	}
	free(v);
	free(in);
}

static void gen_samples(const char *sd)
{
	static const struct { const char *pcap, *keylog; } S[] = {
		{ "sip-tls12-rsa-aes256gcm-ems", NULL },
		{ "https-tls13-aes128gcm-keylog", "https-tls13-aes128gcm-keylog.keys" },
		{ "neg-sip-ecdhe-no-keylog", NULL },
	};
	for (size_t i = 0; i < sizeof S / sizeof *S; i++) {
		char p[1024], k[1024];
		snprintf(p, sizeof p, "%s/pcaps/%s.pcap", sd, S[i].pcap);
		uint8_t *kl = NULL;
		size_t kln = 0;
		if (S[i].keylog) {
			snprintf(k, sizeof k, "%s/keylogs/%s", sd, S[i].keylog);
			kl = read_all(k, &kln);
			if (kl) {
				snprintf(k, sizeof k, "sample-%s.keys", S[i].pcap);
				write_out("keylog", k, kl, kln);
			}
		}
		buf_t b = { 0 };
		if (encode_pcap(p, 0, (char *)kl, kln, 0, &b) == 0) {
			snprintf(k, sizeof k, "sample-%s.bin", S[i].pcap);
			write_out("packet", k, b.p, b.n);
		}
		free(b.p);
		free(kl);
	}
}

static void gen_keylogs(void)
{
	if (all_keylogs.n) write_out("keylog", "tlsgen-all.keys", all_keylogs.p, all_keylogs.n);
	static const char edge[] =
		"# comment line\n"
		"\n"
		"CLIENT_RANDOM 0102030405060708091011121314151617181920212223242526272829303132 "
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f\n"
		"CLIENT_RANDOM\t0102030405060708091011121314151617181920212223242526272829303133\t"
		"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F\r\n"
		"  SERVER_TRAFFIC_SECRET_0 aa02030405060708091011121314151617181920212223242526272829303132 "
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
		"CLIENT_HANDSHAKE_TRAFFIC_SECRET aa02030405060708091011121314151617181920212223242526272829303132 "
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
		"RSA 0011223344556677 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f\n"
		"RSA Session-ID:A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90 "
		"Master-Key:000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F\n"
		"RSA Session-ID:01 Master-Key:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f\n"
		"PMS_CLIENT_RANDOM 0102030405060708091011121314151617181920212223242526272829303132 "
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
		"PMS_CLIENT_RANDOM 0102030405060708091011121314151617181920212223242526272829303133 "
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
		"303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\n"
		"EXPORTER_SECRET aa02030405060708091011121314151617181920212223242526272829303132 00\n"
		"CLIENT_RANDOM 01020304 0001\n"
		"CLIENT_RANDOM zz02030405060708091011121314151617181920212223242526272829303132 "
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f\n"
		"CLIENT_RANDOM 0102030405060708091011121314151617181920212223242526272829303132 "
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f extra\n"
		"CLIENT_EARLY_TRAFFIC_SECRET bb02030405060708091011121314151617181920212223242526272829303132 "
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
		"CLIENT_RANDOM 0102030405060708091011121314151617181920212223242526272829303132 "
		"ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f\n"
		"SERVER_HANDSHAKE_TRAFFIC_SECRET cc02030405060708091011121314151617181920212223242526272829303132 "
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddee";
	write_out("keylog", "edge-cases.keys", edge, sizeof edge - 1);
	buf_t b = { 0 };
	bput(&b, "CLIENT_RANDOM ", 14);
	for (int i = 0; i < 3000; i++) bput(&b, "a", 1);
	bput(&b, "\n", 1);
	bput(&b, edge, 200);
	bput(&b, "\n", 1);
	write_out("keylog", "long-line.keys", b.p, b.n);
	free(b.p);
}

static void gen_configs(const char *top)
{
	char p[1024];
	snprintf(p, sizeof p, "%s/conf/protocol_tls.xml", top);
	size_t n;
	uint8_t *d = read_all(p, &n);
	if (d) { write_out("config", "shipped-protocol_tls.xml", d, n); free(d); }
	static const char full[] =
		"<?xml version=\"1.0\"?>\n"
		"<document type=\"captagent_module/xml\">\n"
		" <module name=\"protocol_tls\" description=\"TLS\" serial=\"1\">\n"
		"  <profile name=\"a\" description=\"x\" enable=\"true\" serial=\"1\"><settings>\n"
		"   <param name=\"private-key-path\" value=\"/k1.pem\"/>\n"
		"   <param name=\"private-key-path\"><value>/k2.pem</value><value>/k3.pem</value></param>\n"
		"   <param name=\"private-key-password\" value=\"secret\"/>\n"
		"   <param name=\"keylog-file\" value=\"/tmp/keys.log\"/>\n"
		"   <param name=\"server\" value=\"10.0.0.2:5061\"/>\n"
		"   <param name=\"sni\" value=\"sip.example.com\"/>\n"
		"   <param name=\"tls-ports\" value=\"443, 5061,8443\"/>\n"
		"   <param name=\"report-handshake-only\" value=\"false\"/>\n"
		"   <param name=\"flow-timeout\" value=\"180\"/>\n"
		"   <param name=\"max-flows\" value=\"65536\"/>\n"
		"   <param name=\"max-reassembly-bytes\" value=\"256k\"/>\n"
		"   <param name=\"max-reassembly-segments\" value=\"256\"/>\n"
		"   <param name=\"max-buffer-total\" value=\"256M\"/>\n"
		"   <param name=\"max-message\" value=\"1m\"/>\n"
		"   <param name=\"max-held-records\" value=\"1G\"/>\n"
		"   <param name=\"keylog-wait\" value=\"10\"/>\n"
		"   <param name=\"keylog-max-entries\" value=\"100000\"/>\n"
		"   <param name=\"session-cache-size\" value=\"10000\"/>\n"
		"   <param name=\"plan-index\" value=\"0\"/>\n"
		"   <param name=\"unknown-param\" value=\"1\"/>\n"
		"  </settings></profile>\n"
		"  <profile name=\"b\" enable=\"false\"><settings>\n"
		"   <param name=\"private-key-path\" value=\"/k4.der\"/>\n"
		"   <param name=\"server\" value=\"[fd00::2]:5061\"/>\n"
		"  </settings></profile>\n"
		"  <profile name=\"c\" enable=\"true\"><settings>\n"
		"   <param name=\"keylog-file\" value=\"/tmp/other.keys\"/>\n"
		"   <param name=\"server\" value=\":443\"/>\n"
		"   <param name=\"max-flows\" value=\"1\"/>\n"
		"  </settings></profile>\n"
		" </module>\n"
		"</document>\n";
	write_out("config", "full.xml", full, sizeof full - 1);
	static const char bad[] =
		"<?xml version=\"1.0\"?>\n"
		"<document><module name=\"protocol_tls\"><profile name=\"p\" enable=\"true\"><settings>\n"
		"<param name=\"max-buffer-total\" value=\"99999999999999999999G\"/>\n"
		"</settings></profile></module></document>\n";
	write_out("config", "bad-number.xml", bad, sizeof bad - 1);
	static const char entities[] =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE document [ <!ENTITY k \"/etc/key.pem\"> ]>\n"
		"<document><module name=\"protocol_tls\"><profile name=\"p&amp;q\" enable=\"yes\"><settings>\n"
		"<param name=\"private-key-path\" value=\"&k;\"/>\n"
		"<param name=\"server\" value=\"127.0.0.1\"/>\n"
		"<param name=\"tls-ports\" value=\"0\"/>\n"
		"<!-- comment --><![CDATA[ x ]]>\n"
		"</settings></profile></module></document>\n";
	write_out("config", "entities.xml", entities, sizeof entities - 1);
	static const char broken[] = "<document><module name=\"protocol_tls\"><profile name=\"p\"><settings><param name=";
	write_out("config", "broken.xml", broken, sizeof broken - 1);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s OUTDIR [SAMPLES_DIR [TOP_SRCDIR]]\n", argv[0]);
		return 2;
	}
	snprintf(outdir, sizeof outdir, "%s", argv[1]);
	mkdir(outdir, 0755);
	const char *samples = argc > 2 ? argv[2] : NULL;
	const char *top = argc > 3 ? argv[3] : ".";
	snprintf(KEY, sizeof KEY, "%s", fuzz_path("key.pem"));
	snprintf(CERT, sizeof CERT, "%s", fuzz_path("cert.pem"));
	snprintf(TMPPCAP, sizeof TMPPCAP, "%s", fuzz_path("case.pcap"));
	snprintf(TMPKL, sizeof TMPKL, "%s", fuzz_path("case.keys"));
	fuzz_write(KEY, FUZZ_KEY_PEM, sizeof FUZZ_KEY_PEM - 1, "w");
	fuzz_write(CERT, FUZZ_CERT_PEM, sizeof FUZZ_CERT_PEM - 1, "w");
	for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
		gen_case(&CASES[i], 0);
		if (i == 0) gen_pcapfile();    /* from the first case's capture, still in TMPPCAP */
	}
	gen_case(&CASES[0], 64);         /* TLS 1.2 RSA, IPv4 fragments */
	gen_case(&CASES[5], 200);        /* TLS 1.1 RSA, IPv6 fragments, SLL2 */
	gen_case(&CASES[14], 96);        /* TLS 1.3 key log, IPv4 fragments, BSD loopback */
	if (samples) gen_samples(samples);
	gen_keylogs();
	gen_configs(top);
	free(all_keylogs.p);
	printf("%d seed files written to %s\n", n_written, outdir);
	return 0;
}
