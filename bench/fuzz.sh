#!/usr/bin/env bash
# Fuzzing throughput and soundness: each libFuzzer harness (tests/fuzz) runs its seed corpus then new inputs
# up to RUNS executions in all (default 1,000,000; FUZZ_BENCH_RUNS overrides), one harness at a time; any
# crash, leak or UB report fails the run. Prints inputs/s per harness; the last line is one JSON object.
# Usage: bench/fuzz.sh BUILD [HARNESS...]   (all harnesses unless named; BUILD: a clang -Dfuzz=true build, `make fuzz-build`; a build without the
#        harnesses, such as `make bench`'s, falls back to build-fuzz, built when missing)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build-fuzz}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
if [ ! -x "$B/tests/fuzz/fuzz_units" ]; then
  B="$ROOT/build-fuzz"
  [ -x "$B/tests/fuzz/fuzz_units" ] || make -C "$ROOT" fuzz-build >&2
fi
RUNS=${FUZZ_BENCH_RUNS:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
json="{\"runs_per_harness\":$RUNS"
crashes=0
shift || true
for h in "$B"/tests/fuzz/fuzz_*; do
  [ -f "$h" ] && [ -x "$h" ] || continue
  [ $# -eq 0 ] || [[ " $* " == *" $(basename "$h") "* ]] || continue
  name=$(basename "$h")
  mkdir -p "$work/$name"
  t0=$(date +%s.%N)
  rc=0
  (cd "$work" && TMPDIR="$work" "$h" -runs="$RUNS" -max_len=4096 -timeout=25 -rss_limit_mb=2048 \
     -artifact_prefix="$work/$name-" "$work/$name" "$ROOT/tests/fuzz/corpus/$name") >"$work/$name.log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  done_runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/$name.log" | tail -1)
  if [ "$rc" -ne 0 ] || [ -z "$done_runs" ]; then
    crashes=$((crashes + 1))
    echo "$name: FAILED (exit $rc); its report:" >&2
    grep -E 'ERROR|SUMMARY|fuzz:|runtime error' "$work/$name.log" | head -5 >&2
    ls "$work"/"$name"-* >&2 2>/dev/null || true
    done_runs=0
  fi
  rate=$(echo "$done_runs / ($t1 - $t0)" | bc -l)
  printf '%-14s %8d inputs in %7.1f s: %8.0f inputs/s, exit %d\n' "$name" "$done_runs" "$(echo "$t1 - $t0" | bc -l)" "$rate" "$rc"
  json="$json,\"${name}_inputs_per_s\":$(printf '%.0f' "$rate"),\"${name}_runs\":$done_runs"
done
echo "$json,\"crashes\":$crashes}"
[ "$crashes" -eq 0 ]
