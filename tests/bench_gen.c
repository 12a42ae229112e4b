/*
 * bench_gen.c — bulk capture generator for tests/bench and scripts/bench.py: one
 * connection between real OpenSSL peers (libssl over memory BIOs) where the client sends
 * fixed-size SIP MESSAGEs, written as a consistent TCP connection in a pcap.
 * Why separate: the benchmark's measurements and its capture making are two concerns
 * (and bench.c stays under 800 lines).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>
#include "pcapw.h"
#include "bench_gen.h"

/* ---- bulk capture generator: real OpenSSL peers, fixed-size messages ---- */

typedef struct gen {
	pcapw_t *w;
	uint8_t cip[4], sip[4];
	uint16_t cport, sport;
	uint32_t seq[2];
	uint64_t ts;
	FILE *kl;
} gen_t;

static size_t SEG = 1460;          /* TCP payload per captured segment */
unsigned bench_gen_client;         /* client address 10.0.(1 + k / 250).(1 + k % 250), port 40001 + k */

static void emit(gen_t *g, int dir, uint8_t flags, const uint8_t *p, size_t n)
{
	do {
		size_t k = n > SEG ? SEG : n;
		pcapw_tcp_t t;
		memset(&t, 0, sizeof t);
		t.src = dir ? g->sip : g->cip;
		t.dst = dir ? g->cip : g->sip;
		t.sport = dir ? g->sport : g->cport;
		t.dport = dir ? g->cport : g->sport;
		t.seq = g->seq[dir];
		t.ack = g->seq[!dir];
		t.flags = flags | (k ? PCAPW_PSH : 0);
		t.window = 65535;
		t.payload = p;
		t.len = k;
		if (pcapw_write_tcp(g->w, g->ts, &t) != 0) abort();
		g->ts += 10;
		g->seq[dir] += (uint32_t)k + ((flags & (PCAPW_SYN | PCAPW_FIN)) ? 1 : 0);
		p += k;
		n -= k;
	} while (n);
}

/* Move what `from` (0 client, 1 server) wrote to the other side and to the capture. */
static size_t pump(gen_t *g, BIO *out[2], BIO *in[2], int from)
{
	uint8_t buf[65536];
	size_t total = 0;
	int r;
	while ((r = BIO_read(out[from], buf, sizeof buf)) > 0) {
		emit(g, from, PCAPW_ACK, buf, (size_t)r);
		BIO_write(in[!from], buf, r);
		total += (size_t)r;
	}
	return total;
}

static void keylog_cb(const SSL *s, const char *line)
{
	gen_t *g = SSL_get_app_data(s);
	if (g && g->kl) { fprintf(g->kl, "%s\n", line); fflush(g->kl); }
}

/* Write a capture of one connection where the client sends n_msgs SIP messages of
 * msg_len bytes each. Returns 0 / -1. */
