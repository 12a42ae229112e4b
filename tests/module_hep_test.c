/*
 * module_hep_test.c — HTTP to HEP through protocol_tls.so: the HEP protocol type
 * (rcinfo.proto_type, HEP chunk 0x000b) of every delivered message, hep-type-http /
 * hep-type-raw, and the tls_is_sip() / tls_is_http() plan commands (TAP output).
 *
 * Why a separate program: module_harness already plays captagent (exported core
 * symbols, dlopen, captagent's plan semantics, socket_pcap's msg_t) and has many cases;
 * this program links the same host (modhost_*.c, modhost.h) without those cases and adds
 * only the shipped HEP plan and its cases:
 *
 *   if(parse_tls()) { if(tls_is_sip()) { if(parse_sip()) { send_hep("hepsocket"); } }
 *                     else { send_hep("hepsocket"); } }  drop;
 *
 * parse_sip is played like captagent 6.4.3's protocol_sip: it sets proto_type to 1 as
 * soon as the payload starts with a letter (HTTP does) and then rejects what is not SIP;
 * send_hep records the message with its proto_type. Traffic: real OpenSSL peers (tlsgen,
 * app HTTP and SIP) and the real curl -> nginx TLS 1.3 sample of ../shared/samples.
 * Every HTTP message must reach send_hep exactly once, byte-exact, with the configured
 * type; SIP with type 1; a kind whose type is 0 never reaches the plan.
 */
#include "modhost.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls_config.h"

static cmd_function fn_is_sip, fn_is_http;
static int is_http_wrong;     /* tls_is_http() disagreeing with the delivered kind */

/* captagent 6.4.3 parse_sip: proto_type = 1 for anything starting with a letter, then
 * false unless it parses as SIP (here: a SIP/2.0 start line). */
static int h_parse_sip(msg_t *m, char *a, char *b)
{
	(void)a; (void)b;
	const char *d = m->data;
	if (!m->len || !isalpha((unsigned char)d[0])) return -1;
	m->rcinfo.proto_type = 1;
	const char *eol = memchr(d, '\n', m->len);
	size_t ll = eol ? (size_t)(eol - d) : m->len;
	if (ll >= 7 && !memcmp(d, "SIP/2.0", 7)) return 1;
	for (size_t i = 0; i + 7 <= ll; i++)
		if (!memcmp(d + i, "SIP/2.0", 7)) return 1;
	return -1;
}

/* send_hep("hepsocket"): record the message and its proto_type. */
static int h_send_hep(msg_t *m, char *a, char *b)
{
	(void)b;
	if (!a || strcmp(a, "hepsocket")) return -1;
	int http = fn_is_http(m, NULL, NULL);
	if ((http == 1) != (m->rcinfo.proto_type != 1)) is_http_wrong++;
	rec_add(m, m == outer_msg ? 0 : 1);
	return 1;
}

/* ---- the plan above, in clist[0] ---- */
static struct action hp_act[16];
static struct ptls_expr hp_ex[3];

static struct action *mk_call(struct action *a, cmd_function f, const char *arg)
{
	memset(a, 0, sizeof *a);
	a->type = PTLS_MODULE_T;
	a->p1_type = PTLS_CMDF_ST;
	a->p1.data = (void *)f;
	if (arg) { a->p2_type = PTLS_STRING_ST; a->p2.string = (char *)arg; }
	return a;
}

static struct ptls_expr *mk_cond(struct ptls_expr *x, struct action *call)
{
	memset(x, 0, sizeof *x);
	x->type = PTLS_ELEM_T;
	x->op = 12;
	x->subtype = PTLS_ACTIONS_ST;
	x->l.operand = PTLS_ACTION_O;
	x->r.param = call;
	return x;
}

static struct action *mk_if(struct action *a, struct ptls_expr *c, struct action *then,
                            struct action *els)
{
	memset(a, 0, sizeof *a);
	a->type = PTLS_IF_T;
	a->p1_type = PTLS_EXPR_ST;
	a->p1.data = c;
	a->p2_type = PTLS_ACTIONS_ST;
	a->p2.data = then;
	if (els) { a->p3_type = PTLS_ACTIONS_ST; a->p3.data = els; }
	return a;
}

