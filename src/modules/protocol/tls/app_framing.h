/*
 * app_framing.h — splits a decrypted byte stream into application messages:
 * SIP over a stream (RFC 3261 §18.3: headers up to CRLFCRLF, body by Content-Length / "l:"),
 * CRLF keep-alives (RFC 5626 §4.4.1), HTTP/1.x (Content-Length, chunked, bodiless
 * responses: 1xx/204/304 and answers to HEAD), otherwise raw chunks (one per record).
 * Concatenating every emitted message of a direction gives back exactly the input stream.
 * Memory is bounded by max_message: a message that grows beyond it is emitted as raw
 * chunks and the direction falls back to raw.
 * WebSocket (RFC 6455) after an HTTP/1.1 upgrade answered by 101: each complete message's
 * payload (unmasked) is emitted, as SIP when it carries SIP (RFC 7118), else raw; control
 * frames are counted, not emitted (so for WebSocket the concatenation rule above holds up
 * to the upgrade, then per message payload). See app_ws.c.
 */
#ifndef PTLS_APP_FRAMING_H
#define PTLS_APP_FRAMING_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "tls_engine.h"

/* Called once per complete message; data valid only during the call. */
typedef void (*app_emit_fn)(void *ctx, int dir, tls_app_t app, const uint8_t *data, size_t len,
                            bool keepalive);

/* WebSocket (RFC 6455) framing state of one direction once the connection is upgraded
 * (app_ws.c; fields internal). */
typedef struct app_ws_dir {
	uint8_t st;             /* WS_HDR (gathering a frame header), WS_PAYLOAD, WS_RESYNC */
	uint8_t hdr[14];        /* frame header bytes gathered so far (2..14) */
	uint8_t hlen;
	uint8_t op;             /* opcode of the current frame */
	uint8_t fin;            /* current frame ends its message */
	uint8_t key[4];         /* masking key of the current frame (client frames) */
	uint8_t masked;
	uint8_t kpos;           /* masking key index of the next payload byte */
	uint8_t sink;           /* current payload: into the message buffer, or skipped */
	uint8_t msg;            /* message in progress: 0 none, 1 text, 2 binary */
	uint8_t msg_flags;      /* WSM_*: compressed, bad RSV bits, dropped */
	uint64_t left;          /* payload bytes of the current frame still to come */
	void *z;                /* permessage-deflate inflate state (z_stream), made at the first
	                         * compressed message, kept across messages (context takeover) */
} app_ws_dir_t;

/* WebSocket counters (per flow in app_framing_t.ws; also added to env->ws_total when set). */
typedef struct app_ws_counters {
	uint64_t upgrades;      /* directions switched to WebSocket framing after a 101 */
	uint64_t messages;      /* complete data messages emitted */
	uint64_t sip;           /* ... of which as SIP */
	uint64_t control;       /* ping / pong / close frames (counted, not emitted) */
	uint64_t unexpected;    /* RSV bits, reserved opcodes, continuation without a message,
	                         * data frame inside a message, bad control frames, bad lengths */
	uint64_t oversize;      /* messages over max_message: dropped (never emitted) */
	uint64_t compressed;    /* permessage-deflate messages emitted raw (could not be inflated) */
	uint64_t inflated;      /* permessage-deflate messages inflated (emitted decompressed) */
	uint64_t gap_cut;       /* messages a gap (or end of stream) cut: never emitted */
	uint64_t resyncs;       /* frame framing found again after a gap */
} app_ws_counters_t;

typedef struct app_dir_state {
	/* All fields are internal to the app_*.c files (app_internal.h); the counters may be read. */
	uint8_t *buf;           /* partial message (heap, grows up to max_message, reused) */
	uint64_t msg_len;       /* bytes of the current message consumed so far */
	uint64_t need;          /* body / chunk-data bytes still expected; chunk-size accumulator */
	uint64_t q_head, q_connect; /* requests sent in this direction awaiting a response on the
	                         * other one (FIFO, bit 0 = oldest): HEAD / CONNECT flags */
	uint64_t gap_dropped;   /* bytes of such messages dropped (head buffered before the gap,
	                         * tail up to the next start line after it) */
	uint32_t len, cap;      /* bytes in buf / allocated (at most max_message) */
	uint32_t n_missing_length; /* SIP messages without Content-Length (taken as 0) */
	uint32_t n_fallbacks;   /* times the direction fell back to raw */
	uint32_t n_gap_cut;     /* SIP/HTTP messages a gap cut (never emitted) */
	uint16_t status;        /* current response's status code */
	uint8_t proto;          /* undecided / sip / http / raw */
	uint8_t state;          /* between messages, keep-alive, headers, body, chunk..., close */
	uint8_t line;           /* header/trailer line-end tracker (resumes the CRLFCRLF search) */
	uint8_t first_line;     /* start line of the current message not yet complete */
	uint8_t kind;           /* current message: request or response */
	uint8_t after;          /* action once the current message is complete (switch to raw) */
	uint8_t q_n;            /* queued requests (at most 64; more are not tracked) */
	uint8_t resync;         /* after a gap: skip (raw, or dropped) to the next message start line */
	uint8_t upg;            /* WebSocket upgrade of this direction: none, request sent (awaiting
	                         * the answer; later bytes held), 101 seen before the request */
} app_dir_state_t;

