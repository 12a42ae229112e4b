/*
 * sslv2.c — framing and parsing of the SSLv2-format ClientHello (format, transcript rule and
 * why in sslv2.h). Wire bytes are read only through cursor_t.
 */
#include <string.h>
#include "cursor.h"
#include "sslv2.h"

int sslv2_hello_frame(const uint8_t *p, size_t len, size_t *msg_len)
{
	cursor_t c = cur_init(p, len);
	uint8_t b0 = cur_u8(&c), b1 = cur_u8(&c), type = cur_u8(&c), major = cur_u8(&c), minor = cur_u8(&c);
	if (cur_failed(&c)) {
		/* fewer than 5 bytes: say "maybe" only while what is there fits */
		if (len >= 1 && !(p[0] & 0x80)) return -1;
		if (len >= 3 && p[2] != 1) return -1;
		if (len >= 4 && p[3] != 3) return -1;
		return 0;
	}
	if (!(b0 & 0x80) || type != 1 || major != 3 || minor > 3) return -1;
	size_t rl = (size_t)(b0 & 0x7f) << 8 | b1;
	if (rl < 9 + 3 + 16 || rl > SSLV2_MAX_HELLO) return -1;   /* fields + one spec + 16-byte challenge */
	if (len - 2 < rl) return 0;
	*msg_len = rl;
	return 1;
}

bool sslv2_parse_hello(const uint8_t *msg, size_t len, sslv2_hello_t *out)
{
	memset(out, 0, sizeof *out);
	cursor_t c = cur_init(msg, len);
	uint8_t type = cur_u8(&c);
	out->version = cur_u16(&c);
	size_t cs_len = cur_u16(&c), sid_len = cur_u16(&c), ch_len = cur_u16(&c);
	cursor_t specs = cur_sub(&c, cs_len);
	cursor_t sid = cur_sub(&c, sid_len);
	cursor_t chal = cur_sub(&c, ch_len);
	if (!cur_done(&c) || type != 1 || (out->version >> 8) != 3 || (out->version & 0xff) > 3) return false;
	if (cs_len == 0 || cs_len % 3 || sid_len > 32 || ch_len < 16 || ch_len > 32) return false;
	while (cur_left(&specs) >= 3) {
		uint8_t hi = cur_u8(&specs);
		uint16_t s = cur_u16(&specs);
		if (hi == 0 && out->n_suites < SSLV2_MAX_SPECS) out->suites[out->n_suites++] = s;
	}
	out->sid_len = (uint8_t)sid_len;
	cur_copy(&sid, out->sid, sid_len);
	cur_copy(&chal, out->random + 32 - ch_len, ch_len);
	return !cur_failed(&specs) && !cur_failed(&sid) && !cur_failed(&chal);
}
