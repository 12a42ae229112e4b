# peer_common.sh — shell functions shared by the real-peer capture scripts
# (legacy_gnutls.sh, psk_gnutls.sh), sourced by them.

# feed_then_wait IN OUT: write IN to standard output (the client's input), then wait until
# OUT — the file the client writes the server's echo to — is as long as IN (at most 15 s),
# so the client's input closes only once the whole echo arrived. A fixed "sleep 1" lost the
# echo of a 3 KB request on a loaded machine (the case then counted as failed to connect).
feed_then_wait() {
	cat "$1"
	want=$(wc -c < "$1")
	i=0
	while [ $i -lt 150 ] && [ "$(wc -c < "$2" 2>/dev/null || echo 0)" -lt "$want" ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
