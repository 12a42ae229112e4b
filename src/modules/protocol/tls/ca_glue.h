/*
 * ca_glue.h — the internal declarations shared by the three files of the captagent glue:
 *
 *   protocol_tls.c  module exports, load/unload (config, engines), statistics, logging;
 *   ca_segment.c    the TCP segment of a captured msg_t, flow ownership per capture thread;
 *   ca_deliver.c    engine callbacks, the per-thread message queue, delivery into the plan.
 *
 * Why it exists: the glue is split by concern, but the three parts share the site type
 * (ectx_t: one parse_tls variant and its engine), the recovered segment (seg_t), the glue
 * counters, the rate limiter and the logging macros. Nothing declared here is visible
 * outside the module: the module is built with -fvisibility=hidden, the declarations below
 * are wrapped in visibility(hidden) as well, and `exports` (protocol_tls.c) is the only
 * symbol captagent sees. Every function or object used across files carries a ca_ prefix;
 * everything else stays static in its file. Not for the engine or captls.
 */
#ifndef PTLS_CA_GLUE_H
#define PTLS_CA_GLUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "captagent_abi.h"
#include "tls_engine.h"

/* Host symbols are resolved at dlopen time; weak so a missing one is NULL, not a failure
 * (no run_actions → send fallback, no data_log → stderr). In the header so that no file of
 * the glue can reference one of them strongly. */
#pragma weak data_log
#pragma weak run_actions
#pragma weak find_export
#pragma weak global_config_path
#pragma weak main_ct

#pragma GCC visibility push(hidden)

/* ---------------------------------------------------------------- logging ---- */

/* File name in log lines. Each .c defines PTLS_FILE before including this header, for
 * compilers without __FILE_NAME__. */
#ifdef __FILE_NAME__
#define PTLS_SRC __FILE_NAME__
#else
#define PTLS_SRC PTLS_FILE
#endif

/* ca_log: format one line (at most 1023 bytes, longer is truncated) and hand it to
 * captagent's data_log, which adds the newline and filters by the configured debug level;
 * without a host data_log the line goes to stderr. prio is a syslog priority. Safe from
 * any thread. (protocol_tls.c) */
void ca_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Same prefixes as captagent's log.h macros (LERR, LWARNING, LNOTICE, LINFO, LDEBUG). */
#define TERR(fmt, ...)  ca_log(LOG_ERR, "[ERR] %s:%d " fmt, PTLS_SRC, __LINE__, ##__VA_ARGS__)
#define TWARN(fmt, ...) ca_log(LOG_WARNING, "[WARNING] %s:%d " fmt, PTLS_SRC, __LINE__, ##__VA_ARGS__)
#define TNOTICE(fmt, ...) ca_log(LOG_NOTICE, "[NOTICE] " fmt, ##__VA_ARGS__)
#define TINFO(fmt, ...) ca_log(LOG_INFO, "[INFO] %s:%d " fmt, PTLS_SRC, __LINE__, ##__VA_ARGS__)
#define TDEBUG(fmt, ...) ca_log(LOG_DEBUG, "[DEBUG] %s:%d " fmt, PTLS_SRC, __LINE__, ##__VA_ARGS__)

/* At most PTLS_LOG_PER_SEC lines per second; counts what it suppresses. Initialise m
 * (PTHREAD_MUTEX_INITIALIZER or pthread_mutex_init) and zero the rest. */
typedef struct ratelimit {
	pthread_mutex_t m;
	time_t sec;
	unsigned n;
	unsigned long suppressed;
	bool notice;                /* its lines are notices: suppression is reported at notice
	                             * (invisible at captagent's default level, like the lines) */
} ratelimit_t;

/* ca_rl_allow: true when a line may be logged now under rl (a per-second budget of
 * PTLS_LOG_PER_SEC lines); false counts one suppressed line. When the limit lifts (the
 * first line of a later second), the number of lines suppressed before is logged first,
 * as "protocol_tls[label]: N log lines suppressed". Thread-safe (rl->m). (protocol_tls.c) */
bool ca_rl_allow(ratelimit_t *rl, const char *label);

/* ca_rl_flush: log the count of lines suppressed under rl and not reported yet (unload:
 * the limit never lifts when the flood was the last thing logged). (protocol_tls.c) */
void ca_rl_flush(ratelimit_t *rl, const char *label);

