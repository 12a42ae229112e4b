/*
 * tlsgen_out.c — writes a connection's segments as pcap packets through pcapw (addresses,
 * ports, SYN options, IP ids, time stamps), plus the unrelated time-stamp outlier frames
 * and the clock step of the ts_outlier / ts_step capture conditions.
 *
 * Why: the packet-level details of a capture (link type, VLAN, IPv6, time stamps) are
 * separate from how the TCP streams were produced; this is the only place they are set.
 */
#include "tlsgen_int.h"

#include <string.h>

/* ts_outlier: an unrelated UDP datagram 192.0.2.8:5353 -> 198.51.100.9:9 (or 2001:db8::8 ->
 * 2001:db8::9) with a small payload. */
static int write_udp(out_t *ow, uint64_t ts_us)
{
	const tlsgen_opts_t *o = ow->o;
	uint8_t f[128];
	int lh = pcapw_link_header(f, o->linktype, o->ipv6, 0, ow->mac[1], ow->mac[0], o->vlan ? 100 : 0);
	if (lh < 0) return -1;
	static const char pl[] = "tlsgen unrelated datagram";
	size_t plen = sizeof pl - 1, ulen = 8 + plen, p = (size_t)lh;
	uint8_t src[16] = { 0 }, dst[16] = { 0 };
	uint32_t sum = 0;
	if (o->ipv6) {
		static const uint8_t s6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 8 }, d6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 9 };
		memcpy(src, s6, 16); memcpy(dst, d6, 16);
		uint8_t *ip = f + p;
		memset(ip, 0, 40);
		ip[0] = 0x60; ip[4] = (uint8_t)(ulen >> 8); ip[5] = (uint8_t)ulen; ip[6] = 17; ip[7] = 64;
		memcpy(ip + 8, src, 16); memcpy(ip + 24, dst, 16);
		sum = pcapw_csum_add(sum, src, 16); sum = pcapw_csum_add(sum, dst, 16);
		p += 40;
	} else {
		static const uint8_t s4[4] = { 192, 0, 2, 8 }, d4[4] = { 198, 51, 100, 9 };
		memcpy(src, s4, 4); memcpy(dst, d4, 4);
		uint8_t *ip = f + p;
		memset(ip, 0, 20);
		size_t tot = 20 + ulen;
		ip[0] = 0x45; ip[2] = (uint8_t)(tot >> 8); ip[3] = (uint8_t)tot; ip[8] = 64; ip[9] = 17;
		memcpy(ip + 12, src, 4); memcpy(ip + 16, dst, 4);
		uint16_t c = pcapw_csum_fold(pcapw_csum_add(0, ip, 20));
		ip[10] = (uint8_t)(c >> 8); ip[11] = (uint8_t)c;
		sum = pcapw_csum_add(sum, src, 4); sum = pcapw_csum_add(sum, dst, 4);
		p += 20;
	}
	uint8_t *u = f + p;
	u[0] = 5353 >> 8; u[1] = 5353 & 0xff; u[2] = 0; u[3] = 9;
	u[4] = (uint8_t)(ulen >> 8); u[5] = (uint8_t)ulen; u[6] = u[7] = 0;
	memcpy(u + 8, pl, plen);
	uint8_t ph[4] = { 0, 17, (uint8_t)(ulen >> 8), (uint8_t)ulen };
	sum = pcapw_csum_add(sum, ph, 4);
	sum = pcapw_csum_add(sum, u, ulen);
	uint16_t c = pcapw_csum_fold(sum);
	if (!c) c = 0xffff;
	u[6] = (uint8_t)(c >> 8); u[7] = (uint8_t)c;
	return pcapw_write(ow->w, ts_us, f, p + ulen);
}

/* ts_outlier: an unrelated TCP pure ACK 192.0.2.7:40001 -> 198.51.100.9:8080 (v6: 2001:db8::7 -> ::9). */
static int write_unrelated_tcp(out_t *ow, uint64_t ts_us)
{
	const tlsgen_opts_t *o = ow->o;
	static const uint8_t s4[16] = { 192, 0, 2, 7 }, d4[16] = { 198, 51, 100, 9 };
	static const uint8_t s6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 }, d6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 9 };
	pcapw_tcp_t t = {
		.ipv6 = o->ipv6, .src = o->ipv6 ? s6 : s4, .dst = o->ipv6 ? d6 : d4,
		.sport = 40001, .dport = 8080, .seq = 0x12345678u, .ack = 0x9abcdef0u, .flags = PCAPW_ACK,
		.window = 512, .ip_id = 4242, .outbound = 0, .src_mac = ow->mac[1], .dst_mac = ow->mac[0],
		.vlan = o->vlan ? 100 : 0,
	};
	return pcapw_write_tcp(ow->w, ts_us, &t);
}


int tg_write_conn(out_t *ow, gconn_t *g, uint16_t cport, uint16_t sport, wextra_t *x)
{
	const tlsgen_opts_t *o = ow->o;
	size_t n = g->segs.n, at_future = n * 2 / 5, at_past = n * 3 / 5, at_step = n / 2;
	for (size_t i = 0; i < g->segs.n; i++) {
		const seg_t *s = &g->segs.v[i];
		if (x->outliers && (i == at_future || i == at_past)) {
			int fut = i == at_future;
			uint64_t ts = fut ? ow->ts_us + 3650ull * 86400ull * 1000000ull : ow->ts_us - 86400ull * 1000000ull;
			x->acc->ts_outlier_packet[fut ? 0 : 1] = (size_t)pcapw_count(ow->w);
			if ((fut ? write_unrelated_tcp(ow, ts) : write_udp(ow, ts)) != 0) return -1;
			x->acc->n_ts_outliers++;
		}
		if (x->step && i == at_step) {
			ow->ts_us -= 3600ull * 1000000ull;
			x->acc->ts_step_packet = (size_t)pcapw_count(ow->w);
			x->acc->ts_steps++;
		}
		if (s->stray && x->oc->n_stray < 2) x->oc->stray_packet[x->oc->n_stray++] = (size_t)pcapw_count(ow->w);
		int d = s->dir;
		uint8_t opts[12];
		pcapw_tcp_t t = {
			.ipv6 = o->ipv6, .src = ow->addr[d], .dst = ow->addr[!d],
			.sport = d ? sport : cport, .dport = d ? cport : sport,
			.seq = s->seq, .ack = (s->flags & PCAPW_ACK) ? s->ack : 0, .flags = s->flags,
			.window = 2048, .ip_id = ow->ip_id[d]++,
			.payload = s->len ? g->tls[d].p + s->off : NULL, .len = s->len,
			.outbound = d == 0, .src_mac = ow->mac[d], .dst_mac = ow->mac[!d],
			.vlan = o->vlan ? 100 : 0,
		};
		if (s->syn_opts) {
			uint16_t mss = (uint16_t)o->mss;
			uint8_t so[12] = { 2, 4, (uint8_t)(mss >> 8), (uint8_t)mss, 1, 1, 4, 2, 1, 3, 3, 7 };
			memcpy(opts, so, sizeof so);
			t.opts = opts; t.optlen = 12;
			t.window = 64240;
		}
		if (pcapw_write_tcp(ow->w, ow->ts_us, &t)) return -1;
		ow->ts_us += 100;
	}
	ow->ts_us += 900; /* small gap between connections */
	return 0;
}
