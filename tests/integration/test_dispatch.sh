#!/usr/bin/env bash
# The live dispatcher (issue 10, item 3) on a real yund: two stand-in hosts speaking the agent protocol
# (fake_agent.py: VMs run at once, migrations end when told, 5% CPU samples), two idle VMs on two hosts.
# advise plans to empty one host onto the other, says why, and moves nothing; auto does it, through a live
# migration, and moves no VM twice within its cooldown; every decision has its reason; off runs no round.
# No hypervisor: what is tested is yund's loop, its API and CLI (the real-host runs are test_migrate.sh's
# machinery, not used here). TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TAP_DIAG='[ -f "$D/body" ] && head -c 600 "$D/body" && echo; tail -5 "$D/state/yund.log"'
. "$(dirname "$0")/cloud.sh"
D=$YUN_TEST_DIR
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AGENTS=()
yun_on_exit 'for p in "${AGENTS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done'
yund_start "$D/state" "test:///default" --fake-hv && tap_ok "yund starts" || { tap_fail "yund starts"; tap_done; exit 1; }
URL=$YUN_URL
A=$(cat "$D/state/admin.token")
api() { admin_api "$@"; }
wait_for() { admin_wait "$@"; }
set_setting() { admin_setting "$@"; }

echo done >"$D/mode"
for h in h2 h3; do
  python3 "$ROOT/tests/integration/fake_agent.py" "$URL" "$(host_credential "$h")" "$h" 4 "$D/mode" 2>>"$D/agent.log" &
  AGENTS+=($!)
done
tap_eval "three hosts are up" 'wait_for "[.hosts[] | select(.state == \"up\")] | length == 3" /v1/hosts 20'
api POST /v1/hosts/fake/disable >/dev/null # the all-in-one host: the VMs go to h2 and h3
set_setting placement.algorithm worst-fit
set_setting dispatch.interval_ms 1000
two_tiny_vms 1
tap_eval "a and b run, on two hosts ($HA, $HB)" \
  '[ "$HA" != "$HB" ] && wait_for ".state == \"running\"" /v1/vms/a 20 && wait_for ".state == \"running\"" /v1/vms/b 20'

# ---- advise (the default): the plan, its reason, and nothing moves ----
tap_eval "the dispatcher's mode is advise by default, its policy yun" \
  'api GET /v1/dispatch | jq -e ".mode == \"advise\" and .policy == \"yun\"" >/dev/null'
tap_eval "a round plans to empty one of the two hosts onto the other" \
  'wait_for ".skipped == \"\" and .vms == 2 and (.plan | length) == 1 and .plan[0].kind == \"evacuation\"" /v1/dispatch 20'
tap_eval "the move says why: the host is underloaded, the power it would save, the power rise where it goes" \
  'jq -e ".plan[0].reason | (contains(\"is underloaded under yun\") and contains(\"W idle\") and contains(\"power rises\"))" "$D/body" >/dev/null'
tap_eval "the move is advised, and the watts planned are below the watts now" \
  'jq -e "(.plan[0].outcome | startswith(\"advised\")) and .watts_planned < .watts_now" "$D/body" >/dev/null'
sleep 3
tap_eval "advise moves nothing: a on $HA and b on $HB, both running" \
  '[ "$(api GET /v1/vms/a | jq -r .host)" = "$HA" ] && [ "$(api GET /v1/vms/b | jq -r .host)" = "$HB" ] &&
   api GET /v1/vms | jq -e "[.vms[] | select(.state == \"running\")] | length == 2" >/dev/null'
tap_eval "yun dispatch plan shows the move with its outcome" \
  'yun dispatch plan | grep -E "evacuation +advised" >/dev/null'

# ---- auto: the move is made ----
set_setting dispatch.mode auto
tap_eval "auto: a and b end up on one host, running" \
  'wait_for "[.vms[] | select(.state == \"running\") | .host] | (length == 2 and .[0] == .[1])" /v1/vms 30'
tap_eval "the log has the move, started, with its reason" \
  'api GET /v1/dispatch/log | jq -e "[.decisions[] | select(.outcome == \"started\" and (.reason | contains(\"underloaded\")))] | length == 1" >/dev/null'
sleep 4
tap_eval "no VM moved twice (cooldown), and every decision has a reason" \
  'api GET /v1/dispatch/log | jq -e "([.decisions[] | select(.outcome == \"started\")] | length == 1) and all(.decisions[]; .reason != \"\")" >/dev/null'
tap_eval "yun dispatch status says auto and the policy" \
  'yun dispatch status | grep -E "^mode: +auto" >/dev/null && yun dispatch status | grep -E "^policy: +yun" >/dev/null'
tap_eval "yun dispatch log -o json is the API's answer" \
  'yun dispatch log -o json | jq -e ".decisions | length >= 1" >/dev/null'

# ---- off, and the guards ----
set_setting dispatch.mode off
tap_eval "off: the status says so" 'api GET /v1/dispatch | jq -e ".mode == \"off\"" >/dev/null'
tap_eval "a policy yun-sim does not know is refused, naming what is valid" \
  '[ "$(curl -sS -o "$D/body" -w "%{http_code}" -X PUT -H "Authorization: Bearer $A" -d "{\"value\":\"lr-xyz\"}" "$URL/v1/settings/dispatch.policy")" = 400 ]'
B=$(api POST /v1/users '{"name":"bob"}' | jq -r .token)
tap_eval "a plain user may not see the dispatcher (403)" \
  '[ "$(curl -sS -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $B" "$URL/v1/dispatch")" = 403 ]'
tap_done
