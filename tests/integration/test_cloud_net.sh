#!/usr/bin/env bash
# Cloud networks spanning hosts (docs/networking.md), on two real test hosts joined by the test switch, each
# with its own agent inside its own network namespace (where the agent makes bridges, VXLAN devices, dnsmasq):
#   - bad input is refused with a clear message and leaves nothing: an overlapping subnet, one too big, one too
#     small, host bits set, another user's network (not found), public from a non-admin, delete while in use;
#   - alice's network lab spans both hosts: web1 on A, web2 on B, each gets its address from yund's IPAM by DHCP
#     (static entries only; the MAC derived from the address) and reaches the other by name: from inside web1,
#     DNS resolves web2 (and the reverse), ping and wget http://web2/ work across the VXLAN;
#   - bob's VM on his default network (cut from net.pool) on the same host as web1 cannot reach alice's VMs,
#     while it reaches its own gateway;
#   - web1 migrates live to B keeping its address, reachable by name; A, which carries no VM of lab any more,
#     takes its bridge, VXLAN device and dnsmasq down, and B's VXLAN peers drop A;
#   - deleting the VMs and the networks leaves no lease, no DNS name, no bridge, VXLAN device or dnsmasq.
# yund runs in host A's namespace on A's address, so both agents reach it over the switch.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

T_START=$SECONDS
# the namespaces have no way out to Debian's mirror: fetch the starter's packages from here first
yun_starter_image >/dev/null || { tap_fail "the starter image's packages are fetched"; tap_done; exit 1; }
A=$(yun_testhost_up A) || { tap_fail "test host A starts"; tap_done; exit 1; }
B=$(yun_testhost_up B) || { tap_fail "test host B starts"; tap_done; exit 1; }
NSA=$(yun_testhost_netns A)
NSB=$(yun_testhost_netns B)
STATE=$YUN_TEST_DIR/state
export YUND_NETNS=$NSA YUND_ADDR=$(yun_testhost_addr A)
yund_start "$STATE" none || { tap_fail "yund starts"; tap_done; exit 1; }
ADMIN=$YUN_TOKEN

AGENT_PIDS=()
_agents_stop() { local p; for p in "${AGENT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${AGENT_PIDS[@]}"; do for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; done; }
yun_on_exit _agents_stop
for h in A B; do
  JOIN=$(host_join "host$h") || { tap_fail "yun host add host$h"; tap_done; exit 1; }
  ip netns exec "$(yun_testhost_netns $h)" "$YUN_BIN/yun-agent" --controller "$YUN_URL" --ca "$YUN_CA" \
    --join "$JOIN" --state "$STATE/agent-$h" --libvirt-uri "$(yun_testhost_uri $h)" --name "host$h" \
    --migrate-addr "$(yun_testhost_addr $h)" >"$STATE/agent-$h.log" 2>&1 &
  AGENT_PIDS+=($!)
done
hosts_up() { [ "$(yun host list -o json | jq '[.hosts[] | select(.state == "up")] | length')" = 2 ]; }
wait_until 90 "two hosts up" hosts_up && tap_ok "two hosts, each agent in its own namespace" ||
  { tap_fail "hosts up"; tail -5 "$STATE"/agent-*.log | sed 's/^/# /'; }
if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi

ALICE=$(yun user create alice 2>/dev/null | sed -n "s/^token: //p")
BOB=$(yun user create bob 2>/dev/null | sed -n "s/^token: //p")
[ -n "$ALICE" ] && [ "$ALICE" != null ] && [ -n "$BOB" ] && tap_ok "users alice and bob" || tap_fail "users"
as() { local t=$1; shift; YUN_TOKEN=$t yun "$@"; }

# ---- bad input: clear errors, nothing left ----
out=$(as "$ALICE" network create lab --subnet 10.50.0.0/24 2>&1) && tap_ok "alice: network lab 10.50.0.0/24" ||
  tap_fail "network create lab: $out"
VNI=$(as "$ALICE" network show lab -o json | jq -r .vni)
bad() { # bad DESC GREP CMD...: CMD fails with a message matching GREP
  local desc=$1 re=$2 o rc; shift 2
  o=$("$@" 2>&1); rc=$?
  [ $rc != 0 ] && grep -Eq "$re" <<<"$o" && tap_ok "$desc: $o" || tap_fail "$desc (rc $rc): $o"
}
bad "an overlapping subnet is refused" "overlaps 10.50.0.0/24 of network alice/lab" \
  as "$BOB" network create x --subnet 10.50.0.128/25
