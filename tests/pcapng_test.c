/*
 * pcapng_test.c — captls on pcapng input: keys carried in the capture, interfaces of
 * different link types, both byte orders, and hostile files (TAP output).
 *
 * Why: libpcap hides pcapng Decryption Secrets Blocks and refuses files whose
 * interfaces differ in link type, so captls reads pcapng itself (src/captls/pcapng.c).
 * The traffic is real OpenSSL (tlsgen); the pcapng files are made by Wireshark's own
 * tools where they can (editcap --inject-secrets, mergecap) and otherwise by a small
 * writer here (big-endian sections, nanosecond and binary time stamp resolution, Simple
 * Packet Blocks, two sections in one file) whose output tshark must read back the same.
 * Checks:
 *   - editcap --inject-secrets tls,keys on a TLS 1.3 capture: byte-exact without -l, and
 *     with -l too (both sources at once; also -l naming another capture's keys);
 *   - mergecap of Ethernet + Linux SLL + BSD loopback captures (libpcap refuses it): every
 *     flow byte-exact, and a BPF filter applies per link type;
 *   - a big-endian section, a little-endian one after it, ns / 2^-20 s time stamps, keys in
 *     a DSB after the packets: byte-exact, time stamps as written;
 *   - truncated files, over-large and inconsistent block lengths, 300 random corruptions:
 *     exit 1 (or 0) with a message, never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <pcap/pcap.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"

static char CAPTLS[1024], KEY[600], CERT[600];

static char *slurp_cmd(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	if (!p) return NULL;
	size_t cap = 1 << 20, n = 0, r;
	char *b = malloc(cap);
	while ((r = fread(b + n, 1, cap - n - 1, p)) > 0) {
		n += r;
		if (cap - n < 4096) { cap *= 2; b = realloc(b, cap); }
	}
	b[n] = 0;
	int st = pclose(p);
	if (status) *status = st;
	return b;
}

/* Every connection of g decrypted byte-exact in captls's JSON output? */
static bool all_exact(const char *json, const tlsgen_result_t *g)
{
	static uint8_t buf[1 << 20];
	for (size_t i = 0; i < g->n_conns; i++)
		for (int d = 0; d < 2; d++) {
			const tlsgen_conn_t *c = &g->conns[i];
			size_t n = tu_json_concat(json, (int)c->client_port, d ? "s2c" : "c2s", buf, sizeof buf);
			if (n != c->plain_len[d] || n == 0 || memcmp(buf, c->plain[d], n) != 0) return false;
		}
	return true;
}

static int gen(const char *name, int version, const char *cipher, int linktype, uint16_t port, unsigned seed,
               char *pcap, char *keys, tlsgen_result_t *g)
{
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.tls_version = version;
	o.cipher = cipher;
	o.key_file = KEY;
	o.cert_file = CERT;
	o.linktype = linktype;
	o.server_port = port;
	o.seed = seed;
	o.n_messages = 5;
	sprintf(pcap, "%s/%s.pcap", tu_tmpdir(), name);
	sprintf(keys, "%s/%s.keys", tu_tmpdir(), name);
	remove(keys);
	o.keylog_file = keys;
	char err[512];
	memset(g, 0, sizeof *g);
	if (tlsgen_run(&o, pcap, g, err, sizeof err) != 0) {
		tap_diag("generator: %s", err);
		return -1;
	}
	return 0;
}

/* ---- a small pcapng writer (test side), either byte order ---- */

typedef struct ngw { FILE *f; bool be; } ngw_t;

static void w32(ngw_t *w, uint32_t v)
{
	uint8_t b[4];
	if (w->be) { b[0] = (uint8_t)(v >> 24); b[1] = (uint8_t)(v >> 16); b[2] = (uint8_t)(v >> 8); b[3] = (uint8_t)v; }
	else { b[3] = (uint8_t)(v >> 24); b[2] = (uint8_t)(v >> 16); b[1] = (uint8_t)(v >> 8); b[0] = (uint8_t)v; }
	fwrite(b, 1, 4, w->f);
}
static void w16(ngw_t *w, uint16_t v)
{
	uint8_t b[2];
	if (w->be) { b[0] = (uint8_t)(v >> 8); b[1] = (uint8_t)v; } else { b[1] = (uint8_t)(v >> 8); b[0] = (uint8_t)v; }
	fwrite(b, 1, 2, w->f);
}
static void wpad(ngw_t *w, size_t n)
{
	static const uint8_t z[4];
	fwrite(z, 1, (4 - n % 4) % 4, w->f);
}

