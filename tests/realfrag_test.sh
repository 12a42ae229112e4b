#!/bin/sh
# realfrag_test.sh — TLS over a path whose router really fragments (TAP).
#
# Why: frag_test cuts captures with our own fragmenter; this one lets the Linux kernel do
# it. Three network namespaces, client A — router R — server B: the R→B link has MTU 600,
# A sends without DF (net.ipv4.ip_no_pmtu_disc=1) and B advertises MSS 1400 (route advmss),
# so A's 1400-byte TCP segments are fragmented by R's IP forwarding. Real peers (openssl
# s_client in A, openssl s_server in B, TLS 1.2 RSA AES-128-GCM, extended master secret)
# exchange random text; dumpcap captures on B's interface. captls -k must decrypt both
# directions byte-exact (what s_client read from stdin / s_server wrote), with the
# fragments counted and reassembled; with frag-max-datagrams 0 (reassembly off) the same
# capture must not be byte-exact (a control: the fragments matter).
# Needs root (namespaces), ip, openssl, dumpcap, python3; SKIP otherwise. Nothing outside
# the namespaces is touched (they are removed on exit).
# Environment (from make check): top_builddir.
set -u
: "${top_builddir:=.}"
captls="$top_builddir/captls"
skip() { echo "1..0 # SKIP $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip "not root (network namespaces)"
for c in ip openssl dumpcap python3; do command -v $c >/dev/null 2>&1 || skip "$c not installed"; done
S=$$; A=ptlsA$S; R=ptlsR$S; B=ptlsB$S
ip netns add $A 2>/dev/null || skip "cannot create network namespaces here"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ptls-realfrag.XXXXXX") || exit 1
cleanup() { ip netns del $A 2>/dev/null; ip netns del $R 2>/dev/null; ip netns del $B 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
ip netns add $R && ip netns add $B || skip "cannot create network namespaces here"
set -e
for n in $A $R $B; do ip -n $n link set lo up; done
ip link add a0 netns $A type veth peer name r0 netns $R
ip link add r1 netns $R type veth peer name b0 netns $B
ip -n $A addr add 10.77.1.1/24 dev a0; ip -n $A link set a0 up
ip -n $R addr add 10.77.1.2/24 dev r0; ip -n $R link set r0 up
ip -n $R addr add 10.77.2.2/24 dev r1; ip -n $R link set r1 mtu 600 up
ip -n $B addr add 10.77.2.1/24 dev b0; ip -n $B link set b0 mtu 600 up
ip -n $A route add default via 10.77.1.2
ip -n $B route add default via 10.77.2.2 advmss 1400
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
ip netns exec $A sysctl -qw net.ipv4.ip_no_pmtu_disc=1
ip netns exec $B sysctl -qw net.ipv4.ip_no_pmtu_disc=1
set +e
echo "1..4"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/k.pem" -out "$tmp/c.pem" -days 1 -subj /CN=frag \
	>/dev/null 2>&1
head -c 9000 /dev/urandom | base64 -w 120 >"$tmp/c2s.txt"
head -c 5000 /dev/urandom | base64 -w 90 >"$tmp/s2c.txt"
ip netns exec $B dumpcap -q -i b0 -w "$tmp/cap.pcap" >"$tmp/dump.log" 2>&1 &
dp=$!
sleep 1
(sleep 1; cat "$tmp/s2c.txt"; sleep 3) | ip netns exec $B openssl s_server -accept 10.77.2.1:4433 \
	-cert "$tmp/c.pem" -key "$tmp/k.pem" -tls1_2 -cipher AES128-GCM-SHA256 -quiet >"$tmp/srv.out" 2>"$tmp/srv.err" &
sp=$!
sleep 0.5
(cat "$tmp/c2s.txt"; sleep 3) | ip netns exec $A timeout 10 openssl s_client -connect 10.77.2.1:4433 -quiet \
	>"$tmp/cli.out" 2>"$tmp/cli.err"
sleep 0.5
kill $sp 2>/dev/null; sleep 0.5
kill $dp 2>/dev/null; wait $dp 2>/dev/null
if cmp -s "$tmp/c2s.txt" "$tmp/srv.out" && cmp -s "$tmp/s2c.txt" "$tmp/cli.out"; then
	echo "ok 1 - openssl s_client and s_server exchanged $(wc -c <"$tmp/c2s.txt")+$(wc -c <"$tmp/s2c.txt") bytes through the fragmenting router"
else
	echo "not ok 1 - the peers did not exchange the data (generator broken)"; cat "$tmp/srv.err" "$tmp/cli.err" | sed 's/^/# /'
fi
check() {   # $1 json output; prints "C2S_OK S2C_OK"
	python3 - "$1" "$tmp/c2s.txt" "$tmp/s2c.txt" <<'EOF'
import base64, json, sys
d = {"c2s": b"", "s2c": b""}
for line in open(sys.argv[1]):
    j = json.loads(line)
    if j.get("type") == "message":
        d[j["dir"]] += base64.b64decode(j["data"])
print(int(d["c2s"] == open(sys.argv[2], "rb").read()), int(d["s2c"] == open(sys.argv[3], "rb").read()),
      len(d["c2s"]), len(d["s2c"]))
EOF
}
"$captls" -r "$tmp/cap.pcap" -k "$tmp/k.pem" -o json --stats >"$tmp/out.json" 2>"$tmp/stats.txt"
set -- $(check "$tmp/out.json")
nfrag=$(sed -n 's/^captls: IP fragments \([0-9]*\): datagrams \([0-9]*\),.*/\1/p' "$tmp/stats.txt")
ndg=$(sed -n 's/^captls: IP fragments \([0-9]*\): datagrams \([0-9]*\),.*/\2/p' "$tmp/stats.txt")
if [ "${nfrag:-0}" -gt 0 ] && [ "${ndg:-0}" -gt 0 ]; then
	echo "ok 2 - the kernel fragmented: $nfrag IP fragments, $ndg datagrams reassembled"
else
	echo "not ok 2 - no IP fragments in the capture (router did not fragment)"; sed 's/^/# /' "$tmp/stats.txt"
fi
if [ "${1:-0}" = 1 ] && [ "${2:-0}" = 1 ]; then
	echo "ok 3 - captls -k: both directions byte-exact ($3 + $4 bytes)"
else
	echo "not ok 3 - captls -k: c2s exact ${1:-?}, s2c exact ${2:-?} ($3 + $4 bytes)"
fi
cat >"$tmp/nofrag.xml" <<EOF
<document type="captagent_module/xml"><module name="protocol_tls">
<profile name="p" enable="true"><settings>
<param name="private-key-path" value="$tmp/k.pem"/>
<param name="frag-max-datagrams" value="0"/>
</settings></profile></module></document>
EOF
"$captls" -r "$tmp/cap.pcap" -c "$tmp/nofrag.xml" -o json >"$tmp/out0.json" 2>/dev/null
set -- $(check "$tmp/out0.json")
if [ "${1:-1}" = 0 ]; then
	echo "ok 4 - control: with frag-max-datagrams 0 the client's data is not recovered ($3 of $(wc -c <"$tmp/c2s.txt") bytes)"
else
	echo "not ok 4 - control: reassembly off still gave the client's data"
fi
