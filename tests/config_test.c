/*
 * config_test.c — tests of tls_config.c (protocol_tls.xml reader and keystore builder), TAP.
 *
 * Why: a config mistake must stop the module with one line naming the file and the
 * problem, and the configs users already have (the old module's private-key-path +
 * flow-timeout profile) must keep working. Covers: a valid multi-profile file with every
 * param in both the value-attribute and <value>-child forms, the old-style profile,
 * defaults, malformed XML, bad numbers/selectors, unknown param names (an error with a
 * "did you mean"), missing files, duplicate profiles, and keystore building (missing key
 * file, wrong/missing/right password, key log, key log in a directory that does not exist).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "tls_config.h"
#include "tls_engine.h"
#include "tlsgen.h"

static char dir[256];
static char warnings[16][512];
static int nwarn;

static void warn_cb(void *u, const char *line)
{
	(void)u;
	if (nwarn < 16) snprintf(warnings[nwarn], sizeof warnings[0], "%s", line);
	nwarn++;
}

static int warned(const char *frag)
{
	for (int i = 0; i < nwarn && i < 16; i++)
		if (strstr(warnings[i], frag)) return 1;
	return 0;
}

/* Write `xml` to DIR/name and return the path (static buffer per call site via out). */
static const char *put(const char *name, const char *xml, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", dir, name);
	FILE *f = fopen(out, "w");
	if (!f) { perror(out); exit(1); }
	fputs(xml, f);
	fclose(f);
	return out;
}

/* Load `xml` as a file; returns rc and leaves err/conf filled. */
static int load_xml(const char *xml, tls_conf_t *c, char *err, size_t errlen, char *path, size_t pl)
{
	put("protocol_tls.xml", xml, path, pl);
	nwarn = 0;
	return tls_config_load(path, c, err, errlen, warn_cb, NULL);
}

#define DOC_HEAD "<?xml version=\"1.0\"?>\n<document type=\"captagent_module/xml\">\n" \
                 "<module name=\"protocol_tls\" description=\"TLS Protocol\" serial=\"2014010402\">\n"
#define DOC_TAIL "</module>\n</document>\n"

static void test_old_style(void)
{
	char path[512], err[512], xml[2048];
	tls_conf_t c;
	/* exactly the profile of the old module's README */
	snprintf(xml, sizeof xml,
	         "<?xml version=\"1.0\"?>\n"
	         "<document type=\"captagent_module/xml\">\n"
	         "  <module name=\"protocol_tls\" description=\"TLS Protocol\" serial=\"2014010402\">\n"
	         "    <profile name=\"proto_tls\" description=\"TLS PROTO\" enable=\"true\" serial=\"2014010402\">\n"
	         "      <settings>\n"
	         "\t<param name=\"flow-timeout\" value=\"180\"/>\n"
	         "\t<!-- the value of private key refers to the absolute path of the private key (used for decryption) -->\n"
	         "\t<param name=\"private-key-path\" value=\"/path/to/cakey.pem\"/>\n"
	         "      </settings>\n"
	         "    </profile>\n"
	         "  </module>\n"
	         "</document>\n");
	int rc = load_xml(xml, &c, err, sizeof err, path, sizeof path);
	tap_ok(rc == 0, "old-style profile parses (%s)", rc ? err : "ok");
	if (rc) return;
	tls_engine_config_t d;
	tls_engine_config_defaults(&d);
	const tls_profile_conf_t *p = &c.profiles[0];
	tap_ok(c.n_profiles == 1 && !strcmp(p->name, "proto_tls") && p->enabled,
	       "old-style: one enabled profile named proto_tls");
	tap_ok(p->n_keys == 1 && !strcmp(p->key_paths[0], "/path/to/cakey.pem") && !p->key_password &&
	       !p->keylog && !p->server && !p->sni, "old-style: one key path, nothing else");
	tap_ok(p->engine.flow_timeout == 180 && p->engine.max_flows == d.max_flows &&
	       p->engine.max_reasm_bytes == d.max_reasm_bytes && p->engine.max_message == d.max_message &&
	       p->engine.max_total_buffer == d.max_total_buffer &&
	       p->engine.session_cache_size == d.session_cache_size && p->engine.keylog_wait == d.keylog_wait,
	       "old-style: flow-timeout 180, every other bound at the engine default");
	tap_ok(nwarn == 0, "old-style: no warnings (%d)", nwarn);
	tls_config_free(&c);
	tap_ok(c.n_profiles == 0 && c.profiles == NULL, "tls_config_free empties the config");
}

