/*
 * testutil.h — shared helpers for the engine tests: run a pcap through an engine and
 * collect every delivered message and final session report, concatenate a flow's
 * direction, read files, make temp dirs, and compare against tlsgen's recorded plaintext.
 */
#ifndef TESTS_TESTUTIL_H
#define TESTS_TESTUTIL_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "tls_engine.h"

typedef struct tu_msg {
	uint64_t flow;
	int dir;
	tls_app_t app;
	bool keepalive;
	uint8_t *data;
	size_t len;
	double ts;
} tu_msg_t;

typedef struct tu_session {
	uint64_t flow;
	tls_endpoints_t ep;
	uint16_t version, suite;
	char sni[256];
	bool resumed, ems, decrypted;
	tls_key_kind_t key;
	tls_reason_t reason;
	int final_reports;          /* how many final reports this flow got (must be 1) */
#ifdef TLS_SESSION_HAS_LOSS
	uint64_t gaps[2], lost_bytes[2];  /* per direction, from the last report */
#endif
} tu_session_t;

typedef struct tu_run {
	tu_msg_t *msgs;
	size_t n_msgs, cap_msgs;
	tu_session_t *sess;
	size_t n_sess, cap_sess;
	tls_engine_stats_t st;
	int feed_errors;
} tu_run_t;

/* Feed every frame of `pcap` to a new engine over the given keystores (cfg NULL: defaults),
 * flush, and collect into *r. Returns 0, or -1 if the pcap cannot be read. */
int tu_run_pcap(const char *pcap, tls_keystore_t *const *stores, size_t nstores,
                const tls_engine_config_t *cfg, tu_run_t *r);
/* Same, but feeds the frames to an existing engine (no flush, no free). */
int tu_feed_pcap(tls_engine_t *e, const char *pcap);
/* Callbacks that collect into a tu_run_t (user = the tu_run_t). */
extern const tls_callbacks_t tu_callbacks_template;
/* tu_callbacks for an engine fed by several threads at once: every callback runs under
 * one process-wide mutex. */
tls_callbacks_t tu_locked_callbacks(tu_run_t *r);
tls_callbacks_t tu_callbacks(tu_run_t *r);
void tu_run_free(tu_run_t *r);
/* Number of sessions (flows reported) with the given client port. */
size_t tu_sessions_with_port(const tu_run_t *r, uint16_t client_port);
/* Session with the given client port, or NULL. */
const tu_session_t *tu_session_by_port(const tu_run_t *r, uint16_t client_port);
/* Concatenation of all messages of (flow, dir). Caller frees. */
uint8_t *tu_concat(const tu_run_t *r, uint64_t flow, int dir, size_t *len);
/* Number of messages of (flow, dir). */
size_t tu_count(const tu_run_t *r, uint64_t flow, int dir);
/* The frames of a pcap file, loaded into memory (so they can be fed without I/O). */
typedef struct tu_frames { uint8_t **d; size_t *len; double *ts; size_t n; int dlt; } tu_frames_t;
/* Load every frame of `path`. Returns 0, or -1 (message on stderr) if it cannot be read. */
int tu_load_frames(const char *path, tu_frames_t *fr);
void tu_free_frames(tu_frames_t *fr);
/* Read a whole file. Returns 0 / -1. */
int tu_read_file(const char *path, uint8_t **data, size_t *len);
/* Create a fresh temp dir (static storage). */
const char *tu_tmpdir(void);
/* Keystore with one key file (password may be NULL); aborts the test on failure. */
tls_keystore_t *tu_keystore(const char *key, const char *password);
/* Path of ../shared/samples (from SHARED_SAMPLES or relative to top_srcdir), or NULL. */
const char *tu_samples_dir(void);

/* Concatenated plaintext (base64 "data" decoded) of the captls JSON message lines of one
 * direction ("c2s"/"s2c") and, unless port < 0, one client port. Returns the length. */
/* Session whose server port is port, or NULL. */
const tu_session_t *tu_session_by_server_port(const tu_run_t *r, uint16_t port);
/* Run `sh $top_srcdir/tests/SCRIPT DIR` (a real-peer capture script; output in DIR.log).
 * Returns its exit status: 0 done, 77 skipped (why from DIR/skip), -1 not run. */
int tu_run_peer_script(const char *script, const char *dir, char *why, size_t whylen);
size_t tu_json_concat(const char *json, int port, const char *dir, uint8_t *out, size_t cap);

#endif
