/*
 * hs_parse.c — reads handshake messages into the connection state, through cursor_t
 * (every byte is hostile): ClientHello (randoms, session id, SNI, EMS/EtM, ticket,
 * key shares, PSK identities, early_data), ServerHello (version, suite, resumption,
 * HelloRetryRequest, 0-RTT verdict; versions outside SSL 3.0 .. TLS 1.3 end as
 * unsupported_version), Certificate (server key selection), (EC)DHE, ECDH_anon, static
 * ECDH and RSA key exchanges (SSL 3.0's RSA ClientKeyExchange has no length prefix),
 * NewSessionTicket (TLS <= 1.2) and EncryptedExtensions.
 * It decides nothing about keys: hs12.c and hs13.c derive them from what is stored here.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "hs_internal.h"

/* SHA-256("HelloRetryRequest"), RFC 8446 §4.1.3 */
static const uint8_t HRR_RANDOM[32] = {
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C };

/* pre_shared_key of a ClientHello (RFC 8446 §4.2.11): OfferedPsks { PskIdentity
 * identities<7..2^16-1> (opaque identity<1..2^16-1>, uint32 obfuscated_ticket_age);
 * PskBinderEntry binders<33..2^16-1> (opaque<32..255> each) }. An identity is a ticket
 * of an earlier session; its SHA-256 is the session-cache id of that session's PSK.
 * The first two identities are kept; n_psk_ids stays 0 unless the extension is
 * well-formed with one binder per identity. Binders are not verified: the PSK is
 * proven by authenticating the server's first encrypted record, as every key is. */
static void parse_ch_pre_shared_key(tls_hs_t *hs, cursor_t *ed)
{
	cursor_t ids = cur_sub16(ed);
	cursor_t binders = cur_sub16(ed);
	if (!cur_done(ed)) return;
	size_t n = 0, nb = 0;
	while (cur_left(&ids) > 0) {
		cursor_t id = cur_sub16(&ids);
		cur_u32(&ids);                           /* obfuscated_ticket_age */
		if (cur_failed(&ids) || cur_left(&id) == 0) return;
		size_t il = cur_left(&id);
		if (n < 2 && tls_hash(TLS_HASH_SHA256, cur_span(&id, il), il, hs->psk_id_hash[n]) != 0) return;
		n++;
	}
	while (cur_left(&binders) > 0) {
		cursor_t b = cur_sub8(&binders);
		if (cur_failed(&binders) || cur_left(&b) < 32) return;
		nb++;
	}
	if (n == 0 || nb != n || n > 255) return;
	hs->n_psk_ids = (uint8_t)n;
}

