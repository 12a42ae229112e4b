/*
 * bench_mem.c — the benchmark's memory measurements (tests/bench --memory,
 * --memory-established, --gen-idle; see bench.c for the command line): RSS and heap per
 * flow with many flows made from one real OpenSSL connection (tlsgen), replayed with
 * distinct client addresses and ports, each measured in a child process.
 *
 * Why a file of its own: bench.c stays below 800 lines; these runs share only the
 * helpers declared in bench_mem.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include <sys/wait.h>
#include <gcrypt.h>
#include "tls_engine.h"
#include "engine_internal.h"   /* sizeof of the per-flow structs (--memory-established) */
#include "tlsgen.h"
#include "pcapw.h"
#include "testutil.h"
#include "bench_mem.h"

/* Run fn in a child, get a double back. */
static double in_child(double (*fn)(void *), void *arg)
{
	int p[2];
	if (pipe(p) != 0) return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		double v = fn(arg);
		if (write(p[1], &v, sizeof v) != sizeof v) _exit(1);
		_exit(0);
	}
	close(p[1]);
	double v = -1;
	if (read(p[0], &v, sizeof v) != sizeof v) v = -1;
	close(p[0]);
	waitpid(pid, NULL, 0);
	return v;
}

typedef struct memarg {
	tu_frames_t *fr; size_t cut; uint16_t port; double buffered_per_flow;
	const char *keylog;      /* key log of the source connection (TLS 1.3), or NULL */
	unsigned expect_msgs;    /* messages each flow must deliver (0: not checked) */
	int want_heap;           /* mem_engine returns malloc'd bytes in use / flows (mallinfo2) */
} memarg_t;

unsigned NFLOWS = 10000;     /* --memory N */

/* Copy Ethernet/IPv4 frame `in` into `out` as flow number idx of many: the client
 * (the side with port `port0`) gets port 1024 + idx % 60000 and address 10.0.(idx / 60000).1,
 * the IPv4 header checksum is recomputed. Returns the length. */
static size_t flow_variant(const uint8_t *in, size_t len, uint16_t port0, unsigned idx, uint8_t *out)
{
	memcpy(out, in, len);
	if (len < 14 + 20 + 20 || (out[14] >> 4) != 4) return len;
	size_t ihl = (size_t)(out[14] & 0x0f) * 4;
	uint8_t *ip = out + 14, *t = out + 14 + ihl;
	uint16_t np = (uint16_t)(1024 + idx % 60000);
	int c2s = (t[0] << 8 | t[1]) == port0;
	uint8_t *cport = c2s ? t : t + 2, *caddr = c2s ? ip + 12 : ip + 16;
	cport[0] = (uint8_t)(np >> 8); cport[1] = (uint8_t)np;
	caddr[0] = 10; caddr[1] = 0; caddr[2] = (uint8_t)(idx / 60000); caddr[3] = 1;
	ip[10] = ip[11] = 0;
	uint32_t sum = 0;
	for (size_t i = 0; i < ihl; i += 2) sum += (uint32_t)ip[i] << 8 | ip[i + 1];
	while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8); ip[11] = (uint8_t)~sum;
	return len;
}

static double mem_engine(void *a_)
{
	memarg_t *a = a_;
	tls_keystore_t *ks = keystore(a->keylog);
	tls_engine_config_t cfg;
	tls_engine_config_defaults(&cfg);
	if (cfg.max_flows < NFLOWS + 16) cfg.max_flows = NFLOWS + 16;
	sink_t sk = { 0, 0 };
	tls_callbacks_t cb = { on_message, NULL, NULL, &sk };
	tls_engine_t *e = tls_engine_new(&cfg, &ks, 1, &cb);
	static uint8_t fb[65536 + 64];
	size_t r0 = rss_now();
	size_t h0 = mallinfo2().uordblks;
	for (unsigned f = 0; f < NFLOWS; f++) {
		for (size_t i = 0; i < a->cut; i++) {
			size_t l = flow_variant(a->fr->d[i], a->fr->len[i] < 65536 ? a->fr->len[i] : 65536, a->port, f, fb);
			tls_engine_feed_frame(e, a->fr->dlt, fb, l, a->fr->ts[i]);
		}
	}
	size_t r1 = rss_now();
	size_t h1 = mallinfo2().uordblks;
	tls_engine_stats_t st;
	tls_engine_get_stats(e, &st);
	if (st.flows_active != NFLOWS) fprintf(stderr, "bench: %llu flows active\n", (unsigned long long)st.flows_active);
	if (a->expect_msgs && sk.msgs != (uint64_t)a->expect_msgs * NFLOWS) {
		fprintf(stderr, "bench: %llu messages decrypted, expected %llu\n", (unsigned long long)sk.msgs,
		        (unsigned long long)a->expect_msgs * NFLOWS);
		return -1;
	}
	if (a->want_heap) return (double)((long)h1 - (long)h0) / NFLOWS;
	return (double)(r1 - r0) / NFLOWS;
}

