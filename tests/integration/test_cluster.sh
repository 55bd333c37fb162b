#!/usr/bin/env bash
# Virtual clusters (docs/clusters.md) on three real test hosts, each agent in its own namespace, with real
# Debian 12 guests under TCG:
#   - `yun cluster create c --nodes 3 --image debian-12`: a head and 3 nodes spread over the 3 hosts (no host
#     holds two while another has none), on a network c made for the cluster from net.pool, every member's
#     address leased there;
#   - from the head, `ssh c-K hostname` answers K's name on every node, by name, without a password (the
#     cluster's key pair, made by yund and handed to each member by its seed);
#   - scale to 4 (c-3 joins, reachable from the head too), then back to 2 (c-3 and c-2 go: no domain, no disk,
#     no lease, and the network's dnsmasq no longer knows their names, asked from the head);
#   - a cluster that does not fit (more nodes than the hosts' cores) is refused saying why and leaves nothing:
#     no VM, lease, network;
#   - delete leaves no domain, disk file, lease, network, DNS server or cluster.
# yund runs in host A's namespace on A's address, so every agent reaches it over the test switch.
# run-tests: timeout=5400 (a debootstrap and six Debian boots under TCG on a loaded machine)
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

T_START=$SECONDS
HOSTS=(A B C)
for h in "${HOSTS[@]}"; do
  yun_testhost_up "$h" >/dev/null || { tap_fail "test host $h starts"; tap_done; exit 1; }
done
NSA=$(yun_testhost_netns A)
STATE=$YUN_TEST_DIR/state
export YUND_NETNS=$NSA YUND_ADDR=$(yun_testhost_addr A)
export YUN_DEBIAN_CACHE=$YUN_TEST_CACHE/debian-12 # where yund's build-debian finds the disk built below
yund_start "$STATE" none || { tap_fail "yund starts"; tap_done; exit 1; }

AGENT_PIDS=()
_agents_stop() { local p; for p in "${AGENT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${AGENT_PIDS[@]}"; do for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; done; }
yun_on_exit _agents_stop
for h in "${HOSTS[@]}"; do
  tok=$(host_join "host$h") || { tap_fail "yun host add host$h"; tap_done; exit 1; }
  ip netns exec "$(yun_testhost_netns $h)" "$YUN_BIN/yun-agent" --controller "$YUN_URL" --ca "$YUN_CA" \
    --join "$tok" --state "$STATE/agent-$h" --libvirt-uri "$(yun_testhost_uri $h)" \
    --migrate-addr "$(yun_testhost_addr $h)" >"$STATE/agent-$h.log" 2>&1 &
  AGENT_PIDS+=($!)
done
hosts_up() { [ "$(yun host list -o json | jq '[.hosts[] | select(.state == "up")] | length')" = 3 ]; }
wait_until 120 "three hosts up" hosts_up && tap_ok "three hosts, each agent in its own namespace" ||
  { tap_fail "hosts up"; tail -5 "$STATE"/agent-*.log | sed 's/^/# /'; }
CORES=$(yun host list -o json | jq '[.hosts[].cores] | add')

# the Debian disk is built from here (the namespaces have no way out to the mirror), then yund copies it
t0=$SECONDS
if out=$(bash "$YUN_ROOT/scripts/build-debian.sh" "$YUN_DEBIAN_CACHE" 2>&1); then
  tap_ok "scripts/build-debian.sh builds (or finds cached) the Debian disk ($((SECONDS - t0)) s)"
else
  tap_fail "scripts/build-debian.sh"; echo "$out" | tail -8 | sed 's/^/# /'; tap_done; exit 1
fi
if out=$(yun image build-debian debian-12 2>&1); then tap_ok "yun image build-debian debian-12"; else
  tap_fail "yun image build-debian"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi
K=$YUN_TEST_DIR/keys
mkdir -p "$K"
ssh-keygen -q -t ed25519 -N '' -C k1@test -f "$K/k1" && yun key add k1 "$K/k1.pub" >/dev/null || tap_fail "key k1"
yun settings set net.pool 10.97.0.0/16 >/dev/null && tap_ok "net.pool 10.97.0.0/16" || tap_fail "set net.pool"

