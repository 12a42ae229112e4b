/*
 * hs13.c — the TLS 1.3 key schedule (RFC 8446 §7). Traffic secrets come from the key log
 * or from the schedule over the running transcript, fed by a static (EC)DHE server key
 * and/or a resumption PSK: a session decrypted that way derives its resumption master
 * secret and caches the PSK of each NewSessionTicket (by SHA-256 of the ticket), which a
 * later ClientHello's pre_shared_key identity and the ServerHello's selection find again
 * (psk_dhe_ke with the static key, psk_ke, 0-RTT). Epochs advance at Finished
 * and KeyUpdate; each secret is proven on a copy of a record before it is used.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "hs_internal.h"

/* Static ECDHE: the (EC)DHE shared secret of this handshake from a configured server key
 * whose public key is the ServerHello's key_share. Returns its length (z filled) or 0. */
static size_t static_shared_secret(flow_t *f, uint8_t *z, size_t cap)
{
	tls_hs_t *hs = f->t->conn.hs;
	const uint8_t *cli = NULL;
	size_t clen = 0;
	for (int i = 0; i < hs->n_ch_share; i++)
		if (hs->ch_share[i].group == hs->ske_group) { cli = hs->ch_share[i].pub; clen = hs->ch_share[i].len; }
	if (!cli || !hs->srv_pub_len) return 0;
	return static_key_ecdh(f, hs->ske_group, hs->srv_pub, hs->srv_pub_len, cli, clen, z, cap);
}

/* TLS 1.3 resumption: the PSK of the ClientHello's identity idx from the session cache.
 * Returns its length (psk filled) or 0: unknown, or made for another hash than this
 * suite's (RFC 8446 §4.2.11: a PSK is used only with its own hash). */
static size_t psk_from_cache(flow_t *f, unsigned idx, tls_hash_t h, uint8_t psk[48])
{
	tls_hs_t *hs = f->t->conn.hs;
	if (!hs) return 0;
	if (idx >= hs->n_psk_ids || idx >= 2) return 0;
	int ph = 0;
	size_t pl = session_cache_get_psk(f->eng->cache, hs->psk_id_hash[idx], 32, psk, &ph, NULL);
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
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	if (!hs || hs->have_hs_secret || !c->cs) return;
	if (!hs->srv_pub_len && !hs->psk_selected) return;
	tls_hash_t h = c->cs->prf;
	size_t hl = tls_hash_len(h);
	uint8_t psk[48] = {0}, z[66] = {0};
	size_t pl = 0, zl = hl;                      /* psk_ke: zeros */
	if (hs->psk_selected && !(pl = psk_from_cache(f, hs->psk_sel_idx, h, psk))) return;
	if (hs->srv_pub_len && !(zl = static_shared_secret(f, z, sizeof z))) { tls_wipe(psk, sizeof psk); return; }
	uint8_t zero[TLS_MAX_HASH_LEN] = {0}, early[TLS_MAX_HASH_LEN], derived[TLS_MAX_HASH_LEN];
	uint8_t th[TLS_MAX_HASH_LEN];
	size_t thl;
	int rc = tls_hkdf_extract(h, NULL, 0, pl ? psk : zero, pl ? pl : hl, early);
	rc |= tls13_derive_secret(h, early, "derived", NULL, derived);
	rc |= tls_hkdf_extract(h, derived, hl, z, zl, hs->hs_secret);
	rc |= tls_transcript_digest(&hs->transcript, h, th, &thl);
	rc |= tls13_derive_secret(h, hs->hs_secret, "c hs traffic", th, hs->hs_ts[TLS_DIR_C2S]);
	rc |= tls13_derive_secret(h, hs->hs_secret, "s hs traffic", th, hs->hs_ts[TLS_DIR_S2C]);
	tls_wipe(psk, sizeof psk);
	tls_wipe(z, sizeof z);
	tls_wipe(early, sizeof early);
	tls_wipe(derived, sizeof derived);
	if (rc == 0) {
		hs->have_hs_secret = true;
		c->key_kind = pl ? TLS_KEY_RESUMPTION : TLS_KEY_ECDHE_STATIC;
	} else {
		tls_wipe(hs->hs_secret, sizeof hs->hs_secret);
	}
}

/* TLS 1.3 0-RTT with a cached PSK (RFC 8446 §7.1): client_early_traffic_secret =
 * Derive-Secret(HKDF-Extract(0, PSK), "c e traffic", Hash(ClientHello)) for the first
 * offered identity (the one early data is protected with, §4.2.10). Called right after
 * the ClientHello entered the transcript; the hash is the PSK's own. */
