/*
 * fuzz_packet.c — libFuzzer target for the engine's packet entry point
 * (tls_engine_feed_frame), the path every captured byte takes: link/IP/TCP decoding, flow
 * table, TCP reassembly, TLS record framing, handshake parsing, RSA pre-master decryption,
 * key derivation, record decryption, key-log following and application framing.
 *
 * Why this shape: the engine sees attacker-controlled bytes (anyone can send packets past
 * a sniffer), so it must survive any frame sequence with bounded memory. One input is a
 * whole capture — several frames fed to one engine, then a flush — so the fuzzer reaches
 * state that only builds up across packets (a handshake, then encrypted records). The
 * engine holds a REAL RSA key (embedded in fuzz_common.h) and a key log whose content
 * comes from the input itself, so seeds made by fuzz_seeds.c from real OpenSSL captures
 * with that key decrypt fully and mutations start from deep states.
 *
 * Input format: see fuzz_common.h (config byte, then sel/len/bytes records).
 *
 * Besides memory errors (ASan/UBSan), the target aborts on broken engine invariants:
 * more active flows than max_flows, a buffered-bytes counter that went negative or is not
 * back to 0 once every flow is gone, a second final report for a flow, a callback for a
 * flow after its final report, an empty message.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -DFUZZ_LIBFUZZER (scripts/fuzz.sh), or
 * with any C compiler without FUZZ_LIBFUZZER for the standalone replay driver (make check).
 */
#define FUZZ_TARGET_NAME "packet"
#include "fuzz_common.h"
#include "tls_engine.h"

static tls_keystore_t *rsa_store;
static const char *keylog_path;
static int print_stats;      /* FUZZ_STATS set: one summary line per input (seed checks) */

/* per-input state for the invariant checks */
typedef struct fstate {
	uint8_t *final_seen;     /* final_seen[flow_id]: 1 once the final report came */
	size_t cap;
	uint64_t sum;            /* every delivered byte is read (so ASan sees bad spans) */
	uint64_t messages, finals;
} fstate_t;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_packet: invariant broken: %s\n", what);
	abort();
}

static void mark(fstate_t *s, uint64_t id, int final)
{
	if (id == 0 || id > (1u << 26)) die("flow id out of range");
	if (id >= s->cap) {
		size_t nc = s->cap ? s->cap : 256;
		while (nc <= id) nc *= 2;
		uint8_t *n = realloc(s->final_seen, nc);
		if (!n) abort();
		memset(n + s->cap, 0, nc - s->cap);
		s->final_seen = n;
		s->cap = nc;
	}
	if (s->final_seen[id]) die("callback for a flow after its final report");
	if (final) s->final_seen[id] = 1;
}

static void on_message(void *user, const tls_message_t *m)
{
	fstate_t *s = user;
	if (!m->data || m->len == 0) die("empty message");
	if (!m->ep) die("message without endpoints");
	if (m->dir != TLS_DIR_C2S && m->dir != TLS_DIR_S2C) die("bad direction");
	mark(s, m->flow_id, 0);
	uint64_t h = s->sum;
	for (size_t i = 0; i < m->len; i++) h = h * 31 + m->data[i];
	s->sum = h;
	s->messages++;
}

static void on_session(void *user, const tls_session_info_t *si)
{
	fstate_t *s = user;
	if (!si->ep) die("session without endpoints");
	if (si->sni) s->sum += strlen(si->sni);
	s->sum += (uint64_t)(tls_reason_name(si->reason)[0]) + si->suite + si->tls_version;
	const char *k = tls_key_kind_name(si->key);
	if (k) s->sum += (uint8_t)k[0];
	mark(s, si->flow_id, si->final);
	if (si->final) s->finals++;
}

