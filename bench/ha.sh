#!/usr/bin/env bash
# How long a host's death costs its VMs (issue 11): three test hosts (tests/integration/lib.sh: own namespaces,
# libvirtd, virtlockd and yun-agent each, on one shared storage, switched and fenced by the test power driver
# tests/integration/testhost-power.sh through yund's script driver) and VMS small TCG starter guests, all on one
# host. Each round freezes the host that holds them (every process of the machine stopped, as a hung host)
# and times until every VM runs on another host (the figure: when yund heard the last of them run, its
# started_ms), checking that each then runs there once: yund's state running, one QEMU process on the machine,
# and libvirt running it on that host only. Meanwhile, every half second, a VM with two QEMU processes or on
# two hosts' libvirt is a double run. Then the dead host is woken and the next round freezes the VMs' new host.
# yund's HA settings are the defaults (ha.suspect_ms 6000, ha.dead_ms 15000, agent.interval_ms 2000), so the
# figure is what an operator gets: about dead_ms, plus the fence and the starts.
# usage: bench/ha.sh BUILD [ROUNDS]   (ROUNDS: 3; environment: VMS, 2)
# Last line: {"median_s": N, "rounds": N, "double_runs": N}
set -u
BUILD=$(cd "${1:?usage: bench/ha.sh BUILD [ROUNDS]}" && pwd)
ROUNDS=${2:-3}
VMS=${VMS:-2}
export YUN_BUILD=$BUILD YUN_ROOT=$(cd "$(dirname "$0")/.." && pwd)
export YUN_TESTHOST_LOCKD=1
. "$YUN_ROOT/tests/integration/lib.sh"
. "$YUN_ROOT/tests/integration/cloud.sh"
die() { echo "ha: $*" >&2; exit 1; }
STATE=$YUN_TEST_DIR/state
HOSTS=(A B C)
for n in "${HOSTS[@]}"; do yun_testhost_up "$n" >/dev/null || die "test host $n did not start"; done
yund_start "$STATE" none >&2 || die "yund did not start"
yun settings set dispatch.mode off >/dev/null || die "yun settings set dispatch.mode off"
powered_agents "$STATE" "" "" "${HOSTS[@]}" || die "the hosts did not come up"
yun image build-starter >/dev/null 2>&1 || die "yun image build-starter failed"
yun host disable B >/dev/null && yun host disable C >/dev/null
for i in $(seq 1 "$VMS"); do
  yun vm create "v$i" --image starter --cpus 1 --memory 128M --disk 1G >/dev/null 2>&1 || die "creating v$i"
done
yun host enable B >/dev/null && yun host enable C >/dev/null
all_running() { local i; for i in $(seq 1 "$VMS"); do vm_state_is "v$i" running || return 1; done; }
wait_until 300 "the guests running" all_running || die "the guests did not start"
echo "# $VMS guests on A; $(yun settings list -o json | jq -c '.settings | with_entries(select((.key | startswith("ha.")) or .key == "agent.interval_ms"))')"

now() { date +%s%3N; } # ms
double=0
times=()
for r in $(seq 1 "$ROUNDS"); do
  H=$(vm_field v1 host)
  others=()
  for n in "${HOSTS[@]}"; do [ "$n" != "$H" ] && others+=("$n"); done
  echo FROZEN >"$(cgroup_of "$H" freezer)/freezer.state" || die "freezing $H"
  t0=$(now)
  done_at=""
  while [ -z "$done_at" ]; do
    ok=1
    for i in $(seq 1 "$VMS"); do
      u=$(vm_field "v$i" uuid)
      # the frozen host's libvirt does not answer: its copies count through their QEMU processes
      [ "$(vm_qemus "$u")" -gt 1 ] && { double=$((double + 1)); echo "# round $r: v$i has $(vm_qemus "$u") QEMU processes"; }
      [ "$(vm_libvirt_hosts "$u" "${others[@]}" | wc -w)" -gt 1 ] && { double=$((double + 1)); echo "# round $r: v$i runs on two hosts"; }
      vm_once "v$i" "$H" "${others[@]}" || ok=0
    done
    [ $ok = 1 ] && done_at=$(now)
    [ -z "$done_at" ] && [ $((($(now) - t0) / 1000)) -gt 240 ] && die "round $r: the VMs did not run elsewhere within 240 s"
    sleep 0.5
  done
  # the figure: when yund heard the last of them run again (started_ms), not when this loop saw it
  started=0
  for i in $(seq 1 "$VMS"); do
    st=$(vm_field "v$i" started_ms)
    [ "$st" -gt "$started" ] && started=$st
  done
  s=$(awk -v ms=$((started - t0)) 'BEGIN {printf "%.1f", ms / 1000}')
  times+=("$s")
  # when yund judged and fenced it, and placed the last VM again (its decisions' wall clocks)
  fenced=$(yun dispatch log -o json | jq --arg h "$H" '[.decisions[] | select(.kind == "fence" and .from == $h) | .at_ms] | max')
  placed=$(yun dispatch log -o json | jq --arg h "$H" '[.decisions[] | select(.kind == "restart" and .from == $h) | .at_ms] | max')
  echo "# round $r: $H frozen -> $(for i in $(seq 1 "$VMS"); do printf 'v%s on %s ' "$i" "$(vm_field "v$i" host)"; done)running after $s s (fenced at $(awk -v ms=$((fenced - t0)) 'BEGIN {printf "%.1f", ms / 1000}') s, placed again at $(awk -v ms=$((placed - t0)) 'BEGIN {printf "%.1f", ms / 1000}') s); $H $(host_state "$H")"
  yun host wake "$H" >/dev/null || die "waking $H"
  wait_until 120 "$H up" host_is "$H" up || die "$H did not come back"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m}')
echo "{\"median_s\": $median, \"rounds\": $ROUNDS, \"double_runs\": $double}"
