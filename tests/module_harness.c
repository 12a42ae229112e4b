/*
 * module_harness.c — loads protocol_tls.so the way captagent 6.4 does and drives
 * parse_tls() with msg_t built exactly like socket_pcap builds them (TAP output).
 *
 * Why: the module's contract is with a host we cannot run in `make check`. This program
 * plays that host faithfully:
 *  - it defines and exports (linked -rdynamic) the core symbols the module imports:
 *    data_log, run_actions, find_export, global_config_path, main_ct;
 *  - dlopen(RTLD_NOW) with local scope, dlsym("exports"), load_f with a garbage pointer
 *    (captagent's is uninitialised), parse_tls looked up by name AND param count;
 *  - a capture plan `if(parse_tls()) { record(); } drop;` in main_ct.clist[0], run by a
 *    run_actions that follows captagent's conf_function.c semantics (0 = drop, <0 = false),
 *    so messages returned through msg and messages delivered by the module's "rerun" of the
 *    plan both land in record();
 *  - msg_t per packet as socket_pcap's callback_proto fills it: cap_packet/cap_header,
 *    hdr_len = link + VLAN + IP + TCP headers, len from caplen (Ethernet padding included:
 *    frames are padded to 60 bytes like on the wire), data = cap_packet + hdr_len,
 *    tcpflag, rcinfo strings in per-packet stack buffers, pcap timestamps;
 *  - the tcpdefrag=true mode simulated like tcpreasm.c (payloads of ACK segments appended
 *    in arrival order until PSH; data = malloc'd copy; headers of the last segment).
 * Every recorded message must equal the generator's plaintext byte for byte, once, in
 * order, with rcinfo src/dst/ports of its direction.
 *
 * Usage: module_harness [path/to/protocol_tls.so]  (default $PTLS_MODULE_SO, else
 * $top_builddir/.libs/protocol_tls.so). Captures come from tlsgen (real OpenSSL peers) and
 * ../shared/samples when present.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "captagent_abi.h"
#include "cursor.h"
#include "tap.h"
#include "tlsgen.h"
#include "pcapfrag.h"

/* ================================================================ the "core" ==== */
/* Symbols below are what captagent's executable exports to modules (-rdynamic). */

char *global_config_path;
struct capture_list main_ct;

#define LOGRING 256
static char logring[LOGRING][512];
static int lognext, logcount;
static int verbose;

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

static void log_clear(void) { lognext = 0; logcount = 0; memset(logring, 0, sizeof logring); }

/* True if a logged line contains all of the given fragments. */
static int log_has(const char *a, const char *b)
{
	int n = logcount < LOGRING ? logcount : LOGRING;
	for (int i = 0; i < n; i++)
		if (strstr(logring[i], a) && (!b || strstr(logring[i], b))) return 1;
	return 0;
}

static cmd_export_t *mod_cmds;      /* the module's command table */
static int fallback_used;

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
static cmd_function fn_parse_tls0, fn_parse_tls1;
static int parse_tls_zero_returns;   /* parse_tls returning 0 (= DROP) is a bug */
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

typedef struct rec {
	uint8_t *data;
	size_t len;
	char src[64], dst[64];
	uint16_t sport, dport;
	uint32_t tsec;
	int family;
	int via;                /* 0 = returned in msg, 1 = plan rerun, 2 = send fallback */
	uint8_t proto_type;     /* rcinfo.proto_type (HEP chunk 0x000b) */
} rec_t;

static rec_t *recs;
static size_t nrecs, caprecs;
static __thread msg_t *outer_msg;  /* the msg_t this thread passed for the current packet */
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;

static void rec_add(const msg_t *m, int via)
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

static void recs_clear(void)
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
static struct action act_pool[32];
static struct ptls_expr expr_pool[8];

/* clist[slot] = [ if (parse_tls(arg)) { record(); } ; drop ] */
static void build_plan(int slot, const char *arg, int with_call)
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

static void plans_reset(void) { memset(&main_ct, 0, sizeof main_ct); main_ct.idx = -1; }

/* ================================================= socket_pcap's msg_t, simulated ==== */

typedef struct frameinfo {
	int ok;
	int family;
	size_t hdr_len;             /* link + vlan + ip + tcp */
	uint16_t sport, dport;
	uint8_t flags;
	uint8_t src[16], dst[16];
	size_t payload_len;         /* from caplen, like socket_pcap (padding included) */
	size_t true_len;            /* from the IP length */
} frameinfo_t;

static size_t link_offset(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB: return 14;
	case DLT_LINUX_SLL: return 16;
	case 276: return 20;        /* DLT_LINUX_SLL2 */
	case DLT_NULL: case DLT_LOOP: return 4;
	default: return 0;          /* raw IP */
	}
}

/* Parse a frame like callback_proto does (its offsets, not a general parser). */
static frameinfo_t frame_parse(int dlt, const uint8_t *p, size_t caplen)
{
	frameinfo_t f;
	memset(&f, 0, sizeof f);
	size_t off = link_offset(dlt);
	cursor_t c = cur_init(p, caplen);
	if (dlt == DLT_EN10MB) {
		cur_skip(&c, 12);
		uint16_t et = cur_u16(&c);
		if (et == 0x8100) { off += 4; cur_skip(&c, 2); et = cur_u16(&c); }
		(void)et;
	}
	c = cur_init(p, caplen);
	if (!cur_skip(&c, off)) return f;
	cursor_t ip = cur_rest(&c);
	uint8_t v = cur_u8(&ip);
	size_t ihl, ipl = 0;
	int nonfirst = 0;           /* socket_pcap: a fragment with an offset has no TCP header */
	if ((v >> 4) == 4) {
		ihl = (size_t)(v & 15) * 4;
		cur_skip(&ip, 1);
		ipl = cur_u16(&ip);
		cur_skip(&ip, 2);
		nonfirst = (cur_u16(&ip) & 0x1fff) != 0;
		cur_skip(&ip, 1);
		if (cur_u8(&ip) != 6) return f;
		cur_skip(&ip, 2);
		cur_copy(&ip, f.src, 4);
		cur_copy(&ip, f.dst, 4);
		f.family = AF_INET;
	} else if ((v >> 4) == 6) {
		ihl = 40;
		cur_skip(&ip, 3);
		ipl = (size_t)cur_u16(&ip) + 40;
		uint8_t nh = cur_u8(&ip);
		cur_skip(&ip, 1);
		cur_copy(&ip, f.src, 16);
		cur_copy(&ip, f.dst, 16);
		if (nh == 44) {             /* socket_pcap: Fragment header right after, like here */
			nh = cur_u8(&ip);
			cur_skip(&ip, 1);
			nonfirst = (cur_u16(&ip) & 0xfff8) != 0;
			ihl = 48;
		}
		if (nh != 6) return f;
		f.family = AF_INET6;
	} else {
		return f;
	}
	c = cur_init(p, caplen);
	cur_skip(&c, off + ihl);
	f.sport = cur_u16(&c);
	f.dport = cur_u16(&c);
	cur_skip(&c, 8);
	size_t thl = (size_t)(cur_u8(&c) >> 4) * 4;
	f.flags = cur_u8(&c);
	if (nonfirst) thl = 0;      /* ports and flags stay whatever bytes were there */
	if (cur_failed(&c) && !nonfirst) return f;
	f.hdr_len = off + ihl + thl;
	f.payload_len = caplen > f.hdr_len ? caplen - f.hdr_len : 0;
	f.true_len = ipl > ihl + thl ? ipl - ihl - thl : 0;
	if (f.true_len > f.payload_len) f.true_len = f.payload_len;
	f.ok = 1;
	return f;
}

