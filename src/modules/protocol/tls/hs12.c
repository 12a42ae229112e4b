/*
 * hs12.c — TLS 1.0-1.2 key establishment. Candidate master secrets come from, cheapest
 * first: the key log (CLIENT_RANDOM, RSA pre-master, RSA Session-ID / Master-Key and
 * PMS_CLIENT_RANDOM lines), the resumption cache
 * (session id, ticket), the configured RSA keys (the certificate picks the key), static
 * (EC)DHE keys, and for static ECDH suites (ECDH_ECDSA / ECDH_RSA) the server's EC key.
 * SSL 3.0 derives its master secret and key block with its own MD5/SHA-1 construction. Each candidate is proven by authenticating the first encrypted record
 * (the Finished message) on a copy: a key that does not authenticate is "wrong_key",
 * never garbage plaintext. ChangeCipherSpec switches a direction to its keys.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "hs_internal.h"

static int derive_master(tls_conn_t *c, const uint8_t *pms, size_t pmslen, uint8_t ms[48])
{
	const tls_hs_t *hs = c->hs;
	tls_hash_t h = prf_hash(c);
	if (c->version == 0x0300)                /* RFC 6101 §6.1 (no extended master secret) */
		return ssl3_prf(pms, pmslen, hs->client_random, 32, hs->server_random, 32, ms, 48);
	if (c->ems && hs->session_hash_len)
		return tls_prf(h, pms, pmslen, "extended master secret", hs->session_hash, hs->session_hash_len,
		               NULL, 0, ms, 48);
	return tls_prf(h, pms, pmslen, "master secret", hs->client_random, 32, hs->server_random, 32, ms, 48);
}

/* Master secrets to try on the Finished record (on the stack: only needed while proving). */
typedef struct cands {
	uint8_t ms[TLS_MAX_CANDIDATES][48];
	tls_key_kind_t kind[TLS_MAX_CANDIDATES];
	int n;
} cands_t;

static void add_candidate(cands_t *k, const uint8_t ms[48], tls_key_kind_t kind)
{
	if (k->n >= TLS_MAX_CANDIDATES) return;
	for (int i = 0; i < k->n; i++)
		if (memcmp(k->ms[i], ms, 48) == 0) return;
	memcpy(k->ms[k->n], ms, 48);
	k->kind[k->n] = kind;
	k->n++;
}

/* Does a configured key apply to this session (selectors, and the certificate if seen)? */
static bool key_applies(const flow_t *f, const ks_key_t *k)
{
	const tls_conn_t *c = &f->t->conn;
	const tls_hs_t *hs = c->hs;
	if (!flow_key_match(f, k)) return false;
	if (k->type == KS_RSA && hs->cert_seen && memcmp(k->spki_hash, hs->cert_spki, 32) != 0) return false;
	return true;
}

