/*
 * ipfrag.h — bounded IPv4 / IPv6 fragment reassembly (ipfrag.c).
 *
 * Why: TCP over tunnels and small-MTU paths arrives as IP fragments; without reassembly the
 * TLS records they carry are lost. packet.c only *describes* a fragment (ipfrag_in_t); the
 * engine hands it to ipfrag_add and, when a datagram completes, feeds the rebuilt IP packet
 * back through packet.c for its TCP segment. ipfrag.c knows nothing of TCP or the engine.
 *
 * Overlap policy (the same for IPv4 and IPv6): an exact duplicate (same offset, same length,
 * same bytes, same "more fragments" flag) is dropped and counted; any other overlap discards
 * the whole datagram, including its fragments still to come (RFC 5722 for IPv6; Linux does
 * the same for IPv4 since 4.19, "ip: discard IPv4 datagrams with overlapping segments").
 * A host with another policy (first- or last-wins) may have accepted some bytes: we then see
 * a TCP gap (reported as loss) instead of bytes that may differ from what it received, so an
 * overlap can never make us emit bytes the receiving host did not see.
 *
 * Bounds: at most max_datagrams datagrams pending (each slot's 68 KiB buffer is allocated on
 * first use and reused; no allocation per packet in steady state), at most max_bytes of
 * fragment payload held (oldest pending datagrams are evicted first), a datagram not
 * completed within `timeout` seconds of engine time is dropped, datagrams end at 65535.
 */
#ifndef PTLS_IPFRAG_H
#define PTLS_IPFRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPFRAG_MAX_DATAGRAM 65535u   /* IP total length (IPv4) / payload length (IPv6) */
#define IPFRAG_MAX_HDR 512u          /* IPv6 unfragmentable part kept at most (IPv4: 60) */

/* One fragment as described by packet.c (pointers into the captured packet). */
typedef struct ipfrag_in {
	int family;                  /* AF_INET or AF_INET6 */
	const uint8_t *src, *dst;    /* 4 or 16 bytes */
	uint32_t id;                 /* IPv4 identification (16 bits) / IPv6 Fragment header id */
	uint8_t proto;               /* IPv4 protocol / next header of the IPv6 Fragment header */
	const uint8_t *hdr;          /* IPv4 header, or IPv6 header + extension headers before */
	size_t hdr_len;              /* the Fragment header (the unfragmentable part) */
	size_t nh_off;               /* IPv6: offset in hdr of the next-header byte naming the
	                              * Fragment header (set to `proto` when rebuilt) */
	uint32_t offset;             /* byte offset of data in the datagram's payload */
	bool more;                   /* "more fragments" flag */
	bool truncated;              /* the capture cut the fragment (snap length) */
	const uint8_t *data;         /* fragment payload */
	size_t len;
} ipfrag_in_t;

typedef struct ipfrag_limits {
	uint32_t max_datagrams;      /* pending datagrams (>= 1) */
	uint64_t max_bytes;          /* fragment payload bytes held over all pending datagrams */
	double timeout;              /* s of engine time a datagram may stay incomplete */
} ipfrag_limits_t;

typedef struct ipfrag_counters {
	uint64_t fragments;          /* fragments seen */
	uint64_t datagrams;          /* datagrams reassembled */
	uint64_t timeouts;           /* datagrams dropped incomplete after the timeout */
	uint64_t overlaps;           /* datagrams discarded for overlapping / conflicting fragments */
	uint64_t duplicates;         /* exact duplicate fragments dropped */
	uint64_t evicted;            /* pending datagrams evicted by the datagram or byte bound */
	uint64_t dropped;            /* invalid fragments: not a multiple of 8, beyond 65535,
	                              * truncated by the capture, header too long, datagram discarded */
} ipfrag_counters_t;

typedef struct ipfrag ipfrag_t;

/* Create a reassembler (slot table only; buffers come on first use). NULL on failure. */
ipfrag_t *ipfrag_new(const ipfrag_limits_t *lim);
/* Free everything (buffers are wiped: they held other hosts' packets). */
void ipfrag_free(ipfrag_t *r);
/* Add one fragment at engine time `now` (expires old datagrams first). Returns 1 when its
 * datagram is complete: *out, *outlen is the rebuilt IP packet (IPv4: total length set and
 * fragment fields cleared; IPv6: payload length set, Fragment header removed), valid until
 * the next call on r. Returns 0 when held, dropped or discarded (counted). */
int ipfrag_add(ipfrag_t *r, const ipfrag_in_t *f, double now, const uint8_t **out, size_t *outlen);
/* Drop datagrams older than the timeout at engine time `now`. */
void ipfrag_expire(ipfrag_t *r, double now);
/* Counters (cumulative) and current state. */
const ipfrag_counters_t *ipfrag_counters(const ipfrag_t *r);
uint32_t ipfrag_pending(const ipfrag_t *r);
uint64_t ipfrag_held_bytes(const ipfrag_t *r);
/* Bytes allocated for slot buffers (the memory bound: max_datagrams slots at most). */
uint64_t ipfrag_allocated(const ipfrag_t *r);

#endif