void parse_client_hello(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = hs_state(f);
	if (!hs) return;
	bool second = c->ch_seen;                   /* ClientHello after HelloRetryRequest */
	hs->client_version = cur_u16(m);
	uint8_t rnd[32];
	cur_copy(m, rnd, 32);
	cursor_t sid = cur_sub8(m);
	cursor_t suites = cur_sub16(m);
	cursor_t comp = cur_sub8(m);
	(void)suites; (void)comp;
	if (cur_failed(m) || cur_left(&sid) > 32) {
		eng_log(f->eng, 4, "flow %llu: malformed ClientHello", (unsigned long long)f->id);
		return;
	}
	if (c->keys_proven && !c->tls13) {
		/* Renegotiation (RFC 5746): a new handshake inside the session. The current keys
		 * stay in use until each side's ChangeCipherSpec; the new ones are proven again. */
		tls_wipe(hs->master, sizeof hs->master);
		hs->have_master = c->keys_proven = hs->cand_done = false;
		c->sh_seen = c->cke_seen = c->shd_seen = hs->cert_seen = hs->ske_seen = false;
		c->resumed = c->resumed_known = false;
		c->ems = c->etm = false;
		hs->session_hash_len = 0;
		if (hs->enc_pms) { tls_wipe(hs->enc_pms, hs->enc_pms_len); free(hs->enc_pms); hs->enc_pms = NULL; }
		hs->srv_pub_len = hs->cli_pub_len = 0;
	}
	if (second && c->hrr_seen) c->ch_after_hrr = true;
	c->ch_count++;
	memcpy(hs->client_random, rnd, 32);
	hs->ch_sid_len = (uint8_t)cur_left(&sid);
	cur_copy(&sid, hs->ch_sid, hs->ch_sid_len);
	c->ch_seen = true;
	if (!second) {
		hs->n_ch_share = 0;
		hs->ticket_offered = false;
	}
	hs->n_ch_share = 0;
	c->early_data_offered = false;
	c->early_decided = false;
	c->sh_psk = false;
	c->srv_fin_seen = c->cli_fin_seen = false;
	hs->n_psk_ids = 0;
	hs->psk_modes = 0;
	hs->early_ts_hash = 0;
	if (cur_left(m) == 0) return;               /* no extensions */
	cursor_t exts = cur_sub16(m);
	while (cur_left(&exts) >= 4) {
		uint16_t et = cur_u16(&exts);
		cursor_t ed = cur_sub16(&exts);
		if (cur_failed(&exts)) break;
		switch (et) {
		case EXT_SNI: {
			cursor_t list = cur_sub16(&ed);
			while (cur_left(&list) >= 3) {
				uint8_t nt = cur_u8(&list);
				cursor_t name = cur_sub16(&list);
				if (cur_failed(&list)) break;
				if (nt == 0 && cur_left(&name) > 0 && cur_left(&name) < 256) {
					size_t n = cur_left(&name);
					const uint8_t *s = cur_span(&name, n);
					char h[256];
					size_t k = 0;
					for (size_t i = 0; i < n; i++)   /* keep printable host-name bytes only */
						if (s[i] > 0x20 && s[i] < 0x7f) h[k++] = (char)s[i];
					free(c->sni);                    /* a renegotiation's hello replaces it */
					c->sni = NULL;
					if (k) {
						c->sni = malloc(k + 1);
						if (c->sni) { memcpy(c->sni, h, k); c->sni[k] = 0; }
					}
					break;
				}
			}
			break;
		}
		case EXT_EMS: c->ems = true; break;           /* confirmed by the ServerHello */
		case EXT_ETM: c->etm = true; break;
		case EXT_SESSION_TICKET:
			if (cur_left(&ed) > 0) {
				size_t n = cur_left(&ed);
				tls_hash(TLS_HASH_SHA256, cur_span(&ed, n), n, hs->offered_ticket_hash);
				hs->ticket_offered = true;
			}
			break;
		case EXT_EARLY_DATA: c->early_data_offered = true; break;
		case EXT_PSK: parse_ch_pre_shared_key(hs, &ed); break;
		case EXT_PSK_MODES: {
			cursor_t modes = cur_sub8(&ed);
			while (cur_left(&modes) > 0) {
				uint8_t mode = cur_u8(&modes);
				if (mode <= 1) hs->psk_modes |= (uint8_t)(1u << mode);   /* 0 psk_ke, 1 psk_dhe_ke */
			}
			break;
		}
		case EXT_KEY_SHARE: {
			cursor_t list = cur_sub16(&ed);
			while (cur_left(&list) >= 4) {
				uint16_t g = cur_u16(&list);
				cursor_t ke = cur_sub16(&list);
				if (cur_failed(&list)) break;
				if (!hs->ch_share && static_keys(f->eng)) hs->ch_share = calloc(4, sizeof *hs->ch_share);
				if (hs->ch_share && hs->n_ch_share < 4 && cur_left(&ke) <= sizeof hs->ch_share[0].pub) {
					hs->ch_share[hs->n_ch_share].group = g;
					hs->ch_share[hs->n_ch_share].len = cur_left(&ke);
					cur_copy(&ke, hs->ch_share[hs->n_ch_share].pub, cur_left(&ke));
					hs->n_ch_share++;
				}
			}
			break;
		}
		default: break;
		}
	}
}

