#!/usr/bin/env bash
# The metrics store's bound at full size (issue 4): 63 simulated days of 100 VMs, one host and two cores stay
# under METRICS_BOUND_100VM_MIB and stop growing past the 60-day retention. The unit suite runs the same
# program with 10 VMs; this runs it with 100 (about 250 MiB in a temporary file, 15-30 s). TAP on stdout.
set -uo pipefail
BUILD=${YUN_BUILD:-build}
BIN="$BUILD/src/store/test_metrics_bound"
if [ ! -x "$BIN" ]; then
  echo "not ok 1 - $BIN is not built"
  exit 1
fi
YUN_BOUND_VMS=100 CMOCKA_MESSAGE_OUTPUT=TAP "$BIN"
