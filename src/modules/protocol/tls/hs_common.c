/*
 * hs_common.c — helpers the handshake files share: which key sources the engine has,
 * key-log lookups, the static (EC)DH key whose public value the server sent (TLS 1.2
 * ECDHE and TLS 1.3 alike), trial decryption on a copy, and releasing handshake-only state.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "hs_internal.h"

/* Is a static (EC)DHE server key configured? Only then are key shares worth keeping. */
bool static_keys(const struct tls_engine *e)
{
	for (size_t s = 0; s < e->n_stores; s++)
		for (size_t i = 0; i < e->stores[s]->n_keys; i++)
			if (e->stores[s]->keys[i].type != KS_RSA) return true;
	return false;
}

/* The buffer for a public value, allocated on first use when a static key could use it. */
uint8_t *pub_buf(flow_t *f, uint8_t **p)
{
	if (!*p && static_keys(f->eng)) *p = malloc(TLS_MAX_PUB);
	return *p;
}

bool flow_key_match(const flow_t *f, const ks_key_t *k)
{
	tls_endpoints_t ep;
	flow_endpoints(f, &ep);
	return keys_selector_match(k, &ep, f->t->conn.sni);
}

bool any_keylog(const struct tls_engine *e)
{
	for (size_t s = 0; s < e->n_stores; s++)
		if (e->stores[s]->n_keylogs) return true;
	return false;
}

size_t keylog_find(struct tls_engine *e, tls_keylog_label_t label, const uint8_t *id, size_t idlen,
                          uint8_t *out, size_t cap)
{
	for (size_t s = 0; s < e->n_stores; s++)
		for (size_t i = 0; i < e->stores[s]->n_keylogs; i++) {
			size_t n = tls_keylog_find(e->stores[s]->keylogs[i], label, id, idlen, out, cap);
			if (n) return n;
		}
	return 0;
}

size_t static_key_ecdh(flow_t *f, uint16_t group, const uint8_t *srv_pub, size_t srv_len,
                       const uint8_t *cli, size_t clen, uint8_t *z, size_t cap)
{
	struct tls_engine *e = f->eng;
	for (size_t s = 0; s < e->n_stores; s++)
		for (size_t i = 0; i < e->stores[s]->n_keys; i++) {
			const ks_key_t *k = &e->stores[s]->keys[i];
			if (k->type == KS_RSA || !keys_group_match(k, group)) continue;
			if (!flow_key_match(f, k)) continue;
			if (k->pub_len != srv_len || memcmp(k->pub, srv_pub, srv_len) != 0) continue;
			size_t zl = pk_ecdh(f, k, cli, clen, z, cap);
			if (zl) return zl;
		}
	return 0;
}

/* Try to authenticate a copy of the record with state cs. */
bool trial_decrypt(tls_cipher_state_t *cs, uint8_t type, uint16_t version, const uint8_t *frag, size_t len)
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

tls_hs_t *hs_state(flow_t *f)
{
	tls_conn_t *c = &f->t->conn;
	if (!c->hs) c->hs = calloc(1, sizeof *c->hs);
	return c->hs;
}

void hs_release_handshake_state(tls_hs_t *hs)
{
	if (hs->transcript_on) tls_transcript_free(&hs->transcript);
	hs->transcript_on = false;
	if (hs->enc_pms) { tls_wipe(hs->enc_pms, hs->enc_pms_len); free(hs->enc_pms); }
	hs->enc_pms = NULL;
	hs->enc_pms_len = 0;
	if (hs->srv_pub) { tls_wipe(hs->srv_pub, TLS_MAX_PUB); free(hs->srv_pub); }
	if (hs->cli_pub) { tls_wipe(hs->cli_pub, TLS_MAX_PUB); free(hs->cli_pub); }
	hs->srv_pub = hs->cli_pub = NULL;
	hs->srv_pub_len = hs->cli_pub_len = 0;
	if (hs->ch_share) { tls_wipe(hs->ch_share, 4 * sizeof *hs->ch_share); free(hs->ch_share); }
	hs->ch_share = NULL;
	hs->n_ch_share = 0;
}

/* Free and wipe the handshake state (randoms, master / intermediate secrets included). */
static void hs_state_free(tls_conn_t *c)
{
	if (!c->hs) return;
	hs_release_handshake_state(c->hs);
	for (int dir = 0; dir < 2; dir++) tls_cipher_free(&c->hs->pend[dir]);
	tls_wipe(c->hs, sizeof *c->hs);
	free(c->hs);
	c->hs = NULL;
}

void hs_maybe_release(flow_t *f)
{
	tls_conn_t *c = &f->t->conn;
	if (!c->hs || !c->keys_proven || c->waiting_keylog || !c->srv_fin_seen || !c->cli_fin_seen) return;
	if (c->hs->pend_ready[0] || c->hs->pend_ready[1]) return;   /* a CCS still takes its keys */
	for (int dir = 0; dir < 2; dir++) {
		const tls_dirstate_t *d = &f->t->d[dir];
		if (!d->cs_active) return;
		if (c->tls13 && d->app_epoch < 1) return;
	}
	hs_state_free(c);
}

void hs_conn_free(tls_conn_t *c)
{
	hs_state_free(c);
	if (c->res_secret) { tls_wipe(c->res_secret, TLS_MAX_HASH_LEN); free(c->res_secret); }
	free(c->sni);
	tls_wipe(c, sizeof *c);
}
