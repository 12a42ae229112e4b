/*
 * app_framing_test_gaps.c — gaps in the plaintext (bytes lost in the capture): a message
 * a gap cuts is never emitted, dropped and counted; framing resumes at the next start
 * line; raw streams stay raw after a gap.
 *
 * Why: Homer's capture plan hands everything to parse_sip, so a partial message must not
 * reach it, and one loss must not stop the rest of the stream from being framed.
 */
#include "app_framing_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A message that a gap cut is never emitted (not as SIP/HTTP, not as raw): Homer's
 * capture plan hands everything to parse_sip. Dropped and counted; framing resumes at the
 * next start line. Raw streams stay raw after a gap. */
void test_gaps(void)
{
	sbuf_t m1 = {0}, m2 = {0}, m3 = {0};
	sip_msg(&m1, "INVITE sip:bob@example.com SIP/2.0", SIP_HDRS, SDP);
	sip_msg(&m2, "SIP/2.0 200 OK", SIP_HDRS, SDP);
	sip_msg(&m3, "BYE sip:bob@example.com SIP/2.0", SIP_HDRS, "");
	size_t body2 = m2.n - strlen(SDP);           /* where m2's body starts */
	for (int where = 0; where < 3; where++) {
		/* the gap cuts m2 inside its header section (0), its body (1), or right after its
		 * start line (2); some of its bytes are lost, the rest arrives after the gap */
		size_t cut = where == 0 ? 40 : where == 1 ? body2 + 10 : strlen("SIP/2.0 200 OK\r\n");
		size_t lost = 7;
		app_framing_t f;
		coll_t c = {0};
		app_framing_init(&f, 0);
		push_copy(&f, TLS_DIR_S2C, m1.p, m1.n, &c);
		push_copy(&f, TLS_DIR_S2C, m2.p, cut, &c);
		app_framing_gap(&f, TLS_DIR_S2C);
		push_copy(&f, TLS_DIR_S2C, m2.p + cut + lost, m2.n - cut - lost, &c);
		push_copy(&f, TLS_DIR_S2C, m3.p, m3.n, &c);
		app_framing_flush(&f, TLS_DIR_S2C, on_emit, &c);
		const app_dir_state_t *d = &f.dir[TLS_DIR_S2C];
		tap_ok(c.n == 2 && msg_is(&c, 0, TLS_APP_SIP, m1.p, m1.n) && msg_is(&c, 1, TLS_APP_SIP, m3.p, m3.n) &&
		       d->n_gap_cut == 1 && d->gap_dropped == m2.n - lost,
		       "SIP message cut by a gap (%s): not emitted at all, the next one framed, 1 cut / %llu bytes counted",
		       where == 0 ? "in its headers" : where == 1 ? "in its body" : "after its start line",
		       (unsigned long long)d->gap_dropped);
		app_framing_free(&f);
		coll_free(&c);
	}
	{
		/* the gap swallowed the start of m2: its tail (after an idle point) is dropped */
		app_framing_t f;
		coll_t c = {0};
		app_framing_init(&f, 0);
		push_copy(&f, TLS_DIR_C2S, m1.p, m1.n, &c);
		app_framing_gap(&f, TLS_DIR_C2S);
		size_t tail = m2.n - body2 + 20;           /* tail with a CRLF-terminated header line first */
		push_copy(&f, TLS_DIR_C2S, m2.p + m2.n - tail, tail, &c);
		push_copy(&f, TLS_DIR_C2S, m3.p, m3.n, &c);
		const app_dir_state_t *d = &f.dir[TLS_DIR_C2S];
		tap_ok(c.n == 2 && msg_is(&c, 1, TLS_APP_SIP, m3.p, m3.n) && d->n_gap_cut == 1 && d->gap_dropped == tail,
		       "tail of a message whose start a gap lost: dropped and counted, not raw (%zu messages)", c.n);
		app_framing_free(&f);
		coll_free(&c);
		/* a gap exactly between messages cuts nothing */
		app_framing_init(&f, 0);
		push_copy(&f, TLS_DIR_C2S, m1.p, m1.n, &c);
		app_framing_gap(&f, TLS_DIR_C2S);
		push_copy(&f, TLS_DIR_C2S, m3.p, m3.n, &c);
		tap_ok(c.n == 2 && msg_is(&c, 1, TLS_APP_SIP, m3.p, m3.n) && f.dir[0].n_gap_cut == 0 && f.dir[0].gap_dropped == 0,
		       "gap on a message boundary: nothing dropped");
		app_framing_free(&f);
		coll_free(&c);
	}
	{
		/* HTTP: a chunked response cut by a gap; the next response is framed */
		static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
		static const char r1[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
		static const char r2[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n";
		app_framing_t f;
		coll_t c = {0};
		app_framing_init(&f, 0);
		push_copy(&f, TLS_DIR_C2S, req, sizeof req - 1, &c);
		push_copy(&f, TLS_DIR_S2C, r1, 50, &c);
		app_framing_gap(&f, TLS_DIR_S2C);
		push_copy(&f, TLS_DIR_S2C, r1 + 60, sizeof r1 - 61, &c);
		push_copy(&f, TLS_DIR_S2C, r2, sizeof r2 - 1, &c);
		const rec_t *a = nth_dir(&c, 1, 0);
		tap_ok(a && rec_is(a, TLS_APP_HTTP, r2) && !nth_dir(&c, 1, 1) && f.dir[1].n_gap_cut == 1 &&
		       f.dir[1].gap_dropped == sizeof r1 - 11,
		       "HTTP chunked response cut by a gap: not emitted, the next response framed");
		app_framing_free(&f);
		coll_free(&c);
	}
	{
		/* a raw stream keeps its bytes after a gap (there is no message to cut) */
		static const uint8_t bin[] = { 0x00, 0x00, 0x12, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x10, 0x0d, 0x0a };
		app_framing_t f;
		coll_t c = {0};
		app_framing_init(&f, 0);
		push_copy(&f, TLS_DIR_C2S, bin, sizeof bin, &c);
		app_framing_gap(&f, TLS_DIR_C2S);
		push_copy(&f, TLS_DIR_C2S, bin, sizeof bin, &c);
		tap_ok(c.n == 2 && count_app(&c, TLS_APP_RAW) == 2 && c.catlen[0] == 2 * sizeof bin &&
		       f.dir[0].n_gap_cut == 0 && f.dir[0].gap_dropped == 0, "raw stream: bytes after a gap still emitted raw");
		app_framing_free(&f);
		coll_free(&c);
	}
	free(m1.p);
	free(m2.p);
	free(m3.p);
}
