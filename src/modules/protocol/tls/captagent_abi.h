/*
 * captagent_abi.h — the parts of captagent 6.4's module ABI that protocol_tls.c uses.
 *
 * Why this file exists: the module must build without a captagent source tree (captagent
 * installs no headers), yet load into an unmodified captagent 6.4.x. So we declare the
 * host's structures and imported symbols ourselves, written from reading the 6.4.3 ABI
 * (the include/captagent headers, src/modules.c, src/conf_function.[ch]; facts and offsets in
 * ../shared/captagent-abi.md) — not copied from captagent. Type and member names follow
 * the host's so protocol_tls.c compiles unchanged in both modes:
 *
 *   default                        our declarations below
 *   -DPTLS_WITH_CAPTAGENT_TREE=1   (configure --with-captagent=DIR) the real captagent
 *                                  headers; our static assertions then check them too.
 *
 * Both modes pin every size and offset the glue relies on with _Static_assert (LP64 only;
 * captagent is only built/shipped for 64-bit Linux today). A mismatch fails the build
 * instead of corrupting the host's memory at run time.
 *
 * Parts of the host that are not public headers (struct expr and the action/expression
 * type codes of src/conf_function.h, needed to find the capture plan that called us) are
 * declared here under ptls_* names in both modes. They are unchanged since 2016.
 *
 * Never include this header together with OpenSSL headers: the real captagent config.h
 * may define SSL/TLS macros that break <openssl/ssl.h>.
 */
#ifndef PTLS_CAPTAGENT_ABI_H
#define PTLS_CAPTAGENT_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <syslog.h>
#include <sys/time.h>

#if defined(PTLS_WITH_CAPTAGENT_TREE) && PTLS_WITH_CAPTAGENT_TREE

/* ---- real captagent headers (include/ of a captagent source tree) ---- */
#include <captagent/api.h>
#include <captagent/structure.h>
#include <captagent/modules_api.h>
#include <captagent/modules.h>
#include <captagent/log.h>
#include <captagent/globals.h>
#include <captagent/capture.h>
#include <captagent/action.h>
#include <captagent/export_function.h>
#include <captagent/xmlread.h>

#else /* our own declarations */

/* xml_node: the core's parsed-XML node (api.h). load_f receives one, but in 6.4 the
 * pointer it passes is uninitialised: never dereference it. */
typedef struct xml_node {
	char *key;
	char *value;
	char **attr;                 /* name, value, name, value, ..., NULL */
	struct xml_node *child;
	struct xml_node *parent;
	struct xml_node *next;
} xml_node;

/* Counted string (api.h) and its fixed-buffer variant used by rc_info.tags. */
typedef struct _str {
	char *s;
	int len;
} str;

typedef struct _str_static {
	char s[128];
	int len;
} str_static;

/* Per-packet metadata that transport_hep turns into HEP chunks (api.h). */
typedef struct rc_info {
	uint8_t ip_family;           /* AF_INET / AF_INET6 */
	uint8_t ip_proto;            /* IPPROTO_TCP */
	uint8_t proto_type;          /* 0 until a protocol module sets it (SIP = 1) */
	char *src_mac;
	char *dst_mac;
	char *src_ip;                /* text form; storage owned by whoever set it */
	char *dst_ip;
	uint16_t src_port;
	uint16_t dst_port;
	uint32_t time_sec;
	uint32_t time_usec;
	uint32_t liid;
	uint32_t cval1;
	uint32_t cval2;
	uint16_t sessionid;
	uint8_t direction;
	char *uuid;
	str correlation_id;
	str_static tags;
	int *socket;
} rc_info_t;

/* protocol_sip's parsed message, embedded in msg_t. The glue never looks inside it, so it
 * is an opaque blob of the right size and alignment (4200 bytes, pointer-aligned). */
typedef struct sip_msg {
	union {
		unsigned char bytes[4200];
		void *align_;
	} opaque;
} sip_msg_t;

/* The message every capture-plan function receives (structure.h). */
typedef struct msg {
	void *data;                  /* payload the plan works on */
	char *profile_name;
	uint32_t len;                /* bytes at data */
	uint16_t hdr_len;            /* socket_pcap: link+IP+TCP header bytes before the payload */
	uint8_t tcpflag;             /* TCP flags byte of the captured segment */
	uint32_t sctp_ppid;
	rc_info_t rcinfo;
	uint8_t parse_it;
	void *parsed_data;
	sip_msg_t sip;
	void *cap_packet;            /* socket_pcap: start of the captured frame (libpcap buffer) */
	void *cap_header;            /* socket_pcap: struct pcap_pkthdr * of that frame */
	void *var;
	char *corrdata;              /* malloc'd; transport_hep's send_hep frees it */
	uint8_t mfree;               /* 1: send_hep frees data */
	int flag[10];
} msg_t;

/* Capture-plan function: int f(msg, param1, param2); the core always passes 3 args. */
typedef int (*cmd_function)(msg_t *, char *param1, char *param2);

