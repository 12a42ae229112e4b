/*
 * keywait.c — captls's key-log listener helpers (implements keywait.h).
 *
 * Why: with -r the capture's clock stops at the end of the file, so sessions whose
 * key-log lines are still on their way over UDP (--keylog-listen) would be given up at
 * once by tls_engine_flush. They get up to keylog-wait seconds of wall time instead; the
 * engine retries them whenever the key logs grew (bounded: one retry per waiting session
 * per growth).
 */
#include "keywait.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

size_t keywait_run(tls_engine_t *e, uint32_t secs, volatile sig_atomic_t *stop, int verbose)
{
	struct timespec t0, now, nap = { 0, 20 * 1000 * 1000 };
	size_t waiting = tls_engine_wait_keys(e);
	if (!waiting || !secs) return waiting;
	fflush(stdout);                       /* what is decrypted already becomes visible */
	if (verbose)
		fprintf(stderr, "captls: %zu session(s) wait for key-log lines (up to %u s)\n", waiting, secs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!*stop && (waiting = tls_engine_wait_keys(e)) > 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 >= secs) break;
		nanosleep(&nap, NULL);
	}
	if (waiting && verbose)
		fprintf(stderr, "captls: %zu session(s) got no key-log lines within %u s\n", waiting, secs);
	return waiting;
}

void keywait_print_stats(kl_listener_t *const *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		kl_listener_stats_t ks;
		kl_listener_get_stats(l[i], &ks);
		fprintf(stderr, "captls: key-log listener %s: datagrams %llu, lines %llu (new secrets %llu), "
		        "malformed %llu, ignored %llu, rejected senders %llu, oversize %llu\n",
		        kl_listener_describe(l[i]), (unsigned long long)ks.datagrams,
		        (unsigned long long)ks.lines, (unsigned long long)ks.secrets_new,
		        (unsigned long long)ks.malformed, (unsigned long long)ks.ignored,
		        (unsigned long long)ks.rejected, (unsigned long long)ks.oversize);
	}
}

bool keywait_output_is_pipe(const char *path)
{
	struct stat st;
	if (!strcmp(path, "-"))
		return fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
	return stat(path, &st) == 0 && S_ISFIFO(st.st_mode);
}