bad "a subnet too big is refused" "too big.*/16" as "$ALICE" network create big --subnet 10.0.0.0/8
bad "a subnet too small is refused" "too small.*/29" as "$ALICE" network create small --subnet 10.51.0.0/30
bad "host bits are refused, with the fix" "did you mean 10.52.0.0/24" as "$ALICE" network create hb --subnet 10.52.0.1/24
bad "another user's network is not found" "network lab not found" as "$BOB" network show lab
bad "a public network from a non-admin is refused" "only an admin" as "$BOB" network create pub --subnet 10.53.0.0/24 --public
bad "a VM on another user's network is refused" "network lab not found" \
  as "$BOB" vm create sneak --image starter --memory 96M --disk 1G --network lab
[ "$(as "$ALICE" network list -o json | jq '.networks | length')" = 1 ] &&
  [ "$(as "$BOB" network list -o json | jq '.networks | length')" = 0 ] &&
  [ "$(as "$BOB" vm list -o json | jq '.vms | length')" = 0 ] &&
  tap_ok "nothing left behind: alice has one network, bob none and no VM" || tap_fail "leftovers after bad input"

# ---- two VMs of one network on two hosts ----
yun host disable hostB >/dev/null
as "$ALICE" vm create web1 --image starter --memory 96M --disk 1G --network lab >/dev/null
yun host enable hostB >/dev/null
yun host disable hostA >/dev/null
as "$ALICE" vm create web2 --image starter --memory 96M --disk 1G --network lab >/dev/null
yun host enable hostA >/dev/null
# alice's VM as the admin sees it: where a VM runs is the admin's to see (docs/api.md)
f() { yun vm show "$1" --owner alice -o json | jq -r ".$2"; }
[ "$(f web1 host)" = hostA ] && [ "$(f web2 host)" = hostB ] && tap_ok "web1 on A, web2 on B" ||
  tap_fail "placement: web1 $(f web1 host), web2 $(f web2 host)"
IP1=$(f web1 ip) IP2=$(f web2 ip)
[ "$IP1" = 10.50.0.2 ] && [ "$IP2" = 10.50.0.3 ] && [ "$(f web1 network)" = lab ] &&
  tap_ok "yund's IPAM: web1 $IP1, web2 $IP2 on lab" || tap_fail "addresses: $IP1 $IP2 ($(f web1 network))"
ready() { as "$3" vm console-log "$1" | grep -q "YUN-GUEST-ADDR $2"; }
wait_until 240 "web1 has its address" ready web1 "$IP1" "$ALICE" &&
  wait_until 240 "web2 has its address" ready web2 "$IP2" "$ALICE" &&
  tap_ok "each guest got its address by DHCP (YUN-GUEST-ADDR on its console)" ||
  { tap_fail "DHCP: web1 $(as "$ALICE" vm console-log web1 | grep YUN-GUEST | tail -2 | tr '\n' ' '), web2 $(as "$ALICE" vm console-log web2 | grep YUN-GUEST | tail -2 | tr '\n' ' ')"; }
MAC1=$(virsh -q -c "$A" domiflist yun-alice-web1 | awk '{print $5}')
[ "$MAC1" = 0a:59:0a:32:00:02 ] && tap_ok "web1's MAC derives from its address: $MAC1" || tap_fail "web1's MAC: $MAC1"
for h in A B; do
  ip -n "$(yun_testhost_netns $h)" -d link show "ynx$VNI" 2>/dev/null | grep -q "vxlan id $VNI" &&
    ip -n "$(yun_testhost_netns $h)" addr show "ynb$VNI" 2>/dev/null | grep -q "inet 10.50.0.1/24" ||
    tap_fail "host $h: no vxlan ynx$VNI or bridge ynb$VNI with the gateway"
done
ip netns exec "$NSA" bridge fdb show dev "ynx$VNI" | grep -q "00:00:00:00:00:00 dst $(yun_testhost_addr B)" &&
  ip netns exec "$NSB" bridge fdb show dev "ynx$VNI" | grep -q "00:00:00:00:00:00 dst $(yun_testhost_addr A)" &&
  tap_ok "VNI $VNI on both hosts, each host's flood list names the other" || tap_fail "fdb peers"

