/*
 * sink.c — the last stage of the pipeline: application messages and session status go to
 * the user's callbacks (tls_callbacks_t). Builds tls_message_t / tls_session_info_t from
 * the flow, derives a session's final reason (loss included: a decrypted session whose
 * capture lost bytes is never a clean success), and counts sessions in the statistics.
 * Called by the record layer (messages, status changes) and by the engine (final reports);
 * calls nothing but the callbacks.
 */
#include <stdio.h>
#include <string.h>
#include "engine_internal.h"

/* Final status of a session, derived from what was seen. */
static tls_reason_t final_reason(const flow_t *f)
{
	const tls_conn_t *c = &f->t->conn;
	if (c->reason != TLS_REASON_NONE) return c->reason;
	if (c->decrypted || c->keys_proven) {
		/* bytes the peers exchanged are missing: never a clean success */
		if (f->tcp[0].lost_bytes || f->tcp[1].lost_bytes) return TLS_REASON_GAP;
		return TLS_REASON_NONE;
	}
	if (!c->ch_seen && !c->sh_seen) {
		bool rec = f->t->d[0].seen_record || f->t->d[1].seen_record;
		return rec ? TLS_REASON_HANDSHAKE_MISSED : TLS_REASON_NOT_TLS;
	}
	if (c->waiting_keylog) {
		if (c->resumed && !c->tls13) return TLS_REASON_RESUMPTION_MISS;
		if (c->cs && c->cs->kx == TLS_KX_RSA && !c->tls13) return c->rsa_tried ? TLS_REASON_WRONG_KEY : TLS_REASON_NO_KEY;
		return TLS_REASON_PFS_NO_KEYLOG;
	}
	return TLS_REASON_TRUNCATED;
}

/* Ports where TLS is expected: the configured tls-ports, else the IANA TLS services. */
static bool expected_tls_port(const struct tls_engine *e, uint16_t p)
{
	static const uint16_t well_known[] = { 443, 5061, 8443, 465, 563, 636, 853, 989, 990, 992, 993,
	                                       994, 995, 2083, 2087, 4433, 5349, 5986, 6514, 8883, 9443 };
	if (e->cfg.n_tls_ports) {
		for (size_t i = 0; i < e->cfg.n_tls_ports; i++) if (e->ports[i] == p) return true;
		return false;
	}
	for (size_t i = 0; i < sizeof well_known / sizeof *well_known; i++) if (well_known[i] == p) return true;
	return false;
}

void eng_report_session(struct tls_engine *e, flow_t *f, bool final)
{
	if (!f->any_payload || !f->t) return;
	const tls_conn_t *c = &f->t->conn;
	/* A TCP flow that never looked like TLS is not a TLS session: only counted, unless it
	 * runs on a port where TLS was expected (then "not_tls" is worth reporting). */
	if (!c->ch_seen && !c->sh_seen && !f->t->d[0].seen_record && !f->t->d[1].seen_record &&
	    !expected_tls_port(e, flow_server_port(f))) {
		if (final) e->st.flows_not_tls++;
		return;
	}
	bool decrypted = c->decrypted || c->keys_proven;
	tls_reason_t reason = final ? final_reason(f) : c->reason;
	if (!final && f->last_rep_valid && f->last_rep_decrypted == decrypted && f->last_rep_reason == (uint8_t)reason)
		return;
	f->last_rep_valid = true;
	f->last_rep_decrypted = decrypted;
	f->last_rep_reason = (uint8_t)reason;
	if (final) {
		e->st.sessions++;
		if (decrypted && reason == TLS_REASON_NONE) e->st.sessions_decrypted++;
		else e->st.sessions_failed[reason]++;
		if (!decrypted || reason != TLS_REASON_NONE)
			eng_log(e, 6, "session %llu%s%s: %s (%s), lost c2s %llu s2c %llu bytes", (unsigned long long)f->id,
			        c->sni ? " sni=" : "", c->sni ? c->sni : "",
			        decrypted ? "decrypted, incomplete" : "not decrypted",
			        reason == TLS_REASON_NONE ? "reason unknown" : tls_reason_name(reason),
			        (unsigned long long)f->tcp[0].lost_bytes, (unsigned long long)f->tcp[1].lost_bytes);
	}
	if (!e->cb.on_session) return;
	tls_session_info_t s;
	tls_endpoints_t ep;
	memset(&s, 0, sizeof s);
	flow_endpoints(f, &ep);
	s.flow_id = f->id;
	s.ep = &ep;
	s.tls_version = c->sh_seen ? c->version : 0;
	s.suite = c->sh_seen ? c->suite : 0;
	s.sni = c->sni;
	s.resumed = c->resumed;
	s.ems = c->ems && !c->tls13;
	s.etm = c->etm;
	s.key = decrypted ? c->key_kind : TLS_KEY_NONE;
	s.decrypted = decrypted;         /* keys proven; reason then tells what went wrong later, if anything */
	s.reason = reason;
	s.final = final;
	s.msgs[0] = f->t->d[0].msgs; s.msgs[1] = f->t->d[1].msgs;
	s.bytes[0] = f->t->d[0].bytes; s.bytes[1] = f->t->d[1].bytes;
	for (int i = 0; i < 2; i++) {
		s.gaps[i] = f->tcp[i].gaps;
		s.lost_bytes[i] = f->tcp[i].lost_bytes;
	}
	e->cb.on_session(e->cb.user, &s);
}

void eng_emit_message(void *ctx, int dir, tls_app_t app, const uint8_t *data, size_t len, bool keepalive)
{
	flow_t *f = ctx;
	struct tls_engine *e = f->eng;
	if (!len) return;
	f->t->d[dir].msgs++;
	e->st.messages++;
	if (!e->cb.on_message) return;
	tls_message_t m;
	m.flow_id = f->id;
	tls_endpoints_t ep;
	flow_endpoints(f, &ep);
	m.ep = &ep;
	m.dir = (tls_dir_t)dir;
	m.app = app;
	m.tls_version = f->t->conn.version;
	m.suite = f->t->conn.suite;
	m.data = data;
	m.len = len;
	m.ts = f->seg_ts[dir];
	m.keepalive = keepalive;
	e->cb.on_message(e->cb.user, &m);
}
