/*
 * pcap_out.c — writes decrypted TLS flows as synthetic plain-TCP connections in a pcap
 * file (`captls -w`), so packet tools dissect the plaintext (SIP, HTTP) natively.
 *
 * Why synthetic rather than patched packets: putting plaintext into the captured
 * packets' headers (as the TLS interception proxy of Erlacher et al. does) leaves IP
 * lengths, sequence numbers and checksums inconsistent, and TLS record framing makes the
 * plaintext no longer line up with the original segments. Instead each TLS flow gets a
 * fresh TCP connection between the same addresses and ports: a 3-way handshake at its
 * first message, then the plaintext in stream order with per-direction sequence numbers
 * that advance by exactly the plaintext length, ACK numbers equal to the other side's
 * next sequence number, correct IPv4 header and TCP (pseudo-header) checksums, and a FIN
 * exchange when the flow ends. A pure ACK from the receiver is interleaved whenever more
 * than one window (65535) would be in flight, so analyzers report no "window full".
 *
 * The pcap file format (classic libpcap, microsecond timestamps, native byte order) is
 * written directly with stdio so every write error is seen and reported. Per packet the
 * cost is one pass over the payload for the TCP checksum (32-bit words, 64-bit
 * accumulators) and its copy into the stdio buffer; the payload is never staged.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pcap_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SNAPLEN 262144u
#define ETH_LEN 14u
#define IP4_LEN 20u
#define IP6_LEN 40u
#define TCP_LEN 20u
#define WINDOW 65535u

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_PSH 0x08
#define TH_ACK 0x10

typedef struct pflow {
	uint64_t id;
	tls_endpoints_t ep;
	uint32_t seq[2];        /* next sequence number sent by client (C2S) / server (S2C) */
	uint32_t acked[2];      /* highest ack the other side has sent for direction d */
	double last_ts;
	struct pflow *next;
} pflow_t;

struct pcap_out {
	FILE *f;
	bool own;               /* fclose at the end */
	bool autoflush;
	int linktype;
	char path[256];
	char err[320];
	bool failed;
	uint16_t ip_id;
	double max_ts;          /* latest timestamp written */
	pflow_t **buckets;
	size_t nbuckets, nflows;
	uint8_t *pkt;           /* scratch for one packet's record and headers */
	char *iobuf;            /* stdio buffer of a file we opened (freed after fclose) */
	pcap_out_stats_t st;
};

/* ---------------------------------------------------------------- helpers */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* One's-complement sum of 16-bit big-endian words (odd trailing byte padded with 0),
 * added to sum (which stays below 2^31 for our few calls per packet). RFC 1071: the
 * sum is byte-order independent, so 32-bit native-order words are accumulated in 64
 * bits (no carry can be lost below 16 GiB), folded to 16 bits, then byte-swapped to
 * big-endian order on little-endian hosts. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	uint64_t a0 = 0, a1 = 0;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint32_t w0, w1;
		memcpy(&w0, p + i, 4);
		memcpy(&w1, p + i + 4, 4);
		a0 += w0;
		a1 += w1;
	}
	a0 += a1;
	for (; i + 2 <= n; i += 2) {
		uint16_t h;
		memcpy(&h, p + i, 2);
		a0 += h;
	}
	while (a0 >> 16) a0 = (a0 & 0xffff) + (a0 >> 16);
	uint16_t f = (uint16_t)a0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	f = (uint16_t)(f << 8 | f >> 8);
#endif
	sum += f;
	if (i < n) sum += (uint32_t)p[i] << 8;
	return sum;
}
static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void set_error(pcap_out_t *w, int e)
{
	if (w->failed) return;
	w->failed = true;
	snprintf(w->err, sizeof w->err, "%s: %s", w->path, strerror(e ? e : EIO));
}

static int write_bytes(pcap_out_t *w, const void *p, size_t n)
{
	if (w->failed) return -1;
	errno = 0;
	if (fwrite(p, 1, n, w->f) != n) { set_error(w, errno); return -1; }
	w->st.bytes += n;
	return 0;
}

/* ---------------------------------------------------------------- flow table */

static size_t bucket_of(const pcap_out_t *w, uint64_t id) { return (size_t)(mix64(id) & (w->nbuckets - 1)); }

static pflow_t *flow_find(pcap_out_t *w, uint64_t id, pflow_t ***link)
{
	pflow_t **pp = &w->buckets[bucket_of(w, id)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) break;
	if (link) *link = pp;
	return *pp;
}

