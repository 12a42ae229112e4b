/*
 * captls.c — the `captls` command-line tool: passive TLS decryption of a pcap file or a
 * live interface with the protocol_tls engine, printing the plaintext application
 * messages (text or JSON Lines), and optionally sending them to a Homer collector as
 * HEP v3 (-H) and/or writing them as a plain-TCP pcap (-w).
 *
 * It is a thin translator over tls_engine.h (as design.md requires): frames in (libpcap,
 * or for pcapng files captls's own reader, which also yields the key-log secrets stored in
 * the file: input.c), engine callbacks out. The command line and output are the `captls` contract of
 * design.md:
 *
 *   captls (-r FILE | -i IFACE) [-f BPF] [-c protocol_tls.xml] [-k KEYFILE]... [-P PASSWORD]
 *          [-l KEYLOGFILE] [-o text|json] [-H udp:HOST:PORT | tcp:HOST:PORT] [-w OUT.pcap]
 *          [--keylog-listen udp:HOST:PORT [--keylog-allow LIST]]
 *
 * Exit status: 0 input processed (even with undecryptable sessions); 2 usage or
 * configuration error, reported as one line on stderr; 1 runtime failure (read error in
 * the middle of the input, output write error, HEP messages that could not be sent).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <pcap/pcap.h>

#include "tls_engine.h"
#include "tls_config.h"
#include "output.h"
#include "hep.h"
#include "pcap_out.h"
#include "keylog_listen.h"
#include "keywait.h"
#include "workers.h"
#include "usage.h"
#include <pthread.h>
#include <unistd.h>
#include "input.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define KEYLOG_MAX_DEFAULT 100000u
#define MAX_STORES 64

/* ---------------------------------------------------------------- state */

typedef struct opts {
	const char *read_file, *iface, *filter, *config, *keylog, *hep, *write;
	const char *keys[256];
	size_t n_keys;
	char *password;             /* copied out of argv, wiped at exit */
	int format;                 /* -1: not given */
	int verbose;
	bool quiet, stats;
	uint32_t hep_id;
	const char *hep_auth;
	int hep_type_http, hep_type_raw;
	int linktype;
	size_t keylog_max;
	const char *keylog_listen, *keylog_allow;
	long keylog_wait;           /* -1: not given (the profile's / engine default) */
	size_t keylog_max_dgram;    /* 0: default */
	unsigned threads;           /* 0: not given (the cores) */
} opts_t;

typedef struct app {
	opts_t *o;
	tls_engine_t *eng;
	out_ctx_t *out;             /* stdout records, or NULL */
	out_ctx_t *summary;         /* text session lines on stderr when stdout is not used */
	hep_sender_t *hep;
	uint8_t *hepbuf;
	uint64_t hep_too_big, hep_keepalive_skipped, hep_failed, hep_kind_off;
	char hep_last_err[512];
	pcap_out_t *pw;
	kl_listener_t *kll[MAX_STORES + 1];  /* key-log listeners (--keylog-listen, profiles) */
	size_t n_kll;
	double now;                 /* capture time of the packet being fed */
	_Atomic bool stop_output;   /* an output failed: stop reading (set by workers too) */
	workers_t *ws;              /* --threads > 1: callbacks run on workers, under cb_mu */
	pthread_mutex_t cb_mu;
} app_t;

/* Outputs are shared by the workers: one callback at a time writes (a flow's callbacks
 * all come from one worker, so per-flow order is kept). */
#define CB_LOCK(a) do { if ((a)->ws) pthread_mutex_lock(&(a)->cb_mu); } while (0)
#define CB_UNLOCK(a) do { if ((a)->ws) pthread_mutex_unlock(&(a)->cb_mu); } while (0)

static volatile sig_atomic_t g_stop;
static cap_input_t *g_in;

