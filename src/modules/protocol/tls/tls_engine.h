/*
 * tls_engine.h — the one public API of the protocol_tls decryption engine.
 *
 * The engine turns captured packets of TLS-over-TCP sessions into the plaintext
 * application messages (SIP, HTTP/1.x, else raw chunks) each peer sent, in stream order,
 * exactly once. It has no captagent dependency: the captagent module (protocol_tls.c)
 * and the CLI (captls) are thin translators over this header.
 *
 * Threading: one engine may be fed from several threads; calls are serialized by an
 * internal lock and callbacks run on the feeding thread with that lock held (a callback
 * must not call back into the same engine). A keystore is read-only after loading except
 * for its key logs, each with its own lock (a memory-fed one may be fed from another
 * thread: tls_keystore_feed_keylog), and may be shared by several engines.
 */
#ifndef PTLS_TLS_ENGINE_H
#define PTLS_TLS_ENGINE_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tls_shards tls_engine_t;
typedef struct tls_keystore tls_keystore_t;

/* ---- key material ---- */

/* Create an empty keystore (refcount 1). NULL on allocation failure. */
tls_keystore_t *tls_keystore_new(void);
/* Take / drop a reference. The last unref wipes and frees all key material. */
void tls_keystore_ref(tls_keystore_t *ks);
void tls_keystore_unref(tls_keystore_t *ks);

/* Load a server private key file (RSA PKCS#1/PKCS#8, EC P-256/P-384, X25519; PEM or DER;
 * optionally encrypted with `password`). `server` (NULL, "ip", "ip:port", ":port", "[v6]:port")
 * and `sni` (NULL or exact host name) restrict which sessions the key is tried on.
 * Returns 0, or -1 with a one-line reason in err (never containing key bytes). A key file
 * readable by group/other adds a warning to `warn` (if non-NULL) but still loads. */
int tls_keystore_add_key_file(tls_keystore_t *ks, const char *path, const char *password,
                              const char *server, const char *sni,
                              char *err, size_t errlen, char *warn, size_t warnlen);

/* Attach an NSS key log file (SSLKEYLOGFILE format). The file need not exist yet; it is
 * followed as it grows (re-read incrementally whenever a session needs a key it does not
 * know). `max_entries` bounds the secrets kept (oldest dropped). Returns 0 or -1 + err. */
int tls_keystore_add_keylog(tls_keystore_t *ks, const char *path, size_t max_entries,
                            char *err, size_t errlen);

/* Attach a key log with no file, fed from memory by tls_keystore_feed_keylog (e.g. the
 * UDP key-log listener). Counts as a key log: (EC)DHE / TLS 1.3 sessions wait for it like
 * for a file. At most one per keystore (a second call returns 0 and changes nothing).
 * `max_entries` bounds the secrets kept (0 = default 100000). Returns 0 or -1 + err. */
int tls_keystore_add_keylog_feed(tls_keystore_t *ks, size_t max_entries, char *err, size_t errlen);

/* What one tls_keystore_feed_keylog call found. */
typedef struct tls_keylog_feed_result {
	uint32_t added;       /* new secrets */
	uint32_t lines;       /* lines parsed into secrets (new or replaced) */
	uint32_t malformed;   /* known label with bad fields, or an over-long line */
	uint32_t ignored;     /* other non-blank lines (unknown labels, comments) */
} tls_keylog_feed_result_t;

/* Feed key-log text (one NSS line with or without newline, or several lines) into the
 * keystore's memory-fed key log. Thread-safe: may run in another thread while engines
 * use the keystore; waiting sessions are retried by their engine (per packet, or by
 * tls_engine_wait_keys). Secrets are never logged. Returns 0, or -1 when the keystore
 * has no memory-fed key log (r, if non-NULL, is zeroed then). */
int tls_keystore_feed_keylog(tls_keystore_t *ks, const uint8_t *data, size_t len,
                             tls_keylog_feed_result_t *r);

/* ---- what the engine reports ---- */

typedef enum tls_dir { TLS_DIR_C2S = 0, TLS_DIR_S2C = 1 } tls_dir_t;
typedef enum tls_app { TLS_APP_RAW = 0, TLS_APP_SIP = 1, TLS_APP_HTTP = 2 } tls_app_t;