static int flow_table_grow(pcap_out_t *w)
{
	size_t nb = w->nbuckets * 2;
	pflow_t **b = calloc(nb, sizeof *b);
	if (!b) return -1;
	for (size_t i = 0; i < w->nbuckets; i++) {
		pflow_t *f = w->buckets[i], *nx;
		for (; f; f = nx) {
			nx = f->next;
			size_t k = (size_t)(mix64(f->id) & (nb - 1));
			f->next = b[k];
			b[k] = f;
		}
	}
	free(w->buckets);
	w->buckets = b;
	w->nbuckets = nb;
	return 0;
}

/* ---------------------------------------------------------------- packets */

/* Write one TCP segment of flow f from direction dir's sender. */
static int write_segment(pcap_out_t *w, const pflow_t *f, tls_dir_t dir, uint8_t flags,
                         uint32_t seq, uint32_t ack, const uint8_t *data, size_t len, double ts)
{
	const tls_endpoints_t *ep = &f->ep;
	bool v6 = ep->family == AF_INET6;
	const uint8_t *sip = dir == TLS_DIR_C2S ? ep->client_ip : ep->server_ip;
	const uint8_t *dip = dir == TLS_DIR_C2S ? ep->server_ip : ep->client_ip;
	uint16_t sport = dir == TLS_DIR_C2S ? ep->client_port : ep->server_port;
	uint16_t dport = dir == TLS_DIR_C2S ? ep->server_port : ep->client_port;
	size_t l2 = w->linktype == PCAP_OUT_ETHERNET ? ETH_LEN : 0;
	size_t l3 = v6 ? IP6_LEN : IP4_LEN;
	size_t tcplen = TCP_LEN + len;
	size_t total = l2 + l3 + tcplen;
	uint8_t *p = w->pkt + 16;          /* after the pcap record header */

	if (l2) {
		/* Locally administered MACs: ...:01 for the client, ...:02 for the server. */
		static const uint8_t cmac[6] = { 0x02, 0, 0, 0, 0, 0x01 }, smac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
		memcpy(p, dir == TLS_DIR_C2S ? smac : cmac, 6);
		memcpy(p + 6, dir == TLS_DIR_C2S ? cmac : smac, 6);
		put16(p + 12, v6 ? 0x86dd : 0x0800);
	}
	uint8_t *ip = p + l2;
	uint8_t *tcp = ip + l3;
	if (v6) {
		put32(ip, 0x60000000u);
		put16(ip + 4, (uint16_t)tcplen);
		ip[6] = 6;                          /* next header: TCP */
		ip[7] = 64;                         /* hop limit */
		memcpy(ip + 8, sip, 16);
		memcpy(ip + 24, dip, 16);
	} else {
		ip[0] = 0x45;
		ip[1] = 0;
		put16(ip + 2, (uint16_t)(IP4_LEN + tcplen));
		put16(ip + 4, w->ip_id++);
		put16(ip + 6, 0x4000);              /* DF */
		ip[8] = 64;                         /* TTL */
		ip[9] = 6;
		put16(ip + 10, 0);
		memcpy(ip + 12, sip, 4);
		memcpy(ip + 16, dip, 4);
		put16(ip + 10, csum_fold(csum_add(0, ip, IP4_LEN)));
	}
	put16(tcp, sport);
	put16(tcp + 2, dport);
	put32(tcp + 4, seq);
	put32(tcp + 8, ack);
	tcp[12] = (TCP_LEN / 4) << 4;
	tcp[13] = flags;
	put16(tcp + 14, WINDOW);
	put16(tcp + 16, 0);                     /* checksum, below */
	put16(tcp + 18, 0);                     /* urgent pointer */

	uint32_t sum = 0;
	uint8_t ph[4];
	if (v6) {
		sum = csum_add(sum, sip, 16);
		sum = csum_add(sum, dip, 16);
		put32(ph, (uint32_t)tcplen);
		sum = csum_add(sum, ph, 4);
		sum += 6;
	} else {
		sum = csum_add(sum, sip, 4);
		sum = csum_add(sum, dip, 4);
		sum += 6;
		sum += (uint32_t)tcplen;
	}
	sum = csum_add(sum, tcp, TCP_LEN);
	if (len) sum = csum_add(sum, data, len);  /* TCP_LEN is even: the payload's words line up */
	put16(tcp + 16, csum_fold(sum));

	/* Record header: ts sec, ts usec, captured length, original length. */
	uint32_t rec[4];
	uint32_t sec = 0, us = 0;
	if (ts >= 4294967295.0) sec = UINT32_MAX;
	else if (ts > 0) {
		sec = (uint32_t)ts;                     /* truncation = floor for ts > 0 */
		us = (uint32_t)((ts - sec) * 1e6 + 0.5);
		if (us >= 1000000) { us -= 1000000; sec++; }
	}
	rec[0] = sec;
	rec[1] = us;
	rec[2] = rec[3] = (uint32_t)total;
	memcpy(w->pkt, rec, sizeof rec);
	/* two writes: record + headers from the scratch buffer, the payload straight from
	 * the caller (stdio buffers both: 1 MiB for files and stdout) */
	if (write_bytes(w, w->pkt, sizeof rec + total - len) < 0 || (len && write_bytes(w, data, len) < 0)) return -1;
	if (ts > w->max_ts) w->max_ts = ts;
	w->st.packets++;
	return 0;
}

