#!/usr/bin/env bash
# yun-sim as a program: errors on bad input, charts with --plot/--compare, and the CloudSim reproduction:
# lr-mmt-1.2 on the PlanetLab day 20110303 (when the traces are there: $YUN_TRACES, default
# ../shared/traces/planetlab beside the repository) within 3% energy and 10% migrations and SLATAH of
# CloudSim 3.0.3's outputs, and thr-mmt-0.8 within 3% energy and 10% SLATAH, as the mean over five file
# orders (CloudSim's order is the file system's and unknown; docs/placement.md). About fifteen seconds.
# TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
BUILD=${YUN_BUILD:-build}
ROOT=${YUN_ROOT:-.}
SIM="$BUILD/src/cmd/yun-sim"
FIX="$ROOT/tests/fixtures"
DAY="${YUN_TRACES:-$ROOT/../shared/traces/planetlab}/20110303"
D=$YUN_TEST_DIR

"$SIM" policies >"$D/pol" 2>&1
tap_eval "policies lists the families" "grep -q '^npa' '$D/pol' && grep -q 'lr-mmt-1.2' '$D/pol' && grep -q '^yun' '$D/pol'"

"$SIM" run --trace "$FIX/trace_bad_value" --policy lr-mmt-1.2 >"$D/out" 2>"$D/err"; rc=$?
tap_eval "a malformed trace fails with exit 2, naming file and line" "[ $rc = 2 ] && grep -q 'vm-b line 3' '$D/err'"
"$SIM" run --trace "$FIX/trace_ok" --policy lr-foo-1.2 >"$D/out" 2>"$D/err"; rc=$?
tap_eval "an unknown selector fails with exit 2 and says which" "[ $rc = 2 ] && grep -q \"unknown selector 'foo'\" '$D/err'"
"$SIM" run --trace "$FIX/trace_ok" --policy lr-mmt-1.2 --hosts 0 >"$D/out" 2>"$D/err"; rc=$?
tap_eval "--hosts 0 is refused" "[ $rc = 2 ] && grep -q -- '--hosts' '$D/err'"

"$SIM" run --trace "$FIX/trace_ok" --policy yun --hosts 4 >"$D/out" 2>"$D/err"
tap_eval "json has the documented keys" "jq -e 'has(\"energy_kwh\") and has(\"migrations\") and has(\"slatah\") and has(\"pdm\") and has(\"slav\") and has(\"esv\") and has(\"host_shutdowns\") and has(\"step_ms_mean\") and .vms == 3 and .hosts == 4' '$D/out' >/dev/null"

# another cloud than CloudSim's (bench/sim_to_real.sh's): three VMs of 1000 MIPS fit two to a host of 2000, so
# at most two hosts are ever on; a host with less RAM than a VM takes none
"$SIM" run --trace "$FIX/trace_ok" --policy yun --hosts 3 --host-mips 2000 --host-ram 1024 --vm-mips 1000 --vm-ram 128 \
  >"$D/out" 2>"$D/err"
tap_eval "--host-mips/--vm-mips: hosts of one 2000-MIPS element, host_seconds at most two hosts' time" \
  "jq -e '.hosts == 3 and .vms == 3 and .host_seconds > 0 and .host_seconds <= 2 * 300 * .steps' '$D/out' >/dev/null"
"$SIM" run --trace "$FIX/trace_ok" --policy yun --hosts 3 --host-mips 2000 --host-ram 100 --vm-mips 1000 --vm-ram 128 \
  >"$D/out" 2>"$D/err"; rc=$?
tap_eval "a VM bigger than every host's RAM is refused at the start, naming it" "[ $rc != 0 ] && grep -q '128 MB) fits on none of the 3 hosts' '$D/err'"
"$SIM" run --trace "$FIX/trace_ok" --policy yun --vm-mips 0 >"$D/out" 2>"$D/err"; rc=$?
tap_eval "--vm-mips 0 is refused" "[ $rc = 2 ] && grep -q -- '--vm-mips' '$D/err'"

if command -v gnuplot >/dev/null; then
  "$SIM" run --trace "$FIX/trace_ok" --policy yun --hosts 4 --plot "$D/plot" --compare lr-mmt-1.2 >"$D/out" 2>"$D/err"
  tap_eval "--plot --compare writes three PNGs and both runs" "[ -s '$D/plot/active_hosts.png' ] && [ -s '$D/plot/power.png' ] && [ -s '$D/plot/heatmap.png' ] && jq -e 'length == 2' '$D/out' >/dev/null"
else
  tap_ok "# SKIP gnuplot not installed"
fi

if [ -d "$DAY" ]; then
  for s in 1 2 3 4 5; do "$SIM" run --trace "$DAY" --policy lr-mmt-1.2 --shuffle $s; done >"$D/runs"
  read -r e m sl < <(jq -s -r '[(map(.energy_kwh) | add / length), (map(.migrations) | add / length), (map(.slatah) | add / length)] | @tsv' "$D/runs")
  echo "# lr-mmt-1.2 on 20110303, mean of 5 orders: $e kWh (CloudSim 167.83), $m migrations (27649), SLATAH $sl (0.0572)"
  within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = (a - b) / b; exit !(d <= t && d >= -t) }'; }
  tap_eval "energy within 3% of CloudSim's 167.83 kWh" "within $e 167.83 0.03"
  tap_eval "migrations within 10% of CloudSim's 27649" "within $m 27649 0.10"
  tap_eval "SLATAH within 10% of CloudSim's 5.72%" "within $sl 0.0572 0.10"
  # thr-mmt-0.8 sends VMs to two hosts in a step (placed, then moved on when their new host is evacuated);
  # its SLATAH was 13% low while the first target of such a VM granted it everything
  for s in 1 2 3 4 5; do "$SIM" run --trace "$DAY" --policy thr-mmt-0.8 --shuffle $s; done >"$D/runs"
  read -r e sl < <(jq -s -r '[(map(.energy_kwh) | add / length), (map(.slatah) | add / length)] | @tsv' "$D/runs")
  echo "# thr-mmt-0.8 on 20110303, mean of 5 orders: $e kWh (CloudSim 198.08), SLATAH $sl (0.0500)"
  tap_eval "thr-mmt-0.8 energy within 3% of CloudSim's 198.08 kWh" "within $e 198.08 0.03"
  tap_eval "thr-mmt-0.8 SLATAH within 10% of CloudSim's 5.00%" "within $sl 0.0500 0.10"
else
  tap_ok "# SKIP no PlanetLab traces at $DAY"
fi
tap_done
