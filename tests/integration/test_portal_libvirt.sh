#!/usr/bin/env bash
# The portal in Chromium and in Firefox against yund on a private libvirtd with a real TCG guest from the
# starter image: register, create, running, the guest's YUN-GUEST-READY in the page's serial log, the CPU
# chart drawing the guest's samples, the graphical console through yund's proxy, stop, delete.
# tests/browser/test_portal.mjs and test_portal_firefox.mjs do the browser part and print the TAP (one plan
# each); this script brings up the cloud.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

URI=$(yun_testhost_up pt) || { tap_fail "test host starts"; tap_done; exit 1; }
STATE=$YUN_TEST_DIR/state
# VNC listens on the test host's loopback: yund, the CLI and the browsers run in its namespace (the console
# proxy reaches the guest's screen there). The namespace has no way out to Debian's mirror: the starter's
# packages are fetched from here first.
export YUND_NETNS=$(yun_testhost_netns pt)
yun_starter_image >/dev/null || { tap_fail "the starter image's packages are fetched"; tap_done; exit 1; }
yund_start "$STATE" "$URI" --www-dir "$YUN_ROOT/www" || { tap_fail "yund starts"; tap_done; exit 1; }
wait_until 30 "host registered" bash -c '[ "$(yun host list -o json | jq ".hosts | length")" = 1 ]' ||
  { tap_fail "the agent registers its host"; tap_done; exit 1; }
if ! out=$(yun image build-starter 2>&1); then
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1
fi
# Chromium, then Firefox (as another user: the first one is registered by then), one guest at a time
rc=0
YUN_PORTAL_URL=$YUN_URL YUN_PORTAL_STATE=$STATE YUN_PORTAL_IMAGE=starter YUN_PORTAL_USER=alice \
  in_ns node "$YUN_ROOT/tests/browser/test_portal.mjs" || rc=1
YUN_PORTAL_URL=$YUN_URL YUN_PORTAL_STATE=$STATE YUN_PORTAL_IMAGE=starter YUN_PORTAL_USER=alice-ff \
  in_ns node "$YUN_ROOT/tests/browser/test_portal_firefox.mjs" || rc=1
exit $rc
