/*
 * keylog_listen_test.c — the UDP key-log listener (keylog_listen.c) with real OpenSSL TLS 1.3
 * peers whose keylog callback sends each line as one UDP datagram without newline, the way
 * Kamailio's tls keylog_peer does, while the capture is fed to an engine whose keystore is
 * fed only by the listener. Byte-exact message comparison (gv_verify).
 *
 * Cases: lines sent while the peers run (before the capture is fed); lines sent after the
 * capture was fed (waiting sessions released by tls_engine_wait_keys, and by the engine's own
 * per-packet housekeeping; and mid-session, by the next packet); senders outside keylog-allow
 * counted and ignored; IPv6; several lines per datagram, CRLF, over-long, malformed and unknown
 * lines; a flood of junk datagrams (counted, bounded memory, real keys still work after it);
 * the listener through `captls -r FILE --keylog-listen` with lines arriving after the file was
 * read (captls waits in wall time); the listener spec / allow-list checker; `captls -w -` into
 * a pipe flushes every packet (a libpcap reader sees one session's packets while captls still
 * waits for the other's keys), and `captls -r FILE -w - | tshark -r -` if tshark exists.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"
#include "genverify.h"
#include "keylog_listen.h"
#include <pcap/pcap.h>
#include <signal.h>

static char EC_KEY[512], EC_CERT[512];

/* ---- a Kamailio-like sender: one line per datagram, no newline ---- */

typedef struct sender {
	int fd;
	struct sockaddr_storage to;
	socklen_t tolen;
	/* lines kept for later sending (when to.port is 0) */
	char **lines;
	size_t n, cap;
	size_t sent;
} sender_t;

static int sender_init(sender_t *s, int family, const char *src_ip, uint16_t port)
{
	memset(s, 0, sizeof *s);
	s->fd = socket(family, SOCK_DGRAM, 0);
	if (s->fd < 0) return -1;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&s->to;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, "127.0.0.1", &a->sin_addr);
		s->tolen = sizeof *a;
		if (src_ip) {
			struct sockaddr_in b = { .sin_family = AF_INET };
			inet_pton(AF_INET, src_ip, &b.sin_addr);
			if (bind(s->fd, (struct sockaddr *)&b, sizeof b) < 0) return -1;
		}
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&s->to;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, "::1", &a->sin6_addr);
		s->tolen = sizeof *a;
	}
	return 0;
}

static void sender_set_port(sender_t *s, uint16_t port)
{
	if (s->to.ss_family == AF_INET) ((struct sockaddr_in *)&s->to)->sin_port = htons(port);
	else ((struct sockaddr_in6 *)&s->to)->sin6_port = htons(port);
}

static void send_dgram(sender_t *s, const void *p, size_t n)
{
	if (sendto(s->fd, p, n, 0, (struct sockaddr *)&s->to, s->tolen) == (ssize_t)n) s->sent++;
}

/* tlsgen keylog hook: send now (Kamailio), or keep for later */
static void keylog_send_now(void *u, const char *line)
{
	send_dgram(u, line, strlen(line));
}

static void keylog_keep(void *u, const char *line)
{
	sender_t *s = u;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->lines = realloc(s->lines, s->cap * sizeof *s->lines);
	}
	s->lines[s->n++] = strdup(line);
}

static void sender_send_kept(sender_t *s)
{
	for (size_t i = 0; i < s->n; i++) send_dgram(s, s->lines[i], strlen(s->lines[i]));
}

