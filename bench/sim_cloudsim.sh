#!/usr/bin/env bash
# Reproduces CloudSim 3.0.3's PlanetLab results on 20110303 (1052 VMs, 800 hosts) and prints ours beside
# CloudSim's own outputs (quoted in issue 3) with the difference in percent.
#   bench/sim_cloudsim.sh [BUILD_DIR] [TRACE_DAY_DIR]
# Tolerances: energy 3%, migrations and SLATAH 10%.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
day=${2:-${YUN_TRACES:-$root/../shared/traces/planetlab}/20110303}
sim=$build/src/cmd/yun-sim
[ -x "$sim" ] || { echo "no $sim; build first (make build)" >&2; exit 2; }
[ -d "$day" ] || { echo "no trace folder $day; give it as the second argument" >&2; exit 2; }
# policy energy_kwh migrations slatah% pdm% (- = not published)
ref="npa 2410.80 - - -
dvfs 764.96 - - -
thr-mmt-0.8 198.08 27728 5.00 0.07
iqr-mmt-1.5 193.63 27592 - -
mad-mmt-2.5 189.79 27781 - -
lr-mmt-1.2 167.83 27649 5.72 0.08
lr-mc-1.2 153.87 23351 - -
lr-rs-1.2 152.53 23072 - -"
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "-") print "-"; else printf "%+.1f%%", (a - b) / b * 100 }'; }
printf "%-12s %9s %9s %7s | %7s %7s %7s | %6s %6s %7s | %6s %6s | %8s\n" policy kWh cloudsim diff \
  migr cloudsim diff "SLATAH" cloudsim diff PDM cloudsim step_ms
fail=0
while read -r pol e m s d; do
  out=$("$sim" run --trace "$day" --policy "$pol" --format json)
  ge() { echo "$out" | sed -n "s/.*\"$1\": \([-0-9.e+]*\).*/\1/p"; }
  oe=$(ge energy_kwh); om=$(ge migrations); os=$(awk -v x="$(ge slatah)" 'BEGIN{printf "%.2f", x*100}')
  od=$(awk -v x="$(ge pdm)" 'BEGIN{printf "%.3f", x*100}'); st=$(ge step_ms_mean)
  de=$(pct "$oe" "$e"); dm=$(pct "$om" "$m"); ds=$(pct "$os" "$s")
  printf "%-12s %9.2f %9s %7s | %7s %7s %7s | %6s %6s %7s | %6s %6s | %8.3f\n" "$pol" "$oe" "$e" "$de" "$om" "$m" "$dm" \
    "$os" "$s" "$ds" "$od" "$d" "$st"
  awk -v a="$oe" -v b="$e" 'BEGIN{exit !((a-b)/b > 0.03 || (b-a)/b > 0.03)}' && fail=1
  [ "$m" != - ] && awk -v a="$om" -v b="$m" 'BEGIN{exit !((a-b)/b > 0.10 || (b-a)/b > 0.10)}' && fail=1
  [ "$s" != - ] && awk -v a="$os" -v b="$s" 'BEGIN{exit !((a-b)/b > 0.10 || (b-a)/b > 0.10)}' && fail=1
done <<< "$ref"
[ $fail = 0 ] && echo "all within tolerance (energy 3%, migrations and SLATAH 10%)" || echo "some outside tolerance"
