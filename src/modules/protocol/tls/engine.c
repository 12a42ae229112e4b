/*
 * engine.c — one engine shard: its flow table (flow lookup, client/server roles, TCP
 * acceptance of RST/SYN, reassembly), its timers (waiting for keys, closing, TIME_WAIT,
 * flow-timeout and max-flows eviction; O(1) work per packet), flow end, session reports
 * and counters. One mutex per shard serializes the threads feeding it. The public API
 * (tls_engine.h) is shards.c, which routes each packet to its shard.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <gcrypt.h>
#include "engine_internal.h"
#include "sslv2.h"

#define EXPIRE_PER_PACKET 4
#define TIME_WAIT_S 10.0            /* s a closed connection's 5-tuple absorbs stale segments */

/* ---------------- engine ---------------- */

struct tls_engine *shard_new(const tls_engine_config_t *cfg, tls_keystore_t *const *stores,
                             size_t nstores, const tls_callbacks_t *cb, const shard_shared_t *sh)
{
	struct tls_engine *e = calloc(1, sizeof *e);
	if (!e) return NULL;
	e->cfg = *cfg;
	e->shared = *sh;
	if (!e->cfg.max_flows) e->cfg.max_flows = 1;
	if (e->cfg.max_message < 1024) e->cfg.max_message = 1024;
	if (e->cfg.n_tls_ports > 64) e->cfg.n_tls_ports = 64;
	for (size_t i = 0; i < e->cfg.n_tls_ports; i++) e->ports[i] = cfg->tls_ports[i];
	e->cfg.tls_ports = e->ports;
	if (cb) e->cb = *cb;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->busy_cv, NULL);
	if (!(e->scratch = malloc(SCRATCH_LEN))) { free(e); return NULL; }
	if (flow_table_init(&e->table, e->cfg.max_flows) != 0) { free(e->scratch); free(e); return NULL; }
	e->cache = sh->cache;
	if (nstores) {
		e->stores = calloc(nstores, sizeof *e->stores);
		if (!e->stores) { flow_table_destroy(&e->table); free(e->scratch); free(e); return NULL; }
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
	e->app_env.budget_used = &e->buffered;
	e->app_env.budget_max = e->cfg.max_total_buffer;
	e->app_env.ws_total = &e->ws;
	e->hold_pool.max_cached = 8u << 20;    /* 8 MiB of idle chunks at most */
	if (e->cfg.frag_max_datagrams) {
		ipfrag_limits_t fl = { e->cfg.frag_max_datagrams, e->cfg.frag_max_bytes, e->cfg.frag_timeout };
		e->frag = ipfrag_new(&fl);
		if (!e->frag) { shard_free(e); return NULL; }
	}
	return e;
}



uint64_t eng_keylog_generation(struct tls_engine *e)
{
	uint64_t g = 0;
	for (size_t s = 0; s < e->n_stores; s++)
		for (size_t i = 0; i < e->stores[s]->n_keylogs; i++)
			g += tls_keylog_generation(e->stores[s]->keylogs[i]);
	/* several shards: another shard may store the session a waiting resumption needs */
	if (e->shared.nshards > 1) g += session_cache_generation(e->cache);
	return g;
}

/* The flow's timers, allocated on first use. NULL when out of memory (said in the log):
 * the flow then stays until its idle timeout or the end of input, which flush it. */
static flow_timers_t *timers(struct tls_engine *e, flow_t *f)
{
	if (!f->tm && (f->tm = calloc(1, sizeof *f->tm)) != NULL) f->tm->f = f;
	if (!f->tm) eng_log(e, 4, "flow %llu: out of memory for its timers", (unsigned long long)f->id);
	return f->tm;
}

/* Give the timers back once the flow is on no timer list. */
static void timers_release(struct tls_engine *e, flow_t *f)
{
	flow_timers_t *t = f->tm;
	if (!t || dlist_has(&e->waiting, &t->wait_link) || dlist_has(&e->closing, &t->close_link) ||
	    dlist_has(&e->timewait, &t->close_link))
		return;
	free(t);
	f->tm = NULL;
}

