/*
 * handshake.c — TLS handshake parsing and key establishment for one connection.
 *
 * Handshake messages are reassembled per direction (a message may span records, a record
 * may hold several messages) and parsed with cursor_t. The ClientHello/ServerHello give
 * randoms, version, suite and extensions (SNI, extended_master_secret, encrypt_then_mac,
 * session_ticket, supported_versions, key_share, early_data); Certificate selects keys by
 * public key; ClientKeyExchange carries the RSA-encrypted pre-master secret or the client's
 * (EC)DHE share. Key material comes from, in order: the key log, the resumption cache, the
 * configured RSA keys, static ECDHE keys. Each candidate master secret is proven by
 * authenticating the first encrypted record (the Finished message) on a copy: a key that
 * does not authenticate is "wrong_key", never garbage plaintext.
 * TLS 1.3: traffic secrets come from the key log or from the RFC 8446 key schedule over
 * the running transcript, fed by a static ECDHE server key and/or a resumption PSK: a
 * session decrypted that way derives its resumption master secret and caches the PSK of
 * each NewSessionTicket (by SHA-256 of the ticket), which a later ClientHello's
 * pre_shared_key identity and the ServerHello's selection find again (psk_dhe_ke with
 * the static key, psk_ke, 0-RTT). Epochs advance at Finished and KeyUpdate.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "engine_internal.h"

/* SHA-256("HelloRetryRequest"), RFC 8446 §4.1.3 */
static const uint8_t HRR_RANDOM[32] = {
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C };

enum { EXT_SNI = 0, EXT_SUPPORTED_GROUPS = 10, EXT_ETM = 22, EXT_EMS = 23, EXT_SESSION_TICKET = 35,
       EXT_PSK = 41, EXT_EARLY_DATA = 42, EXT_SUPPORTED_VERSIONS = 43, EXT_PSK_MODES = 45, EXT_KEY_SHARE = 51,
       EXT_RENEGOTIATION_INFO = 0xff01 };

static const char *dirname_(int dir) { return dir == TLS_DIR_C2S ? "c2s" : "s2c"; }

static tls_hash_t prf_hash(const tls_conn_t *c)
{
	if (c->version < 0x0303) return TLS_HASH_MD5_SHA1;
	return c->cs ? c->cs->prf : TLS_HASH_SHA256;
}

/* ---------------- ClientHello ---------------- */

/* pre_shared_key of a ClientHello (RFC 8446 §4.2.11): OfferedPsks { PskIdentity
 * identities<7..2^16-1> (opaque identity<1..2^16-1>, uint32 obfuscated_ticket_age);
 * PskBinderEntry binders<33..2^16-1> (opaque<32..255> each) }. An identity is a ticket
 * of an earlier session; its SHA-256 is the session-cache id of that session's PSK.
 * The first two identities are kept; n_psk_ids stays 0 unless the extension is
 * well-formed with one binder per identity. Binders are not verified: the PSK is
 * proven by authenticating the server's first encrypted record, as every key is. */
static void parse_ch_pre_shared_key(tls_conn_t *c, cursor_t *ed)
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
		if (n < 2 && tls_hash(TLS_HASH_SHA256, cur_span(&id, il), il, c->psk_id_hash[n]) != 0) return;
		n++;
	}
	while (cur_left(&binders) > 0) {
		cursor_t b = cur_sub8(&binders);
		if (cur_failed(&binders) || cur_left(&b) < 32) return;
		nb++;
	}
	if (n == 0 || nb != n || n > 255) return;
	c->n_psk_ids = (uint8_t)n;
}

static void parse_client_hello(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->conn;
	bool second = c->ch_seen;                   /* ClientHello after HelloRetryRequest */
	c->client_version = cur_u16(m);
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
		tls_wipe(c->master, sizeof c->master);
		c->have_master = c->keys_proven = c->cand_done = false;
		c->n_cand = 0;
		c->sh_seen = c->cke_seen = c->shd_seen = c->cert_seen = c->ske_seen = false;
		c->resumed = c->resumed_known = false;
		c->ems = c->etm = false;
		c->session_hash_len = 0;
		if (c->enc_pms) { tls_wipe(c->enc_pms, c->enc_pms_len); free(c->enc_pms); c->enc_pms = NULL; }
		c->srv_pub_len = c->cli_pub_len = 0;
	}
	memcpy(c->client_random, rnd, 32);
	c->ch_sid_len = (uint8_t)cur_left(&sid);
	cur_copy(&sid, c->ch_sid, c->ch_sid_len);
	c->ch_seen = true;
	if (!second) {
		c->n_ch_share = 0;
		c->ticket_offered = false;
	}
	c->n_ch_share = 0;
	c->early_data_offered = false;
	c->n_psk_ids = 0;
	c->psk_modes = 0;
	c->early_ts_hash = 0;
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
				if (nt == 0 && cur_left(&name) > 0 && cur_left(&name) < sizeof c->sni) {
					size_t n = cur_left(&name);
					const uint8_t *s = cur_span(&name, n);
					size_t k = 0;
					for (size_t i = 0; i < n; i++)   /* keep printable host-name bytes only */
						if (s[i] > 0x20 && s[i] < 0x7f) c->sni[k++] = (char)s[i];
					c->sni[k] = 0;
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
				tls_hash(TLS_HASH_SHA256, cur_span(&ed, n), n, c->offered_ticket_hash);
				c->ticket_offered = true;
			}
			break;
		case EXT_EARLY_DATA: c->early_data_offered = true; break;
		case EXT_PSK: parse_ch_pre_shared_key(c, &ed); break;
		case EXT_PSK_MODES: {
			cursor_t modes = cur_sub8(&ed);
			while (cur_left(&modes) > 0) {
				uint8_t mode = cur_u8(&modes);
				if (mode <= 1) c->psk_modes |= (uint8_t)(1u << mode);   /* 0 psk_ke, 1 psk_dhe_ke */
			}
			break;
		}
		case EXT_KEY_SHARE: {
			cursor_t list = cur_sub16(&ed);
			while (cur_left(&list) >= 4) {
				uint16_t g = cur_u16(&list);
				cursor_t ke = cur_sub16(&list);
				if (cur_failed(&list)) break;
				if (c->n_ch_share < 4 && cur_left(&ke) <= sizeof c->ch_share[0].pub) {
					c->ch_share[c->n_ch_share].group = g;
					c->ch_share[c->n_ch_share].len = cur_left(&ke);
					cur_copy(&ke, c->ch_share[c->n_ch_share].pub, cur_left(&ke));
					c->n_ch_share++;
				}
			}
			break;
		}
		default: break;
		}
	}
}

