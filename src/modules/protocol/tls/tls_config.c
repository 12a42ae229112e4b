/*
 * tls_config.c — protocol_tls.xml reader (libxml2), shared by the captagent module and
 * `captls -c`; implements tls_config.h.
 *
 * Why its own reader: captagent 6.4 hands load_f an uninitialised config pointer, so the
 * module must read <config_path>/protocol_tls.xml itself; captls reads the same file so one
 * config describes both. The format is captagent's usual one:
 *
 *   <document><module name="protocol_tls">
 *     <profile name="P" enable="true"><settings>
 *       <param name="X" value="Y"/>                     attribute form
 *       <param name="X"><value>Y</value></param>        child form (several <value> allowed
 *                                                       for repeatable params)
 *
 * Params are matched by name in any order. An unknown param name is an error naming file,
 * line, profile and the closest known name ("private-key-paht": did you mean
 * "private-key-path"?): silently loading a keyless profile because of a typo looks like a
 * working module that decrypts nothing. A known param with a bad value is an error naming
 * file, profile, param and value. A keylog-file whose directory does not exist is an error
 * when the keystore is built (the file itself may appear later).
 * Numbers are decimal; byte sizes also accept a k/m/g suffix (binary multiples). Secrets:
 * the key password is copied once, wiped from libxml2's tree before it is freed, and wiped
 * again in tls_config_free. No OpenSSL here: key files are only opened by the engine
 * (tls_keystore_add_key_file) when tls_config_build_keystore runs.
 */
#include "tls_config.h"
#include "keylog_listen.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

/* Default bound on key-log secrets kept per keystore (keylog-max-entries). */
#define TLS_CONF_DEFAULT_KEYLOG_MAX 100000u

/* Params that belong to a host (the captagent glue reads them itself); accepted silently. */
static const char *const host_params[] = { "plan-index", NULL };

/* ---- small helpers ---- */

/* Overwrite n bytes so the compiler cannot drop the store (secrets). */
static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--) *v++ = 0;
}

static void wipe_free_str(char *s)
{
	if (!s) return;
	wipe(s, strlen(s));
	free(s);
}

static char *trimmed_dup(const char *s)
{
	if (!s) return NULL;
	while (*s && isspace((unsigned char)*s)) s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1])) n--;
	char *d = malloc(n + 1);
	if (!d) return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void setf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void setf(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* one line, always: libxml2 messages may carry newlines and raw input bytes */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) *p = ' ';
}

static void warnf(void (*cb)(void *, const char *), void *u, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warnf(void (*cb)(void *, const char *), void *u, const char *fmt, ...)
{
	if (!cb) return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	cb(u, line);
}

static bool name_is(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

/* Parse an unsigned decimal with optional binary suffix (when allow_suffix). */
static bool parse_u64(const char *s, bool allow_suffix, uint64_t *out)
{
	while (isspace((unsigned char)*s)) s++;
	if (!isdigit((unsigned char)*s)) return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno) return false;
	uint64_t mul = 1;
	if (allow_suffix && *end) {
		switch (tolower((unsigned char)*end)) {
		case 'k': mul = 1ull << 10; end++; break;
		case 'm': mul = 1ull << 20; end++; break;
		case 'g': mul = 1ull << 30; end++; break;
		default: break;
		}
		if (mul != 1 && (*end == 'b' || *end == 'B')) end++;   /* "64kB", "1MB" */
	}
	while (isspace((unsigned char)*end)) end++;
	if (*end) return false;
	if (v > UINT64_MAX / mul) return false;
	*out = (uint64_t)v * mul;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const t[] = { "true", "yes", "on", "1", NULL };
	static const char *const f[] = { "false", "no", "off", "0", NULL };
	char *v = trimmed_dup(s);
	if (!v) return false;
	bool ok = false;
	for (int i = 0; t[i]; i++) if (!strcasecmp(v, t[i])) { *out = true; ok = true; }
	for (int i = 0; f[i]; i++) if (!strcasecmp(v, f[i])) { *out = false; ok = true; }
	free(v);
	return ok;
}

static bool parse_port(const char *s, uint16_t *out)
{
	uint64_t v;
	if (!*s || !parse_u64(s, false, &v) || v < 1 || v > 65535) return false;
	*out = (uint16_t)v;
	return true;
}

/* Validate a server selector: "ip", "ip:port", ":port", "[v6]:port" or a bare IPv6. */
static bool valid_server(const char *s)
{
	unsigned char buf[16];
	char host[64];
	uint16_t port;
	size_t n = strlen(s);
	if (!n || n >= sizeof host) return false;
	if (s[0] == ':' && s[1] != ':') return parse_port(s + 1, &port);
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || (size_t)(rb - s - 1) >= sizeof host) return false;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		if (inet_pton(AF_INET6, host, buf) != 1) return false;
		if (!rb[1]) return true;
		return rb[1] == ':' && parse_port(rb + 2, &port);
	}
	if (inet_pton(AF_INET6, s, buf) == 1 || inet_pton(AF_INET, s, buf) == 1) return true;
	const char *colon = strrchr(s, ':');
	if (!colon) return false;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	return inet_pton(AF_INET, host, buf) == 1 && parse_port(colon + 1, &port);
}

