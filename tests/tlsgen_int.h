/*
 * tlsgen_int.h — what the pieces of the capture generator (tests/tlsgen*.c) share: the
 * deterministic PRNG and byte buffers, the message plan, the TCP segment model, the
 * per-connection TLS driver state and the pcap output state, and the functions each
 * piece exports to the next.
 *
 * Why: tlsgen is split into one file per concern (the map is at the top of tlsgen.c).
 * This header is internal to the generator; tests use only tlsgen.h. Every function and
 * object exported here is named tg_* so it cannot clash with engine or test objects
 * linked into the same program. Calls go one way: tlsgen.c (tlsgen_run) uses the plan
 * (sip/http/ws), the contexts (ctx), the driver (drive) and the output (out); the
 * driver uses the TCP model (tcp) and the static ECDHE randomness (static_ecdhe); all
 * use util.
 */
#ifndef TESTS_TLSGEN_INT_H
#define TESTS_TLSGEN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/ssl.h>

#include "tlsgen.h"
#include "pcapw.h"

/* ---- tlsgen_util.c: PRNG, buffers, error text ---------------------------------------- */

typedef struct { uint64_t s; } rng_t;          /* splitmix64 state */

/* Next 64 bits of the splitmix64 stream r. */
uint64_t tg_rng_next(rng_t *r);
/* Uniform in [0, n); 0 for n == 0. */
uint32_t tg_rng_u(rng_t *r, uint32_t n);
/* Uniform in [lo, hi] (lo <= hi). */
uint32_t tg_rng_range(rng_t *r, uint32_t lo, uint32_t hi);

/* Growable byte buffer, always NUL-terminated after len once allocated; aborts when out
 * of memory (a test generator has no useful recovery). */
typedef struct { uint8_t *p; size_t len, cap; } buf_t;

/* Make room for extra more bytes (plus the terminating NUL). */
void tg_buf_reserve(buf_t *b, size_t extra);
/* Append n bytes of d. */
void tg_buf_put(buf_t *b, const void *d, size_t n);
/* Append the string s (without its NUL). */
void tg_buf_puts(buf_t *b, const char *s);
/* Append printf-formatted text. */
void tg_buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free the bytes and empty b. */
void tg_buf_free(buf_t *b);
/* Hand the bytes over to the caller (never NULL: an empty buffer gives a 1-byte
 * allocation), *len gets their length; b is left empty. */
uint8_t *tg_buf_take(buf_t *b, size_t *len);
/* Decimal digits of v. */
size_t tg_ndigits(size_t v);

/* Write a one-line message into err (err may be NULL or errlen 0: nothing written). */
void tg_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Append ": <first OpenSSL error>" to err if there is one; the error queue is cleared. */
void tg_add_ssl_err(char *err, size_t errlen);

/* ---- tlsgen_plan.c: filler text, the message plan, size classes ---------------------- */

/* Printable filler words (36 of them). */
extern const char *const tg_words[];
/* Append exactly n bytes of printable words and spaces. */
void tg_fill_words(buf_t *b, rng_t *r, size_t n);
/* Append exactly n bytes of [A-Za-z0-9]. */
void tg_fill_alnum(buf_t *b, rng_t *r, size_t n);
/* Append exactly `total` bytes of lines "prefix<alnum>\r\n" of at most ~80 bytes each;
 * if total is too small for one line, nothing. Returns the bytes written. */
size_t tg_fill_lines(buf_t *b, rng_t *r, size_t total, const char *prefix);

enum {
	/* SIP */
	S_PING = 1, S_PONG, S_INVITE, S_100, S_180, S_200_INVITE, S_ACK, S_OPTIONS, S_200_OPTIONS,
	S_MESSAGE, S_202, S_NOTIFY, S_200_NOTIFY, S_BYE, S_200_BYE, S_REGISTER, S_200_REGISTER,
	/* HTTP */
	H_REQ, H_RESP,
};

/* One application message of the plan: what it is, then (after rendering) its bytes. */
typedef struct spec {
	int dir;
	int type;
	int sizeable;            /* size class may be chosen (body can be padded) */
	int cls;                 /* TLSGEN_* size class wanted */
	int merge_prev;          /* written in the same flush as the previous spec */
	int req;                 /* index of the request this responds to, -1 */
	/* SIP request header values, kept for the response */
	char via[192], from[192], to[192], callid[96], cseq[48];
	/* HTTP */
	char method[8];
	int tiny_resp;           /* HTTP: response tiny (304/204) */
	/* output */
	buf_t data;
	bool keepalive, chunked;
	bool early;              /* already sent as 0-RTT early data */
	int ws;                  /* TLSGEN_APP_WS_SIP: see tlsgen_msg_t.ws */
	buf_t ws_payload;
} spec_t;

