/*
 * shards.c — the engine's public face (tls_engine.h): an engine is N independent shards
 * (engine.c), each with its own lock, flow table, timers, clock and bounds (the
 * configured bounds divided by N). A frame is decoded here, outside every lock, and
 * handed to the shard chosen by a keyed hash of its unordered IP address pair, so the
 * threads that feed one engine (captagent's capture threads, captls --threads workers)
 * wait only for the threads working on the same shard.
 *
 * Why the address pair and not the 5-tuple: every connection between two hosts lands on
 * the same shard, so a session resumed on a new connection (same client, new port) is
 * decided by the same thread after the session that issued it, exactly as with one shard
 * — multi-threaded output stays identical to single-threaded output, resumption
 * included. The spread comes from the many hosts a capture point sees (phones, trunks,
 * browsers). The resumption cache is shared anyway (internally locked), for clients that
 * come back from a new address.
 *
 * What the shards share is read-mostly and has its own locks: the keystores (key logs
 * lock themselves), the resumption cache, the flow id counter. Key logs are re-read here,
 * once, not once per shard, when a front end waits for keys or flushes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <gcrypt.h>
#include "engine_internal.h"

#define SHARDS_MAX 256
#define HOUSEKEEP_EVERY 64   /* packets between timer runs on a shard that got no packet */

struct tls_shards {
	tls_engine_config_t cfg;
	uint16_t ports[64];
	tls_keystore_t **stores;
	size_t n_stores;
	unsigned n;
	struct tls_engine **sh;
	uint64_t seed[2];
	_Atomic uint64_t next_flow_id;
	session_cache_t *cache;
	/* frames that reached no shard (not TCP/IP, malformed) */
	_Atomic uint64_t packets, malformed, non_tcp;
	_Atomic unsigned rr;
};

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
	c->max_cleartext_prefix = 16384;
	c->shards = 1;
	c->max_open_ciphers = 1024;
	c->frag_max_datagrams = 64;
	c->frag_max_bytes = 1024 * 1024;
	c->frag_timeout = 30;
}

PTLS_API tls_engine_t *tls_engine_new(const tls_engine_config_t *cfg, tls_keystore_t *const *stores,
                                      size_t nstores, const tls_callbacks_t *cb)
{
	if (tls_engine_global_init() != 0) return NULL;
	tls_engine_t *e = calloc(1, sizeof *e);
	if (!e) return NULL;
	if (cfg) e->cfg = *cfg; else tls_engine_config_defaults(&e->cfg);
	if (e->cfg.n_tls_ports > 64) e->cfg.n_tls_ports = 64;
	for (size_t i = 0; i < e->cfg.n_tls_ports; i++) e->ports[i] = e->cfg.tls_ports[i];
	e->cfg.tls_ports = e->ports;
	e->n = e->cfg.shards ? e->cfg.shards : 1;
	if (e->n > SHARDS_MAX) e->n = SHARDS_MAX;
	e->cfg.shards = e->n;
	atomic_init(&e->next_flow_id, 1);
	flow_random_seed(e->seed, sizeof e->seed);
	e->cache = session_cache_new(e->cfg.session_cache_size);
	e->sh = calloc(e->n, sizeof *e->sh);
	e->stores = nstores ? calloc(nstores, sizeof *e->stores) : NULL;
	if (!e->cache || !e->sh || (nstores && !e->stores)) goto fail;
	for (size_t i = 0; i < nstores; i++) {
		if (!stores[i]) continue;
		tls_keystore_ref(stores[i]);
		e->stores[e->n_stores++] = stores[i];
	}
	/* each shard gets its share of the global bounds; per-flow bounds stay as they are */
	tls_engine_config_t sc = e->cfg;
	sc.max_flows = (uint32_t)((e->cfg.max_flows + e->n - 1) / e->n);
	sc.max_total_buffer = (e->cfg.max_total_buffer + e->n - 1) / e->n;
	sc.frag_max_datagrams = (e->cfg.frag_max_datagrams + e->n - 1) / e->n;
	sc.frag_max_bytes = (e->cfg.frag_max_bytes + e->n - 1) / e->n;
	sc.max_open_ciphers = ((e->cfg.max_open_ciphers ? e->cfg.max_open_ciphers : 1024) + e->n - 1) / e->n;
	shard_shared_t shared = { &e->next_flow_id, e->cache, e->n };
	for (unsigned i = 0; i < e->n; i++)
		if (!(e->sh[i] = shard_new(&sc, e->stores, e->n_stores, cb, &shared))) goto fail;
	return e;
fail:
	tls_engine_free(e);
	return NULL;
}