static double mem_gcry(void *unused)
{
	(void)unused;
	gcry_cipher_hd_t *h = malloc(NFLOWS * sizeof *h);
	uint8_t key[16] = { 0 };
	if (!h) return -1;
	size_t r0 = rss_now();
	for (unsigned i = 0; i < NFLOWS; i++) {
		gcry_cipher_open(&h[i], GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_GCM, 0);
		gcry_cipher_setkey(h[i], key, 16);
	}
	return (double)(rss_now() - r0) / NFLOWS;
}

/* One real connection (tlsgen, TLS1.2 RSA AES-128-GCM, SIP) as the source of idle flows:
 * a = cut after the server's first flight (SYN .. ServerHelloDone), est = established and
 * idle after the last message (no FIN). Returns 0 / -1. */
static int idle_source(tu_frames_t *fr, tlsgen_result_t *g, memarg_t *a, memarg_t *est)
{
	size_t pl;
	char pcap[700], err[512];
	snprintf(pcap, sizeof pcap, "%s/mem.pcap", tu_tmpdir());
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = KEY; o.cert_file = CERT;
	o.cipher = "AES128-GCM-SHA256";
	o.app = TLSGEN_APP_SIP;
	o.n_messages = 1;
	o.seed = 3;
	memset(g, 0, sizeof *g);
	if (tlsgen_run(&o, pcap, g, err, sizeof err) != 0) { printf("memory: generator failed: %s\n", err); return -1; }
	if (tu_load_frames(pcap, fr) != 0) return -1;
	memarg_t m = { fr, 0, g->conns[0].client_port, 0, NULL, 0, 0 };
	*a = m;
	/* cut after the server's first flight: before the client's second data frame */
	int cdata = 0;
	for (size_t i = 0; i < fr->n; i++) {
		int c = frame_tcp(fr->d[i], fr->len[i], a->port, &pl);
		if (c == 1 && pl > 0 && ++cdata == 2) { a->cut = i; break; }
	}
	/* established and idle: everything up to the last data segment's ACK, no FIN */
	*est = *a;
	for (size_t i = 0; i < fr->n; i++) {
		if (frame_tcp(fr->d[i], fr->len[i], a->port, &pl) >= 0 && pl > 0) est->cut = i + 2;
	}
	if (est->cut > fr->n) est->cut = fr->n;
	return 0;
}

/* --memory-established N: one real connection (tlsgen, OpenSSL peers; TLS 1.2 RSA
 * AES-128-GCM, or TLS 1.3 AES-128-GCM with its key log), 3 SIP messages each way, replayed
 * as N flows (distinct client address/port) up to the last data segment's ACK: handshake
 * done, every message decrypted (checked), then idle. RSS and malloc'd bytes per flow are
 * measured after all flows are fed, before any flush. */
static int est_source(int version, tu_frames_t *fr, tlsgen_result_t *g, memarg_t *est, char *kl, size_t klsz)
{
	size_t pl;
	char pcap[700], err[512];
	snprintf(pcap, sizeof pcap, "%s/mem_est_%x.pcap", tu_tmpdir(), version);
	snprintf(kl, klsz, "%s/mem_est_%x.keys", tu_tmpdir(), version);
	unlink(kl);
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = KEY; o.cert_file = CERT;
	o.tls_version = version;
	o.cipher = version == 0x0304 ? "TLS_AES_128_GCM_SHA256" : "AES128-GCM-SHA256";
	o.keylog_file = version == 0x0304 ? kl : NULL;
	o.app = TLSGEN_APP_SIP;
	o.n_messages = 3;
	o.seed = 5;
	memset(g, 0, sizeof *g);
	if (tlsgen_run(&o, pcap, g, err, sizeof err) != 0) { printf("memory: generator failed: %s\n", err); return -1; }
	if (tu_load_frames(pcap, fr) != 0) return -1;
	memarg_t m = { fr, 0, g->conns[0].client_port, 0, version == 0x0304 ? kl : NULL, 6, 0 };
	*est = m;
	for (size_t i = 0; i < fr->n; i++) {
		if (frame_tcp(fr->d[i], fr->len[i], est->port, &pl) >= 0 && pl > 0) est->cut = i + 2;
	}
	if (est->cut > fr->n) est->cut = fr->n;
	return 0;
}

