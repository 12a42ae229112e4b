/*
 * fuzz_common.h — shared by the fuzz targets (fuzz_packet.c, fuzz_keylog.c, fuzz_config.c)
 * and the seed generator (fuzz_seeds.c).
 *
 * What it holds:
 *   - the fixed test RSA-2048 key + self-signed certificate (the same key as
 *     ../shared/samples/keys/server-rsa.pkcs1.pem, so the real-peer SIP sample decrypts in
 *     the fuzzer too). It is embedded so the fuzzers need no key generation (no libssl) at
 *     fuzz time, and so the seed corpus (made by fuzz_seeds with this very key) drives the
 *     fuzzer through real RSA key exchange, key derivation and record decryption;
 *   - a private temp directory per process (fuzzers running with -jobs/-workers each get
 *     their own), removed at exit;
 *   - the standalone driver: without FUZZ_LIBFUZZER the target gets a main() that runs
 *     LLVMFuzzerTestOneInput over files or directories given on the command line, or with
 *     no arguments replays $top_srcdir/tests/fuzz-seeds/<target>/ and
 *     $top_srcdir/tests/fuzz-regress/<target>/ printing TAP — so `make check` replays the
 *     seed corpus and every crash ever found, with gcc and no libFuzzer.
 *
 * Define FUZZ_TARGET_NAME ("packet", "keylog", "keylog_dgram", "config") before including it (or
 * FUZZ_NO_DRIVER for a program that only wants the key and helpers).
 */
#ifndef TESTS_FUZZ_COMMON_H
#define TESTS_FUZZ_COMMON_H

#define FUZZ_UNUSED __attribute__((unused))

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

/* The fixed fuzzing key (RSA-2048, PKCS#1 PEM). A public test key: never use it elsewhere. */
FUZZ_UNUSED static const char FUZZ_KEY_PEM[] =
	"-----BEGIN RSA PRIVATE KEY-----\n"
	"MIIEowIBAAKCAQEAx4k9cqItGiAo0/5Qn3OpX1lYqwsHI9BQVoXK1U5q2yCtiP4A\n"
	"ovaUw96Xokbbrdp8lSwUt0OeaFZLUnwBnCYq6P1Zn+a1TzvflfngWl44Ij5smcG0\n"
	"+ayRMetSWKirZ+UHura0oAW6/nMCeG958UHhqOdnseLgFAw8xW/rQiZyEJY6mNeg\n"
	"2LyA5m/9lUMG+jlvuPk9hEm/kYoKRc0si96VfKoEj/4rOOyISqtNTYn0ujLDsXK0\n"
	"CK40IUrba9nugQYHh+aR0bGGdOInkaOlFGB214s7xYb6yKWxbODC6RRK1h2wlpN4\n"
	"ErcUnBi3WY5xiSzyGzAo8De1BRVuW2CEPwvJ9QIDAQABAoIBAA9qbbYny+q/DdB1\n"
	"DzcGeVEtxrEuQK62ZyKMIyPQM2a7E1UoZJWyjcNFNPtbVJkNrn7a4T3Yakpe0mJs\n"
	"xLYS59FI044MRbk5o7hDTh9FNLqGjp7hbZE1kSElcF77pwR3mB2HhJRxZOVILupt\n"
	"mGL4h03klOkUIWJDIMXTM/6QGFNqGOiTwT8HnGAq5tIymTGfNdLIWrJrbFDEtTFx\n"
	"bT857m8bYR3Ig9wokrHBbsgocpt5y5U/NxdxXbEToTokgy0agrl4Ua6XlOX+t4sW\n"
	"bYPwGzE2+A8xkc4REN3yC8yQhaCp/1SWQpNqUeH5aRFsP82+kUrLWWj+cKJw+jEG\n"
	"h0AuXbECgYEA63jLquat+YOjvU+F565UQEzGlcbBgnBzedLKYp8v6W3cnOZ97zH2\n"
	"CPWt2ZPGeGKzoXoBHLHn0xIxhl2Cij0QkOALbITbPVzypXAyReY0tJuL6BdwC7WK\n"
	"r/v+d1k+aKx0R8W1Zo/9uiQbgFnL9c8elm9ACghfeQmGr0shCWKpHHECgYEA2O5w\n"
	"TonLt9JFAKZWp4hyOe1Lfnta7L28WpHLzq6ffvF/2Lt0sxAa5Uu0rlvF2UAazmKh\n"
	"7CVkZh4wB/m9EK7o8iNI0PHQosimqVZkyikLqK9kswQfzqvRLZrafxpEK9hasyXn\n"
	"zkGlOlkU9qTi+DTzHegMEf7RvlIcgtISpOdm18UCgYAaDl/bJXOS7LItvKMApBXG\n"
	"l7hR0pCPMopUrLKgfyT6G6IR6p983HZxP15heSy5HZLrB2kgF7+jZ5v7VlWfnmo6\n"
	"3c/lzj3EaIihLe0iNvsWETBGGnHXmdsi5iueYU26n3quhn4wPzbAZkZ0yXr8VFL6\n"
	"Ko1Xjt2hsyAoPZQGSdiUwQKBgQCujKUHPO8TmPh2vmEJasvmel59hkoyJbUx9xBT\n"
	"3MRvg2iIfsU286WAjLr0dNmspl0rZce+WJQBaxbgw/1yOBsuAmAr5/cllGgt51sw\n"
	"I3jDIWXYeWASjsPAe1KGZR8nXG4WqlBr8Pw/B8DLeP88EnbwwG8955jjF/Ti+p+P\n"
	"2rYwtQKBgEM6ATJIy1hkPxCeU7TWfLBjjDIwsXE5LfJHYuVGnyG8bb9Gp+0NYQOn\n"
	"NCPNpC0lO+sXt0csLhZXF2flb6tP0GJ8K7jgxVxdM0SPKasbY1lVPrpf0kwa0IQd\n"
	"G2lif34ek/+SAug6dcxMDvORhn+tdNDkEj/JRurAgRPoUqGMmR1I\n"
	"-----END RSA PRIVATE KEY-----\n";

