#!/usr/bin/env bash
# Live migration of one TCG guest (the starter image, 1 vCPU, 128 MiB) between two private test hosts on
# one machine (tests/integration/lib.sh: own namespaces and libvirtd each, storage shared at one path), N
# times (default 6) by yun, through src/hv (hv_domain_migrate: virDomainMigrate3 live, persistent on the
# destination, source undefined), and N times by a raw `virsh migrate --live` of the same guest, interleaved,
# each way as often for both.
# Per run: libvirt's completed-job time and downtime, the data sent and the wall time of the call; then the
# medians of each, and a last line {"yun_downtime_ms": N, "virsh_downtime_ms": N, "ratio": F} (target: ratio
# <= 1.1). The guest must not boot again: one boot banner at the end.
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
DOM=yun-bench-$YUN_TEST_ID
# the same guest, the same hosts, the same run, interleaved: yun's migration (src/hv, through hv-check) and a
# raw `virsh migrate --live` with the flags that make it the same operation (--persistent --undefinesource
# --unsafe --auto-converge: hv_domain_migrate's), its figures from `virsh domjobinfo --completed` on the
# destination
ms_of() { awk -v k="$1" -F: '$1 ~ k {gsub(/[^0-9]/, "", $2); print $2; exit}'; }
jobs=() downs=() walls=() rjobs=() rdowns=() rwalls=()
addr_of() { [ "$1" = "$A" ] && yun_testhost_addr mA || yun_testhost_addr mB; }
name_of() { [ "$1" = "$A" ] && echo A || echo B; }
yun_once() { # FROM TO
  local t0 t1 out
  t0=$(date +%s%N)
  out=$("$HVC" -c "$1" migrate "$UUID" "$2" "tcp://$(addr_of "$2")") || { echo "yun run $i: $out" >&2; exit 1; }
  t1=$(date +%s%N)
  local wall=$(((t1 - t0) / 1000000)) job down data
  job=$(echo "$out" | kv total_ms) down=$(echo "$out" | kv downtime_ms) data=$(echo "$out" | kv data_mib)
  printf "%-4s %-5s %-6s %10s %12s %9s %10s\n" "$i" "yun" "$(name_of "$1")->$(name_of "$2")" "$job" "$down" "$data" "$wall"
  jobs+=("$job") downs+=("$down") walls+=("$wall")
}
virsh_once() { # FROM TO
  local t0 t1 out info
  t0=$(date +%s%N)
  out=$(virsh -c "$1" migrate --live --persistent --undefinesource --auto-converge --unsafe "$DOM" "$2" \
    "tcp://$(addr_of "$2")" 2>&1) || { echo "virsh run $i: $out" >&2; exit 1; }
  t1=$(date +%s%N)
  local wall=$(((t1 - t0) / 1000000)) job down data
  info=$(virsh -c "$2" domjobinfo --completed "$DOM" 2>&1)
  job=$(echo "$info" | ms_of "Time elapsed") down=$(echo "$info" | ms_of "Total downtime")
  data=$(echo "$info" | awk -F: '$1 ~ /Data processed/ {print $2; exit}' | tr -d ' ')
  printf "%-4s %-5s %-6s %10s %12s %9s %10s\n" "$i" "virsh" "$(name_of "$1")->$(name_of "$2")" "$job" "$down" "$data" "$wall"
  rjobs+=("$job") rdowns+=("$down") rwalls+=("$wall")
}
printf "%-4s %-5s %-6s %10s %12s %9s %10s\n" run who way job_ms downtime_ms data_mib wall_ms
for i in $(seq 1 "$N"); do
  # each way as often for both: yun A->B then virsh B->A, then virsh A->B then yun B->A
  if [ $((i % 2)) = 1 ]; then yun_once "$A" "$B"; virsh_once "$B" "$A"; else virsh_once "$A" "$B"; yun_once "$B" "$A"; fi
done
med() { printf '%s\n' "$@" | median; }
YD=$(med "${downs[@]}") RD=$(med "${rdowns[@]}")
echo "yun:   median job $(med "${jobs[@]}") ms, downtime $YD ms, wall $(med "${walls[@]}") ms over $N migrations"
echo "virsh: median job $(med "${rjobs[@]}") ms, downtime $RD ms, wall $(med "${rwalls[@]}") ms over $N migrations"
echo "boot banners on the console: $(grep -c 'Linux version' "$W/g.log") (1 = never restarted)"
echo "{\"yun_downtime_ms\": $YD, \"virsh_downtime_ms\": $RD, \"ratio\": $(awk -v y="$YD" -v r="$RD" 'BEGIN { printf "%.2f", (r > 0 ? y / r : 0) }')}"