/* ---------------- ServerHello ---------------- */

static void parse_server_hello(flow_t *f, cursor_t *m, const uint8_t *raw, size_t rawlen)
{
	struct tls_engine *e = f->eng;
	tls_conn_t *c = &f->conn;
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
				if (cur_done(&ed)) { psk_sel = true; psk_idx = i; }
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
		if (c->transcript_on && c->cs) {
			uint8_t h[TLS_MAX_HASH_LEN];
			size_t hl = 0;
			if (tls_transcript_digest(&c->transcript, c->cs->prf, h, &hl) == 0) {
				uint8_t mh[4 + TLS_MAX_HASH_LEN] = { HS_MESSAGE_HASH, 0, 0, (uint8_t)hl };
				memcpy(mh + 4, h, hl);
				tls_transcript_free(&c->transcript);
				if (tls_transcript_init(&c->transcript) == 0) {
					tls_transcript_update(&c->transcript, mh, 4 + hl);
				} else c->transcript_on = false;
			}
		}
		if (c->transcript_on) tls_transcript_update(&c->transcript, raw, rawlen);
		/* HRR rejects 0-RTT: the client's next record is a plaintext ClientHello2 */
		if (f->d[TLS_DIR_C2S].app_epoch < 0) {
			f->d[TLS_DIR_C2S].encrypted = false;
			f->d[TLS_DIR_C2S].app_epoch = 0;
			rec_drop_held(f, TLS_DIR_C2S);
			c->waiting_keylog = false;
		}
		c->early_data_offered = false;
		return;                                  /* the real ServerHello follows */
	}
	if (c->transcript_on) tls_transcript_update(&c->transcript, raw, rawlen);
	memcpy(c->server_random, rnd, 32);
	c->sh_sid_len = (uint8_t)cur_left(&sid);
	cur_copy(&sid, c->sh_sid, c->sh_sid_len);
	c->sh_seen = true;
	if (!c->tls13) {
		c->ems = c->ems && ems;
		c->etm = c->etm && etm;
	} else {
		c->ems = false;
		c->etm = false;
		c->srv_pub_len = ks_len;
		c->ske_group = ks_group;
		if (ks_len) memcpy(c->srv_pub, ks_pub, ks_len);
		/* PSK accepted: a resumption (psk_dhe_ke with key_share, psk_ke without) */
		c->psk_selected = psk_sel;
		c->psk_sel_idx = psk_idx;
		if (psk_sel) { c->resumed = true; c->resumed_known = true; }
	}
	if (version < 0x0301 || version > 0x0304) {
		eng_log(e, 4, "flow %llu: unsupported protocol version 0x%04x", (unsigned long long)f->id, version);
		eng_fail(f, TLS_REASON_UNSUPPORTED_SUITE);
		return;
	}
	if (!c->cs || (c->tls13 != (c->cs->kx == TLS_KX_TLS13)) || (c->cs->min_tls12 && version < 0x0303)) {
		const char *n = tls_suite_name(suite);
		eng_log(e, 4, "flow %llu: cipher suite %s (0x%04x) is not supported", (unsigned long long)f->id,
		        n ? n : "unknown", suite);
		c->cs = NULL;
		eng_fail(f, TLS_REASON_UNSUPPORTED_SUITE);
		return;
	}
	if (!c->tls13 && c->sh_sid_len && c->sh_sid_len == c->ch_sid_len &&
	    memcmp(c->sh_sid, c->ch_sid, c->sh_sid_len) == 0) {
		c->resumed = true;                       /* session-id resumption */
		c->resumed_known = true;
	}
	if (c->tls13) {
		/* Everything after the ServerHello is encrypted in both directions (the
		 * client's ChangeCipherSpec, if any, is skipped by the record layer). */
		f->d[TLS_DIR_S2C].encrypted = true;
		f->d[TLS_DIR_C2S].encrypted = true;
		f->d[TLS_DIR_S2C].cs_active = false;
		if (f->d[TLS_DIR_C2S].app_epoch >= 0) f->d[TLS_DIR_C2S].cs_active = false;
	} else if (f->d[TLS_DIR_C2S].app_epoch < 0) {
		f->d[TLS_DIR_C2S].encrypted = false;   /* no 0-RTT below TLS 1.3 */
	}
	if (f->d[TLS_DIR_C2S].app_epoch < 0) {
		if (!c->tls13) { f->d[TLS_DIR_C2S].app_epoch = 0; rec_drop_held(f, TLS_DIR_C2S); }
		else if (f->d[TLS_DIR_C2S].held) rec_retry_held(f, false);
	}
	eng_report_session(e, f, false);
}

/* ---------------- key candidates (TLS <= 1.2) ---------------- */

static int derive_master(tls_conn_t *c, const uint8_t *pms, size_t pmslen, uint8_t ms[48])
{
	tls_hash_t h = prf_hash(c);
	if (c->ems && c->session_hash_len)
		return tls_prf(h, pms, pmslen, "extended master secret", c->session_hash, c->session_hash_len,
		               NULL, 0, ms, 48);
	return tls_prf(h, pms, pmslen, "master secret", c->client_random, 32, c->server_random, 32, ms, 48);
}

static void add_candidate(tls_conn_t *c, const uint8_t ms[48], tls_key_kind_t kind)
{
	if (c->n_cand >= TLS_MAX_CANDIDATES) return;
	for (int i = 0; i < c->n_cand; i++)
		if (memcmp(c->cand[i], ms, 48) == 0) return;
	memcpy(c->cand[c->n_cand], ms, 48);
	c->cand_kind[c->n_cand] = kind;
	c->n_cand++;
}

static bool any_keylog(const struct tls_engine *e)
{
	for (size_t s = 0; s < e->n_stores; s++)
		if (e->stores[s]->n_keylogs) return true;
	return false;
}

static size_t keylog_find(struct tls_engine *e, tls_keylog_label_t label, const uint8_t *id, size_t idlen,
                          uint8_t *out, size_t cap)
{
	for (size_t s = 0; s < e->n_stores; s++)
		for (size_t i = 0; i < e->stores[s]->n_keylogs; i++) {
			size_t n = tls_keylog_lookup(e->stores[s]->keylogs[i], label, id, idlen, out, cap);
			if (n) return n;
		}
	return 0;
}

