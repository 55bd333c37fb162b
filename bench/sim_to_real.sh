#!/usr/bin/env bash
# The simulator against the real thing (issue 10): small TCG starter guests on private test hosts
# (tests/integration/lib.sh: own namespaces, libvirtd and yun-agent each; switched off and on by the test power
# driver, tests/integration/testhost-power.sh) replay a stretch of PlanetLab-format CPU traces, time-compressed,
# under yund's live dispatcher in auto mode; then yun-sim runs the very same traces, hosts and VMs. Side by side:
#   host_seconds  the hosts' time on (not on standby), in trace seconds (live: real seconds x 300 / STEP)
#   migrations    live migrations the dispatcher started / the simulator planned
#   shortfall     the CPU the VMs asked for but did not get, over all they asked for (live: each guest's
#                 measured CPU against its trace's value while that value is in force, a sample after each
#                 change; sim: its sla_overall)
# usage: bench/sim_to_real.sh BUILD TRACE_DIR [VMS]
#   VMS (default 4): the first VMS files of TRACE_DIR in name order, one guest each (1 vCPU, 128 MiB);
#   environment: HOSTS (3), START (0: the first sample of the stretch), STEPS (36 samples: three hours of
#   PlanetLab's day), STEP (20: seconds each 5-minute sample lasts live, and the dispatcher's interval),
#   POLICY (yun; any name `yun-sim policies` lists, e.g. lr-mmt-1.2).
# The defaults finish in about 15 minutes here. The dispatcher runs with what the simulator models: no cooldown,
# no migration limit, no balancing beside the policy, no spare host kept on (power.headroom_hosts 0).
# Last line: {"live": {"host_seconds": N, "migrations": N, "shortfall": F}, "sim": {...the same keys}}.
set -u
BUILD=$(cd "${1:?usage: bench/sim_to_real.sh BUILD TRACE_DIR [VMS]}" && pwd)
TRACES=$(cd "${2:?usage: bench/sim_to_real.sh BUILD TRACE_DIR [VMS]}" && pwd)
VMS=${3:-4}
HOSTS=${HOSTS:-3} START=${START:-0} STEPS=${STEPS:-36} STEP=${STEP:-20} POLICY=${POLICY:-yun}
export YUN_BUILD=$BUILD YUN_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$YUN_ROOT/tests/integration/lib.sh"
. "$YUN_ROOT/tests/integration/cloud.sh"
die() { echo "sim_to_real: $*" >&2; exit 1; }
W=$YUN_TEST_DIR/bench
STATE=$YUN_TEST_DIR/state
mkdir -p "$W/trace"

# ---- the stretch of the traces: VMS files, STEPS samples from START ----
mapfile -t FILES < <(ls "$TRACES" | sort | head -n "$VMS")
[ "${#FILES[@]}" = "$VMS" ] || die "$TRACES has ${#FILES[@]} trace files, fewer than $VMS"
for f in "${FILES[@]}"; do
  tail -n +$((START + 1)) "$TRACES/$f" | head -n "$STEPS" >"$W/trace/$f"
  [ "$(wc -l <"$W/trace/$f")" = "$STEPS" ] || die "$f has fewer than $((START + STEPS)) samples"
done
echo "# $VMS VMs (${FILES[0]} ...), samples $START..$((START + STEPS - 1)) of $TRACES, $HOSTS hosts, ${STEP} s per sample, policy $POLICY"

# ---- the cloud: HOSTS test hosts, each powered by the test driver ----
NAMES=()
for i in $(seq 1 "$HOSTS"); do
  yun_testhost_up "s$i" >/dev/null || die "test host s$i did not start"
  NAMES+=("s$i")
done
yund_start "$STATE" none >&2 || die "yund did not start"
for kv in "placement.algorithm first-fit" "metrics.interval_ms 2000" "dispatch.interval_ms $((STEP * 1000))" \
  "dispatch.cooldown_ms 0" "dispatch.max_migrations 64" "dispatch.balance_threshold_pct 100" \
  "power.headroom_hosts 0" "dispatch.policy $POLICY"; do
  yun settings set $kv >/dev/null || die "yun settings set $kv"
done
powered_agents "$STATE" "" "" "${NAMES[@]}" || die "the hosts did not come up, each with the test power driver"
yun image build-starter >/dev/null 2>&1 || die "yun image build-starter failed"
for i in $(seq 1 "$VMS"); do
  yun vm create "v$i" --image starter --cpus 1 --memory 128M --disk 1G >/dev/null 2>&1 || die "creating v$i"
done
ready() { vm_state_is "$1" running && [ -n "$(vm_field "$1" address)" ] && yun vm console-log "$1" | grep -q YUN-GUEST-READY; }
for i in $(seq 1 "$VMS"); do
  wait_until 400 "v$i ready" ready "v$i" || die "v$i did not boot ($(vm_field "v$i" state))"
