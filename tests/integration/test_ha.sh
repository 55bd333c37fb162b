#!/usr/bin/env bash
# HA (issue 11): a host that dies costs its VMs seconds, never a double run. yund alone and three real test
# hosts (lib.sh) on one shared storage (the test's folder), each with its own libvirtd, virtlockd (libvirt's
# lock manager, one lockspace for all) and yun-agent, whose power the test driver (testhost-power.sh) switches
# and cuts (fence) through yund's script driver. Two TCG starter guests start on host A; then:
#   1. A frozen (every process of the machine stopped, as a hung host): suspect, then judged dead: fenced
#      through its power driver, its VMs started on B or C, each exactly once (libvirt on every host that
#      answers, and the QEMU processes of the machine); A back: nothing runs twice, and virtlockd refuses to
#      start A's own copy of a disk that runs on another host
#   2. only the agent of the VMs' host killed: agent-lost (its libvirt answers yund), nothing moves, nothing
#      restarts; the agent back: up
#   3. the libvirtd of the VMs' host killed (its guests run on without it), and yund killed -9 while the host
#      is libvirt-down and started again: fenced after ha.dead_ms, dead, the VMs each run once elsewhere
export YUN_TESTHOST_LOCKD=1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"
TAP_DIAG='tail -25 "$STATE/yund.log"; for h in A B C; do echo "# $h:"; tail -5 "$YUN_TEST_DIR/hosts/$h/agent.log" 2>/dev/null; done'

STATE=$YUN_TEST_DIR/state
POWER=$YUN_ROOT/tests/integration/testhost-power.sh
for n in A B C; do
  yun_testhost_up "$n" >/dev/null || { tap_fail "test host $n starts"; tap_done; exit 1; }
done
yund_start "$STATE" none || { tap_fail "yund starts"; tap_done; exit 1; }
tap_ok "three test hosts (A, B, C) with virtlockd, and yund"
for kv in "agent.interval_ms 1000" "ha.suspect_ms 3000" "ha.dead_ms 8000" "dispatch.mode off"; do
  yun settings set $kv >/dev/null || tap_fail "yun settings set $kv"
done
powered_agents "$STATE" "" "" A B C && tap_ok "three hosts up, each with the test power driver" ||
  { tap_fail "three hosts up"; tap_done; exit 1; }
if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi

# both VMs on A: the others disabled while they are created
yun host disable B >/dev/null && yun host disable C >/dev/null
for v in v1 v2; do
  out=$(yun vm create $v --image starter --cpus 1 --memory 128M --disk 1G 2>&1) || tap_fail "create $v: $out"
done
yun host enable B >/dev/null && yun host enable C >/dev/null
ready() { vm_state_is "$1" running && yun vm console-log "$1" | grep -q YUN-GUEST-READY; }
for v in v1 v2; do
  wait_until 300 "$v ready" ready $v || tap_fail "$v ready (state $(vm_field $v state): $(vm_field $v error))"
done
[ "$(vm_field v1 host)" = A ] && [ "$(vm_field v2 host)" = A ] && tap_ok "v1 and v2 run on A" ||
  tap_fail "v1 and v2 on A: $(vm_field v1 host), $(vm_field v2 host)"
U1=$(vm_field v1 uuid)
U2=$(vm_field v2 uuid)

qemus() { vm_qemus "$@"; }
libvirt_runs() { vm_libvirt_hosts "$1" A B C; }
once() { vm_once "$1" "$2" A B C; }
say_vm() { vm_say "$1" A B C; }
procs_of() { find "$(cgroup_of "$1" pids)" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u; }

# ---- 1. A frozen ----
echo FROZEN >"$(cgroup_of A freezer)/freezer.state"
T0=$SECONDS
wait_until 20 "A suspect" host_is A suspect && tap_ok "A frozen: suspect after $((SECONDS - T0)) s" ||
  tap_fail "A suspect: $(host_state A)"
