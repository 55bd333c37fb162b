#!/usr/bin/env bash
# What QEMU's TCG translation cache costs the host: the resident memory (VmRSS of the QEMU process) of a starter
# guest as yun defines it (<features><tcg><tb-cache>: hv_tcg_tb_cache_mib, 32 MiB for a small guest) against the
# same domain without the <tcg> element (QEMU's default: 1 GiB on this host, filled as code is translated), and
# each one's boot time (start -> YUN-GUEST-READY on the serial console, polled every 20 ms). One private test
# host (tests/integration/lib.sh), TCG, one guest at a time, N rounds (default 3) interleaved so both see the
# same load; RSS read at READY and SETTLE seconds later (default 20: the cache keeps filling after boot).
# usage: bench/tcg_rss.sh [BUILD] [N] [MEM] [SETTLE]
set -u
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-3}
MEM=${3:-80M}
SETTLE=${4:-20}
export YUN_BUILD=$BUILD YUN_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$YUN_ROOT/tests/integration/lib.sh"
. "$YUN_ROOT/tests/integration/cloud.sh"

URI=$(yun_testhost_up tr) || exit 1
HDIR=$YUN_TEST_DIR/hosts/tr
VIRSH=(virsh -q -c "$URI")
STATE=$YUN_TEST_DIR/state
yund_start "$STATE" "$URI" || exit 1
wait_until 60 "host registered" bash -c '[ "$(yun host list -o json | jq ".hosts | length")" = 1 ]' || exit 1
yun image build-starter >/dev/null || exit 1

now() { date +%s.%N; }
wait_ready() { # FILE: until it holds the marker (at most 300 s)
  local end=$((SECONDS + 300))
  while ! grep -qs YUN-GUEST-READY "$1"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.02
  done
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
rss_mib() { # DOMAIN: VmRSS of its QEMU in MiB
  local pid
  pid=$(cat "$HDIR/run/qemu/$1.pid" 2>/dev/null) || { echo 0; return; }
  awk '/^VmRSS:/ {printf "%d\n", $2 / 1024}' "/proc/$pid/status"
}

# yun's XML for a starter guest (virsh dumpxml of a yun VM), then two copies of it with a name, uuid, disk and
# console of their own and without yun's metadata (strangers the agent leaves alone): tr-yun as yun wrote it,
# tr-default without the <tcg> element. Both started with virsh, so they are timed alike.
yun vm create t1 --image starter --cpus 1 --memory "$MEM" --disk 1G >/dev/null || exit 1
wait_until 300 "t1 running" vm_state_is t1 running || exit 1
"${VIRSH[@]}" dumpxml yun-admin-t1 --inactive >"$YUN_TEST_DIR/yun.xml"
yun vm delete t1 --wait >/dev/null || exit 1
TB=$(grep -o "<tb-cache[^<]*</tb-cache>" "$YUN_TEST_DIR/yun.xml")
[ -n "$TB" ] || { echo "# yun's XML has no <tb-cache>: is the host's accel tcg?"; exit 1; }
BASE=$(yun image list -o json | jq -r '.images[] | select(.name=="starter") | .path')
copy() { # NAME KEEP-TCG(1|0)
  local d=$YUN_TEST_DIR/$1
  mkdir -p "$d" && chmod 0755 "$d"
  qemu-img create -q -f qcow2 -b "$BASE" -F qcow2 "$d/disk.qcow2" 1G || return 1
  python3 - "$YUN_TEST_DIR/yun.xml" "$d/dom.xml" "$1" "$(cat /proc/sys/kernel/random/uuid)" "$d/disk.qcow2" \
    "$d/console.log" "$2" <<'PY' || return 1
import re, sys
src, dst, name, uuid, disk, con, keep = sys.argv[1:]
x = open(src).read()
x = re.sub(r'<name>[^<]*</name>', f'<name>{name}</name>', x, count=1)
x = re.sub(r'<uuid>[^<]*</uuid>', f'<uuid>{uuid}</uuid>', x, count=1)
x = re.sub(r"(<disk[^>]*>.*?<source file=')[^']*(')", lambda m: m.group(1) + disk + m.group(2), x, count=1, flags=re.S)
x = re.sub(r"(<source path=')[^']*(')", lambda m: m.group(1) + con + m.group(2), x)
x = re.sub(r'<metadata>.*?</metadata>', '', x, flags=re.S)
x = re.sub(r'<mac address=[^/]*/>', '', x)
if keep != '1':
    x = re.sub(r'\s*<tcg>.*?</tcg>', '', x, flags=re.S)  # QEMU's default translation cache
open(dst, 'w').write(x)
PY
  "${VIRSH[@]}" define "$d/dom.xml" >/dev/null || return 1
  yun_on_exit "virsh -q -c '$URI' destroy $1 >/dev/null 2>&1; virsh -q -c '$URI' undefine $1 >/dev/null 2>&1"
}
copy tr-yun 1 && copy tr-default 0 || exit 1

run() { # DOMAIN CONSOLE-LOG KIND
  local t0 t1 r0 r1
  rm -f "$2"
  t0=$(now)
  "${VIRSH[@]}" start "$1" >/dev/null || exit 1
  wait_ready "$2" || { echo "# $1 did not boot"; exit 1; }
  t1=$(now)
  r0=$(rss_mib "$1")
  sleep "$SETTLE"
  r1=$(rss_mib "$1")
  "${VIRSH[@]}" destroy "$1" >/dev/null
  printf '%-8s boot %5.2f s  RSS at READY %4d MiB, %ds later %4d MiB\n' "$3" "$(echo "$t1 - $t0" | bc -l)" "$r0" \
    "$SETTLE" "$r1"
  eval "${3}_boot+=($(echo "$t1 - $t0" | bc -l)); ${3}_rss+=($r1)"
}
yun_boot=() yun_rss=() default_boot=() default_rss=()
for i in $(seq 1 "$N"); do
  run tr-yun "$YUN_TEST_DIR/tr-yun/console.log" yun
  run tr-default "$YUN_TEST_DIR/tr-default/console.log" default
done
printf 'guest %s, 1 vCPU; yun: %s\n' "$MEM" "$TB"
printf 'median yun     boot %.2f s, RSS %d MiB\n' "$(printf '%s\n' "${yun_boot[@]}" | median)" \
  "$(printf '%s\n' "${yun_rss[@]}" | median)"
printf 'median default boot %.2f s, RSS %d MiB\n' "$(printf '%s\n' "${default_boot[@]}" | median)" \
  "$(printf '%s\n' "${default_rss[@]}" | median)"
printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