static void test_multi(void)
{
	char path[512], err[512];
	tls_conf_t c;
	const char *xml = DOC_HEAD
		"<profile name=\"a\" enable=\"true\"><settings>\n"
		"  <param name=\"private-key-path\" value=\"/k/one.pem\"/>\n"
		"  <param name=\"private-key-path\"><value>/k/two.pem</value><value> /k/three.der </value></param>\n"
		"  <param name=\"private-key-password\" value=\"s3cret\"/>\n"
		"  <param name=\"server\" value=\"10.0.0.2:5061\"/>\n"
		"  <param name=\"sni\" value=\"sip.example.com\"/>\n"
		"  <param name=\"max-flows\" value=\"1000\"/>\n"
		"  <param name=\"max-reassembly-bytes\" value=\"64k\"/>\n"
		"  <param name=\"max-reassembly-segments\" value=\"32\"/>\n"
		"  <param name=\"max-buffer-total\" value=\"2G\"/>\n"
		"  <param name=\"max-message\" value=\"128KB\"/>\n"
		"  <param name=\"max-held-records\" value=\"4096\"/>\n"
		"  <param name=\"keylog-wait\" value=\"3\"/>\n"
		"  <param name=\"session-cache-size\" value=\"0\"/>\n"
		"  <param name=\"tls-ports\" value=\"5061, 443\"/>\n"
		"  <param name=\"report-handshake-only\" value=\"no\"/>\n"
		"  <param name=\"flow-timeout\"><value>60</value></param>\n"
		"  <param name=\"plan-index\" value=\"2\"/>\n"
		"</settings></profile>\n"
		"<profile name=\"b\"><settings>\n"
		"  <param name=\"keylog-file\" value=\"/var/log/keys.log\"/>\n"
		"  <param name=\"keylog-max-entries\" value=\"500\"/>\n"
		"  <param name=\"server\" value=\":8443\"/>\n"
		"</settings></profile>\n"
		"<profile name=\"c\" enable=\"false\"><settings>\n"
		"  <param name=\"server\" value=\"[fd00::2]:5061\"/>\n"
		"</settings></profile>\n"
		DOC_TAIL;
	int rc = load_xml(xml, &c, err, sizeof err, path, sizeof path);
	tap_ok(rc == 0 && c.n_profiles == 3, "multi-profile file parses (%s)", rc ? err : "ok");
	if (rc) return;
	const tls_profile_conf_t *a = &c.profiles[0], *b = &c.profiles[1], *cc = &c.profiles[2];
	tap_ok(a->n_keys == 3 && !strcmp(a->key_paths[0], "/k/one.pem") &&
	       !strcmp(a->key_paths[1], "/k/two.pem") && !strcmp(a->key_paths[2], "/k/three.der"),
	       "repeatable private-key-path, attribute and <value> forms, trimmed");
	tap_ok(a->key_password && !strcmp(a->key_password, "s3cret"), "private-key-password");
	tap_ok(a->server && !strcmp(a->server, "10.0.0.2:5061") && a->sni &&
	       !strcmp(a->sni, "sip.example.com"), "server and sni selectors");
	tap_ok(a->engine.max_flows == 1000 && a->engine.max_reasm_bytes == 65536 &&
	       a->engine.max_reasm_segments == 32 && a->engine.max_total_buffer == (2ull << 30) &&
	       a->engine.max_message == 131072 && a->engine.max_held_records == 4096 &&
	       a->engine.keylog_wait == 3 && a->engine.session_cache_size == 0 &&
	       a->engine.flow_timeout == 60, "numeric bounds incl. k/M/G suffixes and <value> form");
	tap_ok(a->engine.n_tls_ports == 2 && a->engine.tls_ports[0] == 5061 && a->engine.tls_ports[1] == 443 &&
	       !a->engine.emit_handshake_only_sessions, "tls-ports list and report-handshake-only");
	tap_ok(b->keylog && !strcmp(b->keylog, "/var/log/keys.log") && b->keylog_max_entries == 500 &&
	       b->n_keys == 0 && b->enabled, "keylog-only profile with keylog-max-entries");
	tap_ok(!cc->enabled && cc->server && !strcmp(cc->server, "[fd00::2]:5061"), "enable=\"false\" profile kept, disabled");
	tap_ok(!warned("plan-index"), "plan-index (read by the captagent glue) is not warned about");
	tls_config_free(&c);
}

static void expect_err(const char *what, const char *xml, const char *want_fragment)
{
	char path[512], err[512];
	tls_conf_t c;
	int rc = load_xml(xml, &c, err, sizeof err, path, sizeof path);
	int named = strncmp(err, path, strlen(path)) == 0;
	tap_ok(rc == -1 && named && strstr(err, want_fragment) && !strchr(err, '\n'),
	       "%s: one error line 'FILE: ...' containing \"%s\" (got: %s)", what, want_fragment, err);
	tap_ok(c.n_profiles == 0 && c.profiles == NULL, "%s: nothing left allocated", what);
}

