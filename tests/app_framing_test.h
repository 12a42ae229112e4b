/*
 * app_framing_test.h — what the files of app_framing_test share: the collector of
 * emitted messages (with the checks on it), the pushes that feed the framer one heap copy
 * per record, the SIP/HTTP stream builders, the deterministic PRNG, and the test groups
 * main() runs.
 *
 * Why: the framing tests are split by subject (SIP, HTTP, raw, random splits, gaps; one
 * file each) but all check the same property the same way; the tools are written once
 * in app_framing_test_util.c. All files share one TAP counter (TAP_SHARED_STATE, defined
 * in app_framing_test_util.c), so include this header instead of tap.h.
 */
#ifndef TESTS_APP_FRAMING_TEST_H
#define TESTS_APP_FRAMING_TEST_H

#ifdef PTLS_TAP_H
#error "include app_framing_test.h before tap.h: the test's files share one TAP counter"
#endif
#define TAP_SHARED_STATE
#include "tap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app_framing.h"

/* ---- collector (app_framing_test_util.c) ---- */

/* One emitted message, copied. */
typedef struct rec {
	int dir;
	tls_app_t app;
	bool ka;
	uint8_t *data;
	size_t len;
	const uint8_t *ptr;       /* address the framer emitted from */
} rec_t;

/* Everything emitted, in order, and per direction the concatenation. */
typedef struct coll {
	rec_t *v;
	size_t n, cap;
	uint8_t *cat[2];
	size_t catlen[2], catcap[2];
} coll_t;

/* realloc that exits (99) when out of memory; n 0 allocates 1 byte. */
void *xrealloc(void *p, size_t n);
/* The framer's emit callback: ctx is a coll_t; the message is copied and appended. */
void on_emit(void *ctx, int dir, tls_app_t app, const uint8_t *data, size_t len, bool ka);
/* Free a collector's messages and concatenations and zero it. */
void coll_free(coll_t *c);
/* Push data as a fresh heap copy, freed right after the call; returns the push's result. */
int push_copy(app_framing_t *f, int dir, const void *data, size_t len, coll_t *c);
/* Push s[0..len) to dir cut at cuts[] (ascending offsets), then flush if flush. Returns
 * the pushes' results or'ed. */
int push_cuts(app_framing_t *f, int dir, const void *s, size_t len, const size_t *cuts,
              size_t ncuts, coll_t *c, bool flush);
/* One direction (c2s), one framer with max_message max: push with cuts, flush, free. */
int frame(const void *s, size_t len, const size_t *cuts, size_t ncuts, uint32_t max,
          coll_t *c);
/* Direction dir's concatenation equals s[0..len). */
bool cat_ok(const coll_t *c, int dir, const void *s, size_t len);
/* Same messages (optionally ignoring keep-alives, whose grouping depends on the cuts). */
bool same_msgs(const coll_t *a, const coll_t *b, bool skip_ka);
/* Message i is an app message (not a keep-alive) equal to s[0..len). */
bool msg_is(const coll_t *c, size_t i, tls_app_t app, const void *s, size_t len);
/* Messages of kind app, keep-alives not counted. */
size_t count_app(const coll_t *c, tls_app_t app);
/* The k-th message of direction dir, or NULL. */
const rec_t *nth_dir(const coll_t *c, int dir, size_t k);
/* r is an app message (not a keep-alive) equal to the string s. */
bool rec_is(const rec_t *r, tls_app_t app, const char *s);

/* ---- builders ---- */

/* Growable NUL-terminated byte string. */
typedef struct sbuf { char *p; size_t n, cap; } sbuf_t;

/* Append n bytes of s. */
void sb_add(sbuf_t *b, const void *s, size_t n);
/* Append the string s. */
void sb_str(sbuf_t *b, const char *s);
/* Append a SIP message (start line, headers, body) with a correct Content-Length. */
void sip_msg(sbuf_t *b, const char *start, const char *hdrs, const char *body);
extern const char *SIP_HDRS;              /* a typical INVITE's headers (no Content-Length) */
extern const char *SDP;                   /* a typical SDP body */

/* ---- deterministic PRNG (xorshift64*) ---- */

extern uint64_t rng_s;                    /* its state: seed it before use */
/* Next 64 bits. */
uint64_t rnd(void);
/* Uniform in [0, n); 0 for n == 0. */
size_t rnd_below(size_t n);
/* Random ascending cut points in (0, len), at most maxcuts; returns how many. */
size_t random_cuts(size_t len, size_t *cuts, size_t maxcuts);

/* ---- the test groups (each reports TAP cases) ---- */

void test_sip_basic(void);      /* app_framing_test_sip.c */
void test_sip_multi(void);
void test_sip_headers(void);
void test_sip_keepalive(void);
void test_sip_large(void);
void test_sip_hostile(void);
void test_http(void);           /* app_framing_test_http.c */
void test_raw(void);            /* app_framing_test_raw.c */
void test_random_splits(void);  /* app_framing_test_random.c */
void test_fuzz(void);
void test_gaps(void);           /* app_framing_test_gaps.c */

#endif