/* Does a configured key apply to this session (selectors, and the certificate if seen)? */
static bool key_applies(const flow_t *f, const ks_key_t *k)
{
	const tls_conn_t *c = &f->conn;
	if (!keys_selector_match(k, &f->ep, c->sni[0] ? c->sni : NULL)) return false;
	if (k->type == KS_RSA && c->cert_seen && memcmp(k->spki_hash, c->cert_spki, 32) != 0) return false;
	return true;
}

/* Every key source that may yield this session's master secret; cheap ones first. */
static void gather_candidates12(flow_t *f, bool keylog_only)
{
	struct tls_engine *e = f->eng;
	tls_conn_t *c = &f->conn;
	uint8_t ms[48], pms[48];
	if (keylog_find(e, KL_CLIENT_RANDOM, c->client_random, 32, ms, 48) == 48)
		add_candidate(c, ms, TLS_KEY_KEYLOG);
	if (c->cs->kx == TLS_KX_RSA && c->enc_pms && c->enc_pms_len >= 8 &&
	    keylog_find(e, KL_RSA, c->enc_pms, 8, pms, 48) == 48 && derive_master(c, pms, 48, ms) == 0)
		add_candidate(c, ms, TLS_KEY_KEYLOG);
	if (keylog_only) {        /* retry while waiting: the other sources were tried already */
		tls_wipe(ms, sizeof ms);
		tls_wipe(pms, sizeof pms);
		return;
	}
	if (c->resumed || (!c->cke_seen && !c->shd_seen)) {
		uint16_t s, v;
		if (c->ch_sid_len && session_cache_get(e->cache, c->ch_sid, c->ch_sid_len, ms, &s, &v) == 0)
			add_candidate(c, ms, TLS_KEY_RESUMPTION);
		if (c->ticket_offered && session_cache_get(e->cache, c->offered_ticket_hash, 32, ms, &s, &v) == 0)
			add_candidate(c, ms, TLS_KEY_RESUMPTION);
	}
	if (c->cs->kx == TLS_KX_RSA && c->enc_pms) {
		for (size_t s = 0; s < e->n_stores; s++)
			for (size_t i = 0; i < e->stores[s]->n_keys; i++) {
				const ks_key_t *k = &e->stores[s]->keys[i];
				if (k->type != KS_RSA || !keys_selector_match(k, &f->ep, c->sni[0] ? c->sni : NULL)) continue;
				c->rsa_tried = true;         /* a key meant for this server: failure = wrong key */
				if (!key_applies(f, k)) continue;   /* certificate names another key: skip the RSA op */
				if (keys_rsa_decrypt_pms(k, c->enc_pms, c->enc_pms_len, pms) == 0 &&
				    derive_master(c, pms, 48, ms) == 0)
					add_candidate(c, ms, TLS_KEY_RSA);
			}
	}
	if ((c->cs->kx == TLS_KX_ECDHE_RSA || c->cs->kx == TLS_KX_ECDHE_ECDSA) && c->srv_pub_len && c->cli_pub_len) {
		for (size_t s = 0; s < e->n_stores; s++)
			for (size_t i = 0; i < e->stores[s]->n_keys; i++) {
				const ks_key_t *k = &e->stores[s]->keys[i];
				if (!keys_group_match(k, c->ske_group)) continue;
				if (!keys_selector_match(k, &f->ep, c->sni[0] ? c->sni : NULL)) continue;
				if (k->pub_len != c->srv_pub_len || memcmp(k->pub, c->srv_pub, k->pub_len) != 0) continue;
				uint8_t z[66];
				size_t zl = keys_ecdh(k, c->cli_pub, c->cli_pub_len, z, sizeof z);
				if (zl && derive_master(c, z, zl, ms) == 0) add_candidate(c, ms, TLS_KEY_ECDHE_STATIC);
				tls_wipe(z, sizeof z);
			}
	}
	tls_wipe(ms, sizeof ms);
	tls_wipe(pms, sizeof pms);
}

/* Set up the read state of `dir` from master secret ms. */
static int setup_dir12(flow_t *f, int dir, const uint8_t ms[48], tls_cipher_state_t *cs)
{
	tls_conn_t *c = &f->conn;
	const tls_suite_t *s = c->cs;
	size_t ml = s->mac_len, kl = s->key_len, il = s->iv_len;
	uint8_t kb[2 * 48 + 2 * 32 + 2 * 16];
	size_t kbl = 2 * (ml + kl + il);
	if (kbl > sizeof kb) return -1;
	if (tls_prf(prf_hash(c), ms, 48, "key expansion", c->server_random, 32, c->client_random, 32, kb, kbl) != 0)
		return -1;
	const uint8_t *mac = kb + (dir == TLS_DIR_C2S ? 0 : ml);
	const uint8_t *key = kb + 2 * ml + (dir == TLS_DIR_C2S ? 0 : kl);
	const uint8_t *iv = kb + 2 * ml + 2 * kl + (dir == TLS_DIR_C2S ? 0 : il);
	bool cbc = s->bulk == TLS_BULK_AES_CBC;
	int rc = tls_cipher_init(cs, s, c->version, cbc && c->etm, key,
	                         (cbc && c->version >= 0x0302) ? NULL : iv, ml ? mac : NULL);
	tls_wipe(kb, sizeof kb);
	return rc;
}

/* Try to authenticate a copy of the record with state cs. */
static bool trial_decrypt(tls_cipher_state_t *cs, uint8_t type, uint16_t version, const uint8_t *frag, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy) return false;
	memcpy(copy, frag, len);
	uint8_t *p; size_t pl;
	uint8_t t = type;
	bool ok = tls_cipher_decrypt(cs, &t, version, copy, len, &p, &pl) == 0;
	tls_wipe(copy, len);
	free(copy);
	return ok;
}

static void cache_session(flow_t *f)
{
	tls_conn_t *c = &f->conn;
	if (!c->have_master || c->tls13) return;
	if (c->sh_sid_len)
		session_cache_put(f->eng->cache, c->sh_sid, c->sh_sid_len, c->master, c->suite, c->version);
}

