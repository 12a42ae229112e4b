/*
 * protocol_tls.c — the captagent 6.4 glue of protocol_tls: module exports (the parse_tls
 * cmd functions, the tls_is_sip()/tls_is_http() plan tests, bind_api, `exports`), load/unload (configuration, keystores, engines),
 * statistics, serial and description, and the glue's logging helpers. It only translates
 * between captagent's msg_t world and the engine (tls_engine.h); all TLS work happens in
 * the engine.
 *
 * Why the glue is split (one file per concern, shared declarations in ca_glue.h):
 *   protocol_tls.c  this file: what captagent calls directly, and the module's lifetime;
 *   ca_segment.c    recovering the TCP segment of the captured frame from msg_t
 *                   (self-consistent header search, tcpdefrag, header-less fallback
 *                   sequence numbers) and flow ownership per capture thread;
 *   ca_deliver.c    the engine callbacks, the per-thread message queue and delivery of
 *                   every message of a packet through the capture plan (parse_tls_site).
 *
 * What parse_tls() does (contract in ../shared/design.md, ABI facts in captagent-abi.md):
 * recovers the TCP segment of the captured frame and feeds it to the profile's engine
 * (ca_segment.c); every completed plaintext message reaches the rest of the capture plan
 * exactly once, in order — the last one in msg (return 1), the others by re-running the
 * plan or through the parse_sip + send_hep fallback (ca_deliver.c); no message returns -1,
 * never 0 (0 means DROP in captagent).
 *
 * Threading: socket_pcap runs one thread per profile, all calling into here. Engines are
 * internally locked; queues, copies and address strings are per thread (ca_deliver.c);
 * the plan cache, the fallback seq table and the ownership table have their own locks.
 * When profiles' filters overlap, each flow is fed only by the first thread that saw it
 * (ca_owner_ok), so a message is never delivered once per thread. Load and unload run
 * with no capture thread inside the module.
 *
 * Symbols: built with -fvisibility=hidden; `exports` is the only visible symbol. Host
 * symbols are weak (ca_glue.h) so the module can never make dlopen fail; missing ones
 * degrade (e.g. no run_actions → send fallback, no data_log → stderr).
 */
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

#define PTLS_FILE "protocol_tls.c"
#include "ca_glue.h"
#include "tls_config.h"
#include "keylog_listen.h"

#define PTLS_MODULE_NAME "protocol_tls"
#define PTLS_MODULE_SERIAL 2025010101ULL
/* Session-report log lines per second per engine before suppression. */
#define PTLS_LOG_PER_SEC 20u

/* ---------------------------------------------------------------- logging ---- */

/* ca_log: see ca_glue.h. */
void ca_log(int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (data_log) data_log(prio, "%s", line);
	else fprintf(stderr, "%s\n", line);
}

ratelimit_t ca_rl = { .m = PTHREAD_MUTEX_INITIALIZER };

static void rl_report(const ratelimit_t *rl, const char *label, unsigned long n)
{
	if (n && rl->notice)
		TNOTICE("protocol_tls[%s]: %lu session summar%s not logged (more than %u per second)", label, n,
		        n == 1 ? "y" : "ies", PTLS_LOG_PER_SEC);
	else if (n)
		TERR("protocol_tls[%s]: %lu log line%s suppressed (more than %u per second)", label, n,
		     n == 1 ? "" : "s", PTLS_LOG_PER_SEC);
}

/* ca_rl_allow: see ca_glue.h. */
bool ca_rl_allow(ratelimit_t *rl, const char *label)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	bool ok;
	unsigned long dropped = 0;
	pthread_mutex_lock(&rl->m);
	if (ts.tv_sec != rl->sec) {
		dropped = rl->suppressed;
		rl->suppressed = 0;
		rl->sec = ts.tv_sec;
		rl->n = 0;
	}
	ok = rl->n < PTLS_LOG_PER_SEC;
	if (ok) rl->n++;
	else rl->suppressed++;
	pthread_mutex_unlock(&rl->m);
	rl_report(rl, label, dropped);
	return ok;
}

/* ca_rl_flush: see ca_glue.h. */
void ca_rl_flush(ratelimit_t *rl, const char *label)
{
	pthread_mutex_lock(&rl->m);
	unsigned long dropped = rl->suppressed;
	rl->suppressed = 0;
	pthread_mutex_unlock(&rl->m);
	rl_report(rl, label, dropped);
}

/* ------------------------------------------------------------ module state ---- */

static struct {
	bool loaded;
	char conf_path[PATH_MAX];
	tls_conf_t conf;
	ectx_t *prof;               /* parallel to conf.profiles */
	size_t n_prof;
	ectx_t all;                 /* parse_tls() */
} G;

/* keylog-listen: one UDP listener thread per profile that has one, feeding that profile's
 * keystore (kept apart from ectx_t: the listener is not per capture thread). */
