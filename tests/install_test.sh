#!/bin/sh
# install_test.sh — `make install` must never replace an operator's configuration, and
# `make uninstall` must remove only what install wrote (TAP).
#
# Why: with the default prefix our example configuration lands in captagent's own
# configuration directory; an earlier version overwrote captagent.xml and four other files
# of a production install. This test installs into a DESTDIR that already holds an
# operator's captagent.xml and protocol_tls.xml, and checks them byte for byte.
# Environment (from make check): MAKE, top_builddir, top_srcdir, confdir, captureplandir.
set -u
: "${MAKE:=make}"
: "${top_builddir:=.}"
: "${top_srcdir:=.}"
n=0; fails=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi; }
check() { desc="$1"; shift; if "$@"; then ok 0 "$desc"; else ok 1 "$desc"; fi; }

if [ -z "${confdir:-}" ] || [ -z "${captureplandir:-}" ]; then
	echo "1..0 # SKIP confdir/captureplandir not given (run through make check)"
	exit 0
fi
echo "1..14"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ptls-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"
cd_="$root$confdir"
mkdir -p "$cd_"
# the operator's files: a captagent.xml of their own, and an edited protocol_tls.xml
printf '<?xml version="1.0"?>\n<!-- operator: production capture point -->\n<document type="captagent/xml"/>\n' >"$cd_/captagent.xml"
sed 's|/usr/local/etc/captagent/tls/server.key|/etc/kamailio/tls/server.key|' \
	"$top_srcdir/conf/protocol_tls.xml" >"$cd_/protocol_tls.xml"
cp -p "$cd_/captagent.xml" "$tmp/captagent.xml.orig"
cp -p "$cd_/protocol_tls.xml" "$tmp/protocol_tls.xml.orig"

$MAKE -s -C "$top_builddir" install DESTDIR="$root" >"$tmp/install.out" 2>&1
ok $? "make install DESTDIR=... succeeds"
check "operator's captagent.xml is byte-identical after install" \
	cmp -s "$cd_/captagent.xml" "$tmp/captagent.xml.orig"
check "operator's protocol_tls.xml is byte-identical after install" \
	cmp -s "$cd_/protocol_tls.xml" "$tmp/protocol_tls.xml.orig"
check "ours is installed beside it as captagent.xml.example" \
	cmp -s "$cd_/captagent.xml.example" "$top_srcdir/conf/captagent.xml"
check "a file that did not exist is installed under its own name" \
	cmp -s "$cd_/socket_pcap.xml" "$top_srcdir/conf/socket_pcap.xml"
check "the capture plan is installed as tls_decrypt_plan.cfg" \
	cmp -s "$root$captureplandir/tls_decrypt_plan.cfg" "$top_srcdir/conf/captureplans/tls_decrypt_plan.cfg"
check "install says which file was not replaced" \
	grep -q "captagent.xml exists and was NOT replaced" "$tmp/install.out"

# a second install changes nothing (no .example for files that are ours and unchanged)
$MAKE -s -C "$top_builddir" install DESTDIR="$root" >"$tmp/install2.out" 2>&1
ok $? "a second make install succeeds"
check "second install: still no socket_pcap.xml.example, captagent.xml untouched" \
	sh -c '[ ! -e "$1/socket_pcap.xml.example" ] && cmp -s "$1/captagent.xml" "$2"' _ "$cd_" "$tmp/captagent.xml.orig"

# the operator edits a file install created; uninstall must keep it
echo '<!-- edited -->' >>"$cd_/transport_hep.xml"
$MAKE -s -C "$top_builddir" uninstall DESTDIR="$root" >"$tmp/uninstall.out" 2>&1
ok $? "make uninstall succeeds"
check "operator's captagent.xml and protocol_tls.xml survive uninstall unchanged" \
	sh -c 'cmp -s "$1/captagent.xml" "$2/captagent.xml.orig" && cmp -s "$1/protocol_tls.xml" "$2/protocol_tls.xml.orig"' _ "$cd_" "$tmp"
check "uninstall removes what install wrote (.example, socket_pcap.xml, the plan)" \
	sh -c '[ ! -e "$1/captagent.xml.example" ] && [ ! -e "$1/socket_pcap.xml" ] && [ ! -e "$2/tls_decrypt_plan.cfg" ]' _ "$cd_" "$root$captureplandir"
check "uninstall keeps a file the operator edited after install" \
	grep -q edited "$cd_/transport_hep.xml"
left=$(cd "$root" && find . -type f | grep -v -e "$confdir/captagent.xml\$" -e "$confdir/protocol_tls.xml\$" -e "$confdir/transport_hep.xml\$" | head -5)
check "nothing else is left behind${left:+: $left}" test -z "$left"
[ "$fails" = 0 ] || { echo "# install output:"; sed 's/^/# /' "$tmp/install.out" "$tmp/uninstall.out"; }
exit 0
