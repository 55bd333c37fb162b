#!/usr/bin/env bash
# yund as a process, with its all-in-one agent on the in-memory hypervisor (--fake-hv): flags, first-start
# tokens, the VM lifecycle through the API, a refusal with its reason, another user's VM as 404, a clean
# SIGTERM, and a restart on the same state that loses nothing. No libvirt needed; TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TAP_DIAG='[ -f "$D/yund.log" ] && tail -5 "$D/yund.log"'
BUILD=${YUN_BUILD:-build}
YUND="$BUILD/src/cmd/yund"
D=$YUN_TEST_DIR
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
}
yun_on_exit cleanup

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="https://127.0.0.1:$PORT"
yund_trust "$D/state"
start() {
  "$YUND" --all-in-one --fake-hv --state-dir "$D/state" --listen "127.0.0.1:$PORT" >>"$D/yund.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 50); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
api() { # METHOD PATH TOKEN [BODY] -> body on stdout, status in $D/status
  local m=$1 p=$2 t=$3
  shift 3
  curl -sS -o "$D/body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $t" ${1:+-d "$1"} "$URL$p" >"$D/status"
  cat "$D/body"
}
status() { cat "$D/status"; }
wait_for() { # JQ-CONDITION PATH TOKEN SECONDS
  for _ in $(seq 1 $(($4 * 5))); do
    api GET "$2" "$3" | jq -e "$1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

tap_eval "yund starts and answers /healthz" start
tap_eval "admin.token and the all-in-one host's host.credential are written with mode 0600" \
  '[ "$(stat -c %a "$D/state/admin.token")" = 600 ] && [ "$(stat -c %a "$D/state/host.credential")" = 600 ]'
A=$(cat "$D/state/admin.token")
login_admin() {
  jq -n --arg p "$(cat "$D/state/admin.password")" '{name: "admin", password: $p}' >"$D/login.json"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -d @"$D/login.json" "$URL/v1/session")" = 201 ]
}
tap_eval "the first admin gets a portal password (admin.password, 0600) that logs in" \
  '[ "$(stat -c %a "$D/state/admin.password")" = 600 ] && login_admin'
tap_eval "the all-in-one agent registers its host" 'wait_for ".hosts | length == 1 and .[0].state == \"up\"" /v1/hosts "$A" 10'

qemu-img create -q -f qcow2 "$D/tiny.qcow2" 64M
curl -sS -o "$D/body" -w '%{http_code}' -H "Authorization: Bearer $A" -T "$D/tiny.qcow2" "$URL/v1/images?name=tiny" >"$D/status"
tap_eval "a qcow2 upload becomes an image" '[ "$(status)" = 201 ] && jq -e ".size_mib == 64" "$D/body" >/dev/null'

api POST /v1/vms "$A" '{"name":"web1","image":"tiny","cpus":1,"memory":"128M","disk":"1G"}' >/dev/null
tap_eval "create answers 201 with the host and why" '[ "$(status)" = 201 ] && jq -e ".placement.host == \"fake\" and (.placement.reason | test(\"first-fit\"))" "$D/body" >/dev/null'
tap_eval "the VM reaches running" 'wait_for ".state == \"running\"" /v1/vms/web1 "$A" 15'

api POST /v1/vms "$A" '{"name":"huge","image":"tiny","cpus":64,"memory":"128M"}' >/dev/null
tap_eval "a VM that fits nowhere is refused with the reason" \
  '[ "$(status)" = 409 ] && jq -e ".error.message == \"no host has 64 free cores; the most free is 63, on fake\"" "$D/body" >/dev/null'
api POST /v1/vms "$A" '{"name":"bad","image":"tiny","memory":"128M","cpus":"2"}' >/dev/null
tap_eval "an ill-typed field is a 400 naming it" '[ "$(status)" = 400 ] && grep -q "\\\\\"cpus\\\\\" must be an integer" "$D/body"'

B=$(api POST /v1/users "$A" '{"name":"bob"}' | jq -r .token)
api GET /v1/vms/web1 "$B" >/dev/null
s1=$(status)
api DELETE /v1/vms/web1 "$B" >/dev/null
s2=$(status)
tap_eval "another user's VM is 404 to read and to delete" '[ "$s1" = 404 ] && [ "$s2" = 404 ]'

api POST /v1/vms/web1/stop "$A" >/dev/null
tap_eval "stop takes the VM to stopped" 'wait_for ".state == \"stopped\"" /v1/vms/web1 "$A" 15'
api POST /v1/vms/web1/start "$A" >/dev/null
tap_eval "start takes it back to running" 'wait_for ".state == \"running\"" /v1/vms/web1 "$A" 15'

api POST /v1/vms "$A" '{"name":"web2","image":"tiny","memory":"64M"}' >/dev/null
wait_for '.state == "running"' /v1/vms/web2 "$A" 15
kill -TERM "$PID"
for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
wait "$PID"
rc=$?
PID=""
tap_eval "SIGTERM stops yund cleanly (exit 0)" '[ "$rc" = 0 ] && grep -q "yund stopped" "$D/yund.log"'

start
tap_eval "after a restart the admin token still works and both VMs are there, running" \
  '[ "$(cat "$D/state/admin.token")" = "$A" ] && wait_for "[.vms[] | select(.state == \"running\")] | length == 2" /v1/vms "$A" 15'

"$YUND" --state-dir "$D/state" --listen "127.0.0.1:0" >"$D/second.log" 2>&1
rc2=$?
tap_eval "a second yund on the same state refuses to start, naming the first" \
  '[ "$rc2" = 1 ] && grep -q "another yund runs on .* as pid $PID" "$D/second.log"'

api DELETE /v1/vms/web1 "$A" >/dev/null
tap_eval "delete answers 202 and the VM goes away" '[ "$(status)" = 202 ] && wait_for ".error.code == \"not_found\"" /v1/vms/web1 "$A" 15'
api DELETE /v1/images/tiny "$A" >/dev/null
tap_eval "an image in use cannot be deleted" '[ "$(status)" = 409 ]'

# CPU overcommit (placement.cpu_ratio) on a second yund whose fake host has 2 cores: two 1-vCPU VMs fill it
# at ratio 1, so a third is refused naming cores; at ratio 2 the host takes 4 vCPUs and the third fits.
kill -TERM "$PID" && wait "$PID"
PID=""
"$YUND" --all-in-one --fake-hv --fake-cores 2 --state-dir "$D/small" --listen "127.0.0.1:$PORT" >>"$D/yund.log" 2>&1 &
PID=$!
yund_trust "$D/small"
for _ in $(seq 1 50); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
S=$(cat "$D/small/admin.token")
wait_for '.hosts | length == 1 and .[0].state == "up" and .[0].cores == 2' /v1/hosts "$S" 10
curl -sS -o /dev/null -H "Authorization: Bearer $S" -T "$D/tiny.qcow2" "$URL/v1/images?name=tiny"
for v in oc1 oc2; do api POST /v1/vms "$S" "{\"name\":\"$v\",\"image\":\"tiny\",\"cpus\":1,\"memory\":\"64M\"}" >/dev/null; done
api POST /v1/vms "$S" '{"name":"oc3","image":"tiny","cpus":1,"memory":"64M"}' >/dev/null
tap_eval "ratio 1 (default): a third 1-vCPU VM on a 2-core host is refused, naming cores" \
  '[ "$(status)" = 409 ] && jq -e ".error.message == \"no host has 1 free cores; the most free is 0, on fake\"" "$D/body" >/dev/null'
api PUT /v1/settings/placement.cpu_ratio "$S" '{"value":"0"}' >/dev/null
tap_eval "placement.cpu_ratio 0 is refused with what is allowed" \
  '[ "$(status)" = 400 ] && jq -e ".error.message | test(\"not a decimal from 1 to 64\")" "$D/body" >/dev/null'
api PUT /v1/settings/placement.cpu_ratio "$S" '{"value":"2"}' >/dev/null
api POST /v1/vms "$S" '{"name":"oc3","image":"tiny","cpus":1,"memory":"64M"}' >/dev/null
tap_eval "ratio 2: the third VM is accepted and runs" \
  '[ "$(status)" = 201 ] && wait_for ".state == \"running\"" /v1/vms/oc3 "$S" 15'
tap_eval "the host counts 4 vCPUs, 1 free" 'wait_for ".hosts[0].vcpus == 4 and .hosts[0].free.cpus == 1" /v1/hosts "$S" 5'
api POST /v1/vms "$S" '{"name":"oc4","image":"tiny","cpus":2,"memory":"64M"}' >/dev/null
tap_eval "ratio 2: a 2-vCPU VM with 1 vCPU free is refused, naming vCPUs" \
  '[ "$(status)" = 409 ] && jq -e ".error.message == \"no host has 2 free vCPUs; the most free is 1, on fake\"" "$D/body" >/dev/null'

mkdir -p "$D/other"
timeout 60 "$YUND" --all-in-one --state-dir "$D/other" --listen 127.0.0.1:0 \
  --libvirt-uri "qemu+unix:///system?socket=$D/no-such-socket" >"$D/nolibvirt.log" 2>&1
rc3=$?
tap_eval "--all-in-one without a reachable libvirt exits 1 and says why" \
  '[ "$rc3" = 1 ] && grep -q "needs its agent" "$D/nolibvirt.log"'

tap_done