both_once() { once v1 "$1" && once v2 "$1"; }
if wait_until 90 "v1 and v2 run once, elsewhere" both_once A; then
  tap_ok "A judged dead and fenced; v1 and v2 run on $(vm_field v1 host) and $(vm_field v2 host), each exactly once, $((SECONDS - T0)) s after the freeze"
else
  tap_fail "v1 and v2 once, not on A: $(say_vm v1); $(say_vm v2)"
fi
host_is A dead && tap_ok "A is dead" || tap_fail "A's state: $(host_state A)"
[ "$(procs_of A)" = "$(cat "$YUN_TEST_DIR/hosts/A/virtlogd.pid")" ] &&
  tap_ok "the fence cut A: nothing of it runs but its virtlogd (the wiring)" ||
  tap_fail "A's processes: $(procs_of A | tr '\n' ' ')"
yun dispatch log -o json | jq -e '[.decisions[] | select(.kind == "fence" and .from == "A" and (.reason | test("fenced")))] | length == 1' >/dev/null &&
  tap_ok "the fence is in the log with its reason ($(yun dispatch log -o json | jq -r '.decisions[] | select(.kind == "fence") | .reason' | head -1 | cut -c1-100)...)" ||
  tap_fail "the fence decision: $(yun dispatch log -o json | jq -c '[.decisions[] | select(.kind == "fence")]')"
yun dispatch log -o json | jq -e '[.decisions[] | select(.kind == "restart" and .from == "A")] | length == 2' >/dev/null &&
  tap_ok "two restarts in the log, from A" || tap_fail "restarts: $(yun dispatch log -o json | jq -c '[.decisions[] | select(.kind == "restart")]')"

# A back: its libvirtd still has v1's and v2's definitions (shut off by the cut); nothing starts them
yun host wake A >/dev/null || tap_fail "yun host wake A"
wait_until 60 "A up" host_is A up && tap_ok "A woken: up again" || tap_fail "A up: $(host_state A)"
sleep 3
once v1 A && once v2 A && tap_ok "A back: v1 and v2 still run once each, not on A" ||
  tap_fail "after A is back: $(say_vm v1); $(say_vm v2)"
gone_from_a() { ! timeout 5 virsh -c "$(yun_testhost_uri A)" list --all --uuid | grep -qx "$U1\|$U2"; }
wait_until 20 "A's stale definitions undefined" gone_from_a && tap_ok "A's agent undefined its stale copies" ||
  tap_fail "A's domains: $(timeout 5 virsh -c "$(yun_testhost_uri A)" list --all | tr '\n' '|')"
