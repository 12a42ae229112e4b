#!/bin/sh
# legacy_gnutls.sh OUTDIR — real gnutls peers on loopback for the legacy suites Debian's
# OpenSSL 3 cannot negotiate (3DES-EDE-CBC, RC4-128 with MD5 and SHA-1, Camellia-GCM,
# anonymous DH/ECDH with those, NULL with ECDH_anon; this gnutls-serv refuses DHE_DSS), captured by
# dumpcap, with the client's NSS key log (gnutls honours SSLKEYLOGFILE).
#
# Why a script: gnutls-serv / gnutls-cli are separate programs talking over real TCP; the
# capture is what a capture point sees. legacy_gnutls_test.c runs this, then decrypts the
# capture (plain and mangled) and compares byte for byte.
#
# For each case N (one server port each): gnutls-serv --echo with the case's priority
# string; gnutls-cli writes the case's SIP or HTTP bytes (OUTDIR/N.c2s) and records what it
# read back (OUTDIR/N.s2c: the server's echo, as the client received it). OUTDIR/index has
# one line per completed case: "N PORT IANA_ID NAME". OUTDIR/cap.pcap holds all of them,
# OUTDIR/keys the key log, OUTDIR/rsa.key the server's RSA key.
# Exit 0 when the capture ran (cases that failed to connect are left out of the index and
# named in OUTDIR/failed), 77 when a tool is missing or capturing on lo is not allowed
# (reason in OUTDIR/skip). Every process it starts is stopped by PID.
set -u
. "$(dirname "$0")/peer_common.sh"
out=$1
mkdir -p "$out"
skip() { echo "$*" > "$out/skip"; exit 77; }
for t in gnutls-serv gnutls-cli dumpcap openssl certtool; do
	command -v $t >/dev/null 2>&1 || skip "$t not installed"
done
: > "$out/index"; : > "$out/failed"; rm -f "$out/keys" "$out/skip"
cd "$out" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.crt -subj /CN=localhost -days 30 2>/dev/null || skip "openssl req failed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key -out ec.crt -subj /CN=localhost -days 30 2>/dev/null || skip "openssl req (EC) failed"
certtool --get-dh-params --bits 2048 --outfile dh.pem >/dev/null 2>&1 || skip "certtool --get-dh-params failed"

# SIP: INVITE with SDP and a MESSAGE; HTTP: a POST with a 3000-byte body (gnutls-serv's echo
# mode answers at most 4095 bytes per connection)
printf 'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK776asdhds\r\nMax-Forwards: 70\r\nTo: Bob <sip:bob@example.com>\r\nFrom: Alice <sip:alice@example.com>;tag=1928301774\r\nCall-ID: a84b4c76e66710@127.0.0.1\r\nCSeq: 314159 INVITE\r\nContact: <sips:alice@127.0.0.1>\r\nContent-Type: application/sdp\r\nContent-Length: 131\r\n\r\nv=0\r\no=alice 2890844526 2890844526 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n' > sip.in
printf 'MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK776asdhdt\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=49583\r\nCall-ID: asd88asd77a@127.0.0.1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\nWatson, come here.' >> sip.in
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "%c", 97 + (i * 7) % 26 }' > body.bin
{ printf 'POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 3000\r\n\r\n'; cat body.bin; } > http.in

base=$(( 21000 + ($$ % 3000) * 10 ))
dumpcap -i lo -P -q -f "tcp portrange $base-$((base + 199))" -w cap.pcap >dumpcap.log 2>&1 &
dpid=$!
i=0
while [ $i -lt 50 ] && ! grep -q "Capturing on" dumpcap.log 2>/dev/null; do
	kill -0 $dpid 2>/dev/null || break; sleep 0.1; i=$((i + 1))
done
grep -q "Capturing on" dumpcap.log || { kill $dpid 2>/dev/null; wait $dpid 2>/dev/null; skip "dumpcap cannot capture on lo: $(head -c 200 dumpcap.log)"; }

