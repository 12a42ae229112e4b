/*
 * modhost_replay.c — replays a pcap through the capture plan with msg_t built exactly as
 * captagent's socket_pcap builds them: cap_packet/cap_header, hdr_len = link + VLAN + IP +
 * TCP headers, len from caplen (Ethernet frames padded to 60 bytes like on the wire), data
 * = cap_packet + hdr_len, tcpflag, rcinfo strings in per-packet stack buffers, pcap time
 * stamps; optionally its tcpdefrag=true mode (payloads of ACK segments appended in arrival
 * order until PSH, like tcpreasm.c) or a source without the captured frame.
 *
 * Why: the module must cope with what captagent really hands it, including its quirks
 * (padding counted as payload, fragments without a TCP header, reassembled buffers).
 */
#include "modhost.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cursor.h"

typedef struct frameinfo {
	int ok;
	int family;
	size_t hdr_len;             /* link + vlan + ip + tcp */
	uint16_t sport, dport;
	uint8_t flags;
	uint8_t src[16], dst[16];
	size_t payload_len;         /* from caplen, like socket_pcap (padding included) */
	size_t true_len;            /* from the IP length */
} frameinfo_t;

static size_t link_offset(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB: return 14;
	case DLT_LINUX_SLL: return 16;
	case 276: return 20;        /* DLT_LINUX_SLL2 */
	case DLT_NULL: case DLT_LOOP: return 4;
	default: return 0;          /* raw IP */
	}
}

/* Parse a frame like callback_proto does (its offsets, not a general parser). */
static frameinfo_t frame_parse(int dlt, const uint8_t *p, size_t caplen)
{
	frameinfo_t f;
	memset(&f, 0, sizeof f);
	size_t off = link_offset(dlt);
	cursor_t c = cur_init(p, caplen);
	if (dlt == DLT_EN10MB) {
		cur_skip(&c, 12);
		uint16_t et = cur_u16(&c);
		if (et == 0x8100) { off += 4; cur_skip(&c, 2); et = cur_u16(&c); }
		(void)et;
	}
	c = cur_init(p, caplen);
	if (!cur_skip(&c, off)) return f;
	cursor_t ip = cur_rest(&c);
	uint8_t v = cur_u8(&ip);
	size_t ihl, ipl = 0;
	int nonfirst = 0;           /* socket_pcap: a fragment with an offset has no TCP header */
	if ((v >> 4) == 4) {
		ihl = (size_t)(v & 15) * 4;
		cur_skip(&ip, 1);
		ipl = cur_u16(&ip);
		cur_skip(&ip, 2);
		nonfirst = (cur_u16(&ip) & 0x1fff) != 0;
		cur_skip(&ip, 1);
		if (cur_u8(&ip) != 6) return f;
		cur_skip(&ip, 2);
		cur_copy(&ip, f.src, 4);
		cur_copy(&ip, f.dst, 4);
		f.family = AF_INET;
	} else if ((v >> 4) == 6) {
		ihl = 40;
		cur_skip(&ip, 3);
		ipl = (size_t)cur_u16(&ip) + 40;
		uint8_t nh = cur_u8(&ip);
		cur_skip(&ip, 1);
		cur_copy(&ip, f.src, 16);
		cur_copy(&ip, f.dst, 16);
		if (nh == 44) {             /* socket_pcap: Fragment header right after, like here */
			nh = cur_u8(&ip);
			cur_skip(&ip, 1);
			nonfirst = (cur_u16(&ip) & 0xfff8) != 0;
			ihl = 48;
		}
		if (nh != 6) return f;
		f.family = AF_INET6;
	} else {
		return f;
	}
	c = cur_init(p, caplen);
	cur_skip(&c, off + ihl);
	f.sport = cur_u16(&c);
	f.dport = cur_u16(&c);
	cur_skip(&c, 8);
	size_t thl = (size_t)(cur_u8(&c) >> 4) * 4;
	f.flags = cur_u8(&c);
	if (nonfirst) thl = 0;      /* ports and flags stay whatever bytes were there */
	if (cur_failed(&c) && !nonfirst) return f;
	f.hdr_len = off + ihl + thl;
	f.payload_len = caplen > f.hdr_len ? caplen - f.hdr_len : 0;
	f.true_len = ipl > ihl + thl ? ipl - ihl - thl : 0;
	if (f.true_len > f.payload_len) f.true_len = f.payload_len;
	f.ok = 1;
	return f;
}

/* tcpreasm.c simulation: per 4-tuple buffer; appended until PSH; a PSH segment whose
 * length equals the first one's is held back. Returns a malloc'd buffer or NULL. */
typedef struct reasm {
	int used;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint8_t *buf;
	size_t len, first;
} reasm_t;
static __thread reasm_t rs[64];

