#!/usr/bin/env bash
# Issue 4's monitoring pipeline end to end, on a private libvirtd with one real TCG guest from the starter
# image: the agent's sampler (one bulk libvirt call per interval) -> POST /v1/agent/hosts/{id}/metrics ->
# yund's metrics store -> GET /v1/vms/{vm}/metrics, /v1/hosts/{host}/metrics, /v1/metrics, `yun vm metrics`,
# `yun top --once`, and /metrics in Prometheus text format (checked by tests/integration/prom_check.py).
#   - the guest's first metrics appear within two intervals (5 s each) of it running;
#   - its CPU % rises (by 20 points or more; on a loaded machine a busy TCG vCPU gets 40-85 %) when the guest
#     is made busy: the test types `md5sum /dev/zero` into its shell on the
#     VNC screen (tests/integration/rfb_type.py), as a person at the console would;
#   - its probe (--probe http://:80/) is measured every interval: yund and its agent run outside the test
#     host's network namespace here, so the guest (on that host's private NAT network) is out of the probe's
#     reach and the probe reports failure (probe_ok 0), which is what a dead service looks like (a probe that
#     succeeds against a real guest: test_network.sh);
#   - another user's VM is 404 for its metrics.
# The store's 60-day bound is checked by tests/integration/test_metrics_bound.sh (and the unit test
# tests/unit/test_metrics_bound.c): 60 simulated days of 100 VMs stay under METRICS_BOUND_100VM_MIB.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

URI=$(yun_testhost_up mt) || { tap_fail "test host starts"; tap_done; exit 1; }
NS=$(yun_testhost_netns mt)
STATE=$YUN_TEST_DIR/state
yund_start "$STATE" "$URI" || { tap_fail "yund starts"; tap_done; exit 1; }
tap_ok "yund --all-in-one starts against a private libvirtd"
api() { curl -sS -H "Authorization: Bearer ${2:-$YUN_TOKEN}" "$YUN_URL$1"; }

wait_until 60 "host registered" bash -c '[ "$(yun host list -o json | jq ".hosts | length")" = 1 ]' &&
  tap_ok "the agent registers its host" || tap_fail "the agent registers its host"
HOST=$(yun host list -o json | jq -r '.hosts[0].name')

# ---- the host's own samples come without any VM ----
wait_until 30 "host metrics" bash -c "yun top --once -o json | jq -e '.hosts[0].metrics.cpu_pct != null'" &&
  tap_ok "the host's samples arrive (yun top --once -o json)" || tap_fail "the host's samples arrive"
yun top --once -o json | jq -e '.hosts[0].metrics.power_w > 80' >/dev/null &&
  tap_ok "the host's estimated watts (metrics.power_model hp-ml110-g5)" || tap_fail "the host's estimated watts"
yun settings set metrics.power_model none >/dev/null && yun settings set metrics.power_model nonsense >/dev/null 2>&1
[ $? -ne 0 ] && tap_ok "metrics.power_model refuses an unknown model" || tap_fail "metrics.power_model nonsense accepted"
yun settings set metrics.power_model hp-ml110-g5 >/dev/null
out=$(api "/v1/hosts/$HOST/metrics?from=-2m")
jq -e '[.n[] | select(. > 0)] | length > 0' <<<"$out" >/dev/null && jq -e '.avg.mem_used | map(select(. != null)) | length > 0' <<<"$out" >/dev/null &&
  tap_ok "GET /v1/hosts/{host}/metrics has points" || tap_fail "GET /v1/hosts/{host}/metrics: $(head -c 300 <<<"$out")"
jq -e '.avg.hosts_up | map(select(. != null)) | .[-1] == 1' <<<"$(api "/v1/metrics?from=-2m")" >/dev/null &&
  tap_ok "GET /v1/metrics (the cloud) counts 1 host up" || tap_fail "GET /v1/metrics (the cloud)"

if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi

