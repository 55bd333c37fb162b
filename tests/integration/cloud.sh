# cloud.sh: sourced after lib.sh by tests that run a whole cloud: yund (all-in-one or with separate agents)
# against private test hosts, driven through the real yun CLI.
#
#   yund_start STATE URI [extra yund flags]   starts yund --all-in-one on a free port (URI none: yund alone,
#                                              every host's agent started by the test); sets YUN_URL, YUN_TOKEN
#                                              (inside network namespace $YUND_NETNS when set, where a test
#                                              host's VNC listens: the CLI and curl then run there too;
#                                              on address $YUND_ADDR when set, e.g. the host's own for agents
#                                              of other test hosts, else 127.0.0.1)
#   yund_trust STATE                           trust that yund's CA (yund_start does it): YUN_CA, curl, Python
#   yund_kill9 / yund_stop                     SIGKILL / SIGTERM the yund this test started (by pid)
#   yun ARGS...                                the CLI from the build under test
#   vm_field NAME FIELD                        one field of `yun vm show NAME -o json`
#   wait_until SECONDS DESC CMD...             polls CMD until it succeeds; fails the wait after SECONDS
# Everything is stopped by pid at exit (lib.sh's trap runs the hooks first).

YUN_BIN=$YUN_BUILD/src/cmd
YUND_PID=""
# the starter image's Debian packages are downloaded once per build folder
export YUN_DEB_CACHE=${YUN_DEB_CACHE:-$YUN_TEST_CACHE/debs}

# in_ns CMD...: runs CMD in $YUND_NETNS when set, else here
in_ns() { if [ -n "${YUND_NETNS:-}" ]; then ip netns exec "$YUND_NETNS" "$@"; else "$@"; fi; }
yun() { in_ns "$YUN_BIN/yun" "$@"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

_yund_stop_hook() {
  [ -n "$YUND_PID" ] && kill -TERM "$YUND_PID" 2>/dev/null
  local i
  for i in $(seq 1 50); do
    [ -n "$YUND_PID" ] && kill -0 "$YUND_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$YUND_PID" ] && kill -KILL "$YUND_PID" 2>/dev/null
  YUND_PID=""
}
yun_on_exit _yund_stop_hook

# yund_start STATE URI [flags...]: (re)starts yund --all-in-one with state STATE against libvirt URI.
# Reuses the port of a previous start in the same test so the CLI's URL stays valid.
yund_start() {
  local state=$1 uri=$2
  shift 2
  mkdir -p "$state"
  chmod 0755 "$state"
  YUND_PORT=${YUND_PORT:-$(free_port)}
  local addr=${YUND_ADDR:-127.0.0.1}
  local aio=(--all-in-one --libvirt-uri "$uri")
  [ "$uri" = none ] && aio=()
  # started directly (ip netns exec execs it), never through a function: $! must be yund itself, or
  # yund_kill9 and the exit hook would hit a subshell and leave yund running
  if [ -n "${YUND_NETNS:-}" ]; then
    ip netns exec "$YUND_NETNS" "$YUN_BIN/yund" "${aio[@]}" --state-dir "$state" --listen "$addr:$YUND_PORT" \
      "$@" >>"$state/yund.log" 2>&1 &
  else
    "$YUN_BIN/yund" "${aio[@]}" --state-dir "$state" --listen "$addr:$YUND_PORT" "$@" >>"$state/yund.log" 2>&1 &
  fi
  YUND_PID=$!
  export YUN_URL="https://$addr:$YUND_PORT"
  yund_trust "$state"
  local i
  for i in $(seq 1 150); do
    if in_ns curl -fsS "$YUN_URL/healthz" >/dev/null 2>&1 && [ -s "$state/admin.token" ]; then
      export YUN_TOKEN=$(cat "$state/admin.token")
      return 0
    fi
    kill -0 "$YUND_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "# yund did not come up; its log:"; tail -20 "$state/yund.log" | sed 's/^/# /'
  return 1
}