static tls_dir_t other(tls_dir_t d) { return d == TLS_DIR_C2S ? TLS_DIR_S2C : TLS_DIR_C2S; }

/* Segment from dir's sender with the current seq/ack and no payload. */
static int write_ctl(pcap_out_t *w, pflow_t *f, tls_dir_t dir, uint8_t flags, double ts)
{
	uint32_t ack = f->seq[other(dir)];
	if (write_segment(w, f, dir, flags, f->seq[dir], ack, NULL, 0, ts) < 0) return -1;
	f->acked[other(dir)] = ack;
	if (flags & (TH_SYN | TH_FIN)) f->seq[dir]++;
	return 0;
}

static pflow_t *flow_open(pcap_out_t *w, uint64_t id, const tls_endpoints_t *ep, double ts)
{
	if (ep->family != AF_INET && ep->family != AF_INET6) return NULL;
	if (w->nflows >= w->nbuckets && flow_table_grow(w) < 0) return NULL;
	pflow_t *f = calloc(1, sizeof *f);
	if (!f) return NULL;
	f->id = id;
	f->ep = *ep;
	uint64_t h = mix64(id ^ 0x5ca1ab1eULL);
	f->seq[TLS_DIR_C2S] = (uint32_t)h;
	f->seq[TLS_DIR_S2C] = (uint32_t)(h >> 32);
	f->last_ts = ts;
	size_t k = bucket_of(w, id);
	f->next = w->buckets[k];
	w->buckets[k] = f;
	w->nflows++;
	w->st.flows_opened++;
	/* SYN carries no ack: write it by hand, then SYN-ACK and ACK. */
	if (write_segment(w, f, TLS_DIR_C2S, TH_SYN, f->seq[TLS_DIR_C2S], 0, NULL, 0, ts) < 0) return f;
	f->seq[TLS_DIR_C2S]++;
	if (write_ctl(w, f, TLS_DIR_S2C, TH_SYN | TH_ACK, ts) < 0) return f;
	write_ctl(w, f, TLS_DIR_C2S, TH_ACK, ts);
	return f;
}

/* ---------------------------------------------------------------- API */

static pcap_out_t *writer_new(FILE *f, bool own, const char *name, int linktype, char *err, size_t errlen)
{
	if (linktype != PCAP_OUT_ETHERNET && linktype != PCAP_OUT_RAW) {
		snprintf(err, errlen, "%s: unsupported link type %d", name, linktype);
		if (own) fclose(f);
		return NULL;
	}
	pcap_out_t *w = calloc(1, sizeof *w);
	if (w) {
		w->nbuckets = 64;
		w->buckets = calloc(w->nbuckets, sizeof *w->buckets);
		w->pkt = malloc(16 + ETH_LEN + IP6_LEN + TCP_LEN);
	}
	if (!w || !w->buckets || !w->pkt) {
		if (w) { free(w->buckets); free(w->pkt); free(w); }
		snprintf(err, errlen, "%s: out of memory", name);
		if (own) fclose(f);
		return NULL;
	}
	w->f = f;
	w->own = own;
	w->linktype = linktype;
	snprintf(w->path, sizeof w->path, "%s", name);
	/* glibc ignores setvbuf's size unless it is given the buffer */
	if (own && (w->iobuf = malloc(1 << 20)) != NULL) setvbuf(f, w->iobuf, _IOFBF, 1 << 20);
	struct {
		uint32_t magic; uint16_t vmaj, vmin; int32_t thiszone; uint32_t sigfigs, snaplen, linktype;
	} gh = { 0xa1b2c3d4u, 2, 4, 0, 0, SNAPLEN, (uint32_t)linktype };
	if (write_bytes(w, &gh, sizeof gh) < 0 || fflush(f) != 0) {
		set_error(w, errno);
		snprintf(err, errlen, "%s", w->err);
		if (own) fclose(f);
		free(w->buckets); free(w->pkt); free(w->iobuf); free(w);
		return NULL;
	}
	return w;
}

