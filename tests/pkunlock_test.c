/*
 * pkunlock_test.c — a flow's RSA private-key operation runs without its shard's lock
 * (pk_unlocked.c), and that changes nothing in what is delivered (TAP).
 *
 * Why: the RSA operation is the most expensive step of a TLS session; under the shard
 * lock it would stall every capture thread feeding that shard. Real OpenSSL peers
 * (tlsgen) make two TLS 1.2 RSA connections between the same two hosts (so one shard
 * holds both). The engine's test hook runs while the first connection's RSA operation is
 * in progress (the lock released), and from there:
 *   1. another thread feeds the whole second connection, which must complete — with its
 *      own RSA operation — before the first one's operation returns (under a held lock
 *      it could not even start: the hook gives up after 60 s and the test fails);
 *   2. another thread feeds the rest of the first connection itself: its packets must
 *      wait until the operation and the packet that started it are done.
 * Both connections must then be delivered byte-exact, in order, once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "tap.h"
#include "testutil.h"
#include "genverify.h"
#include "tlsgen.h"

/* the engine's test hook (pk_unlocked.c), called while an operation runs unlocked */
extern void (*pk_unlocked_hook)(void *arg);
extern void *pk_unlocked_hook_arg;

/* the scene's state (the engine's callbacks have their own lock: tu_locked_callbacks) */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

typedef struct scene {
	tls_engine_t *e;
	tu_frames_t *fr;
	const int *conn;          /* connection (0, 1) of each frame, -1 other */
	int mode;                 /* 1: other connection meanwhile, 2: rest of the same one */
	int hooked;               /* hook calls seen */
	size_t at;                /* frame thread A is feeding */
	size_t from;              /* mode 2: first frame the helper feeds */
	bool go, helper_started, helper_done, hook_returned, timed_out;
	bool helper_first_after_hook; /* mode 2: the helper's first packet returned after the hook */
	bool a_stop;
} scene_t;

static bool wait_flag(bool *flag, int seconds)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += seconds;
	while (!*flag)
		if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT) return *flag;
	return true;
}

static void hook(void *arg)
{
	scene_t *s = arg;
	pthread_mutex_lock(&mu);
	if (s->hooked++ == 0) {                   /* the first connection's RSA operation */
		s->from = s->at + 1;
		s->a_stop = s->mode == 2;
		s->go = true;
		pthread_cond_broadcast(&cv);
		if (s->mode == 1) {
			if (!wait_flag(&s->helper_done, 60)) s->timed_out = true;
		} else {
			wait_flag(&s->helper_started, 60);
			pthread_mutex_unlock(&mu);
			usleep(50000);                     /* let the helper reach the busy flow */
			pthread_mutex_lock(&mu);
		}
		s->hook_returned = true;
	}
	pthread_mutex_unlock(&mu);
}

