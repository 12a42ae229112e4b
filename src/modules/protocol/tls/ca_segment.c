/*
 * ca_segment.c — recovering the TCP segment of a captured packet from captagent's msg_t,
 * and deciding which capture thread may feed each flow.
 *
 * Why it is its own file: captagent hands protocol modules a msg_t, not a TCP segment. The
 * link type is not visible to modules, socket_pcap may replace msg->data with its own
 * reassembled copy (tcpdefrag), and several capture threads may see the same packet; all
 * of that has to be undone before the engine (tls_engine.h) can be fed. Contracts of the
 * exported functions are in ca_glue.h.
 *
 *  - Self-consistent header search: the TCP header ends at msg->hdr_len inside the frame at
 *    msg->cap_packet; each TCP header length whose data offset matches, preceded by an IPv4
 *    header (IHL, protocol TCP, not a fragment) or an IPv6 header (next header TCP), is a
 *    candidate; the one whose ports match rcinfo wins. The payload is sized from the IP
 *    header, not from msg->len (which counts Ethernet padding). Wire bytes are read only
 *    through cursors (cursor.h).
 *  - tcpdefrag=true (msg->data is socket_pcap's reassembled copy, not inside the frame):
 *    the frame at cap_packet is the last (PSH) segment, so the copy ends at that segment's
 *    seq + payload length and starts msg->len bytes earlier; it is fed at that sequence
 *    number. Without a usable frame (cap_packet NULL, fragments) the 5-tuple comes from
 *    rcinfo and the segment is treated as in order after the last one seen for that
 *    direction (the fallback seq table below, kept in step by segments with headers).
 *    tcpdefrag=false is the recommended setting.
 *  - Flow ownership (owner_ok): with overlapping socket_pcap profiles each flow is fed only
 *    by the first thread that saw it, so a message is never delivered once per thread.
 *
 *  - Raw IP fragments (socket_pcap reasm=false with ipv4fragments/ipv6fragments=true, so
 *    that its BPF filter passes the fragments without TCP ports): socket_pcap parses each
 *    fragment as if it were a whole TCP packet. find_fragment recognises them (a fragment IP
 *    header ending at hdr_len, or one TCP header before it, source address = rcinfo's) and
 *    the whole IP fragment goes to the engine, whose reassembly (ipfrag.c) completes the
 *    datagram and decodes its TCP segment. With reasm=true socket_pcap reassembles itself
 *    and hands a copy: the header-less path below, in order, is all that remains.
 *
 * Both tables are allocated on first use, guarded by their own locks, and freed at unload
 * (ca_segment_fini).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PTLS_FILE "ca_segment.c"
#include "ca_glue.h"
#include "cursor.h"

/* Slots of the header-less fallback sequence table. */
#define PTLS_SEQT_SIZE 4096u
/* Slots of the direction-ownership table (overlapping socket_pcap profiles). */
#define PTLS_OWNER_SLOTS 16384u

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

