/*
 * pcapw.h — a tiny classic-pcap writer for the test tools.
 *
 * Why: the test capture generator (tlsgen) and any other test that needs to produce a
 * capture file should not depend on libpcap's writer (which cannot write arbitrary link
 * types without a live handle) nor duplicate header/checksum code. This writer produces
 * the classic format (magic a1b2c3d4 in host byte order, version 2.4, microsecond
 * timestamps, snaplen 262144) and can build complete IPv4/IPv6 + TCP packets with correct
 * lengths and checksums, wrapped in one of the link layers the engine must accept:
 * Ethernet (optionally 802.1Q tagged), raw IP, Linux SLL, Linux SLL2 and BSD loopback.
 */
#ifndef TESTS_PCAPW_H
#define TESTS_PCAPW_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

/* pcap LINKTYPE_ values the writer knows how to frame. */
enum {
	PCAPW_LINK_NULL = 0,      /* BSD loopback: 4-byte address family in file byte order */
	PCAPW_LINK_ETHERNET = 1,
	PCAPW_LINK_RAW = 101,     /* raw IPv4/IPv6, no link header */
	PCAPW_LINK_SLL = 113,     /* Linux cooked capture v1 (16-byte header) */
	PCAPW_LINK_SLL2 = 276,    /* Linux cooked capture v2 (20-byte header) */
};

#define PCAPW_SNAPLEN 262144u

/* TCP flag bits. */
enum { PCAPW_FIN = 0x01, PCAPW_SYN = 0x02, PCAPW_RST = 0x04, PCAPW_PSH = 0x08, PCAPW_ACK = 0x10 };

typedef struct pcapw pcapw_t;

/* One TCP segment to frame and write with pcapw_write_tcp(). Addresses are 4 bytes
 * (ipv6 == 0) or 16 bytes (ipv6 != 0), network order. `opts` (optlen a multiple of 4,
 * at most 40) are raw TCP option bytes. `outbound` only matters for SLL/SLL2 (packet
 * type "sent by us" vs "to us"); `src_mac`/`dst_mac` (6 bytes each, may be NULL for
 * defaults) only for Ethernet and SLL's source address. */
typedef struct pcapw_tcp {
	int ipv6;
	const uint8_t *src, *dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	uint16_t ip_id;           /* IPv4 identification */
	const uint8_t *opts; size_t optlen;
	const uint8_t *payload; size_t len;
	int outbound;
	const uint8_t *src_mac, *dst_mac;
	int vlan;                 /* Ethernet only: 0 none, else the 802.1Q VLAN id (1..4094) */
} pcapw_tcp_t;

/* Create `path` (truncating it) and write the global header for `linktype` (any value is
 * written as given; only the PCAPW_LINK_* values can be framed by pcapw_write_tcp).
 * Returns a writer, or NULL (errno set) if the file cannot be created. */
pcapw_t *pcapw_open(const char *path, int linktype);

/* Append one record with capture time `ts_us` (microseconds since the epoch) holding the
 * `len` bytes at `data` (captured length = original length; data longer than the snaplen
 * is truncated in the record but the original length is kept). Returns 0, -1 on I/O error. */
int pcapw_write(pcapw_t *w, uint64_t ts_us, const void *data, size_t len);

/* Build an IPv4/IPv6 + TCP packet from `t` (IP total/payload length, IPv4 header
 * checksum and TCP checksum computed) framed for the writer's link type, and append it
 * with pcapw_write(). Returns 0, -1 on error (unknown link type, too-long payload for
 * the IP length field, bad option length, I/O error). */
int pcapw_write_tcp(pcapw_t *w, uint64_t ts_us, const pcapw_tcp_t *t);

/* Build just the IP + TCP bytes of `t` into `out` (capacity `cap`). Returns the packet
 * length, or 0 if it does not fit / is invalid. Useful for tests that feed raw IP. */
size_t pcapw_build_ip_tcp(uint8_t *out, size_t cap, const pcapw_tcp_t *t);

/* Build the link-layer header for `linktype` in front of an IP packet of the given
 * version into `out` (at least 24 bytes). Returns its length (0 for raw IP), or -1 for
 * an unsupported link type. */
int pcapw_link_header(uint8_t *out, int linktype, int ipv6, int outbound,
                      const uint8_t *src_mac, const uint8_t *dst_mac, int vlan);

/* Number of records written so far. */
uint64_t pcapw_count(const pcapw_t *w);

/* Flush and close the file, free the writer. Returns 0, -1 if a write/close failed at
 * any point during the writer's life. NULL is accepted. */
int pcapw_close(pcapw_t *w);

/* Internet checksum helper: ones'-complement sum of `len` bytes added to `sum`
 * (not folded/complemented). Exposed for tests building other headers. */
uint32_t pcapw_csum_add(uint32_t sum, const void *data, size_t len);
/* Fold and complement a pcapw_csum_add() sum into the 16-bit checksum value. */
uint16_t pcapw_csum_fold(uint32_t sum);

#endif