static bool on_waitlist(const struct tls_engine *e, const flow_t *f)
{
	return f->tm && dlist_has(&e->waiting, &f->tm->wait_link);
}

static void eng_waitlist_add(struct tls_engine *e, flow_t *f)
{
	if (on_waitlist(e, f) || !timers(e, f)) return;
	f->tm->wait_deadline = e->now + e->cfg.keylog_wait;
	f->tm->wait_gen = eng_keylog_generation(e);
	dlist_append(&e->waiting, &f->tm->wait_link);
}

static void waitlist_remove(struct tls_engine *e, flow_t *f)
{
	if (!f->tm) return;
	if (e->retry_cursor == &f->tm->wait_link) e->retry_cursor = f->tm->wait_link.next;
	dlist_remove(&e->waiting, &f->tm->wait_link);
	timers_release(e, f);
}

static void closing_remove(struct tls_engine *e, flow_t *f)
{
	f->rst_dir = -1;
	if (!f->tm) return;
	dlist_remove(f->lingering ? &e->timewait : &e->closing, &f->tm->close_link);
	timers_release(e, f);
}

/* Put f on the closing (accepted RST) or TIME_WAIT list, due at `at`. */
static void closing_add(struct tls_engine *e, flow_t *f, dlist_t *L, double at)
{
	if (!timers(e, f)) return;
	f->tm->close_at = at;
	dlist_append(L, &f->tm->close_link);
}





/* ---------------- flows ---------------- */

#define PRE_MAX 16384     /* client bytes kept unparsed before the server speaks */

static void pre_free(struct tls_engine *e, flow_t *f)
{
	if (!f->pre) return;
	e->buffered -= f->pre_len;
	tls_wipe(f->pre, f->pre_len);
	free(f->pre);
	f->pre = NULL;
	f->pre_len = 0;
}

static void flow_free(struct tls_engine *e, flow_t *f)
{
	waitlist_remove(e, f);                     /* (flow_end did: no timer list keeps it) */
	closing_remove(e, f);
	for (int i = 0; i < 2; i++) tcp_stream_free(&f->tcp[i], &e->tcp_lim);
	pre_free(e, f);
	if (f->t) {
		for (int i = 0; i < 2; i++) {
			rec_drop_held(f, i);
			rec_dir_free(e, &f->t->d[i]);
		}
		app_framing_free(&f->t->app);          /* gives its buffers back to e->buffered */
		hs_conn_free(&f->t->conn);
		rec_cipher_forget(e, f);
		free(f->t);
	}
	free(f);
}

/* The flow's TLS state, created on first need: the client bytes kept so far go first. */
static flow_tls_t *flow_tls(struct tls_engine *e, flow_t *f)
{
	if (f->t) return f->t;
	flow_tls_t *t = calloc(1, sizeof *t);
	if (!t) return NULL;
	app_framing_init(&t->app, e->cfg.max_message);
	t->app.env = &e->app_env;
	f->t = t;
	if (f->pre_len) {
		uint8_t *p = f->pre;
		uint32_t n = f->pre_len;
		f->pre = NULL;
		f->pre_len = 0;
		rec_stream_data(f, TLS_DIR_C2S, p, n);
		e->buffered -= n;
		tls_wipe(p, n);
		free(p);
	}
	return t;
}

struct deliver_ctx { flow_t *f; int dir; };

/* In-order bytes (or a gap) of one direction, from TCP reassembly to the record layer.
 * Until the server speaks, a client's first bytes are only kept (bounded): a half-open
 * flow, such as one of a ClientHello flood, then costs its bytes and the TCP core. */