static void w_shb(ngw_t *w)
{
	w32(w, 0x0A0D0D0A); w32(w, 28); w32(w, 0x1A2B3C4D); w16(w, 1); w16(w, 0);
	w32(w, 0xffffffff); w32(w, 0xffffffff); w32(w, 28);
}
/* IDB with if_tsresol = resol byte */
static void w_idb(ngw_t *w, int linktype, uint8_t resol)
{
	w32(w, 1); w32(w, 32); w16(w, (uint16_t)linktype); w16(w, 0); w32(w, 262144);
	w16(w, 9); w16(w, 1); fputc(resol, w->f); wpad(w, 1);
	w16(w, 0); w16(w, 0); w32(w, 32);
}
static void w_epb(ngw_t *w, uint32_t ifid, uint64_t t, const uint8_t *d, uint32_t len)
{
	uint32_t bl = 32 + len + (4 - len % 4) % 4;
	w32(w, 6); w32(w, bl); w32(w, ifid); w32(w, (uint32_t)(t >> 32)); w32(w, (uint32_t)t);
	w32(w, len); w32(w, len); fwrite(d, 1, len, w->f); wpad(w, len); w32(w, bl);
}
static void w_spb(ngw_t *w, const uint8_t *d, uint32_t len)
{
	uint32_t bl = 16 + len + (4 - len % 4) % 4;
	w32(w, 3); w32(w, bl); w32(w, len); fwrite(d, 1, len, w->f); wpad(w, len); w32(w, bl);
}
static void w_dsb(ngw_t *w, const uint8_t *d, uint32_t len)
{
	uint32_t bl = 20 + len + (4 - len % 4) % 4;
	w32(w, 10); w32(w, bl); w32(w, 0x544c534b); w32(w, len); fwrite(d, 1, len, w->f); wpad(w, len); w32(w, bl);
}

/* Time stamp of (sec, usec) in units of if_tsresol byte r. */
static uint64_t units(long sec, long usec, uint8_t r)
{
	if (r & 0x80) return ((uint64_t)sec << (r & 0x7f)) + (((uint64_t)usec << (r & 0x7f)) / 1000000u);
	uint64_t u = 1;
	for (int i = 0; i < r; i++) u *= 10;
	return (uint64_t)sec * u + (uint64_t)usec * u / 1000000u;
}

/* Append one section with the frames of pcap (one interface), optional DSB after the
 * packets; spb: packets as Simple Packet Blocks (time stamps then not carried). */
static int w_section(ngw_t *w, const char *pcap, uint8_t resol, const char *keys, bool spb)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(pcap, eb);
	if (!p) return -1;
	w_shb(w);
	w_idb(w, pcap_datalink(p), resol);
	struct pcap_pkthdr *h;
	const u_char *d;
	while (pcap_next_ex(p, &h, &d) == 1) {
		if (spb) w_spb(w, d, h->caplen);
		else w_epb(w, 0, units(h->ts.tv_sec, h->ts.tv_usec, resol), d, h->caplen);
	}
	pcap_close(p);
	if (keys) {
		uint8_t *k;
		size_t kl;
		if (tu_read_file(keys, &k, &kl) != 0) return -1;
		w_dsb(w, k, (uint32_t)kl);
		free(k);
	}
	return 0;
}

static bool has_tool(const char *t)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", t);
	return system(cmd) == 0;
}

/* ---- cases ---- */

