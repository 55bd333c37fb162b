#!/usr/bin/env bash
# Live migration and host drain with two real test hosts sharing one file system (lib.sh): yund
# --all-in-one is host A's agent, a yun-agent is host B's, each with its host's libvirt URI and migration
# address. A TCG guest boots on A; `yun host drain A --wait` moves it to B live: B's libvirt runs it, A's
# has nothing, the guest was not booted again (one boot banner on its console, which kept its history),
# its uptime goes on, and A is drained. Then a VM that fits nowhere is named with its reason and stays.
# Prints the migration's job time and downtime (yund's log) and the drain's wall time.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

A=$(yun_testhost_up A) || { tap_fail "test host A starts"; tap_done; exit 1; }
B=$(yun_testhost_up B) || { tap_fail "test host B starts"; tap_done; exit 1; }
tap_ok "two test hosts: A at $(yun_testhost_addr A), B at $(yun_testhost_addr B)"
STATE=$YUN_TEST_DIR/state
yund_start "$STATE" "$A" --migrate-addr "$(yun_testhost_addr A)" || { tap_fail "yund starts"; tap_done; exit 1; }
tap_ok "yund --all-in-one runs host A's agent"

# host B: an agent of its own, with VNC on its management address (A's stays on loopback), in the same namespace as yund (it reaches yund on loopback and B's libvirtd
# through its socket); stopped by pid at exit
AGENT_B_PID=""
"$YUN_BIN/yun-agent" --controller "$YUN_URL" --join "$(host_join hostB)" --state "$STATE/agent-B" --libvirt-uri "$B" \
  --migrate-addr "$(yun_testhost_addr B)" --mgmt-addr "$(yun_testhost_addr B)" > "$STATE/agent-B.log" 2>&1 &
AGENT_B_PID=$!
_agent_b_stop() {
  [ -n "$AGENT_B_PID" ] && kill -TERM "$AGENT_B_PID" 2> /dev/null
  local i
  for i in $(seq 1 100); do kill -0 "$AGENT_B_PID" 2> /dev/null || break; sleep 0.1; done
  kill -KILL "$AGENT_B_PID" 2> /dev/null
}
yun_on_exit _agent_b_stop

hosts_up() { [ "$(yun host list -o json | jq '[.hosts[] | select(.state == "up")] | length')" = 2 ]; }
wait_until 60 "two hosts up" hosts_up && tap_ok "both hosts registered and up" ||
  { tap_fail "both hosts registered"; tail -5 "$STATE/agent-B.log" | sed 's/^/# /'; }
yun host list | sed 's/^/# /'
yun host show hostB -o json | jq -e --arg a "$(yun_testhost_addr B)" '.migrate_addr == $a' > /dev/null &&
  tap_ok "host B registered its migration address" || tap_fail "host B's migrate_addr"

if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi

# ---- a guest on A ----
yun host disable hostB > /dev/null # so first-fit puts web1 on A whatever the ids
out=$(yun vm create web1 --image starter --cpus 1 --memory 128M --disk 1G 2>&1)
echo "$out" | sed 's/^/# /'
yun host enable hostB > /dev/null
[ "$(vm_field web1 host)" = hostA ] && tap_ok "web1 is placed on host A" || tap_fail "web1 on A ($(vm_field web1 host))"
wait_until 120 "web1 running" vm_state_is web1 running && tap_ok "web1 runs on A" ||
  tap_fail "web1 runs (state $(vm_field web1 state): $(vm_field web1 error))"
wait_until 180 "YUN-GUEST-READY" bash -c 'yun vm console-log web1 | grep -q YUN-GUEST-READY' &&
  tap_ok "web1's console shows YUN-GUEST-READY" || tap_fail "web1's console shows YUN-GUEST-READY"
UUID=$(vm_field web1 uuid)
STARTED=$(vm_field web1 started_ms)
CONSOLE=$STATE/vms/$UUID.log
boots() { grep -c "Linux version" "$CONSOLE"; }
BOOTS=$(boots)
[ "$BOOTS" = 1 ] && tap_ok "one boot banner on web1's console" || tap_fail "boot banners before: $BOOTS"
domstate() { virsh -q -c "$1" domstate yun-admin-web1 2> /dev/null; }
[ "$(domstate "$A")" = running ] && tap_ok "virsh on A: running" || tap_fail "virsh on A: $(domstate "$A")"