yund_kill9() {
  kill -KILL "$YUND_PID" 2>/dev/null
  wait "$YUND_PID" 2>/dev/null
  YUND_PID=""
}

yund_stop() { _yund_stop_hook; }

vm_field() {
  yun vm show "$1" -o json 2>/dev/null | jq -r ".$2"
}

wait_until() {
  local secs=$1 desc=$2
  shift 2
  local end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "# timed out after ${secs}s waiting for: $desc"
  return 1
}

vm_state_is() { [ "$(vm_field "$1" state)" = "$2" ]; }

# admin_api METHOD PATH [BODY]: the API as the admin (YUN_TOKEN, set by yund_start); the answer's body on stdout
# and in $YUN_TEST_DIR/body (for TAP_DIAG).
admin_api() {
  in_ns curl -sS -o "$YUN_TEST_DIR/body" -X "$1" -H "Authorization: Bearer $YUN_TOKEN" ${3:+-d "$3"} "$YUN_URL$2"
  cat "$YUN_TEST_DIR/body"
}
# admin_wait JQ PATH SECS: until the answer to GET PATH satisfies JQ (1 after SECS seconds).
admin_wait() {
  local end=$((SECONDS + $3))
  while [ $SECONDS -lt $end ]; do
    admin_api GET "$2" | jq -e "$1" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}
# two_tiny_vms CPUS: uploads a 64M qcow2 image "tiny" and creates VMs a and b of CPUS vCPUs from it (64M, 1G
# disk); sets HA and HB to the hosts the placement chose.
two_tiny_vms() {
  qemu-img create -q -f qcow2 "$YUN_TEST_DIR/tiny.qcow2" 64M
  in_ns curl -sS -o /dev/null -H "Authorization: Bearer $YUN_TOKEN" -T "$YUN_TEST_DIR/tiny.qcow2" \
    "$YUN_URL/v1/images?name=tiny"
  HA=$(admin_api POST /v1/vms "{\"name\":\"a\",\"image\":\"tiny\",\"cpus\":$1,\"memory\":\"64M\",\"disk\":\"1G\"}" |
    jq -r .placement.host)
  HB=$(admin_api POST /v1/vms "{\"name\":\"b\",\"image\":\"tiny\",\"cpus\":$1,\"memory\":\"64M\",\"disk\":\"1G\"}" |
    jq -r .placement.host)
}
# admin_setting KEY VALUE
admin_setting() { admin_api PUT "/v1/settings/$1" "{\"value\":\"$2\"}" >/dev/null; }

# ---- HA (test_ha.sh, bench/ha.sh): where a guest really runs ----
# vm_qemus UUID: the QEMU processes of this guest on the whole machine (every test host is on it)
vm_qemus() { grep -l -a -- "$1" /proc/[0-9]*/cmdline 2>/dev/null | while read -r f; do
  { tr '\0' ' ' <"$f"; } 2>/dev/null | grep -q '^[^ ]*qemu-system' && echo x; done | wc -l; }
# vm_libvirt_hosts UUID HOST...: those of the test hosts whose libvirt answers and runs it, each followed by a space
vm_libvirt_hosts() { local u=$1 h; shift; for h in "$@"; do
  timeout 5 virsh -c "$(yun_testhost_uri "$h")" list --uuid --state-running 2>/dev/null | grep -qx "$u" && echo "$h"
  done | tr '\n' ' '; }
# vm_once VM NOT HOST...: running (yund), assigned to a host other than NOT, one QEMU, and of the test hosts
# HOST... libvirt runs it on that host only
vm_once() { local vm=$1 not=$2 u h; shift 2; u=$(vm_field "$vm" uuid); h=$(vm_field "$vm" host)
  vm_state_is "$vm" running && [ "$h" != "$not" ] && [ "$(vm_qemus "$u")" = 1 ] &&
    [ "$(vm_libvirt_hosts "$u" "$@")" = "$h " ]; }
