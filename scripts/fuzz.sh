#!/bin/bash
# fuzz.sh — builds and runs the libFuzzer targets of the engine (tests/fuzz_packet.c,
# tests/fuzz_keylog.c, tests/fuzz_keylog_dgram.c, tests/fuzz_config.c, tests/fuzz_starttls.c,
# tests/fuzz_pcapng.c: captls's pcapng reader, tests/fuzz_ws.c, tests/fuzz_ipfrag.c, tests/fuzz_sslv2.c,
# tests/fuzz_pcapfile.c: captls's classic pcap reader)
# with clang, ASan and UBSan.
#
# Why a script outside autotools: libFuzzer needs clang and instrumented objects of the
# whole engine, which the normal build (any compiler, no sanitizers) does not make. The
# sources are compiled directly, so this works from a fresh clone without ./build.sh or
# ./configure. Everything goes to build-fuzz/ (objects, binaries, the growing corpora,
# crash artifacts, logs); the committed seeds in tests/fuzz-seeds/ and every past crash in
# tests/fuzz-regress/ are read-only inputs, replayed before fuzzing starts.
#
#   scripts/fuzz.sh build               build the three targets
#   scripts/fuzz.sh smoke               build, then run each briefly (packet 20 s, others
#                                       10 s); fails on any crash, leak, timeout or OOM
#   scripts/fuzz.sh long SECONDS [T..]  run targets T (default all) for SECONDS each with
#                                       $FUZZ_JOBS parallel workers (default: nproc), then
#                                       print executions, coverage (cov/ft) and crashes
#   scripts/fuzz.sh replay              run the seeds + regressions once (no fuzzing)
#   scripts/fuzz.sh seeds               regenerate tests/fuzz-seeds/ (needs libssl, libpcap)
#
# A crash leaves build-fuzz/artifacts/<target>-crash-<sha1>; minimize it with
#   build-fuzz/fuzz_<target> -minimize_crash=1 -runs=100000 FILE
# and add it to tests/fuzz-regress/<target>/ so `make check` replays it forever.
# Env: CC (default clang), FUZZ_JOBS, FUZZ_RSS_MB (default 2048), FUZZ_EXTRA (extra flags),
# FUZZ_OVERLAY=DIR (engine .c files in DIR replace those of src/, e.g. to fuzz a fix
# before it lands; objects go to build-fuzz/obj-overlay).
set -u
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
out="$top/build-fuzz"
CC="${CC:-clang}"
case "$CC" in *clang*) ;; *) CC=clang ;; esac
RSS="${FUZZ_RSS_MB:-2048}"
JOBS="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"
TLS=src/modules/protocol/tls
TARGETS="packet keylog keylog_dgram config starttls pcapng ws ipfrag sslv2 pcapfile"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS_F="-std=gnu11 -D_GNU_SOURCE -DFUZZ_LIBFUZZER -g -O2 -Wall -Wextra -I$TLS -Itests"
XML_CFLAGS="$(pkg-config --cflags libxml-2.0 2>/dev/null || echo -I/usr/include/libxml2)"
XML_LIBS="$(pkg-config --libs libxml-2.0 2>/dev/null || echo -lxml2)"
LIBS="-lgcrypt -lcrypto -lpthread -lz"

die() { echo "fuzz.sh: $*" >&2; exit 1; }

