/*
 * engine.c — the engine's public API (tls_engine.h): keystores, engine lifecycle, the
 * per-packet entry point (flow lookup, client/server roles, TCP reassembly), flow end
 * and eviction (flow-timeout, max-flows; O(1) work per packet), session status reports
 * and statistics. One mutex per engine serializes feeding threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <gcrypt.h>
#include "engine_internal.h"

#define EXPIRE_PER_PACKET 4
#define WAITLIST_PERIOD 0.05        /* s of capture time between key-log re-checks */
#define LOG_PER_SECOND 20

/* ---------------- names ---------------- */

PTLS_API const char *tls_reason_name(tls_reason_t r)
{
	static const char *n[TLS_REASON__COUNT] = {
		"none", "no_key", "pfs_no_keylog", "handshake_missed", "wrong_key", "unsupported_suite",
		"resumption_miss", "truncated", "decrypt_error", "not_tls", "gap", "static_key_mismatch" };
	return (unsigned)r < TLS_REASON__COUNT ? n[r] : "unknown";
}

PTLS_API const char *tls_key_kind_name(tls_key_kind_t k)
{
	switch (k) {
	case TLS_KEY_RSA: return "rsa";
	case TLS_KEY_ECDHE_STATIC: return "ecdhe-static";
	case TLS_KEY_KEYLOG: return "keylog";
	case TLS_KEY_RESUMPTION: return "resumption";
	default: return NULL;
	}
}

PTLS_API const char *tls_version_name(uint16_t v)
{
	switch (v) {
	case 0x0300: return "SSL3.0";
	case 0x0301: return "TLS1.0";
	case 0x0302: return "TLS1.1";
	case 0x0303: return "TLS1.2";
	case 0x0304: return "TLS1.3";
	default: return NULL;
	}
}

/* ---------------- global init ---------------- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void do_global_init(void)
{
	if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
		if (!gcry_check_version("1.8.0")) { init_result = -1; return; }
		/* Secrets are wiped explicitly (tls_wipe); secure memory would need privileges. */
		gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
		gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	}
	init_result = 0;
}

PTLS_API int tls_engine_global_init(void)
{
	pthread_once(&init_once, do_global_init);
	return init_result;
}

/* ---------------- keystore ---------------- */

PTLS_API tls_keystore_t *tls_keystore_new(void)
{
	if (tls_engine_global_init() != 0) return NULL;
	tls_keystore_t *ks = calloc(1, sizeof *ks);
	if (ks) ks->refs = 1;
	return ks;
}

PTLS_API void tls_keystore_ref(tls_keystore_t *ks)
{
	if (ks) __atomic_add_fetch(&ks->refs, 1, __ATOMIC_SEQ_CST);
}

PTLS_API void tls_keystore_unref(tls_keystore_t *ks)
{
	if (!ks || __atomic_sub_fetch(&ks->refs, 1, __ATOMIC_SEQ_CST) > 0) return;
	for (size_t i = 0; i < ks->n_keys; i++) keys_free(&ks->keys[i]);
	for (size_t i = 0; i < ks->n_keylogs; i++) tls_keylog_free(ks->keylogs[i]);
	free(ks->keys);
	free(ks->keylogs);
	free(ks);
}

PTLS_API int tls_keystore_add_key_file(tls_keystore_t *ks, const char *path, const char *password,
                                       const char *server, const char *sni,
                                       char *err, size_t errlen, char *warn, size_t warnlen)
{
	if (!ks || !path) { snprintf(err, errlen, "no key file given"); return -1; }
	ks_key_t k;
	if (keys_load_file(&k, path, password, err, errlen, warn, warnlen) != 0) return -1;
	if (keys_parse_selector(&k, server, sni) != 0) {
		snprintf(err, errlen, "%s: bad server selector '%s' (want ip, ip:port, :port or [v6]:port)",
		         path, server ? server : "");
		keys_free(&k);
		return -1;
	}
	ks_key_t *nk = realloc(ks->keys, (ks->n_keys + 1) * sizeof *nk);
	if (!nk) { keys_free(&k); snprintf(err, errlen, "%s: out of memory", path); return -1; }
	ks->keys = nk;
	ks->keys[ks->n_keys++] = k;
	return 0;
}

