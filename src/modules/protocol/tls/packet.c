/*
 * packet.c — decodes captured frames down to TCP segments; the engine feeds them on.
 * Returns 1 with the segment, 0 for frames that carry no TCP over IP (counted as
 * packets_non_tcp), -1 for malformed ones (counted as packets_malformed), 2 for an IP
 * fragment that may carry TCP when the caller asked for fragments (ipfrag_in_t filled:
 * the engine hands it to ipfrag.c and decodes the rebuilt datagram here again).
 *
 * Link layers: Ethernet (with any number of 802.1Q/802.1ad tags and MPLS labels),
 * Linux cooked SLL and SLL2, BSD loopback (DLT_NULL / DLT_LOOP) and raw IPv4/IPv6.
 * IPv4 (options) and IPv6 (extension headers walked, the Fragment header described). The IP total
 * length, not the captured length, bounds the TCP payload (Ethernet padding is not data);
 * a frame cut by the snap length yields a shorter payload and the reassembler sees a gap.
 * Everything is read through cursor_t: hostile bytes can only make a frame "malformed".
 */
#include <arpa/inet.h>
#include <sys/socket.h>
#include "engine_internal.h"
#include "ipfrag.h"

enum { ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86DD, ETH_VLAN = 0x8100, ETH_QINQ = 0x88A8,
       ETH_QINQ_OLD = 0x9100, ETH_MPLS = 0x8847, ETH_MPLS_MC = 0x8848 };

/* Decode the TCP header in c (exactly the IP payload) into *seg (pointers into the frame). */
static int decode_tcp(tls_engine_stats_t *st, int family, const uint8_t *src, const uint8_t *dst,
                          cursor_t *c, tls_tcp_segment_t *seg)
{
	memset(seg, 0, sizeof *seg);
	seg->family = family;
	seg->src_ip = src;
	seg->dst_ip = dst;
	seg->sport = cur_u16(c);
	seg->dport = cur_u16(c);
	seg->seq = cur_u32(c);
	seg->ack = cur_u32(c);
	uint8_t off = cur_u8(c);
	seg->flags = cur_u8(c);
	cur_skip(c, 6);                       /* window, checksum, urgent pointer */
	size_t hl = (size_t)(off >> 4) * 4;
	if (cur_failed(c) || hl < 20 || !cur_skip(c, hl - 20)) {
		st->packets_malformed++;
		return -1;
	}
	seg->len = cur_left(c);
	seg->payload = seg->len ? cur_ptr(c) : NULL;
	return 1;
}

static int decode_ipv4(tls_engine_stats_t *st, cursor_t *c, tls_tcp_segment_t *seg, ipfrag_in_t *fr)
{
	cursor_t h = *c;
	uint8_t vihl = cur_u8(&h);
	if ((vihl >> 4) != 4) { st->packets_malformed++; return -1; }
	size_t ihl = (size_t)(vihl & 0x0f) * 4;
	cur_skip(&h, 1);
	size_t total = cur_u16(&h);
	uint16_t ipid = cur_u16(&h);
	uint16_t frag = cur_u16(&h);
	cur_skip(&h, 1);
	uint8_t proto = cur_u8(&h);
	cur_skip(&h, 2);
	const uint8_t *src = cur_span(&h, 4);
	const uint8_t *dst = cur_span(&h, 4);
	if (cur_failed(&h) || ihl < 20 || total < ihl) { st->packets_malformed++; return -1; }
	if (proto != 6) { st->packets_non_tcp++; return 0; }
	/* bound by total length; a truncated capture gives fewer bytes */
	size_t avail = cur_left(c);
	size_t use = total < avail ? total : avail;
	cursor_t ipc = cur_sub(c, use);
	const uint8_t *hdr = cur_span(&ipc, ihl);
	if (!hdr) { st->packets_malformed++; return -1; }
	if (frag & 0x3fff) {                      /* a fragment: MF set or offset non-zero */
		if (!fr) { st->packets_non_tcp++; return 0; }
		*fr = (ipfrag_in_t){ .family = AF_INET, .src = src, .dst = dst, .id = ipid, .proto = proto,
		                     .hdr = hdr, .hdr_len = ihl, .offset = (uint32_t)(frag & 0x1fff) * 8,
		                     .more = (frag & 0x2000) != 0, .truncated = avail < total,
		                     .len = cur_left(&ipc) };
		fr->data = cur_span(&ipc, fr->len);
		return 2;
	}
	cursor_t tcp = cur_rest(&ipc);
	return decode_tcp(st, AF_INET, src, dst, &tcp, seg);
}

