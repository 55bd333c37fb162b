#!/usr/bin/env bash
# The dispatcher, live (issue 10): yund alone, and three real test hosts (lib.sh), each with its own libvirtd
# and yun-agent, switched off and on by the test power driver (testhost-power.sh: its agent and libvirtd
# really stop, and start again), through yund's script driver. Two TCG starter guests, each held to 60% of a
# core (--cpu-cap 60), the hosts offering one core each (yun-agent --cores 1):
#   - advise: the plan empties v2's host onto v1's (v1 runs at 20%, v2 idles) and puts the empty third host on
#     standby, each with its reason, and nothing changes: no VM moves, every host stays on;
#   - auto: the same move is made, live; then the two emptied hosts go on standby (their libvirtd stops);
#   - v2 at 30% and v1 raised to 90% (held at 60% by its cap) on the full host: overloaded under yun, with no
#     host on to take a VM, so the dispatcher wakes a standby host (libvirtd and agent start, it reports: up)
#     and moves a VM there, live;
#   - emm with v1's max at 40% of a core: its allocation is its cap, read back from libvirt's schedinfo, and
#     the guest at load 90 is measured near 40%;
#   - no VM moved twice within the cooldown (60 s here); every decision has its reason.
# TAP on stdout.
set -u
. "$(dirname "$0")/lib.sh"
TAP_DIAG='tail -4 "$STATE/yund.log"; for n in A B C; do tail -2 "$YUN_TEST_DIR/hosts/$n/agent.log" 2>/dev/null; done'
. "$(dirname "$0")/cloud.sh"
STATE=$YUN_TEST_DIR/state
POWER=$YUN_ROOT/tests/integration/testhost-power.sh
COOLDOWN_S=60

for n in A B C; do
  yun_testhost_up "$n" >/dev/null || { tap_fail "test host $n starts"; tap_done; exit 1; }
done
tap_ok "three test hosts: A, B and C"
yund_start "$STATE" none || { tap_fail "yund starts"; tap_done; exit 1; }
tap_ok "yund starts (no agent of its own)"
# vCPUs overcommitted 4:1, as a consolidating cloud runs (with 1, two 1-vCPU VMs never share a 1-core host)
for kv in "placement.algorithm worst-fit" "placement.cpu_ratio 4" "metrics.interval_ms 2000" "dispatch.interval_ms 5000" \
  "dispatch.cooldown_ms $((COOLDOWN_S * 1000))" "power.headroom_hosts 0"; do
  yun settings set $kv >/dev/null || tap_fail "yun settings set $kv"
done

# each host's agent, started by the power driver's "on" as a booting machine would start it
powered_agents "$STATE" host "--cores 1" A B C && tap_ok "the three agents register: three hosts up" ||
  tap_fail "three hosts up, each with the test power driver"
hosts_up() { [ "$(yun host list -o json | jq '[.hosts[] | select(.state == "up")] | length')" = "$1" ]; }
yun host show hostA -o json | jq -e '.cores == 1' >/dev/null && tap_ok "yun-agent --cores 1: the host offers one core" ||
  tap_fail "hostA's cores: $(yun host show hostA -o json | jq .cores)"
yun host show hostB -o json | jq -e '.power.driver == "script"' >/dev/null &&
  tap_ok "each host's power driver: the test driver, through yund's script driver" || tap_fail "hostB's power driver"