static kl_listener_t *G_kll[256];
static size_t G_n_kll;

ca_counters_t ca_count;

/* ------------------------------------------------------------ module exports ---- */

/* Profile lookup for parse_tls("name"). */
static ectx_t *site_by_name(const char *name)
{
	for (size_t i = 0; i < G.n_prof; i++)
		if (!strcmp(G.prof[i].label, name)) return &G.prof[i];
	return NULL;
}

/* ca_parse_tls0: parse_tls(): every profile's keys, one engine. See ca_glue.h. */
int ca_parse_tls0(msg_t *msg, char *p1, char *p2)
{
	(void)p1; (void)p2;
	if (!G.loaded) return -1;
	return ca_parse_tls_site(msg, &G.all);
}

/* ca_parse_tls1: parse_tls("profile"): that profile's engine only. See ca_glue.h. */
int ca_parse_tls1(msg_t *msg, char *p1, char *p2)
{
	(void)p2;
	if (!G.loaded) return -1;
	ectx_t *e = p1 ? site_by_name(p1) : NULL;
	int rerun = ca_rerun_answer(e);
	if (rerun) return rerun;
	if (!e) {
		if (ca_rl_allow(&ca_rl, "*"))
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
	return ca_parse_tls_site(msg, e);
}

/* tls_is_sip(): true when msg holds a SIP message delivered by parse_tls (the packet's or
 * a rerun's), false otherwise — HTTP, raw, or no message. The plan asks it before
 * parse_sip: parse_sip rejects HTTP but still sets rcinfo.proto_type to 1. Never 0 (DROP). */
static int w_tls_is_sip(msg_t *msg, char *p1, char *p2)
{
	(void)p1; (void)p2;
	return ca_delivered_app(msg) == TLS_APP_SIP ? 1 : -1;
}

/* tls_is_http(): true when msg holds an HTTP message delivered by parse_tls. */
static int w_tls_is_http(msg_t *msg, char *p1, char *p2)
{
	(void)p1; (void)p2;
	return ca_delivered_app(msg) == TLS_APP_HTTP ? 1 : -1;
}

/* interface_http looks up <module>_bind_api for protocol modules (it does not call it in
 * 6.4). If called, fills the protocol API with our name and a parse function. */
static int parse_api(msg_t *msg) { return ca_parse_tls0(msg, NULL, NULL); }
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

/* The <profile> elements under n, in document order (not inside <settings>); counts all,
 * stores the first max in out. */
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

/* Host-level params (not part of tls_config): plan-index per profile, in document order
 * (the same order tls_config_load uses). Returns 0, or -1 after logging the problem. */
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

/* The HEP protocol type per app kind of a site using profile p's settings. */
static void set_hep_types(ectx_t *e, const tls_profile_conf_t *p)
{
	e->hep_type[TLS_APP_SIP] = 1;
	e->hep_type[TLS_APP_HTTP] = p->hep_type_http;
	e->hep_type[TLS_APP_RAW] = p->hep_type_raw;
}

/* A fresh, unusable site named label (no engine, no plan resolved yet). */
static void ectx_init(ectx_t *e, const char *label)
{
	memset(e, 0, sizeof *e);
	snprintf(e->label, sizeof e->label, "%s", label);
	e->plan_index = -1;
	e->plan_k = -1;
	pthread_mutex_init(&e->rl.m, NULL);
	pthread_mutex_init(&e->rl_notice.m, NULL);
	e->rl_notice.notice = true;
}

/* An engine over the keystores ks[0..nks) whose callbacks report to site e (ca_deliver.c).
 * NULL on failure. */
static tls_engine_t *make_engine(const tls_engine_config_t *cfg, tls_keystore_t *const *ks,
                                 size_t nks, ectx_t *e)
{
	tls_callbacks_t cb;
	ca_engine_callbacks(&cb, e);
	return tls_engine_new(cfg, ks, nks, &cb);
}

static int unload_module(void);

/* The load-order trap: socket_pcap parses its capture plans (and starts capturing) inside
 * its own load step, so a plan can only call functions of modules loaded before it.
 * captagent sets main_ct.idx to -1 before loading modules; a plan already parsed when we
 * load means a socket module came first, and none of its plans can call parse_tls():
 * captagent logged "<parse_tls> not found" and now logs "null action list" for every
 * packet of such a plan (its parser keeps the broken plan, so that cannot be told from a
 * plan that never called parse_tls). Logged once at load, at error level, with the fix. */
static void check_load_order(void)
{
	if (!&main_ct || main_ct.idx < 0) return;
	int n = main_ct.idx >= PTLS_CLIST_MAX ? PTLS_CLIST_MAX : main_ct.idx + 1;
	TERR("protocol_tls: loaded AFTER socket_pcap (or another socket module): its %d capture "
	     "plan(s) were parsed before parse_tls() existed, so a plan calling it failed with "
	     "\"<parse_tls> not found\" and captagent drops its packets (\"null action list\"). "
	     "In captagent.xml move <load module=\"protocol_tls\"> above <load module=\"socket_pcap\">",
	     n);
}

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
	memset(&ca_count, 0, sizeof ca_count);   /* totals are per load (no thread runs yet) */
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
	G.all.all_profiles = true;
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
		if (p->keylog_listen) {
			kl_listener_t *l = G_n_kll < 256 ? kl_listener_open(p->keylog_listen, p->keylog_allow, p->keylog_max_datagram,
			                                                    e->ks, err, sizeof err) : NULL;
			if (l && kl_listener_start(l, err, sizeof err) < 0) { kl_listener_free(l); l = NULL; }
			if (!l) {
				if (G_n_kll >= 256) snprintf(err, sizeof err, "too many key-log listeners");
				TERR("%s: profile %s: %s; profile disabled", G.conf_path, p->name, err);
				tls_engine_free(e->eng);
				e->eng = NULL;
				tls_keystore_unref(e->ks);
				e->ks = NULL;
				continue;
			}
			G_kll[G_n_kll++] = l;
			TNOTICE("protocol_tls: profile %s: receiving key-log lines on %s (keylog-allow: %s)",
			        p->name, kl_listener_describe(l), p->keylog_allow ? p->keylog_allow : "loopback");
		}
		e->owns_engine = true;
		e->usable = true;
		e->flow_timeout = p->engine.flow_timeout;
		set_hep_types(e, p);
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
	set_hep_types(&G.all, first);   /* parse_tls() uses the first usable profile's */
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
	check_load_order();
	ca_deliver_init();
	G.loaded = true;
	TNOTICE("protocol_tls: %s: %zu usable profile(s) of %zu, %zu key file(s) loaded",
	        G.conf_path, nst, G.n_prof, nkeys);
	return 0;
fail:
	unload_module();
	return -1;
}

