#!/usr/bin/env bash
# Cluster ready time against node count (docs/clusters.md): three test hosts (tests/integration/lib.sh: own
# namespaces, libvirtd and yun-agent each), yund in host A's namespace, the Debian 12 image (scripts/
# build-debian.sh, cached under BUILD/test-cache). For each node count N: `yun cluster create b --nodes N
# --image debian-12 --memory 384M`, then times until every node answers `ssh b-K hostname` from the head (the
# head reached over SSH from its host with a key of the test's); then deletes the cluster and waits until it is
# gone. Guests run under TCG (no KVM here): every member boots a whole Debian under emulation, and they share
# the machine's cores, so the figure grows with N far faster than on hosts with KVM.
# usage: bench/cluster_ready.sh BUILD [N...]   (N: 1 2 4)
# One line per N: {"nodes": N, "members": N+1, "ready_s": S, "head_ssh_s": S}; a last line with the load.
set -u
BUILD=$(cd "${1:?usage: bench/cluster_ready.sh BUILD [N...]}" && pwd)
shift
COUNTS=("$@")
[ ${#COUNTS[@]} = 0 ] && COUNTS=(1 2 4)
export YUN_BUILD=$BUILD YUN_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$YUN_ROOT/tests/integration/lib.sh"
. "$YUN_ROOT/tests/integration/cloud.sh"
die() { echo "cluster_ready: $*" >&2; exit 1; }
STATE=$YUN_TEST_DIR/state
HOSTS=(A B C)
for h in "${HOSTS[@]}"; do yun_testhost_up "$h" >/dev/null || die "test host $h did not start"; done
export YUND_NETNS=$(yun_testhost_netns A) YUND_ADDR=$(yun_testhost_addr A)
export YUN_DEBIAN_CACHE=$YUN_TEST_CACHE/debian-12
yund_start "$STATE" none >&2 || die "yund did not start"
AGENT_PIDS=()
_agents_stop() { local p; for p in "${AGENT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${AGENT_PIDS[@]}"; do for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; done; }
yun_on_exit _agents_stop
for h in "${HOSTS[@]}"; do
  tok=$(host_join "host$h") || die "yun host add host$h"
  ip netns exec "$(yun_testhost_netns $h)" "$YUN_BIN/yun-agent" --controller "$YUN_URL" --ca "$YUN_CA" \
    --join "$tok" --state "$STATE/agent-$h" --libvirt-uri "$(yun_testhost_uri $h)" \
    --migrate-addr "$(yun_testhost_addr $h)" >"$STATE/agent-$h.log" 2>&1 &
  AGENT_PIDS+=($!)
done
hosts_up() { [ "$(yun host list -o json | jq '[.hosts[] | select(.state == "up")] | length')" = 3 ]; }
wait_until 120 "three hosts up" hosts_up || die "the hosts did not come up"
bash "$YUN_ROOT/scripts/build-debian.sh" "$YUN_DEBIAN_CACHE" >/dev/null 2>&1 || die "scripts/build-debian.sh failed"
yun image build-debian debian-12 >/dev/null 2>&1 || die "yun image build-debian failed"
yun settings set net.pool 10.99.0.0/16 >/dev/null || die "set net.pool"
K=$YUN_TEST_DIR/k
ssh-keygen -q -t ed25519 -N '' -f "$K" && yun key add k "$K.pub" >/dev/null || die "key"
SSH=(ssh -i "$K" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10
     -o LogLevel=ERROR)
now() { date +%s%3N; }
for n in "${COUNTS[@]}"; do
  t0=$(now)
  yun cluster create b --nodes "$n" --image debian-12 --memory 384M --ssh-key k >/dev/null || die "create with $n nodes"
  host=$(yun cluster show b -o json | jq -r '.members[] | select(.role == "head") | .host')
  ip=$(yun cluster show b -o json | jq -r '.members[] | select(.role == "head") | .ip')
  ns=$(yun_testhost_netns "${host#host}")
  on_head() { ip netns exec "$ns" "${SSH[@]}" "debian@$ip" "$@"; }
  wait_until 3600 "SSH on the head" on_head true || die "the head never answered SSH ($n nodes)"
  t1=$(now)
  every() { local k; for k in $(seq 0 $((n - 1))); do
      [ "$(on_head ssh -o BatchMode=yes -o ConnectTimeout=10 "b-$k" hostname 2>/dev/null)" = "b-$k" ] || return 1; done; }
  wait_until 3600 "every node from the head" every || die "not every node answered ($n nodes)"
  t2=$(now)
  echo "{\"nodes\": $n, \"members\": $((n + 1)), \"ready_s\": $(((t2 - t0) / 1000)), \"head_ssh_s\": $(((t1 - t0) / 1000))}"
  yun cluster delete b >/dev/null || die "delete"
  gone() { [ "$(yun cluster list -o json | jq '.clusters | length')" = 0 ]; }
  wait_until 600 "cluster gone" gone || die "the cluster did not go"
done
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; hosts: 3 test hosts (namespaces) of this machine, TCG"