PTLS_API int tls_keystore_add_keylog(tls_keystore_t *ks, const char *path, size_t max_entries,
                                     char *err, size_t errlen)
{
	if (!ks || !path) { snprintf(err, errlen, "no key log file given"); return -1; }
	tls_keylog_t *kl = tls_keylog_open(path, max_entries, err, errlen);
	if (!kl) return -1;
	tls_keylog_t **n = realloc(ks->keylogs, (ks->n_keylogs + 1) * sizeof *n);
	if (!n) { tls_keylog_free(kl); snprintf(err, errlen, "%s: out of memory", path); return -1; }
	ks->keylogs = n;
	ks->keylogs[ks->n_keylogs++] = kl;
	return 0;
}

/* ---------------- engine ---------------- */

PTLS_API void tls_engine_config_defaults(tls_engine_config_t *c)
{
	memset(c, 0, sizeof *c);
	c->flow_timeout = 180;
	c->max_flows = 65536;
	c->max_reasm_bytes = 256 * 1024;
	c->max_reasm_segments = 256;
	c->max_total_buffer = 256ull * 1024 * 1024;
	c->max_message = 1024 * 1024;
	c->max_held_records = 1024 * 1024;
	c->keylog_wait = 10;
	c->session_cache_size = 10000;
	c->emit_handshake_only_sessions = true;
}

PTLS_API tls_engine_t *tls_engine_new(const tls_engine_config_t *cfg, tls_keystore_t *const *stores,
                                      size_t nstores, const tls_callbacks_t *cb)
{
	if (tls_engine_global_init() != 0) return NULL;
	tls_engine_t *e = calloc(1, sizeof *e);
	if (!e) return NULL;
	if (cfg) e->cfg = *cfg; else tls_engine_config_defaults(&e->cfg);
	if (!e->cfg.max_flows) e->cfg.max_flows = 1;
	if (e->cfg.max_message < 1024) e->cfg.max_message = 1024;
	if (e->cfg.n_tls_ports > 64) e->cfg.n_tls_ports = 64;
	for (size_t i = 0; i < e->cfg.n_tls_ports; i++) e->ports[i] = cfg->tls_ports[i];
	e->cfg.tls_ports = e->ports;
	if (cb) e->cb = *cb;
	pthread_mutex_init(&e->lock, NULL);
	if (flow_table_init(&e->table, e->cfg.max_flows) != 0) { free(e); return NULL; }
	e->cache = session_cache_new(e->cfg.session_cache_size);
	if (nstores) {
		e->stores = calloc(nstores, sizeof *e->stores);
		if (!e->stores) { flow_table_destroy(&e->table); free(e); return NULL; }
		for (size_t i = 0; i < nstores; i++) {
			if (!stores[i]) continue;
			tls_keystore_ref(stores[i]);
			e->stores[e->n_stores++] = stores[i];
		}
	}
	e->tcp_lim.max_ooo_bytes = e->cfg.max_reasm_bytes;
	e->tcp_lim.max_ooo_segments = e->cfg.max_reasm_segments;
	e->tcp_lim.max_total = e->cfg.max_total_buffer;
	e->tcp_lim.total = &e->buffered;
	e->next_flow_id = 1;
	return e;
}

void eng_log(struct tls_engine *e, int level, const char *fmt, ...)
{
	if (!e->cb.on_log) return;
	if (level > 4) {
		/* info/debug: not rate limited but only when asked for (level filter is the sink's) */
	} else {
		if (e->now - e->log_window_start >= 1.0 || e->now < e->log_window_start) {
			if (e->log_suppressed) {
				char b[96];
				snprintf(b, sizeof b, "%llu log lines suppressed (rate limit)", (unsigned long long)e->log_suppressed);
				e->cb.on_log(e->cb.user, 4, b);
			}
			e->log_window_start = e->now;
			e->log_in_window = 0;
			e->log_suppressed = 0;
		}
		if (++e->log_in_window > LOG_PER_SECOND) { e->log_suppressed++; return; }
	}
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	e->cb.on_log(e->cb.user, level, line);
}

void eng_fail(flow_t *f, tls_reason_t r)
{
	if (f->conn.reason == TLS_REASON_NONE) f->conn.reason = r;
}

