/*
 * fuzz_keylog_dgram.c — libFuzzer target for key-log lines received as UDP datagrams: the
 * datagram parser of the memory-fed key log (tls_keylog_feed_dgram, keylog.c: one line with
 * or without newline, several lines, CRLF, over-long lines), the keystore entry point the
 * listener uses (tls_keystore_feed_keylog), and the listener's spec / allow-list parser
 * (kl_listener_check, keylog_listen.c).
 *
 * Why: the listener takes datagrams from the network; their bytes are attacker-chosen.
 * Input format: a sequence of datagrams, each a 2-byte big-endian length then that many
 * bytes (a length past the end takes the rest). The datagrams go into two memory key logs
 * (one with room for every secret, checked against an oracle: every strictly formed line
 * "LABEL id secret" must be found with the secret of its last occurrence; one with 3
 * slots: eviction) and into a keystore; the first datagram is also tried as a listen spec
 * and as an allow list. Aborts if the oracle or the counters disagree.
 */
#define FUZZ_TARGET_NAME "keylog_dgram"
#include "fuzz_common.h"
#include "keylog.h"
#include "keylog_listen.h"

#include "fuzz_keylog_oracle.h"

typedef struct seg { const uint8_t *p; size_t n; } seg_t;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1024 * 1024) return 0;
	char err[256];
	/* datagrams */
	size_t nd = 0, cap = size / 2 + 1;
	seg_t *d = malloc(cap * sizeof *d);
	if (!d) abort();
	for (size_t i = 0; i < size;) {
		size_t n = i + 1 < size ? ((size_t)data[i] << 8 | data[i + 1]) : 0;
		i += 2;
		if (i > size) i = size;
		if (n > size - i) n = size - i;
		d[nd].p = data + i;
		d[nd].n = n;
		nd++;
		i += n;
	}
	tls_keylog_t *big = tls_keylog_open_mem(size / 64 + 16, err, sizeof err);
	tls_keylog_t *small = tls_keylog_open_mem(3, err, sizeof err);
	tls_keystore_t *ks = tls_keystore_new();
	if (!big || !small || !ks || tls_keystore_add_keylog_feed(ks, 5, err, sizeof err) < 0) abort();
	uint64_t gen0 = tls_keylog_generation(big);
	size_t added = 0;
	for (size_t k = 0; k < nd; k++) {
		tls_keylog_feed_counts_t c1, c2;
		tls_keylog_feed_result_t fr;
		added += tls_keylog_feed_dgram(big, d[k].p, d[k].n, &c1);
		tls_keylog_feed_dgram(small, d[k].p, d[k].n, &c2);
		if (tls_keystore_feed_keylog(ks, d[k].p, d[k].n, &fr) < 0) die("keystore refused");
		if (c1.lines != c2.lines || c1.malformed != c2.malformed || c1.ignored != c2.ignored ||
		    c1.lines != fr.lines || c1.malformed != fr.malformed)
			die("same datagram, different counts");
		size_t segs = 1;
		for (size_t i = 0; i < d[k].n; i++) segs += d[k].p[i] == '\n';
		if ((size_t)c1.lines + c1.malformed + c1.ignored > segs) die("more lines counted than present");
		if (fr.added > fr.lines) die("more secrets added than lines parsed");
	}
	if (tls_keylog_generation(big) - gen0 != added) die("generation does not count new secrets");

	/* oracle over every datagram's lines (last occurrence over all datagrams wins) */
	size_t nl = 0;
	for (size_t k = 0; k < nd; k++) {
		nl++;
		for (size_t i = 0; i < d[k].n; i++) nl += d[k].p[i] == '\n';
	}
	seg_t *ln = malloc((nl + 1) * sizeof *ln);
	if (!ln) abort();
	size_t m = 0;
	for (size_t k = 0; k < nd; k++) {
		size_t st = 0;
		for (size_t i = 0; i <= d[k].n; i++)
			if (i == d[k].n || d[k].p[i] == '\n') {
				ln[m].p = d[k].p + st;
				ln[m].n = i - st;
				m++;
				st = i + 1;
			}
	}
	uint8_t out[KL_MAX_PMS];
	for (size_t a = 0; a < m; a++) {
		oline_t o;
		size_t n = ln[a].n;
		if (n && ln[a].p[n - 1] == '\r') n--;   /* CRLF */
		if (ln[a].n > 1024 || !strict_line(ln[a].p, n, &o)) continue;
		int last = 1;
		for (size_t b = a + 1; b < m && last; b++)
			if (names_same(ln[b].p, ln[b].n, &o)) last = 0;
		if (!last) continue;
		size_t r = tls_keylog_find(big, o.label, o.id, o.idlen, out, sizeof out);
		if (r != o.slen) die("strict line not found or wrong length");
		if (memcmp(out, o.secret, r) != 0) die("strict line: wrong secret");
	}
	free(ln);
	for (size_t i = 0; i + 32 <= size && i < 512; i += 61)
		for (size_t k = 0; k < NLABELS; k++) {
			size_t r = tls_keylog_find(small, LABELS[k].label, data + i, LABELS[k].idlen, out, sizeof out);
			if (r && r != 32 && r != 48 && LABELS[k].label != KL_PMS_CLIENT_RANDOM) die("secret of odd length");
		}
	/* the first datagram as listener configuration text */
	if (nd && d[0].n < 512) {
		char s[512];
		memcpy(s, d[0].p, d[0].n);
		s[d[0].n] = '\0';
		kl_listener_check(s, NULL, err, sizeof err);
		kl_listener_check("udp:0", s, err, sizeof err);
	}
	tls_keystore_unref(ks);
	tls_keylog_free(big);
	tls_keylog_free(small);
	free(d);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	return 0;
}
