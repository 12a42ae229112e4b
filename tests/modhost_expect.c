/*
 * modhost_expect.c — what the module must deliver and the check that it did: the expected
 * messages from a tlsgen result (real OpenSSL peers), compared with the recorded ones per
 * direction, once, in order, byte for byte, with rcinfo src/dst/ports of their direction;
 * plus the generation of those captures.
 *
 * Why: every case of both host programs asserts the same thing (decrypted bytes equal
 * what the peer sent); one comparison keeps them equally strict.
 */
#include "modhost.h"

#include <stdio.h>
#include <string.h>

/* Compare recorded messages with the expected ones: per direction, same sequence, each
 * byte-exact, and rcinfo matching the direction. */
void check_recs_conn(const char *what, const expect_t *exp, size_t nexp,
                     const conninfo_t *ci, int want_via_rerun, int only_conn)
{
	size_t idx[2] = { 0, 0 };
	size_t ok = 0, bad_bytes = 0, bad_rc = 0, extra = 0, reruns = 0;
	const expect_t *ex_dir[2][4096];
	size_t nd[2] = { 0, 0 };
	for (size_t i = 0; i < nexp; i++)
		if (nd[exp[i].dir] < 4096) ex_dir[exp[i].dir][nd[exp[i].dir]++] = &exp[i];
	for (size_t i = 0; i < nrecs; i++) {
		rec_t *r = &recs[i];
		if (only_conn && r->sport != ci->cport && r->dport != ci->cport) continue;
		if (r->via == 1) reruns++;
		int dir = (r->sport == ci->cport && !strcmp(r->src, ci->client)) ? 0 :
		          (r->sport == ci->sport && !strcmp(r->src, ci->server)) ? 1 : -1;
		if (dir < 0) { bad_rc++; continue; }
		const char *wdst = dir == 0 ? ci->server : ci->client;
		uint16_t wdport = dir == 0 ? ci->sport : ci->cport;
		if (strcmp(r->dst, wdst) || r->dport != wdport || r->tsec == 0) bad_rc++;
		if (idx[dir] >= nd[dir]) { extra++; continue; }
		const expect_t *e = ex_dir[dir][idx[dir]++];
		if (e->len != r->len || memcmp(e->data, r->data, r->len)) {
			bad_bytes++;
			if (bad_bytes <= 2)
				tap_diag("%s: dir %d msg %zu: got %zu bytes '%.40s' want %zu '%.40s'", what, dir,
				         idx[dir] - 1, r->len, (const char *)r->data, e->len, (const char *)e->data);
		} else {
			ok++;
		}
	}
	tap_ok(ok == nexp && bad_bytes == 0 && extra == 0 && idx[0] == nd[0] && idx[1] == nd[1],
	       "%s: %zu/%zu messages delivered once, in order, byte-exact (c2s %zu/%zu, s2c %zu/%zu, "
	       "%zu wrong, %zu extra)", what, ok, nexp, idx[0], nd[0], idx[1], nd[1], bad_bytes, extra);
	tap_ok(bad_rc == 0, "%s: rcinfo src/dst/ports/time match each message's direction (%zu bad)",
	       what, bad_rc);
	if (want_via_rerun >= 0)
		tap_ok(want_via_rerun ? reruns > 0 : 1, "%s: %zu messages came through the plan rerun",
		       what, reruns);
}

void check_recs(const char *what, const expect_t *exp, size_t nexp, const conninfo_t *ci,
                int want_via_rerun)
{
	check_recs_conn(what, exp, nexp, ci, want_via_rerun, 0);
}

/* Expected list from connection `conn` of a tlsgen result, or all connections when
 * conn < 0 (keep-alives are not delivered). */
size_t expect_from_conn(const tlsgen_result_t *res, int conn, expect_t *out, size_t max)
{
	size_t n = 0;
	for (size_t c = 0; c < res->n_conns; c++)
		if (conn < 0 || (size_t)conn == c) for (size_t j = 0; j < res->conns[c].n_msgs && n < max; j++) {
			const tlsgen_msg_t *m = &res->conns[c].msgs[j];
			if (m->keepalive) continue;
			out[n].data = m->data;
			out[n].len = m->len;
			out[n].dir = m->dir;
			n++;
		}
	return n;
}

size_t expect_from_gen(const tlsgen_result_t *res, expect_t *out, size_t max)
{
	return expect_from_conn(res, -1, out, max);
}


char keyfile[512], certfile[512];
int have_gen;

/* Generate a capture with tlsgen; returns 0 and fills res. */
int gen(tlsgen_opts_t *o, const char *name, tlsgen_result_t *res, char *pcap, size_t pl)
{
	char err[256];
	snprintf(pcap, pl, "%s/%s.pcap", tmpdir, name);
	memset(res, 0, sizeof *res);
	if (tlsgen_run(o, pcap, res, err, sizeof err) < 0) {
		tap_diag("tlsgen %s: %s", name, err);
		return -1;
	}
	return 0;
}

void conninfo_gen(const tlsgen_opts_t *o, const tlsgen_result_t *res, conninfo_t *ci)
{
	snprintf(ci->client, sizeof ci->client, "%s", o->ipv6 ? "fd00::1" : "10.0.0.1");
	snprintf(ci->server, sizeof ci->server, "%s", o->ipv6 ? "fd00::2" : "10.0.0.2");
	ci->cport = res->conns[0].client_port;
	ci->sport = res->conns[0].server_port;
}
