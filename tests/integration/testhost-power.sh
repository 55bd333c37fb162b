#!/usr/bin/env bash
# testhost-power.sh HOSTDIR on|off|fence|status: the test power driver (issues 10 and 11). yund's script power
# driver runs it for a test host of lib.sh (yun_testhost_up), which it switches off and on as a machine goes.
# The machine is everything in the host's cgroups (its libvirtd, virtlockd, guests and yun agent) but its
# virtlogd and network namespace, which stay as the machine's wiring would:
#   off     the agent and libvirtd are asked to stop (TERM, KILL after 10 s), then whatever is left (guests,
#           virtlockd) is killed, as the power cut that ends a shutdown
#   fence   everything is killed at once, frozen or not (HA's fence: a BMC's "chassis power off")
#   on      starts virtlockd and libvirtd again inside the host's namespaces and cgroups, then its agent, and
#           returns at once (a BMC's power-on does not wait for the boot either)
#   status  prints on or off, as the BMC says: what the last on or off made it (on until the first off)
# HOSTDIR/agent.args holds the agent's command line, one argument per line (the test writes it); the agent's
# pid goes to HOSTDIR/agent.pid, its log to HOSTDIR/agent.log.
set -u
H=${1:?usage: testhost-power.sh HOSTDIR on|off|fence|status}
what=${2:-}
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop() { # PIDFILE: TERM, then KILL after 10 s
  alive "$1" || return 0
  local pid i
  pid=$(cat "$1")
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
# cut: kills every process of the host's cgroups but its virtlogd; a frozen one dies once thawed
cut() {
  local keep cg p i left
  keep=$(cat "$H/virtlogd.pid" 2>/dev/null)
  for i in $(seq 1 50); do
    left=0
    while read -r cg; do
      [ -d "$cg" ] || continue
      for p in $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null); do
        [ "$p" = "$keep" ] && continue
        kill -KILL "$p" 2>/dev/null && left=1
      done
      [ -f "$cg/freezer.state" ] && echo THAWED >"$cg/freezer.state" 2>/dev/null
    done <"$H/cgroups"
    [ $left = 0 ] && break
    sleep 0.1
  done
  rm -f "$H/agent.pid"
}
case $what in
  status) cat "$H/power" 2>/dev/null || echo on ;;
  off)
    echo off >"$H/power"
    stop "$H/agent.pid"
    stop "$H/libvirtd.pid"
    cut ;;
  fence)
    echo off >"$H/power"
    cut ;;
  on)
    alive "$H/virtlogd.pid" || { echo "testhost-power: $H has no virtlogd: the test host is gone" >&2; exit 1; }
    echo on >"$H/power"
    alive "$H/libvirtd.pid" && alive "$H/agent.pid" && exit 0
    # the boot, in the background, inside the host's cgroups (the agent too: it is part of the machine):
    # virtlockd and libvirtd in the host's namespaces (those of its virtlogd), then the agent once libvirtd
    # answers
    setsid bash -c '
      H=$1
      alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
      while read -r cg; do [ -d "$cg" ] && echo $BASHPID > "$cg/cgroup.procs"; done < "$H/cgroups"
      ns="nsenter -t $(cat "$H/virtlogd.pid") -m -n -u -C"
      alive "$H/virtlockd.pid" || $ns virtlockd --daemon --pid-file "$H/virtlockd.pid"
      alive "$H/libvirtd.pid" || $ns libvirtd --daemon --pid-file "$H/libvirtd.pid"
      for i in $(seq 1 300); do
        timeout 10 virsh -c "qemu+unix:///system?socket=$H/run/libvirt-sock" version >/dev/null 2>&1 && break
        sleep 0.2
      done
      if ! alive "$H/agent.pid"; then
        mapfile -t args < "$H/agent.args"
        "${args[@]}" >> "$H/agent.log" 2>&1 &
        echo $! > "$H/agent.pid"
      fi
    ' testhost-power "$H" </dev/null >>"$H/power.log" 2>&1 &
    ;;
  *) echo "testhost-power: say on, off, fence or status, not '$what'" >&2; exit 2 ;;
esac
