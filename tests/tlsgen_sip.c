/*
 * tlsgen_sip.c — SIP application messages: plans a dialog-consistent mix (INVITE with
 * SDP, provisional and final responses, ACK, OPTIONS, MESSAGE, REGISTER, server-initiated
 * NOTIFY, BYE, RFC 5626 keep-alives) and renders each message with exact Content-Length.
 *
 * Why: the decryption engine's SIP framing is tested on the plaintext realistic peers
 * send; the bytes written here are what the engine must deliver, message for message.
 */
#include "tlsgen_int.h"

#include <stdio.h>
#include <string.h>

enum { BODY_NONE, BODY_SDP, BODY_TEXT, BODY_PIDF };

static void hexstr(rng_t *r, char *out, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) out[i] = hx[tg_rng_u(r, 16)];
	out[n] = 0;
}

static void gen_body(sipctx_t *c, buf_t *b, int kind, int from_client, size_t want)
{
	size_t start = b->len;
	switch (kind) {
	case BODY_SDP: {
		const char *addr = from_client ? c->caddr : c->saddr;
		tg_buf_printf(b, "v=0\r\no=- %u %u IN %s\r\ns=tlsgen\r\nc=IN %s\r\nt=0 0\r\n"
		              "m=audio %u RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
		              "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
		              "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:",
		              tg_rng_range(c->r, 100000, 999999), tg_rng_range(c->r, 1, 9), addr, addr,
		              2 * tg_rng_range(c->r, 5000, 15000));
		tg_fill_alnum(b, c->r, 40);
		tg_buf_puts(b, "\r\na=sendrecv\r\n");
		if (want > b->len - start) tg_fill_lines(b, c->r, want - (b->len - start), "a=x-tlsgen-pad:");
		break;
	}
	case BODY_TEXT: {
		tg_buf_puts(b, "Hello from tlsgen. ");
		size_t have = b->len - start;
		tg_fill_words(b, c->r, want > have + 20 ? want - have : tg_rng_range(c->r, 20, 120));
		break;
	}
	case BODY_PIDF: {
		tg_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
		            "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sips:bob@example.com\">\r\n"
		            "<tuple id=\"t1\"><status><basic>open</basic></status></tuple>\r\n<note>");
		const char *tail = "</note>\r\n</presence>\r\n";
		size_t have = b->len - start + strlen(tail);
		tg_fill_words(b, c->r, want > have + 10 ? want - have : tg_rng_range(c->r, 10, 60));
		tg_buf_puts(b, tail);
		break;
	}
	default:
		break;
	}
}

/* Append Content-Type/Content-Length and the body to the header block h (which ends
 * with "\r\n" after its last header) into out, aiming at a total of `target` bytes. */
static void finish_msg(sipctx_t *c, buf_t *out, buf_t *h, const char *ctype, int kind,
                       int from_client, size_t target)
{
	tg_buf_put(out, h->p, h->len);
	if (kind == BODY_NONE) { tg_buf_puts(out, "Content-Length: 0\r\n\r\n"); return; }
	size_t fixed = h->len + strlen("Content-Type: \r\n") + strlen(ctype) + strlen("Content-Length: \r\n\r\n");
	size_t want = 0;
	if (target > fixed + 8) {
		want = target - fixed - 5;
		want = target - fixed - tg_ndigits(want);
	}
	buf_t body = { 0 };
	gen_body(c, &body, kind, from_client, want);
	tg_buf_printf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", ctype, body.len);
	tg_buf_put(out, body.p, body.len);
	tg_buf_free(&body);
}