static void sender_free(sender_t *s)
{
	for (size_t i = 0; i < s->n; i++) free(s->lines[i]);
	free(s->lines);
	if (s->fd >= 0) close(s->fd);
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

/* Wait (up to 5 s) until the listener has seen `n` datagrams (accepted + rejected). */
static int wait_seen(kl_listener_t *l, uint64_t n)
{
	for (int i = 0; i < 500; i++) {
		kl_listener_stats_t st;
		kl_listener_get_stats(l, &st);
		if (st.datagrams + st.rejected + st.oversize >= n) return 1;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void base(tlsgen_opts_t *o, unsigned seed)
{
	tlsgen_opts_defaults(o);
	o->key_file = EC_KEY;
	o->cert_file = EC_CERT;
	o->tls_version = 0x0304;
	o->cipher = "TLS_AES_128_GCM_SHA256";
	o->app = TLSGEN_APP_SIP;
	o->seed = seed;
	o->connections = 2;
}

static tls_keystore_t *feed_store(size_t max)
{
	char err[256];
	tls_keystore_t *ks = tls_keystore_new();
	if (tls_keystore_add_keylog_feed(ks, max, err, sizeof err) < 0) tap_diag("feed: %s", err);
	return ks;
}

/* 1. Lines sent by the peers' keylog callback as they run; capture fed afterwards. */
static void case_live(void)
{
	char pcap[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/kl1.pcap", tu_tmpdir());
	tls_keystore_t *ks = feed_store(0);
	kl_listener_t *l = kl_listener_open("udp:127.0.0.1:0", NULL, 0, ks, err, sizeof err);
	tap_ok(l != NULL, "listener binds udp:127.0.0.1:0 (%s)", l ? kl_listener_describe(l) : err);
	if (!l) { tls_keystore_unref(ks); return; }
	tap_ok(kl_listener_start(l, err, sizeof err) == 0, "listener thread starts");
	sender_t s;
	sender_init(&s, AF_INET, NULL, kl_listener_port(l));
	tlsgen_opts_t o;
	base(&o, 501);
	o.keylog_line = keylog_send_now;
	o.keylog_user = &s;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "generator: %s", err); goto out; }
	tap_ok(s.sent >= 10, "the TLS 1.3 peers sent %zu key-log datagrams", s.sent);
	tap_ok(wait_seen(l, s.sent), "listener received them all");
	kl_listener_stats_t st;
	kl_listener_get_stats(l, &st);
	/* TLS 1.3 also logs EXPORTER_SECRET, which is not needed: ignored, not malformed */
	tap_ok(st.datagrams == s.sent && st.lines + st.ignored == s.sent && st.lines >= 8 && st.malformed == 0 &&
	       st.rejected == 0, "counters: %llu datagrams, %llu lines, %llu ignored, %llu malformed, %llu rejected",
	       (unsigned long long)st.datagrams, (unsigned long long)st.lines, (unsigned long long)st.ignored,
	       (unsigned long long)st.malformed, (unsigned long long)st.rejected);
	tu_run_t r;
	tu_run_pcap(pcap, &ks, 1, NULL, &r);
	tap_ok(gv_verify(&g, &r, "listener, keys before capture", GV_KEY_NOT_RSA), "keys before capture: %zu messages byte-exact",
	       r.n_msgs);
	tu_run_free(&r);
	tlsgen_result_free(&g);
out:
	sender_free(&s);
	kl_listener_free(l);
	tls_keystore_unref(ks);
}

/* 2. Capture fed first (sessions wait), then the lines arrive. via_housekeeping: released
 * by the engine's per-packet timer work (tls_engine_expire a little later), else by
 * tls_engine_wait_keys. */
static void case_wait(bool via_housekeeping)
{
	const char *label = via_housekeeping ? "keys after capture, released by housekeeping"
	                                     : "keys after capture, released by tls_engine_wait_keys";
	char pcap[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/kl2.pcap", tu_tmpdir());
	tls_keystore_t *ks = feed_store(0);
	kl_listener_t *l = kl_listener_open("udp:0", "127.0.0.1", 0, ks, err, sizeof err);
	if (!l || kl_listener_start(l, err, sizeof err) < 0) { tap_ok(0, "%s: listener: %s", label, err); return; }
	sender_t s;
	sender_init(&s, AF_INET, NULL, kl_listener_port(l));
	tlsgen_opts_t o;
	base(&o, via_housekeeping ? 503 : 502);
	o.keylog_line = keylog_keep;
	o.keylog_user = &s;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "generator: %s", err); goto out; }
	tu_run_t r;
	memset(&r, 0, sizeof r);
	tls_callbacks_t cb = tu_callbacks(&r);
	tls_engine_t *e = tls_engine_new(NULL, &ks, 1, &cb);
	tu_feed_pcap(e, pcap);
	size_t waiting = tls_engine_wait_keys(e);
	tap_ok(r.n_msgs == 0 && waiting == g.n_conns, "%s: before the lines, %zu sessions wait, 0 messages", label, waiting);
	sender_send_kept(&s);
	tap_ok(wait_seen(l, s.sent), "%s: %zu datagrams received", label, s.sent);
	if (via_housekeeping) {
		/* engine time moves on (as with the next captured packet): housekeeping notices the
		 * generation moved and retries the waiters, a few per call */
		double t = o.start_ts > 0 ? o.start_ts : 1700000000.0;
		for (int i = 1; i <= 20; i++) tls_engine_expire(e, t + 2 + 0.1 * i, false);
		waiting = tls_engine_wait_keys(e);
	} else {
		waiting = tls_engine_wait_keys(e);
	}
	tap_ok(waiting == 0, "%s: no session waits any more", label);
	size_t before_flush = r.n_msgs;
	tls_engine_flush(e);
	tls_engine_get_stats(e, &r.st);
	tls_engine_free(e);
	tap_ok(before_flush > 0 && before_flush == r.n_msgs, "%s: every message delivered before end of input (%zu)", label,
	       before_flush);
	tap_ok(gv_verify(&g, &r, label, GV_KEY_NOT_RSA), "%s: byte-exact", label);
	tu_run_free(&r);
	tlsgen_result_free(&g);
out:
	sender_free(&s);
	kl_listener_free(l);
	tls_keystore_unref(ks);
}

/* 2b. Lines mid-session, the rest a few ms of capture time later: the next packet releases. */
static void case_midstream(void)
{
	const char *lb = "keys mid-session";
	char pcap[600], err[512] = "", eb[PCAP_ERRBUF_SIZE];
	snprintf(pcap, sizeof pcap, "%s/kl2m.pcap", tu_tmpdir());
	tls_keystore_t *ks = feed_store(0);
	kl_listener_t *l = kl_listener_open("udp:0", "127.0.0.1", 0, ks, err, sizeof err);
	sender_t s;
	sender_init(&s, AF_INET, NULL, l ? kl_listener_port(l) : 9);
	tlsgen_opts_t o;
	base(&o, 504);
	o.connections = 1; o.keylog_line = keylog_keep; o.keylog_user = &s;
	tlsgen_result_t g = { 0 }; tu_run_t r = { 0 };
	pcap_t *pc = NULL;
	if (!l || kl_listener_start(l, err, sizeof err) < 0 || tlsgen_run(&o, pcap, &g, err, sizeof err) != 0 ||
	    !(pc = pcap_open_offline(pcap, eb))) {
		tap_ok(0, "%s: listener / generator / pcap: %s", lb, err);
		goto out;
	}
	tls_callbacks_t cb = tu_callbacks(&r);
	tls_engine_t *e = tls_engine_new(NULL, &ks, 1, &cb);
	struct pcap_pkthdr *h; const u_char *d;
	double t_cut = 0, t = 0;
	size_t n = 0, at_cut = 0;
	while (pcap_next_ex(pc, &h, &d) == 1) {
		t = (double)h->ts.tv_sec + h->ts.tv_usec / 1e6;
		if (++n == 30) {   /* handshake done, data flowing: now the lines */
			at_cut = r.n_msgs;
			sender_send_kept(&s);
			wait_seen(l, s.sent);
			t_cut = t;
		}
		tls_engine_feed_frame(e, pcap_datalink(pc), d, h->caplen, t);
	}
	pcap_close(pc);
	size_t before_flush = r.n_msgs;
	tls_engine_flush(e); tls_engine_free(e);
	tap_ok(at_cut == 0 && n > 30 && t - t_cut < 0.05 && before_flush > 0 && before_flush == r.n_msgs,
	       "%s: none before the lines, all %zu delivered by the packets after them (%zu before end of "
	       "input; last packet %.1f ms after the lines)", lb, r.n_msgs, before_flush, (t - t_cut) * 1e3);
	tap_ok(gv_verify(&g, &r, lb, GV_KEY_NOT_RSA), "%s: byte-exact", lb);
out:
	tu_run_free(&r);
	tlsgen_result_free(&g);
	sender_free(&s);
	kl_listener_free(l);
	tls_keystore_unref(ks);
}

/* 3. Senders outside keylog-allow: counted, dropped, nothing decrypted. Then IPv6. */
static void case_allow(void)
{
	char pcap[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/kl3.pcap", tu_tmpdir());
	tls_keystore_t *ks = feed_store(0);
	kl_listener_t *l = kl_listener_open("udp:127.0.0.1:0", "192.0.2.7, 10.0.0.0/8", 0, ks, err, sizeof err);
	if (!l || kl_listener_start(l, err, sizeof err) < 0) { tap_ok(0, "allow: listener: %s", err); return; }
	sender_t s;
	sender_init(&s, AF_INET, NULL, kl_listener_port(l));
	tlsgen_opts_t o;
	base(&o, 504);
	o.keylog_line = keylog_send_now;
	o.keylog_user = &s;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "generator: %s", err); goto out; }
	wait_seen(l, s.sent);
	kl_listener_stats_t st;
	kl_listener_get_stats(l, &st);
	tap_ok(st.rejected == s.sent && st.datagrams == 0 && st.lines == 0,
	       "sender 127.0.0.1 outside keylog-allow: %llu of %zu datagrams rejected, none parsed",
	       (unsigned long long)st.rejected, s.sent);
	tu_run_t r;
	tu_run_pcap(pcap, &ks, 1, NULL, &r);
	size_t dec = 0;
	for (size_t i = 0; i < r.n_sess; i++) dec += r.sess[i].decrypted;
	tap_ok(r.n_msgs == 0 && dec == 0 && r.n_sess == g.n_conns, "nothing decrypted from rejected senders (%zu sessions)", r.n_sess);
	tu_run_free(&r);
	tlsgen_result_free(&g);
out:
	sender_free(&s);
	kl_listener_free(l);
	tls_keystore_unref(ks);

	/* IPv6 loopback, default allow (loopback) */
	ks = feed_store(0);
	l = kl_listener_open("udp:[::1]:0", NULL, 0, ks, err, sizeof err);
	if (!l) {
		tap_diag("no IPv6 loopback (%s)", err);
		tap_skip("IPv6 listener");
		tls_keystore_unref(ks);
		return;
	}
	kl_listener_start(l, err, sizeof err);
	sender_init(&s, AF_INET6, NULL, kl_listener_port(l));
	base(&o, 505);
	o.connections = 1;
	o.keylog_line = keylog_send_now;
	o.keylog_user = &s;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) == 0) {
		wait_seen(l, s.sent);
		tu_run_t r;
		tu_run_pcap(pcap, &ks, 1, NULL, &r);
		tap_ok(gv_verify(&g, &r, "listener on [::1]", GV_KEY_NOT_RSA), "IPv6 listener %s: byte-exact (%zu messages)",
		       kl_listener_describe(l), r.n_msgs);
		tu_run_free(&r);
		tlsgen_result_free(&g);
	} else {
		tap_ok(0, "generator: %s", err);
	}
	sender_free(&s);
	kl_listener_free(l);
	tls_keystore_unref(ks);
}

