#!/usr/bin/env bash
# Guests get a network and an address (docs/networking.md), on a private test host with one real TCG guest:
#   - when the network cannot be made (here: an interface named yunbr0 is in the way) the agent runs on, says
#     why and how to fix it, leaves no half-made network, and tries again: once the obstacle is gone the
#     network comes up by itself;
#   - the agent sets up yun's NAT network on its host by itself: libvirt network "yun" (bridge yunbr0,
#     dnsmasq DHCP, NAT), active and autostarted, on the first free 10.203.K.0/24 (another network of the host
#     already has 10.203.0.0/24 here, as libvirt's "default" or an operator's could: so 10.203.1.0/24);
#   - the starter guest gets a DHCP lease on it; the agent learns the address (the network's leases) and yund
#     shows it (`yun vm show -o json`, `yun vm list`), the same address the guest printed on its console;
#   - the guest's httpd answers curl from the host (its network namespace) on that address, port 80;
#   - the VM's probe (--probe http://:80/) succeeds with a response time within a few metrics intervals;
#   - the guest's CPU load, set through its /cgi-bin/load, shows in yun's CPU figure (80%, then 0%);
#   - with placement.algorithm gmm and dispatch.mode auto, the dispatcher allocates nw1 its max_mhz (30% of its
#     vCPU): virsh schedinfo shows that cap, and the guest at full load is held to it (issue 10, item 2);
#   - once the guest's httpd is killed (typed on its VNC console), the probe fails, and `yun vm metrics`,
#     `yun top -o json` and the agent's log say why; stopped, the VM has no address;
#   - with --bridge br0 (an operator's bridge, with a DHCP server the test runs on it), the same VM started
#     again is on br0, gets the LAN's address, which the agent learns from the host's ARP table, and answers.
# yund --all-in-one runs inside the test host's network namespace, where a host's agent runs: the guests'
# network is private to that host, and only the host reaches them.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

URI=$(yun_testhost_up nw) || { tap_fail "test host starts"; tap_done; exit 1; }
NS=$(yun_testhost_netns nw)
STATE=$YUN_TEST_DIR/state
export YUND_NETNS=$NS
# the namespace has no way out to Debian's mirror: fetch the starter's packages from here first
yun_starter_image >/dev/null || { tap_fail "the starter image's packages are fetched"; tap_done; exit 1; }

# another network of this host holds 10.203.0.0/24 (defined, not running: it counts all the same)
cat >"$YUN_TEST_DIR/taken.xml" <<'XML'
<network><name>taken</name><bridge name='takenbr0'/><ip address='10.203.0.1' netmask='255.255.255.0'/></network>
XML
virsh -c "$URI" net-define "$YUN_TEST_DIR/taken.xml" >/dev/null && tap_ok "network taken holds 10.203.0.0/24" ||
  tap_fail "defining network taken"
# and an interface named like yun's bridge is in the way: the network cannot start
ip -n "$NS" link add yunbr0 type veth peer name yunbr0p && tap_ok "an interface yunbr0 is in the way" ||
  tap_fail "adding interface yunbr0"

yund_start "$STATE" "$URI" || { tap_fail "yund starts"; tap_done; exit 1; }
tap_ok "yund --all-in-one starts in the test host's namespace"

# ---- the host's network, made by the agent ----
wait_until 60 "host registered" bash -c '[ "$(yun host list -o json | jq ".hosts | length")" = 1 ]' &&
  tap_ok "the agent registers its host (though its guests' network fails)" || tap_fail "the agent registers its host"
said_why() { grep -q "guests get no network until this works: .*yunbr0.*File exists.*dnsmasq-base.*--bridge BR.*--no-guest-network" "$STATE/yund.log"; }
wait_until 30 "the agent's complaint" said_why && tap_ok "the agent says why there is no network and what fixes it" ||
  tap_fail "the agent's log: $(grep -i network "$STATE/yund.log" | tail -3)"
virsh -c "$URI" net-list --all --name 2>/dev/null | grep -qx yun && tap_fail "a half-made network yun is left" ||
  tap_ok "no half-made network yun is left"
ip -n "$NS" link del yunbr0 && tap_ok "the obstacle is removed" || tap_fail "removing yunbr0"
# (meanwhile, the image: building it takes a while too)
if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi
net_active() { virsh -c "$URI" net-info yun 2>/dev/null | grep -Eq '^Active: +yes'; }
# the agent tries again every minute
if wait_until 100 "network yun active" net_active; then
  tap_ok "the agent tried again, defined and started libvirt network yun"
else
  tap_fail "network yun is active"; virsh -c "$URI" net-list --all | sed 's/^/# /'
  grep -i network "$STATE/yund.log" | tail -5 | sed 's/^/# /'