static void *helper_main(void *arg)
{
	scene_t *s = arg;
	pthread_mutex_lock(&mu);
	wait_flag(&s->go, 120);
	s->helper_started = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	bool first = true;
	for (size_t i = s->mode == 2 ? s->from : 0; i < s->fr->n; i++) {
		if (s->conn[i] != (s->mode == 2 ? 0 : 1)) continue;
		tls_engine_feed_frame(s->e, s->fr->dlt, s->fr->d[i], s->fr->len[i], s->fr->ts[i]);
		if (first && s->mode == 2) {
			pthread_mutex_lock(&mu);
			s->helper_first_after_hook = s->hook_returned;
			pthread_mutex_unlock(&mu);
		}
		first = false;
	}
	pthread_mutex_lock(&mu);
	s->helper_done = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Client port of a raw-IPv4 frame between the client and server_port, or -1. */
static int client_port(const uint8_t *p, size_t len, uint16_t server_port)
{
	if (len < 20 || (p[0] >> 4) != 4 || p[9] != 6) return -1;
	size_t ihl = (size_t)(p[0] & 15) * 4;
	if (len < ihl + 4) return -1;
	uint16_t sp = (uint16_t)(p[ihl] << 8 | p[ihl + 1]), dp = (uint16_t)(p[ihl + 2] << 8 | p[ihl + 3]);
	return sp == server_port ? dp : dp == server_port ? sp : -1;
}

static void run_scene(int mode, const char *pcap, const tlsgen_result_t *g, tls_keystore_t *ks)
{
	const char *label = mode == 1 ? "other flow meanwhile" : "same flow meanwhile";
	tu_frames_t fr;
	if (tu_load_frames(pcap, &fr) != 0) { tap_ok(0, "%s: load frames", label); return; }
	int *conn = calloc(fr.n, sizeof *conn);
	int ports[2] = { -1, -1 };
	for (size_t i = 0; i < fr.n; i++) {
		int cp = client_port(fr.d[i], fr.len[i], 5061);
		conn[i] = -1;
		if (cp < 0) continue;
		if (ports[0] < 0 || ports[0] == cp) { ports[0] = cp; conn[i] = 0; }
		else if (ports[1] < 0 || ports[1] == cp) { ports[1] = cp; conn[i] = 1; }
	}
	tap_ok(ports[0] >= 0 && ports[1] >= 0, "%s: two connections in the capture (client ports %d, %d)",
	   label, ports[0], ports[1]);
	tu_run_t r;
	memset(&r, 0, sizeof r);
	tls_engine_config_t cfg;
	tls_engine_config_defaults(&cfg);
	cfg.shards = 1;                          /* both flows on the one shard */
	tls_callbacks_t cb = tu_locked_callbacks(&r);
	scene_t s;
	memset(&s, 0, sizeof s);
	s.e = tls_engine_new(&cfg, &ks, 1, &cb);
	s.fr = &fr;
	s.conn = conn;
	s.mode = mode;
	pk_unlocked_hook_arg = &s;
	pk_unlocked_hook = hook;
	pthread_t th;
	pthread_create(&th, NULL, helper_main, &s);
	for (size_t i = 0; i < fr.n; i++) {
		if (conn[i] != 0) continue;
		pthread_mutex_lock(&mu);
		s.at = i;
		bool stop = s.a_stop;
		pthread_mutex_unlock(&mu);
		if (stop) break;
		tls_engine_feed_frame(s.e, fr.dlt, fr.d[i], fr.len[i], fr.ts[i]);
	}
	if (s.hooked == 0) {                     /* no unlocked operation: release the helper */
		pthread_mutex_lock(&mu);
		s.go = true;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
	pthread_join(th, NULL);
	pk_unlocked_hook = NULL;
	if (mode == 2)                           /* the second connection, after the fact */
		for (size_t i = 0; i < fr.n; i++)
			if (conn[i] == 1) tls_engine_feed_frame(s.e, fr.dlt, fr.d[i], fr.len[i], fr.ts[i]);
	tls_engine_flush(s.e);
	tls_engine_free(s.e);
	tap_ok(s.hooked >= (mode == 1 ? 2 : 1), "%s: the RSA operations fed meanwhile ran without the shard lock (%d)",
	   label, s.hooked);
	if (mode == 1)
		tap_ok(s.helper_done && !s.timed_out, "%s: another thread fed a whole connection of the same shard "
		   "while the first RSA operation was running", label);
	else
		tap_ok(s.helper_first_after_hook, "%s: a packet of the busy flow from another thread waited for the "
		   "operation and the packet that started it", label);
	tap_ok(gv_verify(g, &r, label, GV_CHECK_EMS_RESUMED), "%s: %zu messages, %zu sessions: byte-exact, "
	   "in order, once", label, r.n_msgs, r.n_sess);
	tu_run_free(&r);
	free(conn);
	tu_free_frames(&fr);
}

int main(void)
{
	const char *dir = tu_tmpdir();
	char key[600], cert[600], pcap[600], err[512];
	snprintf(key, sizeof key, "%s/k.pem", dir);
	snprintf(cert, sizeof cert, "%s/c.pem", dir);
	if (tlsgen_make_key("rsa2048", key, cert, NULL) != 0) { printf("Bail out! tlsgen cannot make a key\n"); return 1; }
	tls_keystore_t *ks = tu_keystore(key, NULL);
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.tls_version = 0x0303; o.cipher = "AES128-GCM-SHA256"; o.key_file = key; o.cert_file = cert;
	o.app = TLSGEN_APP_SIP; o.n_messages = 8; o.connections = 2; o.client_hosts = 1;
	o.no_tickets = 1; o.linktype = 101; o.server_port = 5061;
	snprintf(pcap, sizeof pcap, "%s/pk.pcap", dir);
	tlsgen_result_t g;
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { printf("Bail out! tlsgen: %s\n", err); return 1; }
	run_scene(1, pcap, &g, ks);
	run_scene(2, pcap, &g, ks);
	tlsgen_result_free(&g);
	tls_keystore_unref(ks);
	return tap_done();
}
