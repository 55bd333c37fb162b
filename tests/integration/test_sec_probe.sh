#!/usr/bin/env bash
# Probes that would reach the hosts' loopback (issue 8, item 4). A VM's probe is fetched by its host's agent,
# from the host, and its ok / latency / error shown to the VM's owner, so a probe that names a host would let
# any user scan the host's loopback and management network. By default a probe may only target the VM's own
# address (http://:PORT/path): create and patch refuse any explicit host with a 400 saying the allowed form;
# the admin's setting probe.allow_hosts=on lifts that, and yund tells the agent (allow_host on each probe it
# hands out) so the agent, which enforces the same rule, fetches such a probe only while the setting is on.
# yund on the fake hypervisor; the agent's side is driven through its own API; TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TAP_DIAG='[ -f "$D/body" ] && head -c 400 "$D/body" && echo'
. "$(dirname "$0")/cloud.sh"
D=$YUN_TEST_DIR
yund_start "$D/state" "test:///default" --fake-hv && tap_ok "yund starts" || { tap_fail "yund starts"; tap_done; exit 1; }
URL=$YUN_URL
PID=$YUND_PID
A=$(cat "$D/state/admin.token")
G=$(cat "$D/state/host.credential") # the all-in-one host "fake"'s own
api() { # METHOD PATH TOKEN [BODY] -> body in $D/body, status in $D/status
  curl -sS -o "$D/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3" ${4:+-d "$4"} "$URL$2" >"$D/status"
}
st() { cat "$D/status"; }
says() { jq -e --arg s "$1" '.error.message | contains($s)' "$D/body" >/dev/null; }

api POST /v1/users "$A" '{"name":"bob"}'
B=$(jq -r .token "$D/body")
qemu-img create -q -f qcow2 "$D/tiny.qcow2" 64M
curl -sS -o /dev/null -H "Authorization: Bearer $A" -T "$D/tiny.qcow2" "$URL/v1/images?name=tiny"

# ---- the default: only the VM's own address ----
i=0
for url in "http://127.0.0.1:8080/v1/users" "http://[::1]:8080/" "http://localhost/" "http://LOCALHOST:22/" \
  "http://10.0.0.1:9090/" "http://10.201.0.1:8080/" "https://example.org/" "http://0:8080/" "http://2130706433/"; do
  i=$((i + 1))
  api POST /v1/vms "$B" "{\"name\":\"p$i\",\"image\":\"tiny\",\"memory\":\"64M\",\"probe\":\"$url\"}"
  tap_eval "a user's VM with probe $url is refused (400, the allowed form and the setting)" \
    '[ "$(st)" = 400 ] && says "probe: a probe reaches only its VM'"'"'s own address" && says "://:PORT/PATH" && says "probe.allow_hosts"'
done
api GET /v1/vms "$B"
tap_eval "none of them was created" '[ "$(st)" = 200 ] && jq -e ".vms | length == 0" "$D/body" >/dev/null'
api POST /v1/vms "$B" '{"name":"web1","image":"tiny","memory":"64M","probe":"http://:8080/"}'
tap_eval "http://:8080/ (the VM's own address) is accepted" '[ "$(st)" = 201 ] && jq -e ".vm.probe == \"http://:8080/\"" "$D/body" >/dev/null'
api POST /v1/vms "$B" '{"name":"web2","image":"tiny","memory":"64M","probe":"https://:8443/health?x=1"}'
tap_eval "https://:8443/health?x=1 is accepted" '[ "$(st)" = 201 ]'

# patch takes a probe too, under the same rule
api PATCH /v1/vms/web1 "$B" '{"probe":"http://127.0.0.1:8080/v1/users"}'
tap_eval "patching a probe to http://127.0.0.1:8080/v1/users is refused" '[ "$(st)" = 400 ] && says "names the host 127.0.0.1"'
api PATCH /v1/vms/web1 "$B" '{"probe":"http://[::1]:22/"}'
tap_eval "patching a probe to http://[::1]:22/ is refused" '[ "$(st)" = 400 ] && says "names the host ::1"'
api GET /v1/vms/web1 "$B"
tap_eval "a refused patch leaves the probe as it was" 'jq -e ".probe == \"http://:8080/\"" "$D/body" >/dev/null'
api PATCH /v1/vms/web1 "$B" '{"probe":"http://:9090/ready"}'
tap_eval "patching to http://:9090/ready is accepted" '[ "$(st)" = 200 ] && jq -e ".probe == \"http://:9090/ready\"" "$D/body" >/dev/null'

# ---- what the agent is handed: no allow_host while the setting is off ----
HOST_ID=""
for _ in $(seq 1 50); do
  api GET /v1/hosts/fake "$A"
  HOST_ID=$(jq -r '.id // empty' "$D/body" 2>/dev/null)
  [ -n "$HOST_ID" ] && break
  sleep 0.2
done
agent_probes() {
  api POST "/v1/agent/hosts/$HOST_ID/metrics" "$G" '{"samples":[]}'
  [ "$(st)" = 200 ] && jq -c '[.probes[] | {name, url, allow_host: (.allow_host // false)}] | sort_by(.name)' "$D/body"
}
tap_eval "the agent is handed web1's probe without allow_host" \
  '[ "$(agent_probes | jq -c "[.[] | select(.name == \"web1\")]")" = "[{\"name\":\"web1\",\"url\":\"http://:9090/ready\",\"allow_host\":false}]" ]'

# ---- the admin's setting ----
api PUT /v1/settings/probe.allow_hosts "$B" '{"value":"on"}'
tap_eval "a plain user cannot change probe.allow_hosts" '[ "$(st)" = 403 ]'
api PUT /v1/settings/probe.allow_hosts "$A" '{"value":"yes"}'
tap_eval "probe.allow_hosts takes only on or off" '[ "$(st)" = 400 ] && says "must be off"'
api GET /v1/settings/probe.allow_hosts "$A"
tap_eval "probe.allow_hosts is off by default" 'jq -e ".value == \"off\"" "$D/body" >/dev/null'
api PUT /v1/settings/probe.allow_hosts "$A" '{"value":"on"}'
tap_eval "the admin turns probe.allow_hosts on" '[ "$(st)" = 200 ]'
api POST /v1/vms "$B" '{"name":"mon1","image":"tiny","memory":"64M","probe":"http://10.0.0.1:9090/"}'
tap_eval "with the setting on, a probe naming a host is accepted" '[ "$(st)" = 201 ]'
api PATCH /v1/vms/web2 "$B" '{"probe":"http://[::1]:8080/"}'
tap_eval "with the setting on, patching to http://[::1]:8080/ is accepted" '[ "$(st)" = 200 ]'
tap_eval "the agent is handed every probe with allow_host" \
  '[ "$(agent_probes | jq -c "[.[] | .allow_host] | unique")" = "[true]" ]'
api PUT /v1/settings/probe.allow_hosts "$A" '{"value":"off"}'
tap_eval "back off: the stored probes naming hosts are handed without allow_host (the agent will not fetch them)" \
  '[ "$(agent_probes | jq -c "[.[] | select(.name == \"mon1\" or .name == \"web2\") | .allow_host] | unique")" = "[false]" ]'
api POST /v1/vms "$B" '{"name":"mon2","image":"tiny","memory":"64M","probe":"http://10.0.0.1:9090/"}'
tap_eval "back off: a new probe naming a host is refused again" '[ "$(st)" = 400 ] && says "probe.allow_hosts"'
tap_done
