/*
 * keystore.c — the key material side of the public API: stable names (reasons, key kinds,
 * versions), one-time crypto library initialisation, and keystores (server private keys
 * and NSS key logs, files or fed from memory) that engines share read-only. Separate from engine.c because key
 * loading has nothing to do with packet flow and is used by front ends at config time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gcrypt.h>
#include "engine_internal.h"

/* ---------------- names ---------------- */

PTLS_API const char *tls_reason_name(tls_reason_t r)
{
	static const char *n[TLS_REASON__COUNT] = {
		"none", "no_key", "pfs_no_keylog", "handshake_missed", "wrong_key", "unsupported_suite",
		"resumption_miss", "truncated", "decrypt_error", "not_tls", "gap", "static_key_mismatch",
		"unsupported_version" };
	return (unsigned)r < TLS_REASON__COUNT ? n[r] : "unknown";
}

PTLS_API const char *tls_key_kind_name(tls_key_kind_t k)
{
	switch (k) {
	case TLS_KEY_RSA: return "rsa";
	case TLS_KEY_ECDHE_STATIC: return "ecdhe-static";
	case TLS_KEY_KEYLOG: return "keylog";
	case TLS_KEY_RESUMPTION: return "resumption";
	default: return NULL;
	}
}

PTLS_API const char *tls_version_name(uint16_t v)
{
	switch (v) {
	case 0x0300: return "SSL3.0";
	case 0x0301: return "TLS1.0";
	case 0x0302: return "TLS1.1";
	case 0x0303: return "TLS1.2";
	case 0x0304: return "TLS1.3";
	default: return NULL;
	}
}

/* ---------------- global init ---------------- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void do_global_init(void)
{
	if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
		/* The "system" generator (getrandom) instead of libgcrypt's CSPRNG: once the
		 * CSPRNG is seeded, every gcry_md_open / gcry_cipher_open runs a "fast random
		 * poll" (getrusage + clock_gettime syscalls), 4 per TLS handshake here. Must be
		 * asked before libgcrypt initialises; a host that initialised it first keeps its
		 * choice, and the engine never seeds the CSPRNG itself (flow_random_seed). */
		gcry_control(GCRYCTL_SET_PREFERRED_RNG_TYPE, GCRY_RNG_TYPE_SYSTEM);
		if (!gcry_check_version("1.8.0")) { init_result = -1; return; }
		/* Secrets are wiped explicitly (tls_wipe); secure memory would need privileges. */
		gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
		gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	}
	init_result = 0;
}

PTLS_API int tls_engine_global_init(void)
{
	pthread_once(&init_once, do_global_init);
	return init_result;
}

/* ---------------- keystore ---------------- */

PTLS_API tls_keystore_t *tls_keystore_new(void)
{
	if (tls_engine_global_init() != 0) return NULL;
	tls_keystore_t *ks = calloc(1, sizeof *ks);
	if (ks) ks->refs = 1;
	return ks;
}

PTLS_API void tls_keystore_ref(tls_keystore_t *ks)
{
	if (ks) __atomic_add_fetch(&ks->refs, 1, __ATOMIC_SEQ_CST);
}

PTLS_API void tls_keystore_unref(tls_keystore_t *ks)
{
	if (!ks || __atomic_sub_fetch(&ks->refs, 1, __ATOMIC_SEQ_CST) > 0) return;
	for (size_t i = 0; i < ks->n_keys; i++) keys_free(&ks->keys[i]);
	for (size_t i = 0; i < ks->n_keylogs; i++) tls_keylog_free(ks->keylogs[i]);
	free(ks->keys);
	free(ks->keylogs);
	free(ks);
}

PTLS_API int tls_keystore_add_key_file(tls_keystore_t *ks, const char *path, const char *password,
                                       const char *server, const char *sni,
                                       char *err, size_t errlen, char *warn, size_t warnlen)
{
	if (!ks || !path) { snprintf(err, errlen, "no key file given"); return -1; }
	ks_key_t k;
	if (keys_load_file(&k, path, password, err, errlen, warn, warnlen) != 0) return -1;
	if (keys_parse_selector(&k, server, sni) != 0) {
		snprintf(err, errlen, "%s: bad server selector '%s' (want ip, ip:port, :port or [v6]:port)",
		         path, server ? server : "");
		keys_free(&k);
		return -1;
	}
	ks_key_t *nk = realloc(ks->keys, (ks->n_keys + 1) * sizeof *nk);
	if (!nk) { keys_free(&k); snprintf(err, errlen, "%s: out of memory", path); return -1; }
	ks->keys = nk;
	ks->keys[ks->n_keys++] = k;
	return 0;
}

PTLS_API int tls_keystore_add_keylog(tls_keystore_t *ks, const char *path, size_t max_entries,
                                     char *err, size_t errlen)
{
	if (!ks || !path) { snprintf(err, errlen, "no key log file given"); return -1; }
	tls_keylog_t *kl = tls_keylog_open(path, max_entries, err, errlen);
	if (!kl) return -1;
	/* what the file already holds is there for the first packet: no session waits (and
	 * holds its records) for a re-read of lines that were written before we started */
	tls_keylog_refresh(kl);
	tls_keylog_t **n = realloc(ks->keylogs, (ks->n_keylogs + 1) * sizeof *n);
	if (!n) { tls_keylog_free(kl); snprintf(err, errlen, "%s: out of memory", path); return -1; }
	ks->keylogs = n;
	ks->keylogs[ks->n_keylogs++] = kl;
	return 0;
}


PTLS_API int tls_keystore_add_keylog_feed(tls_keystore_t *ks, size_t max_entries, char *err, size_t errlen)
{
	if (!ks) { snprintf(err, errlen, "no keystore"); return -1; }
	if (ks->feed) return 0;
	tls_keylog_t *kl = tls_keylog_open_mem(max_entries, err, errlen);
	if (!kl) return -1;
	tls_keylog_t **n = realloc(ks->keylogs, (ks->n_keylogs + 1) * sizeof *n);
	if (!n) { tls_keylog_free(kl); snprintf(err, errlen, "key log listener: out of memory"); return -1; }
	ks->keylogs = n;
	ks->keylogs[ks->n_keylogs++] = kl;
	ks->feed = kl;
	return 0;
}

PTLS_API int tls_keystore_feed_keylog(tls_keystore_t *ks, const uint8_t *data, size_t len,
                                      tls_keylog_feed_result_t *r)
{
	if (r) memset(r, 0, sizeof *r);
	if (!ks || !ks->feed) return -1;
	tls_keylog_feed_counts_t c;
	size_t added = tls_keylog_feed_dgram(ks->feed, data, len, &c);
	if (r) {
		r->added = (uint32_t)added;
		r->lines = c.lines;
		r->malformed = c.malformed;
		r->ignored = c.ignored;
	}
	return 0;
}
