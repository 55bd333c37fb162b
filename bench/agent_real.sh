#!/usr/bin/env bash
# The agent's CPU with N real guests (default 50) at the 5 s metrics interval (issue 4's target: under 1% of one
# core), and libvirtd's CPU over the same window (virConnectGetAllDomainStats and the domain list cost libvirtd
# too: reported apart, not hidden in the agent's figure).
#
# One private test host (tests/integration/lib.sh), yund (without --all-in-one) and a standalone yun-agent for
# that host, both as processes of their own, so /proc/PID/stat of the agent is the agent alone. The guests are
# N yun VMs of the starter image with MEM memory (default 80M: the starter's kernel prints nothing at 64M),
# 1 vCPU each, created through the CLI: the test host has the machine's cores (2 here), so the bench raises
# placement.cpu_ratio to ceil(N / cores) in its private cloud for them to fit. They are TCG guests, so yun's
# XML caps each one's translation cache (<tcg><tb-cache>, hv_tcg_tb_cache_mib: 32 MiB at 80M).
# They are started a few at a time (TCG on shared cores), each batch waited for until its guests print
# YUN-GUEST-READY, then the host is left to settle for SETTLE seconds. Then for INTERVALS metrics intervals
# (default 12 x 5 s = 1 minute) the CPU (utime + stime from /proc/PID/stat, and per thread from
# /proc/PID/task/TID/stat) of the agent, libvirtd, yund and the guests' QEMUs is read at the start and the end.
# Everything is torn down at exit (lib.sh's trap: domains, daemons by pid, namespaces, cgroups).
# usage: [AGENT_REAL_NONET=1] bench/agent_real.sh [BUILD] [N] [INTERVALS] [MEM] [SETTLE]
set -u
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-50}
INTERVALS=${3:-12}
MEM=${4:-80M}
SETTLE=${5:-30}
BATCH=${AGENT_REAL_BATCH:-4}
METRICS_MS=5000
export YUN_BUILD=$BUILD YUN_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$YUN_ROOT/tests/integration/lib.sh"
. "$YUN_ROOT/tests/integration/cloud.sh"

