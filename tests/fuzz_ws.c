/*
 * fuzz_ws.c — libFuzzer target for WebSocket framing (app_ws.c) and the HTTP upgrade
 * that leads to it (app_http.c), through the framing API (app_framing.h).
 *
 * Why: after the upgrade every byte of a WebSocket stream is peer-controlled: lengths up
 * to 2^63, masking keys, fragments, control frames anywhere, gaps. The parser must never
 * read out of bounds, never deliver more than max_message bytes at once, give all its
 * memory back, and — since it is incremental — deliver exactly the same messages whether
 * a stream comes in one push or byte by byte (checked whenever no gap made it search for
 * frames again: that search looks only inside one push, on purpose).
 *
 * Input: byte 0 flags — bit 0 the server agrees to "sip", bit 1 to permessage-deflate,
 * bit 2 max_message 1024 (else 65536), bit 3 the 101 is pushed before the request,
 * bit 4 no upgrade prelude at all (the stream starts as whatever the input says: HTTP
 * upgrades, refusals and holds are then fuzzed too). Then chunks: sel:u8 len:u8
 * bytes[len]; sel bit 0 is the direction, sel & 0x0e == 0x0e reports a gap before the
 * chunk. A short last chunk is cut.
 */
#define FUZZ_TARGET_NAME "ws"
#include "fuzz_common.h"
#include "app_framing.h"

typedef struct {
	uint64_t hash;          /* order-sensitive digest of (dir, app, keepalive, bytes) */
	size_t n;
	uint32_t max;
} out_t;

static void on_emit(void *ctx, int dir, tls_app_t app, const uint8_t *d, size_t n, bool ka)
{
	out_t *o = ctx;
	if (n == 0 || !d) abort();                              /* empty messages are never emitted */
	if (n > o->max) abort();                                /* nothing beyond max_message at once */
	uint64_t h = o->hash ^ (uint64_t)(dir * 7 + app * 3 + ka + 1);
	h *= 0x100000001b3ull;
	for (size_t i = 0; i < n; i++) h = (h ^ d[i]) * 0x100000001b3ull;
	volatile uint8_t sink = d[0] ^ d[n - 1];                /* ASan: the whole span is readable */
	(void)sink;
	o->hash = h;
	o->n++;
}

static const char REQ[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	"Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n";

/* Run the input; step 0 pushes each chunk whole, else in pieces of `step` bytes. */
static void run(const uint8_t *data, size_t size, size_t step, out_t *o, bool *gapped, app_ws_counters_t *wc)
{
	uint8_t fl = data[0];
	app_framing_t f;
	uint64_t budget = 0;
	app_framing_init(&f, (fl & 4) ? 1024 : 65536);
	app_framing_env_t env = { &budget, 1u << 24, NULL };
	f.env = &env;
	o->max = f.max_message;
	*gapped = false;
	if (!(fl & 16)) {
		char resp[400];
		int rl = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		                  "Connection: Upgrade\r\n%s%s\r\n", (fl & 1) ? "Sec-WebSocket-Protocol: sip\r\n" : "",
		                  (fl & 2) ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "");
		for (int k = 0; k < 2; k++) {
			if ((k == 0) == !(fl & 8)) app_framing_push(&f, 0, (const uint8_t *)REQ, strlen(REQ), on_emit, o);
			else app_framing_push(&f, 1, (const uint8_t *)resp, (size_t)rl, on_emit, o);
		}
	}
	size_t i = 1;
	while (i + 2 <= size) {
		uint8_t sel = data[i];
		size_t len = data[i + 1];
		i += 2;
		if (len > size - i) len = size - i;
		int dir = sel & 1;
		if ((sel & 0x0e) == 0x0e) {
			app_framing_gap(&f, dir);
			*gapped = true;
		}
		if (len) {
			/* exact-size copy: ASan sees any overread of the pushed span */
			uint8_t *copy = malloc(len);
			if (!copy) abort();
			memcpy(copy, data + i, len);
			if (!step) app_framing_push(&f, dir, copy, len, on_emit, o);
			else
				for (size_t k = 0; k < len; k += step)
					app_framing_push(&f, dir, copy + k, len - k < step ? len - k : step, on_emit, o);
			free(copy);
		}
		i += len;
	}
	if (f.ws_events & APP_WS_EV_GAP) *gapped = true;         /* framing lost: frames searched for */
	app_framing_flush(&f, 0, on_emit, o);
	app_framing_flush(&f, 1, on_emit, o);
	*wc = *app_framing_ws_counters(&f);
	app_framing_free(&f);
	if (budget != 0) abort();                                /* every buffer given back */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) return 0;
	out_t a = { 0 }, b = { 0 };
	bool ga, gb;
	app_ws_counters_t ca, cb;
	run(data, size, 0, &a, &ga, &ca);
	/* incremental = whole (HTTP keep-alive and start-line detection depend on record
	 * boundaries by design, so only for WebSocket-only streams without a gap) */
	if (!(data[0] & 16) && !ga) {
		run(data, size, 1, &b, &gb, &cb);
		if (a.n != b.n || a.hash != b.hash) abort();
		if (ca.messages != cb.messages || ca.control != cb.control || ca.oversize != cb.oversize ||
		    ca.unexpected != cb.unexpected)
			abort();
	}
	if (ca.sip > ca.messages) abort();
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	return 0;
}