/* 4. Datagram contents: several lines, CRLF, over-long, malformed, unknown labels. */
static void case_dgram(void)
{
	tls_keystore_t *ks = feed_store(0);
	tls_keylog_feed_result_t fr;
	char cr[65], sec[97], big[3000];
	memset(cr, 'a', 64); cr[64] = 0;
	memset(sec, 'b', 96); sec[96] = 0;
	char d[1024];
	snprintf(d, sizeof d, "CLIENT_RANDOM %s %s", cr, sec);
	tls_keystore_feed_keylog(ks, (uint8_t *)d, strlen(d), &fr);
	tap_ok(fr.added == 1 && fr.lines == 1, "one line without newline: 1 secret");
	tls_keystore_feed_keylog(ks, (uint8_t *)d, strlen(d), &fr);
	tap_ok(fr.added == 0 && fr.lines == 1, "same line again: parsed, nothing new");
	cr[0] = 'c';
	snprintf(d, sizeof d, "CLIENT_HANDSHAKE_TRAFFIC_SECRET %s %.64s\r\nSERVER_HANDSHAKE_TRAFFIC_SECRET %s %.64s\n"
	         "# comment\n\nEXPORTER_SECRET %s %.64s\nCLIENT_RANDOM %s zz%.94s\nRSA 0011 %s\n", cr, sec, cr, sec, cr, sec, cr, sec, sec);
	tls_keystore_feed_keylog(ks, (uint8_t *)d, strlen(d), &fr);
	tap_ok(fr.added == 2 && fr.lines == 2 && fr.malformed == 2 && fr.ignored == 2,
	       "several lines (CRLF, comment, blank, unknown label, bad hex, short id): added %u lines %u malformed %u ignored %u",
	       fr.added, fr.lines, fr.malformed, fr.ignored);
	memset(big, 'x', sizeof big);
	tls_keystore_feed_keylog(ks, (uint8_t *)big, sizeof big, &fr);
	tap_ok(fr.malformed == 1 && fr.added == 0, "over-long line: malformed");
	tls_keystore_feed_keylog(ks, (uint8_t *)"\0\0\0", 3, &fr);
	tap_ok(fr.added == 0 && fr.malformed == 0 && fr.ignored == 0, "NUL bytes: nothing");
	tls_keystore_t *nofeed = tls_keystore_new();
	tap_ok(tls_keystore_feed_keylog(nofeed, (uint8_t *)d, 4, &fr) < 0, "a keystore without a memory key log refuses");
	char err[256];
	tap_ok(kl_listener_open("udp:0", NULL, 0, nofeed, err, sizeof err) == NULL, "listener refuses such a keystore: %s", err);
	tls_keystore_unref(nofeed);
	tls_keystore_unref(ks);

	/* spec and allow-list checks */
	static const char *good[] = { "udp:127.0.0.1:5099", "udp:5099", "5099", "udp:[::1]:5099", "udp::5099",
	                              "127.0.0.1:0", "UDP:localhost:1" };
	static const char *bad[] = { "", "udp:", "tcp:127.0.0.1:5099", "udp:127.0.0.1:70000", "udp:::1:5099",
	                             "udp:host.example:5099", "udp:127.0.0.1:x", "udp:[::1]5099" };
	int okg = 1, okb = 1;
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		if (kl_listener_check(good[i], NULL, err, sizeof err) != 0) { okg = 0; tap_diag("rejected %s: %s", good[i], err); }
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (kl_listener_check(bad[i], NULL, err, sizeof err) == 0) { okb = 0; tap_diag("accepted %s", bad[i]); }
	tap_ok(okg && okb, "listen specs: good ones accepted, bad ones rejected");
	tap_ok(kl_listener_check("udp:1", "10.0.0.1, ::1 192.168.0.0/16;any", err, sizeof err) == 0 &&
	       kl_listener_check("udp:1", "10.0.0.1/33", err, sizeof err) < 0 &&
	       kl_listener_check("udp:1", "nohost", err, sizeof err) < 0 &&
	       kl_listener_check("udp:1", " , ", err, sizeof err) < 0, "allow lists checked (%s)", err);
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	if (!f) return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
	fclose(f);
	return kb;
}

