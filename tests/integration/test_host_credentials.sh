#!/usr/bin/env bash
# Per-host credentials on a real yund over HTTP (docs/agent-protocol.md, "Enrolment"): hosts enrol with a
# one-time join token from `yun host add`; a real yun-agent (libvirt's test driver: no guests needed for what is
# tested) enrols with --join, saves its credential 0600 and uses it after a restart; one host's credential is
# refused (403, logged) for each way of speaking for another host: registering its name, reporting for its id,
# a verdict on or a domain of its VM, its VM's metrics; a spent join token is refused; a revoked host cannot
# report, and its agent stops saying why. The expired join token is tested in tests/unit/test_api_http.c (the
# clock moved past its hour through ctl): an hour cannot pass here. TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TAP_DIAG='[ -f "$D/body" ] && head -c 600 "$D/body" && echo; tail -5 "$D/state/yund.log"'
. "$(dirname "$0")/cloud.sh"
D=$YUN_TEST_DIR
yund_start "$D/state" "test:///default" --fake-hv && tap_ok "yund starts" || { tap_fail "yund starts"; tap_done; exit 1; }
URL=$YUN_URL
LOG=$D/state/yund.log

tap_eval "no shared agent token is written any more" '[ ! -e "$D/state/agent.token" ]'

# agent_api METHOD PATH TOKEN [BODY]: an agent's call; body in $D/body, status on stdout
agent_api() {
  curl -sS -o "$D/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3" ${4:+-d "$4"} "$URL$2"
}
msg() { jq -r '.error.message // empty' "$D/body"; }
reg() { # NAME: a register message for host NAME
  echo "{\"name\":\"$1\",\"cores\":4,\"mhz\":2000,\"mem_mib\":8192,\"disk_total_mib\":100000,\"disk_free_mib\":100000,\"hypervisor\":\"qemu\",\"accel\":\"tcg\",\"libvirt_uri\":\"test:///$1\"}"
}

# ---- enrolment: h1 and h2 as fake agents would, through the admin's join tokens ----
C1=$(host_credential h1)
C2=$(host_credential h2)
tap_eval "h1 and h2 enrol with join tokens from yun host add and get credentials of their own" \
  '[ -n "$C1" ] && [ -n "$C2" ] && [ "$C1" != "$C2" ]'
[ "$(agent_api POST /v1/agent/register "$C1" "$(reg h1)")" = 200 ] && H1=$(jq -r .host_id "$D/body")
[ "$(agent_api POST /v1/agent/register "$C2" "$(reg h2)")" = 200 ] && H2=$(jq -r .host_id "$D/body")
tap_eval "each registers under its own name" '[ -n "${H1:-}" ] && [ -n "${H2:-}" ]'

# a VM on h2: the other hosts disabled, so placement puts it there
yun host disable fake >/dev/null && yun host disable h1 >/dev/null
qemu-img create -q -f qcow2 "$D/tiny.qcow2" 64M
curl -sS -o /dev/null -H "Authorization: Bearer $YUN_TOKEN" -T "$D/tiny.qcow2" "$URL/v1/images?name=tiny"
yun vm create web1 --image tiny --cpus 1 --memory 64M --disk 1G >/dev/null
U=$(vm_field web1 uuid)
tap_eval "web1 is placed on h2" '[ "$(vm_field web1 host)" = h2 ]'

# ---- h1's credential, speaking for h2: each refused ----
st=$(agent_api POST /v1/agent/register "$C1" "$(reg h2)")
tap_eval "h1 cannot register host h2's name: $st, $(msg)" \
  '[ "$st" = 403 ] && msg | grep -q "host h1.s credential speaks for host h1 only: it may not register as host h2"'
st=$(agent_api POST "/v1/agent/hosts/$H2/report" "$C1" '{"domains":[],"vms":[]}')
tap_eval "h1 cannot report for h2's id: $st, $(msg)" '[ "$st" = 403 ] && msg | grep -q "is host h2.s"'
st=$(agent_api POST "/v1/agent/hosts/$H1/report" "$C1" "{\"domains\":[],\"vms\":[{\"uuid\":\"$U\",\"state\":\"running\"}]}")
tap_eval "h1 cannot report h2's VM web1 (a verdict): $st, $(msg)" \
  '[ "$st" = 403 ] && msg | grep -q "reported a verdict on VM $U, which is not its own"'
st=$(agent_api POST "/v1/agent/hosts/$H1/report" "$C1" \
  "{\"domains\":[{\"uuid\":\"$U\",\"name\":\"yun-admin-web1\",\"state\":\"running\",\"yun_owned\":true}],\"vms\":[]}")
tap_eval "h1 cannot adopt h2's VM web1 (a domain of it): $st, $(msg)" \
  '[ "$st" = 403 ] && msg | grep -q "reported a domain of VM $U, which is not its own"'
