#!/usr/bin/env bash
# yun's own consolidation policy against lr-mmt-1.2 (CloudSim's best of the MMT family) on every day of
# the PlanetLab traces: energy, migrations, SLATAH, PDM, ESV, and whether yun meets its bar (ESV at most
# half of lr-mmt-1.2's, fewer migrations, energy no higher).
#   bench/sim_yun.sh [BUILD_DIR] [PLANETLAB_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
traces=${2:-${YUN_TRACES:-$root/../shared/traces/planetlab}}
sim=$build/src/cmd/yun-sim
[ -x "$sim" ] || { echo "no $sim; build first (make build)" >&2; exit 2; }
[ -d "$traces" ] || { echo "no trace folder $traces; give it as the second argument" >&2; exit 2; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for day in "$traces"/*/; do
  d=$(basename "$day")
  for pol in lr-mmt-1.2 yun; do
    echo "$d $("$sim" run --trace "$day" --policy "$pol")" >> "$tmp"
  done
done
python3 - "$tmp" <<'PY'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    d, js = line.split(' ', 1)
    r = json.loads(js)
    runs.setdefault(d, {})[r['policy']] = r
print('%-9s %5s | %-10s %8s %7s %7s %7s %10s %8s | %s' % ('day', 'VMs', 'policy', 'kWh', 'migr', 'SLATAH%', 'PDM%', 'ESV', 'step_ms', 'yun vs lr-mmt'))
ok_all = True
for d in sorted(runs):
    a, b = runs[d]['lr-mmt-1.2'], runs[d]['yun']
    for r in (a, b):
        note = ''
        if r is b:
            ok = b['esv'] <= 0.5 * a['esv'] and b['migrations'] < a['migrations'] and b['energy_kwh'] <= a['energy_kwh']
            ok_all &= ok
            note = 'ESV x%.3f, migrations x%.3f, energy x%.3f: %s' % (b['esv'] / a['esv'], b['migrations'] / a['migrations'],
                                                                    b['energy_kwh'] / a['energy_kwh'], 'ok' if ok else 'NOT MET')
        print('%-9s %5d | %-10s %8.2f %7d %7.2f %7.4f %10.6f %8.3f | %s' % (d, r['vms'], r['policy'], r['energy_kwh'],
              r['migrations'], r['slatah'] * 100, r['pdm'] * 100, r['esv'], r['step_ms_mean'], note))
print('yun meets the bar on every day' if ok_all else 'yun misses the bar on some day')
PY