/* profile NULL: parse_tls(), else parse_tls("profile"). */
static void build_hep_plan(const char *profile)
{
	plans_reset();
	struct action *send_sip = mk_call(&hp_act[0], h_send_hep, "hepsocket");
	struct action *send_other = mk_call(&hp_act[1], h_send_hep, "hepsocket");
	struct action *if_sip = mk_if(&hp_act[2], mk_cond(&hp_ex[0], mk_call(&hp_act[3], h_parse_sip, NULL)),
	                              send_sip, NULL);
	struct action *if_kind = mk_if(&hp_act[4], mk_cond(&hp_ex[1], mk_call(&hp_act[5], fn_is_sip, NULL)),
	                               if_sip, send_other);
	struct action *tls = mk_call(&hp_act[6], profile ? fn_parse_tls1 : fn_parse_tls0, profile);
	struct action *top = mk_if(&hp_act[7], mk_cond(&hp_ex[2], tls), if_kind, NULL);
	struct action *drop = &hp_act[8];
	memset(drop, 0, sizeof *drop);
	drop->type = PTLS_DROP_T;
	top->next = drop;
	main_ct.clist[0] = top;
	main_ct.idx = 0;
}

/* ---- helpers ---- */

/* Records whose proto_type is not want. */
static size_t wrong_types(int want)
{
	size_t n = 0;
	for (size_t i = 0; i < nrecs; i++)
		if (recs[i].proto_type != want) n++;
	return n;
}

