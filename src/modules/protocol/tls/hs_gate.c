/*
 * hs_gate.c — cross-direction ordering of the handshake: may a record of one direction be
 * processed now, or must it wait for the other direction?
 *
 * Why: a capture point merges two directions through different queues (SPAN ports,
 * multi-queue NICs, `any` captures), so a reply is often captured before the request it
 * answers: the server's ChangeCipherSpec+Finished before the client's ClientKeyExchange,
 * a ServerHello before its ClientHello, 0-RTT data before the EncryptedExtensions that
 * accept or refuse it. Processed in capture order, such a record finds no key (or feeds
 * the transcript out of order) and the session is lost. Processed in protocol order it
 * decrypts. Each rule below says which message of the other direction must have been
 * processed first; the record layer holds the direction's records (bounded) until then
 * and replays them when the other side progresses, or at the end of the flow.
 *
 * The rules are a table: (direction, what the record is) → (what the other side must
 * have shown). Only orders the protocol guarantees are enforced, so a capture that
 * really lacks a message only delays the direction until the flow ends.
 */
#include "engine_internal.h"

/* What a record is, as far as the gate cares. */
enum rec_kind {
	RK_OTHER = 0,
	RK_CH,            /* plaintext handshake record starting a ClientHello */
	RK_SH,            /* ... a ServerHello (or HelloRetryRequest) */
	RK_CLIENT_KX,     /* ... client Certificate / ClientKeyExchange / CertificateVerify (TLS <= 1.2) */
	RK_SERVER_NST,    /* ... a NewSessionTicket (TLS <= 1.2, plaintext) */
	RK_CCS,           /* a ChangeCipherSpec record (plaintext or not) */
	RK_EARLY,         /* TLS 1.3 client record under the 0-RTT keys */
	RK_HS13,          /* TLS 1.3 client record in the handshake epoch */
	RK_ANY,           /* any record not covered above */
	RK__COUNT
};

/* What the other direction must have shown. */
enum need {
	N_NONE = 0,
	N_CH,             /* the ClientHello (when the connection start was seen) */
	N_HELLO_REPLY,    /* a ServerHello or HelloRetryRequest for the pending ClientHello; for a
	                   * renegotiation, the server's Finished of the current handshake */
	N_SHD,            /* ServerHelloDone of a full TLS <= 1.2 handshake */
	N_CKE,            /* ClientKeyExchange of a full TLS <= 1.2 handshake */
	N_SH,             /* the ServerHello (after a ClientHello) */
	N_EARLY_DECIDED,  /* EncryptedExtensions said whether 0-RTT was accepted */
	N_SERVER_FIN13,   /* the server's Finished (TLS 1.3 transcript order) */
};

static const struct gate_rule { int8_t dir; uint8_t kind; uint8_t need; } RULES[] = {
	{ TLS_DIR_S2C, RK_SH,         N_CH },
	{ TLS_DIR_S2C, RK_SERVER_NST, N_CKE },
	{ TLS_DIR_S2C, RK_CCS,        N_CKE },
	{ TLS_DIR_C2S, RK_CH,         N_HELLO_REPLY },
	{ TLS_DIR_C2S, RK_CLIENT_KX,  N_SHD },
	{ TLS_DIR_C2S, RK_EARLY,      N_EARLY_DECIDED },
	{ TLS_DIR_C2S, RK_HS13,       N_SERVER_FIN13 },
	{ TLS_DIR_C2S, RK_CCS,        N_SH },
	{ TLS_DIR_C2S, RK_ANY,        N_SH },
};

