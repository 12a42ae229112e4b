/*
 * engine_internal.h — state shared by the engine's files (not part of the public API):
 * the keystore, the per-flow connection (both directions' TCP reassembly, record
 * buffers, cipher states, handshake state) and the engine itself.
 *
 * Data path of one direction:
 *   packet.c (link/IP/TCP decode; an IP fragment: engine.c → ipfrag.c, the completed
 *   datagram back through packet.c) → engine.c (flow lookup, roles)
 *   → tcp_stream.c (in-order bytes) → record.c (TLS record framing, decryption)
 *   → handshake.c (handshake messages, key derivation) / app_framing.c (messages)
 *   → tls_callbacks_t.on_message.
 */
#ifndef PTLS_ENGINE_INTERNAL_H
#define PTLS_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <string.h>
#include "tls_engine.h"
#include "cursor.h"
#include "kdf.h"
#include "cipher.h"
#include "keys.h"
#include "keylog.h"
#include "flow.h"
#include "tcp_stream.h"
#include "session_cache.h"
#include "app_framing.h"
#include "clock.h"
#include "dlist.h"
#include "held.h"
#include "starttls.h"
#include "ipfrag.h"

#define PTLS_API __attribute__((visibility("default")))

#define TLS_MAX_RECORD_LEN (16384 + 2048)     /* RFC 5246 §6.2.3 ciphertext bound */
#define TLS_MAX_HANDSHAKE_MSG (256 * 1024)    /* certificate chains stay far below */
#define TLS_MAX_CANDIDATES 8
#define TLS_MAX_PUB 133                       /* uncompressed P-521 point */
#define SCRATCH_LEN (TLS_MAX_RECORD_LEN + 64)
#define PK_SPARE_MAX 8                        /* spare scratch buffers a shard keeps */
#define REC_POOL_MAX 16                       /* empty record buffers a shard keeps for reuse */

/* TLS content types */
enum { CT_CCS = 20, CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPDATA = 23, CT_HEARTBEAT = 24 };
/* handshake types */
enum {
	HS_HELLO_REQUEST = 0, HS_CLIENT_HELLO = 1, HS_SERVER_HELLO = 2, HS_NEW_SESSION_TICKET = 4,
	HS_END_OF_EARLY_DATA = 5, HS_ENCRYPTED_EXTENSIONS = 8, HS_CERTIFICATE = 11,
	HS_SERVER_KEY_EXCHANGE = 12, HS_CERTIFICATE_REQUEST = 13, HS_SERVER_HELLO_DONE = 14,
	HS_CERTIFICATE_VERIFY = 15, HS_CLIENT_KEY_EXCHANGE = 16, HS_FINISHED = 20,
	HS_CERTIFICATE_STATUS = 22, HS_KEY_UPDATE = 24, HS_MESSAGE_HASH = 254
};

struct tls_keystore {
	int refs;                    /* atomic */
	ks_key_t *keys;
	size_t n_keys;
	tls_keylog_t **keylogs;
	size_t n_keylogs;
	tls_keylog_t *feed;          /* the memory-fed key log (also in keylogs[]), or NULL */
};



/* Per-direction state. */
typedef struct tls_dirstate {
	uint8_t *rbuf;               /* partial record bytes (ciphertext) */
	uint8_t *hbuf;               /* partial handshake message bytes (plaintext; freed when empty) */
	uint32_t rlen, rcap;
	uint32_t hlen, hcap;
	tls_cipher_state_t cs;       /* current read state (TLS 1.3: with its traffic secret) */
	held_queue_t *hq;            /* records held back (held.h); allocated while any is held */
	uint64_t msgs, bytes;
	uint32_t prefix_bytes;       /* clear-text bytes skipped before this direction's hello */
	uint16_t skipped;            /* TLS 1.3 records skipped (unreadable handshake epoch; saturates) */
	uint16_t resync_tries;       /* candidate headers tried since the last gap (<= RESYNC_MAX_TRIES + 1) */
	int8_t app_epoch;            /* TLS 1.3: -1 0-RTT early keys, 0 handshake keys, 1 application keys */
	bool cs_active : 1;          /* records are decrypted with cs */
	bool encrypted : 1;          /* peer switched to encryption (CCS, or TLS 1.3 after SH) */
	bool broken : 1;             /* stop processing this direction */
	bool resync : 1;             /* after a gap: search for a record header */
	bool seen_data : 1, seen_record : 1;
	bool hs_resync : 1;          /* after a gap: skip handshake bytes until a message start */
	bool wait_peer : 1;          /* held records wait for the other direction's handshake */
} tls_dirstate_t;

