#!/usr/bin/env bash
# Issue 4's console path end to end: a real TCG guest from the starter image, a one-time ticket from
# POST /v1/vms/{vm}/console, and a websocket through yund's proxy (GET /v1/console?ticket=) that reaches the
# guest's own VNC server: the RFB banner "RFB 003.008" comes back, and an RFB reply goes through the other way.
# A used ticket is refused, a made-up one too, and another user cannot get a ticket for the VM (404).
#
# yund runs inside the test host's network namespace, as it does on the machine of an all-in-one cloud: VNC
# listens on that host's loopback only (src/hv/hv_xml.c), which is exactly what the proxy must reach.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

URI=$(yun_testhost_up cn) || { tap_fail "test host starts"; tap_done; exit 1; }
NS=$(cat "$YUN_TEST_DIR/hosts/cn/netns")
STATE=$YUN_TEST_DIR/state
mkdir -p "$STATE" && chmod 0755 "$STATE"
WS_CLIENT=$YUN_ROOT/tests/integration/ws_client.py

# Everything that talks to yund runs in the namespace too (cloud.sh: yund_start, yun and in_ns follow YUND_NETNS).
export YUND_NETNS=$NS
nscurl() { in_ns curl "$@"; }

# The namespace has no way out to Debian's mirror: fetch the starter's packages into YUN_DEB_CACHE (cloud.sh)
# from here first, so yund's build-starter inside finds them.
yun_starter_image >/dev/null || { tap_fail "the starter image's packages are fetched"; tap_done; exit 1; }

start_yund() { yund_start "$STATE" "$URI"; }
start_yund || { tap_fail "yund starts"; tap_done; exit 1; }
export YUN_TOKEN=$(cat "$STATE/admin.token")
tap_ok "yund --all-in-one starts in the test host's namespace"

wait_until 60 "host registered" bash -c '[ "$(yun host list -o json | jq ".hosts | length")" = 1 ]' &&
  tap_ok "the agent registers its host" || tap_fail "the agent registers its host"
if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi

ta=$(yun user create alice -o json | jq -r .token)
tb=$(yun user create bob -o json | jq -r .token)
[ -n "$ta" ] && [ "$ta" != null ] && [ -n "$tb" ] && [ "$tb" != null ] && tap_ok "users alice and bob" ||
  tap_fail "users alice and bob"

as_alice() { YUN_TOKEN=$ta yun "$@"; }
api() { # api TOKEN METHOD PATH: prints the body, then the status on its own line
  nscurl -sS -X "$2" -H "Authorization: Bearer $1" -w '\n%{http_code}' "$YUN_URL$3"
}

as_alice vm create con1 --image starter --cpus 1 --memory 128M --disk 1G >/dev/null 2>&1 &&
  tap_ok "alice creates con1" || tap_fail "alice creates con1"
alice_state() { [ "$(YUN_TOKEN=$ta yun vm show con1 -o json 2>/dev/null | jq -r .state)" = running ]; }
# the machine is loaded: TCG boots take 30-90 s; the VNC server is up as soon as QEMU runs
wait_until 240 "con1 running" alice_state && tap_ok "con1 reaches running" ||
  tap_fail "con1 reaches running ($(as_alice vm show con1 -o json | jq -c '{state, error}'))"
ID=$(as_alice vm show con1 -o json | jq -r .id)

