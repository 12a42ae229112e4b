/*
 * protocol_tls.c — the captagent 6.4 glue of protocol_tls: module exports, profiles,
 * parse_tls(), statistics. It only translates between captagent's msg_t world and the
 * engine (tls_engine.h); all TLS work happens in the engine.
 *
 * What parse_tls() does (contract in ../shared/design.md, ABI facts in captagent-abi.md):
 *  - recovers the TCP segment of the captured frame (seq/ack/flags/payload) from
 *    msg->cap_packet/hdr_len with a self-consistent header search (the link type is not
 *    visible to modules), sizing the payload from the IP header, not from msg->len (which
 *    counts Ethernet padding), and feeds it to the engine;
 *  - the engine's on_message callback copies every completed plaintext message into a
 *    per-thread queue of module-owned buffers;
 *  - no message: return -1 (false). Never 0: 0 means DROP in captagent and would stop the
 *    plan silently;
 *  - n messages: the first n-1 are run through the capture plan the packet came from
 *    ("rerun": a by-value copy of msg_t with data/len/rcinfo replaced, mfree=0, corrdata
 *    NULL, run_actions(main_ct.clist[k])) while a per-thread re-entry flag makes the plan's
 *    own parse_tls() return 1 at once; the last one is placed in msg and we return 1. So
 *    each message reaches the rest of the plan exactly once, in order, with rcinfo
 *    describing that message's direction.
 *  - the plan k is found by walking main_ct.clist for the action list that calls this very
 *    parse_tls (same function, same profile argument); `plan-index` in protocol_tls.xml
 *    overrides it; when no plan can be found, extra messages go straight to
 *    parse_sip + send_hep("hepsocket") (found with find_export) — the "send" fallback.
 *  - tcpdefrag=true (msg->data is socket_pcap's reassembled copy, not inside the frame):
 *    the frame at cap_packet is the last (PSH) segment, so the copy ends at that segment's
 *    seq + payload length and starts msg->len bytes earlier; we feed it at that sequence
 *    number. Without a usable frame (cap_packet NULL, fragments) the 5-tuple comes from
 *    rcinfo and the segment is treated as in order after the last one seen for that
 *    direction (small glue-side table). tcpdefrag=false is the recommended setting.
 *
 * Threading: socket_pcap runs one thread per profile, all calling into here. Engines are
 * internally locked; queues, copies and address strings are per thread (__thread + a
 * pthread key destructor); the plan cache and the fallback seq table have their own locks.
 * When profiles' filters overlap, each flow is fed only by the first thread that saw it
 * (see owner_ok), so a message is never delivered once per thread.
 *
 * Symbols: built with -fvisibility=hidden; `exports` is the only visible symbol. Host
 * symbols are weak so the module can never make dlopen fail; missing ones degrade
 * (e.g. no run_actions → send fallback, no data_log → stderr).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "captagent_abi.h"
#include "cursor.h"
#include "tls_config.h"
#include "tls_engine.h"

/* Host symbols are resolved at dlopen time; weak so a missing one is NULL, not a failure. */
#pragma weak data_log
#pragma weak run_actions
#pragma weak find_export
#pragma weak global_config_path
#pragma weak main_ct

#define PTLS_MODULE_NAME "protocol_tls"
#define PTLS_MODULE_SERIAL 2025010101ULL
/* HEP carries the payload in a chunk with a 16-bit length: larger messages are skipped. */
#define PTLS_MAX_DELIVER 65000u
/* Per-feed bounds of the per-thread queue. */
#define PTLS_QUEUE_MAX_MSGS 8192u
#define PTLS_QUEUE_MAX_BYTES (16u << 20)
/* Queue entries whose buffers survive between calls (the rest are freed). */
#define PTLS_QUEUE_KEEP 64u
/* Session-report log lines per second per engine before suppression. */
#define PTLS_LOG_PER_SEC 20u
/* Default transport_hep profile of the "send" fallback. */
#define PTLS_FALLBACK_HEP "hepsocket"
/* Slots of the header-less fallback sequence table. */
#define PTLS_SEQT_SIZE 4096u
/* Slots of the direction-ownership table (overlapping socket_pcap profiles). */
#define PTLS_OWNER_SLOTS 16384u

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

/* ---------------------------------------------------------------- logging ---- */

#ifdef __FILE_NAME__
#define PTLS_SRC __FILE_NAME__
#else
#define PTLS_SRC "protocol_tls.c"
#endif

static void ptls_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Format one line and hand it to captagent's data_log (which adds the newline and filters
 * by the configured debug level); stderr if the host has no data_log. */
static void ptls_log(int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (data_log) data_log(prio, "%s", line);
	else fprintf(stderr, "%s\n", line);
}

/* Same prefixes as captagent's log.h macros (LERR, LWARNING, LNOTICE, LINFO, LDEBUG). */
#define TERR(fmt, ...)  ptls_log(LOG_ERR, "[ERR] %s:%d " fmt, PTLS_SRC, __LINE__, ##__VA_ARGS__)
#define TWARN(fmt, ...) ptls_log(LOG_WARNING, "[WARNING] %s:%d " fmt, PTLS_SRC, __LINE__, ##__VA_ARGS__)
#define TNOTICE(fmt, ...) ptls_log(LOG_NOTICE, "[NOTICE] " fmt, ##__VA_ARGS__)
#define TINFO(fmt, ...) ptls_log(LOG_INFO, "[INFO] %s:%d " fmt, PTLS_SRC, __LINE__, ##__VA_ARGS__)
#define TDEBUG(fmt, ...) ptls_log(LOG_DEBUG, "[DEBUG] %s:%d " fmt, PTLS_SRC, __LINE__, ##__VA_ARGS__)

/* At most PTLS_LOG_PER_SEC lines per second; counts what it suppresses. */
typedef struct ratelimit {
	pthread_mutex_t m;
	time_t sec;
	unsigned n;
	unsigned long suppressed;
} ratelimit_t;

/* True when a line may be logged now; *dropped receives the count to report first. */
static bool rl_allow(ratelimit_t *rl, unsigned long *dropped)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	bool ok;
	pthread_mutex_lock(&rl->m);
	*dropped = 0;
	if (ts.tv_sec != rl->sec) {
		*dropped = rl->suppressed;
		rl->suppressed = 0;
		rl->sec = ts.tv_sec;
		rl->n = 0;
	}
	ok = rl->n < PTLS_LOG_PER_SEC;
	if (ok) rl->n++;
	else rl->suppressed++;
	pthread_mutex_unlock(&rl->m);
	return ok;
}

/* ------------------------------------------------------------ module state ---- */

/* One engine user: a profile (parse_tls("name")) or the all-profiles engine (parse_tls()). */
typedef struct ectx {
	char label[128];            /* profile name; "*" for parse_tls() */
	bool usable;                /* keys loaded and engine created */
	bool owns_engine;           /* false when aliasing another ectx's engine */
	tls_engine_t *eng;
	tls_keystore_t *ks;         /* profile keystore (NULL for "*") */
	int plan_index;             /* configured capture plan, -1 = find it */
	uint32_t flow_timeout;      /* of the engine's config: ownership expiry */
	ratelimit_t rl;             /* session reports of this engine */
	bool warned_disabled;
	/* plan cache (G.plan_lock) */
	bool plan_walked;
	int plan_walk_idx;          /* main_ct.idx when walked */
	int plan_k;                 /* resolved plan, -1 = none (send fallback) */
	bool plan_warned;
} ectx_t;