int bench_gen_bulk(const char *pcap, const char *keylog, const char *key, const char *cert, int version,
                   const char *cipher, size_t seg, int n_msgs, size_t msg_len)
{
	SEG = seg ? seg : 1460;
	SSL_CTX *ctx[2] = { SSL_CTX_new(TLS_client_method()), SSL_CTX_new(TLS_server_method()) };
	for (int i = 0; i < 2; i++) {
		SSL_CTX_set_min_proto_version(ctx[i], version);
		SSL_CTX_set_max_proto_version(ctx[i], version);
		if (version == TLS1_3_VERSION) SSL_CTX_set_ciphersuites(ctx[i], cipher);
		else SSL_CTX_set_cipher_list(ctx[i], cipher);
		SSL_CTX_set_options(ctx[i], SSL_OP_NO_TICKET);
		SSL_CTX_set_keylog_callback(ctx[i], keylog_cb);
	}
	SSL_CTX_set_verify(ctx[0], SSL_VERIFY_NONE, NULL);
	if (SSL_CTX_use_certificate_file(ctx[1], cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx[1], key, SSL_FILETYPE_PEM) != 1) return -1;
	gen_t g;
	memset(&g, 0, sizeof g);
	g.w = pcapw_open(pcap, PCAPW_LINK_ETHERNET);
	if (!g.w) return -1;
	memcpy(g.cip, "\x0a\x00\x00\x01", 4);
	memcpy(g.sip, "\x0a\x00\x00\x02", 4);
	g.cport = 40001;
	if (bench_gen_client) {            /* another client: threads shard flows by address pair */
		g.cip[2] = (uint8_t)(1 + bench_gen_client / 250);
		g.cip[3] = (uint8_t)(1 + bench_gen_client % 250);
		g.cport = (uint16_t)(40001 + bench_gen_client);
	}
	g.sport = 5061;
	g.seq[0] = 1000;
	g.seq[1] = 900000;
	g.ts = 1700000000ull * 1000000ull;
	g.kl = keylog ? fopen(keylog, "w") : NULL;
	SSL *s[2];
	BIO *in[2], *out[2];
	for (int i = 0; i < 2; i++) {
		s[i] = SSL_new(ctx[i]);
		SSL_set_app_data(s[i], &g);
		in[i] = BIO_new(BIO_s_mem());
		out[i] = BIO_new(BIO_s_mem());
		SSL_set_bio(s[i], in[i], out[i]);
	}
	SSL_set_connect_state(s[0]);
	SSL_set_accept_state(s[1]);
	emit(&g, 0, PCAPW_SYN, NULL, 0);
	emit(&g, 1, PCAPW_SYN | PCAPW_ACK, NULL, 0);
	emit(&g, 0, PCAPW_ACK, NULL, 0);
	int done[2] = { 0, 0 };
	for (int it = 0; it < 100 && !(done[0] && done[1]); it++) {
		for (int i = 0; i < 2; i++) {
			if (!done[i]) done[i] = SSL_do_handshake(s[i]) == 1;
			pump(&g, out, in, i);
		}
	}
	if (!done[0] || !done[1]) { fprintf(stderr, "bench: handshake failed for %s\n", cipher); return -1; }
	/* drain post-handshake messages (TLS 1.3) */
	uint8_t rbuf[32768];
	SSL_read(s[0], rbuf, 1);
	pump(&g, out, in, 0);
	uint8_t *msg = malloc(msg_len);
	for (int m = 0; m < n_msgs; m++) {
		char hdr[256];
		int hl = snprintf(hdr, sizeof hdr,
		                  "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1:40001;branch=z9hG4bK%d\r\n"
		                  "Call-ID: bench%d\r\nCSeq: %d MESSAGE\r\nContent-Type: application/octet-stream\r\n"
		                  "Content-Length: %6zu\r\n\r\n", m, m, m + 1, (size_t)0);
		size_t body = msg_len - (size_t)hl;
		hl = snprintf(hdr, sizeof hdr,
		              "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1:40001;branch=z9hG4bK%d\r\n"
		              "Call-ID: bench%d\r\nCSeq: %d MESSAGE\r\nContent-Type: application/octet-stream\r\n"
		              "Content-Length: %6zu\r\n\r\n", m, m, m + 1, body);
		memcpy(msg, hdr, (size_t)hl);
		for (size_t i = (size_t)hl; i < msg_len; i++) msg[i] = (uint8_t)('a' + (i + (size_t)m) % 26);
		if (SSL_write(s[0], msg, (int)msg_len) != (int)msg_len) return -1;
		pump(&g, out, in, 0);
		while (SSL_read(s[1], rbuf, sizeof rbuf) > 0) ;
		pump(&g, out, in, 1);
	}
	free(msg);
	emit(&g, 0, PCAPW_FIN | PCAPW_ACK, NULL, 0);
	emit(&g, 1, PCAPW_FIN | PCAPW_ACK, NULL, 0);
	for (int i = 0; i < 2; i++) { SSL_free(s[i]); SSL_CTX_free(ctx[i]); }
	if (g.kl) fclose(g.kl);
	return pcapw_close(g.w);
}

