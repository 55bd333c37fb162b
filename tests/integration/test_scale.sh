#!/usr/bin/env bash
# bench/scale.sh kept from rotting: one yund against 20 simulated hosts (bench/fake_hosts.c: the agent protocol
# over HTTPS, each host enrolled with its own credential, no hypervisor) carrying 500 VMs created through the
# API. Checks what it reports, never how fast: every figure is there and measured, the hosts took every VM,
# and the silent host was noticed. TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
BUILD=${YUN_BUILD:-build}
D=$YUN_TEST_DIR
TAP_DIAG='tail -5 "$D/scale.err"'
WINDOW_S=3 LISTS=20 LATENCY=20 CREATORS=4 TMPDIR=$D bash "$YUN_ROOT/bench/scale.sh" "$BUILD" 20 500 \
  >"$D/scale.out" 2>"$D/scale.err"
rc=$?
tap_eval "bench/scale.sh 20 hosts 500 VMs ends well" '[ $rc = 0 ]'
tail -1 "$D/scale.out" >"$D/last.json"
tap_eval "its last line is the JSON of hosts and VMs asked for" \
  'jq -e ".hosts == 20 and .vms == 500" "$D/last.json" >/dev/null'
tap_eval "every figure was measured (positive)" \
  'jq -e "[.yund_cpu_cores, .rss_mib, .list_p99_ms, .create_to_agent_p99_ms, .silent_host_noticed_s] | all(. > 0)" "$D/last.json" >/dev/null'
tap_eval "the fill created every VM, none failed" 'grep -q "created 500 VMs .*, 0 failed" "$D/scale.err"'
tap_eval "the silent host was shown not up" 'grep -Eq "silent -> (suspect|dead|agent-lost)" "$D/scale.err"'
tap_eval "yund and its folder are gone" '! ls -d "$D"/yun-scale.* >/dev/null 2>&1'
tap_done