/* WebSocket state of a flow, allocated at its first upgrade (most flows never have one):
 * frame state per direction (used while that direction carries WebSocket) and counters. */
typedef struct app_ws_state {
	app_ws_dir_t dir[2];
	app_ws_counters_t cnt;
} app_ws_state_t;

/* What the framers of one engine share (the engine owns it; app_framing_t.env). */
typedef struct app_framing_env {
	/* optional shared memory account: every allocation and release of a message buffer
	 * is added to / subtracted from *budget_used, and a buffer may not grow past
	 * budget_max (the message is then emitted as raw chunks instead) */
	uint64_t *budget_used;
	uint64_t budget_max;
	app_ws_counters_t *ws_total; /* optional: every WebSocket counter is also added here */
} app_framing_env_t;

typedef struct app_framing {
	app_dir_state_t dir[2]; /* [TLS_DIR_C2S], [TLS_DIR_S2C] */
	const app_framing_env_t *env; /* shared memory account and totals, or NULL (none) */
	uint32_t max_message;
	/* WebSocket (RFC 6455 / RFC 7118), negotiated by the 101 answer: */
	uint8_t ws_neg;         /* WSN_SIP (Sec-WebSocket-Protocol: sip), WSN_DEFLATE (permessage-deflate) */
	uint8_t replay;         /* 1 + direction whose held bytes are to be parsed again (internal) */
	uint8_t ws_events;      /* APP_WS_EV_* seen since the caller last cleared it (for a log line) */
	uint8_t ws_logged;      /* APP_WS_EV_* the caller already logged for this flow (its own use) */
	app_ws_state_t *ws;     /* NULL until a direction is upgraded (app_framing_ws_counters) */
} app_framing_t;

/* app_framing_t.ws_events bits: something a log line should say (the caller clears them) */
#define APP_WS_EV_OVERSIZE   1u   /* a WebSocket message over max_message was dropped */
#define APP_WS_EV_COMPRESSED 2u   /* permessage-deflate message emitted raw (not inflated) */
#define APP_WS_EV_UNEXPECTED 4u   /* protocol violation (counted) */
#define APP_WS_EV_GAP        8u   /* a gap cut a WebSocket message / lost the frame framing */

/* Initialize (no allocation until data arrives). max_message 0 means 1 MiB. */
void app_framing_init(app_framing_t *f, uint32_t max_message);
/* Push decrypted plaintext of one direction. Emits each completed message; messages
 * entirely inside `data` are emitted without copying. Returns 0 or -1 on allocation failure
 * (the data is then emitted raw rather than lost). */
int app_framing_push(app_framing_t *f, int dir, const uint8_t *data, size_t len,
                     app_emit_fn emit, void *ctx);
/* End of stream for a direction (or the flow): emit what is buffered (HTTP close-delimited
 * bodies as a message, anything else as raw), then reset the direction (protocol detected
 * again from the next bytes). emit may be NULL: the buffered bytes are then discarded
 * (wiped), e.g. after a TCP gap. */
void app_framing_flush(app_framing_t *f, int dir, app_emit_fn emit, void *ctx);
/* Bytes of a direction were lost (TCP gap). A SIP/HTTP message the gap cut is never
 * emitted (not as SIP/HTTP, not as raw: it has a hole): its partial head is wiped now,
 * and from the next push on the bytes up to a line that starts a SIP/HTTP message (its
 * tail) are dropped; both are counted (n_gap_cut, gap_dropped). Framing then resumes
 * normally (a lost segment must not turn the rest of a SIP session into raw). A raw or
 * undetected direction emits those bytes raw instead (there is no message to cut). */
void app_framing_gap(app_framing_t *f, int dir);
/* Bytes allocated for partial messages in both directions (what counts against the
 * engine's memory bound; buffers above 64 KiB are released once their message is out). */
size_t app_framing_buffered(const app_framing_t *f);
/* The flow's WebSocket counters (all zero when no direction was ever upgraded). */
const app_ws_counters_t *app_framing_ws_counters(const app_framing_t *f);
/* Free buffers (wiped: they hold plaintext). */
void app_framing_free(app_framing_t *f);

#endif
