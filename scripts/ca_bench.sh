#!/bin/bash
# ca_bench.sh — CPU of SIP-over-TLS capture inside a real captagent 6.4.x with protocol_tls,
# beside the CPU of the same SIP captured in plain TCP (issue 11's "inside captagent" target).
#
# Why: the engine's figures say nothing about the module's path inside captagent (segment
# recovery from msg_t, plan re-runs per message, parse_sip, send_hep). This replays two
# captures through captagent -D: (1) N TLS 1.2 RSA-2048 connections from real OpenSSL peers
# (tlsgen, SIP dialogs, 20 messages each, 50 client addresses) through tls_decrypt_plan.cfg
# (parse_tls -> parse_sip -> send_hep), and (2) the very same SIP messages in plain TCP —
# captls -w of capture (1), one message per packet — through a parse_sip -> send_hep plan.
# CPU = user+sys of the captagent process (all threads, /proc/PID/stat) once it has gone
# idle after the end of the file (captagent keeps running after -D input ends). HEP goes to
# a UDP sink on 127.0.0.1 (its own process, not counted). The RSA share is the number of
# RSA private operations (N) times the cost of one measured in the same round
# (tests/bench --baseline). Printed: per round and medians of plain CPU, TLS CPU, TLS minus
# RSA, and (TLS - RSA) / plain; target <= 1.5.
#
# usage: scripts/ca_bench.sh [-b BUILD] [-n CONNECTIONS] [-r ROUNDS]
# env: CAPTAGENT (default /usr/local/sbin/captagent), CAMODS (its modules directory),
#      CAETC (its etc with protocol_sip.xml), HEP_PORT (default 9077).
# Needs captagent 6.4.x with socket_pcap, protocol_sip and transport_hep; python3, bc.
# Not part of make check (it takes minutes and its figures depend on the machine).
set -u
top="$(cd "$(dirname "$0")/.." && pwd)"
BUILD=$top/build N=500 ROUNDS=5
while getopts "b:n:r:" o; do
	case $o in b) BUILD=$(cd "$OPTARG" && pwd) ;; n) N=$OPTARG ;; r) ROUNDS=$OPTARG ;; *) exit 2 ;; esac
done
CAPTAGENT=${CAPTAGENT:-/usr/local/sbin/captagent}
CAMODS=${CAMODS:-/usr/local/lib/captagent/modules}
CAETC=${CAETC:-/usr/local/etc/captagent}
HEP_PORT=${HEP_PORT:-9077}
MOD=$BUILD/.libs/protocol_tls.so
W=$BUILD/ca-bench
die() { echo "ca_bench: $*" >&2; exit 2; }
for f in "$CAPTAGENT" "$CAMODS/socket_pcap.so" "$CAMODS/protocol_sip.so" "$CAMODS/transport_hep.so" "$CAETC/protocol_sip.xml" \
         "$MOD" "$BUILD/captls" "$BUILD/tests/tlsgen" "$BUILD/tests/bench"; do
	[ -e "$f" ] || die "$f not found"
done
mkdir -p "$W"
KEY=$W/key.pem
[ -f "$KEY" ] || "$BUILD/tests/tlsgen" --make-key rsa2048 "$KEY" "$W/cert.pem" >/dev/null || die "make key"
chmod 600 "$KEY"
"$BUILD/tests/tlsgen" -o "$W/tls.pcap" -v 1.2 -c AES128-GCM-SHA256 --key "$KEY" --cert "$W/cert.pem" --app sip -n 10 \
	--connections "$N" --client-hosts 50 --no-tickets --seed 5 > "$W/tlsgen.txt" || die "tlsgen failed"
"$BUILD/captls" --threads 1 -q --stats -r "$W/tls.pcap" -k "$KEY" -w "$W/plain.pcap" 2> "$W/captls.txt" || die "captls -w failed"
grep -q "sessions $N, decrypted $N" "$W/captls.txt" || die "captls did not decrypt all $N sessions"