/* ---------------------------------------------------------------- messages */

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
	va_list ap;
	fputs("captls: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	fputs("captls: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---------------------------------------------------------------- callbacks */

static uint8_t hep_proto_type(const app_t *a, tls_app_t app)
{
	switch (app) {
	case TLS_APP_SIP: return HEP_PROTO_SIP;
	case TLS_APP_HTTP: return (uint8_t)a->o->hep_type_http;
	default: return (uint8_t)a->o->hep_type_raw;
	}
}

static void send_hep(app_t *a, const tls_message_t *m)
{
	if (m->keepalive) { a->hep_keepalive_skipped++; return; }   /* CRLF pings are not SIP messages */
	uint8_t pt = hep_proto_type(a, m->app);
	if (!pt) { a->hep_kind_off++; return; }   /* --hep-type-http/-raw 0: that kind is not sent */
	const tls_endpoints_t *ep = m->ep;
	bool c2s = m->dir == TLS_DIR_C2S;
	hep_msg_t h = {
		.family = ep->family,
		.src_ip = c2s ? ep->client_ip : ep->server_ip,
		.dst_ip = c2s ? ep->server_ip : ep->client_ip,
		.sport = c2s ? ep->client_port : ep->server_port,
		.dport = c2s ? ep->server_port : ep->client_port,
		.ip_proto = IPPROTO_TCP,
		.proto_type = pt,
		.capture_id = a->o->hep_id,
		.auth_key = a->o->hep_auth,
		.payload = m->data,
		.len = m->len,
	};
	hep_split_ts(m->ts, &h.ts_sec, &h.ts_usec);
	size_t need = hep_encoded_len(&h);
	if (need > hep_sender_max_packet(a->hep)) {
		if (!a->hep_too_big++)
			say("warning: HEP: message of %zu bytes (flow %llu) does not fit in one HEP packet; "
			      "skipped (counted in --stats)", m->len, (unsigned long long)m->flow_id);
		return;
	}
	size_t n = hep_encode(&h, a->hepbuf, HEP_MAX_PACKET);
	if (!n) { a->hep_too_big++; return; }
	if (hep_sender_send(a->hep, a->hepbuf, n) < 0) {
		const char *e = hep_sender_last_error(a->hep);
		/* Report the first failure and every change of reason, not every packet. */
		if (!a->hep_failed++ || strcmp(e, a->hep_last_err))
			say("warning: HEP: %s (messages are dropped until it works)", e);
		snprintf(a->hep_last_err, sizeof a->hep_last_err, "%s", e);
	} else if (a->hep_last_err[0]) {
		say("HEP: sending to %s again", hep_sender_describe(a->hep));
		a->hep_last_err[0] = 0;
	}
}

static void on_message(void *user, const tls_message_t *m)
{
	app_t *a = user;
	if (!a->out && !a->hep && !a->pw) return;   /* -q: nothing to write, no lock to take */
	CB_LOCK(a);
	if (a->out && out_message(a->out, m) < 0) a->stop_output = true;
	if (a->hep) send_hep(a, m);
	if (a->pw && pcap_out_message(a->pw, m->flow_id, m->ep, m->dir, m->data, m->len, m->ts) < 0)
		a->stop_output = true;      /* -w cannot be written: stop reading, reported at the end */
	CB_UNLOCK(a);
}

static void on_session(void *user, const tls_session_info_t *s)
{
	app_t *a = user;
	if (!a->out && !a->pw && !(a->summary && (s->final || a->o->verbose >= 2))) return;   /* -q */
	CB_LOCK(a);
	if (!s->final) {
		if (a->o->verbose >= 2 && a->summary) {
			fputs("captls: session update: ", stderr);
			out_session(a->summary, s);
		}
	} else {
		if (a->out) {
			if (out_session(a->out, s) < 0) a->stop_output = true;
		} else if (a->summary) {
			out_session(a->summary, s);
		}
		double now = a->ws && workers_now() != 0 ? workers_now() : a->now;
		if (a->pw) pcap_out_flow_end(a->pw, s->flow_id, now);
	}
	CB_UNLOCK(a);
}

static void on_log(void *user, int level, const char *line)
{
	app_t *a = user;
	int max = a->o->verbose >= 2 ? 7 : a->o->verbose == 1 ? 6 : 4;
	if (level > max) return;
	CB_LOCK(a);
	say("%s", line);
	CB_UNLOCK(a);
}

/* ---------------------------------------------------------------- setup */

static void signal_handler(int sig)
{
	(void)sig;
	g_stop = 1;
	if (g_in) input_breakloop(g_in);
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = signal_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);       /* write errors come back as EPIPE and are handled */
}

