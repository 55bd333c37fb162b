#!/usr/bin/env bash
# The seed's experiment, live (issue 10): VMs added one at a time to a pool of test hosts woken on demand, under
# each of bs, gm, gmm, emm, pemm and yun; utility (sum over the VMs of their utility per MHz x the MHz they got)
# and utility minus power (a cost per host holding VMs) against the VM count, measured from the guests' real
# CPU, beside `yun-sim utility-curve` on the same instance, both as yund places (--online) and from scratch.
#
# The instance is yun-sim's (seed SEED), scaled to the test hosts' one core (--host-mhz: each VM's min and max
# MHz x the host's MHz / 5320); each VM is a TCG starter guest (1 vCPU, 128 MiB) created with that min, max and
# utility, told to use all of its CPU (its httpd's /cgi-bin/load?pct=100), so it uses what its cap lets it:
# the allocation the dispatcher gives it (dispatch.mode auto; its policy dvfs, which migrates nothing, so the
# placement stays the create's). Test hosts (tests/integration/lib.sh) offer one core each (yun-agent --cores
# 1) and are switched off and on by the test power driver: the first host is on, the others on standby until a
# create fits on no host that is on. After each create: wait until the guest runs, its load runs and the
# allocations are applied, then WINDOW seconds of each guest's vCPU time as libvirt counts it on its host
# (virsh domstats --vcpu), in MHz of the host's clock. Memory never binds (hosts of 64 GiB for the
# simulator; the guests' 128 MiB on the test hosts), so CPU decides.
#
# usage: bench/utility_live.sh BUILD [VMS]
#   VMS (default 8): VMs added one at a time; environment: HOSTS (2: this machine has two cores, one per
#   host), SEED (1), ALGOS (bs,gm,gmm,emm,pemm,yun), WINDOW (12 s), POWER_COST (12000 per host scaled as the
#   CPU: 12000 x MHz / 5320), PLOT (a folder for the chart, its data and script; default none), OUT (a
#   folder for the run's files, kept: the instance as yun-sim printed it, static.json and online.json, and each
#   step's guests, live.jsonl; default: the test's, removed at exit), FROM (a folder a run's OUT: only the
#   summary and chart again, from its files, e.g. after joining the live.jsonl of several runs).
# Prints a table per algorithm and ends with one JSON line:
#   {"mhz": M, "power_cost": C, "algos": {"bs": [{"vms": 1, "live": {"utility", "utility_minus_power",
#    "alloc_utility", "hosts", "rejected"}, "sim_online": {...}, "sim_static": {...}}, ...], ...}}
set -u
BUILD=$(cd "${1:?usage: bench/utility_live.sh BUILD [VMS]}" && pwd)
VMS=${2:-8}
HOSTS=${HOSTS:-2} SEED=${SEED:-1} ALGOS=${ALGOS:-bs,gm,gmm,emm,pemm,yun} WINDOW=${WINDOW:-12} PLOT=${PLOT:-}
export YUN_BUILD=$BUILD YUN_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$YUN_ROOT/tests/integration/lib.sh"
. "$YUN_ROOT/tests/integration/cloud.sh"
die() {
  echo "utility_live: $*" >&2
  tail -15 "$STATE/yund.log" 2>/dev/null | sed 's/^/# yund: /' >&2
  exit 1
}
W=${FROM:-${OUT:-$YUN_TEST_DIR/bench}}
STATE=$YUN_TEST_DIR/state
mkdir -p "$W"
W=$(cd "$W" && pwd)
[ -z "$PLOT" ] || PLOT=$(mkdir -p "$PLOT" && cd "$PLOT" && pwd)
if [ -z "${FROM:-}" ]; then

NAMES=()
for i in $(seq 1 "$HOSTS"); do
  yun_testhost_up "u$i" >/dev/null || die "test host u$i did not start"
  NAMES+=("u$i")
