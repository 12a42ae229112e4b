/*
 * pk_unlocked.c — the engine's public-key operations (RSA pre-master decryption, static
 * (EC)DH agreements) run with the shard lock released.
 *
 * Why: an RSA-2048 private operation costs ~0.3 ms, more than everything else a TLS
 * session costs the engine together. Under the shard lock it would hold up every other
 * flow of the shard, i.e. the other capture threads of captagent (or captls workers) that
 * feed it. Here the flow is marked busy and the lock released for the operation alone:
 *   - a busy flow is never touched or freed by another thread: a packet of the same flow
 *     waits (pk_wait_flow, on the shard's condition variable), the timers and evictions
 *     skip it, end of input waits for every busy flow (pk_wait_all);
 *   - the shard's scratch buffer may hold the record being processed (record.c decrypts
 *     whole records there): the busy flow takes that buffer along and leaves a spare one
 *     for the threads that run meanwhile; when it is done the spare goes back to a small
 *     pool (no allocation in steady state);
 *   - the lock is released only where the engine said it may be (e->pk_unlock_ok, a
 *     packet's delivery to its own flow), never while the engine walks shard lists.
 * Everything the operation reads (the key, the flow's own copy of the peer's value) is
 * owned by the busy flow or read-only. The result is identical to the operation under
 * the lock: only other flows' progress changes.
 */
#include <stdlib.h>
#include "engine_internal.h"

/* Test hook (pkunlock_test): called while an operation runs unlocked; NULL otherwise. */
void (*pk_unlocked_hook)(void *arg);
void *pk_unlocked_hook_arg;

/* Release the lock for f's operation; false when it must run locked (not allowed here,
 * or no spare scratch buffer could be had). On true, *mine is the caller's scratch. */
static bool unlock_begin(flow_t *f, uint8_t **mine)
{
	struct tls_engine *e = f->eng;
	if (!e->pk_unlock_ok || f->busy) return false;
	uint8_t *spare = e->n_scratch_spare ? e->scratch_spare[--e->n_scratch_spare] : malloc(SCRATCH_LEN);
	if (!spare) return false;
	*mine = e->scratch;
	e->scratch = spare;
	f->busy = true;
	e->n_busy++;
	pthread_mutex_unlock(&e->lock);
	return true;
}

/* Take the lock back; the scratch buffer the others used goes to the spare pool (nobody
 * holds it: a busy thread swaps its own out), the caller's comes back. */
static void unlock_end(flow_t *f, uint8_t *mine)
{
	struct tls_engine *e = f->eng;
	pthread_mutex_lock(&e->lock);
	if (e->n_scratch_spare < PK_SPARE_MAX) {
		e->scratch_spare[e->n_scratch_spare++] = e->scratch;
	} else {
		tls_wipe(e->scratch, SCRATCH_LEN);
		free(e->scratch);
	}
	e->scratch = mine;
	f->busy = false;
	e->n_busy--;
	e->pk_unlock_ok = true;        /* it was (another thread's packet may have cleared it) */
	pthread_cond_broadcast(&e->busy_cv);
}

int pk_rsa_decrypt(flow_t *f, const ks_key_t *k, const uint8_t *enc, size_t len, uint8_t pms[48])
{
	uint8_t *mine;
	if (!unlock_begin(f, &mine)) return keys_rsa_decrypt_pms(k, enc, len, pms);
	int rc = keys_rsa_decrypt_pms(k, enc, len, pms);
	if (pk_unlocked_hook) pk_unlocked_hook(pk_unlocked_hook_arg);
	unlock_end(f, mine);
	return rc;
}

size_t pk_ecdh(flow_t *f, const ks_key_t *k, const uint8_t *pub, size_t publen, uint8_t *z, size_t cap)
{
	uint8_t *mine;
	if (!unlock_begin(f, &mine)) return keys_ecdh(k, pub, publen, z, cap);
	size_t n = keys_ecdh(k, pub, publen, z, cap);
	unlock_end(f, mine);
	return n;
}

bool pk_wait_flow(struct tls_engine *e, const flow_t *f)
{
	if (!f->busy) return false;
	/* one wait only: once it is not busy, its thread may free it before we run again */
	pthread_cond_wait(&e->busy_cv, &e->lock);
	return true;
}

void pk_wait_all(struct tls_engine *e)
{
	while (e->n_busy) pthread_cond_wait(&e->busy_cv, &e->lock);
}

void pk_free_spares(struct tls_engine *e)
{
	while (e->n_scratch_spare) {
		uint8_t *b = e->scratch_spare[--e->n_scratch_spare];
		tls_wipe(b, SCRATCH_LEN);
		free(b);
	}
}