/* Self-signed certificate of FUZZ_KEY_PEM (CN corpus.test); only fuzz_seeds needs it. */
FUZZ_UNUSED static const char FUZZ_CERT_PEM[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIDPzCCAiegAwIBAgIUPD2Q01uB8gEeRoiFV+h8G1mJnJ0wDQYJKoZIhvcNAQEL\n"
	"BQAwFjEUMBIGA1UEAwwLY29ycHVzLnRlc3QwHhcNMjYxMTIyMTk0MjUwWhcNMzYx\n"
	"MTE5MTk0MjUwWjAWMRQwEgYDVQQDDAtjb3JwdXMudGVzdDCCASIwDQYJKoZIhvcN\n"
	"AQEBBQADggEPADCCAQoCggEBAMeJPXKiLRogKNP+UJ9zqV9ZWKsLByPQUFaFytVO\n"
	"atsgrYj+AKL2lMPel6JG263afJUsFLdDnmhWS1J8AZwmKuj9WZ/mtU8735X54Fpe\n"
	"OCI+bJnBtPmskTHrUlioq2flB7q2tKAFuv5zAnhvefFB4ajnZ7Hi4BQMPMVv60Im\n"
	"chCWOpjXoNi8gOZv/ZVDBvo5b7j5PYRJv5GKCkXNLIvelXyqBI/+KzjsiEqrTU2J\n"
	"9Loyw7FytAiuNCFK22vZ7oEGB4fmkdGxhnTiJ5GjpRRgdteLO8WG+silsWzgwukU\n"
	"StYdsJaTeBK3FJwYt1mOcYks8hswKPA3tQUVbltghD8LyfUCAwEAAaOBhDCBgTAd\n"
	"BgNVHQ4EFgQUxpcBPTcIlDIiewQEjXUBEJNK5LcwHwYDVR0jBBgwFoAUxpcBPTcI\n"
	"lDIiewQEjXUBEJNK5LcwDwYDVR0TAQH/BAUwAwEB/zAuBgNVHREEJzAlggtjb3Jw\n"
	"dXMudGVzdIcEfwAAAYcQAAAAAAAAAAAAAAAAAAAAATANBgkqhkiG9w0BAQsFAAOC\n"
	"AQEAUr8LeGfPLrX6YcIZX4MZd/W8AFhIPWcH/XinUwKU63XZIyP465F5gi0bEIjy\n"
	"0q76f3pT+SbEGgfXLzT2jmCh8a3U9nkpVxkU0Cw2Jo50KAOfAOYzLh5Z1VXGlzTk\n"
	"T0O4IygQPYXVlpMljFWcad5mwjBZ9Fi4weWOqDgTEXMggE8Sv7R+O83midXegJFc\n"
	"Ex7NxLfSH+bzBT5yaLcGzQb56FPSnuVXv09q99+/4uUi/a8oUbKzP3kNruaUU1Hq\n"
	"DBtS1V2K3tfDGSEtIgbf7CgNjOnm/lrLABAQ39wl1QVBjrQThk8TIQU312ZkUrwJ\n"
	"yAdKnoDBjvXXzmBIjOTVDfmfuA==\n"
	"-----END CERTIFICATE-----\n";

/*
 * Packet-target input format (fuzz_packet.c, produced by fuzz_seeds.c):
 *   byte 0           config flags (FUZZ_CFG_*)
 *   then records     sel:u8  len:u16 big-endian  bytes[len]   (a short last record is cut)
 *     sel 0xFF       bytes are appended to the session's NSS key log file (followed live)
 *     sel 0xFE       tls_engine_expire(now) (bounded idle-flow sweep)
 *     other sel      one captured frame: link type FUZZ_DLTS[sel & 7]; the capture clock
 *                    advances by fuzz_ts_step(sel >> 3) before it is fed
 */
enum {
	FUZZ_CFG_SMALL_BOUNDS = 0x01,  /* tiny flow / reassembly / buffer bounds: eviction paths */
	FUZZ_CFG_TLS_PORTS = 0x02,     /* only ports 443, 5061, 8443 are TLS servers */
	FUZZ_CFG_NO_HS_ONLY = 0x04,    /* emit_handshake_only_sessions = false */
	FUZZ_CFG_SHORT_WAIT = 0x08,    /* keylog_wait 0 and flow_timeout 1 */
};
enum { FUZZ_SEL_KEYLOG = 0xFF, FUZZ_SEL_EXPIRE = 0xFE };
FUZZ_UNUSED static const int FUZZ_DLTS[8] = { 1 /*EN10MB*/, 101 /*RAW*/, 113 /*SLL*/, 276 /*SLL2*/,
                                  0 /*NULL*/, 108 /*LOOP*/, 228 /*IPV4*/, 229 /*IPV6*/ };

/* Seconds added to the capture clock for the 5-bit step code of a frame selector. */
static inline double fuzz_ts_step(unsigned code)
{
	if (code == 0) return 0.0;
	if (code <= 28) return code * 0.001;    /* 1..28 ms: the normal pace of a capture */
	if (code == 29) return 0.5;
	if (code == 30) return 11.0;            /* past the default key-log wait */
	return 200.0;                           /* past the default flow timeout */
}

/* Index of a pcap DLT in FUZZ_DLTS, or -1. */
static inline int fuzz_dlt_index(int dlt)
{
	for (int i = 0; i < 8; i++)
		if (FUZZ_DLTS[i] == dlt) return i;
	return -1;
}

/* ---- private temp directory ---- */

static char fuzz_dir_[256];
static char fuzz_files_[8][300];
static int fuzz_nfiles_;

static void fuzz_cleanup_(void)
{
	for (int i = 0; i < fuzz_nfiles_; i++) unlink(fuzz_files_[i]);
	if (fuzz_dir_[0]) rmdir(fuzz_dir_);
}

/* Path of a file `name` in this process's private temp dir (created on first use; the
 * file is removed at exit). Returns static storage (up to 8 names). */
FUZZ_UNUSED static const char *fuzz_path(const char *name)
{
	if (!fuzz_dir_[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/ptls-fuzz-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(fuzz_dir_)) { perror("mkdtemp"); abort(); }
		atexit(fuzz_cleanup_);
	}
	for (int i = 0; i < fuzz_nfiles_; i++) {
		const char *slash = strrchr(fuzz_files_[i], '/');
		if (slash && strcmp(slash + 1, name) == 0) return fuzz_files_[i];
	}
	if (fuzz_nfiles_ == 8) abort();
	snprintf(fuzz_files_[fuzz_nfiles_], sizeof fuzz_files_[0], "%s/%s", fuzz_dir_, name);
	return fuzz_files_[fuzz_nfiles_++];
}

/* Replace the content of `path` with data[0..len). Aborts on I/O failure (the harness
 * must not silently fuzz nothing). */
FUZZ_UNUSED static void fuzz_write(const char *path, const void *data, size_t len, const char *mode)
{
	FILE *f = fopen(path, mode);
	if (!f) { perror(path); abort(); }
	if (len && fwrite(data, 1, len, f) != len) { perror(path); abort(); }
	if (fclose(f) != 0) { perror(path); abort(); }
}

/* ---- standalone driver (gcc, make check) ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#if !defined(FUZZ_LIBFUZZER) && !defined(FUZZ_NO_DRIVER)
#include "tap.h"

static int fuzz_run_file_(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) { fprintf(stderr, "%s: cannot open\n", path); return -1; }
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);
	size_t r;
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap *= 2);
			if (!nb) { free(buf); buf = NULL; }
			else buf = nb;
		}
	}
	fclose(f);
	if (!buf) return -1;
	/* an exactly-sized heap copy, so ASan builds catch reads past the input */
	uint8_t *in = malloc(n ? n : 1);
	if (!in) { free(buf); return -1; }
	memcpy(in, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(in, n);
	free(in);
	return 0;
}

static int fuzz_name_cmp_(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of `path` (a file or a directory, sorted). Returns the number of
 * inputs run, or -1 if the path does not exist. */
static long fuzz_run_path_(const char *path, int verbose)
{
	struct stat st;
	if (stat(path, &st) != 0) return -1;
	if (!S_ISDIR(st.st_mode)) {
		if (verbose) fprintf(stderr, "running %s\n", path);
		return fuzz_run_file_(path) == 0 ? 1 : 0;
	}
	DIR *d = opendir(path);
	if (!d) return -1;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "README") == 0 ||
		    strstr(de->d_name, ".md")) continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof *nn);
			if (!nn) break;
			names = nn;
		}
		size_t l = strlen(path) + strlen(de->d_name) + 2;
		names[n] = malloc(l);
		if (!names[n]) break;
		snprintf(names[n], l, "%s/%s", path, de->d_name);
		n++;
	}
	closedir(d);
	if (n) qsort(names, n, sizeof *names, fuzz_name_cmp_);
	long runs = 0;
	for (size_t i = 0; i < n; i++) {
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
			if (verbose) fprintf(stderr, "running %s\n", names[i]);
			if (fuzz_run_file_(names[i]) == 0) runs++;
		}
		free(names[i]);
	}
	free(names);
	return runs;
}