done
yund_start "$STATE" none >&2 || die "yund did not start"
for kv in "metrics.interval_ms 2000" "dispatch.interval_ms 3000" "dispatch.policy dvfs" "dispatch.cooldown_ms 0" \
  "dispatch.balance_threshold_pct 100" "power.headroom_hosts 0" "placement.cpu_ratio 16"; do
  yun settings set $kv >/dev/null || die "yun settings set $kv"
done
powered_agents "$STATE" "" "--cores 1" "${NAMES[@]}" >&2 || die "the hosts did not come up with the test power driver"
yun image build-starter >/dev/null 2>&1 || die "yun image build-starter failed"
MHZ=$(yun host list -o json | jq '.hosts[0].mhz')
COST=${POWER_COST:-$((12000 * MHZ / 5320))}
CURVE=("$BUILD/src/cmd/yun-sim" utility-curve --vms "$VMS" --step 1 --seed "$SEED" --hosts "$HOSTS" --host-mhz "$MHZ"
  --host-mem 65536 --power-cost "$COST" --algos "$ALGOS" --format json)
"${CURVE[@]}" >"$W/static.json" || die "yun-sim utility-curve failed"
"${CURVE[@]}" --online >"$W/online.json" || die "yun-sim utility-curve --online failed"
echo "# $HOSTS test hosts of 1 core x $MHZ MHz; $VMS VMs of yun-sim's utility-curve instance (seed $SEED), power cost $COST per host"
echo "# the VMs (min/max MHz, utility): $(jq -r '[.vms[] | "\(.min_mhz)/\(.max_mhz)/u\(.utility)"] | join(" ")' "$W/static.json")"
printf 'MHZ=%s\nCOST=%s\nALGOS=%s\n' "$MHZ" "$COST" "$ALGOS" >"$W/run.env"

state_of() { yun host show "$1" -o json | jq -r .state; }
ready() { vm_state_is "$1" running && [ -n "$(vm_field "$1" address)" ] && yun vm console-log "$1" | grep -q YUN-GUEST-READY; }
# every VM of the run has its allocation and its host has applied it as the cap libvirt holds the guest to
applied() {
  local name host dom s alloc want period
  yun vm list -o json >"$W/vms.json"
  while read -r name host dom alloc; do
    [ "$alloc" -gt 0 ] || return 1
    want=$(((alloc * 100 + MHZ - 1) / MHZ)) # model_vm_effective_cap: % of the core, rounded up
    [ "$want" -ge 100 ] && continue         # all of the core: no cap
    s=$(virsh -c "$(yun_testhost_uri "$host")" schedinfo "$dom" --live 2>/dev/null)
    period=$(awk '$1 == "vcpu_period" { print $3 }' <<<"$s")
    [ -n "$period" ] && [ "$(awk '$1 == "vcpu_quota" { print $3 }' <<<"$s")" = $((period * want / 100)) ] || return 1
  done < <(jq -r '.vms[] | select(.state == "running") | "\(.name) \(.host) \(.domain) \(.alloc_mhz)"' "$W/vms.json")
}
load() { # VM PCT: the guest's /cgi-bin/load from its host's namespace (the guests' network is their host's)
  ip netns exec "$(yun_testhost_netns "$(vm_field "$1" host)")" \
    curl -sS -m 5 -o /dev/null "http://$(vm_field "$1" address)/cgi-bin/load?pct=$2"
}
cputime() { # HOST DOMAIN: "WHEN NS": the time the guest's vCPUs ran, in ns, as libvirt counts it (the cap holds
  # these threads; QEMU's own thread is not the guest's and not capped), and when (the middle of the call: each
  # guest is timed over its own interval, as a call takes a few tenths of a second here)
  local a b ns
  a=$(date +%s.%N)
  ns=$(virsh -c "$(yun_testhost_uri "$1")" domstats --vcpu "$2" | awk -F= '/vcpu\.[0-9]+\.time=/ { t += $2 } END { printf "%.0f", t }')
  b=$(date +%s.%N)
  awk -v a="$a" -v b="$b" -v ns="$ns" 'BEGIN { printf "%.3f %s\n", (a + b) / 2, ns }'
}