/* Handshake-only state of one TLS connection (tls_conn_t.hs): allocated at the first
 * handshake message (again for a TLS <= 1.2 renegotiation's ClientHello), freed and wiped
 * once the handshake is over and both directions read records under proven keys
 * (hs_maybe_release). Nothing after the handshake reads it: an idle established flow
 * does not pay for randoms, transcript, key shares and intermediate secrets. */
typedef struct tls_hs {
	uint16_t client_version;     /* legacy_version of the ClientHello */
	uint8_t client_random[32], server_random[32];
	uint8_t ch_sid[32], sh_sid[32];
	uint8_t ch_sid_len, sh_sid_len;
	bool ticket_offered;
	bool cert_seen, ske_seen;
	bool transcript_on;
	bool have_master;
	bool cand_done;              /* candidates were computed */
	bool have_hs_secret;
	bool have_ms13;              /* ms13 is the master secret of this handshake */
	bool have_next[2];           /* TLS 1.3 next_secret[dir] is known */
	bool hs_known[2];            /* TLS 1.3 hs_ts[dir] is known */
	uint8_t offered_ticket_hash[32]; /* SHA-256 of the ticket offered in the ClientHello */
	uint8_t new_ticket_hash[32];     /* SHA-256 of the ticket a NewSessionTicket issued */
	tls_transcript_t transcript;
	uint8_t session_hash[TLS_MAX_HASH_LEN];   /* EMS: hash through ClientKeyExchange */
	size_t session_hash_len;
	uint8_t cert_spki[32];
	uint8_t *enc_pms;            /* RSA encrypted pre-master secret */
	size_t enc_pms_len;
	uint16_t ske_group;          /* ECDHE group of ServerKeyExchange / TLS 1.3 key_share */
	/* (EC)DHE public values and the ClientHello's key shares: allocated only when a
	 * static (EC)DHE key is configured (nothing else reads them) */
	uint8_t *srv_pub, *cli_pub;  /* TLS_MAX_PUB bytes each when allocated */
	size_t srv_pub_len, cli_pub_len;
	struct ch_share { uint16_t group; uint8_t pub[TLS_MAX_PUB]; size_t len; } *ch_share;  /* [4] */
	int n_ch_share;
	uint8_t master[48];          /* TLS <= 1.2 master secret */
	/* TLS <= 1.2: read state of each direction for its next ChangeCipherSpec, keyed when
	 * the handshake's master was proven before that CCS was processed (a renegotiation's
	 * next ClientHello may reset the master and randoms before then); the handshake state
	 * is kept until both are taken (hs_maybe_release) */
	tls_cipher_state_t pend[2];
	bool pend_ready[2];
	/* TLS 1.3 schedule */
	uint8_t hs_secret[TLS_MAX_HASH_LEN];     /* handshake secret (static ECDHE path) */
	uint8_t ms13[TLS_MAX_HASH_LEN];          /* master secret */
	uint8_t hs_ts[2][TLS_MAX_HASH_LEN];      /* handshake traffic secret per direction */
	uint8_t next_secret[2][TLS_MAX_HASH_LEN]; /* application traffic secret 0 per direction */
	/* ---- TLS 1.3 resumption (PSK) for sessions decrypted without a key log (issue 9,
	 * handshake.c): the ClientHello's offered identities (SHA-256 of each ticket = the
	 * session-cache id), the ServerHello's choice, the PSK-derived early traffic secret,
	 * with NewSessionTickets that arrived before the resumption secret was known. ---- */
	uint8_t psk_id_hash[2][32];  /* first two offered identities */
	uint8_t n_psk_ids;           /* identities offered (all, not only those kept) */
	uint8_t psk_modes;           /* psk_key_exchange_modes: bit 0 psk_ke, bit 1 psk_dhe_ke */
	bool psk_selected;           /* ServerHello pre_shared_key */
	uint16_t psk_sel_idx;        /* its selected_identity */
	uint8_t early_ts[TLS_MAX_HASH_LEN];  /* client_early_traffic_secret from a cached PSK */
	uint8_t early_ts_hash;       /* tls_hash_t of early_ts (0: none) */
	struct { uint8_t id_hash[32]; uint8_t nonce[32]; uint8_t nonce_len; } nst_pending[2];
	uint8_t n_nst_pending;       /* tickets waiting for res_secret */
} tls_hs_t;

