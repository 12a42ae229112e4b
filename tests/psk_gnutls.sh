#!/bin/sh
# psk_gnutls.sh OUTDIR — real gnutls peers on loopback negotiating the PSK family (PSK,
# DHE_PSK, ECDHE_PSK, RSA_PSK) and SRP (SRP_SHA, SRP_SHA_RSA, SRP_SHA_DSS) suites, plus two
# OpenSSL-to-OpenSSL PSK sessions below TLS 1.2, captured by dumpcap, with the client's NSS
# key log (gnutls honours SSLKEYLOGFILE, OpenSSL's s_client writes it with -keylogfile).
#
# Why a script: gnutls-serv / gnutls-cli are separate programs talking over real TCP, and
# Debian's gnutls is the peer that speaks every one of these key exchanges (OpenSSL 3.0's
# s_server loses the SRP user name, and cannot do RSA_PSK). psk_gnutls_test.c runs this, then decrypts the capture (plain and mangled)
# and compares byte for byte.
#
# For each case N (one server port each): gnutls-serv --echo with the case's priority
# string and PSK password file (--pskpasswd, with an identity hint) or SRP verifier files
# (srptool), gnutls-cli with the PSK (--pskusername/--pskkey) or SRP password writes the
# case's SIP or HTTP bytes (OUTDIR/N.c2s) and records what it read back (OUTDIR/N.s2c: the
# server's echo as the client received it). OUTDIR/index has one line per completed case:
# "N PORT IANA_ID NAME VERSION". OUTDIR/cap.pcap holds all of them, OUTDIR/keys the key log,
# OUTDIR/rsa.key the server's RSA key (RSA_PSK and SRP_SHA_RSA authenticate with it).
# Exit 0 when the capture ran (cases that failed to connect are left out of the index and
# named in OUTDIR/failed), 77 when a tool is missing or capturing on lo is not allowed
# (reason in OUTDIR/skip). Every process it starts is stopped by PID.
set -u
. "$(dirname "$0")/peer_common.sh"
out=$1
mkdir -p "$out"
skip() { echo "$*" > "$out/skip"; exit 77; }
for t in gnutls-serv gnutls-cli dumpcap openssl srptool; do
	command -v $t >/dev/null 2>&1 || skip "$t not installed"
done
: > "$out/index"; : > "$out/failed"; rm -f "$out/keys" "$out/skip"
cd "$out" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.crt -subj /CN=localhost -days 30 2>/dev/null || skip "openssl req failed"
openssl dsaparam -genkey -out dsa.key 2048 2>/dev/null && openssl req -x509 -key dsa.key -out dsa.crt -subj /CN=localhost -days 30 2>/dev/null || skip "openssl DSA key failed"
PSK=6b3c1f0e9a2d4c58b7e1f03a92d5c6e8
echo "alice:$PSK" > psk.passwd
rm -f srp.passwd srp.conf
srptool --create-conf srp.conf >/dev/null 2>&1 || skip "srptool --create-conf failed"
: > srp.passwd
printf 'correct horse\ncorrect horse\n' | srptool --passwd srp.passwd --passwd-conf srp.conf -u bob >/dev/null 2>&1
grep -q '^bob:' srp.passwd || skip "srptool could not write a verifier"

printf 'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK776asdhds\r\nMax-Forwards: 70\r\nTo: Bob <sip:bob@example.com>\r\nFrom: Alice <sip:alice@example.com>;tag=1928301774\r\nCall-ID: a84b4c76e66710@127.0.0.1\r\nCSeq: 314159 INVITE\r\nContact: <sips:alice@127.0.0.1>\r\nContent-Type: application/sdp\r\nContent-Length: 131\r\n\r\nv=0\r\no=alice 2890844526 2890844526 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n' > sip.in
printf 'MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK776asdhdt\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=49583\r\nCall-ID: asd88asd77a@127.0.0.1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\nWatson, come here.' >> sip.in
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "%c", 97 + (i * 11) % 26 }' > body.bin
{ printf 'POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 3000\r\n\r\n'; cat body.bin; } > http.in

base=$(( 31000 + ($$ % 3000) * 10 ))
dumpcap -i lo -P -q -f "tcp portrange $base-$((base + 199))" -w cap.pcap >dumpcap.log 2>&1 &
dpid=$!
i=0
while [ $i -lt 50 ] && ! grep -q "Capturing on" dumpcap.log 2>/dev/null; do
	kill -0 $dpid 2>/dev/null || break; sleep 0.1; i=$((i + 1))
done
grep -q "Capturing on" dumpcap.log || { kill $dpid 2>/dev/null; wait $dpid 2>/dev/null; skip "dumpcap cannot capture on lo: $(head -c 200 dumpcap.log)"; }