static int decode_ipv6(tls_engine_stats_t *st, cursor_t *c, tls_tcp_segment_t *seg, ipfrag_in_t *fr)
{
	cursor_t h = *c;
	const uint8_t *ip = cur_ptr(c);
	uint32_t vtf = cur_u32(&h);
	if ((vtf >> 28) != 6) { st->packets_malformed++; return -1; }
	size_t plen = cur_u16(&h);
	uint8_t nh = cur_u8(&h);
	cur_skip(&h, 1);
	const uint8_t *src = cur_span(&h, 16);
	const uint8_t *dst = cur_span(&h, 16);
	if (cur_failed(&h)) { st->packets_malformed++; return -1; }
	size_t avail = cur_left(&h);
	cursor_t pl = cur_sub(&h, plen < avail ? plen : avail);
	size_t nh_off = 6;                   /* offset from ip of the byte naming header nh */
	for (int i = 0; i < 8 && nh != 6; i++) {
		size_t here = 40 + cur_offset(&pl);
		switch (nh) {
		case 0: case 43: case 60: {          /* hop-by-hop, routing, destination options */
			nh = cur_u8(&pl);
			size_t l = ((size_t)cur_u8(&pl) + 1) * 8;
			cur_skip(&pl, l - 2);
			break;
		}
		case 44: {                           /* fragment (an "atomic" one goes straight on) */
			nh = cur_u8(&pl);
			cur_skip(&pl, 1);
			uint16_t fo = cur_u16(&pl);
			uint32_t id = cur_u32(&pl);
			if (cur_failed(&pl)) { st->packets_malformed++; return -1; }
			if (!(fo & 0xfff9)) break;
			/* only datagrams that may carry TCP (directly or after extension headers) */
			if (!fr || !(nh == 6 || nh == 0 || nh == 43 || nh == 60 || nh == 51)) {
				st->packets_non_tcp++;
				return 0;
			}
			*fr = (ipfrag_in_t){ .family = AF_INET6, .src = src, .dst = dst, .id = id, .proto = nh,
			                     .hdr = ip, .hdr_len = here, .nh_off = nh_off, .offset = fo & 0xfff8u,
			                     .more = (fo & 1) != 0, .truncated = avail < plen, .len = cur_left(&pl) };
			fr->data = cur_span(&pl, fr->len);
			return 2;
		}
		case 51: {                           /* AH */
			nh = cur_u8(&pl);
			size_t l = ((size_t)cur_u8(&pl) + 2) * 4;
			cur_skip(&pl, l - 2);
			break;
		}
		default:
			st->packets_non_tcp++;
			return 0;
		}
		if (cur_failed(&pl)) { st->packets_malformed++; return -1; }
		nh_off = here;
	}
	if (nh != 6) { st->packets_non_tcp++; return 0; }
	cursor_t tcp = cur_rest(&pl);
	return decode_tcp(st, AF_INET6, src, dst, &tcp, seg);
}

/* IP packet whose version is read from the first nibble. */
int pkt_decode_ip(tls_engine_stats_t *st, const uint8_t *ip, size_t len, tls_tcp_segment_t *seg, ipfrag_in_t *fr)
{
	cursor_t c = cur_init(ip, len);
	if (len < 1) { st->packets_malformed++; return -1; }
	switch (ip[0] >> 4) {
	case 4: return decode_ipv4(st, &c, seg, fr);
	case 6: return decode_ipv6(st, &c, seg, fr);
	default: st->packets_non_tcp++; return 0;
	}
}