/* The number after "name=" in the module's statistics, or -1. */
static long glue_stat(const char *name)
{
	char sb[800], key[64];
	ex->stats_f(sb, sizeof sb);
	snprintf(key, sizeof key, " %s=", name);
	const char *p = !strncmp(sb, key + 1, strlen(key + 1)) ? sb - 1 : strstr(sb, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static void load_profile(const char *name, const char *params)
{
	write_conf(one_profile(name, params));
	if (module_load() != 0) tap_diag("module_load failed for profile %s", name);
}

/* Generated capture through the HEP plan; checks delivery and every record's type. */
static void gen_hep_case(const char *what, tlsgen_opts_t *o, const char *conf_params, int want_type,
                         int want_rerun)
{
	tlsgen_result_t res;
	char pcap[512], params[2048];
	if (!have_gen || gen(o, "hep", &res, pcap, sizeof pcap) < 0) {
		for (int i = 0; i < 5; i++) tap_ok(0, "%s: tlsgen failed (a broken generator is a FAIL)", what);
		return;
	}
	snprintf(params, sizeof params, "      <param name=\"private-key-path\" value=\"%s\"/>\n%s",
	         keyfile, conf_params);
	load_profile("proto_tls", params);
	build_hep_plan(NULL);
	static expect_t exp[8192];
	size_t nexp = expect_from_gen(&res, exp, 8192);
	conninfo_t ci;
	conninfo_gen(o, &res, &ci);
	recs_clear();
	parse_tls_zero_returns = 0;
	is_http_wrong = 0;
	runstats_t st;
	replay(pcap, MODE_PLAIN, &st);
	if (want_type == 0) {
		long skipped = glue_stat("skipped_kind");
		tap_ok(nrecs == 0 && skipped == (long)nexp, "%s: none of the %zu messages reaches the plan "
		       "(%zu did; stats skipped_kind=%ld)", what, nexp, nrecs, skipped);
		tap_ok(glue_stat("delivered") == 0, "%s: delivered=0 in the statistics", what);
	} else {
		check_recs(what, exp, nexp, &ci, want_rerun);
		tap_ok(nrecs == nexp && wrong_types(want_type) == 0,
		       "%s: all %zu messages sent with HEP type %d (%zu other)", what, nrecs, want_type,
		       wrong_types(want_type));
	}
	tap_ok(parse_tls_zero_returns == 0 && is_http_wrong == 0,
	       "%s: parse_tls never 0 (DROP); tls_is_http() agrees with every message's kind", what);
	ex->unload_f();
	tlsgen_result_free(&res);
}

/* The real curl -> nginx HTTPS sample (TLS 1.3, key log): both directions byte-exact,
 * 2 requests and 2 responses, each once, all with type want. */
static void sample_https(const char *samples, const char *conf_extra, int want)
{
	char pcap[512], kl[512], pc[512], ps[512], params[2048], what[128];
	snprintf(pcap, sizeof pcap, "%s/pcaps/https-tls13-aes128gcm-keylog.pcap", samples);
	snprintf(kl, sizeof kl, "%s/keylogs/https-tls13-aes128gcm-keylog.keys", samples);
	snprintf(pc, sizeof pc, "%s/plaintext/https-tls13-aes128gcm-keylog.conn0.c2s.bin", samples);
	snprintf(ps, sizeof ps, "%s/plaintext/https-tls13-aes128gcm-keylog.conn0.s2c.bin", samples);
	snprintf(what, sizeof what, "curl->nginx sample%s", conf_extra[0] ? " (hep-type-http 0)" : "");
	snprintf(params, sizeof params, "      <param name=\"keylog-file\" value=\"%s\"/>\n%s", kl, conf_extra);
	load_profile("web", params);
	build_hep_plan("web");
	recs_clear();
	parse_tls_zero_returns = 0;
	is_http_wrong = 0;
	runstats_t st;
	replay(pcap, MODE_PLAIN, &st);
	if (!want) {
		tap_ok(nrecs == 0 && glue_stat("skipped_kind") == 4,
		       "%s: nothing reaches the plan (%zu), skipped_kind=%ld of 4", what, nrecs,
		       glue_stat("skipped_kind"));
		ex->unload_f();
		return;
	}
	for (int dir = 0; dir < 2; dir++) {
		FILE *f = fopen(dir ? ps : pc, "rb");
		static uint8_t want_b[1 << 20], got[1 << 20];
		size_t wl = f ? fread(want_b, 1, sizeof want_b, f) : 0;
		if (f) fclose(f);
		size_t gl = 0, n = 0, badrc = 0;
		for (size_t i = 0; i < nrecs; i++) {
			int d = recs[i].dport == 8443 ? 0 : recs[i].sport == 8443 ? 1 : -1;
			if (d != dir) { if (d < 0) badrc++; continue; }
			if (strcmp(recs[i].src, "127.0.0.1") || strcmp(recs[i].dst, "127.0.0.1") ||
			    recs[i].proto_type != want)
				badrc++;
			if (gl + recs[i].len <= sizeof got) memcpy(got + gl, recs[i].data, recs[i].len);
			gl += recs[i].len;
			n++;
		}
		/* s2c: the second response (72243 bytes) does not fit in a HEP packet (16-bit
		 * chunk length): skipped and counted; the first (362 bytes) is the prefix */
		size_t wn = dir ? 1 : 2, wlen = dir ? 362 : wl;
		tap_ok(f && wl && gl == wlen && !memcmp(got, want_b, wlen) && n == wn && badrc == 0,
		       "%s: %s: %zu/%zu HTTP messages, %zu/%zu bytes byte-exact, HEP type %d, addresses "
		       "and port 8443 right (%zu bad)", what, dir ? "s2c" : "c2s", n, wn, gl, wlen, want, badrc);
	}
	tap_ok(glue_stat("skipped_oversize") == 1 && log_has("message of 72243 bytes skipped (HEP payload limit", NULL),
	       "%s: the 72243-byte response is skipped with a log line and counted (skipped_oversize=%ld)",
	       what, glue_stat("skipped_oversize"));
	tap_ok(parse_tls_zero_returns == 0 && is_http_wrong == 0,
	       "%s: parse_tls never 0; tls_is_http() true for each", what);
	ex->unload_f();
}

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
	snprintf(tmpdir, sizeof tmpdir, "/tmp/ptls_hep.XXXXXX");
	if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
	lib = dlopen(so, RTLD_NOW);
	if (!tap_ok(lib != NULL, "dlopen(%s)", so)) { tap_diag("%s", dlerror()); return tap_done(); }
	ex = dlsym(lib, "exports");
	if (!tap_ok(ex != NULL, "dlsym(\"exports\")")) return tap_done();
	mod_cmds = ex->cmds;
	fn_parse_tls0 = find_export("parse_tls", 0, 0);
	fn_parse_tls1 = find_export("parse_tls", 1, 0);
	fn_is_sip = find_export("tls_is_sip", 0, 0);
	fn_is_http = find_export("tls_is_http", 0, 0);
	if (!tap_ok(fn_parse_tls0 && fn_parse_tls1 && fn_is_sip && fn_is_http,
	            "parse_tls (0 and 1 params), tls_is_sip and tls_is_http (0 params) exported"))
		return tap_done();

	snprintf(keyfile, sizeof keyfile, "%s/server.key", tmpdir);
	snprintf(certfile, sizeof certfile, "%s/server.crt", tmpdir);
	have_gen = tlsgen_make_key("rsa2048", keyfile, certfile, NULL) == 0;

	/* bad values fail the load naming file, profile, param and value */
	write_conf(one_profile("p", "      <param name=\"keylog-file\" value=\"/tmp/x.keys\"/>\n"
	                            "      <param name=\"hep-type-http\" value=\"256\"/>\n"));
	tap_ok(module_load() != 0 && log_has("protocol_tls.xml: profile p: param hep-type-http: bad value '256'", NULL),
	       "hep-type-http 256: load fails with one line naming the param and value");
	ex->unload_f();
	write_conf(one_profile("p", "      <param name=\"keylog-file\" value=\"/tmp/x.keys\"/>\n"
	                            "      <param name=\"hep-type-raw\" value=\"-1\"/>\n"));
	tap_ok(module_load() != 0 && log_has("param hep-type-raw: bad value '-1'", NULL),
	       "hep-type-raw -1: load fails");
	ex->unload_f();

	/* not a delivered message: both tests false, never 0 */
	{
		load_profile("p", "      <param name=\"keylog-file\" value=\"/tmp/x.keys\"/>\n");
		msg_t m;
		memset(&m, 0, sizeof m);
		m.data = "INVITE sip:a@b SIP/2.0\r\n";
		m.len = 24;
		tap_ok(fn_is_sip(&m, NULL, NULL) == -1 && fn_is_http(&m, NULL, NULL) == -1,
		       "tls_is_sip()/tls_is_http() on a message parse_tls did not deliver: false (-1)");
		ex->unload_f();
	}

	tlsgen_opts_t o;
	/* HTTP, TLS 1.2 RSA, several messages per packet (reruns of the plan) */
	tlsgen_opts_defaults(&o);
	o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
	o.app = TLSGEN_APP_HTTP; o.n_messages = 8; o.coalesce = 1; o.seed = 21;
	gen_hep_case("HTTP, default hep-type-http", &o, "", TLS_CONF_HEP_TYPE_HTTP_DEFAULT, 1);
	gen_hep_case("HTTP, hep-type-http 61", &o, "      <param name=\"hep-type-http\" value=\"61\"/>\n", 61, 1);
	gen_hep_case("HTTP, hep-type-http 0", &o, "      <param name=\"hep-type-http\" value=\"0\"/>\n", 0, -1);
	/* hep-type-raw does not touch HTTP */
	gen_hep_case("HTTP, hep-type-raw 0 and 7", &o, "      <param name=\"hep-type-raw\" value=\"7\"/>\n",
	             TLS_CONF_HEP_TYPE_HTTP_DEFAULT, -1);

	/* HTTP reordered, duplicated, split, TLS 1.3 with a key log */
	{
		char kl[512], params[1024];
		snprintf(kl, sizeof kl, "%s/hep13.keys", tmpdir);
		unlink(kl);
		tlsgen_opts_defaults(&o);
		o.key_file = keyfile; o.cert_file = certfile; o.tls_version = 0x0304;
		o.cipher = "TLS_AES_128_GCM_SHA256"; o.app = TLSGEN_APP_HTTP; o.n_messages = 6;
		o.split = 300; o.reorder = 1; o.duplicate = 1; o.seed = 22; o.keylog_file = kl;
		snprintf(params, sizeof params, "      <param name=\"keylog-file\" value=\"%s\"/>\n"
		         "      <param name=\"hep-type-http\" value=\"100\"/>\n", kl);
		gen_hep_case("HTTP TLS 1.3, split+reordered+duplicated", &o, params, 100, -1);
	}

	/* SIP keeps type 1 whatever hep-type-http says, and still goes through parse_sip */
	tlsgen_opts_defaults(&o);
	o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES256-GCM-SHA384";
	o.app = TLSGEN_APP_SIP; o.n_messages = 8; o.coalesce = 1; o.seed = 23;
	gen_hep_case("SIP, hep-type-http 0", &o, "      <param name=\"hep-type-http\" value=\"0\"/>\n", 1, 1);
	gen_hep_case("SIP, defaults", &o, "", 1, 1);

	/* two profiles, different types: parse_tls("b") uses b's */
	if (have_gen) {
		tlsgen_result_t res;
		char pcap[512], body[4096], pa[1024];
		tlsgen_opts_defaults(&o);
		o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
		o.app = TLSGEN_APP_HTTP; o.n_messages = 4; o.seed = 24;
		if (gen(&o, "hep2", &res, pcap, sizeof pcap) == 0) {
			snprintf(pa, sizeof pa, "      <param name=\"private-key-path\" value=\"%s\"/>\n"
			         "      <param name=\"hep-type-http\" value=\"61\"/>\n", keyfile);
			snprintf(body, sizeof body, "%s", one_profile("a", pa));
			snprintf(pa, sizeof pa, "      <param name=\"private-key-path\" value=\"%s\"/>\n"
			         "      <param name=\"hep-type-http\" value=\"62\"/>\n", keyfile);
			strncat(body, one_profile("b", pa), sizeof body - strlen(body) - 1);
			write_conf(body);
			tap_ok(module_load() == 0, "two profiles with hep-type-http 61 and 62 load");
			build_hep_plan("b");
			recs_clear();
			runstats_t st;
			replay(pcap, MODE_PLAIN, &st);
			size_t nexp = 0;
			for (size_t c = 0; c < res.n_conns; c++) nexp += res.conns[c].n_msgs;
			tap_ok(nrecs == nexp && wrong_types(62) == 0,
			       "parse_tls(\"b\"): %zu/%zu messages, all with b's type 62", nrecs, nexp);
			ex->unload_f();
			tlsgen_result_free(&res);
		} else {
			tap_ok(0, "tlsgen failed");
			tap_ok(0, "tlsgen failed");
		}
	} else {
		tap_ok(0, "no generated key");
		tap_ok(0, "no generated key");
	}

	/* the send fallback (no plan calls parse_tls): HTTP goes to send_hep without parse_sip */
	if (have_gen) {
		tlsgen_result_t res;
		char pcap[512], pa[1024];
		tlsgen_opts_defaults(&o);
		o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
		o.app = TLSGEN_APP_HTTP; o.n_messages = 8; o.coalesce = 1; o.seed = 25;
		if (gen(&o, "hepfb", &res, pcap, sizeof pcap) == 0) {
			snprintf(pa, sizeof pa, "      <param name=\"private-key-path\" value=\"%s\"/>\n", keyfile);
			load_profile("proto_tls", pa);
			plans_reset();
			build_plan(0, NULL, 0);
			recs_clear();
			fallback_used = 0;
			runstats_t st;
			replay(pcap, MODE_DIRECT, &st);
			static expect_t exp[4096];
			size_t nexp = expect_from_gen(&res, exp, 4096);
			conninfo_t ci;
			conninfo_gen(&o, &res, &ci);
			check_recs("HTTP send fallback", exp, nexp, &ci, -1);
			tap_ok(fallback_used > 0 && wrong_types(TLS_CONF_HEP_TYPE_HTTP_DEFAULT) == 0,
			       "HTTP send fallback: %d via send_hep, all %zu with type %d", fallback_used, nrecs,
			       TLS_CONF_HEP_TYPE_HTTP_DEFAULT);
			ex->unload_f();
			tlsgen_result_free(&res);
		} else {
			for (int i = 0; i < 3; i++) tap_ok(0, "tlsgen failed");
		}
	}

	/* the real curl -> nginx sample */
	{
		const char *s = getenv("SHARED_SAMPLES");
		char sbuf[512], probe[600];
		if (!s) {
			const char *top = getenv("top_srcdir");
			snprintf(sbuf, sizeof sbuf, "%s/../shared/samples", top ? top : ".");
			s = sbuf;
		}
		snprintf(probe, sizeof probe, "%s/pcaps/https-tls13-aes128gcm-keylog.pcap", s);
		if (access(probe, R_OK) == 0) {
			sample_https(s, "", TLS_CONF_HEP_TYPE_HTTP_DEFAULT);
			sample_https(s, "      <param name=\"hep-type-http\" value=\"0\"/>\n", 0);
		} else {
			for (int i = 0; i < 4; i++) tap_skip("../shared/samples not present");
		}
	}
	recs_clear();
	free(recs);
	return tap_done();
}
