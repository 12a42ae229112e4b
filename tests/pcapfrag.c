/*
 * pcapfrag.c — IP fragmentation of a capture with seeded manglings (see pcapfrag.h for
 * what and why). Test tool: it trusts its input (captures tlsgen wrote) more than the
 * engine may, but still checks every length it uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>
#include "pcapfrag.h"
#include "pcapw.h"

typedef struct frag { uint32_t off, len; int more; int hostile; const uint8_t *bytes; } frag_t;

static uint32_t rs;
static uint32_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 17; rs ^= rs << 5; return rs; }
static uint32_t below(uint32_t n) { return n ? rnd() % n : 0; }

/* Link header length of a frame, or -1 when the frame is not IP over a known link. */
static int link_len(int dlt, const uint8_t *d, size_t n)
{
	switch (dlt) {
	case 1:
		if (n < 14) return -1;
		if (d[12] == 0x81 && d[13] == 0x00) return n >= 18 ? 18 : -1;
		return 14;
	case 101: case 12: case 14: case 228: case 229: return 0;
	case 0: case 108: return n >= 4 ? 4 : -1;
	case 113: return n >= 16 ? 16 : -1;
	case 276: return n >= 20 ? 20 : -1;
	default: return -1;
	}
}

static int write_frag(pcapw_t *w, uint64_t ts, const uint8_t *link, int ll, const uint8_t *ip, int v6,
                      size_t ihl, uint32_t id, const frag_t *f)
{
	uint8_t buf[70000];
	size_t n = 0;
	memcpy(buf, link, (size_t)ll);
	n = (size_t)ll;
	if (!v6) {
		memcpy(buf + n, ip, ihl);
		uint8_t *h = buf + n;
		size_t tot = ihl + f->len;
		h[2] = (uint8_t)(tot >> 8); h[3] = (uint8_t)tot;
		h[4] = (uint8_t)(id >> 8); h[5] = (uint8_t)id;
		uint16_t fo = (uint16_t)((f->more ? 0x2000 : 0) | (f->off / 8));
		h[6] = (uint8_t)(fo >> 8); h[7] = (uint8_t)fo;
		h[10] = h[11] = 0;
		uint16_t c = pcapw_csum_fold(pcapw_csum_add(0, h, ihl));
		h[10] = (uint8_t)(c >> 8); h[11] = (uint8_t)c;
		n += ihl;
	} else {
		memcpy(buf + n, ip, 40);
		uint8_t *h = buf + n;
		size_t pl = 8 + f->len;
		h[4] = (uint8_t)(pl >> 8); h[5] = (uint8_t)pl;
		h[6] = 44;
		uint8_t *fh = h + 40;
		fh[0] = ip[6];
		fh[1] = 0;
		uint16_t fo = (uint16_t)(f->off | (f->more ? 1 : 0));
		fh[2] = (uint8_t)(fo >> 8); fh[3] = (uint8_t)fo;
		fh[4] = (uint8_t)(id >> 24); fh[5] = (uint8_t)(id >> 16); fh[6] = (uint8_t)(id >> 8); fh[7] = (uint8_t)id;
		n += 48;
	}
	memcpy(buf + n, f->bytes, f->len);
	n += f->len;
	return pcapw_write(w, ts, buf, n);
}

