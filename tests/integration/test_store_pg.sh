#!/usr/bin/env bash
# yund on PostgreSQL (yund --store postgres:...): a real PostgreSQL 15 of this test's own (tests/pg_fixture.sh),
# yund --all-in-one against a private libvirtd, a VM through create -> running -> stop -> start, a yund restart
# (SIGTERM) and a kill -9 that keep the VM, its owner and image, a delete that leaves no row and no domain,
# and no SQLite file made on the way. Then two yund on the one database: exactly one leads (runs the loops),
# and kill -9 of the leader makes the other lead within 10 s.
set -u
if [ -z "${YUN_TEST_PG:-}" ]; then # run again inside a PostgreSQL of this test's own, stopped when it ends
  exec bash "$(cd "$(dirname "$0")/../.." && pwd)/tests/pg_fixture.sh" bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

psql_q() { "$PGBIN/psql" -X -qtA "$YUN_TEST_PG" -c "$1"; }
DB=yun_it_$YUN_TEST_ID
psql_q "CREATE DATABASE $DB" || { tap_fail "a database in the test's PostgreSQL"; tap_done; exit 1; }
STORE="postgres:$YUN_TEST_PG dbname=$DB"
pg() { "$PGBIN/psql" -X -qtA "$YUN_TEST_PG dbname=$DB" -c "$1"; }

URI=$(yun_testhost_up pg) || { tap_fail "test host starts"; tap_done; exit 1; }
VIRSH=(virsh -q -c "$URI")
STATE=$YUN_TEST_DIR/state
yund_start "$STATE" "$URI" --store "$STORE" || { tap_fail "yund --store postgres: starts"; tap_done; exit 1; }
tap_ok "yund --all-in-one --store postgres:... starts"
[ "$(pg 'SELECT max(version) FROM yun_schema')" -ge 16 ] && tap_ok "the store's schema is in PostgreSQL" ||
  tap_fail "the store's schema is in PostgreSQL"
[ ! -e "$STATE/yun.db" ] && tap_ok "no SQLite store file is made" || tap_fail "no SQLite store file is made"

wait_until 30 "host registered" bash -c '[ "$(yun host list -o json | jq ".hosts | length")" = 1 ]' &&
  tap_ok "the agent registers its host (row in PostgreSQL: $(pg 'SELECT name FROM hosts'))" ||
  tap_fail "the agent registers its host"

# a create is placed on hosts that are up: the agent's first passes (its network defined) come first
host_up() { [ "$(yun host list -o json | jq -r '.hosts[0].state')" = up ]; }
wait_until 60 "the host is up" host_up || tap_diag "host: $(yun host list 2>&1 | tail -1)"
qemu-img create -q -f qcow2 "$YUN_TEST_DIR/tiny.qcow2" 64M
in_ns curl -sS -o /dev/null -H "Authorization: Bearer $YUN_TOKEN" -T "$YUN_TEST_DIR/tiny.qcow2" \
  "$YUN_URL/v1/images?name=tiny"
[ "$(pg "SELECT count(*) FROM images WHERE name = 'tiny'")" = 1 ] && tap_ok "the image is a row in PostgreSQL" ||
  tap_fail "the image is a row in PostgreSQL"

code=$(in_ns curl -sS -o "$YUN_TEST_DIR/backup" -w '%{http_code}' -H "Authorization: Bearer $YUN_TOKEN" \
  "$YUN_URL/v1/admin/backup")
[ "$code" = 400 ] && grep -q pg_dump "$YUN_TEST_DIR/backup" &&
  tap_ok "yun admin backup on PostgreSQL: 400 saying pg_dump is the tool" ||
  tap_fail "admin backup on PostgreSQL answers 400 naming pg_dump (got $code: $(head -c 300 "$YUN_TEST_DIR/backup"))"

domains() { "${VIRSH[@]}" list --all --name | grep -c "^$1\$"; }
wait_until 60 "the host is up" host_up
out=$(yun vm create pg1 --image tiny --cpus 1 --memory 64M --disk 1G 2>&1) && tap_ok "vm create pg1" ||
  tap_fail "vm create pg1: $out"
wait_until 120 "pg1 running" vm_state_is pg1 running && tap_ok "pg1 reaches running" ||
  tap_fail "pg1 reaches running (state $(vm_field pg1 state): $(vm_field pg1 error))"
UUID=$(vm_field pg1 uuid)
[ -n "$UUID" ] || tap_diag "pg1 has no uuid: $(yun vm show pg1 2>&1 | head -3)"
[ "$(pg "SELECT state FROM vms WHERE uuid = '$UUID'")" = running ] && tap_ok "PostgreSQL has pg1 running" ||
  tap_fail "PostgreSQL has pg1 running ($(pg "SELECT state FROM vms"))"
[ "$("${VIRSH[@]}" list --name | grep -c '^yun-admin-pg1$')" = 1 ] && tap_ok "libvirt runs yun-admin-pg1" ||
  tap_fail "libvirt runs yun-admin-pg1"

yun vm stop pg1 >/dev/null
wait_until 90 "pg1 stopped" vm_state_is pg1 stopped && tap_ok "stop: pg1 stopped" || tap_fail "stop"
[ "$("${VIRSH[@]}" domstate yun-admin-pg1)" = "shut off" ] && tap_ok "libvirt says shut off" ||
  tap_fail "libvirt says shut off"