/* Handshake / session state of one TLS connection: what outlives the handshake (reports,
 * the record layer, the cross-direction gate, renegotiation, post-handshake messages). */
typedef struct tls_conn {
	bool ch_seen, sh_seen, hrr_seen, shd_seen, cke_seen;
	bool tls13, resumed, resumed_known, ems, etm, early_data_offered;
	bool hs_gap;                 /* handshake bytes were lost: report "gap", not "wrong_key" */
	bool waiting_gave_up;        /* the key log did not bring the keys in time */
	bool rsa_tried;              /* an RSA key was tried (for wrong_key vs no_key) */
	bool keys_proven;
	bool waiting_keylog;         /* records are held until the key log has our secret */
	bool decrypted;
	/* flight progress the cross-direction gate (hs_gate.c) looks at */
	bool sh_psk;                 /* ServerHello selected a PSK */
	bool early_decided;          /* 0-RTT: EncryptedExtensions (or its absence) said */
	bool srv_fin_seen, cli_fin_seen; /* each side's Finished of the current handshake */
	bool ch_after_hrr;           /* the ClientHello answering a HelloRetryRequest was seen */
	uint16_t version;            /* negotiated */
	uint16_t suite;
	uint8_t key_kind;            /* tls_key_kind_t */
	uint8_t reason;              /* tls_reason_t (the first failure wins: eng_fail) */
	uint32_t ch_count, reply_count; /* ClientHellos / ServerHellos+HRRs processed (renegotiation too) */
	uint8_t n_tickets_seen;      /* NewSessionTickets seen (saturates at 255) */
	const tls_suite_t *cs;       /* NULL if unsupported */
	char *sni;                   /* SNI host name (printable bytes), exact length, or NULL */
	double wait_since;
	tls_hs_t *hs;                /* handshake-only state, NULL outside a handshake */
	uint8_t *res_secret;         /* TLS 1.3 resumption_master_secret (TLS_MAX_HASH_LEN bytes) of a
	                              * session decrypted here without a key log, for the
	                              * NewSessionTickets after the handshake (RFC 8446 §4.6.1), or NULL */
} tls_conn_t;

/* First record a direction holds, or NULL. */
static inline held_rec_t *hq_head(const tls_dirstate_t *d) { return d->hq ? d->hq->head : NULL; }

/* The TLS side of a flow: records, handshake, keys, application framing. A TCP flow gets
 * it only once its server has sent something, or its client more than one small flight
 * (a half-open flow, e.g. a ClientHello flood, costs only the TCP core and those bytes). */
typedef struct flow_tls {
	tls_dirstate_t d[2];
	tls_conn_t conn;
	app_framing_t app;
	uint64_t hold_seq;           /* arrival counter of held records (both directions) */
	uint64_t replay_seq;         /* seq of the held record being replayed (0: none) */
	dlink_t cipher_link;         /* on eng->cipher_lru while cipher handles may be open */
} flow_tls_t;

/* A flow's timers (engine time; O(1) insertion/removal through the links), allocated while
 * the flow is on one of the shard's timer lists (engine.c): most flows never are, and an
 * idle flow should cost little (issue 11). */
typedef struct flow_timers {
	struct flow *f;
	dlink_t wait_link;           /* on eng->waiting: records held for key-log keys */
	double wait_deadline;        /* give up waiting at this engine time */
	uint64_t wait_gen;           /* key-log generation of the last lookup */
	dlink_t close_link;          /* on eng->closing (accepted RST) or eng->timewait (lingering) */
	double close_at;
} flow_timers_t;

