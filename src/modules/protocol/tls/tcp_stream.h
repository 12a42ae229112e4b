/*
 * tcp_stream.h — per-direction TCP reassembly by sequence number.
 *
 * Delivers a direction's payload bytes exactly once and in order: in-order data goes
 * straight through (no copy), out-of-order segments are held (bounded per direction and
 * globally), retransmissions and overlaps are trimmed, sequence numbers wrap at 2^32.
 * When the hold bound is hit (lost segment), the stream reports a gap and skips to the
 * earliest held data, so the layer above can resynchronise or give up on the session.
 */
#ifndef PTLS_TCP_STREAM_H
#define PTLS_TCP_STREAM_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

/* TCP flags byte bits the stream looks at (the others are ignored). */
#define TCP_STREAM_FIN 0x01
#define TCP_STREAM_SYN 0x02
#define TCP_STREAM_RST 0x04

/* Largest payload accepted in one call (covers coalesced / defragmented input);
 * longer segments are refused and counted as dropped. */
#define TCP_STREAM_MAX_SEGMENT   (1u << 20)
/* A segment starting more than this far beyond next_seq is garbage (never held). */
#define TCP_STREAM_WINDOW        (1u << 30)
/* Bounds used when lim == NULL (same defaults as tls_engine.h; no global bound). */
#define TCP_STREAM_DEFAULT_MAX_OOO_BYTES     (256u * 1024u)
#define TCP_STREAM_DEFAULT_MAX_OOO_SEGMENTS  256u

/* Sequence-number arithmetic modulo 2^32: the signed distance a - b, in [-2^31, 2^31). */
static inline int32_t tcp_seq_diff(uint32_t a, uint32_t b)
{
	uint32_t d = a - b;
	return d <= 0x7fffffffu ? (int32_t)d : -(int32_t)(0xffffffffu - d) - 1;
}
static inline bool tcp_seq_lt(uint32_t a, uint32_t b)  { return tcp_seq_diff(a, b) < 0; }
static inline bool tcp_seq_leq(uint32_t a, uint32_t b) { return tcp_seq_diff(a, b) <= 0; }
static inline bool tcp_seq_gt(uint32_t a, uint32_t b)  { return tcp_seq_diff(a, b) > 0; }
static inline bool tcp_seq_geq(uint32_t a, uint32_t b) { return tcp_seq_diff(a, b) >= 0; }


typedef struct tcp_ooo tcp_ooo_t;         /* held segments and ACK evidence (internal) */

typedef struct tcp_stream {
	tcp_ooo_t *ooo;         /* out-of-order state, allocated only while segments are held */
	uint64_t lost_bytes;    /* bytes declared lost (reported as gaps) */
	uint32_t next_seq;      /* next byte expected */
	uint32_t fin_seq;       /* sequence number of FIN (valid if fin_seen) */
	uint32_t gaps;          /* gaps declared */
	bool started;           /* next_seq is known (SYN seen or first data segment) */
	bool syn_seen, fin_seen, rst_seen;
} tcp_stream_t;

typedef struct tcp_limits {
	uint32_t max_ooo_bytes;       /* per direction */
	uint32_t max_ooo_segments;    /* per direction */
	uint64_t max_total;           /* across all streams sharing *total */
	uint64_t *total;              /* shared counter of held bytes (may be NULL: no global bound) */
} tcp_limits_t;
/* Pass the same limits (same *total) for a stream's whole life: held bytes are added to
 * *total when held and subtracted when delivered or freed. lim == NULL means the
 * TCP_STREAM_DEFAULT_* per-direction bounds and no global bound. */

typedef struct tcp_counters {
	uint64_t out_of_order, retransmits, dropped, gaps, lost_bytes;
} tcp_counters_t;

/* Sink for in-order bytes: data == NULL with len > 0 means `len` bytes were lost (gap).
 * data may point into the caller's payload (valid only during the call). The sink must not
 * call back into the same stream. Never called with len == 0. */
typedef void (*tcp_deliver_fn)(void *ctx, const uint8_t *data, size_t len);

