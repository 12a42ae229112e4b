/*
 * testutil.c — implementation of the shared test helpers (see testutil.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/stat.h>
#include <pcap/pcap.h>
#include "testutil.h"

static void on_message(void *user, const tls_message_t *m)
{
	tu_run_t *r = user;
	if (r->n_msgs == r->cap_msgs) {
		r->cap_msgs = r->cap_msgs ? r->cap_msgs * 2 : 64;
		r->msgs = realloc(r->msgs, r->cap_msgs * sizeof *r->msgs);
		if (!r->msgs) abort();
	}
	tu_msg_t *t = &r->msgs[r->n_msgs++];
	t->flow = m->flow_id;
	t->dir = m->dir;
	t->app = m->app;
	t->keepalive = m->keepalive;
	t->len = m->len;
	t->ts = m->ts;
	t->data = malloc(m->len ? m->len : 1);
	if (!t->data) abort();
	memcpy(t->data, m->data, m->len);
}

static void on_session(void *user, const tls_session_info_t *s)
{
	tu_run_t *r = user;
	tu_session_t *t = NULL;
	for (size_t i = 0; i < r->n_sess; i++)
		if (r->sess[i].flow == s->flow_id) t = &r->sess[i];
	if (!t) {
		if (r->n_sess == r->cap_sess) {
			r->cap_sess = r->cap_sess ? r->cap_sess * 2 : 16;
			r->sess = realloc(r->sess, r->cap_sess * sizeof *r->sess);
			if (!r->sess) abort();
		}
		t = &r->sess[r->n_sess++];
		memset(t, 0, sizeof *t);
		t->flow = s->flow_id;
	}
	t->ep = *s->ep;
	t->version = s->tls_version;
	t->suite = s->suite;
	snprintf(t->sni, sizeof t->sni, "%s", s->sni ? s->sni : "");
	t->resumed = s->resumed;
	t->ems = s->ems;
	t->decrypted = s->decrypted;
	t->key = s->key;
	t->reason = s->reason;
#ifdef TLS_SESSION_HAS_LOSS
	for (int d = 0; d < 2; d++) { t->gaps[d] = s->gaps[d]; t->lost_bytes[d] = s->lost_bytes[d]; }
#endif
	if (s->final) t->final_reports++;
}

static void on_log(void *user, int level, const char *line)
{
	(void)user;
	if (getenv("TU_VERBOSE")) fprintf(stderr, "engine[%d]: %s\n", level, line);
}

tls_callbacks_t tu_callbacks(tu_run_t *r)
{
	tls_callbacks_t cb = { on_message, on_session, on_log, r };
	return cb;
}

/* tu_locked_callbacks: the recorder behind one process-wide mutex */
static pthread_mutex_t lk_mu = PTHREAD_MUTEX_INITIALIZER;
static void lk_message(void *u, const tls_message_t *m)
{
	pthread_mutex_lock(&lk_mu);
	on_message(u, m);
	pthread_mutex_unlock(&lk_mu);
}
static void lk_session(void *u, const tls_session_info_t *s)
{
	pthread_mutex_lock(&lk_mu);
	on_session(u, s);
	pthread_mutex_unlock(&lk_mu);
}
static void lk_log(void *u, int level, const char *line)
{
	pthread_mutex_lock(&lk_mu);
	on_log(u, level, line);
	pthread_mutex_unlock(&lk_mu);
}

tls_callbacks_t tu_locked_callbacks(tu_run_t *r)
{
	tls_callbacks_t cb = { lk_message, lk_session, lk_log, r };
	return cb;
}

int tu_feed_pcap(tls_engine_t *e, const char *path)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, eb);
	if (!p) { fprintf(stderr, "pcap %s: %s\n", path, eb); return -1; }
	int dlt = pcap_datalink(p);
	struct pcap_pkthdr *h;
	const u_char *d;
	int rc;
	while ((rc = pcap_next_ex(p, &h, &d)) == 1)
		tls_engine_feed_frame(e, dlt, d, h->caplen, (double)h->ts.tv_sec + h->ts.tv_usec / 1e6);
	pcap_close(p);
	return rc == PCAP_ERROR ? -1 : 0;
}

int tu_run_pcap(const char *pcap, tls_keystore_t *const *stores, size_t nstores,
                const tls_engine_config_t *cfg, tu_run_t *r)
{
	memset(r, 0, sizeof *r);
	tls_callbacks_t cb = tu_callbacks(r);
	tls_engine_t *e = tls_engine_new(cfg, stores, nstores, &cb);
	if (!e) return -1;
	int rc = tu_feed_pcap(e, pcap);
	tls_engine_flush(e);
	tls_engine_get_stats(e, &r->st);
	tls_engine_free(e);
	return rc;
}

void tu_run_free(tu_run_t *r)
{
	for (size_t i = 0; i < r->n_msgs; i++) free(r->msgs[i].data);
	free(r->msgs);
	free(r->sess);
	memset(r, 0, sizeof *r);
}

size_t tu_sessions_with_port(const tu_run_t *r, uint16_t port)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_sess; i++)
		if (r->sess[i].ep.client_port == port) n++;
	return n;
}

const tu_session_t *tu_session_by_port(const tu_run_t *r, uint16_t port)
{
	for (size_t i = 0; i < r->n_sess; i++)
		if (r->sess[i].ep.client_port == port) return &r->sess[i];
	return NULL;
}

