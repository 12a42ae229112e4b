/*
 * hep.c — HEP v3 encoder and UDP/TCP sender for `captls -H`.
 *
 * Why our own: the wire format is tiny and fully specified (HEP3 Network Protocol
 * Specification): the 4-byte magic "HEP3", a 16-bit total length, then chunks of
 * { vendor id (0x0000 = generic), type id, length incl. the 6-byte chunk header, value },
 * all integers in network byte order. Writing it here keeps captls free of extra
 * dependencies and lets the test decode it with an independent parser.
 *
 * The sender must never stall the capture: every connect/send is bounded by poll()
 * with a timeout, TCP reconnects with exponential backoff and drops packets meanwhile,
 * and SIGPIPE is avoided with MSG_NOSIGNAL.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "hep.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

/* ---------------------------------------------------------------- encoder */

#define HEP_HDR_LEN 6u      /* "HEP3" + total length */
#define CHUNK_HDR_LEN 6u    /* vendor id, type id, length */

static size_t opt_str_len(const char *s) { return s ? strlen(s) : 0; }

size_t hep_encoded_len(const hep_msg_t *m)
{
	size_t iplen = m->family == AF_INET6 ? 16 : 4;
	size_t n = HEP_HDR_LEN;
	n += CHUNK_HDR_LEN + 1;            /* ip family */
	n += CHUNK_HDR_LEN + 1;            /* ip proto */
	n += 2 * (CHUNK_HDR_LEN + iplen);  /* src, dst ip */
	n += 2 * (CHUNK_HDR_LEN + 2);      /* ports */
	n += 2 * (CHUNK_HDR_LEN + 4);      /* ts sec, usec */
	n += CHUNK_HDR_LEN + 1;            /* proto type */
	n += CHUNK_HDR_LEN + 4;            /* capture id */
	if (opt_str_len(m->auth_key)) n += CHUNK_HDR_LEN + strlen(m->auth_key);
	if (opt_str_len(m->correlation_id)) n += CHUNK_HDR_LEN + strlen(m->correlation_id);
	n += CHUNK_HDR_LEN + m->len;       /* payload */
	return n;
}

static uint8_t *put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; return p + 2; }
static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
	return p + 4;
}
/* One generic chunk: header then `len` value bytes. */
static uint8_t *put_chunk(uint8_t *p, uint16_t type, const void *val, size_t len)
{
	p = put16(p, 0x0000);
	p = put16(p, type);
	p = put16(p, (uint16_t)(CHUNK_HDR_LEN + len));
	if (len) memcpy(p, val, len);
	return p + len;
}
static uint8_t *put_chunk_u8(uint8_t *p, uint16_t type, uint8_t v) { return put_chunk(p, type, &v, 1); }
static uint8_t *put_chunk_u16(uint8_t *p, uint16_t type, uint16_t v)
{
	uint8_t b[2]; put16(b, v); return put_chunk(p, type, b, 2);
}
static uint8_t *put_chunk_u32(uint8_t *p, uint16_t type, uint32_t v)
{
	uint8_t b[4]; put32(b, v); return put_chunk(p, type, b, 4);
}

