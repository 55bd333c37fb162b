#!/usr/bin/env bash
# The yun CLI against a real yund (--all-in-one on the in-memory hypervisor, --fake-hv): issue 2's tour as a
# user types it, with nothing exported but the URL (the token comes from ./var/admin.token), plus -o json,
# exit codes, users, login/logout. No libvirt needed; TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TAP_DIAG='for f in out err; do [ -s "$D/$f" ] && sed "s/^/# $f: /" "$D/$f" | head -8; done; [ -f "$D/yund.log" ] && tail -3 "$D/yund.log" | sed '\''s/^/# yund: /'\'''
BUILD=${YUN_BUILD:-build}
YUND="$(cd "$BUILD" && pwd)/src/cmd/yund"
YUN_BIN="$(cd "$BUILD" && pwd)/src/cmd/yun"
D=$YUN_TEST_DIR
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
}
yun_on_exit cleanup
# yun ARGS: stdout in $D/out, stderr in $D/err, exit code in $RC. Runs in $D with a private HOME.
yun() {
  (cd "$D" && HOME="$D/home" XDG_CONFIG_HOME="" YUN_TOKEN="" "$YUN_BIN" "$@") >"$D/out" 2>"$D/err"
  RC=$?
}
out() { cat "$D/out"; }
wait_state() { # NAME STATE SECONDS
  for _ in $(seq 1 $(($3 * 5))); do
    yun vm show "$1" -o json
    [ "$(jq -r .state "$D/out" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.2
  done
  return 1
}

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export YUN_URL="https://127.0.0.1:$PORT"
export CURL_CA_BUNDLE=$D/var/tls/ca.pem # the CLI finds ./var/tls/ca.pem itself (a yund on this machine)
mkdir -p "$D/home"
(cd "$D" && exec "$YUND" --all-in-one --fake-hv --state-dir var --listen "127.0.0.1:$PORT" >>"$D/yund.log" 2>&1) &
PID=$!
for _ in $(seq 1 50); do curl -fsS "$YUN_URL/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

for _ in $(seq 1 50); do yun host list -o json; jq -e '.hosts | length == 1' "$D/out" >/dev/null 2>&1 && break; sleep 0.2; done
yun host list
tap_eval "host list: the machine, up, with its cores, free vCPUs and hypervisor (token from ./var/admin.token)" \
  '[ $RC = 0 ] && head -1 "$D/out" | grep -q "^NAME  *STATE  *CORES  *VCPUS FREE/TOTAL  *MHZ  *MEMORY" && grep -q "^fake  *up  *64  *64/64 " "$D/out"'

qemu-img create -q -f qcow2 "$D/tiny.qcow2" 64M
yun image import "$D/tiny.qcow2" --name starter
tap_eval "image import streams a file and names it" '[ $RC = 0 ] && grep -q "image starter imported (virtual size 64M)" "$D/out"'
yun image list
tap_eval "image list shows starter" '[ $RC = 0 ] && grep -q "^starter  *64M  *admin  *yes" "$D/out"'

yun vm create web1 --image starter --cpus 1 --memory 128M --disk 1G
tap_eval "vm create says which host and why" \
  '[ $RC = 0 ] && grep -q "^web1: created on host fake: first-fit" "$D/out" && grep -q "^web1: scheduled" "$D/out"'
yun vm list
tap_eval "vm list shows web1 on its host with its sizes" '[ $RC = 0 ] && grep -Eq "^web1  +[a-z >-]+ +fake +- +1 +128M +1G +starter +admin" "$D/out"'
tap_eval "web1 reaches running" 'wait_state web1 running 15'
yun vm console-log web1
tap_eval "vm console-log answers" '[ $RC = 0 ]'

yun vm stop web1 --wait
tap_eval "vm stop --wait ends stopped" '[ $RC = 0 ] && grep -q "^web1: stopped" "$D/out"'
yun vm start web1 --wait
tap_eval "vm start --wait ends running" '[ $RC = 0 ] && grep -q "^web1: running on fake" "$D/out"'
yun vm reboot web1
tap_eval "vm reboot is accepted" '[ $RC = 0 ] && grep -q "^web1: reboot requested" "$D/out"'
yun vm set web1 --cpu-shares 512 --cpu-cap 50
tap_eval "vm set shares and cap" '[ $RC = 0 ] && grep -q "web1: set cpu_shares=512, cpu_cap=50%" "$D/out"'
yun vm set web1 --memory 96M
tap_eval "vm set memory" '[ $RC = 0 ] && grep -q "web1: set memory=96M" "$D/out"'
yun vm set web1 --utility 4
tap_eval "vm set utility" '[ $RC = 0 ] && grep -q "web1: set utility=4" "$D/out"'
yun vm show web1 -o json
tap_eval "vm show: the utility kept" '[ $RC = 0 ] && jq -e ".utility == 4" "$D/out" >/dev/null'
yun vm set web1 --utility 1001
tap_eval "vm set utility 1001 is refused with the range" '[ $RC != 0 ] && grep -q "utility" "$D/err" && grep -q "1000" "$D/err"'
yun vm show web1 -o json
tap_eval "vm show -o json holds what was set" \
  '[ $RC = 0 ] && jq -e ".cpu_shares == 512 and .cpu_cap == 50 and .memory_mib == 96" "$D/out" >/dev/null'

yun vm create huge --image starter --cpus 64 --memory 128M
tap_eval "a VM that fits nowhere: the server's reason on stderr, exit 1" \
  '[ $RC = 1 ] && grep -q "^yun: no host has 64 free cores; the most free is" "$D/err" && [ ! -s "$D/out" ]'
yun vm create bad --image starter --memory 12Q
tap_eval "a bad size is a usage error (exit 2) found before any request" '[ $RC = 2 ] && grep -q "^yun: --memory \"12Q\" has an unknown unit" "$D/err"'
yun vm frob
tap_eval "an unknown command exits 2" '[ $RC = 2 ]'

yun user create bob --max-vms 2 --max-memory 1G
B=$(sed -n 's/^token: //p' "$D/out")
tap_eval "user create prints the token once" '[ $RC = 0 ] && [ -n "$B" ]'
yun user list
tap_eval "user list shows bob's quota" '[ $RC = 0 ] && grep -Eq "^bob +no +0 +2 +- +1G +-" "$D/out"'
yun --token "$B" vm show web1
tap_eval "bob cannot see admin's web1 (not found, exit 1)" '[ $RC = 1 ] && grep -q "not found" "$D/err"'
yun --token "$B" vm list
tap_eval "bob's list is his own, without an owner column" '[ $RC = 0 ] && ! grep -q OWNER "$D/out" && [ "$(wc -l <"$D/out")" = 1 ]'

yun login "$YUN_URL" --token "$B"
tap_eval "login checks and saves the token (mode 0600)" \
  '[ $RC = 0 ] && grep -q "as bob" "$D/out" && [ "$(stat -c %a "$D/home/.config/yun/config")" = 600 ]'
(cd "$D" && HOME="$D/home" YUN_URL="" "$YUN_BIN" vm create b1 --image starter --memory 64M) >"$D/out" 2>"$D/err"
tap_eval "with no URL or token set, the saved login is used" '[ $? = 0 ] && grep -q "^b1: created" "$D/out"'
yun logout
tap_eval "logout removes the config" '[ $RC = 0 ] && [ ! -e "$D/home/.config/yun/config" ]'

yun settings set agent.interval_ms 1000
tap_eval "settings set" '[ $RC = 0 ]'
yun settings get agent.interval_ms
tap_eval "settings get" '[ $RC = 0 ] && [ "$(out)" = 1000 ]'

yun vm delete web1 --wait
tap_eval "vm delete --wait: gone" '[ $RC = 0 ] && grep -q "^web1: deleted" "$D/out"'
yun vm show web1
tap_eval "a deleted VM is not found" '[ $RC = 1 ]'
yun vm delete b1 --owner bob --wait
tap_eval "the admin deletes bob's VM with --owner" '[ $RC = 0 ]'

tap_done