static void deliver_cb(void *ctx, const uint8_t *data, size_t len)
{
	struct deliver_ctx *dc = ctx;
	flow_t *f = dc->f;
	struct tls_engine *e = f->eng;
	if (!f->t) {
		if (dc->dir == TLS_DIR_C2S && data && f->pre_len + len <= PRE_MAX &&
		    e->buffered + len <= e->cfg.max_total_buffer) {
			uint8_t *n = malloc(f->pre_len + len);
			if (n) {
				if (f->pre_len) memcpy(n, f->pre, f->pre_len);
				memcpy(n + f->pre_len, data, len);
				uint32_t old = f->pre_len;
				pre_free(e, f);
				f->pre = n;
				f->pre_len = old + (uint32_t)len;
				e->buffered += f->pre_len;
				return;
			}
		}
		if (!flow_tls(e, f)) { e->st.packets_malformed++; return; }
	}
	rec_stream_data(f, dc->dir, data, len);
}

/* End a flow: deliver what can be delivered, final report, free. */
/* The session of a flow is over: deliver what can be delivered, final report, counters,
 * and give back everything but the TCP core (which may linger, see flow_linger). */
static void flow_finish(struct tls_engine *e, flow_t *f, int why)
{
	if (f->finished) return;
	for (int i = 0; i < 2; i++) {
		struct deliver_ctx dc = { f, i };
		tcp_stream_flush(&f->tcp[i], &e->tcp_lim, &e->tcp_cnt, deliver_cb, &dc);
	}
	if (f->pre_len) flow_tls(e, f);   /* a client that never got an answer: parse what it sent */
	if (f->t) {
		rec_retry_held(f, true);
		for (int i = 0; i < 2; i++) app_framing_flush(&f->t->app, i, eng_emit_message, f);
		eng_report_session(e, f, true);
	}
	if (why == 0) e->st.flows_closed++;
	else if (why == 1) e->st.flows_evicted_timeout++;
	else if (why == 2) e->st.flows_evicted_limit++;
	waitlist_remove(e, f);            /* after the flushes above: they may have re-added it */
	closing_remove(e, f);
	f->finished = true;
	for (int i = 0; i < 2; i++) tcp_stream_free(&f->tcp[i], &e->tcp_lim);
	pre_free(e, f);
	if (f->t) {
		for (int i = 0; i < 2; i++) {
			rec_drop_held(f, i);
			rec_dir_free(e, &f->t->d[i]);
		}
		app_framing_free(&f->t->app);
		hs_conn_free(&f->t->conn);
		rec_cipher_forget(e, f);
		free(f->t);
		f->t = NULL;
	}
}

/* Finish the session and forget the flow. */
static void flow_end(struct tls_engine *e, flow_t *f, int why)
{
	flow_finish(e, f, why);
	closing_remove(e, f);
	if (f->lingering) e->lingering--;
	flow_table_remove(&e->table, &f->node);
	flow_free(e, f);
}

/* A connection closed by FIN or RST: its session ends now, but its 5-tuple is remembered
 * for TIME_WAIT_S (like TCP's TIME_WAIT) so that a retransmission captured after the close
 * is absorbed instead of opening a phantom session; a new SYN replaces it at once. */
static void flow_linger(struct tls_engine *e, flow_t *f)
{
	flow_finish(e, f, 0);
	closing_remove(e, f);
	f->lingering = true;
	e->lingering++;
	closing_add(e, f, &e->timewait, e->now + TIME_WAIT_S);
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
	size_t ml;
	if (sslv2_hello_frame(p, len, &ml) >= 0 && len >= 5) return 1;   /* SSLv2-format ClientHello */
	if (cur_failed(&c) || t != CT_HANDSHAKE || maj != 3) return 0;
	return hs == HS_CLIENT_HELLO ? 1 : hs == HS_SERVER_HELLO ? 2 : 0;
}

/* The client is the canonical key endpoint equal to (ip, port). */
static void set_roles(flow_t *f, int family, const uint8_t *cip, uint16_t cport)
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	const flow_key_t *k = &f->node.key;
	f->client_idx = (uint8_t)!(k->port[0] == cport && memcmp(k->ip[0], cip, alen) == 0);
}

