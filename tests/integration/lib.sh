# lib.sh: sourced by tests/integration/test_*.sh. TAP helpers, and private libvirt "test hosts".
#
#   . "$(dirname "$0")/lib.sh"
#   URI=$(yun_testhost_up A)         # a libvirtd of its own: qemu+unix:///system?socket=...
#   tap_ok "something worked"; tap_fail "something did not"
#   tap_eval "it works" '[ "$(cat out)" = 42 ]'   # TAP_DIAG='tail -5 log' says why when it fails
#   tap_done                          # prints the plan; exits non-zero if anything failed
#
# A test host is a libvirtd + virtlogd in their own network, mount, UTS and cgroup namespaces, with
# private copies of /run/libvirt, /var/lib/libvirt, /etc/libvirt, /var/log/libvirt and /var/cache/libvirt
# and a host_uuid of their own, so several hosts run side by side on one machine and can migrate between
# each other; the machine's own libvirtd (qemu:///system) and other people's domains are never touched.
# Every host gets a veth into a per-test "switch" namespace (a bridge): host k has address 10.201.0.k/24
# (yun_testhost_addr NAME), so hosts reach each other and nothing else.
# Cleanup is registered in an EXIT trap when this file is sourced, so a failing or interrupted test
# still destroys and undefines its domains, stops its daemons by pid, deletes its namespaces and removes
# its cgroups (deepest first). Hosts are tracked on disk, so yun_testhost_up works inside $(...).
#
# Environment: YUN_ROOT (the repository), YUN_BUILD (the build folder; run-tests.py sets both),
# YUN_TEST_CACHE (default $YUN_BUILD/test-cache: the starter image and libvirt's capability cache,
# kept between runs), YUN_KEEP_TEST_DIR=1 keeps the test's temporary folder for a post-mortem.