/* Comma/space separated TCP port list. */
static bool parse_ports(const char *s, uint16_t **out, size_t *n_out)
{
	size_t cap = 1;
	for (const char *p = s; *p; p++) if (*p == ',' || *p == ' ') cap++;
	uint16_t *v = calloc(cap, sizeof *v);
	if (!v) return false;
	size_t n = 0;
	char *copy = strdup(s), *save = NULL;
	if (!copy) { free(v); return false; }
	for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (n >= cap || !parse_port(tok, &v[n])) { free(copy); free(v); return false; }
		n++;
	}
	free(copy);
	if (!n) { free(v); return false; }
	free(*out);
	*out = v;
	*n_out = n;
	return true;
}

/* ---- param table ---- */

typedef enum { P_KEY, P_PASSWORD, P_KEYLOG, P_SERVER, P_SNI, P_PORTS, P_BOOL_HS,
               P_U32, P_U64, P_KEYLOG_MAX, P_LISTEN, P_ALLOW, P_DGRAM, P_HEPTYPE } pkind_t;

typedef struct param_def {
	const char *name;
	pkind_t kind;
	size_t off;          /* offset in tls_engine_config_t for P_U32 / P_U64, in
	                      * tls_profile_conf_t for P_HEPTYPE */
	bool bytes;          /* accepts k/m/g suffixes */
	uint64_t min, max;
} param_def_t;

#define ECFG(f) offsetof(tls_engine_config_t, f)
static const param_def_t params[] = {
	{ "private-key-path",        P_KEY,        0, false, 0, 0 },
	{ "private-key-password",    P_PASSWORD,   0, false, 0, 0 },
	{ "keylog-file",             P_KEYLOG,     0, false, 0, 0 },
	{ "server",                  P_SERVER,     0, false, 0, 0 },
	{ "sni",                     P_SNI,        0, false, 0, 0 },
	{ "tls-ports",               P_PORTS,      0, false, 0, 0 },
	{ "report-handshake-only",   P_BOOL_HS,    0, false, 0, 0 },
	{ "flow-timeout",            P_U32, ECFG(flow_timeout),       false, 1, 86400 * 7 },
	{ "max-flows",               P_U32, ECFG(max_flows),          false, 1, 100000000 },
	{ "max-reassembly-bytes",    P_U32, ECFG(max_reasm_bytes),    true,  0, UINT32_MAX },
	{ "max-reassembly-segments", P_U32, ECFG(max_reasm_segments), false, 0, 1000000 },
	{ "max-buffer-total",        P_U64, ECFG(max_total_buffer),   true,  1, UINT64_MAX },
	{ "max-message",             P_U32, ECFG(max_message),        true,  1, UINT32_MAX },
	{ "max-held-records",        P_U32, ECFG(max_held_records),   true,  0, UINT32_MAX },
	{ "keylog-wait",             P_U32, ECFG(keylog_wait),        false, 0, 86400 },
	{ "session-cache-size",      P_U32, ECFG(session_cache_size), false, 0, 100000000 },
	{ "shards",                  P_U32, ECFG(shards),             false, 1, 256 },
	{ "keylog-max-entries",      P_KEYLOG_MAX, 0, false, 1, 100000000 },
	{ "keylog-listen",           P_LISTEN,     0, false, 0, 0 },
	{ "keylog-allow",            P_ALLOW,      0, false, 0, 0 },
	{ "keylog-max-datagram",     P_DGRAM,      0, true,  64, 65535 },
	{ "hep-type-http",           P_HEPTYPE, offsetof(tls_profile_conf_t, hep_type_http), false, 0, 255 },
	{ "hep-type-raw",            P_HEPTYPE, offsetof(tls_profile_conf_t, hep_type_raw),  false, 0, 255 },
	{ "frag-max-datagrams",      P_U32, ECFG(frag_max_datagrams), false, 0, 1000000 },
	{ "frag-max-bytes",          P_U32, ECFG(frag_max_bytes),     true,  0, UINT32_MAX },
	{ "frag-timeout",            P_U32, ECFG(frag_timeout),       false, 1, 3600 },
	{ "max-open-ciphers",        P_U32, ECFG(max_open_ciphers),   false, 1, 100000000 },
	{ NULL, 0, 0, false, 0, 0 }
};