static flow_t *flow_create(struct tls_engine *e, const flow_key_t *k, const tls_tcp_segment_t *seg, double ts)
{
	if (e->table.count >= e->cfg.max_flows) {
		flow_node_t *old = flow_table_oldest(&e->table);
		if (old && !((flow_t *)old)->busy) flow_end(e, (flow_t *)old, 2);   /* busy: one over, briefly */
	}
	flow_t *f = calloc(1, sizeof *f);
	if (!f) return NULL;
	f->node.key = *k;
	f->node.last_ts = ts;
	f->id = atomic_fetch_add(e->shared.next_flow_id, 1);
	f->eng = e;
	f->rst_dir = -1;
	for (int i = 0; i < 2; i++) tcp_stream_init(&f->tcp[i]);
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
	if (src_is_client) set_roles(f, seg->family, seg->src_ip, seg->sport);
	else set_roles(f, seg->family, seg->dst_ip, seg->dport);
	flow_table_insert(&e->table, &f->node);
	e->st.flows_created++;
	return f;
}

static bool src_is_client(const flow_t *f, const tls_tcp_segment_t *seg)
{
	size_t alen = seg->family == AF_INET6 ? 16 : 4;
	const flow_key_t *k = &f->node.key;
	return seg->sport == k->port[f->client_idx] && memcmp(seg->src_ip, k->ip[f->client_idx], alen) == 0;
}

static void expire_locked(struct tls_engine *e, double now, bool all);

/* ---------------- timers: key-log waits, reset linger, ACKed holes ---------------- */

#define WAIT_GIVEUP_PER_PACKET 4
#define RETRY_PER_PACKET 8
#define KEYLOG_CHECK_PERIOD 0.05    /* s of engine time between key-log re-reads while flows wait */
#define RST_LINGER 1.0              /* s an accepted RST waits for contradicting data */
#define RST_WINDOW (4u << 20)       /* an RST further than this beyond the stream is stray */
#define HOLE_ACK_WAIT 2.0           /* s an ACKed hole may stay open before it counts as lost */
#define CLOSE_PER_PACKET 4

/* Retry one waiting flow; it leaves the list when it no longer waits. */
static void wait_retry(struct tls_engine *e, flow_t *f, bool give_up)
{
	if (f->tm) f->tm->wait_gen = eng_keylog_generation(e);
	rec_retry_held(f, give_up);
	if (!f->t->conn.waiting_keylog) {
		waitlist_remove(e, f);
		if (f->ended) flow_end(e, f, 0);
	}
}

static void retry_waiters(struct tls_engine *e);

/* Lock held: when a key-log re-read is due, do it with the lock released (file I/O must
 * not hold up the shard's other threads), then retry the waiting sessions — before the
 * next packet, where a re-read under the lock at the end of the previous one did it. */
static void refresh_if_due(struct tls_engine *e)
{
	if (!e->keylog_due) return;
	e->keylog_due = false;
	pthread_mutex_unlock(&e->lock);
	for (size_t s = 0; s < e->n_stores; s++)
		for (size_t i = 0; i < e->stores[s]->n_keylogs; i++)
			tls_keylog_refresh(e->stores[s]->keylogs[i]);     /* one stat() per period */
	pthread_mutex_lock(&e->lock);
	retry_waiters(e);
}

/* Bounded timer work, run once per packet: each list is ordered by deadline, so only
 * heads are looked at, and a grown key log is retried a few flows at a time. */
static void housekeeping(struct tls_engine *e)
{
	unsigned n = 0;
	while (e->closing.head && n++ < CLOSE_PER_PACKET) {
		flow_t *f = DLIST_ENTRY(e->closing.head, flow_timers_t, close_link)->f;
		if (f->tm->close_at > e->now || f->busy) break;
		closing_remove(e, f);
		if (f->t && f->t->conn.waiting_keylog) f->ended = true;
		else flow_linger(e, f);                               /* reset confirmed by silence */
	}
	n = 0;
	while (e->timewait.head && n++ < CLOSE_PER_PACKET) {
		flow_t *f = DLIST_ENTRY(e->timewait.head, flow_timers_t, close_link)->f;
		if (f->tm->close_at > e->now || f->busy) break;
		flow_end(e, f, 0);                                    /* TIME_WAIT over */
	}
	if (!e->waiting.head) return;
	n = 0;
	while (e->waiting.head && n++ < WAIT_GIVEUP_PER_PACKET) {
		flow_t *f = DLIST_ENTRY(e->waiting.head, flow_timers_t, wait_link)->f;
		if (f->tm->wait_deadline > e->now || f->busy) break;
		waitlist_remove(e, f);
		rec_retry_held(f, true);
		if (f->ended) flow_end(e, f, 0);
	}
	if (e->now - e->last_keylog_check >= KEYLOG_CHECK_PERIOD || e->now < e->last_keylog_check) {
		e->last_keylog_check = e->now;
		e->keylog_due = true;          /* re-read before the next packet, unlocked (refresh_if_due) */
	}
	retry_waiters(e);
}

