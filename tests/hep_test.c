/*
 * hep_test.c — tests for captls's HEP v3 encoder and sender (src/captls/hep.c).
 *
 * Every packet hep_encode produces is decoded by an independent minimal HEP3 parser
 * written here from the specification (magic "HEP3", 16-bit total length, chunks of
 * vendor/type/length-including-header, network byte order), and compared field by field.
 * The sender is exercised over UDP and TCP on the loopback interface, including a
 * collector that goes away (bounded time, no hang, backoff).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tap.h"
#include "hep.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- independent decoder */

typedef struct dec {
	int family;                 /* 2 or 10 as carried in chunk 1 */
	int ip_proto;
	uint8_t src[16], dst[16];
	int have_src4, have_dst4, have_src6, have_dst6;
	unsigned sport, dport;
	uint32_t tsec, tusec, capid;
	int ptype;
	char auth[256], corr[256];
	int have_auth, have_corr;
	const uint8_t *payload;
	size_t plen;
	int nchunks;
	int bad_vendor;
} dec_t;

static unsigned rd16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* 0 ok, else a negative code telling what was malformed. */
static int decode(const uint8_t *b, size_t n, dec_t *d)
{
	memset(d, 0, sizeof *d);
	d->family = d->ip_proto = d->ptype = -1;
	if (n < 6 || memcmp(b, "HEP3", 4)) return -1;
	if (rd16(b + 4) != n) return -2;
	size_t off = 6;
	while (off < n) {
		if (n - off < 6) return -3;
		unsigned vendor = rd16(b + off), type = rd16(b + off + 2), len = rd16(b + off + 4);
		if (len < 6 || off + len > n) return -4;
		const uint8_t *v = b + off + 6;
		size_t vl = len - 6;
		if (vendor != 0) d->bad_vendor = 1;
		switch (type) {
		case 1: if (vl != 1) return -5; d->family = v[0]; break;
		case 2: if (vl != 1) return -5; d->ip_proto = v[0]; break;
		case 3: if (vl != 4) return -5; memcpy(d->src, v, 4); d->have_src4 = 1; break;
		case 4: if (vl != 4) return -5; memcpy(d->dst, v, 4); d->have_dst4 = 1; break;
		case 5: if (vl != 16) return -5; memcpy(d->src, v, 16); d->have_src6 = 1; break;
		case 6: if (vl != 16) return -5; memcpy(d->dst, v, 16); d->have_dst6 = 1; break;
		case 7: if (vl != 2) return -5; d->sport = rd16(v); break;
		case 8: if (vl != 2) return -5; d->dport = rd16(v); break;
		case 9: if (vl != 4) return -5; d->tsec = rd32(v); break;
		case 10: if (vl != 4) return -5; d->tusec = rd32(v); break;
		case 11: if (vl != 1) return -5; d->ptype = v[0]; break;
		case 12: if (vl != 4) return -5; d->capid = rd32(v); break;
		case 14: if (vl >= sizeof d->auth) return -5; memcpy(d->auth, v, vl); d->auth[vl] = 0; d->have_auth = 1; break;
		case 15: d->payload = v; d->plen = vl; break;
		case 17: if (vl >= sizeof d->corr) return -5; memcpy(d->corr, v, vl); d->corr[vl] = 0; d->have_corr = 1; break;
		default: break;
		}
		d->nchunks++;
		off += len;
	}
	return 0;
}

/* ---------------------------------------------------------------- helpers */

static uint8_t buf[70000];
static uint8_t big[70000];

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static hep_msg_t v4_msg(const uint8_t *payload, size_t len)
{
	static uint8_t s4[4] = { 10, 0, 0, 1 }, d4[4] = { 192, 168, 1, 20 };
	hep_msg_t m = {
		.family = AF_INET, .src_ip = s4, .dst_ip = d4, .sport = 40000, .dport = 5061,
		.ip_proto = 6, .ts_sec = 1700000000u, .ts_usec = 123456, .proto_type = HEP_PROTO_SIP,
		.capture_id = 2001, .payload = payload, .len = len,
	};
	return m;
}

/* Read exactly n bytes from a stream socket within `ms`. */
static int read_full(int fd, uint8_t *p, size_t n, int ms)
{
	size_t got = 0;
	double deadline = now_s() + ms / 1000.0;
	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)((deadline - now_s()) * 1000);
		if (left <= 0 || poll(&pfd, 1, left) <= 0) return -1;
		ssize_t r = recv(fd, p + got, n - got, 0);
		if (r <= 0) return -1;
		got += (size_t)r;
	}
	return 0;
}

