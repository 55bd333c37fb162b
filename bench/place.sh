#!/usr/bin/env bash
# Static placement (src/place) at data-center scale and its quality, through yun-sim.
#   bench/place.sh [BUILD_DIR] [PLANETLAB_ROOT]
# 1. speed: every algorithm on one synthetic instance of 10,000 hosts and 100,000 VMs, in one process
#    (first-fit's O(log N) index against first-fit-scan in the same run);
# 2. yun against pemm: the utility-curve experiment over 20 seeds at several power costs, and seeded
#    synthetic `place` instances;
# 3. quality on trace-derived instances (one per day folder under PLANETLAB_ROOT): hosts used against the
#    lower bound, CPU-bound (peak demand, memory and network not binding), CloudSim's own VM mix, and mean
#    demand on big-memory hosts (two resources matter: where FFD is weak, docs/placement.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
traces=${2:-${YUN_TRACES:-$root/../shared/traces/planetlab}}
sim=$build/src/cmd/yun-sim
[ -x "$sim" ] || { echo "no $sim; build first (make build)" >&2; exit 2; }

echo "== 1. speed: 10,000 hosts, 100,000 VMs, every algorithm"
echo "   $sim place --hosts 10000 --vms 100000 --algo all --format table"
"$sim" place --hosts 10000 --vms 100000 --algo all --format table

echo
echo "== 2a. utility curve: mean utility minus power over 20 seeds of 100 VMs (best on = seeds where it is best)"
for cost in 4000 8000 12000 16000; do
    echo "   $sim utility-curve --vms 100 --step 100 --seeds 20 --power-cost $cost"
    "$sim" utility-curve --vms 100 --step 100 --seeds 20 --power-cost $cost --algos bs,gm,gmm,emm,pemm,yun
done

echo
echo "== 2b. seeded synthetic instances, 50 hosts, 500 VMs, power cost 12000: utility minus power"
printf '%6s %12s %12s %8s\n' seed pemm yun gain
for seed in 1 2 3 4 5 6 7 8 9 10; do
    out=$("$sim" place --hosts 50 --vms 500 --algo pemm,yun --power-cost 12000 --seed $seed --format table)
    p=$(echo "$out" | awk '$1 == "pemm" {print $6}')
    y=$(echo "$out" | awk '$1 == "yun" {print $6}')
    awk -v s=$seed -v p="$p" -v y="$y" 'BEGIN {printf "%6d %12.0f %12.0f %7.2f%%\n", s, p, y, 100 * (y - p) / p}'
done

if [ -d "$traces" ]; then
    echo
    echo "== 3. quality on trace-derived instances ($traces)"
    printf '%-10s %-28s %5s %8s %8s %8s\n' day instance bound ff ffd bfd
    for day in "$traces"/*/; do
        d=$(basename "$day")
        for kind in cpu cloudsim twod; do
            if [ $kind = cpu ]; then
                args=(--peak --host-kind g5 --host-mem 65536 --host-net 0)
                label="peak CPU, G5, 64G, no net"
            elif [ $kind = cloudsim ]; then
                args=(--host-kind g5)
                label="mean CPU, CloudSim mix, 4G"
            else
                args=(--host-kind g5 --host-mem 65536 --host-net 0)
                label="mean CPU, G5, 64G, no net"
            fi
            "$sim" place --trace "$day" "${args[@]}" --algo first-fit,first-fit-decreasing,best-fit-decreasing \
                --format table | awk -v d="$d" -v l="$label" '
                    NR == 1 {bound = $(NF - 1)}
                    $1 == "first-fit" {ff = $2} $1 == "first-fit-decreasing" {ffd = $2} $1 == "best-fit-decreasing" {bfd = $2}
                    END {printf "%-10s %-28s %5d %8s %8s %8s   (ffd %+.2f%%)\n", d, l, bound, ff, ffd, bfd, 100 * (ffd - bound) / bound}'
        done
    done
fi