/* Stable reason codes for sessions that were not (fully) decrypted. */
typedef enum tls_reason {
	TLS_REASON_NONE = 0,
	TLS_REASON_NO_KEY,            /* RSA key exchange but no key configured/matching */
	TLS_REASON_PFS_NO_KEYLOG,     /* (EC)DHE, PSK, SRP or TLS 1.3 and no key log entry / static key: only a key log can help */
	TLS_REASON_HANDSHAKE_MISSED,  /* capture started after the handshake */
	TLS_REASON_WRONG_KEY,         /* a key was tried but Finished did not authenticate */
	TLS_REASON_UNSUPPORTED_SUITE, /* negotiated suite the engine cannot decrypt (export, ARIA without libgcrypt 1.11) */
	TLS_REASON_RESUMPTION_MISS,   /* resumed session whose master secret is unknown */
	TLS_REASON_TRUNCATED,         /* flow ended (or was evicted) mid-handshake */
	TLS_REASON_DECRYPT_ERROR,     /* record failed authentication after keys were proven */
	TLS_REASON_NOT_TLS,           /* traffic on the flow is not TLS */
	TLS_REASON_GAP,               /* TCP data missing (lost segments) broke the stream */
	TLS_REASON_STATIC_KEY_MISMATCH, /* server ephemeral public key differs from configured static key */
	TLS_REASON_UNSUPPORTED_VERSION, /* ServerHello chose a version the engine does not decrypt (TLS 1.3 drafts 0x7fxx / 0xfb1a, DTLS, unknown) */
	TLS_REASON__COUNT
} tls_reason_t;

/* Stable lowercase code for a reason ("no_key", ...), "none" for TLS_REASON_NONE. */
const char *tls_reason_name(tls_reason_t r);

typedef enum tls_key_kind {
	TLS_KEY_NONE = 0, TLS_KEY_RSA, TLS_KEY_ECDHE_STATIC, TLS_KEY_KEYLOG, TLS_KEY_RESUMPTION
} tls_key_kind_t;
/* "rsa", "ecdhe-static", "keylog", "resumption", or NULL for TLS_KEY_NONE. */
const char *tls_key_kind_name(tls_key_kind_t k);

/* Network endpoints of a flow (client/server roles once known; else first-seen src = client). */
typedef struct tls_endpoints {
	int family;                 /* AF_INET or AF_INET6 */
	uint8_t client_ip[16], server_ip[16];   /* network order; v4 uses the first 4 bytes */
	uint16_t client_port, server_port;      /* host order */
} tls_endpoints_t;

typedef struct tls_message {
	uint64_t flow_id;
	const tls_endpoints_t *ep;
	tls_dir_t dir;
	tls_app_t app;
	uint16_t tls_version;       /* wire value, e.g. 0x0303 */
	uint16_t suite;             /* IANA cipher suite id */
	const uint8_t *data;        /* plaintext; valid only during the callback */
	size_t len;
	double ts;                  /* capture time (s) of the packet that completed it */
	bool keepalive;             /* SIP CRLF keep-alive (raw bytes kept for stream fidelity) */
} tls_message_t;

typedef struct tls_session_info {
	uint64_t flow_id;
	const tls_endpoints_t *ep;
	uint16_t tls_version;       /* 0 if unknown */
	uint16_t suite;             /* 0 if unknown */
	const char *sni;            /* NULL if none */
	bool resumed, ems, etm;
	tls_key_kind_t key;
	bool decrypted;             /* keys proven and application data decrypted/decryptable */
	tls_reason_t reason;
	bool final;                 /* the flow ended: this is the session's last report */
	uint64_t msgs[2], bytes[2]; /* messages / plaintext bytes delivered per direction */
	/* TCP bytes the peers exchanged that the capture lacks, per direction: holes declared
	 * lost (gaps) and their size. A decrypted session with loss has reason "gap". */
	uint64_t gaps[2], lost_bytes[2];
} tls_session_info_t;
#define TLS_SESSION_HAS_LOSS 1

typedef struct tls_callbacks {
	/* Every complete application message, in stream order, exactly once. */
	void (*on_message)(void *user, const tls_message_t *m);
	/* A session's status became known or changed; always called once with final=true
	 * when the flow ends (FIN/RST, eviction, or tls_engine_flush at end of input). */
	void (*on_session)(void *user, const tls_session_info_t *s);
	/* Rate-limited diagnostic lines (never contain secrets); may be NULL. level: 3 err, 4 warn, 6 info, 7 debug */
	void (*on_log)(void *user, int level, const char *line);
	void *user;
} tls_callbacks_t;

/* ---- engine ---- */

