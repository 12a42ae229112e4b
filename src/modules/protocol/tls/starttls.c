/*
 * starttls.c — where a TLS handshake begins inside a stream that started in clear text.
 *
 * Why: many protocols upgrade a plaintext connection (SMTP/IMAP/POP3/XMPP/FTP STARTTLS,
 * LDAP StartTLS, PostgreSQL, MySQL). A flow that starts as text is not "not TLS" yet: the
 * record layer skips a bounded clear-text prefix per direction and resumes at the first
 * record that really starts the hello this direction must send. The match is strict (type,
 * version, lengths and handshake type must agree), so text or binary protocol bytes do not
 * pass for a handshake.
 */
#include "starttls.h"
#include "cursor.h"

#define HDR 9                              /* record header (5) + handshake type and length (4) */
#define MAX_REC (16384u + 2048u)

/* Does a hello of type want start at p (n >= HDR bytes available)? */
static int hello_at(const uint8_t *p, size_t n, uint8_t want)
{
	cursor_t c = cur_init(p, n);
	uint8_t type = cur_u8(&c);
	uint8_t major = cur_u8(&c), minor = cur_u8(&c);
	uint16_t rl = cur_u16(&c);
	uint8_t hs = cur_u8(&c);
	uint32_t ml = cur_u24(&c);
	if (cur_failed(&c)) return 0;
	if (type != 22 || major != 3 || minor > 4) return 0;
	if (rl < 4 || rl > MAX_REC || hs != want) return 0;
	/* a hello is at least 38 bytes (version, random, session id length) and far below 2^16 */
	if (ml < 38 || ml > 65536) return 0;
	return 1;
}

size_t starttls_find_hello(const uint8_t *p, size_t n, uint8_t want, size_t *keep)
{
	*keep = 0;
	if (!p) return n;
	size_t i = 0;
	for (; i + HDR <= n; i++)
		if (hello_at(p + i, n - i, want)) return i;
	/* the last bytes may begin a header that the next bytes complete */
	for (; i < n; i++) {
		cursor_t c = cur_init(p + i, n - i);
		if (cur_u8(&c) == 22) { *keep = n - i; break; }
	}
	return n;
}
