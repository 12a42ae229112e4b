/*
 * modhost_core.c — the "core" of the captagent host: the symbols captagent's executable
 * exports to modules (data_log, run_actions, find_export, global_config_path, main_ct;
 * the programs link -rdynamic), run_actions with captagent's conf_function.c semantics
 * (0 = drop, < 0 = false), the record of every message the plan saw, and plan building.
 *
 * Why: the module's contract is with a host `make check` cannot run; this plays it
 * faithfully, so a module that works here behaves the same under captagent 6.4:
 * find_export looks a command up by name AND param count like captagent, and messages
 * returned through msg and those delivered by the module's rerun of the plan both end in
 * the record (rec_t.via says which).
 */
#define TAP_DEFINE_STATE
#include "modhost.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *global_config_path;
struct capture_list main_ct;

#define LOGRING 256
static char logring[LOGRING][512];
static int lognext, logcount;
int verbose;

/* data_log: keep the last lines for inspection; print them with HARNESS_VERBOSE=1. */
void data_log(int priority, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(logring[lognext], sizeof logring[0], fmt, ap);
	va_end(ap);
	if (verbose) printf("# log(%d): %s\n", priority, logring[lognext]);
	lognext = (lognext + 1) % LOGRING;
	logcount++;
}

void log_clear(void) { lognext = 0; logcount = 0; memset(logring, 0, sizeof logring); }

/* True if a logged line contains all of the given fragments. */
int log_has(const char *a, const char *b)
{
	int n = logcount < LOGRING ? logcount : LOGRING;
	for (int i = 0; i < n; i++)
		if (strstr(logring[i], a) && (!b || strstr(logring[i], b))) return 1;
	return 0;
}

cmd_export_t *mod_cmds;      /* the module's command table */
int fallback_used;

/* parse_sip / send_hep stand-ins for the module's "send" fallback. */
static int stub_parse_sip(msg_t *m, char *a, char *b);
static int stub_send_hep(msg_t *m, char *a, char *b);

/* find_export: name + exact param_no over the module's table, then our stubs. */
cmd_function find_export(char *name, int param_no, int flags)
{
	(void)flags;
	for (cmd_export_t *c = mod_cmds; c && c->name; c++)
		if (!strcmp(c->name, name) && c->param_no == param_no) return c->function;
	if (!strcmp(name, "parse_sip") && param_no == 0) return stub_parse_sip;
	if (!strcmp(name, "send_hep") && param_no == 1) return stub_send_hep;
	data_log(LOG_ERR, "[ERR] harness find_export: <%s> not found", name);
	return NULL;
}

/* ---- capture-plan interpreter with captagent's semantics (conf_function.c) ---- */
#define EXPR_DROP (-127)
cmd_function fn_parse_tls0, fn_parse_tls1;
int parse_tls_zero_returns;   /* parse_tls returning 0 (= DROP) is a bug */
static int eval_expr(struct run_act_ctx *h, struct ptls_expr *e, msg_t *msg);

static int do_action(struct run_act_ctx *h, struct action *a, msg_t *msg)
{
	int ret = 1, v;
	switch (a->type) {
	case PTLS_DROP_T:
		return 0;
	case PTLS_IF_T:
		if (a->p1_type == PTLS_EXPR_ST && a->p1.data) {
			v = eval_expr(h, a->p1.data, msg);
			if (v < 0 && v == EXPR_DROP) return 0;
			ret = 1;
			if (v > 0) {
				if (a->p2_type == PTLS_ACTIONS_ST && a->p2.data) ret = run_actions(h, a->p2.data, msg);
			} else if (a->p3_type == PTLS_ACTIONS_ST && a->p3.data) {
				ret = run_actions(h, a->p3.data, msg);
			}
		}
		return ret;
	case PTLS_MODULE_T: {
		cmd_function f = (cmd_function)a->p1.data;
		ret = f(msg, a->p2.string, a->p3.string);
		if ((f == fn_parse_tls0 || f == fn_parse_tls1) && ret == 0)
			__atomic_fetch_add(&parse_tls_zero_returns, 1, __ATOMIC_RELAXED);
		return ret;
	}
	default:
		return 0;
	}
}

static int eval_expr(struct run_act_ctx *h, struct ptls_expr *e, msg_t *msg)
{
	int ret = -1;
	if (e->type == PTLS_ELEM_T) {
		if (e->l.operand == PTLS_ACTION_O) {
			ret = run_actions(h, e->r.param, msg);
			ret = ret <= 0 ? (ret == 0 ? EXPR_DROP : 0) : 1;
		} else if (e->l.operand == PTLS_NUMBER_O) {
			ret = !!e->r.intval;
		}
	} else if (e->type == PTLS_EXP_T) {
		switch (e->op) {
		case PTLS_AND_OP: ret = eval_expr(h, e->l.expr, msg); if (ret == 1) ret = eval_expr(h, e->r.expr, msg); break;
		case PTLS_OR_OP: ret = eval_expr(h, e->l.expr, msg); if (ret == 0) ret = eval_expr(h, e->r.expr, msg); break;
		case PTLS_NOT_OP: ret = eval_expr(h, e->l.expr, msg); if (ret >= 0) ret = !ret; break;
		}
	}
	return ret;
}