/* tcpreasm.c simulation: per 4-tuple buffer; appended until PSH; a PSH segment whose
 * length equals the first one's is held back. Returns a malloc'd buffer or NULL. */
typedef struct reasm {
	int used;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint8_t *buf;
	size_t len, first;
} reasm_t;
static __thread reasm_t rs[64];

static uint8_t *defrag_next(const frameinfo_t *f, const uint8_t *data, size_t len, int psh,
                            size_t *out_len)
{
	reasm_t *e = NULL, *freeslot = NULL;
	for (int i = 0; i < 64; i++) {
		if (rs[i].used && rs[i].sport == f->sport && rs[i].dport == f->dport &&
		    !memcmp(rs[i].src, f->src, 16) && !memcmp(rs[i].dst, f->dst, 16)) { e = &rs[i]; break; }
		if (!rs[i].used && !freeslot) freeslot = &rs[i];
	}
	if (psh && !e) {
		uint8_t *r = malloc(len + 10);
		memcpy(r, data, len);
		*out_len = len;
		return r;
	}
	if (!e) {
		e = freeslot;
		memset(e, 0, sizeof *e);
		e->used = 1;
		memcpy(e->src, f->src, 16);
		memcpy(e->dst, f->dst, 16);
		e->sport = f->sport;
		e->dport = f->dport;
		e->first = len;
	}
	e->buf = realloc(e->buf, e->len + len + 10);
	memcpy(e->buf + e->len, data, len);
	e->len += len;
	if (!psh) return NULL;
	if (e->first == len) return NULL;
	uint8_t *r = e->buf;
	*out_len = e->len;
	e->buf = NULL;
	e->used = 0;
	return r;
}

static void defrag_reset(void)
{
	for (int i = 0; i < 64; i++) { free(rs[i].buf); memset(&rs[i], 0, sizeof rs[i]); }
}

enum { MODE_PLAIN = 0, MODE_DEFRAG = 1, MODE_NOFRAME = 2, MODE_DIRECT = 3 };

typedef struct runstats {
	long packets, calls, ret_pos, ret_neg, ret_zero;
} runstats_t;

/* Replay a pcap through the plan (or, in MODE_DIRECT, by calling parse_tls directly and
 * recording a true return — used with a plan that lacks parse_tls, for the fallback). */
static int replay(const char *pcap_path, int mode, runstats_t *st)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(pcap_path, eb);
	if (!pc) { tap_diag("pcap %s: %s", pcap_path, eb); return -1; }
	int dlt = pcap_datalink(pc);
	struct pcap_pkthdr *ph;
	const u_char *pkt;
	memset(st, 0, sizeof *st);
	defrag_reset();
	while (pcap_next_ex(pc, &ph, &pkt) == 1) {
		st->packets++;
		/* Ethernet minimum frame: pad to 60 bytes like a NIC does */
		uint8_t frame[70000];
		struct pcap_pkthdr hdr = *ph;
		size_t caplen = ph->caplen < sizeof frame ? ph->caplen : sizeof frame;
		memcpy(frame, pkt, caplen);
		if (dlt == DLT_EN10MB && caplen < 60) {
			memset(frame + caplen, 0, 60 - caplen);
			caplen = 60;
			hdr.caplen = hdr.len = 60;
		}
		frameinfo_t f = frame_parse(dlt, frame, caplen);
		if (!f.ok) continue;

		msg_t msg;
		struct run_act_ctx ctx;
		char ip_src[INET6_ADDRSTRLEN + 1], ip_dst[INET6_ADDRSTRLEN + 1];
		char mac_src[20] = "00-00-00-00-00-01", mac_dst[20] = "00-00-00-00-00-02";
		memset(&msg, 0, sizeof msg);
		memset(&ctx, 0, sizeof ctx);
		inet_ntop(f.family, f.src, ip_src, sizeof ip_src);
		inet_ntop(f.family, f.dst, ip_dst, sizeof ip_dst);
		msg.cap_packet = frame;
		msg.cap_header = &hdr;
		msg.hdr_len = (uint16_t)f.hdr_len;
		msg.rcinfo.src_mac = mac_src;
		msg.rcinfo.dst_mac = mac_dst;
		msg.rcinfo.src_ip = ip_src;
		msg.rcinfo.dst_ip = ip_dst;
		msg.rcinfo.src_port = f.sport;
		msg.rcinfo.dst_port = f.dport;
		msg.rcinfo.ip_family = (uint8_t)f.family;
		msg.rcinfo.ip_proto = 6;
		msg.rcinfo.time_sec = (uint32_t)hdr.ts.tv_sec;
		msg.rcinfo.time_usec = (uint32_t)hdr.ts.tv_usec;
		msg.tcpflag = f.flags;
		msg.parse_it = 1;
		uint8_t *defrag_buf = NULL;
		size_t plen = f.payload_len;

		if (mode == MODE_DEFRAG && plen > 0 && (f.flags & 0x10)) {
			size_t nl = 0;
			defrag_buf = defrag_next(&f, frame + f.hdr_len, plen, (f.flags & 0x08) != 0, &nl);
			if (!defrag_buf) continue;      /* swallowed until PSH, like tcpreasm */
			msg.data = defrag_buf;
			msg.len = (uint32_t)nl;
		} else {
			msg.data = frame + f.hdr_len;
			msg.len = (uint32_t)plen;
		}
		if (mode == MODE_NOFRAME) {          /* a source without the captured frame */
			msg.cap_packet = NULL;
			msg.cap_header = NULL;
			uint8_t *copy = malloc(f.true_len + 1);
			memcpy(copy, frame + f.hdr_len, f.true_len);
			defrag_buf = copy;
			msg.data = copy;
			msg.len = (uint32_t)f.true_len;   /* such a source has no Ethernet padding */
		}
		outer_msg = &msg;
		st->calls++;
		int r;
		if (mode == MODE_DIRECT) {
			r = fn_parse_tls0((msg_t *)&msg, NULL, NULL);
			if (r > 0) rec_add(&msg, 0);
		} else {
			r = run_actions(&ctx, main_ct.clist[0], &msg);
			r = 1;   /* the plan ends with drop; parse_tls results are checked in do_action */
		}
		if (mode == MODE_DIRECT) {
			if (r > 0) st->ret_pos++; else if (r < 0) st->ret_neg++; else st->ret_zero++;
		}
		outer_msg = NULL;
		free(defrag_buf);
	}
	pcap_close(pc);
	defrag_reset();
	return 0;
}

