#!/usr/bin/env bash
# Races the controller must win (ctl.h: one path for every change), against yund as a process with its
# all-in-one agent on the in-memory hypervisor (--fake-hv), and, for a second host, tests/integration/
# fake_agent.py speaking the agent protocol:
#   - 100 creates at once by a user whose quota is 3 VMs: exactly 3 VMs, 97 refusals naming the quota;
#   - 100 creates at once under an admission threshold: exactly the VMs the threshold lets in, the others
#     refused naming it (admission runs on the scheduler's snapshot, under its lock);
#   - a create during a live migration cannot take the room the source keeps for the VM; the failed migration
#     then puts the VM back on a source that is not overfilled.
# No libvirt needed; TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TAP_DIAG='[ -f "$D/yund.log" ] && tail -5 "$D/yund.log"'
BUILD=${YUN_BUILD:-build}
ROOT=${YUN_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
YUND="$BUILD/src/cmd/yund"
D=$YUN_TEST_DIR
PID=""
AGENT=""
cleanup() {
  [ -n "$AGENT" ] && kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
}
yun_on_exit cleanup

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="https://127.0.0.1:$PORT"
start() { # STATE_DIR FAKE_CORES
  "$YUND" --all-in-one --fake-hv --fake-cores "$2" --state-dir "$1" --listen "127.0.0.1:$PORT" >>"$D/yund.log" 2>&1 &
  PID=$!
  yund_trust "$1"
  for _ in $(seq 1 50); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
stop() {
  [ -n "$AGENT" ] && kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
  AGENT=""
  kill -TERM "$PID" && wait "$PID"
  PID=""
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
burst() { # TOKEN PREFIX CPUS -> one JSON line per request in $D/burst
  python3 "$ROOT/tests/integration/burst.py" "$URL" "$1" 100 POST /v1/vms \
    "{\"name\":\"$2{i}\",\"image\":\"tiny\",\"cpus\":$3,\"memory\":\"64M\",\"disk\":\"1G\"}" >"$D/burst"
}
count() { jq -s "[.[] | select($1)] | length" "$D/burst"; }
qemu-img create -q -f qcow2 "$D/tiny.qcow2" 64M

# ---- quota and threshold: one host of 20 cores ----
tap_eval "yund starts with a 20-core fake host" 'start "$D/s1" 20 && A=$(cat "$D/s1/admin.token") &&
  wait_for ".hosts | length == 1 and .[0].state == \"up\"" /v1/hosts "$A" 10'
A=$(cat "$D/s1/admin.token")
curl -sS -o /dev/null -H "Authorization: Bearer $A" -T "$D/tiny.qcow2" "$URL/v1/images?name=tiny"
B=$(api POST /v1/users "$A" '{"name":"bob","quota":{"max_vms":3}}' | jq -r .token)

burst "$B" q 1
created=$(count '.status == 201')
quota=$(count '.status == 403 and .code == "quota_exceeded" and (.message | test("may use 3 VMs.*max_vms"))')
tap_eval "100 creates at once by bob (quota 3 VMs): 3 created, 97 refused naming the quota (got $created, $quota)" \
  '[ "$created" = 3 ] && [ "$quota" = 97 ]'
[ "$created" = 3 ] && [ "$quota" = 97 ] || jq -sc 'group_by(.status, .code) | map({status: .[0].status, code: .[0].code, n: length, msg: .[0].message})' "$D/burst" | sed 's/^/# /'
tap_eval "bob has exactly 3 VMs" '[ "$(api GET /v1/vms "$B" | jq ".vms | length")" = 3 ]'

# 3 of 20 cores are taken. At 40% a create is let in while the use is at most 40% (8 cores), so 6 more get in.
api PUT /v1/settings/admission.threshold_pct "$A" '{"value":"40"}' >/dev/null
burst "$A" t 1
created=$(count '.status == 201')
refused=$(count '.status == 409 and .code == "no_capacity" and (.message | test("^admission threshold: the cloud.s CPU use is 4[05]%, above the 40%"))')
tap_eval "100 creates at once under a 40% threshold: 6 created, 94 refused naming the threshold (got $created, $refused)" \
  '[ "$created" = 6 ] && [ "$refused" = 94 ]'
[ "$created" = 6 ] && [ "$refused" = 94 ] || jq -sc 'group_by(.status, .code) | map({status: .[0].status, code: .[0].code, n: length, msg: .[0].message})' "$D/burst" | sed 's/^/# /'
tap_eval "the cloud holds 9 VMs on 9 cores" \
  '[ "$(api GET /v1/vms "$A" | jq ".vms | length")" = 9 ] && [ "$(api GET /v1/hosts "$A" | jq ".hosts[0].used.cpus")" = 9 ]'
stop

# ---- a create during a live migration: fake (8 cores) and src (4 cores, fake_agent.py) ----
tap_eval "yund starts with an 8-core fake host" 'start "$D/s2" 8'
A=$(cat "$D/s2/admin.token")
echo hold >"$D/mode"
# host src enrols as an agent does: a join token from the admin (yun host add), spent for its own credential
JOIN=$(api POST /v1/hosts "$A" '{"name":"src"}' | jq -r .join_token)
CRED=$(curl -fsS -d "{\"token\":\"$JOIN\"}" "$URL/v1/agent/join" | jq -r .credential)
python3 "$ROOT/tests/integration/fake_agent.py" "$URL" "$CRED" src 4 "$D/mode" 2>>"$D/agent.log" &
AGENT=$!
tap_eval "both hosts are up" 'wait_for "[.hosts[] | select(.state == \"up\")] | length == 2" /v1/hosts "$A" 15'
curl -sS -o /dev/null -H "Authorization: Bearer $A" -T "$D/tiny.qcow2" "$URL/v1/images?name=tiny"
api POST /v1/vms "$A" '{"name":"filler","image":"tiny","cpus":4,"memory":"64M","disk":"1G"}' >/dev/null
f_host=$(jq -r .placement.host "$D/body")
api POST /v1/hosts/fake/disable "$A" >/dev/null
api POST /v1/vms "$A" '{"name":"mover","image":"tiny","cpus":4,"memory":"64M","disk":"1G"}' >/dev/null
m_host=$(jq -r .placement.host "$D/body")
api POST /v1/hosts/fake/enable "$A" >/dev/null
tap_eval "filler (4 cores) is on fake, mover (4 cores) fills src and runs there" \
  '[ "$f_host" = fake ] && [ "$m_host" = src ] && wait_for ".state == \"running\"" /v1/vms/mover "$A" 15'
SRC=$(api GET /v1/hosts/src "$A" | jq .id)
api POST /v1/vms/mover/migrate "$A" '{"host":"fake"}' >/dev/null
tap_eval "mover migrates live from src to fake, and stays migrating" \
  '[ "$(status)" = 202 ] && jq -e ".live == true" "$D/body" >/dev/null && sleep 1 &&
   api GET /v1/vms/mover "$A" | jq -e ".state == \"migrating\" and .migrate_from_id == $SRC" >/dev/null'
tap_eval "src keeps mover's 4 cores while it migrates away" \
  'api GET /v1/hosts/src "$A" | jq -e ".used.cpus == 4 and .free.cpus == 0" >/dev/null'
api POST /v1/vms "$A" '{"name":"late","image":"tiny","cpus":4,"memory":"64M","disk":"1G"}' >/dev/null
tap_eval "a 4-core create during the migration takes no room on src: refused, fake and src are full ($(status): $(jq -c . "$D/body"))" \
  '[ "$(status)" = 409 ] && jq -e ".error.message == \"no host has 4 free cores; the most free is 0, on fake\"" "$D/body" >/dev/null'
echo fail >"$D/mode"
tap_eval "the failed migration puts mover back on src, running, with the reason" \
  'wait_for ".host == \"src\" and .migrate_from_id == 0 and .state == \"running\" and (.migrate_error | test(\"failed\"))" /v1/vms/mover "$A" 15'
tap_eval "src is not overfilled: 4 of its 4 cores used" \
  'api GET /v1/hosts/src "$A" | jq -e ".used.cpus == 4" >/dev/null'
stop

tap_done