libvirtd_runs() { local p=$YUN_TEST_DIR/hosts/$1/libvirtd.pid; [ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null; }

if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi
for v in v1 v2; do
  out=$(yun vm create $v --image starter --cpus 1 --memory 128M --disk 1G --cpu-cap 60 2>&1) || tap_fail "create $v: $out"
done
X=$(vm_field v1 host)
Y=$(vm_field v2 host)
[ "$X" != "$Y" ] && tap_ok "v1 on $X, v2 on $Y (worst-fit spreads them)" || tap_fail "v1 and v2 on two hosts: $X, $Y"
ready() { vm_state_is "$1" running && [ -n "$(vm_field "$1" address)" ] && yun vm console-log "$1" | grep -q YUN-GUEST-READY; }
for v in v1 v2; do
  wait_until 300 "$v ready" ready $v && tap_ok "$v runs and has an address ($(vm_field $v address))" ||
    tap_fail "$v ready (state $(vm_field $v state), address '$(vm_field $v address)': $(vm_field $v error))"
done
ADDR1=$(vm_field v1 address)
ADDR2=$(vm_field v2 address)
ns_of() { yun_testhost_netns "${1#host}"; }
# load VM PCT: the guest's /cgi-bin/load, from the host it runs on (the guests' network is that host's)
load() {
  local vm=$1 addr
  [ "$vm" = v1 ] && addr=$ADDR1 || addr=$ADDR2
  ip netns exec "$(ns_of "$(vm_field "$vm" host)")" curl -sS -m 20 "http://$addr/cgi-bin/load?pct=$2" 2>&1
}
[ "$(load v1 20)" = 20 ] && tap_ok "v1 runs at 20%, v2 idles" || tap_fail "setting v1's load: $(load v1 20)"

# ---- advise: a plan, with reasons; nothing changes ----
dispatch() { admin_api GET /v1/dispatch; }
advised() { dispatch | jq -r '.plan[] | select(.kind == "evacuation") | "\(.vm) \(.from) \(.to)"' | head -1; }
# the first rounds see the guests' boot; once v1's load shows, the least busy host is v2's
planned() { [ "$(advised)" = "admin/v2 $Y $X" ]; }
wait_until 90 "v2's host emptied in the plan" planned &&
  tap_ok "advise: a round plans to empty $Y (v2, idle) onto $X (v1, at 20%)" ||
  tap_fail "the advised move: '$(advised)'; $(dispatch | jq -c '{skipped, plan}')"
ADV=$(advised)
dispatch | jq -e '.plan | length > 0 and all(.reason != "" and (.outcome | startswith("advised")))' >/dev/null &&
  tap_ok "each planned decision has its reason and is only advised" || tap_fail "the plan: $(dispatch | jq -c .plan)"
sleep 15 # three more rounds
[ "$(vm_field v1 host)" = "$X" ] && [ "$(vm_field v2 host)" = "$Y" ] && hosts_up 3 &&
  libvirtd_runs A && libvirtd_runs B && libvirtd_runs C &&
  [ "$(admin_api GET /v1/dispatch/log | jq '.decisions | length')" = 0 ] &&
  tap_ok "advise changes nothing: no VM moved, every host is up, its libvirtd runs, the log is empty" ||
  tap_fail "advise changed something: v1 on $(vm_field v1 host), v2 on $(vm_field v2 host); $(yun host list | tr '\n' '|')"

# ---- auto: the same move, then the emptied hosts on standby ----
yun settings set dispatch.mode auto >/dev/null
log() { admin_api GET /v1/dispatch/log; }
wait_until 120 "v2 on $X" bash -c "[ \"\$(yun vm show v2 -o json | jq -r '.host + \" \" + .state')\" = '$X running' ]" &&
  tap_ok "auto: v2 moved live to $X" || tap_fail "v2 on $X: $(vm_field v2 host) $(vm_field v2 state)"
DONE=$(log | jq -r '[.decisions[] | select(.kind == "evacuation" and .outcome == "started")] | last | "\(.vm) \(.from) \(.to)"')
[ "$DONE" = "$ADV" ] && tap_ok "the move made is the one advise showed ($DONE)" || tap_fail "made '$DONE', advised '$ADV'"
standby() { [ "$(yun host show "$1" -o json | jq -r .state)" = standby ]; }
Z=$(yun host list -o json | jq -r --arg x "$X" --arg y "$Y" '.hosts[] | select(.name != $x and .name != $y) | .name')
for h in "$Y" "$Z"; do
  wait_until 120 "$h on standby" standby "$h" && tap_ok "$h is on standby" ||
    tap_fail "$h on standby: $(yun host show "$h" -o json | jq -r .state)"
  libvirtd_runs "${h#host}" && tap_fail "$h's libvirtd still runs" ||
    tap_ok "$h's libvirtd is stopped (the test power driver)"
done
! timeout 10 virsh -c "$(yun_testhost_uri "${Y#host}")" version >/dev/null 2>&1 &&
  tap_ok "virsh cannot reach $Y's libvirt" || tap_fail "$Y's libvirt still answers"
log | jq -e '[.decisions[] | select(.kind == "standby" and .outcome == "started")] | length == 2' >/dev/null &&
  tap_ok "the log has both standby decisions" || tap_fail "standby decisions: $(log | jq -c '[.decisions[] | {kind, from, outcome}]')"

# ---- the full host overloaded: a host wakes, a VM moves there ----
[ "$(load v2 30)" = 30 ] && [ "$(load v1 90)" = 90 ] && tap_ok "v2 at 30%, v1 raised to 90% (held at 60% by its cap) on $X" ||
  tap_fail "setting the loads"
woke() { log | jq -e '[.decisions[] | select(.kind == "wake" and .outcome == "started")] | length > 0' >/dev/null; }
wait_until 120 "a wake decision" woke && tap_ok "the dispatcher wakes a host: $(log | jq -r '[.decisions[] | select(.kind == "wake")] | last | .reason')" ||
  tap_fail "a wake decision: $(dispatch | jq -c '{skipped, plan}')"
W=$(log | jq -r '[.decisions[] | select(.kind == "wake")] | last | .from')
wait_until 90 "$W up" bash -c "[ \"\$(yun host show $W -o json | jq -r .state)\" = up ]" &&
  libvirtd_runs "${W#host}" && tap_ok "$W woke: its libvirtd and agent run again, it is up" ||
  tap_fail "$W up: $(yun host show "$W" -o json | jq -r .state)"
one_on_w() { [ "$(yun vm list -o json | jq --arg w "$W" '[.vms[] | select(.host == $w and .state == "running")] | length')" = 1 ]; }
wait_until $((COOLDOWN_S + 120)) "a VM on $W" one_on_w && tap_ok "a VM moved to $W" ||
  tap_fail "a VM on $W: v1 $(vm_field v1 host), v2 $(vm_field v2 host)"
M=$(yun vm list -o json | jq -r --arg w "$W" '.vms[] | select(.host == $w) | .name')
[ "$(virsh -q -c "$(yun_testhost_uri "${W#host}")" domstate "yun-admin-$M" 2>/dev/null)" = running ] &&
  tap_ok "$W's libvirt runs $M" || tap_fail "$W's libvirt: $M not running"
log | jq -e --arg w "$W" '[.decisions[] | select(.to == $w and .outcome == "started" and (.kind == "overload" or .kind == "balance"))] | length == 1' >/dev/null &&
  tap_ok "the move: $(log | jq -r --arg w "$W" '[.decisions[] | select(.to == $w and .outcome == "started")] | last | .reason')" ||
  tap_fail "a move to $W in the log: $(log | jq -c '[.decisions[] | {kind, vm, to, outcome}]')"

# ---- emm: v1's allocation is its cap, in libvirt and in the guest ----
HMHZ=$(yun host show "$X" -o json | jq .mhz)
MAX=$((HMHZ * 40 / 100))
yun vm set v1 --max-mhz "$MAX" >/dev/null && yun settings set placement.algorithm emm >/dev/null
allocated() { [ "$(vm_field v1 alloc_mhz)" = "$MAX" ]; }
wait_until 60 "v1's allocation" allocated && tap_ok "emm allocates v1 its max: $MAX MHz of its ${HMHZ} MHz core" ||
  tap_fail "v1's allocation: $(vm_field v1 alloc_mhz), wanted $MAX"
capped() {
  local s period quota
  s=$(virsh -c "$(yun_testhost_uri "$(vm_field v1 host | sed 's/^host//')")" schedinfo yun-admin-v1 --live 2>/dev/null)
  period=$(awk '$1=="vcpu_period"{print $3}' <<<"$s")
  quota=$(awk '$1=="vcpu_quota"{print $3}' <<<"$s")
  [ -n "$period" ] && [ "$quota" = $((period * ((MAX * 100 + HMHZ - 1) / HMHZ) / 100)) ]
}
wait_until 60 "schedinfo shows the allocation" capped && tap_ok "virsh schedinfo on $(vm_field v1 host): v1's vcpu_quota is its allocation" ||
  tap_fail "schedinfo: $(virsh -c "$(yun_testhost_uri "$(vm_field v1 host | sed 's/^host//')")" schedinfo yun-admin-v1 --live 2>&1 | tr '\n' ' ')"
cpu1() { yun top --once -o json | jq -r '.vms[] | select(.name == "v1") | .metrics.cpu_pct // empty'; }
held() { local c; c=$(cpu1); [ -n "$c" ] && awk -v c="$c" 'BEGIN { exit !(c > 25 && c < 48) }'; }
sleep 8 # samples under the new cap
wait_until 60 "v1 held near 40%" held && tap_ok "v1 at load 90 is measured at $(cpu1)% CPU: held to its allocation" ||
  tap_fail "v1's CPU under a 40% allocation: $(cpu1)"

# ---- the cooldown and the reasons, over the whole run ----
log | jq -e --argjson c $((COOLDOWN_S * 1000)) '[.decisions[] | select(.vm != "" and .outcome == "started")] |
    group_by(.vm) | all(sort_by(.at_ms) | [range(1; length) as $i | .[$i].at_ms - .[$i - 1].at_ms] | all(. >= $c))' >/dev/null &&
  tap_ok "no VM moved twice within its cooldown ($COOLDOWN_S s)" || tap_fail "moves: $(log | jq -c '[.decisions[] | {vm, at_ms, outcome}]')"
log | jq -e '.decisions | length >= 4 and all(.reason | length > 20)' >/dev/null &&
  tap_ok "every decision ($(log | jq '.decisions | length')) has its reason" || tap_fail "reasons: $(log | jq -c '[.decisions[] | .reason]')"
log | jq -r '.decisions | reverse[] | "# \(.kind) \(.vm) \(.from) -> \(.to): \(.outcome)"'
tap_done