pcap_out_t *pcap_out_open(const char *path, int linktype, char *err, size_t errlen)
{
	if (linktype != PCAP_OUT_ETHERNET && linktype != PCAP_OUT_RAW) {
		snprintf(err, errlen, "%s: unsupported link type %d", path, linktype);
		return NULL;
	}
	if (!strcmp(path, "-")) {
		static char outbuf[1 << 20];        /* lives as long as stdout */
		setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);     /* nothing was written to stdout yet */
		return writer_new(stdout, false, "stdout", linktype, err, errlen);
	}
	FILE *f = fopen(path, "wb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	return writer_new(f, true, path, linktype, err, errlen);
}

pcap_out_t *pcap_out_open_stream(FILE *f, int linktype, char *err, size_t errlen)
{
	return writer_new(f, false, "stream", linktype, err, errlen);
}

void pcap_out_set_autoflush(pcap_out_t *w, bool on) { w->autoflush = on; }

int pcap_out_message(pcap_out_t *w, uint64_t flow_id, const tls_endpoints_t *ep, tls_dir_t dir,
                     const uint8_t *data, size_t len, double ts)
{
	if (w->failed) return -1;
	if (!len) return 0;
	if (dir != TLS_DIR_C2S && dir != TLS_DIR_S2C) return 0;
	pflow_t *f = flow_find(w, flow_id, NULL);
	if (!f) {
		if (!ep) return 0;
		f = flow_open(w, flow_id, ep, ts);
		if (!f) return w->failed ? -1 : 0;  /* unknown family / no memory: skip */
	}
	if (ts < f->last_ts) ts = f->last_ts;   /* keep each flow's timestamps monotonic */
	f->last_ts = ts;
	tls_dir_t o = other(dir);
	while (len > 0 && !w->failed) {
		size_t n = len > PCAP_OUT_MAX_SEG ? PCAP_OUT_MAX_SEG : len;
		/* Keep at most one window unacknowledged: let the receiver ACK first. */
		if ((uint32_t)(f->seq[dir] - f->acked[dir]) + n > WINDOW)
			write_ctl(w, f, o, TH_ACK, ts);
		uint32_t ack = f->seq[o];
		if (write_segment(w, f, dir, n == len ? (TH_PSH | TH_ACK) : TH_ACK, f->seq[dir], ack,
		                  data, n, ts) < 0)
			break;
		f->acked[o] = ack;
		f->seq[dir] += (uint32_t)n;
		data += n;
		len -= n;
	}
	if (w->autoflush && !w->failed && fflush(w->f) != 0) set_error(w, errno);
	return w->failed ? -1 : 0;
}

static int flow_close(pcap_out_t *w, pflow_t *f, double ts)
{
	if (ts < f->last_ts) ts = f->last_ts;
	if (write_ctl(w, f, TLS_DIR_C2S, TH_FIN | TH_ACK, ts) == 0 &&
	    write_ctl(w, f, TLS_DIR_S2C, TH_FIN | TH_ACK, ts) == 0)
		write_ctl(w, f, TLS_DIR_C2S, TH_ACK, ts);
	w->st.flows_closed++;
	return w->failed ? -1 : 0;
}

int pcap_out_flow_end(pcap_out_t *w, uint64_t flow_id, double ts)
{
	pflow_t **link;
	pflow_t *f = flow_find(w, flow_id, &link);
	if (!f) return w->failed ? -1 : 0;
	*link = f->next;
	w->nflows--;
	flow_close(w, f, ts);
	free(f);
	if (w->autoflush && !w->failed && fflush(w->f) != 0) set_error(w, errno);
	return w->failed ? -1 : 0;
}

void pcap_out_get_stats(const pcap_out_t *w, pcap_out_stats_t *st)
{
	*st = w->st;
	st->flows_active = w->nflows;
}

const char *pcap_out_error(const pcap_out_t *w) { return w->failed ? w->err : NULL; }

int pcap_out_close(pcap_out_t *w, char *err, size_t errlen)
{
	if (!w) return 0;
	for (size_t i = 0; i < w->nbuckets; i++) {
		pflow_t *f = w->buckets[i], *nx;
		for (; f; f = nx) {
			nx = f->next;
			/* at the end of the capture, so the file stays in time order */
			flow_close(w, f, w->max_ts);
			free(f);
		}
	}
	if (!w->failed && fflush(w->f) != 0) set_error(w, errno);
	if (w->own && fclose(w->f) != 0) set_error(w, errno);
	int rc = w->failed ? -1 : 0;
	if (rc && err) snprintf(err, errlen, "%s", w->err);
	free(w->buckets);
	free(w->pkt);
	free(w->iobuf);
	free(w);
	return rc;
}
