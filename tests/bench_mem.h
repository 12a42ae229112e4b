/*
 * bench_mem.h — what bench.c and bench_mem.c (the memory measurements) share.
 */
#ifndef TESTS_BENCH_MEM_H
#define TESTS_BENCH_MEM_H

#include <stddef.h>
#include <stdint.h>
#include "tls_engine.h"

/* bench.c */
extern int RUNS;                       /* runs per figure (median); -q: 1 */
extern char KEY[600], CERT[600];       /* the server's RSA-2048 key and certificate */
typedef struct sink { uint64_t msgs, bytes; } sink_t;
/* on_message callback counting into a sink_t (user). */
void on_message(void *u, const tls_message_t *m);
/* A keystore with KEY and, if non-NULL, the key log. Exits on failure. */
tls_keystore_t *keystore(const char *keylog);
double median(double *v, int n);
/* Resident set size of this process in bytes. */
size_t rss_now(void);
/* Ethernet/IPv4/TCP frame: 1 from the client (port client_port), 0 from the server, -1
 * not TCP; *plen the TCP payload length. */
int frame_tcp(const uint8_t *f, size_t len, uint16_t client_port, size_t *plen);

/* bench_mem.c */
extern unsigned NFLOWS;                /* flows of the memory runs (--memory N) */
/* Memory per flow: idle flows stopped mid-handshake and established (--memory). */
void bench_memory(void);
/* Memory per established idle flow, TLS 1.2 and 1.3, with struct sizes (--memory-established). */
void bench_memory_established(void);
/* --gen-idle OUT N: a pcap of N flows stopped mid-handshake. Returns 0 or 1. */
int gen_idle(const char *out, unsigned n);

#endif