# ---- tickets ----
out=$(api "$ta" POST "/v1/vms/$ID/console")
code=$(tail -1 <<<"$out")
body=$(sed '$d' <<<"$out")
T=$(jq -r .ticket <<<"$body")
URL=$(jq -r .url <<<"$body")
[ "$code" = 201 ] && [ ${#T} = 43 ] && [ "$URL" = "/v1/console?ticket=$T" ] &&
  [ "$(jq .expires_in <<<"$body")" = 30 ] && tap_ok "POST /v1/vms/{id}/console gives a ticket and its url" ||
  tap_fail "POST /v1/vms/{id}/console ($code: $body)"

out=$(api "$tb" POST "/v1/vms/$ID/console")
[ "$(tail -1 <<<"$out")" = 404 ] && tap_ok "bob asking for alice's console gets 404" ||
  tap_fail "bob asking for alice's console: $out"
out=$(api "$tb" POST "/v1/vms/con1/console")
[ "$(tail -1 <<<"$out")" = 404 ] && tap_ok "bob asking by name gets 404 too" || tap_fail "bob by name: $out"

# ---- the proxy ----
ws() { in_ns python3 "$WS_CLIENT" "wss://127.0.0.1:$YUND_PORT$1"; }
if out=$(ws "$URL" 2>&1); then
  tap_ok "the websocket through yund reaches the guest's VNC server"
else
  tap_fail "the websocket through yund reaches the guest's VNC server"
  tail -5 "$STATE/yund.log" | sed 's/^/# yund: /'
fi
echo "$out" | sed 's/^/# /'
grep -q "^banner RFB 003.008$" <<<"$out" && tap_ok "the RFB banner RFB 003.008 comes through" ||
  tap_fail "the RFB banner RFB 003.008 comes through"
grep -Eq "^security types [1-9]" <<<"$out" && tap_ok "an RFB reply goes the other way and is answered" ||
  tap_fail "an RFB reply goes the other way and is answered"

out=$(ws "$URL" 2>&1)
[ "$out" = "status 401" ] && tap_ok "a second use of the ticket is refused (401)" ||
  tap_fail "a second use of the ticket is refused: $out"
out=$(ws "/v1/console?ticket=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" 2>&1)
[ "$out" = "status 401" ] && tap_ok "a made-up ticket is refused (401)" || tap_fail "a made-up ticket: $out"
out=$(nscurl -sS -o /dev/null -w '%{http_code}' "$YUN_URL/v1/console?ticket=x")
[ "$out" = 400 ] && tap_ok "GET /v1/console without a websocket upgrade is 400" || tap_fail "plain GET: $out"

# yund stops promptly with a console open (the relay looks up every second), and comes back
opened() { [ "$(grep -c "console of con1 opened" "$STATE/yund.log")" -gt "$1" ]; }
n_open=$(grep -c "console of con1 opened" "$STATE/yund.log")
T2=$(api "$ta" POST "/v1/vms/$ID/console" | sed '$d' | jq -r .url)
ws "$T2" 120 >/dev/null 2>&1 &
WSP=$!
wait_until 30 "the console is open" opened "$n_open" && tap_ok "a second console opens" ||
  tap_fail "a second console opens"
kill -TERM "$YUND_PID"
t0=$SECONDS
for i in $(seq 1 100); do kill -0 "$YUND_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$YUND_PID" 2>/dev/null; then
  tap_fail "yund stops within 10 s of SIGTERM with a console open"
  kill -KILL "$YUND_PID"
else
  tap_ok "yund stops within 10 s of SIGTERM with a console open ($((SECONDS - t0)) s)"
fi
wait "$WSP" 2>/dev/null
start_yund && tap_ok "yund starts again" || tap_fail "yund starts again"

# a stopped VM has no console to give
as_alice vm stop con1 >/dev/null 2>&1
stopped() { [ "$(YUN_TOKEN=$ta yun vm show con1 -o json 2>/dev/null | jq -r .state)" = stopped ]; }
wait_until 120 "con1 stopped" stopped
out=$(api "$ta" POST "/v1/vms/$ID/console")
[ "$(tail -1 <<<"$out")" = 409 ] && tap_ok "a stopped VM's console is refused (409, says to start it)" ||
  tap_fail "a stopped VM's console: $out"

as_alice vm delete con1 >/dev/null 2>&1
gone() { ! YUN_TOKEN=$ta yun vm show con1 >/dev/null 2>&1; }
wait_until 120 "con1 deleted" gone && tap_ok "con1 deleted" || tap_fail "con1 deleted"
_yund_stop_hook
tap_done