# ---- a migration that cannot work leaves the guest where it is (hv level, through hv-check) ----
HVC=$YUN_BUILD/src/hv/hv-check
if [ -x "$HVC" ]; then
  err=$("$HVC" -c "$A" migrate "$UUID" "qemu+unix:///system?socket=$YUN_TEST_DIR/nowhere" 2>&1)
  rc=$?
  [ $rc = 1 ] && grep -q "yun-admin-web1" <<< "$err" && grep -q "nowhere" <<< "$err" &&
    tap_ok "a migration to an unreachable host fails naming the VM and the target" ||
    tap_fail "failed migration's message (rc $rc): $err"
  [ "$(domstate "$A")" = running ] && tap_ok "after the failure web1 still runs on A" ||
    tap_fail "web1 after a failed migration: $(domstate "$A")"
else
  tap_fail "hv-check is built"
fi

# ---- drain A ----
T0=$(date +%s.%N)
out=$(yun host drain hostA --wait --timeout 300 2>&1)
rc=$?
T1=$(date +%s.%N)
echo "$out" | sed 's/^/# /'
DRAIN_S=$(awk "BEGIN{printf \"%.1f\", $T1 - $T0}")
[ $rc = 0 ] && tap_ok "yun host drain hostA --wait ends (${DRAIN_S} s)" || tap_fail "drain --wait (rc $rc)"
[ "$(vm_field web1 host)" = hostB ] && tap_ok "web1 is on host B" || tap_fail "web1's host: $(vm_field web1 host)"
wait_until 60 "web1 running on B" vm_state_is web1 running && tap_ok "web1's state is running" ||
  tap_fail "web1's state: $(vm_field web1 state)"
[ "$(domstate "$B")" = running ] && tap_ok "virsh on B: running" || tap_fail "virsh on B: $(domstate "$B")"
[ -z "$(virsh -q -c "$A" list --all --name 2> /dev/null | grep -x yun-admin-web1)" ] &&
  tap_ok "virsh on A: no yun-admin-web1 (not even defined)" || tap_fail "A still has yun-admin-web1"
virsh -q -c "$B" list --all --persistent --name | grep -qx yun-admin-web1 &&
  tap_ok "web1 is persistent on B" || tap_fail "web1 persistent on B"
vnc_listen() { virsh -q -c "$1" dumpxml yun-admin-web1 | grep -o "<graphics type='vnc'[^>]*" | grep -o "listen='[^']*'"; }
[ "$(vnc_listen "$B")" = "listen='$(yun_testhost_addr B)'" ] &&
  tap_ok "on B, VNC listens on B's management address ($(vnc_listen "$B"))" || tap_fail "VNC on B: $(vnc_listen "$B")"
sleep 3 # a restarted guest would print its banner within this; a live one prints nothing new
[ "$(boots)" = 1 ] && grep -q YUN-GUEST-READY "$CONSOLE" &&
  tap_ok "no second boot: still one boot banner, and the console kept its history" ||
  tap_fail "boot banners after: $(boots)"
[ "$(vm_field web1 started_ms)" = "$STARTED" ] && tap_ok "web1's uptime goes on (started_ms unchanged)" ||
  tap_fail "started_ms $STARTED -> $(vm_field web1 started_ms)"
[ "$(yun host show hostA -o json | jq -r .state)" = drained ] && tap_ok "yun host show hostA: drained" ||
  tap_fail "host A: $(yun host show hostA -o json | jq -r .state)"
yun host list | grep -q "hostA.*drained" && tap_ok "yun host list shows A drained" || tap_fail "host list"
[ "$(vm_field web1 migrate_error)" = "" ] && tap_ok "no migration error recorded" ||
  tap_fail "migrate_error: $(vm_field web1 migrate_error)"
