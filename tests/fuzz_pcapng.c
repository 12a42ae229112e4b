/*
 * fuzz_pcapng.c — libFuzzer target for captls's pcapng block reader (src/captls/pcapng.c):
 * section headers of both byte orders, interface descriptions and their options, packet
 * blocks (enhanced, simple, obsolete), decryption secrets blocks, block length checks.
 *
 * Why: a capture file is input from anywhere (mailed to an engineer, cut by a tool that
 * crashed); the reader must never read outside a block, allocate past its bound or loop.
 * The input is the file. It is read twice: fully (every packet byte and every secret is
 * touched, so ASan sees an over-read; TLS secrets go through the keystore's memory-fed
 * key log as captls feeds them), and in the fast pass that seeks over packet blocks. When
 * the full read ends cleanly the fast pass must too, with the same packet and secrets
 * counts. Block bound 64 KiB here, so over-large blocks are met often.
 */
#define FUZZ_TARGET_NAME "pcapng"
#include "fuzz_common.h"
#include "pcapng.h"
#include "tls_engine.h"

static tls_keystore_t *ks;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	char err[256];
	ks = tls_keystore_new();
	if (!ks || tls_keystore_add_keylog_feed(ks, 1000, err, sizeof err) != 0) abort();
	return 0;
}

static int pass(const uint8_t *data, size_t size, bool skip, pcapng_stats_t *st, uint64_t *secrets)
{
	FILE *f = fmemopen((void *)data, size, "rb");
	if (!f) abort();
	char err[256];
	pcapng_t *r = pcapng_fopen(f, 65536, skip, err, sizeof err);
	if (!r) abort();
	pcapng_rec_t rec;
	int rc;
	volatile uint8_t sink = 0;
	*secrets = 0;
	size_t guard = 0;
	while ((rc = pcapng_next(r, &rec)) == 1) {
		if (++guard > size) abort();            /* every record consumes >= 12 bytes */
		if (rec.type == PCAPNG_REC_PACKET) {
			if (skip || rec.len != rec.caplen || rec.origlen < rec.caplen) abort();
			for (size_t i = 0; i < rec.len; i++) sink ^= rec.data[i];
		} else if (rec.type == PCAPNG_REC_SECRETS) {
			for (size_t i = 0; i < rec.len; i++) sink ^= rec.data[i];
			if (rec.secrets_type == PCAPNG_SECRETS_TLS) tls_keystore_feed_keylog(ks, rec.data, rec.len, NULL);
			(*secrets)++;
		} else {
			abort();
		}
	}
	if (rc < 0 && !pcapng_error(r)[0]) abort();
	pcapng_get_stats(r, st);
	pcapng_free(r);
	(void)sink;
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > (1u << 20)) return 0;
	pcapng_stats_t a, b;
	uint64_t sa, sb;
	int ra = pass(data, size, false, &a, &sa);
	int rb = pass(data, size, true, &b, &sb);
	if (ra == 0 && (rb != 0 || a.packets != b.packets || sa != sb || a.interfaces != b.interfaces))
		abort();
	return 0;
}