static void test_editcap_secrets(void)
{
	if (!has_tool("editcap")) { tap_skip("editcap not installed"); return; }
	char pcap[700], keys[700], ng[800], cmd[4000], p2[700], k2[700];
	tlsgen_result_t g, g2;
	if (gen("dsb13", 0x0304, NULL, 1, 0, 71, pcap, keys, &g) != 0 ||
	    gen("other13", 0x0304, NULL, 1, 0, 72, p2, k2, &g2) != 0) { tap_ok(0, "editcap: generator"); return; }
	snprintf(ng, sizeof ng, "%s/dsb13.pcapng", tu_tmpdir());
	snprintf(cmd, sizeof cmd, "editcap -F pcapng --inject-secrets tls,%s %s %s 2>&1", keys, pcap, ng);
	tap_ok(system(cmd) == 0, "editcap --inject-secrets tls,keys made a pcapng with the key log inside");

	int st;
	snprintf(cmd, sizeof cmd, "%s -r %s -o json 2>/dev/null", CAPTLS, ng);
	char *out = slurp_cmd(cmd, &st);
	tap_ok(st == 0 && all_exact(out, &g), "TLS 1.3 keys from the Decryption Secrets Block, no -l: byte-exact (%zu+%zu bytes)",
	       g.conns[0].plain_len[0], g.conns[0].plain_len[1]);
	free(out);
	snprintf(cmd, sizeof cmd, "%s -r %s -l %s -o json 2>/dev/null", CAPTLS, ng, keys);
	out = slurp_cmd(cmd, &st);
	tap_ok(st == 0 && all_exact(out, &g), "with -l naming the same keys too: byte-exact");
	free(out);
	snprintf(cmd, sizeof cmd, "%s -r %s -l %s -o json 2>/dev/null", CAPTLS, ng, k2);
	out = slurp_cmd(cmd, &st);
	tap_ok(st == 0 && all_exact(out, &g), "with -l naming another capture's keys: the DSB's keys still decrypt");
	free(out);
	snprintf(cmd, sizeof cmd, "%s -r %s -o json 2>/dev/null", CAPTLS, pcap);
	out = slurp_cmd(cmd, &st);
	tap_ok(st == 0 && strstr(out, "\"decrypted\":false") && !strstr(out, "\"type\":\"message\""),
	       "control: the same capture as classic pcap without keys is not decrypted");
	free(out);
	snprintf(cmd, sizeof cmd, "%s -r %s --stats -q 2>&1 >/dev/null", CAPTLS, ng);
	out = slurp_cmd(cmd, &st);
	tap_ok(strstr(out, "1 secrets blocks") != NULL, "--stats counts the secrets block");
	free(out);
	tlsgen_result_free(&g);
	tlsgen_result_free(&g2);
}

static void test_mergecap_linktypes(void)
{
	if (!has_tool("mergecap")) { tap_skip("mergecap not installed"); return; }
	static const struct { const char *name; int ver; const char *cipher; int lt; uint16_t port; } C[3] = {
		{ "eth13", 0x0304, NULL, 1, 5061 },
		{ "sll12", 0x0303, "ECDHE-RSA-AES128-GCM-SHA256", 113, 5062 },
		{ "null12", 0x0303, "ECDHE-RSA-CHACHA20-POLY1305", 0, 5063 },
	};
	char pcap[3][700], keys[3][700], all[800], ng[800], cmd[6000];
	tlsgen_result_t g[3];
	for (int i = 0; i < 3; i++)
		if (gen(C[i].name, C[i].ver, C[i].cipher, C[i].lt, C[i].port, 80 + (unsigned)i, pcap[i], keys[i], &g[i]) != 0) {
			tap_ok(0, "mergecap: generator");
			return;
		}
	snprintf(all, sizeof all, "%s/all.keys", tu_tmpdir());
	snprintf(ng, sizeof ng, "%s/merged.pcapng", tu_tmpdir());
	snprintf(cmd, sizeof cmd, "cat %s %s %s > %s && mergecap -F pcapng -w %s %s %s %s 2>&1",
	         keys[0], keys[1], keys[2], all, ng, pcap[0], pcap[1], pcap[2]);
	tap_ok(system(cmd) == 0, "mergecap of Ethernet + Linux SLL + BSD loopback captures");
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *lp = pcap_open_offline(ng, eb);
	int lr = 0;
	if (lp) {
		struct pcap_pkthdr *h;
		const u_char *d;
		while ((lr = pcap_next_ex(lp, &h, &d)) == 1) {}
		snprintf(eb, sizeof eb, "%s", pcap_geterr(lp));
		pcap_close(lp);
	}
	tap_ok(!lp || lr == PCAP_ERROR, "libpcap refuses it (%s)", eb);
	int st;
	snprintf(cmd, sizeof cmd, "%s -r %s -l %s -o json 2>/dev/null", CAPTLS, ng, all);
	char *out = slurp_cmd(cmd, &st);
	for (int i = 0; i < 3; i++)
		tap_ok(st == 0 && all_exact(out, &g[i]), "merged file, %s (link type %d): byte-exact both directions", C[i].name, C[i].lt);
	free(out);
	snprintf(cmd, sizeof cmd, "%s -r %s -l %s -o json tcp port 5062 2>/dev/null", CAPTLS, ng, all);
	out = slurp_cmd(cmd, &st);
	tap_ok(st == 0 && all_exact(out, &g[1]) && !strstr(out, "5061") && !strstr(out, "5063"),
	       "BPF filter \"tcp port 5062\" over mixed link types: only the SLL flow, byte-exact");
	free(out);
	for (int i = 0; i < 3; i++) tlsgen_result_free(&g[i]);
}