/* Every key source that may yield this session's master secret; cheap ones first. */
static void gather_candidates12(flow_t *f, bool keylog_only, cands_t *k)
{
	struct tls_engine *e = f->eng;
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	uint8_t ms[48], pms[48];
	if (keylog_find(e, KL_CLIENT_RANDOM, hs->client_random, 32, ms, 48) == 48)
		add_candidate(k, ms, TLS_KEY_KEYLOG);
	if (c->cs->kx == TLS_KX_RSA && hs->enc_pms && hs->enc_pms_len >= 8 &&
	    keylog_find(e, KL_RSA, hs->enc_pms, 8, pms, 48) == 48 && derive_master(c, pms, 48, ms) == 0)
		add_candidate(k, ms, TLS_KEY_KEYLOG);
	if (hs->sh_sid_len && keylog_find(e, KL_SESSION_ID, hs->sh_sid, hs->sh_sid_len, ms, 48) == 48)
		add_candidate(k, ms, TLS_KEY_KEYLOG);          /* "RSA Session-ID:... Master-Key:..." */
	{
		uint8_t xpms[KL_MAX_PMS];                      /* PMS_CLIENT_RANDOM: any key exchange */
		size_t n = keylog_find(e, KL_PMS_CLIENT_RANDOM, hs->client_random, 32, xpms, sizeof xpms);
		if (n && derive_master(c, xpms, n, ms) == 0)
			add_candidate(k, ms, TLS_KEY_KEYLOG);
		tls_wipe(xpms, sizeof xpms);
	}
	/* the resumption cache is asked on retries too: with several shards the session that
	 * issued the ticket / id may be stored by another shard after this one asked */
	if (c->resumed || (!c->cke_seen && !c->shd_seen)) {
		uint16_t s, v;
		if (hs->ch_sid_len && session_cache_get(e->cache, hs->ch_sid, hs->ch_sid_len, ms, &s, &v) == 0)
			add_candidate(k, ms, TLS_KEY_RESUMPTION);
		if (hs->ticket_offered && session_cache_get(e->cache, hs->offered_ticket_hash, 32, ms, &s, &v) == 0)
			add_candidate(k, ms, TLS_KEY_RESUMPTION);
	}
	if (keylog_only) {        /* retry while waiting: the other sources were tried already */
		tls_wipe(ms, sizeof ms);
		tls_wipe(pms, sizeof pms);
		return;
	}
	if (c->cs->kx == TLS_KX_RSA && hs->enc_pms) {
		for (size_t s = 0; s < e->n_stores; s++)
			for (size_t i = 0; i < e->stores[s]->n_keys; i++) {
				const ks_key_t *key = &e->stores[s]->keys[i];
				if (key->type != KS_RSA || !flow_key_match(f, key)) continue;
				c->rsa_tried = true;         /* a key meant for this server: failure = wrong key */
				if (!key_applies(f, key)) continue;   /* certificate names another key: skip the RSA op */
				if (pk_rsa_decrypt(f, key, hs->enc_pms, hs->enc_pms_len, pms) == 0 &&
				    derive_master(c, pms, 48, ms) == 0)
					add_candidate(k, ms, TLS_KEY_RSA);
			}
	}
	tls_kx_t kx = c->cs->kx;
	if ((kx == TLS_KX_ECDHE_RSA || kx == TLS_KX_ECDHE_ECDSA || kx == TLS_KX_ECDH_ANON) &&
	    hs->srv_pub_len && hs->cli_pub_len) {
		uint8_t z[66];                           /* static "ephemeral" key: the SKE's point */
		size_t zl = static_key_ecdh(f, hs->ske_group, hs->srv_pub, hs->srv_pub_len, hs->cli_pub, hs->cli_pub_len, z, sizeof z);
		if (zl && derive_master(c, z, zl, ms) == 0) add_candidate(k, ms, TLS_KEY_ECDHE_STATIC);
		tls_wipe(z, sizeof z);
	}
	if ((kx == TLS_KX_ECDH_ECDSA || kx == TLS_KX_ECDH_RSA) && hs->cli_pub_len) {
		/* Static ECDH (RFC 4492 §2.1/2.3): the certificate's EC key is the key-exchange
		 * key; pre-master = ECDH(server private key, ClientKeyExchange point). */
		for (size_t s = 0; s < e->n_stores; s++)
			for (size_t i = 0; i < e->stores[s]->n_keys; i++) {
				const ks_key_t *key = &e->stores[s]->keys[i];
				if ((key->type != KS_EC_P256 && key->type != KS_EC_P384) ||
				    !flow_key_match(f, key)) continue;
				c->rsa_tried = true;         /* a key meant for this server: failure = wrong key */
				if (hs->cert_seen && memcmp(key->spki_hash, hs->cert_spki, 32) != 0) continue;
				uint8_t z[66];
				size_t zl = pk_ecdh(f, key, hs->cli_pub, hs->cli_pub_len, z, sizeof z);
				if (zl && derive_master(c, z, zl, ms) == 0) add_candidate(k, ms, TLS_KEY_ECDHE_STATIC);
				tls_wipe(z, sizeof z);
			}
	}
	tls_wipe(ms, sizeof ms);
	tls_wipe(pms, sizeof pms);
}