static unsigned long parse_num(const char *opt, const char *s, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 0);
	if (!*s || *end || errno || v > max || *s == '-')
		die_usage("%s: \"%s\" is not a number from 0 to %lu", opt, s, max);
	return v;
}

static void warn_cb(void *u, const char *line)
{
	(void)u;
	say("warning: %s", line);
}

/* Load -k keys and -l key log into one keystore. Exits 2 on any problem. */
static tls_keystore_t *load_cli_keys(const opts_t *o)
{
	tls_keystore_t *ks = tls_keystore_new();
	if (!ks) die_usage("out of memory");
	char err[512], warn[512];
	for (size_t i = 0; i < o->n_keys; i++) {
		const char *p = o->keys[i];
		struct stat st;
		if (stat(p, &st) < 0) die_usage("key file %s: %s", p, strerror(errno));
		if (!S_ISREG(st.st_mode)) die_usage("key file %s: not a regular file", p);
		err[0] = warn[0] = 0;
		if (tls_keystore_add_key_file(ks, p, o->password, NULL, NULL, err, sizeof err, warn, sizeof warn) < 0) {
			if (strstr(err, p)) die_usage("%s", err);
			die_usage("key file %s: %s", p, err[0] ? err : "cannot load key");
		}
		if (warn[0]) say("warning: %s", warn);
	}
	if (o->keylog_listen && tls_keystore_add_keylog_feed(ks, o->keylog_max, err, sizeof err) < 0)
		die_usage("--keylog-listen: %s", err);
	if (o->keylog) {
		struct stat st;
		if (stat(o->keylog, &st) < 0) {
			/* Live capture: the application may create the file later. */
			if (o->read_file) die_usage("key log %s: %s", o->keylog, strerror(errno));
			say("warning: key log %s does not exist yet; it will be read once it appears", o->keylog);
		}
		err[0] = 0;
		if (tls_keystore_add_keylog(ks, o->keylog, o->keylog_max, err, sizeof err) < 0) {
			if (strstr(err, o->keylog)) die_usage("%s", err);
			die_usage("key log %s: %s", o->keylog, err[0] ? err : "cannot use key log");
		}
	}
	return ks;
}

static void print_stats(const app_t *a, cap_input_t *in)
{
	out_print_engine_stats(stderr, a->eng);
	if (a->hep) {
		hep_sender_stats_t hs;
		hep_sender_get_stats(a->hep, &hs);
		fprintf(stderr, "captls: HEP %s: sent %llu, failed %llu, too large %llu, keep-alives skipped %llu, "
		        "type 0 not sent %llu, connects %llu (failed %llu)\n",
		        hep_sender_describe(a->hep), (unsigned long long)hs.sent,
		        (unsigned long long)hs.send_failed, (unsigned long long)a->hep_too_big,
		        (unsigned long long)a->hep_keepalive_skipped, (unsigned long long)a->hep_kind_off,
		        (unsigned long long)hs.connects,
		        (unsigned long long)hs.connect_failures);
	}
	if (a->pw) {
		pcap_out_stats_t ps;
		pcap_out_get_stats(a->pw, &ps);
		fprintf(stderr, "captls: pcap output: %llu packets, %llu flows\n",
		        (unsigned long long)ps.packets, (unsigned long long)ps.flows_opened);
	}
	keywait_print_stats(a->kll, a->n_kll);
	input_print_stats(in, stderr);
}