static uint8_t *defrag_next(const frameinfo_t *f, const uint8_t *data, size_t len, int psh,
                            size_t *out_len)
{
	reasm_t *e = NULL, *freeslot = NULL;
	for (int i = 0; i < 64; i++) {
		if (rs[i].used && rs[i].sport == f->sport && rs[i].dport == f->dport &&
		    !memcmp(rs[i].src, f->src, 16) && !memcmp(rs[i].dst, f->dst, 16)) { e = &rs[i]; break; }
		if (!rs[i].used && !freeslot) freeslot = &rs[i];
	}
	if (psh && !e) {
		uint8_t *r = malloc(len + 10);
		memcpy(r, data, len);
		*out_len = len;
		return r;
	}
	if (!e) {
		e = freeslot;
		memset(e, 0, sizeof *e);
		e->used = 1;
		memcpy(e->src, f->src, 16);
		memcpy(e->dst, f->dst, 16);
		e->sport = f->sport;
		e->dport = f->dport;
		e->first = len;
	}
	e->buf = realloc(e->buf, e->len + len + 10);
	memcpy(e->buf + e->len, data, len);
	e->len += len;
	if (!psh) return NULL;
	if (e->first == len) return NULL;
	uint8_t *r = e->buf;
	*out_len = e->len;
	e->buf = NULL;
	e->used = 0;
	return r;
}

static void defrag_reset(void)
{
	for (int i = 0; i < 64; i++) { free(rs[i].buf); memset(&rs[i], 0, sizeof rs[i]); }
}



/* Replay a pcap through the plan (or, in MODE_DIRECT, by calling parse_tls directly and
 * recording a true return — used with a plan that lacks parse_tls, for the fallback). */
int replay(const char *pcap_path, int mode, runstats_t *st)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(pcap_path, eb);
	if (!pc) { tap_diag("pcap %s: %s", pcap_path, eb); return -1; }
	int dlt = pcap_datalink(pc);
	struct pcap_pkthdr *ph;
	const u_char *pkt;
	memset(st, 0, sizeof *st);
	defrag_reset();
	while (pcap_next_ex(pc, &ph, &pkt) == 1) {
		st->packets++;
		/* Ethernet minimum frame: pad to 60 bytes like a NIC does */
		uint8_t frame[70000];
		struct pcap_pkthdr hdr = *ph;
		size_t caplen = ph->caplen < sizeof frame ? ph->caplen : sizeof frame;
		memcpy(frame, pkt, caplen);
		if (dlt == DLT_EN10MB && caplen < 60) {
			memset(frame + caplen, 0, 60 - caplen);
			caplen = 60;
			hdr.caplen = hdr.len = 60;
		}
		frameinfo_t f = frame_parse(dlt, frame, caplen);
		if (!f.ok) continue;

		msg_t msg;
		struct run_act_ctx ctx;
		char ip_src[INET6_ADDRSTRLEN + 1], ip_dst[INET6_ADDRSTRLEN + 1];
		char mac_src[20] = "00-00-00-00-00-01", mac_dst[20] = "00-00-00-00-00-02";
		memset(&msg, 0, sizeof msg);
		memset(&ctx, 0, sizeof ctx);
		inet_ntop(f.family, f.src, ip_src, sizeof ip_src);
		inet_ntop(f.family, f.dst, ip_dst, sizeof ip_dst);
		msg.cap_packet = frame;
		msg.cap_header = &hdr;
		msg.hdr_len = (uint16_t)f.hdr_len;
		msg.rcinfo.src_mac = mac_src;
		msg.rcinfo.dst_mac = mac_dst;
		msg.rcinfo.src_ip = ip_src;
		msg.rcinfo.dst_ip = ip_dst;
		msg.rcinfo.src_port = f.sport;
		msg.rcinfo.dst_port = f.dport;
		msg.rcinfo.ip_family = (uint8_t)f.family;
		msg.rcinfo.ip_proto = 6;
		msg.rcinfo.time_sec = (uint32_t)hdr.ts.tv_sec;
		msg.rcinfo.time_usec = (uint32_t)hdr.ts.tv_usec;
		msg.tcpflag = f.flags;
		msg.parse_it = 1;
		uint8_t *defrag_buf = NULL;
		size_t plen = f.payload_len;

		if (mode == MODE_DEFRAG && plen > 0 && (f.flags & 0x10)) {
			size_t nl = 0;
			defrag_buf = defrag_next(&f, frame + f.hdr_len, plen, (f.flags & 0x08) != 0, &nl);
			if (!defrag_buf) continue;      /* swallowed until PSH, like tcpreasm */
			msg.data = defrag_buf;
			msg.len = (uint32_t)nl;
		} else {
			msg.data = frame + f.hdr_len;
			msg.len = (uint32_t)plen;
		}
		if (mode == MODE_NOFRAME) {          /* a source without the captured frame */
			msg.cap_packet = NULL;
			msg.cap_header = NULL;
			uint8_t *copy = malloc(f.true_len + 1);
			memcpy(copy, frame + f.hdr_len, f.true_len);
			defrag_buf = copy;
			msg.data = copy;
			msg.len = (uint32_t)f.true_len;   /* such a source has no Ethernet padding */
		}
		outer_msg = &msg;
		st->calls++;
		int r;
		if (mode == MODE_DIRECT) {
			r = fn_parse_tls0((msg_t *)&msg, NULL, NULL);
			if (r > 0) rec_add(&msg, 0);
		} else {
			r = run_actions(&ctx, main_ct.clist[0], &msg);
			r = 1;   /* the plan ends with drop; parse_tls results are checked in do_action */
		}
		if (mode == MODE_DIRECT) {
			if (r > 0) st->ret_pos++; else if (r < 0) st->ret_neg++; else st->ret_zero++;
		}
		outer_msg = NULL;
		free(defrag_buf);
	}
	pcap_close(pc);
	defrag_reset();
	return 0;
}


void *replay_thread(void *p)
{
	struct targ *a = p;
	replay(a->pcap, a->mode, &a->st);
	return NULL;
}