/* 5. A flood of junk (and of well-formed but useless lines) is counted and bounded; real
 * keys still work after it. Driven with kl_listener_poll (no thread) so nothing is lost. */
static void case_flood(void)
{
	char pcap[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/kl5.pcap", tu_tmpdir());
	tls_keystore_t *ks = feed_store(1000);
	kl_listener_t *l = kl_listener_open("udp:127.0.0.1:0", NULL, 1500, ks, err, sizeof err);
	if (!l) { tap_ok(0, "flood: %s", err); tls_keystore_unref(ks); return; }
	sender_t s;
	sender_init(&s, AF_INET, NULL, kl_listener_port(l));
	uint8_t junk[2000];
	unsigned x = 12345;
	long rss0 = rss_kb();
	const int N = 60000;
	size_t n_over = 0, n_valid = 0;
	for (int i = 0; i < N; i++) {
		size_t len;
		if (i % 3 == 0) {   /* well-formed random CLIENT_RANDOM lines: fill and evict the table */
			char hex[] = "0123456789abcdef";
			char line[200] = "CLIENT_RANDOM ";
			size_t p = strlen(line);
			for (int k = 0; k < 64; k++) { x = x * 1103515245u + 12345u; line[p++] = hex[(x >> 16) & 15]; }
			line[p++] = ' ';
			for (int k = 0; k < 96; k++) { x = x * 1103515245u + 12345u; line[p++] = hex[(x >> 16) & 15]; }
			memcpy(junk, line, p);
			len = p;
			n_valid++;
		} else {
			x = x * 1103515245u + 12345u;
			len = (x >> 8) % sizeof junk;
			for (size_t k = 0; k < len; k++) { x = x * 1103515245u + 12345u; junk[k] = (uint8_t)(x >> 16); }
			if (len > 1500) n_over++;
		}
		send_dgram(&s, junk, len);
		if (i % 32 == 31) kl_listener_poll(l, 0);
	}
	kl_listener_poll(l, 0);
	kl_listener_stats_t st;
	kl_listener_get_stats(l, &st);
	long rss1 = rss_kb();
	tap_ok(st.datagrams + st.oversize == s.sent && st.oversize == n_over && st.lines == n_valid,
	       "flood: %zu datagrams sent, %llu accepted, %llu oversize, %llu lines, %llu malformed, %llu ignored",
	       s.sent, (unsigned long long)st.datagrams, (unsigned long long)st.oversize,
	       (unsigned long long)st.lines, (unsigned long long)st.malformed, (unsigned long long)st.ignored);
	tap_ok(rss0 > 0 && rss1 - rss0 < 8 * 1024, "flood: memory bounded (RSS grew %ld KiB; table capped at 1000 secrets)",
	       rss1 - rss0);
	/* real keys after the flood */
	tlsgen_opts_t o;
	base(&o, 506);
	o.keylog_line = keylog_send_now;
	o.keylog_user = &s;
	s.sent = 0;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) == 0) {
		kl_listener_poll(l, 0);
		tu_run_t r;
		tu_run_pcap(pcap, &ks, 1, NULL, &r);
		tap_ok(gv_verify(&g, &r, "after the flood", GV_KEY_NOT_RSA), "after the flood, real keys decrypt (%zu messages)", r.n_msgs);
		tu_run_free(&r);
		tlsgen_result_free(&g);
	} else {
		tap_ok(0, "generator: %s", err);
	}
	sender_free(&s);
	kl_listener_free(l);
	tls_keystore_unref(ks);
}