/* ---------------------------------------------------------------- cases */

static void test_encode_v4(void)
{
	const char *sip = "INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: x@y\r\nContent-Length: 0\r\n\r\n";
	hep_msg_t m = v4_msg((const uint8_t *)sip, strlen(sip));
	size_t n = hep_encode(&m, buf, sizeof buf);
	tap_ok(n > 0 && n == hep_encoded_len(&m), "IPv4 SIP message encodes to hep_encoded_len bytes (%zu)", n);
	dec_t d;
	int rc = decode(buf, n, &d);
	tap_ok(rc == 0, "independent decoder accepts it (rc %d)", rc);
	tap_ok(!d.bad_vendor, "all chunks use the generic vendor id 0x0000");
	tap_ok(d.family == 2 && d.ip_proto == 6, "ip family 2 (AF_INET), ip proto 6 (TCP)");
	tap_ok(d.have_src4 && d.have_dst4 && !d.have_src6 && !memcmp(d.src, m.src_ip, 4) && !memcmp(d.dst, m.dst_ip, 4),
	       "IPv4 source and destination chunks 3/4 carry the addresses");
	tap_ok(d.sport == 40000 && d.dport == 5061, "ports (chunks 7/8)");
	tap_ok(d.tsec == 1700000000u && d.tusec == 123456, "timestamp seconds / microseconds (chunks 9/10)");
	tap_ok(d.ptype == 1, "protocol type 1 = SIP (chunk 11)");
	tap_ok(d.capid == 2001, "capture agent id (chunk 12)");
	tap_ok(!d.have_auth && !d.have_corr, "no auth key / correlation id chunks when not given");
	tap_ok(d.plen == strlen(sip) && !memcmp(d.payload, sip, d.plen), "payload (chunk 15) is the message");
	tap_ok(d.nchunks == 11, "11 chunks: family, proto, 2 addresses, 2 ports, 2 times, type, id, payload (got %d)", d.nchunks);
}

static void test_encode_v6_optional(void)
{
	uint8_t s6[16], d6[16];
	inet_pton(AF_INET6, "2001:db8::1", s6);
	inet_pton(AF_INET6, "2001:db8:ffff::abcd", d6);
	const char *http = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	hep_msg_t m = {
		.family = AF_INET6, .src_ip = s6, .dst_ip = d6, .sport = 50000, .dport = 443, .ip_proto = 6,
		.ts_sec = 1, .ts_usec = 999999, .proto_type = 0, .capture_id = 0xfffffffe,
		.auth_key = "myHep", .correlation_id = "call-1@host",
		.payload = (const uint8_t *)http, .len = strlen(http),
	};
	size_t n = hep_encode(&m, buf, sizeof buf);
	dec_t d;
	tap_ok(n > 0 && decode(buf, n, &d) == 0, "IPv6 message with auth key and correlation id encodes and decodes");
	tap_ok(d.family == 10 && d.have_src6 && d.have_dst6 && !d.have_src4 &&
	       !memcmp(d.src, s6, 16) && !memcmp(d.dst, d6, 16), "IPv6 family 10 and chunks 5/6");
	tap_ok(d.have_auth && !strcmp(d.auth, "myHep"), "auth key chunk 14");
	tap_ok(d.have_corr && !strcmp(d.corr, "call-1@host"), "correlation id chunk 17");
	tap_ok(d.ptype == 0 && d.capid == 0xfffffffeu && d.tusec == 999999, "proto type 0, capture id, usec");
	tap_ok(d.plen == strlen(http) && !memcmp(d.payload, http, d.plen), "payload intact");

	m.auth_key = "";
	m.correlation_id = "";
	n = hep_encode(&m, buf, sizeof buf);
	tap_ok(n > 0 && decode(buf, n, &d) == 0 && !d.have_auth && !d.have_corr, "empty optional strings omit their chunks");
}

