#!/bin/bash
# make fuzz-long: every libFuzzer target for FUZZ_LONG_SECONDS, then the
# work corpus minimised into the kept seed corpus (docs/testing.md).
#
#   fuzz/fuzz-long.sh BUILD_DIR [TARGET...]
#
# Environment: FUZZ_LONG_SECONDS (3600), FUZZ_LONG_PAR (targets side by
# side, 2), FUZZ_LONG_NICE (0), FUZZ_LONG_MAX_FILES (300) and
# FUZZ_LONG_MAX_BYTES (2 MiB): the cap on what a target's kept corpus may
# grow to; FUZZ_LONG_LEAST=N: only the N targets with the fewest CPU
# seconds in the ledger (below), when no TARGET is named;
# FUZZ_LONG_TOPUP=1: each target runs for what it lacks of one CPU-hour
# in the ledger (and a margin: a niced fuzzer gets a little less CPU than
# wall time), so that one sitting finishes what earlier ones began; a
# target that has its hour is skipped. Run from the top of the source
# tree.
#
# The ledger, fuzz/ledger.tsv (kept in git), gets one line a target a run:
# date, target, seconds asked, CPU seconds, executions, coverage,
# features, findings. One CPU-hour a target is more than one sitting of
# this 2-core machine gives, so the hours add up across runs;
# fuzz/fuzz-hours.sh sums them.
#
# Per target: the fuzzer runs from fuzz/corpus/NAME plus BUILD/corpus-long/
# NAME (the work corpus, kept between runs), with its dictionary; then
# `-merge=1` picks the work inputs that add coverage to the kept corpus and
# the smallest of them are copied in until the cap. Crash, leak, timeout
# and OOM inputs go to fuzz/crashes/ and make the run fail. The summary is
# BUILD/fuzz-long.txt, one line per target, written as each one ends.
set -u

build=${1:?usage: fuzz/fuzz-long.sh BUILD_DIR [TARGET...]}
shift
seconds=${FUZZ_LONG_SECONDS:-3600}
par=${FUZZ_LONG_PAR:-2}
max_files=${FUZZ_LONG_MAX_FILES:-300}
max_bytes=${FUZZ_LONG_MAX_BYTES:-2097152}
summary=$build/fuzz-long.txt

# The CPU seconds target $1 has had so far, summed over the ledger.
ledger_cpu() {
	awk -F'\t' -v n="$1" '$2 == n { s += $4 } END { print s + 0 }' \
		fuzz/ledger.tsv 2>/dev/null || echo 0
}

# One target: fuzz, merge, one summary line. Runs in a child (xargs).
one() {
	local t=$1 n seconds=$seconds
	n=$(basename "$t")
	if [ -n "${FUZZ_LONG_TOPUP:-}" ]; then
		local lack=$((3600 - $(ledger_cpu "$n")))
		if [ "$lack" -le 0 ]; then
			echo "fuzz-long: $n has its CPU-hour"
			return 0
		fi
		seconds=$((lack * 105 / 100 + 30))
	fi
	local work=$build/corpus-long/$n keep=fuzz/corpus/$n
	local art=$build/artifacts-long/$n/ log=$build/$n.long.log
	rm -rf "$art"; mkdir -p "$work" "$keep" "$art"
	local dict=()
	[ -f "fuzz/dict/$n.dict" ] && dict=(-dict="fuzz/dict/$n.dict")
	echo "fuzz-long: $n for ${seconds}s"

	# A generous -timeout: the machine is shared and a slow unit under
	# load is not a hang; 30 s of one input still is.
	local TIMEFORMAT='%U %S' cpu rc
	cpu=$( { time nice -n "${FUZZ_LONG_NICE:-0}" "$t" -max_total_time="$seconds" \
		-timeout=30 -print_final_stats=1 -artifact_prefix="$art" \
		"${dict[@]}" "$work" "$keep" >"$log" 2>&1; } 2>&1 )
	rc=$?
	cpu=$(echo "$cpu" | tail -1 | awk '{ printf "%.0f", $1 + $2 }')

	# The last status line: "#N ... cov: C ft: F corp: ...".
	local execs cov ft
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)

	# Minimise: the merge writes into a copy of the kept corpus the work
	# inputs that add features; the smallest new ones are kept, within cap.
	local stage=$build/merge-long/$n added=0
	rm -rf "$stage"; mkdir -p "$stage"
	cp -p "$keep"/. "$stage"/ -r
	nice -n "${FUZZ_LONG_NICE:-0}" "$t" -merge=1 -timeout=30 \
		-artifact_prefix="$art" "$stage" "$work" >"$build/$n.merge.log" 2>&1 ||
		echo "fuzz-long: $n merge failed (see $build/$n.merge.log)"
	local files bytes f sz
	files=$(find "$keep" -type f | wc -l)
	bytes=$(du -sb "$keep" | cut -f1)
	while read -r sz f; do
		[ -n "$f" ] || continue
		[ -e "$keep/$(basename "$f")" ] && continue
		[ $((files + 1)) -le "$max_files" ] || break
		[ $((bytes + sz)) -le "$max_bytes" ] || break
		cp "$f" "$keep/" && files=$((files + 1)) bytes=$((bytes + sz)) added=$((added + 1))
	done < <(find "$stage" -type f -printf '%s %p\n' | sort -n)
	rm -rf "$stage"

	# Findings: copied out under the target's name, and the run fails.
	local crashes=0 c
	for c in "$art"crash-* "$art"leak-* "$art"timeout-* "$art"oom-*; do
		[ -f "$c" ] || continue
		mkdir -p fuzz/crashes
		cp "$c" "fuzz/crashes/$n-$(basename "$c")"
		crashes=$((crashes + 1))
	done
	printf '%-24s %6s %6s %10s %6s %7s %6s %8s %6s %7s\n' "$n" "$seconds" \
		"$cpu" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$files" "$bytes" "$added" \
		"$crashes" >>"$summary"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$n" \
		"$seconds" "$cpu" "${execs:-0}" "${cov:-0}" "${ft:-0}" "$crashes" >>fuzz/ledger.tsv
	if [ "$crashes" -gt 0 ] || { [ "$rc" -ne 0 ] && [ -z "$execs" ]; }; then
		tail -30 "$log"
		echo "fuzz-long: $n FAILED (rc $rc, $crashes findings in fuzz/crashes/)"
		return 1
	fi
	return 0
}
export -f one ledger_cpu
export build seconds max_files max_bytes summary

printf '%-24s %6s %6s %10s %6s %7s %6s %8s %6s %7s\n' target secs cpu_s execs cov \
	ft files bytes added crashes >"$summary"
# Every target's CPU seconds so far (0 for one the ledger lacks), fewest
# first, as "SECONDS PATH".
by_cpu() {
	local t n
	for t in "$build"/fuzz/fuzz_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		n=$(basename "$t")
		echo "$(ledger_cpu "$n") $t"
	done | sort -n -k1,1
}

if [ $# -gt 0 ]; then
	printf '%s\n' "$@"
elif [ -n "${FUZZ_LONG_LEAST:-}" ]; then
	by_cpu | head -n "$FUZZ_LONG_LEAST" | cut -d' ' -f2
else
	for t in "$build"/fuzz/fuzz_*; do [ -f "$t" ] && [ -x "$t" ] && echo "$t"; done
fi | xargs -P "$par" -n 1 bash -c 'one "$0"' || {
	echo "fuzz-long: FAILED (summary: $summary)"; exit 1; }
echo "fuzz-long: done (summary: $summary)"