static struct {
	bool loaded;
	char conf_path[PATH_MAX];
	tls_conf_t conf;
	ectx_t *prof;               /* parallel to conf.profiles */
	size_t n_prof;
	ectx_t all;                 /* parse_tls() */
	pthread_key_t tkey;
	bool tkey_ok;
	pthread_mutex_t plan_lock;
	cmd_function fb_parse_sip, fb_send_hep;
	bool fb_resolved;
	ratelimit_t rl;             /* glue's own rate-limited lines */
	pthread_mutex_t seq_lock;
	struct seqent *seqt;        /* header-less fallback sequence table */
	pthread_mutex_t owner_lock;
	struct owner *owners;       /* which capture thread feeds each flow direction */
} G = {
	.plan_lock = PTHREAD_MUTEX_INITIALIZER,
	.seq_lock = PTHREAD_MUTEX_INITIALIZER,
	.owner_lock = PTHREAD_MUTEX_INITIALIZER,
	.rl = { .m = PTHREAD_MUTEX_INITIALIZER },
};

/* Glue counters (relaxed atomics). */
static struct {
	uint64_t calls, segments, segments_nohdr, segments_defrag, segments_foreign, delivered, reruns,
	         fallback_sent, fallback_dropped, keepalives, oversize, queue_overflow, orphaned;
} C;
#define CINC(f) __atomic_fetch_add(&C.f, 1, __ATOMIC_RELAXED)
#define CGET(f) __atomic_load_n(&C.f, __ATOMIC_RELAXED)

/* ------------------------------------------------------- per-thread state ---- */

typedef struct qmsg {
	uint8_t *buf;
	size_t cap, len;
	tls_endpoints_t ep;
	tls_dir_t dir;
	double ts;
} qmsg_t;

typedef struct tstate {
	qmsg_t *q;
	size_t n, cap;
	size_t bytes;
	bool feeding;               /* inside tls_engine_feed_tcp on this thread */
	bool overflow_logged;
	const ectx_t *rerun;        /* re-entry: the engine whose messages are being rerun */
	msg_t *copy;                /* msg_t copy used for reruns (4568 bytes, heap) */
	char ip[2][2][INET6_ADDRSTRLEN + 1];  /* [0]=msg, [1]=rerun copy; [src,dst] */
} tstate_t;

static __thread tstate_t *T;

static void tstate_free(void *p)
{
	tstate_t *t = p;
	if (!t) return;
	for (size_t i = 0; i < t->cap; i++) free(t->q[i].buf);
	free(t->q);
	free(t->copy);
	free(t);
}

/* This thread's state, created on first use. NULL on allocation failure. */
static tstate_t *tstate_get(void)
{
	if (T) return T;
	tstate_t *t = calloc(1, sizeof *t);
	if (!t) return NULL;
	t->copy = malloc(sizeof(msg_t));
	if (!t->copy) { free(t); return NULL; }
	if (G.tkey_ok) pthread_setspecific(G.tkey, t);
	T = t;
	return t;
}

/* Free the buffers of entries beyond PTLS_QUEUE_KEEP and reset the queue. Only called
 * before a feed: the previous call's last message may still be in use until then. */
static void tstate_reset(tstate_t *t)
{
	for (size_t i = PTLS_QUEUE_KEEP; i < t->cap; i++) {
		free(t->q[i].buf);
		t->q[i].buf = NULL;
		t->q[i].cap = 0;
	}
	t->n = 0;
	t->bytes = 0;
}

/* ---------------------------------------------------------- engine callbacks ---- */

static void ep_str(const tls_endpoints_t *ep, bool client, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN + 1] = "?";
	int fam = ep->family == AF_INET6 ? AF_INET6 : AF_INET;
	inet_ntop(fam, client ? ep->client_ip : ep->server_ip, ip, sizeof ip);
	uint16_t port = client ? ep->client_port : ep->server_port;
	if (fam == AF_INET6) snprintf(out, outlen, "[%s]:%u", ip, port);
	else snprintf(out, outlen, "%s:%u", ip, port);
}

/* Engine → queue: copy every deliverable message of the current feed on this thread. */
static void cb_message(void *user, const tls_message_t *m)
{
	ectx_t *e = user;
	tstate_t *t = T;
	if (!m || !m->len) return;
	if (m->keepalive) { CINC(keepalives); return; }
	if (!t || !t->feeding) { CINC(orphaned); return; }   /* e.g. flushed at unload */
	if (m->len > PTLS_MAX_DELIVER) {
		CINC(oversize);
		unsigned long dropped;
		if (rl_allow(&e->rl, &dropped)) {
			char c[64], s[64];
			ep_str(m->ep, true, c, sizeof c);
			ep_str(m->ep, false, s, sizeof s);
			TWARN("protocol_tls[%s]: flow %" PRIu64 " %s->%s: %s message of %zu bytes "
			      "skipped (HEP payload limit %u)", e->label, m->flow_id,
			      m->dir == TLS_DIR_C2S ? c : s, m->dir == TLS_DIR_C2S ? s : c,
			      m->app == TLS_APP_SIP ? "SIP" : m->app == TLS_APP_HTTP ? "HTTP" : "raw",
			      m->len, PTLS_MAX_DELIVER);
		}
		return;
	}
	if (t->n >= PTLS_QUEUE_MAX_MSGS || t->bytes + m->len > PTLS_QUEUE_MAX_BYTES) {
		CINC(queue_overflow);
		unsigned long dropped;
		if (!t->overflow_logged && rl_allow(&G.rl, &dropped)) {
			TERR("protocol_tls[%s]: one packet completed more than %u messages / %u bytes: "
			     "extra messages dropped", e->label, PTLS_QUEUE_MAX_MSGS, PTLS_QUEUE_MAX_BYTES);
			t->overflow_logged = true;
		}
		return;
	}
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		qmsg_t *nq = realloc(t->q, nc * sizeof *nq);
		if (!nq) { CINC(queue_overflow); return; }
		memset(nq + t->cap, 0, (nc - t->cap) * sizeof *nq);
		t->q = nq;
		t->cap = nc;
	}
	qmsg_t *q = &t->q[t->n];
	if (q->cap < m->len + 1) {
		size_t nc = m->len + 1 < 2048 ? 2048 : m->len + 1;
		uint8_t *nb = realloc(q->buf, nc);
		if (!nb) { CINC(queue_overflow); return; }
		q->buf = nb;
		q->cap = nc;
	}
	memcpy(q->buf, m->data, m->len);
	q->buf[m->len] = '\0';      /* parse_sip-style consumers like a terminated buffer */
	q->len = m->len;
	q->ep = *m->ep;
	q->dir = m->dir;
	q->ts = m->ts;
	t->n++;
	t->bytes += m->len;
}

/* Session status → log: undecryptable final reports at error level (operators must see a
 * missing key), decrypted summaries at notice, intermediate changes at debug. */
