/*
 * tlsgen.c — test capture generator: OpenSSL client + server in one process over memory
 * BIOs, realistic SIP/HTTP application messages, written as a pcap of a synthetic TCP
 * connection whose payload bytes are exactly what libssl produced. This file holds the
 * public entry points (tlsgen_run, option defaults, result freeing) and orchestrates the
 * pieces, one connection after the other.
 *
 * Why: the passive decryption engine has to be checked against genuine TLS from an
 * independent implementation, with the plaintext known byte for byte. Nothing here
 * frames or encrypts a TLS record: after every SSL call the SSL object's write BIO is
 * drained and those bytes become TCP payload (and the peer's input).
 *
 * Pieces (shared declarations in tlsgen_int.h):
 *   - tlsgen_util.c: deterministic PRNG (splitmix64), growable byte buffers, error text;
 *   - tlsgen_plan.c, tlsgen_sip.c, tlsgen_http.c, tlsgen_ws.c: message planning and
 *     rendering (SIP dialogs, HTTP exchanges, SIP over WebSocket) with size classes;
 *   - tlsgen_tcp.c: the TCP model (segments with seq/ack, pure ACKs) and the mangling
 *     passes that keep the byte stream identical;
 *   - tlsgen_ctx.c, tlsgen_drive.c, tlsgen_static_ecdhe.c: the TLS driver (contexts,
 *     handshake pump, message exchange, shutdown, resumption, key update, HRR detection,
 *     key log, static ECDHE);
 *   - tlsgen_out.c: pcap output through pcapw; tlsgen_keys.c: keys and certificates.
 */
#include "tlsgen_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

void tlsgen_opts_defaults(tlsgen_opts_t *o)
{
	memset(o, 0, sizeof *o);
	o->tls_version = 0x0303;
	o->ems = 1;
	o->etm = 1;
	o->app = TLSGEN_APP_SIP;
	o->n_messages = 6;
	o->seed = 1;
	o->mss = 1460;
	o->connections = 1;
	o->linktype = PCAPW_LINK_ETHERNET;
	o->start_ts = 1700000000.0;
	o->split_writes = 1;
}

void tlsgen_result_free(tlsgen_result_t *r)
{
	if (!r) return;
	for (size_t i = 0; i < r->n_conns; i++) {
		tlsgen_conn_t *c = &r->conns[i];
		for (int d = 0; d < 2; d++) { free(c->plain[d]); free(c->tls[d]); }
		for (size_t k = 0; k < c->n_msgs; k++) { free(c->msgs[k].data); free(c->msgs[k].ws_payload); }
		free(c->msgs);
		free(c->keylog);
		free(c->early_plain);
	}
	free(r->conns);
	memset(r, 0, sizeof *r);
}

static void gconn_free(gconn_t *g)
{
	for (int d = 0; d < 2; d++) {
		if (g->ssl[d]) SSL_free(g->ssl[d]); /* frees its BIOs */
		tg_buf_free(&g->tls[d]); tg_buf_free(&g->plain[d]); tg_buf_free(&g->recv[d]);
	}
	tg_buf_free(&g->keylog);
	tg_buf_free(&g->early_plain);
	free(g->segs.v);
	for (size_t k = 0; k < g->n_msgs; k++) { free(g->msgs[k].data); free(g->msgs[k].ws_payload); }
	free(g->msgs);
	memset(g, 0, sizeof *g);
}