/* A connection's messages in write order. */
typedef struct { spec_t *v; size_t n, cap; } plan_t;

/* Append a zeroed spec (class NORMAL, no request) and return it. */
spec_t *tg_plan_add(plan_t *p, int dir, int type, int sizeable);
/* Free every spec's buffers and the plan; p is left empty. */
void tg_plan_free(plan_t *p);
/* Target total message length for a size class (0 = natural size). */
size_t tg_class_target(rng_t *r, int cls);
/* Give each direction's sizeable specs the classes MID and BIG at least once (as far as
 * there are sizeable specs), the rest a random class. */
void tg_assign_classes(plan_t *p, rng_t *r);

/* ---- tlsgen_sip.c / tlsgen_http.c / tlsgen_ws.c: application messages ---------------- */

/* SIP rendering context: addresses, ports and the current INVITE dialog. */
typedef struct {
	rng_t *r;
	char chost[64], shost[64];      /* for Via/Contact: "10.0.0.1" / "[fd00::1]" */
	char caddr[64], saddr[64];      /* for SDP c=/o=: "IP4 10.0.0.1" / "IP6 fd00::1" */
	unsigned cport, sport;
	/* current INVITE dialog */
	char callid[96], ftag[24], ttag[24];
	unsigned cseq;
} sipctx_t;

/* Plan n messages per direction of a SIP dialog mix (no bytes yet). */
void tg_sip_plan(plan_t *p, rng_t *r, int n);
/* Render every planned SIP spec's bytes (dialog-consistent headers, exact Content-Length). */
void tg_sip_render(plan_t *p, sipctx_t *c);

/* HTTP rendering context. */
typedef struct {
	rng_t *r;
	const char *host;
	int chunked_done;
} httpctx_t;

/* Plan n HTTP/1.1 requests and their responses (pipelined pairs included). */
void tg_http_plan(plan_t *p, rng_t *r, int n);
/* Render every planned HTTP spec's bytes. */
void tg_http_render(plan_t *p, httpctx_t *c);

/* Replace the rendered SIP plan p by its SIP-over-WebSocket form (upgrade, RFC 6455
 * frames, ping/pong keep-alives, one ~70 KB message, close frames). */
void tg_ws_sip_transform(plan_t *p, rng_t *r, const sipctx_t *sc);

/* ---- tlsgen_tcp.c: TCP segments and the capture manglings ---------------------------- */

typedef struct seg {
	uint8_t dir;
	uint8_t flags;
	uint8_t syn_opts;        /* carries the SYN options */
	uint8_t stray;           /* injected stray RST/SYN (not part of the peers' exchange) */
	uint32_t seq, ack;
	size_t off, len;         /* payload: tls[dir][off .. off+len) */
} seg_t;

typedef struct { seg_t *v; size_t n, cap; } segv_t;

/* Append segment g. */
void tg_segv_push(segv_t *s, seg_t g);
/* Merge runs of same-direction contiguous data segments (up to 65000 payload bytes). */
void tg_mangle_coalesce(segv_t *s);
/* Lossy capture: remove one data segment per direction (50..75 % into its bytes). */
void tg_mangle_drop(segv_t *s, rng_t *r, const buf_t tls[2]);
/* Swap some adjacent same-direction data segment pairs (at least one if possible). */
void tg_mangle_reorder(segv_t *s, rng_t *r);
/* Insert exact and overlapping partial retransmissions. */
void tg_mangle_duplicate(segv_t *s, rng_t *r, const buf_t tls[2]);
/* ack_before_data: capture some pure ACKs before the data they acknowledge; returns how many. */
unsigned tg_mangle_ack_first(segv_t *s, rng_t *r);
/* late_segment: [D, ACK(D), D2] -> [D2, ACK(D), D]; counts per direction in n_late. */
void tg_mangle_late(segv_t *s, rng_t *r, const size_t hs_end[2], unsigned n_late[2]);
/* reply_first: move the first data segment of flights up to maxk packets earlier;
 * *n_all counts the moved flights, *n_hs those in the handshake. */