uint8_t *tu_concat(const tu_run_t *r, uint64_t flow, int dir, size_t *len)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_msgs; i++)
		if (r->msgs[i].flow == flow && r->msgs[i].dir == dir) n += r->msgs[i].len;
	uint8_t *b = malloc(n ? n : 1);
	if (!b) abort();
	size_t o = 0;
	for (size_t i = 0; i < r->n_msgs; i++)
		if (r->msgs[i].flow == flow && r->msgs[i].dir == dir) {
			memcpy(b + o, r->msgs[i].data, r->msgs[i].len);
			o += r->msgs[i].len;
		}
	*len = n;
	return b;
}

size_t tu_count(const tu_run_t *r, uint64_t flow, int dir)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_msgs; i++)
		if (r->msgs[i].flow == flow && r->msgs[i].dir == dir) n++;
	return n;
}

int tu_load_frames(const char *path, tu_frames_t *fr)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, eb);
	if (!p) { fprintf(stderr, "%s: %s\n", path, eb); return -1; }
	memset(fr, 0, sizeof *fr);
	fr->dlt = pcap_datalink(p);
	struct pcap_pkthdr *h;
	const u_char *d;
	size_t cap = 0;
	while (pcap_next_ex(p, &h, &d) == 1) {
		if (fr->n == cap) {
			cap = cap ? cap * 2 : 256;
			fr->d = realloc(fr->d, cap * sizeof *fr->d);
			fr->len = realloc(fr->len, cap * sizeof *fr->len);
			fr->ts = realloc(fr->ts, cap * sizeof *fr->ts);
			if (!fr->d || !fr->len || !fr->ts) abort();
		}
		fr->d[fr->n] = malloc(h->caplen ? h->caplen : 1);
		if (!fr->d[fr->n]) abort();
		memcpy(fr->d[fr->n], d, h->caplen);
		fr->len[fr->n] = h->caplen;
		fr->ts[fr->n] = h->ts.tv_sec + h->ts.tv_usec / 1e6;
		fr->n++;
	}
	pcap_close(p);
	return 0;
}

void tu_free_frames(tu_frames_t *fr)
{
	for (size_t i = 0; i < fr->n; i++) free(fr->d[i]);
	free(fr->d);
	free(fr->len);
	free(fr->ts);
	memset(fr, 0, sizeof *fr);
}

int tu_read_file(const char *path, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) return -1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n < 0) { fclose(f); return -1; }
	*data = malloc((size_t)n + 1);
	if (!*data) { fclose(f); return -1; }
	*len = fread(*data, 1, (size_t)n, f);
	fclose(f);
	return *len == (size_t)n ? 0 : -1;
}

const char *tu_tmpdir(void)
{
	static char dir[256];
	if (dir[0]) return dir;
	const char *base = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/ptls-test-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(dir)) { perror("mkdtemp"); abort(); }
	return dir;
}

tls_keystore_t *tu_keystore(const char *key, const char *password)
{
	char err[512], warn[512];
	tls_keystore_t *ks = tls_keystore_new();
	if (!ks) abort();
	if (key && tls_keystore_add_key_file(ks, key, password, NULL, NULL, err, sizeof err, warn, sizeof warn) != 0) {
		fprintf(stderr, "keystore: %s\n", err);
		abort();
	}
	return ks;
}

const char *tu_samples_dir(void)
{
	static char buf[1024];
	struct stat sb;
	const char *env = getenv("SHARED_SAMPLES");
	if (env && stat(env, &sb) == 0 && S_ISDIR(sb.st_mode)) return env;
	const char *top = getenv("top_srcdir");
	snprintf(buf, sizeof buf, "%s/../shared/samples", top ? top : ".");
	if (stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode)) return buf;
	return NULL;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

size_t tu_json_concat(const char *json, int port, const char *dir, uint8_t *out, size_t cap)
{
	size_t n = 0;
	char want[32], wport[40];
	snprintf(want, sizeof want, "\"dir\":\"%s\"", dir);
	snprintf(wport, sizeof wport, "port\":%d,", port);
	for (const char *l = json; l && *l; ) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char *line = strndup(l, len);
		char *d = line ? strstr(line, "\"data\":\"") : NULL;
		if (d && strstr(line, "\"type\":\"message\"") && strstr(line, want) && (port < 0 || strstr(line, wport))) {
			uint32_t acc = 0;
			int bits = 0;
			for (d += 8; *d && *d != '"'; d++) {
				int v = b64val(*d);
				if (v < 0) continue;
				acc = ((acc << 6) | (uint32_t)v) & 0xffffff;
				bits += 6;
				if (bits >= 8) { bits -= 8; if (n < cap) out[n++] = (uint8_t)(acc >> bits); }
			}
		}
		free(line);
		l = e ? e + 1 : NULL;
	}
	return n;
}

const tu_session_t *tu_session_by_server_port(const tu_run_t *r, uint16_t port)
{
	for (size_t i = 0; i < r->n_sess; i++)
		if (r->sess[i].ep.server_port == port) return &r->sess[i];
	return NULL;
}

int tu_run_peer_script(const char *script, const char *dir, char *why, size_t whylen)
{
	const char *top = getenv("top_srcdir");
	char cmd[1400];
	snprintf(cmd, sizeof cmd, "sh %s/tests/%s %s >%s.log 2>&1", top ? top : ".", script, dir, dir);
	int rc = system(cmd);
	if (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
		char p[700];
		snprintf(why, whylen, "tool missing");
		snprintf(p, sizeof p, "%s/skip", dir);
		FILE *f = fopen(p, "r");
		if (f) {
			if (!fgets(why, (int)whylen, f)) why[0] = 0;
			fclose(f);
			why[strcspn(why, "\n")] = 0;
		}
		return 77;
	}
	if (rc == -1 || !WIFEXITED(rc)) return -1;
	return WEXITSTATUS(rc);
}