/* One exported plan command (modules_api.h); the table ends with name == NULL. The core
 * matches name AND exact param_no, so a command with optional args needs one entry per
 * arity. */
typedef struct cmd_export_ {
	char *name;
	cmd_function function;
	int param_no;
	int flags;
	int fixup_flags;
	void *module_exports;
} cmd_export_t;

typedef enum { STR_PARAM, INT_PARAM } modparam_t;

typedef int (*init_function)(xml_node *config);
typedef int (*destroy_function)(void);
typedef int (*description_function)(char *descr);
typedef int (*statistic_function)(char *stats, size_t len);
typedef void (*onbreak_function)(msg_t *msg);
typedef uint64_t (*serial_function)(void);

/* The one symbol the core dlsym()s: "exports" (modules.h). The core copies name..serial_f;
 * stats_f and serial_f are called unconditionally by interface_http, so never NULL. */
typedef struct module_exports {
	char *name;
	cmd_export_t *cmds;
	init_function load_f;        /* 0 = success */
	destroy_function unload_f;
	description_function description_f;
	statistic_function stats_f;
	serial_function serial_f;
	onbreak_function onbreak_f;  /* never called by 6.4 */
	char **param_names;          /* unused by 6.4 */
	char **cmd_names;
	int cmd_no;
	int par_no;
	int *param_no;
	cmd_function *cmd_pointers;
	modparam_t *param_types;
	void **param_pointers;
} module_exports_t;

/* Capture-plan action node (action.h). p1/p2/p3 meaning depends on type; see PTLS_* codes. */
struct action {
	int type;
	int index;
	int p1_type;
	int p2_type;
	int p3_type;
	union {
		int number;
		char *string;
		void *data;
	} p1, p2, p3;
	struct action *next;
};

/* Execution context for run_actions; zero it before use (action.h). */
struct run_act_ctx {
	int route_rec_lev;
	int rec_lev;
	int run_flags;
	int last_retcode;
};

/* The parsed capture plans (capture.h): socket_pcap runs clist[profile.action] per packet.
 * idx is the last index handed out (-1 before the first named plan). */
struct capture_list {
	struct action *clist[20];
	int idx;
	int entries;
	char names[20][100];
};

/* What a protocol module's <name>_bind_api fills (modules_api.h); interface_http looks the
 * bind function up for every protocol_* module. */
typedef int (*parse_message_t)(msg_t *msg);
typedef int (*parse_only_message_t)(msg_t *msg, void *packet);
typedef int (*reload_t)(char *erbuf, int len);
typedef int (*ul_set_keepalive_timeout_t)(int to);
typedef struct protocol_module_api {
	int use_domain;
	char *module_name;
	int db_mode;
	unsigned int nat_flag;
	parse_message_t parse_f;
	parse_only_message_t parse_only_f;
	reload_t reload_f;
	ul_set_keepalive_timeout_t set_keepalive_timeout;
} protocol_module_api_t;

/* ---- symbols the core executable exports (linked -rdynamic) ---- */
void data_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int run_actions(struct run_act_ctx *c, struct action *a, msg_t *msg);
cmd_function find_export(char *name, int param_no, int flags);
extern char *global_config_path;
extern struct capture_list main_ct;

#endif /* PTLS_WITH_CAPTAGENT_TREE */

/* ---- internal host pieces, declared here in both modes ---- */

/* Capture-plan expression node (src/conf_function.h `struct expr`, not a public header). */
struct ptls_expr {
	int type;                    /* PTLS_EXP_T or PTLS_ELEM_T */
	int op;                      /* AND/OR/NOT for EXP_T */
	int subtype;
	union {
		struct ptls_expr *expr;
		int operand;             /* ELEM_T: PTLS_ACTION_O, PTLS_NUMBER_O, ... */
	} l;
	union {
		struct ptls_expr *expr;
		void *param;             /* ELEM_T/ACTION_O: struct action list */
		int intval;
	} r;
};

enum { PTLS_EXP_T = 1, PTLS_ELEM_T = 2 };
enum { PTLS_AND_OP = 1, PTLS_OR_OP = 2, PTLS_NOT_OP = 3 };
enum { PTLS_METHOD_O = 1, PTLS_DEFAULT_O = 2, PTLS_ACTION_O = 3, PTLS_NUMBER_O = 4 };
enum { PTLS_FORWARD_T = 1, PTLS_SEND_T = 2, PTLS_DROP_T = 3, PTLS_IF_T = 4, PTLS_MODULE_T = 5 };
enum { PTLS_NOSUBTYPE = 0, PTLS_STRING_ST = 1, PTLS_NET_ST = 2, PTLS_ACTIONS_ST = 3,
       PTLS_CMDF_ST = 4, PTLS_EXPR_ST = 5, PTLS_NUMBER_ST = 6 };
/* Number of plan slots in capture_list.clist. */
#define PTLS_CLIST_MAX 20

/* libpcap's per-packet header as socket_pcap hands it in msg->cap_header (pcap/pcap.h);
 * declared here so the module needs no libpcap headers. */