void eng_waitlist_add(struct tls_engine *e, flow_t *f)
{
	if (f->in_waitlist) return;
	f->in_waitlist = true;
	f->wait_next = e->waitlist;
	e->waitlist = f;
}

static void waitlist_remove(struct tls_engine *e, flow_t *f)
{
	if (!f->in_waitlist) return;
	for (flow_t **pp = &e->waitlist; *pp; pp = &(*pp)->wait_next)
		if (*pp == f) { *pp = f->wait_next; break; }
	f->in_waitlist = false;
	f->wait_next = NULL;
}

/* Final status of a session, derived from what was seen. */
static tls_reason_t final_reason(const flow_t *f)
{
	const tls_conn_t *c = &f->conn;
	if (c->reason != TLS_REASON_NONE) return c->reason;
	if (c->decrypted || c->keys_proven) return TLS_REASON_NONE;
	if (!c->ch_seen && !c->sh_seen) {
		bool rec = f->d[0].seen_record || f->d[1].seen_record;
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
	const tls_conn_t *c = &f->conn;
	if (!f->any_payload) return;
	/* A TCP flow that never looked like TLS is not a TLS session: only counted, unless it
	 * runs on a port where TLS was expected (then "not_tls" is worth reporting). */
	if (!c->ch_seen && !c->sh_seen && !f->d[0].seen_record && !f->d[1].seen_record &&
	    !expected_tls_port(e, f->ep.server_port)) {
		if (final) e->st.flows_not_tls++;
		return;
	}
	bool decrypted = c->decrypted || c->keys_proven;
	tls_reason_t reason = final ? final_reason(f) : c->reason;
	if (!final && f->last_rep_valid && f->last_rep_decrypted == decrypted && f->last_rep_reason == reason)
		return;
	f->last_rep_valid = true;
	f->last_rep_decrypted = decrypted;
	f->last_rep_reason = reason;
	if (final) {
		e->st.sessions++;
		if (decrypted && reason == TLS_REASON_NONE) e->st.sessions_decrypted++;
		else e->st.sessions_failed[reason]++;
		if (!decrypted || reason != TLS_REASON_NONE)
			eng_log(e, 6, "session %llu%s%s: %s (%s)", (unsigned long long)f->id,
			        c->sni[0] ? " sni=" : "", c->sni[0] ? c->sni : "",
			        decrypted ? "decrypted, incomplete" : "not decrypted",
			        reason == TLS_REASON_NONE ? "reason unknown" : tls_reason_name(reason));
	}
	if (!e->cb.on_session) return;
	tls_session_info_t s;
	memset(&s, 0, sizeof s);
	s.flow_id = f->id;
	s.ep = &f->ep;
	s.tls_version = c->sh_seen ? c->version : 0;
	s.suite = c->sh_seen ? c->suite : 0;
	s.sni = c->sni[0] ? c->sni : NULL;
	s.resumed = c->resumed;
	s.ems = c->ems && !c->tls13;
	s.etm = c->etm;
	s.key = decrypted ? c->key_kind : TLS_KEY_NONE;
	s.decrypted = decrypted;         /* keys proven; reason then tells what went wrong later, if anything */
	s.reason = reason;
	s.final = final;
	s.msgs[0] = f->d[0].msgs; s.msgs[1] = f->d[1].msgs;
	s.bytes[0] = f->d[0].bytes; s.bytes[1] = f->d[1].bytes;
	e->cb.on_session(e->cb.user, &s);
}

void eng_emit_message(void *ctx, int dir, tls_app_t app, const uint8_t *data, size_t len, bool keepalive)
{
	flow_t *f = ctx;
	struct tls_engine *e = f->eng;
	if (!len) return;
	f->d[dir].msgs++;
	e->st.messages++;
	if (!e->cb.on_message) return;
	tls_message_t m;
	m.flow_id = f->id;
	m.ep = &f->ep;
	m.dir = (tls_dir_t)dir;
	m.app = app;
	m.tls_version = f->conn.version;
	m.suite = f->conn.suite;
	m.data = data;
	m.len = len;
	m.ts = f->d[dir].ts;
	m.keepalive = keepalive;
	e->cb.on_message(e->cb.user, &m);
}

/* ---------------- flows ---------------- */

static void flow_free(struct tls_engine *e, flow_t *f)
{
	for (int i = 0; i < 2; i++) {
		rec_drop_held(f, i);
		tcp_stream_free(&f->d[i].tcp, &e->tcp_lim);
		rec_dir_free(e, &f->d[i]);
	}
	app_framing_free(&f->app);                 /* gives its buffers back to e->buffered */
	hs_conn_free(&f->conn);
	free(f);
}

struct deliver_ctx { flow_t *f; int dir; };

static void deliver_cb(void *ctx, const uint8_t *data, size_t len)
{
	struct deliver_ctx *dc = ctx;
	rec_stream_data(dc->f, dc->dir, data, len);
}

/* End a flow: deliver what can be delivered, final report, free. */
static void flow_end(struct tls_engine *e, flow_t *f, int why)
{
	flow_table_remove(&e->table, &f->node);
	for (int i = 0; i < 2; i++) {
		struct deliver_ctx dc = { f, i };
		tcp_stream_flush(&f->d[i].tcp, &e->tcp_lim, &e->tcp_cnt, deliver_cb, &dc);
	}
	rec_retry_held(f, true);
	for (int i = 0; i < 2; i++) app_framing_flush(&f->app, i, eng_emit_message, f);
	eng_report_session(e, f, true);
	if (why == 0) e->st.flows_closed++;
	else if (why == 1) e->st.flows_evicted_timeout++;
	else if (why == 2) e->st.flows_evicted_limit++;
	waitlist_remove(e, f);            /* after the flushes above: they may have re-added it */
	flow_free(e, f);
}

static bool is_tls_port(const struct tls_engine *e, uint16_t p)
{
	for (size_t i = 0; i < e->cfg.n_tls_ports; i++)
		if (e->ports[i] == p) return true;
	return false;
}

/* 1: payload starts a ClientHello, 2: a ServerHello, 0: neither. */
static int hello_kind(const uint8_t *p, size_t len)
{
	cursor_t c = cur_init(p, len);
	uint8_t t = cur_u8(&c);
	uint8_t maj = cur_u8(&c);
	cur_skip(&c, 3);
	uint8_t hs = cur_u8(&c);
	if (cur_failed(&c) || t != CT_HANDSHAKE || maj != 3) return 0;
	return hs == HS_CLIENT_HELLO ? 1 : hs == HS_SERVER_HELLO ? 2 : 0;
}

static void set_roles(flow_t *f, int family, const uint8_t *cip, uint16_t cport, const uint8_t *sip, uint16_t sport)
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	memset(&f->ep, 0, sizeof f->ep);
	f->ep.family = family;
	memcpy(f->ep.client_ip, cip, alen);
	memcpy(f->ep.server_ip, sip, alen);
	f->ep.client_port = cport;
	f->ep.server_port = sport;
}

