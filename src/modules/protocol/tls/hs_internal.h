/*
 * hs_internal.h — what the handshake files share (not used outside the handshake layer).
 *
 * The handshake layer is four files: hs_parse.c reads the messages into the connection
 * state, hs12.c establishes TLS <= 1.2 keys, hs13.c runs the TLS 1.3 key schedule, and
 * handshake.c reassembles messages and drives the per-direction state machine that decides
 * which message is accepted when. hs_common.c holds the helpers they share.
 * Data flows down: the record layer (record.c) calls into this layer; this layer never
 * calls the record layer or the engine.
 */
#ifndef PTLS_HS_INTERNAL_H
#define PTLS_HS_INTERNAL_H

#include "engine_internal.h"

enum { EXT_SNI = 0, EXT_SUPPORTED_GROUPS = 10, EXT_ETM = 22, EXT_EMS = 23, EXT_SESSION_TICKET = 35,
       EXT_PSK = 41, EXT_EARLY_DATA = 42, EXT_SUPPORTED_VERSIONS = 43, EXT_PSK_MODES = 45, EXT_KEY_SHARE = 51,
       EXT_RENEGOTIATION_INFO = 0xff01 };

static inline const char *dirname_(int dir) { return dir == TLS_DIR_C2S ? "c2s" : "s2c"; }

/* The PRF / transcript hash of the negotiated version and suite. */
static inline tls_hash_t prf_hash(const tls_conn_t *c)
{
	/* SSL 3.0 derives keys with ssl3_prf; its handshake hashes are MD5 and SHA-1 too */
	if (c->version < 0x0303) return TLS_HASH_MD5_SHA1;
	return c->cs ? c->cs->prf : TLS_HASH_SHA256;
}

/* ---- hs_common.c ---- */
/* Do key k's selectors (server address/port, SNI) match this flow? */
bool flow_key_match(const flow_t *f, const ks_key_t *k);
/* The connection's handshake state, allocated (zeroed) when absent; NULL only when the
 * allocation fails. Called where a handshake starts or must be proven. */
tls_hs_t *hs_state(flow_t *f);
/* Free what only the key exchange needed (transcript, key shares, encrypted pre-master;
 * wiped), keeping the rest of hs. */
void hs_release_handshake_state(tls_hs_t *hs);
/* If the handshake is over (both Finished seen, keys proven, no wait) and both directions
 * read records under their final keys, free and wipe the handshake state. */
void hs_maybe_release(flow_t *f);
/* Is a static (EC)DHE server key configured? Only then are key shares worth keeping. */
bool static_keys(const struct tls_engine *e);
/* The buffer for a public value, allocated on first use when a static key could use it. */
uint8_t *pub_buf(flow_t *f, uint8_t **p);
/* Does any keystore of the engine follow a key log? */
bool any_keylog(const struct tls_engine *e);
/* Secret for (label, id) from the key logs as read so far (no file access). Length or 0. */
size_t keylog_find(struct tls_engine *e, tls_keylog_label_t label, const uint8_t *id, size_t idlen,
                   uint8_t *out, size_t cap);
/* Static (EC)DH: the shared secret of the first configured key (selectors matching) whose
 * public value is srv_pub[srv_len] in TLS group `group`, with the client's public value
 * cli[clen]. Returns the secret length (z filled, <= cap) or 0 when no key matches. */
size_t static_key_ecdh(flow_t *f, uint16_t group, const uint8_t *srv_pub, size_t srv_len,
                       const uint8_t *cli, size_t clen, uint8_t *z, size_t cap);
/* Does a copy of the record authenticate under cs? (cs's sequence number advances on success.) */
bool trial_decrypt(tls_cipher_state_t *cs, uint8_t type, uint16_t version, const uint8_t *frag, size_t len);

/* ---- hs_parse.c ---- */
void parse_client_hello(flow_t *f, cursor_t *m);
void parse_server_hello(flow_t *f, cursor_t *m, const uint8_t *raw, size_t rawlen);
void parse_certificate(flow_t *f, cursor_t *m);
void parse_server_key_exchange(flow_t *f, cursor_t *m);
void parse_client_key_exchange(flow_t *f, cursor_t *m);
void parse_new_session_ticket(flow_t *f, cursor_t *m);
void parse_encrypted_extensions(flow_t *f, cursor_t *m);
/* At a ClientHello: could any key source of this engine need the transcript? */
bool transcript_may_be_needed(const flow_t *f);

/* ---- hs12.c ---- */
/* First encrypted record of dir (TLS <= 1.2): find the master secret that authenticates it.
 * Same contract as hs_prove_keys. */
int prove12(flow_t *f, int dir, uint8_t type, uint16_t version, const uint8_t *frag, size_t len);

/* ---- hs13.c ---- */
int prove13(flow_t *f, int dir, uint8_t type, uint16_t version, const uint8_t *frag, size_t len);
/* Early traffic secret from a cached PSK once the ClientHello is known (0-RTT). */
void tls13_psk_early_secret(flow_t *f);
/* Static ECDHE: application secrets after the server Finished. */
void tls13_static_app_secrets(flow_t *f);
/* resumption_master_secret after the client Finished (static-key sessions). */
void tls13_resumption_secret(flow_t *f);
/* KeyUpdate of dir: next generation of its traffic secret. */
void tls13_key_update(flow_t *f, int dir);
/* TLS 1.3 NewSessionTicket: the PSK it names, for a later resumption. */
void parse_new_session_ticket13(flow_t *f, cursor_t *m);

#endif
