/*
 * cursor_test.c — the bounds-checked wire reader: reads past the end fail without
 * touching memory and stick, sub-cursors cannot see their parent's bytes, leftover bytes
 * are detectable.
 */
#include <string.h>
#include "tap.h"
#include "cursor.h"

int main(void)
{
	const uint8_t b[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09 };
	cursor_t c = cur_init(b, sizeof b);
	tap_ok(cur_u8(&c) == 0x01, "u8");
	tap_ok(cur_u16(&c) == 0x0203, "u16 big-endian");
	tap_ok(cur_u24(&c) == 0x040506, "u24 big-endian");
	tap_ok(cur_left(&c) == 3, "left after reads");
	tap_ok(cur_u32(&c) == 0 && cur_failed(&c), "u32 past end fails and yields 0");
	tap_ok(cur_u8(&c) == 0 && cur_left(&c) == 0, "error is sticky");

	c = cur_init(b, sizeof b);
	tap_ok(cur_u32(&c) == 0x01020304, "u32");
	uint8_t out[8];
	tap_ok(cur_copy(&c, out, 5) && !memcmp(out, b + 4, 5) && cur_done(&c), "copy to end, done");

	/* length prefix opens a sub-cursor limited to its length */
	const uint8_t v[] = { 0x00, 0x03, 0xaa, 0xbb, 0xcc, 0xdd };
	c = cur_init(v, sizeof v);
	cursor_t s = cur_sub16(&c);
	tap_ok(cur_left(&s) == 3 && cur_left(&c) == 1, "sub16 window and parent advance");
	tap_ok(cur_u16(&s) == 0xaabb && cur_u16(&s) == 0 && cur_failed(&s), "sub-cursor cannot read parent bytes");
	tap_ok(!cur_failed(&c) && cur_u8(&c) == 0xdd && cur_done(&c), "parent unaffected by sub-cursor error");

	/* declared length larger than available */
	const uint8_t w[] = { 0x00, 0x10, 0x01 };
	c = cur_init(w, sizeof w);
	s = cur_sub16(&c);
	tap_ok(cur_failed(&c) && cur_failed(&s) && cur_left(&s) == 0, "oversized length prefix fails both");

	/* 24-bit and 8-bit prefixes */
	const uint8_t x[] = { 0x00, 0x00, 0x02, 0x01, 0x7f, 0x05 };
	c = cur_init(x, sizeof x);
	s = cur_sub24(&c);
	cursor_t t = cur_sub8(&s);
	tap_ok(cur_left(&t) == 1 && cur_u8(&t) == 0x7f && cur_done(&t) && cur_done(&s), "nested sub24/sub8");
	tap_ok(!cur_done(&c) && cur_left(&c) == 1, "leftover bytes detected");

	/* span and skip */
	c = cur_init(b, sizeof b);
	const uint8_t *sp = cur_span(&c, 4);
	tap_ok(sp == b && cur_offset(&c) == 4, "span borrows in place");
	tap_ok(cur_span(&c, 100) == NULL && cur_failed(&c), "span past end is NULL");
	c = cur_init(b, sizeof b);
	tap_ok(!cur_skip(&c, 10) && cur_failed(&c), "skip past end fails");
	c = cur_init(NULL, 5);
	tap_ok(cur_failed(&c) && cur_u8(&c) == 0, "NULL buffer with length is an error");
	c = cur_init(NULL, 0);
	tap_ok(cur_done(&c), "empty cursor is done");
	/* huge sizes don't overflow */
	c = cur_init(b, sizeof b);
	cur_u8(&c);
	tap_ok(!cur_need(&c, (size_t)-1) && cur_failed(&c), "need(SIZE_MAX) fails without overflow");
	c = cur_init(b, sizeof b);
	tap_ok(cur_fail(&c) == false && cur_failed(&c) && cur_left(&c) == 0, "explicit fail");
	return tap_done();
}
