/*
 * tlsgen_ctx.c — the client and server SSL_CTX of a capture: pinned version, ciphers,
 * options (EMS, ETM, tickets, renegotiation, psk_ke), groups (HRR, static ECDHE), server
 * key and certificate, session cache and early-data settings, and the callbacks that
 * record what the handshake did (key log lines, HelloRetryRequest, ETM and PSK mode
 * from the hello messages, 0-RTT / ticket refusal).
 *
 * Why: the tlsgen options that change what libssl negotiates are set here, in one place
 * (only per-connection overrides are left to tlsgen_run), and what was negotiated is
 * reported back to the tests in tlsgen_conn_t.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include "tlsgen_int.h"

#include <stdio.h>
#include <string.h>

static const uint8_t hrr_random[32] = {
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
};

static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg)
{
	(void)version; (void)arg;
	const uint8_t *b = buf;
	gconn_t *g = SSL_get_app_data(ssl);
	if (!g || content_type != SSL3_RT_HANDSHAKE || len < 38) return;
	if (write_p && b[0] == 1) {
		/* ClientHello: psk_key_exchange_modes (45), key_share (51), pre_shared_key (41) */
		size_t p = 38;
		g->ch_psk_modes = 0; g->ch_key_share = g->ch_psk = 0;
		if (p >= len) return;
		p += 1 + b[p];                     /* session id */
		if (p + 2 > len) return;
		p += 2 + ((size_t)b[p] << 8 | b[p + 1]);   /* cipher suites */
		if (p >= len) return;
		p += 1 + b[p];                     /* compression */
		if (p + 2 > len) return;
		size_t end = p + 2 + ((size_t)b[p] << 8 | b[p + 1]);
		if (end > len) end = len;
		for (p += 2; p + 4 <= end; ) {
			unsigned type = (unsigned)b[p] << 8 | b[p + 1];
			size_t l = (size_t)b[p + 2] << 8 | b[p + 3];
			if (type == 51) g->ch_key_share = 1;
			if (type == 41) g->ch_psk = 1;
			if (type == 45 && l >= 1 && p + 4 + l <= end)
				for (size_t k = 0; k < b[p + 4] && k + 1 < l; k++) {
					if (b[p + 5 + k] == 0) g->ch_psk_modes |= 1;
					if (b[p + 5 + k] == 1) g->ch_psk_modes |= 2;
				}
			p += 4 + l;
		}
		return;
	}
	if (write_p || b[0] != 2) return;
	if (!memcmp(b + 6, hrr_random, 32)) { g->hrr_seen = 1; return; }
	g->sh_psk = g->sh_key_share = 0;
	/* ServerHello: note whether encrypt_then_mac (22) was accepted */
	size_t p = 38;
	if (p >= len) return;
	p += 1 + b[p];                     /* session id */
	p += 3;                            /* cipher suite, compression */
	if (p + 2 > len) return;
	size_t end = p + 2 + ((size_t)b[p] << 8 | b[p + 1]);
	if (end > len) end = len;
	for (p += 2; p + 4 <= end; ) {
		unsigned type = (unsigned)b[p] << 8 | b[p + 1];
		size_t l = (size_t)b[p + 2] << 8 | b[p + 3];
		if (type == 22) g->etm_seen = 1;
		if (type == 41) g->sh_psk = 1;
		if (type == 51) g->sh_key_share = 1;
		p += 4 + l;
	}
}

static void keylog_cb(const SSL *ssl, const char *line)
{
	gconn_t *g = SSL_get_app_data(ssl);
	if (!g) return;
	tg_buf_printf(&g->keylog, "%s\n", line);
	if (g->keylog_fp) { fprintf(g->keylog_fp, "%s\n", line); fflush(g->keylog_fp); }
	if (g->o && g->o->keylog_line) g->o->keylog_line(g->o->keylog_user, line);
}


/* first group name not contained in list */
static const char *other_group(const char *list)
{
	static const char *const cand[] = { "X25519", "P-384", "P-521", "X448", "P-256" };
	for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++)
		if (!strcasestr(list, cand[i])) return cand[i];
	return "ffdhe2048";
}

/* early_data_reject: the server's decisions for connections whose gconn says so */
static int allow_early_cb(SSL *s, void *arg)
{
	(void)arg;
	gconn_t *g = SSL_get_app_data(s);
	return !(g && g->reject_early);
}
static SSL_TICKET_RETURN ticket_dec_cb(SSL *s, SSL_SESSION *ss, const unsigned char *kn, size_t knl,
                                       SSL_TICKET_STATUS st, void *arg)
{
	(void)ss; (void)kn; (void)knl; (void)arg;
	gconn_t *g = SSL_get_app_data(s);
	if (g && g->reject_early == 2) return SSL_TICKET_RETURN_IGNORE_RENEW;
	switch (st) {
	case SSL_TICKET_SUCCESS: return SSL_TICKET_RETURN_USE;
	case SSL_TICKET_SUCCESS_RENEW: return SSL_TICKET_RETURN_USE_RENEW;
	case SSL_TICKET_EMPTY: case SSL_TICKET_NO_DECRYPT: return SSL_TICKET_RETURN_IGNORE_RENEW;
	default: return SSL_TICKET_RETURN_IGNORE;
	}
}

