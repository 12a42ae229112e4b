/*
 * handshake.c — the handshake layer's entry points: reassembles handshake messages per
 * direction (a message may span records, a record may hold several messages), runs each
 * through the explicit state machine (a table of the messages each direction may send in
 * each phase; anything else is counted and dropped, never half-applied), and dispatches it
 * to the parser (hs_parse.c) and the key establishment of its version (hs12.c, hs13.c).
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "hs_internal.h"
#include "sslv2.h"

int hs_prove_keys(flow_t *f, int dir, uint8_t type, uint16_t version, const uint8_t *frag, size_t len)
{
	tls_conn_t *c = &f->t->conn;
	if (c->reason != TLS_REASON_NONE && !c->waiting_keylog) return -1;
	if (!c->sh_seen) {
		if (dir == TLS_DIR_C2S && f->t->d[dir].app_epoch < 0) return 0;   /* 0-RTT before ServerHello */
		eng_fail(f, TLS_REASON_HANDSHAKE_MISSED);
		return -1;
	}
	if (!c->cs) {
		eng_fail(f, TLS_REASON_UNSUPPORTED_SUITE);
		return -1;
	}
	int r = c->tls13 ? prove13(f, dir, type, version, frag, len) : prove12(f, dir, type, version, frag, len);
	if (r == 1) hs_maybe_release(f);
	return r;
}

/* ---------------- the state machine ---------------- */

/* Phases of one connection's handshake, derived from what both directions have shown. */
enum hs_phase {
	PH_START,     /* nothing yet (or the capture began mid-handshake) */
	PH_HELLO,     /* ClientHello seen, its ServerHello not yet (HelloRetryRequest included) */
	PH_12,        /* TLS <= 1.2 after the ServerHello, until this direction's Finished */
	PH_13,        /* TLS 1.3 after the ServerHello, until this direction's Finished */
	PH_DONE12,    /* TLS <= 1.2 established (a ClientHello now is a renegotiation) */
	PH_DONE13,    /* TLS 1.3 established: post-handshake messages only */
	PH__COUNT
};

#define B(t) (UINT32_C(1) << (t))
/* The handshake messages each direction may send in each phase (RFC 5246 §7.3, RFC 8446
 * §4, §2 figure 1). Anything else is counted (stats hs_unexpected) and dropped whole: it
 * reaches neither the transcript nor the key schedule. Types above 31 are never valid.
 * Every TLS <= 1.2 key exchange fits PH_12's sets: PSK and SRP_SHA send no Certificate
 * (RFC 4279 §2, RFC 5054 §2.7), PSK's ServerKeyExchange (identity hint only) is optional,
 * DHE_PSK/ECDHE_PSK/SRP always send one, and the ClientKeyExchange carries an identity
 * or SRP's A; psk_gnutls_test checks none of them is dropped. */
static const uint32_t EXPECTED[2][PH__COUNT] = {
	[TLS_DIR_C2S] = {
		[PH_START]  = B(HS_CLIENT_HELLO),
		[PH_HELLO]  = B(HS_CLIENT_HELLO),                 /* the second one, after an HRR */
		[PH_12]     = B(HS_CERTIFICATE) | B(HS_CLIENT_KEY_EXCHANGE) | B(HS_CERTIFICATE_VERIFY) |
		              B(HS_FINISHED),
		[PH_13]     = B(HS_END_OF_EARLY_DATA) | B(HS_CERTIFICATE) | B(HS_CERTIFICATE_VERIFY) |
		              B(HS_FINISHED),
		[PH_DONE12] = B(HS_CLIENT_HELLO),                 /* renegotiation */
		[PH_DONE13] = B(HS_KEY_UPDATE) | B(HS_CERTIFICATE) | B(HS_CERTIFICATE_VERIFY) |
		              B(HS_FINISHED),                     /* KeyUpdate, post-handshake auth */
	},
	[TLS_DIR_S2C] = {
		[PH_START]  = B(HS_SERVER_HELLO) | B(HS_HELLO_REQUEST),   /* capture began after the ClientHello */
		[PH_HELLO]  = B(HS_SERVER_HELLO),
		[PH_12]     = B(HS_CERTIFICATE) | B(HS_CERTIFICATE_STATUS) | B(HS_SERVER_KEY_EXCHANGE) |
		              B(HS_CERTIFICATE_REQUEST) | B(HS_SERVER_HELLO_DONE) | B(HS_NEW_SESSION_TICKET) |
		              B(HS_FINISHED),
		[PH_13]     = B(HS_ENCRYPTED_EXTENSIONS) | B(HS_CERTIFICATE_REQUEST) | B(HS_CERTIFICATE) |
		              B(HS_CERTIFICATE_VERIFY) | B(HS_FINISHED) | B(HS_NEW_SESSION_TICKET) |
		              B(HS_KEY_UPDATE),
		[PH_DONE12] = B(HS_HELLO_REQUEST),
		[PH_DONE13] = B(HS_NEW_SESSION_TICKET) | B(HS_KEY_UPDATE) | B(HS_CERTIFICATE_REQUEST),
	},
};
#undef B

