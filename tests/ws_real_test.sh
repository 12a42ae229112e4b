#!/bin/bash
# ws_real_test.sh — SIP over WebSocket over TLS between real peers: python3-websockets
# client and server (tests/ws_peers.py; TLS by Python's ssl = OpenSSL) on loopback,
# captured with dumpcap, decrypted by captls with the peers' SSLKEYLOGFILE. The framing
# (masking keys, 16/64-bit lengths, a message fragmented with a ping between fragments,
# pings, close) is the websockets library's. Checks: every SIP message each peer sent is
# delivered exactly once, in order, as "app":"sip", byte-exact; the upgrade as 2 http
# messages; nothing else; the WebSocket counters on --stats. Then the same with
# permessage-deflate negotiated (websockets' default, context takeover): inflated, the
# same SIP byte-exact.
# TAP; SKIP when python3-websockets or dumpcap is missing or loopback cannot be captured.
set -u
top_builddir="${top_builddir:-.}"
top_srcdir="${top_srcdir:-.}"
CAPTLS="$top_builddir/captls"
PY=/usr/bin/python3
n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=1; echo "not ok $n - $*"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }

[ -x "$CAPTLS" ] || skip_all "captls not built"
$PY -c 'import websockets' 2>/dev/null || skip_all "python3-websockets not installed"
command -v dumpcap >/dev/null 2>&1 || skip_all "dumpcap (wireshark-common) not installed"

tmp=$(mktemp -d)
dpid=""
cleanup() { [ -n "$dpid" ] && kill "$dpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
cp "$top_srcdir/samples/server-rsa.key" "$tmp/k.key"; chmod 600 "$tmp/k.key"

# capture one run of ws_peers.py in MODE on PORT into $tmp/MODE.pcapng; 0 ok, 1 fail, 2 cannot capture
capture() {
	local mode="$1" port="$2"
	dumpcap -i lo -f "tcp port $port" -w "$tmp/$mode.pcapng" -q 2>"$tmp/$mode.dumpcap" &
	dpid=$!
	for _ in $(seq 50); do grep -q "Capturing on" "$tmp/$mode.dumpcap" 2>/dev/null && break; sleep 0.1; done
	if ! grep -q "Capturing on" "$tmp/$mode.dumpcap"; then kill "$dpid" 2>/dev/null; dpid=""; return 2; fi
	sleep 0.3
	timeout 60 $PY "$top_srcdir/tests/ws_peers.py" "$port" "$top_srcdir/samples/server-rsa.crt" "$tmp/k.key" \
		"$tmp/$mode.keys" "$tmp/$mode.exp" "$mode" 2>"$tmp/$mode.peers"
	local rc=$?
	sleep 0.5
	kill -INT "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; dpid=""
	[ $rc = 0 ] || { cat "$tmp/$mode.peers" >&2; return 1; }
	return 0
}

# compare captls JSON with what the peers sent; prints one summary line, exit 0 if exact
compare() {
	$PY - "$1" "$2" "$3" <<'EOF'
import json, sys
exp_path, out_path, want_app = sys.argv[1:4]
exp = [json.loads(l) for l in open(exp_path)]
msgs = [m for m in map(json.loads, open(out_path)) if m.get("type") == "message"]
ok = True
for d in ("c2s", "s2c"):
    e = [x["data"] for x in exp if x["dir"] == d]
    g = [m["data"] for m in msgs if m["dir"] == d and m["app"] == want_app]
    if e != g:
        ok = False
        print(f"{d}: {len(g)} {want_app} messages delivered, {len(e)} sent, equal={e == g}", file=sys.stderr)
http = sum(1 for m in msgs if m["app"] == "http")
other = len(msgs) - http - sum(1 for m in msgs if m["app"] == want_app)
if http != 2 or other:
    ok = False
nsip = len(exp)
print(f"{nsip} SIP messages sent, {len(msgs) - http - other} delivered as {want_app}, http {http}, other {other}")
sys.exit(0 if ok else 1)
EOF
}

port=$((20000 + ($$ % 20000)))
capture plain "$port"; rc=$?
[ $rc = 2 ] && skip_all "cannot capture on loopback (dumpcap: $(head -1 "$tmp/plain.dumpcap"))"
if [ $rc != 0 ]; then
	notok "python3-websockets peers failed (a broken generator is a failure)"
else
	"$CAPTLS" -r "$tmp/plain.pcapng" -l "$tmp/plain.keys" -o json --stats >"$tmp/plain.json" 2>"$tmp/plain.stats"
	crc=$?
	if line=$(compare "$tmp/plain.exp" "$tmp/plain.json" sip); then
		ok "real WebSocket peers (python3-websockets, TLS 1.3, key log): $line, byte-exact and in order"
	else
		notok "real WebSocket peers: $line"
	fi
	[ $crc = 0 ] && ok "captls exits 0" || notok "captls exit status $crc"
	if grep -q "websocket: upgrades 2, .*unexpected 0, oversize 0, inflated 0, compressed 0, cut 0" "$tmp/plain.stats" &&
	   grep -q "control [1-9]" "$tmp/plain.stats"; then
		ok "--stats: $(grep websocket "$tmp/plain.stats" | sed 's/^captls: //')"
	else
		notok "--stats websocket line: $(grep websocket "$tmp/plain.stats")"
	fi
fi

# permessage-deflate (RFC 7692) negotiated: every data message is compressed (RSV1)
port=$((port + 1))
capture deflate "$port"; rc=$?
if [ $rc != 0 ]; then
	notok "python3-websockets peers failed (deflate)"
else
	"$CAPTLS" -r "$tmp/deflate.pcapng" -l "$tmp/deflate.keys" -o json --stats >"$tmp/deflate.json" 2>"$tmp/deflate.stats"
	nexp=$(wc -l <"$tmp/deflate.exp")
	if grep -q "compressed 0" "$tmp/deflate.stats"; then
		# inflated: the same SIP, byte-exact
		if line=$(compare "$tmp/deflate.exp" "$tmp/deflate.json" sip) && grep -q "inflated $nexp," "$tmp/deflate.stats"; then
			ok "permessage-deflate (negotiated by the peers, context takeover) inflated: $line, byte-exact"
		else
			notok "permessage-deflate inflated: $line; $(grep websocket "$tmp/deflate.stats")"
		fi
	else
		# not inflated: each compressed message delivered raw once, counted
		line=$(compare "$tmp/deflate.exp" "$tmp/deflate.json" raw 2>/dev/null)
		nraw=$(grep -c '"app":"raw"' "$tmp/deflate.json")
		[ "$nraw" = "$nexp" ] && ! grep -q '"app":"sip"' "$tmp/deflate.json" &&
			grep -q "compressed $nexp," "$tmp/deflate.stats" &&
			ok "permessage-deflate: $nexp compressed messages delivered raw (not as SIP), counted" ||
			notok "permessage-deflate: raw $nraw of $nexp; $(grep websocket "$tmp/deflate.stats")"
	fi
fi
echo "1..$n"
exit $fail