/* The shard of an address pair: keyed hash of the unordered pair (a segment and every
 * IP fragment between the same two hosts land on the same shard). */
static unsigned pair_index(const tls_engine_t *e, int family, const uint8_t *src, const uint8_t *dst)
{
	if (e->n == 1) return 0;
	flow_key_t k;
	bool swapped;
	flow_key_make(&k, family, src, 0, dst, 0, &swapped);
	return (unsigned)(flow_key_hash(e->seed, &k) % e->n);
}

static unsigned shard_index(const tls_engine_t *e, const tls_tcp_segment_t *seg)
{
	return pair_index(e, seg->family, seg->src_ip, seg->dst_ip);
}

/* Packets this thread fed (to any engine): the cadence of housekeep_other, counted per
 * thread because a counter shared by the feeding threads was a cache line bouncing
 * between cores on every packet. */
static _Thread_local unsigned tl_fed;

/* A shard that got no packet for a while still runs its timers (waiting sessions, closed
 * connections, idle flows): every HOUSEKEEP_EVERY packets a thread feeds, one shard, in
 * turn, if free. */
static void housekeep_other(tls_engine_t *e, double ts)
{
	if (e->n == 1 || (tl_fed++ % HOUSEKEEP_EVERY) != 0) return;
	unsigned k = atomic_fetch_add(&e->rr, 1) % e->n;
	shard_expire(e->sh[k], ts, false, true);
}

/* A frame that reached no shard: counted here. */
static int count_unrouted(tls_engine_t *e, int rc, const tls_engine_stats_t *tmp)
{
	atomic_fetch_add(&e->packets, 1);
	if (tmp->packets_malformed) atomic_fetch_add(&e->malformed, 1);
	if (tmp->packets_non_tcp) atomic_fetch_add(&e->non_tcp, 1);
	return rc < 0 ? -1 : 0;
}

PTLS_API int tls_engine_feed_tcp(tls_engine_t *e, const tls_tcp_segment_t *seg, double ts)
{
	if (!e || !seg) return -1;
	int rc = shard_feed_tcp(e->sh[shard_index(e, seg)], seg, ts);
	housekeep_other(e, ts);
	return rc;
}

/* After decoding: a segment goes to its flow's shard, a fragment to the reassembler of
 * its address pair's shard, anything else is counted here. */
static int feed_decoded(tls_engine_t *e, int rc, const tls_engine_stats_t *tmp, const tls_tcp_segment_t *seg,
                        const ipfrag_in_t *fr, double ts)
{
	if (rc == 1) return tls_engine_feed_tcp(e, seg, ts);
	if (rc != 2) return count_unrouted(e, rc, tmp);
	int r = shard_feed_fragment(e->sh[pair_index(e, fr->family, fr->src, fr->dst)], fr, ts);
	housekeep_other(e, ts);
	return r;
}

PTLS_API int tls_engine_feed_ip(tls_engine_t *e, const uint8_t *ip, size_t len, double ts)
{
	if (!e || !ip) return -1;
	tls_engine_stats_t tmp;             /* the decoder touches only these two counters */
	tmp.packets_malformed = tmp.packets_non_tcp = 0;
	tls_tcp_segment_t seg;
	ipfrag_in_t fr;
	int rc = pkt_decode_ip(&tmp, ip, len, &seg, e->cfg.frag_max_datagrams ? &fr : NULL);
	return feed_decoded(e, rc, &tmp, &seg, &fr, ts);
}

PTLS_API int tls_engine_feed_frame(tls_engine_t *e, int dlt, const uint8_t *frame, size_t caplen, double ts)
{
	if (!e || !frame) return -1;
	tls_engine_stats_t tmp;
	tmp.packets_malformed = tmp.packets_non_tcp = 0;
	tls_tcp_segment_t seg;
	ipfrag_in_t fr;
	int rc = pkt_decode_frame(&tmp, dlt, frame, caplen, &seg, e->cfg.frag_max_datagrams ? &fr : NULL);
	return feed_decoded(e, rc, &tmp, &seg, &fr, ts);
}

