/*
 * pcap_out.h — `captls -w`: write decrypted TLS traffic as a pcap of synthetic plain TCP
 * connections, so any packet tool (tshark, Snort, Zeek...) can dissect the plaintext.
 *
 * Each TLS flow becomes one TCP connection between the real addresses and ports
 * (3-way handshake, data segments carrying the plaintext in stream order with consistent
 * sequence/ack numbers per direction, FIN exchange at flow end), with valid IPv4 header
 * and TCP checksums, at the original capture timestamps. Unlike re-using the captured
 * packets' headers (which leaves wrong lengths and checksums behind), every header is
 * built fresh, so the output is a clean, self-consistent capture.
 *
 * Depends only on tls_engine.h's plain types (no engine functions), so tests can link it alone.
 */
#ifndef CAPTLS_PCAP_OUT_H
#define CAPTLS_PCAP_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include "tls_engine.h"

/* Link types the writer produces (pcap LINKTYPE_ values). */
enum { PCAP_OUT_ETHERNET = 1, PCAP_OUT_RAW = 101 };

/* Largest TCP payload per synthetic segment: the IPv4 total-length limit
 * (65535 - 20 IP - 20 TCP). Longer messages are split into several segments. */
#define PCAP_OUT_MAX_SEG 65495u

typedef struct pcap_out pcap_out_t;

typedef struct pcap_out_stats {
	uint64_t packets, bytes;        /* records written, bytes of file */
	uint64_t flows_opened, flows_closed;
	uint64_t flows_active;
} pcap_out_stats_t;

/* Create `path` ("-" for stdout) and write the pcap global header (microsecond
 * timestamps, snaplen 262144, `linktype` PCAP_OUT_ETHERNET or PCAP_OUT_RAW). Returns a
 * writer or NULL with "PATH: reason" in err. */
pcap_out_t *pcap_out_open(const char *path, int linktype, char *err, size_t errlen);

/* Like pcap_out_open on an already open stream (not closed by pcap_out_close). */
pcap_out_t *pcap_out_open_stream(FILE *f, int linktype, char *err, size_t errlen);

/* Flush the stream after every message (live captures), default off. */
void pcap_out_set_autoflush(pcap_out_t *w, bool on);

/* Append one plaintext message of flow `flow_id` in direction `dir` captured at `ts`.
 * The first message of a flow first writes SYN / SYN-ACK / ACK between ep's client and
 * server. `ep` is copied at the flow's first message. Returns 0, or -1 on a write error
 * (see pcap_out_error). A zero-length message writes nothing. */
int pcap_out_message(pcap_out_t *w, uint64_t flow_id, const tls_endpoints_t *ep, tls_dir_t dir,
                     const uint8_t *data, size_t len, double ts);

/* The flow ended: write FIN-ACK from the client, FIN-ACK from the server, final ACK, at
 * `ts` (or the flow's last timestamp if later), and forget the flow. Unknown flows (no
 * message was written) are ignored. Returns 0 or -1 on a write error. */
int pcap_out_flow_end(pcap_out_t *w, uint64_t flow_id, double ts);

/* Counters so far. */
void pcap_out_get_stats(const pcap_out_t *w, pcap_out_stats_t *st);

/* "PATH: reason" of the first write error, or NULL. */
const char *pcap_out_error(const pcap_out_t *w);

/* End every open flow (FIN exchange at the latest timestamp written, so the file stays
 * in time order), flush and close. Returns 0, or -1 if any write
 * failed (the reason is copied to err when non-NULL). NULL w is fine. */
int pcap_out_close(pcap_out_t *w, char *err, size_t errlen);

#endif