size_t hep_encode(const hep_msg_t *m, uint8_t *buf, size_t buflen)
{
	if (m->family != AF_INET && m->family != AF_INET6) return 0;
	if (m->len && !m->payload) return 0;
	size_t total = hep_encoded_len(m);
	if (total > HEP_MAX_PACKET || total > buflen) return 0;
	bool v6 = m->family == AF_INET6;
	uint8_t *p = buf;
	memcpy(p, "HEP3", 4); p += 4;
	p = put16(p, (uint16_t)total);
	p = put_chunk_u8(p, HEP_CHUNK_IP_FAMILY, v6 ? 10 : 2);   /* AF_INET / AF_INET6 on Linux, as the spec uses */
	p = put_chunk_u8(p, HEP_CHUNK_IP_PROTO, m->ip_proto);
	p = put_chunk(p, v6 ? HEP_CHUNK_IPV6_SRC : HEP_CHUNK_IPV4_SRC, m->src_ip, v6 ? 16 : 4);
	p = put_chunk(p, v6 ? HEP_CHUNK_IPV6_DST : HEP_CHUNK_IPV4_DST, m->dst_ip, v6 ? 16 : 4);
	p = put_chunk_u16(p, HEP_CHUNK_SRC_PORT, m->sport);
	p = put_chunk_u16(p, HEP_CHUNK_DST_PORT, m->dport);
	p = put_chunk_u32(p, HEP_CHUNK_TS_SEC, m->ts_sec);
	p = put_chunk_u32(p, HEP_CHUNK_TS_USEC, m->ts_usec);
	p = put_chunk_u8(p, HEP_CHUNK_PROTO_TYPE, m->proto_type);
	p = put_chunk_u32(p, HEP_CHUNK_CAPTURE_ID, m->capture_id);
	if (opt_str_len(m->auth_key))
		p = put_chunk(p, HEP_CHUNK_AUTH_KEY, m->auth_key, strlen(m->auth_key));
	if (opt_str_len(m->correlation_id))
		p = put_chunk(p, HEP_CHUNK_CORRELATION_ID, m->correlation_id, strlen(m->correlation_id));
	p = put_chunk(p, HEP_CHUNK_PAYLOAD, m->payload, m->len);
	return (size_t)(p - buf);
}

void hep_split_ts(double ts, uint32_t *sec, uint32_t *usec)
{
	if (!(ts > 0)) { *sec = 0; *usec = 0; return; }     /* also NaN */
	if (ts >= 4294967295.0) { *sec = UINT32_MAX; *usec = 0; return; }
	uint32_t s = (uint32_t)ts;                   /* truncation = floor for ts > 0 */
	uint32_t us = (uint32_t)((ts - s) * 1e6 + 0.5);
	if (us >= 1000000) {
		us -= 1000000;
		if (s < UINT32_MAX) s++;
		else us = 999999;
	}
	*sec = s;
	*usec = us;
}

/* ---------------------------------------------------------------- sender */

#define BACKOFF_MIN_S 1.0
#define BACKOFF_MAX_S 30.0

struct hep_sender {
	bool tcp;
	int fd;                     /* -1 when not connected */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int family;
	int timeout_ms;
	double next_attempt;        /* monotonic s; TCP reconnect not before this */
	double backoff;
	hep_sender_stats_t st;
	char desc[96];
	char err[512];
};

static double mono_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void set_err(hep_sender_t *s, const char *what, int e)
{
	snprintf(s->err, sizeof s->err, "%s %s: %s", what, s->desc, strerror(e));
}

