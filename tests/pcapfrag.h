/*
 * pcapfrag.h — IP fragmentation of a capture, for the fragment reassembly tests.
 *
 * Why: TCP over tunnels and small-MTU paths arrives as IP fragments. Rather than write our
 * own TLS, the tests take a capture of real TLS peers (tlsgen: in-process OpenSSL) and cut
 * every IP packet whose payload is longer than `frag_size` into IPv4 fragments (MF / offset,
 * a fresh identification per packet) or IPv6 fragments (a Fragment extension header after
 * the fixed header, a fresh 32-bit id), the way a router or the sending host would. The
 * bytes of every fragment are the original packet's bytes. On top, seeded manglings: the
 * fragments of a packet in shuffled order, exact duplicates of some fragments, and hostile
 * extras whose datagram the engine must discard (overlapping fragments with other or even
 * the same bytes, a fragment missing): each such packet is followed by its unfragmented
 * original (a TCP retransmission), so the byte stream stays complete and the result must
 * still be byte-exact while the discarded datagrams are counted.
 *
 * Separate from pcapmangle.c (which never alters a frame and is near the file size limit).
 * Link types: Ethernet (optionally one 802.1Q tag), raw IP, Linux SLL/SLL2, BSD loopback.
 */
#ifndef TESTS_PCAPFRAG_H
#define TESTS_PCAPFRAG_H

#include <stdint.h>
#include <stddef.h>

typedef struct pf_opts {
	size_t frag_size;        /* fragment payload bytes (rounded down to a multiple of 8, >= 8) */
	uint32_t seed;
	int shuffle;             /* 1: each packet's fragments in random order (often reversed) */
	unsigned dup_pct;        /* % of fragments followed (later in the packet's group) by an exact copy */
	unsigned conflict_every; /* every Nth fragmented packet gets an overlapping fragment with
	                          * other bytes, then its original is retransmitted (0: never) */
	unsigned same_overlap_every; /* same with an overlapping fragment of the same bytes but
	                          * other boundaries (RFC 5722: still an overlap) */
	unsigned missing_every;  /* every Nth fragmented packet loses one fragment, then its
	                          * original is retransmitted (the datagram never completes) */
} pf_opts_t;

typedef struct pf_report {
	unsigned packets_fragmented, fragments, duplicates;
	unsigned conflicts, same_overlaps, missing;  /* datagrams the engine must discard */
	char err[256];
} pf_report_t;

/* Read `in`, write `out` fragmented as described. Returns 0, -1 on error (err says why);
 * fails too when nothing was fragmented (a vacuous run). */
int pf_fragment(const char *in, const char *out, const pf_opts_t *o, pf_report_t *rep);

#endif
