/*
 * clock.h — the engine's one notion of time.
 *
 * Why: capture timestamps are not trustworthy. One frame stamped ten years ahead must not
 * make every flow look idle (and evict it), a capture host whose clock steps back must not
 * freeze timers for an hour, and merged capture queues deliver slightly backwards stamps
 * all the time. Every timer in the engine (idle eviction, key-log waits, reset linger, ACKed
 * holes) runs on engine time from here, never on raw packet stamps.
 *
 * Engine time is monotonic: a packet stamp within [now - BACK, now + FWD] moves it forward
 * (or not at all); an outlier stamp leaves it alone (the packet is processed at `now`) until
 * CONFIRM consecutive outliers agree with each other: then it is a real clock step. A step
 * forward is adopted (time really passed); a step back is absorbed into an offset so that
 * engine time continues from where it was.
 */
#ifndef PTLS_CLOCK_H
#define PTLS_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define CLOCK_BACK_TOLERANCE 5.0      /* s a stamp may lag engine time and still count */
#define CLOCK_FWD_TOLERANCE  21600.0  /* s a stamp may lead engine time and still count (6 h) */
#define CLOCK_CONFIRM        3        /* consecutive agreeing outliers that make a step */

typedef struct eng_clock {
	bool init;
	double now;          /* engine time (monotonic) */
	double off;          /* added to packet stamps (absorbed backward steps) */
	double cand;         /* pending outlier stamp (with off applied) */
	unsigned cand_n;     /* consecutive outliers agreeing with cand */
	uint64_t outliers;   /* stamps not taken as time */
	uint64_t steps;      /* clock steps adopted */
} eng_clock_t;

/* Observe the capture stamp `ts` of one packet; returns the engine time at which the
 * packet is processed (always the new `now`). Never moves time backwards. */
double clock_observe(eng_clock_t *c, double ts);

/* Current engine time. */
static inline double clock_now(const eng_clock_t *c) { return c->now; }

#endif
