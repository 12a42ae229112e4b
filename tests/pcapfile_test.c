/*
 * pcapfile_test.c — captls reading classic pcap files through its own reader
 * (src/captls/pcapfile.c, read blocks of 1 MiB) gives exactly what the libpcap path gives.
 *
 * Why: the own reader replaces libpcap for the common case only for speed; any
 * difference in packets, time stamps, snap-length cuts, filter results or error messages
 * would be a silent change of behaviour. The libpcap path is still what `-r -` (standard
 * input) takes, so every check runs captls twice on the same bytes — `-r FILE` (own reader)
 * and `-r - < FILE` (libpcap) — and compares stdout byte for byte, the exit status, and the
 * error text after the file name. Captures come from real OpenSSL peers (tlsgen): Ethernet
 * IPv4 with segments split and reordered, raw IP (LINKTYPE_RAW) IPv6, Linux SLL, and 60
 * connections in one file larger than captls's 1 MiB read block; each is
 * rewritten into big-endian and nanosecond variants (nanoseconds that do not divide by
 * 1000, to check libpcap's truncation), a snap length smaller than the packets, a file cut
 * inside a record and inside a record header, and an insane capture length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"

static char CAPTLS[1024], KEY[600], CERT[600];

/* Run sh -c cmd, stdout into *out, stderr into *err; returns the exit status. */
static int run(const char *cmd, char **out, char **err)
{
	char of[700], ef[700], full[4096];
	snprintf(of, sizeof of, "%s/out.txt", tu_tmpdir());
	snprintf(ef, sizeof ef, "%s/err.txt", tu_tmpdir());
	snprintf(full, sizeof full, "%s >%s 2>%s", cmd, of, ef);
	int st = system(full);
	uint8_t *d;
	size_t n;
	*out = tu_read_file(of, &d, &n) == 0 ? (d[n] = 0, (char *)d) : strdup("");
	*err = tu_read_file(ef, &d, &n) == 0 ? (d[n] = 0, (char *)d) : strdup("");
	return WEXITSTATUS(st);
}

