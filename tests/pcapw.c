/*
 * pcapw.c — a tiny classic-pcap writer with an IPv4/IPv6 + TCP packet builder.
 *
 * Why: the test captures must be byte-exact, self-consistent packets (correct IP total
 * length, IPv4 header checksum, TCP checksum over the pseudo-header) in several link
 * layers, written without libpcap so any link type can be produced from memory.
 * The file is written in host byte order (the magic a1b2c3d4 tells readers which).
 */
#include "pcapw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pcapw {
	FILE *fp;
	int linktype;
	int failed;
	uint64_t count;
	uint8_t *scratch;
	size_t scratch_cap;
};

static const uint8_t default_src_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t default_dst_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };

/* BSD loopback address-family values (AF_INET is 2 everywhere; AF_INET6 differs per
 * OS: 24 NetBSD/OpenBSD, 28 FreeBSD, 30 Darwin). We write Darwin's. */
#define NULL_AF_INET 2u
#define NULL_AF_INET6 30u

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

uint32_t pcapw_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len >= 2) {
		sum += (uint32_t)((p[0] << 8) | p[1]);
		p += 2; len -= 2;
		if (sum & 0x80000000u) sum = (sum & 0xffff) + (sum >> 16);
	}
	if (len) sum += (uint32_t)(p[0] << 8);
	return sum;
}

