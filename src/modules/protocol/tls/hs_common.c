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
	const tls_conn_t *c = &f->t->conn;
	for (size_t s = 0; s < e->n_stores; s++)
		for (size_t i = 0; i < e->stores[s]->n_keys; i++) {
			const ks_key_t *k = &e->stores[s]->keys[i];
			if (k->type == KS_RSA || !keys_group_match(k, group)) continue;
			if (!keys_selector_match(k, &f->ep, c->sni)) continue;
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

void hs_release_handshake_state(tls_conn_t *c)
{
	if (c->transcript_on) tls_transcript_free(&c->transcript);
	c->transcript_on = false;
	if (c->enc_pms) { tls_wipe(c->enc_pms, c->enc_pms_len); free(c->enc_pms); }
	c->enc_pms = NULL;
	c->enc_pms_len = 0;
	free(c->srv_pub);
	free(c->cli_pub);
	c->srv_pub = c->cli_pub = NULL;
	c->srv_pub_len = c->cli_pub_len = 0;
	free(c->ch_share);
	c->ch_share = NULL;
	c->n_ch_share = 0;
}

void hs_conn_free(tls_conn_t *c)
{
	hs_release_handshake_state(c);
	free(c->sni);
	tls_wipe(c, sizeof *c);
}