typedef struct flow {
	flow_node_t node;            /* must be first; node.key holds both endpoints */
	uint64_t id;
	struct tls_engine *eng;
	tcp_stream_t tcp[2];         /* TCP reassembly per direction (TLS_DIR_C2S, TLS_DIR_S2C) */
	struct flow_tls *t;          /* TLS state, allocated when the flow needs it (below) */
	double seg_ts[2];            /* capture time of the direction's latest segment (while a held
	                              * record is replayed: of that record) */
	uint8_t *pre;                /* client bytes before the server spoke, not parsed yet */
	struct flow_timers *tm;      /* the flow's timers while it is on a timer list, else NULL */
	uint32_t pre_len;
	uint32_t syn_seq;
	uint8_t client_idx;          /* node.key endpoint (0 or 1) that is the client */
	uint8_t last_rep_reason;     /* tls_reason_t of the last report */
	bool roles_known;            /* from SYN or ClientHello */
	bool any_payload, not_tls, ended;
	bool finished;               /* session reported and freed; the TCP core lingers (TIME_WAIT) */
	bool lingering;
	bool reported_any;
	bool last_rep_decrypted;
	bool last_rep_valid;
	int8_t rst_dir;              /* direction whose RST is pending (-1 none) */
	bool syn_pending;            /* a SYN outside the sequence space: new connection if answered */
	bool in_retry, retry_again;  /* held-record replay running (no recursion) / to run again */
	bool syn_from_client;
	bool busy;                   /* a public-key operation of this flow runs without the shard
	                              * lock (pk_unlocked.c): nobody else touches or frees it */
} flow_t;

/* The flow's endpoints with their roles (built from the flow key: not stored twice). */
static inline void flow_endpoints(const flow_t *f, tls_endpoints_t *ep)
{
	const flow_key_t *k = &f->node.key;
	int c = f->client_idx;
	ep->family = k->family;
	memcpy(ep->client_ip, k->ip[c], sizeof ep->client_ip);
	memcpy(ep->server_ip, k->ip[1 - c], sizeof ep->server_ip);
	ep->client_port = k->port[c];
	ep->server_port = k->port[1 - c];
}
static inline uint16_t flow_server_port(const flow_t *f) { return f->node.key.port[1 - f->client_idx]; }

/* What the shards of one engine share (shards.c owns it). */
typedef struct shard_shared {
	_Atomic uint64_t *next_flow_id; /* flow ids unique across shards */
	session_cache_t *cache;         /* one resumption cache (internally locked) */
	unsigned nshards;               /* >1: a resumed session may wait for another shard's entry */
} shard_shared_t;

/* One shard of the engine (engine.c); the public tls_engine_t is shards.c's front. */
struct tls_engine {
	pthread_mutex_t lock;
	shard_shared_t shared;
	tls_engine_config_t cfg;
	uint16_t ports[64];
	tls_callbacks_t cb;
	tls_keystore_t **stores;
	size_t n_stores;
	flow_table_t table;
	uint64_t buffered;           /* bytes held across flows (reassembly, records, messages) */
	tcp_limits_t tcp_lim;
	tcp_counters_t tcp_cnt;
	session_cache_t *cache;
	tls_engine_stats_t st;
	eng_clock_t clock;           /* the one owner of time (clock.h) */
	double now;                  /* == clock.now, engine time of the packet being processed */
	dlist_t waiting;             /* flows waiting for key-log keys, by deadline */
	dlist_t closing;             /* flows with an accepted RST, by close time */
	dlist_t timewait;            /* closed flows absorbing stale segments, by expiry */
	dlink_t *retry_cursor;       /* next waiting flow to retry after the key log grew */
	uint64_t keylog_gen;         /* sum of the key logs' generations at the last check */
	double last_keylog_check;
	bool keylog_due;             /* a key-log re-read is due (done unlocked before the next packet) */
	uint64_t rst_ignored, syn_ignored; /* stray resets / SYNs counted and ignored */
	app_ws_counters_t ws;              /* WebSocket counters of all flows (app_env.ws_total) */
	app_framing_env_t app_env;         /* what every flow's framer shares: e->buffered, the bound, ws */
	uint64_t lingering;          /* closed flows kept for TIME_WAIT (not active) */
	hold_pool_t hold_pool;       /* chunks for held records, reused across flows */
	dlist_t cipher_lru;          /* flows with open cipher handles, least recently used first */
	uint8_t *rbuf_pool[REC_POOL_MAX]; /* empty full-size record buffers (record.c), reused across flows */
	unsigned n_rbuf_pool;
	ipfrag_t *frag;              /* IP fragment reassembly (NULL: frag-max-datagrams 0) */
	/* log rate limiting */
	double log_window_start;
	unsigned log_in_window;
	uint64_t log_suppressed;
	/* public-key operations outside the lock (pk_unlocked.c) */
	pthread_cond_t busy_cv;      /* signalled when a flow stops being busy */
	unsigned n_busy;             /* flows whose public-key operation runs unlocked */
	bool pk_unlock_ok;           /* the lock holder is in a section that may release it */
	uint8_t *scratch_spare[PK_SPARE_MAX]; /* scratch buffers handed back by busy flows */
	unsigned n_scratch_spare;
	/* scratch (no per-packet allocation): SCRATCH_LEN bytes; a flow whose public-key
	 * operation runs unlocked takes it along and leaves a spare here */
	uint8_t *scratch;
};

