/*
 * tlsgen_ws.c — SIP over WebSocket (TLSGEN_APP_WS_SIP, RFC 7118): turns a rendered SIP
 * plan into the HTTP upgrade plus RFC 6455 frames (client frames masked, some messages
 * fragmented with control frames between fragments, keep-alives as ping/pong, one
 * message with a 64-bit length, close frames at the end).
 *
 * Why: the engine's WebSocket deframing is tested on frames produced independently of
 * its parser; the TLS around them still comes from libssl.
 */
#include "tlsgen_int.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

/* One frame: FIN/opcode, minimal length encoding, masked with a random key when from the
 * client (RFC 6455 §5.2, §5.3). */
static void ws_frame(buf_t *out, rng_t *r, int client, int fin, int op, const uint8_t *p, size_t n)
{
	uint8_t h[14];
	size_t hl = 0;
	h[hl++] = (uint8_t)((fin ? 0x80 : 0) | op);
	uint8_t mb = client ? 0x80 : 0;
	if (n < 126) {
		h[hl++] = (uint8_t)(mb | n);
	} else if (n <= 0xffff) {
		h[hl++] = (uint8_t)(mb | 126);
		h[hl++] = (uint8_t)(n >> 8);
		h[hl++] = (uint8_t)n;
	} else {
		h[hl++] = (uint8_t)(mb | 127);
		for (int k = 7; k >= 0; k--) h[hl++] = (uint8_t)((uint64_t)n >> (8 * k));
	}
	uint8_t key[4] = { 0 };
	if (client) {
		uint32_t k = (uint32_t)tg_rng_next(r);
		for (int i = 0; i < 4; i++) key[i] = h[hl++] = (uint8_t)(k >> (8 * i));
	}
	tg_buf_put(out, h, hl);
	size_t at = out->len;
	tg_buf_put(out, p, n);
	if (client)
		for (size_t i = 0; i < n; i++) out->p[at + i] ^= key[i & 3];
}

/* A control frame (ping 9 / pong 10 / close 8) with a short payload. */
static void ws_control(buf_t *out, rng_t *r, int client, int op)
{
	char pl[32];
	int n = op == 8 ? 2 : snprintf(pl, sizeof pl, "ka-%u", (unsigned)tg_rng_u(r, 100000));
	if (op == 8) { pl[0] = 0x03; pl[1] = (char)0xe8; }      /* 1000 normal closure */
	ws_frame(out, r, client, 1, op, (const uint8_t *)pl, (size_t)n);
}

/* The SIP plan p (rendered) becomes: upgrade GET, 101, each SIP message as one WebSocket
 * message (sometimes fragmented, control frames between fragments), keep-alives as ping /
 * pong frames, one ~70 KB MESSAGE (64-bit length) in the middle, and a close
 * frame from each side. */
void tg_ws_sip_transform(plan_t *p, rng_t *r, const sipctx_t *sc)
{
	plan_t q = { 0 };
	uint8_t nonce[16], dg[SHA_DIGEST_LENGTH];
	char key[32], acc[40];
	for (int i = 0; i < 16; i++) nonce[i] = (uint8_t)tg_rng_next(r);
	EVP_EncodeBlock((unsigned char *)key, nonce, 16);
	char cat[96];
	snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
	SHA1((const unsigned char *)cat, strlen(cat), dg);
	EVP_EncodeBlock((unsigned char *)acc, dg, SHA_DIGEST_LENGTH);
	spec_t *s = tg_plan_add(&q, 0, H_REQ, 0);
	tg_buf_printf(&s->data, "GET /ws HTTP/1.1\r\nHost: %s\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
	              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n"
	              "Origin: https://%s\r\n\r\n", sc->shost, key, sc->shost);
	s = tg_plan_add(&q, 1, H_RESP, 0);
	tg_buf_printf(&s->data, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	              "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: sip\r\n\r\n", acc);
	for (size_t i = 0; i < p->n; i++) {
		spec_t *in = &p->v[i];
		int cl = in->dir == 0;
		if (i == p->n / 2 && p->n > 2) {
			/* a MESSAGE too big for a 16-bit length */
			spec_t *b = tg_plan_add(&q, 0, S_MESSAGE, 0);
			buf_t body = { 0 };
			tg_fill_lines(&body, r, 70000, "");
			tg_buf_printf(&b->ws_payload, "MESSAGE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/WSS %s;branch=z9hG4bKbig%u\r\n"
			              "From: <sip:alice@%s>;tag=big\r\nTo: <sip:bob@%s>\r\nCall-ID: big-%u@%s\r\nCSeq: 1 MESSAGE\r\n"
			              "Max-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
			              sc->shost, sc->chost, (unsigned)tg_rng_u(r, 1u << 30), sc->chost, sc->shost,
			              (unsigned)tg_rng_u(r, 1u << 30), sc->chost, body.len);
			tg_buf_put(&b->ws_payload, body.p, body.len);
			tg_buf_free(&body);
			b->ws = 1;
			ws_frame(&b->data, r, 1, 1, 1, b->ws_payload.p, b->ws_payload.len);
		}
		s = tg_plan_add(&q, in->dir, in->type, 0);
		s->merge_prev = in->merge_prev;
		if (in->keepalive) {
			s->ws = 2;
			ws_control(&s->data, r, cl, cl ? 9 : 10);
			continue;
		}
		s->ws = 1;
		tg_buf_put(&s->ws_payload, in->data.p, in->data.len);
		int op = tg_rng_u(r, 4) ? 1 : 2;
		size_t n = in->data.len, nf = (n > 8 && tg_rng_u(r, 3) == 0) ? tg_rng_range(r, 2, 4) : 1;
		size_t off = 0;
		for (size_t k = 0; k < nf; k++) {
			size_t len = k + 1 == nf ? n - off : tg_rng_range(r, 1, (uint32_t)((n - off) - (nf - k - 1)));
			ws_frame(&s->data, r, cl, k + 1 == nf, k ? 0 : op, in->data.p + off, len);
			off += len;
			if (k + 1 < nf && tg_rng_u(r, 2)) ws_control(&s->data, r, cl, cl ? 9 : 10);
		}
	}
	s = tg_plan_add(&q, 0, S_BYE, 0);
	s->ws = 2;
	ws_control(&s->data, r, 1, 8);
	s = tg_plan_add(&q, 1, S_200_BYE, 0);
	s->ws = 2;
	ws_control(&s->data, r, 0, 8);
	tg_plan_free(p);
	*p = q;
}
