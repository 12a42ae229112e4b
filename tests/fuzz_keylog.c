/*
 * fuzz_keylog.c — libFuzzer target for the NSS key log follower (keylog.c): line
 * assembly across reads, field parsing, hex decoding, the bounded secret table
 * (insert, replace, FIFO eviction) and the file-follow logic (growth, truncation).
 *
 * Why: the key log is written by other programs while we read it, may be huge or garbage,
 * and is re-read incrementally, so its parser sees arbitrary byte splits. The input is the
 * file content. It is written in three appends (at 1/3 and 2/3 of the input, so lines and
 * hex fields are cut mid-way), each followed by a refresh, into two followers: one with
 * room for every secret (checked against an independent oracle: every strictly formed line
 * "LABEL id secret\n" must be found by lookup with the secret of its last occurrence) and
 * one with 3 slots (eviction paths). Then the file is cut to half its size (a truncated
 * file must be re-read from the start) and rewritten in place (same size, other bytes),
 * and lookups are repeated; counters are read. Aborts if the oracle disagrees.
 */
#define FUZZ_TARGET_NAME "keylog"
#include "fuzz_common.h"
#include "keylog.h"

static const char *path;

#include "fuzz_keylog_oracle.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	path = fuzz_path("fuzz.keys");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4 * 1024 * 1024) return 0;
	char err[256];
	fuzz_write(path, "", 0, "w");
	/* room for every line: a valid line has more than 64 bytes */
	tls_keylog_t *big = tls_keylog_open(path, size / 64 + 16, err, sizeof err);
	tls_keylog_t *small = tls_keylog_open(path, 3, err, sizeof err);
	if (!big || !small) abort();

	size_t cut[4] = { 0, size / 3, 2 * size / 3, size };
	for (int i = 0; i < 3; i++) {
		fuzz_write(path, data + cut[i], cut[i + 1] - cut[i], "a");
		tls_keylog_refresh(big);
		tls_keylog_refresh(small);
	}

	/* oracle: strictly formed, newline-terminated lines of at most 1024 bytes */
	uint8_t out[KL_MAX_PMS];
	size_t nl = 0;
	for (size_t i = 0; i < size; i++) nl += data[i] == '\n';
	size_t *ls = malloc((nl + 1) * sizeof *ls), *le = malloc((nl + 1) * sizeof *le);
	if (!ls || !le) abort();
	size_t k = 0, start = 0;
	for (size_t i = 0; i < size; i++)
		if (data[i] == '\n') { ls[k] = start; le[k] = i; k++; start = i + 1; }
	for (size_t a = 0; a < nl; a++) {
		oline_t o;
		size_t n = le[a] - ls[a];
		if (n > 1024 || !strict_line(data + ls[a], n, &o)) continue;
		/* the LAST line naming this (label, id) wins; skip the check when a later line
		 * (strict or not: other separators, hex case, extra fields) names it too */
		int last = 1;
		for (size_t b = a + 1; b < nl && last; b++)
			if (names_same(data + ls[b], le[b] - ls[b], &o)) last = 0;
		if (!last) continue;
		size_t r = tls_keylog_lookup(big, o.label, o.id, o.idlen, out, sizeof out);
		if (r != o.slen) die("strict line not found or wrong length");
		if (memcmp(out, o.secret, r) != 0) die("strict line: wrong secret");
	}
	free(ls);
	free(le);

	/* arbitrary lookups from the input bytes (ids as raw bytes) */
	for (size_t i = 0; i + 32 <= size && i < 512; i += 61) {
		for (size_t k = 0; k < NLABELS; k++) {
			size_t r = tls_keylog_lookup(small, LABELS[k].label, data + i, LABELS[k].idlen, out, sizeof out);
			if (r && r != 32 && r != 48 && LABELS[k].label != KL_PMS_CLIENT_RANDOM) die("secret of odd length");
			r = tls_keylog_lookup(big, LABELS[k].label, data + i, LABELS[k].idlen, out, 16);
			if (r > 16 || (r && LABELS[k].label != KL_PMS_CLIENT_RANDOM)) die("secret longer than outcap copied");
		}
	}
	uint64_t l1, m1, l2, m2;
	tls_keylog_counters(big, &l1, &m1);
	tls_keylog_counters(small, &l2, &m2);
	if (l1 != l2) die("two followers of one file parsed different line counts");

	/* truncation (re-read from the start) and in-place rewrite of the same size */
	if (size > 1) {
		fuzz_write(path, data, size / 2, "w");
		tls_keylog_refresh(big);
		tls_keylog_refresh(small);
		uint8_t *rev = malloc(size);
		if (!rev) abort();
		for (size_t i = 0; i < size; i++) rev[i] = data[size - 1 - i];
		fuzz_write(path, rev, size, "w");
		free(rev);
		tls_keylog_refresh(small);
		tls_keylog_lookup(big, KL_CLIENT_RANDOM, data, 32 <= size ? 32 : 0, out, sizeof out);
	}
	tls_keylog_free(big);
	tls_keylog_free(small);
	return 0;
}
