/*
 * ca_deliver.c — getting the engine's plaintext messages back into captagent: the engine
 * callbacks, the per-thread message queue, filling msg_t/rcinfo, and delivering every
 * message of a packet through the capture plan (parse_tls_site).
 *
 * Why it is its own file: one captured packet can complete any number of TLS messages,
 * but a captagent cmd function can hand only one message on (in msg). This file owns the
 * mechanism that makes each message reach the rest of the capture plan exactly once, in
 * order, with rcinfo describing that message's direction. Contracts of the exported
 * functions are in ca_glue.h; the design is in ../shared/design.md.
 *
 *  - the engine's on_message callback copies every completed plaintext message of the
 *    current feed into a per-thread queue of module-owned buffers (bounded per feed);
 *  - no message: parse_tls returns -1 (false). Never 0: 0 means DROP in captagent and
 *    would stop the plan silently;
 *  - n messages: the first n-1 are run through the capture plan the packet came from
 *    ("rerun": a by-value copy of msg_t with data/len/rcinfo replaced, mfree=0, corrdata
 *    NULL, run_actions(main_ct.clist[k])) while a per-thread re-entry flag makes the plan's
 *    own parse_tls() return 1 at once; the last one is placed in msg and we return 1;
 *  - the plan k is found by walking main_ct.clist for the action list that calls this very
 *    parse_tls (same function, same profile argument); `plan-index` in protocol_tls.xml
 *    overrides it; when no plan can be found, extra messages go straight to
 *    parse_sip + send_hep("hepsocket") (found with find_export) — the "send" fallback.
 *  - each message's rcinfo.proto_type (HEP chunk 0x000b) comes from its app kind: SIP 1,
 *    HTTP hep-type-http, raw hep-type-raw (ectx_t.hep_type); a kind whose type is 0 is not
 *    delivered at all. tls_is_sip()/tls_is_http() (ca_delivered_app) tell the plan which
 *    kind msg holds, so HTTP can go to send_hep without parse_sip (which would reject it);
 *  - session reports and engine diagnostics of the other two callbacks go to the log.
 *
 * Threading: queues, the msg_t copy and the address strings are per thread (__thread T +
 * a pthread key whose destructor frees them when a capture thread exits); the plan cache
 * and the resolved fallback functions are guarded by DLV.plan_lock.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PTLS_FILE "ca_deliver.c"
#include "ca_glue.h"

/* HEP carries the payload in a chunk with a 16-bit length: larger messages are skipped. */
#define PTLS_MAX_DELIVER 65000u
/* Per-feed bounds of the per-thread queue. */
#define PTLS_QUEUE_MAX_MSGS 8192u
#define PTLS_QUEUE_MAX_BYTES (16u << 20)
/* Queue entries whose buffers survive between calls (the rest are freed). */
#define PTLS_QUEUE_KEEP 64u
/* Default transport_hep profile of the "send" fallback. */
#define PTLS_FALLBACK_HEP "hepsocket"

