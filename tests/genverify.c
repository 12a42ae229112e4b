/*
 * genverify.c — implementation of gv_verify (see genverify.h).
 */
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "genverify.h"

/* Messages of one direction of one session against the generator's list. */
static int verify_dir(const tlsgen_conn_t *gc, const tu_run_t *r, uint64_t flow, int d, const char *label, size_t c)
{
	size_t k = 0;
	for (size_t i = 0; i < r->n_msgs; i++) {
		const tu_msg_t *m = &r->msgs[i];
		if (m->flow != flow || m->dir != d) continue;
		while (k < gc->n_msgs && gc->msgs[k].dir != d) k++;
		if (k >= gc->n_msgs) { tap_diag("%s: conn %zu dir %d: extra message (%zu bytes)", label, c, d, m->len); return 0; }
		const tlsgen_msg_t *w = &gc->msgs[k++];
		if (m->len != w->len || memcmp(m->data, w->data, w->len) != 0) {
			tap_diag("%s: conn %zu dir %d: message %zu differs (%zu vs %zu bytes)", label, c, d, k - 1, m->len, w->len);
			return 0;
		}
	}
	while (k < gc->n_msgs && gc->msgs[k].dir != d) k++;
	if (k < gc->n_msgs) { tap_diag("%s: conn %zu dir %d: message %zu missing", label, c, d, k); return 0; }
	size_t gl;
	uint8_t *got = tu_concat(r, flow, d, &gl);
	int ok = gl == gc->plain_len[d] && memcmp(got, gc->plain[d], gl) == 0;
	if (!ok) tap_diag("%s: conn %zu dir %d: stream %zu bytes, want %zu", label, c, d, gl, gc->plain_len[d]);
	free(got);
	return ok;
}

int gv_verify(const tlsgen_result_t *g, const tu_run_t *r, const char *label, unsigned flags)
{
	int ok = 1;
	if (r->n_sess != g->n_conns) {
		tap_diag("%s: %zu sessions reported, %zu connections generated", label, r->n_sess, g->n_conns);
		ok = 0;
	}
	for (size_t c = 0; c < g->n_conns; c++) {
		const tlsgen_conn_t *gc = &g->conns[c];
		const tu_session_t *s = tu_session_by_port(r, gc->client_port);
		if (!s) { tap_diag("%s: conn %zu: no session", label, c); ok = 0; continue; }
		if (!s->decrypted || s->reason != TLS_REASON_NONE) {
			tap_diag("%s: conn %zu: not decrypted (%s)", label, c, tls_reason_name(s->reason));
			ok = 0;
		}
		if (s->final_reports != 1) { tap_diag("%s: conn %zu: %d final reports", label, c, s->final_reports); ok = 0; }
		if (s->version != gc->version || s->suite != gc->suite) {
			tap_diag("%s: conn %zu: version/suite %04x/%04x, want %04x/%04x", label, c, s->version, s->suite,
			         gc->version, gc->suite);
			ok = 0;
		}
		if (flags & GV_CHECK_EMS_RESUMED) {
			if (gc->version < 0x0304 && s->ems != gc->ems) { tap_diag("%s: conn %zu: ems %d want %d", label, c, s->ems, gc->ems); ok = 0; }
			if (s->resumed != gc->resumed) { tap_diag("%s: conn %zu: resumed %d want %d", label, c, s->resumed, gc->resumed); ok = 0; }
		}
		if ((flags & GV_KEY_NOT_RSA) && s->key != TLS_KEY_KEYLOG && s->key != TLS_KEY_ECDHE_STATIC &&
		    s->key != TLS_KEY_RESUMPTION) {
			tap_diag("%s: key kind %s", label, tls_key_kind_name(s->key) ? tls_key_kind_name(s->key) : "null");
			ok = 0;
		}
		for (int d = 0; d < 2 && ok; d++) ok = verify_dir(gc, r, s->flow, d, label, c);
	}
	return ok;
}