static void cb_session(void *user, const tls_session_info_t *s)
{
	ectx_t *e = user;
	if (!s) return;
	char c[64], sv[64];
	ep_str(s->ep, true, c, sizeof c);
	ep_str(s->ep, false, sv, sizeof sv);
	const char *ver = tls_version_name(s->tls_version);
	const char *suite = tls_suite_name(s->suite);
	unsigned long dropped = 0;

	if (s->final && !s->decrypted) {
		if (!rl_allow(&e->rl, &dropped)) return;
		if (dropped) TERR("protocol_tls[%s]: %lu session report lines suppressed", e->label, dropped);
		TERR("protocol_tls[%s]: session %" PRIu64 " %s->%s: not decrypted (%s)%s%s%s%s%s%s",
		     e->label, s->flow_id, c, sv, tls_reason_name(s->reason),
		     ver ? " " : "", ver ? ver : "", suite ? " " : "", suite ? suite : "",
		     s->sni ? " sni=" : "", s->sni ? s->sni : "");
	} else if (s->final) {
		if (!rl_allow(&e->rl, &dropped)) return;
		if (dropped) TERR("protocol_tls[%s]: %lu session report lines suppressed", e->label, dropped);
		const char *kk = tls_key_kind_name(s->key);
		TNOTICE("protocol_tls[%s]: session %" PRIu64 " %s->%s: decrypted %s %s key=%s%s "
		        "msgs c2s=%" PRIu64 " s2c=%" PRIu64 " bytes c2s=%" PRIu64 " s2c=%" PRIu64,
		        e->label, s->flow_id, c, sv, ver ? ver : "?", suite ? suite : "?",
		        kk ? kk : "?", s->resumed ? " resumed" : "", s->msgs[0], s->msgs[1],
		        s->bytes[0], s->bytes[1]);
	} else {
		TDEBUG("protocol_tls[%s]: session %" PRIu64 " %s->%s: %s %s %s%s", e->label,
		       s->flow_id, c, sv, ver ? ver : "?", suite ? suite : "?",
		       s->decrypted ? "decrypting" : "not decrypted: ",
		       s->decrypted ? "" : tls_reason_name(s->reason));
	}
}

/* Engine diagnostics (already rate-limited by the engine). */
static void cb_log(void *user, int level, const char *line)
{
	ectx_t *e = user;
	if (!line) return;
	switch (level) {
	case 3: TERR("protocol_tls[%s]: %s", e->label, line); break;
	case 4: TWARN("protocol_tls[%s]: %s", e->label, line); break;
	case 6: TINFO("protocol_tls[%s]: %s", e->label, line); break;
	default: TDEBUG("protocol_tls[%s]: %s", e->label, line); break;
	}
}

/* -------------------------------------------------------- TCP segment recovery ---- */

typedef struct seg {
	tls_tcp_segment_t s;
	uint8_t src[16], dst[16];
	bool have_hdr;              /* found in the frame */
	uint32_t frame_end_seq;     /* seq + IP payload length of the frame's segment */
	const uint8_t *frame_payload;
	size_t frame_payload_len;   /* bytes present in the frame */
} seg_t;

/* Try the TCP header that ends at hdr_len with length hl, and an IP header right before
 * it. Fills s on success. Wire bytes are read only through cursors over [frame, caplen). */
static bool try_tcp(const uint8_t *frame, size_t caplen, size_t hdr_len, size_t hl, seg_t *s)
{
	if (hl > hdr_len) return false;
	size_t th_off = hdr_len - hl;
	cursor_t c = cur_init(frame, caplen);
	if (!cur_skip(&c, th_off)) return false;
	cursor_t th = cur_sub(&c, hl);
	uint16_t sport = cur_u16(&th), dport = cur_u16(&th);
	uint32_t seq = cur_u32(&th), ack = cur_u32(&th);
	uint8_t doff = cur_u8(&th), flags = cur_u8(&th);
	if (cur_failed(&th) || (size_t)(doff >> 4) * 4 != hl) return false;

	/* IPv4: header of ihl bytes ending at th_off, version 4, IHL matching, protocol TCP */
	for (size_t ihl = 20; ihl <= 60 && ihl <= th_off; ihl += 4) {
		cursor_t ic = cur_init(frame, caplen);
		if (!cur_skip(&ic, th_off - ihl)) continue;
		uint8_t vihl = cur_u8(&ic);
		if (vihl != (uint8_t)(0x40 | (ihl / 4))) continue;
		cur_skip(&ic, 1);
		uint16_t tot = cur_u16(&ic);
		cur_skip(&ic, 2);
		uint16_t frag = cur_u16(&ic);
		cur_skip(&ic, 1);
		uint8_t proto = cur_u8(&ic);
		cur_skip(&ic, 2);
		uint8_t src[4], dst[4];
		cur_copy(&ic, src, 4);
		cur_copy(&ic, dst, 4);
		if (cur_failed(&ic) || proto != 6 || (frag & 0x3fff) || tot < ihl + hl) continue;
		s->s.family = AF_INET;
		memset(s->src, 0, 16); memset(s->dst, 0, 16);
		memcpy(s->src, src, 4); memcpy(s->dst, dst, 4);
		s->frame_end_seq = seq + (uint32_t)(tot - ihl - hl);
		s->frame_payload_len = tot - ihl - hl;
		goto found;
	}
	/* IPv6: fixed 40-byte header ending at th_off, next header TCP */
	if (th_off >= 40) {
		cursor_t ic = cur_init(frame, caplen);
		if (cur_skip(&ic, th_off - 40)) {
			uint8_t v = cur_u8(&ic);
			cur_skip(&ic, 3);
			uint16_t plen = cur_u16(&ic);
			uint8_t nh = cur_u8(&ic);
			cur_skip(&ic, 1);
			uint8_t src[16], dst[16];
			cur_copy(&ic, src, 16);
			cur_copy(&ic, dst, 16);
			if (!cur_failed(&ic) && (v >> 4) == 6 && nh == 6 && plen >= hl) {
				s->s.family = AF_INET6;
				memcpy(s->src, src, 16); memcpy(s->dst, dst, 16);
				s->frame_end_seq = seq + (uint32_t)(plen - hl);
				s->frame_payload_len = plen - hl;
				goto found;
			}
		}
	}
	return false;
found:
	s->s.sport = sport;
	s->s.dport = dport;
	s->s.seq = seq;
	s->s.ack = ack;
	s->s.flags = flags;
	{
		/* payload present in the frame: IP payload length, capped by the capture length */
		size_t avail = caplen > hdr_len ? caplen - hdr_len : 0;
		if (s->frame_payload_len > avail) s->frame_payload_len = avail;
		cursor_t pc = cur_init(frame, caplen);
		cur_skip(&pc, hdr_len);
		s->frame_payload = cur_span(&pc, s->frame_payload_len);
		if (!s->frame_payload) { s->frame_payload_len = 0; s->frame_payload = frame; }
	}
	s->have_hdr = true;
	return true;
}

/* Find the frame's TCP header (see captagent-abi.md §d). When several header lengths are
 * self-consistent, prefer the one whose ports match rcinfo. */
static bool find_tcp_header(const msg_t *msg, seg_t *out)
{
	if (!msg->cap_packet || !msg->cap_header || msg->hdr_len < 40) return false;
	const struct ptls_pcap_pkthdr *ph = msg->cap_header;
	size_t caplen = ph->caplen;
	if (caplen < msg->hdr_len || caplen > (1u << 24)) return false;
	seg_t cand;
	bool have = false;
	for (size_t hl = 20; hl <= 60; hl += 4) {
		memset(&cand, 0, sizeof cand);
		if (!try_tcp(msg->cap_packet, caplen, msg->hdr_len, hl, &cand)) continue;
		bool ports = cand.s.sport == msg->rcinfo.src_port && cand.s.dport == msg->rcinfo.dst_port;
		if (!have || ports) { *out = cand; have = true; }
		if (ports) break;
	}
	return have;
}

/* Header-less fallback: per-direction "next sequence number" table keyed by 5-tuple. */
struct seqent {
	bool used;
	uint8_t fam;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t next;
};