/* Every packet while flows wait (a lock per key log, no I/O): lines fed from memory
 * (keylog-listen) arrive between packets, and the rest of a session may come sooner
 * than the next re-read period (a replay, a session's last packets). */
static void retry_waiters(struct tls_engine *e)
{
	uint64_t g = eng_keylog_generation(e);
	if (g != e->keylog_gen) {
		e->keylog_gen = g;
		e->retry_cursor = e->waiting.head;                       /* walk the waiters once */
	}
	unsigned n = 0;
	while (e->retry_cursor && n < RETRY_PER_PACKET) {
		flow_t *f = DLIST_ENTRY(e->retry_cursor, flow_timers_t, wait_link)->f;
		e->retry_cursor = e->retry_cursor->next;
		if (f->tm->wait_gen == e->keylog_gen || f->busy) continue;
		n++;
		wait_retry(e, f, false);
	}
}

/* ---------------- TCP acceptance: resets and SYNs on a known 5-tuple ---------------- */

/* An RST is believed only when its sequence number is where the sender's stream is
 * (RFC 5961 §3, passively): at or just beyond the next expected byte. Even then it ends
 * the flow only after RST_LINGER of silence from its sender; data that follows proves it
 * stray. Out-of-window resets are counted and ignored. */
static void handle_rst(struct tls_engine *e, flow_t *f, int dir, const tls_tcp_segment_t *seg)
{
	const tcp_stream_t *t = &f->tcp[dir];
	bool ok = true;
	if (t->started) {
		int64_t off = tcp_seq_diff(seg->seq, t->next_seq);
		ok = off >= 0 && off <= (int64_t)RST_WINDOW;
	}
	if (!ok) { e->rst_ignored++; return; }
	if (f->rst_dir < 0) {
		f->rst_dir = (int8_t)dir;
		closing_add(e, f, &e->closing, e->now + RST_LINGER);
	}
}

/* What to do with a SYN (without ACK) on a 5-tuple that carries a flow. */
enum syn_verdict { SYN_SAME, SYN_NEW, SYN_IGNORE };

static enum syn_verdict handle_syn(struct tls_engine *e, flow_t *f, int dir, const tls_tcp_segment_t *seg)
{
	const tcp_stream_t *t = &f->tcp[dir];
	if (!f->any_payload) return SYN_SAME;                 /* retransmitted SYN, or data not started */
	if (!t->started) return SYN_SAME;                     /* this side's SYN, captured after its peer's data */
	/* a pending RST is not a close: data may still prove it stray (a SYN-ACK decides) */
	bool closed = f->tcp[0].fin_seen && f->tcp[1].fin_seen;
	int64_t off = t->started ? tcp_seq_diff(seg->seq + 1, t->next_seq) : (int64_t)1 << 40;
	bool inside = off > -(int64_t)TCP_STREAM_WINDOW && off < (int64_t)TCP_STREAM_WINDOW;
	if (closed && !inside) return SYN_NEW;
	if (!inside) {
		/* maybe a new connection on a flow we never saw close: believe it when the other
		 * side answers it with a SYN-ACK */
		f->syn_pending = true;
		f->syn_from_client = dir == TLS_DIR_C2S;
		f->syn_seq = seg->seq;
	}
	e->syn_ignored++;
	return SYN_IGNORE;
}

