#!/usr/bin/env bash
# Live migration of one TCG guest (the starter image, 1 vCPU, 128 MiB) between two private test hosts on
# one machine (tests/integration/lib.sh: own namespaces and libvirtd each, storage shared at one path), back
# and forth N times (default 6) through src/hv (hv_domain_migrate: virDomainMigrate3 live, persistent on
# the destination, source undefined). Per run: libvirt's completed-job time and downtime, the data sent and
# the wall time of the call; then the medians. The guest must not boot again: one boot banner at the end.
# usage: bench/migrate.sh [BUILD] [N]
set -u
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-6}
export YUN_BUILD=$BUILD YUN_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$YUN_ROOT/tests/integration/lib.sh"

HVC=$BUILD/src/hv/hv-check
IMG=$(yun_starter_image) || exit 1
A=$(yun_testhost_up mA) || exit 1
B=$(yun_testhost_up mB) || exit 1
W=$YUN_TEST_DIR/work
mkdir -p "$W" && chmod 0755 "$W"
"$HVC" overlay "$IMG/base.qcow2" "$W/g.qcow2" 256 || exit 1
UUID=$(cat /proc/sys/kernel/random/uuid)
"$HVC" -c "$A" define --uuid "$UUID" --name "yun-bench-$YUN_TEST_ID" --owner bench --cpus 1 --mem 128 \
  --disk "$W/g.qcow2" --kernel "$IMG/vmlinuz" --initrd "$IMG/initrd.img" --cmdline "$(cat "$IMG/cmdline")" \
  --console "$W/g.log" --accel tcg || exit 1
"$HVC" -c "$A" start "$UUID" || exit 1
for i in $(seq 1 600); do grep -qs YUN-GUEST-READY "$W/g.log" && break; sleep 0.2; done
grep -qs YUN-GUEST-READY "$W/g.log" || { echo "the guest did not boot" >&2; exit 1; }

kv() { sed -n "s/^$1=//p"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
src=$A dst=$B dst_addr=$(yun_testhost_addr mB) src_addr=$(yun_testhost_addr mA)
jobs=() downs=() walls=()
printf "%-4s %-6s %10s %12s %9s %10s\n" run to job_ms downtime_ms data_mib wall_ms
for i in $(seq 1 "$N"); do
  t0=$(date +%s%N)
  out=$("$HVC" -c "$src" migrate "$UUID" "$dst" "tcp://$dst_addr") || { echo "run $i: $out" >&2; exit 1; }
  t1=$(date +%s%N)
  wall=$(((t1 - t0) / 1000000))
  job=$(echo "$out" | kv total_ms) down=$(echo "$out" | kv downtime_ms) data=$(echo "$out" | kv data_mib)
  to=B
  [ "$dst" = "$A" ] && to=A
  printf "%-4s %-6s %10s %12s %9s %10s\n" "$i" "$to" "$job" "$down" "$data" "$wall"
  jobs+=("$job") downs+=("$down") walls+=("$wall")
  tmp=$src src=$dst dst=$tmp
  tmp=$src_addr src_addr=$dst_addr dst_addr=$tmp
done
echo "median job $(printf '%s\n' "${jobs[@]}" | median) ms, downtime $(printf '%s\n' "${downs[@]}" | median) ms," \
  "wall $(printf '%s\n' "${walls[@]}" | median) ms over $N migrations;" \
  "boot banners on the console: $(grep -c 'Linux version' "$W/g.log") (1 = never restarted)"
