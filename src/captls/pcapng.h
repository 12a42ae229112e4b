/*
 * pcapng.h — a small pcapng block reader for captls: what libpcap does not give us.
 *
 * libpcap reads pcapng, but (1) it does not expose Decryption Secrets Blocks, so keys that
 * `editcap --inject-secrets tls,keys.txt` stored in a capture would be lost, and (2) it
 * refuses files whose interfaces have different link types (what `mergecap` of an
 * Ethernet and a Linux SLL / loopback capture produces). This reader handles both: it
 * returns packets (Enhanced, Simple and obsolete Packet Blocks) with their interface's
 * own link type and time stamp resolution (if_tsresol, if_tsoffset), and TLS key-log
 * secrets from Decryption Secrets Blocks, for sections of either byte order. Every block
 * body is parsed through the bounds-checked cursor; block sizes are bounded (max_block),
 * as is the number of interfaces. A malformed or truncated block ends the read with an
 * error message, never a crash or an unbounded allocation. No libpcap dependency, so it
 * can be fuzzed alone (tests/fuzz_pcapng.c).
 */
#ifndef CAPTLS_PCAPNG_H
#define CAPTLS_PCAPNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PCAPNG_SECRETS_TLS 0x544c534bu   /* "TLSK": NSS key log text */
#define PCAPNG_DEFAULT_MAX_BLOCK (16u << 20)
#define PCAPNG_MAX_IFACES 4096

typedef struct pcapng pcapng_t;

enum { PCAPNG_REC_PACKET = 1, PCAPNG_REC_SECRETS = 2 };

/* One record. data points into the reader's buffer: valid until the next call. */
typedef struct pcapng_rec {
	int type;                 /* PCAPNG_REC_PACKET or PCAPNG_REC_SECRETS */
	/* packet */
	uint32_t ifid;            /* interface index in its section */
	uint32_t iface_seq;       /* interface number over the whole file (sections counted) */
	int linktype;             /* that interface's link type (pcap DLT / LINKTYPE value) */
	uint32_t snaplen;
	int64_t ts_sec;           /* time stamp: seconds and microseconds (floor) ... */
	uint32_t ts_usec;
	double ts;                /* ... and as one number */
	uint32_t caplen, origlen;
	/* secrets */
	uint32_t secrets_type;    /* PCAPNG_SECRETS_TLS, or another kind (to be skipped) */
	/* both */
	const uint8_t *data;
	size_t len;               /* packet: == caplen; secrets: length */
} pcapng_rec_t;

typedef struct pcapng_stats {
	uint64_t blocks, sections, interfaces, packets, secrets_blocks, skipped_blocks;
} pcapng_stats_t;

/* Is path a regular file that starts with a pcapng Section Header Block? (false for "-",
 * pipes, FIFOs and unreadable files: those are left to libpcap and its messages). */
bool pcapng_is_pcapng(const char *path);

/* Read from f (taken over: closed by pcapng_free). max_block bounds any block (0 =
 * PCAPNG_DEFAULT_MAX_BLOCK). skip_packets: packet blocks are seeked over unread (a fast
 * pass that only collects secrets). NULL + err on allocation failure. */
pcapng_t *pcapng_fopen(FILE *f, size_t max_block, bool skip_packets, char *err, size_t errlen);

/* Next record: 1 (rec filled), 0 at the clean end of the file, -1 on a malformed,
 * truncated or over-large block or a read error (pcapng_error says which and where). */
int pcapng_next(pcapng_t *r, pcapng_rec_t *rec);

const char *pcapng_error(const pcapng_t *r);
void pcapng_get_stats(const pcapng_t *r, pcapng_stats_t *st);

/* Close the file; the buffer (which may have held secrets) is wiped and freed. */
void pcapng_free(pcapng_t *r);

#endif
