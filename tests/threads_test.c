/*
 * threads_test.c — an engine of several shards fed by several threads at once, and
 * captls --threads N, decrypt exactly what one thread does (TAP).
 *
 * Why: sharding must not change what is delivered. Real OpenSSL peers (tlsgen) make
 * captures of many connections spread over many client addresses — TLS 1.2 RSA with
 * ticket resumption (a resumed session must find the master secret its first connection
 * left in the shared cache), TLS 1.3 with a key log, and reordered segments. Each capture
 * is fed (1) to a 4-shard engine by 4 threads concurrently, each thread feeding the
 * frames of one shard in capture order, and (2) to captls with --threads 1, 2 and 4;
 * every message must arrive once, in order, byte-exact, with one correct session report
 * per connection, and captls's JSON lines per flow must be the same (2 threads: the
 * reader feeds a shard itself, 4: three workers too).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "tap.h"
#include "testutil.h"
#include "genverify.h"
#include "tlsgen.h"

#define NT 4

typedef struct feeder {
	tls_engine_t *e;
	const tu_frames_t *fr;
	const int *shard_of;
	int me;
	size_t fed;
} feeder_t;

static void *feed_main(void *arg)
{
	feeder_t *f = arg;
	for (size_t i = 0; i < f->fr->n; i++) {
		int s = f->shard_of[i] < 0 ? 0 : f->shard_of[i] % NT;
		if (s != f->me) continue;
		tls_engine_feed_frame(f->e, f->fr->dlt, f->fr->d[i], f->fr->len[i], f->fr->ts[i]);
		f->fed++;
	}
	return NULL;
}

/* Feed pcap to a 4-shard engine from 4 threads; verify against the generator. */
static void run_threads(const char *label, const char *pcap, const tlsgen_result_t *g,
                        tls_keystore_t *ks, unsigned gvflags)
{
	tu_frames_t fr;
	if (tu_load_frames(pcap, &fr) != 0) { tap_ok(0, "%s: load frames", label); return; }
	tu_run_t r;
	memset(&r, 0, sizeof r);
	tls_engine_config_t cfg;
	tls_engine_config_defaults(&cfg);
	cfg.shards = NT;
	tls_callbacks_t cb = tu_locked_callbacks(&r);
	tls_engine_t *e = tls_engine_new(&cfg, &ks, 1, &cb);
	tap_ok(e && tls_engine_shards(e) == NT, "%s: engine with %d shards", label, NT);
	if (!e) { tu_free_frames(&fr); return; }
	int *shard_of = calloc(fr.n, sizeof *shard_of);
	unsigned per[NT] = { 0 };
	for (size_t i = 0; i < fr.n; i++) {
		shard_of[i] = tls_engine_frame_shard(e, fr.dlt, fr.d[i], fr.len[i]);
		per[shard_of[i] < 0 ? 0 : shard_of[i]]++;
	}
	unsigned used = 0;
	for (int i = 0; i < NT; i++) used += per[i] > 0;
	tap_ok(used >= 2, "%s: the flows spread over %u of %d shards (%u/%u/%u/%u frames)", label, used, NT,
	   per[0], per[1], per[2], per[3]);
	pthread_t th[NT];
	feeder_t fd[NT];
	for (int t = 0; t < NT; t++) {
		fd[t] = (feeder_t){ e, &fr, shard_of, t, 0 };
		pthread_create(&th[t], NULL, feed_main, &fd[t]);
	}
	for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
	tls_engine_flush(e);
	tls_engine_get_stats(e, &r.st);
	tls_engine_free(e);
	tap_ok(r.st.packets == fr.n, "%s: stats summed over shards count every frame (%llu of %zu)", label,
	   (unsigned long long)r.st.packets, fr.n);
	tap_ok(gv_verify(g, &r, label, gvflags), "%s: %zu messages, %zu sessions from %d threads: byte-exact, "
	   "in order, once", label, r.n_msgs, r.n_sess, NT);
	free(shard_of);
	tu_run_free(&r);
	tu_free_frames(&fr);
}

/* captls -o json lines, grouped per flow (by its endpoints), flow id left out. A session
 * that waits for its keys (here: a ticket another shard is still storing) replays its
 * held records of both directions in capture order, so even the interleaving of its two
 * directions is that of one thread. */
typedef struct flowlines { char key[128]; char **lines; size_t n; } flowlines_t;

static size_t load_json(const char *cmd, flowlines_t *fl, size_t max, size_t *nlines)
{
	size_t nf = 0;
	*nlines = 0;
	FILE *p = popen(cmd, "r");
	if (!p) return 0;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, p) > 0) {
		json_object *o = json_tokener_parse(line);
		if (!o) continue;
		json_object *v;
		char key[128];
		if (json_object_object_get_ex(o, "client", &v)) {      /* session */
			json_object *s;
			json_object_object_get_ex(o, "server", &s);
			snprintf(key, sizeof key, "%s-%s", json_object_get_string(v), json_object_get_string(s));
		} else {
			json_object *a, *b, *c, *d, *dir;
			json_object_object_get_ex(o, "src", &a);
			json_object_object_get_ex(o, "sport", &b);
			json_object_object_get_ex(o, "dst", &c);
			json_object_object_get_ex(o, "dport", &d);
			json_object_object_get_ex(o, "dir", &dir);
			bool c2s = dir && !strcmp(json_object_get_string(dir), "c2s");
			snprintf(key, sizeof key, "%s:%d-%s:%d", json_object_get_string(c2s ? a : c),
			         json_object_get_int(c2s ? b : d), json_object_get_string(c2s ? c : a),
			         json_object_get_int(c2s ? d : b));
		}
		json_object_object_del(o, "flow");
		const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		size_t k = 0;
		while (k < nf && strcmp(fl[k].key, key)) k++;
		if (k == nf && nf < max) { memset(&fl[nf], 0, sizeof fl[nf]); snprintf(fl[nf].key, sizeof fl[nf].key, "%s", key); nf++; }
		if (k < nf) {
			fl[k].lines = realloc(fl[k].lines, (fl[k].n + 1) * sizeof *fl[k].lines);
			fl[k].lines[fl[k].n++] = strdup(txt);
			(*nlines)++;
		}
		json_object_put(o);
	}
	free(line);
	pclose(p);
	return nf;
}