static void test_limits(void)
{
	memset(big, 'A', sizeof big);
	hep_msg_t m = v4_msg(big, 0);
	size_t overhead = hep_encoded_len(&m);
	m.len = HEP_MAX_PACKET - overhead;
	size_t n = hep_encode(&m, buf, sizeof buf);
	dec_t d;
	tap_ok(n == HEP_MAX_PACKET && decode(buf, n, &d) == 0 && d.plen == m.len,
	       "largest payload (%zu bytes) gives a 65535-byte packet", m.len);
	m.len++;
	tap_ok(hep_encode(&m, buf, sizeof buf) == 0 && hep_encoded_len(&m) == HEP_MAX_PACKET + 1,
	       "one byte more does not fit: hep_encode returns 0");
	m.len = 100;
	tap_ok(hep_encode(&m, buf, hep_encoded_len(&m) - 1) == 0, "too small output buffer: 0");
	tap_ok(hep_encode(&m, buf, hep_encoded_len(&m)) == hep_encoded_len(&m), "exact output buffer: fits");
	m.family = 12345;
	tap_ok(hep_encode(&m, buf, sizeof buf) == 0, "unknown address family: 0");
	m = v4_msg(NULL, 0);
	n = hep_encode(&m, buf, sizeof buf);
	tap_ok(n > 0 && decode(buf, n, &d) == 0 && d.plen == 0, "empty payload encodes an empty chunk 15");
}

static void test_split_ts(void)
{
	uint32_t s, u;
	hep_split_ts(1700000000.25, &s, &u);
	tap_ok(s == 1700000000u && u == 250000, "split 1700000000.25 -> %u.%06u", s, u);
	hep_split_ts(12.9999996, &s, &u);
	tap_ok(s == 13 && u == 0, "rounding carries into seconds (%u.%06u)", s, u);
	hep_split_ts(1700000000.123456, &s, &u);
	tap_ok(s == 1700000000u && u == 123456, "microseconds survive double precision (%u.%06u)", s, u);
	hep_split_ts(-1, &s, &u);
	tap_ok(s == 0 && u == 0, "negative time clamps to 0");
}

static void test_spec_parsing(void)
{
	char err[256];
	hep_sender_t *s = hep_sender_new("udp:127.0.0.1:9060", err, sizeof err);
	tap_ok(s != NULL, "udp:127.0.0.1:9060 accepted");
	if (s) tap_ok(hep_sender_max_packet(s) == 65507, "UDP/IPv4 max packet 65507");
	hep_sender_free(s);
	s = hep_sender_new("tcp:[::1]:9061", err, sizeof err);
	tap_ok(s != NULL, "tcp:[::1]:9061 accepted (%s)", s ? hep_sender_describe(s) : err);
	if (s) tap_ok(hep_sender_max_packet(s) == 65535, "TCP max packet 65535");
	hep_sender_free(s);
	static const char *bad[] = { "127.0.0.1:9060", "sctp:1.2.3.4:9060", "udp:1.2.3.4", "udp:1.2.3.4:0",
	                             "udp:1.2.3.4:65536", "udp:::1:9060", "udp:[::1]9060", "udp::9060",
	                             "udp:1.2.3.4:90x", "tcp:[]:1" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		s = hep_sender_new(bad[i], err, sizeof err);
		tap_ok(s == NULL && err[0], "\"%s\" rejected: %s", bad[i], err);
		hep_sender_free(s);
	}
}