typedef struct tls_engine_config {
	uint32_t flow_timeout;          /* s of capture-time inactivity before eviction (default 180) */
	uint32_t max_flows;             /* flow table bound (default 65536) */
	uint32_t max_reasm_bytes;       /* out-of-order bytes held per direction (default 256 KiB) */
	uint32_t max_reasm_segments;    /* out-of-order segments held per direction (default 256) */
	uint64_t max_total_buffer;      /* all buffered bytes across flows (default 256 MiB) */
	uint32_t max_message;           /* largest app message assembled (default 1 MiB), then raw */
	uint32_t max_held_records;      /* bytes of records held per flow awaiting a key-log key (default 1 MiB) */
	uint32_t keylog_wait;           /* s of capture time to wait for a key-log key (default 10) */
	uint32_t session_cache_size;    /* resumption entries (default 10000) */
	uint16_t *tls_ports;            /* optional: only treat these TCP ports as TLS servers (NULL: any) */
	size_t n_tls_ports;
	bool emit_handshake_only_sessions; /* report sessions with no data (default true) */
	uint32_t max_cleartext_prefix;  /* clear-text bytes skipped per direction before its hello
	                                 * (STARTTLS, PostgreSQL, ...) (default 16 KiB; 0: none) */
	uint32_t shards;                /* independent shards, each with its own lock, flows, timers
	                                 * and 1/shards of max_flows and max_total_buffer; a flow's
	                                 * shard is chosen by its address pair (default 1) */
	/* IP fragment reassembly (ipfrag.h): pending datagrams (default 64, 0: fragments are
	 * ignored), fragment bytes held (default 1 MiB), s a datagram may stay incomplete (30) */
	uint32_t frag_max_datagrams;
	uint32_t frag_max_bytes;
	uint32_t frag_timeout;
	uint32_t max_open_ciphers;      /* flows whose libgcrypt cipher handles stay open (default
	                                 * 1024, split across shards); the least recently used
	                                 * beyond it keep only compact keys and reopen on their
	                                 * next record (0: the default) */
} tls_engine_config_t;

/* Fill cfg with defaults. */
void tls_engine_config_defaults(tls_engine_config_t *cfg);

/* Create an engine over `nstores` keystores (each is ref'd). NULL on failure. */
tls_engine_t *tls_engine_new(const tls_engine_config_t *cfg, tls_keystore_t *const *stores,
                             size_t nstores, const tls_callbacks_t *cb);
/* Flush (final session reports) and free everything; secrets are wiped. */
void tls_engine_free(tls_engine_t *e);

/* Link-layer types accepted by tls_engine_feed_frame (pcap DLT values). */
enum { TLS_DLT_NULL = 0, TLS_DLT_EN10MB = 1, TLS_DLT_RAW = 101, TLS_DLT_LOOP = 108,
       TLS_DLT_LINUX_SLL = 113, TLS_DLT_IPV4 = 228, TLS_DLT_IPV6 = 229, TLS_DLT_LINUX_SLL2 = 276 };

/* Feed one captured frame of link type `dlt` (see enum; raw IP also as 12/14 per libpcap).
 * Non-IP/non-TCP frames are counted and ignored; IPv4/IPv6 fragments are held until their
 * datagram is complete (frag_* config and stats). Returns 0, or -1 if the frame was
 * malformed (counted). Never crashes on any input. */
int tls_engine_feed_frame(tls_engine_t *e, int dlt, const uint8_t *frame, size_t caplen, double ts);

/* Threads: any number of threads may feed one engine at once; each packet locks only
 * its shard, so threads feeding flows of different shards do not wait for each other.
 * Callbacks run on the feeding thread, under the shard's lock. */
/* Number of shards of the engine. */
unsigned tls_engine_shards(const tls_engine_t *e);
/* The shard (0 .. shards-1) tls_engine_feed_frame would give this frame, or -1 when it
 * reaches none (not TCP/IP, malformed). A front end with one worker thread per shard
 * (captls --threads) routes with it; touches no engine state. */
int tls_engine_frame_shard(const tls_engine_t *e, int dlt, const uint8_t *frame, size_t caplen);

/* Feed one IP packet (v4 or v6, starting at the IP header). Same contract as above. */
int tls_engine_feed_ip(tls_engine_t *e, const uint8_t *ip, size_t len, double ts);

/* Feed one TCP segment already parsed by the caller. ips in network order (4 or 16 bytes). */
typedef struct tls_tcp_segment {
	int family;
	const uint8_t *src_ip, *dst_ip;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;              /* TCP flags byte (FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10) */
	const uint8_t *payload;
	size_t len;
} tls_tcp_segment_t;
int tls_engine_feed_tcp(tls_engine_t *e, const tls_tcp_segment_t *seg, double ts);

