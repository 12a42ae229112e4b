/*
 * workers.h — captls --threads: one reader, N worker threads, worker i feeds engine
 * shard i (see workers.c).
 */
#ifndef CAPTLS_WORKERS_H
#define CAPTLS_WORKERS_H

#include <stdbool.h>
#include <stdint.h>
#include "tls_engine.h"

typedef struct workers workers_t;

/* Start n workers feeding eng (which should have n shards). NULL on failure. */
workers_t *workers_start(tls_engine_t *eng, unsigned n);
/* Reader side: copy one frame (link type dlt) to the worker of its shard. flush hands the batch over at
 * once (live capture: no frame waits for the batch to fill). May wait while that
 * worker's batches are all queued. */
void workers_feed(workers_t *ws, int dlt, const uint8_t *frame, uint32_t caplen, double ts, bool flush);
/* Hand over every partial batch and wait until every worker has fed all it was given. */
void workers_drain(workers_t *ws);
/* On a worker thread: the capture time of the frame being fed (callbacks run inside
 * it); 0 on any other thread. */
double workers_now(void);
/* Drain, stop and join the workers, free everything. */
void workers_free(workers_t *ws);

#endif
