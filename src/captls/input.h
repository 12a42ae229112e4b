/*
 * input.h — captls's packet source: libpcap for live interfaces, classic pcap files and
 * standard input, our own pcapng reader (pcapng.h) for pcapng files; plus the pass that
 * loads the TLS key-log secrets a pcapng file carries (Decryption Secrets Blocks) into a
 * keystore before any packet is decrypted.
 *
 * Why our reader for every pcapng file rather than libpcap first: libpcap never shows the
 * secrets blocks (so a pcapng would need our reader anyway to find them), and it refuses
 * pcapng files whose interfaces have different link types; one reader for all pcapng
 * input means one tested path whatever the file holds, with a link type per packet.
 * libpcap stays for everything else (and "-r -": a pipe cannot be peeked at and re-read).
 * Kept out of captls.c so that the main file stays about options and the read loop.
 */
#ifndef CAPTLS_INPUT_H
#define CAPTLS_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "tls_engine.h"

typedef struct cap_input cap_input_t;

typedef struct cap_pkt {
	int dlt;                  /* link type of this packet (per interface in pcapng) */
	const uint8_t *data;      /* valid until the next input_next */
	uint32_t caplen;
	double ts;
} cap_pkt_t;

/* Does the engine decode this link type? */
bool input_dlt_supported(int dlt);

/* Open `file` (-r) or `iface` (-i) with an optional BPF filter. NULL + a one-line err
 * (usage-level problem: cannot open, bad filter, unsupported link type) on failure. */
cap_input_t *input_open(const char *file, const char *iface, const char *filter, char *err, size_t errlen);

/* Next packet that passes the filter: 1 (p filled), 0 read timeout (live), -2 end of
 * input or input_breakloop, -1 read error (input_error). Packets of pcapng interfaces
 * with a link type the engine does not decode are skipped (warned once per link type). */
int input_next(cap_input_t *in, cap_pkt_t *p);

/* From a signal handler: make input_next return -2 soon. */
void input_breakloop(cap_input_t *in);

const char *input_error(cap_input_t *in);
bool input_is_pcapng(const cap_input_t *in);

/* --stats lines about the input (kernel drops for live captures; pcapng blocks). */
void input_print_stats(cap_input_t *in, FILE *f);

void input_close(cap_input_t *in);

/* If `file` is pcapng with TLS key-log Decryption Secrets Blocks, feed their lines into
 * *ks (created when NULL, given a memory-fed key log when it has none) so that they are
 * in before the first packet, wherever the blocks are in the file. Returns the number of
 * TLS secrets blocks (0: none, or not pcapng; *ks untouched then). A malformed file is
 * not an error here: the packet pass reports it where it happens. keylog_max bounds the
 * secrets kept; *lines / *malformed (may be NULL) get the key-log line counts. */
long input_load_secrets(const char *file, tls_keystore_t **ks, size_t keylog_max,
                        uint64_t *lines, uint64_t *malformed);

#endif
