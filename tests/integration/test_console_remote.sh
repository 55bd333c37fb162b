#!/usr/bin/env bash
# The console of a VM on another host than yund's (issue 4: "VNC itself listens only on the host's loopback or
# management address"). Two test hosts on one switch: yund --all-in-one runs in host ra's network namespace
# (listening on ra's address), and host rb runs a standalone yun-agent; the VM is placed on rb (ra disabled).
#   1. rb's agent without --mgmt-addr: the VM's VNC listens on rb's loopback (the default), answers there, and is
#      NOT reachable from ra at rb's address; the console through yund does not reach it either.
#   2. rb's agent refuses a wildcard --mgmt-addr (VNC has no password) and starts with rb's address; after a stop
#      and start the VM's VNC listens on rb's address: the websocket through yund (in ra's namespace) reaches it,
#      with the RFB handshake, and the guest's screen comes through (not blank).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

URI_A=$(yun_testhost_up ra) || { tap_fail "test host ra starts"; tap_done; exit 1; }
URI_B=$(yun_testhost_up rb) || { tap_fail "test host rb starts"; tap_done; exit 1; }
NS_A=$(yun_testhost_netns ra)
NS_B=$(yun_testhost_netns rb)
ADDR_A=$(yun_testhost_addr ra)
ADDR_B=$(yun_testhost_addr rb)
STATE=$YUN_TEST_DIR/state
mkdir -p "$STATE" && chmod 0755 "$STATE"
WS_CLIENT=$YUN_ROOT/tests/integration/ws_client.py
tap_ok "test hosts ra ($ADDR_A) and rb ($ADDR_B)"

# yund, the CLI and curl live in ra's namespace; yund listens on ra's address so rb's agent reaches it
export YUND_NETNS=$NS_A YUND_ADDR=$ADDR_A
yun_starter_image >/dev/null || { tap_fail "the starter image's packages are fetched"; tap_done; exit 1; }
yund_start "$STATE" "$URI_A" || { tap_fail "yund starts in ra's namespace"; tap_done; exit 1; }
tap_ok "yund --all-in-one starts in ra's namespace on $YUN_URL"
n_hosts() { [ "$(yun host list -o json | jq '.hosts | length')" = "$1" ]; }
wait_until 60 "ra registered" n_hosts 1 && tap_ok "ra's agent (in yund) registers" || tap_fail "ra registers"
HOST_A=$(yun host list -o json | jq -r '.hosts[0].name')
yun host disable "$HOST_A" >/dev/null && tap_ok "ra disabled: new VMs go to rb" || tap_fail "yun host disable"
if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi

AGENT_PID=""
agent_stop() {
  [ -n "$AGENT_PID" ] || return 0
  kill -TERM "$AGENT_PID" 2>/dev/null
  local i
  for i in $(seq 1 100); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$AGENT_PID" 2>/dev/null
  wait "$AGENT_PID" 2>/dev/null
  AGENT_PID=""
}
yun_on_exit agent_stop
# agent_start [flags]: rb's agent, in rb's namespace, reaching yund at ra's address
agent_start() {
  local join=()
  [ -s "$STATE/agent-rb/credential" ] || join=(--join "$(host_join rb)") # enrolled once, by its first start
  ip netns exec "$NS_B" "$YUN_BIN/yun-agent" --controller "$YUN_URL" --state "$STATE/agent-rb" "${join[@]}" \
    --libvirt-uri "$URI_B" --name rb --interval 1000 "$@" >>"$STATE/agent-rb.log" 2>&1 &
  AGENT_PID=$!
}
host_b_up() { [ "$(yun host show rb -o json | jq -r .state)" = up ]; }

agent_start
wait_until 60 "rb registered" n_hosts 2 && wait_until 30 "rb up" host_b_up && tap_ok "rb's yun-agent registers" ||
  { tap_fail "rb's yun-agent registers"; tail -5 "$STATE/agent-rb.log" | sed 's/^/# /'; }