static void test_errors(void)
{
	expect_err("bad number", DOC_HEAD "<profile name=\"p\"><settings>"
	           "<param name=\"flow-timeout\" value=\"3 minutes\"/></settings></profile>" DOC_TAIL,
	           ": profile p: param flow-timeout: bad value '3 minutes'");
	expect_err("negative number", DOC_HEAD "<profile name=\"p\"><settings>"
	           "<param name=\"max-flows\" value=\"-5\"/></settings></profile>" DOC_TAIL,
	           "profile p: param max-flows: bad value '-5'");
	expect_err("zero flow-timeout", DOC_HEAD "<profile name=\"p\"><settings>"
	           "<param name=\"flow-timeout\" value=\"0\"/></settings></profile>" DOC_TAIL,
	           "param flow-timeout: bad value '0'");
	expect_err("overflowing number", DOC_HEAD "<profile name=\"p\"><settings>"
	           "<param name=\"max-message\" value=\"99999999999\"/></settings></profile>" DOC_TAIL,
	           "param max-message: bad value '99999999999'");
	expect_err("bad server selector", DOC_HEAD "<profile name=\"p\"><settings>"
	           "<param name=\"server\" value=\"example.com:5061\"/></settings></profile>" DOC_TAIL,
	           "param server: bad value 'example.com:5061'");
	expect_err("bad port", DOC_HEAD "<profile name=\"p\"><settings>"
	           "<param name=\"server\" value=\":70000\"/></settings></profile>" DOC_TAIL,
	           "param server: bad value ':70000'");
	expect_err("bad enable", DOC_HEAD "<profile name=\"p\" enable=\"maybe\"><settings>"
	           "</settings></profile>" DOC_TAIL, "profile p: attribute enable: bad value 'maybe'");
	expect_err("empty key path", DOC_HEAD "<profile name=\"p\"><settings>"
	           "<param name=\"private-key-path\" value=\"  \"/></settings></profile>" DOC_TAIL,
	           "param private-key-path: bad value");
	expect_err("malformed XML", DOC_HEAD "<profile name=\"p\"><settings>\n"
	           "<param name=\"flow-timeout\" value=\"1\">\n</settings></profile>" DOC_TAIL,
	           "malformed XML");
	expect_err("typo in a param name", DOC_HEAD "<profile name=\"p\"><settings>\n"
	           "<param name=\"private-key-paht\" value=\"/k/a.pem\"/></settings></profile>" DOC_TAIL,
	           ":5: profile p: unknown param 'private-key-paht' (did you mean 'private-key-path'?)");
	expect_err("swapped letters", DOC_HEAD "<profile name=\"p\"><settings>"
	           "<param name=\"flow-tiemout\" value=\"5\"/></settings></profile>" DOC_TAIL,
	           "unknown param 'flow-tiemout' (did you mean 'flow-timeout'?)");
	expect_err("unknown param, nothing near", DOC_HEAD "<profile name=\"p\"><settings>"
	           "<param name=\"colour\" value=\"blue\"/></settings></profile>" DOC_TAIL,
	           "profile p: unknown param 'colour' (see protocol_tls.xml(5))");
	expect_err("no profile", DOC_HEAD DOC_TAIL, "no <profile> found");
	expect_err("duplicate profile", DOC_HEAD "<profile name=\"p\"/><profile name=\"p\"/>" DOC_TAIL,
	           "profile p: defined twice");
	{
		char xml[8192] = DOC_HEAD "<profile name=\"p\"><settings>";
		for (int i = 0; i < TLS_CONF_MAX_KEYS + 1; i++) {
			char line[128];
			snprintf(line, sizeof line, "<param name=\"private-key-path\" value=\"/k/%d.pem\"/>", i);
			strcat(xml, line);
		}
		strcat(xml, "</settings></profile>" DOC_TAIL);
		expect_err("too many keys", xml, "more than 16 keys");
	}
	{
		char err[512];
		tls_conf_t c;
		int rc = tls_config_load("/nonexistent/protocol_tls.xml", &c, err, sizeof err, warn_cb, NULL);
		tap_ok(rc == -1 && !strncmp(err, "/nonexistent/protocol_tls.xml: cannot open", 42),
		       "missing file: '%s'", err);
	}
}

