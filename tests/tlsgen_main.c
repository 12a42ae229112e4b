/*
 * tlsgen_main.c — command-line wrapper around tlsgen (tests/tlsgen.h).
 *
 * Why: lets people and shell-driven tests produce the same real-OpenSSL captures the C
 * tests use, inspect them with tshark, and keep the exact plaintext next to them:
 *
 *   tlsgen -o out.pcap -v 1.2 -c AES256-GCM-SHA384 --key key.pem --cert cert.pem
 *          [--no-ems] [--no-etm] [--app sip|http|ws-sip] [-n N] [--seed S] [--ipv6] [--split N]
 *          [--coalesce] [--reorder] [--duplicate] [--connections N] [--resume id|ticket]
 *          [--keylog FILE] [--linktype N] [--vlan] [--wrap] [--key-update] [--hrr]
 *          [--no-tickets] [--groups G] [--sni NAME] [--key-pass PW] [--mss N]
 *          [--port N] [--ts T] [--no-split-writes] [--static-ecdhe KEY] [--plaintext-prefix P]
 *   tlsgen --make-key KIND key.pem cert.pem [password]
 *
 * With --plaintext-prefix P it writes, per connection N (1-based), P.connN.c2s.bin and
 * P.connN.s2c.bin (the concatenated plaintext of each direction) and P.connN.msgs (one
 * line per message in write order: "c2s|s2c LENGTH OFFSET"). A summary line per
 * connection goes to stdout. Exit status 0 on success, 1 on failure, 2 on usage errors.
 */
#include "tlsgen.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fputs("usage: tlsgen -o OUT.pcap -v 1.0|1.1|1.2|1.3 [-c CIPHER] --key KEY.pem --cert CERT.pem\n"
	      "              [--no-ems] [--no-etm] [--app sip|http|ws-sip] [-n N] [--seed S] [--ipv6]\n"
	      "              [--split N] [--coalesce] [--reorder] [--duplicate] [--connections N] [--client-hosts N]\n"
	      "              [--resume id|ticket] [--keylog FILE] [--linktype 0|1|101|113|276] [--vlan]\n"
	      "              [--wrap] [--key-update] [--hrr] [--no-tickets] [--groups LIST] [--sni NAME]\n"
	      "              [--key-pass PW] [--mss N] [--port N] [--ts SECONDS] [--no-split-writes]\n"
	      "              [--static-ecdhe KEY.pem] [--early-data] [--drop]\n"
	      "              [--ack-before-data] [--late-segment] [--reply-first 1..4] [--stray-rst]\n"
	      "              [--stray-syn] [--stray-in-window] [--ts-outlier] [--ts-step]\n"
	      "              [--renegotiate N] [--early-data-reject 1|2] [--psk-ke-only]\n"
	      "              [--plaintext-prefix P] [--starttls smtp|imap|pop3|xmpp|ftp|ldap|postgres]\n"
	      "       tlsgen --make-key rsa2048|rsa1024|p256|p384|x25519|ed25519 KEY.pem CERT.pem [PASSWORD]\n", f);
}

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f) return -1;
	int ok = (n == 0 || fwrite(p, n, 1, f) == 1);
	if (fclose(f) != 0) ok = 0;
	return ok ? 0 : -1;
}