# ---- what must leave nothing ----
nothing_left() { # no VM, no network, no cluster, no domain on any host, no disk file
  local h
  [ "$(yun vm list -o json | jq '.vms | length')" = 0 ] && [ "$(yun network list -o json | jq '.networks | length')" = 0 ] &&
    [ "$(yun cluster list -o json | jq '.clusters | length')" = 0 ] || return 1
  for h in "${HOSTS[@]}"; do [ -z "$(virsh -c "$(yun_testhost_uri $h)" list --all --name | grep .)" ] || return 1; done
  [ -z "$(ls "$STATE/vms" 2>/dev/null | grep -v '^\.')" ]
}
out=$(yun cluster create big --nodes $((CORES + 1)) --image debian-12 --memory 384M 2>&1) &&
  tap_fail "a cluster larger than the hosts is refused" ||
  { grep -q "cluster big does not fit: .*no host has 1 free cores" <<<"$out" && nothing_left &&
      tap_ok "a cluster of $((CORES + 2)) members on $CORES cores is refused, nothing left: $out" ||
      tap_fail "too big (nothing left: $(nothing_left && echo yes || echo no)): $out"; }
out=$(yun cluster create bad --nodes 0 --image debian-12 2>&1) && tap_fail "--nodes 0 is refused" ||
  { grep -q "nodes" <<<"$out" && nothing_left && tap_ok "--nodes 0 is refused: $out" || tap_fail "nodes 0: $out"; }
out=$(yun cluster create bad --nodes 1 --image nosuch 2>&1) && tap_fail "an unknown image is refused" ||
  { grep -qi "image" <<<"$out" && nothing_left && tap_ok "an unknown image is refused: $out" || tap_fail "image: $out"; }
out=$(yun cluster create bad --nodes 1 --image debian-12 --ssh-key nosuch 2>&1) && tap_fail "an unknown key is refused" ||
  { grep -q "no SSH key named 'nosuch'" <<<"$out" && nothing_left && tap_ok "an unknown key is refused: $out" ||
      tap_fail "key: $out"; }

# ---- a head and 3 nodes across the 3 hosts ----
T_CREATE=$SECONDS
out=$(yun cluster create c --nodes 3 --image debian-12 --memory 384M --ssh-key k1 -o json 2>&1) &&
  tap_ok "yun cluster create c --nodes 3 --image debian-12" || tap_fail "cluster create: $out"
members() { yun cluster show c -o json | jq -r '.members[] | "\(.name) \(.host) \(.ip)"'; }
members | sed 's/^/# /'
hosts_used=$(members | awk '{print $2}' | sort -u | wc -l)
most=$(members | awk '{print $2}' | sort | uniq -c | sort -rn | head -1 | awk '{print $1}')
[ "$(members | wc -l)" = 4 ] && [ "$hosts_used" = 3 ] && [ "$most" = 2 ] &&
  tap_ok "c-head, c-0, c-1, c-2 spread over all 3 hosts (4 members: one host holds two)" ||
  tap_fail "spread: $(members | tr '\n' '|')"
[ "$(yun network show c -o json | jq .vms)" = 4 ] && tap_ok "network c, made for the cluster, holds their 4 leases" ||
  tap_fail "network c: $(yun network show c -o json 2>&1)"
ns_of() { yun_testhost_netns "${1#host}"; }
HEAD_HOST=$(members | awk '$1 == "c-head" {print $2}')
HEAD_IP=$(members | awk '$1 == "c-head" {print $3}')
HNS=$(ns_of "$HEAD_HOST")
SSH=(ssh -i "$K/k1" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10
     -o LogLevel=ERROR)
on_head() { ip netns exec "$HNS" "${SSH[@]}" "debian@$HEAD_IP" "$@"; }
wait_until 1500 "SSH on c-head" on_head true && tap_ok "k1 logs in to c-head ($HEAD_IP on $HEAD_HOST) after $((SECONDS - T_CREATE)) s" ||
  { tap_fail "SSH to c-head"; yun vm console-log c-head | tail -10 | sed 's/^/# /'; }
node_answers() { [ "$(on_head ssh -o BatchMode=yes -o ConnectTimeout=10 "$1" hostname 2>/dev/null)" = "$1" ]; }
all_nodes() { local n; for n in "$@"; do node_answers "$n" || return 1; done; }
if wait_until 1500 "every node answers from the head" all_nodes c-0 c-1 c-2; then
  tap_ok "from c-head, ssh c-0/c-1/c-2 hostname answers each node's name, no password ($((SECONDS - T_CREATE)) s after create)"
else
  tap_fail "from the head: $(for n in c-0 c-1 c-2; do echo "$n: $(on_head ssh -o BatchMode=yes "$n" hostname 2>&1 | tail -1)"; done | tr '\n' '|')"
