/*
 * pcapng.c — pcapng block reader (implements pcapng.h): packets with per-interface link
 * type and time stamp resolution, and Decryption Secrets Blocks, which libpcap hides.
 *
 * Format (pcapng, IETF draft-ietf-opsawg-pcapng): a file is a sequence of blocks
 * [type u32][total length u32][body][total length u32], lengths multiples of 4. A Section
 * Header Block (type 0x0A0D0D0A, the same in both byte orders) starts each section; its
 * byte-order magic 0x1A2B3C4D says in which order every later number of the section is
 * written. Interface Description Blocks (1) number the section's interfaces from 0 and
 * give each a link type, snap length and options (if_tsresol 9, if_tsoffset 14).
 * Packets: Enhanced Packet Block (6: interface, 64-bit time stamp, captured and original
 * length, data), Simple Packet Block (3: interface 0, no time stamp: the previous
 * packet's is used), obsolete Packet Block (2). Decryption Secrets Block (10: secrets
 * type, length, data). Other blocks (name resolution, statistics, custom) are skipped.
 *
 * Robustness: the 8-byte header of each block is checked (length >= 12, multiple of 4,
 * at most max_block) before anything is allocated or read, the trailing length must
 * repeat the leading one, and the body is parsed through cursor.h, so a declared length
 * larger than its block is an error, not an over-read. The block buffer only grows to
 * the largest block seen (bounded); it is wiped whenever it held secrets and on free.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1   /* explicit_bzero, fseeko */
#endif
#include "pcapng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "cursor.h"

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 1u
#define BT_PB 2u
#define BT_SPB 3u
#define BT_EPB 6u
#define BT_DSB 10u
#define OPT_TSRESOL 9
#define OPT_TSOFFSET 14

typedef struct iface {
	uint16_t linktype;
	uint32_t snaplen;
	bool base2;         /* if_tsresol: units are 2^-exp s, else 10^-exp s */
	uint8_t exp;
	int64_t tsoffset;   /* if_tsoffset: seconds added to every time stamp */
} iface_t;

struct pcapng {
	FILE *f;
	size_t max_block;
	bool skip_packets;
	bool in_section;
	bool le;            /* byte order of the current section */
	uint8_t *buf;
	size_t cap;
	size_t wipe_len;    /* bytes of buf that held secrets (wiped on the next call) */
	iface_t *ifs;
	size_t n_ifs, cap_ifs;
	uint32_t iface_base;
	uint64_t off;       /* file offset of the next block */
	uint64_t cur;       /* file offset of the block being read (for messages) */
	int64_t last_sec;
	uint32_t last_usec;
	double last_ts;
	char err[256];
	pcapng_stats_t st;
};

/* ---- numbers in the section's byte order, through the cursor ---- */

