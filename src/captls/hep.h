/*
 * hep.h — HEP v3 (Homer Encapsulation Protocol) encoder and a UDP/TCP sender, used by
 * `captls -H` to ship every decrypted application message to a Homer collector the way
 * captagent's transport_hep would: one HEP3 packet per message, carrying the real
 * endpoints and capture timestamp of the TLS flow and the plaintext as payload.
 *
 * Independent of the engine (only plain C types), so tests can link it alone.
 */
#ifndef CAPTLS_HEP_H
#define CAPTLS_HEP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Generic (vendor 0x0000) chunk type ids from the HEP3 specification. */
enum {
	HEP_CHUNK_IP_FAMILY = 0x0001,   /* uint8: AF_INET 2 / AF_INET6 10 */
	HEP_CHUNK_IP_PROTO = 0x0002,    /* uint8: 6 TCP, 17 UDP */
	HEP_CHUNK_IPV4_SRC = 0x0003,
	HEP_CHUNK_IPV4_DST = 0x0004,
	HEP_CHUNK_IPV6_SRC = 0x0005,
	HEP_CHUNK_IPV6_DST = 0x0006,
	HEP_CHUNK_SRC_PORT = 0x0007,    /* uint16 */
	HEP_CHUNK_DST_PORT = 0x0008,    /* uint16 */
	HEP_CHUNK_TS_SEC = 0x0009,      /* uint32 */
	HEP_CHUNK_TS_USEC = 0x000a,     /* uint32 */
	HEP_CHUNK_PROTO_TYPE = 0x000b,  /* uint8: 1 SIP, ... */
	HEP_CHUNK_CAPTURE_ID = 0x000c,  /* uint32 */
	HEP_CHUNK_AUTH_KEY = 0x000e,    /* string */
	HEP_CHUNK_PAYLOAD = 0x000f,     /* bytes */
	HEP_CHUNK_CORRELATION_ID = 0x0011 /* string */
};

/* Payload protocol types (chunk 0x000b). HEP defines no type for HTTP; captls sends
 * HTTP and unclassified plaintext as HEP_PROTO_UNKNOWN (0) unless told otherwise. */
enum { HEP_PROTO_UNKNOWN = 0x00, HEP_PROTO_SIP = 0x01 };

/* The HEP3 header's total-length field is 16 bits: a packet is at most this long. */
#define HEP_MAX_PACKET 65535u

typedef struct hep_msg {
	int family;                 /* AF_INET or AF_INET6 */
	const uint8_t *src_ip;      /* 4 or 16 bytes, network order */
	const uint8_t *dst_ip;
	uint16_t sport, dport;      /* host order */
	uint8_t ip_proto;           /* 6 for TLS over TCP */
	uint32_t ts_sec, ts_usec;
	uint8_t proto_type;         /* HEP_PROTO_* */
	uint32_t capture_id;
	const char *auth_key;       /* optional (NULL or "": chunk omitted) */
	const char *correlation_id; /* optional (NULL or "": chunk omitted) */
	const uint8_t *payload;
	size_t len;
} hep_msg_t;

/* Bytes hep_encode needs for `m`, header and all chunks included (may exceed
 * HEP_MAX_PACKET, in which case the message cannot be sent as one HEP3 packet). */
size_t hep_encoded_len(const hep_msg_t *m);

/* Encode `m` as one HEP3 packet into buf. Returns the packet length, or 0 when the packet
 * would exceed HEP_MAX_PACKET or buflen, or the family is neither AF_INET nor AF_INET6. */
size_t hep_encode(const hep_msg_t *m, uint8_t *buf, size_t buflen);

/* Split a timestamp in seconds into (sec, usec), rounding to the nearest microsecond. */
void hep_split_ts(double ts, uint32_t *sec, uint32_t *usec);

/* ---- sender ---- */

typedef struct hep_sender hep_sender_t;

typedef struct hep_sender_stats {
	uint64_t sent, send_failed;     /* packets */
	uint64_t connects, connect_failures;
	uint64_t udp_refused;           /* ICMP port unreachable seen (collector not listening?) */
} hep_sender_stats_t;

/* Parse "udp:HOST:PORT" / "tcp:HOST:PORT" (IPv6 HOST in brackets, e.g.
 * "udp:[::1]:9060") and resolve HOST. Returns a sender, or NULL with a one-line reason
 * in err (bad syntax, unresolvable host, socket failure). No connection is made yet for
 * TCP; UDP gets a connected socket. */
hep_sender_t *hep_sender_new(const char *spec, char *err, size_t errlen);

/* Largest packet this sender's transport can carry in one piece: 65535 over TCP,
 * 65507 over UDP/IPv4, 65527 over UDP/IPv6 (the UDP datagram limits). */
size_t hep_sender_max_packet(const hep_sender_t *s);

/* Send one packet (as produced by hep_encode). Never blocks longer than the sender's
 * I/O timeout (2 s). TCP connects lazily and, after a failure, reconnects with
 * exponential backoff (1 s .. 30 s); a connection that broke is retried at once, and
 * packets offered while in backoff are dropped. Returns 0 when handed to the kernel,
 * -1 when dropped (then hep_sender_last_error says why). */
int hep_sender_send(hep_sender_t *s, const uint8_t *pkt, size_t len);

/* One line describing the last failure ("" if none); valid until the next call. */
const char *hep_sender_last_error(const hep_sender_t *s);

/* "udp HOST:PORT" / "tcp [v6]:PORT" for messages. */
const char *hep_sender_describe(const hep_sender_t *s);

/* Counters so far. */
void hep_sender_get_stats(const hep_sender_t *s, hep_sender_stats_t *st);

/* Set the I/O timeout (ms) for connect and send; default 2000. For tests. */
void hep_sender_set_timeout(hep_sender_t *s, int ms);

/* Close and free (NULL is fine). */
void hep_sender_free(hep_sender_t *s);

#endif