static const param_def_t *find_param(const char *name)
{
	for (const param_def_t *d = params; d->name; d++)
		if (!strcmp(d->name, name)) return d;
	return NULL;
}

/* Edit distance (insert, delete, substitute, swap of neighbours), case-insensitive;
 * strings longer than 63 bytes count as far. */
static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63) return 99;
	unsigned d[64][64];
	for (size_t i = 0; i <= la; i++) d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++) d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			unsigned v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

/* The known param name closest to an unknown one, or NULL when none is near (more than a
 * third of the name would have to change). */
static const char *closest_param(const char *name)
{
	const char *best = NULL;
	unsigned bd = 99;
	for (const param_def_t *d = params; d->name; d++) {
		unsigned e = edit_distance(name, d->name);
		if (e < bd) { bd = e; best = d->name; }
	}
	for (int i = 0; host_params[i]; i++) {
		unsigned e = edit_distance(name, host_params[i]);
		if (e < bd) { bd = e; best = host_params[i]; }
	}
	size_t n = strlen(name);
	return (best && bd * 3 <= (n > 3 ? n : 3)) ? best : NULL;
}

/* Replace *slot with a copy of v (wiping the old one when secret). */
static bool set_str(char **slot, const char *v, bool secret)
{
	char *d = trimmed_dup(v);
	if (!d) return false;
	if (secret) wipe_free_str(*slot); else free(*slot);
	*slot = d;
	return true;
}

