/*
 * fuzz_pcapfile.c — libFuzzer target for captls's classic pcap reader over memory
 * (src/captls/pcapfile.c): file header of either byte order and time stamp resolution,
 * record headers, capture lengths against the snap length and the end of the buffer.
 *
 * Why: captls reads capture files in blocks and hands packets out of its buffer; a
 * damaged or hostile file must never make it read outside the file, loop, or hand out a
 * packet longer than the snap length. The input is the file, copied into a buffer of
 * exactly its size (so ASan sees any over-read); every packet byte is touched. Checked:
 * each packet lies inside the buffer, caplen <= snap length and <= 262144, the reader moves
 * forward by at least 16 bytes per packet, an error leaves a message, and reading twice
 * gives the same packets and result, also when the file comes in blocks (as captls reads
 * it: an unfinished record moved to the front of the buffer, the rest read after it).
 */
#define FUZZ_TARGET_NAME "pcapfile"
#include "fuzz_common.h"
#include "pcapfile.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	return 0;
}

static int pass(const uint8_t *buf, size_t size, uint64_t *npk, uint64_t *sum)
{
	pcapfile_t pf;
	*npk = *sum = 0;
	if (pcapfile_open(&pf, buf, size, false) != 1) return 2;
	if (pf.snaplen == 0 || pf.snaplen > 0x7fffffffu) abort();
	pcapfile_rec_t r;
	int rc;
	size_t last = pf.off;
	while ((rc = pcapfile_next(&pf, &r)) == 1) {
		if (pf.off < last + 16 || pf.off > size) abort();
		last = pf.off;
		if (r.caplen > pf.snaplen || r.caplen > PCAPFILE_MAX_SNAPLEN) abort();
		if (r.caplen && (r.data < buf || r.data + r.caplen > buf + size)) abort();
		for (uint32_t i = 0; i < r.caplen; i++) *sum += r.data[i];
		*sum += (uint64_t)r.ts_sec ^ (uint64_t)r.ts_usec;
		(*npk)++;
	}
	if (rc < 0 && !pf.err[0]) abort();
	return rc;
}

/* The same file read as captls reads it: blocks of `block` bytes (>= 16 + 262144 in captls;
 * here blocks of any size read into a buffer a whole record fits in), the unfinished record moved to the front
 * on pcapfile_next's 2. Same packets, sum and result as the whole-buffer pass. */
static int blocks(const uint8_t *data, size_t size, size_t block, uint64_t *npk, uint64_t *sum)
{
	*npk = *sum = 0;
	size_t cap = 24 + 16 + PCAPFILE_MAX_SNAPLEN;
	uint8_t *b = malloc(cap);
	if (!b) abort();
	size_t pos = block < size ? block : size, n = pos;
	memcpy(b, data, n);
	pcapfile_t pf;
	if (pcapfile_open(&pf, b, n, pos < size) != 1) { free(b); return 2; }
	pcapfile_rec_t r;
	int rc;
	for (;;) {
		rc = pcapfile_next(&pf, &r);
		if (rc == 2) {
			if (pos >= size) abort();          /* "more" only while the file goes on */
			size_t keep = n - pf.off;
			memmove(b, b + pf.off, keep);
			size_t add = size - pos < cap - keep ? size - pos : cap - keep;   /* > 0: a record fits in cap */
			if (add > block) add = block;
			memcpy(b + keep, data + pos, add);
			pos += add;
			n = keep + add;
			pcapfile_refill(&pf, b, n, pos < size);
			continue;
		}
		if (rc != 1) break;
		for (uint32_t i = 0; i < r.caplen; i++) *sum += r.data[i];
		*sum += (uint64_t)r.ts_sec ^ (uint64_t)r.ts_usec;
		(*npk)++;
	}
	free(b);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20)) return 0;
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf) return 0;
	memcpy(buf, data, size);
	uint64_t n1, s1, n2, s2;
	int r1 = pass(buf, size, &n1, &s1);
	int r2 = pass(buf, size, &n2, &s2);
	if (r1 != r2 || n1 != n2 || s1 != s2) abort();
	size_t block = 24 + (size ? data[size - 1] : 0) * 7u;
	r2 = blocks(buf, size, block, &n2, &s2);
	if (r1 != r2 || n1 != n2 || s1 != s2) abort();
	free(buf);
	return 0;
}