static uint32_t get32(const uint8_t *p, int be)
{
	return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
	          : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static void put32(uint8_t *p, uint32_t v, int be)
{
	for (int i = 0; i < 4; i++) p[be ? 3 - i : i] = (uint8_t)(v >> (8 * i));
}

/* Rewrite a little-endian microsecond pcap (tlsgen's) into byte order be, nanoseconds
 * when nsec (sub-second * 1000 + 789), snap length snap (0: keep). Returns the size. */
static size_t variant(const uint8_t *in, size_t n, uint8_t *out, int be, int nsec, uint32_t snap)
{
	memcpy(out, in, n);
	put32(out, nsec ? 0xa1b23c4d : 0xa1b2c3d4, be);
	uint16_t vmaj = 2, vmin = 4;
	out[4] = (uint8_t)(be ? vmaj >> 8 : vmaj); out[5] = (uint8_t)(be ? vmaj : vmaj >> 8);
	out[6] = (uint8_t)(be ? vmin >> 8 : vmin); out[7] = (uint8_t)(be ? vmin : vmin >> 8);
	put32(out + 16, snap ? snap : get32(in + 16, 0), be);
	put32(out + 20, get32(in + 20, 0), be);
	size_t off = 24;
	while (off + 16 <= n) {
		uint32_t sec = get32(in + off, 0), sub = get32(in + off + 4, 0);
		uint32_t cap = get32(in + off + 8, 0), len = get32(in + off + 12, 0);
		put32(out + off, sec, be);
		put32(out + off + 4, nsec ? sub * 1000 + 789 : sub, be);
		put32(out + off + 8, cap, be);
		put32(out + off + 12, len, be);
		off += 16 + cap;
	}
	return n;
}

static int write_file(const char *path, const uint8_t *d, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f) return -1;
	int ok = fwrite(d, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* captls on path through its own reader and through libpcap (stdin): same stdout, status, error text. */
static void same(const char *label, const char *path, const char *args, int want_decrypted)
{
	char cmd[3000], *o1, *e1, *o2, *e2;
	snprintf(cmd, sizeof cmd, "%s --threads 1 -k %s -o json %s -r %s", CAPTLS, KEY, args, path);
	int r1 = run(cmd, &o1, &e1);
	snprintf(cmd, sizeof cmd, "%s --threads 1 -k %s -o json %s -r - < %s", CAPTLS, KEY, args, path);
	int r2 = run(cmd, &o2, &e2);
	const char *t1 = strstr(e1, path), *t2 = strstr(e2, "-: ");
	t1 = t1 ? t1 + strlen(path) : e1;
	t2 = t2 ? t2 + 1 : e2;
	tap_ok(r1 == r2 && !strcmp(o1, o2) && !strcmp(t1, t2), "%s: own reader == libpcap (exit %d/%d, %zu/%zu output bytes)",
	       label, r1, r2, strlen(o1), strlen(o2));
	if (r1 == 2) tap_diag("usage error: %s", e1);
	if (strcmp(t1, t2)) tap_diag("stderr own reader: %s\nstderr libpcap: %s", e1, e2);
	if (want_decrypted >= 0)
		tap_ok((strstr(o1, "\"decrypted\":true") != NULL) == want_decrypted && strstr(o1, "\"type\":\"session\""),
		       "%s: session %s", label, want_decrypted ? "decrypted" : "seen, not decrypted");
	free(o1); free(e1); free(o2); free(e2);
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
	if (tlsgen_make_key("rsa2048", KEY, CERT, NULL)) { tap_ok(0, "make key"); return tap_done(); }
	chmod(KEY, 0600);
	static const struct { const char *name; int link, ipv6, split, reorder, conns; } CAPS[] = {
		{ "eth4", 1, 0, 300, 1, 1 }, { "raw6", 101, 1, 0, 0, 1 }, { "sll4", 113, 0, 700, 0, 1 },
		{ "many", 1, 0, 0, 0, 60 },        /* > 1 MiB: records cut by captls's read blocks */
	};
	for (size_t c = 0; c < sizeof CAPS / sizeof CAPS[0]; c++) {
		tlsgen_opts_t o;
		tlsgen_opts_defaults(&o);
		o.key_file = KEY; o.cert_file = CERT; o.cipher = "AES128-GCM-SHA256";
		o.linktype = CAPS[c].link; o.ipv6 = CAPS[c].ipv6; o.split = CAPS[c].split; o.reorder = CAPS[c].reorder;
		o.connections = CAPS[c].conns;
		char pcap[700], err[512];
		tlsgen_result_t g;
		memset(&g, 0, sizeof g);
		snprintf(pcap, sizeof pcap, "%s/%s.pcap", tu_tmpdir(), CAPS[c].name);
		if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "%s: generator: %s", CAPS[c].name, err); continue; }
		tlsgen_result_free(&g);
		uint8_t *in;
		size_t n;
		if (tu_read_file(pcap, &in, &n) != 0 || n < 100 || get32(in, 0) != 0xa1b2c3d4) {
			tap_ok(0, "%s: generator wrote a little-endian microsecond pcap", CAPS[c].name);
			continue;
		}
		uint8_t *v = malloc(n + 64);
		char path[800], label[200];
		for (int k = 0; k < 4; k++) {                   /* byte order x resolution */
			int be = k & 1, ns = k >> 1;
			size_t vn = variant(in, n, v, be, ns, 0);
			snprintf(path, sizeof path, "%s/%s-%s-%s.pcap", tu_tmpdir(), CAPS[c].name, be ? "be" : "le", ns ? "ns" : "us");
			snprintf(label, sizeof label, "%s %s %s", CAPS[c].name, be ? "big-endian" : "little-endian", ns ? "nanoseconds" : "microseconds");
			if (write_file(path, v, vn)) { tap_ok(0, "%s: write", label); continue; }
			same(label, path, "", 1);
			if (c == 0 && k == 3) {
				char l2[300];
				snprintf(l2, sizeof l2, "%s, filter keeping the client's packets only", label);
				same(l2, path, "-f 'src host 10.0.0.1'", 0);
				snprintf(l2, sizeof l2, "%s, filter keeping everything", label);
				same(l2, path, "-f tcp", 1);
			}
		}
		if (c == 0) {
			/* snap length below the packets: libpcap cuts each packet to it */
			size_t vn = variant(in, n, v, 1, 0, 200);
			snprintf(path, sizeof path, "%s/snap.pcap", tu_tmpdir());
			if (!write_file(path, v, vn)) same("snap length 200 < packets", path, "", 0);
			/* cut inside the last record's data, inside a record header */
			size_t cuts[2] = { n - 5, 0 };
			size_t off = 24;
			while (off + 16 <= n) { size_t nx = off + 16 + get32(in + off + 8, 0); if (nx >= n) break; off = nx; }
			cuts[1] = off + 7;
			for (int i = 0; i < 2; i++) {
				snprintf(path, sizeof path, "%s/cut%d.pcap", tu_tmpdir(), i);
				if (!write_file(path, in, cuts[i])) same(i ? "file cut inside a record header" : "file cut inside a record's data", path, "", -1);
			}
			/* an insane capture length in the third record */
			memcpy(v, in, n);
			off = 24;
			for (int i = 0; i < 2; i++) off += 16 + get32(in + off + 8, 0);
			put32(v + off + 8, 0x7fffffff, 0);
			snprintf(path, sizeof path, "%s/insane.pcap", tu_tmpdir());
			if (!write_file(path, v, n)) same("capture length 0x7fffffff", path, "", -1);
			put32(v + off + 8, 262145, 0);
			put32(v + 16, 300000, 0);
			snprintf(path, sizeof path, "%s/insane2.pcap", tu_tmpdir());
			if (!write_file(path, v, n)) same("capture length 262145, snap length 300000", path, "", -1);
			put32(v + 16, 0, 0);
			snprintf(path, sizeof path, "%s/insane3.pcap", tu_tmpdir());
			if (!write_file(path, v, n)) same("capture length 262145, snap length 0", path, "", -1);
			put32(v + off + 8, get32(in + off + 8, 0), 0);
			put32(v + 16, 0x80000000u, 0);
			snprintf(path, sizeof path, "%s/snapneg.pcap", tu_tmpdir());
			if (!write_file(path, v, n)) same("snap length 0x80000000", path, "", 1);
		}
		free(v);
		free(in);
	}
	return tap_done();
}
