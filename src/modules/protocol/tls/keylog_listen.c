/*
 * keylog_listen.c — UDP key-log listener (implements keylog_listen.h).
 *
 * What: a UDP socket that receives NSS key-log lines from SIP servers (Kamailio 6 tls
 * `keylog_peer`: one line per datagram, no newline) or any program forwarding its
 * SSL_CTX_set_keylog_callback lines, and hands each datagram to the keystore's memory-fed
 * key log. Engines sharing the keystore then release the sessions that waited for those
 * secrets (their key-log generation moved).
 *
 * Why a file of its own: it is front-end glue (sockets, threads, address lists), used by
 * the captagent module and captls alike, and the engine must stay free of I/O. It only
 * uses the public engine API. Bounds: one datagram buffer of max_dgram bytes (longer
 * datagrams counted and dropped, MSG_TRUNC), the key log's own table bound, at most
 * KLL_MAX_ALLOW allow entries. Senders outside the allow list (default: loopback) are
 * counted and dropped before any parsing. The buffer is wiped after every datagram and
 * nothing here logs datagram content.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "keylog_listen.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct allow_net {
	int family;               /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned plen;            /* prefix length in bits */
} allow_net_t;

typedef struct allow_list {
	bool any;
	allow_net_t net[KLL_MAX_ALLOW];
	size_t n;
} allow_list_t;

struct kl_listener {
	int fd;
	int stop_pipe[2];
	pthread_t thread;
	bool started;
	tls_keystore_t *ks;
	allow_list_t allow;
	size_t max_dgram;
	uint8_t *buf;             /* max_dgram + 1 bytes, wiped after each datagram */
	char desc[80];
	uint16_t port;
	kl_listener_stats_t st;   /* updated with __atomic builtins */
};

static void setf(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
	if (err && errlen) snprintf(err, errlen, fmt, a, b);
}

/* ---- spec: [udp:][HOST:]PORT, HOST numeric IPv4, [IPv6] or localhost ---- */

static int parse_spec(const char *spec, struct sockaddr_storage *ss, socklen_t *sl,
                      char *err, size_t errlen)
{
	char host[64] = "127.0.0.1";
	const char *s = spec, *port_s;

	if (!s || !*s) { setf(err, errlen, "keylog-listen: empty value%s%s", "", ""); return -1; }
	if (!strncasecmp(s, "udp:", 4)) s += 4;
	else if (!strncasecmp(s, "tcp:", 4) || !strncasecmp(s, "tls:", 4)) {
		setf(err, errlen, "keylog-listen '%s': only udp is supported%s", spec, "");
		return -1;
	}
	if (*s == '[') {
		const char *e = strchr(s, ']');
		if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host) goto bad;
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		port_s = e + 2;
	} else {
		const char *c = strchr(s, ':');
		if (c && strchr(c + 1, ':')) {
			setf(err, errlen, "keylog-listen '%s': write an IPv6 address as [ADDR]:PORT%s", spec, "");
			return -1;
		}
		if (c) {
			if ((size_t)(c - s) >= sizeof host) goto bad;
			if (c > s) { memcpy(host, s, (size_t)(c - s)); host[c - s] = '\0'; }
			port_s = c + 1;
		} else {
			port_s = s;
		}
	}
	if (!*port_s || strlen(port_s) > 5) goto bad;
	unsigned long port = 0;
	for (const char *p = port_s; *p; p++) {
		if (!isdigit((unsigned char)*p)) goto bad;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port > 65535) goto bad;
	if (!strcasecmp(host, "localhost")) strcpy(host, "127.0.0.1");

	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*sl = sizeof *a4;
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*sl = sizeof *a6;
	} else {
		setf(err, errlen, "keylog-listen '%s': '%s' is not an IPv4 or IPv6 address", spec, host);
		return -1;
	}
	return 0;
bad:
	setf(err, errlen, "keylog-listen '%s': want udp:IP:PORT, udp:[IPv6]:PORT or udp:PORT%s", spec, "");
	return -1;
}

/* ---- allow list ---- */

