/*
 * modhost.h — the captagent host that module_harness and module_hep_test play around
 * protocol_tls.so: what its pieces share (recorded messages, the loaded module, the
 * capture replay, expectations) and the functions each piece exports.
 *
 * Why: both programs load the real module the way captagent 6.4 does and need the same
 * faithful host (exported core symbols, captagent's plan semantics, socket_pcap's msg_t);
 * the host is written once, in these files, and each program adds only its cases:
 *   modhost_core.c   — the core symbols the module imports, the plan interpreter, the
 *                      record of every message the plan saw, plan building;
 *   modhost_replay.c — a pcap replayed as socket_pcap hands packets to the plan;
 *   modhost_module.c — the module's configuration file and its load;
 *   modhost_expect.c — the expected messages from a tlsgen result and their comparison.
 * The programs link -rdynamic so the module finds the core symbols; everything declared
 * here is hidden (not exported to the module), only captagent_abi.h's core symbols are.
 * All files of a program share one TAP counter (TAP_SHARED_STATE, defined in
 * modhost_core.c), so include this header instead of tap.h.
 */
#ifndef TESTS_MODHOST_H
#define TESTS_MODHOST_H

#ifdef PTLS_TAP_H
#error "include modhost.h before tap.h: the host's files share one TAP counter"
#endif
#define TAP_SHARED_STATE
#include "tap.h"

#include <stddef.h>
#include <stdint.h>

#include "captagent_abi.h"
#include "tlsgen.h"

#pragma GCC visibility push(hidden)

/* ---- modhost_core.c ---- */

extern int verbose;                       /* HARNESS_VERBOSE set: print the module's log lines */
extern cmd_export_t *mod_cmds;            /* the module's command table (find_export searches it) */
extern int fallback_used;                 /* messages that reached the send_hep stub */
extern cmd_function fn_parse_tls0, fn_parse_tls1;   /* parse_tls() and parse_tls("profile") */
extern int parse_tls_zero_returns;        /* parse_tls returning 0 (= DROP) is a bug */

/* Empty the ring of the module's log lines. */
void log_clear(void);
/* 1 if a kept log line contains a (and b, if not NULL). */
int log_has(const char *a, const char *b);

/* One message the plan saw. */
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

extern rec_t *recs;                       /* recorded messages, in the order the plan saw them */
extern size_t nrecs;
extern __thread msg_t *outer_msg;         /* the msg_t this thread passed for the current packet */

/* Record m (thread-safe); via says how it came (see rec_t). */
void rec_add(const msg_t *m, int via);
/* Forget every recorded message. */
void recs_clear(void);
/* The actions of the plans build_plan makes: act_pool[slot * 8 + 0..3] = parse_tls call,
 * record, if, drop (a case may alter them). */
extern struct action act_pool[32];
/* clist[slot] = [ if (parse_tls(arg)) { record(); } ; drop ] (arg NULL: parse_tls());
 * with_call 0: a plan that does not call parse_tls (the module's send fallback). */
void build_plan(int slot, const char *arg, int with_call);
/* No plans (main_ct zeroed, idx -1). */
void plans_reset(void);

/* ---- modhost_replay.c ---- */

enum { MODE_PLAIN = 0, MODE_DEFRAG = 1, MODE_NOFRAME = 2, MODE_DIRECT = 3 };

typedef struct runstats {
	long packets, calls, ret_pos, ret_neg, ret_zero;
} runstats_t;

/* Replay a pcap through the plan in clist[0] with msg_t built like socket_pcap (MODE_DEFRAG:
 * like its tcpdefrag, MODE_NOFRAME: a source without the captured frame), or, in
 * MODE_DIRECT, by calling parse_tls directly and recording a true return. 0, or -1 if the
 * pcap cannot be opened. */
int replay(const char *pcap_path, int mode, runstats_t *st);

/* Arguments of replay_thread. */
struct targ {
	const char *pcap;
	int mode;
	runstats_t st;
};
/* pthread entry: replay(a->pcap, a->mode, &a->st). */
void *replay_thread(void *p);

/* ---- modhost_module.c ---- */

extern void *lib;                         /* dlopen handle of protocol_tls.so */
extern struct module_exports *ex;         /* its "exports" */
extern char tmpdir[256];                  /* per-run directory: configuration, captures, keys */

/* Write <tmpdir>/protocol_tls.xml with body (profile elements) as the module's settings. */
void write_conf(const char *body);
/* One <profile> element with the given <param> lines (a static buffer, valid until the next call). */
const char *one_profile(const char *name, const char *params);
/* ex->load_f as captagent calls it (config path = tmpdir, garbage xml pointer), log cleared
 * first. Returns load_f's result. */
int module_load(void);

/* ---- modhost_expect.c ---- */

typedef struct expect {
	const uint8_t *data;
	size_t len;
	int dir;
} expect_t;

typedef struct conninfo {
	char client[64], server[64];
	uint16_t cport, sport;
} conninfo_t;

extern char keyfile[512], certfile[512];  /* the generated server key and certificate */
extern int have_gen;                      /* they exist */

/* TAP cases: the recorded messages (only those of connection ci->cport if only_conn) equal
 * exp per direction, once, in order, byte-exact, with rcinfo of their direction; with
 * want_via_rerun >= 0 also whether some came through the plan rerun. */
void check_recs_conn(const char *what, const expect_t *exp, size_t nexp,
                     const conninfo_t *ci, int want_via_rerun, int only_conn);
/* check_recs_conn over all recorded messages. */
void check_recs(const char *what, const expect_t *exp, size_t nexp, const conninfo_t *ci,
                int want_via_rerun);
/* Expected messages of connection conn of a tlsgen result (all when conn < 0), keep-alives
 * left out; at most max. Returns the count. */
size_t expect_from_conn(const tlsgen_result_t *res, int conn, expect_t *out, size_t max);
/* expect_from_conn over all connections. */
size_t expect_from_gen(const tlsgen_result_t *res, expect_t *out, size_t max);
/* Generate <tmpdir>/<name>.pcap with tlsgen (path into pcap); 0 and *res filled, or -1. */
int gen(tlsgen_opts_t *o, const char *name, tlsgen_result_t *res, char *pcap, size_t pl);
/* Addresses and ports of a generated capture's first connection. */
void conninfo_gen(const tlsgen_opts_t *o, const tlsgen_result_t *res, conninfo_t *ci);

/* ---- module_harness_keylog.c (module_harness only) ---- */

/* TAP cases: key-log lines sent by UDP to the module's keylog-listen (Kamailio's keylog_peer). */
void case_keylog_listen(void);

#pragma GCC visibility pop

#endif
