/*
 * starttls.h — finding where TLS starts after a clear-text prefix (SMTP/IMAP/POP3/XMPP/
 * FTP STARTTLS, LDAP StartTLS, PostgreSQL's SSLRequest/'S', MySQL's SSL request).
 */
#ifndef PTLS_STARTTLS_H
#define PTLS_STARTTLS_H

#include <stddef.h>
#include <stdint.h>

/* Look in p[0..n) for the first plaintext TLS record that starts a hello of handshake
 * type `want` (1 ClientHello, 2 ServerHello): content type 22, version 3.0..3.4, record
 * length 4..18432, then the handshake type and a 24-bit length that fits the record or
 * continues past it (a hello may span records). Returns the offset of the match, or n if
 * there is none; *keep (<= 8) is how many trailing bytes could still begin a match once
 * more bytes arrive. Every byte is read through cursor_t. */
size_t starttls_find_hello(const uint8_t *p, size_t n, uint8_t want, size_t *keep);

#endif
