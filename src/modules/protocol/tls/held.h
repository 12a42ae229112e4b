/*
 * held.h — the queue of TLS records one direction holds back: records that wait for a key
 * the key log has not brought yet, or for a handshake message of the other direction
 * (hs_gate.c).
 *
 * Why a queue of its own: with a key log configured, every session whose keys never come
 * holds its records until the wait ends; thousands of such sessions at once (a keyless
 * flood) must not cost a malloc/free and a wipe per record. Records are packed into chunks
 * (bump allocation, FIFO release) so a direction costs a few allocations whatever it holds.
 */
#ifndef PTLS_HELD_H
#define PTLS_HELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hold_chunk hold_chunk_t;

/* Chunks released by queues, kept for reuse (per engine): in steady state holding costs
 * no allocation and touches no fresh memory. Bounded by max_cached bytes. */
typedef struct hold_pool {
	hold_chunk_t *free[6];       /* per chunk size class (held.c) */
	size_t cached, max_cached;
} hold_pool_t;

typedef struct held_rec {
	struct held_rec *next;
	hold_chunk_t *chunk;         /* NULL: allocated alone */
	bool plain;                  /* already decrypted (wiped on release) */
	uint8_t type;
	uint16_t version;
	size_t len;
	double ts;
	uint64_t seq;                /* arrival order within the flow (both directions) */
	uint8_t data[];
} held_rec_t;

typedef struct held_queue {
	held_rec_t *head, *tail;
	hold_chunk_t *chunks, *chunks_tail;   /* oldest first */
	size_t bytes;                /* payload bytes held */
	size_t mem;                  /* bytes allocated for them (chunks and lone records) */
	hold_pool_t *pool;           /* where chunks come from and go back to (may be NULL) */
} held_queue_t;

/* Append (or, with at_head, put in front of the queue) a copy of data, seq being its
 * arrival order in the flow. Returns false on allocation failure. */
bool held_push(held_queue_t *q, bool at_head, bool plain, uint8_t type, uint16_t version,
               const uint8_t *data, size_t len, double ts, uint64_t seq);
/* Remove and release the first record (its data is invalid afterwards). */
void held_pop(held_queue_t *q);
/* Release everything. */
void held_clear(held_queue_t *q);
/* Free the chunks a pool keeps. */
void hold_pool_free(hold_pool_t *p);

#endif