int pf_fragment(const char *in, const char *out, const pf_opts_t *o, pf_report_t *rep)
{
	memset(rep, 0, sizeof *rep);
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(in, eb);
	if (!p) { snprintf(rep->err, sizeof rep->err, "%s", eb); return -1; }
	int dlt = pcap_datalink(p);
	pcapw_t *w = pcapw_open(out, dlt);
	if (!w) { pcap_close(p); snprintf(rep->err, sizeof rep->err, "cannot create %s", out); return -1; }
	size_t fs = o->frag_size & ~(size_t)7;
	if (fs < 8) fs = 8;
	rs = o->seed * 2654435761u + 1;
	uint32_t id = 0x1000 + (o->seed & 0xff) * 0x100;
	frag_t fr[9000];
	uint8_t hostile_bytes[8];
	struct pcap_pkthdr *h;
	const u_char *d;
	unsigned nfrag_pkts = 0;
	int rc = 0;
	while (rc == 0 && pcap_next_ex(p, &h, &d) == 1) {
		uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
		int ll = link_len(dlt, d, h->caplen);
		const uint8_t *ip = ll >= 0 ? d + ll : NULL;
		size_t iplen = ll >= 0 ? h->caplen - (size_t)ll : 0;
		int v6 = ip && iplen >= 40 && (ip[0] >> 4) == 6;
		int v4 = ip && iplen >= 20 && (ip[0] >> 4) == 4;
		size_t ihl = v4 ? (size_t)(ip[0] & 15) * 4 : 40;
		size_t plen = 0;
		if (v4 && ip[9] == 6 && !((ip[6] << 8 | ip[7]) & 0x3fff)) {
			size_t tot = (size_t)ip[2] << 8 | ip[3];
			if (tot <= iplen && tot > ihl) plen = tot - ihl;
		} else if (v6 && ip[6] == 6) {
			size_t pl = (size_t)ip[4] << 8 | ip[5];
			if (40 + pl <= iplen) plen = pl;
		}
		if (plen <= fs || (v6 && plen + 8 > 65535)) {
			rc = pcapw_write(w, ts, d, h->caplen);
			continue;
		}
		/* the honest fragments, in order */
		size_t n = 0;
		for (uint32_t off = 0; off < plen && n < 8000; off += (uint32_t)fs) {
			uint32_t l = (uint32_t)(plen - off < fs ? plen - off : fs);
			fr[n++] = (frag_t){ off, l, off + l < plen, 0, ip + ihl + off };
		}
		if (o->shuffle) {
			if (rnd() & 1) for (size_t i = 0; i < n / 2; i++) { frag_t t = fr[i]; fr[i] = fr[n - 1 - i]; fr[n - 1 - i] = t; }
			else for (size_t i = n - 1; i > 0; i--) { size_t j = below((uint32_t)i + 1); frag_t t = fr[i]; fr[i] = fr[j]; fr[j] = t; }
		}
		nfrag_pkts++;
		/* hostile: one per packet at most; inserted before the last honest fragment so the
		 * engine sees it while the datagram is still incomplete */
		int retransmit = 0;
		if (o->conflict_every && nfrag_pkts % o->conflict_every == 0) {
			for (size_t k = 0; k < n; k++) {
				if (!fr[k].more || fr[k].len < 16) continue;
				for (int i = 0; i < 8; i++) hostile_bytes[i] = fr[k].bytes[8 + i] ^ 0x5a;
				frag_t x = { fr[k].off + 8, 8, 1, 1, hostile_bytes };
				size_t at = below((uint32_t)n - 1 + 1);
				if (at > n - 1) at = n - 1;
				memmove(&fr[at + 1], &fr[at], (n - at) * sizeof *fr);
				fr[at] = x;
				n++;
				rep->conflicts++;
				retransmit = 1;
				break;
			}
		} else if (o->same_overlap_every && nfrag_pkts % o->same_overlap_every == 0) {
			for (size_t k = 0; k < n; k++) {
				if (!fr[k].more || fr[k].len < 16) continue;
				frag_t x = { fr[k].off + 8, 8, 1, 1, fr[k].bytes + 8 };
				size_t at = below((uint32_t)n);
				memmove(&fr[at + 1], &fr[at], (n - at) * sizeof *fr);
				fr[at] = x;
				n++;
				rep->same_overlaps++;
				retransmit = 1;
				break;
			}
		} else if (o->missing_every && nfrag_pkts % o->missing_every == 0) {
			size_t k = below((uint32_t)n);
			memmove(&fr[k], &fr[k + 1], (n - k - 1) * sizeof *fr);
			n--;
			rep->missing++;
			retransmit = 1;
		}
		/* exact duplicates: after their original, before the last fragment of the group */
		if (o->dup_pct && !retransmit) {
			for (size_t k = 0; k + 2 < n && n < 8990; k++) {
				if (fr[k].hostile || below(100) >= o->dup_pct) continue;
				size_t at = k + 1 + below((uint32_t)(n - 1 - (k + 1)) + 1);
				if (at > n - 1) at = n - 1;
				frag_t x = fr[k];
				x.hostile = 2;
				memmove(&fr[at + 1], &fr[at], (n - at) * sizeof *fr);
				fr[at] = x;
				n++;
				k++;
				rep->duplicates++;
			}
		}
		id++;
		for (size_t k = 0; k < n && rc == 0; k++) {
			rc = write_frag(w, ts, d, ll, ip, v6, ihl, v6 ? id * 2654435761u : id, &fr[k]);
			rep->fragments++;
		}
		if (retransmit && rc == 0) rc = pcapw_write(w, ts, d, h->caplen);
		rep->packets_fragmented++;
	}
	pcap_close(p);
	if (pcapw_close(w) != 0 && rc == 0) rc = -1;
	if (rc) { snprintf(rep->err, sizeof rep->err, "write error on %s", out); return -1; }
	if (!rep->packets_fragmented) { snprintf(rep->err, sizeof rep->err, "nothing to fragment (all payloads <= %zu)", fs); return -1; }
	return 0;
}