# two guards against a second copy of a disk: a domain of A's own on v1's disk, which runs on another host,
# does not start. QEMU's own image lock refuses it first (libvirt starts QEMU paused, and takes the lock
# manager's lease only when it resumes it, after QEMU opened the disk); behind it, v1's host's virtlockd holds
# the disk's lease in the lockspace every host shares (named by the sha256 of the disk's path), which no
# other process can take
B1=$(vm_field v1 host)
LEASE=$YUN_TEST_DIR/lockspace/$(printf %s "$STATE/vms/$U1.qcow2" | sha256sum | cut -d' ' -f1)
held() { python3 -c 'import fcntl, sys
f = open(sys.argv[1], "r+")
try:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(0)
sys.exit(1)' "$1"; }
[ -f "$LEASE" ] && held "$LEASE" && tap_ok "v1's disk lease in the shared lockspace is held (by $B1's virtlockd)" ||
  tap_fail "v1's lease $LEASE: $(ls "$YUN_TEST_DIR/lockspace")"
timeout 10 virsh -c "$(yun_testhost_uri "$B1")" dumpxml "$U1" |
  sed -e "s|<uuid>$U1</uuid>|<uuid>$(cat /proc/sys/kernel/random/uuid)</uuid>|" -e 's|<name>[^<]*</name>|<name>intruder</name>|' \
    -e '/<metadata>/,/<\/metadata>/d' >"$YUN_TEST_DIR/intruder.xml"
timeout 10 virsh -c "$(yun_testhost_uri A)" define "$YUN_TEST_DIR/intruder.xml" >/dev/null 2>&1
out=$(timeout 30 virsh -c "$(yun_testhost_uri A)" start intruder 2>&1)
rc=$?
[ $rc != 0 ] && echo "$out" | grep -q 'Failed to get "write" lock' && [ "$(qemus "$U1")" = 1 ] &&
  tap_ok "a second copy of v1's disk on A does not start: QEMU's image lock refuses it" ||
  tap_fail "starting a copy of v1's disk on A: rc $rc: $out"
timeout 10 virsh -c "$(yun_testhost_uri A)" destroy intruder >/dev/null 2>&1
timeout 10 virsh -c "$(yun_testhost_uri A)" undefine intruder >/dev/null 2>&1

# ---- 2. only the agent of v1's host killed ----
H=$(vm_field v1 host)
kill -9 "$(cat "$YUN_TEST_DIR/hosts/$H/agent.pid")"
T0=$SECONDS
if wait_until 40 "$H agent-lost" host_is "$H" agent-lost; then
  tap_ok "$H's agent killed: $H is agent-lost after $((SECONDS - T0)) s (its libvirt answers)"
else
  tap_fail "$H agent-lost: $(host_state "$H")"
fi
sleep 3
[ "$(vm_field v1 host)" = "$H" ] && [ "$(libvirt_runs "$U1")" = "$H " ] && [ "$(qemus "$U1")" = 1 ] &&
  tap_ok "no failover: v1 runs on where it was, once" || tap_fail "after $H's agent died: $(say_vm v1)"
yun dispatch log -o json | jq -e "[.decisions[] | select(.kind == \"restart\" and .from == \"$H\")] | length == 0" >/dev/null &&
  tap_ok "nothing restarted from $H" || tap_fail "restarts from $H: $(yun dispatch log -o json | jq -c '[.decisions[] | select(.kind == "restart")]')"
bash "$POWER" "$YUN_TEST_DIR/hosts/$H" on
wait_until 30 "$H up" host_is "$H" up && vm_state_is v1 running && tap_ok "the agent back: $H up, v1 running" ||
  tap_fail "$H after its agent came back: $(host_state "$H"); $(say_vm v1)"

# ---- 3. the libvirtd of v1's host killed, and yund killed -9 while it is suspect ----
H=$(vm_field v1 host)
kill -9 "$(cat "$YUN_TEST_DIR/hosts/$H/libvirtd.pid")"
T0=$SECONDS
[ "$(qemus "$U1")" = 1 ] && tap_ok "$H's libvirtd killed: v1's QEMU runs on without it" || tap_fail "v1's QEMU: $(qemus "$U1")"
wait_until 20 "$H libvirt-down" host_is "$H" libvirt-down && tap_ok "$H is libvirt-down: its agent says so" ||
  tap_fail "$H libvirt-down: $(host_state "$H")"
yund_kill9
sleep 2
yund_start "$STATE" none && tap_ok "yund killed -9 while $H is libvirt-down, and started again" || tap_fail "yund restarts"
not_h() { once v1 "$H" && once v2 "$H"; }
if wait_until 90 "v1 and v2 run once, not on $H" not_h; then
  tap_ok "$H judged dead and fenced; v1 and v2 run on $(vm_field v1 host) and $(vm_field v2 host), each once, $((SECONDS - T0)) s after its libvirtd died"
else
  tap_fail "v1 and v2 once, not on $H: $(say_vm v1); $(say_vm v2)"
fi
host_is "$H" dead && tap_ok "$H is dead" || tap_fail "$H's state: $(host_state "$H")"
yun host wake "$H" >/dev/null
wait_until 60 "$H up" host_is "$H" up && sleep 3 && once v1 "$H" && once v2 "$H" &&
  tap_ok "$H back: nothing runs twice" || tap_fail "after $H is back: $(say_vm v1); $(say_vm v2)"
tap_done
