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

static const struct { const char *name; tls_keylog_label_t label; size_t idlen; } LABELS[] = {
	{ "CLIENT_RANDOM", KL_CLIENT_RANDOM, 32 },
	{ "CLIENT_EARLY_TRAFFIC_SECRET", KL_CLIENT_EARLY_TRAFFIC_SECRET, 32 },
	{ "CLIENT_HANDSHAKE_TRAFFIC_SECRET", KL_CLIENT_HANDSHAKE_TRAFFIC_SECRET, 32 },
	{ "SERVER_HANDSHAKE_TRAFFIC_SECRET", KL_SERVER_HANDSHAKE_TRAFFIC_SECRET, 32 },
	{ "CLIENT_TRAFFIC_SECRET_0", KL_CLIENT_TRAFFIC_SECRET_0, 32 },
	{ "SERVER_TRAFFIC_SECRET_0", KL_SERVER_TRAFFIC_SECRET_0, 32 },
	{ "RSA", KL_RSA, 8 },
};
#define NLABELS (sizeof LABELS / sizeof LABELS[0])

static int hv(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Decode exactly n hex digits at p (n even) into out. */
static int unhex(const uint8_t *p, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n / 2; i++) {
		int a = hv(p[2 * i]), b = hv(p[2 * i + 1]);
		if (a < 0 || b < 0) return -1;
		out[i] = (uint8_t)(a << 4 | b);
	}
	return 0;
}

typedef struct oline {
	int li;                  /* index in LABELS */
	uint8_t id[32];
	uint8_t secret[48];
	size_t slen;
} oline_t;

/* Strictly formed line at s[0..n) (no '\n'): LABEL ' ' hexid ' ' hexsecret. */
static int strict_line(const uint8_t *s, size_t n, oline_t *o)
{
	for (size_t k = 0; k < NLABELS; k++) {
		size_t ln = strlen(LABELS[k].name);
		size_t il = LABELS[k].idlen * 2;
		if (n < ln + 1 + il + 1 || memcmp(s, LABELS[k].name, ln) != 0 || s[ln] != ' ') continue;
		if (unhex(s + ln + 1, il, o->id) != 0 || s[ln + 1 + il] != ' ') return 0;
		size_t sl = n - (ln + 1 + il + 1);
		bool tls13 = LABELS[k].label != KL_CLIENT_RANDOM && LABELS[k].label != KL_RSA;
		if (!(sl == 96 || (tls13 && sl == 64))) return 0;
		if (unhex(s + ln + 2 + il, sl, o->secret) != 0) return 0;
		o->slen = sl / 2;
		o->li = (int)k;
		return 1;
	}
	return 0;
}

static int is_sp(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Does line s[0..n) have LABELS[o->li] as first field and o->id (any hex case) as second? */
static int names_same(const uint8_t *s, size_t n, const oline_t *o)
{
	size_t i = 0, t0, t1;
	while (i < n && is_sp(s[i])) i++;
	t0 = i;
	while (i < n && !is_sp(s[i])) i++;
	size_t ln = strlen(LABELS[o->li].name);
	if (i - t0 != ln || memcmp(s + t0, LABELS[o->li].name, ln) != 0) return 0;
	while (i < n && is_sp(s[i])) i++;
	t1 = i;
	while (i < n && !is_sp(s[i])) i++;
	uint8_t id[32];
	size_t il = LABELS[o->li].idlen;
	if (i - t1 != 2 * il || unhex(s + t1, 2 * il, id) != 0) return 0;
	return memcmp(id, o->id, il) == 0;
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz_keylog: oracle mismatch: %s\n", what);
	abort();
}

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
	uint8_t out[64];
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
		size_t r = tls_keylog_lookup(big, LABELS[o.li].label, o.id, LABELS[o.li].idlen, out, sizeof out);
		if (r != o.slen) die("strict line not found or wrong length");
		if (memcmp(out, o.secret, r) != 0) die("strict line: wrong secret");
	}
	free(ls);
	free(le);

	/* arbitrary lookups from the input bytes (ids as raw bytes) */
	for (size_t i = 0; i + 32 <= size && i < 512; i += 61) {
		for (size_t k = 0; k < NLABELS; k++) {
			size_t r = tls_keylog_lookup(small, LABELS[k].label, data + i, LABELS[k].idlen, out, sizeof out);
			if (r && r != 32 && r != 48) die("secret of odd length");
			r = tls_keylog_lookup(big, LABELS[k].label, data + i, LABELS[k].idlen, out, 16);
			if (r) die("secret longer than outcap copied");
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