/* Apply one value of a param to profile p. Returns 0, or -1 with err set. */
static int apply_param(const char *path, tls_profile_conf_t *p, const param_def_t *d,
                       const char *pname, const char *value, char *err, size_t errlen,
                       void (*warn_cb)(void *, const char *), void *u)
{
	uint64_t v;
	char *t = trimmed_dup(value);
	if (!t) { setf(err, errlen, "%s: out of memory", path); return -1; }
	int rc = 0;

	switch (d->kind) {
	case P_KEY:
		if (!*t) goto bad;
		if (p->n_keys >= TLS_CONF_MAX_KEYS) {
			setf(err, errlen, "%s: profile %s: param %s: more than %d keys", path, p->name,
			     pname, TLS_CONF_MAX_KEYS);
			rc = -1;
			break;
		}
		p->key_paths[p->n_keys++] = t;
		t = NULL;
		break;
	case P_PASSWORD:
		if (p->key_password)
			warnf(warn_cb, u, "%s: profile %s: param %s given twice, the last one is used",
			      path, p->name, pname);
		wipe_free_str(p->key_password);
		p->key_password = t;   /* empty password allowed */
		t = NULL;
		break;
	case P_KEYLOG:
		if (!*t) goto bad;
		if (p->keylog)
			warnf(warn_cb, u, "%s: profile %s: param %s given twice, the last one is used",
			      path, p->name, pname);
		if (!set_str(&p->keylog, t, false)) goto oom;
		break;
	case P_SERVER:
		if (!valid_server(t)) goto bad;
		if (!set_str(&p->server, t, false)) goto oom;
		break;
	case P_SNI:
		if (!*t || strlen(t) > 255 || strpbrk(t, " \t/")) goto bad;
		if (!set_str(&p->sni, t, false)) goto oom;
		break;
	case P_PORTS:
		if (!parse_ports(t, &p->engine.tls_ports, &p->engine.n_tls_ports)) goto bad;
		break;
	case P_BOOL_HS: {
		bool b;
		if (!parse_bool(t, &b)) goto bad;
		p->engine.emit_handshake_only_sessions = b;
		break;
	}
	case P_U32:
		if (!parse_u64(t, d->bytes, &v) || v < d->min || v > d->max || v > UINT32_MAX) goto bad;
		*(uint32_t *)((char *)&p->engine + d->off) = (uint32_t)v;
		break;
	case P_U64:
		if (!parse_u64(t, d->bytes, &v) || v < d->min || v > d->max) goto bad;
		*(uint64_t *)((char *)&p->engine + d->off) = v;
		break;
	case P_KEYLOG_MAX:
		if (!parse_u64(t, false, &v) || v < d->min || v > d->max) goto bad;
		p->keylog_max_entries = (uint32_t)v;
		break;
	case P_LISTEN: {
		char why[256];
		if (kl_listener_check(t, NULL, why, sizeof why) < 0) {
			setf(err, errlen, "%s: profile %s: %s", path, p->name, why);
			free(t);
			return -1;
		}
		if (!set_str(&p->keylog_listen, t, false)) goto oom;
		break;
	}
	case P_DGRAM:
		if (!parse_u64(t, d->bytes, &v) || v < d->min || v > d->max) goto bad;
		p->keylog_max_datagram = (uint32_t)v;
		break;
	case P_HEPTYPE:
		if (!parse_u64(t, false, &v) || v > d->max) goto bad;
		*((uint8_t *)p + d->off) = (uint8_t)v;
		break;
	case P_ALLOW: {
		char why[256];
		if (kl_listener_check("udp:0", t, why, sizeof why) < 0) {
			setf(err, errlen, "%s: profile %s: %s", path, p->name, why);
			free(t);
			return -1;
		}
		if (!set_str(&p->keylog_allow, t, false)) goto oom;
		break;
	}
	}
	free(t);
	return rc;
bad:
	setf(err, errlen, "%s: profile %s: param %s: bad value '%s'", path, p->name, pname,
	     d->kind == P_PASSWORD ? "***" : t);
	free(t);
	return -1;
oom:
	setf(err, errlen, "%s: out of memory", path);
	free(t);
	return -1;
}

/* Wipe the text content of a node subtree in place (password left in libxml2's tree). */
static void wipe_node_text(xmlNode *n)
{
	for (; n; n = n->next) {
		if (n->content) wipe(n->content, strlen((char *)n->content));
		if (n->children) wipe_node_text(n->children);
	}
}