static uint32_t seq_hash(const seg_t *s)
{
	uint32_t h = 2166136261u;
	const uint8_t *parts[2] = { s->src, s->dst };
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 16; j++) h = (h ^ parts[i][j]) * 16777619u;
	h = (h ^ s->s.sport) * 16777619u;
	h = (h ^ s->s.dport) * 16777619u;
	return h % PTLS_SEQT_SIZE;
}

/* Give a header-less segment a sequence number: in order after the last one seen for its
 * direction (SYN starts a fresh numbering). Returns false if out of memory. */
static bool seq_assign(seg_t *s, size_t len)
{
	pthread_mutex_lock(&G.seq_lock);
	if (!G.seqt) G.seqt = calloc(PTLS_SEQT_SIZE, sizeof *G.seqt);
	if (!G.seqt) { pthread_mutex_unlock(&G.seq_lock); return false; }
	struct seqent *e = &G.seqt[seq_hash(s)];
	bool same = e->used && e->fam == s->s.family && e->sport == s->s.sport &&
	            e->dport == s->s.dport && !memcmp(e->src, s->src, 16) && !memcmp(e->dst, s->dst, 16);
	if (!same || (s->s.flags & TH_SYN)) {
		e->used = true;
		e->fam = (uint8_t)s->s.family;
		memcpy(e->src, s->src, 16);
		memcpy(e->dst, s->dst, 16);
		e->sport = s->s.sport;
		e->dport = s->s.dport;
		e->next = (s->s.flags & TH_SYN) ? 0 : 1;
	}
	s->s.seq = e->next;
	e->next += (uint32_t)len + ((s->s.flags & (TH_SYN | TH_FIN)) ? 1u : 0u);
	pthread_mutex_unlock(&G.seq_lock);
	return true;
}

/* Record where a segment with a known sequence number ends (keeps the fallback table in
 * step when header-less and normal segments of one flow mix). Only updates known entries. */
static void seq_note(const seg_t *s, uint32_t next)
{
	if (!__atomic_load_n(&G.seqt, __ATOMIC_RELAXED)) return;
	pthread_mutex_lock(&G.seq_lock);
	struct seqent *e = &G.seqt[seq_hash(s)];
	if (e->used && e->fam == s->s.family && e->sport == s->s.sport && e->dport == s->s.dport &&
	    !memcmp(e->src, s->src, 16) && !memcmp(e->dst, s->dst, 16))
		e->next = next;
	pthread_mutex_unlock(&G.seq_lock);
}

/* Build the segment to feed from msg. Returns false if msg is not TCP we can use. */
static bool msg_to_segment(const msg_t *msg, seg_t *s)
{
	memset(s, 0, sizeof *s);
	if (msg->rcinfo.ip_proto && msg->rcinfo.ip_proto != 6) return false;
	bool have = find_tcp_header(msg, s);
	const uint8_t *data = msg->data;
	size_t dlen = data ? msg->len : 0;

	if (have) {
		if (dlen == 0 || data == s->frame_payload ||
		    (dlen >= s->frame_payload_len && dlen - s->frame_payload_len < 64 &&
		     s->frame_payload_len && !memcmp(data, s->frame_payload, s->frame_payload_len))) {
			/* the frame's own segment (tcpdefrag=false, or a copy of it) */
			s->s.payload = s->frame_payload_len ? s->frame_payload : NULL;
			s->s.len = s->frame_payload_len;
		} else {
			/* socket_pcap's tcpdefrag copy: it ends where the frame's (PSH) segment ends */
			CINC(segments_defrag);
			s->s.payload = data;
			s->s.len = dlen;
			s->s.seq = s->frame_end_seq - (uint32_t)dlen;
			s->s.flags &= (uint8_t)~TH_SYN;
		}
		seq_note(s, s->s.seq + (uint32_t)s->s.len +
		            ((s->s.flags & (TH_SYN | TH_FIN)) ? 1u : 0u));
	} else {
		/* no usable frame: 5-tuple from rcinfo, sequence in order */
		CINC(segments_nohdr);
		if (!msg->rcinfo.src_ip || !msg->rcinfo.dst_ip) return false;
		int fam = msg->rcinfo.ip_family == AF_INET6 ? AF_INET6 : AF_INET;
		if (inet_pton(fam, msg->rcinfo.src_ip, s->src) != 1 ||
		    inet_pton(fam, msg->rcinfo.dst_ip, s->dst) != 1) {
			fam = fam == AF_INET ? AF_INET6 : AF_INET;
			memset(s->src, 0, 16); memset(s->dst, 0, 16);
			if (inet_pton(fam, msg->rcinfo.src_ip, s->src) != 1 ||
			    inet_pton(fam, msg->rcinfo.dst_ip, s->dst) != 1)
				return false;
		}
		s->s.family = fam;
		s->s.sport = msg->rcinfo.src_port;
		s->s.dport = msg->rcinfo.dst_port;
		s->s.flags = msg->tcpflag ? msg->tcpflag : (dlen ? TH_ACK : 0);
		s->s.payload = dlen ? data : NULL;
		s->s.len = dlen;
		if (!seq_assign(s, dlen)) return false;
	}
	s->s.src_ip = s->src;
	s->s.dst_ip = s->dst;
	return true;
}

/* Flow ownership. socket_pcap runs one thread per profile; with overlapping filters (two
 * interfaces, "any" plus a NIC, ...) the same packet reaches parse_tls once per thread.
 * Feeding every copy is only harmless while the threads stay in step: a thread that lags
 * replays a finished connection as a new one (every message delivered again), and two
 * threads feeding the two directions with a time skew break the handshake. So each flow
 * (per engine) belongs to the first thread that feeds it; other threads' copies are
 * ignored (false) until the owner has been silent for flow-timeout seconds of capture
 * time. Consequence: both directions of a connection must be visible to one profile
 * (asymmetric routing: capture it on "any" or a bond, not on two profiles). */
struct owner {
	bool used;
	uint8_t fam;
	const void *eng;
	uint8_t a_ip[16], b_ip[16];     /* endpoints in a canonical order */
	uint16_t a_port, b_port;
	pthread_t tid;
	double last;
};

/* Canonical (a <= b) endpoint order of a segment's flow. */
static void flow_canon(const seg_t *s, const uint8_t **aip, uint16_t *ap, const uint8_t **bip,
                       uint16_t *bp)
{
	int c = memcmp(s->src, s->dst, 16);
	bool swap = c > 0 || (c == 0 && s->s.sport > s->s.dport);
	*aip = swap ? s->dst : s->src;
	*bip = swap ? s->src : s->dst;
	*ap = swap ? s->s.dport : s->s.sport;
	*bp = swap ? s->s.sport : s->s.dport;
}

static uint32_t owner_hash(const void *eng, const uint8_t *aip, uint16_t ap, const uint8_t *bip,
                           uint16_t bp)
{
	uint32_t h = 2166136261u;
	for (int j = 0; j < 16; j++) h = (h ^ aip[j]) * 16777619u;
	for (int j = 0; j < 16; j++) h = (h ^ bip[j]) * 16777619u;
	h = (h ^ ap) * 16777619u;
	h = (h ^ bp) * 16777619u;
	h ^= (uint32_t)((uintptr_t)eng >> 4) * 40503u;
	return h % PTLS_OWNER_SLOTS;
}