PTLS_API unsigned tls_engine_shards(const tls_engine_t *e)
{
	return e ? e->n : 0;
}

PTLS_API int tls_engine_frame_shard(const tls_engine_t *e, int dlt, const uint8_t *frame, size_t caplen)
{
	if (!e || !frame) return -1;
	tls_engine_stats_t tmp;
	tmp.packets_malformed = tmp.packets_non_tcp = 0;
	tls_tcp_segment_t seg;
	ipfrag_in_t fr;
	int rc = pkt_decode_frame(&tmp, dlt, frame, caplen, &seg, e->cfg.frag_max_datagrams ? &fr : NULL);
	if (rc == 1) return (int)shard_index(e, &seg);
	if (rc == 2) return (int)pair_index(e, fr.family, fr.src, fr.dst);
	return -1;
}

PTLS_API void tls_engine_expire(tls_engine_t *e, double now, bool all)
{
	if (!e) return;
	for (unsigned i = 0; i < e->n; i++) shard_expire(e->sh[i], now, all, false);
}

/* Read every key log now (not throttled). */
static void refresh_keylogs(tls_engine_t *e)
{
	for (size_t s = 0; s < e->n_stores; s++)
		for (size_t i = 0; i < e->stores[s]->n_keylogs; i++)
			tls_keylog_refresh(e->stores[s]->keylogs[i]);
}

PTLS_API size_t tls_engine_wait_keys(tls_engine_t *e)
{
	if (!e) return 0;
	refresh_keylogs(e);
	size_t n = 0;
	for (unsigned i = 0; i < e->n; i++) n += shard_wait_keys(e->sh[i]);
	return n;
}

PTLS_API void tls_engine_flush(tls_engine_t *e)
{
	if (!e) return;
	refresh_keylogs(e);      /* end of input: the key logs get one last, unthrottled read */
	for (unsigned i = 0; i < e->n; i++)
		if (e->sh[i]) shard_flush(e->sh[i]);
}

PTLS_API void tls_engine_free(tls_engine_t *e)
{
	if (!e) return;
	if (e->sh) {
		tls_engine_flush(e);
		for (unsigned i = 0; i < e->n; i++) shard_free(e->sh[i]);
		free(e->sh);
	}
	for (size_t i = 0; i < e->n_stores; i++) tls_keystore_unref(e->stores[i]);
	free(e->stores);
	session_cache_free(e->cache);
	free(e);
}

/* tls_engine_stats_t is counters only: shards are summed field by field. */
_Static_assert(sizeof(tls_engine_stats_t) % sizeof(uint64_t) == 0, "stats are uint64_t counters");
#define STATS_WORDS (sizeof(tls_engine_stats_t) / sizeof(uint64_t))

PTLS_API void tls_engine_get_stats(tls_engine_t *e, tls_engine_stats_t *st)
{
	if (!e || !st) return;
	uint64_t sum[STATS_WORDS], one[STATS_WORDS];
	memset(sum, 0, sizeof sum);
	for (unsigned i = 0; i < e->n; i++) {
		tls_engine_stats_t s;
		shard_get_stats(e->sh[i], &s);
		memcpy(one, &s, sizeof one);
		for (size_t w = 0; w < STATS_WORDS; w++) sum[w] += one[w];
	}
	memcpy(st, sum, sizeof *st);
	st->packets += atomic_load(&e->packets);
	st->packets_malformed += atomic_load(&e->malformed);
	st->packets_non_tcp += atomic_load(&e->non_tcp);
	uint64_t l = 0, m = 0;
	for (size_t s = 0; s < e->n_stores; s++)
		for (size_t i = 0; i < e->stores[s]->n_keylogs; i++) {
			uint64_t a, b;
			tls_keylog_counters(e->stores[s]->keylogs[i], &a, &b);
			l += a; m += b;
		}
	st->keylog_lines = l;
	st->keylog_malformed = m;
}