struct targ {
	const char *pcap;
	int mode;
	runstats_t st;
};

static void *replay_thread(void *p)
{
	struct targ *a = p;
	replay(a->pcap, a->mode, &a->st);
	return NULL;
}

/* ============================================================= the module ==== */

static void *lib;
static struct module_exports *ex;

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f) return -1;
	fputs(text, f);
	return fclose(f);
}

static char tmpdir[256];

/* Write <tmpdir>/protocol_tls.xml with the given <settings> body for one profile. */
static void write_conf(const char *body)
{
	char path[512], xml[8192];
	snprintf(path, sizeof path, "%s/protocol_tls.xml", tmpdir);
	snprintf(xml, sizeof xml,
	         "<?xml version=\"1.0\"?>\n<document type=\"captagent_module/xml\">\n"
	         "  <module name=\"protocol_tls\" description=\"TLS\" serial=\"1\">\n%s"
	         "  </module>\n</document>\n", body);
	write_file(path, xml);
}

static char profile_xml[4096];
static const char *one_profile(const char *name, const char *params)
{
	snprintf(profile_xml, sizeof profile_xml,
	         "    <profile name=\"%s\" enable=\"true\"><settings>\n%s    </settings></profile>\n",
	         name, params);
	return profile_xml;
}

static int module_load(void)
{
	log_clear();
	global_config_path = tmpdir;
	/* captagent passes an uninitialised pointer: pass garbage on purpose */
	return ex->load_f((xml_node *)(uintptr_t)0x5bdf7048);
}

/* ======================================================== expectations ==== */

typedef struct expect {
	const uint8_t *data;
	size_t len;
	int dir;
} expect_t;

typedef struct conninfo {
	char client[64], server[64];
	uint16_t cport, sport;
} conninfo_t;

/* Compare recorded messages with the expected ones: per direction, same sequence, each
 * byte-exact, and rcinfo matching the direction. */
static void check_recs_conn(const char *what, const expect_t *exp, size_t nexp,
                            const conninfo_t *ci, int want_via_rerun, int only_conn)
{
	size_t idx[2] = { 0, 0 };
	size_t ok = 0, bad_bytes = 0, bad_rc = 0, extra = 0, reruns = 0;
	const expect_t *ex_dir[2][4096];
	size_t nd[2] = { 0, 0 };
	for (size_t i = 0; i < nexp; i++)
		if (nd[exp[i].dir] < 4096) ex_dir[exp[i].dir][nd[exp[i].dir]++] = &exp[i];
	for (size_t i = 0; i < nrecs; i++) {
		rec_t *r = &recs[i];
		if (only_conn && r->sport != ci->cport && r->dport != ci->cport) continue;
		if (r->via == 1) reruns++;
		int dir = (r->sport == ci->cport && !strcmp(r->src, ci->client)) ? 0 :
		          (r->sport == ci->sport && !strcmp(r->src, ci->server)) ? 1 : -1;
		if (dir < 0) { bad_rc++; continue; }
		const char *wdst = dir == 0 ? ci->server : ci->client;
		uint16_t wdport = dir == 0 ? ci->sport : ci->cport;
		if (strcmp(r->dst, wdst) || r->dport != wdport || r->tsec == 0) bad_rc++;
		if (idx[dir] >= nd[dir]) { extra++; continue; }
		const expect_t *e = ex_dir[dir][idx[dir]++];
		if (e->len != r->len || memcmp(e->data, r->data, r->len)) {
			bad_bytes++;
			if (bad_bytes <= 2)
				tap_diag("%s: dir %d msg %zu: got %zu bytes '%.40s' want %zu '%.40s'", what, dir,
				         idx[dir] - 1, r->len, (const char *)r->data, e->len, (const char *)e->data);
		} else {
			ok++;
		}
	}
	tap_ok(ok == nexp && bad_bytes == 0 && extra == 0 && idx[0] == nd[0] && idx[1] == nd[1],
	       "%s: %zu/%zu messages delivered once, in order, byte-exact (c2s %zu/%zu, s2c %zu/%zu, "
	       "%zu wrong, %zu extra)", what, ok, nexp, idx[0], nd[0], idx[1], nd[1], bad_bytes, extra);
	tap_ok(bad_rc == 0, "%s: rcinfo src/dst/ports/time match each message's direction (%zu bad)",
	       what, bad_rc);
	if (want_via_rerun >= 0)
		tap_ok(want_via_rerun ? reruns > 0 : 1, "%s: %zu messages came through the plan rerun",
		       what, reruns);
}

static void check_recs(const char *what, const expect_t *exp, size_t nexp, const conninfo_t *ci,
                       int want_via_rerun)
{
	check_recs_conn(what, exp, nexp, ci, want_via_rerun, 0);
}

/* Expected list from connection `conn` of a tlsgen result, or all connections when
 * conn < 0 (keep-alives are not delivered). */
static size_t expect_from_conn(const tlsgen_result_t *res, int conn, expect_t *out, size_t max)
{
	size_t n = 0;
	for (size_t c = 0; c < res->n_conns; c++)
		if (conn < 0 || (size_t)conn == c) for (size_t j = 0; j < res->conns[c].n_msgs && n < max; j++) {
			const tlsgen_msg_t *m = &res->conns[c].msgs[j];
			if (m->keepalive) continue;
			out[n].data = m->data;
			out[n].len = m->len;
			out[n].dir = m->dir;
			n++;
		}
	return n;
}

static size_t expect_from_gen(const tlsgen_result_t *res, expect_t *out, size_t max)
{
	return expect_from_conn(res, -1, out, max);
}