static int parse_allow(const char *allow, allow_list_t *al, char *err, size_t errlen)
{
	memset(al, 0, sizeof *al);
	if (!allow || !*allow) {  /* default: loopback */
		al->net[0].family = AF_INET;
		al->net[0].addr[0] = 127;
		al->net[0].plen = 8;
		al->net[1].family = AF_INET6;
		al->net[1].addr[15] = 1;
		al->net[1].plen = 128;
		al->n = 2;
		return 0;
	}
	const char *p = allow;
	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t' || *p == ';') p++;
		if (!*p) break;
		const char *e = p;
		while (*e && *e != ',' && *e != ' ' && *e != '\t' && *e != ';') e++;
		char tok[64];
		if ((size_t)(e - p) >= sizeof tok) goto bad_tok_len;
		memcpy(tok, p, (size_t)(e - p));
		tok[e - p] = '\0';
		p = e;
		if (!strcasecmp(tok, "any")) { al->any = true; continue; }
		if (al->n >= KLL_MAX_ALLOW) {
			setf(err, errlen, "keylog-allow: more than %s entries%s", "64", "");
			return -1;
		}
		allow_net_t *n = &al->net[al->n];
		char *slash = strchr(tok, '/');
		long plen = -1;
		if (slash) {
			char *end;
			*slash = '\0';
			errno = 0;
			plen = strtol(slash + 1, &end, 10);
			if (errno || end == slash + 1 || *end || plen < 0) goto bad_tok;
		}
		if (!strcasecmp(tok, "localhost")) strcpy(tok, "127.0.0.1");
		if (inet_pton(AF_INET, tok, n->addr) == 1) {
			n->family = AF_INET;
			if (plen > 32) goto bad_tok;
			n->plen = plen < 0 ? 32 : (unsigned)plen;
		} else if (inet_pton(AF_INET6, tok, n->addr) == 1) {
			n->family = AF_INET6;
			if (plen > 128) goto bad_tok;
			n->plen = plen < 0 ? 128 : (unsigned)plen;
		} else {
			goto bad_tok;
		}
		al->n++;
		continue;
bad_tok:
		if (slash) *slash = '/';
		setf(err, errlen, "keylog-allow: '%s' is not an IP address or ADDR/PREFIX%s", tok, "");
		return -1;
	}
	if (!al->any && !al->n) {
		setf(err, errlen, "keylog-allow '%s': no address%s", allow, "");
		return -1;
	}
	return 0;
bad_tok_len:
	setf(err, errlen, "keylog-allow '%s': entry too long%s", allow, "");
	return -1;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	unsigned full = plen / 8, rest = plen % 8;
	if (memcmp(a, b, full) != 0) return false;
	if (!rest) return true;
	uint8_t m = (uint8_t)(0xFF << (8 - rest));
	return (a[full] & m) == (b[full] & m);
}

static bool allowed(const allow_list_t *al, const struct sockaddr_storage *from)
{
	if (al->any) return true;
	int fam = from->ss_family;
	const uint8_t *a;
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
	if (fam == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)from)->sin_addr;
	} else if (fam == AF_INET6) {
		a = (const uint8_t *)&((const struct sockaddr_in6 *)from)->sin6_addr;
		if (!memcmp(a, mapped, 12)) { fam = AF_INET; a += 12; }  /* v4-mapped sender */
	} else {
		return false;
	}
	for (size_t i = 0; i < al->n; i++)
		if (al->net[i].family == fam && prefix_match(al->net[i].addr, a, al->net[i].plen))
			return true;
	return false;
}

/* ---- public ---- */

int kl_listener_check(const char *spec, const char *allow, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	allow_list_t al;
	if (parse_spec(spec, &ss, &sl, err, errlen) < 0) return -1;
	return parse_allow(allow, &al, err, errlen);
}

kl_listener_t *kl_listener_open(const char *spec, const char *allow, size_t max_dgram,
                                tls_keystore_t *ks, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (parse_spec(spec, &ss, &sl, err, errlen) < 0) return NULL;
	kl_listener_t *l = calloc(1, sizeof *l);
	if (!l) { setf(err, errlen, "keylog-listen %s: out of memory%s", spec, ""); return NULL; }
	l->fd = -1;
	l->stop_pipe[0] = l->stop_pipe[1] = -1;
	if (parse_allow(allow, &l->allow, err, errlen) < 0) { free(l); return NULL; }
	if (max_dgram == 0) max_dgram = KLL_DEFAULT_MAX_DGRAM;
	if (max_dgram > 65535) max_dgram = 65535;
	l->max_dgram = max_dgram;
	l->buf = malloc(max_dgram + 1);
	if (!l->buf) { setf(err, errlen, "keylog-listen %s: out of memory%s", spec, ""); free(l); return NULL; }
	{
		/* the keystore must have a memory-fed key log: probe with an empty datagram */
		if (!ks || tls_keystore_feed_keylog(ks, (const uint8_t *)"", 0, NULL) < 0) {
			setf(err, errlen, "keylog-listen %s: the keystore has no memory-fed key log%s", spec, "");
			free(l->buf);
			free(l);
			return NULL;
		}
	}
	l->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) goto sys;
	if (ss.ss_family == AF_INET6) {
		int off = 0;   /* "[::]" also receives IPv4 (as v4-mapped senders) */
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
	}
	if (bind(l->fd, (struct sockaddr *)&ss, sl) < 0) goto sys;
	struct sockaddr_storage bound;
	socklen_t bl = sizeof bound;
	char ip[INET6_ADDRSTRLEN] = "?";
	if (getsockname(l->fd, (struct sockaddr *)&bound, &bl) == 0) {
		if (bound.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&bound;
			inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
			l->port = ntohs(a->sin_port);
			snprintf(l->desc, sizeof l->desc, "udp:%s:%u", ip, l->port);
		} else {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&bound;
			inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
			l->port = ntohs(a->sin6_port);
			snprintf(l->desc, sizeof l->desc, "udp:[%s]:%u", ip, l->port);
		}
	}
	tls_keystore_ref(ks);
	l->ks = ks;
	return l;