SSL_CTX *tg_make_ctx(const tlsgen_opts_t *o, int server, char *err, size_t errlen)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!c) { tg_set_err(err, errlen, "SSL_CTX_new failed"); tg_add_ssl_err(err, errlen); return NULL; }
	const char *who = server ? "server" : "client";
	int v = o->tls_version;
	if (!SSL_CTX_set_min_proto_version(c, v) || !SSL_CTX_set_max_proto_version(c, v)) {
		tg_set_err(err, errlen, "TLS version 0x%04x not supported by this OpenSSL", v);
		tg_add_ssl_err(err, errlen);
		goto fail;
	}
	if (o->cipher && *o->cipher) {
		int ok = v >= 0x0304 ? SSL_CTX_set_ciphersuites(c, o->cipher) : SSL_CTX_set_cipher_list(c, o->cipher);
		if (!ok) {
			tg_set_err(err, errlen, "cipher \"%s\" not available in this OpenSSL build", o->cipher);
			tg_add_ssl_err(err, errlen);
			goto fail;
		}
	}
	/* tests need the legacy protocols, RSA key exchange, SHA-1 and small keys */
	SSL_CTX_set_security_level(c, 0);
	uint64_t opts = 0;
	if (!o->ems) opts |= SSL_OP_NO_EXTENDED_MASTER_SECRET;
	if (!o->etm) opts |= SSL_OP_NO_ENCRYPT_THEN_MAC;
	if (o->no_tickets || o->resume == 1) opts |= SSL_OP_NO_TICKET;
	if (o->psk_ke_only) opts |= SSL_OP_ALLOW_NO_DHE_KEX;
	if (server && o->renegotiate > 0) opts |= SSL_OP_ALLOW_CLIENT_RENEGOTIATION;
	if (o->psk_ke) opts |= SSL_OP_ALLOW_NO_DHE_KEX;
	SSL_CTX_set_options(c, opts);

	if (server) SSL_CTX_set_dh_auto(c, 1);     /* DHE suites need parameters */
	const char *groups = o->groups;
	char gbuf[256];
	if (o->static_ecdhe_key) {
		const char *sg = tg_load_static_key(o->static_ecdhe_key, err, errlen);
		if (!sg) goto fail;
		/* server: only the key's group; client: that group first (its TLS 1.3 key share,
		 * so no HelloRetryRequest), then the usual curves (TLS 1.2 ECDSA certificates) */
		if (server) groups = sg;
		else {
			snprintf(gbuf, sizeof gbuf, "%s", sg);
			static const char *const more[] = { "P-256", "P-384", "X25519" };
			for (size_t i = 0; i < 3; i++)
				if (strcmp(more[i], sg)) { strcat(gbuf, ":"); strcat(gbuf, more[i]); }
			groups = gbuf;
		}
	}
	if (o->psk_ke_only && !server && !groups) groups = "X25519:P-256";
	if (o->hrr && v >= 0x0304) {
		const char *g = o->groups && *o->groups ? o->groups : "P-256";
		if (server) groups = g;
		else { snprintf(gbuf, sizeof gbuf, "%s:%s", other_group(g), g); groups = gbuf; }
	}
	if (groups && *groups && !SSL_CTX_set1_groups_list(c, groups)) {
		tg_set_err(err, errlen, "%s: groups \"%s\" not available", who, groups);
		tg_add_ssl_err(err, errlen);
		goto fail;
	}

	if (server) {
		if (!o->cert_file || SSL_CTX_use_certificate_chain_file(c, o->cert_file) != 1) {
			tg_set_err(err, errlen, "cannot load certificate %s", o->cert_file ? o->cert_file : "(none given)");
			tg_add_ssl_err(err, errlen);
			goto fail;
		}
		EVP_PKEY *pk = o->key_file ? tg_load_key(o->key_file, o->key_password) : NULL;
		if (!pk || SSL_CTX_use_PrivateKey(c, pk) != 1) {
			EVP_PKEY_free(pk);
			tg_set_err(err, errlen, "cannot load private key %s%s", o->key_file ? o->key_file : "(none given)",
			           o->key_password ? " (wrong password?)" : "");
			tg_add_ssl_err(err, errlen);
			goto fail;
		}
		EVP_PKEY_free(pk);
		if (SSL_CTX_check_private_key(c) != 1) {
			tg_set_err(err, errlen, "private key %s does not match certificate %s", o->key_file, o->cert_file);
			tg_add_ssl_err(err, errlen);
			goto fail;
		}
		SSL_CTX_set_session_id_context(c, (const unsigned char *)"tlsgen", 6);
		if (o->resume == 2) SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
		else SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
		if (o->no_tickets) SSL_CTX_set_num_tickets(c, 0);
		if (o->early_data) {
			SSL_CTX_set_max_early_data(c, 65536);
			SSL_CTX_set_recv_max_early_data(c, 65536);   /* default 16384: a BIG first message is more */
			SSL_CTX_set_options(c, SSL_OP_NO_ANTI_REPLAY);   /* stateless tickets */
		}
		if (o->early_data_reject) SSL_CTX_set_allow_early_data_cb(c, allow_early_cb, NULL);
		if (o->early_data_reject == 2) SSL_CTX_set_session_ticket_cb(c, NULL, ticket_dec_cb, NULL);
	} else {
		SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_keylog_callback(c, keylog_cb);
		SSL_CTX_set_msg_callback(c, msg_cb);
	}
	return c;
fail:
	SSL_CTX_free(c);
	return NULL;
}