fi
virsh -c "$URI" net-info yun 2>/dev/null | grep -Eq '^Autostart: +yes' && tap_ok "network yun starts with the host" ||
  tap_fail "network yun is not autostarted"
netxml=$(virsh -c "$URI" net-dumpxml yun 2>/dev/null)
grep -q "<forward mode='nat'" <<<"$netxml" && grep -q "address='10.203.1.1'" <<<"$netxml" &&
  grep -q "name='yunbr0'" <<<"$netxml" && tap_ok "network yun: NAT, bridge yunbr0, 10.203.1.1/24 (the first free /24)" ||
  tap_fail "network yun: $(tr -d '\n' <<<"$netxml" | head -c 400)"
grep -q "guests join network yun (10.203.1.0/24, bridge yunbr0, NAT): defined it" "$STATE/yund.log" &&
  tap_ok "the agent's log says which network guests join" || tap_fail "the agent's log names the network"

# ---- one guest ----
out=$(yun vm create nw1 --image starter --cpus 1 --memory 128M --disk 1G --probe http://:80/ 2>&1) &&
  tap_ok "vm create nw1 --probe http://:80/" || tap_fail "vm create nw1: $out"
# boots take 30-90 s on this loaded machine
wait_until 240 "nw1 running" vm_state_is nw1 running && tap_ok "nw1 reaches running" ||
  tap_fail "nw1 reaches running ($(vm_field nw1 state): $(vm_field nw1 error))"
DOM=$(vm_field nw1 domain)
virsh -c "$URI" domiflist "$DOM" 2>/dev/null | grep -Eq ' network +yun +virtio ' &&
  tap_ok "nw1's NIC is on network yun" || tap_fail "nw1's NIC: $(virsh -c "$URI" domiflist "$DOM" 2>&1 | tr '\n' ' ')"

has_addr() { [ -n "$(vm_field nw1 address)" ]; }
if wait_until 180 "nw1's address" has_addr; then
  ADDR=$(vm_field nw1 address)
  tap_ok "nw1 has an address: $ADDR (yun vm show -o json)"
else
  ADDR=""
  tap_fail "nw1 has an address"
  yun vm console-log nw1 | tail -5 | sed 's/^/# /'
fi
[[ $ADDR =~ ^10\.203\.1\.([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 2 ] && [ "${BASH_REMATCH[1]}" -le 254 ] &&
  tap_ok "the address is in the network's DHCP range" || tap_fail "the address '$ADDR' is not in 10.203.1.2-254"
guest_said() { yun vm console-log nw1 | tr -d '\r' | grep -q "^YUN-GUEST-ADDR $ADDR\$"; }
wait_until 30 "the guest's own word" guest_said && tap_ok "it is the address the guest got (its console: YUN-GUEST-ADDR)" ||
  tap_fail "the guest's console says $(yun vm console-log nw1 | grep -a YUN-GUEST-ADDR)"
yun vm list | grep -Eq "^nw1 +running +[^ ]+ +$ADDR " && tap_ok "yun vm list shows the address" ||
  tap_fail "yun vm list: $(yun vm list | tr '\n' '|')"
yun vm show nw1 | grep -Eq "^address: +$ADDR\$" && tap_ok "yun vm show shows the address" ||
  tap_fail "yun vm show: $(yun vm show nw1 | grep address)"

# ---- the guest answers from the host ----
if [ -n "$ADDR" ] && page=$(in_ns curl -sS -m 20 "http://$ADDR:80/" 2>&1) && grep -q "Hello from a yun starter VM" <<<"$page"; then
  tap_ok "curl http://$ADDR:80/ from the host answers with the guest's page"
else
  tap_fail "curl http://$ADDR:80/ from the host: $(head -c 200 <<<"${page:-}")"
fi

# ---- the probe ----
vm_latest() { yun top --once -o json | jq -r ".vms[] | select(.name == \"nw1\") | .metrics.$1 // empty"; }
probe_up() { [ "$(vm_latest probe_ok)" = 1 ] && [ -n "$(vm_latest probe_ms)" ]; }
# the address reaches yund with the next report, the sampler with its next answer: a few 5 s intervals
if wait_until 60 "the probe succeeds" probe_up; then
  tap_ok "the probe succeeds with a response time ($(vm_latest probe_ms) ms)"
else
  tap_fail "the probe succeeds (probe_ok $(vm_latest probe_ok), probe_ms $(vm_latest probe_ms))"
fi
yun vm metrics nw1 --since 2m -o json | jq -e '.avg.probe_ok | map(select(. == 1)) | length > 0' >/dev/null &&
  yun vm metrics nw1 --since 2m -o json | jq -e '.avg.probe_ms | map(select(. != null and . > 0)) | length > 0' >/dev/null &&
  tap_ok "yun vm metrics has the probe's successes and times" || tap_fail "yun vm metrics has no probe success"
yun vm metrics nw1 --since 2m | sed 's/^/# /' | tail -4

# ---- a CPU load the test drives (the starter's /cgi-bin/load): yun's CPU figure follows it ----
load_set() { in_ns curl -sS -m 20 "http://$ADDR:80/cgi-bin/load?pct=$1" 2>&1; }
cpu_now() { printf '%.0f' "$(vm_latest cpu_pct)"; }
cpu_cmp() { local c; c=$(vm_latest cpu_pct); [ -n "$c" ] && awk -v c="$c" -v t="$2" "BEGIN { exit !(c $1 t) }"; }
bad=$(in_ns curl -sS -m 20 -w ' %{http_code}' "http://$ADDR:80/cgi-bin/load?pct=101" 2>&1)
grep -q "give a whole percent from 0 to 100" <<<"$bad" && [ "${bad##* }" = 400 ] && tap_ok "the guest refuses load 101 with a 400 saying why" ||
  tap_fail "load 101: $bad"
[ "$(load_set 80)" = 80 ] && tap_ok "the guest takes load 80%" || tap_fail "setting load 80: $(load_set 80)"
wait_until 60 "CPU above 50%" cpu_cmp '>' 50 && tap_ok "yun top shows the guest's CPU at $(cpu_now)% under load 80" ||
  tap_fail "CPU under load 80: $(vm_latest cpu_pct)"
[ "$(load_set 0)" = 0 ] && tap_ok "the guest takes load 0" || tap_fail "setting load 0: $(load_set 0)"
wait_until 60 "CPU below 20%" cpu_cmp '<' 20 && tap_ok "the guest's CPU falls to $(cpu_now)% at load 0" ||
  tap_fail "CPU at load 0: $(vm_latest cpu_pct)"

# ---- the dispatcher's allocation as the guest's cap ----
HMHZ=$(yun host list -o json | jq '.hosts[0].mhz')
MAX=$((HMHZ * 30 / 100))
yun vm set nw1 --max-mhz "$MAX" >/dev/null
for kv in "placement.algorithm gmm" "dispatch.interval_ms 1000" "dispatch.mode auto"; do
  yun settings set $kv >/dev/null
done
allocated() { [ "$(vm_field nw1 alloc_mhz)" = "$MAX" ]; }
wait_until 30 "alloc_mhz $MAX" allocated && tap_ok "gmm allocates nw1 its max: $MAX MHz of its ${HMHZ} MHz vCPU (yun vm show)" ||
  tap_fail "nw1's allocation: $(vm_field nw1 alloc_mhz), wanted $MAX"
capped() {
  local s period quota
  s=$(virsh -c "$URI" schedinfo "$DOM" --live 2>/dev/null)
  period=$(awk '$1=="vcpu_period"{print $3}' <<<"$s")
  quota=$(awk '$1=="vcpu_quota"{print $3}' <<<"$s")
  [ -n "$period" ] && [ "$quota" = $((period * ((MAX * 100 + HMHZ - 1) / HMHZ) / 100)) ]
}
wait_until 30 "schedinfo shows the cap" capped && tap_ok "virsh schedinfo: the allocation is its cap ($(virsh -c "$URI" schedinfo "$DOM" --live | awk '$1=="vcpu_quota"{print $3}') of each period)" ||
  { tap_fail "schedinfo shows the allocation as the cap"; virsh -c "$URI" schedinfo "$DOM" --live | sed 's/^/# /'; }
load_set 100 >/dev/null
sleep 12 # two samples at full load
held() { cpu_cmp '<' 40 && cpu_cmp '>' 15; }
wait_until 30 "CPU held near 30%" held && tap_ok "at load 100 the guest is held to its allocation: $(cpu_now)% CPU" ||
  tap_fail "CPU at load 100 under a 30% allocation: $(vm_latest cpu_pct)"
load_set 0 >/dev/null
for kv in "dispatch.mode advise" "placement.algorithm first-fit"; do
  yun settings set $kv >/dev/null
done

# the service dies: httpd killed at the guest's console, as its user would
disp=$(virsh -q -c "$URI" domdisplay "$DOM" 2>/dev/null)
port=$((5900 + ${disp##*:}))
if out=$(in_ns python3 "$YUN_ROOT/tests/integration/rfb_type.py" 127.0.0.1 "$port" "killall httpd" 2>&1); then
  tap_ok "typed killall httpd at nw1's console ($out)"
else
  tap_fail "typing at nw1's console ($disp): $out"
fi
probe_down() { [ "$(vm_latest probe_ok)" = 0 ] && [ -z "$(vm_latest probe_ms)" ]; }
if wait_until 60 "the probe fails" probe_down; then
  tap_ok "the probe fails once the guest's httpd is gone (probe_ok 0, no time)"
else
  tap_fail "the probe fails (probe_ok $(vm_latest probe_ok), probe_ms $(vm_latest probe_ms))"
fi
why=$(yun vm metrics nw1 --since 1m | grep '^probe failing: ')
grep -Eq "^probe failing: http://$ADDR:80/: (Couldn't connect|Failed to connect)" <<<"$why" &&
  tap_ok "yun vm metrics says why: $why" || tap_fail "yun vm metrics says why the probe fails: '$why'"
top_why=$(yun top --once -o json | jq -r '.vms[] | select(.name == "nw1") | .probe_error // empty')
[ -n "$top_why" ] && tap_ok "yun top -o json has the reason too" || tap_fail "yun top -o json has no probe_error"
grep -Eq "probe of nw1 .*failed: .*(Couldn't connect|Connection refused|Failed to connect)" "$STATE/yund.log" &&
  tap_ok "the agent's log says why: $(grep -Eo "probe of nw1 .*failed: .*" "$STATE/yund.log" | tail -1)" ||
  tap_fail "the agent's log says why the probe failed: $(grep -i probe "$STATE/yund.log" | tail -3)"

# ---- stopped: no address ----
yun vm stop nw1 --wait >/dev/null 2>&1 && tap_ok "nw1 stops" || tap_fail "nw1 stops ($(vm_field nw1 state))"
no_addr() { [ -z "$(vm_field nw1 address)" ]; }
wait_until 30 "no address" no_addr && tap_ok "a stopped VM has no address" ||
  tap_fail "a stopped VM still has address $(vm_field nw1 address)"

# ---- an operator's bridge: --bridge br0 ----
# br0 with the host's address on it and a DHCP server the operator runs (here a dnsmasq of the test's own,
# ended by its pid): the LAN of a data centre, in small
ip -n "$NS" link add br0 type bridge && ip -n "$NS" addr add 10.204.0.1/24 dev br0 && ip -n "$NS" link set br0 up &&
  tap_ok "the host has a bridge br0 (10.204.0.1/24)" || tap_fail "making bridge br0"
ip netns exec "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --user=root --port=0 --interface=br0 \
  --bind-interfaces --dhcp-range=10.204.0.50,10.204.0.99,1h --dhcp-leasefile="$YUN_TEST_DIR/br0.leases" \
  --pid-file="$YUN_TEST_DIR/br0.pid" >"$YUN_TEST_DIR/br0-dnsmasq.log" 2>&1 &
BR_DHCP=$!
yun_on_exit "kill $BR_DHCP"
yund_stop
yund_start "$STATE" "$URI" --bridge br0 || { tap_fail "yund starts with --bridge br0"; tap_done; exit 1; }
wait_until 30 "the agent's word on br0" grep -q "guests join the host's bridge br0 (--bridge)" "$STATE/yund.log" &&
  tap_ok "yund --bridge br0: the agent puts guests on br0" || tap_fail "the agent's log names br0"
yun vm start nw1 --wait >/dev/null 2>&1 && tap_ok "nw1 starts again" || tap_fail "nw1 starts again ($(vm_field nw1 state))"
virsh -c "$URI" domiflist "$DOM" 2>/dev/null | grep -Eq ' bridge +br0 +virtio ' && tap_ok "nw1's NIC is on bridge br0" ||
  tap_fail "nw1's NIC: $(virsh -c "$URI" domiflist "$DOM" 2>&1 | tr '\n' ' ')"
addr_on_br0() { [[ $(vm_field nw1 address) =~ ^10\.204\.0\. ]]; }
if wait_until 180 "nw1's address on br0" addr_on_br0; then
  ADDR=$(vm_field nw1 address)
  tap_ok "nw1 has the LAN's address $ADDR (learnt from the host's ARP table)"
else
  tap_fail "nw1 has an address on br0 ($(vm_field nw1 address); console: $(yun vm console-log nw1 | grep -a YUN-GUEST-ADDR | tail -1))"
fi
page=$(in_ns curl -sS -m 20 "http://$ADDR:80/" 2>&1)
grep -q "Hello from a yun starter VM" <<<"$page" && tap_ok "curl http://$ADDR:80/ from the host answers" ||
  tap_fail "curl http://$ADDR:80/: $(head -c 200 <<<"$page")"
wait_until 60 "the probe succeeds on br0" probe_up && tap_ok "the probe succeeds on br0 ($(vm_latest probe_ms) ms)" ||
  tap_fail "the probe on br0 (probe_ok $(vm_latest probe_ok))"
virsh -c "$URI" net-info yun 2>/dev/null | grep -Eq '^Active: +yes' && tap_ok "network yun is left as it was" ||
  tap_fail "network yun went away"

yun vm delete nw1 --wait >/dev/null 2>&1 && tap_ok "nw1 deleted" || tap_fail "nw1 deleted"
tap_done