/* Each direction's phase: its own Finished ends its handshake (the two flights may be
 * processed in either order when records were held for keys). */
static enum hs_phase phase(const tls_conn_t *c, int dir)
{
	if (!c->ch_seen && !c->sh_seen) return PH_START;
	if (!c->sh_seen) return PH_HELLO;
	bool done = dir == TLS_DIR_C2S ? c->cli_fin_seen : c->srv_fin_seen;
	if (c->tls13) return done ? PH_DONE13 : PH_13;
	return done ? PH_DONE12 : PH_12;
}

/* Is a message of this type from dir expected now? */
static bool expected(const tls_conn_t *c, int dir, uint8_t type)
{
	return type < 32 && (EXPECTED[dir][phase(c, dir)] >> type & 1);
}

/* One complete handshake message (raw = header + body). */
static void hs_message(flow_t *f, int dir, uint8_t type, const uint8_t *raw, size_t rawlen)
{
	tls_conn_t *c = &f->t->conn;
	if (!expected(c, dir, type)) {
		f->eng->st.hs_unexpected++;
		eng_log(f->eng, 7, "flow %llu %s: handshake message %u unexpected in phase %d: dropped",
		        (unsigned long long)f->id, dirname_(dir), type, (int)phase(c, dir));
		return;
	}
	cursor_t m = cur_init(raw + 4, rawlen - 4);
	bool post_handshake = c->tls13 && (type == HS_NEW_SESSION_TICKET || type == HS_KEY_UPDATE);
	/* TLS 1.3 negotiated with a suite we do not know: nothing to derive (and a forged
	 * plaintext Finished/KeyUpdate must not reach the key schedule) */
	if (c->tls13 && !c->cs && (type == HS_FINISHED || type == HS_KEY_UPDATE || type == HS_END_OF_EARLY_DATA))
		return;
	if (type == HS_CLIENT_HELLO && dir == TLS_DIR_C2S) {
		tls_hs_t *hs = hs_state(f);             /* a new handshake (or renegotiation) */
		if (!hs) return;
		if (!hs->transcript_on && transcript_may_be_needed(f))
			hs->transcript_on = tls_transcript_init(&hs->transcript) == 0;
		if (hs->transcript_on) tls_transcript_update(&hs->transcript, raw, rawlen);
		parse_client_hello(f, &m);
		tls13_psk_early_secret(f);
		if (c->early_data_offered && !c->keys_proven) {
			f->t->d[TLS_DIR_C2S].encrypted = true;   /* 0-RTT records follow the ClientHello */
			f->t->d[TLS_DIR_C2S].app_epoch = -1;
		}
		return;
	}
	if (type == HS_SERVER_HELLO && dir == TLS_DIR_S2C) {
		parse_server_hello(f, &m, raw, rawlen);
		return;
	}
	/* before the ServerHello only hellos belong to the transcript (anything else is out of
	 * order and would only grow the kept bytes) */
	if (c->hs && c->hs->transcript_on && type != HS_HELLO_REQUEST && !post_handshake && c->sh_seen)
		tls_transcript_update(&c->hs->transcript, raw, rawlen);
	switch (type) {
	case HS_CERTIFICATE:
		if (dir == TLS_DIR_S2C) parse_certificate(f, &m);
		break;
	case HS_SERVER_KEY_EXCHANGE:
		if (dir == TLS_DIR_S2C) parse_server_key_exchange(f, &m);
		break;
	case HS_SERVER_HELLO_DONE:
		if (dir == TLS_DIR_S2C) { c->shd_seen = true; c->resumed_known = true; }
		break;
	case HS_CLIENT_KEY_EXCHANGE:
		if (dir == TLS_DIR_C2S) parse_client_key_exchange(f, &m);
		break;
	case HS_NEW_SESSION_TICKET:
		if (dir == TLS_DIR_S2C) parse_new_session_ticket(f, &m);
		break;
	case HS_ENCRYPTED_EXTENSIONS:
		if (dir == TLS_DIR_S2C && c->tls13) parse_encrypted_extensions(f, &m);
		break;
	case HS_END_OF_EARLY_DATA:
		if (dir == TLS_DIR_C2S && c->tls13 && c->hs && c->hs->hs_known[dir]) {
			tls_dirstate_t *d = &f->t->d[dir];
			tls_cipher_free(&d->cs);
			d->cs_active = tls13_cipher_init(&d->cs, c->cs, c->hs->hs_ts[dir], tls_hash_len(c->cs->prf)) == 0;
			d->app_epoch = 0;
		}
		break;
	case HS_FINISHED:
		if (dir == TLS_DIR_S2C) c->srv_fin_seen = true;
		else c->cli_fin_seen = true;
		if (c->tls13) {
			if (dir == TLS_DIR_S2C) tls13_static_app_secrets(f);
			else tls13_resumption_secret(f);
			hs13_next_epoch(f, dir);
			if (dir == TLS_DIR_C2S && c->hs) hs_release_handshake_state(c->hs);   /* the handshake is over */
		} else if (f->t->d[0].cs_active && f->t->d[1].cs_active && c->hs) {
			hs_release_handshake_state(c->hs);
		}
		hs_maybe_release(f);
		break;
	case HS_KEY_UPDATE:
		if (c->tls13) tls13_key_update(f, dir);
		break;
	default:
		break;
	}
}

