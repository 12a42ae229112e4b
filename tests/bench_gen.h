/*
 * bench_gen.h — the benchmark's bulk capture generator (see bench_gen.c).
 */
#ifndef TESTS_BENCH_GEN_H
#define TESTS_BENCH_GEN_H

#include <stddef.h>

/* Write `pcap`: one TLS connection (version e.g. TLS1_2_VERSION, OpenSSL cipher string,
 * or TLS 1.3 ciphersuite name) whose server uses key/cert; the client sends n_msgs SIP
 * MESSAGEs of msg_len bytes each, in TCP segments of at most seg bytes (0: 1460). With
 * keylog non-NULL the NSS key log lines go there. Returns 0, or -1 on failure. */
/* Client of the next bench_gen_bulk capture: 0 is 10.0.0.1:40001, k > 0 is
 * 10.0.(1 + k / 250).(1 + k % 250):(40001 + k) (for captures merged into many flows). */
extern unsigned bench_gen_client;

int bench_gen_bulk(const char *pcap, const char *keylog, const char *key, const char *cert, int version,
                   const char *cipher, size_t seg, int n_msgs, size_t msg_len);

#endif