YUN_ROOT=${YUN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
YUN_BUILD=${YUN_BUILD:-$YUN_ROOT/build}
YUN_TEST_CACHE=${YUN_TEST_CACHE:-$YUN_BUILD/test-cache}
YUN_TEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# A short random id makes every name this test creates (namespaces, veths, cgroups) its own.
YUN_TEST_ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
# Short (unix socket paths must stay under 108 bytes) and traversable by libvirt-qemu (disks, consoles).
YUN_TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/yun-it.XXXXXX")
chmod 0755 "$YUN_TEST_DIR"
mkdir -p "$YUN_TEST_DIR/hosts"

_YUN_TAP_N=0
_YUN_TAP_FAILED=0
_YUN_EXIT_HOOKS=()

tap_ok() {
  _YUN_TAP_N=$((_YUN_TAP_N + 1))
  echo "ok $_YUN_TAP_N - $*"
}

tap_fail() {
  _YUN_TAP_N=$((_YUN_TAP_N + 1))
  _YUN_TAP_FAILED=$((_YUN_TAP_FAILED + 1))
  echo "not ok $_YUN_TAP_N - $*"
}

# tap_check DESCRIPTION COMMAND...: ok when the command succeeds; its output is shown as TAP comments
# when it fails.
tap_check() {
  local desc=$1 out
  shift
  if out=$("$@" 2>&1); then
    tap_ok "$desc"
  else
    tap_fail "$desc"
    printf '%s\n' "$out" | tail -20 | sed 's/^/# /'
  fi
}

# tap_eval DESCRIPTION EXPRESSION: ok when `eval EXPRESSION` succeeds. When it fails and TAP_DIAG is set, that
# command's output (the daemon's log, the last answer) follows as TAP comments, to say why.
tap_eval() {
  if eval "$2"; then
    tap_ok "$1"
  else
    tap_fail "$1"
    [ -n "${TAP_DIAG:-}" ] && eval "$TAP_DIAG" 2>/dev/null | head -5 | sed 's/^/# /'
  fi
  return 0
}

tap_skip() {
  _YUN_TAP_N=$((_YUN_TAP_N + 1))
  echo "ok $_YUN_TAP_N - $* # SKIP"
}

tap_diag() {
  printf '%s\n' "$*" | sed 's/^/# /'
}

tap_done() {
  echo "1..$_YUN_TAP_N"
  [ "$_YUN_TAP_FAILED" -eq 0 ]
}

# yun_on_exit COMMAND: run COMMAND (with eval) at exit, before the test hosts go down.
yun_on_exit() {
  _YUN_EXIT_HOOKS+=("$1")
}

# Builds (once, cached in YUN_TEST_CACHE) the starter image; echoes its folder.
yun_starter_image() {
  local d=$YUN_TEST_CACHE/starter
  mkdir -p "$YUN_TEST_CACHE" && chmod 0755 "$YUN_TEST_CACHE"
  bash "$YUN_ROOT/scripts/build-starter.sh" "$d" >&2 || return 1
  echo "$d"
}

_yun_switch_ns() {
  echo "yun-$YUN_TEST_ID-sw"
}

_yun_switch_up() {
  local sw
  sw=$(_yun_switch_ns)
  [ -e "$YUN_TEST_DIR/switch" ] && return 0
  ip netns add "$sw" || return 1
  echo "$sw" > "$YUN_TEST_DIR/switch"
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
}

# yun_testhost_up NAME: starts test host NAME (letters and digits, short) and echoes its libvirt URI.
# Its state lives in $YUN_TEST_DIR/hosts/NAME; its log in .../up.log.
yun_testhost_up() {
  local name=$1
  if ! [[ $name =~ ^[A-Za-z0-9]{1,4}$ ]]; then
    echo "yun_testhost_up: host name '$name' must be 1-4 letters or digits" >&2
    return 1
  fi
  local h=$YUN_TEST_DIR/hosts/$name
  if [ -e "$h" ]; then
    echo "yun_testhost_up: host $name is already up" >&2
    return 1
  fi
  bash "$YUN_ROOT/scripts/kvm-dev.sh" || return 1
  _yun_switch_up || return 1
  local k ns sw uuid uri
  k=$(($(ls "$YUN_TEST_DIR/hosts" | wc -l) + 1))
  ns=yun-$YUN_TEST_ID-$name
  sw=$(_yun_switch_ns)
  uuid=$(cat /proc/sys/kernel/random/uuid)
  mkdir -p "$h"/{run,lib,etc,log/qemu,cache}
  echo "$ns" > "$h/netns"
  echo "10.201.0.$k" > "$h/addr"

  # The network: a namespace of its own, a veth to the switch's bridge.
  ip netns add "$ns" || return 1
  ip link add "yh$YUN_TEST_ID$k" type veth peer name "ys$YUN_TEST_ID$k" || return 1
  ip link set "yh$YUN_TEST_ID$k" netns "$ns"
  ip -n "$ns" link set "yh$YUN_TEST_ID$k" name eth0
  ip link set "ys$YUN_TEST_ID$k" netns "$sw"
  ip -n "$sw" link set "ys$YUN_TEST_ID$k" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "10.201.0.$k/24" dev eth0
  ip -n "$ns" link set eth0 up

  # Private copies of libvirt's configuration and state, without the machine's domains, networks and
  # pools (an autostarted network would try to build a bridge in this namespace).
  cp -a /etc/libvirt/. "$h/etc/"
  rm -f "$h"/etc/qemu/*.xml "$h"/etc/qemu/autostart/* "$h"/etc/qemu/networks/autostart/* \
    "$h"/etc/storage/autostart/* 2>/dev/null
  tar -C /var/lib/libvirt --exclude='./images/*' --exclude='./qemu/domain-*' --exclude='./qemu/save/*' \
    --exclude='./qemu/snapshot/*' --exclude='./qemu/checkpoint/*' --exclude='./qemu/dump/*' \
    --exclude='./qemu/ram/*' -cf - . | tar -C "$h/lib" -xpf -
  cp -a /var/cache/libvirt/. "$h/cache/"
  # libvirt's QEMU capability cache from an earlier run saves ~8 s at the first call (libvirt checks it
  # against the QEMU binary and its own version, and rebuilds it when stale).
  if [ -d "$YUN_TEST_CACHE/libvirt-cache/qemu" ]; then
    mkdir -p "$h/cache/qemu"
    cp -a "$YUN_TEST_CACHE/libvirt-cache/qemu/." "$h/cache/qemu/"
  fi
  echo "host_uuid = \"$uuid\"" >> "$h/etc/libvirtd.conf"
  # With YUN_TESTHOST_LOCKD=1 (test_ha.sh, bench/ha.sh), libvirt's lock manager, as on hosts sharing storage
  # (docs/operations.md): virtlockd holds a lease per writable disk in one lockspace that every test host of
  # this test shares. Not by default: libvirt 9.0's ACPI reboot cannot take its own lease again (test_hv.sh's
  # reboot fails with "resource busy"), which the hv layer's own tests must not depend on.
  if [ "${YUN_TESTHOST_LOCKD:-0}" = 1 ]; then
    mkdir -p "$YUN_TEST_DIR/lockspace"
    echo 'lock_manager = "lockd"' >> "$h/etc/qemu.conf"
    echo "file_lockspace_dir = \"$YUN_TEST_DIR/lockspace\"" >> "$h/etc/qemu-lockd.conf"
  fi
  [ -n "${YUN_TESTHOST_FILTERS:-}" ] && echo "log_filters = \"$YUN_TESTHOST_FILTERS\"" >> "$h/etc/libvirtd.conf"
  [ -n "${YUN_TESTHOST_LOG:-}" ] && echo "log_outputs = \"$YUN_TESTHOST_LOG:file:/var/log/libvirt/libvirtd.log\"" >> "$h/etc/libvirtd.conf"

  # A cgroup of its own in every hierarchy, entered by the subshell that becomes the daemons' parent,
  # recorded so yun_testhost_down can empty and remove them.
  (
    local lines line
    mapfile -t lines < "/proc/$BASHPID/cgroup" # read once: the file changes as the loop moves us
    for line in "${lines[@]}"; do
      local ctrl=${line#*:} path
      path=${ctrl#*:}
      ctrl=${ctrl%%:*}
      local c=$ctrl
      case $ctrl in
        "") c=unified ;;
        name=systemd) c=systemd ;;
        *,*) continue ;;
      esac
      [ -d "/sys/fs/cgroup/$c" ] || continue
      local d=/sys/fs/cgroup/$c${path%/}/yun-test-$YUN_TEST_ID-$name
      mkdir -p "$d" || exit 1
      echo "$d" >> "$h/cgroups"
      if [ "$c" = cpuset ]; then
        cat "/sys/fs/cgroup/cpuset${path%/}/cpuset.cpus" > "$d/cpuset.cpus"
        cat "/sys/fs/cgroup/cpuset${path%/}/cpuset.mems" > "$d/cpuset.mems"
      fi
      echo "$BASHPID" > "$d/cgroup.procs"
    done
    exec ip netns exec "$ns" unshare --mount --uts --cgroup --propagation private \
      bash "$YUN_TEST_LIB_DIR/testhost-inner.sh" "$h" "host$name"
  ) > "$h/up.log" 2>&1 || {
    echo "yun_testhost_up: host $name did not start; $h/up.log says:" >&2
    tail -5 "$h/up.log" >&2
    return 1
  }
  uri="qemu+unix:///system?socket=$h/run/libvirt-sock"
  echo "$uri" > "$h/uri"
  local i
  for i in $(seq 1 120); do
    timeout 30 virsh -c "$uri" version > /dev/null 2>&1 && break
    sleep 0.5
  done
  if ! timeout 30 virsh -c "$uri" version > /dev/null 2>&1; then
    echo "yun_testhost_up: libvirtd of host $name does not answer on $uri" >&2
    return 1
  fi
  echo "$uri"
}

# yun_testhost_uri NAME, yun_testhost_addr NAME, yun_testhost_netns NAME: what the host was given.
yun_testhost_uri() { cat "$YUN_TEST_DIR/hosts/$1/uri"; }
yun_testhost_addr() { cat "$YUN_TEST_DIR/hosts/$1/addr"; }
yun_testhost_netns() { cat "$YUN_TEST_DIR/hosts/$1/netns"; }

_yun_alive() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2> /dev/null
}

# yun_testhost_down NAME: stops test host NAME and removes every trace of it. Safe to call twice.
yun_testhost_down() {
  local name=$1 h=$YUN_TEST_DIR/hosts/$1
  [ -d "$h" ] || return 0
  local uri="qemu+unix:///system?socket=$h/run/libvirt-sock" d p i
  if _yun_alive "$h/libvirtd.pid"; then
    for d in $(timeout 20 virsh -c "$uri" list --all --uuid 2> /dev/null); do
      timeout 20 virsh -c "$uri" destroy "$d" > /dev/null 2>&1
      timeout 20 virsh -c "$uri" undefine --nvram "$d" > /dev/null 2>&1 ||
        timeout 20 virsh -c "$uri" undefine "$d" > /dev/null 2>&1
    done
  fi
  for p in libvirtd virtlogd virtlockd; do
    _yun_alive "$h/$p.pid" && kill "$(cat "$h/$p.pid")" 2> /dev/null
  done
  for i in $(seq 1 50); do
    _yun_alive "$h/libvirtd.pid" || _yun_alive "$h/virtlogd.pid" || _yun_alive "$h/virtlockd.pid" || break
    sleep 0.1
  done
  for p in libvirtd virtlogd virtlockd; do
    _yun_alive "$h/$p.pid" && kill -9 "$(cat "$h/$p.pid")" 2> /dev/null
  done
  # Whatever still lives in this host's cgroups (a QEMU whose libvirtd died first) was started by it.
  if [ -f "$h/cgroups" ]; then
    local cg
    rm -f "$h/virtlogd.pid" # dead already: the power cut spares only a live one
    bash "$YUN_TEST_LIB_DIR/testhost-power.sh" "$h" fence
    while read -r cg; do
      [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2> /dev/null
    done < "$h/cgroups"
  fi
  [ -f "$h/netns" ] && ip netns del "$(cat "$h/netns")" 2> /dev/null
  # Keep libvirt's QEMU capability cache for the next run.
  if [ -d "$h/cache/qemu/capabilities" ] && [ -n "$(ls "$h/cache/qemu/capabilities" 2> /dev/null)" ]; then
    mkdir -p "$YUN_TEST_CACHE/libvirt-cache.$$" && cp -a "$h/cache/qemu" "$YUN_TEST_CACHE/libvirt-cache.$$/" &&
      rm -rf "$YUN_TEST_CACHE/libvirt-cache" && mv "$YUN_TEST_CACHE/libvirt-cache.$$" "$YUN_TEST_CACHE/libvirt-cache"
    rm -rf "$YUN_TEST_CACHE/libvirt-cache.$$"
  fi
  # libvirt's logs of this host, for a post-mortem.
  if [ -d "$h/log" ] && [ -d "$YUN_BUILD" ]; then
    mkdir -p "$YUN_BUILD/test-logs/hosts" &&
      cp -r "$h/log" "$YUN_BUILD/test-logs/hosts/$(basename "$0" .sh)-$name" 2> /dev/null
  fi
  rm -rf "$h"
}

_yun_cleanup() {
  local rc=$? hook n
  trap - EXIT INT TERM
  for hook in "${_YUN_EXIT_HOOKS[@]}"; do
    eval "$hook" > /dev/null 2>&1
  done
  for n in $(ls "$YUN_TEST_DIR/hosts" 2> /dev/null); do
    yun_testhost_down "$n"
  done
  [ -f "$YUN_TEST_DIR/switch" ] && ip netns del "$(cat "$YUN_TEST_DIR/switch")" 2> /dev/null
  if [ "${YUN_KEEP_TEST_DIR:-0}" = 1 ]; then
    echo "# kept $YUN_TEST_DIR" >&2
  else
    rm -rf "$YUN_TEST_DIR"
  fi
  exit $rc
}
trap _yun_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# yund_trust STATE: the CLI, agents, curl and Python trust the CA of the yund with state STATE (it serves HTTPS
# only, with the CA it makes at its first start in STATE/tls)
yund_trust() {
  export YUN_CA=$1/tls/ca.pem
  export CURL_CA_BUNDLE=$YUN_CA SSL_CERT_FILE=$YUN_CA
}