/* Handle one <param>: name attr; value attr or <value> children (each applied). */
static int handle_param(const char *path, tls_profile_conf_t *p, xmlNode *pn, char *err,
                        size_t errlen, void (*warn_cb)(void *, const char *), void *u)
{
	xmlChar *xname = xmlGetProp(pn, (const xmlChar *)"name");
	if (!xname || !*xname) {
		warnf(warn_cb, u, "%s:%ld: profile %s: <param> without a name ignored", path,
		      (long)xmlGetLineNo(pn), p->name);
		xmlFree(xname);
		return 0;
	}
	char pname[128];
	snprintf(pname, sizeof pname, "%s", (const char *)xname);
	xmlFree(xname);

	const param_def_t *d = find_param(pname);
	if (!d) {
		for (int i = 0; host_params[i]; i++)
			if (!strcmp(host_params[i], pname)) return 0;
		const char *near = closest_param(pname);
		setf(err, errlen, "%s:%ld: profile %s: unknown param '%s'%s%s%s", path,
		     (long)xmlGetLineNo(pn), p->name, pname, near ? " (did you mean '" : "",
		     near ? near : "", near ? "'?)" : " (see protocol_tls.xml(5))");
		return -1;
	}

	int rc = 0, nvalues = 0;
	xmlAttr *va = xmlHasProp(pn, (const xmlChar *)"value");
	if (va) {
		xmlChar *v = xmlNodeGetContent((xmlNode *)va);
		rc = apply_param(path, p, d, pname, v ? (const char *)v : "", err, errlen, warn_cb, u);
		if (v) { if (d->kind == P_PASSWORD) wipe(v, strlen((char *)v)); xmlFree(v); }
		if (d->kind == P_PASSWORD) wipe_node_text(va->children);
		nvalues++;
	}
	for (xmlNode *c = pn->children; c && rc == 0; c = c->next) {
		if (!name_is(c, "value")) continue;
		xmlChar *v = xmlNodeGetContent(c);
		rc = apply_param(path, p, d, pname, v ? (const char *)v : "", err, errlen, warn_cb, u);
		if (v) { if (d->kind == P_PASSWORD) wipe(v, strlen((char *)v)); xmlFree(v); }
		if (d->kind == P_PASSWORD) wipe_node_text(c->children);
		nvalues++;
	}
	if (rc == 0 && nvalues == 0) {
		setf(err, errlen, "%s: profile %s: param %s: bad value '' (no value)", path, p->name,
		     pname);
		rc = -1;
	}
	return rc;
}

static void profile_defaults(tls_profile_conf_t *p)
{
	memset(p, 0, sizeof *p);
	tls_engine_config_defaults(&p->engine);
	/* captagent feeds a profile from every capture thread: one shard per core (at most
	 * 8) lets them work side by side */
	long nc = sysconf(_SC_NPROCESSORS_ONLN);
	p->engine.shards = nc < 1 ? 1 : nc > 8 ? 8 : (uint32_t)nc;
	p->engine.tls_ports = NULL;   /* owned by us once set */
	p->engine.n_tls_ports = 0;
	p->enabled = true;
	p->keylog_max_entries = TLS_CONF_DEFAULT_KEYLOG_MAX;
	p->hep_type_http = TLS_CONF_HEP_TYPE_HTTP_DEFAULT;
	p->hep_type_raw = TLS_CONF_HEP_TYPE_RAW_DEFAULT;
}

static void profile_free(tls_profile_conf_t *p)
{
	free(p->name);
	for (size_t i = 0; i < p->n_keys; i++) free(p->key_paths[i]);
	wipe_free_str(p->key_password);
	free(p->keylog);
	free(p->keylog_listen);
	free(p->keylog_allow);
	free(p->server);
	free(p->sni);
	free(p->engine.tls_ports);
	wipe(p, sizeof *p);
}

/* Parse one <profile> element into p. */
static int parse_profile(const char *path, xmlNode *pe, size_t index, tls_profile_conf_t *p,
                         char *err, size_t errlen, void (*warn_cb)(void *, const char *), void *u)
{
	profile_defaults(p);
	xmlChar *name = xmlGetProp(pe, (const xmlChar *)"name");
	if (name && *name) {
		p->name = trimmed_dup((const char *)name);
	} else {
		char gen[32];
		snprintf(gen, sizeof gen, "profile%zu", index + 1);
		p->name = strdup(gen);
	}
	xmlFree(name);
	if (!p->name) { setf(err, errlen, "%s: out of memory", path); return -1; }

	xmlChar *en = xmlGetProp(pe, (const xmlChar *)"enable");
	if (en) {
		bool b;
		bool ok = parse_bool((const char *)en, &b);
		if (!ok) {
			setf(err, errlen, "%s: profile %s: attribute enable: bad value '%s'", path,
			     p->name, (const char *)en);
			xmlFree(en);
			return -1;
		}
		p->enabled = b;
		xmlFree(en);
	}

	/* params live in <settings>; tolerate them directly under <profile> too */
	for (xmlNode *c = pe->children; c; c = c->next) {
		if (name_is(c, "settings")) {
			for (xmlNode *q = c->children; q; q = q->next)
				if (name_is(q, "param") &&
				    handle_param(path, p, q, err, errlen, warn_cb, u) < 0)
					return -1;
		} else if (name_is(c, "param")) {
			if (handle_param(path, p, c, err, errlen, warn_cb, u) < 0) return -1;
		}
	}
	if (p->enabled && !p->n_keys && !p->keylog && !p->keylog_listen)
		warnf(warn_cb, u, "%s: profile %s: no private-key-path or keylog-file: "
		      "sessions will be reported but nothing can be decrypted", path, p->name);
	if (p->key_password && !p->n_keys)
		warnf(warn_cb, u, "%s: profile %s: private-key-password without private-key-path",
		      path, p->name);
	return 0;
}