static tls_reason_t reason_without_key(flow_t *f)
{
	tls_conn_t *c = &f->conn;
	if (c->resumed) return TLS_REASON_RESUMPTION_MISS;
	if (!c->tls13 && c->cs->kx == TLS_KX_RSA) {
		if (!c->enc_pms) return TLS_REASON_HANDSHAKE_MISSED;
		return c->rsa_tried ? TLS_REASON_WRONG_KEY : TLS_REASON_NO_KEY;
	}
	return TLS_REASON_PFS_NO_KEYLOG;
}

static int prove12(flow_t *f, int dir, uint8_t type, uint16_t version, const uint8_t *frag, size_t len)
{
	struct tls_engine *e = f->eng;
	tls_conn_t *c = &f->conn;
	tls_dirstate_t *d = &f->d[dir];
	if (c->have_master) {
		if (setup_dir12(f, dir, c->master, &d->cs) != 0) { eng_fail(f, TLS_REASON_UNSUPPORTED_SUITE); return -1; }
		d->cs_active = true;
		return 1;
	}
	if (!c->resumed_known && !c->shd_seen && !c->cke_seen) c->resumed = true;  /* abbreviated handshake */
	c->resumed_known = true;
	if (!c->cand_done || c->waiting_keylog) {
		c->n_cand = 0;
		gather_candidates12(f, c->cand_done);   /* RSA / static ECDHE only once per handshake */
		c->cand_done = true;
	}
	for (int i = 0; i < c->n_cand; i++) {
		tls_cipher_state_t t;
		memset(&t, 0, sizeof t);
		if (setup_dir12(f, dir, c->cand[i], &t) != 0) { tls_cipher_free(&t); continue; }
		bool ok = trial_decrypt(&t, type, version, frag, len);
		tls_cipher_free(&t);
		if (!ok) continue;
		memcpy(c->master, c->cand[i], 48);
		c->have_master = true;
		c->key_kind = c->resumed && c->cand_kind[i] == TLS_KEY_RESUMPTION ? TLS_KEY_RESUMPTION : c->cand_kind[i];
		c->keys_proven = true;
		c->waiting_keylog = false;
		tls_wipe(c->cand, sizeof c->cand);
		c->n_cand = 0;
		if (c->resumed) e->st.resumptions++;
		if (setup_dir12(f, dir, c->master, &d->cs) != 0) return -1;
		d->cs_active = true;
		/* the other direction may already have switched */
		int o = 1 - dir;
		if (f->d[o].encrypted && !f->d[o].cs_active && !f->d[o].held) {
			if (setup_dir12(f, o, c->master, &f->d[o].cs) == 0) f->d[o].cs_active = true;
		}
		cache_session(f);
		if (c->n_tickets_seen) session_cache_put(e->cache, c->new_ticket_hash, 32, c->master, c->suite, c->version);
		eng_log(e, 6, "flow %llu: keys proven (%s)", (unsigned long long)f->id, tls_key_kind_name(c->key_kind));
		return 1;
	}
	bool had = c->n_cand > 0;
	tls_wipe(c->cand, sizeof c->cand);
	c->n_cand = 0;
	if (any_keylog(e) && !had) return 0;                          /* wait for the key log */
	eng_log(e, 4, "flow %llu %s: no key authenticates the Finished message", (unsigned long long)f->id, dirname_(dir));
	eng_fail(f, c->hs_gap ? TLS_REASON_GAP
	          : had || c->rsa_tried ? (c->resumed && !c->rsa_tried ? TLS_REASON_RESUMPTION_MISS : TLS_REASON_WRONG_KEY)
	                                : reason_without_key(f));
	eng_report_session(e, f, false);
	return -1;
}

/* ---------------- TLS 1.3 ---------------- */

/* Static ECDHE: the (EC)DHE shared secret of this handshake from a configured server key
 * whose public key is the ServerHello's key_share. Returns its length (z filled) or 0. */
static size_t static_shared_secret(flow_t *f, uint8_t *z, size_t cap)
{
	struct tls_engine *e = f->eng;
	tls_conn_t *c = &f->conn;
	const uint8_t *cli = NULL;
	size_t clen = 0;
	for (int i = 0; i < c->n_ch_share; i++)
		if (c->ch_share[i].group == c->ske_group) { cli = c->ch_share[i].pub; clen = c->ch_share[i].len; }
	if (!cli || !c->srv_pub_len) return 0;
	for (size_t s = 0; s < e->n_stores; s++)
		for (size_t i = 0; i < e->stores[s]->n_keys; i++) {
			const ks_key_t *k = &e->stores[s]->keys[i];
			if (!keys_group_match(k, c->ske_group)) continue;
			if (!keys_selector_match(k, &f->ep, c->sni[0] ? c->sni : NULL)) continue;
			if (k->pub_len != c->srv_pub_len || memcmp(k->pub, c->srv_pub, k->pub_len) != 0) continue;
			size_t zl = keys_ecdh(k, cli, clen, z, cap);
			if (zl) return zl;
		}
	return 0;
}

/* TLS 1.3 resumption: the PSK of the ClientHello's identity idx from the session cache.
 * Returns its length (psk filled) or 0: unknown, or made for another hash than this
 * suite's (RFC 8446 §4.2.11: a PSK is used only with its own hash). */
static size_t psk_from_cache(flow_t *f, unsigned idx, tls_hash_t h, uint8_t psk[48])
{
	tls_conn_t *c = &f->conn;
	if (idx >= c->n_psk_ids || idx >= 2) return 0;
	int ph = 0;
	size_t pl = session_cache_get_psk(f->eng->cache, c->psk_id_hash[idx], 32, psk, &ph, NULL);
	if (pl && ph == (int)h && pl == tls_hash_len(h)) return pl;
	tls_wipe(psk, 48);
	return 0;
}

/* TLS 1.3 key schedule without a key log (RFC 8446 §7.1): handshake traffic secrets from
 *   early secret     = HKDF-Extract(0, PSK or 0s)       PSK: resumption, from the cache
 *   handshake secret = HKDF-Extract(Derive-Secret(early, "derived", ""), (EC)DHE or 0s)
 * where the (EC)DHE input comes from a configured static server key matching the
 * ServerHello's key_share, and is Hash.length zeros for psk_ke (PSK without key_share).
 * Nothing is computed when a needed input is unknown: a selected PSK that is not cached
 * (the session then ends as resumption_miss, or waits for the key log), or a key_share
 * no configured key matches. */