static struct {
	pthread_key_t tkey;
	bool tkey_ok;
	pthread_mutex_t plan_lock;  /* ectx_t plan caches, fb_* */
	cmd_function fb_parse_sip, fb_send_hep;
	bool fb_resolved;
} DLV = {
	.plan_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* ------------------------------------------------------- per-thread state ---- */

/* One completed message of the current feed, in a module-owned buffer. */
typedef struct qmsg {
	uint8_t *buf;
	size_t cap, len;
	tls_endpoints_t ep;
	tls_dir_t dir;
	tls_app_t app;
	uint8_t proto_type;         /* rcinfo.proto_type for HEP */
	double ts;
} qmsg_t;

/* What parse_tls last put into a msg_t on this thread (for ca_delivered_app). */
typedef struct delivered {
	const msg_t *msg;
	const void *data;
	tls_app_t app;
} delivered_t;

/* A capture thread's queue and delivery scratch (T; freed by the key's destructor). */
typedef struct tstate {
	qmsg_t *q;
	size_t n, cap;
	size_t bytes;
	bool feeding;               /* inside tls_engine_feed_tcp on this thread */
	bool overflow_logged;
	const ectx_t *rerun;        /* re-entry: the engine whose messages are being rerun */
	msg_t *copy;                /* msg_t copy used for reruns (4568 bytes, heap) */
	delivered_t dlv[2];         /* [0]=msg (last message), [1]=rerun copy */
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
	if (DLV.tkey_ok) pthread_setspecific(DLV.tkey, t);
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

/* ca_deliver_init: see ca_glue.h. */
void ca_deliver_init(void)
{
	DLV.tkey_ok = pthread_key_create(&DLV.tkey, tstate_free) == 0;
}

/* ca_deliver_fini: see ca_glue.h. */
void ca_deliver_fini(void)
{
	if (T) {
		if (DLV.tkey_ok) pthread_setspecific(DLV.tkey, NULL);
		tstate_free(T);
		T = NULL;
	}
	if (DLV.tkey_ok) pthread_key_delete(DLV.tkey);
	DLV.tkey_ok = false;
	DLV.fb_resolved = false;
	DLV.fb_parse_sip = DLV.fb_send_hep = NULL;
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
	uint8_t pt = (unsigned)m->app < 3 ? e->hep_type[m->app] : 0;
	if (!pt) { CINC(kind_off); return; }   /* hep-type-http / hep-type-raw 0: not sent */
	if (m->len > PTLS_MAX_DELIVER) {
		CINC(oversize);
		if (ca_rl_allow(&e->rl, e->label)) {
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
		if (!t->overflow_logged && ca_rl_allow(&ca_rl, "*")) {
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
	q->app = m->app;
	q->proto_type = pt;
	q->ts = m->ts;
	t->n++;
	t->bytes += m->len;
}

/* " TLS1.2 SUITE" for what the handshake showed; suite 0 means "not negotiated (yet)", not
 * TLS_NULL_WITH_NULL_NULL, and an unseen version is left out rather than printed as "?". */
static void sess_params(const tls_session_info_t *s, char *out, size_t outlen)
{
	const char *ver = tls_version_name(s->tls_version);
	const char *suite = s->suite ? tls_suite_name(s->suite) : NULL;
	if (!ver && !suite) snprintf(out, outlen, " (handshake not seen)");
	else snprintf(out, outlen, "%s%s%s%s", ver ? " " : "", ver ? ver : "", suite ? " " : "",
	              suite ? suite : "");
}

/* Session status → log: undecryptable final reports at error level (operators must see a
 * missing key), decrypted summaries at notice, intermediate changes at debug. */
static void cb_session(void *user, const tls_session_info_t *s)
{
	ectx_t *e = user;
	if (!s) return;
	char c[64], sv[64], par[160];
	ep_str(s->ep, true, c, sizeof c);
	ep_str(s->ep, false, sv, sizeof sv);
	sess_params(s, par, sizeof par);

	if (s->final && !s->decrypted) {
		if (!ca_rl_allow(&e->rl, e->label)) return;
		TERR("protocol_tls[%s]: session %" PRIu64 " %s->%s: not decrypted (%s)%s%s%s",
		     e->label, s->flow_id, c, sv, tls_reason_name(s->reason), par,
		     s->sni ? " sni=" : "", s->sni ? s->sni : "");
	} else if (s->final) {
		const char *kk = tls_key_kind_name(s->key);
		if (ca_rl_allow(&e->rl_notice, e->label))
			TNOTICE("protocol_tls[%s]: session %" PRIu64 " %s->%s: decrypted%s key=%s%s "
			        "msgs c2s=%" PRIu64 " s2c=%" PRIu64 " bytes c2s=%" PRIu64 " s2c=%" PRIu64,
			        e->label, s->flow_id, c, sv, par, kk ? kk : "?", s->resumed ? " resumed" : "",
			        s->msgs[0], s->msgs[1], s->bytes[0], s->bytes[1]);
		if ((s->gaps[0] || s->gaps[1]) && ca_rl_allow(&e->rl, e->label))
			TERR("protocol_tls[%s]: session %" PRIu64 " %s->%s: capture lost bytes (%s): "
			     "c2s %" PRIu64 " bytes in %" PRIu64 " gaps, s2c %" PRIu64 " bytes in %" PRIu64 " gaps",
			     e->label, s->flow_id, c, sv, tls_reason_name(s->reason),
			     s->lost_bytes[0], s->gaps[0], s->lost_bytes[1], s->gaps[1]);
	} else if (s->decrypted) {
		TDEBUG("protocol_tls[%s]: session %" PRIu64 " %s->%s:%s decrypting", e->label,
		       s->flow_id, c, sv, par);
	} else if (s->reason == TLS_REASON_NONE) {
		TDEBUG("protocol_tls[%s]: session %" PRIu64 " %s->%s:%s handshake in progress",
		       e->label, s->flow_id, c, sv, par);
	} else {
		TDEBUG("protocol_tls[%s]: session %" PRIu64 " %s->%s:%s not decryptable (%s)",
		       e->label, s->flow_id, c, sv, par, tls_reason_name(s->reason));
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

/* ca_engine_callbacks: see ca_glue.h. */
void ca_engine_callbacks(tls_callbacks_t *cb, ectx_t *e)
{
	memset(cb, 0, sizeof *cb);
	cb->on_message = cb_message;
	cb->on_session = cb_session;
	cb->on_log = cb_log;
	cb->user = e;
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
	m->rcinfo.proto_type = q->proto_type;
	double ts = q->ts > 0 ? q->ts : 0;
	uint32_t sec = (uint32_t)ts;
	long usec = (long)((ts - (double)sec) * 1e6 + 0.5);
	if (usec >= 1000000) { sec++; usec -= 1000000; }
	if (usec < 0) usec = 0;
	m->rcinfo.time_sec = sec;
	m->rcinfo.time_usec = (uint32_t)usec;
}

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
			if (e->all_profiles && f == ca_parse_tls0) return true;
			if (!e->all_profiles && f == ca_parse_tls1 && a->p2_type == PTLS_STRING_ST &&
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
	pthread_mutex_lock(&DLV.plan_lock);
	int idx = main_ct.idx;
	if (e->plan_walked && e->plan_walk_idx == idx) {
		int k = e->plan_k;
		pthread_mutex_unlock(&DLV.plan_lock);
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
			     e->label, e->all_profiles ? "()" : "(\"", e->all_profiles ? "" : e->label,
			     e->all_profiles ? "" : "\")", nh, k);
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
	pthread_mutex_unlock(&DLV.plan_lock);
	return k;
}

/* The "send" fallback: parse_sip + send_hep found through the core's export table (HTTP
 * and raw messages skip parse_sip: it would reject them). */
static void fallback_send(msg_t *copy, tls_app_t app)
{
	pthread_mutex_lock(&DLV.plan_lock);
	if (!DLV.fb_resolved && find_export) {
		DLV.fb_parse_sip = find_export("parse_sip", 0, 0);
		DLV.fb_send_hep = find_export("send_hep", 1, 0);
		DLV.fb_resolved = true;
	}
	cmd_function ps = DLV.fb_parse_sip, sh = DLV.fb_send_hep;
	pthread_mutex_unlock(&DLV.plan_lock);
	if (!sh) { CINC(fallback_dropped); return; }
	if (app == TLS_APP_SIP && ps && ps(copy, NULL, NULL) <= 0) { CINC(fallback_dropped); return; }
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
	t->dlv[1] = (delivered_t){ copy, copy->data, q->app };
	int k = plan_for(e);
	t->rerun = e;
	if (k >= 0) {
		struct run_act_ctx ctx;
		memset(&ctx, 0, sizeof ctx);
		run_actions(&ctx, main_ct.clist[k], copy);
		CINC(reruns);
	} else {
		fallback_send(copy, q->app);
	}
	t->rerun = NULL;
	t->dlv[1].msg = NULL;
	if (copy->corrdata && copy->corrdata != msg->corrdata) free(copy->corrdata);
	copy->corrdata = NULL;
	CINC(delivered);
}

/* ca_delivered_app: see ca_glue.h. */
int ca_delivered_app(const msg_t *msg)
{
	tstate_t *t = T;
	if (!t || !msg) return -1;
	for (int i = 0; i < 2; i++)
		if (t->dlv[i].msg == msg && t->dlv[i].data == (const void *)msg->data)
			return (int)t->dlv[i].app;
	return -1;
}

/* ca_rerun_answer: see ca_glue.h. */
int ca_rerun_answer(const ectx_t *e)
{
	tstate_t *t = T;
	if (!t || !t->rerun) return 0;
	return (e && t->rerun->eng == e->eng) ? 1 : -1;
}

/* ca_parse_tls_site: parse_tls for one site; see ca_glue.h and the file comment. */
int ca_parse_tls_site(msg_t *msg, ectx_t *e)
{
	tstate_t *t = T;
	if (t && t->rerun) return (t->rerun->eng == e->eng) ? 1 : -1;
	if (!msg || !e->usable || !e->eng) return -1;
	CINC(calls);
	t = tstate_get();
	if (!t) return -1;
	t->dlv[0].msg = NULL;

	seg_t s;
	if (!ca_msg_to_segment(msg, &s)) return -1;
	double ts = ca_msg_time(msg);
	/* a raw fragment has no ports to own a flow by; a copy from another thread is an exact
	 * duplicate the reassembly drops (or, once complete, a retransmission TCP ignores) */
	if (!s.frag_ip && !ca_owner_ok(e, &s, ts)) { CINC(segments_foreign); return -1; }
	CINC(segments);

	/* socket_pcap cancels its capture threads at shutdown; a cancellation inside the
	 * engine (its lock held, e.g. while a callback logs) would deadlock unload_f. */
	int cancel_old;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_old);
	tstate_reset(t);
	t->overflow_logged = false;
	t->feeding = true;
	if (s.frag_ip) {
		CINC(ip_fragments);
		tls_engine_feed_ip(e->eng, s.frag_ip, s.frag_len, ts);
	} else {
		tls_engine_feed_tcp(e->eng, &s.s, ts);
	}
	t->feeding = false;

	size_t n = t->n;
	if (n) {
		for (size_t i = 0; i + 1 < n; i++) deliver_extra(t, msg, e, &t->q[i]);
		fill_msg(msg, &t->q[n - 1], t->ip[0]);
		t->dlv[0] = (delivered_t){ msg, msg->data, t->q[n - 1].app };
		CINC(delivered);
	}
	pthread_setcancelstate(cancel_old, NULL);
	return n ? 1 : -1;
}
