/*
 * workers.h — captls --threads N: the reader feeds engine shard 0 itself, N - 1 worker
 * threads feed shards 1 .. N-1 (see workers.c).
 */
#ifndef CAPTLS_WORKERS_H
#define CAPTLS_WORKERS_H

#include <stdbool.h>
#include <stdint.h>
#include "tls_engine.h"

typedef struct workers workers_t;

/* Start n - 1 worker threads for shards 1 .. n-1 of eng (which should have n shards; the
 * caller's thread, through workers_feed, is shard 0's). NULL on failure. */
workers_t *workers_start(tls_engine_t *eng, unsigned n);
/* Reader side: feed one frame (link type dlt) of shard 0 now (callbacks run here), or copy
 * it to the worker of its shard. flush hands the batch over at once (live capture: no
 * frame waits for the batch to fill). May wait while that worker's batches are all queued. */
void workers_feed(workers_t *ws, int dlt, const uint8_t *frame, uint32_t caplen, double ts, bool flush);
/* Hand over every partial batch and wait until every worker has fed all it was given. */
void workers_drain(workers_t *ws);
/* On a worker thread or the reader: the capture time of the frame being fed (callbacks
 * run inside it); 0 on a thread that never fed one. */
double workers_now(void);
/* Drain, stop and join the workers, free everything. */
void workers_free(workers_t *ws);

#endif