static long num(const char *s, const char *what)
{
	char *e;
	long v = strtol(s, &e, 0);
	if (!*s || *e) { fprintf(stderr, "tlsgen: bad %s \"%s\"\n", what, s); exit(2); }
	return v;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "--make-key")) {
		if (argc < 5 || argc > 6) { usage(stderr); return 2; }
		if (tlsgen_make_key(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL)) {
			fprintf(stderr, "tlsgen: cannot make %s key %s\n", argv[2], argv[3]);
			return 1;
		}
		return 0;
	}

	tlsgen_opts_t o;
	tlsgen_opts_defaults(&o);
	const char *out = NULL, *prefix = NULL;
	enum { O_NOEMS = 256, O_NOETM, O_APP, O_SEED, O_IPV6, O_SPLIT, O_COAL, O_REORD, O_DUP, O_CONN,
	       O_RESUME, O_KEYLOG, O_LINK, O_VLAN, O_WRAP, O_KU, O_HRR, O_KEY, O_CERT, O_PREFIX,
	       O_NOTICK, O_CHOSTS, O_GROUPS, O_SNI, O_KPASS, O_MSS, O_PORT, O_TS, O_NOSW, O_STATIC, O_EARLY, O_DROP,
	       O_ACKF, O_LATE, O_REPLY, O_RST, O_SYN, O_INWIN, O_TSOUT, O_TSSTEP, O_RENEG, O_EREJ, O_PSKKE, O_STARTTLS };
	static const struct option lo[] = {
		{ "out", required_argument, 0, 'o' }, { "version", required_argument, 0, 'v' },
		{ "cipher", required_argument, 0, 'c' }, { "messages", required_argument, 0, 'n' },
		{ "no-ems", no_argument, 0, O_NOEMS }, { "no-etm", no_argument, 0, O_NOETM },
		{ "app", required_argument, 0, O_APP }, { "seed", required_argument, 0, O_SEED },
		{ "ipv6", no_argument, 0, O_IPV6 }, { "split", required_argument, 0, O_SPLIT },
		{ "coalesce", no_argument, 0, O_COAL }, { "reorder", no_argument, 0, O_REORD },
		{ "duplicate", no_argument, 0, O_DUP }, { "connections", required_argument, 0, O_CONN },
		{ "client-hosts", required_argument, 0, O_CHOSTS },
		{ "resume", required_argument, 0, O_RESUME }, { "keylog", required_argument, 0, O_KEYLOG },
		{ "linktype", required_argument, 0, O_LINK }, { "vlan", no_argument, 0, O_VLAN },
		{ "wrap", no_argument, 0, O_WRAP }, { "key-update", no_argument, 0, O_KU },
		{ "hrr", no_argument, 0, O_HRR }, { "key", required_argument, 0, O_KEY },
		{ "cert", required_argument, 0, O_CERT }, { "plaintext-prefix", required_argument, 0, O_PREFIX },
		{ "no-tickets", no_argument, 0, O_NOTICK }, { "groups", required_argument, 0, O_GROUPS },
		{ "sni", required_argument, 0, O_SNI }, { "key-pass", required_argument, 0, O_KPASS },
		{ "mss", required_argument, 0, O_MSS }, { "port", required_argument, 0, O_PORT },
		{ "ts", required_argument, 0, O_TS }, { "no-split-writes", no_argument, 0, O_NOSW }, { "static-ecdhe", required_argument, 0, O_STATIC }, { "early-data", no_argument, 0, O_EARLY }, { "drop", no_argument, 0, O_DROP },
		{ "ack-before-data", no_argument, 0, O_ACKF }, { "late-segment", no_argument, 0, O_LATE },
		{ "reply-first", required_argument, 0, O_REPLY }, { "stray-rst", no_argument, 0, O_RST },
		{ "stray-syn", no_argument, 0, O_SYN }, { "stray-in-window", no_argument, 0, O_INWIN },
		{ "ts-outlier", no_argument, 0, O_TSOUT }, { "ts-step", no_argument, 0, O_TSSTEP },
		{ "renegotiate", required_argument, 0, O_RENEG }, { "early-data-reject", required_argument, 0, O_EREJ },
		{ "psk-ke-only", no_argument, 0, O_PSKKE }, { "starttls", required_argument, 0, O_STARTTLS },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "o:v:c:n:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'v':
			if (!strcmp(optarg, "1.0")) o.tls_version = 0x0301;
			else if (!strcmp(optarg, "1.1")) o.tls_version = 0x0302;
			else if (!strcmp(optarg, "1.2")) o.tls_version = 0x0303;
			else if (!strcmp(optarg, "1.3")) o.tls_version = 0x0304;
			else { fprintf(stderr, "tlsgen: bad version \"%s\" (1.0, 1.1, 1.2 or 1.3)\n", optarg); return 2; }
			break;
		case 'c': o.cipher = optarg; break;
		case 'n': o.n_messages = (int)num(optarg, "message count"); break;
		case O_NOEMS: o.ems = 0; break;
		case O_NOETM: o.etm = 0; break;
		case O_APP:
			if (!strcmp(optarg, "sip")) o.app = TLSGEN_APP_SIP;
			else if (!strcmp(optarg, "http")) o.app = TLSGEN_APP_HTTP;
			else if (!strcmp(optarg, "ws-sip")) o.app = TLSGEN_APP_WS_SIP;
			else { fprintf(stderr, "tlsgen: bad app \"%s\" (sip, http or ws-sip)\n", optarg); return 2; }
			break;
		case O_SEED: o.seed = (unsigned)num(optarg, "seed"); break;
		case O_IPV6: o.ipv6 = 1; break;
		case O_SPLIT: o.split = (int)num(optarg, "split size"); break;
		case O_COAL: o.coalesce = 1; break;
		case O_REORD: o.reorder = 1; break;
		case O_DUP: o.duplicate = 1; break;
		case O_CONN: o.connections = (int)num(optarg, "connection count"); break;
		case O_CHOSTS: o.client_hosts = (int)num(optarg, "client host count"); break;
		case O_RESUME:
			if (!strcmp(optarg, "id")) o.resume = 1;
			else if (!strcmp(optarg, "ticket")) o.resume = 2;
			else if (!strcmp(optarg, "none")) o.resume = 0;
			else { fprintf(stderr, "tlsgen: bad resume mode \"%s\" (id or ticket)\n", optarg); return 2; }
			break;
		case O_KEYLOG: o.keylog_file = optarg; break;
		case O_LINK: o.linktype = (int)num(optarg, "link type"); break;
		case O_VLAN: o.vlan = 1; break;
		case O_WRAP: o.isn_near_wrap = 1; break;
		case O_KU: o.key_update = 1; break;
		case O_HRR: o.hrr = 1; break;
		case O_KEY: o.key_file = optarg; break;
		case O_CERT: o.cert_file = optarg; break;
		case O_PREFIX: prefix = optarg; break;
		case O_NOTICK: o.no_tickets = 1; break;
		case O_GROUPS: o.groups = optarg; break;
		case O_SNI: o.sni = optarg; break;
		case O_KPASS: o.key_password = optarg; break;
		case O_MSS: o.mss = (int)num(optarg, "MSS"); break;
		case O_PORT: o.server_port = (uint16_t)num(optarg, "port"); break;
		case O_TS: o.start_ts = strtod(optarg, NULL); break;
		case O_NOSW: o.split_writes = 0; break;
		case O_STATIC: o.static_ecdhe_key = optarg; break;
		case O_EARLY: o.early_data = 1; break;
		case O_DROP: o.drop = 1; break;
		case O_ACKF: o.ack_before_data = 1; break;
		case O_LATE: o.late_segment = 1; break;
		case O_REPLY: o.reply_first = (int)num(optarg, "reply-first distance"); break;
		case O_RST: o.stray_rst = 1; break;
		case O_SYN: o.stray_syn = 1; break;
		case O_INWIN: o.stray_in_window = 1; break;
		case O_TSOUT: o.ts_outlier = 1; break;
		case O_TSSTEP: o.ts_step = 1; break;
		case O_RENEG: o.renegotiate = (int)num(optarg, "renegotiation count"); break;
		case O_EREJ: o.early_data_reject = (int)num(optarg, "early-data-reject mode"); break;
		case O_PSKKE: o.psk_ke_only = 1; break;
		case O_STARTTLS: o.starttls = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !out || !o.key_file || !o.cert_file) { usage(stderr); return 2; }

	tlsgen_result_t res;
	char err[512];
	if (tlsgen_run(&o, out, &res, err, sizeof err)) {
		fprintf(stderr, "tlsgen: %s\n", err);
		return 1;
	}
	int rc = 0;
	for (size_t i = 0; i < res.n_conns; i++) {
		const tlsgen_conn_t *cn = &res.conns[i];
		printf("conn %zu: port %u->%u version 0x%04x suite 0x%04x ems %d etm %d resumed %d hrr %d "
		       "c2s %zu bytes s2c %zu bytes %zu messages %zu packets\n",
		       i + 1, cn->client_port, cn->server_port, cn->version, cn->suite, cn->ems, cn->etm, cn->resumed,
		       cn->hrr, cn->plain_len[0], cn->plain_len[1], cn->n_msgs, cn->n_packets);
		printf("  lost %llu/%llu ack_first %u late %u/%u reply_first %u (hs %u) stray %u renegotiations %u "
		       "early accepted %d rejected %d psk_mode %d ch_psk_modes %u ch_key_share %d\n",
		       (unsigned long long)cn->lost[0], (unsigned long long)cn->lost[1], cn->n_ack_first, cn->n_late[0],
		       cn->n_late[1], cn->n_reply_first, cn->n_reply_first_hs, cn->n_stray, cn->renegotiations,
		       cn->early_data, cn->early_rejected, cn->psk_mode, cn->ch_psk_modes, cn->ch_key_share);
		if (!prefix) continue;
		char path[4096];
		static const char *const dn[2] = { "c2s", "s2c" };
		for (int d = 0; d < 2; d++) {
			snprintf(path, sizeof path, "%s.conn%zu.%s.bin", prefix, i + 1, dn[d]);
			if (write_file(path, cn->plain[d], cn->plain_len[d])) { fprintf(stderr, "tlsgen: cannot write %s\n", path); rc = 1; }
		}
		snprintf(path, sizeof path, "%s.conn%zu.msgs", prefix, i + 1);
		FILE *f = fopen(path, "w");
		if (!f) { fprintf(stderr, "tlsgen: cannot write %s\n", path); rc = 1; continue; }
		for (size_t k = 0; k < cn->n_msgs; k++)
			fprintf(f, "%s %zu %zu\n", dn[cn->msgs[k].dir], cn->msgs[k].len, cn->msgs[k].offset);
		if (fclose(f)) rc = 1;
	}
	tlsgen_result_free(&res);
	return rc;
}