static void on_log(void *user, int level, const char *line)
{
	fstate_t *s = user;
	s->sum += (uint64_t)level + strlen(line);
	if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "engine[%d]: %s\n", level, line);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	if (tls_engine_global_init() != 0) { fprintf(stderr, "engine init failed\n"); abort(); }
	const char *key = fuzz_path("fuzz-rsa.pem");
	fuzz_write(key, FUZZ_KEY_PEM, sizeof FUZZ_KEY_PEM - 1, "w");
	chmod(key, 0600);
	keylog_path = fuzz_path("fuzz.keys");
	print_stats = getenv("FUZZ_STATS") != NULL;
	char err[512];
	rsa_store = tls_keystore_new();
	if (!rsa_store || tls_keystore_add_key_file(rsa_store, key, NULL, NULL, NULL, err, sizeof err, NULL, 0) != 0) {
		fprintf(stderr, "fuzz_packet: key load failed: %s\n", err);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) return 0;
	uint8_t flags = data[0];
	data++; size--;

	tls_engine_config_t cfg;
	tls_engine_config_defaults(&cfg);
	/* Defaults, except table sizes: a 65536-bucket flow table and a 10000-entry session
	 * cache would be allocated (and zeroed) for every input and dominate the run time,
	 * while no input has that many flows. */
	cfg.max_flows = 256;
	cfg.session_cache_size = 256;
	static uint16_t ports[] = { 443, 5061, 8443 };
	if (flags & FUZZ_CFG_SMALL_BOUNDS) {
		cfg.max_flows = 8;
		cfg.max_reasm_bytes = 4096;
		cfg.max_reasm_segments = 8;
		cfg.max_total_buffer = 64 * 1024;
		cfg.max_message = 2048;
		cfg.max_held_records = 8192;
		cfg.session_cache_size = 4;
	}
	if (flags & FUZZ_CFG_TLS_PORTS) { cfg.tls_ports = ports; cfg.n_tls_ports = 3; }
	if (flags & FUZZ_CFG_NO_HS_ONLY) cfg.emit_handshake_only_sessions = false;
	if (flags & FUZZ_CFG_SHORT_WAIT) { cfg.keylog_wait = 0; cfg.flow_timeout = 1; }

	/* a fresh, empty key log for this input (the input appends to it) */
	fuzz_write(keylog_path, "", 0, "w");
	char err[512];
	tls_keystore_t *kls = tls_keystore_new();
	if (!kls || tls_keystore_add_keylog(kls, keylog_path, 64, err, sizeof err) != 0) abort();
	tls_keystore_t *stores[2] = { rsa_store, kls };

	fstate_t st;
	memset(&st, 0, sizeof st);
	tls_callbacks_t cb = { on_message, on_session, on_log, &st };
	tls_engine_t *e = tls_engine_new(&cfg, stores, 2, &cb);
	tls_keystore_unref(kls);
	if (!e) abort();

	double ts = 1700000000.0;
	tls_engine_stats_t s;
	size_t off = 0;
	while (off + 3 <= size) {
		uint8_t sel = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (len > size - off) len = size - off;
		const uint8_t *p = data + off;
		off += len;
		if (sel == FUZZ_SEL_KEYLOG) {
			fuzz_write(keylog_path, p, len, "a");
			continue;
		}
		if (sel == FUZZ_SEL_EXPIRE) {
			tls_engine_expire(e, ts, false);
			continue;
		}
		ts += fuzz_ts_step(sel >> 3);
		/* an exactly-sized copy so ASan catches any read past the frame */
		uint8_t *frame = malloc(len ? len : 1);
		if (!frame) abort();
		memcpy(frame, p, len);
		tls_engine_feed_frame(e, FUZZ_DLTS[sel & 7], frame, len, ts);
		free(frame);
		tls_engine_get_stats(e, &s);
		if (s.flows_active > cfg.max_flows) die("more active flows than max_flows");
		if (s.bytes_buffered > ((uint64_t)1 << 48)) die("bytes_buffered went negative");
	}
	tls_engine_flush(e);
	tls_engine_get_stats(e, &s);
	if (s.flows_active != 0) die("flows left after flush");
	if (s.bytes_buffered != 0) {
		fprintf(stderr, "bytes_buffered = %llu after flush\n", (unsigned long long)s.bytes_buffered);
		die("buffered-bytes accounting not back to 0 after flush");
	}
	if (st.finals != s.sessions) die("final reports != sessions counted");
	if (print_stats)
		fprintf(stderr, "  %llu packets, %llu sessions, %llu decrypted, %llu records decrypted, %llu messages\n",
		        (unsigned long long)s.packets, (unsigned long long)s.sessions,
		        (unsigned long long)s.sessions_decrypted, (unsigned long long)s.records_decrypted,
		        (unsigned long long)st.messages);
	tls_engine_free(e);
	free(st.final_seen);
	return 0;
}
