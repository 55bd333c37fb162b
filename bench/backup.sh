#!/usr/bin/env bash
# Backups, restore and snapshot pause of one TCG guest (the starter image, 1 vCPU, 128 MiB, a 1 GiB disk) on
# a private test host (tests/integration/lib.sh), through the whole of yun: yund --all-in-one, the CLI, the
# agent's jobs (docs/backups.md).
#   1. the guest fills its whole 1 GiB disk (its /cgi-bin/disk op=fill: a 16 MiB random block, written over
#      and over: a backup copies every byte; qcow2 neither compresses nor deduplicates), then a full backup;
#   2. an incremental with nothing changed: the fixed cost of a backup (the job, libvirt, the checksum,
#      yund's answer);
#   3. 1% (10 MiB) changed, incremental; 10% (102 MiB) changed, incremental;
#   4. the host's write speed into backup.dir (dd 1 GiB, conv=fsync): the target is that an incremental takes
#      at most 2 x (changed bytes / write speed + the fixed cost);
#   5. the VM stopped, restore in place from the 10% incremental (its chain of four files rebuilt into 1 GiB);
#   6. the VM started again, N snapshots (default 3) of the running guest: how long it was paused (median).
# Times are the agent's (the job's duration: libvirt's job, rebase and sha256 for a backup), sizes the files'.
# The last line is one JSON object.
# usage: bench/backup.sh [BUILD] [N]
set -u
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-3}
export YUN_BUILD=$BUILD YUN_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$YUN_ROOT/tests/integration/lib.sh"
. "$YUN_ROOT/tests/integration/cloud.sh"

die() { echo "bench/backup.sh: $*" >&2; tail -5 "$STATE/yund.log" >&2 2>/dev/null; exit 1; }
URI=$(yun_testhost_up bb) || die "test host"
export YUND_NETNS=$(yun_testhost_netns bb)
STATE=$YUN_TEST_DIR/state
BK=$YUN_TEST_DIR/backups
mkdir -p "$BK" && chmod 0755 "$BK"
yun_starter_image >/dev/null || die "starter image"
yund_start "$STATE" "$URI" >/dev/null || die "yund"
yun image build-starter >/dev/null 2>&1 || die "build-starter"
yun settings set backup.dir "$BK" >/dev/null || die "backup.dir"
yun vm create bv --image starter --cpus 1 --memory 128M --disk 1G >/dev/null 2>&1 || die "vm create"
wait_until 300 "bv running" vm_state_is bv running >/dev/null || die "bv does not run"
has_addr() { [ -n "$(vm_field bv address)" ]; }
wait_until 180 "bv's address" has_addr >/dev/null || die "no address"
ADDR=$(vm_field bv address)
disk() { in_ns curl -sS -m 900 "http://$ADDR/cgi-bin/disk?$1"; }
up() { disk "op=read&sector=0" >/dev/null 2>&1; }
wait_until 120 "bv's httpd" up >/dev/null || die "bv's httpd"

# backup [--full]: "ID MS BYTES TYPE" of a backup of bv
backup() {
  local j
  j=$(yun vm backup bv "$@" --wait --timeout 1800 -o json) || die "backup failed: $j"
  jq -r '.job | "\(.id) \(.duration_ms) \(.bytes) \(.type)"' <<<"$j"
}
fill() { disk "op=fill&at=$1&mib=$2" | grep -q filled || die "fill $2 MiB at $1"; }

T=$(date +%s.%N)
fill 0 1024
echo "guest filled 1024 MiB in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $T}") s"
read -r FULL FULL_MS FULL_B _ < <(backup --full)
echo "full backup $FULL: $FULL_MS ms, $FULL_B bytes"
read -r NOOP NOOP_MS NOOP_B NOOP_T < <(backup)
[ "$NOOP_T" = incremental ] || die "backup $NOOP is $NOOP_T, not incremental"
echo "incremental, nothing changed (fixed cost) $NOOP: $NOOP_MS ms, $NOOP_B bytes"
fill 100 10
read -r I1 I1_MS I1_B _ < <(backup)
echo "incremental, 1% (10 MiB) changed $I1: $I1_MS ms, $I1_B bytes"
fill 300 102
read -r I10 I10_MS I10_B _ < <(backup)
echo "incremental, 10% (102 MiB) changed $I10: $I10_MS ms, $I10_B bytes"

# the write speed of the backup store's file system
T=$(date +%s.%N)
dd if=/dev/zero of="$BK/speed" bs=1M count=1024 conv=fsync status=none
WS=$(awk "BEGIN{printf \"%.0f\", 1024 / ($(date +%s.%N) - $T)}")
rm -f "$BK/speed"
echo "write speed of backup.dir: $WS MiB/s"
bound() { awk "BEGIN{printf \"%.0f\", 2 * ($1 / $WS * 1000 + $NOOP_MS)}"; }
B1=$(bound 10) B10=$(bound 102)
echo "target: 1% within $B1 ms, 10% within $B10 ms (2 x (changed / write speed + fixed cost $NOOP_MS ms))"

yun vm stop bv --wait --timeout 300 >/dev/null || die "stop"
j=$(yun vm restore "$I10" --wait --timeout 1800 -o json) || die "restore: $j"
R_MS=$(jq -r .job.duration_ms <<<"$j")
echo "restore in place from backup $I10 (chain of 4 files, 1 GiB): $R_MS ms"

yun vm start bv --wait --timeout 300 >/dev/null || die "start"
wait_until 120 "bv's httpd" up >/dev/null
pauses=()
for i in $(seq 1 "$N"); do
  j=$(yun vm snapshot create bv "p$i" --wait --timeout 600 -o json) || die "snapshot: $j"
  pauses+=("$(jq -r .job.pause_ms <<<"$j")")
  yun vm snapshot delete bv "p$i" --wait >/dev/null || die "snapshot delete"
done
PAUSE=$(printf '%s\n' "${pauses[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
echo "snapshot pause of the running 128 MiB guest: ${pauses[*]} ms (median $PAUSE)"

echo "{\"disk_mib\": 1024, \"full_ms\": $FULL_MS, \"full_bytes\": $FULL_B, \"fixed_ms\": $NOOP_MS," \
  "\"inc1_ms\": $I1_MS, \"inc1_bytes\": $I1_B, \"inc10_ms\": $I10_MS, \"inc10_bytes\": $I10_B," \
  "\"write_mib_s\": $WS, \"inc1_bound_ms\": $B1, \"inc10_bound_ms\": $B10, \"restore_ms\": $R_MS," \
  "\"snapshot_pause_ms\": $PAUSE}"