int main(int argc, char **argv)
{
	LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		/* explicit files/dirs (libFuzzer-style flags are ignored) */
		long total = 0;
		for (int i = 1; i < argc; i++) {
			if (argv[i][0] == '-') continue;
			long r = fuzz_run_path_(argv[i], 1);
			if (r < 0) { fprintf(stderr, "%s: not found\n", argv[i]); return 1; }
			total += r;
		}
		fprintf(stderr, "%ld inputs ran without a crash\n", total);
		return 0;
	}
	/* make check: replay the committed seed corpus and every regression input */
	const char *top = getenv("top_srcdir");
	if (!top || !*top) top = ".";
	static const char *const kinds[2] = { "fuzz-seeds", "fuzz-regress" };
	for (int k = 0; k < 2; k++) {
		char p[1024];
		snprintf(p, sizeof p, "%s/tests/%s/%s", top, kinds[k], FUZZ_TARGET_NAME);
		long r = fuzz_run_path_(p, 1);   /* names on stderr: the test log shows which input crashed */
		if (r < 0) {
			char why[1100];
			snprintf(why, sizeof why, "%s absent", p);
			tap_skip(why);
		} else {
			tap_ok(1, "%s/%s: %ld inputs replayed without a crash", kinds[k], FUZZ_TARGET_NAME, r);
		}
	}
	return tap_done();
}
#endif /* !FUZZ_LIBFUZZER && !FUZZ_NO_DRIVER */

#endif