/* ================================================================== cases ==== */

static char keyfile[512], certfile[512];
static int have_gen;
static int reload_between = 1;   /* fresh engines for every case */

/* Generate a capture with tlsgen; returns 0 and fills res. */
static int gen(tlsgen_opts_t *o, const char *name, tlsgen_result_t *res, char *pcap, size_t pl)
{
	char err[256];
	snprintf(pcap, pl, "%s/%s.pcap", tmpdir, name);
	memset(res, 0, sizeof *res);
	if (tlsgen_run(o, pcap, res, err, sizeof err) < 0) {
		tap_diag("tlsgen %s: %s", name, err);
		return -1;
	}
	return 0;
}

static void conninfo_gen(const tlsgen_opts_t *o, const tlsgen_result_t *res, conninfo_t *ci)
{
	snprintf(ci->client, sizeof ci->client, "%s", o->ipv6 ? "fd00::1" : "10.0.0.1");
	snprintf(ci->server, sizeof ci->server, "%s", o->ipv6 ? "fd00::2" : "10.0.0.2");
	ci->cport = res->conns[0].client_port;
	ci->sport = res->conns[0].server_port;
}

/* ---- keylog-listen: key-log lines sent by UDP the way Kamailio's keylog_peer does ---- */

typedef struct udp_lines {
	char **line;
	size_t n, cap;
} udp_lines_t;

static void keep_line(void *u, const char *line)
{
	udp_lines_t *l = u;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->line = realloc(l->line, l->cap * sizeof *l->line);
	}
	l->line[l->n++] = strdup(line);
}

static void free_lines(udp_lines_t *l)
{
	for (size_t i = 0; i < l->n; i++) free(l->line[i]);
	free(l->line);
	memset(l, 0, sizeof *l);
}

/* One datagram per line, no newline, to 127.0.0.1:port. Returns datagrams sent. */
static size_t send_lines(const udp_lines_t *l, uint16_t port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		if (sendto(fd, l->line[i], strlen(l->line[i]), 0, (struct sockaddr *)&a, sizeof a) > 0) n++;
	close(fd);
	return n;
}

static uint16_t free_udp_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t al = sizeof a;
	bind(fd, (struct sockaddr *)&a, sizeof a);
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	return ntohs(a.sin_port);
}

/* The module's stats_f counter `name=` of the key-log listener (-1 if absent). */
static long listener_stat(const char *name)
{
	char sb[800], key[64];
	ex->stats_f(sb, sizeof sb);
	const char *p = strstr(sb, "keylog_listen ");
	if (!p) return -1;
	snprintf(key, sizeof key, " %s=", name);
	p = strstr(p, key);
	return p ? atol(p + strlen(key)) : -1;
}

