#!/usr/bin/env bash
# yun-sim place and yun-sim utility-curve as programs: the documented JSON keys, every algorithm by name,
# a trace-derived instance from the fixtures, the chart, and clear errors on bad input. A few seconds.
# TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
BUILD=${YUN_BUILD:-build}
ROOT=${YUN_ROOT:-.}
SIM="$BUILD/src/cmd/yun-sim"
FIX="$ROOT/tests/fixtures"
D=$YUN_TEST_DIR

"$SIM" place --hosts 200 --vms 2000 --algo first-fit --seed 7 >"$D/ff" 2>"$D/err"
tap_eval "place prints the documented JSON keys" "jq -e 'has(\"hosts_used\") and has(\"lower_bound\") and has(\"utility\") and has(\"rejected\") and has(\"seconds\") and has(\"placements_per_second\") and .vms == 2000 and .hosts == 200' '$D/ff' >/dev/null"
tap_eval "first-fit places every VM within 10% of the bound" "jq -e '.rejected == 0 and .hosts_used >= .lower_bound and .hosts_used <= 1.1 * .lower_bound' '$D/ff' >/dev/null"

"$SIM" place --hosts 50 --vms 400 --algo all >"$D/all" 2>"$D/err"
tap_eval "--algo all runs the fourteen algorithms" "jq -e 'length == 14 and (map(.algo) | index(\"pemm\") != null) and (map(.algo) | index(\"yun\") != null)' '$D/all' >/dev/null"
tap_eval "first-fit and first-fit-scan give the same plan size" "jq -e '(map(select(.algo == \"first-fit\"))[0].hosts_used) == (map(select(.algo == \"first-fit-scan\"))[0].hosts_used)' '$D/all' >/dev/null"

"$SIM" place --hosts 50 --vms 400 --algo pemm,yun --power-cost 12000 >"$D/py" 2>"$D/err"
tap_eval "yun's utility minus power is at least pemm's" "jq -e '.[1].utility_minus_power >= .[0].utility_minus_power' '$D/py' >/dev/null"

"$SIM" place --trace "$FIX/place_trace" --peak --host-kind g5 --hosts 3 --algo best-fit-decreasing >"$D/tr" 2>"$D/err"
tap_eval "a trace-derived instance: four VMs, memory needs two hosts" "jq -e '.vms == 4 and .lower_bound == 2 and .hosts_used == 2' '$D/tr' >/dev/null"

"$SIM" place --algo first-fir >"$D/out" 2>"$D/err"; rc=$?
tap_eval "an unknown algorithm exits 2 and lists the names" "[ $rc = 2 ] && grep -q 'best-fit-decreasing' '$D/err'"
"$SIM" place --trace "$FIX/trace_bad_value" >"$D/out" 2>"$D/err"; rc=$?
tap_eval "a malformed trace exits 2 naming file and line" "[ $rc = 2 ] && grep -q 'vm-b line 3' '$D/err'"
"$SIM" utility-curve --vms 0 >"$D/out" 2>"$D/err"; rc=$?
tap_eval "utility-curve --vms 0 is refused" "[ $rc = 2 ] && grep -q -- '--vms' '$D/err'"

"$SIM" utility-curve --vms 40 --step 20 --power-cost 12000 --format json >"$D/uc" 2>"$D/err"
tap_eval "utility-curve json: two rows, every default algorithm" "jq -e '.rows | length == 2 and (.[1] | has(\"bs\") and has(\"gm\") and has(\"gmm\") and has(\"emm\") and has(\"pemm\") and has(\"yun\"))' '$D/uc' >/dev/null"
"$SIM" utility-curve --vms 12 --step 6 --hosts 2 --host-mhz 2096 --host-mem 65536 --online --algos bs,emm \
  --format json >"$D/uo" 2>"$D/err"
tap_eval "utility-curve --online --hosts 2 --host-mhz: VMs scaled to the hosts, bs rejects, emm does not" \
  "jq -e '(.vms | length == 12 and all(.max_mhz <= 2096 and .min_mhz <= .max_mhz)) and .rows[1].bs.rejected > 0 and .rows[1].emm.rejected == 0 and .rows[1].bs.hosts == 2' '$D/uo' >/dev/null"

if command -v gnuplot >/dev/null; then
  "$SIM" utility-curve --vms 30 --step 10 --plot "$D/plot" >"$D/out" 2>"$D/err"
  tap_eval "--plot writes the PNG with its data and script" "[ -s '$D/plot/utility-curve.png' ] && [ -s '$D/plot/utility-curve.dat' ] && [ -s '$D/plot/utility-curve.gp' ]"
else
  tap_ok "# SKIP gnuplot not installed"
fi
tap_done
