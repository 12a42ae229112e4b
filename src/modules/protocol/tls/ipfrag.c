/*
 * ipfrag.c — bounded IPv4 / IPv6 fragment reassembly; rules, overlap policy and bounds are
 * in ipfrag.h.
 *
 * Each pending datagram owns a slot: its key (family, addresses, id, protocol), the engine
 * time it was opened, and a buffer [IPFRAG_MAX_HDR reserve | 65535 payload bytes | three
 * bitmaps over 8-byte units]. The bitmaps record which units are covered, where fragments
 * start and where they end, so that completion, exact duplicates and overlaps are decided
 * in O(fragment length / 8) with no per-fragment allocation and no list walk (a bomb of
 * 8-byte fragments costs as much as one large one). Slots are found through a hash of
 * chained indices and kept on an age list (engine time is monotonic, so the list is sorted:
 * the oldest is evicted first and the timeout scan stops at the first young slot).
 * A discarded datagram (overlap, oversize) stays as a tombstone until its timeout so that
 * its remaining fragments are dropped instead of starting a new, never-completing datagram.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "ipfrag.h"

#define UNITS ((IPFRAG_MAX_DATAGRAM + 7) / 8 + 1)     /* 8-byte units, + the end-of-last bit */
#define BM_BYTES ((UNITS + 7) / 8)
#define BUF_SIZE (IPFRAG_MAX_HDR + IPFRAG_MAX_DATAGRAM + 3 * BM_BYTES)

enum { S_FREE, S_OPEN, S_DEAD };

typedef struct fslot {
	uint8_t state, family, proto;
	bool have_first, have_last;
	uint32_t id;
	uint8_t src[16], dst[16];
	double opened;
	uint32_t total;              /* payload length (known once the last fragment came) */
	uint32_t units_covered;
	uint32_t held;               /* payload bytes held (accounting) */
	uint32_t hdr_len, nh_off;
	int32_t hnext;               /* hash chain */
	int32_t prev, next;          /* age list */
	uint8_t *buf;                /* BUF_SIZE, allocated on first use, kept */
} fslot_t;

struct ipfrag {
	ipfrag_limits_t lim;
	fslot_t *slots;
	int32_t *bucket;
	uint32_t nbuckets;           /* power of two */
	int32_t free_head;           /* free slots chained through hnext */
	int32_t old, young;          /* age list ends */
	uint32_t pending;
	uint64_t held, allocated;
	ipfrag_counters_t cnt;
};

static inline uint8_t *payload(fslot_t *s) { return s->buf + IPFRAG_MAX_HDR; }
static inline uint8_t *bm_cov(fslot_t *s) { return s->buf + IPFRAG_MAX_HDR + IPFRAG_MAX_DATAGRAM; }
static inline uint8_t *bm_start(fslot_t *s) { return bm_cov(s) + BM_BYTES; }
static inline uint8_t *bm_end(fslot_t *s) { return bm_cov(s) + 2 * BM_BYTES; }
static inline bool bit(const uint8_t *bm, uint32_t i) { return bm[i >> 3] & (1u << (i & 7)); }
static inline void set_bit(uint8_t *bm, uint32_t i) { bm[i >> 3] |= (uint8_t)(1u << (i & 7)); }

ipfrag_t *ipfrag_new(const ipfrag_limits_t *lim)
{
	ipfrag_t *r = calloc(1, sizeof *r);
	if (!r) return NULL;
	r->lim = *lim;
	if (r->lim.max_datagrams < 1) r->lim.max_datagrams = 1;
	if (r->lim.max_datagrams > 1u << 20) r->lim.max_datagrams = 1u << 20;
	r->nbuckets = 16;
	while (r->nbuckets < 2 * r->lim.max_datagrams) r->nbuckets <<= 1;
	r->slots = calloc(r->lim.max_datagrams, sizeof *r->slots);
	r->bucket = malloc(r->nbuckets * sizeof *r->bucket);
	if (!r->slots || !r->bucket) { free(r->slots); free(r->bucket); free(r); return NULL; }
	for (uint32_t i = 0; i < r->nbuckets; i++) r->bucket[i] = -1;
	for (uint32_t i = 0; i < r->lim.max_datagrams; i++)
		r->slots[i].hnext = i + 1 < r->lim.max_datagrams ? (int32_t)(i + 1) : -1;
	r->free_head = 0;
	r->old = r->young = -1;
	return r;
}

void ipfrag_free(ipfrag_t *r)
{
	if (!r) return;
	for (uint32_t i = 0; i < r->lim.max_datagrams; i++) {
		if (!r->slots[i].buf) continue;
		explicit_bzero(r->slots[i].buf, BUF_SIZE);
		free(r->slots[i].buf);
	}
	free(r->slots);
	free(r->bucket);
	free(r);
}

