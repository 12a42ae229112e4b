/*
 * log.c — the engine's diagnostics: rate-limited lines to the on_log callback (at most
 * LOG_PER_SECOND warnings per second of engine time; the count of suppressed lines is
 * logged when the limit lifts). Every layer logs through here; lines never hold secrets.
 */
#include <stdio.h>
#include "engine_internal.h"

#define LOG_PER_SECOND 20

void eng_log(struct tls_engine *e, int level, const char *fmt, ...)
{
	if (!e->cb.on_log) return;
	if (level > 4) {
		/* info/debug: not rate limited but only when asked for (level filter is the sink's) */
	} else {
		if (e->now - e->log_window_start >= 1.0 || e->now < e->log_window_start) {
			if (e->log_suppressed) {
				char b[96];
				snprintf(b, sizeof b, "%llu log lines suppressed (rate limit)", (unsigned long long)e->log_suppressed);
				e->cb.on_log(e->cb.user, 4, b);
			}
			e->log_window_start = e->now;
			e->log_in_window = 0;
			e->log_suppressed = 0;
		}
		if (++e->log_in_window > LOG_PER_SECOND) { e->log_suppressed++; return; }
	}
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	e->cb.on_log(e->cb.user, level, line);
}
