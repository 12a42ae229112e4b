/*
 * frag_test.c — IP fragment reassembly (ipfrag.c) end to end: captures of real TLS peers
 * (tlsgen, in-process OpenSSL) whose IP packets are cut into IPv4 / IPv6 fragments by
 * tests/pcapfrag.c (down to 8-byte fragments that split the TCP header), shuffled, with
 * exact duplicates, must decrypt byte-exact with the reassembly counters exactly matching
 * what the fragmenter did (a datagram that never completes is a timeout, or an eviction
 * when the 64 slots, tombstones of discarded datagrams included, ran out); hostile extras (overlapping fragments with other bytes or with
 * the same bytes, a fragment missing), each followed by a TCP retransmission, must be
 * discarded and counted without one wrong byte; with reassembly off the same capture does
 * not decrypt (the feature is what makes these pass). Then hand-made hostile input fed
 * through tls_engine_feed_ip: a flood of never-completed datagrams and a fragment bomb stay
 * within the configured slots and memory, the timeout, the 65535 bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "tap.h"
#include "testutil.h"
#include "tlsgen.h"
#include "genverify.h"
#include "pcapfrag.h"

static char KEY[512], CERT[512];

typedef struct fcase {
	int version, ipv6, linktype, vlan;
	pf_opts_t pf;
	int frag_off;            /* engine with frag-max-datagrams 0: must NOT decrypt */
} fcase_t;

static void run_case(const fcase_t *c, const char *label)
{
	char pcap[600], fpcap[600], kl[600], err[512];
	snprintf(pcap, sizeof pcap, "%s/fr.pcap", tu_tmpdir());
	snprintf(fpcap, sizeof fpcap, "%s/fr-frag.pcap", tu_tmpdir());
	snprintf(kl, sizeof kl, "%s/fr.keys", tu_tmpdir());
	unlink(kl);
	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	o.key_file = KEY; o.cert_file = CERT;
	o.tls_version = c->version;
	if (c->version != 0x0304) o.cipher = "AES128-GCM-SHA256";
	else o.keylog_file = kl;
	o.ipv6 = c->ipv6;
	o.linktype = c->linktype ? c->linktype : 1;
	o.vlan = c->vlan;
	o.seed = c->pf.seed;
	o.n_messages = 8;
	o.connections = 2;
	tlsgen_result_t g;
	memset(&g, 0, sizeof g);
	if (tlsgen_run(&o, pcap, &g, err, sizeof err) != 0) { tap_ok(0, "%s: generator: %s", label, err); return; }
	pf_report_t rep;
	if (pf_fragment(pcap, fpcap, &c->pf, &rep) != 0) {
		tap_ok(0, "%s: fragmenter: %s", label, rep.err);
		tlsgen_result_free(&g);
		return;
	}
	tls_keystore_t *ks = c->version == 0x0304 ? tls_keystore_new() : tu_keystore(KEY, NULL);
	if (c->version == 0x0304) tls_keystore_add_keylog(ks, kl, 0, err, sizeof err);
	tls_engine_config_t cfg;
	tls_engine_config_defaults(&cfg);
	if (c->frag_off) cfg.frag_max_datagrams = 0;
	tu_run_t r;
	memset(&r, 0, sizeof r);
	tls_callbacks_t cb = tu_callbacks(&r);
	tls_engine_t *e = tls_engine_new(&cfg, &ks, 1, &cb);
	tu_feed_pcap(e, fpcap);
	tls_engine_flush(e);
	tls_engine_stats_t st;
	tls_engine_get_stats(e, &st);
	tls_engine_free(e);
	tls_keystore_unref(ks);
	if (c->frag_off) {
		size_t want = 0;
		for (size_t i = 0; i < g.n_conns; i++) want += g.conns[i].n_msgs;
		tap_ok(r.n_msgs < want && st.frag_fragments == 0,
		       "%s: reassembly off: %zu of %zu messages (fragments ignored)", label, r.n_msgs, want);
	} else {
		int ok = gv_verify(&g, &r, label, c->version == 0x0304 ? GV_KEY_NOT_RSA : 0);
		unsigned discarded = rep.conflicts + rep.same_overlaps + rep.missing;
		if (st.frag_fragments != rep.fragments || st.frag_datagrams != rep.packets_fragmented - discarded ||
		    st.frag_duplicates != rep.duplicates || st.frag_overlaps != rep.conflicts + rep.same_overlaps ||
		    st.frag_timeouts + st.frag_evicted != rep.missing || st.frag_pending != 0) {
			tap_diag("%s: counters: fragments %llu/%u datagrams %llu/%u duplicates %llu/%u overlaps %llu/%u "
			         "timeouts+evicted %llu/%u pending %llu evicted %llu dropped %llu", label,
			         (unsigned long long)st.frag_fragments, rep.fragments,
			         (unsigned long long)st.frag_datagrams, rep.packets_fragmented - discarded,
			         (unsigned long long)st.frag_duplicates, rep.duplicates,
			         (unsigned long long)st.frag_overlaps, rep.conflicts + rep.same_overlaps,
			         (unsigned long long)(st.frag_timeouts + st.frag_evicted), rep.missing, (unsigned long long)st.frag_pending,
			         (unsigned long long)st.frag_evicted, (unsigned long long)st.frag_dropped);
			ok = 0;
		}
		if (discarded && st.gaps != 0) { tap_diag("%s: a retransmitted datagram left a gap", label); ok = 0; }
		tap_ok(ok, "%s: %zu messages byte-exact; %u packets -> %u fragments, %u dups, %u conflicting + %u "
		       "same-byte overlaps, %u missing", label, r.n_msgs, rep.packets_fragmented, rep.fragments,
		       rep.duplicates, rep.conflicts, rep.same_overlaps, rep.missing);
	}
	tu_run_free(&r);
	tlsgen_result_free(&g);
}