# host A's agent runs inside yund (all-in-one): its log line has libvirt's completed-job figures
MIG=$(grep -o "migrated live to host [0-9]*: [0-9]* ms, downtime [-0-9]* ms, [0-9]* MiB" "$STATE/yund.log" | tail -1)
[ -n "$MIG" ] && tap_ok "the source agent's log: $MIG" || tap_fail "the agent logged the migration's figures"
tap_diag "drain of one 128 MiB TCG guest: ${DRAIN_S} s wall; $MIG"
# the same figures, kept with the VM: yun vm show (and the API, and the portal) say them
MS=$(grep -o "migrated live to host [0-9]*: [0-9]* ms" <<<"$MIG" | grep -o "[0-9]* ms" | grep -o "[0-9]*")
[ -n "$MS" ] && [ "$(vm_field web1 migration_ms)" = "$MS" ] && [ "$(vm_field web1 migration_downtime_ms)" != 0 ] &&
  yun vm show web1 | grep -E "^migration: +$MS" > /dev/null &&
  tap_ok "web1 keeps its migration's time ($MS ms) and downtime ($(vm_field web1 migration_downtime_ms) ms)" ||
  tap_fail "web1's migration figures: $(vm_field web1 migration_ms) ms, $(vm_field web1 migration_downtime_ms) ms"

# ---- back and forth: vm migrate --to, live, by name ----
yun host enable hostA > /dev/null
out=$(yun vm migrate web1 --to hostA --wait --timeout 300 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc = 0 ] && [ "$(vm_field web1 host)" = hostA ] && [ "$(domstate "$A")" = running ] &&
  tap_ok "yun vm migrate web1 --to hostA --wait: back on A, running" || tap_fail "vm migrate back (rc $rc)"
[ "$(boots)" = 1 ] && tap_ok "still one boot after two migrations" || tap_fail "boots: $(boots)"
[ "$(vnc_listen "$A")" = "listen='127.0.0.1'" ] && tap_ok "back on A, VNC listens on loopback again" ||
  tap_fail "VNC on A: $(vnc_listen "$A")"

# ---- a VM that fits nowhere: named, with the resource, and left where it is ----
MEM=$(yun host show hostA -o json | jq .memory_mib)
BIG=$((MEM * 2 / 3))
yun vm create big --image starter --memory "${BIG}M" --disk 1G --stopped > /dev/null 2>&1 &&
  yun vm create hog --image starter --memory "${BIG}M" --disk 1G --stopped > /dev/null 2>&1 &&
  tap_ok "two stopped VMs of ${BIG} MiB each (only one fits a host)" || tap_fail "create big and hog"
BIGHOST=$(vm_field big host)
tap_diag "big on $BIGHOST, hog on $(vm_field hog host), web1 on $(vm_field web1 host)"
out=$(yun host drain "$BIGHOST" --wait --timeout 300 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
# the scarce resource is memory, or cores on a 2-core machine (web1 and hog hold both of the other's)
[ $rc != 0 ] && grep -q "admin/big.*cannot leave $BIGHOST: no host has" <<< "$out" &&
  grep -Eq "free (memory|cores)" <<< "$out" &&
  tap_ok "drain --wait says big cannot leave, naming the resource" || tap_fail "drain of $BIGHOST with big (rc $rc)"
[ "$(vm_field big host)" = "$BIGHOST" ] && vm_field big migrate_error | grep -Eq "free (memory|cores)" &&
  tap_ok "big stays on $BIGHOST; its migrate_error: $(vm_field big migrate_error)" ||
  tap_fail "big: host $(vm_field big host), error $(vm_field big migrate_error)"
[ "$(yun host show "$BIGHOST" -o json | jq -r .state)" = draining ] && tap_ok "$BIGHOST stays draining" ||
  tap_fail "$BIGHOST: $(yun host show "$BIGHOST" -o json | jq -r .state)"
[ "$(domstate "$(yun_testhost_uri A)")" = running ] || [ "$(domstate "$B")" = running ] &&
  tap_ok "web1 runs on (wherever the drain put it)" || tap_fail "web1 runs"

# ---- cleanup through yun: deletes leave nothing ----
yun host enable hostA > /dev/null
yun host enable hostB > /dev/null
for v in web1 big hog; do yun vm delete "$v" --wait > /dev/null 2>&1; done
left=$( (virsh -q -c "$A" list --all --name; virsh -q -c "$B" list --all --name) | grep -c '^yun-admin-')
[ "$left" = 0 ] && tap_ok "deletes leave no yun domain on either host" || tap_fail "$left yun domains left"

tap_done
