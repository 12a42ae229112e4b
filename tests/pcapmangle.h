/*
 * pcapmangle.h — turns an existing capture into the capture a real capture point could
 * have produced from the same TCP exchange: packets in another ORDER (SPAN/tap queues,
 * multi-queue NICs), other TIMESTAMPS (clock steps, outliers), or with packets INJECTED
 * (stray RST/SYN, duplicates, unrelated frames). It never changes the byte stream either
 * peer sent: every original frame is written unchanged (bytes identical), duplicates are
 * byte-identical copies, injected TCP packets on the session carry no payload.
 *
 * Why: the engine is proven byte-exact on captures of real peers (kamailio/sipp,
 * curl/nginx) as they were recorded on loopback; issue 9 asks the same under real
 * capture conditions. Generating those conditions from the real captures (instead of our
 * own generator, tlsgen) tests the engine against traffic nobody on the project wrote.
 *
 * Every mangling is seeded and deterministic, and reports how much it really did
 * (`applied` plus a one-line description) so a test can fail when a variant turned out
 * to be the identity (a vacuous pass). pm_mangle() also verifies its own invariant (no
 * original frame lost or altered, nothing with payload invented) and fails if broken.
 *
 * Reads any capture libpcap reads (Ethernet, 802.1Q, Linux SLL/SLL2, raw IP, BSD
 * loopback; IPv4/IPv6), writes classic pcap (tests/pcapw.c) with the input's link type.
 */
#ifndef TESTS_PCAPMANGLE_H
#define TESTS_PCAPMANGLE_H

#include <stdint.h>
#include <stddef.h>

/* Bit set of manglings; several bits = a combination, applied in the order listed. */
enum {
	PM_LATE       = 1 << 0,  /* [D, ACK(D), D2] -> [D2, ACK(D), D], a few per direction */
	PM_ACKFIRST   = 1 << 1,  /* a pure ACK moved before the data segment it acknowledges */
	PM_REPLYFIRST = 1 << 2,  /* first packet of a flight moved 1..4 packets before the
	                          * packet it answers (every other flight: ServerHello before
	                          * ClientHello, server CCS/Finished before ClientKeyExchange,
	                          * responses before requests) */
	PM_DUP        = 1 << 3,  /* byte-identical duplicates of random segments, 0..3 later */
	PM_STRAY_OOW  = 1 << 4,  /* mid-session RSTs (both directions) and a client SYN whose
	                          * sequence numbers are far outside the window */
	PM_RST_NEXT   = 1 << 5,  /* RST at exactly the sender's next sequence number, followed by
	                          * more data from the same sender */
	PM_SPAN       = 1 << 6,  /* each direction delayed by its own random 0..5 ms queue, then
	                          * merged by arrival: per-direction order kept, cross-direction
	                          * order randomised; timestamps = arrival */
	PM_TS_FUTURE  = 1 << 7,  /* one unrelated frame stamped +10 years mid-capture */
	PM_TS_PAST    = 1 << 8,  /* one unrelated frame stamped -1 day mid-capture */
	PM_TS_STEP    = 1 << 9,  /* capture clock steps back 1 hour for all later packets */
};

typedef struct pm_report {
	unsigned applied;        /* changes made (swaps, moves, injections, restamps) */
	unsigned per_kind[10];   /* the same per bit (index = bit number) */
	char desc[1024];         /* human-readable summary of what was done */
	char err[256];           /* set when pm_mangle returns -1 */
} pm_report_t;

/* Read `in`, apply the manglings in `kinds` with PRNG seed `seed`, write `out`.
 * Returns 0 when every requested mangling did something and the invariant holds;
 * 1 when the file was written but some requested mangling found nothing to do (desc
 * says which); -1 on error (err says why). */
int pm_mangle(const char *in, const char *out, unsigned kinds, uint32_t seed, pm_report_t *rep);

/* Short name of a single mangling bit ("late", "span", ...), or "?". */
const char *pm_kind_name(unsigned bit);

#endif