/* ---------------- hand-made hostile fragments ---------------- */

static size_t v4frag(uint8_t *b, uint32_t src, uint16_t id, uint32_t off, int more, const uint8_t *data, size_t len)
{
	memset(b, 0, 20);
	b[0] = 0x45;
	size_t tot = 20 + len;
	b[2] = (uint8_t)(tot >> 8); b[3] = (uint8_t)tot;
	b[4] = (uint8_t)(id >> 8); b[5] = (uint8_t)id;
	uint16_t fo = (uint16_t)((more ? 0x2000 : 0) | (off / 8));
	b[6] = (uint8_t)(fo >> 8); b[7] = (uint8_t)fo;
	b[8] = 64; b[9] = 6;
	b[12] = 10; b[13] = (uint8_t)(src >> 16); b[14] = (uint8_t)(src >> 8); b[15] = (uint8_t)src;
	b[16] = 10; b[19] = 2;
	memcpy(b + 20, data, len);
	return tot;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, res = 0;
	if (!f) return -1;
	if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = -1;
	fclose(f);
	return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void hostile(void)
{
	static uint8_t data[65536], pkt[70000];
	for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7 + 3);
	tls_engine_config_t cfg;
	tls_engine_config_defaults(&cfg);
	cfg.frag_max_datagrams = 32;
	cfg.frag_max_bytes = 256 * 1024;
	tu_run_t r;
	memset(&r, 0, sizeof r);
	tls_callbacks_t cb = tu_callbacks(&r);
	tls_engine_t *e = tls_engine_new(&cfg, NULL, 0, &cb);
	tls_engine_stats_t st;

	/* 1. flood of never-completed datagrams: 200,000 first fragments of 1,480 bytes */
	long rss0 = rss_kb();
	for (uint32_t i = 0; i < 200000; i++) {
		size_t n = v4frag(pkt, i >> 16, (uint16_t)i, 0, 1, data, 1480);
		tls_engine_feed_ip(e, pkt, n, 100.0 + i * 1e-5);
	}
	long rss1 = rss_kb();
	tls_engine_get_stats(e, &st);
	tap_ok(st.frag_pending <= 32 && st.frag_evicted + st.frag_pending == 200000 && st.frag_datagrams == 0 &&
	       rss1 - rss0 < 32 * 72 + 4096,
	       "flood of 200000 never-completed datagrams: %llu pending (bound 32), %llu evicted, RSS +%ld KiB",
	       (unsigned long long)st.frag_pending, (unsigned long long)st.frag_evicted, rss1 - rss0);

	/* 2. byte bound: 40 datagrams of 3 x 8 KiB each would hold 960 KiB > 256 KiB */
	uint64_t ev0 = st.frag_evicted;
	for (uint32_t i = 0; i < 40; i++)
		for (uint32_t k = 0; k < 3; k++) {
			size_t n = v4frag(pkt, 0x777, (uint16_t)(50000 + i), k * 8192, 1, data, 8192);
			tls_engine_feed_ip(e, pkt, n, 103.0);
		}
	tls_engine_get_stats(e, &st);
	tap_ok(st.frag_evicted > ev0 && st.frag_pending * 3 * 8192 <= 256 * 1024 + 3 * 8192,
	       "byte bound 256 KiB: %llu pending, %llu more evicted", (unsigned long long)st.frag_pending,
	       (unsigned long long)(st.frag_evicted - ev0));

	/* 3. timeout: the rest of a datagram 31 s later does not complete it */
	uint64_t to0 = st.frag_timeouts, dg0 = st.frag_datagrams;
	size_t n = v4frag(pkt, 0x888, 7, 0, 1, data, 64);
	tls_engine_feed_ip(e, pkt, n, 200.0);
	n = v4frag(pkt, 0x888, 7, 64, 0, data + 64, 64);
	tls_engine_feed_ip(e, pkt, n, 231.5);
	tls_engine_get_stats(e, &st);
	tap_ok(st.frag_timeouts > to0 && st.frag_datagrams == dg0, "timeout 30 s: datagram dropped (%llu timeouts)",
	       (unsigned long long)(st.frag_timeouts - to0));

	/* 4. beyond 65535: offset 65528 + 16 bytes */
	uint64_t dr0 = st.frag_dropped;
	n = v4frag(pkt, 0x999, 9, 65528 & ~7u, 0, data, 16);
	tls_engine_feed_ip(e, pkt, n, 232.0);
	n = v4frag(pkt, 0x999, 9, 0, 1, data, 64);
	tls_engine_feed_ip(e, pkt, n, 232.0);
	tls_engine_get_stats(e, &st);
	tap_ok(st.frag_dropped >= dr0 + 2 && st.frag_datagrams == dg0, "datagram beyond 65535 bytes discarded (%llu dropped)",
	       (unsigned long long)(st.frag_dropped - dr0));

	/* 5. fragment bomb: 8,190 fragments of 8 bytes, one missing, then the flood again; then a
	 * bomb that completes (65,520 bytes in 8-byte fragments) is reassembled */
	double t0 = 300.0;
	for (uint32_t off = 0; off < 65520; off += 8) {
		if (off == 32768) continue;
		n = v4frag(pkt, 0xaaa, 11, off, off + 8 < 65520, data + off, 8);
		tls_engine_feed_ip(e, pkt, n, t0);
	}
	dg0 = st.frag_datagrams;
	for (uint32_t off = 0; off < 65520 - 20; off += 8) {
		size_t l = off + 8 < 65520 - 20 ? 8 : 65520 - 20 - off;
		n = v4frag(pkt, 0xbbb, 12, off, off + 8 < 65520 - 20, data + off, l);
		tls_engine_feed_ip(e, pkt, n, t0 + 1);
	}
	long rss2 = rss_kb();
	tls_engine_get_stats(e, &st);
	tap_ok(st.frag_datagrams == dg0 + 1 && rss2 - rss0 < 32 * 72 + 8192,
	       "fragment bomb: 8189 fragments pending, 8188 completing one 65500-byte datagram (RSS +%ld KiB)", rss2 - rss0);

	/* 6. conflicting overlap: the datagram never completes, with either fragment first */
	for (int order = 0; order < 2; order++) {
		uint64_t ov0 = st.frag_overlaps;
		dg0 = st.frag_datagrams;
		uint8_t evil[16];
		for (int i = 0; i < 16; i++) evil[i] = (uint8_t)(data[16 + i] ^ 0xff);
		size_t na = v4frag(pkt, 0xccc, (uint16_t)(20 + order), 16, 1, evil, 16);
		uint8_t pa[64];
		memcpy(pa, pkt, na);
		if (order == 0) tls_engine_feed_ip(e, pa, na, t0 + 2);
		n = v4frag(pkt, 0xccc, (uint16_t)(20 + order), 0, 1, data, 48);
		tls_engine_feed_ip(e, pkt, n, t0 + 2);
		if (order == 1) tls_engine_feed_ip(e, pa, na, t0 + 2);
		n = v4frag(pkt, 0xccc, (uint16_t)(20 + order), 48, 0, data + 48, 40);
		tls_engine_feed_ip(e, pkt, n, t0 + 2);
		tls_engine_get_stats(e, &st);
		tap_ok(st.frag_overlaps == ov0 + 1 && st.frag_datagrams == dg0,
		       "conflicting overlap (%s first): whole datagram discarded", order ? "honest" : "hostile");
	}
	tls_engine_free(e);
	tu_run_free(&r);
}

