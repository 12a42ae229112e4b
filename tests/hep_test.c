/*
 * hep_test.c — tests for captls's HEP v3 encoder and sender (src/captls/hep.c).
 *
 * Every packet hep_encode produces is decoded by an independent minimal HEP3 parser
 * written here from the specification (magic "HEP3", 16-bit total length, chunks of
 * vendor/type/length-including-header, network byte order), and compared field by field.
 * The sender is exercised over UDP and TCP on the loopback interface, including a
 * collector that goes away (bounded time, no hang, backoff).
 *
 * End to end, `captls -H` on the bundled capture is decoded twice: by the decoder here and
 * by a real HEP consumer written by others, sngrep (-L udp:... -O out.pcap, Debian package
 * sngrep), whose pcap must hold the same SIP messages with the same addresses and ports.
 * The sngrep half is skipped (TAP SKIP) where sngrep is not installed.
 *
 * The HEP protocol type (chunk 0x000b) per kind: SIP 1, HTTP --hep-type-http (default
 * 100), raw --hep-type-raw (default 0); 0 = that kind is not sent; -c takes the first
 * profile's hep-type-*; checked on the bundled SIP capture and the real curl -> nginx
 * HTTPS sample of ../shared/samples (skipped where absent).
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

/* ------------------------------------------------ captls -H end to end, two decoders */

#define E2E_MAX 64
typedef struct sipmsg {
	uint8_t *data;
	size_t len;
	unsigned sport, dport;
	uint8_t src[4], dst[4];
} sipmsg_t;

static void msgs_free(sipmsg_t *m, size_t n)
{
	for (size_t i = 0; i < n; i++) free(m[i].data);
}

static int add_msg(sipmsg_t *m, size_t *n, const uint8_t *p, size_t len, const uint8_t *src,
                   const uint8_t *dst, unsigned sport, unsigned dport)
{
	if (*n >= E2E_MAX || !(m[*n].data = malloc(len ? len : 1))) return -1;
	memcpy(m[*n].data, p, len);
	m[*n].len = len;
	memcpy(m[*n].src, src, 4);
	memcpy(m[*n].dst, dst, 4);
	m[*n].sport = sport;
	m[*n].dport = dport;
	(*n)++;
	return 0;
}

/* A UDP socket on 127.0.0.1 with a kernel-chosen port (keep == 0: closed again, the port
 * is only reserved by luck, for a listener started next). */
static int udp_port(uint16_t *port, int keep)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		if (fd >= 0) close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	if (!keep) { close(fd); return 0; }
	return fd;
}