/* ca_rl: the glue's own rate-limited lines (unknown profile, queue overflow), shared by
 * all files. (protocol_tls.c) */
extern ratelimit_t ca_rl;

/* ---------------------------------------------------------------- counters ---- */

/* Glue counters, updated with relaxed atomics through CINC and read with CGET; reported by
 * the stats_f and at unload. (defined in protocol_tls.c) */
typedef struct ca_counters {
	uint64_t calls, segments, segments_nohdr, segments_defrag, segments_foreign, delivered, reruns,
	         fallback_sent, fallback_dropped, keepalives, oversize, queue_overflow, orphaned,
	         kind_off;   /* messages of a kind whose hep-type-* is 0 (not delivered) */
	uint64_t ip_fragments;      /* raw IP fragments handed to the engine's reassembly */
} ca_counters_t;
extern ca_counters_t ca_count;
#define CINC(f) __atomic_fetch_add(&ca_count.f, 1, __ATOMIC_RELAXED)
#define CGET(f) __atomic_load_n(&ca_count.f, __ATOMIC_RELAXED)

/* ---------------------------------------------------------------- sites ---- */

/* One engine user: a profile (parse_tls("name")) or the all-profiles engine (parse_tls()).
 * Created and destroyed by load/unload (protocol_tls.c); the plan cache belongs to
 * ca_deliver.c and is guarded by its plan lock. */
typedef struct ectx {
	char label[128];            /* profile name; "*" for parse_tls() */
	bool all_profiles;          /* the parse_tls() site (called without a profile) */
	bool usable;                /* keys loaded and engine created */
	bool owns_engine;           /* false when aliasing another ectx's engine */
	tls_engine_t *eng;
	tls_keystore_t *ks;         /* profile keystore (NULL for "*") */
	int plan_index;             /* configured capture plan, -1 = find it */
	uint32_t flow_timeout;      /* of the engine's config: ownership expiry */
	uint8_t hep_type[3];        /* rcinfo.proto_type per tls_app_t (SIP 1, hep-type-http,
	                             * hep-type-raw); 0 = that kind is not delivered */
	ratelimit_t rl;             /* failed-session reports and warnings of this engine */
	ratelimit_t rl_notice;      /* "decrypted" session summaries (a budget of their own: a
	                             * busy healthy capture must not silence the errors) */
	bool warned_disabled;
	/* plan cache (ca_deliver.c's plan lock) */
	bool plan_walked;
	int plan_walk_idx;          /* main_ct.idx when walked */
	int plan_k;                 /* resolved plan, -1 = none (send fallback) */
	bool plan_warned;
} ectx_t;

/* The two cmd functions registered as "parse_tls" (protocol_tls.c): ca_parse_tls0 is
 * parse_tls() (the all-profiles site), ca_parse_tls1 is parse_tls("profile"). Both follow
 * ca_parse_tls_site's return contract. ca_deliver.c recognises the capture plan that calls
 * a site by these function pointers, so they must be the ones in the module's cmds. */
int ca_parse_tls0(msg_t *msg, char *p1, char *p2);
int ca_parse_tls1(msg_t *msg, char *p1, char *p2);

/* ------------------------------------------------------ TCP segment recovery ---- */

/* The TCP segment of one captured packet, ready for tls_engine_feed_tcp (s.src_ip/dst_ip
 * point into this struct: do not copy a seg_t and keep feeding the copy's s). */
typedef struct seg {
	tls_tcp_segment_t s;
	uint8_t src[16], dst[16];
	bool have_hdr;              /* found in the frame */
	uint32_t frame_end_seq;     /* seq + IP payload length of the frame's segment */
	const uint8_t *frame_payload;
	size_t frame_payload_len;   /* bytes present in the frame */
	const uint8_t *frag_ip;     /* non-NULL: msg is a raw IP fragment (socket_pcap reasm off):
	                             * feed these frag_len bytes with tls_engine_feed_ip, not s */
	size_t frag_len;
} seg_t;

/* ca_msg_to_segment: build the segment to feed from msg (ca_segment.c). Uses the frame at
 * msg->cap_packet/hdr_len when a self-consistent IPv4/IPv6 + TCP header ends there (payload
 * sized from the IP header, not msg->len); a socket_pcap tcpdefrag copy in msg->data is fed
 * at the sequence number where it ends with the frame's segment; without a usable frame the
 * 5-tuple comes from msg->rcinfo and the sequence number from an in-order table per
 * direction. Returns false (s zeroed or partial, nothing to feed) when msg is not TCP we
 * can use, or on allocation failure. s->s.payload may point into msg->data or the frame:
 * valid while msg is. Thread-safe. */