static void stats_glue(char *buf, size_t len, size_t *off);
static void stats_listeners(char *buf, size_t len, size_t *off);
static void stats_engine(char *buf, size_t len, size_t *off, const char *label,
                         tls_engine_t *eng);

/* The totals of stats_f, logged at unload one line per engine (a captagent log line holds
 * about 1 KiB; stats_f's 800-byte answer may be cut). Engines are flushed first so that
 * flows still open count, and their final session reports are logged before the totals. */
static void log_totals(void)
{
	for (size_t i = 0; i < G.n_prof; i++)
		if (G.prof[i].usable && G.prof[i].owns_engine) tls_engine_flush(G.prof[i].eng);
	if (G.all.owns_engine && G.all.eng) tls_engine_flush(G.all.eng);
	for (size_t i = 0; i < G.n_prof; i++) {
		ca_rl_flush(&G.prof[i].rl, G.prof[i].label);
		ca_rl_flush(&G.prof[i].rl_notice, G.prof[i].label);
	}
	ca_rl_flush(&G.all.rl, G.all.label);
	ca_rl_flush(&G.all.rl_notice, G.all.label);
	ca_rl_flush(&ca_rl, "*");
	char line[900];
	size_t off = 0;
	line[0] = '\0';
	stats_glue(line, sizeof line, &off);
	TNOTICE("protocol_tls: totals at unload: segments=%" PRIu64 " %s", CGET(segments), line);
	if (G_n_kll) {
		off = 0;
		line[0] = '\0';
		stats_listeners(line, sizeof line, &off);
		TNOTICE("protocol_tls: totals at unload: %s", line);
	}
	if (G.all.owns_engine && G.all.eng) {
		off = 0;
		line[0] = '\0';
		stats_engine(line, sizeof line, &off, "*", G.all.eng);
		TNOTICE("protocol_tls: totals at unload: %s", line);
	}
	for (size_t i = 0; i < G.n_prof; i++) {
		if (!G.prof[i].usable) continue;
		off = 0;
		line[0] = '\0';
		stats_engine(line, sizeof line, &off, G.prof[i].label, G.prof[i].eng);
		TNOTICE("protocol_tls: totals at unload: %s", line);
	}
}

/* unload_f: final session reports and the totals of stats_f (logged), then free engines,
 * keystores, config, this thread's buffers and the segment tables (capture threads are
 * joined before captagent unloads protocol modules). Also the cleanup of a failed
 * load_module. */