/* True if the calling thread may feed this segment's flow to e's engine. */
static bool owner_ok(const ectx_t *e, const seg_t *s, double ts)
{
	const uint8_t *aip, *bip;
	uint16_t ap, bp;
	flow_canon(s, &aip, &ap, &bip, &bp);
	pthread_mutex_lock(&G.owner_lock);
	if (!G.owners) G.owners = calloc(PTLS_OWNER_SLOTS, sizeof *G.owners);
	if (!G.owners) { pthread_mutex_unlock(&G.owner_lock); return true; }
	struct owner *o = &G.owners[owner_hash(e->eng, aip, ap, bip, bp)];
	pthread_t self = pthread_self();
	bool same = o->used && o->eng == e->eng && o->fam == s->s.family && o->a_port == ap &&
	            o->b_port == bp && !memcmp(o->a_ip, aip, 16) && !memcmp(o->b_ip, bip, 16);
	bool ok;
	if (same && !pthread_equal(o->tid, self) && ts <= o->last + (double)e->flow_timeout) {
		ok = false;
	} else {
		if (!same) {
			o->used = true;
			o->eng = e->eng;
			o->fam = (uint8_t)s->s.family;
			memcpy(o->a_ip, aip, 16);
			memcpy(o->b_ip, bip, 16);
			o->a_port = ap;
			o->b_port = bp;
			o->last = ts;
		}
		o->tid = self;
		if (ts > o->last) o->last = ts;
		ok = true;
	}
	pthread_mutex_unlock(&G.owner_lock);
	return ok;
}