int main(void)
{
	tls_engine_global_init();
	snprintf(KEY, sizeof KEY, "%s/fr-rsa.key", tu_tmpdir());
	snprintf(CERT, sizeof CERT, "%s/fr-rsa.crt", tu_tmpdir());
	if (tlsgen_make_key("rsa2048", KEY, CERT, NULL)) { tap_ok(0, "make keys"); return tap_done(); }
	static const size_t sizes[] = { 8, 64, 512 };
	char label[200];
	unsigned seed = 900;
	for (int v = 0; v < 2; v++)
		for (int ip6 = 0; ip6 < 2; ip6++)
			for (size_t s = 0; s < 3; s++) {
				fcase_t c = { .version = v ? 0x0304 : 0x0303, .ipv6 = ip6 };
				c.pf = (pf_opts_t){ .frag_size = sizes[s], .seed = seed++, .shuffle = 1, .dup_pct = 10 };
				snprintf(label, sizeof label, "TLS1.%d %s, %zu-byte fragments, shuffled + duplicates",
				         v ? 3 : 2, ip6 ? "IPv6" : "IPv4", sizes[s]);
				run_case(&c, label);
			}
	for (int ip6 = 0; ip6 < 2; ip6++) {
		fcase_t c = { .version = 0x0303, .ipv6 = ip6, .linktype = ip6 ? 276 : 1, .vlan = !ip6 };
		c.pf = (pf_opts_t){ .frag_size = 256, .seed = seed++, .shuffle = 1, .dup_pct = 5,
		                    .conflict_every = 3, .same_overlap_every = 4, .missing_every = 5 };
		snprintf(label, sizeof label, "TLS1.2 %s, hostile overlaps and a missing fragment + retransmissions",
		         ip6 ? "IPv6 SLL2" : "IPv4 802.1Q");
		run_case(&c, label);
		c.version = 0x0304;
		c.pf.seed = seed++;
		snprintf(label, sizeof label, "TLS1.3 %s, hostile overlaps and a missing fragment + retransmissions",
		         ip6 ? "IPv6 SLL2" : "IPv4 802.1Q");
		run_case(&c, label);
	}
	{
		fcase_t c = { .version = 0x0303, .frag_off = 1 };
		c.pf = (pf_opts_t){ .frag_size = 512, .seed = seed++ };
		run_case(&c, "TLS1.2 IPv4 fragmented, frag-max-datagrams 0");
	}
	hostile();
	return tap_done();
}
