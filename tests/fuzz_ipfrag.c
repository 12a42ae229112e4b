/*
 * fuzz_ipfrag.c — libFuzzer target for the IP fragment reassembler (ipfrag.c) on its own:
 * sequences of IPv4 / IPv6 fragments with fuzzer-chosen keys, offsets, lengths, flags,
 * truncation and time steps, under fuzzer-chosen bounds.
 *
 * Why its own target: fuzz_packet reaches the reassembler too (its seeds include fragmented
 * captures), but through link/IP decoding and a TCP engine that discard most mutations;
 * here every input byte shapes fragments. Oracle: a fragment's bytes are a function of its
 * key and offset (pattern()), except "conflicting" fragments (pattern ^ 0xa5); a datagram
 * completed for a key that never saw a conflicting fragment must be exactly the pattern,
 * with a consistent rebuilt header (IPv4 total length, no fragment bits; IPv6 payload
 * length, the Fragment header's next header in place). Always: pending datagrams <= the
 * bound, held bytes <= the bound, the rebuilt packet at most 65535 + 40 bytes, and every
 * output byte readable (ASan).
 *
 * Input: byte 0 picks the bounds; then records of 7 bytes: key (bit 7 IPv6, bits 0-2 key
 * index), flags (bit 0 more, bit 1 conflicting, bit 2 truncated, bit 3 extension header
 * before the Fragment header), offset in 8-byte units (2 bytes), length (2 bytes), time
 * step (1 byte, 1/8 s).
 */
#define FUZZ_TARGET_NAME "ipfrag"
#include "fuzz_common.h"
#include <sys/socket.h>
#include "ipfrag.h"

static uint8_t pattern(unsigned key, uint32_t off) { return (uint8_t)(off * 31u + key * 17u + (off >> 8)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) return 0;
	ipfrag_limits_t lim = { 1u + (data[0] & 7), (uint64_t)(1u + (data[0] >> 3)) * 4096u, 30.0 };
	ipfrag_t *r = ipfrag_new(&lim);
	if (!r) return 0;
	static uint8_t buf[70000], hdr[48];
	bool conflicted[16] = { false };
	double now = 1000.0;
	for (size_t i = 1; i + 7 <= size; i += 7) {
		const uint8_t *p = data + i;
		unsigned key = (p[0] & 7) | ((p[0] & 0x80) ? 8 : 0);
		bool v6 = (p[0] & 0x80) != 0;
		uint8_t fl = p[1];
		uint32_t off = ((uint32_t)p[2] << 8 | p[3]) * 8u;
		size_t len = (size_t)p[4] << 8 | p[5];
		if (len > 9000) len %= 9000;
		now += p[6] / 8.0;
		bool conflict = fl & 2;
		if (conflict) conflicted[key] = true;
		for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)(pattern(key, off + (uint32_t)k) ^ (conflict ? 0xa5 : 0));
		uint8_t src[16] = { 10, 0, 0, (uint8_t)key }, dst[16] = { 10, 0, 0, 99 };
		memset(hdr, 0, sizeof hdr);
		ipfrag_in_t f = { .family = v6 ? AF_INET6 : AF_INET, .src = src, .dst = dst, .id = 0x4242 + key,
		                  .proto = 6, .hdr = hdr, .offset = off, .more = fl & 1, .truncated = (fl & 4) != 0,
		                  .data = buf, .len = len };
		if (v6) {
			hdr[0] = 0x60;
			hdr[6] = (fl & 8) ? 0 : 44;
			f.hdr_len = (fl & 8) ? 48 : 40;
			f.nh_off = (fl & 8) ? 40 : 6;
			if (fl & 8) hdr[40] = 44;
		} else {
			hdr[0] = 0x45;
			hdr[9] = 6;
			f.hdr_len = 20;
		}
		const uint8_t *out = NULL;
		size_t outlen = 0;
		int rc = ipfrag_add(r, &f, now, &out, &outlen);
		if (ipfrag_pending(r) > lim.max_datagrams) abort();
		if (ipfrag_held_bytes(r) > lim.max_bytes) abort();
		if (rc != 1) continue;
		if (!out || outlen > 65535 + 40) abort();
		uint64_t sum = 0;
		for (size_t k = 0; k < outlen; k++) sum += out[k];       /* readable */
		(void)sum;
		size_t hl;
		if (!v6) {
			hl = 20;
			if (out[0] != 0x45 || ((size_t)out[2] << 8 | out[3]) != outlen || out[6] || out[7]) abort();
		} else {
			hl = (out[6] == 0 && outlen >= 48) ? 48 : 40;
			if (out[0] != 0x60 || ((size_t)out[4] << 8 | out[5]) != outlen - 40) abort();
			if (out[hl == 48 ? 40 : 6] != 6) abort();
		}
		if (outlen < hl) abort();
		if (!conflicted[key])
			for (size_t k = hl; k < outlen; k++)
				if (out[k] != pattern(key, (uint32_t)(k - hl))) abort();
		conflicted[key] = false;
	}
	const ipfrag_counters_t *c = ipfrag_counters(r);
	if (c->datagrams > c->fragments) abort();
	ipfrag_expire(r, now + 100);
	if (ipfrag_pending(r) != 0 || ipfrag_held_bytes(r) != 0) abort();
	ipfrag_free(r);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	return 0;
}