static void collect_profiles(xmlNode *n, xmlNode **out, size_t *count, size_t max)
{
	for (; n; n = n->next) {
		if (name_is(n, "profile")) {
			if (*count < max) out[*count] = n;
			(*count)++;
		} else if (n->type == XML_ELEMENT_NODE && !name_is(n, "settings")) {
			collect_profiles(n->children, out, count, max);
		}
	}
}

/* First parser error of a document (libxml2 structured error callback). */
struct first_error {
	int seen;
	int line;
	char msg[256];
};

static void first_error_cb(void *user, xmlErrorPtr e)
{
	xmlParserCtxtPtr ctxt = user;
	struct first_error *fe = ctxt ? ctxt->_private : NULL;
	if (!fe || fe->seen || !e || e->level < XML_ERR_ERROR) return;
	fe->seen = 1;
	fe->line = e->line;
	snprintf(fe->msg, sizeof fe->msg, "%s", e->message ? e->message : "not well-formed");
	size_t n = strlen(fe->msg);
	while (n && (fe->msg[n - 1] == '\n' || fe->msg[n - 1] == ' ')) fe->msg[--n] = '\0';
}

int tls_config_load(const char *path, tls_conf_t *out, char *err, size_t errlen,
                    void (*warn_cb)(void *u, const char *line), void *u)
{
	if (out) memset(out, 0, sizeof *out);
	if (err && errlen) err[0] = '\0';
	if (!path || !out) { setf(err, errlen, "(null): no configuration file"); return -1; }

	/* open it ourselves first: libxml2 would print its own I/O warning on stderr */
	FILE *f = fopen(path, "r");
	if (!f) {
		setf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	fclose(f);
	xmlInitParser();
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	if (!ctxt) { setf(err, errlen, "%s: out of memory", path); return -1; }
	/* keep the first error (the cause), not the last one libxml2 saw */
	struct first_error fe = { 0, 0, "" };
	if (ctxt->sax) ctxt->sax->serror = first_error_cb;
	ctxt->_private = &fe;
	xmlDocPtr doc = xmlCtxtReadFile(ctxt, path, NULL,
	                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		if (fe.seen) {
			setf(err, errlen, "%s:%d: malformed XML: %s", path, fe.line, fe.msg);
		} else {
			char msg[256] = "not well-formed XML";
			int line = 0;
			if (e && e->message) {
				snprintf(msg, sizeof msg, "%s", e->message);
				size_t n = strlen(msg);
				while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = '\0';
				line = e->line;
			}
			if (line > 0) setf(err, errlen, "%s:%d: malformed XML: %s", path, line, msg);
			else setf(err, errlen, "%s: malformed XML: %s", path, msg);
		}
		xmlFreeParserCtxt(ctxt);
		return -1;
	}

	int rc = -1;
	xmlNode *root = xmlDocGetRootElement(doc);
	xmlNode *found[256];
	size_t n = 0;
	if (root) {
		if (name_is(root, "profile")) { found[0] = root; n = 1; }
		else collect_profiles(root->children, found, &n, 256);
	}
	for (xmlNode *m = root ? root->children : NULL; m; m = m->next) {
		if (!name_is(m, "module")) continue;
		xmlChar *mn = xmlGetProp(m, (const xmlChar *)"name");
		if (mn && strcmp((const char *)mn, "protocol_tls"))
			warnf(warn_cb, u, "%s: <module name=\"%s\"> read as protocol_tls", path,
			      (const char *)mn);
		xmlFree(mn);
	}
	if (n == 0) {
		setf(err, errlen, "%s: no <profile> found (expected <document><module "
		     "name=\"protocol_tls\"><profile ...>)", path);
		goto done;
	}
	if (n > 256) {
		setf(err, errlen, "%s: too many profiles (%zu, max 256)", path, n);
		goto done;
	}
	out->profiles = calloc(n, sizeof *out->profiles);
	if (!out->profiles) { setf(err, errlen, "%s: out of memory", path); goto done; }
	for (size_t i = 0; i < n; i++) {
		out->n_profiles = i + 1;
		if (parse_profile(path, found[i], i, &out->profiles[i], err, errlen, warn_cb, u) < 0)
			goto done;
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(out->profiles[j].name, out->profiles[i].name)) {
				setf(err, errlen, "%s: profile %s: defined twice", path,
				     out->profiles[i].name);
				goto done;
			}
		}
	}
	rc = 0;