static void test_own_writer(void)
{
	char p1[700], k1[700], p2[700], k2[700], ng[800], cmd[4000];
	tlsgen_result_t g1, g2;
	if (gen("be13", 0x0304, NULL, 1, 5061, 91, p1, k1, &g1) != 0 ||
	    gen("le12", 0x0303, "ECDHE-RSA-AES256-GCM-SHA384", 276, 5062, 92, p2, k2, &g2) != 0) {
		tap_ok(0, "writer: generator");
		return;
	}
	snprintf(ng, sizeof ng, "%s/twosect.pcapng", tu_tmpdir());
	FILE *f = fopen(ng, "wb");
	ngw_t w = { f, true };
	int rc = w_section(&w, p1, 9, k1, false);          /* big-endian, ns, keys after the packets */
	w.be = false;
	rc |= w_section(&w, p2, 0x80 | 20, k2, false);     /* little-endian, 2^-20 s (SLL2) */
	fclose(f);
	tap_ok(rc == 0, "wrote a pcapng: big-endian section (ns) then little-endian section (2^-20 s)");
	int st;
	if (has_tool("tshark")) {
		snprintf(cmd, sizeof cmd, "tshark -r %s -T fields -e frame.time_epoch 2>/dev/null | wc -l", ng);
		char *o = slurp_cmd(cmd, &st);
		tap_ok(st == 0 && (size_t)atol(o) == g1.n_packets + g2.n_packets, "tshark reads the same %zu frames", g1.n_packets + g2.n_packets);
		free(o);
	} else tap_skip("tshark not installed");
	snprintf(cmd, sizeof cmd, "%s -r %s -o json 2>/dev/null", CAPTLS, ng);
	char *out = slurp_cmd(cmd, &st);
	tap_ok(st == 0 && all_exact(out, &g1), "big-endian section, keys in a DSB after its packets: byte-exact");
	tap_ok(st == 0 && all_exact(out, &g2), "little-endian section, Linux SLL2: byte-exact");
	free(out);
	/* time stamps: the ns section's messages carry the classic pcap's time stamps */
	snprintf(cmd, sizeof cmd, "%s -r %s -o json tcp port 5061 2>/dev/null | grep -o '\"ts\":[0-9.]*'", CAPTLS, ng);
	char *ts_ng = slurp_cmd(cmd, &st);
	snprintf(cmd, sizeof cmd, "%s -r %s -l %s -o json 2>/dev/null | grep -o '\"ts\":[0-9.]*'", CAPTLS, p1, k1);
	char *ts_cl = slurp_cmd(cmd, &st);
	tap_ok(strlen(ts_ng) > 20 && !strcmp(ts_ng, ts_cl), "ns time stamps (big-endian section) read back as the classic pcap's");
	free(ts_ng);
	free(ts_cl);

	/* Simple Packet Blocks (no time stamps) */
	snprintf(ng, sizeof ng, "%s/spb.pcapng", tu_tmpdir());
	f = fopen(ng, "wb");
	w.f = f;
	w.be = true;
	rc = w_section(&w, p2, 6, k2, true);
	fclose(f);
	snprintf(cmd, sizeof cmd, "%s -r %s -o json 2>/dev/null", CAPTLS, ng);
	out = slurp_cmd(cmd, &st);
	tap_ok(rc == 0 && st == 0 && all_exact(out, &g2), "Simple Packet Blocks (big-endian): byte-exact");
	free(out);
	tlsgen_result_free(&g1);
	tlsgen_result_free(&g2);
}