/* One TCP segment at engine time e->now (already observed from ts). */
/* may_unlock: seg's bytes stay valid while the lock is released (not a datagram the
 * shard's fragment reassembler owns), so a public-key operation may run unlocked. */
static int feed_segment(struct tls_engine *e, const tls_tcp_segment_t *seg, double ts, bool may_unlock)
{
	e->st.bytes_in += seg->len;
	if (seg->family != AF_INET && seg->family != AF_INET6) { e->st.packets_malformed++; return -1; }
	if (e->cfg.n_tls_ports && !is_tls_port(e, seg->sport) && !is_tls_port(e, seg->dport)) {
		e->st.packets_non_tcp++;
		return 0;
	}
	flow_key_t k;
	bool swapped;
	flow_key_make(&k, seg->family, seg->src_ip, seg->sport, seg->dst_ip, seg->dport, &swapped);
	flow_t *f;
	while ((f = (flow_t *)flow_table_find(&e->table, &k)) != NULL && pk_wait_flow(e, f)) {}
	const bool syn = (seg->flags & 0x12) == 0x02, synack = (seg->flags & 0x12) == 0x12;
	if (f && f->finished) {
		/* a closed connection: its stale segments (old sequence numbers, bare ACKs/RSTs)
		 * are absorbed; a SYN, or data far from where the sender's stream ended (a new
		 * connection whose SYN the capture missed), replaces it */
		const tcp_stream_t *t = &f->tcp[src_is_client(f, seg) ? TLS_DIR_C2S : TLS_DIR_S2C];
		int64_t off = t->started ? tcp_seq_diff(seg->seq, t->next_seq) : (int64_t)1 << 40;
		bool stale = !syn && (!seg->len || (off > -(int64_t)TCP_STREAM_WINDOW && off <= 65536));
		if (stale) { e->tcp_cnt.retransmits++; goto housekeeping; }
		flow_end(e, f, 0);
		f = NULL;
	}
	if (f && syn) {
		enum syn_verdict v = handle_syn(e, f, src_is_client(f, seg) ? TLS_DIR_C2S : TLS_DIR_S2C, seg);
		if (v == SYN_IGNORE) goto housekeeping;
		if (v == SYN_NEW) { flow_end(e, f, 0); f = NULL; }
	} else if (f && synack && f->syn_pending) {
		bool from_client = src_is_client(f, seg);
		if (from_client != f->syn_from_client && seg->ack == f->syn_seq + 1) {
			/* the pending SYN was answered: a new connection reuses the 5-tuple */
			tls_tcp_segment_t s0 = { .family = seg->family, .src_ip = seg->dst_ip, .dst_ip = seg->src_ip,
			                         .sport = seg->dport, .dport = seg->sport, .seq = f->syn_seq, .flags = 0x02 };
			flow_end(e, f, 0);
			f = flow_create(e, &k, &s0, e->now);
			if (!f) { e->st.packets_malformed++; return -1; }
			tcp_stream_segment(&f->tcp[TLS_DIR_C2S], s0.seq, s0.flags, NULL, 0, &e->tcp_lim, &e->tcp_cnt, NULL, NULL);
		}
	}
	if (!f) {
		/* Only a SYN or a segment with data starts tracking (bare ACK/FIN/RST floods don't). */
		if ((seg->flags & 0x04) || (!seg->len && !(seg->flags & 0x02))) goto housekeeping;
		f = flow_create(e, &k, seg, e->now);
		if (!f) { e->st.packets_malformed++; return -1; }
	} else if (!f->roles_known && seg->len && !f->any_payload) {
		int h = hello_kind(seg->payload, seg->len);
		bool cli = src_is_client(f, seg);
		if ((h == 1 && !cli) || (h == 2 && cli)) {
			f->client_idx = (uint8_t)(1 - f->client_idx);
			tcp_stream_t t = f->tcp[0]; f->tcp[0] = f->tcp[1]; f->tcp[1] = t;   /* no TLS state yet */
		}
		if (h) f->roles_known = true;
	}
	int dir = src_is_client(f, seg) ? TLS_DIR_C2S : TLS_DIR_S2C;
	if (seg->flags & 0x04) {
		handle_rst(e, f, dir, seg);
		goto housekeeping;
	}
	flow_table_touch(&e->table, &f->node, e->now);
	f->seg_ts[dir] = ts;
	if (seg->len) {
		f->any_payload = true;
		if (f->rst_dir == dir) { closing_remove(e, f); e->rst_ignored++; }   /* data after it: stray RST */
	}
	struct deliver_ctx dc = { f, dir };
	e->pk_unlock_ok = may_unlock;  /* f's own bytes: a public-key operation may run unlocked */
	tcp_stream_segment(&f->tcp[dir], seg->seq, seg->flags, seg->payload, seg->len, &e->tcp_lim, &e->tcp_cnt,
	                   deliver_cb, &dc);
	if (seg->flags & 0x10) tcp_stream_acked(&f->tcp[1 - dir], seg->ack, e->now);
	for (int i = 0; i < 2; i++) {
		if (!tcp_stream_hole_acked(&f->tcp[i])) continue;
		struct deliver_ctx oc = { f, i };
		tcp_stream_age_hole(&f->tcp[i], e->now, HOLE_ACK_WAIT, &e->tcp_lim, &e->tcp_cnt, deliver_cb, &oc);
	}
	e->pk_unlock_ok = false;
	if (f->t && f->t->conn.waiting_keylog) eng_waitlist_add(e, f);
	if (tcp_stream_finished(&f->tcp[0]) && tcp_stream_finished(&f->tcp[1])) {
		/* A session still waiting for key-log keys stays parked (the endpoint may write
		 * its keys after closing) until the keys arrive, keylog-wait expires or input ends. */
		if (f->t && f->t->conn.waiting_keylog) { f->ended = true; rec_compact(f); }
		else flow_linger(e, f);
	}
housekeeping:
	housekeeping(e);
	expire_locked(e, e->now, false);
	return 0;
}

