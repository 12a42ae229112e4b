/*
 * pcapfile.c — classic pcap reader over a memory buffer (see pcapfile.h for why and what
 * it refuses). Header and record headers are read through the cursor; byte order is
 * handled by reading the 4 bytes big-endian and swapping for little-endian files.
 */
#include "pcapfile.h"

#include <stdio.h>
#include <string.h>
#include "cursor.h"

static uint32_t bswap32(uint32_t v)
{
	return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* A 32-bit field in the file's byte order. */
static uint32_t rd32(cursor_t *c, bool big)
{
	uint32_t v = cur_u32(c);
	return big ? v : bswap32(v);
}

/* File link type -> libpcap's DLT for the link types captls decodes; -1 for any other. */
static int dlt_of(uint32_t lt)
{
	switch (lt) {
	case 0: case 1: case 108: case 113: case 228: case 229: case 276: return (int)lt;
	case 101: return 12;               /* LINKTYPE_RAW is DLT_RAW */
	default: return -1;
	}
}

int pcapfile_open(pcapfile_t *pf, const uint8_t *buf, size_t len, bool more)
{
	memset(pf, 0, sizeof *pf);
	cursor_t c = cur_init(buf, len);
	uint32_t magic = cur_u32(&c);      /* big-endian view */
	bool big;
	if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du) big = true;
	else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u) big = false;
	else return 0;
	pf->nsec = magic == 0xa1b23c4du || magic == 0x4d3cb2a1u;
	uint16_t vmaj = cur_u16(&c), vmin = cur_u16(&c);
	if (!big) {
		vmaj = (uint16_t)((vmaj >> 8) | (vmaj << 8));
		vmin = (uint16_t)((vmin >> 8) | (vmin << 8));
	}
	cur_skip(&c, 8);                   /* thiszone, sigfigs: unused (libpcap ignores them too) */
	uint32_t snap = rd32(&c, big);
	uint32_t lt = rd32(&c, big);
	if (cur_failed(&c) || vmaj != 2 || vmin != 4) return 0;
	int dlt = dlt_of(lt);              /* (FCS / extension bits set: not ours either) */
	if (dlt < 0) return 0;
	pf->buf = buf;
	pf->len = len;
	pf->off = 24;
	pf->more = more;
	pf->big_endian = big;
	pf->dlt = dlt;
	/* libpcap 1.10 keeps any positive snap length (even above its maximum, which then
	 * only changes the wording of its error) and takes its maximum for 0 or negative */
	pf->snaplen = snap == 0 || snap > 0x7fffffffu ? PCAPFILE_MAX_SNAPLEN : snap;
	return 1;
}

int pcapfile_next(pcapfile_t *pf, pcapfile_rec_t *r)
{
	size_t left = pf->len - pf->off;
	if (left < 16 && pf->more) return 2;
	if (left == 0) return 0;
	if (left < 16) {
		snprintf(pf->err, sizeof pf->err, "truncated dump file; tried to read 16 header bytes, only got %zu", left);
		return -1;
	}
	cursor_t c = cur_init(pf->buf + pf->off, left);
	bool big = pf->big_endian;
	int32_t sec = (int32_t)rd32(&c, big);
	int32_t sub = (int32_t)rd32(&c, big);
	uint32_t caplen = rd32(&c, big);
	uint32_t origlen = rd32(&c, big);
	if (caplen > PCAPFILE_MAX_SNAPLEN) {
		if (caplen > pf->snaplen)
			snprintf(pf->err, sizeof pf->err, "invalid packet capture length %u, bigger than snaplen of %u",
			         caplen, pf->snaplen);
		else
			snprintf(pf->err, sizeof pf->err, "invalid packet capture length %u, bigger than maximum of %u",
			         caplen, PCAPFILE_MAX_SNAPLEN);
		return -1;
	}
	const uint8_t *data = cur_span(&c, caplen);
	if (!data && pf->more) return 2;
	if (!data) {
		/* libpcap reads min(caplen, snap length) first, then discards the rest */
		size_t got = left - 16;
		snprintf(pf->err, sizeof pf->err, "truncated dump file; tried to read %u captured bytes, only got %zu",
		         caplen > pf->snaplen && got < pf->snaplen ? pf->snaplen : caplen, got);
		return -1;
	}
	r->data = data;
	r->caplen = caplen > pf->snaplen ? pf->snaplen : caplen;   /* libpcap cuts to the snap length */
	r->origlen = origlen;
	r->ts_sec = sec;
	r->ts_usec = pf->nsec ? sub / 1000 : sub;
	pf->off += cur_offset(&c);
	pf->packets++;
	return 1;
}

void pcapfile_refill(pcapfile_t *pf, const uint8_t *buf, size_t len, bool more)
{
	pf->buf = buf;
	pf->len = len;
	pf->off = 0;
	pf->more = more;
}