yun vm create rc1 --image starter --cpus 1 --memory 128M --disk 1G >/dev/null 2>&1 && tap_ok "create rc1" ||
  tap_fail "create rc1"
# the machine is loaded: TCG boots take 30-90 s; VNC is up as soon as QEMU runs
wait_until 240 "rc1 running" vm_state_is rc1 running && tap_ok "rc1 reaches running" ||
  tap_fail "rc1 reaches running ($(yun vm show rc1 -o json | jq -c '{state, error}'))"
[ "$(yun vm show rc1 -o json | jq -r .host)" = rb ] && tap_ok "rc1 runs on rb" ||
  tap_fail "rc1 runs on rb ($(yun vm show rc1 -o json | jq -r .host))"
ID=$(yun vm show rc1 -o json | jq -r .id)
DOM=$(yun vm show rc1 -o json | jq -r .uuid)

# graphics ATTR: one attribute of the running domain's VNC <graphics> on rb
graphics() {
  virsh -c "$URI_B" dumpxml "$DOM" | python3 -c 'import sys, xml.etree.ElementTree as E
g = E.parse(sys.stdin).find("devices/graphics[@type=\"vnc\"]")
print(g.get(sys.argv[1], "") if g is not None else "")' "$1"
}
# rfb_banner NS HOST PORT: the first 12 bytes a TCP server at HOST:PORT sends, seen from namespace NS
rfb_banner() {
  ip netns exec "$1" python3 -c 'import socket,sys
s=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print(s.recv(12).decode(errors="replace").strip())' "$2" "$3" 2>&1 | tail -1
}
ticket_url() { in_ns curl -sS -X POST -H "Authorization: Bearer $YUN_TOKEN" "$YUN_URL/v1/vms/$ID/console" | jq -r .url; }
ws() { in_ns python3 "$WS_CLIENT" "wss://$ADDR_A:$YUND_PORT$1" "${@:2}"; }

# ---- 1. no management address: VNC stays on rb's loopback ----
L=$(graphics listen)
P=$(graphics port)
[ "$L" = 127.0.0.1 ] && tap_ok "without --mgmt-addr, VNC listens on 127.0.0.1 (port $P)" ||
  tap_fail "without --mgmt-addr, VNC listens on 127.0.0.1 (listen '$L')"
b=$(rfb_banner "$NS_B" 127.0.0.1 "$P")
[ "$b" = "RFB 003.008" ] && tap_ok "on rb itself, 127.0.0.1:$P answers RFB" || tap_fail "rb's loopback: '$b'"
b=$(rfb_banner "$NS_A" "$ADDR_B" "$P")
if [ "$b" != "RFB 003.008" ] && grep -qi "refused" <<<"$b"; then
  tap_ok "from ra, $ADDR_B:$P is not reachable ($b)"
else
  tap_fail "from ra, $ADDR_B:$P is not reachable: '$b'"
fi
out=$(ws "$(ticket_url)" 2>&1)
[ "$out" = "status 503" ] && tap_ok "the console through yund does not reach a loopback VNC of another host (503)" ||
  tap_fail "the console through yund of a loopback VNC on another host: '$out'"

# ---- 2. rb's management address ----
agent_stop
out=$(ip netns exec "$NS_B" "$YUN_BIN/yun-agent" --controller "$YUN_URL" --state "$STATE/agent-rb" \
  --libvirt-uri "$URI_B" --mgmt-addr 0.0.0.0 2>&1)
rc=$?
[ $rc = 2 ] && grep -q "wildcard" <<<"$out" && grep -q -- "--mgmt-addr" <<<"$out" &&
  tap_ok "yun-agent --mgmt-addr 0.0.0.0 is refused: $out" || tap_fail "--mgmt-addr 0.0.0.0: rc $rc, '$out'"
