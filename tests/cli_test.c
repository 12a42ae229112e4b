/*
 * cli_test.c — acceptance of the `captls` command line as users run it: the JSON Lines
 * contract (one session record per session, message data concatenating to the exact
 * plaintext), the three undecryptable cases (forward secrecy without keys, handshake not
 * captured, wrong key) each giving one session record with decrypted:false and the right
 * reason with exit status 0, and exit status 2 with one line for configuration errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <pcap/pcap.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"

static char CAPTLS[1024], KEY[600], CERT[600], KEY2[600], CERT2[600];

/* Run a shell command, capture stdout (+ stderr into *err if non-NULL). Returns exit status. */
static int run(const char *cmd, char **out, char **err)
{
	char ef[700], full[4096];
	snprintf(ef, sizeof ef, "%s/stderr.txt", tu_tmpdir());
	snprintf(full, sizeof full, "%s 2>%s", cmd, ef);
	FILE *p = popen(full, "r");
	if (!p) return -1;
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap);
	size_t r;
	while ((r = fread(b + n, 1, cap - n - 1, p)) > 0) {
		n += r;
		if (cap - n < 4096) { cap *= 2; b = realloc(b, cap); }
	}
	b[n] = 0;
	int st = pclose(p);
	*out = b;
	if (err) {
		uint8_t *e; size_t el;
		if (tu_read_file(ef, &e, &el) == 0) { e[el] = 0; *err = (char *)e; } else *err = strdup("");
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;
	for (const char *l = s; l && *l; ) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char *line = strndup(l, len);
		if (strstr(line, needle)) n++;
		free(line);
		l = e ? e + 1 : NULL;
	}
	return n;
}

static int gen(tlsgen_opts_t *o, const char *name, char *pcap, size_t plen, tlsgen_result_t *g)
{
	char err[512];
	snprintf(pcap, plen, "%s/%s.pcap", tu_tmpdir(), name);
	memset(g, 0, sizeof *g);
	if (tlsgen_run(o, pcap, g, err, sizeof err) != 0) { tap_diag("generator: %s", err); return -1; }
	return 0;
}

/* Copy a pcap keeping only frames from the first one whose TCP payload starts with an
 * application-data record (Ethernet/IPv4 as tlsgen writes). */
static int cut_handshake(const char *in, const char *out)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(in, eb);
	if (!p) return -1;
	pcap_dumper_t *d = pcap_dump_open(p, out);
	struct pcap_pkthdr *h;
	const u_char *data;
	int started = 0;
	while (pcap_next_ex(p, &h, &data) == 1) {
		if (!started && h->caplen > 54) {
			size_t ihl = (size_t)(data[14] & 15) * 4, thl = (size_t)(data[14 + ihl + 12] >> 4) * 4;
			size_t off = 14 + ihl + thl;
			if (off < h->caplen && data[off] == 0x17) started = 1;
		}
		if (started) pcap_dump((u_char *)d, h, data);
	}
	pcap_dump_close(d);
	pcap_close(p);
	return 0;
}

static void expect_session(const char *label, const char *pcap, const char *keyarg, const char *reason)
{
	char cmd[3000], *out, *err;
	snprintf(cmd, sizeof cmd, "%s -r %s %s -o json", CAPTLS, pcap, keyarg);
	int rc = run(cmd, &out, &err);
	char want[96];
	snprintf(want, sizeof want, "\"reason\":\"%s\"", reason);
	tap_ok(rc == 0, "%s: captls exits 0 (%d)", label, rc);
	tap_ok(count_lines(out, "\"type\":\"session\"") == 1, "%s: exactly one session record", label);
	tap_ok(count_lines(out, "\"decrypted\":false") == 1 && count_lines(out, want) == 1,
	       "%s: decrypted:false, reason %s", label, reason);
	tap_ok(count_lines(out, "\"type\":\"message\"") == 0, "%s: no message records", label);
	free(out); free(err);
}

