/*
 * workers.c — captls --threads N: the reader (the main thread) feeds engine shard 0
 * itself and N - 1 worker threads feed shards 1 .. N-1. The reader asks the engine which
 * shard a frame belongs to (tls_engine_frame_shard): a shard-0 frame is fed at once, in
 * place (no copy); any other is appended to that worker's current batch, and batches go
 * to the worker through a small queue. A flow always lands on the same shard, whose
 * frames are fed in capture order by one thread at a time, so per-flow output order and
 * content are those of one thread. Why the reader takes a shard: N threads for N cores
 * (a separate reader thread competed with the workers for the cores), and one frame in N
 * is never copied.
 *
 * But the reader also reads and routes every frame: on bulk data it had twice the
 * worker's CPU while the worker idled. So while a worker idles, the reader lends it
 * shard 0's frames (copied into that worker's batch, behind its own), LEND_BYTES at most:
 * lent without bound, the frames the reader routed in the 200 us before the batch went
 * out held milliseconds of RSA, and the reader then waited for them. Once that batch is
 * queued, new shard-0 frames wait in the reader's own batch until the worker has
 * fed the lent ones, and then the reader feeds them itself. Shard 0 is thus fed by one
 * thread at a time, in capture order, whichever thread it is.
 *
 * A batch goes to its worker when it is full, and also when the worker has nothing left
 * to do and the batch's first frame waited HUNGRY_WAIT: a worker waiting for the reader
 * to fill a batch sat idle for a fifth of a 2-thread handshake run (the reader, busy with
 * its own shard's RSA, fills batches slowly). Not at once: on bulk data, where the worker
 * keeps up, handing over every frame as it came cost a wake-up per frame (+30 % CPU).
 *
 * Memory is bounded: each worker owns BATCHES batches of BATCH_BYTES, the reader one for
 * deferred shard-0 frames; when all of a worker's are queued the reader waits (back-
 * pressure; with -i the kernel's capture buffer absorbs it), as it does when its own is
 * full before the lent frames are fed. Batches are reused: the steady state allocates
 * nothing.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "workers.h"

#define BATCH_BYTES (257u * 1024)   /* any frame fits (snap length <= 262144) */
#define BATCHES 4
#define HUNGRY_WAIT 200e-6   /* seconds a frame may wait in a batch while its worker idles */
#define LEND_BYTES (64u * 1024)   /* shard-0 frame bytes lent at a time */

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
	double cur_since;             /* when cur got its first frame (reader-owned) */
	bool cur_has0;                /* cur holds lent shard-0 frames (reader-owned) */
	size_t cur_lent;              /* their bytes */
	uint64_t pushed;              /* batches queued so far (reader-owned) */
	_Atomic uint64_t done;        /* batches fed so far (worker-written) */
	bool busy, stop, started;
	atomic_bool hungry;           /* the worker waits and its queue is empty */
	struct workers *ws;
} worker_t;