done:
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	if (rc < 0) tls_config_free(out);
	return rc;
}

void tls_config_free(tls_conf_t *c)
{
	if (!c) return;
	for (size_t i = 0; i < c->n_profiles; i++) profile_free(&c->profiles[i]);
	free(c->profiles);
	c->profiles = NULL;
	c->n_profiles = 0;
}

/* "PATH: reason" unless the engine's reason already names the file. */
static void key_err(char *err, size_t errlen, const char *path, const char *reason)
{
	if (reason[0] && strstr(reason, path)) setf(err, errlen, "%s", reason);
	else setf(err, errlen, "%s: %s", path, reason[0] ? reason : "cannot load key");
}

int tls_config_build_keystore(const tls_profile_conf_t *p, tls_keystore_t **out,
                              char *err, size_t errlen,
                              void (*warn_cb)(void *u, const char *line), void *u)
{
	if (out) *out = NULL;
	if (err && errlen) err[0] = '\0';
	if (!p || !out) { setf(err, errlen, "(null): no profile"); return -1; }
	tls_keystore_t *ks = tls_keystore_new();
	if (!ks) { setf(err, errlen, "%s: out of memory", p->name ? p->name : "profile"); return -1; }

	char reason[512], warn[512];
	for (size_t i = 0; i < p->n_keys; i++) {
		reason[0] = warn[0] = '\0';
		if (tls_keystore_add_key_file(ks, p->key_paths[i], p->key_password, p->server, p->sni,
		                              reason, sizeof reason, warn, sizeof warn) < 0) {
			key_err(err, errlen, p->key_paths[i], reason);
			tls_keystore_unref(ks);
			return -1;
		}
		if (warn[0]) {
			if (strstr(warn, p->key_paths[i])) warnf(warn_cb, u, "%s", warn);
			else warnf(warn_cb, u, "%s: %s", p->key_paths[i], warn);
		}
	}
	if (p->keylog) {
		/* the key log may be created later, but its directory must exist: a typo in the
		 * directory would otherwise wait forever for keys that never arrive */
		char *dir = strdup(p->keylog);
		if (!dir) { setf(err, errlen, "%s: out of memory", p->keylog); tls_keystore_unref(ks); return -1; }
		char *slash = strrchr(dir, '/');
		if (slash) {
			if (slash == dir) slash[1] = '\0'; else *slash = '\0';
			struct stat st;
			int src = stat(dir, &st);
			if (src != 0 || !S_ISDIR(st.st_mode)) {
				setf(err, errlen, "%s: keylog-file directory %s: %s", p->keylog, dir,
				     src != 0 ? strerror(errno) : "is not a directory");
				free(dir);
				tls_keystore_unref(ks);
				return -1;
			}
		}
		free(dir);
		reason[0] = '\0';
		if (tls_keystore_add_keylog(ks, p->keylog, p->keylog_max_entries, reason,
		                            sizeof reason) < 0) {
			key_err(err, errlen, p->keylog, reason);
			tls_keystore_unref(ks);
			return -1;
		}
	}
	if (p->keylog_listen) {
		reason[0] = '\0';
		if (tls_keystore_add_keylog_feed(ks, p->keylog_max_entries, reason, sizeof reason) < 0) {
			key_err(err, errlen, p->keylog_listen, reason);
			tls_keystore_unref(ks);
			return -1;
		}
	}
	*out = ks;
	return 0;
}
