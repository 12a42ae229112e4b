/*
 * keylog.c — NSS key log (SSLKEYLOGFILE) follower (implements keylog.h).
 *
 * What: endpoints (browsers, curl, OpenSSL's SSL_CTX_set_keylog_callback, SIP stacks)
 * append one line per secret:
 *     CLIENT_RANDOM <64 hex client random> <96 hex master secret>
 *     CLIENT_HANDSHAKE_TRAFFIC_SECRET / SERVER_HANDSHAKE_TRAFFIC_SECRET /
 *     CLIENT_TRAFFIC_SECRET_0 / SERVER_TRAFFIC_SECRET_0 / CLIENT_EARLY_TRAFFIC_SECRET
 *                   <64 hex client random> <64 or 96 hex secret>
 *     RSA <16 hex: first 8 bytes of the encrypted pre-master> <96 hex pre-master>
 *     RSA Session-ID:<2..64 hex session id> Master-Key:<96 hex master secret>
 *     PMS_CLIENT_RANDOM <64 hex client random> <2..768 hex pre-master secret>
 * The last two are the other formats Wireshark reads (packet-tls-utils.c): the first is
 * OpenSSL's SSL_SESSION text (looked up by the ServerHello's session id), the second a
 * pre-master secret of any key exchange (the engine derives the master secret with the
 * session's PRF / extended master secret). As in Wireshark, labels are case-sensitive and
 * hex is not; unlike Wireshark (one space exactly, anything after the secret ignored),
 * fields may be separated by runs of blanks and a line must hold exactly its fields.
 * Other labels (EXPORTER_SECRET, ...) and '#' comments are ignored; malformed lines
 * (bad hex, wrong lengths, missing fields) are counted and skipped.
 *
 * Why this shape: the file grows while traffic flows and a session's key often lands
 * after its first records, so the engine refreshes on a miss. A refresh costs one stat()
 * when nothing changed and otherwise reads only the appended bytes; a file that shrank,
 * was replaced (inode/device changed) or was rewritten in place (modified, and the bytes
 * just before our offset changed) is re-read from the start. Memory is bounded whatever the file
 * holds: lines longer than KL_MAX_LINE are discarded up to their newline without being
 * buffered, a partial last line is kept (bounded) until its newline arrives, and the
 * table keeps at most max_entries secrets, evicting the oldest (FIFO). Secrets are wiped
 * on eviction, replacement and free, the line buffer after each line, and nothing here
 * ever prints a secret. One mutex guards everything (lookups can come from several
 * engine threads).
 *
 * A key log may also have no file (tls_keylog_open_mem): lines then arrive as UDP
 * datagrams from the key-log listener (Kamailio's keylog_peer sends one line per datagram
 * without newline) through tls_keylog_feed_dgram, which parses each datagram on its own
 * (no partial line carried over, a stack line buffer wiped after each line) into the same
 * bounded table, from the listener's thread while engines look secrets up.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* explicit_bzero, getrandom */
#endif
#include "keylog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>

#define KL_MAX_LINE 1024          /* longer lines are malformed (valid ones are < 200) */
#define KL_DEFAULT_MAX 100000
#define KL_MAX_ENTRIES (1u << 24) /* hard cap so indices fit and buckets stay sane */
#define KL_READ_CHUNK 65536
#define KL_TAIL 32                /* bytes before the offset remembered to spot rewrites */
#define KL_NONE UINT32_MAX

typedef struct kl_entry {
	uint32_t next;      /* next entry index in the bucket chain, KL_NONE at the end */
	uint8_t label;      /* tls_keylog_label_t */
	uint8_t idlen;      /* 32, 8 for KL_RSA, 1..32 for KL_SESSION_ID */
	uint8_t used;
	uint16_t slen;      /* 32 or 48; 1..KL_MAX_PMS for KL_PMS_CLIENT_RANDOM */
	uint8_t id[32];
	uint8_t secret[48];
	uint8_t *ext;       /* secrets over 48 bytes (finite-field DHE pre-master): heap, wiped */
} kl_entry_t;

struct tls_keylog {
	pthread_mutex_t mu;
	char *path;

