#!/usr/bin/env bash
# Create -> YUN-GUEST-READY: through yun (CLI -> yund -> scheduler -> agent -> libvirt) against the same
# domain through raw `virsh define` + `virsh start`. Median of N (default 5) each, and their ratio
# (target <= 1.10). Both run on one private test host (tests/integration/lib.sh) with TCG guests from the
# starter image; both are timed from the command until the serial console file holds YUN-GUEST-READY,
# polled every 20 ms in the same way. The raw domain is yun's own XML (virsh dumpxml of a yun VM) with
# another name, uuid, disk and console file, so both boot the same machine.
# usage: bench/create_ready.sh [BUILD] [N]
set -u
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-5}
export YUN_BUILD=$BUILD YUN_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$YUN_ROOT/tests/integration/lib.sh"
. "$YUN_ROOT/tests/integration/cloud.sh"

URI=$(yun_testhost_up bc) || exit 1
VIRSH=(virsh -q -c "$URI")
STATE=$YUN_TEST_DIR/state
yund_start "$STATE" "$URI" || exit 1
wait_until 60 "host registered" bash -c '[ "$(yun host list -o json | jq ".hosts | length")" = 1 ]' || exit 1
yun image build-starter >/dev/null || exit 1

now() { date +%s.%N; }
wait_ready() { # FILE: until it holds the marker
  while ! grep -qs YUN-GUEST-READY "$1"; do sleep 0.02; done
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

base=""
yun_run() { # I
  local i=$1 t0 t1 uuid
  t0=$(now)
  yun vm create "b$i" --image starter --cpus 1 --memory 128M --disk 1G >/dev/null || exit 1
  uuid=$(yun vm show "b$i" -o json | jq -r .uuid)
  wait_ready "$STATE/vms/$uuid.log"
  t1=$(now)
  yun_t+=("$(echo "$t1 - $t0" | bc -l)")
  [ -s "$YUN_TEST_DIR/template.xml" ] || "${VIRSH[@]}" dumpxml "yun-admin-b$i" --inactive > "$YUN_TEST_DIR/template.xml"
  yun vm delete "b$i" --wait >/dev/null
}
raw_run() { # I
  local i=$1 d=$YUN_TEST_DIR/raw$1 u t0 t1
  [ -n "$base" ] || base=$(yun image list -o json | jq -r '.images[] | select(.name=="starter") | .path')
  mkdir -p "$d" && chmod 0755 "$d"
  qemu-img create -q -f qcow2 -b "$base" -F qcow2 "$d/disk.qcow2" 1G
  u=$(cat /proc/sys/kernel/random/uuid)
  python3 - "$YUN_TEST_DIR/template.xml" "$d/dom.xml" "raw$i" "$u" "$d/disk.qcow2" "$d/console.log" <<'PY'
import re, sys
src, dst, name, uuid, disk, con = sys.argv[1:]
x = open(src).read()
x = re.sub(r'<name>[^<]*</name>', f'<name>{name}</name>', x, count=1)
x = re.sub(r'<uuid>[^<]*</uuid>', f'<uuid>{uuid}</uuid>', x, count=1)
x = re.sub(r"(<disk[^>]*>.*?<source file=')[^']*(')", lambda m: m.group(1) + disk + m.group(2), x, count=1, flags=re.S)
x = re.sub(r"(<serial type='file'>\s*<source path=')[^']*(')", lambda m: m.group(1) + con + m.group(2), x, count=1)
x = re.sub(r'<metadata>.*?</metadata>', '', x, flags=re.S)
open(dst, 'w').write(x)
PY
  t0=$(now)
  "${VIRSH[@]}" define "$d/dom.xml" >/dev/null && "${VIRSH[@]}" start "raw$i" >/dev/null || exit 1
  wait_ready "$d/console.log"
  t1=$(now)
  raw_t+=("$(echo "$t1 - $t0" | bc -l)")
  "${VIRSH[@]}" destroy "raw$i" >/dev/null
  "${VIRSH[@]}" undefine "raw$i" >/dev/null
}
# interleaved, so both see the same machine load
yun_t=()
raw_t=()
for i in $(seq 1 "$N"); do
  yun_run "$i"
  raw_run "$i"
done

ym=$(printf '%s\n' "${yun_t[@]}" | median)
rm_=$(printf '%s\n' "${raw_t[@]}" | median)
printf 'yun  create -> YUN-GUEST-READY (s): %s\n' "$(printf '%.2f ' "${yun_t[@]}")"
printf 'virsh define+start -> READY (s):    %s\n' "$(printf '%.2f ' "${raw_t[@]}")"
printf 'median yun %.2f s, median virsh %.2f s, ratio %.3f (target <= 1.10)\n' "$ym" "$rm_" "$(echo "$ym / $rm_" | bc -l)"
printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