static void sip_request(sipctx_t *c, spec_t *s, const char *method, int in_dialog,
                        int kind, const char *ctype, const char *extra)
{
	rng_t *r = c->r;
	char branch[24], tag[24], cid[40];
	hexstr(r, branch, 16);
	int fc = s->dir == 0;
	const char *host = fc ? c->chost : c->shost;
	unsigned port = fc ? c->cport : c->sport;
	const char *me = fc ? "alice" : "bob", *peer = fc ? "bob" : "alice";
	const char *ruri_host = fc ? "example.com" : c->chost;

	snprintf(s->via, sizeof s->via, "SIP/2.0/TLS %s:%u;branch=z9hG4bK%s;rport", host, port, branch);
	if (in_dialog) {
		snprintf(s->from, sizeof s->from, "\"Alice\" <sips:alice@example.com>;tag=%s", c->ftag);
		snprintf(s->to, sizeof s->to, "<sips:bob@example.com>;tag=%s", c->ttag);
		snprintf(s->callid, sizeof s->callid, "%s", c->callid);
	} else {
		hexstr(r, tag, 10);
		hexstr(r, cid, 24);
		snprintf(s->from, sizeof s->from, "<sips:%s@example.com>;tag=%s", me, tag);
		snprintf(s->to, sizeof s->to, "<sips:%s@example.com>", peer);
		snprintf(s->callid, sizeof s->callid, "%s@%s", cid, fc ? "client.example.com" : "server.example.com");
	}
	unsigned cseq = in_dialog ? c->cseq : tg_rng_range(r, 1, 9000);
	snprintf(s->cseq, sizeof s->cseq, "%u %s", cseq, method);

	buf_t h = { 0 };
	if (!strcmp(method, "REGISTER"))
		tg_buf_printf(&h, "REGISTER sips:example.com SIP/2.0\r\n");
	else
		tg_buf_printf(&h, "%s sips:%s@%s SIP/2.0\r\n", method, peer, ruri_host);
	tg_buf_printf(&h, "Via: %s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n",
	              s->via, s->from, s->to, s->callid, s->cseq);
	if (strcmp(method, "ACK") && strcmp(method, "BYE") && strcmp(method, "MESSAGE"))
		tg_buf_printf(&h, "Contact: <sips:%s@%s:%u;transport=tls>\r\n", me, host, port);
	if (extra) tg_buf_puts(&h, extra);
	tg_buf_puts(&h, "User-Agent: tlsgen/1.0\r\n");
	finish_msg(c, &s->data, &h, ctype, kind, fc, tg_class_target(r, s->cls) * (size_t)s->sizeable);
	tg_buf_free(&h);
}

static void sip_response(sipctx_t *c, spec_t *s, const spec_t *rq, int code, const char *reason,
                         int kind, const char *ctype, const char *extra)
{
	int fc = s->dir == 0;
	const char *rhost = rq->dir == 0 ? c->chost : c->shost;
	buf_t h = { 0 };
	tg_buf_printf(&h, "SIP/2.0 %d %s\r\nVia: %s;received=%s\r\nFrom: %s\r\n", code, reason,
	              rq->via, rhost[0] == '[' ? (rq->dir == 0 ? "fd00::1" : "fd00::2") : rhost, rq->from);
	if (strstr(rq->to, ";tag=") || code == 100) {
		tg_buf_printf(&h, "To: %s\r\n", rq->to);
	} else {
		char tag[24];
		if (c->callid[0] && !strcmp(rq->callid, c->callid)) snprintf(tag, sizeof tag, "%s", c->ttag);
		else hexstr(c->r, tag, 10);
		tg_buf_printf(&h, "To: %s;tag=%s\r\n", rq->to, tag);
	}
	tg_buf_printf(&h, "Call-ID: %s\r\nCSeq: %s\r\n", rq->callid, rq->cseq);
	if (extra) tg_buf_puts(&h, extra);
	tg_buf_puts(&h, fc ? "User-Agent: tlsgen/1.0\r\n" : "Server: tlsgen/1.0\r\n");
	finish_msg(c, &s->data, &h, ctype, kind, fc, tg_class_target(c->r, s->cls) * (size_t)s->sizeable);
	tg_buf_free(&h);
}

enum { B_PING, B_CALL, B_OPT, B_MSG, B_NTF, B_BYE, B_REG };