/* A handshake message type that can start a record after a gap. */
static bool known_hs_type(uint8_t t)
{
	switch (t) {
	case HS_CLIENT_HELLO: case HS_SERVER_HELLO: case HS_NEW_SESSION_TICKET: case HS_END_OF_EARLY_DATA:
	case HS_ENCRYPTED_EXTENSIONS: case HS_CERTIFICATE: case HS_SERVER_KEY_EXCHANGE:
	case HS_CERTIFICATE_REQUEST: case HS_SERVER_HELLO_DONE: case HS_CERTIFICATE_VERIFY:
	case HS_CLIENT_KEY_EXCHANGE: case HS_FINISHED: case HS_CERTIFICATE_STATUS: case HS_KEY_UPDATE:
		return true;
	default:
		return false;
	}
}

void hs_data(flow_t *f, int dir, const uint8_t *data, size_t len)
{
	struct tls_engine *e = f->eng;
	tls_dirstate_t *d = &f->t->d[dir];
	if (d->hs_resync) {
		/* after a gap the record may continue a lost message: use it only if it starts one */
		cursor_t c = cur_init(data, len);
		uint8_t t = cur_u8(&c);
		uint32_t ml = cur_u24(&c);
		if (cur_failed(&c) || !known_hs_type(t) || ml > TLS_MAX_HANDSHAKE_MSG) return;
		d->hs_resync = false;
	}
	while (len) {
		if (d->hlen == 0) {
			/* whole messages straight from the record */
			cursor_t c = cur_init(data, len);
			uint8_t type = cur_u8(&c);
			size_t ml = cur_u24(&c);
			if (!cur_failed(&c) && cur_left(&c) >= ml) {
				hs_message(f, dir, type, data, 4 + ml);
				data += 4 + ml;
				len -= 4 + ml;
				continue;
			}
			if (!cur_failed(&c) && ml > TLS_MAX_HANDSHAKE_MSG) {
				eng_log(e, 4, "flow %llu %s: handshake message of %zu bytes refused",
				        (unsigned long long)f->id, dirname_(dir), ml);
				d->broken = true;
				eng_fail(f, TLS_REASON_TRUNCATED);
				return;
			}
		}
		/* buffer a partial message */
		size_t need = 4;
		if (d->hlen >= 4) {
			cursor_t c = cur_init(d->hbuf, d->hlen);
			cur_u8(&c);
			need = 4 + cur_u24(&c);
		}
		if (need > TLS_MAX_HANDSHAKE_MSG + 4) {
			d->broken = true;
			eng_fail(f, TLS_REASON_TRUNCATED);
			return;
		}
		size_t take = need - d->hlen;
		if (take > len) take = len;
		if (e->buffered + take > e->cfg.max_total_buffer) { d->broken = true; eng_fail(f, TLS_REASON_TRUNCATED); return; } /* engine-wide buffer bound */
		if (d->hlen + take > d->hcap) {
			size_t nc = d->hcap ? d->hcap : 1024;
			while (nc < d->hlen + take) nc *= 2;
			if (e->buffered + (nc - d->hcap) > e->cfg.max_total_buffer) {
				d->broken = true;
				eng_fail(f, TLS_REASON_TRUNCATED);
				return;
			}
			uint8_t *nb = realloc(d->hbuf, nc);
			if (!nb) { d->broken = true; return; }
			e->buffered += nc - d->hcap;        /* capacity counts against the bound */
			d->hbuf = nb;
			d->hcap = nc;
		}
		memcpy(d->hbuf + d->hlen, data, take);
		d->hlen += take;
		data += take;
		len -= take;
		if (d->hlen >= 4) {
			cursor_t c = cur_init(d->hbuf, d->hlen);
			uint8_t type = cur_u8(&c);
			size_t ml = cur_u24(&c);
			if (ml > TLS_MAX_HANDSHAKE_MSG) {
				eng_log(e, 4, "flow %llu %s: handshake message of %zu bytes refused",
				        (unsigned long long)f->id, dirname_(dir), ml);
				d->broken = true;
				eng_fail(f, TLS_REASON_TRUNCATED);
				return;
			}
			if (d->hlen == 4 + ml) {
				size_t hl = d->hlen;
				d->hlen = 0;
				hs_message(f, dir, type, d->hbuf, hl);
				if (d->hlen == 0 && d->hbuf) {   /* spread messages are rare: an idle flow keeps no buffer */
					tls_wipe(d->hbuf, d->hcap);
					free(d->hbuf);
					e->buffered -= d->hcap;
					d->hbuf = NULL;
					d->hcap = 0;
				}
			}
		}
	}
}

