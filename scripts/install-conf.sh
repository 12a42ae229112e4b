#!/bin/sh
# install-conf.sh — installs protocol_tls's example configuration without ever replacing
# an operator's file, and uninstalls only what it installed. Called by `make install` /
# `make uninstall` (Makefile.am, install-data-local / uninstall-local).
#
# Why: the default prefix puts our files into captagent's own configuration directory
# (/usr/local/etc/captagent), where captagent.xml, socket_pcap.xml, protocol_tls.xml and
# its capture plans usually already exist. Overwriting them can take a capture point down.
#
#   install-conf.sh install   DESTDIR MANIFEST DIR SRC...
#   install-conf.sh uninstall DESTDIR MANIFEST DIR SRC...
#
# install: for each SRC, DIR/NAME is created when no file of that name exists; otherwise
# (unless it is already byte-identical) the file is written as DIR/NAME.example beside it.
# Every file written is recorded in MANIFEST (paths without DESTDIR), and one line per
# file says what happened.
# uninstall: removes the files of MANIFEST under DIR that are still byte-identical to the
# SRC they came from; a file the operator changed since is kept (and said so).
# DIR and MANIFEST are given without DESTDIR; INSTALL_DATA and MKDIR_P come from the
# environment (automake's values), with plain fallbacks.
set -u
action="$1"; destdir="$2"; manifest="$3"; dir="$4"
shift 4
: "${INSTALL_DATA:=cp}"
: "${MKDIR_P:=mkdir -p}"
mf="$destdir$manifest"

record() {   # add one path to the manifest (once)
	$MKDIR_P "$(dirname "$mf")" || exit 1
	touch "$mf" || exit 1
	grep -qxF "$1" "$mf" || echo "$1" >>"$mf"
}

in_manifest() {
	[ -f "$mf" ] && grep -qxF "$1" "$mf"
}

case "$action" in
install)
	$MKDIR_P "$destdir$dir" || exit 1
	for src in "$@"; do
		name=$(basename "$src")
		dst="$dir/$name"
		if [ ! -e "$destdir$dst" ] && [ ! -L "$destdir$dst" ]; then
			$INSTALL_DATA "$src" "$destdir$dst" || exit 1
			record "$dst"
			echo "protocol_tls: installed $dst"
		elif cmp -s "$src" "$destdir$dst"; then
			echo "protocol_tls: $dst is already identical to ours, left as it is"
		else
			$INSTALL_DATA "$src" "$destdir$dst.example" || exit 1
			record "$dst.example"
			echo "protocol_tls: $dst exists and was NOT replaced; ours is $dst.example"
		fi
	done
	;;
uninstall)
	for src in "$@"; do
		name=$(basename "$src")
		for dst in "$dir/$name" "$dir/$name.example"; do
			in_manifest "$dst" || continue
			if [ ! -e "$destdir$dst" ]; then
				:
			elif cmp -s "$src" "$destdir$dst"; then
				rm -f "$destdir$dst" || exit 1
				echo "protocol_tls: removed $dst"
			else
				echo "protocol_tls: kept $dst (changed since it was installed)"
			fi
			grep -vxF "$dst" "$mf" >"$mf.tmp"; mv -f "$mf.tmp" "$mf"
		done
	done
	# the manifest and its directory go when nothing is listed any more
	if [ -f "$mf" ] && [ ! -s "$mf" ]; then
		rm -f "$mf"
		rmdir "$(dirname "$mf")" 2>/dev/null
	fi
	# captagent's directories stay unless they are empty now
	rmdir "$destdir$dir" 2>/dev/null
	;;
*)
	echo "usage: $0 install|uninstall DESTDIR MANIFEST DIR SRC..." >&2
	exit 2
	;;
esac
exit 0