void bench_memory_established(void)
{
	/* the cipher handles of the max-open-ciphers (1024) most recent flows stay open: with
	 * few flows they dominate the average; 100,000 flows is the benchmark. Heap per
	 * flow is deterministic and RSS per flow steady at that size: one run per figure. */
	int runs = NFLOWS >= 50000 ? 1 : RUNS;
	printf("\nMemory per established idle flow: %u flows, 3 SIP messages each way decrypted, then idle"
	       " (%d run%s per figure)\n", NFLOWS, runs, runs == 1 ? "" : "s, median");
	printf("  sizeof: flow_t %zu, flow_tls_t %zu (tls_dirstate_t %zu x2, tls_conn_t %zu, app_framing_t %zu), "
	       "tls_cipher_state_t %zu, held_queue_t %zu, tcp_stream_t %zu\n",
	       sizeof(flow_t), sizeof(flow_tls_t), sizeof(tls_dirstate_t), sizeof(tls_conn_t), sizeof(app_framing_t),
	       sizeof(tls_cipher_state_t), sizeof(held_queue_t), sizeof(tcp_stream_t));
	double b[5];
	for (int r = 0; r < runs; r++) b[r] = in_child(mem_gcry, NULL);
	printf("  one open+keyed libgcrypt AES-128-GCM handle: %.0f B RSS\n", median(b, runs));
	printf("  %-34s %12s %14s\n", "", "RSS B/flow", "heap B/flow");
	static const int vers[2] = { 0x0303, 0x0304 };
	for (int v = 0; v < 2; v++) {
		tu_frames_t fr;
		tlsgen_result_t g;
		memarg_t est;
		char kl[700];
		if (est_source(vers[v], &fr, &g, &est, kl, sizeof kl) != 0) continue;
		double x[5], h[5];
		for (int r = 0; r < runs; r++) {
			est.want_heap = 0;
			x[r] = in_child(mem_engine, &est);
			est.want_heap = 1;
			h[r] = in_child(mem_engine, &est);
		}
		printf("  %-34s %12.0f %14.0f\n", vers[v] == 0x0304 ? "TLS 1.3 AES-128-GCM (key log)" : "TLS 1.2 RSA AES-128-GCM",
		       median(x, runs), median(h, runs));
		if (v == 0) {
			/* half-open: SYN .. the ClientHello, no answer from the server */
			memarg_t ho = est;
			size_t pl;
			ho.expect_msgs = 0;
			for (size_t i = 0; i < fr.n; i++)
				if (frame_tcp(fr.d[i], fr.len[i], ho.port, &pl) == 1 && pl > 0) { ho.cut = i + 1; break; }
			for (int r = 0; r < runs; r++) {
				ho.want_heap = 0;
				x[r] = in_child(mem_engine, &ho);
				ho.want_heap = 1;
				h[r] = in_child(mem_engine, &ho);
			}
			printf("  %-34s %12.0f %14.0f\n", "half-open (SYN .. ClientHello)", median(x, runs), median(h, runs));
		}
		tu_free_frames(&fr);
		tlsgen_result_free(&g);
	}
}

/* --gen-idle OUT N: a pcap of N flows stopped mid-handshake (for other tools' memory). */
int gen_idle(const char *out, unsigned n)
{
	tu_frames_t fr;
	tlsgen_result_t g;
	memarg_t a, est;
	if (idle_source(&fr, &g, &a, &est) != 0) return 1;
	pcapw_t *w = pcapw_open(out, PCAPW_LINK_ETHERNET);
	if (!w) return 1;
	static uint8_t fb[65536 + 64];
	uint64_t ts = 1700000000ull * 1000000ull;
	for (unsigned f = 0; f < n; f++)
		for (size_t i = 0; i < a.cut; i++) {
			size_t l = flow_variant(fr.d[i], fr.len[i] < 65536 ? fr.len[i] : 65536, a.port, f, fb);
			if (pcapw_write(w, ts, fb, l) != 0) return 1;
			ts += 2;
		}
	tu_free_frames(&fr);
	tlsgen_result_free(&g);
	return pcapw_close(w) == 0 ? 0 : 1;
}

void bench_memory(void)
{
	tu_frames_t fr;
	tlsgen_result_t g;
	memarg_t a, est;
	if (idle_source(&fr, &g, &a, &est) != 0) return;
	double e[5], b[5], x[5];
	for (int r = 0; r < RUNS; r++) {
		e[r] = in_child(mem_engine, &a);
		x[r] = in_child(mem_engine, &est);
		b[r] = in_child(mem_gcry, NULL);
	}
	double me = median(e, RUNS), mx = median(x, RUNS), mb = median(b, RUNS);
	printf("\nMemory per flow: %u idle flows (RSS growth / flows; baseline: one open AES-GCM handle)\n", NFLOWS);
	printf("  %-44s %12s %14s %8s\n", "", "engine B/flow", "gcry hd B", "ratio");
	printf("  %-44s %12.0f %14.0f %8.2f\n", "stopped mid-handshake (SYN .. ServerHelloDone)", me, mb, me / mb);
	printf("  %-44s %12.0f %14.0f %8.2f\n", "established, idle after the last message", mx, mb, mx / mb);
	tu_free_frames(&fr);
	tlsgen_result_free(&g);
}

