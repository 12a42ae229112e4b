/*
 * genverify.h — the one check every generated-capture test makes: what the engine
 * delivered for a tlsgen capture equals what the OpenSSL peers wrote — every message
 * once, in order, byte-exact — with one final, correct session report per connection.
 */
#ifndef TESTS_GENVERIFY_H
#define TESTS_GENVERIFY_H

#include "testutil.h"
#include "tlsgen.h"

enum {
	GV_CHECK_EMS_RESUMED = 1,   /* session ems/resumed flags must match the negotiated ones */
	GV_KEY_NOT_RSA = 2,         /* key kind must be keylog, ecdhe-static or resumption */
};

/* Returns 1 when everything matches; prints a TAP diagnostic per mismatch. */
int gv_verify(const tlsgen_result_t *g, const tu_run_t *r, const char *label, unsigned flags);

#endif