V12='-VERS-ALL:+VERS-TLS1.2'
n=0
# case: IANA-id name version-set kx cipher mac app(sip|http) [openssl-client-cipher]
# DHE-PSK / ECDHE-PSK: this gnutls-cli crashes after the handshake (print_info asks
# gnutls_psk_server_get_username on a client session), so OpenSSL's s_client is the client
# there (-psk, appending to the same key log with -keylogfile).
run_case() {
	id=$1 name=$2 vers=$3 kx=$4 ciph=$5 mac=$6 app=$7 ossl=${8:-}
	n=$((n + 1))
	port=$((base + n))
	pri="NONE:$vers:+$kx:+$ciph:+$mac:+COMP-NULL:+SIGN-ALL:+SIGN-DSA-SHA1:+SIGN-DSA-SHA256:+GROUP-ALL:+CTYPE-X509"
	srvargs="--pskpasswd psk.passwd --pskhint capture-hint"
	cliargs="--pskusername alice --pskkey $PSK"
	case $kx in
	SRP*) srvargs="--srppasswd srp.passwd --srppasswdconf srp.conf"; cliargs="--srpusername bob --srppasswd correct\\ horse" ;;
	esac
	case $kx in
	RSA-PSK|SRP-RSA) srvargs="$srvargs --x509keyfile rsa.key --x509certfile rsa.crt" ;;
	SRP-DSS) srvargs="$srvargs --x509keyfile dsa.key --x509certfile dsa.crt" ;;
	esac
	# shellcheck disable=SC2086
	serve_echo $n $srvargs --priority "$pri"
	cp $app.in $n.c2s
	# the client writes everything, waits for the echo, then closes
	if [ -n "$ossl" ]; then
		feed_then_wait $n.c2s $n.s2c | timeout 20 openssl s_client -connect 127.0.0.1:$port -tls1_2 -quiet -no_ign_eof \
			-cipher "$ossl:@SECLEVEL=0" -psk_identity alice -psk $PSK -keylogfile "$out/keys" > $n.s2c 2>cli.$n.log
		ok=$(grep -c "^- Description:" srv.$n.log)
	else
		# shellcheck disable=SC2086
		feed_then_wait $n.c2s $n.s2c | eval SSLKEYLOGFILE="$out/keys" timeout 20 gnutls-cli --logfile=cli.$n.log --insecure \
			-p $port 127.0.0.1 $cliargs --priority "'$pri'" > $n.s2c 2>>cli.$n.log
		ok=$(grep -c "Handshake was completed" cli.$n.log)
	fi
	kill $spid 2>/dev/null; wait $spid 2>/dev/null
	if [ "$ok" -gt 0 ] && [ -s $n.s2c ]; then
		case $vers in *TLS1.0) v=0x0301 ;; *TLS1.1) v=0x0302 ;; *) v=0x0303 ;; esac
		echo "$n $port $id $name $v" >> index
	else
		echo "$n $name: $(grep -i 'error\|fatal' cli.$n.log srv.$n.log | head -2 | tr '\n' ' ')" >> failed
	fi
}
run_case 0x00AE TLS_PSK_WITH_AES_128_CBC_SHA256 "$V12" PSK AES-128-CBC SHA256 sip
run_case 0x008C TLS_PSK_WITH_AES_128_CBC_SHA "-VERS-ALL:+VERS-TLS1.1" PSK AES-128-CBC SHA1 http
run_case 0x008B TLS_PSK_WITH_3DES_EDE_CBC_SHA "-VERS-ALL:+VERS-TLS1.0" PSK 3DES-CBC SHA1 sip
run_case 0x00A8 TLS_PSK_WITH_AES_128_GCM_SHA256 "$V12" PSK AES-128-GCM AEAD http
run_case 0x00A9 TLS_PSK_WITH_AES_256_GCM_SHA384 "$V12" PSK AES-256-GCM AEAD sip
run_case 0xC0A4 TLS_PSK_WITH_AES_128_CCM "$V12" PSK AES-128-CCM AEAD http
run_case 0xC0A8 TLS_PSK_WITH_AES_128_CCM_8 "$V12" PSK AES-128-CCM-8 AEAD sip
run_case 0xCCAB TLS_PSK_WITH_CHACHA20_POLY1305_SHA256 "$V12" PSK CHACHA20-POLY1305 AEAD http
run_case 0xC08E TLS_PSK_WITH_CAMELLIA_128_GCM_SHA256 "$V12" PSK CAMELLIA-128-GCM AEAD sip
run_case 0x008A TLS_PSK_WITH_RC4_128_SHA "$V12" PSK ARCFOUR-128 SHA1 http
run_case 0x002C TLS_PSK_WITH_NULL_SHA "$V12" PSK NULL SHA1 sip
run_case 0x00B2 TLS_DHE_PSK_WITH_AES_128_CBC_SHA256 "$V12" DHE-PSK AES-128-CBC SHA256 http DHE-PSK-AES128-CBC-SHA256
run_case 0x00AA TLS_DHE_PSK_WITH_AES_128_GCM_SHA256 "$V12" DHE-PSK AES-128-GCM AEAD sip DHE-PSK-AES128-GCM-SHA256
run_case 0xCCAD TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256 "$V12" DHE-PSK CHACHA20-POLY1305 AEAD http DHE-PSK-CHACHA20-POLY1305
run_case 0xC037 TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256 "$V12" ECDHE-PSK AES-128-CBC SHA256 sip ECDHE-PSK-AES128-CBC-SHA256
run_case 0xC036 TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA "$V12" ECDHE-PSK AES-256-CBC SHA1 http ECDHE-PSK-AES256-CBC-SHA
run_case 0xCCAC TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256 "$V12" ECDHE-PSK CHACHA20-POLY1305 AEAD sip ECDHE-PSK-CHACHA20-POLY1305
run_case 0xC039 TLS_ECDHE_PSK_WITH_NULL_SHA "$V12" ECDHE-PSK NULL SHA1 http ECDHE-PSK-NULL-SHA
run_case 0x00AC TLS_RSA_PSK_WITH_AES_128_GCM_SHA256 "$V12" RSA-PSK AES-128-GCM AEAD sip
run_case 0x00B6 TLS_RSA_PSK_WITH_AES_128_CBC_SHA256 "$V12" RSA-PSK AES-128-CBC SHA256 http
run_case 0xC01D TLS_SRP_SHA_WITH_AES_128_CBC_SHA "$V12" SRP AES-128-CBC SHA1 sip
run_case 0xC020 TLS_SRP_SHA_WITH_AES_256_CBC_SHA "-VERS-ALL:+VERS-TLS1.0" SRP AES-256-CBC SHA1 http
run_case 0xC01A TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA "$V12" SRP 3DES-CBC SHA1 http
run_case 0xC01E TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA "$V12" SRP-RSA AES-128-CBC SHA1 sip
run_case 0xC021 TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA "-VERS-ALL:+VERS-TLS1.1" SRP-RSA AES-256-CBC SHA1 http
run_case 0xC01F TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA "$V12" SRP-DSS AES-128-CBC SHA1 sip
run_case 0xC01C TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA "-VERS-ALL:+VERS-TLS1.0" SRP-DSS 3DES-CBC SHA1 http