/* 6. captls -r FILE --keylog-listen: the lines arrive after the file was read; captls
 * waits (wall time) and decrypts everything. */
static void case_captls(void)
{
	const char *top = getenv("top_builddir");
	char captls[600];
	snprintf(captls, sizeof captls, "%s/captls", top ? top : ".");
	if (access(captls, X_OK) != 0) { tap_skip("captls not built"); return; }
	char pcap[600], out[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/kl6.pcap", tu_tmpdir());
	snprintf(out, sizeof out, "%s/kl6.json", tu_tmpdir());
	sender_t s;
	sender_init(&s, AF_INET, NULL, 0);
	tlsgen_opts_t o;
	base(&o, 507);
	o.keylog_line = keylog_keep;
	o.keylog_user = &s;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "generator: %s", err); sender_free(&s); return; }
	/* a free port */
	int probe = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t al = sizeof a;
	bind(probe, (struct sockaddr *)&a, sizeof a);
	getsockname(probe, (struct sockaddr *)&a, &al);
	uint16_t port = ntohs(a.sin_port);
	close(probe);
	char spec[64];
	snprintf(spec, sizeof spec, "udp:127.0.0.1:%u", port);
	sender_set_port(&s, port);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = freopen(out, "w", stdout);
		(void)f;
		execl(captls, captls, "-r", pcap, "--keylog-listen", spec, "--keylog-wait", "8", "-o", "json", "--stats", (char *)NULL);
		_exit(127);
	}
	/* send the lines now and then until captls ends (duplicates only replace secrets) */
	int status = 0, done = 0;
	for (int i = 0; i < 400 && !done; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (i % 4 == 3) sender_send_kept(&s);
		if (waitpid(pid, &status, WNOHANG) == pid) done = 1;
	}
	if (!done) { kill(pid, 9); waitpid(pid, &status, 0); }
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	tap_ok(done && WIFEXITED(status) && WEXITSTATUS(status) == 0 && secs < 7.5,
	       "captls -r with --keylog-listen exits 0 once the keys came (%.2f s, wait bound 8 s)", secs);
	/* count decrypted messages and sessions in the JSON output */
	uint8_t *js = NULL;
	size_t jl = 0;
	size_t nmsg = 0, ndec = 0, want = 0;
	if (tu_read_file(out, &js, &jl) == 0) {
		js = realloc(js, jl + 1);
		js[jl] = 0;
		for (char *p = (char *)js; (p = strstr(p, "\"type\":\"message\"")); p++) nmsg++;
		for (char *p = (char *)js; (p = strstr(p, "\"decrypted\":true")); p++) ndec++;
	}
	for (size_t c = 0; c < g.n_conns; c++)
		for (size_t m = 0; m < g.conns[c].n_msgs; m++) want++;
	tap_ok(ndec == g.n_conns && nmsg >= want && nmsg > 0, "captls output: %zu of %zu sessions decrypted, %zu messages (%zu written)",
	       ndec, g.n_conns, nmsg, want);
	free(js);
	tlsgen_result_free(&g);
	sender_free(&s);
}

