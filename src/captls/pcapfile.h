/*
 * pcapfile.h — a classic pcap ("libpcap savefile") reader over bytes in memory, for captls
 * reading regular files in large blocks.
 *
 * Why: libpcap reads a file through stdio, then copies every packet from the stdio buffer
 * into its own packet buffer (7.5% of captls's CPU at 16 KiB records, beside 11% for the
 * kernel's copy into the stdio buffer). This reader hands packets out where they lie in
 * the caller's buffer, which the caller fills with read(2) a MiB at a time (a packet cut
 * by the end of the buffer is reported as "need more", the caller moves it to the front
 * and reads on). Why not mmap(2): measured on the 2-core VM this project runs on, reading
 * cold page-cache pages through a user mapping cost more than the kernel's copy (120 vs
 * 80 ms of CPU for 131 MB: page faults and TLB misses on 4 KiB pages).
 * Scope: only what is common and fully understood — magic a1b2c3d4 (microseconds) or
 * a1b23c4d (nanoseconds) in either byte order, version 2.4, a link type captls decodes
 * with no FCS/extension bits. Anything else (modified/Navtel magics, old versions, other
 * link types) is refused with 0 so the caller hands the file to libpcap. Packets come out
 * exactly as libpcap gives them: nanoseconds truncated to microseconds, caplen above the
 * file's snap length cut to it, the same error texts for truncated or insane records
 * (so a damaged file stops at the same packet with the same message either way).
 * Every byte is read through the bounds-checked cursor; no allocation. No libpcap
 * dependency, so it can be fuzzed alone (tests/fuzz_pcapfile.c).
 */
#ifndef CAPTLS_PCAPFILE_H
#define CAPTLS_PCAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCAPFILE_MAX_SNAPLEN 262144u   /* libpcap's MAXIMUM_SNAPLEN for these link types */

typedef struct pcapfile {
	const uint8_t *buf;
	size_t len, off;
	bool more;               /* bytes of the file follow buf (pcapfile_next may return 2) */
	bool big_endian;         /* the file's byte order */
	bool nsec;               /* nanosecond time stamps */
	int dlt;                 /* link type as libpcap reports it (LINKTYPE_RAW 101 -> DLT_RAW 12) */
	uint32_t snaplen;        /* effective snap length, as libpcap takes it (may exceed the maximum) */
	uint64_t packets;
	char err[160];
} pcapfile_t;

typedef struct pcapfile_rec {
	const uint8_t *data;     /* inside the buffer */
	uint32_t caplen, origlen;
	int64_t ts_sec;          /* libpcap's struct timeval: sec, usec (nsec files: nsec / 1000) */
	int64_t ts_usec;
} pcapfile_rec_t;

/* Does buf (len bytes, the file's start; more: the file goes on after them) start with a
 * classic pcap header this reader handles? 1: yes, *pf ready to read packets; 0: not one
 * (another format, or one to leave to libpcap). */
int pcapfile_open(pcapfile_t *pf, const uint8_t *buf, size_t len, bool more);

/* Next packet: 1 (*r filled, r->data inside the buffer), 0 at the end of the file, 2 the
 * next record is not all in the buffer but the file goes on (pf->off is where it starts:
 * give the bytes from there on, and more, to pcapfile_refill), -1 damaged or truncated
 * record (pf->err holds libpcap's text for the same case; the reader stays there). */
int pcapfile_next(pcapfile_t *pf, pcapfile_rec_t *r);

/* Continue in a new buffer that starts at the record where pcapfile_next returned 2. */
void pcapfile_refill(pcapfile_t *pf, const uint8_t *buf, size_t len, bool more);

#endif