int main(void)
{
	const char *top = getenv("top_builddir");
	snprintf(CAPTLS, sizeof CAPTLS, "%s/captls", top ? top : ".");
	FILE *t = fopen(CAPTLS, "r");
	if (!t) { tap_skip("captls not built"); return tap_done(); }
	fclose(t);
	snprintf(KEY, sizeof KEY, "%s/k1.key", tu_tmpdir());
	snprintf(CERT, sizeof CERT, "%s/k1.crt", tu_tmpdir());
	snprintf(KEY2, sizeof KEY2, "%s/k2.key", tu_tmpdir());
	snprintf(CERT2, sizeof CERT2, "%s/k2.crt", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", KEY, CERT, NULL) || tlsgen_make_key("rsa2048", KEY2, CERT2, NULL)) {
		tap_ok(0, "make keys");
		return tap_done();
	}
	char pcap[700], pcap2[700], cmd[3000], karg[800];
	tlsgen_result_t g;
	tlsgen_opts_t o;

	/* decrypted session: JSON data concatenates to the exact plaintext */
	tlsgen_opts_defaults(&o);
	o.key_file = KEY; o.cert_file = CERT; o.cipher = "AES128-GCM-SHA256"; o.split = 200; o.reorder = 1;
	if (gen(&o, "ok", pcap, sizeof pcap, &g) == 0) {
		char *out, *err;
		snprintf(cmd, sizeof cmd, "%s -r %s -k %s -o json", CAPTLS, pcap, KEY);
		int rc = run(cmd, &out, &err);
		tap_ok(rc == 0, "decryptable capture: exit 0");
		tap_ok(count_lines(out, "\"type\":\"session\"") == 1 && count_lines(out, "\"decrypted\":true") == 1 &&
		       count_lines(out, "\"key\":\"rsa\"") == 1 && count_lines(out, "\"ems\":true") == 1,
		       "decryptable capture: one session record, decrypted, key rsa, ems");
		for (int d = 0; d < 2; d++) {
			uint8_t *buf = malloc(1 << 20);
			size_t n = tu_json_concat(out, -1, d ? "s2c" : "c2s", buf, 1 << 20);
			tap_ok(n == g.conns[0].plain_len[d] && !memcmp(buf, g.conns[0].plain[d], n),
			       "JSON %s data concatenates to the exact plaintext (%zu/%zu)", d ? "s2c" : "c2s", n, g.conns[0].plain_len[d]);
			free(buf);
		}
		tap_ok(count_lines(out, "\"app\":\"sip\"") >= 1 && count_lines(out, "\"suite\":\"TLS_RSA_WITH_AES_128_GCM_SHA256\"") >= 1,
		       "message records carry app and IANA suite name");
		free(out); free(err);
		/* text output */
		snprintf(cmd, sizeof cmd, "%s -r %s -k %s", CAPTLS, pcap, KEY);
		rc = run(cmd, &out, &err);
		tap_ok(rc == 0 && strstr(out, "SIP/2.0"), "text output shows the SIP messages");
		free(out); free(err);
		tlsgen_result_free(&g);
	}

	/* the three undecryptable cases */
	tlsgen_opts_defaults(&o);
	o.key_file = KEY; o.cert_file = CERT; o.cipher = "ECDHE-RSA-AES256-GCM-SHA384";
	snprintf(karg, sizeof karg, "-k %s", KEY);
	if (gen(&o, "pfs", pcap, sizeof pcap, &g) == 0) {
		expect_session("forward secrecy, no key log", pcap, karg, "pfs_no_keylog");
		tlsgen_result_free(&g);
	}
	tlsgen_opts_defaults(&o);
	o.key_file = KEY; o.cert_file = CERT; o.cipher = "AES256-GCM-SHA384";
	if (gen(&o, "rsa", pcap, sizeof pcap, &g) == 0) {
		snprintf(pcap2, sizeof pcap2, "%s/nohs.pcap", tu_tmpdir());
		cut_handshake(pcap, pcap2);
		expect_session("handshake not captured", pcap2, karg, "handshake_missed");
		snprintf(karg, sizeof karg, "-k %s", KEY2);
		expect_session("wrong key", pcap, karg, "wrong_key");
		tlsgen_result_free(&g);
	}

	/* -c protocol_tls.xml: two profiles (an RSA key; a key log), both sessions decrypt */
	{
		const char *sd = tu_samples_dir();
		if (!sd) tap_skip("../shared/samples not found: captls -c not tested against them");
		else {
			char xml[700], p1[1200], p2[1200];
			snprintf(xml, sizeof xml, "%s/protocol_tls.xml", tu_tmpdir());
			FILE *f = fopen(xml, "w");
			fprintf(f, "<?xml version=\"1.0\"?>\n<document type=\"captagent_module/xml\">\n"
			           "<module name=\"protocol_tls\" description=\"TLS\" serial=\"1\">\n"
			           "<profile name=\"sip\" description=\"SIP\" enable=\"true\" serial=\"1\"><settings>\n"
			           "<param name=\"flow-timeout\" value=\"180\"/>\n"
			           "<param name=\"private-key-path\" value=\"%s/keys/server-rsa.pkcs1.pem\"/>\n"
			           "</settings></profile>\n"
			           "<profile name=\"web\" description=\"HTTPS\" enable=\"true\" serial=\"1\"><settings>\n"
			           "<param name=\"keylog-file\" value=\"%s/keylogs/https-tls13-aes128gcm-keylog.keys\"/>\n"
			           "</settings></profile>\n</module>\n</document>\n", sd, sd);
			fclose(f);
			snprintf(p1, sizeof p1, "%s/pcaps/sip-tls12-rsa-aes256gcm-ems.pcap", sd);
			snprintf(p2, sizeof p2, "%s/pcaps/https-tls13-aes128gcm-keylog.pcap", sd);
			for (int i = 0; i < 2; i++) {
				char *out, *err;
				snprintf(cmd, sizeof cmd, "%s -r %s -c %s -o json", CAPTLS, i ? p2 : p1, xml);
				int rc = run(cmd, &out, &err);
				tap_ok(rc == 0 && count_lines(out, "\"decrypted\":true") == 1 &&
				       count_lines(out, i ? "\"key\":\"keylog\"" : "\"key\":\"rsa\"") == 1,
				       "captls -c with two profiles decrypts the %s sample", i ? "TLS 1.3 key-log" : "RSA");
				free(out); free(err);
			}
			/* a bad value in the file: exit 2 with one line naming the file */
			f = fopen(xml, "w");
			fprintf(f, "<?xml version=\"1.0\"?>\n<document><module name=\"protocol_tls\"><profile name=\"p\" enable=\"true\">"
			           "<settings><param name=\"flow-timeout\" value=\"abc\"/></settings></profile></module></document>\n");
			fclose(f);
			char *out, *err;
			snprintf(cmd, sizeof cmd, "%s -r %s -c %s", CAPTLS, p1, xml);
			int rc = run(cmd, &out, &err);
			tap_ok(rc == 2 && strstr(err, xml) && strstr(err, "flow-timeout"), "captls -c with a bad value: exit 2 (\"%.*s\")",
			       (int)strcspn(err, "\n"), err);
			free(out); free(err);
		}
	}

	/* configuration errors: exit 2, one line naming the problem */
	static const struct { const char *name; const char *args; const char *expect; } BAD[] = {
		{ "missing key file", "-k /nonexistent.key", "/nonexistent.key" },
		{ "missing capture file", "-r /nonexistent.pcap", "/nonexistent.pcap" },
		{ "unknown output format", "-o xml", "xml" },
		{ "no input", "", "" },
	};
	for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
		char *out, *err;
		snprintf(cmd, sizeof cmd, "%s %s %s", CAPTLS, strstr(BAD[i].args, "-r") ? "" : (i == 3 ? "" : "-r /dev/null"), BAD[i].args);
		int rc = run(cmd, &out, &err);
		int lines = count_lines(err, "");
		tap_ok(rc == 2 && strstr(err, BAD[i].expect) && lines >= 1, "%s: exit 2 with a clear line (\"%.*s\")",
		       BAD[i].name, (int)strcspn(err, "\n"), err);
		free(out); free(err);
	}
	return tap_done();
}