/* A fragment of a datagram whose address pair belongs to this shard: reassembled here; a
 * completed datagram goes back through the decoder, which is told not to accept fragments
 * again, so nothing recurses. */
int shard_feed_fragment(struct tls_engine *e, const ipfrag_in_t *fr, double ts)
{
	pthread_mutex_lock(&e->lock);
	refresh_if_due(e);
	e->st.packets++;
	e->now = clock_observe(&e->clock, ts);
	int rc = 0;
	const uint8_t *ip;
	size_t len;
	if (e->frag && ipfrag_add(e->frag, fr, e->now, &ip, &len) == 1) {
		tls_tcp_segment_t seg;
		rc = pkt_decode_ip(&e->st, ip, len, &seg, NULL);
		rc = rc == 1 ? feed_segment(e, &seg, ts, false) : rc;
	}
	pthread_mutex_unlock(&e->lock);
	return rc;
}

int shard_feed_tcp(struct tls_engine *e, const tls_tcp_segment_t *seg, double ts)
{
	pthread_mutex_lock(&e->lock);
	refresh_if_due(e);
	e->st.packets++;
	e->now = clock_observe(&e->clock, ts);
	int rc = feed_segment(e, seg, ts, true);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

static void expire_locked(struct tls_engine *e, double now, bool all)
{
	unsigned n = 0;
	flow_node_t *o;
	while ((o = flow_table_oldest(&e->table)) != NULL) {
		if (!all && (o->last_ts + e->cfg.flow_timeout >= now || n >= EXPIRE_PER_PACKET)) break;
		if (((flow_t *)o)->busy) break;     /* (all: the caller waited for busy flows) */
		flow_end(e, (flow_t *)o, all ? 0 : 1);
		n++;
	}
}

void shard_expire(struct tls_engine *e, double now, bool all, bool try_only)
{
	if (try_only) {
		if (pthread_mutex_trylock(&e->lock) != 0) return;   /* busy: its own packets do it */
	} else {
		pthread_mutex_lock(&e->lock);
	}
	if (all) pk_wait_all(e);
	refresh_if_due(e);
	e->now = clock_observe(&e->clock, now);
	housekeeping(e);
	expire_locked(e, e->now, all);
	if (e->frag) ipfrag_expire(e->frag, all ? e->now + e->cfg.frag_timeout + 1 : e->now);
	pthread_mutex_unlock(&e->lock);
}

size_t shard_wait_keys(struct tls_engine *e)
{
	size_t n = 0;
	pthread_mutex_lock(&e->lock);
	uint64_t g = eng_keylog_generation(e);
	if (g != e->keylog_gen) {
		/* explicit call from the front end, not per packet: walk every waiter once */
		e->keylog_gen = g;
		e->retry_cursor = NULL;
		dlink_t *l = e->waiting.head;
		while (l) {
			flow_t *f = DLIST_ENTRY(l, flow_timers_t, wait_link)->f;
			l = l->next;
			if (f->tm->wait_gen != g && !f->busy) wait_retry(e, f, false);
		}
	}
	n = e->waiting.count;
	pthread_mutex_unlock(&e->lock);
	return n;
}

void shard_flush(struct tls_engine *e)
{
	pthread_mutex_lock(&e->lock);
	pk_wait_all(e);
	while (e->waiting.head) {
		flow_t *f = DLIST_ENTRY(e->waiting.head, flow_timers_t, wait_link)->f;
		waitlist_remove(e, f);
		rec_retry_held(f, true);
		if (f->ended) flow_end(e, f, 0);
	}
	expire_locked(e, e->now, true);
	if (e->frag) ipfrag_expire(e->frag, e->now + e->cfg.frag_timeout + 1);  /* incomplete: timed out */
	pthread_mutex_unlock(&e->lock);
}

void shard_free(struct tls_engine *e)
{
	if (!e) return;
	shard_flush(e);
	for (size_t i = 0; i < e->n_stores; i++) tls_keystore_unref(e->stores[i]);
	free(e->stores);
	hold_pool_free(&e->hold_pool);
	rec_pool_free(e);
	ipfrag_free(e->frag);
	flow_table_destroy(&e->table);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->busy_cv);
	pk_free_spares(e);
	tls_wipe(e->scratch, SCRATCH_LEN);
	free(e->scratch);
	free(e);
}

