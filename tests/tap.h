/*
 * tap.h — minimal TAP (Test Anything Protocol) output for the test programs, read by
 * automake's tap-driver so `make check` counts every case, not just every program.
 */
#ifndef PTLS_TAP_H
#define PTLS_TAP_H
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>

/* One counter per program. A program of several files that all report cases defines
 * TAP_SHARED_STATE before including this header and defines the two counters in one
 * file with TAP_DEFINE_STATE (see modhost.h); single-file programs keep them static. */
#ifdef TAP_SHARED_STATE
extern int tap_n, tap_failed;
#ifdef TAP_DEFINE_STATE
int tap_n, tap_failed;
#endif
#else
static int tap_n, tap_failed;
#endif

/* Record one case: prints "ok N - name" or "not ok N - name". Returns cond. */
static inline int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt); vprintf(fmt, ap); va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond) tap_failed++;
	return cond;
}
/* Record a skipped case with a reason. */
static inline void tap_skip(const char *reason)
{
	printf("ok %d # SKIP %s\n", ++tap_n, reason);
	fflush(stdout);
}
/* Diagnostic line. */
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt); vprintf(fmt, ap); va_end(ap);
	printf("\n");
}
/* Print the plan and return the exit status. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
#endif
