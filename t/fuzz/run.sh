#!/bin/sh
# Runs each libFuzzer target for FUZZ_SECONDS (default 60) from its
# committed seed corpus t/fuzz/corpus/<target>/ (read-only: new inputs
# go to a scratch dir).  A crash, leak, sanitizer report or broken
# property fails that target: its log tail and the input (hex) are
# printed.  Prints "PASS: <target>" / "FAIL: <target>" per target and
# ends with one line "N passed, N failed"; exits 1 when any failed.
# Usage: run.sh BINDIR   (FUZZ_TARGETS names the targets)
bindir=${1:?usage: run.sh BINDIR}
src=$(cd "$(dirname "$0")" && pwd)
secs=${FUZZ_SECONDS:-60}
out=${FUZZ_OUT:-$bindir/out}
rm -rf "$out" && mkdir -p "$out" || exit 1
# The leak libconfig itself has on some syntax errors: see the file.
LSAN_OPTIONS="suppressions=$src/../lsan.supp:print_suppressions=0"
export LSAN_OPTIONS
unset ASAN_OPTIONS UBSAN_OPTIONS	# libFuzzer's own defaults report crashes
pass=0 fail=0
for t in ${FUZZ_TARGETS:?}; do
	mkdir -p "$out/$t.work" "$out/$t.crash"
	seeds="$src/corpus/$t"
	[ -d "$seeds" ] || seeds=
	dict=
	[ -f "$src/$t.dict" ] && dict="-dict=$src/$t.dict"
	"$bindir/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$out/$t.crash/" $dict \
	    "$out/$t.work" $seeds >"$out/$t.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
	if [ $rc -eq 0 ] && [ -z "$(ls "$out/$t.crash")" ]; then
		echo "PASS: $t (${runs:-?} runs in ${secs}s)"
		pass=$((pass + 1))
		continue
	fi
	echo "FAIL: $t (exit $rc)"
	fail=$((fail + 1))
	grep -v '^#[0-9]' "$out/$t.log" | tail -60
	for c in "$out/$t.crash"/*; do
		[ -f "$c" ] || continue
		echo "---- $c (reproduce: $bindir/$t $c); hex:"
		od -An -tx1 "$c" | head -20
	done
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