/* An SSLv2-format ClientHello (sslv2.h) opened the client's stream: only as the first
 * hello of a connection (SSL 2.0 records are not valid later). Its message bytes go into
 * the transcript as they are; its contents reach the ClientHello parser as the equivalent
 * TLS ClientHello body (version, random = the padded challenge, session id, the TLS suites
 * of the cipher specs, null compression, no extensions). */
void hs_sslv2_hello(flow_t *f, const uint8_t *msg, size_t len)
{
	tls_conn_t *c = &f->t->conn;
	sslv2_hello_t h;
	if (phase(c, TLS_DIR_C2S) != PH_START || !sslv2_parse_hello(msg, len, &h)) {
		f->eng->st.hs_unexpected++;
		eng_log(f->eng, 7, "flow %llu c2s: SSLv2-format ClientHello malformed or out of order: dropped",
		        (unsigned long long)f->id);
		return;
	}
	f->eng->st.sslv2_hellos++;
	tls_hs_t *hs = hs_state(f);
	if (!hs) return;
	if (!hs->transcript_on && transcript_may_be_needed(f))
		hs->transcript_on = tls_transcript_init(&hs->transcript) == 0;
	if (hs->transcript_on) tls_transcript_update(&hs->transcript, msg, len);
	uint8_t body[2 + 32 + 1 + 32 + 2 + 2 * SSLV2_MAX_SPECS + 2];
	size_t n = 0;
	body[n++] = (uint8_t)(h.version >> 8);
	body[n++] = (uint8_t)h.version;
	memcpy(body + n, h.random, 32);
	n += 32;
	body[n++] = h.sid_len;
	memcpy(body + n, h.sid, h.sid_len);
	n += h.sid_len;
	body[n++] = (uint8_t)(h.n_suites * 2 >> 8);
	body[n++] = (uint8_t)(h.n_suites * 2);
	for (size_t i = 0; i < h.n_suites; i++) {
		body[n++] = (uint8_t)(h.suites[i] >> 8);
		body[n++] = (uint8_t)h.suites[i];
	}
	body[n++] = 1;
	body[n++] = 0;
	cursor_t m = cur_init(body, n);
	parse_client_hello(f, &m);
	tls_wipe(&h, sizeof h);
}