int run_actions(struct run_act_ctx *h, struct action *a, msg_t *msg)
{
	int ret = 0;
	h->route_rec_lev++;
	for (struct action *t = a; t; t = t->next) {
		ret = do_action(h, t, msg);
		if (ret == 0) break;
	}
	h->route_rec_lev--;
	return ret;
}

/* ============================================================ recorded output ==== */


rec_t *recs;
size_t nrecs;
static size_t caprecs;
__thread msg_t *outer_msg;  /* the msg_t this thread passed for the current packet */
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;

void rec_add(const msg_t *m, int via)
{
	pthread_mutex_lock(&rec_lock);
	if (nrecs == caprecs) {
		caprecs = caprecs ? caprecs * 2 : 64;
		recs = realloc(recs, caprecs * sizeof *recs);
	}
	rec_t *r = &recs[nrecs++];
	memset(r, 0, sizeof *r);
	r->data = malloc(m->len ? m->len : 1);
	memcpy(r->data, m->data, m->len);
	r->len = m->len;
	snprintf(r->src, sizeof r->src, "%s", m->rcinfo.src_ip ? m->rcinfo.src_ip : "");
	snprintf(r->dst, sizeof r->dst, "%s", m->rcinfo.dst_ip ? m->rcinfo.dst_ip : "");
	r->sport = m->rcinfo.src_port;
	r->dport = m->rcinfo.dst_port;
	r->tsec = m->rcinfo.time_sec;
	r->family = m->rcinfo.ip_family;
	r->via = via;
	r->proto_type = m->rcinfo.proto_type;
	pthread_mutex_unlock(&rec_lock);
}

void recs_clear(void)
{
	for (size_t i = 0; i < nrecs; i++) free(recs[i].data);
	nrecs = 0;
}

/* The plan's "after parse_tls" action. */
static int h_record(msg_t *m, char *a, char *b)
{
	(void)a; (void)b;
	rec_add(m, m == outer_msg ? 0 : 1);
	return 1;
}

static int stub_parse_sip(msg_t *m, char *a, char *b)
{
	(void)a; (void)b;
	return (m->len && ((const char *)m->data)[0] >= 'A') ? 1 : -1;
}

static int stub_send_hep(msg_t *m, char *a, char *b)
{
	(void)b;
	if (!a || strcmp(a, "hepsocket")) return -1;
	rec_add(m, 2);
	fallback_used++;
	return 1;
}

/* ---- building plans ---- */
struct action act_pool[32];      /* build_plan: 8 per slot (call, record, if, drop) */
static struct ptls_expr expr_pool[8];

/* clist[slot] = [ if (parse_tls(arg)) { record(); } ; drop ] */
void build_plan(int slot, const char *arg, int with_call)
{
	int base = slot * 8;
	struct action *call = &act_pool[base], *rec = &act_pool[base + 1], *iff = &act_pool[base + 2],
	              *drop = &act_pool[base + 3];
	struct ptls_expr *ex = &expr_pool[slot];
	memset(call, 0, 4 * sizeof *call);
	memset(ex, 0, sizeof *ex);
	call->type = PTLS_MODULE_T;
	call->p1_type = PTLS_CMDF_ST;
	call->p1.data = (void *)(arg ? fn_parse_tls1 : fn_parse_tls0);
	if (arg) { call->p2_type = PTLS_STRING_ST; call->p2.string = (char *)arg; }
	if (!with_call) call->p1.data = (void *)h_record;   /* a plan that does not call parse_tls */
	rec->type = PTLS_MODULE_T;
	rec->p1_type = PTLS_CMDF_ST;
	rec->p1.data = (void *)h_record;
	ex->type = PTLS_ELEM_T;
	ex->op = 12;
	ex->subtype = PTLS_ACTIONS_ST;
	ex->l.operand = PTLS_ACTION_O;
	ex->r.param = call;
	iff->type = PTLS_IF_T;
	iff->p1_type = PTLS_EXPR_ST;
	iff->p2_type = PTLS_ACTIONS_ST;
	iff->p1.data = ex;
	iff->p2.data = rec;
	iff->next = drop;
	drop->type = PTLS_DROP_T;
	main_ct.clist[slot] = iff;
	if (slot > main_ct.idx) main_ct.idx = slot;
}

void plans_reset(void) { memset(&main_ct, 0, sizeof main_ct); main_ct.idx = -1; }