static void case_keylog_listen(void)
{
	char params[1024], pcap[512];
	udp_lines_t lines = { 0 };
	tlsgen_opts_t o;
	tlsgen_result_t res;
	tlsgen_opts_defaults(&o);
	o.key_file = keyfile; o.cert_file = certfile; o.tls_version = 0x0304;
	o.cipher = "TLS_AES_128_GCM_SHA256"; o.n_messages = 6; o.seed = 21; o.connections = 2;
	o.keylog_line = keep_line;
	o.keylog_user = &lines;
	if (gen(&o, "tls13-udp-keys", &res, pcap, sizeof pcap) != 0) {
		for (int i = 0; i < 5; i++) tap_ok(0, "tlsgen failed");
		return;
	}
	uint16_t port = free_udp_port();
	snprintf(params, sizeof params, "      <param name=\"keylog-listen\" value=\"udp:127.0.0.1:%u\"/>\n", port);
	write_conf(one_profile("udpkeys", params));
	tap_ok(module_load() == 0 && log_has("receiving key-log lines on udp:127.0.0.1", "loopback"),
	       "keylog-listen profile loads and logs its listener");
	size_t sent = send_lines(&lines, port);
	long seen = 0;
	for (int i = 0; i < 300 && (seen = listener_stat("dgrams")) < (long)sent; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	tap_ok(seen == (long)sent && listener_stat("rejected") == 0,
	       "module statistics: keylog_listen dgrams=%ld of %zu sent, rejected=0", seen, sent);
	plans_reset();
	build_plan(0, NULL, 1);
	static expect_t exp[4096];
	conninfo_t ci;
	conninfo_gen(&o, &res, &ci);
	recs_clear();
	runstats_t st;
	replay(pcap, MODE_PLAIN, &st);
	for (size_t c = 0; c < res.n_conns; c++) {
		char what[96];
		size_t nexp = expect_from_conn(&res, (int)c, exp, 4096);
		ci.cport = res.conns[c].client_port;
		snprintf(what, sizeof what, "tls13, keys by UDP (keylog-listen), connection %zu", c + 1);
		check_recs_conn(what, exp, nexp, &ci, -1, 1);
	}
	ex->unload_f();
	tap_ok(log_has("totals at unload: keylog_listen udp:127.0.0.1", "dgrams="),
	       "the listener's totals are logged at unload");

	/* a sender outside keylog-allow: counted and dropped, nothing decrypted */
	snprintf(params, sizeof params, "      <param name=\"keylog-listen\" value=\"udp:127.0.0.1:%u\"/>\n"
	         "      <param name=\"keylog-allow\" value=\"192.0.2.1, 10.0.0.0/8\"/>\n", port);
	write_conf(one_profile("udpkeys", params));
	module_load();
	sent = send_lines(&lines, port);
	for (int i = 0; i < 300 && listener_stat("rejected") < (long)sent; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	plans_reset();
	build_plan(0, NULL, 1);
	recs_clear();
	replay(pcap, MODE_PLAIN, &st);
	tap_ok(listener_stat("rejected") == (long)sent && listener_stat("dgrams") == 0 && nrecs == 0,
	       "sender 127.0.0.1 outside keylog-allow: %ld rejected, nothing delivered (%zu)", listener_stat("rejected"), nrecs);
	ex->unload_f();

	/* bad values fail the load with one line */
	write_conf(one_profile("udpkeys", "      <param name=\"keylog-listen\" value=\"tcp:127.0.0.1:5099\"/>\n"));
	tap_ok(module_load() != 0 && log_has("keylog-listen", "only udp"), "keylog-listen tcp:... is refused at load");
	ex->unload_f();
	free_lines(&lines);
	tlsgen_result_free(&res);
}

/* >0: gen_case cuts the capture's IP packets into fragments of this many bytes (pcapfrag.c) */
static size_t harness_frag;

/* One generated case through the plan in a given mode. */
static void gen_case(const char *name, tlsgen_opts_t *o, int mode, int want_rerun)
{
	tlsgen_result_t res;
	char pcap[512];
	if (!have_gen || gen(o, name, &res, pcap, sizeof pcap) < 0) {
		tap_ok(0, "tlsgen capture not available (generator failed)");
		tap_ok(0, "tlsgen capture not available (generator failed)");
		return;
	}
	if (harness_frag) {             /* IP fragments, as socket_pcap hands them with reasm off */
		pf_opts_t po = { .frag_size = harness_frag, .seed = o->seed, .shuffle = 1, .dup_pct = 10 };
		pf_report_t pr;
		char fp[512];
		snprintf(fp, sizeof fp, "%.490s.frag.pcap", pcap);
		if (pf_fragment(pcap, fp, &po, &pr) != 0) { tap_ok(0, "%s: fragmenter: %s", name, pr.err); return; }
		snprintf(pcap, sizeof pcap, "%s", fp);
		tap_diag("%s: %u packets cut into %u fragments (%u duplicates)", name, pr.packets_fragmented,
		         pr.fragments, pr.duplicates);
	}
	static expect_t exp[8192];
	size_t nexp = expect_from_gen(&res, exp, 8192);
	conninfo_t ci;
	conninfo_gen(o, &res, &ci);
	if (reload_between) { ex->unload_f(); module_load(); }
	recs_clear();
	parse_tls_zero_returns = 0;
	runstats_t st;
	replay(pcap, mode, &st);
	char what[128];
	snprintf(what, sizeof what, "%s%s", name,
	         mode == MODE_DEFRAG ? " (tcpdefrag)" : mode == MODE_NOFRAME ? " (no frame)" : "");
	check_recs(what, exp, nexp, &ci, want_rerun);
	if (verbose) {
		char sb[800];
		ex->stats_f(sb, sizeof sb);
		tap_diag("stats: %s", sb);
	}
	tap_ok(parse_tls_zero_returns == 0, "%s: parse_tls never returned 0 (DROP) over %ld packets",
	       what, st.packets);
	if (harness_frag) {
		char sb[800];
		ex->stats_f(sb, sizeof sb);
		const char *p = strstr(sb, "ip_fragments=");
		tap_ok(p && atol(p + 13) > 0, "%s: fragments went to the engine's reassembly (%s)", what,
		       p ? p : "no ip_fragments counter");
	}
	tlsgen_result_free(&res);
}

static void sample_case(const char *samples, int mode)
{
	char pcap[512], key[512], pc[512], ps[512];
	snprintf(pcap, sizeof pcap, "%s/pcaps/sip-tls12-rsa-aes256gcm-ems.pcap", samples);
	snprintf(key, sizeof key, "%s/keys/server-rsa.pkcs1.pem", samples);
	snprintf(pc, sizeof pc, "%s/plaintext/sip-tls12-rsa-aes256gcm-ems.conn0.c2s.bin", samples);
	snprintf(ps, sizeof ps, "%s/plaintext/sip-tls12-rsa-aes256gcm-ems.conn0.s2c.bin", samples);
	char params[1024];
	snprintf(params, sizeof params,
	         "      <param name=\"flow-timeout\" value=\"180\"/>\n"
	         "      <param name=\"private-key-path\" value=\"%s\"/>\n", key);
	write_conf(one_profile("proto_tls", params));
	const char *what = mode == MODE_DEFRAG ? "sample sip-tls12 (tcpdefrag)" : "sample sip-tls12";
	if (!tap_ok(module_load() == 0, "%s: old-style profile loads", what)) return;
	plans_reset();
	build_plan(0, NULL, 1);
	recs_clear();
	parse_tls_zero_returns = 0;
	runstats_t st;
	replay(pcap, mode, &st);
	/* concatenate per direction and compare with the recorded plaintext */
	for (int dir = 0; dir < 2; dir++) {
		FILE *f = fopen(dir ? ps : pc, "rb");
		uint8_t *want = NULL;
		size_t wl = 0;
		if (f) {
			want = malloc(1 << 20);
			wl = fread(want, 1, 1 << 20, f);
			fclose(f);
		}
		uint8_t *got = malloc(1 << 20);
		size_t gl = 0, n = 0, badrc = 0;
		for (size_t i = 0; i < nrecs; i++) {
			int d = recs[i].dport == 5061 ? 0 : recs[i].sport == 5061 ? 1 : -1;
			if (d != dir) { if (d < 0) badrc++; continue; }
			if (strcmp(recs[i].src, "127.0.0.1") || strcmp(recs[i].dst, "127.0.0.1")) badrc++;
			if (gl + recs[i].len <= (1 << 20)) memcpy(got + gl, recs[i].data, recs[i].len);
			gl += recs[i].len;
			n++;
		}
		size_t wantn = dir ? 12 : 9;
		tap_ok(want && gl == wl && !memcmp(got, want, wl) && n == wantn && badrc == 0,
		       "%s: %s plaintext byte-exact (%zu/%zu bytes, %zu/%zu messages, %zu bad rcinfo)", what,
		       dir ? "s2c" : "c2s", gl, wl, n, wantn, badrc);
		free(got);
		free(want);
	}
	tap_ok(parse_tls_zero_returns == 0, "%s: parse_tls never returned 0", what);
	ex->unload_f();
}

#ifndef MODULE_HARNESS_NO_MAIN   /* module_hep_test.c reuses this host without its cases */
int main(int argc, char **argv)
{
	verbose = getenv("HARNESS_VERBOSE") != NULL;
	const char *so = argc > 1 ? argv[1] : getenv("PTLS_MODULE_SO");
	char sobuf[1024];
	if (!so) {
		const char *b = getenv("top_builddir");
		snprintf(sobuf, sizeof sobuf, "%s/.libs/protocol_tls.so", b ? b : ".");
		so = sobuf;
	}
	plans_reset();
	snprintf(tmpdir, sizeof tmpdir, "/tmp/ptls_harness.XXXXXX");
	if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }

	/* ---- loading, as modules.c does ---- */
	lib = dlopen(so, RTLD_NOW);
	if (!tap_ok(lib != NULL, "dlopen(%s, RTLD_NOW) (local scope)", so)) {
		tap_diag("%s", dlerror());
		return tap_done();
	}
	ex = dlsym(lib, "exports");
	tap_ok(ex != NULL, "dlsym(\"exports\")");
	if (!ex) return tap_done();
	tap_ok(ex->name && !strcmp(ex->name, "protocol_tls"), "module name is protocol_tls");
	tap_ok(ex->load_f && ex->unload_f && ex->stats_f && ex->serial_f,
	       "load_f, unload_f, stats_f and serial_f are set (interface_http calls stats/serial)");
	{
		const char *generic[] = { "debug", "serial", "tmp", "sock", "server", "tree", "line",
		                          "handler", "usage", "modules", "load_module", "statistic",
		                          "cmds", "description", NULL };
		int leaked = 0;
		for (int i = 0; generic[i]; i++)
			if (dlsym(lib, generic[i]) && dlsym(lib, generic[i]) != dlsym(RTLD_DEFAULT, generic[i])) {
				tap_diag("module exports generic symbol %s", generic[i]);
				leaked++;
			}
		tap_ok(leaked == 0, "no generic symbol names exported by the module");
	}
	mod_cmds = ex->cmds;
	fn_parse_tls0 = find_export("parse_tls", 0, 0);
	fn_parse_tls1 = find_export("parse_tls", 1, 0);
	tap_ok(fn_parse_tls0 && fn_parse_tls1, "parse_tls found with param_no 0 and 1");
	tap_ok(find_export("protocol_tls_bind_api", 1, 0) != NULL, "protocol_tls_bind_api (param_no 1)");
	tap_ok(find_export("parse_tls", 2, 0) == NULL, "no parse_tls with 2 params");
	if (!fn_parse_tls0 || !fn_parse_tls1) return tap_done();

	/* ---- keys and captures ---- */
	snprintf(keyfile, sizeof keyfile, "%s/server.key", tmpdir);
	snprintf(certfile, sizeof certfile, "%s/server.crt", tmpdir);
	have_gen = tlsgen_make_key("rsa2048", keyfile, certfile, NULL) == 0;
	if (!have_gen) tap_diag("tlsgen_make_key failed: the generated cases FAIL");

	/* ---- load errors ---- */
	write_conf(one_profile("p1", "      <param name=\"private-key-path\" value=\"/nonexistent/k.pem\"/>\n"));
	tap_ok(module_load() != 0, "missing key file: load_f fails (no usable profile)");
	tap_ok(log_has("/nonexistent/k.pem", "p1"), "missing key file: the error line names the file and profile");
	tap_ok(log_has("protocol_tls.xml", "no usable profile"), "missing key file: 'no usable profile' line");
	ex->unload_f();

	write_conf(one_profile("p1", "      <param name=\"flow-timeout\" value=\"soon\"/>\n"));
	tap_ok(module_load() != 0 && log_has("param flow-timeout: bad value 'soon'", "protocol_tls.xml"),
	       "bad number: load fails with 'FILE: profile P: param X: bad value' line");
	ex->unload_f();

	/* the load-order trap: a plan slot socket_pcap could not fill before we were loaded */
	write_conf(one_profile("p1", "      <param name=\"keylog-file\" value=\"/tmp/ptls-keys.log\"/>\n"));
	main_ct.idx = 0;
	tap_ok(module_load() == 0 && log_has("loaded AFTER socket_pcap", "move <load module=\"protocol_tls\"> above"),
	       "loaded after socket_pcap (a plan failed to parse): error line with the fix");
	ex->unload_f();
	plans_reset();
	tap_ok(module_load() == 0 && !log_has("socket_pcap", NULL), "loaded first: no load-order line");
	ex->unload_f();

	write_conf(one_profile("p1", "      <param name=\"private-key-paht\" value=\"/k.pem\"/>\n"));
	tap_ok(module_load() != 0 && log_has("profile p1: unknown param 'private-key-paht' (did you "
	       "mean 'private-key-path'?)", "protocol_tls.xml"), "typo in a param name: load fails naming "
	       "file, profile and the closest name");
	ex->unload_f();

	{
		char path[512];
		snprintf(path, sizeof path, "%s/protocol_tls.xml", tmpdir);
		unlink(path);
		tap_ok(module_load() != 0 && log_has("protocol_tls.xml", "cannot open"),
		       "missing protocol_tls.xml: load fails naming the file");
		ex->unload_f();
	}

	if (have_gen) {
		char params[2048];
		snprintf(params, sizeof params,
		         "      <param name=\"private-key-path\" value=\"%s\"/>\n", keyfile);
		char body[8192];
		snprintf(body, sizeof body, "%s", one_profile("good", params));
		strncat(body, "    <profile name=\"bad\" enable=\"true\"><settings>\n"
		        "      <param name=\"private-key-path\" value=\"/nonexistent/b.pem\"/>\n"
		        "    </settings></profile>\n", sizeof body - strlen(body) - 1);
		write_conf(body);
		tap_ok(module_load() == 0, "one good and one broken profile: loads");
		tap_ok(!log_has("unknown param", NULL), "no unknown-param line for a clean file");
		tap_ok(log_has("/nonexistent/b.pem", "profile disabled"), "broken profile: disabled with a line naming the key");
		msg_t m;
		memset(&m, 0, sizeof m);
		tap_ok(fn_parse_tls1(&m, "bad", NULL) == -1, "parse_tls(\"bad\") on the disabled profile is false (-1)");
		tap_ok(fn_parse_tls1(&m, "nosuch", NULL) == -1, "parse_tls(\"nosuch\") is false (-1)");
		/* statistics callback */
		char sb[800];
		memset(sb, 'x', sizeof sb);
		int n = ex->stats_f(sb, sizeof sb);
		tap_ok(n >= 0 && memchr(sb, '\0', sizeof sb) != NULL, "stats_f fills an 800-byte buffer, NUL-terminated: %.60s", sb);
		char tiny[16];
		memset(tiny, 'x', sizeof tiny);
		ex->stats_f(tiny, sizeof tiny);
		tap_ok(tiny[15] == '\0', "stats_f truncates into a 16-byte buffer");
		tap_ok(ex->serial_f() != 0, "serial_f returns a serial");
		ex->unload_f();
	} else {
		for (int i = 0; i < 8; i++) tap_ok(0, "no generated key (tlsgen_make_key failed)");
	}

	/* ---- decryption through the plan ---- */
	if (have_gen) {
		char params[2048];
		snprintf(params, sizeof params,
		         "      <param name=\"private-key-path\" value=\"%s\"/>\n"
		         "      <param name=\"flow-timeout\" value=\"180\"/>\n", keyfile);
		write_conf(one_profile("proto_tls", params));
		tap_ok(module_load() == 0, "generated key: profile loads");
		plans_reset();
		build_plan(0, NULL, 1);

		tlsgen_opts_t o;
		tlsgen_opts_defaults(&o);
		o.key_file = keyfile;
		o.cert_file = certfile;
		o.cipher = "AES128-GCM-SHA256";
		o.n_messages = 8;
		gen_case("tls12-rsa", &o, MODE_PLAIN, -1);

		tlsgen_opts_defaults(&o);
		o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES256-GCM-SHA384";
		o.n_messages = 10; o.coalesce = 1; o.seed = 7;
		gen_case("tls12-rsa-coalesced", &o, MODE_PLAIN, 1);
		gen_case("tls12-rsa-coalesced", &o, MODE_DEFRAG, 1);
		gen_case("tls12-rsa-coalesced", &o, MODE_NOFRAME, 1);

		tlsgen_opts_defaults(&o);
		o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-SHA256";
		o.n_messages = 6; o.split = 200; o.seed = 3;
		gen_case("tls12-rsa-cbc-split200", &o, MODE_PLAIN, -1);

		tlsgen_opts_defaults(&o);
		o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
		o.n_messages = 6; o.ipv6 = 1; o.coalesce = 1; o.seed = 4;
		gen_case("tls12-rsa-ipv6", &o, MODE_PLAIN, 1);

		tlsgen_opts_defaults(&o);
		o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
		o.n_messages = 6; o.vlan = 1; o.seed = 5;
		gen_case("tls12-rsa-vlan", &o, MODE_PLAIN, -1);

		tlsgen_opts_defaults(&o);
		o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
		o.n_messages = 6; o.linktype = 113; o.coalesce = 1; o.seed = 6;
		gen_case("tls12-rsa-sll", &o, MODE_PLAIN, -1);

		/* raw IP fragments through the plan (socket_pcap reasm=false, ipv4fragments and
		 * ipv6fragments=true): the module hands them to the engine's reassembly */
		for (int v6 = 0; v6 < 2; v6++) {
			tlsgen_opts_defaults(&o);
			o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
			o.n_messages = 8; o.ipv6 = v6; o.seed = 40 + v6;
			harness_frag = 120;
			gen_case(v6 ? "tls12-rsa-ipv6-fragments" : "tls12-rsa-ipv4-fragments", &o, MODE_PLAIN, -1);
			harness_frag = 0;
		}

		tlsgen_opts_defaults(&o);
		o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
		o.n_messages = 5; o.connections = 3; o.reorder = 1; o.duplicate = 1; o.seed = 8;
		{
			/* three connections: check every message of every connection */
			tlsgen_result_t res;
			char pcap[512];
			if (gen(&o, "tls12-3conns-mangled", &res, pcap, sizeof pcap) == 0) {
				recs_clear();
				parse_tls_zero_returns = 0;
				runstats_t st;
				replay(pcap, MODE_PLAIN, &st);
				size_t total = 0;
				for (size_t c = 0; c < res.n_conns; c++) {
					static expect_t exp[4096];
					size_t nexp = expect_from_conn(&res, (int)c, exp, 4096);
					conninfo_t ci = { "10.0.0.1", "10.0.0.2", res.conns[c].client_port,
					                  res.conns[c].server_port };
					char what[96];
					snprintf(what, sizeof what, "3 connections, reordered + duplicated: conn %zu", c);
					check_recs_conn(what, exp, nexp, &ci, -1, 1);
					total += nexp;
				}
				tap_ok(nrecs == total, "3 connections: %zu messages delivered in all, %zu expected",
				       nrecs, total);
				tap_ok(parse_tls_zero_returns == 0, "3 connections: parse_tls never returned 0");
				tlsgen_result_free(&res);
			} else {
				tap_ok(0, "tlsgen failed");
				tap_ok(0, "tlsgen failed");
			}
		}

		/* two capture threads with overlapping filters (socket_pcap: one thread per
		 * profile) replay the same capture concurrently: still exactly once */
		{
			tlsgen_result_t res;
			char pcap[512];
			tlsgen_opts_defaults(&o);
			o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
			o.n_messages = 8; o.coalesce = 1; o.connections = 3; o.seed = 14;
			if (gen(&o, "two-threads", &res, pcap, sizeof pcap) == 0) {
				ex->unload_f();
				module_load();
				recs_clear();
				parse_tls_zero_returns = 0;
				pthread_t th[2];
				struct targ ta[2] = { { pcap, MODE_PLAIN, { 0 } }, { pcap, MODE_PLAIN, { 0 } } };
				for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, replay_thread, &ta[i]);
				for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
				size_t total = 0;
				for (size_t c = 0; c < res.n_conns; c++) {
					static expect_t exp[4096];
					size_t nexp = expect_from_conn(&res, (int)c, exp, 4096);
					conninfo_t ci = { "10.0.0.1", "10.0.0.2", res.conns[c].client_port,
					                  res.conns[c].server_port };
					char what[96];
					snprintf(what, sizeof what, "two overlapping capture threads: conn %zu", c);
					check_recs_conn(what, exp, nexp, &ci, -1, 1);
					total += nexp;
				}
				tap_ok(nrecs == total && parse_tls_zero_returns == 0,
				       "two overlapping capture threads: %zu messages delivered in all, %zu expected",
				       nrecs, total);
				tlsgen_result_free(&res);
			} else {
				for (int i = 0; i < 7; i++) tap_ok(0, "tlsgen failed");
			}
		}

		/* profile-argument form: parse_tls("proto_tls") in the plan */
		plans_reset();
		build_plan(0, "proto_tls", 1);
		tlsgen_opts_defaults(&o);
		o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
		o.n_messages = 8; o.coalesce = 1; o.seed = 9;
		gen_case("parse_tls(\"proto_tls\")", &o, MODE_PLAIN, 1);

		/* send fallback: the plan does not call parse_tls, so the module cannot find it */
		ex->unload_f();
		module_load();
		plans_reset();
		build_plan(0, NULL, 0);
		{
			tlsgen_result_t res;
			char pcap[512];
			tlsgen_opts_defaults(&o);
			o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
			o.n_messages = 8; o.coalesce = 1; o.seed = 10;
			if (gen(&o, "fallback", &res, pcap, sizeof pcap) == 0) {
				static expect_t exp[4096];
				size_t nexp = expect_from_gen(&res, exp, 4096);
				conninfo_t ci;
				conninfo_gen(&o, &res, &ci);
				recs_clear();
				fallback_used = 0;
				runstats_t st;
				replay(pcap, MODE_DIRECT, &st);
				check_recs("send fallback", exp, nexp, &ci, -1);
				tap_ok(fallback_used > 0 && st.ret_zero == 0,
				       "send fallback: %d messages via parse_sip+send_hep(\"hepsocket\"), no 0 return",
				       fallback_used);
				tlsgen_result_free(&res);
			} else {
				tap_ok(0, "tlsgen failed"); tap_ok(0, "tlsgen failed"); tap_ok(0, "tlsgen failed");
			}
		}
		ex->unload_f();

		/* plan-index: two different plans call parse_tls(); plan-index=1 picks clist[1] */
		snprintf(params, sizeof params,
		         "      <param name=\"private-key-path\" value=\"%s\"/>\n"
		         "      <param name=\"plan-index\" value=\"1\"/>\n", keyfile);
		write_conf(one_profile("proto_tls", params));
		tap_ok(module_load() == 0, "plan-index profile loads");
		plans_reset();
		build_plan(0, NULL, 1);
		build_plan(1, NULL, 1);
		act_pool[8 + 1].p2_type = PTLS_STRING_ST;   /* make plan 1 differ from plan 0 */
		act_pool[8 + 1].p2.string = "plan1";
		{
			tlsgen_result_t res;
			char pcap[512];
			tlsgen_opts_defaults(&o);
			o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
			o.n_messages = 8; o.coalesce = 1; o.seed = 11;
			if (gen(&o, "planindex", &res, pcap, sizeof pcap) == 0) {
				static expect_t exp[4096];
				size_t nexp = expect_from_gen(&res, exp, 4096);
				conninfo_t ci;
				conninfo_gen(&o, &res, &ci);
				recs_clear();
				runstats_t st;
				replay(pcap, MODE_PLAIN, &st);
				check_recs("plan-index 1", exp, nexp, &ci, 1);
				tlsgen_result_free(&res);
			} else {
				tap_ok(0, "tlsgen failed"); tap_ok(0, "tlsgen failed"); tap_ok(0, "tlsgen failed");
			}
		}
		ex->unload_f();

		/* TLS 1.3 with a key log file named in the profile */
		{
			char kl[512];
			snprintf(kl, sizeof kl, "%s/keys.log", tmpdir);
			unlink(kl);
			tlsgen_result_t res;
			char pcap[512];
			tlsgen_opts_defaults(&o);
			o.key_file = keyfile; o.cert_file = certfile; o.tls_version = 0x0304;
			o.cipher = "TLS_AES_256_GCM_SHA384"; o.n_messages = 6; o.coalesce = 1; o.seed = 12;
			o.keylog_file = kl;
			if (gen(&o, "tls13-keylog", &res, pcap, sizeof pcap) == 0) {
				snprintf(params, sizeof params,
				         "      <param name=\"keylog-file\" value=\"%s\"/>\n", kl);
				write_conf(one_profile("kl", params));
				tap_ok(module_load() == 0, "keylog-only profile loads");
				plans_reset();
				build_plan(0, NULL, 1);
				static expect_t exp[4096];
				size_t nexp = expect_from_gen(&res, exp, 4096);
				conninfo_t ci;
				conninfo_gen(&o, &res, &ci);
				recs_clear();
				runstats_t st;
				replay(pcap, MODE_PLAIN, &st);
				check_recs("tls13-keylog", exp, nexp, &ci, -1);
				ex->unload_f();
				tlsgen_result_free(&res);
			} else {
				for (int i = 0; i < 3; i++) tap_ok(0, "tlsgen failed");
			}
		}

		case_keylog_listen();

		/* wrong key: nothing delivered, every call false, never 0 */
		{
			char k2[512], c2[512];
			snprintf(k2, sizeof k2, "%s/other.key", tmpdir);
			snprintf(c2, sizeof c2, "%s/other.crt", tmpdir);
			tlsgen_make_key("rsa2048", k2, c2, NULL);
			snprintf(params, sizeof params, "      <param name=\"private-key-path\" value=\"%s\"/>\n", k2);
			write_conf(one_profile("wrong", params));
			module_load();
			plans_reset();
			build_plan(0, NULL, 1);
			tlsgen_result_t res;
			char pcap[512];
			tlsgen_opts_defaults(&o);
			o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
			/* 70 sessions end within a second or two: more than the 20 session lines per
			 * second the log allows, so some are suppressed and their count must appear */
			o.n_messages = 1; o.seed = 13; o.connections = 70;
			if (gen(&o, "wrongkey", &res, pcap, sizeof pcap) == 0) {
				recs_clear();
				log_clear();
				runstats_t st;
				replay(pcap, MODE_DIRECT, &st);
				tap_ok(nrecs == 0 && st.ret_zero == 0 && st.ret_neg == st.calls,
				       "wrong key: all %ld calls false (-1), none 0, nothing delivered", st.calls);
				ex->unload_f();
				tap_ok(log_has("not decrypted (wrong_key) TLS1.2 TLS_RSA_WITH_AES_128_GCM_SHA256", NULL),
				       "wrong key: 'not decrypted (reason) VERSION SUITE' session line logged");
				tap_ok(log_has("protocol_tls[wrong]: ", "log lines suppressed (more than 20 per second)"),
				       "suppressed session lines are counted in the log (at the latest at unload)");
				tap_ok(log_has("totals at unload: segments=", " delivered=0 ") &&
				       log_has("totals at unload: [wrong] pkts=", "wrong_key=70"),
				       "unload logs the stats_f totals, per engine, with failure reasons");
				tlsgen_result_free(&res);
			} else {
				ex->unload_f();
				for (int i = 0; i < 4; i++) tap_ok(0, "tlsgen failed");   /* a broken generator is a FAIL */
			}
		}
	}

	/* ---- the real-peer sample, when available ---- */
	{
		const char *s = getenv("SHARED_SAMPLES");
		char sbuf[512];
		if (!s) {
			const char *top = getenv("top_srcdir");
			snprintf(sbuf, sizeof sbuf, "%s/../shared/samples", top ? top : ".");
			s = sbuf;
		}
		char probe[600];
		snprintf(probe, sizeof probe, "%s/pcaps/sip-tls12-rsa-aes256gcm-ems.pcap", s);
		if (access(probe, R_OK) == 0) {
			sample_case(s, MODE_PLAIN);
			sample_case(s, MODE_DEFRAG);
		} else {
			for (int i = 0; i < 8; i++) tap_skip("../shared/samples not present");
		}
	}

	recs_clear();
	free(recs);
	/* the module is not dlclosed (captagent does not either) */
	return tap_done();
}
#endif /* MODULE_HARNESS_NO_MAIN */