static void tls13_static_schedule(flow_t *f)
{
	tls_conn_t *c = &f->conn;
	if (c->have_hs_secret || !c->cs) return;
	if (!c->srv_pub_len && !c->psk_selected) return;
	tls_hash_t h = c->cs->prf;
	size_t hl = tls_hash_len(h);
	uint8_t psk[48] = {0}, z[66] = {0};
	size_t pl = 0, zl = hl;                      /* psk_ke: zeros */
	if (c->psk_selected && !(pl = psk_from_cache(f, c->psk_sel_idx, h, psk))) return;
	if (c->srv_pub_len && !(zl = static_shared_secret(f, z, sizeof z))) { tls_wipe(psk, sizeof psk); return; }
	uint8_t zero[TLS_MAX_HASH_LEN] = {0}, early[TLS_MAX_HASH_LEN], derived[TLS_MAX_HASH_LEN];
	uint8_t th[TLS_MAX_HASH_LEN];
	size_t thl;
	int rc = tls_hkdf_extract(h, NULL, 0, pl ? psk : zero, pl ? pl : hl, early);
	rc |= tls13_derive_secret(h, early, "derived", NULL, derived);
	rc |= tls_hkdf_extract(h, derived, hl, z, zl, c->hs_secret);
	rc |= tls_transcript_digest(&c->transcript, h, th, &thl);
	rc |= tls13_derive_secret(h, c->hs_secret, "c hs traffic", th, f->d[TLS_DIR_C2S].secret);
	rc |= tls13_derive_secret(h, c->hs_secret, "s hs traffic", th, f->d[TLS_DIR_S2C].secret);
	tls_wipe(psk, sizeof psk);
	tls_wipe(z, sizeof z);
	tls_wipe(early, sizeof early);
	tls_wipe(derived, sizeof derived);
	if (rc == 0) {
		c->have_hs_secret = true;
		c->key_kind = pl ? TLS_KEY_RESUMPTION : TLS_KEY_ECDHE_STATIC;
	} else {
		tls_wipe(c->hs_secret, sizeof c->hs_secret);
	}
}

/* TLS 1.3 0-RTT with a cached PSK (RFC 8446 §7.1): client_early_traffic_secret =
 * Derive-Secret(HKDF-Extract(0, PSK), "c e traffic", Hash(ClientHello)) for the first
 * offered identity (the one early data is protected with, §4.2.10). Called right after
 * the ClientHello entered the transcript; the hash is the PSK's own. */
static void tls13_psk_early_secret(flow_t *f)
{
	tls_conn_t *c = &f->conn;
	c->early_ts_hash = 0;
	if (!c->early_data_offered || !c->n_psk_ids || !c->transcript_on) return;
	uint8_t psk[48], early[TLS_MAX_HASH_LEN], th[TLS_MAX_HASH_LEN];
	int ph = 0;
	size_t thl;
	size_t pl = session_cache_get_psk(f->eng->cache, c->psk_id_hash[0], 32, psk, &ph, NULL);
	if (!pl || pl != tls_hash_len((tls_hash_t)ph)) { tls_wipe(psk, sizeof psk); return; }
	tls_hash_t h = (tls_hash_t)ph;
	int rc = tls_hkdf_extract(h, NULL, 0, psk, pl, early);
	rc |= tls_transcript_digest(&c->transcript, h, th, &thl);
	rc |= tls13_derive_secret(h, early, "c e traffic", th, c->early_ts);
	tls_wipe(psk, sizeof psk);
	tls_wipe(early, sizeof early);
	if (rc == 0) c->early_ts_hash = (uint8_t)h;
	else tls_wipe(c->early_ts, sizeof c->early_ts);
}

/* Static ECDHE / PSK: application secrets after the server Finished. */
static void tls13_static_app_secrets(flow_t *f)
{
	tls_conn_t *c = &f->conn;
	if (!c->have_hs_secret || !c->cs) return;
	tls_hash_t h = c->cs->prf;
	size_t hl = tls_hash_len(h);
	uint8_t derived[TLS_MAX_HASH_LEN], zero[TLS_MAX_HASH_LEN] = {0}, th[TLS_MAX_HASH_LEN];
	size_t thl;
	int rc = tls13_derive_secret(h, c->hs_secret, "derived", NULL, derived);
	rc |= tls_hkdf_extract(h, derived, hl, zero, hl, c->ms13);
	rc |= tls_transcript_digest(&c->transcript, h, th, &thl);
	rc |= tls13_derive_secret(h, c->ms13, "c ap traffic", th, f->d[TLS_DIR_C2S].next_secret);
	rc |= tls13_derive_secret(h, c->ms13, "s ap traffic", th, f->d[TLS_DIR_S2C].next_secret);
	tls_wipe(derived, sizeof derived);
	if (rc == 0) {
		f->d[TLS_DIR_C2S].have_next_secret = true;
		f->d[TLS_DIR_S2C].have_next_secret = true;
		c->have_ms13 = true;
	}
}

/* One ticket's PSK = HKDF-Expand-Label(resumption_master_secret, "resumption",
 * ticket_nonce, Hash.length) (RFC 8446 §4.6.1), cached under SHA-256(ticket). */
static void cache_ticket_psk(flow_t *f, const uint8_t id_hash[32], const uint8_t *nonce, size_t nlen)
{
	tls_conn_t *c = &f->conn;
	tls_hash_t h = c->cs->prf;
	size_t hl = tls_hash_len(h);
	uint8_t psk[TLS_MAX_HASH_LEN];
	if (tls13_hkdf_expand_label(h, c->res_secret, hl, "resumption", nonce, nlen, psk, hl) == 0)
		session_cache_put_psk(f->eng->cache, id_hash, 32, psk, hl, (int)h, c->suite);
	tls_wipe(psk, sizeof psk);
}

/* After the client Finished entered the transcript: resumption_master_secret =
 * Derive-Secret(master_secret, "res master", ClientHello..client Finished), when this
 * handshake's master secret is known (static key or cached PSK); tickets that came
 * earlier are cached now. The master secret is not needed after this and is wiped. */