void tg_sip_plan(plan_t *p, rng_t *r, int n)
{
	int blocks[512], nb = 0;
	int rem = n;
	int want_bye = 0;
	if (n >= 3) { blocks[nb++] = B_CALL; blocks[nb++] = B_PING; rem -= 3; }
	else if (n == 2) { blocks[nb++] = B_CALL; rem -= 2; }
	if (n >= 4) { blocks[nb++] = B_MSG; rem--; }
	if (n >= 5) { blocks[nb++] = B_OPT; rem--; }
	if (n >= 6) { want_bye = 1; rem--; }
	while (rem > 0 && nb < 500) {
		static const int pool[] = { B_PING, B_OPT, B_MSG, B_NTF, B_REG, B_CALL, B_CALL };
		int b = pool[tg_rng_u(r, sizeof pool / sizeof pool[0])];
		if (b == B_CALL && rem < 2) continue;
		blocks[nb++] = b;
		rem -= b == B_CALL ? 2 : 1;
	}
	/* shuffle, then move a CALL to the front so the final BYE always ends a dialog */
	for (int i = nb; i > 1; i--) { int j = (int)tg_rng_u(r, (uint32_t)i); int t = blocks[i - 1]; blocks[i - 1] = blocks[j]; blocks[j] = t; }
	for (int i = 0; i < nb; i++) if (blocks[i] == B_CALL) { int t = blocks[0]; blocks[0] = blocks[i]; blocks[i] = t; break; }
	if (want_bye) blocks[nb++] = B_BYE;

	for (int i = 0; i < nb; i++) {
		int b = blocks[i];
		/* pipelining: two client-initiated simple exchanges, requests back to back */
		int simple = b == B_OPT || b == B_MSG || b == B_REG || b == B_BYE;
		int nsimple = i + 1 < nb && (blocks[i + 1] == B_OPT || blocks[i + 1] == B_MSG || blocks[i + 1] == B_REG);
		if (simple && nsimple && b != B_BYE && tg_rng_u(r, 3) == 0) {
			static const int rq_t[] = { [B_OPT] = S_OPTIONS, [B_MSG] = S_MESSAGE, [B_REG] = S_REGISTER, [B_BYE] = S_BYE };
			static const int rs_t[] = { [B_OPT] = S_200_OPTIONS, [B_MSG] = S_202, [B_REG] = S_200_REGISTER, [B_BYE] = S_200_BYE };
			int b2 = blocks[i + 1];
			size_t q1 = p->n;
			tg_plan_add(p, 0, rq_t[b], b == B_MSG);
			size_t q2 = p->n;
			tg_plan_add(p, 0, rq_t[b2], b2 == B_MSG)->merge_prev = 1;
			spec_t *s1 = tg_plan_add(p, 1, rs_t[b], b == B_OPT);
			s1->req = (int)q1;
			spec_t *s2 = tg_plan_add(p, 1, rs_t[b2], b2 == B_OPT);
			s2->req = (int)q2;
			s2->merge_prev = 1;
			i++;
			continue;
		}
		size_t q = p->n;
		spec_t *s;
		switch (b) {
		case B_PING:
			tg_plan_add(p, 0, S_PING, 0)->cls = TLSGEN_TINY;
			s = tg_plan_add(p, 1, S_PONG, 0); s->cls = TLSGEN_TINY; s->req = (int)q;
			break;
		case B_CALL:
			tg_plan_add(p, 0, S_INVITE, 1);
			s = tg_plan_add(p, 1, tg_rng_u(r, 2) ? S_100 : S_180, 0); s->req = (int)q;
			s = tg_plan_add(p, 1, S_200_INVITE, 1); s->req = (int)q; s->merge_prev = (int)tg_rng_u(r, 2);
			tg_plan_add(p, 0, S_ACK, 0);
			break;
		case B_OPT:
			tg_plan_add(p, 0, S_OPTIONS, 0);
			tg_plan_add(p, 1, S_200_OPTIONS, 1)->req = (int)q;
			break;
		case B_MSG:
			tg_plan_add(p, 0, S_MESSAGE, 1);
			tg_plan_add(p, 1, S_202, 0)->req = (int)q;
			break;
		case B_NTF:
			tg_plan_add(p, 1, S_NOTIFY, 1);
			tg_plan_add(p, 0, S_200_NOTIFY, 0)->req = (int)q;
			break;
		case B_BYE:
			tg_plan_add(p, 0, S_BYE, 0);
			tg_plan_add(p, 1, S_200_BYE, 0)->req = (int)q;
			break;
		case B_REG:
			tg_plan_add(p, 0, S_REGISTER, 0);
			tg_plan_add(p, 1, S_200_REGISTER, 0)->req = (int)q;
			break;
		}
		/* an ACK is often sent together with the client's next request */
		if (b == B_CALL && i + 1 < nb && blocks[i + 1] != B_PING && blocks[i + 1] != B_NTF && tg_rng_u(r, 2))
			p->v[p->n - 1].merge_prev = -1; /* marker: the next spec merges with this ACK */
	}
	/* resolve the ACK markers: the spec after a marked ACK merges into its flush */
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].merge_prev == -1) {
			p->v[i].merge_prev = 0;
			if (i + 1 < p->n && p->v[i + 1].dir == p->v[i].dir) p->v[i + 1].merge_prev = 1;
		}
	tg_assign_classes(p, r);
}