/* TCP payload bytes of an Ethernet/IPv4 frame with client port `port` (either direction). */
static size_t tcp_payload_for(const uint8_t *f, size_t n, uint16_t port)
{
	if (n < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00) return 0;
	const uint8_t *ip = f + 14;
	size_t ihl = (size_t)(ip[0] & 15) * 4, tot = (size_t)ip[2] << 8 | ip[3];
	if (ip[9] != 6 || tot > n - 14 || ihl + 20 > tot) return 0;
	const uint8_t *tcp = ip + ihl;
	uint16_t sp = (uint16_t)(tcp[0] << 8 | tcp[1]), dp = (uint16_t)(tcp[2] << 8 | tcp[3]);
	size_t doff = (size_t)(tcp[12] >> 4) * 4;
	if (sp != port && dp != port) return 0;
	return tot - ihl - doff;
}

/* 7. -w - into a pipe: per-packet flush, read back with libpcap while captls runs. */
static void case_pcap_stream(const char *captls)
{
	char pcap[600], kl1[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/kl7.pcap", tu_tmpdir());
	snprintf(kl1, sizeof kl1, "%s/kl7-conn1.keys", tu_tmpdir());
	sender_t s;
	sender_init(&s, AF_INET, NULL, 0);
	tlsgen_opts_t o;
	base(&o, 508);
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0 || g.n_conns != 2) { tap_ok(0, "generator: %s", err); sender_free(&s); return; }
	FILE *f = fopen(kl1, "w");
	fwrite(g.conns[0].keylog, 1, g.conns[0].keylog_len, f);
	fclose(f);
	/* connection 2's lines: sent by UDP once connection 1 was seen on the pipe */
	for (char *p = g.conns[1].keylog, *e; p && *p; p = e + 1) {
		e = strchr(p, '\n');
		if (!e) break;
		*e = '\0';
		keylog_keep(&s, p);
		*e = '\n';
	}
	int probe = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t al = sizeof a;
	bind(probe, (struct sockaddr *)&a, sizeof a);
	getsockname(probe, (struct sockaddr *)&a, &al);
	uint16_t port = ntohs(a.sin_port);
	close(probe);
	sender_set_port(&s, port);
	char spec[64];
	snprintf(spec, sizeof spec, "udp:127.0.0.1:%u", port);

	int pfd[2];
	if (pipe(pfd) < 0) { tap_ok(0, "pipe"); goto out; }
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(captls, captls, "-r", pcap, "-l", kl1, "--keylog-listen", spec, "--keylog-wait", "6", "-w", "-", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	FILE *in = fdopen(pfd[0], "r");
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_fopen_offline(in, eb);
	if (!pc) { tap_ok(0, "libpcap cannot read the pipe: %s", eb); kill(pid, 9); waitpid(pid, NULL, 0); goto out; }
	size_t want1 = g.conns[0].plain_len[0] + g.conns[0].plain_len[1];
	size_t want2 = g.conns[1].plain_len[0] + g.conns[1].plain_len[1];
	size_t got1 = 0, got2 = 0, pkts = 0;
	int running_when_conn1_done = 0;
	double t_conn1 = -1;
	struct pcap_pkthdr *h;
	const u_char *d;
	while (pcap_next_ex(pc, &h, &d) == 1) {
		pkts++;
		got1 += tcp_payload_for(d, h->caplen, g.conns[0].client_port);
		got2 += tcp_payload_for(d, h->caplen, g.conns[1].client_port);
		if (t_conn1 < 0 && got1 == want1) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			t_conn1 = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
			running_when_conn1_done = waitpid(pid, NULL, WNOHANG) == 0;
			sender_send_kept(&s);    /* now the keys of connection 2 */
		}
	}
	pcap_close(pc);
	int status = 0;
	waitpid(pid, &status, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double total = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	tap_ok(t_conn1 >= 0 && running_when_conn1_done && t_conn1 < 3.0,
	       "-w - into a pipe: connection 1's plaintext (%zu bytes) read with libpcap after %.3f s while captls still waits "
	       "for connection 2's keys", want1, t_conn1);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && got2 == want2 && total < 5.5,
	       "connection 2 decrypted once its lines came by UDP: %zu of %zu bytes, %zu packets, captls done after %.2f s",
	       got2, want2, pkts, total);

	/* tshark reads the stream, if installed */
	if (system("command -v tshark >/dev/null 2>&1") != 0) {
		tap_skip("tshark not installed (apt-get install tshark): captls -r FILE -w - | tshark -r -");
	} else {
		char cmd[2400], full[600];
		snprintf(full, sizeof full, "%s/kl7-all.keys", tu_tmpdir());
		f = fopen(full, "w");
		for (size_t c = 0; c < g.n_conns; c++) fwrite(g.conns[c].keylog, 1, g.conns[c].keylog_len, f);
		fclose(f);
		snprintf(cmd, sizeof cmd, "%s -r %s -l %s -w - | tshark -r - -Y 'tcp.len>0' -T fields -e tcp.len 2>/dev/null | "
		         "awk '{s+=$1} END {print s+0}'", captls, pcap, full);
		FILE *pp = popen(cmd, "r");
		unsigned long sum = 0;
		if (pp) { if (fscanf(pp, "%lu", &sum) != 1) sum = 0; pclose(pp); }
		tap_ok(sum == want1 + want2, "captls -r FILE -w - | tshark -r -: %lu payload bytes (%zu expected)", sum, want1 + want2);
	}
out:
	tlsgen_result_free(&g);
	sender_free(&s);
}