say() { printf '# %s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

URI=$(yun_testhost_up ar) || exit 1
HDIR=$YUN_TEST_DIR/hosts/ar
VIRSH=(virsh -q -c "$URI")
STATE=$YUN_TEST_DIR/state
mkdir -p "$STATE" && chmod 0755 "$STATE"

# yund and the agent as two processes (cloud.sh's yund_start runs --all-in-one, with the agent inside yund)
YUND_PORT=$(free_port)
export YUN_URL="https://127.0.0.1:$YUND_PORT"
yund_trust "$STATE"
"$YUN_BIN/yund" --state-dir "$STATE" --listen "127.0.0.1:$YUND_PORT" >>"$STATE/yund.log" 2>&1 &
YUND_PID=$!
AGENT_PID=""
stop_pid() { # PID: SIGTERM, then SIGKILL after 5 s
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null
  local i
  for i in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
}
yun_on_exit 'stop_pid "$AGENT_PID"'
wait_until 30 "yund up" bash -c "curl -fsS $YUN_URL/healthz && [ -s $STATE/admin.token ]" || { tail "$STATE/yund.log"; exit 1; }
export YUN_TOKEN=$(cat "$STATE/admin.token")
# AGENT_REAL_NONET=1: the guests get no network (--no-guest-network), so none ever has an address and the agent
# asks libvirt for each one's every AGENT_ADDR_ASK_MS: the worst case of that lookup
NET_FLAGS=()
[ "${AGENT_REAL_NONET:-0}" = 1 ] && NET_FLAGS=(--no-guest-network)
# the host enrols as any does: a join token from `yun host add`, spent by the agent's --join
JOIN=$("$YUN_BIN/yun" host add bench-host -o json | jq -r .join_token)
"$YUN_BIN/yun-agent" --controller "$YUN_URL" --join "$JOIN" --state "$STATE/agent" --libvirt-uri "$URI" "${NET_FLAGS[@]}" \
  >>"$STATE/agent.log" 2>&1 &
AGENT_PID=$!
host_up() { [ "$(yun host list -o json | jq -r '.hosts[0].state')" = up ]; }
wait_until 120 "the agent's host up" host_up || { tail "$STATE/agent.log"; exit 1; }
yun settings set metrics.interval_ms "$METRICS_MS" >/dev/null || exit 1
yun image build-starter >/dev/null || exit 1
HOST=$(yun host list -o json | jq -r '.hosts[0].name')
CORES=$(yun host list -o json | jq -r '.hosts[0].cores')
say "yund $YUND_PID, yun-agent $AGENT_PID on host $HOST ($CORES cores), libvirtd $(cat "$HDIR/libvirtd.pid")"

ready() { grep -qs YUN-GUEST-READY "$1"; }
all_ready() { local f; for f in "$@"; do ready "$f" || return 1; done; }

# ---- the guests: all yun VMs, created through the CLI a few at a time ----
# yun counts vCPUs against cores x placement.cpu_ratio: raised in this private cloud so N 1-vCPU guests fit
RATIO=$(((N + CORES - 1) / CORES))
[ "$RATIO" -ge 1 ] || RATIO=1
yun settings set placement.cpu_ratio "$RATIO" >/dev/null || { say "placement.cpu_ratio $RATIO refused"; exit 1; }
say "placement.cpu_ratio $RATIO: the host takes $((CORES * RATIO)) vCPUs"
NY=$N
i=0
while [ "$i" -lt "$N" ]; do
  batch=()
  for _ in $(seq 1 "$BATCH"); do
    [ "$i" -lt "$N" ] || break
    i=$((i + 1))
    yun vm create "ar$i" --image starter --cpus 1 --memory "$MEM" --disk 1G >/dev/null || { say "creating ar$i failed"; exit 1; }
    batch+=("$STATE/vms/$(yun vm show "ar$i" -o json | jq -r .uuid).log")
  done
  wait_until 600 "guests up to ar$i boot" all_ready "${batch[@]}" || { say "ar$i's batch did not boot"; exit 1; }
  say "$i guests ready (load $(cut -d' ' -f1 /proc/loadavg))"
done
running() { "${VIRSH[@]}" list --state-running --name | grep -c .; }
say "settling ${SETTLE}s"
sleep "$SETTLE"

# ---- the window ----
TCK=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime + stime of a process (all threads)
qemu_pids() { # one per line (libvirt writes them without a newline); driver.pid is libvirtd's
  local f
  for f in "$HDIR"/run/qemu/*.pid; do [ "${f##*/}" = driver.pid ] || { cat "$f"; echo; }; done
}
qemu_ticks() { local p s=0; for p in $(qemu_pids); do s=$((s + $(ticks "$p"))); done; echo "$s"; }
threads() { # PID: "TID COMM TICKS" per thread
  local t
  for t in /proc/$1/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"
  done
}
LVD=$(cat "$HDIR/libvirtd.pid")
n0=$(running)
threads "$AGENT_PID" >"$YUN_TEST_DIR/threads0"
a0=$(ticks "$AGENT_PID") l0=$(ticks "$LVD") y0=$(ticks "$YUND_PID") q0=$(qemu_ticks)
t0=$(date +%s.%N)
sleep $((INTERVALS * METRICS_MS / 1000))
a1=$(ticks "$AGENT_PID") l1=$(ticks "$LVD") y1=$(ticks "$YUND_PID") q1=$(qemu_ticks)
t1=$(date +%s.%N)
threads "$AGENT_PID" >"$YUN_TEST_DIR/threads1"
n1=$(running)
kill -0 "$AGENT_PID" 2>/dev/null || { say "the agent died"; tail "$STATE/agent.log"; exit 1; }

pct() { echo "scale=4; ($2 - $1) * 100 / $TCK / ($t1 - $t0)" | bc -l; }
wall=$(echo "$t1 - $t0" | bc -l)
printf 'window %.1f s (%d metrics intervals of %d ms, agent pass interval %s ms), running domains %d -> %d (%d yun VMs), %s each\n' \
  "$wall" "$INTERVALS" "$METRICS_MS" "$(yun settings get agent.interval_ms -o json 2>/dev/null | jq -r .value)" \
  "$n0" "$n1" "$NY" "$MEM"
printf 'yun-agent (whole process) %6.3f %% of one core  (%d ticks of 1/%d s)\n' "$(pct "$a0" "$a1")" $((a1 - a0)) "$TCK"
join -j 1 <(sort "$YUN_TEST_DIR/threads0") <(sort "$YUN_TEST_DIR/threads1") |
  while read -r tid comm t0_ comm1 t1_; do
    printf '  thread %-8s %-16s %6.3f %%\n' "$tid" "$comm" "$(echo "scale=4; ($t1_ - $t0_) * 100 / $TCK / $wall" | bc -l)"
  done
printf 'libvirtd                  %6.3f %% of one core\n' "$(pct "$l0" "$l1")"
printf 'yund                      %6.3f %% of one core\n' "$(pct "$y0" "$y1")"
printf 'the %d QEMUs (the guests) %6.1f %% of one core\n' "$(qemu_pids | wc -l)" "$(pct "$q0" "$q1")"
printf 'yun VMs with an address (a DHCP lease on the guest network): %s of %d\n' \
  "$(yun vm list -o json | jq '[.vms[] | select((.address // "") != "")] | length')" "$NY"
printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