static void tls13_resumption_secret(flow_t *f)
{
	tls_conn_t *c = &f->conn;
	if (!c->have_ms13 || c->have_res_secret || !c->transcript_on || !c->cs) return;
	tls_hash_t h = c->cs->prf;
	uint8_t th[TLS_MAX_HASH_LEN];
	size_t thl;
	if (tls_transcript_digest(&c->transcript, h, th, &thl) == 0 &&
	    tls13_derive_secret(h, c->ms13, "res master", th, c->res_secret) == 0) {
		c->have_res_secret = true;
		for (unsigned i = 0; i < c->n_nst_pending; i++)
			cache_ticket_psk(f, c->nst_pending[i].id_hash, c->nst_pending[i].nonce, c->nst_pending[i].nonce_len);
	}
	tls_wipe(c->nst_pending, sizeof c->nst_pending);
	c->n_nst_pending = 0;
	tls_wipe(c->ms13, sizeof c->ms13);
	c->have_ms13 = false;
}

/* Fill secrets from the key log: handshake and application secret 0 per direction. */
static void tls13_keylog_secrets(flow_t *f)
{
	struct tls_engine *e = f->eng;
	tls_conn_t *c = &f->conn;
	size_t hl = tls_hash_len(c->cs->prf);
	for (int dir = 0; dir < 2; dir++) {
		tls_dirstate_t *d = &f->d[dir];
		uint8_t buf[TLS_MAX_HASH_LEN];
		if (!d->hs_known) {
			tls_keylog_label_t l = dir == TLS_DIR_C2S ? KL_CLIENT_HANDSHAKE_TRAFFIC_SECRET
			                                          : KL_SERVER_HANDSHAKE_TRAFFIC_SECRET;
			if (keylog_find(e, l, c->client_random, 32, buf, sizeof buf) == hl) {
				memcpy(d->secret, buf, hl);
				d->hs_known = true;
				if (c->key_kind == TLS_KEY_NONE) c->key_kind = TLS_KEY_KEYLOG;
			}
		}
		if (!d->have_next_secret) {
			tls_keylog_label_t l = dir == TLS_DIR_C2S ? KL_CLIENT_TRAFFIC_SECRET_0 : KL_SERVER_TRAFFIC_SECRET_0;
			if (keylog_find(e, l, c->client_random, 32, buf, sizeof buf) == hl) {
				memcpy(d->next_secret, buf, hl);
				d->have_next_secret = true;
				if (c->key_kind == TLS_KEY_NONE) c->key_kind = TLS_KEY_KEYLOG;
			}
		}
		tls_wipe(buf, sizeof buf);
	}
}

/* Trial-decrypt with a TLS 1.3 traffic secret; on success make it dir's state. */
static bool try13(flow_t *f, int dir, const uint8_t *secret, uint8_t type, uint16_t version,
                  const uint8_t *frag, size_t len, bool store)
{
	tls_conn_t *c = &f->conn;
	tls_dirstate_t *d = &f->d[dir];
	size_t hl = tls_hash_len(c->cs->prf);
	tls_cipher_state_t t;
	memset(&t, 0, sizeof t);
	if (tls13_cipher_init(&t, c->cs, secret, hl) != 0) { tls_cipher_free(&t); return false; }
	bool ok = trial_decrypt(&t, type, version, frag, len);
	tls_cipher_free(&t);
	if (!ok) return false;
	tls_cipher_free(&d->cs);
	if (store && secret != d->secret) memcpy(d->secret, secret, hl);
	if (tls13_cipher_init(&d->cs, c->cs, secret, hl) != 0) return false;
	d->cs_active = true;
	if (!c->keys_proven && c->key_kind == TLS_KEY_RESUMPTION) f->eng->st.resumptions++;
	c->keys_proven = true;
	c->waiting_keylog = false;
	return true;
}

static int prove13(flow_t *f, int dir, uint8_t type, uint16_t version, const uint8_t *frag, size_t len)
{
	struct tls_engine *e = f->eng;
	tls_conn_t *c = &f->conn;
	tls_dirstate_t *d = &f->d[dir];
	tls13_static_schedule(f);
	if (c->have_hs_secret) { f->d[0].hs_known = f->d[1].hs_known = true; }
	tls13_keylog_secrets(f);
	if (d->app_epoch < 0) {
		/* 0-RTT: early data under CLIENT_EARLY_TRAFFIC_SECRET (RFC 8446 §2.3); the
		 * handshake secret stays in d->secret for EndOfEarlyData. */
		uint8_t es[TLS_MAX_HASH_LEN];
		size_t hl = tls_hash_len(c->cs->prf);
		bool ok = keylog_find(e, KL_CLIENT_EARLY_TRAFFIC_SECRET, c->client_random, 32, es, sizeof es) == hl &&
		          try13(f, dir, es, type, version, frag, len, false);
		tls_wipe(es, sizeof es);
		if (!ok && c->early_ts_hash == (uint8_t)c->cs->prf) {
			/* early secret of a cached PSK (no key log needed) */
			if (c->key_kind == TLS_KEY_NONE) c->key_kind = TLS_KEY_RESUMPTION;
			ok = try13(f, dir, c->early_ts, type, version, frag, len, false);
			if (!ok && !c->keys_proven && !c->have_hs_secret) c->key_kind = TLS_KEY_NONE;
		}
		if (ok) return 1;
		if (d->hs_known && try13(f, dir, d->secret, type, version, frag, len, true)) {
			d->app_epoch = 0;                    /* early data was rejected or is over */
			return 1;
		}
		if (d->have_next_secret && try13(f, dir, d->next_secret, type, version, frag, len, true)) {
			d->app_epoch = 1;                    /* handshake records were missed */
			return 1;
		}
		if ((!d->hs_known || !d->have_next_secret) && any_keylog(e) && !c->waiting_gave_up) return 0;
		return ++d->skipped < 64 ? 2 : -1;     /* early data we have no key for */
	}
	if (d->app_epoch == 0 && d->hs_known) {
		if (try13(f, dir, d->secret, type, version, frag, len, true)) return 1;
		if (d->have_next_secret && try13(f, dir, d->next_secret, type, version, frag, len, true)) {
			d->app_epoch = 1;
			return 1;
		}
		if (dir == TLS_DIR_C2S && c->early_data_offered && ++d->skipped < 64)
			return 2;                            /* 0-RTT data we have no key for */
		eng_log(e, 4, "flow %llu %s: TLS 1.3 handshake secret does not authenticate", (unsigned long long)f->id, dirname_(dir));
		eng_fail(f, TLS_REASON_WRONG_KEY);
		eng_report_session(e, f, false);
		return -1;
	}
	if (d->have_next_secret) {
		if (try13(f, dir, d->next_secret, type, version, frag, len, true)) {
			d->app_epoch = 1;
			return 1;
		}
		if (d->app_epoch == 0 && ++d->skipped < 64) return 2;   /* encrypted handshake we cannot read */
		eng_log(e, 4, "flow %llu %s: TLS 1.3 traffic secret does not authenticate", (unsigned long long)f->id, dirname_(dir));
		eng_fail(f, TLS_REASON_WRONG_KEY);
		eng_report_session(e, f, false);
		return -1;
	}
	if (any_keylog(e)) return 0;
	/* resumption_miss: the selected PSK is unknown (its session was not decrypted here);
	 * a known PSK with a key share no configured key matches is a forward-secret miss */
	uint8_t psk[48];
	bool psk_known = c->psk_selected && psk_from_cache(f, c->psk_sel_idx, c->cs->prf, psk) > 0;
	tls_wipe(psk, sizeof psk);
	eng_fail(f, c->resumed && !psk_known ? TLS_REASON_RESUMPTION_MISS : TLS_REASON_PFS_NO_KEYLOG);
	eng_report_session(e, f, false);
	return -1;
}