static double msg_time(const msg_t *msg)
{
	if (msg->rcinfo.time_sec || msg->rcinfo.time_usec)
		return (double)msg->rcinfo.time_sec + (double)msg->rcinfo.time_usec / 1e6;
	if (msg->cap_header) {
		const struct ptls_pcap_pkthdr *ph = msg->cap_header;
		return (double)ph->ts.tv_sec + (double)ph->ts.tv_usec / 1e6;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- delivery ---- */

/* Put one queued message into m: payload, direction-correct addresses/ports, time. */
static void fill_msg(msg_t *m, const qmsg_t *q, char ip[2][INET6_ADDRSTRLEN + 1])
{
	bool c2s = q->dir == TLS_DIR_C2S;
	int fam = q->ep.family == AF_INET6 ? AF_INET6 : AF_INET;
	if (!inet_ntop(fam, c2s ? q->ep.client_ip : q->ep.server_ip, ip[0], INET6_ADDRSTRLEN + 1))
		snprintf(ip[0], INET6_ADDRSTRLEN + 1, "?");
	if (!inet_ntop(fam, c2s ? q->ep.server_ip : q->ep.client_ip, ip[1], INET6_ADDRSTRLEN + 1))
		snprintf(ip[1], INET6_ADDRSTRLEN + 1, "?");
	m->data = q->buf;
	m->len = (uint32_t)q->len;
	m->mfree = 0;
	m->rcinfo.src_ip = ip[0];
	m->rcinfo.dst_ip = ip[1];
	m->rcinfo.src_port = c2s ? q->ep.client_port : q->ep.server_port;
	m->rcinfo.dst_port = c2s ? q->ep.server_port : q->ep.client_port;
	m->rcinfo.ip_family = (uint8_t)fam;
	m->rcinfo.ip_proto = 6;
	double ts = q->ts > 0 ? q->ts : 0;
	uint32_t sec = (uint32_t)ts;
	long usec = (long)((ts - (double)sec) * 1e6 + 0.5);
	if (usec >= 1000000) { sec++; usec -= 1000000; }
	if (usec < 0) usec = 0;
	m->rcinfo.time_sec = sec;
	m->rcinfo.time_usec = (uint32_t)usec;
}

static int w_parse_tls0(msg_t *msg, char *p1, char *p2);
static int w_parse_tls1(msg_t *msg, char *p1, char *p2);

/* Does this action list (recursively, through if-conditions and branches) call the
 * parse_tls of site e? Bounded by *budget nodes. */
static bool expr_calls(const struct ptls_expr *x, const ectx_t *e, int depth, int *budget);
static bool actions_call(const struct action *a, const ectx_t *e, int depth, int *budget)
{
	if (depth > 64) return false;
	for (; a; a = a->next) {
		if (--*budget < 0) return false;
		if (a->type == PTLS_MODULE_T && a->p1_type == PTLS_CMDF_ST && a->p1.data) {
			cmd_function f = (cmd_function)a->p1.data;
			if (e == &G.all && f == w_parse_tls0) return true;
			if (e != &G.all && f == w_parse_tls1 && a->p2_type == PTLS_STRING_ST &&
			    a->p2.string && !strcmp(a->p2.string, e->label))
				return true;
		} else if (a->type == PTLS_IF_T) {
			if (a->p1_type == PTLS_EXPR_ST && expr_calls(a->p1.data, e, depth + 1, budget))
				return true;
			if (a->p2_type == PTLS_ACTIONS_ST && actions_call(a->p2.data, e, depth + 1, budget))
				return true;
			if (a->p3_type == PTLS_ACTIONS_ST && actions_call(a->p3.data, e, depth + 1, budget))
				return true;
		}
	}
	return false;
}

static bool expr_calls(const struct ptls_expr *x, const ectx_t *e, int depth, int *budget)
{
	if (!x || depth > 64 || --*budget < 0) return false;
	if (x->type == PTLS_ELEM_T)
		return x->l.operand == PTLS_ACTION_O && actions_call(x->r.param, e, depth + 1, budget);
	if (x->type == PTLS_EXP_T) {
		if (expr_calls(x->l.expr, e, depth + 1, budget)) return true;
		return x->op != PTLS_NOT_OP && expr_calls(x->r.expr, e, depth + 1, budget);
	}
	return false;
}

/* Structural equality of two plans (same actions, functions and string arguments): the
 * same plan file parsed for two socket_pcap profiles. */
static bool expr_equal(const struct ptls_expr *x, const struct ptls_expr *y, int depth, int *budget);
static bool strs_equal(int type, const char *a, const char *b)
{
	if (type != PTLS_STRING_ST) return a == b;
	if (!a || !b) return a == b;
	return !strcmp(a, b);
}
static bool actions_equal(const struct action *a, const struct action *b, int depth, int *budget)
{
	if (depth > 64) return false;
	for (; a && b; a = a->next, b = b->next) {
		if (--*budget < 0) return false;
		if (a->type != b->type || a->p1_type != b->p1_type || a->p2_type != b->p2_type ||
		    a->p3_type != b->p3_type)
			return false;
		if (a->type == PTLS_IF_T) {
			if (!expr_equal(a->p1.data, b->p1.data, depth + 1, budget)) return false;
			if (a->p2_type == PTLS_ACTIONS_ST && !actions_equal(a->p2.data, b->p2.data, depth + 1, budget))
				return false;
			if (a->p3_type == PTLS_ACTIONS_ST && !actions_equal(a->p3.data, b->p3.data, depth + 1, budget))
				return false;
		} else if (a->type == PTLS_MODULE_T) {
			if (a->p1.data != b->p1.data) return false;
			if (!strs_equal(a->p2_type, a->p2.string, b->p2.string)) return false;
			if (!strs_equal(a->p3_type, a->p3.string, b->p3.string)) return false;
		} else if (a->type == PTLS_SEND_T) {
			if (!strs_equal(a->p1_type, a->p1.string, b->p1.string)) return false;
			if (a->p2.data != b->p2.data) return false;
		}
	}
	return !a && !b;
}

static bool expr_equal(const struct ptls_expr *x, const struct ptls_expr *y, int depth, int *budget)
{
	if (!x || !y) return x == y;
	if (depth > 64 || --*budget < 0) return false;
	if (x->type != y->type || x->op != y->op || x->subtype != y->subtype) return false;
	if (x->type == PTLS_EXP_T)
		return expr_equal(x->l.expr, y->l.expr, depth + 1, budget) &&
		       (x->op == PTLS_NOT_OP || expr_equal(x->r.expr, y->r.expr, depth + 1, budget));
	if (x->l.operand != y->l.operand) return false;
	switch (x->l.operand) {
	case PTLS_ACTION_O: return actions_equal(x->r.param, y->r.param, depth + 1, budget);
	case PTLS_NUMBER_O: return x->r.intval == y->r.intval;
	case PTLS_METHOD_O: return strs_equal(PTLS_STRING_ST, x->r.param, y->r.param);
	default: return x->r.param == y->r.param;
	}
}

/* The capture plan whose messages site e delivers: configured plan-index, else the plan
 * calling this parse_tls (first one if several identical), else -1 (send fallback).
 * Re-resolved when captagent parses more plans (main_ct.idx changes). */
static int plan_for(ectx_t *e)
{
	if (!&main_ct || !run_actions) return -1;
	pthread_mutex_lock(&G.plan_lock);
	int idx = main_ct.idx;
	if (e->plan_walked && e->plan_walk_idx == idx) {
		int k = e->plan_k;
		pthread_mutex_unlock(&G.plan_lock);
		return k;
	}
	int k = -1;
	int last = idx < 0 ? 0 : idx >= PTLS_CLIST_MAX ? PTLS_CLIST_MAX - 1 : idx;
	if (e->plan_index >= 0) {
		if (e->plan_index < PTLS_CLIST_MAX && main_ct.clist[e->plan_index]) {
			k = e->plan_index;
		} else if (!e->plan_warned) {
			TERR("protocol_tls[%s]: plan-index %d: no such capture plan (%d parsed); "
			     "finding the plan that calls parse_tls instead", e->label, e->plan_index,
			     idx + 1);
			e->plan_warned = true;
		}
	}
	if (k < 0) {
		int hits[PTLS_CLIST_MAX], nh = 0;
		for (int i = 0; i <= last; i++) {
			int budget = 100000;
			if (main_ct.clist[i] && actions_call(main_ct.clist[i], e, 0, &budget)) hits[nh++] = i;
		}
		if (nh >= 1) k = hits[0];
		bool same = true;
		for (int i = 1; i < nh && same; i++) {
			int budget = 100000;
			same = actions_equal(main_ct.clist[hits[0]], main_ct.clist[hits[i]], 0, &budget);
		}
		if (nh > 1 && !same && !e->plan_warned) {
			TERR("protocol_tls[%s]: parse_tls%s%s%s is called from %d different capture "
			     "plans; extra messages of one packet are run through plan %d: set "
			     "<param name=\"plan-index\"> in protocol_tls.xml to choose",
			     e->label, e == &G.all ? "()" : "(\"", e == &G.all ? "" : e->label,
			     e == &G.all ? "" : "\")", nh, k);
			e->plan_warned = true;
		}
		if (nh == 0 && idx >= 0 && !e->plan_warned) {
			TWARN("protocol_tls[%s]: no capture plan calling parse_tls found; extra messages "
			      "of one packet go to parse_sip + send_hep(\"%s\")", e->label,
			      PTLS_FALLBACK_HEP);
			e->plan_warned = true;
		}
	}
	e->plan_walked = true;
	e->plan_walk_idx = idx;
	e->plan_k = k;
	pthread_mutex_unlock(&G.plan_lock);
	return k;
}

/* The "send" fallback: parse_sip + send_hep found through the core's export table. */
static void fallback_send(msg_t *copy)
{
	pthread_mutex_lock(&G.plan_lock);
	if (!G.fb_resolved && find_export) {
		G.fb_parse_sip = find_export("parse_sip", 0, 0);
		G.fb_send_hep = find_export("send_hep", 1, 0);
		G.fb_resolved = true;
	}
	cmd_function ps = G.fb_parse_sip, sh = G.fb_send_hep;
	pthread_mutex_unlock(&G.plan_lock);
	if (!sh) { CINC(fallback_dropped); return; }
	if (ps && ps(copy, NULL, NULL) <= 0) { CINC(fallback_dropped); return; }
	sh(copy, PTLS_FALLBACK_HEP, NULL);
	CINC(fallback_sent);
}

/* Deliver one extra message (not the packet's last) through the plan, as if a packet had
 * carried only it. */
static void deliver_extra(tstate_t *t, const msg_t *msg, ectx_t *e, const qmsg_t *q)
{
	msg_t *copy = t->copy;
	*copy = *msg;
	fill_msg(copy, q, t->ip[1]);
	copy->corrdata = NULL;
	copy->parsed_data = NULL;
	int k = plan_for(e);
	t->rerun = e;
	if (k >= 0) {
		struct run_act_ctx ctx;
		memset(&ctx, 0, sizeof ctx);
		run_actions(&ctx, main_ct.clist[k], copy);
		CINC(reruns);
	} else {
		fallback_send(copy);
	}
	t->rerun = NULL;
	if (copy->corrdata && copy->corrdata != msg->corrdata) free(copy->corrdata);
	copy->corrdata = NULL;
	CINC(delivered);
}

/* parse_tls for one site. See the file comment for the contract. */
static int parse_tls_site(msg_t *msg, ectx_t *e)
{
	tstate_t *t = T;
	if (t && t->rerun) return (t->rerun->eng == e->eng) ? 1 : -1;
	if (!msg || !e->usable || !e->eng) return -1;
	CINC(calls);
	t = tstate_get();
	if (!t) return -1;

	seg_t s;
	if (!msg_to_segment(msg, &s)) return -1;
	double ts = msg_time(msg);
	if (!owner_ok(e, &s, ts)) { CINC(segments_foreign); return -1; }
	CINC(segments);

	/* socket_pcap cancels its capture threads at shutdown; a cancellation inside the
	 * engine (its lock held, e.g. while a callback logs) would deadlock unload_f. */
	int cancel_old;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_old);
	tstate_reset(t);
	t->overflow_logged = false;
	t->feeding = true;
	tls_engine_feed_tcp(e->eng, &s.s, ts);
	t->feeding = false;

	size_t n = t->n;
	if (n) {
		for (size_t i = 0; i + 1 < n; i++) deliver_extra(t, msg, e, &t->q[i]);
		fill_msg(msg, &t->q[n - 1], t->ip[0]);
		CINC(delivered);
	}
	pthread_setcancelstate(cancel_old, NULL);
	return n ? 1 : -1;
}

/* Profile lookup for parse_tls("name"). */
static ectx_t *site_by_name(const char *name)
{
	for (size_t i = 0; i < G.n_prof; i++)
		if (!strcmp(G.prof[i].label, name)) return &G.prof[i];
	return NULL;
}

/* parse_tls(): every profile's keys, one engine. */
static int w_parse_tls0(msg_t *msg, char *p1, char *p2)
{
	(void)p1; (void)p2;
	if (!G.loaded) return -1;
	return parse_tls_site(msg, &G.all);
}

/* parse_tls("profile"): that profile's engine only. */
static int w_parse_tls1(msg_t *msg, char *p1, char *p2)
{
	(void)p2;
	if (!G.loaded) return -1;
	tstate_t *t = T;
	ectx_t *e = p1 ? site_by_name(p1) : NULL;
	if (t && t->rerun) return (e && t->rerun->eng == e->eng) ? 1 : -1;
	if (!e) {
		unsigned long d;
		if (rl_allow(&G.rl, &d))
			TERR("protocol_tls: parse_tls(\"%s\"): no such profile in %s", p1 ? p1 : "",
			     G.conf_path);
		return -1;
	}
	if (!e->usable) {
		if (!e->warned_disabled) {
			e->warned_disabled = true;
			TERR("protocol_tls: parse_tls(\"%s\"): profile is disabled (see the load errors)",
			     e->label);
		}
		return -1;
	}
	return parse_tls_site(msg, e);
}

/* interface_http looks up <module>_bind_api for protocol modules (it does not call it in
 * 6.4). If called, fills the protocol API with our name and a parse function. */
static int parse_api(msg_t *msg) { return w_parse_tls0(msg, NULL, NULL); }
static int bind_api(msg_t *arg, char *p1, char *p2)
{
	(void)p1; (void)p2;
	protocol_module_api_t *api = (protocol_module_api_t *)(void *)arg;
	if (!api) return -1;
	api->module_name = PTLS_MODULE_NAME;
	api->parse_f = parse_api;
	return 0;
}

/* ------------------------------------------------------------ load / unload ---- */

static void conf_warn(void *u, const char *line)
{
	(void)u;
	TWARN("protocol_tls: %s", line);
}

/* Host-level params (not part of tls_config): plan-index per profile, in document order
 * (the same order tls_config_load uses). Returns 0, or -1 after logging the problem. */
static void collect_profile_nodes(xmlNode *n, xmlNode **out, size_t *cnt, size_t max)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE) continue;
		if (!strcmp((const char *)n->name, "profile")) {
			if (*cnt < max) out[*cnt] = n;
			(*cnt)++;
		} else if (strcmp((const char *)n->name, "settings")) {
			collect_profile_nodes(n->children, out, cnt, max);
		}
	}
}