done
ADDR=()
for i in $(seq 1 "$VMS"); do ADDR[$i]=$(vm_field "v$i" address); done
MHZ=$(yun host list -o json | jq '.hosts[0].mhz')
CORES=$(yun host list -o json | jq '.hosts[0].cores')
MEM=$(yun host list -o json | jq '.hosts[0].memory_mib')
echo "# hosts of $CORES cores x $MHZ MHz, $MEM MiB; the guests booted: $(yun vm list -o json | jq -r '[.vms[] | "\(.name)@\(.host)"] | join(" ")')"

# ---- the replay ----
# load I PCT: guest vI's /cgi-bin/load, from the host it runs on (the guests' network is its host's)
load() {
  local host
  host=$(jq -r --arg v "v$1" '.vms[] | select(.name == $v) | .host' "$W/vms.json")
  ip netns exec "$(yun_testhost_netns "$host")" curl -sS -m 5 -o /dev/null "http://${ADDR[$1]}/cgi-bin/load?pct=$2" 2>/dev/null
}
# created two to a host as the simulator places them (at their full size); from now on vCPUs are overcommitted,
# as the simulator's hosts take any VMs whose CPU use fits
yun settings set placement.cpu_ratio 8 >/dev/null
yun settings set dispatch.mode auto >/dev/null
T0=$(date +%s.%N)
: >"$W/polls"
for k in $(seq 0 $((STEPS - 1))); do
  yun vm list -o json >"$W/vms.json"
  pids=()
  for i in $(seq 1 "$VMS"); do
    pct=$(sed -n "$((k + 1))p" "$W/trace/${FILES[$((i - 1))]}" | awk '{printf "%d", $1 + 0.5}')
    load "$i" "$pct" &
    pids+=($!)
  done
  wait "${pids[@]}" # not yund, also a child of this shell
  end=$(awk -v t="$T0" -v k="$k" -v s="$STEP" 'BEGIN { printf "%.3f", t + (k + 1) * s }')
  # polls: time, the step, the hosts' states, each VM's latest CPU sample
  while awk -v e="$end" -v n="$(date +%s.%N)" 'BEGIN { exit !(n < e - 1) }'; do
    printf '{"t": %s, "k": %d, "hosts": %s, "top": %s}\n' "$(date +%s.%N)" "$k" \
      "$(yun host list -o json | jq -c '[.hosts[] | .state]')" \
      "$(yun top --once -o json | jq -c '[.vms[] | {name, cpu: .metrics.cpu_pct}]')" >>"$W/polls"
    sleep 1
  done
  while awk -v e="$end" -v n="$(date +%s.%N)" 'BEGIN { exit !(n < e) }'; do sleep 0.1; done
done
yun settings set dispatch.mode advise >/dev/null
admin_api GET "/v1/dispatch/log?limit=500" >"$W/log.json"
echo "# live decisions: $(jq -r '[.decisions[] | .kind + ":" + (.outcome | split(":")[0])] | group_by(.) | map("\(.[0]) x\(length)") | join(", ")' "$W/log.json")"

# ---- the same through the simulator ----
SIM=$("$BUILD/src/cmd/yun-sim" run --trace "$W/trace" --policy "$POLICY" --hosts "$HOSTS" \
  --host-mips $((CORES * MHZ)) --host-ram "$MEM" --vm-mips "$MHZ" --vm-ram 128) || die "yun-sim failed"
echo "# yun-sim: $SIM"

python3 - "$W" "$STEP" "$SIM" "${FILES[@]}" <<'PY'
import json, sys
w, step, sim = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
files = sys.argv[4:]
trace = [[float(x) for x in open(f'{w}/trace/{f}')] for f in files]
polls = [json.loads(l) for l in open(f'{w}/polls')]
log = json.load(open(f'{w}/log.json'))['decisions']
host_s, asked, short, prev = 0.0, 0.0, 0.0, None
start = {}
for p in polls:
    start.setdefault(p['k'], p['t'])
for p in polls:
    if prev is not None and prev['k'] >= 1:  # the simulator charges from its first step, one sample in
        host_s += (p['t'] - prev['t']) * sum(1 for s in prev['hosts'] if s != 'standby')
    prev = p
    if p['t'] - start[p['k']] < 5:  # the new load shows in the sample after next (2 s metrics)
        continue
    for v in p['top']:
        i = int(v['name'][1:]) - 1
        if v['cpu'] is None or i >= len(trace):
            continue
        a = trace[i][p['k']]
        asked += a
        short += max(0.0, a - v['cpu'])
live = {'host_seconds': round(host_s * 300 / step), 'migrations': sum(1 for d in log if d['vm'] and d['outcome'] == 'started'),
        'shortfall': round(short / asked, 5) if asked else 0}
simk = {'host_seconds': round(sim['host_seconds']), 'migrations': sim['migrations'], 'shortfall': round(sim['sla_overall'], 5)}
for key in live:
    l, s = live[key], simk[key]
    print(f'# {key:13s} live {l:>10} sim {s:>10}  ' + (f'live/sim {l / s:.2f}' if s else ''))
print(json.dumps({'live': live, 'sim': simk}))
PY