struct workers {
	tls_engine_t *eng;
	unsigned n;
	worker_t *w;
	/* shard 0's frames lent to a worker (see workers_feed): all reader-owned */
	int deleg;                    /* the worker holding some, or -1 */
	uint64_t deleg_seq;           /* they are all fed once its done reaches this */
	bool deferring;               /* that worker is busy: new ones wait in own */
	batch_t *own;                 /* shard-0 frames waiting for the lent ones */
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
		if (!w->q_head && !w->stop) {
			atomic_store_explicit(&w->hungry, true, memory_order_relaxed);
			while (!w->q_head && !w->stop) pthread_cond_wait(&w->cv_work, &w->mu);
		}
		if (!w->q_head) break;                 /* stop, queue empty */
		batch_t *b = w->q_head;
		w->q_head = b->next;
		if (!w->q_head) w->q_tail = NULL;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);
		feed_batch(w->ws, b);
		pthread_mutex_lock(&w->mu);
		atomic_fetch_add_explicit(&w->done, 1, memory_order_release);
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
	w->pushed++;
	if (w->cur_has0) {
		w->ws->deleg_seq = w->pushed;
		w->cur_has0 = false;
		w->cur_lent = 0;
	}
	atomic_store_explicit(&w->hungry, false, memory_order_relaxed);
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
	ws->deleg = -1;
	ws->w = calloc(n, sizeof *ws->w);
	ws->own = malloc(sizeof *ws->own);
	if (!ws->w || !ws->own) { free(ws->w); free(ws->own); free(ws); return NULL; }
	ws->own->used = 0;
	for (unsigned i = 0; i < n; i++) {
		worker_t *w = &ws->w[i];
		w->ws = ws;
		atomic_init(&w->hungry, false);
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

static double mono_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Hand each idle worker its partial batch if that waited HUNGRY_WAIT (the clock is read
 * only when some worker is idle with frames waiting). */
static void feed_hungry(struct workers *ws)
{
	double now = 0;
	for (unsigned i = 1; i < ws->n; i++) {
		worker_t *w = &ws->w[i];
		if (!w->cur || !w->cur->used || !atomic_load_explicit(&w->hungry, memory_order_relaxed)) continue;
		if (now == 0) now = mono_now();
		if (now - w->cur_since >= HUNGRY_WAIT) push_cur(w);
	}
}

/* Copy a frame to the end of b (which has room: the caller checked with rec_size). */
static void batch_add(batch_t *b, int dlt, const uint8_t *frame, uint32_t caplen, double ts)
{
	frame_hdr_t h = { ts, caplen, dlt };
	memcpy(b->buf + b->used, &h, sizeof h);
	memcpy(b->buf + b->used + sizeof h, frame, caplen);
	b->used += rec_size(caplen);
}

/* Copy a frame (lent: of shard 0) into w's current batch; hand the batch over when
 * full, when flush, or when w idles (feed_hungry). */
static void to_worker(struct workers *ws, worker_t *w, int dlt, const uint8_t *frame, uint32_t caplen, double ts,
                      bool lent, bool flush)
{
	if (w->cur && w->cur->used + rec_size(caplen) > BATCH_BYTES) push_cur(w);
	if (!w->cur) w->cur = take_free(w);
	if (!w->cur->used) w->cur_since = mono_now();
	batch_add(w->cur, dlt, frame, caplen, ts);
	if (lent) {
		w->cur_has0 = true;
		w->cur_lent += caplen;
	}
	if (flush || w->cur_lent >= LEND_BYTES) push_cur(w);
	else feed_hungry(ws);
}

/* Feed a shard-0 frame here (callbacks run on this thread). */
static void feed_here(struct workers *ws, int dlt, const uint8_t *frame, uint32_t caplen, double ts)
{
	tl_now = ts;
	tls_engine_feed_frame(ws->eng, dlt, frame, caplen, ts);
	tl_now = 0;                               /* the reader's other calls keep its own clock */
}

/* Lent shard-0 frames all fed: shard 0 is the reader's again, starting with those it
 * deferred meanwhile. wait: block until then; else only if they are. */
static void take_back(struct workers *ws, bool wait)
{
	if (ws->deleg < 0) return;
	worker_t *d = &ws->w[ws->deleg];
	if (wait) {
		push_cur(d);                          /* (if it holds lent frames: sets deleg_seq) */
		pthread_mutex_lock(&d->mu);
		while (atomic_load_explicit(&d->done, memory_order_acquire) < ws->deleg_seq)
			pthread_cond_wait(&d->cv_idle, &d->mu);
		pthread_mutex_unlock(&d->mu);
	} else if (d->cur_has0 || atomic_load_explicit(&d->done, memory_order_acquire) < ws->deleg_seq) {
		return;
	}
	ws->deleg = -1;
	ws->deferring = false;
	feed_batch(ws, ws->own);
	tl_now = 0;
}

void workers_feed(workers_t *ws, int dlt, const uint8_t *frame, uint32_t caplen, double ts, bool flush)
{
	int s = tls_engine_frame_shard(ws->eng, dlt, frame, caplen);
	unsigned wi = s < 0 ? 0 : (unsigned)s % ws->n;
	if (rec_size(caplen) > BATCH_BYTES) {     /* larger than any snap length libpcap allows */
		if (wi != 0) return;                  /* (no batch takes it) */
		take_back(ws, true);
		feed_here(ws, dlt, frame, caplen, ts);
		return;
	}
	take_back(ws, false);
	if (wi != 0) {
		to_worker(ws, &ws->w[wi], dlt, frame, caplen, ts, false, flush);
		return;
	}
	/* Shard 0: the reader's. While a worker idles, its frames are lent to that worker (the
	 * reader also reads and routes: on bulk data it had twice the worker's CPU); once that
	 * worker has more queued, they wait in own until it has fed the lent ones, then the
	 * reader feeds them itself: a shard's frames are fed in capture order, one thread at
	 * a time, whichever thread it is. Deferred frames wait for the next frame (or
	 * workers_drain): with input that trickles (flush) they could wait for output the
	 * capture's sender waits for, so then nothing is lent. */
	if (flush) {                          /* trickling input: nothing lent, nothing waits */
		take_back(ws, true);
	} else if (ws->deleg < 0) {
		for (unsigned i = 1; i < ws->n && ws->deleg < 0; i++)
			if (atomic_load_explicit(&ws->w[i].hungry, memory_order_relaxed)) ws->deleg = (int)i;
	}
	if (ws->deleg < 0) {
		feed_here(ws, dlt, frame, caplen, ts);
		feed_hungry(ws);
		return;
	}
	worker_t *d = &ws->w[ws->deleg];
	if (!ws->deferring && d->pushed != atomic_load_explicit(&d->done, memory_order_relaxed))
		ws->deferring = true;             /* lent ones queued: it is busy again */
	if (!ws->deferring) {
		to_worker(ws, d, dlt, frame, caplen, ts, true, flush);
		return;
	}
	if (ws->own->used + rec_size(caplen) > BATCH_BYTES) {
		take_back(ws, true);
		feed_here(ws, dlt, frame, caplen, ts);
		return;
	}
	batch_add(ws->own, dlt, frame, caplen, ts);
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
	take_back(ws, false);                     /* every lent frame is fed: the deferred ones now */
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
	free(ws->own);
	free(ws);
}