out=$(ip netns exec "$NS_B" "$YUN_BIN/yun-agent" --controller "$YUN_URL" --state "$STATE/agent-rb" \
  --libvirt-uri "$URI_B" --mgmt-addr :: 2>&1)
rc=$?
[ $rc = 2 ] && grep -q "wildcard" <<<"$out" && tap_ok "yun-agent --mgmt-addr :: is refused" ||
  tap_fail "--mgmt-addr ::: rc $rc, '$out'"
ip netns exec "$NS_B" "$YUN_BIN/yun-agent" --help | grep -q -- "--mgmt-addr" &&
  tap_ok "yun-agent --help explains --mgmt-addr" || tap_fail "yun-agent --help explains --mgmt-addr"

agent_start --mgmt-addr "$ADDR_B"
yun vm stop rc1 >/dev/null 2>&1
wait_until 180 "rc1 stopped" vm_state_is rc1 stopped && tap_ok "rc1 stops" || tap_fail "rc1 stops"
yun vm start rc1 >/dev/null 2>&1
wait_until 240 "rc1 running again" vm_state_is rc1 running && tap_ok "rc1 starts again (defined anew)" ||
  tap_fail "rc1 starts again ($(yun vm show rc1 -o json | jq -c '{state, error}'))"
L=$(graphics listen)
P=$(graphics port)
[ "$L" = "$ADDR_B" ] && tap_ok "with --mgmt-addr $ADDR_B, VNC listens there (port $P)" ||
  tap_fail "with --mgmt-addr $ADDR_B, VNC listens there (listen '$L')"
b=$(rfb_banner "$NS_A" "$ADDR_B" "$P")
[ "$b" = "RFB 003.008" ] && tap_ok "from ra, $ADDR_B:$P answers RFB" || tap_fail "from ra, $ADDR_B:$P: '$b'"
b=$(rfb_banner "$NS_B" 127.0.0.1 "$P")
[ "$b" != "RFB 003.008" ] && tap_ok "and rb's loopback no longer has it ($b)" || tap_fail "rb's loopback still answers"

if out=$(ws "$(ticket_url)" 2>&1); then
  tap_ok "the websocket through yund (ra) reaches rc1's VNC on rb"
else
  tap_fail "the websocket through yund (ra) reaches rc1's VNC on rb"
  tail -5 "$STATE/yund.log" | sed 's/^/# yund: /'
fi
echo "$out" | sed 's/^/# /'
grep -q "^banner RFB 003.008$" <<<"$out" && grep -Eq "^security types [1-9]" <<<"$out" &&
  tap_ok "the RFB handshake goes both ways" || tap_fail "the RFB handshake goes both ways"
grep -q "console of rc1 opened by admin (VNC websocket $ADDR_B:" "$STATE/yund.log" &&
  tap_ok "yund's log names rb's address" || tap_fail "yund's log names rb's address"
# the guest's screen: a shell on tty1 once it has booted (the console log says YUN-GUEST-READY)
ready() { yun vm console-log rc1 2>/dev/null | grep -q YUN-GUEST-READY; }
wait_until 240 "rc1 booted" ready || true
# one try every few seconds: each takes a ticket, and a user may hold only a few at a time
screen_ok() { ws "$(ticket_url)" --screen > "$YUN_TEST_DIR/screen.out" 2>&1 || { sleep 3; false; }; }
if wait_until 90 "a screen that is not blank" screen_ok; then
  tap_ok "the guest's screen comes through yund: $(grep ^screen "$YUN_TEST_DIR/screen.out")"
else
  tap_fail "the guest's screen comes through yund"
  sed 's/^/# /' "$YUN_TEST_DIR/screen.out"
fi

yun vm delete rc1 >/dev/null 2>&1
gone() { ! yun vm show rc1 >/dev/null 2>&1; }
wait_until 120 "rc1 deleted" gone && tap_ok "rc1 deleted" || tap_fail "rc1 deleted"
agent_stop
_yund_stop_hook
tap_done