/* ---- log.c ---- */
/* One diagnostic line to on_log (levels 3 err, 4 warn rate-limited; 6/7 not). */
void eng_log(struct tls_engine *e, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- sink.c ---- */
/* Report the session status to on_session if it changed (or always when final). */
void eng_report_session(struct tls_engine *e, flow_t *f, bool final);
/* Deliver one application message of flow f (ctx) to on_message (app_emit_fn). */
void eng_emit_message(void *ctx, int dir, tls_app_t app, const uint8_t *data, size_t len, bool keepalive);

/* Mark the session as failed with reason r (the first reason wins). */
static inline void eng_fail(flow_t *f, tls_reason_t r)
{
	if (f->t->conn.reason == TLS_REASON_NONE) f->t->conn.reason = (uint8_t)r;
}

/* ---- engine.c: one shard (shards.c calls these; each takes the shard's lock) ---- */
/* Sum of the generations of every key log of the engine's keystores. */
uint64_t eng_keylog_generation(struct tls_engine *e);
/* A shard with cfg's bounds (already divided by the front), ref'ing the keystores. */
struct tls_engine *shard_new(const tls_engine_config_t *cfg, tls_keystore_t *const *stores,
                             size_t nstores, const tls_callbacks_t *cb, const shard_shared_t *sh);
/* One decoded TCP segment of a flow that belongs to this shard. */
int shard_feed_tcp(struct tls_engine *e, const tls_tcp_segment_t *seg, double ts);
/* One IP fragment whose address pair belongs to this shard (its reassembler). */
int shard_feed_fragment(struct tls_engine *e, const ipfrag_in_t *fr, double ts);
/* Timers and flow-timeout eviction at capture time now (all: end every flow). With
 * try_only, does nothing when another thread holds the shard. */
void shard_expire(struct tls_engine *e, double now, bool all, bool try_only);
/* Retry waiting sessions if the key logs (already refreshed by the caller) grew; the
 * number still waiting. */
size_t shard_wait_keys(struct tls_engine *e);
/* End of input: finish every flow (the caller refreshed the key logs). */
void shard_flush(struct tls_engine *e);
/* Flush, then free the shard (not the shared state). */
void shard_free(struct tls_engine *e);
/* The shard's counters (key-log counters are the front's). */
void shard_get_stats(struct tls_engine *e, tls_engine_stats_t *st);

/* ---- pk_unlocked.c: public-key operations without the shard lock ---- */
/* RSA-decrypt a pre-master secret (keys_rsa_decrypt_pms) for flow f; when the shard lock
 * may be released here (e->pk_unlock_ok, set by the engine around a packet's delivery)
 * the operation runs unlocked while f is busy. Called with the lock held; returns with it
 * held. 0 and pms set, or -1. */
int pk_rsa_decrypt(flow_t *f, const ks_key_t *k, const uint8_t *enc, size_t len, uint8_t pms[48]);
/* The same for a static-key (EC)DH agreement (keys_ecdh): the shared secret's length, 0 on
 * failure. */
size_t pk_ecdh(flow_t *f, const ks_key_t *k, const uint8_t *pub, size_t publen, uint8_t *z, size_t cap);
/* Lock held: wait until flow f (a pointer that may be stale afterwards) is not busy.
 * Returns true when it had to wait (the caller looks the flow up again). */
bool pk_wait_flow(struct tls_engine *e, const flow_t *f);
/* Lock held: wait until no flow of the shard is busy (end of input, free). */
void pk_wait_all(struct tls_engine *e);
/* Free the shard's spare scratch buffers (shard_free). */
void pk_free_spares(struct tls_engine *e);
/* Test hook: called (with its argument) while an RSA operation runs unlocked. */
extern void (*pk_unlocked_hook)(void *arg);
extern void *pk_unlocked_hook_arg;

/* ---- record.c ---- */
/* In-order TCP bytes of direction dir (data NULL: gap of len bytes). */
void rec_stream_data(flow_t *f, int dir, const uint8_t *data, size_t len);
/* Process one complete record (fragment is modifiable). */
void rec_process(flow_t *f, int dir, uint8_t type, uint16_t version, uint8_t *frag, size_t len, bool from_held);
/* Try again to process held records (keys may have become available). */
void rec_retry_held(flow_t *f, bool final);
/* Drop held records (accounting). */
void rec_drop_held(flow_t *f, int dir);
/* The flow's TCP streams ended but it waits (for key-log keys): give back empty buffers. */
void rec_compact(flow_t *f);
/* Free per-direction buffers. */
void rec_dir_free(struct tls_engine *e, tls_dirstate_t *d);
/* Flow f used its cipher handles: it becomes the most recently used flow of the shard;
 * beyond cfg.max_open_ciphers flows the least recently used one's handles are parked
 * (tls_cipher_park: compact keys kept, reopened by its next record). */
void rec_cipher_touch(flow_t *f);
/* f's TLS state is being freed: take it off the shard's list. */
void rec_cipher_forget(struct tls_engine *e, flow_t *f);
/* Free the shard's pool of empty record buffers. */
void rec_pool_free(struct tls_engine *e);

/* ---- handshake.c ---- */
/* Plaintext handshake bytes of direction dir (may hold partial / several messages). */
void hs_data(flow_t *f, int dir, const uint8_t *data, size_t len);
/* A ChangeCipherSpec arrived in direction dir (TLS <= 1.2). */
void hs_ccs(flow_t *f, int dir);
/* The first encrypted record of direction dir arrived and keys are not proven: compute
 * candidates and find the one that authenticates `rec` (a copy is used for trials).
 * Returns 1 if dir's cipher state is now active (the record must then be decrypted
 * normally), 0 if no key yet but one may come (hold), -1 if the session cannot be decrypted. */
int hs_prove_keys(flow_t *f, int dir, uint8_t type, uint16_t version, const uint8_t *frag, size_t len);
/* TLS 1.3: set up dir's cipher state for the next epoch if the secret is known. */
int hs13_next_epoch(flow_t *f, int dir);
/* 0-RTT was accepted or rejected by the server: rejected early data is never emitted. */
void hs_early_decide(flow_t *f, bool accepted);
/* An SSLv2-format ClientHello (msg: msg_type .. challenge, sslv2.h) opened direction c2s. */
void hs_sslv2_hello(flow_t *f, const uint8_t *msg, size_t len);

/* ---- hs_gate.c ---- */
/* May a record of direction dir be processed now, or does it depend on a handshake
 * message of the other direction that the capture has not delivered yet (reply captured
 * before its request)? `hs_partial`: the record continues a buffered handshake message. */
bool hs_gate_wait(const flow_t *f, int dir, uint8_t type, const uint8_t *frag, size_t len);
/* Same for a decrypted handshake record (TLS <= 1.2 renegotiation is encrypted). */
bool hs_gate_wait_plain(const flow_t *f, int dir, const uint8_t *frag, size_t len);

/* ---- hs_common.c ---- */
/* Free the connection state (wiped), handshake state included. */
void hs_conn_free(tls_conn_t *c);

/* ---- packet.c ---- */
/* Decode an IP packet / a link-layer frame to its TCP segment (pointers into the input):
 * 1 segment, 0 not TCP over IP, -1 malformed (each counted in *st); 2 an IP fragment of a
 * datagram that may carry TCP, described in *fr (only when fr is non-NULL; with fr NULL a
 * fragment is counted as not TCP and 0 returned). */
int pkt_decode_ip(tls_engine_stats_t *st, const uint8_t *ip, size_t len, tls_tcp_segment_t *seg, ipfrag_in_t *fr);
int pkt_decode_frame(tls_engine_stats_t *st, int dlt, const uint8_t *frame, size_t caplen, tls_tcp_segment_t *seg,
                     ipfrag_in_t *fr);

#endif
