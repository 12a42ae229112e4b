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
 *
 * This file holds the cases and main(); the host itself (core symbols, plan interpreter,
 * socket_pcap replay, module configuration, expectations) is in modhost_*.c (modhost.h),
 * shared with module_hep_test; the keylog-listen cases are in module_harness_keylog.c.
 */
#include "modhost.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pcapfrag.h"

static int reload_between = 1;   /* fresh engines for every case */

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

/* 70 one-message TLS 1.2 RSA sessions of the server key (they end within a second or two:
 * more than the 20 session lines a second the log allows) replayed through a profile
 * `label` configured with `key`, log cleared before, module unloaded after (its totals
 * logged). The replay's counts in *st; -1 when tlsgen failed (module unloaded too). */
static int burst70(const char *label, const char *key, unsigned seed, runstats_t *st)
{
	char params[1024], pcap[512];
	snprintf(params, sizeof params, "      <param name=\"private-key-path\" value=\"%s\"/>\n", key);
	write_conf(one_profile(label, params));
	module_load();
	plans_reset();
	build_plan(0, NULL, 1);
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = keyfile; o.cert_file = certfile; o.cipher = "AES128-GCM-SHA256";
	o.n_messages = 1; o.seed = seed; o.connections = 70;
	tlsgen_result_t res;
	if (gen(&o, label, &res, pcap, sizeof pcap) != 0) { ex->unload_f(); return -1; }
	recs_clear();
	log_clear();
	replay(pcap, MODE_DIRECT, st);
	ex->unload_f();
	tlsgen_result_free(&res);
	return 0;
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
			runstats_t st;
			if (burst70("wrong", k2, 13, &st) == 0) {
				tap_ok(nrecs == 0 && st.ret_zero == 0 && st.ret_neg == st.calls,
				       "wrong key: all %ld calls false (-1), none 0, nothing delivered", st.calls);
				tap_ok(log_has("not decrypted (wrong_key) TLS1.2 TLS_RSA_WITH_AES_128_GCM_SHA256", NULL),
				       "wrong key: 'not decrypted (reason) VERSION SUITE' session line logged");
				tap_ok(log_has("protocol_tls[wrong]: ", "log lines suppressed (more than 20 per second)"),
				       "suppressed session lines are counted in the log (at the latest at unload)");
				tap_ok(log_has("totals at unload: segments=", " delivered=0 ") &&
				       log_has("totals at unload: [wrong] pkts=", "wrong_key=70"),
				       "unload logs the stats_f totals, per engine, with failure reasons");
			} else {
				for (int i = 0; i < 4; i++) tap_ok(0, "tlsgen failed");   /* a broken generator is a FAIL */
			}
		}

		/* many healthy sessions at once: their "decrypted" notices have a log budget of their
		 * own; what it suppresses is said at notice, never as an error (at captagent's default
		 * level a working capture logs nothing) */
		{
			runstats_t st;
			if (burst70("busy", keyfile, 14, &st) == 0) {
				tap_ok(log_has("[NOTICE] protocol_tls[busy]: ", "session summaries not logged (more than 20 per second)"),
				       "70 decrypted sessions at once: the summaries beyond 20/s are counted at notice");
				tap_ok(!log_has("[ERR]", "suppressed") && !log_has("[ERR]", "not logged"),
				       "70 decrypted sessions at once: no error line about suppressed log lines");
			} else {
				for (int i = 0; i < 2; i++) tap_ok(0, "tlsgen failed");   /* a broken generator is a FAIL */
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
