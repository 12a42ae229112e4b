/*
 * held.c — chunked FIFO of held TLS records (see held.h for why).
 *
 * Records are bump-allocated in chunks of size classes (512 B .. one maximal record); each chunk counts its live records and is freed when the last one is
 * released. A record put in front of the queue (a decrypted message re-held at the head)
 * is allocated alone, so release order never has to follow allocation order.
 */
#include <stdlib.h>
#include <string.h>
#include "held.h"
#include "kdf.h"

/* chunk classes: a new chunk is the smallest class the record fits in; later records fill
 * its remainder. Small classes keep what a quiet flow holds close to what it received. */
static const size_t CLASS[] = { 512, 1024, 2048, 4096, 8192, sizeof(held_rec_t) + 16384 + 2048 + 16 };
#define N_CLASS (sizeof CLASS / sizeof *CLASS)

struct hold_chunk {
	hold_chunk_t *next;
	size_t cap, used;
	unsigned live;
	_Alignas(16) uint8_t mem[];
};

static size_t rec_size(size_t len)
{
	return (sizeof(held_rec_t) + len + 15) & ~(size_t)15;
}

/* Pool class of a chunk capacity (-1: not pooled). */
static int pool_class(size_t cap)
{
	for (size_t i = 0; i < N_CLASS; i++)
		if (cap == CLASS[i]) return (int)i;
	return -1;
}

static hold_chunk_t *chunk_get(hold_pool_t *p, size_t cap)
{
	int k = pool_class(cap);
	if (p && k >= 0 && p->free[k]) {
		hold_chunk_t *c = p->free[k];
		p->free[k] = c->next;
		p->cached -= cap;
		return c;
	}
	return malloc(sizeof(hold_chunk_t) + cap);
}

static void chunk_put(hold_pool_t *p, hold_chunk_t *c)
{
	int k = pool_class(c->cap);
	if (p && k >= 0 && p->cached + c->cap <= p->max_cached) {
		c->next = p->free[k];
		p->free[k] = c;
		p->cached += c->cap;
		return;
	}
	free(c);
}

void hold_pool_free(hold_pool_t *p)
{
	for (size_t k = 0; k < N_CLASS; k++)
		while (p->free[k]) {
			hold_chunk_t *c = p->free[k];
			p->free[k] = c->next;
			free(c);
		}
	p->cached = 0;
}

static held_rec_t *alloc_chunked(held_queue_t *q, size_t need)
{
	hold_chunk_t *c = q->chunks_tail;
	if (!c || c->cap - c->used < need) {
		size_t cap = need;
		for (size_t i = 0; i < N_CLASS; i++)
			if (need <= CLASS[i]) { cap = CLASS[i]; break; }
		c = chunk_get(q->pool, cap);
		if (!c) return NULL;
		c->next = NULL;
		c->cap = cap;
		c->used = 0;
		c->live = 0;
		if (q->chunks_tail) q->chunks_tail->next = c; else q->chunks = c;
		q->chunks_tail = c;
		q->mem += sizeof *c + cap;
	}
	held_rec_t *h = (held_rec_t *)(void *)(c->mem + c->used);
	c->used += need;
	c->live++;
	h->chunk = c;
	return h;
}

bool held_push(held_queue_t *q, bool at_head, bool plain, uint8_t type, uint16_t version,
               const uint8_t *data, size_t len, double ts, uint64_t seq)
{
	held_rec_t *h;
	if (at_head && q->head) {
		h = malloc(sizeof *h + len);
		if (!h) return false;
		h->chunk = NULL;
		q->mem += sizeof *h + len;
	} else {
		h = alloc_chunked(q, rec_size(len));
		if (!h) return false;
	}
	h->plain = plain;
	h->type = type;
	h->version = version;
	h->len = len;
	h->ts = ts;
	h->seq = seq;
	if (len) memcpy(h->data, data, len);
	if (at_head && q->head) {
		h->next = q->head;
		q->head = h;
	} else {
		h->next = NULL;
		if (q->tail) q->tail->next = h; else q->head = h;
		q->tail = h;
	}
	q->bytes += len;
	return true;
}

/* Free chunks from the oldest while they hold no live record. */
static void reclaim(held_queue_t *q)
{
	while (q->chunks && q->chunks->live == 0) {
		hold_chunk_t *c = q->chunks;
		q->chunks = c->next;
		if (!q->chunks) q->chunks_tail = NULL;
		q->mem -= sizeof *c + c->cap;
		chunk_put(q->pool, c);
	}
}

void held_pop(held_queue_t *q)
{
	held_rec_t *h = q->head;
	if (!h) return;
	q->head = h->next;
	if (!q->head) q->tail = NULL;
	q->bytes -= h->len;
	if (h->plain) tls_wipe(h->data, h->len);
	if (h->chunk) {
		h->chunk->live--;
		reclaim(q);
	} else {
		q->mem -= sizeof *h + h->len;
		free(h);
	}
}

void held_clear(held_queue_t *q)
{
	while (q->head) held_pop(q);
	reclaim(q);
}