static int read_plan_index(xmlNode *pn, int *out)
{
	xmlChar *v = xmlGetProp(pn, (const xmlChar *)"value");
	if (!v) {
		for (xmlNode *c = pn->children; c && !v; c = c->next)
			if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, "value"))
				v = xmlNodeGetContent(c);
	}
	if (!v) return -1;
	char *end;
	errno = 0;
	long n = strtol((const char *)v, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\n') end++;
	bool ok = !errno && end != (char *)v && !*end && n >= 0 && n < PTLS_CLIST_MAX;
	if (!ok) {
		TERR("%s: profile ?: param plan-index: bad value '%s' (0..%d)", G.conf_path,
		     (const char *)v, PTLS_CLIST_MAX - 1);
		xmlFree(v);
		return -2;
	}
	xmlFree(v);
	*out = (int)n;
	return 0;
}

static int load_host_params(void)
{
	xmlDocPtr doc = xmlReadFile(G.conf_path, NULL,
	                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) return 0;   /* tls_config_load already read it; nothing more to find */
	xmlNode *root = xmlDocGetRootElement(doc);
	xmlNode *nodes[256];
	size_t n = 0;
	if (root && !strcmp((const char *)root->name, "profile")) nodes[n++] = root;
	else if (root) collect_profile_nodes(root->children, nodes, &n, 256);
	int rc = 0;
	for (size_t i = 0; i < n && i < 256 && i < G.n_prof; i++) {
		for (xmlNode *c = nodes[i]->children; c; c = c->next) {
			xmlNode *list = NULL;
			if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, "settings"))
				list = c->children;
			else if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, "param"))
				list = c;
			for (xmlNode *q = list; q; q = (list == c) ? NULL : q->next) {
				if (q->type != XML_ELEMENT_NODE || strcmp((const char *)q->name, "param")) continue;
				xmlChar *nm = xmlGetProp(q, (const xmlChar *)"name");
				if (nm && !strcmp((const char *)nm, "plan-index")) {
					int v;
					int r = read_plan_index(q, &v);
					if (r == 0) G.prof[i].plan_index = v;
					else if (r == -2) rc = -1;
				}
				xmlFree(nm);
			}
		}
	}
	xmlFreeDoc(doc);
	return rc;
}

static void ectx_init(ectx_t *e, const char *label)
{
	memset(e, 0, sizeof *e);
	snprintf(e->label, sizeof e->label, "%s", label);
	e->plan_index = -1;
	e->plan_k = -1;
	pthread_mutex_init(&e->rl.m, NULL);
}

static tls_engine_t *make_engine(const tls_engine_config_t *cfg, tls_keystore_t *const *ks,
                                 size_t nks, ectx_t *e)
{
	tls_callbacks_t cb;
	memset(&cb, 0, sizeof cb);
	cb.on_message = cb_message;
	cb.on_session = cb_session;
	cb.on_log = cb_log;
	cb.user = e;
	return tls_engine_new(cfg, ks, nks, &cb);
}

static int unload_module(void);

/* load_f: read <config_path>/protocol_tls.xml, load every enabled profile's keys once and
 * create its engine, plus the parse_tls() engine over all usable profiles' keystores.
 * `config` is captagent's uninitialised pointer (modules.c): never used. Returns 0, or -1
 * (captagent then leaves the module out) when no profile is usable. */
static int load_module(xml_node *config)
{
	(void)config;
	if (G.loaded) {
		TWARN("protocol_tls: loaded twice; keeping the first configuration");
		return 0;
	}
	const char *dir = (&global_config_path && global_config_path) ? global_config_path
	                                                              : "/usr/local/etc/captagent";
	size_t dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/') dl--;
	snprintf(G.conf_path, sizeof G.conf_path, "%.*s/%s.xml", (int)dl, dir, PTLS_MODULE_NAME);

	if (tls_engine_global_init() != 0) {
		TERR("protocol_tls: crypto library initialisation failed");
		return -1;
	}
	char err[1024];
	if (tls_config_load(G.conf_path, &G.conf, err, sizeof err, conf_warn, NULL) < 0) {
		TERR("%s", err);
		return -1;
	}
	G.n_prof = G.conf.n_profiles;
	G.prof = calloc(G.n_prof ? G.n_prof : 1, sizeof *G.prof);
	if (!G.prof) {
		TERR("protocol_tls: out of memory");
		tls_config_free(&G.conf);
		return -1;
	}
	for (size_t i = 0; i < G.n_prof; i++) ectx_init(&G.prof[i], G.conf.profiles[i].name);
	ectx_init(&G.all, "*");
	if (load_host_params() < 0) goto fail;

	tls_keystore_t *stores[256];
	size_t nst = 0, nkeys = 0;
	const tls_profile_conf_t *first = NULL;
	ectx_t *first_e = NULL;
	for (size_t i = 0; i < G.n_prof; i++) {
		const tls_profile_conf_t *p = &G.conf.profiles[i];
		ectx_t *e = &G.prof[i];
		if (!p->enabled) {
			TINFO("protocol_tls: %s: profile %s: disabled (enable=false)", G.conf_path, p->name);
			continue;
		}
		if (tls_config_build_keystore(p, &e->ks, err, sizeof err, conf_warn, NULL) < 0) {
			TERR("%s: profile %s: %s; profile disabled", G.conf_path, p->name, err);
			continue;
		}
		e->eng = make_engine(&p->engine, &e->ks, 1, e);
		if (!e->eng) {
			TERR("%s: profile %s: cannot create the TLS engine (out of memory?); profile "
			     "disabled", G.conf_path, p->name);
			tls_keystore_unref(e->ks);
			e->ks = NULL;
			continue;
		}
		e->owns_engine = true;
		e->usable = true;
		e->flow_timeout = p->engine.flow_timeout;
		if (nst < 256) stores[nst++] = e->ks;
		nkeys += p->n_keys;
		if (!first) { first = p; first_e = e; }
	}
	if (!first) {
		TERR("%s: no usable profile; protocol_tls not loaded (parse_tls will be unknown to "
		     "capture plans)", G.conf_path);
		goto fail;
	}
	G.all.flow_timeout = first->engine.flow_timeout;
	if (nst == 1) {
		G.all.eng = first_e->eng;       /* one profile: parse_tls() shares its engine */
		G.all.owns_engine = false;
		G.all.plan_index = first_e->plan_index;
	} else {
		G.all.eng = make_engine(&first->engine, stores, nst, &G.all);
		if (!G.all.eng) {
			TERR("%s: cannot create the TLS engine for parse_tls() (out of memory?)", G.conf_path);
			goto fail;
		}
		G.all.owns_engine = true;
		for (size_t i = 0; i < G.n_prof; i++)
			if (G.prof[i].usable && G.prof[i].plan_index >= 0) {
				G.all.plan_index = G.prof[i].plan_index;
				break;
			}
	}
	G.all.usable = true;
	G.tkey_ok = pthread_key_create(&G.tkey, tstate_free) == 0;
	G.loaded = true;
	TNOTICE("protocol_tls: %s: %zu usable profile(s) of %zu, %zu key file(s) loaded",
	        G.conf_path, nst, G.n_prof, nkeys);
	return 0;
fail:
	unload_module();
	return -1;
}