/* Dispatch on an ethertype-like protocol number with the cursor at the network header. */
static int decode_ethertype(tls_engine_stats_t *st, uint16_t type, cursor_t *c, tls_tcp_segment_t *seg, ipfrag_in_t *fr)
{
	for (int depth = 0; depth < 8; depth++) {
		switch (type) {
		case ETH_IPV4: return decode_ipv4(st, c, seg, fr);
		case ETH_IPV6: return decode_ipv6(st, c, seg, fr);
		case ETH_VLAN: case ETH_QINQ: case ETH_QINQ_OLD:
			cur_skip(c, 2);
			type = cur_u16(c);
			break;
		case ETH_MPLS: case ETH_MPLS_MC: {
			uint32_t lbl;
			int n = 0;
			do { lbl = cur_u32(c); } while (!(lbl & 0x100) && !cur_failed(c) && ++n < 16);
			if (cur_failed(c)) { st->packets_malformed++; return -1; }
			if (cur_left(c) < 1) { st->packets_malformed++; return -1; }
			uint8_t v = cur_ptr(c)[0] >> 4;
			type = v == 4 ? ETH_IPV4 : v == 6 ? ETH_IPV6 : 0;
			break;
		}
		default:
			st->packets_non_tcp++;
			return 0;
		}
		if (cur_failed(c)) { st->packets_malformed++; return -1; }
	}
	st->packets_malformed++;
	return -1;
}

int pkt_decode_frame(tls_engine_stats_t *st, int dlt, const uint8_t *frame, size_t caplen, tls_tcp_segment_t *seg,
                     ipfrag_in_t *fr)
{
	cursor_t c = cur_init(frame, caplen);
	switch (dlt) {
	case TLS_DLT_EN10MB: {
		cur_skip(&c, 12);
		uint16_t type = cur_u16(&c);
		if (cur_failed(&c)) { st->packets_malformed++; return -1; }
		if (type <= 1500) {                  /* 802.3 length: LLC/SNAP */
			uint8_t dsap = cur_u8(&c), ssap = cur_u8(&c);
			cur_skip(&c, 1);
			if (dsap != 0xaa || ssap != 0xaa) { st->packets_non_tcp++; return 0; }
			cur_skip(&c, 3);
			type = cur_u16(&c);
		}
		return decode_ethertype(st, type, &c, seg, fr);
	}
	case TLS_DLT_LINUX_SLL: {
		cur_skip(&c, 14);
		uint16_t type = cur_u16(&c);
		if (cur_failed(&c)) { st->packets_malformed++; return -1; }
		return decode_ethertype(st, type, &c, seg, fr);
	}
	case TLS_DLT_LINUX_SLL2: {
		uint16_t type = cur_u16(&c);
		cur_skip(&c, 18);
		if (cur_failed(&c)) { st->packets_malformed++; return -1; }
		return decode_ethertype(st, type, &c, seg, fr);
	}
	case TLS_DLT_NULL: case TLS_DLT_LOOP: {
		const uint8_t *fam = cur_span(&c, 4);
		if (!fam) { st->packets_malformed++; return -1; }
		/* DLT_NULL is host byte order of the capturing machine; accept both orders. */
		uint32_t le = (uint32_t)fam[0] | ((uint32_t)fam[1] << 8) | ((uint32_t)fam[2] << 16) | ((uint32_t)fam[3] << 24);
		uint32_t be = ((uint32_t)fam[0] << 24) | ((uint32_t)fam[1] << 16) | ((uint32_t)fam[2] << 8) | fam[3];
		uint32_t v = le < 256 ? le : be;
		if (v == 2) return decode_ipv4(st, &c, seg, fr);
		if (v == 10 || v == 24 || v == 28 || v == 30) return decode_ipv6(st, &c, seg, fr);
		st->packets_non_tcp++;
		return 0;
	}
	case TLS_DLT_RAW: case 12: case 14: case TLS_DLT_IPV4: case TLS_DLT_IPV6: {
		return pkt_decode_ip(st, frame, caplen, seg, fr);
	}
	default:
		st->packets_non_tcp++;
		return 0;
	}
}