static void free_flows(flowlines_t *fl, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < fl[i].n; j++) free(fl[i].lines[j]);
		free(fl[i].lines);
	}
}

static void run_cli(const char *label, const char *captls, const char *args, int threads)
{
	static flowlines_t one[128], many[128];
	char cmd[2048];
	size_t l1, l4;
	snprintf(cmd, sizeof cmd, "%s %s -o json --threads 1", captls, args);
	size_t n1 = load_json(cmd, one, 128, &l1);
	snprintf(cmd, sizeof cmd, "%s %s -o json --threads %d", captls, args, threads);
	size_t n4 = load_json(cmd, many, 128, &l4);
	bool same = n1 == n4 && n1 > 0 && l1 == l4;
	for (size_t i = 0; same && i < n1; i++) {
		size_t k = 0;
		while (k < n4 && strcmp(one[i].key, many[k].key)) k++;
		if (k == n4 || one[i].n != many[k].n) { same = false; break; }
		for (size_t j = 0; j < one[i].n; j++)
			if (strcmp(one[i].lines[j], many[k].lines[j])) { same = false; tap_diag("%s: flow %s line %zu differs", label, one[i].key, j); break; }
	}
	tap_ok(same, "%s: captls --threads %d gives the same JSON lines per flow as --threads 1 (%zu flows, %zu lines)",
	   label, threads, n1, l1);
	free_flows(one, n1);
	free_flows(many, n4);
}

int main(void)
{
	const char *dir = tu_tmpdir();
	const char *top = getenv("top_builddir");
	char captls[1024], key[600], cert[600], pcap[600], klog[600], args[2400];
	snprintf(captls, sizeof captls, "%s/captls", top ? top : ".");
	snprintf(key, sizeof key, "%s/k.pem", dir);
	snprintf(cert, sizeof cert, "%s/c.pem", dir);
	if (tlsgen_make_key("rsa2048", key, cert, NULL) != 0) { printf("Bail out! tlsgen cannot make a key\n"); return 1; }
	tls_keystore_t *ks = tu_keystore(key, NULL);

	/* TLS 1.2, RSA, tickets: 24 connections from 12 client addresses, reordered */
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.tls_version = 0x0303; o.cipher = "AES128-GCM-SHA256"; o.key_file = key; o.cert_file = cert;
	o.app = TLSGEN_APP_SIP; o.n_messages = 6; o.connections = 24; o.client_hosts = 12;
	o.resume = 2; o.reorder = 1;
	snprintf(pcap, sizeof pcap, "%s/t12.pcap", dir);
	tlsgen_result_t g;
	char err[512];
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { printf("Bail out! tlsgen: %s\n", err); return 1; }
	run_threads("TLS1.2 RSA tickets", pcap, &g, ks, GV_CHECK_EMS_RESUMED);
	snprintf(args, sizeof args, "-r %s -k %s", pcap, key);
	run_cli("TLS1.2 RSA tickets", captls, args, 4);
	run_cli("TLS1.2 RSA tickets", captls, args, 2);
	tlsgen_result_free(&g);

	/* TLS 1.3 with a key log, HTTP, 16 connections from 8 addresses, late segments */
	tlsgen_opts_defaults(&o);
	o.tls_version = 0x0304; o.key_file = key; o.cert_file = cert;
	o.app = TLSGEN_APP_HTTP; o.n_messages = 4; o.connections = 16; o.client_hosts = 16;
	o.late_segment = 1;
	snprintf(pcap, sizeof pcap, "%s/t13.pcap", dir);
	snprintf(klog, sizeof klog, "%s/t13.keys", dir);
	o.keylog_file = klog;
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { printf("Bail out! tlsgen: %s\n", err); return 1; }
	tls_keystore_t *kl = tls_keystore_new();
	if (tls_keystore_add_keylog(kl, klog, 100000, err, sizeof err) != 0) { printf("Bail out! keylog: %s\n", err); return 1; }
	run_threads("TLS1.3 keylog", pcap, &g, kl, GV_KEY_NOT_RSA);
	snprintf(args, sizeof args, "-r %s -l %s", pcap, klog);
	run_cli("TLS1.3 keylog", captls, args, 4);
	run_cli("TLS1.3 keylog", captls, args, 2);
	tlsgen_result_free(&g);
	tls_keystore_unref(kl);
	tls_keystore_unref(ks);
	return tap_done();
}