# from inside a guest (its /cgi-bin/net), asked over its host's bridge
guest() { ip netns exec "$1" curl -s --max-time 30 "http://$2/cgi-bin/net?op=$3&host=$4"; }
reach() { guest "$@" | grep -q "^rc=0"; }
wait_until 60 "web1 resolves web2" reach "$NSA" "$IP1" lookup web2 &&
  guest "$NSA" "$IP1" lookup web2 | grep -q "$IP2" && tap_ok "inside web1, DNS says web2 is $IP2" ||
  tap_fail "web1 resolves web2: $(guest "$NSA" "$IP1" lookup web2 | tr '\n' ' ')"
guest "$NSA" "$IP1" lookup "$IP2" | grep -q "web2" && tap_ok "and the reverse: $IP2 is web2" ||
  tap_fail "reverse lookup: $(guest "$NSA" "$IP1" lookup "$IP2" | tr '\n' ' ')"
wait_until 60 "web1 pings web2" reach "$NSA" "$IP1" ping web2 && tap_ok "web1 (host A) pings web2 (host B) by name" ||
  tap_fail "ping web2: $(guest "$NSA" "$IP1" ping web2 | tr '\n' ' ')"
guest "$NSA" "$IP1" get web2 | grep -q "Hello from a yun starter VM" &&
  tap_ok "web1 fetches http://web2/ across the VXLAN" || tap_fail "wget web2: $(guest "$NSA" "$IP1" get web2 | head -3 | tr '\n' ' ')"
guest "$NSB" "$IP2" get web1 | grep -q "Hello from a yun starter VM" && tap_ok "and web2 fetches http://web1/" ||
  tap_fail "wget web1 from web2"

# ---- another user's VM, on the same host, cannot reach them ----
yun settings set net.pool 10.96.0.0/16 >/dev/null && tap_ok "net.pool 10.96.0.0/16" || tap_fail "set net.pool"
yun host disable hostB >/dev/null
as "$BOB" vm create evil --image starter --memory 96M --disk 1G >/dev/null
yun host enable hostB >/dev/null
IPE=$(as "$BOB" vm show evil -o json | jq -r .ip)
[ "$(as "$BOB" vm show evil -o json | jq -r .network)" = default ] && [ "$IPE" = 10.96.0.2 ] &&
  as "$BOB" network show default -o json | jq -e '.subnet == "10.96.0.0/24"' >/dev/null &&
  tap_ok "bob's VM joined his default network 10.96.0.0/24 (from net.pool) as $IPE" || tap_fail "bob's default: $IPE"
wait_until 240 "evil has its address" ready evil "$IPE" "$BOB" && tap_ok "evil got $IPE by DHCP" ||
  tap_fail "evil's DHCP"
wait_until 60 "evil pings its gateway" reach "$NSA" "$IPE" ping 10.96.0.1 && tap_ok "evil reaches its own gateway" ||
  tap_fail "evil's gateway: $(guest "$NSA" "$IPE" ping 10.96.0.1 | tr '\n' ' ')"
out=$(guest "$NSA" "$IPE" ping "$IP1")
grep -q "^rc=0" <<<"$out" && tap_fail "bob's evil pings alice's web1: $out" ||
  { grep -q "^rc=" <<<"$out" && tap_ok "bob's evil (host A) cannot ping alice's web1 (host A)"; } || tap_fail "ping web1 from evil: $out"
out=$(guest "$NSA" "$IPE" get "$IP2")
grep -q "Hello" <<<"$out" && tap_fail "bob's evil fetched web2: $out" ||
  { grep -q "^rc=" <<<"$out" && tap_ok "nor fetch alice's web2 (host B)"; } || tap_fail "get web2 from evil: $out"
out=$(guest "$NSA" "$IPE" lookup web1)
grep -q "$IP1" <<<"$out" && tap_fail "bob's DNS names alice's web1" || tap_ok "bob's DNS does not know alice's web1"

# ---- web1 migrates live to B: same address, still reachable by name; A lets go of lab ----
# (A has no core left for web2: web1 and bob's evil hold both of a 2-core machine's)
out=$(yun vm migrate web1 --owner alice --to hostB --wait --timeout 300 2>&1)
rc=$?
[ $rc = 0 ] && [ "$(f web1 host)" = hostB ] && tap_ok "yun vm migrate web1 --to hostB" ||
  tap_fail "migrate web1 (rc $rc): $(tr '\n' ' ' <<<"$out")"
[ "$(f web1 ip)" = "$IP1" ] && [ "$(f web1 address)" = "$IP1" ] && tap_ok "web1 keeps $IP1" ||
  tap_fail "web1 after migration: ip $(f web1 ip), address $(f web1 address)"
