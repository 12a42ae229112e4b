/*
 * tlsgen_drive.c — drives one connection's OpenSSL client and server over memory BIOs:
 * after every SSL call the write BIO is drained into that side's TCP stream (as segments
 * and ACKs, tlsgen_tcp.c) and the peer's input; handshake, 0-RTT, STARTTLS prefix,
 * message exchange (key updates, renegotiations, split writes), shutdown.
 *
 * Why: this is where the TLS bytes of every capture come from: libssl produces them,
 * nothing here builds or encrypts a record, and the plaintext each side wrote is kept
 * with what the peer decrypted, so tests can compare against known bytes.
 */
#include "tlsgen_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

static void tcp_send(gconn_t *g, int dir, size_t off, size_t len)
{
	size_t done = 0;
	uint32_t ack = g->isn[!dir] + 1 + (uint32_t)g->tls[!dir].len;
	size_t nseg = 0;
	while (done < len) {
		size_t n = len - done < g->segmax ? len - done : g->segmax;
		seg_t s = { .dir = (uint8_t)dir, .flags = PCAPW_ACK, .seq = g->isn[dir] + 1 + (uint32_t)(off + done),
		            .ack = ack, .off = off + done, .len = n };
		done += n;
		if (done == len) s.flags |= PCAPW_PSH;
		tg_segv_push(&g->segs, s);
		nseg++;
		/* late_segment: the receiver ACKs every second segment (delayed ACK) */
		if (g->o->late_segment && done < len && nseg % 2 == 0) {
			seg_t a = { .dir = (uint8_t)!dir, .flags = PCAPW_ACK, .seq = ack,
			            .ack = g->isn[dir] + 1 + (uint32_t)(off + done) };
			tg_segv_push(&g->segs, a);
		}
	}
	/* the receiver acknowledges now and then (always after a multi-segment write, and
	 * after every write with late_segment) */
	if (nseg >= 2 || g->o->late_segment || tg_rng_u(g->r, 3) == 0) {
		seg_t a = { .dir = (uint8_t)!dir, .flags = PCAPW_ACK, .seq = ack,
		            .ack = g->isn[dir] + 1 + (uint32_t)(off + len) };
		tg_segv_push(&g->segs, a);
	}
}

/* move everything side `d` produced to the TCP stream and the peer's input */
static int flush_side(gconn_t *g, int d)
{
	size_t n = BIO_ctrl_pending(g->wbio[d]);
	if (!n) return 0;
	size_t off = g->tls[d].len;
	tg_buf_reserve(&g->tls[d], n);
	int rd = BIO_read(g->wbio[d], g->tls[d].p + off, (int)n);
	if (rd != (int)n) { tg_set_err(g->err, g->errlen, "BIO_read short"); return -1; }
	g->tls[d].len += n;
	if (BIO_write(g->rbio[!d], g->tls[d].p + off, (int)n) != (int)n) {
		tg_set_err(g->err, g->errlen, "BIO_write failed");
		return -1;
	}
	tcp_send(g, d, off, n);
	return 0;
}


/* side d reads all plaintext available; output it produced is flushed */
static int drain_read(gconn_t *g, int d)
{
	uint8_t tmp[16384];
	for (;;) {
		if (d == 1) tg_server_rand(g, 1);
		int n = SSL_read(g->ssl[d], tmp, sizeof tmp);
		if (d == 1) tg_server_rand(g, 0);
		if (n > 0) { tg_buf_put(&g->recv[!d], tmp, (size_t)n); continue; }
		int e = SSL_get_error(g->ssl[d], n);
		if (e == SSL_ERROR_WANT_READ) break;
		if (e == SSL_ERROR_ZERO_RETURN) { g->peer_closed[d] = 1; break; }
		tg_set_err(g->err, g->errlen, "%s: SSL_read failed (error %d)", d ? "server" : "client", e);
		tg_add_ssl_err(g->err, g->errlen);
		return -1;
	}
	return flush_side(g, d);
}

static int ssl_write_all(gconn_t *g, int d, const uint8_t *p, size_t len)
{
	if (!len) return 0;
	int n = SSL_write(g->ssl[d], p, (int)len);
	if (n != (int)len) {
		tg_set_err(g->err, g->errlen, "%s: SSL_write failed (error %d)", d ? "server" : "client",
		           SSL_get_error(g->ssl[d], n));
		tg_add_ssl_err(g->err, g->errlen);
		return -1;
	}
	return 0;
}

