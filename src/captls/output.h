/*
 * output.h — captls's stdout formats: human-readable text and JSON Lines (one object per
 * line, "type":"message" / "type":"session"), the latter exactly as design.md's
 * `captls` contract specifies.
 */
#ifndef CAPTLS_OUTPUT_H
#define CAPTLS_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include "tls_engine.h"

typedef enum out_format { OUT_TEXT = 0, OUT_JSON = 1 } out_format_t;

typedef struct out_ctx out_ctx_t;

/* A writer of `fmt` records to `f` (not closed by out_free). `line_flush`: flush after
 * every record (live captures). NULL on allocation failure. */
out_ctx_t *out_new(FILE *f, out_format_t fmt, bool line_flush);

/* Write one decrypted message record. Returns 0, or -1 once writing to the stream has
 * failed (see out_error); later calls then do nothing and return -1. */
int out_message(out_ctx_t *o, const tls_message_t *m);

/* Write one session record (call it once per session, at final). Same return as above. */
int out_session(out_ctx_t *o, const tls_session_info_t *s);

/* Flush. Returns 0, or -1 if any write failed. */
int out_flush(out_ctx_t *o);

/* errno of the first failed write (EPIPE when the reader went away), or 0. */
int out_error(const out_ctx_t *o);

/* Free the writer (does not close the stream). NULL is fine. */
void out_free(out_ctx_t *o);

/* ---- helpers shared with captls.c (and usable by tests) ---- */

/* Standard base64 (RFC 4648 alphabet, '=' padding) of in[0..len) into out, which must
 * hold base64_len(len) bytes; NUL-terminated. Returns the string length. */
size_t base64_encode(const uint8_t *in, size_t len, char *out);
/* Buffer size base64_encode needs for `len` input bytes (including the NUL). */
size_t base64_len(size_t len);

/* "ip:port", IPv6 as "[addr]:port", into buf. Returns buf. */
char *fmt_endpoint(int family, const uint8_t *ip, uint16_t port, char *buf, size_t buflen);

/* "sip", "http" or "raw". */
const char *app_name(tls_app_t a);

/* IANA suite name; for suites the engine does not name, "0xC0FF"; for 0, NULL. The
 * returned pointer is to static or thread-local storage. */
const char *suite_label(uint16_t suite);

/* The engine's counters for --stats, a few "captls: ..." lines on f. */
void out_print_engine_stats(FILE *f, tls_engine_t *e);

#endif