	/* file position */
	bool have_file;     /* dev/ino/off describe a file we have read */
	dev_t dev;
	ino_t ino;
	off_t off;          /* bytes consumed so far */
	struct timespec mtime; /* modification time seen at the last read */
	uint8_t tail[KL_TAIL];
	size_t taillen;     /* valid bytes in tail = the last taillen bytes before off */

	/* current (incomplete) line */
	char line[KL_MAX_LINE + 1];
	size_t linelen;
	bool discarding;    /* inside an over-long line: drop bytes until '\n' */

	/* table: entries in a ring (FIFO order), chained through a fixed bucket array */
	kl_entry_t *ring;
	size_t cap;         /* allocated ring slots (grows up to max) */
	size_t max;
	size_t head;        /* index of the oldest entry */
	size_t count;
	uint32_t *buckets;
	size_t nbuckets;    /* power of two */
	uint64_t seed;

	uint8_t *chunk;     /* read buffer, KL_READ_CHUNK bytes, wiped after use */

	uint64_t lines, malformed;
	uint64_t generation;    /* bumped whenever secrets were added */
};

/* ---- small helpers ---- */

static void wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Decode exactly 2*n hex chars from s into out. Returns 0 or -1. */
static int unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
	size_t i;
	if (slen != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* The bytes of an entry's secret. */
static const uint8_t *ent_secret(const kl_entry_t *e)
{
	return e->ext ? e->ext : e->secret;
}

/* Wipe an entry's secret (and free its heap part). */
static void ent_clear_secret(kl_entry_t *e)
{
	if (e->ext) {
		wipe(e->ext, e->slen);
		free(e->ext);
		e->ext = NULL;
	}
	wipe(e->secret, sizeof e->secret);
	e->slen = 0;
}

/* Store a secret of n bytes (cleared entry). Returns 0, or -1 on ENOMEM. */
static int ent_set_secret(kl_entry_t *e, const uint8_t *secret, size_t n)
{
	if (n > sizeof e->secret) {
		e->ext = malloc(n);
		if (!e->ext)
			return -1;
		memcpy(e->ext, secret, n);
	} else {
		memcpy(e->secret, secret, n);
	}
	e->slen = (uint16_t)n;
	return 0;
}

/* Keyed hash of (label, id): ids are client randoms, which a hostile client can choose,
 * so the bucket index depends on a per-keylog random seed. */
static uint64_t kl_hash(const tls_keylog_t *kl, uint8_t label, const uint8_t *id, size_t idlen)
{
	uint64_t h = kl->seed ^ (0x9E3779B97F4A7C15ull * ((uint64_t)label + 1u));
	size_t i;
	for (i = 0; i < idlen; i++) {
		h ^= id[i];
		h *= 0x100000001B3ull;
		h ^= h >> 29;
	}
	h ^= h >> 33;
	h *= 0xFF51AFD7ED558CCDull;
	h ^= h >> 33;
	return h;
}

static kl_entry_t *kl_find(tls_keylog_t *kl, uint8_t label, const uint8_t *id, size_t idlen)
{
	uint32_t i;
	if (!kl->buckets)
		return NULL;
	i = kl->buckets[kl_hash(kl, label, id, idlen) & (kl->nbuckets - 1)];
	while (i != KL_NONE) {
		kl_entry_t *e = &kl->ring[i];
		if (e->label == label && e->idlen == idlen && memcmp(e->id, id, idlen) == 0)
			return e;
		i = e->next;
	}
	return NULL;
}

/* Unlink ring slot idx from its bucket chain. */
static void kl_unlink(tls_keylog_t *kl, uint32_t idx)
{
	kl_entry_t *e = &kl->ring[idx];
	uint32_t *pp = &kl->buckets[kl_hash(kl, e->label, e->id, e->idlen) & (kl->nbuckets - 1)];
	while (*pp != KL_NONE) {
		if (*pp == idx) {
			*pp = e->next;
			return;
		}
		pp = &kl->ring[*pp].next;
	}
}

/* Insert or replace. Returns 1 if a new entry was added, 0 if replaced, -1 on ENOMEM. */
static int kl_insert(tls_keylog_t *kl, uint8_t label, const uint8_t *id, size_t idlen,
                     const uint8_t *secret, size_t slen)
{
	kl_entry_t *e = kl_find(kl, label, id, idlen);
	size_t slot;
	uint32_t *b;

	if (e) {
		ent_clear_secret(e);
		return ent_set_secret(e, secret, slen) == 0 ? 0 : -1;
	}
	if (!kl->buckets) {
		size_t i;
		kl->buckets = malloc(kl->nbuckets * sizeof *kl->buckets);
		if (!kl->buckets)
			return -1;
		for (i = 0; i < kl->nbuckets; i++)
			kl->buckets[i] = KL_NONE;
	}
	if (kl->count == kl->max) {
		/* full: evict the oldest (ring head), reuse its slot */
		slot = kl->head;
		kl_unlink(kl, (uint32_t)slot);
		ent_clear_secret(&kl->ring[slot]);
		wipe(&kl->ring[slot], sizeof kl->ring[slot]);
		kl->head = (kl->head + 1) % kl->max;
		kl->count--;
	} else {
		/* not full: while growing, the ring has never wrapped (head == 0) */
		slot = (kl->head + kl->count) % (kl->cap ? kl->cap : 1);
		if (kl->count == kl->cap) {
			size_t ncap = kl->cap ? kl->cap * 2 : 64;
			kl_entry_t *nr;
			if (ncap > kl->max)
				ncap = kl->max;
			nr = malloc(ncap * sizeof *nr);
			if (!nr)
				return -1;
			if (kl->cap) {
				memcpy(nr, kl->ring, kl->cap * sizeof *nr);
				wipe(kl->ring, kl->cap * sizeof *nr);
				free(kl->ring);
			}
			memset(nr + kl->cap, 0, (ncap - kl->cap) * sizeof *nr);
			kl->ring = nr;
			kl->cap = ncap;
			slot = kl->count; /* head == 0 while growing */
		}
	}
	e = &kl->ring[slot];
	if (ent_set_secret(e, secret, slen) != 0)
		return -1;      /* slot stays free (count unchanged) */
	e->label = label;
	e->idlen = (uint8_t)idlen;
	memcpy(e->id, id, idlen);
	e->used = 1;
	b = &kl->buckets[kl_hash(kl, label, id, idlen) & (kl->nbuckets - 1)];
	e->next = *b;
	*b = (uint32_t)slot;
	kl->count++;
	return 1;
}

/* ---- line parsing ---- */

static const struct { const char *name; tls_keylog_label_t label; } label_names[] = {
	{ "CLIENT_RANDOM", KL_CLIENT_RANDOM },
	{ "CLIENT_EARLY_TRAFFIC_SECRET", KL_CLIENT_EARLY_TRAFFIC_SECRET },
	{ "CLIENT_HANDSHAKE_TRAFFIC_SECRET", KL_CLIENT_HANDSHAKE_TRAFFIC_SECRET },
	{ "SERVER_HANDSHAKE_TRAFFIC_SECRET", KL_SERVER_HANDSHAKE_TRAFFIC_SECRET },
	{ "CLIENT_TRAFFIC_SECRET_0", KL_CLIENT_TRAFFIC_SECRET_0 },
	{ "SERVER_TRAFFIC_SECRET_0", KL_SERVER_TRAFFIC_SECRET_0 },
	{ "RSA", KL_RSA },
	{ "PMS_CLIENT_RANDOM", KL_PMS_CLIENT_RANDOM },
};

#define SID_PFX "Session-ID:"
#define SID_PFX_LEN (sizeof SID_PFX - 1)
#define MK_PFX "Master-Key:"
#define MK_PFX_LEN (sizeof MK_PFX - 1)

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Parse one complete line (no '\n'). Returns 1 new secret, 0 nothing new. */
static int kl_parse_line(tls_keylog_t *kl, char *s, size_t n)
{
	const char *tok[4];
	size_t toklen[4];
	size_t ntok = 0, i = 0, k;
	int label = -1;
	uint8_t id[32], secret[KL_MAX_PMS];
	size_t idlen, slen;
	int rc;

	while (i < n) {
		while (i < n && is_space(s[i]))
			i++;
		if (i >= n)
			break;
		if (ntok == 4) { /* too many fields */
			ntok = 5;
			break;
		}
		tok[ntok] = s + i;
		while (i < n && !is_space(s[i]))
			i++;
		toklen[ntok] = (size_t)(s + i - tok[ntok]);
		ntok++;
	}
	if (ntok == 0 || tok[0][0] == '#')
		return 0; /* blank line or comment */
	for (k = 0; k < sizeof label_names / sizeof label_names[0]; k++) {
		if (toklen[0] == strlen(label_names[k].name) &&
		    memcmp(tok[0], label_names[k].name, toklen[0]) == 0) {
			label = (int)label_names[k].label;
			break;
		}
	}
	if (label < 0)
		return 0; /* other labels (EXPORTER_SECRET, ...) are not needed: ignore */
	if (ntok != 3) {
		kl->malformed++;
		return 0;
	}
	if (label == KL_RSA && toklen[1] >= SID_PFX_LEN && memcmp(tok[1], SID_PFX, SID_PFX_LEN) == 0) {
		/* "RSA Session-ID:<id> Master-Key:<ms>" */
		label = KL_SESSION_ID;
		if (toklen[2] < MK_PFX_LEN || memcmp(tok[2], MK_PFX, MK_PFX_LEN) != 0) {
			kl->malformed++;
			return 0;
		}
		tok[1] += SID_PFX_LEN;
		toklen[1] -= SID_PFX_LEN;
		tok[2] += MK_PFX_LEN;
		toklen[2] -= MK_PFX_LEN;
	}
	if (label == KL_RSA)
		idlen = 8;
	else if (label == KL_SESSION_ID)
		idlen = toklen[1] / 2 >= 1 && toklen[1] / 2 <= 32 ? toklen[1] / 2 : 0;
	else
		idlen = 32;
	if (idlen == 0 || unhex(tok[1], toklen[1], id, idlen) != 0) {
		kl->malformed++;
		return 0;
	}
	if (label == KL_CLIENT_RANDOM || label == KL_RSA || label == KL_SESSION_ID)
		slen = 48;
	else if (label == KL_PMS_CLIENT_RANDOM)
		slen = toklen[2] / 2 >= 1 && toklen[2] / 2 <= KL_MAX_PMS ? toklen[2] / 2 : 0;
	else
		slen = toklen[2] == 64 ? 32 : 48;
	if (slen == 0 || unhex(tok[2], toklen[2], secret, slen) != 0) {
		wipe(secret, sizeof secret);
		kl->malformed++;
		return 0;
	}
	kl->lines++;
	rc = kl_insert(kl, (uint8_t)label, id, idlen, secret, slen);
	wipe(secret, sizeof secret);
	return rc == 1 ? 1 : 0;
}

/* Feed bytes to the line assembler. Returns the number of new secrets. */
static size_t kl_feed(tls_keylog_t *kl, const uint8_t *p, size_t n)
{
	size_t added = 0;
	while (n > 0) {
		const uint8_t *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;

		if (kl->discarding) {
			/* inside an over-long line: drop bytes, never buffer them */
		} else if (kl->linelen + seg > KL_MAX_LINE) {
			kl->malformed++;
			wipe(kl->line, kl->linelen);
			kl->linelen = 0;
			kl->discarding = true;
		} else {
			memcpy(kl->line + kl->linelen, p, seg);
			kl->linelen += seg;
		}
		if (!nl)
			break; /* partial line: kept (bounded) until its newline arrives */
		if (!kl->discarding)
			added += (size_t)kl_parse_line(kl, kl->line, kl->linelen);
		wipe(kl->line, kl->linelen);
		kl->linelen = 0;
		kl->discarding = false;
		p = nl + 1;
		n -= seg + 1;
	}
	return added;
}

/* Forget the file position (the next read starts at offset 0). Entries are kept: they
 * are still valid secrets for sessions already seen; re-reading only refreshes them. */
static void kl_reset_pos(tls_keylog_t *kl)
{
	kl->have_file = false;
	kl->off = 0;
	kl->taillen = 0;
	wipe(kl->line, kl->linelen);
	kl->linelen = 0;
	kl->discarding = false;
}

/* Read whatever was appended. Lock held. */
static size_t kl_refresh_locked(tls_keylog_t *kl)
{
	struct stat st;
	size_t added = 0;
	int fd;

	if (!kl->path)
		return 0; /* memory-fed: no file to follow */
	if (stat(kl->path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0; /* not there (yet): keep what we have */
	if (kl->have_file && st.st_dev == kl->dev && st.st_ino == kl->ino && st.st_size == kl->off &&
	    st.st_mtim.tv_sec == kl->mtime.tv_sec && st.st_mtim.tv_nsec == kl->mtime.tv_nsec)
		return 0; /* unchanged: the one stat() */

	fd = open(kl->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	if (kl->have_file &&
	    (st.st_dev != kl->dev || st.st_ino != kl->ino || st.st_size < kl->off))
		kl_reset_pos(kl); /* replaced or truncated */
	if (kl->have_file && kl->taillen) {
		/* Same file, grown or touched: make sure the bytes before our offset are still
		 * the ones we read (truncate + rewrite to the same or a larger size looks like
		 * growth or no change). */
		uint8_t now[KL_TAIL];
		ssize_t r = pread(fd, now, kl->taillen, kl->off - (off_t)kl->taillen);
		if (r != (ssize_t)kl->taillen || memcmp(now, kl->tail, kl->taillen) != 0)
			kl_reset_pos(kl);
		wipe(now, sizeof now);
	}
	kl->have_file = true;
	kl->dev = st.st_dev;
	kl->ino = st.st_ino;
	kl->mtime = st.st_mtim;

	for (;;) {
		ssize_t r = pread(fd, kl->chunk, KL_READ_CHUNK, kl->off);
		size_t keep;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		added += kl_feed(kl, kl->chunk, (size_t)r);
		/* remember the last bytes before the new offset */
		if ((size_t)r >= KL_TAIL) {
			memcpy(kl->tail, kl->chunk + r - KL_TAIL, KL_TAIL);
			kl->taillen = KL_TAIL;
		} else {
			keep = kl->taillen + (size_t)r > KL_TAIL ? KL_TAIL - (size_t)r : kl->taillen;
			memmove(kl->tail, kl->tail + kl->taillen - keep, keep);
			memcpy(kl->tail + keep, kl->chunk, (size_t)r);
			kl->taillen = keep + (size_t)r;
		}
		kl->off += r;
		wipe(kl->chunk, (size_t)r);
	}
	close(fd);
	kl->generation += added;
	return added;
}

/* ---- public API ---- */

static tls_keylog_t *kl_new(const char *path, size_t max_entries, char *err, size_t errlen)
{
	tls_keylog_t *kl;
	size_t nb;

	if (err && errlen)
		err[0] = '\0';
	kl = calloc(1, sizeof *kl);
	if (!kl)
		goto nomem;
	if (path) {
		kl->path = strdup(path);
		kl->chunk = malloc(KL_READ_CHUNK);
		if (!kl->path || !kl->chunk)
			goto nomem;
	}
	if (max_entries == 0)
		max_entries = KL_DEFAULT_MAX;
	if (max_entries > KL_MAX_ENTRIES)
		max_entries = KL_MAX_ENTRIES;
	kl->max = max_entries;
	/* about two entries per bucket when full; allocated on the first insert */
	for (nb = 16; nb < max_entries / 2; nb <<= 1)
		;
	kl->nbuckets = nb;
	if (getrandom(&kl->seed, sizeof kl->seed, GRND_NONBLOCK) != (ssize_t)sizeof kl->seed) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		kl->seed = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
		           (uint64_t)(uintptr_t)kl ^ (uint64_t)getpid();
	}
	if (pthread_mutex_init(&kl->mu, NULL) != 0)
		goto nomem;
	return kl;
nomem:
	if (err && errlen)
		snprintf(err, errlen, "%s: out of memory", path ? path : "key log");
	if (kl) {
		free(kl->path);
		free(kl->chunk);
		free(kl);
	}
	return NULL;
}

tls_keylog_t *tls_keylog_open(const char *path, size_t max_entries, char *err, size_t errlen)
{
	if (!path || !*path) {
		if (err && errlen)
			snprintf(err, errlen, "key log: empty path");
		return NULL;
	}
	return kl_new(path, max_entries, err, errlen);
}

tls_keylog_t *tls_keylog_open_mem(size_t max_entries, char *err, size_t errlen)
{
	return kl_new(NULL, max_entries, err, errlen);
}

size_t tls_keylog_feed_dgram(tls_keylog_t *kl, const uint8_t *data, size_t len,
                             tls_keylog_feed_counts_t *c)
{
	char line[KL_MAX_LINE + 1];
	size_t added = 0;
	tls_keylog_feed_counts_t cnt = { 0, 0, 0 };

	if (!kl || (!data && len))
		return 0;
	pthread_mutex_lock(&kl->mu);
	while (len > 0) {
		const uint8_t *nl = memchr(data, '\n', len);
		size_t seg = nl ? (size_t)(nl - data) : len;
		uint64_t l0 = kl->lines, m0 = kl->malformed;
		size_t i = 0;

		while (i < seg && (is_space((char)data[i]) || data[i] == '\0'))
			i++;
		if (seg > KL_MAX_LINE) {
			kl->malformed++;
			cnt.malformed++;
		} else if (i < seg) {   /* not blank */
			memcpy(line, data, seg);
			line[seg] = '\0';
			added += (size_t)kl_parse_line(kl, line, seg);
			wipe(line, seg);
			if (kl->lines != l0)
				cnt.lines++;
			else if (kl->malformed != m0)
				cnt.malformed++;
			else
				cnt.ignored++;
		}
		if (!nl)
			break;
		data = nl + 1;
		len -= seg + 1;
	}
	kl->generation += added;
	pthread_mutex_unlock(&kl->mu);
	if (c)
		*c = cnt;
	return added;
}

size_t tls_keylog_refresh(tls_keylog_t *kl)
{
	size_t n;
	if (!kl)
		return 0;
	pthread_mutex_lock(&kl->mu);
	n = kl_refresh_locked(kl);
	pthread_mutex_unlock(&kl->mu);
	return n;
}

static size_t kl_lookup(tls_keylog_t *kl, tls_keylog_label_t label, const uint8_t *id,
                        size_t idlen, uint8_t *out, size_t outcap, bool refresh)
{
	kl_entry_t *e;
	size_t n = 0;

	if (!kl || !id || !out || (unsigned)label >= KL__COUNT)
		return 0;
	if (label == KL_SESSION_ID ? (idlen < 1 || idlen > 32) : idlen != (label == KL_RSA ? 8u : 32u))
		return 0;
	pthread_mutex_lock(&kl->mu);
	e = kl_find(kl, (uint8_t)label, id, idlen);
	if (!e && refresh) {
		kl_refresh_locked(kl);
		e = kl_find(kl, (uint8_t)label, id, idlen);
	}
	if (e && e->slen <= outcap) {
		memcpy(out, ent_secret(e), e->slen);
		n = e->slen;
	}
	pthread_mutex_unlock(&kl->mu);
	return n;
}

size_t tls_keylog_lookup(tls_keylog_t *kl, tls_keylog_label_t label, const uint8_t *id,
                         size_t idlen, uint8_t *out, size_t outcap)
{
	return kl_lookup(kl, label, id, idlen, out, outcap, true);
}

size_t tls_keylog_find(tls_keylog_t *kl, tls_keylog_label_t label, const uint8_t *id,
                       size_t idlen, uint8_t *out, size_t outcap)
{
	return kl_lookup(kl, label, id, idlen, out, outcap, false);
}

uint64_t tls_keylog_generation(tls_keylog_t *kl)
{
	uint64_t g;
	if (!kl)
		return 0;
	pthread_mutex_lock(&kl->mu);
	g = kl->generation;
	pthread_mutex_unlock(&kl->mu);
	return g;
}

void tls_keylog_counters(tls_keylog_t *kl, uint64_t *lines, uint64_t *malformed)
{
	if (!kl) {
		if (lines) *lines = 0;
		if (malformed) *malformed = 0;
		return;
	}
	pthread_mutex_lock(&kl->mu);
	if (lines) *lines = kl->lines;
	if (malformed) *malformed = kl->malformed;
	pthread_mutex_unlock(&kl->mu);
}

void tls_keylog_free(tls_keylog_t *kl)
{
	if (!kl)
		return;
	pthread_mutex_destroy(&kl->mu);
	if (kl->ring) {
		for (size_t i = 0; i < kl->cap; i++)
			ent_clear_secret(&kl->ring[i]);
		wipe(kl->ring, kl->cap * sizeof *kl->ring);
		free(kl->ring);
	}
	free(kl->buckets);
	if (kl->chunk) {
		wipe(kl->chunk, KL_READ_CHUNK);
		free(kl->chunk);
	}
	free(kl->path);
	wipe(kl, sizeof *kl);
	free(kl);
}