/* One server handshake step, with the static key as the server's randomness if set. */
static int server_step(gconn_t *g, int (*step)(SSL *), SSL *ssl)
{
	tg_server_rand(g, 1);
	int rc = step(ssl);
	tg_server_rand(g, 0);
	return rc;
}

static int server_read_early(gconn_t *g, uint8_t *buf, size_t n, size_t *rb)
{
	tg_server_rand(g, 1);
	int r = SSL_read_early_data(g->ssl[1], buf, n, rb);
	tg_server_rand(g, 0);
	return r;
}

static void add_msg(gconn_t *g, const spec_t *s);

/* TLS 1.3 0-RTT: the client sends the plan's first message as early data with its
 * ClientHello; the server reads it with SSL_read_early_data. Returns 1 if the server
 * accepted it, 0 if not sent or rejected (the message then goes normally), -1 on error. */
int tg_early_data(gconn_t *g, plan_t *p)
{
	if (!p->n || p->v[0].dir != 0) return 0;
	spec_t *s = &p->v[0];
	size_t written = 0;
	if (SSL_write_early_data(g->ssl[0], s->data.p, s->data.len, &written) != 1 || written != s->data.len) {
		tg_set_err(g->err, g->errlen, "SSL_write_early_data failed");
		tg_add_ssl_err(g->err, g->errlen);
		return -1;
	}
	if (flush_side(g, 0)) return -1;
	g->early_sent = 1;
	tg_buf_put(&g->early_plain, s->data.p, s->data.len);
	uint8_t tmp[16384];
	for (int it = 0; it < 32; it++) {
		size_t rb = 0;
		int r = server_read_early(g, tmp, sizeof tmp, &rb);
		if (r == SSL_READ_EARLY_DATA_SUCCESS) { tg_buf_put(&g->recv[0], tmp, rb); continue; }
		if (flush_side(g, 1)) return -1;
		if (r == SSL_READ_EARLY_DATA_FINISH) break;
		if (SSL_get_error(g->ssl[1], r) != SSL_ERROR_WANT_READ) {
			tg_set_err(g->err, g->errlen, "SSL_read_early_data failed");
			tg_add_ssl_err(g->err, g->errlen);
			return -1;
		}
		SSL_do_handshake(g->ssl[0]);           /* client: EndOfEarlyData + Finished */
		if (flush_side(g, 0)) return -1;
	}
	if (SSL_get_early_data_status(g->ssl[1]) != SSL_EARLY_DATA_ACCEPTED) {
		g->recv[0].len = 0;
		return 0;
	}
	tg_buf_put(&g->plain[0], s->data.p, s->data.len);
	add_msg(g, s);
	s->early = true;
	return 1;
}

/* STARTTLS and friends: the clear-text bytes each side sends before its first record,
 * written to the TCP stream in protocol order (server first where the protocol says so). */
static void plain_send(gconn_t *g, int d, const void *p, size_t n)
{
	size_t off = g->tls[d].len;
	tg_buf_put(&g->tls[d], p, n);
	tcp_send(g, d, off, n);
}