static void plan_conn(const tlsgen_opts_t *o, rng_t *r, plan_t *p, uint16_t cport, uint16_t sport)
{
	int n = o->n_messages > 0 ? o->n_messages : 0;
	if (o->app == TLSGEN_APP_HTTP) {
		tg_http_plan(p, r, n);
		httpctx_t hc = { .r = r, .host = (o->sni && *o->sni) ? o->sni : "www.example.com" };
		tg_http_render(p, &hc);
	} else {
		tg_sip_plan(p, r, n);
		sipctx_t sc = { .r = r, .cport = cport, .sport = sport };
		snprintf(sc.chost, sizeof sc.chost, "%s", o->ipv6 ? "[fd00::1]" : "10.0.0.1");
		snprintf(sc.shost, sizeof sc.shost, "%s", o->ipv6 ? "[fd00::2]" : "10.0.0.2");
		snprintf(sc.caddr, sizeof sc.caddr, "%s", o->ipv6 ? "IP6 fd00::1" : "IP4 10.0.0.1");
		snprintf(sc.saddr, sizeof sc.saddr, "%s", o->ipv6 ? "IP6 fd00::2" : "IP4 10.0.0.2");
		tg_sip_render(p, &sc);
		if (o->app == TLSGEN_APP_WS_SIP) tg_ws_sip_transform(p, r, &sc);
	}
}

