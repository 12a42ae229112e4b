/*
 * clock.c — engine time from capture stamps, robust against outliers and clock steps
 * (see clock.h for the rules and why).
 */
#include <math.h>
#include "clock.h"

double clock_observe(eng_clock_t *c, double ts)
{
	if (!isfinite(ts))
		return c->now;
	if (!c->init) {
		c->init = true;
		c->now = ts;
		return c->now;
	}
	double t = ts + c->off;
	double d = t - c->now;
	if (d >= -CLOCK_BACK_TOLERANCE && d <= CLOCK_FWD_TOLERANCE) {
		c->cand_n = 0;
		if (t > c->now) c->now = t;
		return c->now;
	}
	/* outlier: one frame stamped far away moves nothing; a run of agreeing ones is a step */
	c->outliers++;
	if (c->cand_n && fabs(t - c->cand) <= CLOCK_FWD_TOLERANCE) {
		c->cand = t > c->cand ? t : c->cand;
		c->cand_n++;
	} else {
		c->cand = t;
		c->cand_n = 1;
	}
	if (c->cand_n >= CLOCK_CONFIRM) {
		c->steps++;
		if (c->cand > c->now) c->now = c->cand;      /* time really jumped ahead */
		else c->off += c->now - c->cand;              /* stepped back: continue from now */
		c->cand_n = 0;
	}
	return c->now;
}