: >"$W/live.jsonl"
IFS=, read -ra ALIST <<<"$ALGOS"
for algo in "${ALIST[@]}"; do
  # the pool: the first host on, the others on standby; the dispatcher advises meanwhile, so it neither puts
  # an empty host on standby nor allocates before the algorithm is in force
  yun settings set dispatch.mode advise >/dev/null
  yun settings set placement.algorithm "$algo" >/dev/null || die "placement.algorithm $algo"
  is_state() { [ "$(state_of "$1")" = "$2" ]; }
  wait_until 120 "${NAMES[0]} up or on standby" eval 'is_state "${NAMES[0]}" up || is_state "${NAMES[0]}" standby'
  is_state "${NAMES[0]}" up || yun host wake "${NAMES[0]}" >/dev/null || die "waking ${NAMES[0]}"
  wait_until 120 "${NAMES[0]} up" is_state "${NAMES[0]}" up || die "${NAMES[0]} did not come up ($(state_of "${NAMES[0]}"))"
  for n in "${NAMES[@]:1}"; do
    wait_until 120 "$n up or on standby" eval 'is_state "$n" up || is_state "$n" standby'
    is_state "$n" standby || yun host standby "$n" >/dev/null || die "standby for $n"
    wait_until 120 "$n on standby" is_state "$n" standby || die "$n did not go on standby ($(state_of "$n"))"
  done
  yun settings set dispatch.mode auto >/dev/null
  rejected=0
  for m in $(seq 1 "$VMS"); do
    read -r min max u < <(jq -r ".vms[$((m - 1))] | \"\(.min_mhz) \(.max_mhz) \(.utility)\"" "$W/static.json")
    name="$algo-$m"
    if ! out=$(yun vm create "$name" --image starter --cpus 1 --memory 128M --disk 1G --min-mhz "$min" \
      --max-mhz "$max" --utility "$u" 2>&1); then
      echo "$out" | grep -qi "no host\|no_capacity\|capacity" || die "creating $name: $out"
      rejected=$((rejected + 1))
      echo "# $algo: $name ($min/$max MHz, utility $u) rejected: $out" >&2
    else
      wait_until 900 "$name ready" ready "$name" || die "$name did not boot ($(vm_field "$name" state): $(vm_field "$name" error))"
      load "$name" 100 || die "the load of $name"
    fi
    wait_until 120 "the allocations applied" applied || die "the allocations were not applied ($(cat "$W/vms.json"))"
    sleep 3 # a pass for the caps to bite before the window
    jq -r '.vms[] | select(.state == "running") | "\(.name) \(.host) \(.domain)"' "$W/vms.json" >"$W/run"
    declare -A t0=()
    while read -r v h d; do t0[$v]=$(cputime "$h" "$d"); done <"$W/run"
    sleep "$WINDOW"
    row="[]"
    while read -r v h d; do
      t1=$(cputime "$h" "$d")
      row=$(jq -c --arg v "$v" --arg h "$h" --argjson mhz "$(awk -v a="${t0[$v]}" -v b="$t1" -v f="$MHZ" \
        'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.1f", (y[2] - x[2]) / 1e9 / (y[1] - x[1]) * f }')" \
        --argjson j "$(jq -c --arg v "$v" '.vms[] | select(.name == $v) | {utility, alloc_mhz, max_mhz, min_mhz}' "$W/vms.json")" \
        '. + [$j + {name: $v, host: $h, mhz: $mhz}]' <<<"$row")
    done <"$W/run"
    unset t0
    on=$(yun host list -o json | jq '[.hosts[] | select(.state != "standby")] | length')
    printf '{"algo": "%s", "vms": %d, "rejected": %d, "hosts_on": %d, "guests": %s}\n' "$algo" "$m" "$rejected" "$on" \
      "$row" >>"$W/live.jsonl"
    echo "# $algo, $m VMs: $(tail -1 "$W/live.jsonl" | jq -c '[.guests[] | "\(.name)@\(.host) u\(.utility) alloc \(.alloc_mhz) got \(.mhz)"]')" >&2
  done
  for m in $(seq 1 "$VMS"); do yun vm delete "$algo-$m" >/dev/null 2>&1; done
  gone() { [ "$(yun vm list -o json | jq '.vms | length')" = 0 ]; }
  wait_until 180 "the VMs of $algo deleted" gone || die "the VMs of $algo were not deleted"