# ---- one guest ----
out=$(yun vm create mt1 --image starter --cpus 1 --memory 128M --disk 1G --probe http://:80/ 2>&1) &&
  tap_ok "vm create mt1 --probe http://:80/" || tap_fail "vm create mt1: $out"
[ "$(vm_field mt1 probe)" = "http://:80/" ] && tap_ok "the VM keeps its probe" || tap_fail "probe: $(vm_field mt1 probe)"
out=$(yun vm create bad1 --image starter --memory 128M --probe ftp://x/ 2>&1)
[ $? -ne 0 ] && grep -q "probe: " <<<"$out" && tap_ok "a bad probe URL is refused: $out" ||
  tap_fail "a bad probe URL is refused: $out"
# boots take 30-90 s on this loaded machine
wait_until 240 "mt1 running" vm_state_is mt1 running && tap_ok "mt1 reaches running" ||
  tap_fail "mt1 reaches running ($(vm_field mt1 state): $(vm_field mt1 error))"
t_run=$SECONDS
has_point() { yun vm metrics mt1 --since 2m -o json | jq -e '[.n[] | select(. > 0)] | length > 0' >/dev/null; }
# two intervals (10 s), and a little for the write and the clock's tick
if wait_until 13 "mt1's first point" has_point; then
  tap_ok "mt1's metrics appear within two intervals ($((SECONDS - t_run)) s)"
else
  tap_fail "mt1's metrics appear within two intervals"
fi

vm_latest() { yun top --once -o json | jq -r ".vms[] | select(.name == \"mt1\") | .metrics.$1 // empty"; }
wait_until 240 "YUN-GUEST-READY" bash -c 'yun vm console-log mt1 | grep -q YUN-GUEST-READY' &&
  tap_ok "the guest is up (YUN-GUEST-READY)" || tap_fail "the guest is up"
# let the boot's burst leave the latest sample, then take the idle baseline
sleep 12
idle=$(vm_latest cpu_pct)
tap_diag "mt1 idle: cpu_pct ${idle:-none}"
[ -n "$idle" ] && tap_ok "mt1 has a CPU % while idle (${idle})" || tap_fail "mt1 has a CPU % while idle"
[ "$(vm_latest probe_ok)" = 0 ] && tap_ok "the probe is measured each interval (probe_ok 0: the guest is out of reach)" ||
  tap_fail "the probe is measured (probe_ok: $(vm_latest probe_ok))"

# ---- make it busy from outside: type into its shell on the VNC screen ----
DOM=$(vm_field mt1 domain)
disp=$(virsh -q -c "$URI" domdisplay "$DOM" 2>/dev/null)
port=$((5900 + ${disp##*:}))
if out=$(ip netns exec "$NS" python3 "$YUN_ROOT/tests/integration/rfb_type.py" 127.0.0.1 "$port" "md5sum /dev/zero" 2>&1); then
  tap_ok "typed a busy loop into mt1's console ($out)"
else
  tap_fail "typing into mt1's console ($disp): $out"
fi
busy_enough() {
  local v
  v=$(vm_latest cpu_pct)
  [ -n "$v" ] && awk -v b="$v" -v i="${idle:-0}" 'BEGIN { exit !(b >= i + 20) }'
}
if wait_until 60 "mt1 busy" busy_enough; then
  tap_ok "mt1's CPU % rises when it is busy (${idle}% -> $(vm_latest cpu_pct)%)"
else
  tap_fail "mt1's CPU % rises when it is busy (${idle}% -> $(vm_latest cpu_pct)%)"
fi
yun vm metrics mt1 --since 3m | sed 's/^/# /'
yun top --once | sed 's/^/# /'

# ---- /metrics ----
prom=$(curl -sS -D "$YUN_TEST_DIR/prom.h" -H "Authorization: Bearer $YUN_TOKEN" "$YUN_URL/metrics")
grep -qi '^content-type: text/plain; version=0.0.4' "$YUN_TEST_DIR/prom.h" &&
  tap_ok "/metrics answers text/plain; version=0.0.4" || tap_fail "/metrics content type"
if out=$(python3 "$YUN_ROOT/tests/integration/prom_check.py" <<<"$prom" 2>&1); then tap_ok "/metrics parses as Prometheus text format ($out)"; else tap_fail "/metrics format: $out"; fi
for want in "yun_vm_cpu_percent{host=\"$HOST\",vm=\"mt1\",owner=\"admin\"" "yun_host_cpu_percent{host=\"$HOST\"}" \
  'yun_vms{state="running"} 1' 'yun_api_requests_total{route="GET /v1/vms/{}",status="200"}' \
  'yun_api_request_duration_seconds_bucket{route="POST /v1/agent/hosts/{}/metrics",le="+Inf"}' \
  'yun_scheduler_duration_seconds_count 1' 'yun_reconcile_duration_seconds_count' 'yun_vm_probe_up{'; do
  grep -qF "$want" <<<"$prom" && tap_ok "/metrics has $want" || tap_fail "/metrics has $want"
done
# Prometheus wants base units: the probe's time in seconds, CPU as a percentage of the VM's vCPUs
code=$(curl -s -o /dev/null -w '%{http_code}' "$YUN_URL/metrics")
[ "$code" = 401 ] && tap_ok "/metrics needs a token (401 without)" || tap_fail "/metrics without a token: $code"

# ---- ownership: another user's VM is 404 ----
tb=$(yun user create bob -o json | jq -r .token)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tb" "$YUN_URL/v1/vms/$(vm_field mt1 id)/metrics")
[ "$code" = 404 ] && tap_ok "bob asking for admin's VM's metrics gets 404" || tap_fail "bob got $code"
n=$(curl -sS -H "Authorization: Bearer $tb" "$YUN_URL/v1/metrics/latest" | jq '.vms | length')
[ "$n" = 0 ] && tap_ok "bob's yun top shows none of admin's VMs" || tap_fail "bob sees $n VMs in /v1/metrics/latest"

yun vm delete mt1 --wait >/dev/null 2>&1 && tap_ok "mt1 deleted" || tap_fail "mt1 deleted"
tap_done