static void test_keystore(void)
{
	char key[512], crt[512], enc[512], kl[512], err[512], path[512];
	snprintf(key, sizeof key, "%s/server.key", dir);
	snprintf(crt, sizeof crt, "%s/server.crt", dir);
	snprintf(enc, sizeof enc, "%s/server-enc.key", dir);
	snprintf(kl, sizeof kl, "%s/keys.log", dir);
	if (tlsgen_make_key("rsa2048", key, crt, NULL) < 0 ||
	    tlsgen_make_key("p256", enc, NULL, "pa55word") < 0) {
		for (int i = 0; i < 6; i++) tap_skip("tlsgen_make_key failed");
		return;
	}
	tap_ok(tls_engine_global_init() == 0, "engine global init");
	char xml[4096];
	tls_conf_t c;
	tls_keystore_t *ks;

	/* good: plain key + encrypted key with the right password + key log (not existing yet) */
	snprintf(xml, sizeof xml, DOC_HEAD
	         "<profile name=\"ok\"><settings>"
	         "<param name=\"private-key-path\" value=\"%s\"/>"
	         "</settings></profile>"
	         "<profile name=\"enc\"><settings>"
	         "<param name=\"private-key-path\" value=\"%s\"/>"
	         "<param name=\"private-key-password\" value=\"pa55word\"/>"
	         "<param name=\"keylog-file\" value=\"%s\"/>"
	         "</settings></profile>" DOC_TAIL, key, enc, kl);
	int rc = load_xml(xml, &c, err, sizeof err, path, sizeof path);
	tap_ok(rc == 0, "keystore config parses (%s)", rc ? err : "ok");
	if (rc) return;
	rc = tls_config_build_keystore(&c.profiles[0], &ks, err, sizeof err, warn_cb, NULL);
	tap_ok(rc == 0 && ks, "plain RSA key loads (%s)", rc ? err : "ok");
	if (ks) tls_keystore_unref(ks);
	rc = tls_config_build_keystore(&c.profiles[1], &ks, err, sizeof err, warn_cb, NULL);
	tap_ok(rc == 0 && ks, "encrypted key with the right password + key log load (%s)", rc ? err : "ok");
	if (ks) tls_keystore_unref(ks);
	tls_config_free(&c);

	/* wrong password */
	snprintf(xml, sizeof xml, DOC_HEAD "<profile name=\"w\"><settings>"
	         "<param name=\"private-key-path\" value=\"%s\"/>"
	         "<param name=\"private-key-password\" value=\"nope\"/>"
	         "</settings></profile>" DOC_TAIL, enc);
	load_xml(xml, &c, err, sizeof err, path, sizeof path);
	rc = tls_config_build_keystore(&c.profiles[0], &ks, err, sizeof err, warn_cb, NULL);
	tap_ok(rc == -1 && !ks && !strncmp(err, enc, strlen(enc)) && !strstr(err, "nope"),
	       "wrong password: error names the key file, not the password (%s)", err);
	tls_config_free(&c);

	/* encrypted key, no password: an error, never an interactive prompt */
	snprintf(xml, sizeof xml, DOC_HEAD "<profile name=\"np\"><settings>"
	         "<param name=\"private-key-path\" value=\"%s\"/>"
	         "</settings></profile>" DOC_TAIL, enc);
	load_xml(xml, &c, err, sizeof err, path, sizeof path);
	rc = tls_config_build_keystore(&c.profiles[0], &ks, err, sizeof err, warn_cb, NULL);
	tap_ok(rc == -1 && !strncmp(err, enc, strlen(enc)), "encrypted key without password: error (%s)", err);
	tls_config_free(&c);

	/* key log in a directory that does not exist: an error at load, naming the file */
	snprintf(xml, sizeof xml, DOC_HEAD "<profile name=\"kd\"><settings>"
	         "<param name=\"keylog-file\" value=\"%s/no-such-dir/keys.log\"/>"
	         "</settings></profile>" DOC_TAIL, dir);
	load_xml(xml, &c, err, sizeof err, path, sizeof path);
	rc = tls_config_build_keystore(&c.profiles[0], &ks, err, sizeof err, warn_cb, NULL);
	tap_ok(rc == -1 && !ks && strstr(err, "no-such-dir/keys.log: keylog-file directory") &&
	       strstr(err, "No such file"), "keylog-file in a missing directory: load error (%s)", err);
	tls_config_free(&c);

	/* missing key file */
	snprintf(xml, sizeof xml, DOC_HEAD "<profile name=\"m\"><settings>"
	         "<param name=\"private-key-path\" value=\"%s/missing.pem\"/>"
	         "</settings></profile>" DOC_TAIL, dir);
	load_xml(xml, &c, err, sizeof err, path, sizeof path);
	char missing[512];
	snprintf(missing, sizeof missing, "%s/missing.pem", dir);
	rc = tls_config_build_keystore(&c.profiles[0], &ks, err, sizeof err, warn_cb, NULL);
	tap_ok(rc == -1 && !ks && !strncmp(err, missing, strlen(missing)) && !strchr(err, '\n'),
	       "missing key file: one line naming it (%s)", err);
	tls_config_free(&c);
}

int main(void)
{
	alarm(120);   /* a password prompt or a hang must fail the test, not block it */
	snprintf(dir, sizeof dir, "/tmp/ptls_config_test.XXXXXX");
	if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
	test_old_style();
	test_multi();
	test_errors();
	test_keystore();
	return tap_done();
}