struct ptls_pcap_pkthdr {
	struct timeval ts;
	uint32_t caplen;             /* bytes present at cap_packet */
	uint32_t len;                /* bytes on the wire */
};

/* ---- layout pins (x86_64 / LP64, measured on captagent 6.4.3) ---- */
#if defined(__LP64__) || defined(_LP64)
_Static_assert(sizeof(str) == 16, "str layout");
_Static_assert(sizeof(str_static) == 132, "str_static layout");
_Static_assert(sizeof(rc_info_t) == 240, "rc_info_t size");
_Static_assert(offsetof(rc_info_t, ip_family) == 0, "rc_info_t.ip_family");
_Static_assert(offsetof(rc_info_t, ip_proto) == 1, "rc_info_t.ip_proto");
_Static_assert(offsetof(rc_info_t, src_mac) == 8, "rc_info_t.src_mac");
_Static_assert(offsetof(rc_info_t, src_ip) == 24, "rc_info_t.src_ip");
_Static_assert(offsetof(rc_info_t, dst_ip) == 32, "rc_info_t.dst_ip");
_Static_assert(offsetof(rc_info_t, src_port) == 40, "rc_info_t.src_port");
_Static_assert(offsetof(rc_info_t, dst_port) == 42, "rc_info_t.dst_port");
_Static_assert(offsetof(rc_info_t, time_sec) == 44, "rc_info_t.time_sec");
_Static_assert(offsetof(rc_info_t, time_usec) == 48, "rc_info_t.time_usec");
_Static_assert(offsetof(rc_info_t, correlation_id) == 80, "rc_info_t.correlation_id");
_Static_assert(offsetof(rc_info_t, tags) == 96, "rc_info_t.tags");
_Static_assert(offsetof(rc_info_t, socket) == 232, "rc_info_t.socket");
_Static_assert(sizeof(sip_msg_t) == 4200, "sip_msg_t size");
_Static_assert(sizeof(msg_t) == 4568, "msg_t size");
_Static_assert(offsetof(msg_t, data) == 0, "msg_t.data");
_Static_assert(offsetof(msg_t, len) == 16, "msg_t.len");
_Static_assert(offsetof(msg_t, hdr_len) == 20, "msg_t.hdr_len");
_Static_assert(offsetof(msg_t, tcpflag) == 22, "msg_t.tcpflag");
_Static_assert(offsetof(msg_t, rcinfo) == 32, "msg_t.rcinfo");
_Static_assert(offsetof(msg_t, parsed_data) == 280, "msg_t.parsed_data");
_Static_assert(offsetof(msg_t, sip) == 288, "msg_t.sip");
_Static_assert(offsetof(msg_t, cap_packet) == 4488, "msg_t.cap_packet");
_Static_assert(offsetof(msg_t, cap_header) == 4496, "msg_t.cap_header");
_Static_assert(offsetof(msg_t, corrdata) == 4512, "msg_t.corrdata");
_Static_assert(offsetof(msg_t, mfree) == 4520, "msg_t.mfree");
_Static_assert(offsetof(msg_t, flag) == 4524, "msg_t.flag");
_Static_assert(sizeof(cmd_export_t) == 40, "cmd_export_t size");
_Static_assert(offsetof(cmd_export_t, param_no) == 16, "cmd_export_t.param_no");
_Static_assert(sizeof(struct module_exports) == 120, "module_exports size");
_Static_assert(offsetof(struct module_exports, stats_f) == 40, "module_exports.stats_f");
_Static_assert(offsetof(struct module_exports, serial_f) == 48, "module_exports.serial_f");
_Static_assert(sizeof(protocol_module_api_t) == 56, "protocol_module_api_t size");
_Static_assert(offsetof(protocol_module_api_t, parse_f) == 24, "protocol_module_api_t.parse_f");
_Static_assert(sizeof(struct action) == 56, "struct action size");
_Static_assert(offsetof(struct action, p1) == 24, "action.p1");
_Static_assert(offsetof(struct action, p2) == 32, "action.p2");
_Static_assert(offsetof(struct action, p3) == 40, "action.p3");
_Static_assert(offsetof(struct action, next) == 48, "action.next");
_Static_assert(sizeof(struct run_act_ctx) == 16, "run_act_ctx size");
_Static_assert(sizeof(struct capture_list) == 2168, "capture_list size");
_Static_assert(offsetof(struct capture_list, idx) == 160, "capture_list.idx");
_Static_assert(sizeof(struct ptls_expr) == 32, "struct expr size");
_Static_assert(offsetof(struct ptls_expr, l) == 16, "expr.l");
_Static_assert(offsetof(struct ptls_expr, r) == 24, "expr.r");
_Static_assert(sizeof(struct ptls_pcap_pkthdr) == 24, "pcap_pkthdr size");
_Static_assert(offsetof(struct ptls_pcap_pkthdr, caplen) == 16, "pcap_pkthdr.caplen");
#endif

#endif /* PTLS_CAPTAGENT_ABI_H */