static void test_udp_loopback(void)
{
	int rx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	if (rx < 0 || bind(rx, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(rx, (struct sockaddr *)&a, &al) < 0) {
		tap_skip("cannot bind a UDP socket on 127.0.0.1");
		if (rx >= 0) close(rx);
		return;
	}
	int sz = 1 << 20;
	setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	char spec[64], err[256];
	snprintf(spec, sizeof spec, "udp:127.0.0.1:%u", ntohs(a.sin_port));
	hep_sender_t *s = hep_sender_new(spec, err, sizeof err);
	tap_ok(s != NULL, "UDP sender to %s", spec);
	if (!s) { close(rx); return; }

	const char *sip = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
	hep_msg_t m = v4_msg((const uint8_t *)sip, strlen(sip));
	size_t n = hep_encode(&m, buf, sizeof buf);
	tap_ok(hep_sender_send(s, buf, n) == 0, "send over UDP");
	static uint8_t rb[70000];
	struct pollfd pfd = { .fd = rx, .events = POLLIN };
	ssize_t r = poll(&pfd, 1, 2000) > 0 ? recv(rx, rb, sizeof rb, 0) : -1;
	dec_t d;
	tap_ok(r == (ssize_t)n && decode(rb, (size_t)r, &d) == 0 && d.plen == strlen(sip) &&
	       !memcmp(d.payload, sip, d.plen) && d.sport == 40000 && d.ptype == 1,
	       "the datagram received on loopback decodes to the same message");

	/* a large message: one datagram near the UDP limit */
	m = v4_msg(big, 60000);
	n = hep_encode(&m, buf, sizeof buf);
	tap_ok(hep_sender_send(s, buf, n) == 0, "60000-byte payload sent as one datagram");
	r = poll(&pfd, 1, 2000) > 0 ? recv(rx, rb, sizeof rb, 0) : -1;
	tap_ok(r == (ssize_t)n && decode(rb, (size_t)r, &d) == 0 && d.plen == 60000, "and received whole (%zd bytes)", r);

	/* above the UDP limit: refused without sending */
	m = v4_msg(big, 65507);
	n = hep_encode(&m, buf, sizeof buf);   /* 0: does not even fit HEP */
	tap_ok(n == 0, "65507-byte payload does not fit in one HEP packet");
	m.len = 65430;
	n = hep_encode(&m, buf, sizeof buf);
	tap_ok(n > hep_sender_max_packet(s) && hep_sender_send(s, buf, n) < 0 && hep_sender_last_error(s)[0],
	       "a HEP packet above the UDP datagram limit is refused: %s", hep_sender_last_error(s));
	hep_sender_stats_t st;
	hep_sender_get_stats(s, &st);
	tap_ok(st.sent == 2 && st.send_failed == 1, "stats: 2 sent, 1 failed");
	hep_sender_free(s);
	close(rx);
}

static void test_tcp_loopback(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) < 0) {
		tap_skip("cannot listen on 127.0.0.1");
		if (l >= 0) close(l);
		return;
	}
	char spec[64], err[256];
	snprintf(spec, sizeof spec, "tcp:127.0.0.1:%u", ntohs(a.sin_port));
	hep_sender_t *s = hep_sender_new(spec, err, sizeof err);
	tap_ok(s != NULL, "TCP sender to %s", spec);
	if (!s) { close(l); return; }
	hep_sender_set_timeout(s, 500);

	const char *m1 = "INVITE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n";
	hep_msg_t m = v4_msg((const uint8_t *)m1, strlen(m1));
	size_t n1 = hep_encode(&m, buf, sizeof buf);
	tap_ok(hep_sender_send(s, buf, n1) == 0, "first send connects and sends");
	int c = accept(l, NULL, NULL);
	static uint8_t p2[70000];
	hep_msg_t mb = v4_msg(big, 65000);
	size_t n2 = hep_encode(&mb, p2, sizeof p2);
	tap_ok(n2 > 0 && hep_sender_send(s, p2, n2) == 0, "a 65000-byte payload is sent on the stream");

	static uint8_t rb[140000];
	int ok = c >= 0 && read_full(c, rb, 6, 2000) == 0 && !memcmp(rb, "HEP3", 4);
	size_t t1 = ok ? rd16(rb + 4) : 0;
	ok = ok && t1 == n1 && read_full(c, rb + 6, t1 - 6, 2000) == 0;
	dec_t d;
	tap_ok(ok && decode(rb, t1, &d) == 0 && d.plen == strlen(m1) && !memcmp(d.payload, m1, d.plen),
	       "collector reads packet 1 framed by its HEP3 length");
	ok = ok && read_full(c, rb, 6, 2000) == 0 && rd16(rb + 4) == n2 && read_full(c, rb + 6, n2 - 6, 2000) == 0;
	tap_ok(ok && decode(rb, n2, &d) == 0 && d.plen == 65000, "and packet 2 right after it");

	/* collector goes away: the sender notices, fails fast, backs off */
	if (c >= 0) close(c);
	close(l);
	usleep(50000);
	double t0 = now_s();
	int r1 = hep_sender_send(s, buf, n1);
	int r2 = hep_sender_send(s, buf, n1);
	double dt = now_s() - t0;
	hep_sender_stats_t st;
	hep_sender_get_stats(s, &st);
	tap_ok(r1 < 0 && r2 < 0, "sends fail once the collector is gone (%s)", hep_sender_last_error(s));
	tap_ok(dt < 1.5, "without blocking (%.3f s)", dt);
	uint64_t connects = st.connects;
	hep_sender_send(s, buf, n1);
	hep_sender_get_stats(s, &st);
	tap_ok(st.connects == connects, "in backoff no new connection is attempted");
	tap_ok(st.sent == 2 && st.send_failed == 3, "stats: 2 sent, 3 failed (%llu, %llu)",
	       (unsigned long long)st.sent, (unsigned long long)st.send_failed);
	hep_sender_free(s);
}

int main(void)
{
	test_encode_v4();
	test_encode_v6_optional();
	test_limits();
	test_split_ts();
	test_spec_parsing();
	test_udp_loopback();
	test_tcp_loopback();
	return tap_done();
}