/* Is something bound to 127.0.0.1:port (UDP)? */
static int udp_port_busy(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int busy = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno == EADDRINUSE;
	if (fd >= 0) close(fd);
	return busy;
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); }
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int run_captls_hep(const char *captls, const char *pcap, const char *key, uint16_t port)
{
	char spec[64];
	snprintf(spec, sizeof spec, "udp:127.0.0.1:%u", port);
	char *argv[] = { (char *)captls, "-q", "-r", (char *)pcap, "-k", (char *)key, "-H", spec, NULL };
	pid_t pid = spawn(argv);
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* SIP messages of sngrep's -O pcap (Ethernet, IPv4, UDP or TCP), in file order. */
static int read_sngrep_pcap(const char *path, sipmsg_t *m, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) return -1;
	uint8_t gh[24], rh[16];
	static uint8_t pkt[70000];
	int rc = -1;
	if (fread(gh, 1, 24, f) != 24) goto out;
	int le = gh[0] == 0xd4 && gh[1] == 0xc3;     /* written on this little-endian host */
	uint32_t linktype = le ? (uint32_t)gh[20] | (uint32_t)gh[21] << 8 : rd32(gh + 20);
	if (linktype != 1) goto out;
	while (fread(rh, 1, 16, f) == 16) {
		uint32_t cl = le ? (uint32_t)rh[8] | (uint32_t)rh[9] << 8 | (uint32_t)rh[10] << 16 |
		                   (uint32_t)rh[11] << 24 : rd32(rh + 8);
		if (cl > sizeof pkt || fread(pkt, 1, cl, f) != cl) goto out;
		if (cl < 14 + 20 || rd16(pkt + 12) != 0x0800) continue;
		const uint8_t *ip = pkt + 14;
		size_t ihl = (size_t)(ip[0] & 15) * 4, tot = rd16(ip + 2);
		if (ihl < 20 || 14 + tot > cl || tot < ihl + 8) continue;
		const uint8_t *l4 = ip + ihl;
		size_t hl = ip[9] == 17 ? 8 : ip[9] == 6 ? (size_t)(l4[12] >> 4) * 4 : 0;
		if (!hl || ihl + hl > tot) continue;
		if (add_msg(m, n, l4 + hl, tot - ihl - hl, ip + 12, ip + 16, rd16(l4), rd16(l4 + 2)) < 0)
			goto out;
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

static int same_msgs(const sipmsg_t *a, size_t na, const sipmsg_t *b, size_t nb)
{
	if (na != nb) return 0;
	for (size_t i = 0; i < na; i++)
		if (a[i].len != b[i].len || memcmp(a[i].data, b[i].data, a[i].len) ||
		    a[i].sport != b[i].sport || a[i].dport != b[i].dport ||
		    memcmp(a[i].src, b[i].src, 4) || memcmp(a[i].dst, b[i].dst, 4))
			return 0;
	return 1;
}

static int have_program(const char *name)
{
	const char *path = getenv("PATH");
	if (!path) return 0;
	char dir[4096];
	for (const char *p = path; *p;) {
		size_t l = strcspn(p, ":");
		snprintf(dir, sizeof dir, "%.*s/%s", (int)l, p, name);
		if (access(dir, X_OK) == 0) return 1;
		p += l;
		if (*p) p++;
	}
	return 0;
}

static void test_captls_end_to_end(void)
{
	const char *top = getenv("top_srcdir"), *build = getenv("top_builddir");
	char captls[512], pcap[512], key[512];
	snprintf(captls, sizeof captls, "%s/captls", build ? build : ".");
	snprintf(pcap, sizeof pcap, "%s/samples/sip-tls12-rsa.pcap", top ? top : ".");
	snprintf(key, sizeof key, "%s/samples/server-rsa.key", top ? top : ".");
	if (access(captls, X_OK) || access(pcap, R_OK)) {
		for (int i = 0; i < 4; i++) tap_skip("captls or samples/ not found");
		return;
	}
	/* our decoder: the bundled call is INVITE 100 180 200 ACK BYE 200 */
	static sipmsg_t ours[E2E_MAX], theirs[E2E_MAX];
	size_t nours = 0, ntheirs = 0, nother = 0, bad = 0;
	uint16_t port;
	int fd = udp_port(&port, 1);
	int rc = fd >= 0 ? run_captls_hep(captls, pcap, key, port) : -1;
	static uint8_t rb[70000];
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	while (fd >= 0 && poll(&pf, 1, 300) == 1) {
		ssize_t r = recv(fd, rb, sizeof rb, 0);
		dec_t d;
		if (r <= 0) break;
		if (decode(rb, (size_t)r, &d) != 0 || d.family != 2) { bad++; continue; }
		if (d.ptype != 1) { nother++; continue; }
		add_msg(ours, &nours, d.payload, d.plen, d.src, d.dst, d.sport, d.dport);
	}
	if (fd >= 0) close(fd);
	tap_ok(rc == 0 && nours == 7 && bad == 0,
	       "captls -H: our decoder gets the call's 7 SIP messages (exit %d, %zu SIP, %zu other, "
	       "%zu undecodable)", rc, nours, nother, bad);
	tap_ok(nours == 7 && !memcmp(ours[0].data, "INVITE ", 7) && ours[0].dport == 5061 &&
	       !memcmp(ours[1].data, "SIP/2.0 100", 11) && ours[1].sport == 5061,
	       "first message INVITE client->5061, then 100 Trying 5061->client");

	if (!have_program("sngrep")) {
		tap_skip("sngrep not installed (apt-get install sngrep)");
		tap_skip("sngrep not installed (apt-get install sngrep)");
		msgs_free(ours, nours);
		return;
	}
	char dir[] = "/tmp/ptls-hep-e2e.XXXXXX", out[600], url[64];
	uint16_t p2 = 0;
	if (!mkdtemp(dir) || udp_port(&p2, 0) < 0) {
		tap_skip("no temp dir / port");
		tap_skip("no temp dir / port");
		msgs_free(ours, nours);
		return;
	}
	snprintf(out, sizeof out, "%s/sngrep.pcap", dir);
	snprintf(url, sizeof url, "udp:127.0.0.1:%u", p2);
	char *argv[] = { "sngrep", "-N", "-q", "-F", "-L", url, "-O", out, NULL };
	pid_t pid = spawn(argv);
	int up = 0;
	for (int i = 0; i < 100 && pid > 0 && !(up = udp_port_busy(p2)); i++) usleep(50000);
	if (!up) {
		if (pid > 0) { kill(pid, SIGTERM); waitpid(pid, NULL, 0); }
		tap_skip("sngrep did not start listening");
		tap_skip("sngrep did not start listening");
		msgs_free(ours, nours);
		rmdir(dir);
		return;
	}
	rc = run_captls_hep(captls, pcap, key, p2);
	usleep(500000);            /* let sngrep read the last datagrams */
	kill(pid, SIGTERM);
	int st;
	waitpid(pid, &st, 0);
	int prc = read_sngrep_pcap(out, theirs, &ntheirs);
	tap_ok(rc == 0 && prc == 0 && ntheirs == nours,
	       "sngrep -L decodes our HEP: %zu SIP messages in its pcap, %zu sent", ntheirs, nours);
	tap_ok(same_msgs(ours, nours, theirs, ntheirs),
	       "sngrep sees the same bytes, addresses and ports, in the same order");
	msgs_free(ours, nours);
	msgs_free(theirs, ntheirs);
	unlink(out);
	rmdir(dir);
}

/* ------------------------------------- captls -H: the HEP protocol type of each kind */

/* Run captls with args (NULL-terminated, after argv[0]) plus "-q -H udp:127.0.0.1:PORT"
 * and collect what arrives: each packet's type, payload length and server port side.
 * Returns the exit status, or -1. */
typedef struct got { int ptype; size_t len; unsigned sport, dport; } got_t;
static int captls_collect(const char *captls, const char *const *args, got_t *g, size_t *n,
                          size_t max, size_t *bad)
{
	uint16_t port;
	int fd = udp_port(&port, 1);
	if (fd < 0) return -1;
	char spec[64];
	snprintf(spec, sizeof spec, "udp:127.0.0.1:%u", port);
	char *argv[32];
	size_t k = 0;
	argv[k++] = (char *)captls;
	for (size_t i = 0; args[i] && k < 28; i++) argv[k++] = (char *)args[i];
	argv[k++] = "-q";
	argv[k++] = "-H";
	argv[k++] = spec;
	argv[k] = NULL;
	pid_t pid = spawn(argv);
	int st = 0;
	int rc = (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
	static uint8_t rb[70000];
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	*n = *bad = 0;
	while (poll(&pf, 1, 300) == 1) {
		ssize_t r = recv(fd, rb, sizeof rb, 0);
		dec_t d;
		if (r <= 0) break;
		if (decode(rb, (size_t)r, &d) != 0) { (*bad)++; continue; }
		if (*n < max) g[(*n)++] = (got_t){ d.ptype, d.plen, d.sport, d.dport };
	}
	close(fd);
	return rc;
}

static size_t count_type(const got_t *g, size_t n, int t)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++) c += g[i].ptype == t;
	return c;
}

static void test_captls_hep_types(void)
{
	const char *top = getenv("top_srcdir"), *build = getenv("top_builddir");
	const char *samples = getenv("SHARED_SAMPLES");
	char captls[512], sip[512], key[512], web[600], kl[600], sb[512], conf[600];
	snprintf(captls, sizeof captls, "%s/captls", build ? build : ".");
	snprintf(sip, sizeof sip, "%s/samples/sip-tls12-rsa.pcap", top ? top : ".");
	snprintf(key, sizeof key, "%s/samples/server-rsa.key", top ? top : ".");
	if (!samples) {
		snprintf(sb, sizeof sb, "%s/../shared/samples", top ? top : ".");
		samples = sb;
	}
	snprintf(web, sizeof web, "%s/pcaps/https-tls13-aes128gcm-keylog.pcap", samples);
	snprintf(kl, sizeof kl, "%s/keylogs/https-tls13-aes128gcm-keylog.keys", samples);
	got_t g[64];
	size_t n, bad;
	if (access(captls, X_OK) || access(sip, R_OK)) {
		for (int i = 0; i < 7; i++) tap_skip("captls or samples/ not found");
		return;
	}
	/* SIP is type 1 whatever the other kinds' types are, and is always sent */
	const char *a1[] = { "-r", sip, "-k", key, "--hep-type-http", "0", "--hep-type-raw", "0", NULL };
	int rc = captls_collect(captls, a1, g, &n, 64, &bad);
	tap_ok(rc == 0 && n == 7 && count_type(g, n, 1) == 7 && bad == 0,
	       "captls -H, SIP with --hep-type-http 0 --hep-type-raw 0: 7 packets, all type 1 (%zu, exit %d)", n, rc);
	if (access(web, R_OK) || access(kl, R_OK)) {
		for (int i = 0; i < 6; i++) tap_skip("../shared/samples (curl -> nginx HTTPS) not present");
		return;
	}
	/* curl -> nginx: 2 requests, 2 responses; the 72243-byte one does not fit a HEP packet */
	const char *a2[] = { "-r", web, "-l", kl, NULL };
	rc = captls_collect(captls, a2, g, &n, 64, &bad);
	tap_ok(rc == 0 && n == 3 && count_type(g, n, 100) == 3 && bad == 0,
	       "captls -H, HTTP, default: 3 packets of type 100 (Homer LOG) (%zu, %zu of type 100, exit %d)",
	       n, count_type(g, n, 100), rc);
	size_t c2s = 0, s2c = 0;
	for (size_t i = 0; i < n; i++) {
		if (g[i].dport == 8443) c2s++;
		if (g[i].sport == 8443) s2c++;
	}
	tap_ok(c2s == 2 && s2c == 1, "captls -H, HTTP: 2 requests to port 8443, 1 response from it");
	const char *a3[] = { "-r", web, "-l", kl, "--hep-type-http", "0", NULL };
	rc = captls_collect(captls, a3, g, &n, 64, &bad);
	tap_ok(rc == 0 && n == 0, "captls -H --hep-type-http 0: no HEP packet (%zu, exit %d)", n, rc);
	const char *a4[] = { "-r", web, "-l", kl, "--hep-type-http", "61", NULL };
	rc = captls_collect(captls, a4, g, &n, 64, &bad);
	tap_ok(rc == 0 && n == 3 && count_type(g, n, 61) == 3,
	       "captls -H --hep-type-http 61: 3 packets of type 61 (%zu)", count_type(g, n, 61));
	/* -c: the first enabled profile's hep-type-http; the option still wins */
	char dir[] = "/tmp/ptls-heptype.XXXXXX";
	if (!mkdtemp(dir)) { tap_skip("no temp dir"); tap_skip("no temp dir"); return; }
	snprintf(conf, sizeof conf, "%s/protocol_tls.xml", dir);
	FILE *f = fopen(conf, "w");
	if (f) {
		fprintf(f, "<document><module name=\"protocol_tls\"><profile name=\"web\"><settings>\n"
		        "<param name=\"keylog-file\" value=\"%s\"/>\n<param name=\"hep-type-http\" value=\"55\"/>\n"
		        "</settings></profile></module></document>\n", kl);
		fclose(f);
	}
	const char *a5[] = { "-r", web, "-c", conf, NULL };
	rc = captls_collect(captls, a5, g, &n, 64, &bad);
	tap_ok(rc == 0 && n == 3 && count_type(g, n, 55) == 3,
	       "captls -c with hep-type-http 55: 3 packets of type 55 (%zu of %zu, exit %d)", count_type(g, n, 55), n, rc);
	const char *a6[] = { "-r", web, "-c", conf, "--hep-type-http", "56", NULL };
	rc = captls_collect(captls, a6, g, &n, 64, &bad);
	tap_ok(rc == 0 && n == 3 && count_type(g, n, 56) == 3,
	       "captls -c ... --hep-type-http 56: the option wins (%zu of type 56)", count_type(g, n, 56));
	unlink(conf);
	rmdir(dir);
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
	test_captls_end_to_end();
	test_captls_hep_types();
	return tap_done();
}
