#!/usr/bin/env bash
# testhost-power.sh HOSTDIR on|off|status: the test power driver (issue 10, item 4). yund's script power driver
# runs it for a test host of lib.sh (yun_testhost_up), which it switches off and on as a machine goes:
#   off     stops the host's yun agent and its libvirtd (yund puts only empty hosts on standby; a guest still
#           there dies with them, as in a power cut); the host's network namespace and virtlogd stay, as the
#           machine's wiring would;
#   on      starts libvirtd again inside the host's namespaces and cgroups, then its agent, and returns at once
#           (a BMC's power-on does not wait for the boot either);
#   status  prints on or off: whether the host's libvirtd runs.
# HOSTDIR/agent.args holds the agent's command line, one argument per line (the test writes it); the agent's
# pid goes to HOSTDIR/agent.pid, its log to HOSTDIR/agent.log.
set -u
H=${1:?usage: testhost-power.sh HOSTDIR on|off|status}
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
case $what in
  status) if alive "$H/libvirtd.pid"; then echo on; else echo off; fi ;;
  off)
    stop "$H/agent.pid"
    stop "$H/libvirtd.pid"
    rm -f "$H/agent.pid" ;;
  on)
    alive "$H/virtlogd.pid" || { echo "testhost-power: $H has no virtlogd: the test host is gone" >&2; exit 1; }
    alive "$H/libvirtd.pid" && alive "$H/agent.pid" && exit 0
    # the boot, in the background: libvirtd in the host's cgroups and namespaces (those of its virtlogd),
    # then the agent once libvirtd answers
    setsid bash -c '
      H=$1
      alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
      if ! alive "$H/libvirtd.pid"; then
        while read -r cg; do [ -d "$cg" ] && echo $BASHPID > "$cg/cgroup.procs"; done < "$H/cgroups"
        nsenter -t "$(cat "$H/virtlogd.pid")" -m -n -u -C libvirtd --daemon --pid-file "$H/libvirtd.pid"
      fi
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
  *) echo "testhost-power: say on, off or status, not '$what'" >&2; exit 2 ;;
esac
