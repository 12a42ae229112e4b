#!/bin/sh
# debian_test.sh — cheap checks of the Debian packaging (TAP); building the .deb itself
# takes minutes and is done by hand (README, "Debian packages").
#
# Why: debian/changelog and configure.ac both carry the version, and the .install files
# name paths that `make install` must produce; these drift apart silently. Checks that the
# changelog parses and its version is the package version, that control builds exactly
# captls and captagent-protocol-tls, and that every file debian/*.install lists is
# installed by `make install` (with the package's module directory).
# Skips where there is no debian/ (a dist tarball) or no dpkg-parsechangelog.
# Environment (from make check): top_srcdir, PACKAGE_VERSION.
set -u
: "${top_srcdir:=.}"
d="$top_srcdir/debian"
if [ ! -f "$d/changelog" ]; then echo "1..0 # SKIP no debian/ directory here"; exit 0; fi
if ! command -v dpkg-parsechangelog >/dev/null 2>&1; then
	echo "1..0 # SKIP dpkg-parsechangelog not installed (apt-get install dpkg-dev)"; exit 0
fi
echo "1..3"
v=$(dpkg-parsechangelog -l "$d/changelog" -S Version 2>/dev/null)
upstream=${v%%-*}
if [ -n "$v" ] && [ "$upstream" = "${PACKAGE_VERSION:-}" ]; then
	echo "ok 1 - debian/changelog parses, version $v matches configure.ac"
else
	echo "not ok 1 - debian/changelog version '$v' vs configure.ac '${PACKAGE_VERSION:-}'"
fi
pk=$(sed -n 's/^Package: *//p' "$d/control" | sort | tr '\n' ' ')
if [ "$pk" = "captagent-protocol-tls captls " ]; then
	echo "ok 2 - debian/control builds captls and captagent-protocol-tls"
else
	echo "not ok 2 - debian/control packages: $pk"
fi
# every .install path must be something make install produces (module dir as in rules)
missing=""
for f in $(cat "$d"/*.install); do
	case "$f" in
	usr/bin/captls) grep -q '^bin_PROGRAMS = captls' "$top_srcdir/Makefile.am" || missing="$missing $f" ;;
	usr/lib/captagent/modules/protocol_tls.so)
		grep -q -- '--with-moduledir=/usr/lib/captagent/modules' "$d/rules" || missing="$missing $f" ;;
	usr/share/man/man*/*)
		grep -q "man/$(basename "$f")" "$top_srcdir/Makefile.am" || missing="$missing $f" ;;
	*) missing="$missing $f" ;;
	esac
done
for f in $(cat "$d"/*.examples); do [ -f "$top_srcdir/$f" ] || missing="$missing $f"; done
if [ -z "$missing" ]; then
	echo "ok 3 - every file named in debian/*.install and *.examples is produced or present"
else
	echo "not ok 3 - not produced by make install / not in the tree:$missing"
fi
exit 0