static uint32_t g32(cursor_t *c, bool le)
{
	const uint8_t *p = cur_span(c, 4);
	if (!p) return 0;
	return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
	          : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

static uint16_t g16(cursor_t *c, bool le)
{
	const uint8_t *p = cur_span(c, 2);
	if (!p) return 0;
	return le ? (uint16_t)(p[0] | p[1] << 8) : (uint16_t)(p[1] | p[0] << 8);
}

static uint64_t g64(cursor_t *c, bool le)
{
	uint64_t a = g32(c, le), b = g32(c, le);
	return le ? (b << 32 | a) : (a << 32 | b);
}

static int fail(pcapng_t *r, const char *what)
{
	snprintf(r->err, sizeof r->err, "pcapng block at offset %llu: %s", (unsigned long long)r->cur, what);
	return -1;
}

/* ---- public ---- */

bool pcapng_is_pcapng(const char *path)
{
	struct stat st;
	/* only regular files: a pipe or FIFO cannot be peeked at and re-read (libpcap's) */
	if (!path || !strcmp(path, "-") || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return false;
	FILE *f = fopen(path, "rb");
	if (!f) return false;
	uint8_t m[4];
	bool ng = fread(m, 1, 4, f) == 4 && m[0] == 0x0A && m[1] == 0x0D && m[2] == 0x0D && m[3] == 0x0A;
	fclose(f);
	return ng;
}

pcapng_t *pcapng_fopen(FILE *f, size_t max_block, bool skip_packets, char *err, size_t errlen)
{
	pcapng_t *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->f = f;
	r->max_block = max_block ? max_block : PCAPNG_DEFAULT_MAX_BLOCK;
	if (r->max_block < 32) r->max_block = 32;
	r->skip_packets = skip_packets;
	return r;
}

const char *pcapng_error(const pcapng_t *r)
{
	return r->err[0] ? r->err : "no error";
}

void pcapng_get_stats(const pcapng_t *r, pcapng_stats_t *st)
{
	*st = r->st;
}

void pcapng_free(pcapng_t *r)
{
	if (!r) return;
	if (r->buf) {
		explicit_bzero(r->buf, r->cap);
		free(r->buf);
	}
	free(r->ifs);
	if (r->f) fclose(r->f);
	free(r);
}

/* Read exactly n bytes into the block buffer (grown as needed, up to max_block). */
static int read_body(pcapng_t *r, size_t n)
{
	if (n > r->cap) {
		size_t nc = r->cap ? r->cap : 65536;
		while (nc < n) nc *= 2;
		if (nc > r->max_block) nc = r->max_block;
		uint8_t *nb = malloc(nc);
		if (!nb) return fail(r, "out of memory");
		if (r->buf) {
			explicit_bzero(r->buf, r->cap);
			free(r->buf);
		}
		r->buf = nb;
		r->cap = nc;
	}
	if (n && fread(r->buf, 1, n, r->f) != n)
		return fail(r, ferror(r->f) ? "read error" : "truncated block (file ends inside it)");
	return 0;
}

/* Section Header Block: hdr holds type, length and byte-order magic (12 bytes). */
static int parse_shb(pcapng_t *r, const uint8_t hdr[12])
{
	bool le;
	if (hdr[8] == 0x4D && hdr[9] == 0x3C && hdr[10] == 0x2B && hdr[11] == 0x1A) le = true;
	else if (hdr[8] == 0x1A && hdr[9] == 0x2B && hdr[10] == 0x3C && hdr[11] == 0x4D) le = false;
	else return fail(r, "section header with a bad byte-order magic");
	cursor_t h = cur_init(hdr + 4, 4);
	uint32_t len = g32(&h, le);
	if (len < 28 || len % 4 || len > r->max_block)
		return fail(r, len > r->max_block ? "section header block too large" : "bad section header block length");
	if (read_body(r, len - 12) != 0) return -1;
	cursor_t c = cur_init(r->buf, len - 12);
	uint16_t major = g16(&c, le);
	g16(&c, le);                /* minor */
	g64(&c, le);                /* section length (may be -1) */
	cursor_t t = cur_init(r->buf + len - 16, 4);
	if (g32(&t, le) != len) return fail(r, "section header block: trailing length differs");
	if (major != 1) return fail(r, "unsupported pcapng major version");
	r->le = le;
	r->in_section = true;
	r->iface_base += (uint32_t)r->n_ifs;
	r->n_ifs = 0;
	r->st.sections++;
	return 0;
}

static int parse_idb(pcapng_t *r, cursor_t *c)
{
	iface_t i = { .linktype = 0, .snaplen = 0, .base2 = false, .exp = 6, .tsoffset = 0 };
	i.linktype = g16(c, r->le);
	g16(c, r->le);
	i.snaplen = g32(c, r->le);
	if (cur_failed(c)) return fail(r, "interface description block too short");
	while (cur_left(c) >= 4) {      /* options: code, length, value padded to 4 */
		uint16_t code = g16(c, r->le), olen = g16(c, r->le);
		cursor_t v = cur_sub(c, olen);
		cur_skip(c, (4 - olen % 4) % 4);
		if (cur_failed(c) || code == 0) break;   /* opt_endofopt, or options cut short: stop */
		if (code == OPT_TSRESOL && olen >= 1) {
			uint8_t b = cur_u8(&v);
			i.base2 = b & 0x80;
			i.exp = b & 0x7f;
			if (i.base2 ? i.exp > 63 : i.exp > 19) return fail(r, "interface with an unusable if_tsresol");
		} else if (code == OPT_TSOFFSET && olen == 8) {
			int64_t o = (int64_t)g64(&v, r->le);
			i.tsoffset = o > (INT64_C(1) << 40) ? (INT64_C(1) << 40) : o < -(INT64_C(1) << 40) ? -(INT64_C(1) << 40) : o;
		}
	}
	if (r->n_ifs >= PCAPNG_MAX_IFACES) return fail(r, "too many interfaces");
	if (r->n_ifs == r->cap_ifs) {
		size_t nc = r->cap_ifs ? r->cap_ifs * 2 : 8;
		iface_t *n = realloc(r->ifs, nc * sizeof *n);
		if (!n) return fail(r, "out of memory");
		r->ifs = n;
		r->cap_ifs = nc;
	}
	r->ifs[r->n_ifs++] = i;
	r->st.interfaces++;
	return 0;
}

/* Time stamp t in the units of interface i. */
static void set_ts(pcapng_t *r, const iface_t *i, uint64_t t)
{
	uint64_t sec, frac, units = 1;
	double fsec;
	uint32_t usec;
	if (i->base2) {
		sec = i->exp ? t >> i->exp : t;
		frac = i->exp ? t & ((UINT64_C(1) << i->exp) - 1) : 0;
		fsec = ldexp((double)frac, -(int)i->exp);
	} else {
		for (unsigned k = 0; k < i->exp; k++) units *= 10;
		sec = t / units;
		frac = t % units;
		fsec = (double)frac / (double)units;
	}
	usec = (uint32_t)(fsec * 1e6);
	if (usec > 999999) usec = 999999;
	int64_t s = sec > (UINT64_C(1) << 40) ? (INT64_C(1) << 40) : (int64_t)sec;
	s += i->tsoffset;
	r->last_sec = s;
	r->last_usec = usec;
	r->last_ts = (double)s + fsec;
}

static int packet(pcapng_t *r, pcapng_rec_t *rec, uint32_t ifid, const uint8_t *data, uint32_t caplen, uint32_t origlen)
{
	const iface_t *i = &r->ifs[ifid];
	memset(rec, 0, sizeof *rec);
	rec->type = PCAPNG_REC_PACKET;
	rec->ifid = ifid;
	rec->iface_seq = r->iface_base + ifid;
	rec->linktype = i->linktype;
	rec->snaplen = i->snaplen;
	rec->ts_sec = r->last_sec;
	rec->ts_usec = r->last_usec;
	rec->ts = r->last_ts;
	rec->caplen = caplen;
	rec->origlen = origlen < caplen ? caplen : origlen;
	rec->data = data;
	rec->len = caplen;
	r->st.packets++;
	return 1;
}

int pcapng_next(pcapng_t *r, pcapng_rec_t *rec)
{
	if (r->err[0]) return -1;
	if (r->wipe_len) {
		explicit_bzero(r->buf, r->wipe_len);
		r->wipe_len = 0;
	}
	for (;;) {
		uint8_t hdr[12];
		r->cur = r->off;
		size_t got = fread(hdr, 1, 8, r->f);
		if (got == 0 && feof(r->f)) return 0;
		if (got != 8) return fail(r, ferror(r->f) ? "read error" : "truncated block header");
		r->st.blocks++;
		bool shb = hdr[0] == 0x0A && hdr[1] == 0x0D && hdr[2] == 0x0D && hdr[3] == 0x0A;
		if (shb) {
			if (fread(hdr + 8, 1, 4, r->f) != 4) return fail(r, "truncated section header");
			if (parse_shb(r, hdr) != 0) return -1;
			cursor_t h = cur_init(hdr + 4, 4);
			r->off += g32(&h, r->le);
			continue;
		}
		if (!r->in_section) return fail(r, "not a pcapng file (no section header first)");
		cursor_t h = cur_init(hdr, 8);
		uint32_t type = g32(&h, r->le), len = g32(&h, r->le);
		if (len < 12 || len % 4) return fail(r, "bad block length");
		if (len > r->max_block) return fail(r, "block larger than the bound (max block size)");
		if (r->skip_packets && (type == BT_EPB || type == BT_SPB || type == BT_PB)) {
			if (fseeko(r->f, (off_t)(len - 8), SEEK_CUR) != 0) return fail(r, "seek error");
			r->off += len;
			r->st.packets++;
			continue;
		}
		if (read_body(r, len - 8) != 0) return -1;
		cursor_t t = cur_init(r->buf + len - 12, 4);
		if (g32(&t, r->le) != len) return fail(r, "trailing block length differs");
		cursor_t c = cur_init(r->buf, len - 12);
		r->off += len;
		switch (type) {
		case BT_IDB:
			if (parse_idb(r, &c) != 0) return -1;
			continue;
		case BT_EPB: case BT_PB: {
			uint32_t ifid = type == BT_EPB ? g32(&c, r->le) : g16(&c, r->le);
			if (type == BT_PB) g16(&c, r->le);      /* drops count */
			uint32_t hi = g32(&c, r->le), lo = g32(&c, r->le);
			uint32_t caplen = g32(&c, r->le), origlen = g32(&c, r->le);
			const uint8_t *data = cur_span(&c, caplen);
			if (cur_failed(&c)) return fail(r, "packet block shorter than its captured length");
			if (ifid >= r->n_ifs) return fail(r, "packet on an undeclared interface");
			set_ts(r, &r->ifs[ifid], (uint64_t)hi << 32 | lo);
			return packet(r, rec, ifid, data, caplen, origlen);
		}
		case BT_SPB: {
			uint32_t origlen = g32(&c, r->le);
			size_t caplen = cur_left(&c);
			if (r->n_ifs == 0) return fail(r, "simple packet block without an interface");
			if (caplen > origlen) caplen = origlen;
			if (r->ifs[0].snaplen && caplen > r->ifs[0].snaplen) caplen = r->ifs[0].snaplen;
			const uint8_t *data = cur_span(&c, caplen);
			if (cur_failed(&c)) return fail(r, "simple packet block too short");
			return packet(r, rec, 0, data, (uint32_t)caplen, origlen);
		}
		case BT_DSB: {
			uint32_t stype = g32(&c, r->le), slen = g32(&c, r->le);
			const uint8_t *data = cur_span(&c, slen);
			if (cur_failed(&c)) return fail(r, "decryption secrets block shorter than its secrets");
			r->wipe_len = len - 8;
			r->st.secrets_blocks++;
			memset(rec, 0, sizeof *rec);
			rec->type = PCAPNG_REC_SECRETS;
			rec->secrets_type = stype;
			rec->data = data;
			rec->len = slen;
			return 1;
		}
		default:
			r->st.skipped_blocks++;
			continue;
		}
	}
}