yun vm start pg1 >/dev/null
wait_until 120 "pg1 running again" vm_state_is pg1 running && tap_ok "start: pg1 running again" || tap_fail "start"

# ---- restarts keep everything ----
yund_stop
yund_start "$STATE" "$URI" --store "$STORE" && tap_ok "yund restarts on the same PostgreSQL" ||
  tap_fail "yund restarts on the same PostgreSQL"
[ -n "$UUID" ] && [ "$(vm_field pg1 uuid)" = "$UUID" ] && tap_ok "pg1 is still there with its uuid" || tap_fail "pg1 kept its uuid"
wait_until 60 "pg1 running" vm_state_is pg1 running && tap_ok "pg1 still running after the restart" ||
  tap_fail "pg1 still running after the restart"
yun image list -o json | jq -e '.images[] | select(.name == "tiny")' >/dev/null && tap_ok "the image is kept" ||
  tap_fail "the image is kept"
yund_kill9
yund_start "$STATE" "$URI" --store "$STORE" && tap_ok "yund starts again after kill -9" ||
  tap_fail "yund starts again after kill -9"
wait_until 60 "pg1 running" vm_state_is pg1 running && sleep 3 &&
  [ "$("${VIRSH[@]}" list --name | grep -c '^yun-admin-pg1$')" = 1 ] &&
  tap_ok "pg1 runs exactly once after kill -9" || tap_fail "pg1 runs exactly once after kill -9"
[ "$(yun host list -o json | jq '.hosts | length')" = 1 ] && tap_ok "still one host" || tap_fail "still one host"

# ---- delete: nothing left ----
yun vm delete pg1 --wait >/dev/null && tap_ok "vm delete pg1" || tap_fail "vm delete pg1"
[ "$(pg 'SELECT count(*) FROM vms')" = 0 ] && tap_ok "no VM row is left in PostgreSQL" ||
  tap_fail "no VM row is left ($(pg 'SELECT name, want, state FROM vms'))"
[ "$(domains yun-admin-pg1)" = 0 ] && tap_ok "no domain is left in libvirt" || tap_fail "no domain is left"
yund_stop
yund_start "$STATE" "$URI" --store "$STORE" >/dev/null &&
  [ "$(yun vm list -o json | jq '.vms | length')" = 0 ] && tap_ok "after another restart: no VM, and yund serves" ||
  tap_fail "after another restart: no VM"
[ ! -e "$STATE/yun.db" ] && tap_ok "still no SQLite store file" || tap_fail "still no SQLite store file"
yund_stop

# ---- two yund on one database: never both lead; kill -9 of the leader hands over within 10 s ----
start_yund() { # start_yund N: yund N (state y$N) on the same database, pid in YPID[N]
  mkdir -p "$YUN_TEST_DIR/y$1"
  "$YUN_BIN/yund" --state-dir "$YUN_TEST_DIR/y$1" --listen "127.0.0.1:$(free_port)" --store "$STORE" \
    >>"$YUN_TEST_DIR/y$1/yund.log" 2>&1 &
  YPID[$1]=$!
  yun_on_exit "kill -KILL ${YPID[$1]}"
}
leads() { grep -c "info: leading:" "$YUN_TEST_DIR/y$1/yund.log"; }
follows() { grep -c "info: not leading:" "$YUN_TEST_DIR/y$1/yund.log"; }
declare -A YPID
start_yund 1
start_yund 2
# exactly one leads and the other says it follows; sets L (leader) and F
exactly_one() {
  if [ "$(leads 1)" = 1 ] && [ "$(leads 2)" = 0 ] && [ "$(follows 2)" = 1 ]; then L=1 F=2
  elif [ "$(leads 2)" = 1 ] && [ "$(leads 1)" = 0 ] && [ "$(follows 1)" = 1 ]; then L=2 F=1
  else L="" && return 1; fi
}
wait_until 30 "one yund leads, the other follows" exactly_one
sleep 5 # several passes of each: a second leader would have logged by now
exactly_one
[ -n "$L" ] && tap_ok "two yund on one PostgreSQL: exactly one leads (yund $L), the other serves only" ||
  { tap_fail "exactly one of two yund leads (y1: $(leads 1) leads/$(follows 1) follows, y2: $(leads 2)/$(follows 2))"
    psql_q "SELECT pid, state, wait_event_type, wait_event, left(query, 90) FROM pg_stat_activity
            WHERE datname = '$DB'" | sed 's/^/# pg: /'
    tail -n 3 "$YUN_TEST_DIR"/y[12]/yund.log | sed 's/^/# /'; }
if [ -n "$L" ]; then
  kill -KILL "${YPID[$L]}"
  t0=$(date +%s.%N)
  took_over() { [ "$(leads "$F")" -ge 1 ]; }
  wait_until 10 "yund $F leads" took_over &&
    tap_ok "kill -9 of the leader: yund $F leads within 10 s ($(echo "$(date +%s.%N) - $t0" | bc | cut -c1-4) s)" ||
    tap_fail "kill -9 of the leader: yund $F leads within 10 s"
  kill -KILL "${YPID[$F]}" 2>/dev/null
fi
tap_done
