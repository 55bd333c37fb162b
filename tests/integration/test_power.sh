#!/usr/bin/env bash
# Host power under the live dispatcher (issue 10, item 4), end to end through a real BMC protocol: a real yund
# and two stand-in hosts (fake_agent.py), each behind its own BMC: OpenIPMI's BMC simulator (ipmi_sim) on the
# loopback, whose chassis power is wired to the host's agent process (power on starts it, a soft off or power
# off stops it, status says whether it runs), driven by yund's ipmi driver through ipmitool over lanplus. No
# host here can lose its power: the agent process stands for the machine. Two idle VMs on two hosts end up on
# one in auto, and the emptied host goes powering-off, then standby once its agent is silent (the process is
# gone); raising the VMs' load to 90% on the full host makes the dispatcher wake the standby host (its agent
# runs again and reports: up) and move a VM there. Every decision has its reason. TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TAP_DIAG='[ -f "$D/body" ] && head -c 800 "$D/body" && echo; tail -8 "$D/state/yund.log"; cat "$D/chassis.log" 2>/dev/null'
. "$(dirname "$0")/cloud.sh"
D=$YUN_TEST_DIR
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
yun_on_exit 'for f in "$D"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done'
command -v ipmi_sim >/dev/null && command -v ipmitool >/dev/null ||
  { tap_fail "ipmi_sim and ipmitool are installed (Debian's openipmi and ipmitool: make check installs them)"; tap_done; exit 1; }
yund_start "$D/state" "test:///default" --fake-hv && tap_ok "yund starts" || { tap_fail "yund starts"; tap_done; exit 1; }
URL=$YUN_URL
A=$(cat "$D/state/admin.token")
api() { admin_api "$@"; }
wait_for() { admin_wait "$@"; }
set_setting() { admin_setting "$@"; }
udp_port() { python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- a BMC per host: ipmi_sim, its chassis power wired to the host's agent process ----
bmc() { # HOST PORT: starts its BMC
  local h=$1 port=$2
  mkdir -p "$D/bmc-$h/state"
  cat >"$D/bmc-$h/chassis.sh" <<CHASSIS
#!/bin/sh
# ipmi_sim's chassis control for $h: "0x20 get power", "0x20 set power 1|0", "0x20 set shutdown 1"
echo "$h \$*" >> "$D/chassis.log"
pid="$D/$h.pid"
running() { [ -f "\$pid" ] && kill -0 "\$(cat "\$pid")" 2>/dev/null; }
case "\$2" in
  get) if running; then echo power:1; else echo power:0; fi ;;
  set) if [ "\$3" = power ] && [ "\$4" = 1 ]; then
         running || { setsid python3 "$ROOT/tests/integration/fake_agent.py" "$URL" "$(host_credential $h)" $h 4 "$D/mode" \
                        >>"$D/agent-$h.log" 2>&1 </dev/null & echo \$! > "\$pid"; }
       else
         running && kill "\$(cat "\$pid")"; rm -f "\$pid"
       fi ;;
esac
exit 0
CHASSIS
  chmod +x "$D/bmc-$h/chassis.sh"
  cat >"$D/bmc-$h/lan.conf" <<LAN
name "bmc$h"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $port
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "$D/bmc-$h/chassis.sh 0x20"
  startnow false
  user 1 true  ""      "x"        user  10 none md2 md5 straight
  user 2 true  "admin" "pw-of-$h" admin 10 none md2 md5 straight
LAN
  printf 'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n' \
    >"$D/bmc-$h/bmc.emu"
  (cd "$D/bmc-$h" && exec ipmi_sim -c lan.conf -f bmc.emu -n -s "$D/bmc-$h/state" >"$D/bmc-$h/sim.log" 2>&1) &
  echo $! >"$D/bmc-$h.pid"
}
ipmi() { # HOST PORT ARGS...: ipmitool as an operator would use it
  local h=$1 port=$2
  shift 2
  IPMI_PASSWORD="pw-of-$h" ipmitool -I lanplus -H 127.0.0.1 -p "$port" -C 3 -U admin -E "$@" 2>/dev/null
}
P2=$(udp_port)
P3=$(udp_port)
bmc h2 "$P2"
bmc h3 "$P3"
sleep 1
tap_eval "two BMCs answer over lanplus (ipmi_sim), their hosts off" \
  'ipmi h2 "$P2" chassis power status | grep -q "is off" && ipmi h3 "$P3" chassis power status | grep -q "is off"'
echo done >"$D/mode"
ipmi h2 "$P2" chassis power on >/dev/null
ipmi h3 "$P3" chassis power on >/dev/null
tap_eval "powered on through their BMCs, both agents run: three hosts are up" \
  'wait_for "[.hosts[] | select(.state == \"up\")] | length == 3" /v1/hosts 20'
