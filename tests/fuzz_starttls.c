/*
 * fuzz_starttls.c — libFuzzer target for the clear-text prefix scanner (starttls.c):
 * where a TLS hello starts after STARTTLS-style prefixes.
 *
 * Why: the prefix is whatever the peers (or an attacker) sent before TLS; the scanner
 * must never read out of bounds, must find exactly the first offset an independent,
 * naive oracle accepts, and must say how many trailing bytes to keep (<= 8). The input's
 * first byte picks the hello type wanted (ClientHello or ServerHello); the rest is the
 * stream, also scanned in two pieces (as TCP may deliver it) to check that keeping the
 * tail finds the same hello.
 */
#define FUZZ_TARGET_NAME "starttls"
#include "fuzz_common.h"
#include "starttls.h"

static size_t oracle(const uint8_t *p, size_t n, uint8_t want)
{
	for (size_t i = 0; i + 9 <= n; i++) {
		const uint8_t *h = p + i;
		unsigned rl = (unsigned)h[3] << 8 | h[4];
		unsigned ml = (unsigned)h[6] << 16 | (unsigned)h[7] << 8 | h[8];
		if (h[0] == 22 && h[1] == 3 && h[2] <= 4 && rl >= 4 && rl <= 16384 + 2048 && h[5] == want &&
		    ml >= 38 && ml <= 65536)
			return i;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) return 0;
	uint8_t want = (data[0] & 1) ? 2 : 1;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	uint8_t *copy = malloc(n ? n : 1);            /* exact-size copy: ASan sees any overread */
	if (!copy) return 0;
	memcpy(copy, p, n);
	size_t keep = 99, at = starttls_find_hello(copy, n, want, &keep);
	if (at != oracle(copy, n, want)) abort();
	if (at == n && (keep > 8 || keep > n)) abort();
	/* in two pieces: scan the first, keep its tail, then scan tail + rest */
	size_t cut = n / 2, k1 = 0;
	size_t a1 = starttls_find_hello(copy, cut, want, &k1);
	if (a1 < cut) {
		if (a1 != at) abort();                      /* a match inside the first piece is the first match */
	} else if (at < n && at < cut - k1) {
		abort();                                    /* a match the dropped bytes started */
	}
	free(copy);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	return 0;
}