/* ---------------- ServerHello ---------------- */

/* At the ClientHello: could any key source of this engine need the transcript? */
bool transcript_may_be_needed(const flow_t *f)
{
	const struct tls_engine *e = f->eng;
	for (size_t s = 0; s < e->n_stores; s++)
		if (e->stores[s]->n_keys || e->stores[s]->n_keylogs) return true;
	return false;
}

static bool transcript_needed(const flow_t *f, bool ems)
{
	const struct tls_engine *e = f->eng;
	const tls_conn_t *c = &f->t->conn;
	bool rsa = false, ec = false, keylog = false;
	for (size_t s = 0; s < e->n_stores; s++) {
		keylog |= e->stores[s]->n_keylogs > 0;
		for (size_t i = 0; i < e->stores[s]->n_keys; i++) {
			if (e->stores[s]->keys[i].type == KS_RSA) rsa = true;
			else ec = true;
		}
	}
	if (c->version >= 0x0304) return ec;          /* static ECDHE schedule, PSKs of static sessions */
	if (!ems) return false;                       /* master secret from the randoms alone */
	if (c->cs->kx == TLS_KX_RSA) return rsa || keylog;   /* RSA pre-master, or an RSA key-log line */
	return ec || keylog;                          /* static ECDHE pre-master, or a PMS_CLIENT_RANDOM line */
}