void tg_sip_render(plan_t *p, sipctx_t *c)
{
	rng_t *r = c->r;
	for (size_t i = 0; i < p->n; i++) {
		spec_t *s = &p->v[i];
		const spec_t *rq = s->req >= 0 ? &p->v[s->req] : NULL;
		char extra[512];
		switch (s->type) {
		case S_PING:
			tg_buf_puts(&s->data, "\r\n\r\n");
			s->keepalive = true;
			break;
		case S_PONG:
			tg_buf_puts(&s->data, "\r\n");
			s->keepalive = true;
			break;
		case S_INVITE: {
			char cid[40];
			hexstr(r, cid, 24);
			snprintf(c->callid, sizeof c->callid, "%s@client.example.com", cid);
			hexstr(r, c->ftag, 10);
			hexstr(r, c->ttag, 10);
			c->cseq = tg_rng_range(r, 1, 5000);
			sip_request(c, s, "INVITE", 1, BODY_SDP, "application/sdp",
			            "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY, INFO, UPDATE\r\n"
			            "Supported: replaces, timer\r\nSession-Expires: 1800\r\n");
			/* the To tag is added by the responses */
			snprintf(s->to, sizeof s->to, "<sips:bob@example.com>");
			char *line = strstr((char *)s->data.p, "\r\nTo: ");
			if (line) {
				/* drop ";tag=..." from the INVITE's own To header */
				char *t = strstr(line + 2, ";tag=");
				char *e = strstr(line + 2, "\r\n");
				if (t && e && t < e) {
					size_t cut = (size_t)(e - t);
					memmove(t, e, s->data.len - (size_t)(e - (char *)s->data.p) + 1);
					s->data.len -= cut;
				}
			}
			break;
		}
		case S_100:
			sip_response(c, s, rq, 100, "Trying", BODY_NONE, NULL, NULL);
			break;
		case S_180:
			snprintf(extra, sizeof extra, "Contact: <sips:bob@%s:%u;transport=tls>\r\n", c->shost, c->sport);
			sip_response(c, s, rq, 180, "Ringing", BODY_NONE, NULL, extra);
			break;
		case S_200_INVITE:
			snprintf(extra, sizeof extra, "Contact: <sips:bob@%s:%u;transport=tls>\r\n"
			         "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY, INFO\r\n"
			         "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n", c->shost, c->sport);
			sip_response(c, s, rq, 200, "OK", BODY_SDP, "application/sdp", extra);
			break;
		case S_ACK:
			sip_request(c, s, "ACK", 1, BODY_NONE, NULL, NULL);
			break;
		case S_OPTIONS:
			sip_request(c, s, "OPTIONS", 0, BODY_NONE, NULL, "Accept: application/sdp\r\n");
			break;
		case S_200_OPTIONS:
			sip_response(c, s, rq, 200, "OK", BODY_SDP, "application/sdp",
			             "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY\r\n"
			             "Accept: application/sdp\r\nSupported: replaces, timer\r\n");
			break;
		case S_MESSAGE:
			sip_request(c, s, "MESSAGE", 0, BODY_TEXT, "text/plain;charset=UTF-8", NULL);
			break;
		case S_202:
			if (tg_rng_u(r, 2)) sip_response(c, s, rq, 202, "Accepted", BODY_NONE, NULL, NULL);
			else sip_response(c, s, rq, 200, "OK", BODY_NONE, NULL, NULL);
			break;
		case S_NOTIFY:
			sip_request(c, s, "NOTIFY", 0, BODY_PIDF, "application/pidf+xml",
			            "Event: presence\r\nSubscription-State: active;expires=3600\r\n");
			break;
		case S_200_NOTIFY: case S_200_BYE:
			sip_response(c, s, rq, 200, "OK", BODY_NONE, NULL, NULL);
			break;
		case S_BYE:
			c->cseq++;
			sip_request(c, s, "BYE", 1, BODY_NONE, NULL, NULL);
			break;
		case S_REGISTER:
			sip_request(c, s, "REGISTER", 0, BODY_NONE, NULL, "Expires: 3600\r\n");
			break;
		case S_200_REGISTER:
			snprintf(extra, sizeof extra, "Contact: <sips:alice@%s:%u;transport=tls>;expires=3600\r\n"
			         "Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n", c->chost, c->cport);
			sip_response(c, s, rq, 200, "OK", BODY_NONE, NULL, extra);
			break;
		}
	}
}
