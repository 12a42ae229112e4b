/*
 * keywait.h — captls's side of the key-log listener: waiting in wall time at the end of
 * offline input for sessions whose key-log lines have not arrived yet, the listener
 * counters for --stats, and whether -w output is read while it is written (pipe).
 * Kept out of captls.c so that the main file stays about options and the read loop.
 */
#ifndef CAPTLS_KEYWAIT_H
#define CAPTLS_KEYWAIT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tls_engine.h"
#include "keylog_listen.h"

/* Poll the engine every 20 ms (tls_engine_wait_keys) for up to `secs` seconds of wall
 * time while sessions still wait for key-log secrets, or until *stop is set. Notes on
 * stderr when verbose. Returns the number of sessions still waiting. */
size_t keywait_run(tls_engine_t *e, uint32_t secs, volatile sig_atomic_t *stop, int verbose);

/* One --stats line per listener on stderr. */
void keywait_print_stats(kl_listener_t *const *l, size_t n);

/* True when -w PATH ("-" = stdout) is a pipe, FIFO or socket: someone reads it as it is
 * written, so every packet is flushed. */
bool keywait_output_is_pipe(const char *path);

#endif
