/*
 * fuzz_keylog_oracle.h — the independent key-log line oracle shared by the key-log fuzz
 * targets (fuzz_keylog.c: the file follower, fuzz_keylog_dgram.c: UDP datagrams): label
 * table, hex decoding, strict line parsing, and die() on a mismatch. Include after
 * fuzz_common.h (FUZZ_TARGET_NAME names the target in the message).
 */
#ifndef TESTS_FUZZ_KEYLOG_ORACLE_H
#define TESTS_FUZZ_KEYLOG_ORACLE_H

#include "keylog.h"

static const struct { const char *name; tls_keylog_label_t label; size_t idlen; } LABELS[] = {
	{ "CLIENT_RANDOM", KL_CLIENT_RANDOM, 32 },
	{ "CLIENT_EARLY_TRAFFIC_SECRET", KL_CLIENT_EARLY_TRAFFIC_SECRET, 32 },
	{ "CLIENT_HANDSHAKE_TRAFFIC_SECRET", KL_CLIENT_HANDSHAKE_TRAFFIC_SECRET, 32 },
	{ "SERVER_HANDSHAKE_TRAFFIC_SECRET", KL_SERVER_HANDSHAKE_TRAFFIC_SECRET, 32 },
	{ "CLIENT_TRAFFIC_SECRET_0", KL_CLIENT_TRAFFIC_SECRET_0, 32 },
	{ "SERVER_TRAFFIC_SECRET_0", KL_SERVER_TRAFFIC_SECRET_0, 32 },
	{ "RSA Session-ID:", KL_SESSION_ID, 32 },   /* before "RSA": "RSA Session-ID:<id> Master-Key:<ms>" */
	{ "RSA", KL_RSA, 8 },
	{ "PMS_CLIENT_RANDOM", KL_PMS_CLIENT_RANDOM, 32 },
};
#define NLABELS (sizeof LABELS / sizeof LABELS[0])

static int hv(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Decode exactly n hex digits at p (n even) into out. */
static int unhex(const uint8_t *p, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n / 2; i++) {
		int a = hv(p[2 * i]), b = hv(p[2 * i + 1]);
		if (a < 0 || b < 0) return -1;
		out[i] = (uint8_t)(a << 4 | b);
	}
	return 0;
}

typedef struct oline {
	int li;                  /* index in LABELS */
	tls_keylog_label_t label;
	uint8_t id[32];
	size_t idlen;            /* LABELS[li].idlen, or the session id's length */
	uint8_t secret[KL_MAX_PMS];
	size_t slen;
} oline_t;

/* Strict "RSA Session-ID:<2..64 hex> Master-Key:<96 hex>". */
static int strict_sid(const uint8_t *s, size_t n, oline_t *o, int li)
{
	static const char P[] = "RSA Session-ID:", M[] = " Master-Key:";
	size_t pl = sizeof P - 1, ml = sizeof M - 1, il;
	if (n < pl + 2 + ml + 96 || memcmp(s, P, pl) != 0) return 0;
	il = n - pl - ml - 96;
	if (il % 2 || il > 64 || memcmp(s + pl + il, M, ml) != 0) return 0;
	if (unhex(s + pl, il, o->id) != 0 || unhex(s + pl + il + ml, 96, o->secret) != 0) return 0;
	o->idlen = il / 2;
	o->slen = 48;
	o->li = li;
	o->label = KL_SESSION_ID;
	return 1;
}

/* Strictly formed line at s[0..n) (no '\n'): LABEL ' ' hexid ' ' hexsecret. */
static int strict_line(const uint8_t *s, size_t n, oline_t *o)
{
	for (size_t k = 0; k < NLABELS; k++) {
		size_t ln = strlen(LABELS[k].name);
		size_t il = LABELS[k].idlen * 2;
		if (LABELS[k].label == KL_SESSION_ID) {
			if (strict_sid(s, n, o, (int)k)) return 1;
			continue;
		}
		if (n < ln + 1 + il + 1 || memcmp(s, LABELS[k].name, ln) != 0 || s[ln] != ' ') continue;
		if (unhex(s + ln + 1, il, o->id) != 0 || s[ln + 1 + il] != ' ') return 0;
		size_t sl = n - (ln + 1 + il + 1);
		bool tls13 = LABELS[k].label != KL_CLIENT_RANDOM && LABELS[k].label != KL_RSA &&
		             LABELS[k].label != KL_PMS_CLIENT_RANDOM;
		bool pms = LABELS[k].label == KL_PMS_CLIENT_RANDOM;
		if (!(pms ? sl >= 2 && sl % 2 == 0 && sl <= 2 * KL_MAX_PMS : sl == 96 || (tls13 && sl == 64))) return 0;
		if (unhex(s + ln + 2 + il, sl, o->secret) != 0) return 0;
		o->slen = sl / 2;
		o->li = (int)k;
		o->label = LABELS[k].label;
		o->idlen = LABELS[k].idlen;
		return 1;
	}
	return 0;
}

static int is_sp(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Does line s[0..n) have LABELS[o->li] as first field and o->id (any hex case) as second? */
static int names_same(const uint8_t *s, size_t n, const oline_t *o)
{
	size_t i = 0, t0, t1;
	while (i < n && is_sp(s[i])) i++;
	t0 = i;
	while (i < n && !is_sp(s[i])) i++;
	const char *name = o->label == KL_SESSION_ID ? "RSA" : LABELS[o->li].name;
	size_t ln = strlen(name);
	if (i - t0 != ln || memcmp(s + t0, name, ln) != 0) return 0;
	while (i < n && is_sp(s[i])) i++;
	t1 = i;
	while (i < n && !is_sp(s[i])) i++;
	if (o->label == KL_SESSION_ID) {    /* second field "Session-ID:<id>" */
		if (i - t1 < 11 || memcmp(s + t1, "Session-ID:", 11) != 0) return 0;
		t1 += 11;
	}
	uint8_t id[32];
	size_t il = o->idlen;
	if (i - t1 != 2 * il || unhex(s + t1, 2 * il, id) != 0) return 0;
	return memcmp(id, o->id, il) == 0;
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz_%s: oracle mismatch: %s\n", FUZZ_TARGET_NAME, what);
	abort();
}

#endif