hep_sender_t *hep_sender_new(const char *spec, char *err, size_t errlen)
{
	const char *p = spec;
	bool tcp = false;
	if (!spec || !*spec) { snprintf(err, errlen, "empty HEP destination"); return NULL; }
	if (!strncmp(p, "udp:", 4)) p += 4;
	else if (!strncmp(p, "tcp:", 4)) { tcp = true; p += 4; }
	else {
		snprintf(err, errlen, "HEP destination \"%s\": expected udp:HOST:PORT or tcp:HOST:PORT", spec);
		return NULL;
	}
	char host[256];
	const char *port;
	if (*p == '[') {
		const char *rb = strchr(p, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - p - 1) >= sizeof host || rb == p + 1) {
			snprintf(err, errlen, "HEP destination \"%s\": expected [IPv6]:PORT", spec);
			return NULL;
		}
		memcpy(host, p + 1, (size_t)(rb - p - 1));
		host[rb - p - 1] = 0;
		port = rb + 2;
	} else {
		const char *c = strrchr(p, ':');
		if (!c || c == p || (size_t)(c - p) >= sizeof host || memchr(p, ':', (size_t)(c - p))) {
			snprintf(err, errlen, "HEP destination \"%s\": expected %s:HOST:PORT (IPv6 host in brackets)",
			         spec, tcp ? "tcp" : "udp");
			return NULL;
		}
		memcpy(host, p, (size_t)(c - p));
		host[c - p] = 0;
		port = c + 1;
	}
	char *end;
	errno = 0;
	long pn = strtol(port, &end, 10);
	if (!*port || *end || errno || pn < 1 || pn > 65535) {
		snprintf(err, errlen, "HEP destination \"%s\": bad port \"%s\"", spec, port);
		return NULL;
	}
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = tcp ? SOCK_STREAM : SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc || !res) {
		snprintf(err, errlen, "HEP destination \"%s\": cannot resolve %s: %s", spec, host,
		         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		if (res) freeaddrinfo(res);
		return NULL;
	}
	hep_sender_t *s = calloc(1, sizeof *s);
	if (!s) { freeaddrinfo(res); snprintf(err, errlen, "out of memory"); return NULL; }
	s->tcp = tcp;
	s->fd = -1;
	memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
	s->addrlen = res->ai_addrlen;
	s->family = res->ai_family;
	s->timeout_ms = 2000;
	s->backoff = BACKOFF_MIN_S;
	freeaddrinfo(res);
	char hbuf[INET6_ADDRSTRLEN] = "?";
	getnameinfo((struct sockaddr *)&s->addr, s->addrlen, hbuf, sizeof hbuf, NULL, 0, NI_NUMERICHOST);
	snprintf(s->desc, sizeof s->desc, s->family == AF_INET6 ? "%s [%s]:%ld" : "%s %s:%ld",
	         tcp ? "tcp" : "udp", hbuf, pn);
	if (!tcp) {
		s->fd = socket(s->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&s->addr, s->addrlen) < 0) {
			snprintf(err, errlen, "HEP destination %s: %s", s->desc, strerror(errno));
			hep_sender_free(s);
			return NULL;
		}
		int sz = 1 << 20;
		setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	}
	return s;
}

size_t hep_sender_max_packet(const hep_sender_t *s)
{
	if (s->tcp) return HEP_MAX_PACKET;
	return s->family == AF_INET6 ? 65527u : 65507u;
}

void hep_sender_set_timeout(hep_sender_t *s, int ms) { s->timeout_ms = ms > 0 ? ms : 1; }
const char *hep_sender_last_error(const hep_sender_t *s) { return s->err; }
const char *hep_sender_describe(const hep_sender_t *s) { return s->desc; }
void hep_sender_get_stats(const hep_sender_t *s, hep_sender_stats_t *st) { *st = s->st; }

static void tcp_close(hep_sender_t *s)
{
	if (s->fd >= 0) close(s->fd);
	s->fd = -1;
}

/* Wait until fd is ready for `events` or the deadline passes. 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		double left = deadline - mono_now();
		if (left <= 0) return 0;
		struct pollfd pfd = { .fd = fd, .events = events };
		int ms = (int)(left * 1000) + 1;
		int r = poll(&pfd, 1, ms);
		if (r > 0) return 1;
		if (r == 0) continue;
		if (errno != EINTR) return -1;
	}
}

/* Connect (bounded by the timeout). 0 connected, -1 failed (backoff armed). */
static int tcp_connect(hep_sender_t *s)
{
	double now = mono_now();
	if (now < s->next_attempt) {
		if (!s->err[0]) snprintf(s->err, sizeof s->err, "%s: waiting to reconnect", s->desc);
		return -1;
	}
	s->st.connects++;
	int fd = socket(s->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int e = 0;
	if (fd < 0) { e = errno; goto fail; }
	if (connect(fd, (struct sockaddr *)&s->addr, s->addrlen) < 0) {
		if (errno != EINPROGRESS) { e = errno; goto fail; }
		int w = wait_fd(fd, POLLOUT, now + s->timeout_ms / 1000.0);
		if (w <= 0) { e = w == 0 ? ETIMEDOUT : errno; goto fail; }
		socklen_t el = sizeof e;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0) e = errno;
		if (e) goto fail;
	}
	s->fd = fd;
	s->backoff = BACKOFF_MIN_S;
	return 0;
fail:
	if (fd >= 0) close(fd);
	s->st.connect_failures++;
	set_err(s, "cannot connect to HEP collector", e);
	s->next_attempt = mono_now() + s->backoff;
	s->backoff = s->backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : s->backoff * 2;
	return -1;
}

