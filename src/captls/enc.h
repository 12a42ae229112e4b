/*
 * enc.h — the byte encoders behind captls's stdout records (output.c): base64 for JSON
 * "data", RFC 8259 string escaping for JSON strings, and the \xHH escaping of text output.
 *
 * Why separate and fast: decrypted plaintext goes through these for every message, so
 * they decide captls's output throughput (issue 11: >= 1 GB/s of plaintext). Each one
 * is a pure function writing into a caller buffer that has room for the worst case, so
 * the caller (output.c) can stream large messages in chunks through one fixed buffer.
 */
#ifndef CAPTLS_ENC_H
#define CAPTLS_ENC_H

#include <stddef.h>
#include <stdint.h>

/* Standard base64 (RFC 4648 alphabet, '=' padding) of in[0..len) into out, which must
 * hold (len + 2) / 3 * 4 bytes; no NUL is written. Returns the number of bytes written.
 * Encoding consecutive pieces whose lengths are multiples of 3 gives the same text as
 * encoding their concatenation at once. */
size_t enc_base64(const uint8_t *in, size_t len, char *out);

/* JSON string contents (RFC 8259, without the quotes) of s[0..n) into out, which must
 * hold 6 * n bytes. '"' and '\' are escaped, control characters U+0000..U+001F as \b \f
 * \n \r \t or \u00xx (lowercase hex, as json-c writes them), '/' and DEL are not. Valid
 * UTF-8 is copied; every byte that is not part of a valid UTF-8 sequence (stray
 * continuation bytes, overlong forms, surrogates, code points above U+10FFFF, truncated
 * sequences) becomes U+FFFD written as \ufffd, so the output is always valid JSON text.
 * Returns the number of bytes written. */
size_t enc_json_string(const uint8_t *s, size_t n, char *out);

/* captls text escaping of d[from..to) (d holds n >= to bytes; d[to] is looked at only
 * for CRLF) into out, which must hold 4 * (to - from) bytes: CRLF is written as LF
 * (the CR dropped), LF, TAB and printable ASCII other than '\' are copied, '\' becomes
 * "\\", a lone CR "\r", every other byte \xhh (lowercase). Returns bytes written. */
size_t enc_text(const uint8_t *d, size_t n, size_t from, size_t to, char *out);

#endif