/* ---------------------------------------------------------------- main */


enum { OPT_STATS = 256, OPT_HEP_ID, OPT_HEP_AUTH, OPT_HEP_HTTP, OPT_HEP_RAW, OPT_LINKTYPE, OPT_KEYLOG_MAX,
       OPT_KEYLOG_LISTEN, OPT_KEYLOG_ALLOW, OPT_KEYLOG_WAIT, OPT_KEYLOG_DGRAM, OPT_THREADS };

static const struct option long_opts[] = {
	{ "read", required_argument, NULL, 'r' },
	{ "interface", required_argument, NULL, 'i' },
	{ "filter", required_argument, NULL, 'f' },
	{ "config", required_argument, NULL, 'c' },
	{ "key", required_argument, NULL, 'k' },
	{ "password", required_argument, NULL, 'P' },
	{ "keylog", required_argument, NULL, 'l' },
	{ "output", required_argument, NULL, 'o' },
	{ "hep", required_argument, NULL, 'H' },
	{ "write", required_argument, NULL, 'w' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "hep-id", required_argument, NULL, OPT_HEP_ID },
	{ "hep-auth", required_argument, NULL, OPT_HEP_AUTH },
	{ "hep-type-http", required_argument, NULL, OPT_HEP_HTTP },
	{ "hep-type-raw", required_argument, NULL, OPT_HEP_RAW },
	{ "pcap-linktype", required_argument, NULL, OPT_LINKTYPE },
	{ "keylog-max", required_argument, NULL, OPT_KEYLOG_MAX },
	{ "keylog-listen", required_argument, NULL, OPT_KEYLOG_LISTEN },
	{ "keylog-allow", required_argument, NULL, OPT_KEYLOG_ALLOW },
	{ "keylog-wait", required_argument, NULL, OPT_KEYLOG_WAIT },
	{ "keylog-max-datagram", required_argument, NULL, OPT_KEYLOG_DGRAM },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ NULL, 0, NULL, 0 }
};

static const char *opt_name(int c, char *buf, size_t n)
{
	for (const struct option *lo = long_opts; lo->name; lo++)
		if (lo->val == c) {
			if (c < 256) snprintf(buf, n, "-%c", c);
			else snprintf(buf, n, "--%s", lo->name);
			return buf;
		}
	snprintf(buf, n, "-%c", c);
	return buf;
}

