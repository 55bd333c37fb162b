#!/usr/bin/env bash
# The metrics store's bound at full size (issue 4): 63 simulated days of 100 VMs, one host and two cores stay
# under METRICS_BOUND_100VM_MIB and stop growing past the 60-day retention. The unit suite runs the same
# program with 10 VMs in memory; this runs it with 100 on a real file (about 250 MiB in a temporary folder,
# removed on exit however the run ends; 15-60 s). TAP on stdout.
set -uo pipefail
BUILD=${YUN_BUILD:-build}
BIN="$BUILD/src/store/test_metrics_bound"
if [ ! -x "$BIN" ]; then
  echo "not ok 1 - $BIN is not built"
  exit 1
fi
D=$(mktemp -d "${TMPDIR:-/tmp}/yun-it-metrics-bound.XXXXXX")
trap 'rm -rf "$D"' EXIT
YUN_BOUND_DIR="$D" YUN_BOUND_VMS=100 CMOCKA_MESSAGE_OUTPUT=TAP "$BIN"