fi
perm=$(on_head "stat -c '%a %U' .ssh/id_ed25519" 2>&1) # one remote command line: ssh joins its arguments
[ "$perm" = "600 debian" ] && tap_ok "the cluster's private key is debian's, mode 0600" || tap_fail "key file: $perm"
on_head "ssh -o BatchMode=yes c-0 ssh -o BatchMode=yes c-head hostname" 2>/dev/null | grep -qx c-head &&
  tap_ok "and a node reaches the head (and onwards) the same way" || tap_fail "c-0 to c-head"

# ---- scale to 4, then back to 2 ----
T_SCALE=$SECONDS
out=$(yun cluster scale c --nodes 4 2>&1) && [ "$(yun cluster show c -o json | jq .nodes)" = 4 ] &&
  tap_ok "yun cluster scale c --nodes 4" || tap_fail "scale to 4: $out"
[ "$(members | wc -l)" = 5 ] && [ "$(members | awk '{print $2}' | sort -u | wc -l)" = 3 ] &&
  [ "$(members | awk '{print $2}' | sort | uniq -c | sort -rn | head -1 | awk '{print $1}')" = 2 ] &&
  tap_ok "c-3 went to a host holding one member only: $(members | awk '$1 == "c-3" {print $2}')" ||
  tap_fail "after scale: $(members | tr '\n' '|')"
wait_until 1500 "c-3 answers from the head" node_answers c-3 &&
  tap_ok "from c-head, ssh c-3 hostname answers c-3 ($((SECONDS - T_SCALE)) s after the scale)" ||
  tap_fail "c-3 from the head: $(on_head ssh -o BatchMode=yes c-3 hostname 2>&1 | tail -1)"
U3=$(vm_field c-3 uuid) U2=$(vm_field c-2 uuid)
out=$(yun cluster scale c --nodes 2 2>&1) && tap_ok "yun cluster scale c --nodes 2" || tap_fail "scale to 2: $out"
two_left() { [ "$(members | wc -l)" = 3 ] && ! members | grep -q '^c-[23] '; }
wait_until 300 "c-2 and c-3 gone" two_left && tap_ok "c-2 and c-3 are gone from the cluster" ||
  tap_fail "after scale to 2: $(members | tr '\n' '|')"
no_domain() { local h u; for h in "${HOSTS[@]}"; do for u in "$@"; do
  virsh -c "$(yun_testhost_uri $h)" list --all --uuid | grep -qx "$u" && return 1; done; done; return 0; }
no_domain "$U2" "$U3" && [ -n "$U2$U3" ] && [ ! -e "$STATE/vms/$U2.qcow2" ] && [ ! -e "$STATE/vms/$U3.qcow2" ] &&
  tap_ok "no domain or disk of c-2 or c-3 on any host" || tap_fail "c-2/c-3 left: $(ls "$STATE/vms" | tr '\n' ' ')"
[ "$(yun network show c -o json | jq .vms)" = 3 ] && tap_ok "network c holds 3 leases" ||
  tap_fail "leases: $(yun network show c -o json | jq .vms)"
unknown() { ! on_head getent hosts "$1" >/dev/null 2>&1; }
both_unknown() { unknown c-3 && unknown c-2; }
wait_until 120 "c-2 and c-3 unknown to DNS" both_unknown && on_head getent hosts c-1 >/dev/null &&
  tap_ok "the network's dnsmasq, asked from the head, knows c-1 but no longer c-2 or c-3" ||
  tap_fail "DNS: c-2 $(on_head getent hosts c-2) c-3 $(on_head getent hosts c-3)"

# ---- delete leaves nothing ----
UUIDS=$(yun cluster show c -o json | jq -r '.members[].name' | while read -r m; do vm_field "$m" uuid; done)
out=$(yun cluster delete c 2>&1) && tap_ok "yun cluster delete c: $out" || tap_fail "cluster delete: $out"
wait_until 300 "cluster c gone" nothing_left && tap_ok "no VM, network, lease, cluster, domain or disk file left" ||
  tap_fail "left: $(yun vm list | tr '\n' '|') $(yun network list | tr '\n' '|') $(ls "$STATE/vms" | tr '\n' ' ')"
cloud_dnsmasqs() { local p n=0; for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = dnsmasq ] && grep -qa -- "$STATE/vms/.net" "$p/cmdline" 2>/dev/null && n=$((n + 1))
  done; echo $n; }
no_dnsmasq() { [ "$(cloud_dnsmasqs)" = 0 ]; }
# shellcheck disable=SC2086 # one uuid per word
wait_until 30 "dnsmasqs gone" no_dnsmasq && no_domain $UUIDS && tap_ok "no dnsmasq of the cluster's network runs" ||
  tap_fail "$(cloud_dnsmasqs) dnsmasq left"
tap_diag "test_cluster wall time: $((SECONDS - T_START)) s"
tap_done