setup() {   # kind: tls | plain
	local R=$W/run-$1
	rm -rf "$R"; mkdir -p "$R/etc/captureplans" "$R/modules" "$R/out"
	for m in socket_pcap protocol_sip transport_hep; do ln -s "$CAMODS/$m.so" "$R/modules/$m.so"; done
	ln -s "$MOD" "$R/modules/protocol_tls.so"
	sed -e "s#/usr/local/lib/captagent/modules#$R/modules#" \
	    -e "s#/usr/local/etc/captagent/captureplans#$R/etc/captureplans#" \
	    -e "s#/usr/local/etc/captagent/backup#$R/etc/backup#" \
	    -e "s#/usr/local/etc/captagent/\"#$R/etc/\"#" \
	    -e "s#/usr/local/etc/captagent\"#$R/etc\"#" \
	    -e "s#/var/run/captagent.pid#$R/captagent.pid#" "$top/conf/captagent.xml" > "$R/etc/captagent.xml"
	sed -e "s#<param name=\"capture-port\" value=\"9060\"/>#<param name=\"capture-port\" value=\"$HEP_PORT\"/>#" \
	    "$top/conf/transport_hep.xml" > "$R/etc/transport_hep.xml"
	cp "$CAETC/protocol_sip.xml" "$R/etc/"
	if [ "$1" = plain ]; then   # protocol_tls stays loaded (same process image), unused
		sed -e 's#tls_decrypt_plan.cfg#plain_plan.cfg#' "$top/conf/socket_pcap.xml" > "$R/etc/socket_pcap.xml"
		printf 'capture[pcap] {\n    if(parse_sip()) {\n        if(!send_hep("hepsocket")) {\n            clog("ERROR", "Error sending HEP!!!!");\n        }\n    }\n    drop;\n}\n' \
			> "$R/etc/captureplans/plain_plan.cfg"
	else
		cp "$top/conf/socket_pcap.xml" "$R/etc/socket_pcap.xml"
		cp "$top/conf/captureplans/tls_decrypt_plan.cfg" "$R/etc/captureplans/"
	fi
	printf '<?xml version="1.0"?>\n<document type="captagent_module/xml">\n<module name="protocol_tls" description="TLS" serial="1">\n<profile name="proto_tls" description="TLS" enable="true" serial="1"><settings>\n<param name="private-key-path" value="%s"/>\n</settings></profile></module></document>\n' \
		"$KEY" > "$R/etc/protocol_tls.xml"
}

once() {   # kind pcap -> "cpu_seconds hep_packets"
	local R=$W/run-$1
	rm -f "$R/out/ready" "$R/out/hep.txt"
	python3 - "$HEP_PORT" "$R/out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(4)
open(sys.argv[2] + "/ready", "w").close()
n = 0
while True:
    try:
        s.recv(70000)
    except socket.timeout:
        break
    n += 1
open(sys.argv[2] + "/hep.txt", "w").write("%d\n" % n)
PY
	local col=$!
	for _ in $(seq 100); do [ -e "$R/out/ready" ] && break; sleep 0.05; done
	"$CAPTAGENT" -n -D "$2" -f "$R/etc/captagent.xml" > "$R/out/ca.log" 2>&1 &
	local ca=$! last=-1 same=0 t
	while kill -0 $ca 2>/dev/null; do        # idle for 1.5 s: the file is done
		sleep 0.5
		t=$(awk '{print $14 + $15}' /proc/$ca/stat 2>/dev/null) || break
		if [ "$t" = "$last" ]; then same=$((same + 1)); [ $same -ge 3 ] && break; else same=0; last=$t; fi
	done
	kill -TERM $ca 2>/dev/null; wait $ca 2>/dev/null
	wait $col
	echo "$(echo "scale=3; $last / $(getconf CLK_TCK)" | bc) $(cat "$R/out/hep.txt" 2>/dev/null || echo 0)"
}

setup tls; setup plain
echo "ca_bench: $N TLS 1.2 RSA-2048 connections, $(grep -o 'messages [0-9]*' "$W/captls.txt"), $ROUNDS rounds"
printf "%-6s %10s %10s %10s %12s %10s %10s %10s\n" round plain_cpu tls_cpu rsa_cpu tls-rsa ratio hep_plain hep_tls
P=() T=() X=() R=() bad=0
for r in $(seq "$ROUNDS"); do
	read -r pc ph < <(once plain "$W/plain.pcap")
	read -r tc th < <(once tls "$W/tls.pcap")
	rate=$("$BUILD/tests/bench" --key "$KEY" "$W/cert.pem" --baseline | awk '/rsa2048_decrypt_per_s/ {print $2}')
	rsa=$(echo "scale=3; $N / $rate" | bc)
	net=$(echo "scale=3; $tc - $rsa" | bc)
	ratio=$(echo "scale=2; $net / $pc" | bc)
	printf "%-6s %10s %10s %10s %12s %10s %10s %10s\n" "$r" "$pc" "$tc" "$rsa" "$net" "$ratio" "$ph" "$th"
	# the same SIP messages both ways: a round that delivered a different count is not a
	# measurement of the same work (CRLF keep-alives are sent by neither plan)
	[ "$ph" = "$th" ] && [ "$th" -gt 0 ] || { echo "ca_bench: round $r: $th HEP messages over TLS, $ph in plain" >&2; bad=1; }
	P+=("$pc"); T+=("$tc"); X+=("$ratio"); R+=("$rsa")
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "median: plain CPU $(med "${P[@]}") s, TLS CPU $(med "${T[@]}") s, RSA $(med "${R[@]}") s, (TLS - RSA) / plain $(med "${X[@]}") (target <= 1.5)"
exit $bad