sys:
	if (err && errlen) snprintf(err, errlen, "keylog-listen %s: %s", spec, strerror(errno));
	if (l->fd >= 0) close(l->fd);
	free(l->buf);
	free(l);
	return NULL;
}

#define ADD(field, v) __atomic_add_fetch(&l->st.field, (uint64_t)(v), __ATOMIC_RELAXED)

size_t kl_listener_poll(kl_listener_t *l, size_t max)
{
	size_t n = 0;
	if (!l) return 0;
	while (!max || n < max) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof from;
		ssize_t r = recvfrom(l->fd, l->buf, l->max_dgram + 1, MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (r < 0) {
			if (errno == EINTR) continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) ADD(errors, 1);
			break;
		}
		n++;
		size_t len = (size_t)r;
		if (!allowed(&l->allow, &from)) {
			ADD(rejected, 1);
		} else if (len > l->max_dgram) {
			ADD(oversize, 1);
		} else {
			tls_keylog_feed_result_t fr;
			tls_keystore_feed_keylog(l->ks, l->buf, len, &fr);
			ADD(datagrams, 1);
			ADD(bytes, len);
			ADD(lines, fr.lines);
			ADD(secrets_new, fr.added);
			ADD(malformed, fr.malformed);
			ADD(ignored, fr.ignored);
		}
		explicit_bzero(l->buf, len < l->max_dgram + 1 ? len : l->max_dgram + 1);
	}
	return n;
}

int kl_listener_fd(const kl_listener_t *l)
{
	return l ? l->fd : -1;
}

static void *listen_thread(void *arg)
{
	kl_listener_t *l = arg;
	for (;;) {
		struct pollfd pf[2] = { { l->fd, POLLIN, 0 }, { l->stop_pipe[0], POLLIN, 0 } };
		int r = poll(pf, 2, -1);
		if (r < 0) {
			if (errno == EINTR) continue;
			break;
		}
		if (pf[1].revents) break;
		if (pf[0].revents) kl_listener_poll(l, 256);
	}
	return NULL;
}

int kl_listener_start(kl_listener_t *l, char *err, size_t errlen)
{
	if (!l || l->started) return 0;
	if (pipe2(l->stop_pipe, O_CLOEXEC) < 0) {
		if (err && errlen) snprintf(err, errlen, "keylog-listen %s: %s", l->desc, strerror(errno));
		return -1;
	}
	int rc = pthread_create(&l->thread, NULL, listen_thread, l);
	if (rc != 0) {
		if (err && errlen) snprintf(err, errlen, "keylog-listen %s: thread: %s", l->desc, strerror(rc));
		close(l->stop_pipe[0]);
		close(l->stop_pipe[1]);
		l->stop_pipe[0] = l->stop_pipe[1] = -1;
		return -1;
	}
	l->started = true;
	return 0;
}

void kl_listener_get_stats(kl_listener_t *l, kl_listener_stats_t *st)
{
	memset(st, 0, sizeof *st);
	if (!l) return;
	st->datagrams = __atomic_load_n(&l->st.datagrams, __ATOMIC_RELAXED);
	st->bytes = __atomic_load_n(&l->st.bytes, __ATOMIC_RELAXED);
	st->lines = __atomic_load_n(&l->st.lines, __ATOMIC_RELAXED);
	st->secrets_new = __atomic_load_n(&l->st.secrets_new, __ATOMIC_RELAXED);
	st->malformed = __atomic_load_n(&l->st.malformed, __ATOMIC_RELAXED);
	st->ignored = __atomic_load_n(&l->st.ignored, __ATOMIC_RELAXED);
	st->rejected = __atomic_load_n(&l->st.rejected, __ATOMIC_RELAXED);
	st->oversize = __atomic_load_n(&l->st.oversize, __ATOMIC_RELAXED);
	st->errors = __atomic_load_n(&l->st.errors, __ATOMIC_RELAXED);
}

const char *kl_listener_describe(const kl_listener_t *l)
{
	return l ? l->desc : "";
}

uint16_t kl_listener_port(const kl_listener_t *l)
{
	return l ? l->port : 0;
}

void kl_listener_free(kl_listener_t *l)
{
	if (!l) return;
	if (l->started) {
		ssize_t w;
		do w = write(l->stop_pipe[1], "x", 1); while (w < 0 && errno == EINTR);
		pthread_join(l->thread, NULL);
	}
	if (l->stop_pipe[0] >= 0) close(l->stop_pipe[0]);
	if (l->stop_pipe[1] >= 0) close(l->stop_pipe[1]);
	if (l->fd >= 0) close(l->fd);
	if (l->buf) {
		explicit_bzero(l->buf, l->max_dgram + 1);
		free(l->buf);
	}
	tls_keystore_unref(l->ks);
	free(l);
}