static struct {
	pthread_mutex_t seq_lock;
	struct seqent *seqt;        /* header-less fallback sequence table */
	pthread_mutex_t owner_lock;
	struct owner *owners;       /* which capture thread feeds each flow direction */
} TBL = {
	.seq_lock = PTHREAD_MUTEX_INITIALIZER,
	.owner_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* -------------------------------------------------------- TCP header search ---- */

/* Try the TCP header that ends at hdr_len with length hl, and an IP header right before
 * it. Fills s on success. Wire bytes are read only through cursors over [frame, caplen). */
static bool try_tcp(const uint8_t *frame, size_t caplen, size_t hdr_len, size_t hl, seg_t *s)
{
	if (hl > hdr_len) return false;
	size_t th_off = hdr_len - hl;
	cursor_t c = cur_init(frame, caplen);
	if (!cur_skip(&c, th_off)) return false;
	cursor_t th = cur_sub(&c, hl);
	uint16_t sport = cur_u16(&th), dport = cur_u16(&th);
	uint32_t seq = cur_u32(&th), ack = cur_u32(&th);
	uint8_t doff = cur_u8(&th), flags = cur_u8(&th);
	if (cur_failed(&th) || (size_t)(doff >> 4) * 4 != hl) return false;

	/* IPv4: header of ihl bytes ending at th_off, version 4, IHL matching, protocol TCP */
	for (size_t ihl = 20; ihl <= 60 && ihl <= th_off; ihl += 4) {
		cursor_t ic = cur_init(frame, caplen);
		if (!cur_skip(&ic, th_off - ihl)) continue;
		uint8_t vihl = cur_u8(&ic);
		if (vihl != (uint8_t)(0x40 | (ihl / 4))) continue;
		cur_skip(&ic, 1);
		uint16_t tot = cur_u16(&ic);
		cur_skip(&ic, 2);
		uint16_t frag = cur_u16(&ic);
		cur_skip(&ic, 1);
		uint8_t proto = cur_u8(&ic);
		cur_skip(&ic, 2);
		uint8_t src[4], dst[4];
		cur_copy(&ic, src, 4);
		cur_copy(&ic, dst, 4);
		if (cur_failed(&ic) || proto != 6 || (frag & 0x3fff) || tot < ihl + hl) continue;
		s->s.family = AF_INET;
		memset(s->src, 0, 16); memset(s->dst, 0, 16);
		memcpy(s->src, src, 4); memcpy(s->dst, dst, 4);
		s->frame_end_seq = seq + (uint32_t)(tot - ihl - hl);
		s->frame_payload_len = tot - ihl - hl;
		goto found;
	}
	/* IPv6: fixed 40-byte header ending at th_off, next header TCP */
	if (th_off >= 40) {
		cursor_t ic = cur_init(frame, caplen);
		if (cur_skip(&ic, th_off - 40)) {
			uint8_t v = cur_u8(&ic);
			cur_skip(&ic, 3);
			uint16_t plen = cur_u16(&ic);
			uint8_t nh = cur_u8(&ic);
			cur_skip(&ic, 1);
			uint8_t src[16], dst[16];
			cur_copy(&ic, src, 16);
			cur_copy(&ic, dst, 16);
			if (!cur_failed(&ic) && (v >> 4) == 6 && nh == 6 && plen >= hl) {
				s->s.family = AF_INET6;
				memcpy(s->src, src, 16); memcpy(s->dst, dst, 16);
				s->frame_end_seq = seq + (uint32_t)(plen - hl);
				s->frame_payload_len = plen - hl;
				goto found;
			}
		}
	}
	return false;
found:
	s->s.sport = sport;
	s->s.dport = dport;
	s->s.seq = seq;
	s->s.ack = ack;
	s->s.flags = flags;
	{
		/* payload present in the frame: IP payload length, capped by the capture length */
		size_t avail = caplen > hdr_len ? caplen - hdr_len : 0;
		if (s->frame_payload_len > avail) s->frame_payload_len = avail;
		cursor_t pc = cur_init(frame, caplen);
		cur_skip(&pc, hdr_len);
		s->frame_payload = cur_span(&pc, s->frame_payload_len);
		if (!s->frame_payload) { s->frame_payload_len = 0; s->frame_payload = frame; }
	}
	s->have_hdr = true;
	return true;
}

/* Find the frame's TCP header (see captagent-abi.md §d). When several header lengths are
 * self-consistent, prefer the one whose ports match rcinfo. */
static bool find_tcp_header(const msg_t *msg, seg_t *out)
{
	if (!msg->cap_packet || !msg->cap_header || msg->hdr_len < 40) return false;
	const struct ptls_pcap_pkthdr *ph = msg->cap_header;
	size_t caplen = ph->caplen;
	if (caplen < msg->hdr_len || caplen > (1u << 24)) return false;
	seg_t cand;
	bool have = false;
	for (size_t hl = 20; hl <= 60; hl += 4) {
		memset(&cand, 0, sizeof cand);
		if (!try_tcp(msg->cap_packet, caplen, msg->hdr_len, hl, &cand)) continue;
		bool ports = cand.s.sport == msg->rcinfo.src_port && cand.s.dport == msg->rcinfo.dst_port;
		if (!have || ports) { *out = cand; have = true; }
		if (ports) break;
	}
	return have;
}

/* ------------------------------------------------------ raw IP fragments ---- */

/* Is there an IPv4 / IPv6 fragment header at `off` in the frame whose source address is
 * rcinfo's? socket_pcap (reasm=false) parses a fragment like a whole packet: msg->data is
 * frame + hdr_len, hdr_len ends the IP header (+ the "TCP header" for a first fragment,
 * whose TCP header is real), IPv6 only with the Fragment header right after the fixed one. */
static bool try_frag(const msg_t *msg, const uint8_t *frame, size_t caplen, size_t off, size_t iphl, bool v6, seg_t *s)
{
	cursor_t c = cur_init(frame, caplen);
	if (!cur_skip(&c, off)) return false;
	cursor_t ip = c;
	uint8_t v = cur_u8(&c);
	uint8_t want[16] = { 0 }, src[16] = { 0 };
	size_t len;
	if (!v6) {                                      /* IPv4 */
		if (v != (uint8_t)(0x40 | (iphl / 4))) return false;
		cur_skip(&c, 1);
		size_t tot = cur_u16(&c);
		cur_skip(&c, 2);
		uint16_t frag = cur_u16(&c);
		cur_skip(&c, 1);
		uint8_t proto = cur_u8(&c);
		cur_skip(&c, 2);
		cur_copy(&c, src, 4);
		if (cur_failed(&c) || proto != 6 || !(frag & 0x3fff) || tot < iphl) return false;
		if (!msg->rcinfo.src_ip || inet_pton(AF_INET, msg->rcinfo.src_ip, want) != 1) return false;
		len = tot;
	} else {                                        /* IPv6 + Fragment header */
		if ((v >> 4) != 6) return false;
		cur_skip(&c, 3);
		size_t plen = cur_u16(&c);
		uint8_t nh = cur_u8(&c);
		cur_skip(&c, 1);
		cur_copy(&c, src, 16);
		cur_skip(&c, 16);
		uint8_t fnh = cur_u8(&c);
		cur_skip(&c, 1);
		uint16_t fo = cur_u16(&c);
		if (cur_failed(&c) || nh != 44 || fnh != 6 || !(fo & 0xfff9) || plen < 8) return false;
		if (!msg->rcinfo.src_ip || inet_pton(AF_INET6, msg->rcinfo.src_ip, want) != 1) return false;
		len = 40 + plen;
	}
	if (memcmp(src, want, 16)) return false;
	size_t avail = cur_left(&ip);
	if (len > avail) len = avail;          /* cut by the snap length: the engine counts it */
	s->frag_ip = cur_span(&ip, len);
	s->frag_len = len;
	return s->frag_ip != NULL;
}

static bool find_fragment(const msg_t *msg, seg_t *s)
{
	if (!msg->cap_packet || !msg->cap_header || !msg->data) return false;
	const struct ptls_pcap_pkthdr *ph = msg->cap_header;
	size_t caplen = ph->caplen, hl = msg->hdr_len;
	if (caplen < hl || caplen > (1u << 24)) return false;
	/* only when msg->data is the frame's own bytes (socket_pcap's reasm=true gives a
	 * reassembled copy: that one goes the header-less way) */
	if ((const uint8_t *)msg->data != (const uint8_t *)msg->cap_packet + hl) return false;
	const uint8_t *frame = msg->cap_packet;
	/* the TCP header length of a first fragment, from the data offset right before data */
	size_t thl[9];
	int nt = 0;
	for (size_t t = 20; t <= 60; t += 4) {
		cursor_t c = cur_init(frame, caplen);
		if (t > hl || !cur_skip(&c, hl - t + 12)) continue;
		if ((size_t)(cur_u8(&c) >> 4) * 4 == t) thl[nt++] = t;
	}
	for (int k = -1; k < nt; k++) {
		size_t tcp = k < 0 ? 0 : thl[k];
		for (size_t iphl = 20; iphl <= 60; iphl += 4)
			if (tcp + iphl <= hl && try_frag(msg, frame, caplen, hl - tcp - iphl, iphl, false, s)) return true;
		if (tcp + 48 <= hl && try_frag(msg, frame, caplen, hl - tcp - 48, 48, true, s)) return true;
	}
	return false;
}

/* ------------------------------------------------- header-less fallback ---- */

/* Header-less fallback: per-direction "next sequence number" table keyed by 5-tuple. */
struct seqent {
	bool used;
	uint8_t fam;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t next;
};

static uint32_t seq_hash(const seg_t *s)
{
	uint32_t h = 2166136261u;
	const uint8_t *parts[2] = { s->src, s->dst };
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 16; j++) h = (h ^ parts[i][j]) * 16777619u;
	h = (h ^ s->s.sport) * 16777619u;
	h = (h ^ s->s.dport) * 16777619u;
	return h % PTLS_SEQT_SIZE;
}