int tg_starttls_prefix(gconn_t *g, const char *proto)
{
	static const char *const smtp[] = { "S220 mail.example.com ESMTP Postfix\r\n", "CEHLO client.example.com\r\n",
		"S250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
		"CSTARTTLS\r\n", "S220 2.0.0 Ready to start TLS\r\n", NULL };
	static const char *const imap[] = { "S* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n",
		"Ca1 STARTTLS\r\n", "Sa1 OK Begin TLS negotiation now.\r\n", NULL };
	static const char *const pop3[] = { "S+OK Dovecot ready.\r\n", "CSTLS\r\n", "S+OK Begin TLS negotiation now.\r\n", NULL };
	static const char *const xmpp[] = {
		"C<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
		"S<?xml version='1.0'?><stream:stream from='example.com' id='x1' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
		"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
		"C<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", "S<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", NULL };
	static const char *const ftp[] = { "S220 (vsFTPd 3.0.3)\r\n", "CAUTH TLS\r\n", "S234 Proceed with negotiation.\r\n", NULL };
	const char *const *steps = !strcmp(proto, "smtp") ? smtp : !strcmp(proto, "imap") ? imap :
	                           !strcmp(proto, "pop3") ? pop3 : !strcmp(proto, "xmpp") ? xmpp :
	                           !strcmp(proto, "ftp") ? ftp : NULL;
	if (steps) {
		for (int i = 0; steps[i]; i++)
			plain_send(g, steps[i][0] == 'S', steps[i] + 1, strlen(steps[i] + 1));
		return 0;
	}
	if (!strcmp(proto, "postgres")) {        /* SSLRequest: length 8, code 80877103; answer 'S' */
		static const uint8_t req[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
		plain_send(g, 0, req, sizeof req);
		plain_send(g, 1, "S", 1);
		return 0;
	}
	if (!strcmp(proto, "ldap")) {            /* ExtendedRequest 1.3.6.1.4.1.1466.20037 and its success */
		static const uint8_t req[] = { 0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16,
			'1','.','3','.','6','.','1','.','4','.','1','.','1','4','6','6','.','2','0','0','3','7' };
		static const uint8_t rsp[] = { 0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00,
			0x04, 0x00, 0x04, 0x00 };
		plain_send(g, 0, req, sizeof req);
		plain_send(g, 1, rsp, sizeof rsp);
		return 0;
	}
	tg_set_err(g->err, g->errlen, "unknown starttls protocol '%s'", proto);
	return -1;
}

int tg_handshake(gconn_t *g)
{
	for (int it = 0; it < 64; it++) {
		int rc[2];
		for (int d = 0; d < 2; d++) {
			rc[d] = d ? server_step(g, SSL_do_handshake, g->ssl[d]) : SSL_do_handshake(g->ssl[d]);
			if (rc[d] <= 0) {
				int e = SSL_get_error(g->ssl[d], rc[d]);
				if (e != SSL_ERROR_WANT_READ) {
					/* let the alert reach the capture, then report */
					flush_side(g, d);
					tg_set_err(g->err, g->errlen, "TLS handshake failed on the %s side", d ? "server" : "client");
					tg_add_ssl_err(g->err, g->errlen);
					return -1;
				}
			}
			if (flush_side(g, d)) return -1;
		}
		if (rc[0] == 1 && rc[1] == 1) return 0;
	}
	tg_set_err(g->err, g->errlen, "TLS handshake did not complete");
	return -1;
}

static void add_msg(gconn_t *g, const spec_t *s)
{
	if (g->n_msgs == g->cap_msgs) {
		size_t nc = g->cap_msgs ? g->cap_msgs * 2 : 16;
		tlsgen_msg_t *n = realloc(g->msgs, nc * sizeof *n);
		if (!n) abort();
		g->msgs = n; g->cap_msgs = nc;
	}
	tlsgen_msg_t *m = &g->msgs[g->n_msgs++];
	memset(m, 0, sizeof *m);
	m->dir = s->dir;
	m->len = s->data.len;
	m->data = malloc(s->data.len ? s->data.len : 1);
	if (!m->data) abort();
	memcpy(m->data, s->data.p, s->data.len);
	m->offset = g->plain[s->dir].len - s->data.len;
	m->size_class = m->len < 100 ? TLSGEN_TINY : m->len < 2000 ? TLSGEN_NORMAL : m->len <= 16384 ? TLSGEN_MID : TLSGEN_BIG;
	m->keepalive = s->keepalive;
	m->chunked = s->chunked;
	m->ws = s->ws;
	if (s->ws_payload.len) {
		m->ws_payload = malloc(s->ws_payload.len);
		if (!m->ws_payload) abort();
		memcpy(m->ws_payload, s->ws_payload.p, s->ws_payload.len);
		m->ws_payload_len = s->ws_payload.len;
	}
}

/* TLS <= 1.2: one client-initiated renegotiation (a full handshake under the current keys). */
static int renegotiate_once(gconn_t *g)
{
	if (SSL_renegotiate(g->ssl[0]) != 1) {
		tg_set_err(g->err, g->errlen, "SSL_renegotiate failed");
		tg_add_ssl_err(g->err, g->errlen);
		return -1;
	}
	for (int it = 0; it < 32; it++) {
		int r = SSL_do_handshake(g->ssl[0]);
		if (r <= 0 && SSL_get_error(g->ssl[0], r) != SSL_ERROR_WANT_READ) {
			flush_side(g, 0);
			tg_set_err(g->err, g->errlen, "renegotiation %u: client handshake failed", g->renegotiations + 1);
			tg_add_ssl_err(g->err, g->errlen);
			return -1;
		}
		if (flush_side(g, 0) || drain_read(g, 1)) return -1;
		if (r == 1 && !SSL_renegotiate_pending(g->ssl[0])) { g->renegotiations++; return 0; }
	}
	tg_set_err(g->err, g->errlen, "renegotiation %u did not complete", g->renegotiations + 1);
	return -1;
}

int tg_exchange(gconn_t *g, plan_t *p)
{
	const tlsgen_opts_t *o = g->o;
	int tls13 = o->tls_version >= 0x0304;
	/* key update points: the client before its write near 1/3 of the plan, the server
	 * before its write near 2/3 */
	size_t ku_c = (size_t)-1, ku_s = (size_t)-1;
	if (o->key_update && tls13) {
		for (size_t i = p->n / 3; i < p->n; i++) if (p->v[i].dir == 0 && !p->v[i].merge_prev) { ku_c = i; break; }
		for (size_t i = (2 * p->n) / 3; i < p->n; i++) if (p->v[i].dir == 1 && !p->v[i].merge_prev && i != ku_c) { ku_s = i; break; }
		if (ku_s == (size_t)-1)
			for (size_t i = 0; i < p->n; i++) if (p->v[i].dir == 1 && !p->v[i].merge_prev) { ku_s = i; break; }
	}
	/* renegotiations: spread over the write points (specs starting a flush, not the first) */
	size_t nwp = 0;
	for (size_t i = 1; i < p->n; i++) if (!p->v[i].merge_prev && !p->v[i].early) nwp++;
	size_t wp = 0;
	int reneg = o->renegotiate > 0 ? o->renegotiate : 0;
	for (size_t i = 0; i < p->n; i++) {
		spec_t *s = &p->v[i];
		int d = s->dir;
		if (s->early) continue;
		if (reneg && i > 0 && !s->merge_prev) {
			/* write point wp (0-based) of nwp gets renegotiations up to (wp+1)*reneg/nwp */
			size_t upto = nwp ? (size_t)(((uint64_t)(wp + 1) * (uint64_t)reneg) / nwp) : (size_t)reneg;
			wp++;
			while (g->renegotiations < upto)
				if (renegotiate_once(g)) return -1;
		}
		if (i == ku_c || i == ku_s) {
			if (!SSL_key_update(g->ssl[d], d == 0 ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED)) {
				tg_set_err(g->err, g->errlen, "SSL_key_update failed");
				tg_add_ssl_err(g->err, g->errlen);
				return -1;
			}
			/* sometimes the KeyUpdate goes out in its own flush, else with the data */
			if (tg_rng_u(g->r, 2)) {
				if (SSL_do_handshake(g->ssl[d]) != 1) {
					tg_set_err(g->err, g->errlen, "KeyUpdate: SSL_do_handshake failed");
					tg_add_ssl_err(g->err, g->errlen);
					return -1;
				}
				if (flush_side(g, d) || drain_read(g, !d)) return -1;
			}
		}
		tg_buf_put(&g->plain[d], s->data.p, s->data.len);
		size_t cut = 0;
		if (o->split_writes && s->data.len > 200 && tg_rng_u(g->r, 4) == 0) {
			/* two SSL_write calls: at the header/body boundary when there is one */
			const char *hb = strstr((const char *)s->data.p, "\r\n\r\n");
			cut = hb ? (size_t)(hb - (const char *)s->data.p) + 4 : 0;
			if (cut == 0 || cut >= s->data.len) cut = tg_rng_range(g->r, 1, (uint32_t)s->data.len - 1);
		}
		if (cut) {
			if (ssl_write_all(g, d, s->data.p, cut)) return -1;
			if (tg_rng_u(g->r, 2) && (flush_side(g, d) || drain_read(g, !d))) return -1;
			if (ssl_write_all(g, d, s->data.p + cut, s->data.len - cut)) return -1;
		} else if (ssl_write_all(g, d, s->data.p, s->data.len)) {
			return -1;
		}
		add_msg(g, s);
		if (i + 1 < p->n && p->v[i + 1].merge_prev && p->v[i + 1].dir == d) continue;
		if (flush_side(g, d) || drain_read(g, !d)) return -1;
	}
	while (reneg && g->renegotiations < (unsigned)reneg)     /* no write point at all */
		if (renegotiate_once(g)) return -1;
	return 0;
}

int tg_shutdown_both(gconn_t *g)
{
	int r0 = SSL_shutdown(g->ssl[0]);
	if (r0 < 0) goto fail;
	if (flush_side(g, 0) || drain_read(g, 1)) return -1;
	int r1 = SSL_shutdown(g->ssl[1]);
	if (r1 < 0) goto fail;
	if (flush_side(g, 1) || drain_read(g, 0)) return -1;
	if (r0 == 0) {
		r0 = SSL_shutdown(g->ssl[0]);
		if (r0 < 0) goto fail;
		if (flush_side(g, 0)) return -1;
	}
	return 0;
fail:
	tg_set_err(g->err, g->errlen, "SSL_shutdown failed");
	tg_add_ssl_err(g->err, g->errlen);
	return -1;
}
