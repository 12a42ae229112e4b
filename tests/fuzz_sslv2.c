/*
 * fuzz_sslv2.c — libFuzzer target for the SSLv2-format ClientHello framing and parser
 * (sslv2.c).
 *
 * Why: the first bytes of any client stream reach sslv2_hello_frame, and whatever a client
 * (or scanner) puts in an SSLv2 CLIENT-HELLO reaches sslv2_parse_hello. Beyond memory
 * errors the target checks both against a naive oracle written from RFC 5246 E.2: the
 * frame verdict (complete / need more / not one) and length, and for a parsed message the
 * version, the suites (cipher specs whose first byte is 0, in order), the session id and
 * the client random (challenge right-aligned, leading zeros).
 */
#define FUZZ_TARGET_NAME "sslv2"
#include "fuzz_common.h"
#include "sslv2.h"

static unsigned g16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);           /* exact size: ASan sees any overread */
	if (!copy) return 0;
	memcpy(copy, data, size);
	size_t ml = 0;
	int v = sslv2_hello_frame(copy, size, &ml);
	/* oracle for the frame */
	int want;
	if (size >= 5) {
		size_t rl = (size_t)(copy[0] & 0x7f) << 8 | copy[1];
		bool hdr = (copy[0] & 0x80) && copy[2] == 1 && copy[3] == 3 && copy[4] <= 3 && rl >= 28 && rl <= SSLV2_MAX_HELLO;
		want = !hdr ? -1 : size - 2 < rl ? 0 : 1;
		if (want == 1 && ml != rl) abort();
	} else {
		want = v;                                       /* short input: any "maybe" verdict */
		if (v == 1) abort();
	}
	if (v != want) abort();
	/* the parser on the whole input after a 2-byte header (whether or not the frame said so) */
	if (size >= 2) {
		const uint8_t *m = copy + 2;
		size_t n = size - 2;
		sslv2_hello_t h;
		bool ok = sslv2_parse_hello(m, n, &h);
		bool o = n >= 9 && m[0] == 1 && m[1] == 3 && m[2] <= 3;
		size_t cs = o ? g16(m + 3) : 0, sl = o ? g16(m + 5) : 0, cl = o ? g16(m + 7) : 0;
		o = o && 9 + cs + sl + cl == n && cs && cs % 3 == 0 && sl <= 32 && cl >= 16 && cl <= 32;
		if (ok != o) abort();
		if (ok) {
			if (h.version != g16(m + 1) || h.sid_len != sl || memcmp(h.sid, m + 9 + cs, sl)) abort();
			size_t k = 0;
			for (size_t i = 0; i < cs; i += 3)
				if (m[9 + i] == 0 && k < SSLV2_MAX_SPECS && h.suites[k++] != g16(m + 10 + i)) abort();
			if (k != h.n_suites) abort();
			for (size_t i = 0; i < 32 - cl; i++) if (h.random[i]) abort();
			if (memcmp(h.random + 32 - cl, m + 9 + cs + sl, cl)) abort();
		}
	}
	free(copy);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	return 0;
}