V12='-VERS-ALL:+VERS-TLS1.2'
n=0
# case: IANA-id name version-set kx cipher mac certificate(rsa|ec|anon) app(sip|http)
run_case() {
	id=$1 name=$2 vers=$3 kx=$4 ciph=$5 mac=$6 cert=$7 app=$8
	n=$((n + 1))
	port=$((base + n))
	pri="NONE:$vers:+$kx:+$ciph:+$mac:+COMP-NULL:+SIGN-ALL:+GROUP-ALL:+CTYPE-X509"
	case $cert in
	anon) certargs="--dhparams dh.pem" ;;
	*) certargs="--x509keyfile $cert.key --x509certfile $cert.crt --dhparams dh.pem" ;;
	esac
	# shellcheck disable=SC2086
	serve_echo $n $certargs --priority "$pri"
	cp $app.in $n.c2s
	# the client writes everything, waits for the echo, then closes
	feed_then_wait $n.c2s $n.s2c | SSLKEYLOGFILE="$out/keys" timeout 20 gnutls-cli --logfile=cli.$n.log --insecure \
		-p $port 127.0.0.1 --priority "$pri" > $n.s2c 2>>cli.$n.log
	kill $spid 2>/dev/null; wait $spid 2>/dev/null
	if grep -q "Handshake was completed" cli.$n.log && [ -s $n.s2c ]; then
		echo "$n $port $id $name" >> index
	else
		echo "$n $name: $(grep -i 'error\|fatal' cli.$n.log srv.$n.log | head -2 | tr '\n' ' ')" >> failed
	fi
}
run_case 0x000A TLS_RSA_WITH_3DES_EDE_CBC_SHA "$V12" RSA 3DES-CBC SHA1 rsa sip
run_case 0x000A TLS_RSA_WITH_3DES_EDE_CBC_SHA "-VERS-ALL:+VERS-TLS1.0" RSA 3DES-CBC SHA1 rsa http
run_case 0x000A TLS_RSA_WITH_3DES_EDE_CBC_SHA "-VERS-ALL:+VERS-TLS1.1" RSA 3DES-CBC SHA1 rsa sip
run_case 0x0005 TLS_RSA_WITH_RC4_128_SHA "$V12" RSA ARCFOUR-128 SHA1 rsa http
run_case 0x0004 TLS_RSA_WITH_RC4_128_MD5 "$V12" RSA ARCFOUR-128 MD5 rsa sip
run_case 0x0004 TLS_RSA_WITH_RC4_128_MD5 "-VERS-ALL:+VERS-TLS1.0" RSA ARCFOUR-128 MD5 rsa http
run_case 0xC07A TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256 "$V12" RSA CAMELLIA-128-GCM AEAD rsa http
run_case 0xC07B TLS_RSA_WITH_CAMELLIA_256_GCM_SHA384 "$V12" RSA CAMELLIA-256-GCM AEAD rsa sip
run_case 0x0002 TLS_RSA_WITH_NULL_SHA "$V12" RSA NULL SHA1 rsa sip
run_case 0x0001 TLS_RSA_WITH_NULL_MD5 "-VERS-ALL:+VERS-TLS1.0" RSA NULL MD5 rsa http
run_case 0x0016 TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA "$V12" DHE-RSA 3DES-CBC SHA1 rsa http
run_case 0xC07D TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384 "$V12" DHE-RSA CAMELLIA-256-GCM AEAD rsa sip
run_case 0x0018 TLS_DH_anon_WITH_RC4_128_MD5 "$V12" ANON-DH ARCFOUR-128 MD5 anon sip
run_case 0x001B TLS_DH_anon_WITH_3DES_EDE_CBC_SHA "$V12" ANON-DH 3DES-CBC SHA1 anon http
run_case 0xC084 TLS_DH_anon_WITH_CAMELLIA_128_GCM_SHA256 "$V12" ANON-DH CAMELLIA-128-GCM AEAD anon sip
run_case 0xC016 TLS_ECDH_anon_WITH_RC4_128_SHA "$V12" ANON-ECDH ARCFOUR-128 SHA1 anon http
run_case 0xC017 TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA "$V12" ANON-ECDH 3DES-CBC SHA1 anon sip
run_case 0xC015 TLS_ECDH_anon_WITH_NULL_SHA "$V12" ANON-ECDH NULL SHA1 anon http
run_case 0xC012 TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA "$V12" ECDHE-RSA 3DES-CBC SHA1 rsa sip
run_case 0xC011 TLS_ECDHE_RSA_WITH_RC4_128_SHA "$V12" ECDHE-RSA ARCFOUR-128 SHA1 rsa http
run_case 0xC08B TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384 "$V12" ECDHE-RSA CAMELLIA-256-GCM AEAD rsa sip
run_case 0xC008 TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA "$V12" ECDHE-ECDSA 3DES-CBC SHA1 ec http
run_case 0xC007 TLS_ECDHE_ECDSA_WITH_RC4_128_SHA "$V12" ECDHE-ECDSA ARCFOUR-128 SHA1 ec sip
run_case 0xC086 TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256 "$V12" ECDHE-ECDSA CAMELLIA-128-GCM AEAD ec http
run_case 0xC006 TLS_ECDHE_ECDSA_WITH_NULL_SHA "$V12" ECDHE-ECDSA NULL SHA1 ec sip
sleep 0.5
kill -INT $dpid 2>/dev/null; wait $dpid 2>/dev/null
exit 0