st=$(agent_api POST "/v1/agent/hosts/$H1/metrics" "$C1" \
  "{\"samples\":[{\"kind\":\"vm\",\"id\":\"$U\",\"ts_ms\":$(date +%s%3N),\"cpu_pct\":99}]}")
tap_eval "h1 cannot push metrics for h2's VM web1: $st, $(msg)" '[ "$st" = 403 ] && msg | grep -q "VM $U is not on host h1"'
tap_eval "web1 is untouched: still scheduled on h2" '[ "$(vm_field web1 state)" = scheduled ] && [ "$(vm_field web1 host)" = h2 ]'
tap_eval "each refusal is in yund's log" '[ "$(grep -c "refused POST /v1/agent\|which is not its own" "$LOG")" -ge 5 ]'
st=$(agent_api POST "/v1/agent/hosts/$H2/report" "$C2" "{\"domains\":[],\"vms\":[{\"uuid\":\"$U\",\"state\":\"running\"}]}")
tap_eval "h2 itself reports web1 running" '[ "$st" = 200 ] && [ "$(vm_field web1 state)" = running ]'
st=$(agent_api GET /v1/vms "$C2")
tap_eval "a host's credential opens nothing but /v1/agent/*: $st" '[ "$st" = 403 ]'

# ---- join tokens: spent once; yun host add refuses an enrolled host ----
T3=$(host_join h3)
st1=$(curl -sS -o "$D/body" -w '%{http_code}' -d "{\"token\":\"$T3\"}" "$URL/v1/agent/join")
st2=$(curl -sS -o "$D/body" -w '%{http_code}' -d "{\"token\":\"$T3\"}" "$URL/v1/agent/join")
tap_eval "a spent join token is refused: $st1 then $st2, $(msg)" '[ "$st1" = 200 ] && [ "$st2" = 401 ] && msg | grep -q "already used"'
out=$(yun host add h3 2>&1)
tap_eval "yun host add of an enrolled host says to revoke it first: $out" 'grep -q "yun host revoke h3" <<<"$out"'

# ---- a real yun-agent: enrols with --join, keeps its credential, is stopped by a revoke ----
AS=$D/agent-state
T4=$(host_join real1)
"$YUN_BIN/yun-agent" --controller "$URL" --join "$T4" --state "$AS" --libvirt-uri test:///default >>"$D/agent.log" 2>&1 &
AP=$!
yun_on_exit 'kill $AP 2>/dev/null'
wait_until 30 "real1 up" host_is real1 up && tap_ok "yun-agent --join enrols host real1, which comes up" ||
  { tap_fail "real1 up"; tail -5 "$D/agent.log" | sed 's/^/# /'; }
tap_eval "its credential is saved with mode 0600" '[ "$(stat -c %a "$AS/credential")" = 600 ] && [ "$(cat "$AS/name")" = real1 ]'
kill "$AP"; wait "$AP" 2>/dev/null
"$YUN_BIN/yun-agent" --controller "$URL" --state "$AS" --libvirt-uri test:///default >>"$D/agent.log" 2>&1 &
AP=$!
seen0=$(yun host show real1 -o json | jq -r .last_seen_ms)
seen_after() { [ "$(yun host show real1 -o json | jq -r .last_seen_ms)" -gt "$seen0" ]; }
wait_until 20 "real1 reports again" seen_after && tap_ok "restarted without --join, it reports with its saved credential" ||
  { tap_fail "restart with the saved credential"; tail -5 "$D/agent.log" | sed 's/^/# /'; }
out=$(yun host revoke real1 2>&1)
tap_eval "yun host revoke real1: $out" 'grep -q "revoked" <<<"$out"'
gone() { ! kill -0 "$AP" 2>/dev/null; }
wait_until 20 "the revoked agent stops" gone && tap_ok "the revoked host's agent is refused and stops" || tap_fail "revoked agent still runs"
tap_eval "it says why" 'grep -q "refused this host.s credential" "$D/agent.log"'
st=$(agent_api POST "/v1/agent/hosts/$H2/report" "$C2" '{"domains":[],"vms":[]}')
yun host revoke h2 >/dev/null
st2=$(agent_api POST "/v1/agent/hosts/$H2/report" "$C2" '{"domains":[],"vms":[]}')
tap_eval "a revoked host cannot report: $st before, $st2 after" '[ "$st" = 200 ] && [ "$st2" = 401 ]'
C2b=$(host_credential h2)
st=$(agent_api POST "/v1/agent/hosts/$H2/report" "$C2b" '{"domains":[],"vms":[]}')
tap_eval "enrolled again, it reports: $st" '[ "$st" = 200 ]'

tap_done