/* Initialize an empty stream. */
void tcp_stream_init(tcp_stream_t *s);

/* Process one segment of this direction. flags is the TCP flags byte. Delivers every byte
 * that became in-order (payload first from this segment, then any held segments that now
 * fit). Returns 0, or -1 if a held segment could not be allocated (counted as dropped).
 *
 * - SYN starts the stream at seq+1 (SYN occupies one sequence number; SYN payload starts
 *   at seq+1). Without SYN, the first segment carrying data or FIN starts the stream at
 *   its seq (capture began mid-flow); pure ACKs never start a stream.
 * - FIN records fin_seq = (data seq)+len (first FIN within the window wins; a FIN behind
 *   next_seq is ignored); bytes at or beyond fin_seq are discarded (counted dropped),
 *   including held ones. RST finishes the stream at once; its payload and everything
 *   after it are ignored (counted dropped if they carry data). Callers that validate
 *   resets themselves (the engine does) pass the flags without RST.
 * - Entirely old data counts a retransmit; a partially old segment is trimmed and counts
 *   a retransmit. In-order data is delivered from `payload` without copying.
 * - Future data (at most TCP_STREAM_WINDOW ahead; further is dropped) is copied and held
 *   (counts out_of_order). Held data never overlaps: bytes already held win, duplicates
 *   count a retransmit. When the per-direction or global bound would be exceeded, the
 *   stream declares a gap: deliver(NULL, n) up to the earliest known byte (first held
 *   segment or this one), delivers what became in order, counts a gap, and retries.
 * - payload == NULL with len > 0, or len > TCP_STREAM_MAX_SEGMENT: dropped. */
int tcp_stream_segment(tcp_stream_t *s, uint32_t seq, uint8_t flags, const uint8_t *payload,
                       size_t len, const tcp_limits_t *lim, tcp_counters_t *cnt,
                       tcp_deliver_fn deliver, void *ctx);

/* Deliver whatever is held, in order, reporting gaps between held segments (end of flow).
 * If a FIN was seen and bytes before it are still missing, a final gap up to fin_seq is
 * reported too (the stream is then finished). Leaves nothing held. */
void tcp_stream_flush(tcp_stream_t *s, const tcp_limits_t *lim, tcp_counters_t *cnt,
                      tcp_deliver_fn deliver, void *ctx);

/* The other direction acknowledged every byte before `ack` (capture time `now`). An ACK
 * never declares bytes lost by itself: the capture may still bring the late segment (a
 * SPAN port or multi-queue NIC delivers [D2, ACK(D), D]). When `ack` covers the start of the
 * held data, the hole is only marked as acknowledged, with the time first seen; see
 * tcp_stream_age_hole. No-op when nothing is held. */
void tcp_stream_acked(tcp_stream_t *s, uint32_t ack, double now);

/* Declare the first hole lost if the peer acknowledged it at least `wait` seconds ago
 * (engine time `now`) and it is still open: the receiver had those bytes long ago, the
 * capture will not bring them any more. Delivers the gap and what became in order.
 * Returns true if a gap was declared. */
bool tcp_stream_age_hole(tcp_stream_t *s, double now, double wait, const tcp_limits_t *lim,
                         tcp_counters_t *cnt, tcp_deliver_fn deliver, void *ctx);

/* Bytes held out of order (as charged to the limits) and the number of held segments. */
uint32_t tcp_stream_held_bytes(const tcp_stream_t *s);
uint32_t tcp_stream_held_segments(const tcp_stream_t *s);
/* The peer acknowledged the start of the first hole (tcp_stream_age_hole has work). */
bool tcp_stream_hole_acked(const tcp_stream_t *s);

/* True once FIN (all bytes before it delivered) or RST was seen. */
bool tcp_stream_finished(const tcp_stream_t *s);

/* Free held segments (without delivering), updating lim->total. The rest of the state
 * (next_seq, FIN/RST) is kept. Safe to call more than once. */
void tcp_stream_free(tcp_stream_t *s, const tcp_limits_t *lim);

#endif
