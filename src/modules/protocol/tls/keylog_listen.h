/*
 * keylog_listen.h — UDP key-log listener: receives NSS key-log lines as datagrams (one line
 * per datagram, newline optional, as Kamailio's tls `keylog_peer` and any
 * SSL_CTX_set_keylog_callback forwarder send them) and feeds them into a keystore's
 * memory-fed key log (tls_keystore_feed_keylog). Front-end glue shared by the captagent
 * module and captls; it only uses the public engine API (tls_engine.h).
 *
 * Senders are filtered by address (keylog-allow; default: loopback only), datagrams are
 * bounded (longer ones are counted and dropped), and everything is counted. Secrets are
 * never logged; the receive buffer is wiped after each datagram.
 */
#ifndef PTLS_KEYLOG_LISTEN_H
#define PTLS_KEYLOG_LISTEN_H

#include <stddef.h>
#include <stdint.h>
#include "tls_engine.h"

#define KLL_DEFAULT_MAX_DGRAM 4096   /* bytes; NSS lines are < 200, several per datagram fit
                                      * (keylog-max-datagram, --keylog-max-datagram) */
#define KLL_MAX_ALLOW 64

typedef struct kl_listener kl_listener_t;

typedef struct kl_listener_stats {
	uint64_t datagrams;       /* accepted datagrams (from allowed senders, within the bound) */
	uint64_t bytes;
	uint64_t lines;           /* lines parsed into secrets */
	uint64_t secrets_new;     /* secrets not known before */
	uint64_t malformed;       /* bad fields, over-long lines */
	uint64_t ignored;         /* other non-blank lines (unknown labels, comments) */
	uint64_t rejected;        /* datagrams from senders outside keylog-allow (dropped) */
	uint64_t oversize;        /* datagrams longer than the bound (dropped) */
	uint64_t errors;          /* recvfrom errors */
} kl_listener_stats_t;

/* Check a listen spec / allow list without opening anything (config validation).
 * spec: "udp:HOST:PORT", "udp:[V6]:PORT", "udp:PORT" or "PORT" (HOST defaults to
 * 127.0.0.1; the "udp:" prefix is optional). allow: addresses or CIDR prefixes separated
 * by commas or spaces ("127.0.0.1, 10.0.0.0/8, ::1"), "any", or NULL/"" for loopback only.
 * Returns 0, or -1 with a one-line reason in err. */
int kl_listener_check(const char *spec, const char *allow, char *err, size_t errlen);

/* Bind the listener (non-blocking UDP socket) feeding `ks` (ref'd; it must have a
 * memory-fed key log: tls_keystore_add_keylog_feed). max_dgram bounds accepted datagrams
 * (0 = KLL_DEFAULT_MAX_DGRAM, at most 65535). NULL + one-line err on failure. */
kl_listener_t *kl_listener_open(const char *spec, const char *allow, size_t max_dgram,
                                tls_keystore_t *ks, char *err, size_t errlen);

/* Receive and feed every datagram that is ready, at most `max` (0 = no limit) without
 * blocking. Returns the number of datagrams read (accepted or not). For front ends that
 * drive the socket from their own loop (kl_listener_fd for poll()). Not to be mixed with
 * kl_listener_start. */
size_t kl_listener_poll(kl_listener_t *l, size_t max);
int kl_listener_fd(const kl_listener_t *l);

/* Run the receive loop in a thread of its own until kl_listener_free. Returns 0 or -1 + err. */
int kl_listener_start(kl_listener_t *l, char *err, size_t errlen);

/* Snapshot the counters (any thread). */
void kl_listener_get_stats(kl_listener_t *l, kl_listener_stats_t *st);

/* "udp:127.0.0.1:5099" as bound (the real port when 0 was asked). */
const char *kl_listener_describe(const kl_listener_t *l);
/* The bound UDP port. */
uint16_t kl_listener_port(const kl_listener_t *l);

/* Stop the thread (if started), close the socket, drop the keystore reference. */
void kl_listener_free(kl_listener_t *l);

#endif
