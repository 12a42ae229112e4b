#!/bin/sh
# man_test.sh — the manual pages agree with the program (TAP).
#
# Why: a man page that lists a flag captls does not have (or misses one it has) sends an
# operator the wrong way, and nobody rereads man pages after adding an option. Checks:
#  - the set of flags in `captls -h` equals the set in man/captls.1 (no man needed: the
#    roff source is read with its escapes removed);
#  - every param name tls_config.c accepts is documented in man/protocol_tls.xml.5, and
#    the page names no param the reader rejects;
#  - `man --warnings -l` renders both pages without a warning (skipped without man);
#  - the HEP type defaults of tls_config.h (hep-type-http, hep-type-raw) are the ones
#    captls -h, captls(1) and protocol_tls.xml(5) state (the module and captls share them).
# Environment (from make check): top_srcdir, top_builddir.
set -u
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
n=0; fails=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
echo "1..6"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ptls-man.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

flags() {   # the distinct -x / --long-name tokens of stdin, one per line, sorted
	grep -oE '(^|[][ ,(|])--?[A-Za-z][A-Za-z-]*' | sed 's/^[][ ,(|]*//' | sort -u
}
# roff source → text: drop comment lines, \- → -, font and other escapes away
deroff() {
	sed -e '/^\.\\"/d' -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(aq/'"'"'/g' \
	    -e 's/\\(dq/"/g' -e 's/\\&//g' -e 's/\\e/\\/g' -e 's/^\.[A-Z][A-Z]* *//' "$1"
}

"$top_builddir/captls" -h >"$tmp/help" 2>&1
flags <"$tmp/help" >"$tmp/help.flags"
deroff "$top_srcdir/man/captls.1" | flags >"$tmp/man.flags"
if [ -s "$tmp/help.flags" ] && cmp -s "$tmp/help.flags" "$tmp/man.flags"; then
	ok 0 "captls -h and captls(1) list the same $(wc -l <"$tmp/help.flags") flags"
else
	ok 1 "captls -h and captls(1) list the same flags"
	diff "$tmp/help.flags" "$tmp/man.flags" | sed 's/^/# (< -h, > man) /'
fi

# params: the names in tls_config.c's table (and its host params) vs the .B lines of the
# man page's PARAMS section
sed -n 's/^[[:space:]]*{ "\([a-z-]*\)",[[:space:]]*P_.*/\1/p' \
	"$top_srcdir/src/modules/protocol/tls/tls_config.c" >"$tmp/p1"
sed -n 's/.*host_params\[\] = {\(.*\)NULL.*/\1/p' "$top_srcdir/src/modules/protocol/tls/tls_config.c" |
	tr -d ' "' | tr ',' '\n' | sed '/^$/d' >>"$tmp/p1"
sort -u "$tmp/p1" >"$tmp/code.params"
# a .TP tag line is the line after .TP: in the deroffed text those are lines that are a
# single lower-case name
sed -n '/^\.SH PARAMS/,/^\.SH ERRORS/{/^\.TP/{n;p}}' "$top_srcdir/man/protocol_tls.xml.5" |
	sed -e 's/\\-/-/g' -e 's/^\.B //' | sort -u >"$tmp/man.params"
if [ "$(wc -l <"$tmp/code.params")" -gt 10 ] && cmp -s "$tmp/code.params" "$tmp/man.params"; then
	ok 0 "protocol_tls.xml(5) documents exactly the $(wc -l <"$tmp/code.params") params tls_config.c accepts"
else
	ok 1 "protocol_tls.xml(5) documents exactly the params tls_config.c accepts"
	diff "$tmp/code.params" "$tmp/man.params" | sed 's/^/# (< code, > man) /'
fi

if command -v man >/dev/null 2>&1 && command -v groff >/dev/null 2>&1; then
	for page in captls.1 protocol_tls.xml.5; do
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$top_srcdir/man/$page" \
			>"$tmp/out" 2>"$tmp/warn"
		rc=$?
		if [ "$rc" = 0 ] && [ ! -s "$tmp/warn" ] && [ -s "$tmp/out" ]; then
			ok 0 "man --warnings -l $page renders without warnings"
		else
			ok 1 "man --warnings -l $page renders without warnings (rc $rc)"
			sed 's/^/# /' "$tmp/warn"
		fi
	done
else
	skip "man/groff not installed (apt-get install man-db groff-base)"
	skip "man/groff not installed (apt-get install man-db groff-base)"
fi
# HEP type defaults: one constant each in tls_config.h, stated in three places
hdr="$top_srcdir/src/modules/protocol/tls/tls_config.h"
d_http=$(sed -n 's/^#define TLS_CONF_HEP_TYPE_HTTP_DEFAULT \([0-9]*\).*/\1/p' "$hdr")
d_raw=$(sed -n 's/^#define TLS_CONF_HEP_TYPE_RAW_DEFAULT \([0-9]*\).*/\1/p' "$hdr")
deroff "$top_srcdir/man/captls.1" >"$tmp/captls.txt"
deroff "$top_srcdir/man/protocol_tls.xml.5" | sed -n '/^PARAMS/,/^ERRORS/p' >"$tmp/params.txt"
first_default() {   # file, option regex: the number after the first "default" following it
	perl -0777 -ne 'print $1 if /'"$2"'.*?[Dd]efault\W*(\d+)/sm' "$1"
}
got="$(first_default "$tmp/help" '--hep-type-http\s+N\b') $(first_default "$tmp/help" '--hep-type-raw\s+N\b')"
got="$got $(first_default "$tmp/captls.txt" '--hep-type-http\W+N\b') $(first_default "$tmp/captls.txt" '--hep-type-raw\W+N\b')"
got="$got $(first_default "$tmp/params.txt" '^hep-type-http\n') $(first_default "$tmp/params.txt" '^hep-type-raw\n')"
want="$d_http $d_raw $d_http $d_raw $d_http $d_raw"
if [ -n "$d_http" ] && [ -n "$d_raw" ] && [ "$got" = "$want" ]; then
	ok 0 "HEP type defaults (http $d_http, raw $d_raw) agree in tls_config.h, captls -h, captls(1), protocol_tls.xml(5)"
else
	ok 1 "HEP type defaults agree: want '$want' (http raw for -h, captls(1), protocol_tls.xml(5)), got '$got'"
fi
# the flag extraction itself must see both short and long flags
if grep -qx -- '-k' "$tmp/help.flags" && grep -qx -- '--hep-auth' "$tmp/help.flags"; then
	ok 0 "flag extraction finds short and long flags"
else
	ok 1 "flag extraction finds short and long flags"
fi
exit 0
