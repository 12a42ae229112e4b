/*
 * starttls_test.c — TLS after a clear-text prefix: SMTP/IMAP/POP3/XMPP/FTP STARTTLS,
 * LDAP StartTLS and PostgreSQL's SSLRequest, each exchanged as the protocol does before
 * real OpenSSL peers (tlsgen) run their handshake. Every message byte-exact, the prefix
 * never emitted, with the server key (TLS 1.2 RSA) and with a key log (TLS 1.3), plain and
 * under reordering/splitting/late segments; plus a clear-text flow longer than the prefix
 * bound is still reported not_tls and emits nothing.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"
#include "genverify.h"

static char KEY[512], CERT[512];

static int run_case(tlsgen_opts_t *o, int keylog, const char *label)
{
	char pcap[600], kl[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/st.pcap", tu_tmpdir());
	snprintf(kl, sizeof kl, "%s/st.keys", tu_tmpdir());
	unlink(kl);
	if (keylog) o->keylog_file = kl;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(o, pcap, &g, err, sizeof err) != 0) return tap_ok(0, "%s: generator: %s", label, err);
	tls_keystore_t *ks = keylog ? tls_keystore_new() : tu_keystore(KEY, NULL);
	if (keylog) tls_keystore_add_keylog(ks, kl, 0, err, sizeof err);
	tu_run_t r;
	memset(&r, 0, sizeof r);
	tls_callbacks_t cb = tu_callbacks(&r);
	tls_engine_t *e = tls_engine_new(NULL, &ks, 1, &cb);
	tu_feed_pcap(e, pcap);
	tls_engine_flush(e);
	tls_engine_stats_t st;
	tls_engine_get_stats(e, &st);
	tls_engine_free(e);
	tls_keystore_unref(ks);
	int ok = gv_verify(&g, &r, label, keylog ? GV_KEY_NOT_RSA : 0);
	if (st.cleartext_prefix_bytes == 0) { tap_diag("%s: no clear-text prefix was skipped", label); ok = 0; }
	size_t nm = r.n_msgs;
	tu_run_free(&r);
	tlsgen_result_free(&g);
	return tap_ok(ok, "%s (%zu messages, prefix %llu bytes)", label, nm, (unsigned long long)st.cleartext_prefix_bytes);
}

int main(void)
{
	tls_engine_global_init();
	snprintf(KEY, sizeof KEY, "%s/st-rsa.key", tu_tmpdir());
	snprintf(CERT, sizeof CERT, "%s/st-rsa.crt", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", KEY, CERT, NULL)) { tap_ok(0, "make keys"); return tap_done(); }
	static const char *P[] = { "smtp", "imap", "pop3", "xmpp", "ftp", "ldap", "postgres" };
	static const uint16_t PORT[] = { 587, 143, 110, 5222, 21, 389, 5432 };
	unsigned seed = 500;
	char label[200];
	for (size_t i = 0; i < sizeof P / sizeof *P; i++)
		for (int v = 0; v < 2; v++)
			for (int m = 0; m < 2; m++) {
				tlsgen_opts_t o;
				tlsgen_opts_defaults(&o);
				o.key_file = KEY; o.cert_file = CERT;
				o.starttls = P[i];
				o.server_port = PORT[i];
				o.tls_version = v ? 0x0304 : 0x0303;
				if (!v) o.cipher = "AES128-GCM-SHA256";
				o.app = (i % 2) ? TLSGEN_APP_HTTP : TLSGEN_APP_SIP;
				o.seed = seed++;
				if (m) { o.split = 7; o.reorder = 1; }
				snprintf(label, sizeof label, "%s STARTTLS, TLS1.%d %s%s", P[i], v ? 3 : 2,
				         v ? "key log" : "RSA key", m ? ", split 7 + reorder" : "");
				run_case(&o, v, label);
			}
	/* with the SPAN-like capture conditions too */
	{
		tlsgen_opts_t o;
		tlsgen_opts_defaults(&o);
		o.key_file = KEY; o.cert_file = CERT;
		o.starttls = "smtp"; o.server_port = 25; o.tls_version = 0x0303; o.cipher = "AES256-GCM-SHA384";
		o.late_segment = 1; o.reply_first = 2; o.ack_before_data = 1; o.seed = 77;
		run_case(&o, 0, "smtp STARTTLS, TLS1.2 RSA, late segments + reply first + ACK first");
	}
	/* clear text only, longer than the prefix bound: not TLS, nothing emitted */
	{
		uint8_t buf[40000];
		for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)("REGISTER sip:x SIP/2.0\r\n"[i % 24]);
		tu_run_t r;
		memset(&r, 0, sizeof r);
		tls_callbacks_t cb = tu_callbacks(&r);
		tls_engine_t *e = tls_engine_new(NULL, NULL, 0, &cb);
		uint8_t a[4] = { 10, 1, 1, 1 }, b[4] = { 10, 1, 1, 2 };
		tls_tcp_segment_t sg;
		memset(&sg, 0, sizeof sg);
		sg.family = AF_INET; sg.src_ip = a; sg.dst_ip = b; sg.sport = 40000; sg.dport = 5061; sg.flags = 0x18;
		for (size_t off = 0; off < sizeof buf; off += 1000) {
			sg.seq = 1000 + (uint32_t)off; sg.payload = buf + off; sg.len = 1000;
			tls_engine_feed_tcp(e, &sg, 1.0);
		}
		sg.src_ip = b; sg.dst_ip = a; sg.sport = 5061; sg.dport = 40000; sg.seq = 7000; sg.payload = buf; sg.len = 100;
		tls_engine_feed_tcp(e, &sg, 1.1);
		tls_engine_stats_t st;
		tls_engine_get_stats(e, &st);
		tls_engine_free(e);
		tap_ok(r.n_msgs == 0 && r.n_sess == 1 && r.sess[0].reason == TLS_REASON_NOT_TLS && st.cleartext_prefix_bytes <= 2 * 16384,
		       "40 KB of clear-text SIP on 5061: not_tls, nothing emitted, prefix scan bounded (%llu bytes)",
		       (unsigned long long)st.cleartext_prefix_bytes);
		tu_run_free(&r);
	}
	return tap_done();
}