static void parse_args(int argc, char **argv, opts_t *o, char **trailing_filter)
{
	memset(o, 0, sizeof *o);
	o->format = -1;
	o->hep_id = 2001;
	o->hep_type_http = o->hep_type_raw = -1;   /* unset: -c profile, else the defaults */
	o->linktype = PCAP_OUT_ETHERNET;
	o->keylog_max = KEYLOG_MAX_DEFAULT;
	o->keylog_wait = -1;
	opterr = 0;
	char nb[40];
	int c;
	while ((c = getopt_long(argc, argv, ":r:i:f:c:k:P:l:o:H:w:qvVh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (o->read_file) die_usage("-r given twice");
			o->read_file = optarg; break;
		case 'i':
			if (o->iface) die_usage("-i given twice");
			o->iface = optarg; break;
		case 'f':
			if (o->filter) die_usage("-f given twice");
			o->filter = optarg; break;
		case 'c':
			if (o->config) die_usage("-c given twice");
			o->config = optarg; break;
		case 'k':
			if (o->n_keys >= sizeof o->keys / sizeof o->keys[0]) die_usage("too many -k keys");
			o->keys[o->n_keys++] = optarg; break;
		case 'P': {
			if (o->password) die_usage("-P given twice");
			o->password = strdup(optarg);
			if (!o->password) die_usage("out of memory");
			/* hide the password from ps / /proc/PID/cmdline */
			memset(optarg, 0, strlen(optarg));
			break;
		}
		case 'l':
			if (o->keylog) die_usage("-l given twice (one key log; use -c for more)");
			o->keylog = optarg; break;
		case 'o':
			if (!strcmp(optarg, "text")) o->format = OUT_TEXT;
			else if (!strcmp(optarg, "json")) o->format = OUT_JSON;
			else die_usage("-o %s: output format must be text or json", optarg);
			break;
		case 'H':
			if (o->hep) die_usage("-H given twice");
			o->hep = optarg; break;
		case 'w':
			if (o->write) die_usage("-w given twice");
			o->write = optarg; break;
		case 'q': o->quiet = true; break;
		case 'v': o->verbose++; break;
		case 'V': captls_version(); exit(0);
		case 'h': captls_usage(stdout); exit(0);
		case OPT_STATS: o->stats = true; break;
		case OPT_HEP_ID: o->hep_id = (uint32_t)parse_num("--hep-id", optarg, UINT32_MAX); break;
		case OPT_HEP_AUTH: o->hep_auth = optarg; break;
		case OPT_HEP_HTTP: o->hep_type_http = (int)parse_num("--hep-type-http", optarg, 255); break;
		case OPT_HEP_RAW: o->hep_type_raw = (int)parse_num("--hep-type-raw", optarg, 255); break;
		case OPT_LINKTYPE:
			if (!strcmp(optarg, "ether") || !strcmp(optarg, "ethernet")) o->linktype = PCAP_OUT_ETHERNET;
			else if (!strcmp(optarg, "raw")) o->linktype = PCAP_OUT_RAW;
			else die_usage("--pcap-linktype %s: must be ether or raw", optarg);
			break;
		case OPT_THREADS:
			o->threads = (unsigned)parse_num("--threads", optarg, 256);
			if (!o->threads) die_usage("--threads must be at least 1");
			break;
		case OPT_KEYLOG_MAX:
			o->keylog_max = parse_num("--keylog-max", optarg, 100000000);
			if (!o->keylog_max) die_usage("--keylog-max must be at least 1");
			break;
		case OPT_KEYLOG_LISTEN: {
			char e[300];
			if (o->keylog_listen) die_usage("--keylog-listen given twice");
			if (kl_listener_check(optarg, NULL, e, sizeof e) < 0) die_usage("%s", e);
			o->keylog_listen = optarg;
			break;
		}
		case OPT_KEYLOG_ALLOW: {
			char e[300];
			if (o->keylog_allow) die_usage("--keylog-allow given twice");
			if (kl_listener_check("udp:0", optarg, e, sizeof e) < 0) die_usage("%s", e);
			o->keylog_allow = optarg;
			break;
		}
		case OPT_KEYLOG_DGRAM:
			o->keylog_max_dgram = parse_num("--keylog-max-datagram", optarg, 65535);
			if (o->keylog_max_dgram < 64) die_usage("--keylog-max-datagram must be at least 64");
			break;
		case OPT_KEYLOG_WAIT:
			o->keylog_wait = (long)parse_num("--keylog-wait", optarg, 86400);
			break;
		case ':':
			if (optopt) die_usage("option %s needs an argument (see captls -h)", opt_name(optopt, nb, sizeof nb));
			die_usage("option %s needs an argument (see captls -h)", argv[optind - 1]);
		default:
			if (optopt && optopt < 256) die_usage("unknown option -%c (see captls -h)", optopt);
			die_usage("unknown option %s (see captls -h)", argv[optind - 1]);
		}
	}
	/* tcpdump style: remaining words form the capture filter */
	*trailing_filter = NULL;
	if (optind < argc) {
		if (o->filter) die_usage("unexpected argument \"%s\" (the filter is already given with -f)", argv[optind]);
		size_t n = 1;
		for (int i = optind; i < argc; i++) n += strlen(argv[i]) + 1;
		char *f = calloc(1, n);
		if (!f) die_usage("out of memory");
		for (int i = optind; i < argc; i++) {
			if (i > optind) strcat(f, " ");
			strcat(f, argv[i]);
		}
		*trailing_filter = f;
	}
	if (o->keylog_allow && !o->keylog_listen) die_usage("--keylog-allow needs --keylog-listen");
	if (!o->read_file && !o->iface) die_usage("no input: give -r FILE or -i IFACE (see captls -h)");
	if (o->read_file && o->iface) die_usage("-r and -i are exclusive: give one input");
	if (o->write && !strcmp(o->write, "-") && o->format >= 0)
		die_usage("-w - writes the pcap to stdout: it cannot be combined with -o");
	if (o->quiet && o->format >= 0) die_usage("-q and -o are exclusive");
	if (o->password && !o->n_keys) say("warning: -P applies to -k keys only, and no -k is given");
}

int main(int argc, char **argv)
{
	opts_t o;
	char *trailing = NULL;
	parse_args(argc, argv, &o, &trailing);
	const char *filter = o.filter ? o.filter : trailing;

	if (tls_engine_global_init() < 0) die_usage("cannot initialise the crypto libraries");

	/* ---- keys: -c profiles, then -k / -l; each becomes one keystore ---- */
	tls_keystore_t *stores[MAX_STORES], *cli_store = NULL;
	size_t nstores = 0;
	tls_engine_config_t ecfg;
	tls_engine_config_defaults(&ecfg);
	tls_conf_t conf;
	memset(&conf, 0, sizeof conf);
	bool have_conf = false;
	char err[1024];
	kl_listener_t *kll[MAX_STORES + 1];
	size_t n_kll = 0;
	if (o.config) {
		struct stat st;
		if (stat(o.config, &st) < 0) die_usage("config %s: %s", o.config, strerror(errno));
		err[0] = 0;
		if (tls_config_load(o.config, &conf, err, sizeof err, warn_cb, NULL) < 0)
			die_usage("%s", err[0] ? err : "cannot load the configuration");
		have_conf = true;
		bool first = true;
		for (size_t i = 0; i < conf.n_profiles; i++) {
			const tls_profile_conf_t *p = &conf.profiles[i];
			if (!p->enabled) continue;
			if (first) {
				ecfg = p->engine;
				if (o.hep_type_http < 0) o.hep_type_http = p->hep_type_http;
				if (o.hep_type_raw < 0) o.hep_type_raw = p->hep_type_raw;
				first = false;
			}
			if (nstores >= MAX_STORES) die_usage("%s: too many profiles (at most %d)", o.config, MAX_STORES);
			err[0] = 0;
			if (tls_config_build_keystore(p, &stores[nstores], err, sizeof err, warn_cb, NULL) < 0)
				die_usage("%s", err[0] ? err : "cannot load the profile's keys");
			if (p->keylog_listen) {
				kll[n_kll] = kl_listener_open(p->keylog_listen, p->keylog_allow, p->keylog_max_datagram, stores[nstores],
				                               err, sizeof err);
				if (!kll[n_kll]) die_usage("%s: profile %s: %s", o.config, p->name, err);
				n_kll++;
			}
			nstores++;
		}
		if (first) say("warning: %s: no enabled profile", o.config);
	}
	if (o.hep_type_http < 0) o.hep_type_http = TLS_CONF_HEP_TYPE_HTTP_DEFAULT;
	if (o.hep_type_raw < 0) o.hep_type_raw = TLS_CONF_HEP_TYPE_RAW_DEFAULT;
	if (o.keylog_wait >= 0) ecfg.keylog_wait = (uint32_t)o.keylog_wait;
	if (!o.threads) {                  /* default: the cores, at most 8 */
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		o.threads = nc < 1 ? 1 : nc > 8 ? 8 : (unsigned)nc;
	}
	ecfg.shards = o.threads;
	if (o.n_keys || o.keylog || o.keylog_listen || !nstores) {
		if (nstores >= MAX_STORES) die_usage("too many key stores");
		stores[nstores++] = cli_store = load_cli_keys(&o);
		if (o.keylog_listen) {
			kll[n_kll] = kl_listener_open(o.keylog_listen, o.keylog_allow, o.keylog_max_dgram, stores[nstores - 1], err, sizeof err);
			if (!kll[n_kll]) die_usage("%s", err);
			n_kll++;
		}
	}
	/* pcapng Decryption Secrets Blocks: into the -k/-l store (or one of their own), all
	 * of them before the first packet */
	if (o.read_file) {
		tls_keystore_t *ks = cli_store;
		uint64_t kl_lines, kl_bad;
		long nsec = input_load_secrets(o.read_file, &ks, o.keylog_max, &kl_lines, &kl_bad);
		if (ks && !cli_store) {
			if (nstores >= MAX_STORES) die_usage("too many key stores");
			stores[nstores++] = ks;
		}
		if (nsec && o.verbose)
			say("%s: %ld TLS key-log secrets block(s): %llu lines, %llu malformed", o.read_file, nsec,
			    (unsigned long long)kl_lines, (unsigned long long)kl_bad);
	}
	for (size_t i = 0; i < n_kll; i++) {
		if (kl_listener_start(kll[i], err, sizeof err) < 0) die_usage("%s", err);
		if (o.verbose) say("receiving key-log lines on %s", kl_listener_describe(kll[i]));
	}
	if (o.verbose && !o.n_keys && !o.keylog && !o.keylog_listen && !o.config)
		say("no keys given (-k, -l or -c): sessions are listed but nothing can be decrypted");

	/* ---- outputs ---- */
	app_t a;
	memset(&a, 0, sizeof a);
	a.o = &o;
	memcpy(a.kll, kll, n_kll * sizeof kll[0]);
	a.n_kll = n_kll;
	if (o.hep) {
		a.hep = hep_sender_new(o.hep, err, sizeof err);
		if (!a.hep) die_usage("-H: %s", err);
		a.hepbuf = malloc(HEP_MAX_PACKET);
		if (!a.hepbuf) die_usage("out of memory");
	}

	cap_input_t *in = input_open(o.read_file, o.iface, filter, err, sizeof err);
	if (!in) die_usage("%s", err);
	g_in = in;
	bool live = o.iface != NULL;

	bool stdout_records = o.format >= 0 || (!o.quiet && !o.hep && !o.write);
	if (o.write && !strcmp(o.write, "-")) stdout_records = false;
	if (stdout_records) {
		/* full buffering for files; records flushed one by one for live captures */
		if (!live) setvbuf(stdout, NULL, _IOFBF, 1 << 16);
		a.out = out_new(stdout, o.format == OUT_JSON ? OUT_JSON : OUT_TEXT, live);
		if (!a.out) die_usage("out of memory");
	}
	if (!o.quiet || o.verbose >= 2) {
		a.summary = out_new(stderr, OUT_TEXT, true);
		if (!a.summary) die_usage("out of memory");
	}
	if (o.write) {
		a.pw = pcap_out_open(o.write, o.linktype, err, sizeof err);
		if (!a.pw) die_usage("-w %s", err);
		/* per packet when someone reads as we write: live capture, or a pipe / FIFO */
		if (live || keywait_output_is_pipe(o.write)) pcap_out_set_autoflush(a.pw, true);
	}

	/* ---- engine ---- */
	tls_callbacks_t cb = { .on_message = on_message, .on_session = on_session, .on_log = on_log, .user = &a };
	a.eng = tls_engine_new(&ecfg, stores, nstores, &cb);
	if (!a.eng) die_usage("cannot create the decryption engine");
	for (size_t i = 0; i < nstores; i++) tls_keystore_unref(stores[i]);
	if (have_conf) tls_config_free(&conf);

	install_signals();

	/* ---- read ---- */
	/* frames reach the workers one by one when input trickles in (live, a pipe): a batch
	 * that waits to fill would hold back what is already there */
	bool trickle = live;
	if (!live) {
		struct stat ist;
		trickle = !strcmp(o.read_file, "-") || stat(o.read_file, &ist) < 0 || !S_ISREG(ist.st_mode);
	}
	if (o.threads > 1) {
		pthread_mutex_init(&a.cb_mu, NULL);
		a.ws = workers_start(a.eng, o.threads);
		if (!a.ws) die_usage("cannot start %u worker threads", o.threads);
	}
	int rc = EXIT_SUCCESS;
	uint64_t npkts = 0;
	double last_expire = 0;
	while (!g_stop && !a.stop_output) {
		cap_pkt_t pk;
		int r = input_next(in, &pk);
		if (r == 1) {
			npkts++;
			a.now = pk.ts;
			if (a.ws) workers_feed(a.ws, pk.dlt, pk.data, pk.caplen, a.now, trickle);
			else tls_engine_feed_frame(a.eng, pk.dlt, pk.data, pk.caplen, a.now);
			continue;
		}
		if (r == 0) {               /* live: read timeout, let idle flows expire */
			double now = (double)time(NULL);
			if (now - last_expire >= 1) {
				a.now = now;
				tls_engine_expire(a.eng, now, false);
				last_expire = now;
			}
			if (a.n_kll) tls_engine_wait_keys(a.eng);  /* keys that arrived while idle */
			continue;
		}
		if (r == -2) break;                 /* end of file, or signal */
		say("%s: %s (input processed up to packet %llu)", o.read_file ? o.read_file : o.iface,
		      input_error(in), (unsigned long long)npkts);
		rc = EXIT_RUNTIME;
		break;
	}

	workers_drain(a.ws);     /* every frame read is fed before waiting or flushing */

	/* ---- finish: with a key-log listener, sessions still lacking keys wait up to
	 * keylog-wait seconds of wall time for their lines (the input is over, so capture
	 * time no longer moves); then final session reports, then outputs ---- */
	if (a.n_kll && !g_stop && !a.stop_output) {
		if (a.out) out_flush(a.out);
		keywait_run(a.eng, ecfg.keylog_wait, &g_stop, o.verbose);
	}
	tls_engine_flush(a.eng);
	if (o.stats) print_stats(&a, in);
	tls_engine_free(a.eng);
	if (a.ws) {
		workers_free(a.ws);
		a.ws = NULL;
		pthread_mutex_destroy(&a.cb_mu);
	}
	for (size_t i = 0; i < a.n_kll; i++) kl_listener_free(a.kll[i]);
	g_in = NULL;
	input_close(in);

	if (a.out) {
		out_flush(a.out);
		int e = out_error(a.out);
		if (e) {
			if (e != EPIPE) say("stdout: %s", strerror(e));
			rc = EXIT_RUNTIME;
		}
		out_free(a.out);
	}
	out_free(a.summary);
	if (a.pw && pcap_out_close(a.pw, err, sizeof err) < 0) {
		say("-w %s", err);
		rc = EXIT_RUNTIME;
	}
	if (a.hep) {
		hep_sender_stats_t hs;
		hep_sender_get_stats(a.hep, &hs);
		if (hs.udp_refused)
			say("warning: HEP: %s answered %llu times with port unreachable: is the collector listening?",
			    hep_sender_describe(a.hep), (unsigned long long)hs.udp_refused);
		if (hs.send_failed) {
			say("HEP: %llu of %llu messages could not be sent to %s",
			      (unsigned long long)hs.send_failed, (unsigned long long)(hs.send_failed + hs.sent),
			      hep_sender_describe(a.hep));
			rc = EXIT_RUNTIME;
		}
		hep_sender_free(a.hep);
		free(a.hepbuf);
	}
	if (o.password) {
		explicit_bzero(o.password, strlen(o.password));
		free(o.password);
	}
	free(trailing);
	return rc;
}
