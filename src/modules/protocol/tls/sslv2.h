/*
 * sslv2.h — the SSLv2-format ClientHello (RFC 5246 appendix E.2, RFC 6101 appendix E.1).
 *
 * Why: old clients and some scanners still open TLS <= 1.2 handshakes with an SSL 2.0
 * CLIENT-HELLO carrying a TLS version; the server answers with a normal TLS ServerHello.
 * Format: a 2-byte record header (high bit set, 15-bit length), then msg_type 1, version
 * (0x0300..0x0303), cipher_spec_length, session_id_length, challenge_length (2 bytes each),
 * the cipher specs (3 bytes each; TLS suites are 0x00 + the 2-byte suite), the session id
 * (0, or 16 for SSL 2.0 resumption, never valid for TLS) and the challenge (16..32 bytes),
 * which becomes the client random right-aligned in 32 bytes with leading zeros. The
 * handshake transcript of TLS <= 1.2 covers the message from msg_type on (not the 2-byte
 * record header), as OpenSSL (ssl/statem, "SSLv2 compatible ClientHello") and Wireshark do.
 * Parsed through cursor_t only; used by record.c (framing) and handshake.c (contents).
 */
#ifndef PTLS_SSLV2_H
#define PTLS_SSLV2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSLV2_MAX_SPECS 256          /* cipher specs kept (the message may carry more) */
#define SSLV2_MAX_HELLO 16384        /* longer SSLv2 records are not taken for a hello */

typedef struct sslv2_hello {
	uint16_t version;                /* the client's highest version (0x0300..0x0303) */
	uint8_t random[32];              /* challenge, right-aligned, zero-padded */
	uint8_t sid[32];
	uint8_t sid_len;
	uint16_t suites[SSLV2_MAX_SPECS]; /* the TLS suites among the specs (first byte 0) */
	size_t n_suites;
} sslv2_hello_t;

/* Does stream data p[0..len) start with an SSLv2-format ClientHello record? Returns 1 with
 * *msg_len (the record's length: msg_type .. challenge) when complete, 0 when it may be one
 * but more bytes are needed, -1 when it is not one. */
int sslv2_hello_frame(const uint8_t *p, size_t len, size_t *msg_len);

/* Parse the message (msg_type .. challenge, exactly len bytes). Returns true on success;
 * false for anything malformed (lengths inconsistent, challenge outside 16..32 bytes, cipher
 * specs not a multiple of 3, version not 3.x, trailing bytes). */
bool sslv2_parse_hello(const uint8_t *msg, size_t len, sslv2_hello_t *out);

#endif