static flow_t *flow_create(struct tls_engine *e, const flow_key_t *k, const tls_tcp_segment_t *seg, double ts)
{
	if (e->table.count >= e->cfg.max_flows) {
		flow_node_t *old = flow_table_oldest(&e->table);
		if (old) flow_end(e, (flow_t *)old, 2);
	}
	flow_t *f = calloc(1, sizeof *f);
	if (!f) return NULL;
	f->node.key = *k;
	f->node.last_ts = ts;
	f->id = e->next_flow_id++;
	f->eng = e;
	f->first_ts = f->last_ts = ts;
	for (int i = 0; i < 2; i++) {
		tcp_stream_init(&f->d[i].tcp);
		f->d[i].held_tail = &f->d[i].held;
	}
	app_framing_init(&f->app, e->cfg.max_message);
	f->app.budget_used = &e->buffered;
	f->app.budget_max = e->cfg.max_total_buffer;
	/* Roles: SYN, then hello type, then ports. */
	bool src_is_client;
	if ((seg->flags & 0x02) && !(seg->flags & 0x10)) { src_is_client = true; f->roles_known = true; }
	else if ((seg->flags & 0x02) && (seg->flags & 0x10)) { src_is_client = false; f->roles_known = true; }
	else {
		int h = seg->len ? hello_kind(seg->payload, seg->len) : 0;
		if (h) { src_is_client = h == 1; f->roles_known = true; }
		else if (is_tls_port(e, seg->dport) && !is_tls_port(e, seg->sport)) src_is_client = true;
		else if (is_tls_port(e, seg->sport) && !is_tls_port(e, seg->dport)) src_is_client = false;
		else src_is_client = seg->sport >= seg->dport;
	}
	if (src_is_client) set_roles(f, seg->family, seg->src_ip, seg->sport, seg->dst_ip, seg->dport);
	else set_roles(f, seg->family, seg->dst_ip, seg->dport, seg->src_ip, seg->sport);
	flow_table_insert(&e->table, &f->node);
	e->st.flows_created++;
	return f;
}

