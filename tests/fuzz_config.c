/*
 * fuzz_config.c — libFuzzer target for the protocol_tls.xml loader (tls_config.c): XML
 * parsing through libxml2, profile/param collection, value parsing (numbers with k/m/g
 * suffixes and overflow checks, booleans, port lists, server selectors, SNI), error and
 * warning paths and freeing (with password wiping).
 *
 * Why: the config is the one file an operator edits by hand; a typo must give one clear
 * error line, never a crash. The input is the file content. When it loads, every profile
 * is also turned into a keystore with tls_config_build_keystore — with the key paths
 * replaced by the embedded test key (so the fuzzed server/sni selectors and password are
 * really applied to a loaded key, and no path from the input is ever opened) and the key
 * log pointed at a file that does not exist — and into an engine (tls_engine_new with the
 * profile's bounds), then everything is freed. Errors must be exactly one line.
 */
#define FUZZ_TARGET_NAME "config"
#include "fuzz_common.h"
#include "tls_config.h"

static const char *conf_path, *key_path, *keylog_path;

static void warn_cb(void *u, const char *line)
{
	size_t *n = u;
	*n += strlen(line);
	if (strchr(line, '\n')) { fprintf(stderr, "fuzz_config: multi-line warning\n"); abort(); }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	if (tls_engine_global_init() != 0) abort();
	conf_path = fuzz_path("protocol_tls.xml");
	key_path = fuzz_path("key.pem");
	keylog_path = fuzz_path("absent.keys");
	fuzz_write(key_path, FUZZ_KEY_PEM, sizeof FUZZ_KEY_PEM - 1, "w");
	chmod(key_path, 0600);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024) return 0;
	fuzz_write(conf_path, data, size, "w");
	tls_conf_t c;
	memset(&c, 0, sizeof c);
	char err[1024];
	size_t wn = 0;
	if (tls_config_load(conf_path, &c, err, sizeof err, warn_cb, &wn) != 0) {
		if (!err[0] || strchr(err, '\n')) { fprintf(stderr, "fuzz_config: bad error line\n"); abort(); }
		tls_config_free(&c);
		return 0;
	}
	for (size_t i = 0; i < c.n_profiles; i++) {
		tls_profile_conf_t *p = &c.profiles[i];
		/* never open a path taken from the input */
		char *saved[TLS_CONF_MAX_KEYS];
		char *saved_kl = p->keylog;
		for (size_t k = 0; k < p->n_keys && k < TLS_CONF_MAX_KEYS; k++) {
			saved[k] = p->key_paths[k];
			p->key_paths[k] = (char *)key_path;
		}
		if (p->keylog) p->keylog = (char *)keylog_path;
		tls_keystore_t *ks = NULL;
		int rc = tls_config_build_keystore(p, &ks, err, sizeof err, warn_cb, &wn);
		if (rc != 0 && (!err[0] || strchr(err, '\n'))) { fprintf(stderr, "fuzz_config: bad error line\n"); abort(); }
		for (size_t k = 0; k < p->n_keys && k < TLS_CONF_MAX_KEYS; k++) p->key_paths[k] = saved[k];
		p->keylog = saved_kl;
		/* engines with the profile's bounds; big tables are bounded by the loader's limits */
		tls_engine_t *e = tls_engine_new(&p->engine, ks ? &ks : NULL, ks ? 1 : 0, NULL);
		if (e) tls_engine_free(e);
		if (ks) tls_keystore_unref(ks);
	}
	tls_config_free(&c);
	return 0;
}
