# peer_common.sh — shell functions shared by the real-peer capture scripts
# (legacy_gnutls.sh, psk_gnutls.sh), sourced by them.

# feed_then_wait IN OUT: write IN to standard output (the client's input), then wait until
# OUT — the file the client writes the server's echo to — has data and has not grown for
# half a second (at most 15 s), so the client's input closes only once the echo arrived.
# A fixed "sleep 1" lost the echo of a 3 KB request on a loaded machine (the case then
# counted as failed to connect). Not "until OUT is as long as IN": gnutls-serv --crlf
# echoes CRLF as LF, and a capture with a long idle wait before the close turns the
# manglers' late segments into holes older than the engine's ACKed-hole wait.
feed_then_wait() {
	cat "$1"
	i=0 last=-1 still=0
	while [ $i -lt 150 ] && [ $still -lt 5 ]; do
		sleep 0.1
		i=$((i + 1))
		now=$(wc -c < "$2" 2>/dev/null || echo 0)
		if [ "$now" -gt 0 ] && [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; fi
		last=$now
	done
}

# serve_echo N ARGS...: start `gnutls-serv --echo --crlf -a ARGS -p PORT` in the background
# for case N (log srv.N.log) on the first of base+N, base+100+N, base+150+N that it could
# bind (all inside the port range the scripts capture: base .. base+199). A port held by
# a test running in parallel made gnutls-serv say "bind() failed" for IPv4, and the case's
# client then reached the other test's server. Sets port and spid.
serve_echo() {
	_n=$1
	shift
	for port in $((base + _n)) $((base + 100 + _n)) $((base + 150 + _n)); do
		gnutls-serv --echo --crlf -a -p $port "$@" >srv.$_n.log 2>&1 &
		spid=$!
		j=0
		while [ $j -lt 50 ] && ! grep -q "listening" srv.$_n.log 2>/dev/null; do sleep 0.1; j=$((j + 1)); done
		sleep 0.2                      # both address families report
		grep -q "bind() failed" srv.$_n.log || return 0
		kill $spid 2>/dev/null
		wait $spid 2>/dev/null
	done
	return 0
}
