#!/bin/bash
# The project's test command (README "Quick start", step 2): builds and runs `make check`
# in a normal build (build/) and under ASan+UBSan (build-san/), then a short libFuzzer run
# when clang is available. Prints per-suite results and a last line "N passed, N failed".
set -u
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
passed=0; failed=0
[ -x configure ] || ./build.sh >/dev/null 2>&1 || { echo "build.sh failed"; echo "0 passed, 1 failed"; exit 1; }

count() {   # count PASS/FAIL lines of a test-suite.log summary
	local log="$1" p f
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1); f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
	local x=$(sed -n 's/^# ERROR: *//p' "$log" | head -1); local xp=$(sed -n 's/^# XPASS: *//p' "$log" | head -1)
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${x:-0} + ${xp:-0}))
}

run_suite() {   # name builddir configure-args...
	local name="$1" dir="$2"; shift 2
	echo "=== $name ==="
	mkdir -p "$dir"
	( cd "$dir" && "$top/configure" -q "$@" >config.out 2>&1 ) || { echo "$name: configure failed"; tail -5 "$dir/config.out"; failed=$((failed+1)); return; }
	make -C "$dir" -s -j"$jobs" >"$dir/build.out" 2>&1 || { echo "$name: build failed"; tail -30 "$dir/build.out"; failed=$((failed+1)); return; }
	make -C "$dir" -s -j"$jobs" check >"$dir/check.out" 2>&1
	# LeakSanitizer's own stop-the-world sometimes crashes at exit on VMs ("LeakSanitizer has
	# encountered a fatal error", google/sanitizers#1353; seen once in module_hep_test, not
	# reproduced in 5 reruns): that is not a finding about our code (a leak is reported as
	# "detected memory leaks" and still fails). Such a test runs once more; its second
	# result is the one counted, and the rerun is said here.
	local l
	for l in $(grep -l "LeakSanitizer has encountered a fatal error" "$dir"/tests/*.log 2>/dev/null); do
		echo "$name: $(basename "$l" .log): LeakSanitizer's own fatal error (not a leak report): run again"
		rm -f "$l" "${l%.log}.trs" "$dir/test-suite.log"
		make -C "$dir" -s "tests/$(basename "$l")" >>"$dir/check.out" 2>&1
	done
	[ -f "$dir/test-suite.log" ] || make -C "$dir" -s test-suite.log >>"$dir/check.out" 2>&1
	grep -E '^(PASS|FAIL|ERROR|SKIP|XFAIL|XPASS):' "$dir/check.out" | grep -v '^PASS' | head -50
	grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' "$dir/test-suite.log" 2>/dev/null | tr '\n' ' '; echo
	if [ -f "$dir/test-suite.log" ]; then count "$dir/test-suite.log"; else failed=$((failed+1)); fi
}

run_suite "normal build" build
if [ "${SKIP_SANITIZERS:-0}" != 1 ]; then
	run_suite "ASan+UBSan build" build-san --enable-sanitizers CC="${SAN_CC:-gcc}"
fi
if [ "${SKIP_FUZZ:-0}" != 1 ] && command -v clang >/dev/null 2>&1; then
	echo "=== libFuzzer smoke run ==="
	if scripts/fuzz.sh smoke >build-fuzz.out 2>&1; then
		passed=$((passed+1)); tail -3 build-fuzz.out
	else
		failed=$((failed+1)); tail -20 build-fuzz.out
	fi
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