/* Give a header-less segment a sequence number: in order after the last one seen for its
 * direction (SYN starts a fresh numbering). Returns false if out of memory. */
static bool seq_assign(seg_t *s, size_t len)
{
	pthread_mutex_lock(&TBL.seq_lock);
	if (!TBL.seqt) TBL.seqt = calloc(PTLS_SEQT_SIZE, sizeof *TBL.seqt);
	if (!TBL.seqt) { pthread_mutex_unlock(&TBL.seq_lock); return false; }
	struct seqent *e = &TBL.seqt[seq_hash(s)];
	bool same = e->used && e->fam == s->s.family && e->sport == s->s.sport &&
	            e->dport == s->s.dport && !memcmp(e->src, s->src, 16) && !memcmp(e->dst, s->dst, 16);
	if (!same || (s->s.flags & TH_SYN)) {
		e->used = true;
		e->fam = (uint8_t)s->s.family;
		memcpy(e->src, s->src, 16);
		memcpy(e->dst, s->dst, 16);
		e->sport = s->s.sport;
		e->dport = s->s.dport;
		e->next = (s->s.flags & TH_SYN) ? 0 : 1;
	}
	s->s.seq = e->next;
	e->next += (uint32_t)len + ((s->s.flags & (TH_SYN | TH_FIN)) ? 1u : 0u);
	pthread_mutex_unlock(&TBL.seq_lock);
	return true;
}