bool ca_msg_to_segment(const msg_t *msg, seg_t *s);
/* A raw IP fragment in msg (socket_pcap with reasm=false hands each fragment to the plan,
 * with ipv4fragments/ipv6fragments=true its BPF filter lets the non-first ones through):
 * s->frag_ip/frag_len is set and true returned; the engine reassembles (ipfrag.c). */

/* ca_owner_ok: true if the calling thread may feed this segment's flow to e's engine
 * (ca_segment.c). Each flow (per engine, both directions) belongs to the first capture
 * thread that feeds it, until that thread has been silent for e->flow_timeout seconds of
 * capture time ts; other threads' copies of the same packets get false and must not be
 * fed. True (no ownership check) if the table cannot be allocated. Thread-safe. */
bool ca_owner_ok(const ectx_t *e, const seg_t *s, double ts);

/* ca_msg_time: capture time of msg in seconds since the epoch: rcinfo time, else the pcap
 * header's, else the current time (ca_segment.c). */
double ca_msg_time(const msg_t *msg);

/* ca_segment_fini: free the fallback sequence table and the flow ownership table; both are
 * re-created on demand. Call at unload, when no capture thread feeds any more. */
void ca_segment_fini(void);

/* ---------------------------------------------------------------- delivery ---- */

/* ca_engine_callbacks: fill cb (zeroed first) with the glue's engine callbacks for site e
 * (ca_deliver.c): messages go to the calling thread's queue during ca_parse_tls_site's feed,
 * session reports and engine diagnostics to the log. e must outlive the engine. */
void ca_engine_callbacks(tls_callbacks_t *cb, ectx_t *e);

/* ca_deliver_init: create the per-thread state key (its destructor frees a capture
 * thread's queue when the thread exits). Call once at load, before any parse_tls; if the
 * key cannot be created, per-thread state is only freed at unload (for the unloading
 * thread). (ca_deliver.c) */
void ca_deliver_init(void);

/* ca_deliver_fini: free the calling thread's state, delete the key and forget the
 * resolved send-fallback functions. Call at unload, after the engines are freed (capture
 * threads are joined by then). (ca_deliver.c) */
void ca_deliver_fini(void);

/* ca_rerun_answer: what parse_tls must return on this thread right now because of a
 * rerun (ca_deliver.c). While extra messages of a packet are being run through the
 * capture plan, the plan's own parse_tls calls must not feed: 1 if e uses the engine whose
 * messages are being rerun (the message passes on), -1 otherwise (e may be NULL); 0 when
 * no rerun is in progress on this thread (the caller goes on normally). */
int ca_rerun_answer(const ectx_t *e);

/* ca_parse_tls_site: parse_tls for site e (ca_deliver.c). Feeds msg's TCP segment to
 * e's engine and delivers every completed plaintext message exactly once, in order: all
 * but the last through the capture plan that called parse_tls (or parse_sip +
 * send_hep("hepsocket") when no plan is found), the last placed in msg (data, len,
 * rcinfo addresses/ports/time of that message's direction, mfree=0; the buffers are
 * module-owned and valid until this thread's next call). Returns 1 when msg now carries a
 * message, -1 otherwise (never 0: 0 means DROP in captagent). Also handles re-entry during
 * a rerun (see ca_rerun_answer). Capture threads must not be cancelled inside: it disables
 * cancellation while feeding. */
int ca_parse_tls_site(msg_t *msg, ectx_t *e);

/* ca_delivered_app: the app kind (tls_app_t) of the message parse_tls put into msg on this
 * thread — the packet's last message, or the extra message of a rerun while the plan runs
 * for it — or -1 when msg does not hold a message delivered by parse_tls (another packet,
 * or parse_tls returned false). Backs the plan commands tls_is_sip() / tls_is_http(): the
 * plan must not give HTTP to parse_sip, which sets proto_type to 1 even when it rejects
 * the message. (ca_deliver.c) */
int ca_delivered_app(const msg_t *msg);

#pragma GCC visibility pop

#endif /* PTLS_CA_GLUE_H */