/* Has the peer closed (or reset) an idle TCP connection? Reads and discards anything. */
static bool tcp_peer_gone(hep_sender_t *s)
{
	char b[256];
	for (;;) {
		ssize_t r = recv(s->fd, b, sizeof b, MSG_DONTWAIT);
		if (r > 0) continue;            /* collectors do not talk back; ignore */
		if (r == 0) return true;
		return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
	}
}

static int send_tcp(hep_sender_t *s, const uint8_t *pkt, size_t len)
{
	if (s->fd >= 0 && tcp_peer_gone(s)) {
		tcp_close(s);
		s->next_attempt = 0;            /* broken connection: retry at once */
	}
	if (s->fd < 0 && tcp_connect(s) < 0) return -1;
	double deadline = mono_now() + s->timeout_ms / 1000.0;
	size_t off = 0;
	while (off < len) {
		ssize_t w = send(s->fd, pkt + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) { off += (size_t)w; continue; }
		if (w < 0 && errno == EINTR) continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(s->fd, POLLOUT, deadline);
			if (r > 0) continue;
			set_err(s, "send to HEP collector", r == 0 ? ETIMEDOUT : errno);
		} else {
			set_err(s, "send to HEP collector", w < 0 ? errno : EPIPE);
		}
		/* A partly written packet desynchronizes the stream: drop the connection, and
		 * back off so a stalled collector cannot stall the capture on every message. */
		tcp_close(s);
		s->next_attempt = mono_now() + s->backoff;
		s->backoff = s->backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : s->backoff * 2;
		return -1;
	}
	return 0;
}

static int send_udp(hep_sender_t *s, const uint8_t *pkt, size_t len)
{
	double deadline = mono_now() + s->timeout_ms / 1000.0;
	int refused = 0;
	for (;;) {
		ssize_t w = send(s->fd, pkt, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == (ssize_t)len) return 0;
		if (w >= 0) { snprintf(s->err, sizeof s->err, "%s: short datagram", s->desc); return -1; }
		if (errno == EINTR) continue;
		/* An ICMP port unreachable from an earlier datagram is reported on this send
		 * and this datagram was not sent: try it once more. */
		if (errno == ECONNREFUSED) {
			s->st.udp_refused++;
			if (!refused++) continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			int r = wait_fd(s->fd, POLLOUT, deadline);
			if (r > 0) continue;
			set_err(s, "send to HEP collector", r == 0 ? ETIMEDOUT : errno);
			return -1;
		}
		set_err(s, "send to HEP collector", errno);
		return -1;
	}
}

int hep_sender_send(hep_sender_t *s, const uint8_t *pkt, size_t len)
{
	int r;
	if (len > hep_sender_max_packet(s)) {
		snprintf(s->err, sizeof s->err, "%s: packet of %zu bytes too large", s->desc, len);
		r = -1;
	} else {
		r = s->tcp ? send_tcp(s, pkt, len) : send_udp(s, pkt, len);
	}
	if (r == 0) { s->st.sent++; s->err[0] = 0; }
	else s->st.send_failed++;
	return r;
}

void hep_sender_free(hep_sender_t *s)
{
	if (!s) return;
	if (s->fd >= 0) close(s->fd);
	free(s);
}
