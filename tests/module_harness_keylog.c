/*
 * module_harness_keylog.c — module_harness cases for keylog-listen: the key-log lines of
 * real TLS 1.3 sessions are sent by UDP, one datagram per line, the way Kamailio's
 * keylog_peer does, to the listener the module opens; the sessions must then decrypt,
 * senders outside keylog-allow are counted and dropped, and bad values fail the load.
 *
 * Why: a separate concern of the module (a UDP listener with its own statistics and
 * access control) with its own helpers; kept out of module_harness.c's list of cases.
 */
#include "modhost.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

void case_keylog_listen(void)
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