static uint32_t key_hash(const ipfrag_t *r, int family, const uint8_t *src, const uint8_t *dst, uint32_t id, uint8_t proto)
{
	size_t alen = family == AF_INET ? 4 : 16;
	uint32_t h = 2166136261u ^ id ^ (family == AF_INET ? (uint32_t)proto << 24 : 0);
	for (size_t i = 0; i < alen; i++) h = (h ^ src[i]) * 16777619u;
	for (size_t i = 0; i < alen; i++) h = (h ^ dst[i]) * 16777619u;
	h ^= h >> 15;
	return h & (r->nbuckets - 1);
}

static int32_t find(const ipfrag_t *r, const ipfrag_in_t *f, uint32_t h)
{
	size_t alen = f->family == AF_INET ? 4 : 16;
	for (int32_t i = r->bucket[h]; i >= 0; i = r->slots[i].hnext) {
		const fslot_t *s = &r->slots[i];
		if (s->family == f->family && s->id == f->id && (f->family != AF_INET || s->proto == f->proto) &&
		    !memcmp(s->src, f->src, alen) && !memcmp(s->dst, f->dst, alen))
			return i;
	}
	return -1;
}

/* Release slot i (unlink from hash and age list, back to the free list). */
static void release(ipfrag_t *r, int32_t i)
{
	fslot_t *s = &r->slots[i];
	uint32_t h = key_hash(r, s->family, s->src, s->dst, s->id, s->proto);
	for (int32_t *pp = &r->bucket[h]; *pp >= 0; pp = &r->slots[*pp].hnext)
		if (*pp == i) { *pp = s->hnext; break; }
	if (s->prev >= 0) r->slots[s->prev].next = s->next; else r->old = s->next;
	if (s->next >= 0) r->slots[s->next].prev = s->prev; else r->young = s->prev;
	r->held -= s->held;
	s->held = 0;
	s->state = S_FREE;
	s->hnext = r->free_head;
	r->free_head = i;
	r->pending--;
}

/* Discard an open datagram but keep its key as a tombstone until the timeout. */
static void kill(ipfrag_t *r, fslot_t *s)
{
	r->held -= s->held;
	s->held = 0;
	s->state = S_DEAD;
}

void ipfrag_expire(ipfrag_t *r, double now)
{
	while (r->old >= 0 && r->slots[r->old].opened + r->lim.timeout < now) {
		if (r->slots[r->old].state == S_OPEN) r->cnt.timeouts++;
		release(r, r->old);
	}
}

/* Evict the oldest slot (other than `keep`); false if there is none. */
static bool evict_oldest(ipfrag_t *r, int32_t keep)
{
	int32_t i = r->old;
	if (i == keep) i = r->slots[i].next;
	if (i < 0) return false;
	if (r->slots[i].state == S_OPEN) r->cnt.evicted++;
	release(r, i);
	return true;
}

static int32_t open_slot(ipfrag_t *r, const ipfrag_in_t *f, uint32_t h, double now)
{
	if (r->free_head < 0) evict_oldest(r, -1);
	int32_t i = r->free_head;
	if (i < 0) return -1;
	fslot_t *s = &r->slots[i];
	if (!s->buf) {
		s->buf = malloc(BUF_SIZE);
		if (!s->buf) return -1;
		r->allocated += BUF_SIZE;
	}
	r->free_head = s->hnext;
	uint8_t *buf = s->buf;
	memset(s, 0, sizeof *s);
	s->buf = buf;
	memset(bm_cov(s), 0, 3 * BM_BYTES);
	s->state = S_OPEN;
	s->family = (uint8_t)f->family;
	s->proto = f->proto;
	s->id = f->id;
	memcpy(s->src, f->src, f->family == AF_INET ? 4 : 16);
	memcpy(s->dst, f->dst, f->family == AF_INET ? 4 : 16);
	s->opened = now;
	s->hnext = r->bucket[h];
	r->bucket[h] = i;
	s->prev = r->young;
	s->next = -1;
	if (r->young >= 0) r->slots[r->young].next = i; else r->old = i;
	r->young = i;
	r->pending++;
	return i;
}

/* Is [off, off+len) (last: ends the datagram) an exact duplicate of a fragment held? */
static bool exact_dup(fslot_t *s, const ipfrag_in_t *f, uint32_t u0, uint32_t u1)
{
	if (!bit(bm_start(s), u0) || !bit(bm_end(s), u1)) return false;
	for (uint32_t u = u0; u < u1; u++) {
		if (!bit(bm_cov(s), u)) return false;
		if (u > u0 && bit(bm_start(s), u)) return false;
	}
	bool ends = s->have_last && f->offset + f->len == s->total;
	if (ends != !f->more) return false;
	return memcmp(payload(s) + f->offset, f->data, f->len) == 0;
}

/* Is any unit at or after u covered? (bits up to a byte boundary, then whole bytes) */
static bool covered_from(fslot_t *s, uint32_t u)
{
	const uint8_t *cov = bm_cov(s);
	for (; u < UNITS && (u & 7); u++)
		if (bit(cov, u)) return true;
	for (uint32_t b = u / 8; b < BM_BYTES; b++)
		if (cov[b]) return true;
	return false;
}