# vm_say VM HOST...: where it runs, for a failure's message
vm_say() { local vm=$1 u; shift; u=$(vm_field "$vm" uuid)
  echo "$vm: state $(vm_field "$vm" state) on $(vm_field "$vm" host), $(vm_qemus "$u") QEMU, libvirt runs it on '$(vm_libvirt_hosts "$u" "$@")'"; }
# host_join NAME: a one-time join token for host NAME (`yun host add`, as the admin) on stdout: give it to the
# host's agent as --join TOKEN (docs/operations.md, "Adding a host")
host_join() { yun host add "$1" -o json | jq -re .join_token; }
# host_credential NAME: enrols host NAME as its agent does (a join token spent on POST /v1/agent/join); the
# host's own credential on stdout, for fake agents (fake_agent.py) and tests that speak the agent protocol
host_credential() { local t; t=$(host_join "$1") &&
  in_ns curl -fsS -d "{\"token\":\"$t\"}" "$YUN_URL/v1/agent/join" | jq -re .credential; }
host_state() { yun host show "$1" -o json | jq -r .state; }
host_is() { [ "$(host_state "$1")" = "$2" ]; }
# cgroup_of HOST CONTROLLER: the test host's own cgroup in that hierarchy (freezer: freeze it whole)
cgroup_of() { grep "/$2/" "$YUN_TEST_DIR/hosts/$1/cgroups"; }

# so that `bash -c '...'` in wait_until sees them too
export YUN_BIN
export -f in_ns yun vm_field vm_state_is

# powered_agents STATE PREFIX "AGENT FLAGS" NAME...: the agents of test hosts NAME... (started with
# yun_testhost_up; yund already up on $YUN_URL with state STATE), each registered as host PREFIX+NAME and started
# by the test power driver (testhost-power.sh "on", as a booting machine starts it, from HOSTDIR/agent.args);
# waits until all are up, then gives each that driver through yund's script driver so the dispatcher can
# switch it off and on. The agents are stopped by pid at exit. Says what failed and returns 1 if a step does.
powered_agents() {
  local state=$1 prefix=$2 flags=$3 n h
  shift 3
  POWERED_NAMES=("$@")
  local power=$YUN_ROOT/tests/integration/testhost-power.sh
  yun_on_exit 'for n in "${POWERED_NAMES[@]}"; do f=$YUN_TEST_DIR/hosts/$n/agent.pid; [ -f "$f" ] && kill "$(cat "$f")"; done'
  for n in "$@"; do
    h=$YUN_TEST_DIR/hosts/$n
    local tok
    tok=$(host_join "$prefix$n") || { echo "# yun host add $prefix$n failed"; return 1; }
    # enrolled at its first boot (--join); the later boots use the credential saved in its state folder
    # shellcheck disable=SC2086 # flags: separate words
    printf '%s\n' "$YUN_BIN/yun-agent" --controller "$YUN_URL" --ca "$YUN_CA" --state "$h/agent-state" \
      --libvirt-uri "$(yun_testhost_uri "$n")" --migrate-addr "$(yun_testhost_addr "$n")" \
      $flags >"$h/agent.args.later"
    { cat "$h/agent.args.later"; printf '%s\n' --join "$tok"; } >"$h/agent.args"
    bash "$power" "$h" on
  done
  _all_up() { [ "$(yun host list -o json | jq '[.hosts[] | select(.state == "up")] | length')" = "$1" ]; }
  wait_until 120 "$# hosts up" _all_up "$#" || { echo "# hosts: $(yun host list | tr '\n' '|')"; return 1; }
  for n in "$@"; do cp "$YUN_TEST_DIR/hosts/$n/agent.args.later" "$YUN_TEST_DIR/hosts/$n/agent.args"; done
  for n in "$@"; do
    yun host power "$prefix$n" --driver script --command "bash $power $YUN_TEST_DIR/hosts/$n" >/dev/null ||
      { echo "# yun host power $prefix$n --driver script failed"; return 1; }
  done
}