void parse_server_hello(flow_t *f, cursor_t *m, const uint8_t *raw, size_t rawlen)
{
	struct tls_engine *e = f->eng;
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = hs_state(f);
	if (!hs) return;
	uint16_t legacy = cur_u16(m);
	uint8_t rnd[32];
	cur_copy(m, rnd, 32);
	cursor_t sid = cur_sub8(m);
	uint16_t suite = cur_u16(m);
	cur_u8(m);                                   /* compression */
	if (cur_failed(m) || cur_left(&sid) > 32) {
		eng_log(e, 4, "flow %llu: malformed ServerHello", (unsigned long long)f->id);
		eng_fail(f, TLS_REASON_TRUNCATED);
		return;
	}
	bool hrr = memcmp(rnd, HRR_RANDOM, 32) == 0;
	c->reply_count++;
	uint16_t version = legacy;
	bool ems = false, etm = false;
	uint16_t ks_group = 0;
	uint8_t ks_pub[133];
	size_t ks_len = 0;
	bool psk_sel = false;
	uint16_t psk_idx = 0;
	if (cur_left(m) > 0) {
		cursor_t exts = cur_sub16(m);
		while (cur_left(&exts) >= 4) {
			uint16_t et = cur_u16(&exts);
			cursor_t ed = cur_sub16(&exts);
			if (cur_failed(&exts)) break;
			switch (et) {
			case EXT_SUPPORTED_VERSIONS: {
				uint16_t v = cur_u16(&ed);
				if (!cur_failed(&ed)) version = v;
				break;
			}
			case EXT_EMS: ems = true; break;
			case EXT_ETM: etm = true; break;
			case EXT_KEY_SHARE:
				ks_group = cur_u16(&ed);
				if (!hrr) {
					cursor_t ke = cur_sub16(&ed);
					if (!cur_failed(&ed) && cur_left(&ke) <= sizeof ks_pub) {
						ks_len = cur_left(&ke);
						cur_copy(&ke, ks_pub, ks_len);
					}
				}
				break;
			case EXT_PSK: {                      /* selected_identity (RFC 8446 §4.2.11) */
				uint16_t i = cur_u16(&ed);
				if (cur_done(&ed)) { psk_sel = true; psk_idx = i; c->sh_psk = true; }
				break;
			}
			default: break;
			}
		}
	}
	c->version = version;
	c->suite = suite;
	c->cs = tls_suite_lookup(suite);
	c->tls13 = version == 0x0304;
	if (hrr) {
		/* RFC 8446 §4.4.1: the transcript restarts with message_hash(ClientHello1). */
		c->hrr_seen = true;
		if (hs->transcript_on && c->cs) {
			uint8_t h[TLS_MAX_HASH_LEN];
			size_t hl = 0;
			if (tls_transcript_digest(&hs->transcript, c->cs->prf, h, &hl) == 0) {
				uint8_t mh[4 + TLS_MAX_HASH_LEN] = { HS_MESSAGE_HASH, 0, 0, (uint8_t)hl };
				memcpy(mh + 4, h, hl);
				tls_transcript_free(&hs->transcript);
				if (tls_transcript_init(&hs->transcript) == 0) {
					tls_transcript_update(&hs->transcript, mh, 4 + hl);
				} else hs->transcript_on = false;
			}
		}
		if (hs->transcript_on) tls_transcript_update(&hs->transcript, raw, rawlen);
		/* HRR rejects 0-RTT: the client's next record is a plaintext ClientHello2 */
		if (f->t->d[TLS_DIR_C2S].app_epoch < 0) {
			f->t->d[TLS_DIR_C2S].encrypted = false;
			f->t->d[TLS_DIR_C2S].app_epoch = 0;   /* held early records now read as plaintext
			                                         * "application data" and are dropped */
			c->waiting_keylog = false;
		}
		c->early_data_offered = false;
		return;                                  /* the real ServerHello follows */
	}
	if (hs->transcript_on) {
		tls_transcript_update(&hs->transcript, raw, rawlen);
		/* From here on one hash, and only when a key source needs the transcript: RSA or
		 * static keys (EMS session hash, TLS 1.3 schedule, PSKs of static sessions) or an
		 * RSA pre-master from the key log with EMS. Key-log-only sessions need none. */
		if (c->cs && transcript_needed(f, c->ems && ems)) tls_transcript_select(&hs->transcript, prf_hash(c));
		else { tls_transcript_free(&hs->transcript); hs->transcript_on = false; }
	}
	/* 0-RTT needs TLS 1.3 and an accepted PSK; EncryptedExtensions then decides */
	if (c->early_data_offered && (version != 0x0304 || !c->sh_psk)) hs_early_decide(f, false);
	memcpy(hs->server_random, rnd, 32);
	hs->sh_sid_len = (uint8_t)cur_left(&sid);
	cur_copy(&sid, hs->sh_sid, hs->sh_sid_len);
	c->sh_seen = true;
	if (!c->tls13) {
		c->ems = c->ems && ems;
		c->etm = c->etm && etm;
	} else {
		c->ems = false;
		c->etm = false;
		if (c->sh_psk) c->resumed = c->resumed_known = true;   /* PSK selected: resumption */
		hs->srv_pub_len = 0;
		hs->ske_group = ks_group;
		if (ks_len && pub_buf(f, &hs->srv_pub)) { memcpy(hs->srv_pub, ks_pub, ks_len); hs->srv_pub_len = ks_len; }
		/* PSK accepted: a resumption (psk_dhe_ke with key_share, psk_ke without) */
		hs->psk_selected = psk_sel;
		hs->psk_sel_idx = psk_idx;
		if (psk_sel) { c->resumed = true; c->resumed_known = true; }
	}
	if (version < 0x0300 || version > 0x0304) {
		/* TLS 1.3 drafts (0x7fxx, Facebook's 0xfb1a, ...), DTLS, anything else: the
		 * suite field of such a hello is not a TLS 1.0-1.3 suite, so none is reported. */
		eng_log(e, 4, "flow %llu: unsupported protocol version 0x%04x", (unsigned long long)f->id, version);
		c->suite = 0;
		c->cs = NULL;
		c->tls13 = false;
		eng_fail(f, TLS_REASON_UNSUPPORTED_VERSION);
		return;
	}
	if (!c->cs || (c->tls13 != (c->cs->kx == TLS_KX_TLS13)) || version < c->cs->min_version ||
	    version > c->cs->max_version) {
		const char *n = tls_suite_name(suite);
		const char *why = tls_suite_unsupported_why(suite);
		eng_log(e, 4, "flow %llu: cipher suite %s (0x%04x) is not supported%s%s", (unsigned long long)f->id,
		        n ? n : "unknown", suite, why ? ": " : c->cs ? " with this version" : "", why ? why : "");
		c->cs = NULL;
		eng_fail(f, TLS_REASON_UNSUPPORTED_SUITE);
		return;
	}
	if (!c->tls13 && hs->sh_sid_len && hs->sh_sid_len == hs->ch_sid_len &&
	    memcmp(hs->sh_sid, hs->ch_sid, hs->sh_sid_len) == 0) {
		c->resumed = true;                       /* session-id resumption */
		c->resumed_known = true;
	}
	if (c->tls13) {
		/* Everything after the ServerHello is encrypted in both directions (the
		 * client's ChangeCipherSpec, if any, is skipped by the record layer). */
		f->t->d[TLS_DIR_S2C].encrypted = true;
		f->t->d[TLS_DIR_C2S].encrypted = true;
		f->t->d[TLS_DIR_S2C].cs_active = false;
		if (f->t->d[TLS_DIR_C2S].app_epoch >= 0) f->t->d[TLS_DIR_C2S].cs_active = false;
	} else if (f->t->d[TLS_DIR_C2S].app_epoch < 0) {
		f->t->d[TLS_DIR_C2S].encrypted = false;   /* no 0-RTT below TLS 1.3 */
	}
	/* no 0-RTT below TLS 1.3: held early records now read as plaintext and are dropped;
	 * at TLS 1.3 the record layer replays what waited for this ServerHello */
	if (f->t->d[TLS_DIR_C2S].app_epoch < 0 && !c->tls13) f->t->d[TLS_DIR_C2S].app_epoch = 0;
	eng_report_session(e, f, false);
}