build() {
	command -v "$CC" >/dev/null 2>&1 || die "clang not found (libFuzzer needs clang)"
	local objdir="$out/obj" objs="" src o c
	[ -n "${FUZZ_OVERLAY:-}" ] && objdir="$out/obj-overlay"
	mkdir -p "$objdir"
	# the engine's sources as Makefile.am lists them (so this list cannot drift), plus the config reader
	local srcs
	srcs="$(sed -n '/^libtlsengine_la_SOURCES/,/^[^[:space:]]/p' Makefile.am | grep -o '[a-z_0-9]*\.c' | sed 's/\.c$//') tls_config keylog_listen"
	[ -n "$srcs" ] || die "no engine sources found in Makefile.am"
	for src in $srcs; do
		o="$objdir/$src.o"
		c="$TLS/$src.c"
		[ -n "${FUZZ_OVERLAY:-}" ] && [ -f "$FUZZ_OVERLAY/$src.c" ] && c="$FUZZ_OVERLAY/$src.c"
		if [ ! -f "$o" ] || [ "$c" -nt "$o" ] || [ -n "$(find $TLS -name '*.h' -newer "$o" 2>/dev/null | head -1)" ]; then
			$CC $CFLAGS_F $SAN -fsanitize=fuzzer-no-link $XML_CFLAGS -c "$c" -o "$o" || die "compile $c failed"
		fi
		[ "$src" = tls_config ] || [ "$src" = keylog_listen ] || objs="$objs $o"
	done
	for t in $TARGETS; do
		local extra="" extralibs=""
		[ "$t" = config ] && { extra="$objdir/tls_config.o $objdir/keylog_listen.o"; extralibs="$XML_LIBS"; }
		[ "$t" = keylog_dgram ] && extra="$objdir/keylog_listen.o"
		[ "$t" = pcapng ] && extra="-Isrc/captls src/captls/pcapng.c"
		[ "$t" = pcapfile ] && extra="-Isrc/captls src/captls/pcapfile.c"
		$CC $CFLAGS_F $SAN -fsanitize=fuzzer $XML_CFLAGS "tests/fuzz_$t.c" $objs $extra -o "$out/fuzz_$t" \
			$LIBS $extralibs || die "link fuzz_$t failed"
	done
	echo "built: $(for t in $TARGETS; do printf 'build-fuzz/fuzz_%s ' $t; done)"
}

# run TARGET SECONDS WORKERS — fuzz one target, log to build-fuzz/logs/TARGET/
run() {
	local t="$1" secs="$2" workers="$3"
	local corpus="$out/corpus/$t" logs="$out/logs/$t" art="$out/artifacts"
	mkdir -p "$corpus" "$logs" "$art"
	local dirs="$corpus"
	[ -d "tests/fuzz-seeds/$t" ] && dirs="$dirs $top/tests/fuzz-seeds/$t"
	[ -d "tests/fuzz-regress/$t" ] && dirs="$dirs $top/tests/fuzz-regress/$t"
	local maxlen=131072
	[ "$t" = packet ] || maxlen=65536
	rm -f "$logs"/fuzz-*.log "$logs/main.log"
	local rc
	(
		cd "$logs" || exit 1
		if [ "$workers" -gt 1 ]; then
			"$out/fuzz_$t" -jobs="$workers" -workers="$workers" -max_total_time="$secs" \
				-rss_limit_mb="$RSS" -timeout=25 -max_len=$maxlen -print_final_stats=1 \
				-artifact_prefix="$art/$t-" ${FUZZ_EXTRA:-} $dirs >"$logs/main.log" 2>&1
		else
			"$out/fuzz_$t" -max_total_time="$secs" -rss_limit_mb="$RSS" -timeout=25 -max_len=$maxlen \
				-print_final_stats=1 -artifact_prefix="$art/$t-" ${FUZZ_EXTRA:-} $dirs >"$logs/fuzz-0.log" 2>&1
		fi
	)
	rc=$?
	# a job that crashed stops early; -jobs mode does not propagate its status
	if grep -lE '^(==[0-9]+==ERROR|SUMMARY: (Address|Undefined|Leak)Sanitizer)|deadly signal|ERROR: libFuzzer' "$logs"/fuzz-*.log >/dev/null 2>&1; then
		rc=1
	fi
	summarize "$t" "$secs"
	return $rc
}