/* unload_f: final session reports (logged), then free engines, keystores, config and this
 * thread's buffers (capture threads are joined before captagent unloads protocol modules). */
static int unload_module(void)
{
	if (G.loaded)
		TNOTICE("protocol_tls: %" PRIu64 " segments, %" PRIu64 " messages delivered (%" PRIu64
		        " via plan rerun, %" PRIu64 " via send fallback)", CGET(segments),
		        CGET(delivered), CGET(reruns), CGET(fallback_sent));
	G.loaded = false;
	if (G.all.owns_engine && G.all.eng) tls_engine_free(G.all.eng);
	G.all.eng = NULL;
	for (size_t i = 0; G.prof && i < G.n_prof; i++) {
		if (G.prof[i].owns_engine && G.prof[i].eng) tls_engine_free(G.prof[i].eng);
		if (G.prof[i].ks) tls_keystore_unref(G.prof[i].ks);
		pthread_mutex_destroy(&G.prof[i].rl.m);
	}
	free(G.prof);
	G.prof = NULL;
	G.n_prof = 0;
	tls_config_free(&G.conf);
	if (T) {
		if (G.tkey_ok) pthread_setspecific(G.tkey, NULL);
		tstate_free(T);
		T = NULL;
	}
	if (G.tkey_ok) pthread_key_delete(G.tkey);
	G.tkey_ok = false;
	pthread_mutex_lock(&G.seq_lock);
	free(G.seqt);
	G.seqt = NULL;
	pthread_mutex_unlock(&G.seq_lock);
	pthread_mutex_lock(&G.owner_lock);
	free(G.owners);
	G.owners = NULL;
	pthread_mutex_unlock(&G.owner_lock);
	memset(&G.all, 0, sizeof G.all);
	G.fb_resolved = false;
	G.fb_parse_sip = G.fb_send_hep = NULL;
	return 0;
}

/* description_f: never called by captagent 6.4; the buffer size is unknown, so write
 * nothing. */
static int description(char *descr)
{
	(void)descr;
	return 0;
}

static void stats_engine(char *buf, size_t len, size_t *off, const char *label,
                         tls_engine_t *eng)
{
	if (!eng || *off >= len) return;
	tls_engine_stats_t st;
	memset(&st, 0, sizeof st);
	tls_engine_get_stats(eng, &st);
	int n = snprintf(buf + *off, len - *off,
	                 "[%s] pkts=%" PRIu64 " flows=%" PRIu64 " sessions=%" PRIu64
	                 " decrypted=%" PRIu64, label, st.packets, st.flows_active, st.sessions,
	                 st.sessions_decrypted);
	if (n < 0) return;
	*off += (size_t)n < len - *off ? (size_t)n : len - *off - 1;
	for (int r = 1; r < TLS_REASON__COUNT && *off < len - 1; r++) {
		if (!st.sessions_failed[r]) continue;
		n = snprintf(buf + *off, len - *off, " %s=%" PRIu64, tls_reason_name((tls_reason_t)r),
		             st.sessions_failed[r]);
		if (n < 0) return;
		*off += (size_t)n < len - *off ? (size_t)n : len - *off - 1;
	}
	if (*off < len - 1) {
		n = snprintf(buf + *off, len - *off,
		             " records=%" PRIu64 " auth_fail=%" PRIu64 " msgs=%" PRIu64 " bytes=%" PRIu64
		             " evicted=%" PRIu64 "/%" PRIu64 " gaps=%" PRIu64 "; ", st.records,
		             st.records_auth_failed, st.messages, st.plaintext_bytes,
		             st.flows_evicted_timeout, st.flows_evicted_limit, st.gaps);
		if (n < 0) return;
		*off += (size_t)n < len - *off ? (size_t)n : len - *off - 1;
	}
}

/* stats_f: counters in the spirit of wolfSSL's SSLStats, always NUL-terminated within len
 * (interface_http passes 800 bytes). Returns the length written. */
static int statistic(char *buf, size_t len)
{
	if (!buf || !len) return 0;
	buf[0] = '\0';
	size_t off = 0;
	int n = snprintf(buf, len, "delivered=%" PRIu64 " reruns=%" PRIu64 " fallback=%" PRIu64
	                 " skipped_keepalive=%" PRIu64 " skipped_oversize=%" PRIu64 " dropped=%" PRIu64
	                 " dup_thread=%" PRIu64 "; ", CGET(delivered), CGET(reruns),
	                 CGET(fallback_sent), CGET(keepalives), CGET(oversize),
	                 CGET(queue_overflow) + CGET(fallback_dropped), CGET(segments_foreign));
	if (n > 0) off = (size_t)n < len ? (size_t)n : len - 1;
	if (G.loaded) {
		if (G.all.owns_engine) stats_engine(buf, len, &off, "*", G.all.eng);
		for (size_t i = 0; i < G.n_prof; i++)
			if (G.prof[i].usable) stats_engine(buf, len, &off, G.prof[i].label, G.prof[i].eng);
	}
	buf[len - 1] = '\0';
	return (int)strlen(buf);
}

/* serial_f: called by interface_http's module list. */
static uint64_t serial_module(void)
{
	return PTLS_MODULE_SERIAL;
}

static cmd_export_t cmds[] = {
	{ "parse_tls", w_parse_tls0, 0, 0, 0, 0 },
	{ "parse_tls", w_parse_tls1, 1, 0, 0, 0 },
	{ PTLS_MODULE_NAME "_bind_api", bind_api, 1, 0, 0, 0 },
	{ NULL, NULL, 0, 0, 0, 0 }
};

/* The one symbol captagent looks up (dlsym "exports"). */
__attribute__((visibility("default")))
struct module_exports exports = {
	.name = PTLS_MODULE_NAME,
	.cmds = cmds,
	.load_f = load_module,
	.unload_f = unload_module,
	.description_f = description,
	.stats_f = statistic,
	.serial_f = serial_module,
	.onbreak_f = NULL,
};