static int unload_module(void)
{
	if (G.loaded) log_totals();
	G.loaded = false;
	for (size_t i = 0; i < G_n_kll; i++) kl_listener_free(G_kll[i]);   /* threads joined */
	G_n_kll = 0;
	if (G.all.owns_engine && G.all.eng) tls_engine_free(G.all.eng);
	G.all.eng = NULL;
	for (size_t i = 0; G.prof && i < G.n_prof; i++) {
		if (G.prof[i].owns_engine && G.prof[i].eng) tls_engine_free(G.prof[i].eng);
		if (G.prof[i].ks) tls_keystore_unref(G.prof[i].ks);
		pthread_mutex_destroy(&G.prof[i].rl.m);
		pthread_mutex_destroy(&G.prof[i].rl_notice.m);
	}
	free(G.prof);
	G.prof = NULL;
	G.n_prof = 0;
	tls_config_free(&G.conf);
	ca_deliver_fini();
	ca_segment_fini();
	memset(&G.all, 0, sizeof G.all);
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
	if (st.ws_upgrades && *off < len - 1) {
		n = snprintf(buf + *off, len - *off,
		             "ws_msgs=%" PRIu64 " ws_sip=%" PRIu64 " ws_control=%" PRIu64 " ws_unexpected=%" PRIu64
		             " ws_oversize=%" PRIu64 " ws_inflated=%" PRIu64 " ws_compressed=%" PRIu64 " ws_cut=%" PRIu64 "; ",
		             st.ws_messages, st.ws_sip, st.ws_control, st.ws_unexpected, st.ws_oversize,
		             st.ws_inflated, st.ws_compressed, st.ws_gap_cut);
		if (n < 0) return;
		*off += (size_t)n < len - *off ? (size_t)n : len - *off - 1;
	}
	if (st.frag_fragments && *off < len - 1) {
		n = snprintf(buf + *off, len - *off, "frag_fragments=%" PRIu64 " frag_datagrams=%" PRIu64
		             " frag_timeouts=%" PRIu64 " frag_overlaps=%" PRIu64 " frag_duplicates=%" PRIu64
		             " frag_evicted=%" PRIu64 " frag_dropped=%" PRIu64 "; ", st.frag_fragments,
		             st.frag_datagrams, st.frag_timeouts, st.frag_overlaps, st.frag_duplicates,
		             st.frag_evicted, st.frag_dropped);
		if (n < 0) return;
		*off += (size_t)n < len - *off ? (size_t)n : len - *off - 1;
	}
}

/* The key-log listeners' counters, appended at *off. */
static void stats_listeners(char *buf, size_t len, size_t *off)
{
	for (size_t i = 0; i < G_n_kll && *off < len - 1; i++) {
		kl_listener_stats_t st;
		kl_listener_get_stats(G_kll[i], &st);
		int n = snprintf(buf + *off, len - *off, "keylog_listen %s: dgrams=%" PRIu64 " lines=%"
		                 PRIu64 " new=%" PRIu64 " malformed=%" PRIu64 " ignored=%" PRIu64
		                 " rejected=%" PRIu64 " oversize=%" PRIu64 "; ", kl_listener_describe(G_kll[i]),
		                 st.datagrams, st.lines, st.secrets_new, st.malformed, st.ignored,
		                 st.rejected, st.oversize);
		if (n < 0) return;
		*off += (size_t)n < len - *off ? (size_t)n : len - *off - 1;
	}
}

/* The glue's own counters, appended at *off. */
static void stats_glue(char *buf, size_t len, size_t *off)
{
	if (*off >= len) return;
	int n = snprintf(buf + *off, len - *off, "delivered=%" PRIu64 " reruns=%" PRIu64
	                 " fallback=%" PRIu64 " skipped_keepalive=%" PRIu64 " skipped_oversize=%"
	                 PRIu64 " skipped_kind=%" PRIu64 " dropped=%" PRIu64 " dup_thread=%" PRIu64
	                 " ip_fragments=%" PRIu64 "; ", CGET(delivered), CGET(reruns), CGET(fallback_sent),
	                 CGET(keepalives), CGET(oversize), CGET(kind_off),
	                 CGET(queue_overflow) + CGET(fallback_dropped), CGET(segments_foreign), CGET(ip_fragments));
	if (n > 0) *off += (size_t)n < len - *off ? (size_t)n : len - *off - 1;
}

/* stats_f: counters in the spirit of wolfSSL's SSLStats, always NUL-terminated within len
 * (interface_http passes 800 bytes). Returns the length written. */
static int statistic(char *buf, size_t len)
{
	if (!buf || !len) return 0;
	buf[0] = '\0';
	size_t off = 0;
	stats_glue(buf, len, &off);
	if (G.loaded) stats_listeners(buf, len, &off);
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
	{ "parse_tls", ca_parse_tls0, 0, 0, 0, 0 },
	{ "parse_tls", ca_parse_tls1, 1, 0, 0, 0 },
	{ "tls_is_sip", w_tls_is_sip, 0, 0, 0, 0 },
	{ "tls_is_http", w_tls_is_http, 0, 0, 0, 0 },
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