int tlsgen_run(const tlsgen_opts_t *oin, const char *pcap_path, tlsgen_result_t *res, char *err, size_t errlen)
{
	tlsgen_opts_t o = *oin;
	if (res) memset(res, 0, sizeof *res);
	if (err && errlen) err[0] = 0;
	if (o.tls_version < 0x0301 || o.tls_version > 0x0304) {
		tg_set_err(err, errlen, "unsupported TLS version 0x%04x", o.tls_version);
		return -1;
	}
	if (o.app != TLSGEN_APP_HTTP && o.app != TLSGEN_APP_WS_SIP) o.app = TLSGEN_APP_SIP;
	if (!o.server_port) o.server_port = o.app == TLSGEN_APP_SIP ? 5061 : 443;
	if (o.mss <= 0) o.mss = 1460;
	if (o.connections <= 0) o.connections = 1;
	if (o.n_messages < 0) o.n_messages = 0;
	if (o.n_messages > 500) o.n_messages = 500;
	if (o.start_ts <= 0) o.start_ts = 1700000000.0;
	if (o.resume == 2 && o.no_tickets) {
		tg_set_err(err, errlen, "ticket resumption requested with tickets disabled");
		return -1;
	}
	if (o.renegotiate < 0 || (o.renegotiate > 0 && o.tls_version > 0x0303)) {
		tg_set_err(err, errlen, "renegotiate needs TLS <= 1.2");
		return -1;
	}
	if (o.early_data_reject && (!o.early_data || o.resume != 2 || o.tls_version < 0x0304 || o.connections < 2 ||
	                            o.early_data_reject > 2)) {
		tg_set_err(err, errlen, "early_data_reject (1 or 2) needs early_data, resume=2, TLS 1.3 and >= 2 connections");
		return -1;
	}
	if (o.psk_ke_only && (o.resume != 2 || o.tls_version < 0x0304 || o.connections < 2)) {
		tg_set_err(err, errlen, "psk_ke_only needs TLS 1.3, resume=2 and >= 2 connections");
		return -1;
	}
	if (o.reply_first < 0 || o.reply_first > 4) {
		tg_set_err(err, errlen, "reply_first must be 0..4");
		return -1;
	}
	if (o.linktype != PCAPW_LINK_NULL && o.linktype != PCAPW_LINK_ETHERNET && o.linktype != PCAPW_LINK_RAW &&
	    o.linktype != PCAPW_LINK_SLL && o.linktype != PCAPW_LINK_SLL2) {
		tg_set_err(err, errlen, "unsupported link type %d", o.linktype);
		return -1;
	}
	ERR_clear_error();

	int rc = -1;
	SSL_CTX *ctx[2] = { NULL, NULL };
	SSL_SESSION *sess = NULL;
	pcapw_t *w = NULL;
	FILE *klf = NULL;
	tlsgen_conn_t *conns = calloc((size_t)o.connections, sizeof *conns);
	size_t nconns = 0;
	gconn_t g = { 0 };
	plan_t plan = { 0 };
	tlsgen_result_t acc;           /* whole-capture counters (ts_outlier, ts_step) */
	memset(&acc, 0, sizeof acc);
	/* two streams: `rng` (ports, ISNs, message plan and content) never depends on the TLS
	 * byte counts, so the plaintext is identical run to run even where OpenSSL's output
	 * length varies (e.g. ECDSA signatures); `nrng` drives segmentation-level choices */
	rng_t rng = { (uint64_t)o.seed * 0x2545f4914f6cdd1dull + 0x1234567ull };
	rng_t nrng = { (uint64_t)o.seed * 0x9e3779b97f4a7c15ull + 0x7654321ull };
	if (!conns) { tg_set_err(err, errlen, "out of memory"); return -1; }

	ctx[0] = tg_make_ctx(&o, 0, err, errlen);
	if (!ctx[0]) goto out;
	ctx[1] = tg_make_ctx(&o, 1, err, errlen);
	if (!ctx[1]) goto out;
	if (o.keylog_file && *o.keylog_file) {
		klf = fopen(o.keylog_file, "a");
		if (!klf) { tg_set_err(err, errlen, "cannot open key log file %s", o.keylog_file); goto out; }
	}
	w = pcapw_open(pcap_path, o.linktype);
	if (!w) { tg_set_err(err, errlen, "cannot create %s", pcap_path); goto out; }

	out_t ow = { .o = &o, .w = w, .ts_us = (uint64_t)(o.start_ts * 1e6 + 0.5) };
	ow.ip_id[0] = (uint16_t)tg_rng_next(&nrng); ow.ip_id[1] = (uint16_t)tg_rng_next(&nrng);
	if (o.ipv6) {
		static const uint8_t a6[2][16] = { { 0xfd, [15] = 1 }, { 0xfd, [15] = 2 } };
		memcpy(ow.addr, a6, sizeof a6);
	} else {
		static const uint8_t a4[2][4] = { { 10, 0, 0, 1 }, { 10, 0, 0, 2 } };
		memcpy(ow.addr[0], a4[0], 4); memcpy(ow.addr[1], a4[1], 4);
	}
	static const uint8_t macs[2][6] = { { 0x02, 0x00, 0x00, 0xc0, 0x00, 0x01 }, { 0x02, 0x00, 0x00, 0x5e, 0x00, 0x02 } };
	memcpy(ow.mac, macs, sizeof macs);

	const char *sni = o.sni ? o.sni : (o.app == TLSGEN_APP_HTTP ? "www.example.com" : "sip.example.com");

	for (int k = 0; k < o.connections; k++) {
		tlsgen_conn_t *oc = &conns[k];
		memset(&g, 0, sizeof g);
		g.o = &o; g.r = &nrng; g.err = err; g.errlen = errlen; g.keylog_fp = klf;
		g.segmax = (size_t)o.mss;
		if (o.split > 0 && (size_t)o.split < g.segmax) g.segmax = (size_t)o.split;

		if (o.client_hosts > 1) {   /* spread the connections over client addresses */
			unsigned h = (unsigned)(k % o.client_hosts);
			if (o.ipv6) { ow.addr[0][13] = 1; ow.addr[0][14] = (uint8_t)(h >> 8); ow.addr[0][15] = (uint8_t)(h + 1); }
			else { ow.addr[0][1] = (uint8_t)(1 + (h >> 16)); ow.addr[0][2] = (uint8_t)(h >> 8); ow.addr[0][3] = (uint8_t)(h + 1); }
		}
		/* ports and ISNs */
		uint16_t cport;
		for (;;) {
			cport = (uint16_t)tg_rng_range(&rng, 32768, 60999);
			int dup = cport == o.server_port;
			for (int j = 0; j < k; j++) if (conns[j].client_port == cport) dup = 1;
			if (!dup) break;
		}
		for (int d = 0; d < 2; d++)
			g.isn[d] = o.isn_near_wrap ? 0xFFFFFFFFu - tg_rng_range(&rng, 1000, 6000) : (uint32_t)tg_rng_next(&rng);

		plan_conn(&o, &rng, &plan, cport, o.server_port);

		/* TCP handshake */
		tg_segv_push(&g.segs, (seg_t){ .dir = 0, .flags = PCAPW_SYN, .syn_opts = 1, .seq = g.isn[0] });
		tg_segv_push(&g.segs, (seg_t){ .dir = 1, .flags = PCAPW_SYN | PCAPW_ACK, .syn_opts = 1, .seq = g.isn[1], .ack = g.isn[0] + 1 });
		tg_segv_push(&g.segs, (seg_t){ .dir = 0, .flags = PCAPW_ACK, .seq = g.isn[0] + 1, .ack = g.isn[1] + 1 });

		for (int d = 0; d < 2; d++) {
			g.ssl[d] = SSL_new(ctx[d]);
			g.rbio[d] = BIO_new(BIO_s_mem());
			g.wbio[d] = BIO_new(BIO_s_mem());
			if (!g.ssl[d] || !g.rbio[d] || !g.wbio[d]) {
				if (g.rbio[d]) BIO_free(g.rbio[d]);
				if (g.wbio[d]) BIO_free(g.wbio[d]);
				tg_set_err(err, errlen, "SSL_new failed");
				tg_add_ssl_err(err, errlen);
				goto out;
			}
			SSL_set_bio(g.ssl[d], g.rbio[d], g.wbio[d]);
			SSL_set_app_data(g.ssl[d], &g);
		}
		SSL_set_connect_state(g.ssl[0]);
		SSL_set_accept_state(g.ssl[1]);
		if (*sni) SSL_set_tlsext_host_name(g.ssl[0], sni);
		if (k > 0 && o.resume && sess) SSL_set_session(g.ssl[0], sess);
		if (k > 0) g.reject_early = o.early_data_reject;
		if (k > 0 && o.psk_ke_only && !SSL_set1_groups_list(g.ssl[1], "P-521")) {
			tg_set_err(err, errlen, "psk_ke_only: cannot set the server's groups");
			tg_add_ssl_err(err, errlen);
			goto out;
		}
		if (k > 0 && o.psk_ke && sess) SSL_set1_groups_list(g.ssl[0], "ffdhe2048");   /* no common group: psk_ke */

		int early = 0;
		if (o.early_data && k > 0 && sess && o.tls_version >= 0x0304 && SSL_SESSION_get_max_early_data(sess) > 0) {
			early = tg_early_data(&g, &plan);
			if (early < 0) goto out;
		}
		if (o.starttls && tg_starttls_prefix(&g, o.starttls)) goto out;
		if (tg_handshake(&g)) goto out;
		g.hs_end[0] = g.tls[0].len; g.hs_end[1] = g.tls[1].len;
		if (tg_exchange(&g, &plan)) goto out;
		oc->early_data = early == 1;
		oc->early_rejected = g.early_sent && early != 1;
		oc->early_resent = oc->early_rejected;       /* tg_exchange() wrote plan[0] normally */
		if (g.early_sent) oc->early_plain = tg_buf_take(&g.early_plain, &oc->early_len);
		oc->renegotiations = g.renegotiations;
		oc->ch_psk_modes = g.ch_psk_modes;
		oc->ch_key_share = g.ch_key_share;
		oc->ch_psk = g.ch_psk;
		oc->psk_mode = g.sh_psk ? (g.sh_key_share ? 2 : 1) : 0;
		if (o.renegotiate > 0 && g.renegotiations != (unsigned)o.renegotiate) {
			tg_set_err(err, errlen, "renegotiate: %u of %d renegotiations done", g.renegotiations, o.renegotiate);
			goto out;
		}
		if (k > 0 && o.early_data_reject) {
			int resumed = SSL_session_reused(g.ssl[0]) == 1;
			if (!g.early_sent || early == 1 || SSL_get_early_data_status(g.ssl[0]) != SSL_EARLY_DATA_REJECTED ||
			    resumed != (o.early_data_reject == 1)) {
				tg_set_err(err, errlen, "early_data_reject: conn %d: early data sent %d, accepted %d, resumed %d", k + 1,
				           g.early_sent, early == 1, resumed);
				goto out;
			}
		}
		if (k > 0 && o.psk_ke_only && (SSL_session_reused(g.ssl[0]) != 1 || oc->psk_mode != 1)) {
			tg_set_err(err, errlen, "psk_ke_only: conn %d: resumed %d, psk mode %d (want psk_ke)", k + 1,
			           SSL_session_reused(g.ssl[0]) == 1, oc->psk_mode);
			goto out;
		}
		oc->version = (uint16_t)SSL_version(g.ssl[0]);
		oc->suite = SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(g.ssl[0]));
		oc->ems = SSL_get_extms_support(g.ssl[0]) == 1;
		oc->resumed = SSL_session_reused(g.ssl[0]) == 1;
		oc->hrr = g.hrr_seen;
		oc->etm = g.etm_seen && SSL_CIPHER_is_aead(SSL_get_current_cipher(g.ssl[0])) == 0;
		if (tg_shutdown_both(&g)) goto out;
		if (o.resume && (k == 0 || o.tls_version >= 0x0304)) {
			/* (after the clean shutdown, so TLS 1.3 tickets sent late have been read)
			 * TLS 1.3 stateful tickets are single use: continue with the newest one */
			SSL_SESSION *ns = SSL_get1_session(g.ssl[0]);
			if (ns && SSL_SESSION_is_resumable(ns)) { if (sess) SSL_SESSION_free(sess); sess = ns; }
			else if (ns) SSL_SESSION_free(ns);
		}

		for (int d = 0; d < 2; d++)
			if (g.recv[d].len != g.plain[d].len || memcmp(g.recv[d].p, g.plain[d].p, g.plain[d].len)) {
				tg_set_err(err, errlen, "internal: plaintext received differs from plaintext sent (%s)", d ? "s2c" : "c2s");
				goto out;
			}

		/* FIN exchange */
		uint32_t end[2] = { g.isn[0] + 1 + (uint32_t)g.tls[0].len, g.isn[1] + 1 + (uint32_t)g.tls[1].len };
		tg_segv_push(&g.segs, (seg_t){ .dir = 0, .flags = PCAPW_FIN | PCAPW_ACK, .seq = end[0], .ack = end[1] });
		tg_segv_push(&g.segs, (seg_t){ .dir = 1, .flags = PCAPW_FIN | PCAPW_ACK, .seq = end[1], .ack = end[0] + 1 });
		tg_segv_push(&g.segs, (seg_t){ .dir = 0, .flags = PCAPW_ACK, .seq = end[0] + 1, .ack = end[1] + 1 });

		if (o.coalesce) tg_mangle_coalesce(&g.segs);
		if (o.reorder) tg_mangle_reorder(&g.segs, &nrng);
		if (o.duplicate) tg_mangle_duplicate(&g.segs, &nrng, g.tls);
		if (o.drop) tg_mangle_drop(&g.segs, &nrng, g.tls);
		if (o.late_segment) {
			tg_mangle_late(&g.segs, &nrng, g.hs_end, oc->n_late);
			if (!oc->n_late[0] || !oc->n_late[1]) {
				tg_set_err(err, errlen, "late_segment: conn %d: %u c2s / %u s2c late segments (need >= 1 each)",
				           k + 1, oc->n_late[0], oc->n_late[1]);
				goto out;
			}
		}
		if (o.ack_before_data) {
			oc->n_ack_first = tg_mangle_ack_first(&g.segs, &nrng);
			if (!oc->n_ack_first) { tg_set_err(err, errlen, "ack_before_data: conn %d: no ACK to move", k + 1); goto out; }
		}
		if (o.reply_first) {
			tg_mangle_reply_first(&g.segs, &nrng, o.reply_first, g.hs_end, &oc->n_reply_first, &oc->n_reply_first_hs);
			if (!oc->n_reply_first_hs) {
				tg_set_err(err, errlen, "reply_first: conn %d: no handshake flight moved", k + 1);
				goto out;
			}
		}
		if (o.stray_rst || o.stray_syn) {
			unsigned want = 0, got = 0;
			if (o.stray_rst) {
				want++;
				got += tg_inject_stray(&g.segs, g.isn, g.hs_end, 1, (int)tg_rng_u(&nrng, 2), o.stray_in_window, 0.45) != (size_t)-1;
			}
			if (o.stray_syn) {
				want++;
				got += tg_inject_stray(&g.segs, g.isn, g.hs_end, 0, 0, o.stray_in_window, 0.6) != (size_t)-1;
			}
			if (got != want) {
				tg_set_err(err, errlen, "stray: conn %d: %u of %u packets injected (no application data segment "
				           "at the next expected sequence number)", k + 1, got, want);
				goto out;
			}
		}
		tg_count_lost(&g.segs, g.tls, oc->lost);
		if (o.drop && !oc->lost[0] && !oc->lost[1]) {
			tg_set_err(err, errlen, "drop: conn %d: no byte lost", k + 1);
			goto out;
		}

		oc->first_packet = (size_t)pcapw_count(w);
		wextra_t wx = { .outliers = o.ts_outlier && k == (o.connections - 1) / 2,
		                .step = o.ts_step && k == (o.connections - 1) / 2, .acc = &acc, .oc = oc };
		if (tg_write_conn(&ow, &g, cport, o.server_port, &wx)) {
			tg_set_err(err, errlen, "write to %s failed", pcap_path);
			goto out;
		}
		oc->n_packets = (size_t)pcapw_count(w) - oc->first_packet;
		oc->client_port = cport;
		oc->server_port = o.server_port;
		oc->isn[0] = g.isn[0]; oc->isn[1] = g.isn[1];
		for (int d = 0; d < 2; d++) {
			oc->plain[d] = tg_buf_take(&g.plain[d], &oc->plain_len[d]);
			oc->tls[d] = tg_buf_take(&g.tls[d], &oc->tls_len[d]);
		}
		oc->keylog = (char *)tg_buf_take(&g.keylog, &oc->keylog_len);
		oc->msgs = g.msgs; oc->n_msgs = g.n_msgs;
		g.msgs = NULL; g.n_msgs = g.cap_msgs = 0;
		nconns++;
		gconn_free(&g);
		tg_plan_free(&plan);
	}
	if (pcapw_close(w)) { w = NULL; tg_set_err(err, errlen, "write to %s failed", pcap_path); goto out; }
	w = NULL;
	if ((o.ts_outlier && acc.n_ts_outliers != 2) || (o.ts_step && acc.ts_steps != 1)) {
		tg_set_err(err, errlen, "ts_outlier/ts_step: %u outlier frames, %u clock steps written", acc.n_ts_outliers, acc.ts_steps);
		goto out;
	}
	if (res) {
		*res = acc;
		res->conns = conns; res->n_conns = nconns;
		for (size_t i = 0; i < nconns; i++) res->n_packets += conns[i].n_packets;
		conns = NULL;
	}
	rc = 0;
out:
	gconn_free(&g);
	tg_plan_free(&plan);
	if (w) pcapw_close(w);
	if (klf) fclose(klf);
	if (sess) SSL_SESSION_free(sess);
	for (int d = 0; d < 2; d++) if (ctx[d]) SSL_CTX_free(ctx[d]);
	if (conns) { tlsgen_result_t tmp = { .conns = conns, .n_conns = nconns }; tlsgen_result_free(&tmp); }
	ERR_clear_error();
	return rc;
}