# OpenSSL at both ends (s_server -psk -nocert -rev answers each line reversed): the
# SHA-256/384 PSK suites below TLS 1.2, which gnutls refuses (RFC 5487 allows them)
# case: IANA-id name s_client-version-flag openssl-cipher
run_ossl_case() {
	id=$1 name=$2 vflag=$3 ossl=$4
	n=$((n + 1))
	port=$((base + n))
	for port in $((base + n)) $((base + 100 + n)) $((base + 150 + n)); do   # (see serve_echo)
		openssl s_server -accept $port -psk $PSK -nocert -cipher "$ossl:@SECLEVEL=0" $vflag -rev -quiet >srv.$n.log 2>&1 &
		spid=$!
		sleep 1                    # -quiet: s_server says nothing until a client connects
		kill -0 $spid 2>/dev/null && break   # it exits when it cannot bind
	done
	j=0
	cp sip.in $n.c2s
	printf '\r\n' >> $n.c2s          # s_server -rev answers complete lines only
	feed_then_wait $n.c2s $n.s2c | timeout 20 openssl s_client -connect 127.0.0.1:$port $vflag -quiet -no_ign_eof \
		-cipher "$ossl:@SECLEVEL=0" -psk_identity alice -psk $PSK -keylogfile "$out/keys" > $n.s2c 2>cli.$n.log
	kill $spid 2>/dev/null; wait $spid 2>/dev/null
	if grep -q "Ciphersuite: $ossl" srv.$n.log && [ -s $n.s2c ]; then
		case $vflag in -tls1) v=0x0301 ;; -tls1_1) v=0x0302 ;; *) v=0x0303 ;; esac
		echo "$n $port $id $name $v" >> index
	else
		echo "$n $name: $(grep -i 'error' cli.$n.log srv.$n.log | head -2 | tr '\n' ' ')" >> failed
	fi
}
run_ossl_case 0x00AE TLS_PSK_WITH_AES_128_CBC_SHA256 -tls1 PSK-AES128-CBC-SHA256
run_ossl_case 0xC038 TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384 -tls1_1 ECDHE-PSK-AES256-CBC-SHA384
sleep 0.5
kill -INT $dpid 2>/dev/null; wait $dpid 2>/dev/null
exit 0