static void test_hostile(void)
{
	char pcap[700], keys[700], ng[800], bad[800], cmd[4000];
	tlsgen_result_t g;
	if (gen("host", 0x0304, NULL, 1, 0, 99, pcap, keys, &g) != 0) { tap_ok(0, "hostile: generator"); return; }
	snprintf(ng, sizeof ng, "%s/host.pcapng", tu_tmpdir());
	FILE *f = fopen(ng, "wb");
	ngw_t w = { f, false };
	w_section(&w, pcap, 6, keys, false);
	fclose(f);
	uint8_t *d;
	size_t n;
	if (tu_read_file(ng, &d, &n) != 0) { tap_ok(0, "read back"); return; }
	snprintf(bad, sizeof bad, "%s/bad.pcapng", tu_tmpdir());
	int st;

	/* truncated in the middle of a packet block */
	f = fopen(bad, "wb");
	fwrite(d, 1, n / 2 + 3, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "%s -r %s -o json 2>&1 >/dev/null", CAPTLS, bad);
	char *o = slurp_cmd(cmd, &st);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(o, "truncated"), "truncated file: exit 1, says truncated");
	free(o);

	/* a block length far over the bound, and one not a multiple of 4, and a trailing length that differs */
	static const struct { size_t at; uint32_t v; const char *what; } M[] = {
		{ 28 + 4, 0x7ffffff0u, "larger than the bound" },
		{ 28 + 4, 33, "bad block length" },
		{ 28 + 32 - 4, 36, "trailing block length differs" },
	};
	for (size_t i = 0; i < sizeof M / sizeof M[0]; i++) {
		uint8_t *c = malloc(n);
		memcpy(c, d, n);
		memcpy(c + M[i].at, &M[i].v, 4);      /* little-endian host and file */
		f = fopen(bad, "wb");
		fwrite(c, 1, n, f);
		fclose(f);
		free(c);
		o = slurp_cmd(cmd, &st);
		tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(o, M[i].what), "hostile block (%s): exit 1 with that message", M[i].what);
		free(o);
	}

	/* random corruption: never a crash */
	unsigned seed = 12345, crashes = 0, runs = 300;
	for (unsigned r = 0; r < runs; r++) {
		uint8_t *c = malloc(n);
		memcpy(c, d, n);
		for (int k = 0; k < 4; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % (n < 400 ? n : 400);   /* headers, IDB and first packets */
			seed = seed * 1103515245u + 12345u;
			c[at] = (uint8_t)(seed >> 16);
		}
		f = fopen(bad, "wb");
		fwrite(c, 1, n, f);
		fclose(f);
		free(c);
		/* exit status, and no sanitizer report (an ASan build exits 1 on one) */
		snprintf(cmd, sizeof cmd, "%s -r %s -q 2>&1 >/dev/null; echo \"rc=$?\"", CAPTLS, bad);
		char *o2 = slurp_cmd(cmd, NULL);
		const char *rcs = strstr(o2, "rc=");
		int code = rcs ? atoi(rcs + 3) : 99;
		if (code > 2 || strstr(o2, "Sanitizer") || strstr(o2, "runtime error")) {
			if (!crashes) tap_diag("corruption %u: %s", r, o2);
			crashes++;
		}
		free(o2);
	}
	tap_ok(crashes == 0, "%u randomly corrupted pcapng files: no crash (%u)", runs, crashes);
	free(d);
	tlsgen_result_free(&g);
}

int main(void)
{
	const char *top = getenv("top_builddir");
	snprintf(CAPTLS, sizeof CAPTLS, "%s/captls", top ? top : ".");
	FILE *t = fopen(CAPTLS, "r");
	if (!t) { tap_skip("captls not built"); return tap_done(); }
	fclose(t);
	snprintf(KEY, sizeof KEY, "%s/k.key", tu_tmpdir());
	snprintf(CERT, sizeof CERT, "%s/k.crt", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", KEY, CERT, NULL) != 0) { tap_ok(0, "make key"); return tap_done(); }
	test_editcap_secrets();
	test_mergecap_linktypes();
	test_own_writer();
	test_hostile();
	return tap_done();
}