/* The datagram is complete: rebuild the IP packet in front of the payload. */
static void rebuild(fslot_t *s, const uint8_t **out, size_t *outlen)
{
	uint8_t *ip = payload(s) - s->hdr_len;
	size_t n = s->hdr_len + s->total;
	if (s->family == AF_INET) {
		ip[2] = (uint8_t)(n >> 8); ip[3] = (uint8_t)n;
		ip[6] = 0; ip[7] = 0;                /* no fragment offset, no MF (DF dropped too) */
		ip[10] = 0; ip[11] = 0;              /* checksum: not verified by the decoder */
	} else {
		size_t pl = n - 40;
		ip[4] = (uint8_t)(pl >> 8); ip[5] = (uint8_t)pl;
		ip[s->nh_off] = s->proto;
	}
	*out = ip;
	*outlen = n;
}

int ipfrag_add(ipfrag_t *r, const ipfrag_in_t *f, double now, const uint8_t **out, size_t *outlen)
{
	r->cnt.fragments++;
	ipfrag_expire(r, now);
	uint32_t h = key_hash(r, f->family, f->src, f->dst, f->id, f->proto);
	int32_t i = find(r, f, h);
	if (i >= 0 && r->slots[i].state == S_DEAD) { r->cnt.dropped++; return 0; }
	/* invalid fragments: dropped, their datagram goes on (it will time out if it needed them) */
	if (f->truncated || (f->more && (f->len == 0 || (f->len & 7))) || f->len == 0 ||
	    (f->offset == 0 && (f->hdr_len > IPFRAG_MAX_HDR || f->hdr_len < (f->family == AF_INET ? 20u : 40u)))) {
		r->cnt.dropped++;
		return 0;
	}
	bool oversize = (uint64_t)f->offset + f->len > IPFRAG_MAX_DATAGRAM ||
	                (f->offset == 0 && f->hdr_len - (f->family == AF_INET ? 0 : 40) + f->len > IPFRAG_MAX_DATAGRAM);
	if (i < 0) {
		i = open_slot(r, f, h, now);
		if (i < 0) { r->cnt.dropped++; return 0; }
	}
	fslot_t *s = &r->slots[i];
	if (oversize) { kill(r, s); r->cnt.dropped++; return 0; }
	uint32_t end = f->offset + (uint32_t)f->len;
	uint32_t u0 = f->offset / 8, u1 = (end + 7) / 8;
	/* overlaps: an exact duplicate is dropped, anything else discards the datagram */
	bool covered = false;
	for (uint32_t u = u0; u < u1 && !covered; u++) covered = bit(bm_cov(s), u);
	if (covered) {
		if (exact_dup(s, f, u0, u1)) { r->cnt.duplicates++; return 0; }
		kill(r, s);
		r->cnt.overlaps++;
		return 0;
	}
	/* a second, different end of the datagram, or data beyond its end */
	if ((!f->more && s->have_last && end != s->total) || (s->have_last && end > s->total)) {
		kill(r, s);
		r->cnt.overlaps++;
		return 0;
	}
	if (!f->more && covered_from(s, u1)) { kill(r, s); r->cnt.overlaps++; return 0; }
	/* byte bound: evict older datagrams, or give this one up */
	while (r->held + f->len > r->lim.max_bytes)
		if (!evict_oldest(r, i)) { kill(r, s); r->cnt.evicted++; return 0; }
	memcpy(payload(s) + f->offset, f->data, f->len);
	for (uint32_t u = u0; u < u1; u++) set_bit(bm_cov(s), u);
	set_bit(bm_start(s), u0);
	set_bit(bm_end(s), u1);
	s->units_covered += u1 - u0;
	s->held += (uint32_t)f->len;
	r->held += f->len;
	if (!f->more) { s->have_last = true; s->total = end; }
	if (f->offset == 0) {
		s->proto = f->proto;       /* IPv6: the offset-zero fragment's next header counts */
		memcpy(payload(s) - f->hdr_len, f->hdr, f->hdr_len);
		s->hdr_len = (uint32_t)f->hdr_len;
		s->nh_off = (uint32_t)f->nh_off;
		s->have_first = true;
	}
	if (!s->have_first || !s->have_last || s->units_covered != (s->total + 7) / 8) return 0;
	if (s->hdr_len - (s->family == AF_INET ? 0u : 40u) + s->total > IPFRAG_MAX_DATAGRAM) {
		kill(r, s);
		r->cnt.dropped++;
		return 0;
	}
	rebuild(s, out, outlen);
	r->cnt.datagrams++;
	release(r, i);              /* the buffer stays intact until the slot is opened again */
	return 1;
}

const ipfrag_counters_t *ipfrag_counters(const ipfrag_t *r) { return &r->cnt; }
uint32_t ipfrag_pending(const ipfrag_t *r) { return r->pending; }
uint64_t ipfrag_held_bytes(const ipfrag_t *r) { return r->held; }
uint64_t ipfrag_allocated(const ipfrag_t *r) { return r->allocated; }
