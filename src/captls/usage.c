/*
 * usage.c — captls's --help and --version texts (kept apart from the option parsing so
 * captls.c stays about running the job).
 */
#include "config.h"
#include <stdio.h>
#include <pcap/pcap.h>
#include <json-c/json_c_version.h>
#include "usage.h"

void captls_usage(FILE *f)
{
	fputs(
"usage: captls (-r FILE | -i IFACE) [-f BPF] [-c protocol_tls.xml] [-k KEYFILE]...\n"
"              [-P PASSWORD] [-l KEYLOGFILE] [-o text|json]\n"
"              [-H udp:HOST:PORT | tcp:HOST:PORT] [-w OUT.pcap | -w -]\n"
"              [--keylog-listen udp:HOST:PORT [--keylog-allow LIST]] [BPF expression]\n"
"\n"
"Passively decrypts TLS sessions (SIP over TLS, HTTPS, ...) and prints each decrypted\n"
"application message, one session summary per TLS session.\n"
"\n"
"input:\n"
"  -r, --read FILE        read a pcap/pcapng file (\"-\" for stdin)\n"
"                         (pcapng: key logs stored in the file are used too)\n"
"  -i, --interface IFACE  capture live (Ctrl-C ends the capture cleanly)\n"
"  -f, --filter BPF       capture filter, e.g. \"tcp port 5061\" (also as trailing words)\n"
"keys:\n"
"  -k, --key KEYFILE      server private key: RSA or static ECDHE (P-256/P-384/X25519),\n"
"                         PEM or DER; repeatable; matched by certificate, else tried\n"
"  -P, --password PASS    password of encrypted -k keys\n"
"  -l, --keylog FILE      NSS key log (SSLKEYLOGFILE), followed as it grows\n"
"  -c, --config FILE      protocol_tls.xml: every enabled profile's keys and key log\n"
"      --keylog-listen udp:HOST:PORT\n"
"                         receive NSS key-log lines as UDP datagrams (one line each,\n"
"                         newline optional: Kamailio's keylog_peer); HOST defaults to\n"
"                         127.0.0.1. With -r, waits at the end up to keylog-wait\n"
"                         seconds (wall time) for sessions still lacking keys\n"
"      --keylog-allow LIST  senders accepted by --keylog-listen: addresses or\n"
"                         ADDR/PREFIX, comma-separated, or any (default: loopback)\n"
"      --keylog-wait N    seconds a session waits for its key-log secrets (default 10)\n"
"      --keylog-max-datagram N  longer key-log datagrams are dropped (default 4096)\n"
"output:\n"
"  -o, --output text|json text (default) or JSON Lines on stdout\n"
"  -H, --hep udp:HOST:PORT|tcp:HOST:PORT\n"
"                         send every message as HEP v3 to a Homer collector\n"
"  -w, --write OUT.pcap   write the plaintext as a pcap of plain TCP connections\n"
"                         (\"-\": stdout; flushed per packet with -i or into a pipe)\n"
"                         (with -H or -w, stdout records only if -o is given)\n"
"  -q, --quiet            no records on stdout, no session lines on stderr\n"
"      --stats            print engine counters to stderr at the end\n"
"      --hep-id N         HEP capture agent id (default 2001)\n"
"      --hep-auth KEY     HEP authentication key chunk\n"
"      --hep-type-http N  HEP protocol type for HTTP messages, 0: not sent (default\n"
"                         100, Homer's LOG type; -c: the first profile's hep-type-http)\n"
"      --hep-type-raw N   HEP protocol type for unclassified messages, 0: not sent\n"
"                         (default 0; -c: the first profile's hep-type-raw)\n"
"      --pcap-linktype ether|raw   link type of -w output (default ether)\n"
"      --keylog-max N     key log entries kept (default 100000)\n"
"      --threads N        worker threads, one engine shard each (default: the\n"
"                         cores, at most 8); a flow's messages keep their order\n"
"  -v, --verbose          engine log lines to stderr (-vv: debug)\n"
"  -V, --version          print version\n"
"  -h, --help             this help\n"
"\n"
"exit status: 0 input processed, 1 runtime failure, 2 usage or configuration error\n", f);
}

void captls_version(void)
{
	printf("captls (protocol_tls) %s\n%s\njson-c %s\n", PACKAGE_VERSION, pcap_lib_version(),
	       json_c_version());
}