/* Record where a segment with a known sequence number ends (keeps the fallback table in
 * step when header-less and normal segments of one flow mix). Only updates known entries. */
static void seq_note(const seg_t *s, uint32_t next)
{
	if (!__atomic_load_n(&TBL.seqt, __ATOMIC_RELAXED)) return;
	pthread_mutex_lock(&TBL.seq_lock);
	struct seqent *e = &TBL.seqt[seq_hash(s)];
	if (e->used && e->fam == s->s.family && e->sport == s->s.sport && e->dport == s->s.dport &&
	    !memcmp(e->src, s->src, 16) && !memcmp(e->dst, s->dst, 16))
		e->next = next;
	pthread_mutex_unlock(&TBL.seq_lock);
}

/* ca_msg_to_segment: see ca_glue.h. */
bool ca_msg_to_segment(const msg_t *msg, seg_t *s)
{
	memset(s, 0, sizeof *s);
	if (msg->rcinfo.ip_proto && msg->rcinfo.ip_proto != 6) return false;
	if (find_fragment(msg, s)) return true;
	bool have = find_tcp_header(msg, s);
	const uint8_t *data = msg->data;
	size_t dlen = data ? msg->len : 0;

	if (have) {
		if (dlen == 0 || data == s->frame_payload ||
		    (dlen >= s->frame_payload_len && dlen - s->frame_payload_len < 64 &&
		     s->frame_payload_len && !memcmp(data, s->frame_payload, s->frame_payload_len))) {
			/* the frame's own segment (tcpdefrag=false, or a copy of it) */
			s->s.payload = s->frame_payload_len ? s->frame_payload : NULL;
			s->s.len = s->frame_payload_len;
		} else {
			/* socket_pcap's tcpdefrag copy: it ends where the frame's (PSH) segment ends */
			CINC(segments_defrag);
			s->s.payload = data;
			s->s.len = dlen;
			s->s.seq = s->frame_end_seq - (uint32_t)dlen;
			s->s.flags &= (uint8_t)~TH_SYN;
		}
		seq_note(s, s->s.seq + (uint32_t)s->s.len +
		            ((s->s.flags & (TH_SYN | TH_FIN)) ? 1u : 0u));
	} else {
		/* no usable frame: 5-tuple from rcinfo, sequence in order */
		CINC(segments_nohdr);
		if (!msg->rcinfo.src_ip || !msg->rcinfo.dst_ip) return false;
		int fam = msg->rcinfo.ip_family == AF_INET6 ? AF_INET6 : AF_INET;
		if (inet_pton(fam, msg->rcinfo.src_ip, s->src) != 1 ||
		    inet_pton(fam, msg->rcinfo.dst_ip, s->dst) != 1) {
			fam = fam == AF_INET ? AF_INET6 : AF_INET;
			memset(s->src, 0, 16); memset(s->dst, 0, 16);
			if (inet_pton(fam, msg->rcinfo.src_ip, s->src) != 1 ||
			    inet_pton(fam, msg->rcinfo.dst_ip, s->dst) != 1)
				return false;
		}
		s->s.family = fam;
		s->s.sport = msg->rcinfo.src_port;
		s->s.dport = msg->rcinfo.dst_port;
		s->s.flags = msg->tcpflag ? msg->tcpflag : (dlen ? TH_ACK : 0);
		s->s.payload = dlen ? data : NULL;
		s->s.len = dlen;
		if (!seq_assign(s, dlen)) return false;
	}
	s->s.src_ip = s->src;
	s->s.dst_ip = s->dst;
	return true;
}

/* ------------------------------------------------------- flow ownership ---- */