/* Set up the read state of `dir` from master secret ms. */
static int setup_dir12(flow_t *f, int dir, const uint8_t ms[48], tls_cipher_state_t *cs)
{
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	const tls_suite_t *s = c->cs;
	size_t ml = s->mac_len, kl = s->key_len, il = s->iv_len;
	uint8_t kb[2 * 48 + 2 * 32 + 2 * 16];
	size_t kbl = 2 * (ml + kl + il);
	if (kbl > sizeof kb) return -1;
	int prc = c->version == 0x0300
	        ? ssl3_prf(ms, 48, hs->server_random, 32, hs->client_random, 32, kb, kbl)      /* RFC 6101 §6.2.2 */
	        : tls_prf(prf_hash(c), ms, 48, "key expansion", hs->server_random, 32, hs->client_random, 32, kb, kbl);
	if (prc != 0) {
		tls_wipe(kb, sizeof kb);
		return -1;
	}
	const uint8_t *mac = kb + (dir == TLS_DIR_C2S ? 0 : ml);
	const uint8_t *key = kb + 2 * ml + (dir == TLS_DIR_C2S ? 0 : kl);
	const uint8_t *iv = kb + 2 * ml + 2 * kl + (dir == TLS_DIR_C2S ? 0 : il);
	bool cbc = tls_bulk_is_cbc(s->bulk);
	int rc = tls_cipher_init(cs, s, c->version, cbc && c->etm, key,
	                         (cbc && c->version >= 0x0302) ? NULL : iv, ml ? mac : NULL);
	tls_wipe(kb, sizeof kb);
	return rc;
}

static void cache_session(flow_t *f)
{
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	if (!hs || !hs->have_master || c->tls13) return;
	if (hs->sh_sid_len)
		session_cache_put(f->eng->cache, hs->sh_sid, hs->sh_sid_len, hs->master, c->suite, c->version);
}

static tls_reason_t reason_without_key(flow_t *f)
{
	tls_conn_t *c = &f->t->conn;
	tls_hs_t *hs = c->hs;
	if (c->resumed) return TLS_REASON_RESUMPTION_MISS;
	if (!c->tls13 && c->cs->kx == TLS_KX_RSA) {
		if (!hs->enc_pms) return TLS_REASON_HANDSHAKE_MISSED;
		return c->rsa_tried ? TLS_REASON_WRONG_KEY : TLS_REASON_NO_KEY;
	}
	if (!c->tls13 && (c->cs->kx == TLS_KX_ECDH_ECDSA || c->cs->kx == TLS_KX_ECDH_RSA)) {
		if (!hs->cli_pub_len && !c->cke_seen) return TLS_REASON_HANDSHAKE_MISSED;
		return c->rsa_tried ? TLS_REASON_WRONG_KEY : TLS_REASON_NO_KEY;   /* a server key, not PFS */
	}
	return TLS_REASON_PFS_NO_KEYLOG;
}