/* Evict flows idle for more than flow_timeout at capture time `now` (bounded work per call
 * unless `all`); called automatically on each feed. */
void tls_engine_expire(tls_engine_t *e, double now, bool all);
/* Sessions held waiting for key-log secrets: re-read the key logs now (file and memory-fed,
 * not throttled by engine time) and, if they grew, retry every waiting session. For front
 * ends that wait in wall time at end of input (captls -r with a key-log listener) before
 * tls_engine_flush. Returns the number of sessions still waiting. */
size_t tls_engine_wait_keys(tls_engine_t *e);
/* End of input: finish every flow (partial data delivered where safe, final session reports). */
void tls_engine_flush(tls_engine_t *e);

typedef struct tls_engine_stats {
	uint64_t packets, packets_malformed, packets_non_tcp, bytes_in;
	uint64_t flows_created, flows_active, flows_evicted_timeout, flows_evicted_limit, flows_closed;
	uint64_t flows_not_tls;         /* TCP flows that never carried TLS (not reported as sessions) */
	uint64_t sessions, sessions_decrypted, sessions_failed[TLS_REASON__COUNT];
	uint64_t records, records_decrypted, records_auth_failed, records_oversize;
	uint64_t messages, plaintext_bytes;
	uint64_t reasm_out_of_order, reasm_retransmits, reasm_dropped, gaps;
	uint64_t keylog_lines, keylog_malformed, resumptions;
	uint64_t bytes_buffered;
	/* appended: packets the engine did not believe (counted, otherwise ignored) */
	uint64_t rst_ignored;           /* resets out of window, or followed by data from their sender */
	uint64_t syn_ignored;           /* SYNs inside an established flow's sequence space */
	uint64_t clock_outliers;        /* capture stamps far from engine time (not taken as time) */
	uint64_t clock_steps;           /* confirmed capture clock steps (absorbed) */
	uint64_t lost_bytes;            /* TCP bytes declared lost over all flows */
	uint64_t hs_unexpected;         /* handshake messages out of protocol order (dropped) */
	uint64_t cleartext_prefix_bytes; /* clear-text bytes skipped before a hello (STARTTLS) */
	/* WebSocket (RFC 6455) after an HTTP upgrade; SIP in it (RFC 7118) is app SIP */
	uint64_t ws_upgrades;           /* directions switched to WebSocket frames after a 101 */
	uint64_t ws_messages;           /* complete WebSocket data messages delivered */
	uint64_t ws_sip;                /* ... of which SIP */
	uint64_t ws_control;            /* ping / pong / close frames (counted, not delivered) */
	uint64_t ws_unexpected;         /* protocol violations (RSV bits, reserved opcodes, ...) */
	uint64_t ws_oversize;           /* messages over max_message: dropped, never delivered */
	uint64_t ws_compressed;         /* permessage-deflate messages delivered raw (not inflated: memory) */
	uint64_t ws_gap_cut;            /* messages cut by a gap / the end of the flow: not delivered */
	uint64_t ws_inflated;           /* permessage-deflate messages inflated (delivered decompressed) */
	/* IP fragment reassembly (ipfrag.h) */
	uint64_t frag_fragments;        /* IP fragments seen */
	uint64_t frag_datagrams;        /* datagrams reassembled (then decoded as one packet) */
	uint64_t frag_timeouts;         /* datagrams never completed within frag-timeout */
	uint64_t frag_overlaps;         /* datagrams discarded for overlapping fragments */
	uint64_t frag_duplicates;       /* exact duplicate fragments dropped */
	uint64_t frag_evicted;          /* pending datagrams evicted by frag-max-datagrams/-bytes */
	uint64_t frag_dropped;          /* invalid fragments (size, truncated, of a discarded datagram) */
	uint64_t frag_pending;          /* datagrams waiting for fragments now */
	uint64_t sslv2_hellos;          /* SSLv2-format ClientHellos accepted (RFC 5246 E.2) */
} tls_engine_stats_t;
/* Snapshot the counters. */
void tls_engine_get_stats(tls_engine_t *e, tls_engine_stats_t *st);

/* IANA name of a cipher suite ("TLS_RSA_WITH_AES_128_GCM_SHA256"), or NULL if unknown. */
const char *tls_suite_name(uint16_t suite);
/* "TLS1.0".."TLS1.3", "SSL3.0", or NULL. */
const char *tls_version_name(uint16_t version);

/* One-time global init of crypto libraries (idempotent, thread-safe). */
int tls_engine_global_init(void);

#ifdef __cplusplus
}
#endif
#endif
