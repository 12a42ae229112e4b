/*
 * tls_config.h — protocol_tls.xml reader (libxml2), shared by the captagent module and
 * `captls -c`. Parses every <profile> with its <settings><param name=".." value=".."/>
 * (params by name, any order; unknown param names and bad values rejected) and turns
 * a profile into a keystore (keys loaded once) and an engine configuration.
 */
#ifndef PTLS_TLS_CONFIG_H
#define PTLS_TLS_CONFIG_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include "tls_engine.h"

#define TLS_CONF_MAX_KEYS 16

/* HEP protocol type (chunk 0x000b) of delivered HTTP / raw messages when the profile
 * does not say (hep-type-http, hep-type-raw; captls --hep-type-http/-raw). SIP is always
 * 1. 0 means: that kind is not sent over HEP (the module does not deliver it). 100 is
 * Homer's "LOG" type: heplify-server stores it as text (hep_proto_100_default); HEP
 * has no HTTP type, and heplify-server stores nothing of type 0. */
#define TLS_CONF_HEP_TYPE_HTTP_DEFAULT 100
#define TLS_CONF_HEP_TYPE_RAW_DEFAULT 0

typedef struct tls_profile_conf {
	char *name;
	bool enabled;
	char *key_paths[TLS_CONF_MAX_KEYS];
	size_t n_keys;
	char *key_password;        /* may be NULL; wiped on free */
	char *keylog;              /* may be NULL */
	char *server;              /* selector, may be NULL */
	char *sni;                 /* selector, may be NULL */
	tls_engine_config_t engine; /* flow-timeout, max-flows and the other bounds */
	uint32_t keylog_max_entries;
	char *keylog_listen;       /* keylog-listen "udp:IP:PORT", may be NULL */
	char *keylog_allow;        /* keylog-allow list, may be NULL (loopback only) */
	uint32_t keylog_max_datagram; /* keylog-max-datagram: bytes, 0 = KLL_DEFAULT_MAX_DGRAM */
	uint8_t hep_type_http;     /* hep-type-http: HEP type of HTTP messages, 0 = not sent */
	uint8_t hep_type_raw;      /* hep-type-raw: HEP type of raw messages, 0 = not sent */
} tls_profile_conf_t;

typedef struct tls_conf {
	tls_profile_conf_t *profiles;
	size_t n_profiles;
} tls_conf_t;

/* Parse `path`. Returns 0, or -1 with one line "FILE: problem" in err. Warnings (unknown
 * params) go to warn_cb if non-NULL. */
int tls_config_load(const char *path, tls_conf_t *out, char *err, size_t errlen,
                    void (*warn_cb)(void *u, const char *line), void *u);
/* Free (wiping the password). */
void tls_config_free(tls_conf_t *c);
/* Build a keystore holding the profile's keys and key log (selectors applied); with
 * keylog-listen it also gets a memory-fed key log for the listener (the front end opens
 * the listener itself: kl_listener_open). Returns 0,
 * or -1 with "FILE: problem" in err. Warnings (key file permissions) go to warn_cb. */
int tls_config_build_keystore(const tls_profile_conf_t *p, tls_keystore_t **out,
                              char *err, size_t errlen,
                              void (*warn_cb)(void *u, const char *line), void *u);
#endif