# summarize TARGET SECONDS — executions (sum over jobs), best cov/ft, crashes
summarize() {
	local t="$1" secs="$2" logs="$out/logs/$1"
	local execs=0 n cov=0 ft=0 c f crashes
	for l in "$logs"/fuzz-*.log; do
		[ -f "$l" ] || continue
		n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$l" | tail -1)
		if [ -z "$n" ]; then n=$(grep -oE '^#[0-9]+' "$l" | tail -1 | tr -d '#'); fi
		execs=$((execs + ${n:-0}))
		c=$(grep -oE 'cov: [0-9]+' "$l" | tail -1 | awk '{print $2}')
		f=$(grep -oE 'ft: [0-9]+' "$l" | tail -1 | awk '{print $2}')
		[ "${c:-0}" -gt "$cov" ] && cov=$c
		[ "${f:-0}" -gt "$ft" ] && ft=$f
	done
	crashes=$(ls "$out/artifacts/$t-"* 2>/dev/null | wc -l)
	local corp=$(ls "$out/corpus/$t" 2>/dev/null | wc -l)
	printf '%-7s %9d execs in %5ss  (%d/s)  cov: %-5d ft: %-6d corpus: %-5d artifacts: %d\n' \
		"$t" "$execs" "$secs" $((execs / (secs > 0 ? secs : 1))) "$cov" "$ft" "$corp" "$crashes"
	echo "$execs" >"$logs/execs"
}

case "${1:-}" in
build)
	build ;;
smoke)
	build
	fail=0
	for t in $TARGETS; do
		secs=10; [ "$t" = packet ] && secs=20
		run "$t" "$secs" 1 || { echo "CRASH in fuzz_$t: see build-fuzz/logs/$t/ and build-fuzz/artifacts/"; tail -40 "$out/logs/$t/fuzz-0.log"; fail=1; }
	done
	[ $fail = 0 ] && echo "fuzz smoke: no crash" || { echo "fuzz smoke: FAILED"; exit 1; }
	;;
long)
	secs="${2:-}"
	[ -n "$secs" ] || die "usage: fuzz.sh long SECONDS [packet|keylog|config ...]"
	shift 2
	ts="${*:-$TARGETS}"
	build
	fail=0 total=0
	for t in $ts; do
		run "$t" "$secs" "$JOBS" || { echo "CRASH in fuzz_$t: see build-fuzz/logs/$t/ and build-fuzz/artifacts/"; fail=1; }
		total=$((total + $(cat "$out/logs/$t/execs")))
	done
	echo "total executions: $total"
	exit $fail
	;;
replay)
	build
	for t in $TARGETS; do
		dirs=""
		for d in tests/fuzz-seeds/$t tests/fuzz-regress/$t; do [ -d "$d" ] && dirs="$dirs $d"; done
		[ -n "$dirs" ] || continue
		"$out/fuzz_$t" -runs=0 -rss_limit_mb="$RSS" $dirs >"$out/replay-$t.log" 2>&1 || { echo "replay $t: FAILED"; tail -30 "$out/replay-$t.log"; exit 1; }
		echo "replay $t: ok ($(find $dirs -type f ! -name '.*' ! -name '*.md' | wc -l) inputs)"
	done
	;;
seeds)
	mkdir -p "$out"
	gcc -std=gnu11 -D_GNU_SOURCE -O1 -Wall -Wextra -I$TLS -Itests tests/fuzz_seeds.c tests/tlsgen.c tests/tlsgen_util.c tests/tlsgen_plan.c \
		tests/tlsgen_sip.c tests/tlsgen_http.c tests/tlsgen_ws.c tests/tlsgen_tcp.c tests/tlsgen_static_ecdhe.c \
		tests/tlsgen_drive.c tests/tlsgen_ctx.c tests/tlsgen_keys.c tests/tlsgen_out.c tests/pcapw.c tests/pcapfrag.c \
		-o "$out/fuzz_seeds" -lssl -lcrypto -lpcap || die "building fuzz_seeds failed"
	rm -rf "$top/tests/fuzz-seeds"
	samples="${SHARED_SAMPLES:-$top/../shared/samples}"
	[ -d "$samples" ] || samples=""
	"$out/fuzz_seeds" "$top/tests/fuzz-seeds" $samples ${samples:+$top} || die "seed generation failed"
	;;
*)
	sed -n '2,/^set -u$/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 2 ;;
esac