/* 8. Per-packet flush proper: captls reads the capture from a pipe (-r -) that stays open
 * after connection 1's packets, as a live capture would; connection 1's plaintext must come
 * out of the -w - pipe before the input goes on. */
static void case_pcap_flush(const char *captls)
{
	char pcap[600], kl[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/kl8.pcap", tu_tmpdir());
	snprintf(kl, sizeof kl, "%s/kl8.keys", tu_tmpdir());
	tlsgen_opts_t o;
	base(&o, 509);
	o.keylog_file = kl;
	unlink(kl);
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	uint8_t *cap = NULL;
	size_t caplen = 0;
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0 || g.n_conns != 2 || tu_read_file(pcap, &cap, &caplen) != 0) {
		tap_ok(0, "generator: %s", err);
		tlsgen_result_free(&g);
		return;
	}
	/* byte offset where connection 1's last record ends */
	size_t n1 = g.conns[0].first_packet + g.conns[0].n_packets, off = 24;
	for (size_t i = 0; i < n1 && off + 16 <= caplen; i++) {
		uint32_t il;
		memcpy(&il, cap + off + 8, 4);
		off += 16 + il;
	}
	int in[2], outp[2], ctl[2];
	alarm(60);   /* without per-packet flushing this would block forever: fail instead */
	if (pipe(in) < 0 || pipe(outp) < 0 || pipe(ctl) < 0) { tap_ok(0, "pipe"); free(cap); tlsgen_result_free(&g); return; }
	pid_t cp = fork();
	if (cp == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[0]); close(in[1]); close(outp[0]); close(outp[1]); close(ctl[0]); close(ctl[1]);
		execl(captls, captls, "-r", "-", "-l", kl, "-w", "-", (char *)NULL);
		_exit(127);
	}
	pid_t wp = fork();
	if (wp == 0) {   /* the capture source: connection 1, then wait for the go, then the rest */
		close(in[0]); close(outp[0]); close(outp[1]); close(ctl[1]);
		if (write(in[1], cap, off) != (ssize_t)off) _exit(1);
		char c;
		if (read(ctl[0], &c, 1) != 1) _exit(1);
		if (write(in[1], cap + off, caplen - off) != (ssize_t)(caplen - off)) _exit(1);
		_exit(0);
	}
	close(in[0]); close(in[1]); close(outp[1]); close(ctl[0]);
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_fopen_offline(fdopen(outp[0], "r"), eb);
	size_t want1 = g.conns[0].plain_len[0] + g.conns[0].plain_len[1];
	size_t want2 = g.conns[1].plain_len[0] + g.conns[1].plain_len[1];
	size_t got1 = 0, got2 = 0;
	int before_rest = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double dt = -1;
	if (pc) {
		struct pcap_pkthdr *h;
		const u_char *d;
		while (pcap_next_ex(pc, &h, &d) == 1) {
			got1 += tcp_payload_for(d, h->caplen, g.conns[0].client_port);
			got2 += tcp_payload_for(d, h->caplen, g.conns[1].client_port);
			if (!before_rest && got1 == want1) {
				before_rest = got2 == 0;
				clock_gettime(CLOCK_MONOTONIC, &t1);
				dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
				if (write(ctl[1], "g", 1) != 1) break;   /* now the rest of the capture */
			}
		}
		pcap_close(pc);
	}
	close(ctl[1]);
	alarm(0);
	int st = 0, ws = 0;
	waitpid(cp, &st, 0);
	waitpid(wp, &ws, 0);
	tap_ok(pc && before_rest, "-w - flushes per packet: connection 1's %zu plaintext bytes were readable %.3f s after start "
	       "while the input pipe was still open (no more packets yet)", want1, dt);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && got2 == want2, "then the rest: connection 2 %zu of %zu bytes, captls exit 0",
	       got2, want2);
	free(cap);
	tlsgen_result_free(&g);
}

int main(void)
{
	tls_engine_global_init();
	snprintf(EC_KEY, sizeof EC_KEY, "%s/ec.key", tu_tmpdir());
	snprintf(EC_CERT, sizeof EC_CERT, "%s/ec.crt", tu_tmpdir());
	if (tlsgen_make_key("p256", EC_KEY, EC_CERT, NULL)) {
		tap_ok(0, "make keys");
		return tap_done();
	}
	case_dgram();
	case_live();
	case_wait(false);
	case_wait(true);
	case_midstream();
	case_allow();
	case_flood();
	case_captls();
	{
		const char *top = getenv("top_builddir");
		char captls[600];
		snprintf(captls, sizeof captls, "%s/captls", top ? top : ".");
		if (access(captls, X_OK) == 0) {
			case_pcap_stream(captls);
			case_pcap_flush(captls);
		} else {
			tap_skip("captls not built");
		}
	}
	return tap_done();
}