void tg_mangle_reply_first(segv_t *s, rng_t *r, int maxk, const size_t hs_end[2], unsigned *n_all, unsigned *n_hs);
/* Inject one stray RST (rst=1, side d) or SYN (rst=0, client side) about frac into the
 * application data; returns its index or (size_t)-1 if there was no place for it. */
size_t tg_inject_stray(segv_t *s, const uint32_t isn[2], const size_t hs_end[2], int rst, int d, int in_window, double frac);
/* Bytes of each direction's stream that no data segment carries. */
void tg_count_lost(const segv_t *s, const buf_t tls[2], uint64_t lost[2]);

/* ---- tlsgen_drive.c: one connection's two SSL objects and what they produced ---------- */

typedef struct gconn {
	const tlsgen_opts_t *o;
	rng_t *r;
	SSL *ssl[2];
	BIO *rbio[2], *wbio[2];
	buf_t tls[2];            /* TCP byte stream sent by each side */
	buf_t plain[2];          /* plaintext written by each side */
	buf_t recv[2];           /* plaintext of side d as decrypted by the peer */
	buf_t keylog;
	FILE *keylog_fp;
	segv_t segs;
	uint32_t isn[2];
	size_t segmax;
	int peer_closed[2];
	int hrr_seen, etm_seen;
	size_t hs_end[2];        /* stream offsets where the (first) handshake ended */
	unsigned renegotiations;
	int reject_early;        /* this connection's server refuses 0-RTT (1) / the ticket (2) */
	buf_t early_plain;       /* the early data the client wrote (accepted or not) */
	int early_sent;          /* the client wrote early data */
	uint8_t ch_psk_modes;
	int ch_key_share, ch_psk, sh_psk, sh_key_share;
	tlsgen_msg_t *msgs; size_t n_msgs, cap_msgs;
	char *err; size_t errlen;
} gconn_t;

/* TLS 1.3 0-RTT: the client sends the plan's first message as early data. Returns 1 if
 * the server accepted it, 0 if not sent or rejected, -1 on error (g->err set). */
int tg_early_data(gconn_t *g, plan_t *p);
/* Clear-text STARTTLS exchange of proto ("smtp", "imap", ...) before the handshake.
 * 0, or -1 for an unknown protocol. */
int tg_starttls_prefix(gconn_t *g, const char *proto);
/* Run the TLS handshake to completion on both sides. 0 / -1 (g->err set). */
int tg_handshake(gconn_t *g);
/* Write the plan's messages (key updates, renegotiations, split writes as the options
 * say), each read by the peer. 0 / -1 (g->err set). */
int tg_exchange(gconn_t *g, plan_t *p);
/* close_notify from both sides. 0 / -1 (g->err set). */
int tg_shutdown_both(gconn_t *g);

/* ---- tlsgen_static_ecdhe.c: the server's fixed (EC)DHE key --------------------------- */

/* Load the static ECDHE key at path (X25519, P-256, P-384); returns its OpenSSL group
 * name, or NULL with err set. */
const char *tg_load_static_key(const char *path, char *err, size_t errlen);
/* on=1: the static key becomes OpenSSL's randomness (only if g's options set
 * static_ecdhe_key); on=0: OpenSSL's own again. Bracket every server SSL call with it. */
void tg_server_rand(gconn_t *g, int on);

/* ---- tlsgen_ctx.c / tlsgen_keys.c: SSL contexts and key files ------------------------ */

/* The client (server=0) or server (server=1) context for options o; NULL with err set. */
SSL_CTX *tg_make_ctx(const tlsgen_opts_t *o, int server, char *err, size_t errlen);
/* Read a private key in any encoding tlsgen_make_key_fmt writes; NULL on failure. */
EVP_PKEY *tg_load_key(const char *path, const char *pw);

/* ---- tlsgen_out.c: pcap output -------------------------------------------------------- */

typedef struct {
	const tlsgen_opts_t *o;
	pcapw_t *w;
	uint64_t ts_us;
	uint16_t ip_id[2];
	uint8_t addr[2][16];
	uint8_t mac[2][6];
} out_t;

/* What tg_write_conn does besides the connection's own packets. */
typedef struct wextra {
	int outliers, step;           /* this connection carries the ts outliers / the clock step */
	tlsgen_result_t *acc;         /* where their pcap indexes go */
	tlsgen_conn_t *oc;            /* stray packet indexes */
} wextra_t;

/* Write connection g's segments (and x's extra frames) as packets; 0 / -1. */
int tg_write_conn(out_t *ow, gconn_t *g, uint16_t cport, uint16_t sport, wextra_t *x);

#endif