echo "pw-of-h2" >"$D/pw-h2"
echo "pw-of-h3" >"$D/pw-h3"
yun host power h2 --driver ipmi --address "127.0.0.1:$P2" --user admin --password-file "$D/pw-h2" >/dev/null
yun host power h3 --driver ipmi --address "127.0.0.1:$P3" --user admin --password-file "$D/pw-h3" >/dev/null
tap_eval "h2 and h3 have the ipmi driver; the password is kept, never shown" \
  'api GET /v1/hosts/h3 | jq -e ".power.driver == \"ipmi\" and .power.password_set == true" >/dev/null &&
   ! grep -q "pw-of-h3" "$D/body"'
B=$(api POST /v1/users '{"name":"bob"}' | jq -r .token)
tap_eval "a plain user sees neither the hosts nor how they are powered (403: hosts are the admin's)" \
  '[ "$(curl -sS -o "$D/plain" -w "%{http_code}" -H "Authorization: Bearer $B" "$URL/v1/hosts")" = 403 ] &&
   [ "$(curl -sS -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $B" "$URL/v1/hosts/h3")" = 403 ] &&
   ! grep -q "ipmi\|h3" "$D/plain"'
tap_eval "yun host power refuses a config its driver cannot use, saying what is missing" \
  '! yun host power h3 --driver ipmi 2>"$D/err" && grep -q "needs the BMC" "$D/err"'
api POST /v1/hosts/fake/disable >/dev/null
set_setting placement.algorithm worst-fit
set_setting placement.cpu_ratio 4
set_setting dispatch.interval_ms 1000
set_setting dispatch.cooldown_ms 0
set_setting power.headroom_hosts 0 # two stand-in hosts: N+1 would keep both on
two_tiny_vms 4
tap_eval "a and b (4 vCPUs each) run on two hosts ($HA, $HB)" \
  '[ "$HA" != "$HB" ] && wait_for ".state == \"running\"" /v1/vms/a 20 && wait_for ".state == \"running\"" /v1/vms/b 20'

# ---- consolidate, then standby ----
set_setting dispatch.mode auto
tap_eval "auto: a and b end up on one host" \
  'wait_for "[.vms[] | select(.state == \"running\") | .host] | (length == 2 and .[0] == .[1])" /v1/vms 30'
FULL=$(api GET /v1/vms/a | jq -r .host)
EMPTY=$([ "$FULL" = h2 ] && echo h3 || echo h2)
tap_eval "the emptied host $EMPTY goes on standby" 'wait_for ".state == \"standby\"" /v1/hosts/$EMPTY 30'
PE=$([ "$EMPTY" = h2 ] && echo "$P2" || echo "$P3")
tap_eval "its BMC switched it off (ipmitool chassis power soft): its agent process is gone, its BMC says off" \
  'grep -q "^$EMPTY 0x20 set shutdown 1" "$D/chassis.log" && [ ! -f "$D/$EMPTY.pid" ] &&
   ipmi "$EMPTY" "$PE" chassis power status | grep -q "is off"'
tap_eval "the decision says why: empty, the watts it saves, the room the hosts left keep" \
  'api GET /v1/dispatch/log | jq -e "[.decisions[] | select(.kind == \"standby\" and .outcome == \"started\" and (.reason | contains(\"W idle\") and contains(\"worth of room\")))] | length == 1" >/dev/null'

# ---- load rises: the standby host is woken, and a VM moves there ----
echo 90 >"$D/mode.load"
tap_eval "90% load on $FULL: the dispatcher wakes $EMPTY through its BMC, and its agent reports again (up)" \
  'wait_for ".state == \"up\"" /v1/hosts/$EMPTY 40 && [ "$(grep -c "^$EMPTY 0x20 set power 1" "$D/chassis.log")" = 2 ] &&
   ipmi "$EMPTY" "$PE" chassis power status | grep -q "is on"'
tap_eval "the wake says why: $FULL stays above 90% CPU" \
  'api GET /v1/dispatch/log | jq -e "[.decisions[] | select(.kind == \"wake\" and .outcome == \"started\" and (.reason | contains(\"stays at\")))] | length >= 1" >/dev/null'
tap_eval "a VM moves to $EMPTY: a and b run on two hosts again" \
  'wait_for "[.vms[] | select(.state == \"running\") | .host] | (length == 2 and .[0] != .[1])" /v1/vms 40'
tap_eval "every decision has its reason" \
  'api GET /v1/dispatch/log | jq -e "all(.decisions[]; .reason != \"\")" >/dev/null'
tap_eval "yun host standby refuses a host with VMs, naming them and the way out" \
  '! yun host standby "$FULL" 2>"$D/err" && grep -q "still has .* VM.*drain it first" "$D/err"'
set_setting dispatch.mode off
tap_done
