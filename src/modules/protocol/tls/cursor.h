/*
 * cursor.h — the one bounds-checked reader for every byte that comes off the wire.
 *
 * Why: TLS, TCP/IP and link-layer headers are attacker-controlled. Every parser in the
 * engine reads through a cursor_t: reads past the end set a sticky error flag and yield
 * zeros instead of touching memory; a length prefix opens a sub-cursor limited to that
 * length, so a nested structure can never read its parent's bytes; cur_done() tells
 * whether a structure was consumed exactly (leftover bytes are an error).
 * No raw pointer arithmetic or struct casts on wire bytes anywhere else.
 */
#ifndef PTLS_CURSOR_H
#define PTLS_CURSOR_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <stdbool.h>

typedef struct cursor {
	const uint8_t *p;   /* start of the readable window */
	size_t len;         /* window length */
	size_t off;         /* bytes consumed */
	bool err;           /* sticky: a read went out of bounds or a check failed */
} cursor_t;

/* Open a cursor over [p, p+len). */
static inline cursor_t cur_init(const void *p, size_t len)
{
	cursor_t c = { (const uint8_t *)p, len, 0, false };
	if (!p && len) c.err = true, c.len = 0;
	return c;
}

/* Bytes left to read (0 once in error). */
static inline size_t cur_left(const cursor_t *c) { return c->err ? 0 : c->len - c->off; }
/* True when the cursor is in error. */
static inline bool cur_failed(const cursor_t *c) { return c->err; }
/* Mark the cursor in error (semantic check failed). Always returns false. */
static inline bool cur_fail(cursor_t *c) { c->err = true; return false; }
/* True when every byte was consumed and no error occurred. */
static inline bool cur_done(const cursor_t *c) { return !c->err && c->off == c->len; }
/* Current position (only for handing a validated span to a consumer). */
static inline const uint8_t *cur_ptr(const cursor_t *c) { return c->p + c->off; }
static inline size_t cur_offset(const cursor_t *c) { return c->off; }

/* Ensure n more bytes are readable; on failure set the error flag. */
static inline bool cur_need(cursor_t *c, size_t n)
{
	if (c->err || n > c->len - c->off) { c->err = true; return false; }
	return true;
}

static inline uint8_t cur_u8(cursor_t *c)
{
	if (!cur_need(c, 1)) return 0;
	return c->p[c->off++];
}
static inline uint16_t cur_u16(cursor_t *c)
{
	if (!cur_need(c, 2)) return 0;
	uint16_t v = (uint16_t)((c->p[c->off] << 8) | c->p[c->off + 1]);
	c->off += 2;
	return v;
}
static inline uint32_t cur_u24(cursor_t *c)
{
	if (!cur_need(c, 3)) return 0;
	uint32_t v = ((uint32_t)c->p[c->off] << 16) | ((uint32_t)c->p[c->off + 1] << 8) | c->p[c->off + 2];
	c->off += 3;
	return v;
}
static inline uint32_t cur_u32(cursor_t *c)
{
	if (!cur_need(c, 4)) return 0;
	uint32_t v = ((uint32_t)c->p[c->off] << 24) | ((uint32_t)c->p[c->off + 1] << 16) |
	             ((uint32_t)c->p[c->off + 2] << 8) | c->p[c->off + 3];
	c->off += 4;
	return v;
}
/* Skip n bytes. */
static inline bool cur_skip(cursor_t *c, size_t n)
{
	if (!cur_need(c, n)) return false;
	c->off += n;
	return true;
}
/* Copy n bytes out. On failure dst is zeroed. */
static inline bool cur_copy(cursor_t *c, void *dst, size_t n)
{
	if (!cur_need(c, n)) { if (n) memset(dst, 0, n); return false; }
	memcpy(dst, c->p + c->off, n);
	c->off += n;
	return true;
}
/* Borrow a span of n bytes (pointer into the buffer, valid as long as it). NULL on failure. */
static inline const uint8_t *cur_span(cursor_t *c, size_t n)
{
	if (!cur_need(c, n)) return NULL;
	const uint8_t *s = c->p + c->off;
	c->off += n;
	return s;
}
/* Open a sub-cursor over the next n bytes and advance the parent past them. */
static inline cursor_t cur_sub(cursor_t *c, size_t n)
{
	cursor_t s = { NULL, 0, 0, true };
	if (!cur_need(c, n)) return s;
	s.p = c->p + c->off; s.len = n; s.err = false;
	c->off += n;
	return s;
}
/* Length-prefixed sub-cursors (8/16/24-bit big-endian length). */
static inline cursor_t cur_sub8(cursor_t *c)  { size_t n = cur_u8(c);  return cur_sub(c, n); }
static inline cursor_t cur_sub16(cursor_t *c) { size_t n = cur_u16(c); return cur_sub(c, n); }
static inline cursor_t cur_sub24(cursor_t *c) { size_t n = cur_u24(c); return cur_sub(c, n); }
/* The rest of the window as a sub-cursor. */
static inline cursor_t cur_rest(cursor_t *c) { return cur_sub(c, cur_left(c)); }

#endif