void tls13_psk_early_secret(flow_t *f)
{
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	if (!hs) return;
	hs->early_ts_hash = 0;
	if (!c->early_data_offered || !hs->n_psk_ids || !hs->transcript_on) return;
	uint8_t psk[48], early[TLS_MAX_HASH_LEN], th[TLS_MAX_HASH_LEN];
	int ph = 0;
	size_t thl;
	size_t pl = session_cache_get_psk(f->eng->cache, hs->psk_id_hash[0], 32, psk, &ph, NULL);
	if (!pl || pl != tls_hash_len((tls_hash_t)ph)) { tls_wipe(psk, sizeof psk); return; }
	tls_hash_t h = (tls_hash_t)ph;
	int rc = tls_hkdf_extract(h, NULL, 0, psk, pl, early);
	rc |= tls_transcript_digest(&hs->transcript, h, th, &thl);
	rc |= tls13_derive_secret(h, early, "c e traffic", th, hs->early_ts);
	tls_wipe(psk, sizeof psk);
	tls_wipe(early, sizeof early);
	if (rc == 0) hs->early_ts_hash = (uint8_t)h;
	else tls_wipe(hs->early_ts, sizeof hs->early_ts);
}

/* Static ECDHE / PSK: application secrets after the server Finished. */
void tls13_static_app_secrets(flow_t *f)
{
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	if (!hs || !hs->have_hs_secret || !c->cs) return;
	tls_hash_t h = c->cs->prf;
	size_t hl = tls_hash_len(h);
	uint8_t derived[TLS_MAX_HASH_LEN], zero[TLS_MAX_HASH_LEN] = {0}, th[TLS_MAX_HASH_LEN];
	size_t thl;
	int rc = tls13_derive_secret(h, hs->hs_secret, "derived", NULL, derived);
	rc |= tls_hkdf_extract(h, derived, hl, zero, hl, hs->ms13);
	rc |= tls_transcript_digest(&hs->transcript, h, th, &thl);
	rc |= tls13_derive_secret(h, hs->ms13, "c ap traffic", th, hs->next_secret[TLS_DIR_C2S]);
	rc |= tls13_derive_secret(h, hs->ms13, "s ap traffic", th, hs->next_secret[TLS_DIR_S2C]);
	tls_wipe(derived, sizeof derived);
	if (rc == 0) {
		hs->have_next[TLS_DIR_C2S] = true;
		hs->have_next[TLS_DIR_S2C] = true;
		hs->have_ms13 = true;
	}
}

/* One ticket's PSK = HKDF-Expand-Label(resumption_master_secret, "resumption",
 * ticket_nonce, Hash.length) (RFC 8446 §4.6.1), cached under SHA-256(ticket). */