int hs_prove_keys(flow_t *f, int dir, uint8_t type, uint16_t version, const uint8_t *frag, size_t len)
{
	tls_conn_t *c = &f->conn;
	if (c->reason != TLS_REASON_NONE && !c->waiting_keylog) return -1;
	if (!c->sh_seen) {
		if (dir == TLS_DIR_C2S && f->d[dir].app_epoch < 0) return 0;   /* 0-RTT before ServerHello */
		eng_fail(f, TLS_REASON_HANDSHAKE_MISSED);
		return -1;
	}
	if (!c->cs) {
		eng_fail(f, TLS_REASON_UNSUPPORTED_SUITE);
		return -1;
	}
	return c->tls13 ? prove13(f, dir, type, version, frag, len) : prove12(f, dir, type, version, frag, len);
}

int hs13_next_epoch(flow_t *f, int dir)
{
	tls_conn_t *c = &f->conn;
	tls_dirstate_t *d = &f->d[dir];
	if (!c->cs) return -1;
	size_t hl = tls_hash_len(c->cs->prf);
	if (d->app_epoch >= 1) return 0;
	d->app_epoch = 1;
	if (!d->have_next_secret) tls13_keylog_secrets(f);
	tls_cipher_free(&d->cs);
	d->cs_active = false;
	if (!d->have_next_secret) return -1;        /* looked up again at the next record */
	memcpy(d->secret, d->next_secret, hl);
	if (tls13_cipher_init(&d->cs, c->cs, d->secret, hl) != 0) return -1;
	d->cs_active = true;
	return 0;
}

/* KeyUpdate: the sender's next records use the next generation of its traffic secret. */
static void tls13_key_update(flow_t *f, int dir)
{
	tls_conn_t *c = &f->conn;
	tls_dirstate_t *d = &f->d[dir];
	if (!d->cs_active || !c->cs) return;
	tls_hash_t h = c->cs->prf;
	size_t hl = tls_hash_len(h);
	uint8_t next[TLS_MAX_HASH_LEN];
	if (tls13_hkdf_expand_label(h, d->secret, hl, "traffic upd", NULL, 0, next, hl) != 0) return;
	memcpy(d->secret, next, hl);
	tls_wipe(next, sizeof next);
	tls_cipher_free(&d->cs);
	d->cs_active = tls13_cipher_init(&d->cs, c->cs, d->secret, hl) == 0;
}

/* ---------------- TLS <= 1.2 ChangeCipherSpec ---------------- */

void hs_ccs(flow_t *f, int dir)
{
	tls_conn_t *c = &f->conn;
	tls_dirstate_t *d = &f->d[dir];
	if (!c->sh_seen) {
		if (!c->ch_seen) eng_fail(f, TLS_REASON_HANDSHAKE_MISSED);
		d->encrypted = true;
		return;
	}
	if (dir == TLS_DIR_S2C && !c->shd_seen && !c->cke_seen && !c->resumed_known) {
		c->resumed = true;
		c->resumed_known = true;
	}
	d->encrypted = true;
	d->cs_active = false;
	if (c->have_master && c->cs) {
		if (setup_dir12(f, dir, c->master, &d->cs) == 0) d->cs_active = true;
	}
}

/* ---------------- other handshake messages ---------------- */

static void parse_certificate(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->conn;
	if (c->tls13) cur_sub8(m);                   /* certificate_request_context */
	cursor_t list = cur_sub24(m);
	cursor_t cert = cur_sub24(&list);
	if (cur_failed(&list) || cur_left(&cert) == 0) return;
	size_t n = cur_left(&cert);
	if (keys_cert_spki_hash(cur_span(&cert, n), n, c->cert_spki) == 0) c->cert_seen = true;
}

static void parse_server_key_exchange(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->conn;
	c->ske_seen = true;
	if (!c->cs) return;
	if (c->cs->kx == TLS_KX_ECDHE_RSA || c->cs->kx == TLS_KX_ECDHE_ECDSA) {
		uint8_t curve_type = cur_u8(m);
		uint16_t group = cur_u16(m);
		cursor_t pt = cur_sub8(m);
		if (cur_failed(m) || curve_type != 3 || cur_left(&pt) > sizeof c->srv_pub) return;
		c->ske_group = group;
		c->srv_pub_len = cur_left(&pt);
		cur_copy(&pt, c->srv_pub, c->srv_pub_len);
	}
}

