/*
 * enc.c — fast byte encoders for captls output (see enc.h): base64, JSON string
 * escaping, text escaping.
 *
 * How they are fast: base64 looks up 12 input bits at a time in a 4096-entry table of
 * character pairs and reads the input 6 bytes per step through one 64-bit load; the text
 * escaper tests 8 bytes at a time (SWAR) for anything that is not plain printable ASCII
 * and copies runs of plain bytes with memcpy. JSON string escaping is only used for short
 * fields (SNI, names) and favours obvious correctness.
 */
#include "enc.h"

#include <pthread.h>
#include <string.h>
#include <endian.h>

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char PAIR[4096][2];          /* base64 of 12 bits: two characters */
static pthread_once_t pair_once = PTHREAD_ONCE_INIT;

static void pair_init(void)
{
	for (unsigned i = 0; i < 4096; i++) {
		PAIR[i][0] = B64[i >> 6];
		PAIR[i][1] = B64[i & 63];
	}
}

size_t enc_base64(const uint8_t *in, size_t len, char *out)
{
	pthread_once(&pair_once, pair_init);
	char *o = out;
	size_t i = 0;
	/* 6 input bytes -> 8 characters per step; the 64-bit load reads 2 bytes beyond them */
	for (; i + 8 <= len; i += 6, o += 8) {
		uint64_t w;
		memcpy(&w, in + i, 8);
		w = be64toh(w);
		memcpy(o, PAIR[(w >> 52) & 0xfff], 2);
		memcpy(o + 2, PAIR[(w >> 40) & 0xfff], 2);
		memcpy(o + 4, PAIR[(w >> 28) & 0xfff], 2);
		memcpy(o + 6, PAIR[(w >> 16) & 0xfff], 2);
	}
	for (; i + 3 <= len; i += 3, o += 4) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		memcpy(o, PAIR[v >> 12], 2);
		memcpy(o + 2, PAIR[v & 0xfff], 2);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*o++ = B64[v >> 18];
		*o++ = B64[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*o++ = B64[v >> 18];
		*o++ = B64[(v >> 12) & 63];
		*o++ = B64[(v >> 6) & 63];
		*o++ = '=';
	}
	return (size_t)(o - out);
}

/* ---------------------------------------------------------------- JSON strings */

static const char HEX[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence starting at s[0] (n bytes available), or 0. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	size_t k;
	uint8_t lo = 0x80, hi = 0xbf;       /* allowed range of the second byte */
	if (c >= 0xc2 && c <= 0xdf) k = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		k = 3;
		if (c == 0xe0) lo = 0xa0;       /* no overlong forms */
		if (c == 0xed) hi = 0x9f;       /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 4;
		if (c == 0xf0) lo = 0x90;
		if (c == 0xf4) hi = 0x8f;       /* <= U+10FFFF */
	} else return 0;
	if (n < k || s[1] < lo || s[1] > hi) return 0;
	for (size_t j = 2; j < k; j++)
		if (s[j] < 0x80 || s[j] > 0xbf) return 0;
	return k;
}

size_t enc_json_string(const uint8_t *s, size_t n, char *out)
{
	char *o = out;
	for (size_t i = 0; i < n; ) {
		uint8_t c = s[i];
		if (c >= 0x80) {
			size_t k = utf8_len(s + i, n - i);
			if (k) { memcpy(o, s + i, k); o += k; i += k; }
			else { memcpy(o, "\\ufffd", 6); o += 6; i++; }
			continue;
		}
		i++;
		switch (c) {
		case '"': *o++ = '\\'; *o++ = '"'; break;
		case '\\': *o++ = '\\'; *o++ = '\\'; break;
		case '\b': *o++ = '\\'; *o++ = 'b'; break;
		case '\f': *o++ = '\\'; *o++ = 'f'; break;
		case '\n': *o++ = '\\'; *o++ = 'n'; break;
		case '\r': *o++ = '\\'; *o++ = 'r'; break;
		case '\t': *o++ = '\\'; *o++ = 't'; break;
		default:
			if (c < 0x20) {
				memcpy(o, "\\u00", 4);
				o[4] = HEX[c >> 4];
				o[5] = HEX[c & 15];
				o += 6;
			} else {
				*o++ = (char)c;
			}
		}
	}
	return (size_t)(o - out);
}

/* ---------------------------------------------------------------- text */

#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL

/* Nonzero when some byte of w is not printable ASCII (0x20..0x7e) or is '\'. Exact as a
 * yes/no answer (the classic "hasless" / "hasmore" / "haszero" word tests). */
static uint64_t word_special(uint64_t w)
{
	uint64_t less = (w - ONES * 0x20) & ~w & HIGH;          /* some byte < 0x20 */
	uint64_t more = ((w + ONES * (127 - 0x7e)) | w) & HIGH; /* some byte > 0x7e */
	uint64_t x = w ^ (ONES * '\\');
	uint64_t bs = (x - ONES) & ~x & HIGH;                   /* some byte == '\' */
	return less | more | bs;
}

size_t enc_text(const uint8_t *d, size_t n, size_t from, size_t to, char *out)
{
	char *o = out;
	size_t i = from;
	while (i < to) {
		size_t run = i;
		while (run + 8 <= to) {
			uint64_t w;
			memcpy(&w, d + run, 8);
			if (word_special(w)) break;
			run += 8;
		}
		while (run < to && d[run] >= 0x20 && d[run] < 0x7f && d[run] != '\\') run++;
		if (run > i) { memcpy(o, d + i, run - i); o += run - i; i = run; }
		if (i >= to) break;
		uint8_t c = d[i++];
		if (c == '\n' || c == '\t') *o++ = (char)c;
		else if (c == '\\') { *o++ = '\\'; *o++ = '\\'; }
		else if (c == '\r') {
			if (i < n && d[i] == '\n') continue;    /* CRLF: the LF makes the line break */
			*o++ = '\\'; *o++ = 'r';
		} else {
			o[0] = '\\'; o[1] = 'x'; o[2] = HEX[c >> 4]; o[3] = HEX[c & 15];
			o += 4;
		}
	}
	return (size_t)(o - out);
}