static bool src_is_client(const flow_t *f, const tls_tcp_segment_t *seg)
{
	size_t alen = seg->family == AF_INET6 ? 16 : 4;
	return seg->sport == f->ep.client_port && memcmp(seg->src_ip, f->ep.client_ip, alen) == 0;
}

static void process_waitlist(struct tls_engine *e, bool final)
{
	flow_t *f = e->waitlist;
	while (f) {
		flow_t *next = f->wait_next;
		rec_retry_held(f, final);
		if (!f->conn.waiting_keylog) {
			waitlist_remove(e, f);
			if (f->ended) flow_end(e, f, 0);
		}
		f = next;
	}
}

static void expire_locked(tls_engine_t *e, double now, bool all);

int eng_feed_tcp_locked(struct tls_engine *e, const tls_tcp_segment_t *seg, double ts)
{
	if (ts > e->now) e->now = ts;
	e->st.bytes_in += seg->len;
	if (seg->family != AF_INET && seg->family != AF_INET6) { e->st.packets_malformed++; return -1; }
	if (e->cfg.n_tls_ports && !is_tls_port(e, seg->sport) && !is_tls_port(e, seg->dport)) {
		e->st.packets_non_tcp++;
		return 0;
	}
	flow_key_t k;
	bool swapped;
	flow_key_make(&k, seg->family, seg->src_ip, seg->sport, seg->dst_ip, seg->dport, &swapped);
	flow_t *f = (flow_t *)flow_table_find(&e->table, &k);
	if (f && (seg->flags & 0x12) == 0x02 && f->any_payload) {
		/* a new connection reusing the 5-tuple: the old one is over */
		flow_end(e, f, 0);
		f = NULL;
	}
	if (!f) {
		/* Only a SYN or a segment with data starts tracking (bare ACK/FIN/RST floods don't). */
		if ((seg->flags & 0x04) || (!seg->len && !(seg->flags & 0x02))) goto housekeeping;
		f = flow_create(e, &k, seg, ts);
		if (!f) { e->st.packets_malformed++; return -1; }
	} else if (!f->roles_known && seg->len && !f->any_payload) {
		int h = hello_kind(seg->payload, seg->len);
		bool cli = src_is_client(f, seg);
		if ((h == 1 && !cli) || (h == 2 && cli)) {
			tls_endpoints_t o = f->ep;
			set_roles(f, o.family, o.server_ip, o.server_port, o.client_ip, o.client_port);
			tls_dirstate_t t = f->d[0]; f->d[0] = f->d[1]; f->d[1] = t;
			for (int i = 0; i < 2; i++) if (!f->d[i].held) f->d[i].held_tail = &f->d[i].held;
		}
		if (h) f->roles_known = true;
	}
	int dir = src_is_client(f, seg) ? TLS_DIR_C2S : TLS_DIR_S2C;
	flow_table_touch(&e->table, &f->node, ts);
	f->last_ts = ts;
	tls_dirstate_t *d = &f->d[dir];
	d->ts = ts;
	if (seg->len) f->any_payload = true;
	struct deliver_ctx dc = { f, dir };
	tcp_stream_segment(&d->tcp, seg->seq, seg->flags, seg->payload, seg->len, &e->tcp_lim, &e->tcp_cnt,
	                   deliver_cb, &dc);
	if ((seg->flags & 0x10) && f->d[1 - dir].tcp.ooo) {
		/* this side acknowledged data of the other one that the capture is missing */
		struct deliver_ctx oc = { f, 1 - dir };
		tcp_stream_acked(&f->d[1 - dir].tcp, seg->ack, &e->tcp_lim, &e->tcp_cnt, deliver_cb, &oc);
	}
	if ((seg->flags & 0x04) ||
	    (tcp_stream_finished(&f->d[0].tcp) && tcp_stream_finished(&f->d[1].tcp))) {
		/* A session still waiting for key-log keys stays parked (the endpoint may write
		 * its keys after closing) until the keys arrive, keylog-wait expires or input ends. */
		if (f->conn.waiting_keylog) f->ended = true;
		else flow_end(e, f, 0);
	}
housekeeping:
	if (e->waitlist && e->now - e->last_wait_check >= WAITLIST_PERIOD) {
		e->last_wait_check = e->now;
		process_waitlist(e, false);
	}
	expire_locked(e, e->now, false);
	return 0;
}