static void parse_client_key_exchange(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->conn;
	c->cke_seen = true;
	c->resumed_known = true;
	if (!c->cs) return;
	if (c->transcript_on) {
		/* RFC 7627 §3: session_hash covers the handshake through ClientKeyExchange. */
		size_t hl = 0;
		if (tls_transcript_digest(&c->transcript, prf_hash(c), c->session_hash, &hl) == 0)
			c->session_hash_len = hl;
	}
	if (c->cs->kx == TLS_KX_RSA) {
		size_t n = cur_left(m);
		cursor_t enc = *m;
		if (n >= 2) {
			cursor_t t = *m;
			cursor_t inner = cur_sub16(&t);
			if (cur_done(&t)) enc = inner;           /* TLS: 2-byte length prefix */
		}
		size_t el = cur_left(&enc);
		if (el == 0 || el > 1024) return;
		free(c->enc_pms);
		c->enc_pms = malloc(el);
		if (!c->enc_pms) return;
		c->enc_pms_len = el;
		cur_copy(&enc, c->enc_pms, el);
	} else if (c->cs->kx == TLS_KX_ECDHE_RSA || c->cs->kx == TLS_KX_ECDHE_ECDSA) {
		cursor_t pt = cur_sub8(m);
		if (cur_failed(m) || cur_left(&pt) > sizeof c->cli_pub) return;
		c->cli_pub_len = cur_left(&pt);
		cur_copy(&pt, c->cli_pub, c->cli_pub_len);
	}
}

/* TLS 1.3 NewSessionTicket (RFC 8446 §4.6.1): uint32 ticket_lifetime; uint32
 * ticket_age_add; opaque ticket_nonce<0..255>; opaque ticket<1..2^16-1>; Extension
 * extensions<0..2^16-2>. Its PSK is cached when the resumption master secret is known
 * (sessions decrypted with a static key or a cached PSK), or once it is (a ticket
 * processed before the client Finished: at most two wait, nonces up to 32 bytes). */
static void parse_new_session_ticket13(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->conn;
	cur_u32(m);                                  /* ticket_lifetime */
	cur_u32(m);                                  /* ticket_age_add */
	cursor_t nonce = cur_sub8(m);
	cursor_t t = cur_sub16(m);
	cursor_t ext = cur_sub16(m);
	if (!cur_done(m) || cur_left(&t) == 0 || !c->cs) return;
	(void)ext;
	uint8_t id[32];
	size_t n = cur_left(&t), nl = cur_left(&nonce);
	if (tls_hash(TLS_HASH_SHA256, cur_span(&t, n), n, id) != 0) return;
	c->n_tickets_seen++;
	const uint8_t *np = cur_span(&nonce, nl);
	if (c->have_res_secret) cache_ticket_psk(f, id, np, nl);
	else if ((c->have_hs_secret || c->have_ms13) && c->n_nst_pending < 2 && nl <= 32) {
		memcpy(c->nst_pending[c->n_nst_pending].id_hash, id, 32);
		memcpy(c->nst_pending[c->n_nst_pending].nonce, np, nl);
		c->nst_pending[c->n_nst_pending].nonce_len = (uint8_t)nl;
		c->n_nst_pending++;
	}
}

static void parse_new_session_ticket(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->conn;
	if (c->tls13) { parse_new_session_ticket13(f, m); return; }
	cur_u32(m);                                  /* lifetime hint */
	cursor_t t = cur_sub16(m);
	if (cur_failed(m) || cur_left(&t) == 0) return;
	size_t n = cur_left(&t);
	tls_hash(TLS_HASH_SHA256, cur_span(&t, n), n, c->new_ticket_hash);
	c->n_tickets_seen++;
	if (c->have_master)
		session_cache_put(f->eng->cache, c->new_ticket_hash, 32, c->master, c->suite, c->version);
}

/* One complete handshake message (raw = header + body). */
static void hs_message(flow_t *f, int dir, uint8_t type, const uint8_t *raw, size_t rawlen)
{
	tls_conn_t *c = &f->conn;
	cursor_t m = cur_init(raw + 4, rawlen - 4);
	bool post_handshake = c->tls13 && (type == HS_NEW_SESSION_TICKET || type == HS_KEY_UPDATE);
	/* TLS 1.3 negotiated with a suite we do not know: nothing to derive (and a forged
	 * plaintext Finished/KeyUpdate must not reach the key schedule) */
	if (c->tls13 && !c->cs && (type == HS_FINISHED || type == HS_KEY_UPDATE || type == HS_END_OF_EARLY_DATA))
		return;
	if (type == HS_CLIENT_HELLO && dir == TLS_DIR_C2S) {
		if (!c->transcript_on) c->transcript_on = tls_transcript_init(&c->transcript) == 0;
		if (c->transcript_on) tls_transcript_update(&c->transcript, raw, rawlen);
		parse_client_hello(f, &m);
		tls13_psk_early_secret(f);
		if (c->early_data_offered && !c->keys_proven) {
			f->d[TLS_DIR_C2S].encrypted = true;   /* 0-RTT records follow the ClientHello */
			f->d[TLS_DIR_C2S].app_epoch = -1;
		}
		return;
	}
	if (type == HS_SERVER_HELLO && dir == TLS_DIR_S2C) {
		parse_server_hello(f, &m, raw, rawlen);
		return;
	}
	if (c->transcript_on && type != HS_HELLO_REQUEST && !post_handshake)
		tls_transcript_update(&c->transcript, raw, rawlen);
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
		break;
	case HS_END_OF_EARLY_DATA:
		if (dir == TLS_DIR_C2S && c->tls13 && f->d[dir].hs_known) {
			tls_dirstate_t *d = &f->d[dir];
			tls_cipher_free(&d->cs);
			d->cs_active = tls13_cipher_init(&d->cs, c->cs, d->secret, tls_hash_len(c->cs->prf)) == 0;
			d->app_epoch = 0;
		}
		break;
	case HS_FINISHED:
		if (c->tls13) {
			if (dir == TLS_DIR_S2C) tls13_static_app_secrets(f);
			else tls13_resumption_secret(f);
			hs13_next_epoch(f, dir);
			if (dir == TLS_DIR_C2S && c->transcript_on) {
				tls_transcript_free(&c->transcript);
				c->transcript_on = false;
			}
		} else if (c->transcript_on && f->d[0].cs_active && f->d[1].cs_active) {
			tls_transcript_free(&c->transcript);
			c->transcript_on = false;
		}
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
	tls_dirstate_t *d = &f->d[dir];
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
				if (d->hlen == 0 && d->hcap > 16384) {   /* a big certificate chain: give it back */
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

void hs_conn_free(tls_conn_t *c)
{
	if (c->transcript_on) tls_transcript_free(&c->transcript);
	c->transcript_on = false;
	if (c->enc_pms) { tls_wipe(c->enc_pms, c->enc_pms_len); free(c->enc_pms); }
	c->enc_pms = NULL;
	tls_wipe(c, sizeof *c);
}