uint16_t pcapw_csum_fold(uint32_t sum)
{
	while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

pcapw_t *pcapw_open(const char *path, int linktype)
{
	pcapw_t *w = calloc(1, sizeof *w);
	if (!w) return NULL;
	w->fp = fopen(path, "wb");
	if (!w->fp) { int e = errno; free(w); errno = e; return NULL; }
	w->linktype = linktype;
	struct {
		uint32_t magic; uint16_t vmaj, vmin; int32_t thiszone; uint32_t sigfigs, snaplen, network;
	} gh = { 0xa1b2c3d4u, 2, 4, 0, 0, PCAPW_SNAPLEN, (uint32_t)linktype };
	if (fwrite(&gh, sizeof gh, 1, w->fp) != 1) w->failed = 1;
	return w;
}

int pcapw_write(pcapw_t *w, uint64_t ts_us, const void *data, size_t len)
{
	if (!w || !w->fp) return -1;
	uint32_t caplen = len > PCAPW_SNAPLEN ? PCAPW_SNAPLEN : (uint32_t)len;
	uint32_t rh[4] = { (uint32_t)(ts_us / 1000000u), (uint32_t)(ts_us % 1000000u), caplen, (uint32_t)len };
	if (fwrite(rh, sizeof rh, 1, w->fp) != 1 || (caplen && fwrite(data, caplen, 1, w->fp) != 1)) {
		w->failed = 1;
		return -1;
	}
	w->count++;
	return 0;
}

int pcapw_link_header(uint8_t *out, int linktype, int ipv6, int outbound,
                      const uint8_t *src_mac, const uint8_t *dst_mac, int vlan)
{
	uint16_t etype = ipv6 ? 0x86dd : 0x0800;
	if (!src_mac) src_mac = default_src_mac;
	if (!dst_mac) dst_mac = default_dst_mac;
	switch (linktype) {
	case PCAPW_LINK_RAW:
		return 0;
	case PCAPW_LINK_NULL: {
		uint32_t af = ipv6 ? NULL_AF_INET6 : NULL_AF_INET; /* file (= host) byte order */
		memcpy(out, &af, 4);
		return 4;
	}
	case PCAPW_LINK_ETHERNET:
		memcpy(out, dst_mac, 6);
		memcpy(out + 6, src_mac, 6);
		if (vlan) {
			put16(out + 12, 0x8100);
			put16(out + 14, (uint16_t)(vlan & 0x0fff));
			put16(out + 16, etype);
			return 18;
		}
		put16(out + 12, etype);
		return 14;
	case PCAPW_LINK_SLL:
		put16(out, outbound ? 4 : 0);   /* packet type: 4 sent by us, 0 to us */
		put16(out + 2, 1);              /* ARPHRD_ETHER */
		put16(out + 4, 6);              /* link-layer address length */
		memcpy(out + 6, src_mac, 6);
		put16(out + 12, 0);             /* address padding to 8 bytes */
		put16(out + 14, etype);
		return 16;
	case PCAPW_LINK_SLL2:
		put16(out, etype);              /* protocol type */
		put16(out + 2, 0);              /* reserved */
		put32(out + 4, 2);              /* interface index */
		put16(out + 8, 1);              /* ARPHRD_ETHER */
		out[10] = outbound ? 4 : 0;     /* packet type */
		out[11] = 6;                    /* address length */
		memcpy(out + 12, src_mac, 6);
		put16(out + 18, 0);
		return 20;
	default:
		return -1;
	}
}

size_t pcapw_build_ip_tcp(uint8_t *out, size_t cap, const pcapw_tcp_t *t)
{
	if (t->optlen % 4 || t->optlen > 40) return 0;
	size_t thl = 20 + t->optlen;
	size_t iphl = t->ipv6 ? 40 : 20;
	size_t total = iphl + thl + t->len;
	if (total > cap) return 0;
	if (t->ipv6 ? (thl + t->len > 0xffff) : (total > 0xffff)) return 0;
	size_t alen = t->ipv6 ? 16 : 4;

	uint8_t *ip = out, *tcp = out + iphl;
	if (t->ipv6) {
		put32(ip, 0x60000000u);            /* version 6, traffic class 0, flow label 0 */
		put16(ip + 4, (uint16_t)(thl + t->len));
		ip[6] = 6;                          /* next header TCP */
		ip[7] = 64;                         /* hop limit */
		memcpy(ip + 8, t->src, 16);
		memcpy(ip + 24, t->dst, 16);
	} else {
		ip[0] = 0x45; ip[1] = 0;
		put16(ip + 2, (uint16_t)total);
		put16(ip + 4, t->ip_id);
		put16(ip + 6, 0x4000);              /* DF */
		ip[8] = 64; ip[9] = 6;
		put16(ip + 10, 0);
		memcpy(ip + 12, t->src, 4);
		memcpy(ip + 16, t->dst, 4);
		put16(ip + 10, pcapw_csum_fold(pcapw_csum_add(0, ip, 20)));
	}
	put16(tcp, t->sport);
	put16(tcp + 2, t->dport);
	put32(tcp + 4, t->seq);
	put32(tcp + 8, t->ack);
	tcp[12] = (uint8_t)((thl / 4) << 4);
	tcp[13] = t->flags;
	put16(tcp + 14, t->window);
	put16(tcp + 16, 0);
	put16(tcp + 18, 0);
	if (t->optlen) memcpy(tcp + 20, t->opts, t->optlen);
	if (t->len) memcpy(tcp + thl, t->payload, t->len);

	/* pseudo-header: addresses, zero, protocol, TCP length */
	uint32_t sum = 0;
	uint8_t ph[8];
	sum = pcapw_csum_add(sum, t->src, alen);
	sum = pcapw_csum_add(sum, t->dst, alen);
	if (t->ipv6) { put32(ph, (uint32_t)(thl + t->len)); put32(ph + 4, 6); sum = pcapw_csum_add(sum, ph, 8); }
	else { ph[0] = 0; ph[1] = 6; put16(ph + 2, (uint16_t)(thl + t->len)); sum = pcapw_csum_add(sum, ph, 4); }
	sum = pcapw_csum_add(sum, tcp, thl + t->len);
	put16(tcp + 16, pcapw_csum_fold(sum));
	return total;
}

int pcapw_write_tcp(pcapw_t *w, uint64_t ts_us, const pcapw_tcp_t *t)
{
	if (!w) return -1;
	size_t need = 24 + 60 + 60 + t->len;
	if (need > w->scratch_cap) {
		uint8_t *n = realloc(w->scratch, need);
		if (!n) return -1;
		w->scratch = n; w->scratch_cap = need;
	}
	int lh = pcapw_link_header(w->scratch, w->linktype, t->ipv6, t->outbound, t->src_mac, t->dst_mac, t->vlan);
	if (lh < 0) return -1;
	size_t n = pcapw_build_ip_tcp(w->scratch + lh, w->scratch_cap - (size_t)lh, t);
	if (!n) return -1;
	return pcapw_write(w, ts_us, w->scratch, (size_t)lh + n);
}

uint64_t pcapw_count(const pcapw_t *w) { return w ? w->count : 0; }

int pcapw_close(pcapw_t *w)
{
	if (!w) return 0;
	int rc = w->failed ? -1 : 0;
	if (w->fp && fclose(w->fp) != 0) rc = -1;
	free(w->scratch);
	free(w);
	return rc;
}