int prove12(flow_t *f, int dir, uint8_t type, uint16_t version, const uint8_t *frag, size_t len)
{
	struct tls_engine *e = f->eng;
	tls_conn_t *c = &f->t->conn;
	tls_dirstate_t *d = &f->t->d[dir];
	tls_hs_t *hs = hs_state(f);
	if (!hs) return -1;
	if (hs->have_master) {
		tls_cipher_free(&d->cs);
		if (setup_dir12(f, dir, hs->master, &d->cs) != 0) { eng_fail(f, TLS_REASON_UNSUPPORTED_SUITE); return -1; }
		d->cs_active = true;
		return 1;
	}
	if (!c->resumed_known && !c->shd_seen && !c->cke_seen) c->resumed = true;  /* abbreviated handshake */
	c->resumed_known = true;
	cands_t k;
	k.n = 0;
	gather_candidates12(f, hs->cand_done, &k);   /* RSA / static ECDHE only once per handshake */
	hs->cand_done = true;
	for (int i = 0; i < k.n; i++) {
		tls_cipher_state_t t;
		memset(&t, 0, sizeof t);
		if (setup_dir12(f, dir, k.ms[i], &t) != 0) { tls_cipher_free(&t); continue; }
		bool ok = trial_decrypt(&t, type, version, frag, len);
		tls_cipher_free(&t);
		if (!ok) continue;
		memcpy(hs->master, k.ms[i], 48);
		hs->have_master = true;
		c->key_kind = c->resumed && k.kind[i] == TLS_KEY_RESUMPTION ? TLS_KEY_RESUMPTION : k.kind[i];
		c->keys_proven = true;
		c->waiting_keylog = false;
		tls_wipe(&k, sizeof k);
		if (c->resumed) e->st.resumptions++;
		tls_cipher_free(&d->cs);
		if (setup_dir12(f, dir, hs->master, &d->cs) != 0) return -1;
		d->cs_active = true;
		/* Key the other direction for this handshake now, while the connection state is
		 * this handshake's: a later renegotiation ClientHello (processed before that
		 * direction's held records or its CCS) resets master, randoms and suite. If it has
		 * switched already, all its unread records are under these keys; else its next
		 * ChangeCipherSpec takes the pending state (hs_ccs). */
		int o = 1 - dir;
		tls_dirstate_t *od = &f->t->d[o];
		if (od->encrypted && !od->cs_active) {
			tls_cipher_free(&od->cs);
			if (setup_dir12(f, o, hs->master, &od->cs) == 0) od->cs_active = true;
		} else {
			tls_cipher_free(&hs->pend[o]);
			hs->pend_ready[o] = setup_dir12(f, o, hs->master, &hs->pend[o]) == 0;
		}
		cache_session(f);
		if (c->n_tickets_seen) session_cache_put(e->cache, hs->new_ticket_hash, 32, hs->master, c->suite, c->version);
		eng_log(e, 6, "flow %llu: keys proven (%s)", (unsigned long long)f->id, tls_key_kind_name(c->key_kind));
		return 1;
	}
	bool had = k.n > 0;
	tls_wipe(&k, sizeof k);
	if (any_keylog(e) && !had) return 0;                          /* wait for the key log */
	if (c->resumed && e->shared.nshards > 1 && !had && !c->waiting_gave_up)
		return 0;             /* wait: another shard may still store the resumed session */
	eng_log(e, 4, "flow %llu %s: no key authenticates the Finished message", (unsigned long long)f->id, dirname_(dir));
	eng_fail(f, c->hs_gap ? TLS_REASON_GAP
	          : had || c->rsa_tried ? (c->resumed && !c->rsa_tried ? TLS_REASON_RESUMPTION_MISS : TLS_REASON_WRONG_KEY)
	                                : reason_without_key(f));
	eng_report_session(e, f, false);
	return -1;
}

void hs_ccs(flow_t *f, int dir)
{
	tls_conn_t *c = &f->t->conn;
	tls_dirstate_t *d = &f->t->d[dir];
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
	tls_cipher_free(&d->cs);                 /* the previous epoch's (renegotiation) */
	if (c->hs && c->hs->pend_ready[dir]) {   /* keyed when this handshake's master was proven */
		d->cs = c->hs->pend[dir];
		tls_wipe(&c->hs->pend[dir], sizeof c->hs->pend[dir]);   /* the keys now live in d->cs only */
		c->hs->pend_ready[dir] = false;
		d->cs_active = true;
	} else if (c->hs && c->hs->have_master && c->cs) {
		if (setup_dir12(f, dir, c->hs->master, &d->cs) == 0) d->cs_active = true;
	}
}