wait_until 60 "web2 reaches web1 after the move" reach "$NSB" "$IP2" get web1 &&
  tap_ok "web2 still fetches http://web1/ by name" || tap_fail "after migration: $(guest "$NSB" "$IP2" get web1 | tr '\n' ' ')"
ip netns exec "$NSB" curl -s --max-time 20 "http://$IP1/" | grep -q Hello && tap_ok "host B reaches web1 at $IP1" ||
  tap_fail "host B to web1"
a_dropped() { ! ip -n "$NSA" link show "ynb$VNI" >/dev/null 2>&1 && ! ip -n "$NSA" link show "ynx$VNI" >/dev/null 2>&1; }
wait_until 30 "A drops lab" a_dropped && tap_ok "host A, with no VM of lab left, took down ynb$VNI and ynx$VNI" ||
  tap_fail "A still has lab's devices"
b_alone() { ! ip netns exec "$NSB" bridge fdb show dev "ynx$VNI" | grep -q "00:00:00:00:00:00 dst"; }
wait_until 30 "B drops A as peer" b_alone && tap_ok "host B's flood list for lab is empty now" ||
  tap_fail "B's peers: $(ip netns exec "$NSB" bridge fdb show dev "ynx$VNI" | grep dst | tr '\n' ' ')"
reach "$NSA" "$IPE" ping 10.96.0.1 && tap_ok "bob's network on A is untouched (evil pings its gateway)" ||
  tap_fail "evil after A dropped lab"

# ---- deletes leave nothing ----
bad "a network in use cannot be deleted, its VMs are named" "in use by 2 VMs \\(web1, web2\\)" as "$ALICE" network delete lab
as "$ALICE" vm delete web2 --wait >/dev/null 2>&1
gone() { ! reach "$NSB" "$IP1" lookup web2; }
wait_until 30 "web2's name gone" gone && tap_ok "web2 deleted: web1's DNS no longer knows it" ||
  { tap_fail "web2 still resolves: $(guest "$NSB" "$IP1" lookup web2 | tr '\n' ' ')"
    find "$YUN_TEST_DIR" -path "*/.net/*/$VNI/hosts" 2>/dev/null | while read -r h; do echo "# $h: $(tr '\n' ' ' <"$h")"; done
    grep -h "network\|dnsmasq" "$STATE"/agent-B.log | tail -5 | sed 's/^/# /'; }
as "$ALICE" vm delete web1 --wait >/dev/null 2>&1
as "$BOB" vm delete evil --wait >/dev/null 2>&1
out=$(as "$ALICE" network delete lab 2>&1) && out2=$(as "$BOB" network delete default 2>&1) &&
  tap_ok "networks deleted once their VMs are gone" || tap_fail "network delete: $out $out2"
leases=$(yun network list -o json | jq '[.networks[].vms] | add // 0')
[ "$(yun network list -o json | jq '.networks | length')" = 0 ] && [ "$leases" = 0 ] &&
  tap_ok "no network and no lease left" || tap_fail "left: $(yun network list | tr '\n' ' ')"
clean() { local h; for h in "$NSA" "$NSB"; do
    ip -n "$h" -o link show | grep -Eq ": yn[bx][0-9]+" && return 1; done
  ! ls "$STATE/vms/.net/"*/ 2>/dev/null | grep -q '^[0-9]'; }
wait_until 30 "hosts clean" clean && tap_ok "no bridge, VXLAN device or network folder left on either host" ||
  tap_fail "left on hosts: $(ip -n "$NSA" -o link show | grep -o 'yn[bx][0-9]*' | tr '\n' ' ') $(ls "$STATE/vms/.net/"*/ 2>/dev/null | tr '\n' ' ')"
cloud_dnsmasqs() { local p n=0; for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = dnsmasq ] && grep -qa -- "$STATE/vms/.net" "$p/cmdline" 2>/dev/null && n=$((n + 1))
  done; echo $n; }
no_dnsmasq() { [ "$(cloud_dnsmasqs)" = 0 ]; }
wait_until 10 "dnsmasqs gone" no_dnsmasq && tap_ok "no dnsmasq of a cloud network runs" ||
  tap_fail "$(cloud_dnsmasqs) dnsmasq left"
ebt=$(ip netns exec "$NSA" ebtables -L 2>/dev/null | grep -c "ynx")
[ "$ebt" = 0 ] && tap_ok "no ebtables rule left on A" || tap_fail "$ebt ebtables rules left on A"
tap_diag "test_cloud_net wall time: $((SECONDS - T_START)) s"
tap_done
