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