done

else
  . "$W/run.env"
fi

python3 - "$W" "$COST" "$MHZ" "$ALGOS" "$PLOT" <<'PY'
import json, os, subprocess, sys
w, cost, mhz, algos, plot = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(','), sys.argv[5]
static, online = json.load(open(f'{w}/static.json')), json.load(open(f'{w}/online.json'))
live = [json.loads(l) for l in open(f'{w}/live.jsonl')]
out = {}
for a in algos:
    rows = []
    for r in (x for x in live if x['algo'] == a):
        g = r['guests']
        hosts = len({x['host'] for x in g})
        util = sum(x['utility'] * x['mhz'] for x in g)
        au = sum(x['utility'] * x['alloc_mhz'] for x in g)
        sim = lambda j: {k: j['rows'][r['vms'] - 1][a][k] for k in ('utility', 'utility_minus_power', 'hosts', 'rejected')}
        rows.append({'vms': r['vms'],
                     'live': {'utility': round(util), 'utility_minus_power': round(util - cost * hosts),
                              'alloc_utility': round(au), 'hosts': hosts, 'rejected': r['rejected']},
                     'sim_online': sim(online), 'sim_static': sim(static)})
    out[a] = rows
    print(f'# {a}: VMs | live utility (allocated) / utility-power / hosts / rejected | yun-sim --online | yun-sim from scratch')
    for x in rows:
        l, o, s = x['live'], x['sim_online'], x['sim_static']
        print(f"#  {x['vms']:2d} | {l['utility']:6d} ({l['alloc_utility']:6d}) / {l['utility_minus_power']:6d} / {l['hosts']} / {l['rejected']}"
              f" | {o['utility']:8.0f} / {o['utility_minus_power']:8.0f} / {o['hosts']} / {o['rejected']}"
              f" | {s['utility']:8.0f} / {s['utility_minus_power']:8.0f} / {s['hosts']} / {s['rejected']}")
if plot:
    with open(f'{plot}/utility-live.dat', 'w') as f:
        f.write('# vms' + ''.join(f' {a}_live {a}_live_net {a}_sim {a}_sim_net' for a in algos) + '\n')
        n = max(len(out[a]) for a in algos)
        for i in range(n):
            f.write(str(i + 1))
            for a in algos:
                x = out[a][i] if i < len(out[a]) else None
                f.write(' ' + (' '.join(str(v) for v in (x['live']['utility'], x['live']['utility_minus_power'],
                        x['sim_online']['utility'], x['sim_online']['utility_minus_power'])) if x else '? ? ? ?'))
            f.write('\n')
    with open(f'{plot}/utility-live.gp', 'w') as f:
        f.write(f"set terminal pngcairo size 1100,480 noenhanced\nset key left top\nset grid\nset xlabel 'VMs'\n"
                f"set output '{plot}/utility-live.png'\nset multiplot layout 1,2\n")
        for which, title in ((0, 'utility: live (points) and yun-sim --online (lines)'),
                             (1, f'utility - power ({cost:.0f} per host with VMs)')):
            f.write(f"set title '{title}'\nplot ")
            f.write(', '.join(f"'{plot}/utility-live.dat' using 1:{2 + 4 * i + which} with points pt {7 + i % 3} lc {i + 1} title '{a} live', "
                              f"'' using 1:{4 + 4 * i + which} with lines lc {i + 1} dt 2 notitle" for i, a in enumerate(algos)))
            f.write('\n')
        f.write('unset multiplot\n')
    subprocess.run(['gnuplot', f'{plot}/utility-live.gp'], check=True)
    print(f'# chart: {plot}/utility-live.png')
print(json.dumps({'mhz': mhz, 'power_cost': cost, 'algos': out}))
PY