static void cache_ticket_psk(flow_t *f, const uint8_t id_hash[32], const uint8_t *nonce, size_t nlen)
{
	tls_conn_t *c = &f->t->conn;
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
void tls13_resumption_secret(flow_t *f)
{
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	if (!hs || !hs->have_ms13 || c->res_secret || !hs->transcript_on || !c->cs) return;
	tls_hash_t h = c->cs->prf;
	uint8_t th[TLS_MAX_HASH_LEN], rs[TLS_MAX_HASH_LEN];
	size_t thl;
	if (tls_transcript_digest(&hs->transcript, h, th, &thl) == 0 &&
	    tls13_derive_secret(h, hs->ms13, "res master", th, rs) == 0 &&
	    (c->res_secret = malloc(TLS_MAX_HASH_LEN)) != NULL) {
		memcpy(c->res_secret, rs, TLS_MAX_HASH_LEN);
		for (unsigned i = 0; i < hs->n_nst_pending; i++)
			cache_ticket_psk(f, hs->nst_pending[i].id_hash, hs->nst_pending[i].nonce, hs->nst_pending[i].nonce_len);
	}
	tls_wipe(hs->nst_pending, sizeof hs->nst_pending);
	hs->n_nst_pending = 0;
	tls_wipe(rs, sizeof rs);
	tls_wipe(hs->ms13, sizeof hs->ms13);
	hs->have_ms13 = false;
}

/* Fill secrets from the key log: handshake and application secret 0 per direction. */
static void tls13_keylog_secrets(flow_t *f)
{
	struct tls_engine *e = f->eng;
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	if (!hs) return;
	size_t hl = tls_hash_len(c->cs->prf);
	for (int dir = 0; dir < 2; dir++) {
		uint8_t buf[TLS_MAX_HASH_LEN];
		if (!hs->hs_known[dir]) {
			tls_keylog_label_t l = dir == TLS_DIR_C2S ? KL_CLIENT_HANDSHAKE_TRAFFIC_SECRET
			                                          : KL_SERVER_HANDSHAKE_TRAFFIC_SECRET;
			if (keylog_find(e, l, hs->client_random, 32, buf, sizeof buf) == hl) {
				memcpy(hs->hs_ts[dir], buf, hl);
				hs->hs_known[dir] = true;
				if (c->key_kind == TLS_KEY_NONE) c->key_kind = TLS_KEY_KEYLOG;
			}
		}
		if (!hs->have_next[dir]) {
			tls_keylog_label_t l = dir == TLS_DIR_C2S ? KL_CLIENT_TRAFFIC_SECRET_0 : KL_SERVER_TRAFFIC_SECRET_0;
			if (keylog_find(e, l, hs->client_random, 32, buf, sizeof buf) == hl) {
				memcpy(hs->next_secret[dir], buf, hl);
				hs->have_next[dir] = true;
				if (c->key_kind == TLS_KEY_NONE) c->key_kind = TLS_KEY_KEYLOG;
			}
		}
		tls_wipe(buf, sizeof buf);
	}
}

/* One more record of d skipped as unreadable: true while fewer than 64 were (the count
 * saturates instead of wrapping). */
static bool skip_one(tls_dirstate_t *d)
{
	if (d->skipped < UINT16_MAX) d->skipped++;
	return d->skipped < 64;
}

/* Trial-decrypt with a TLS 1.3 traffic secret; on success make it dir's state. */
static bool try13(flow_t *f, int dir, const uint8_t *secret, uint8_t type, uint16_t version,
                  const uint8_t *frag, size_t len)
{
	tls_conn_t *c = &f->t->conn;
	tls_dirstate_t *d = &f->t->d[dir];
	size_t hl = tls_hash_len(c->cs->prf);
	tls_cipher_state_t t;
	memset(&t, 0, sizeof t);
	if (tls13_cipher_init(&t, c->cs, secret, hl) != 0) { tls_cipher_free(&t); return false; }
	bool ok = trial_decrypt(&t, type, version, frag, len);
	tls_cipher_free(&t);
	if (!ok) return false;
	tls_cipher_free(&d->cs);
	if (tls13_cipher_init(&d->cs, c->cs, secret, hl) != 0) return false;
	d->cs_active = true;
	if (!c->keys_proven && c->key_kind == TLS_KEY_RESUMPTION) f->eng->st.resumptions++;
	c->keys_proven = true;
	c->waiting_keylog = false;
	return true;
}

int prove13(flow_t *f, int dir, uint8_t type, uint16_t version, const uint8_t *frag, size_t len)
{
	struct tls_engine *e = f->eng;
	tls_conn_t *c = &f->t->conn;
	tls_dirstate_t *d = &f->t->d[dir];
	tls_hs_t *hs = hs_state(f);
	if (!hs) return -1;
	tls13_static_schedule(f);
	if (hs->have_hs_secret) { hs->hs_known[0] = hs->hs_known[1] = true; }
	tls13_keylog_secrets(f);
	if (d->app_epoch < 0) {
		/* 0-RTT: early data under CLIENT_EARLY_TRAFFIC_SECRET (RFC 8446 §2.3); the
		 * handshake secret stays in hs->hs_ts[dir] for EndOfEarlyData. */
		uint8_t es[TLS_MAX_HASH_LEN];
		size_t hl = tls_hash_len(c->cs->prf);
		bool ok = keylog_find(e, KL_CLIENT_EARLY_TRAFFIC_SECRET, hs->client_random, 32, es, sizeof es) == hl &&
		          try13(f, dir, es, type, version, frag, len);
		tls_wipe(es, sizeof es);
		if (!ok && hs->early_ts_hash == (uint8_t)c->cs->prf) {
			/* early secret of a cached PSK (no key log needed) */
			if (c->key_kind == TLS_KEY_NONE) c->key_kind = TLS_KEY_RESUMPTION;
			ok = try13(f, dir, hs->early_ts, type, version, frag, len);
			if (!ok && !c->keys_proven && !hs->have_hs_secret) c->key_kind = TLS_KEY_NONE;
		}
		if (ok) return 1;
		if (hs->hs_known[dir] && try13(f, dir, hs->hs_ts[dir], type, version, frag, len)) {
			d->app_epoch = 0;                    /* early data was rejected or is over */
			return 1;
		}
		if (hs->have_next[dir] && try13(f, dir, hs->next_secret[dir], type, version, frag, len)) {
			d->app_epoch = 1;                    /* handshake records were missed */
			return 1;
		}
		if ((!hs->hs_known[dir] || !hs->have_next[dir]) && any_keylog(e) && !c->waiting_gave_up) return 0;
		return skip_one(d) ? 2 : -1;     /* early data we have no key for */
	}
	if (d->app_epoch == 0 && hs->hs_known[dir]) {
		if (try13(f, dir, hs->hs_ts[dir], type, version, frag, len)) return 1;
		if (hs->have_next[dir] && try13(f, dir, hs->next_secret[dir], type, version, frag, len)) {
			d->app_epoch = 1;
			return 1;
		}
		if (dir == TLS_DIR_C2S && c->early_data_offered && skip_one(d))
			return 2;                            /* 0-RTT data we have no key for */
		eng_log(e, 4, "flow %llu %s: TLS 1.3 handshake secret does not authenticate", (unsigned long long)f->id, dirname_(dir));
		eng_fail(f, TLS_REASON_WRONG_KEY);
		eng_report_session(e, f, false);
		return -1;
	}
	if (hs->have_next[dir]) {
		if (try13(f, dir, hs->next_secret[dir], type, version, frag, len)) {
			d->app_epoch = 1;
			return 1;
		}
		if (d->app_epoch == 0 && skip_one(d)) return 2;   /* encrypted handshake we cannot read */
		eng_log(e, 4, "flow %llu %s: TLS 1.3 traffic secret does not authenticate", (unsigned long long)f->id, dirname_(dir));
		eng_fail(f, TLS_REASON_WRONG_KEY);
		eng_report_session(e, f, false);
		return -1;
	}
	if (any_keylog(e)) return 0;
	/* resumption_miss: the selected PSK is unknown (its session was not decrypted here);
	 * a known PSK with a key share no configured key matches is a forward-secret miss */
	uint8_t psk[48];
	bool psk_known = hs->psk_selected && psk_from_cache(f, hs->psk_sel_idx, c->cs->prf, psk) > 0;
	tls_wipe(psk, sizeof psk);
	eng_fail(f, c->resumed && !psk_known ? TLS_REASON_RESUMPTION_MISS : TLS_REASON_PFS_NO_KEYLOG);
	eng_report_session(e, f, false);
	return -1;
}

int hs13_next_epoch(flow_t *f, int dir)
{
	tls_conn_t *c = &f->t->conn;
	tls_dirstate_t *d = &f->t->d[dir];
	if (!c->cs) return -1;
	size_t hl = tls_hash_len(c->cs->prf);
	if (d->app_epoch >= 1) return 0;
	d->app_epoch = 1;
	tls_hs_t *hs = c->hs;
	if (hs && !hs->have_next[dir]) tls13_keylog_secrets(f);
	tls_cipher_free(&d->cs);
	d->cs_active = false;
	if (!hs || !hs->have_next[dir]) return -1;        /* looked up again at the next record */
	if (tls13_cipher_init(&d->cs, c->cs, hs->next_secret[dir], hl) != 0) return -1;
	d->cs_active = true;
	return 0;
}

/* KeyUpdate: the sender's next records use the next generation of its traffic secret. */
void tls13_key_update(flow_t *f, int dir)
{
	tls_conn_t *c = &f->t->conn;
	tls_dirstate_t *d = &f->t->d[dir];
	if (!d->cs_active || !c->cs) return;
	tls_hash_t h = c->cs->prf;
	size_t hl = tls_hash_len(h);
	uint8_t next[TLS_MAX_HASH_LEN];
	const uint8_t *cur = tls13_cipher_secret(&d->cs);
	if (!cur || tls13_hkdf_expand_label(h, cur, hl, "traffic upd", NULL, 0, next, hl) != 0) return;
	tls_cipher_free(&d->cs);
	d->cs_active = tls13_cipher_init(&d->cs, c->cs, next, hl) == 0;
	tls_wipe(next, sizeof next);
}

/* TLS 1.3 NewSessionTicket (RFC 8446 §4.6.1): uint32 ticket_lifetime; uint32
 * ticket_age_add; opaque ticket_nonce<0..255>; opaque ticket<1..2^16-1>; Extension
 * extensions<0..2^16-2>. Its PSK is cached when the resumption master secret is known
 * (sessions decrypted with a static key or a cached PSK), or once it is (a ticket
 * processed before the client Finished: at most two wait, nonces up to 32 bytes). */
void parse_new_session_ticket13(flow_t *f, cursor_t *m)
{
	tls_conn_t *c = &f->t->conn;
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
	if (c->n_tickets_seen < UINT8_MAX) c->n_tickets_seen++;
	const uint8_t *np = cur_span(&nonce, nl);
	tls_hs_t *hs = c->hs;
	if (c->res_secret) cache_ticket_psk(f, id, np, nl);
	else if (hs && (hs->have_hs_secret || hs->have_ms13) && hs->n_nst_pending < 2 && nl <= 32) {
		memcpy(hs->nst_pending[hs->n_nst_pending].id_hash, id, 32);
		memcpy(hs->nst_pending[hs->n_nst_pending].nonce, np, nl);
		hs->nst_pending[hs->n_nst_pending].nonce_len = (uint8_t)nl;
		hs->n_nst_pending++;
	}
}