/* ---------------- other messages ---------------- */

void parse_certificate(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	if (!hs) return;
	if (c->tls13) cur_sub8(m);                   /* certificate_request_context */
	cursor_t list = cur_sub24(m);
	cursor_t cert = cur_sub24(&list);
	if (cur_failed(&list) || cur_left(&cert) == 0) return;
	size_t n = cur_left(&cert);
	if (keys_cert_spki_hash(cur_span(&cert, n), n, hs->cert_spki) == 0) hs->cert_seen = true;
}

void parse_server_key_exchange(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	if (!hs) return;
	hs->ske_seen = true;
	if (!c->cs) return;
	if (c->cs->kx == TLS_KX_ECDHE_RSA || c->cs->kx == TLS_KX_ECDHE_ECDSA || c->cs->kx == TLS_KX_ECDH_ANON) {
		uint8_t curve_type = cur_u8(m);
		uint16_t group = cur_u16(m);
		cursor_t pt = cur_sub8(m);
		if (cur_failed(m) || curve_type != 3 || cur_left(&pt) > TLS_MAX_PUB) return;
		hs->ske_group = group;
		if (!pub_buf(f, &hs->srv_pub)) return;
		hs->srv_pub_len = cur_left(&pt);
		cur_copy(&pt, hs->srv_pub, hs->srv_pub_len);
	}
}

