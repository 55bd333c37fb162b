#!/usr/bin/env bash
# Host power under the live dispatcher (issue 10, item 4): a real yund, two stand-in hosts (fake_agent.py) whose
# power driver is a script that really stops and starts their agent process (the `script` driver; the test's
# stand-in for a BMC: no host here can lose power). Two idle VMs on two hosts end up on one in auto, and the
# emptied host goes powering-off, then standby once its agent is silent (the process is gone); raising the
# VMs' load to 90% on the full host makes the dispatcher wake the standby host (its agent runs again and
# reports: up) and move a VM there. Every decision has its reason. TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TAP_DIAG='[ -f "$D/body" ] && head -c 800 "$D/body" && echo; tail -8 "$D/state/yund.log"; cat "$D/power.log" 2>/dev/null'
. "$(dirname "$0")/cloud.sh"
D=$YUN_TEST_DIR
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
yun_on_exit 'for f in "$D"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done'
yund_start "$D/state" "test:///default" --fake-hv && tap_ok "yund starts" || { tap_fail "yund starts"; tap_done; exit 1; }
URL=$YUN_URL
A=$(cat "$D/state/admin.token")
G=$(cat "$D/state/agent.token")
api() { # METHOD PATH [BODY] -> the body on stdout (and in $D/body)
  curl -sS -o "$D/body" -X "$1" -H "Authorization: Bearer $A" ${3:+-d "$3"} "$URL$2"
  cat "$D/body"
}
wait_for() { # JQ PATH SECS
  local end=$((SECONDS + $3))
  while [ $SECONDS -lt $end ]; do
    api GET "$2" | jq -e "$1" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}
set_setting() { api PUT "/v1/settings/$1" "{\"value\":\"$2\"}" >/dev/null; }

# the power driver: on starts the host's agent, off stops it, status says which (YUN_HOST names the host)
cat >"$D/power.sh" <<EOF
#!/bin/sh
echo "\$YUN_HOST \$1" >> "$D/power.log"
pid="$D/\$YUN_HOST.pid"
case "\$1" in
  on) setsid python3 "$ROOT/tests/integration/fake_agent.py" "$URL" "$G" "\$YUN_HOST" 4 "$D/mode" \
        >>"$D/agent-\$YUN_HOST.log" 2>&1 </dev/null &
      echo \$! > "\$pid" ;;
  off) [ -f "\$pid" ] && kill "\$(cat "\$pid")" && rm -f "\$pid" ;;
  status) if [ -f "\$pid" ] && kill -0 "\$(cat "\$pid")" 2>/dev/null; then echo on; else echo off; fi ;;
esac
EOF
chmod +x "$D/power.sh"
echo done >"$D/mode"
YUN_HOST=h2 "$D/power.sh" on
YUN_HOST=h3 "$D/power.sh" on
tap_eval "three hosts are up" 'wait_for "[.hosts[] | select(.state == \"up\")] | length == 3" /v1/hosts 20'
for h in h2 h3; do
  api PUT "/v1/hosts/$h/power" "{\"driver\":\"script\",\"command\":\"$D/power.sh\"}" >/dev/null
done
tap_eval "h2 and h3 have the script power driver" \
  'api GET /v1/hosts/h3 | jq -e ".power.driver == \"script\" and .power.password_set == false" >/dev/null'
tap_eval "yun host power refuses a config its driver cannot use, saying what is missing" \
  '! yun host power h3 --driver ipmi 2>"$D/err" && grep -q "needs the BMC" "$D/err"'
api POST /v1/hosts/fake/disable >/dev/null
set_setting placement.algorithm worst-fit
set_setting placement.cpu_ratio 4
set_setting dispatch.interval_ms 1000
set_setting dispatch.cooldown_ms 0
set_setting power.headroom_hosts 0 # two stand-in hosts: N+1 would keep both on
qemu-img create -q -f qcow2 "$D/tiny.qcow2" 64M
curl -sS -o /dev/null -H "Authorization: Bearer $A" -T "$D/tiny.qcow2" "$URL/v1/images?name=tiny"
api POST /v1/vms '{"name":"a","image":"tiny","cpus":4,"memory":"64M","disk":"1G"}' >/dev/null
HA=$(jq -r .placement.host "$D/body")
api POST /v1/vms '{"name":"b","image":"tiny","cpus":4,"memory":"64M","disk":"1G"}' >/dev/null
HB=$(jq -r .placement.host "$D/body")
tap_eval "a and b (4 vCPUs each) run on two hosts ($HA, $HB)" \
  '[ "$HA" != "$HB" ] && wait_for ".state == \"running\"" /v1/vms/a 20 && wait_for ".state == \"running\"" /v1/vms/b 20'

# ---- consolidate, then standby ----
set_setting dispatch.mode auto
tap_eval "auto: a and b end up on one host" \
  'wait_for "[.vms[] | select(.state == \"running\") | .host] | (length == 2 and .[0] == .[1])" /v1/vms 30'
FULL=$(api GET /v1/vms/a | jq -r .host)
EMPTY=$([ "$FULL" = h2 ] && echo h3 || echo h2)
tap_eval "the emptied host $EMPTY goes on standby" 'wait_for ".state == \"standby\"" /v1/hosts/$EMPTY 30'
tap_eval "its driver switched it off: its agent process is gone" \
  'grep -q "^$EMPTY off" "$D/power.log" && [ ! -f "$D/$EMPTY.pid" ]'
tap_eval "the decision says why: empty, the watts it saves, the room the hosts left keep" \
  'api GET /v1/dispatch/log | jq -e "[.decisions[] | select(.kind == \"standby\" and .outcome == \"started\" and (.reason | contains(\"W idle\") and contains(\"worth of room\")))] | length == 1" >/dev/null'

# ---- load rises: the standby host is woken, and a VM moves there ----
echo 90 >"$D/mode.load"
tap_eval "90% load on $FULL: the dispatcher wakes $EMPTY, and its agent reports again (up)" \
  'wait_for ".state == \"up\"" /v1/hosts/$EMPTY 40 && grep -q "^$EMPTY on" "$D/power.log"'
tap_eval "the wake says why: $FULL stays above 90% CPU" \
  'api GET /v1/dispatch/log | jq -e "[.decisions[] | select(.kind == \"wake\" and .outcome == \"started\" and (.reason | contains(\"stays at\")))] | length >= 1" >/dev/null'
tap_eval "a VM moves to $EMPTY: a and b run on two hosts again" \
  'wait_for "[.vms[] | select(.state == \"running\") | .host] | (length == 2 and .[0] != .[1])" /v1/vms 40'
tap_eval "every decision has its reason" \
  'api GET /v1/dispatch/log | jq -e "all(.decisions[]; .reason != \"\")" >/dev/null'
tap_eval "yun host standby refuses a host with VMs, naming them and the way out" \
  '! yun host standby "$FULL" 2>"$D/err" && grep -q "still has .* VM.*drain it first" "$D/err"'
set_setting dispatch.mode off
tap_done