PTLS_API int tls_engine_feed_tcp(tls_engine_t *e, const tls_tcp_segment_t *seg, double ts)
{
	if (!e || !seg) return -1;
	pthread_mutex_lock(&e->lock);
	e->st.packets++;
	int rc = eng_feed_tcp_locked(e, seg, ts);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

PTLS_API int tls_engine_feed_ip(tls_engine_t *e, const uint8_t *ip, size_t len, double ts)
{
	if (!e || !ip) return -1;
	pthread_mutex_lock(&e->lock);
	e->st.packets++;
	int rc = pkt_feed_ip(e, ip, len, ts);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

PTLS_API int tls_engine_feed_frame(tls_engine_t *e, int dlt, const uint8_t *frame, size_t caplen, double ts)
{
	if (!e || !frame) return -1;
	pthread_mutex_lock(&e->lock);
	e->st.packets++;
	int rc = pkt_feed_frame(e, dlt, frame, caplen, ts);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

static void expire_locked(tls_engine_t *e, double now, bool all)
{
	unsigned n = 0;
	flow_node_t *o;
	while ((o = flow_table_oldest(&e->table)) != NULL) {
		if (!all && (o->last_ts + e->cfg.flow_timeout >= now || n >= EXPIRE_PER_PACKET)) break;
		flow_end(e, (flow_t *)o, all ? 0 : 1);
		n++;
	}
}

PTLS_API void tls_engine_expire(tls_engine_t *e, double now, bool all)
{
	if (!e) return;
	pthread_mutex_lock(&e->lock);
	if (now > e->now) e->now = now;
	expire_locked(e, now, all);
	pthread_mutex_unlock(&e->lock);
}

PTLS_API void tls_engine_flush(tls_engine_t *e)
{
	if (!e) return;
	pthread_mutex_lock(&e->lock);
	process_waitlist(e, true);
	expire_locked(e, e->now, true);
	pthread_mutex_unlock(&e->lock);
}

PTLS_API void tls_engine_free(tls_engine_t *e)
{
	if (!e) return;
	tls_engine_flush(e);
	for (size_t i = 0; i < e->n_stores; i++) tls_keystore_unref(e->stores[i]);
	free(e->stores);
	session_cache_free(e->cache);
	flow_table_destroy(&e->table);
	pthread_mutex_destroy(&e->lock);
	tls_wipe(e->scratch, sizeof e->scratch);
	free(e);
}

PTLS_API void tls_engine_get_stats(tls_engine_t *e, tls_engine_stats_t *st)
{
	if (!e || !st) return;
	pthread_mutex_lock(&e->lock);
	*st = e->st;
	st->flows_active = e->table.count;
	st->reasm_out_of_order = e->tcp_cnt.out_of_order;
	st->reasm_retransmits = e->tcp_cnt.retransmits;
	st->reasm_dropped = e->tcp_cnt.dropped;
	st->gaps = e->tcp_cnt.gaps;
	st->bytes_buffered = e->buffered;
	uint64_t l = 0, m = 0;
	for (size_t s = 0; s < e->n_stores; s++)
		for (size_t i = 0; i < e->stores[s]->n_keylogs; i++) {
			uint64_t a, b;
			tls_keylog_counters(e->stores[s]->keylogs[i], &a, &b);
			l += a; m += b;
		}
	st->keylog_lines = l;
	st->keylog_malformed = m;
	pthread_mutex_unlock(&e->lock);
}