void shard_get_stats(struct tls_engine *e, tls_engine_stats_t *st)
{
	pthread_mutex_lock(&e->lock);
	*st = e->st;
	st->flows_active = e->table.count - e->lingering;
	st->reasm_out_of_order = e->tcp_cnt.out_of_order;
	st->reasm_retransmits = e->tcp_cnt.retransmits;
	st->reasm_dropped = e->tcp_cnt.dropped;
	st->gaps = e->tcp_cnt.gaps;
	st->bytes_buffered = e->buffered;
	st->rst_ignored = e->rst_ignored;
	st->syn_ignored = e->syn_ignored;
	st->clock_outliers = e->clock.outliers;
	st->clock_steps = e->clock.steps;
	st->lost_bytes = e->tcp_cnt.lost_bytes;
	st->ws_upgrades = e->ws.upgrades;
	st->ws_messages = e->ws.messages;
	st->ws_sip = e->ws.sip;
	st->ws_control = e->ws.control;
	st->ws_unexpected = e->ws.unexpected;
	st->ws_oversize = e->ws.oversize;
	st->ws_compressed = e->ws.compressed;
	st->ws_gap_cut = e->ws.gap_cut;
	st->ws_inflated = e->ws.inflated;
	if (e->frag) {
		const ipfrag_counters_t *fc = ipfrag_counters(e->frag);
		st->frag_fragments = fc->fragments;
		st->frag_datagrams = fc->datagrams;
		st->frag_timeouts = fc->timeouts;
		st->frag_overlaps = fc->overlaps;
		st->frag_duplicates = fc->duplicates;
		st->frag_evicted = fc->evicted;
		st->frag_dropped = fc->dropped;
		st->frag_pending = ipfrag_pending(e->frag);
	}
	pthread_mutex_unlock(&e->lock);
}