static enum rec_kind classify(const flow_t *f, int dir, uint8_t type, const uint8_t *frag, size_t len,
                             bool plain)
{
	const tls_conn_t *c = &f->t->conn;
	const tls_dirstate_t *d = &f->t->d[dir];
	if (type == CT_CCS) return RK_CCS;
	if (!d->encrypted || plain) {
		if (type != CT_HANDSHAKE) return RK_ANY;
		if (d->hlen) return RK_OTHER;               /* continues a buffered message */
		cursor_t cur = cur_init(frag, len);
		uint8_t hs = cur_u8(&cur);
		if (cur_failed(&cur)) return RK_OTHER;
		switch (hs) {
		case HS_CLIENT_HELLO: return RK_CH;
		case HS_SERVER_HELLO: return RK_SH;
		case HS_CERTIFICATE: case HS_CLIENT_KEY_EXCHANGE: case HS_CERTIFICATE_VERIFY:
			return dir == TLS_DIR_C2S ? RK_CLIENT_KX : RK_OTHER;
		case HS_NEW_SESSION_TICKET: return RK_SERVER_NST;
		default: return RK_OTHER;
		}
	}
	if (dir == TLS_DIR_C2S && c->tls13) {
		if (d->app_epoch < 0) return RK_EARLY;
		if (d->app_epoch == 0) return RK_HS13;
	}
	if (dir == TLS_DIR_C2S && d->app_epoch < 0) return RK_EARLY;
	return RK_ANY;
}

/* Is the requirement still unmet? */
static bool unmet(const flow_t *f, int dir, enum need n)
{
	const tls_conn_t *c = &f->t->conn;
	const tls_dirstate_t *o = &f->t->d[1 - dir];
	if (o->broken || c->reason != TLS_REASON_NONE) return false;   /* the other side will not progress */
	switch (n) {
	case N_CH:          /* a hello reply needs an unanswered ClientHello (renegotiation too) */
		/* first hello: hold when the connection start was captured (either SYN) or the
		 * client has sent nothing yet; a capture that began after the ClientHello only
		 * delays the server until the client's next bytes */
		return c->ch_count ? c->reply_count >= c->ch_count
		                   : f->tcp[1 - dir].syn_seen || f->tcp[dir].syn_seen || !f->tcp[1 - dir].started;
	case N_HELLO_REPLY:
		if (c->ch_count > c->reply_count) return true;
		/* a TLS <= 1.2 renegotiation ClientHello is written after the client read the
		 * server's Finished of the current handshake (it is encrypted under its keys) */
		return c->ch_count && !c->tls13 && c->sh_seen && !c->srv_fin_seen;
	case N_SHD:
		return c->ch_seen && !c->keys_proven && (!c->sh_seen || (!c->tls13 && !c->shd_seen && !c->resumed));
	case N_CKE:
		return !c->tls13 && c->sh_seen && c->shd_seen && !c->cke_seen;
	case N_SH:   /* after a HelloRetryRequest the client's CCS and second ClientHello go first */
		return c->ch_seen && !c->sh_seen && !(c->hrr_seen && !c->ch_after_hrr);
	case N_EARLY_DECIDED:
		return c->early_data_offered && !c->early_decided;
	case N_SERVER_FIN13:
		return c->tls13 && c->sh_seen && !c->srv_fin_seen && !c->waiting_keylog &&
		       !(o->encrypted && !o->cs_active && o->seen_record && !hq_head(o));
	default:
		return false;
	}
}

static bool gate(const flow_t *f, int dir, uint8_t type, const uint8_t *frag, size_t len, bool plain)
{
	if (f->t->d[dir].broken) return false;
	enum rec_kind k = classify(f, dir, type, frag, len, plain);
	if (k == RK_OTHER) return false;
	for (size_t i = 0; i < sizeof RULES / sizeof *RULES; i++) {
		if (RULES[i].dir != dir || RULES[i].kind != k) continue;
		return unmet(f, dir, (enum need)RULES[i].need);
	}
	return false;
}

bool hs_gate_wait(const flow_t *f, int dir, uint8_t type, const uint8_t *frag, size_t len)
{
	return gate(f, dir, type, frag, len, false);
}

bool hs_gate_wait_plain(const flow_t *f, int dir, const uint8_t *frag, size_t len)
{
	return gate(f, dir, CT_HANDSHAKE, frag, len, true);
}
