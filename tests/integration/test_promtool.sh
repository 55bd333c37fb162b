#!/usr/bin/env bash
# A live yund's /metrics passes `promtool check metrics`, Prometheus's own linter (Debian's prometheus package:
# its promtool is taken from the .deb into the test cache, so no Prometheus server is installed or started).
# yund on the fake hypervisor, with a VM, so the per-VM series are there too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

PT=$YUN_TEST_CACHE/promtool/usr/bin/promtool
if [ ! -x "$PT" ]; then
  mkdir -p "$YUN_TEST_CACHE/promtool" "$YUN_TEST_DIR/deb"
  if ! (cd "$YUN_TEST_DIR/deb" && { apt-get download prometheus >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null 2>&1; }; } &&
    dpkg-deb -x prometheus_*.deb "$YUN_TEST_CACHE/promtool"); then
    tap_fail "promtool from Debian's prometheus package (apt-get download prometheus)"
    tap_done
    exit 1
  fi
fi
tap_ok "promtool: $("$PT" --version 2>&1 | head -1)"

STATE=$YUN_TEST_DIR/state
yund_start "$STATE" "test:///default" --fake-hv || { tap_fail "yund starts"; tap_done; exit 1; }
tap_ok "yund --all-in-one --fake-hv starts"
wait_until 30 "host registered" bash -c '[ "$(yun host list -o json | jq ".hosts | length")" = 1 ]' ||
  tap_fail "the host registers"
qemu-img create -q -f qcow2 "$YUN_TEST_DIR/tiny.qcow2" 64M
yun image import "$YUN_TEST_DIR/tiny.qcow2" --name tiny >/dev/null 2>&1 &&
  yun vm create p1 --image tiny --memory 64M >/dev/null 2>&1 && tap_ok "a VM p1" || tap_fail "vm create p1"
wait_until 30 "p1 running" vm_state_is p1 running || true
sleep 3 # a metrics interval or two, so the VM's series are there
curl -fsS -H "Authorization: Bearer $YUN_TOKEN" "$YUN_URL/metrics" >"$YUN_TEST_DIR/metrics.txt" &&
  grep -q '^yun_vms{state="running"} 1' "$YUN_TEST_DIR/metrics.txt" && grep -q '^yun_hosts' "$YUN_TEST_DIR/metrics.txt" &&
  tap_ok "/metrics: $(grep -c '^yun_' "$YUN_TEST_DIR/metrics.txt") samples, p1 running among them" ||
  tap_fail "GET /metrics counts p1 running: $(grep '^yun_vms' "$YUN_TEST_DIR/metrics.txt" | tr '\n' ' ')"
if [ ! -s "$YUN_TEST_DIR/metrics.txt" ]; then
  tap_fail "promtool check metrics: nothing to check"
elif out=$("$PT" check metrics <"$YUN_TEST_DIR/metrics.txt" 2>&1); then
  tap_ok "promtool check metrics finds nothing wrong"
else
  tap_fail "promtool check metrics"
  printf '%s\n' "$out" | head -20 | sed 's/^/# /'
fi
tap_done