/* Flow ownership. socket_pcap runs one thread per profile; with overlapping filters (two
 * interfaces, "any" plus a NIC, ...) the same packet reaches parse_tls once per thread.
 * Feeding every copy is only harmless while the threads stay in step: a thread that lags
 * replays a finished connection as a new one (every message delivered again), and two
 * threads feeding the two directions with a time skew break the handshake. So each flow
 * (per engine) belongs to the first thread that feeds it; other threads' copies are
 * ignored (false) until the owner has been silent for flow-timeout seconds of capture
 * time. Consequence: both directions of a connection must be visible to one profile
 * (asymmetric routing: capture it on "any" or a bond, not on two profiles). */
struct owner {
	bool used;
	uint8_t fam;
	const void *eng;
	uint8_t a_ip[16], b_ip[16];     /* endpoints in a canonical order */
	uint16_t a_port, b_port;
	pthread_t tid;
	double last;
};

/* Canonical (a <= b) endpoint order of a segment's flow. */
static void flow_canon(const seg_t *s, const uint8_t **aip, uint16_t *ap, const uint8_t **bip,
                       uint16_t *bp)
{
	int c = memcmp(s->src, s->dst, 16);
	bool swap = c > 0 || (c == 0 && s->s.sport > s->s.dport);
	*aip = swap ? s->dst : s->src;
	*bip = swap ? s->src : s->dst;
	*ap = swap ? s->s.dport : s->s.sport;
	*bp = swap ? s->s.sport : s->s.dport;
}

static uint32_t owner_hash(const void *eng, const uint8_t *aip, uint16_t ap, const uint8_t *bip,
                           uint16_t bp)
{
	uint32_t h = 2166136261u;
	for (int j = 0; j < 16; j++) h = (h ^ aip[j]) * 16777619u;
	for (int j = 0; j < 16; j++) h = (h ^ bip[j]) * 16777619u;
	h = (h ^ ap) * 16777619u;
	h = (h ^ bp) * 16777619u;
	h ^= (uint32_t)((uintptr_t)eng >> 4) * 40503u;
	return h % PTLS_OWNER_SLOTS;
}

/* ca_owner_ok: see ca_glue.h. */
bool ca_owner_ok(const ectx_t *e, const seg_t *s, double ts)
{
	const uint8_t *aip, *bip;
	uint16_t ap, bp;
	flow_canon(s, &aip, &ap, &bip, &bp);
	pthread_mutex_lock(&TBL.owner_lock);
	if (!TBL.owners) TBL.owners = calloc(PTLS_OWNER_SLOTS, sizeof *TBL.owners);
	if (!TBL.owners) { pthread_mutex_unlock(&TBL.owner_lock); return true; }
	struct owner *o = &TBL.owners[owner_hash(e->eng, aip, ap, bip, bp)];
	pthread_t self = pthread_self();
	bool same = o->used && o->eng == e->eng && o->fam == s->s.family && o->a_port == ap &&
	            o->b_port == bp && !memcmp(o->a_ip, aip, 16) && !memcmp(o->b_ip, bip, 16);
	bool ok;
	if (same && !pthread_equal(o->tid, self) && ts <= o->last + (double)e->flow_timeout) {
		ok = false;
	} else {
		if (!same) {
			o->used = true;
			o->eng = e->eng;
			o->fam = (uint8_t)s->s.family;
			memcpy(o->a_ip, aip, 16);
			memcpy(o->b_ip, bip, 16);
			o->a_port = ap;
			o->b_port = bp;
			o->last = ts;
		}
		o->tid = self;
		if (ts > o->last) o->last = ts;
		ok = true;
	}
	pthread_mutex_unlock(&TBL.owner_lock);
	return ok;
}

/* ca_msg_time: see ca_glue.h. */
double ca_msg_time(const msg_t *msg)
{
	if (msg->rcinfo.time_sec || msg->rcinfo.time_usec)
		return (double)msg->rcinfo.time_sec + (double)msg->rcinfo.time_usec / 1e6;
	if (msg->cap_header) {
		const struct ptls_pcap_pkthdr *ph = msg->cap_header;
		return (double)ph->ts.tv_sec + (double)ph->ts.tv_usec / 1e6;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* ca_segment_fini: see ca_glue.h. */
void ca_segment_fini(void)
{
	pthread_mutex_lock(&TBL.seq_lock);
	free(TBL.seqt);
	TBL.seqt = NULL;
	pthread_mutex_unlock(&TBL.seq_lock);
	pthread_mutex_lock(&TBL.owner_lock);
	free(TBL.owners);
	TBL.owners = NULL;
	pthread_mutex_unlock(&TBL.owner_lock);
}
