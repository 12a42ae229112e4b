/*
 * workers.c — captls --threads N: the reader (the main thread) feeds engine shard 0
 * itself and N - 1 worker threads feed shards 1 .. N-1. The reader asks the engine which
 * shard a frame belongs to (tls_engine_frame_shard): a shard-0 frame is fed at once, in
 * place (no copy); any other is appended to that worker's current batch, and full batches
 * go to the worker through a small queue. A flow always lands on the same thread, which
 * feeds its frames in capture order, so per-flow output order and content are those of
 * one thread. Why the reader takes a shard: N threads for N cores (a separate reader
 * thread competed with the workers for the cores), and one frame in N is never copied.
 *
 * Memory is bounded: each worker owns BATCHES batches of BATCH_BYTES; when all are
 * queued the reader waits (back-pressure; with -i the kernel's capture buffer absorbs
 * it). Frames of shards 1.. are copied once, into the batch; batches are reused, so the
 * steady state allocates nothing.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "workers.h"

#define BATCH_BYTES (256u * 1024)
#define BATCHES 4

typedef struct batch {
	struct batch *next;
	size_t used;
	uint8_t buf[BATCH_BYTES];
} batch_t;

/* One frame in a batch: this header, then caplen bytes, padded to 8. */
typedef struct frame_hdr {
	double ts;
	uint32_t caplen;
	int dlt;                      /* link type (pcapng: per interface) */
} frame_hdr_t;

typedef struct worker {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_idle;
	batch_t *q_head, *q_tail;     /* full batches, in order */
	batch_t *free;                /* empty batches */
	batch_t *cur;                 /* being filled by the reader (reader-owned) */
	bool busy, stop, started;
	struct workers *ws;
} worker_t;

struct workers {
	tls_engine_t *eng;
	unsigned n;
	worker_t *w;
};

/* Capture time of the frame this worker thread is feeding (0 on other threads). */
static _Thread_local double tl_now;

double workers_now(void)
{
	return tl_now;
}

static size_t rec_size(uint32_t caplen)
{
	return (sizeof(frame_hdr_t) + caplen + 7u) & ~(size_t)7u;
}

static void feed_batch(struct workers *ws, batch_t *b)
{
	size_t off = 0;
	while (off < b->used) {
		frame_hdr_t h;
		memcpy(&h, b->buf + off, sizeof h);
		tl_now = h.ts;
		tls_engine_feed_frame(ws->eng, h.dlt, b->buf + off + sizeof h, h.caplen, h.ts);
		off += rec_size(h.caplen);
	}
	b->used = 0;
}

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->q_head && !w->stop) pthread_cond_wait(&w->cv_work, &w->mu);
		if (!w->q_head) break;                 /* stop, queue empty */
		batch_t *b = w->q_head;
		w->q_head = b->next;
		if (!w->q_head) w->q_tail = NULL;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);
		feed_batch(w->ws, b);
		pthread_mutex_lock(&w->mu);
		w->busy = false;
		b->next = w->free;
		w->free = b;
		pthread_cond_broadcast(&w->cv_idle);   /* a free batch, maybe an idle worker */
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Queue the reader's current batch of w (if it holds anything). */
static void push_cur(worker_t *w)
{
	if (!w->cur || !w->cur->used) return;
	pthread_mutex_lock(&w->mu);
	w->cur->next = NULL;
	if (w->q_tail) w->q_tail->next = w->cur; else w->q_head = w->cur;
	w->q_tail = w->cur;
	w->cur = NULL;
	pthread_cond_signal(&w->cv_work);
	pthread_mutex_unlock(&w->mu);
}

/* A batch for the reader to fill: a free one, waiting for the worker if none is. */
static batch_t *take_free(worker_t *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->free) pthread_cond_wait(&w->cv_idle, &w->mu);
	batch_t *b = w->free;
	w->free = b->next;
	pthread_mutex_unlock(&w->mu);
	b->used = 0;
	return b;
}

workers_t *workers_start(tls_engine_t *eng, unsigned n)
{
	if (!n) return NULL;
	struct workers *ws = calloc(1, sizeof *ws);
	if (!ws) return NULL;
	ws->eng = eng;
	ws->n = n;
	ws->w = calloc(n, sizeof *ws->w);
	if (!ws->w) { free(ws); return NULL; }
	for (unsigned i = 0; i < n; i++) {
		worker_t *w = &ws->w[i];
		w->ws = ws;
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv_work, NULL);
		pthread_cond_init(&w->cv_idle, NULL);
		if (i == 0) continue;                 /* shard 0: the reader, no thread, no batches */
		for (int k = 0; k < BATCHES; k++) {
			batch_t *b = malloc(sizeof *b);
			if (!b) { workers_free(ws); return NULL; }
			b->next = w->free;
			w->free = b;
		}
		if (pthread_create(&w->th, NULL, worker_main, w) != 0) { workers_free(ws); return NULL; }
		w->started = true;
	}
	return ws;
}

void workers_feed(workers_t *ws, int dlt, const uint8_t *frame, uint32_t caplen, double ts, bool flush)
{
	int s = tls_engine_frame_shard(ws->eng, dlt, frame, caplen);
	unsigned wi = s < 0 ? 0 : (unsigned)s % ws->n;
	if (wi == 0) {                            /* the reader's own shard: fed here, no copy */
		tl_now = ts;
		tls_engine_feed_frame(ws->eng, dlt, frame, caplen, ts);
		tl_now = 0;                           /* the reader's other calls keep its own clock */
		return;
	}
	worker_t *w = &ws->w[wi];
	size_t need = rec_size(caplen);
	if (need > BATCH_BYTES) return;           /* larger than any snap length libpcap allows */
	if (w->cur && w->cur->used + need > BATCH_BYTES) push_cur(w);
	if (!w->cur) w->cur = take_free(w);
	frame_hdr_t h = { ts, caplen, dlt };
	memcpy(w->cur->buf + w->cur->used, &h, sizeof h);
	memcpy(w->cur->buf + w->cur->used + sizeof h, frame, caplen);
	w->cur->used += need;
	if (flush) push_cur(w);
}

void workers_drain(workers_t *ws)
{
	if (!ws) return;
	for (unsigned i = 0; i < ws->n; i++) push_cur(&ws->w[i]);
	for (unsigned i = 0; i < ws->n; i++) {
		worker_t *w = &ws->w[i];
		pthread_mutex_lock(&w->mu);
		while (w->q_head || w->busy) pthread_cond_wait(&w->cv_idle, &w->mu);
		pthread_mutex_unlock(&w->mu);
	}
}

void workers_free(workers_t *ws)
{
	if (!ws) return;
	workers_drain(ws);
	for (unsigned i = 0; i < ws->n; i++) {
		worker_t *w = &ws->w[i];
		if (w->started) {
			pthread_mutex_lock(&w->mu);
			w->stop = true;
			pthread_cond_signal(&w->cv_work);
			pthread_mutex_unlock(&w->mu);
			pthread_join(w->th, NULL);
		}
		free(w->cur);
		while (w->free) { batch_t *b = w->free; w->free = b->next; free(b); }
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv_work);
		pthread_cond_destroy(&w->cv_idle);
	}
	free(ws->w);
	free(ws);
}