void parse_client_key_exchange(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	c->cke_seen = true;
	c->resumed_known = true;
	if (!c->cs || !hs) return;
	if (hs->transcript_on) {
		/* RFC 7627 §3: session_hash covers the handshake through ClientKeyExchange. */
		size_t hl = 0;
		if (tls_transcript_digest(&hs->transcript, prf_hash(c), hs->session_hash, &hl) == 0)
			hs->session_hash_len = hl;
	}
	if (c->cs->kx == TLS_KX_RSA) {
		size_t n = cur_left(m);
		cursor_t enc = *m;
		if (n >= 2 && c->version != 0x0300) {   /* SSL 3.0: no length prefix */
			cursor_t t = *m;
			cursor_t inner = cur_sub16(&t);
			if (cur_done(&t)) enc = inner;           /* TLS: 2-byte length prefix */
		}
		size_t el = cur_left(&enc);
		if (el == 0 || el > 1024) return;
		free(hs->enc_pms);
		hs->enc_pms = malloc(el);
		if (!hs->enc_pms) return;
		hs->enc_pms_len = el;
		cur_copy(&enc, hs->enc_pms, el);
	} else if (c->cs->kx == TLS_KX_ECDHE_RSA || c->cs->kx == TLS_KX_ECDHE_ECDSA || c->cs->kx == TLS_KX_ECDH_ANON ||
	           c->cs->kx == TLS_KX_ECDH_ECDSA || c->cs->kx == TLS_KX_ECDH_RSA) {
		/* ClientECDiffieHellmanPublic: the client's (ephemeral) point; for static ECDH
		 * (RFC 4492 §5.7) the same, unless the client authenticated with a fixed ECDH
		 * certificate (implicit, empty: nothing to keep, the session stays undecryptable) */
		cursor_t pt = cur_sub8(m);
		if (cur_failed(m) || cur_left(&pt) > TLS_MAX_PUB) return;
		if (!pub_buf(f, &hs->cli_pub)) return;
		hs->cli_pub_len = cur_left(&pt);
		cur_copy(&pt, hs->cli_pub, hs->cli_pub_len);
	}
}

void parse_new_session_ticket(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->t->conn;
	if (c->tls13) { parse_new_session_ticket13(f, m); return; }
	cur_u32(m);                                  /* lifetime hint */
	cursor_t t = cur_sub16(m);
	if (cur_failed(m) || cur_left(&t) == 0) return;
	size_t n = cur_left(&t);
	tls_hs_t *hs = c->hs;
	if (c->n_tickets_seen < UINT8_MAX) c->n_tickets_seen++;
	if (!hs) return;
	tls_hash(TLS_HASH_SHA256, cur_span(&t, n), n, hs->new_ticket_hash);
	if (hs->have_master)
		session_cache_put(f->eng->cache, hs->new_ticket_hash, 32, hs->master, c->suite, c->version);
}

/* RFC 8446 §4.2.10: the server accepted 0-RTT data iff EncryptedExtensions has early_data. */
void parse_encrypted_extensions(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->t->conn;
	bool early = false;
	cursor_t exts = cur_sub16(m);
	while (cur_left(&exts) >= 4) {
		uint16_t et = cur_u16(&exts);
		cursor_t ed = cur_sub16(&exts);
		(void)ed;
		if (cur_failed(&exts)) break;
		if (et == EXT_EARLY_DATA) early = true;
	}
	if (c->early_data_offered && !c->early_decided) hs_early_decide(f, early);
}

void hs_early_decide(flow_t *f, bool accepted)
{
	tls_conn_t *c = &f->t->conn;
	tls_dirstate_t *d = &f->t->d[TLS_DIR_C2S];
	c->early_decided = true;
	if (!accepted && d->app_epoch < 0) {
		/* rejected: the early records are skipped by the server and never emitted here;
		 * the client's next records are under its handshake key */
		d->app_epoch = 0;
		d->cs_active = false;
		tls_cipher_free(&d->cs);
		if (c->hs && c->hs->hs_known[TLS_DIR_C2S] && c->cs) {
			d->cs_active = tls13_cipher_init(&d->cs, c->cs, c->hs->hs_ts[TLS_DIR_C2S], tls_hash_len(c->cs->prf)) == 0;
			if (!d->cs_active) tls_cipher_free(&d->cs);
		}
	}
}
