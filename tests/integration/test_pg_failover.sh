#!/usr/bin/env bash
# A promoted standby: yund --all-in-one on a PostgreSQL primary that has a synchronous streaming standby
# (tests/pg_fixture.sh with YUN_TEST_PG_STANDBY=1), its --store naming both servers with
# target_session_attrs=read-write. During a run of creates the primary is killed -9; 8 s later (past
# ha.suspect_ms) the standby is promoted (pg_ctl promote). The same yund process goes on: it answers again,
# leads again, every create it acknowledged is a row exactly once in the new primary and one running domain in
# libvirt, what it refused meanwhile it said was unavailable (503), new creates work, and its host stays up
# (the outage is nobody's silence: no HA action).
set -u
if [ -z "${YUN_TEST_PG:-}" ]; then # run again inside a primary and standby of this test's own
  YUN_TEST_PG_STANDBY=1 exec bash "$(cd "$(dirname "$0")/../.." && pwd)/tests/pg_fixture.sh" bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; } # kv CONNINFO KEY
DB=yun_it_$YUN_TEST_ID
"$PGBIN/psql" -X -qtA "$YUN_TEST_PG" -c "CREATE DATABASE $DB" >/dev/null ||
  { tap_fail "a database in the test's PostgreSQL"; tap_done; exit 1; }
STORE="postgres:host=$(kv "$YUN_TEST_PG" host),$(kv "$YUN_TEST_PG_STANDBY" host)"
STORE+=" port=$(kv "$YUN_TEST_PG" port),$(kv "$YUN_TEST_PG_STANDBY" port) user=yun dbname=$DB"
STORE+=" target_session_attrs=read-write connect_timeout=3"
new_primary() { "$PGBIN/psql" -X -qtA "$YUN_TEST_PG_STANDBY dbname=$DB" -c "$1"; }

URI=$(yun_testhost_up pgf) || { tap_fail "test host starts"; tap_done; exit 1; }
VIRSH=(virsh -q -c "$URI")
STATE=$YUN_TEST_DIR/state
yund_start "$STATE" "$URI" --store "$STORE" || { tap_fail "yund on the primary starts"; tap_done; exit 1; }
PID0=$YUND_PID
tap_ok "yund --store postgres:host=PRIMARY,STANDBY ... target_session_attrs=read-write starts"
host_up() { [ "$(yun host list -o json | jq -r '.hosts[0].state')" = up ]; }
wait_until 60 "the host is up" host_up || tap_diag "host: $(yun host list 2>&1 | tail -1)"
# a quick test: no dispatcher; room for a dozen 1-CPU VMs on the host's 2 cores
for kv in "dispatch.mode off" "placement.cpu_ratio 16"; do
  yun settings set $kv >/dev/null || tap_fail "settings set $kv"
done
qemu-img create -q -f qcow2 "$YUN_TEST_DIR/tiny.qcow2" 64M
in_ns curl -sS -o /dev/null -H "Authorization: Bearer $YUN_TOKEN" -T "$YUN_TEST_DIR/tiny.qcow2" \
  "$YUN_URL/v1/images?name=tiny"
create() { yun vm create "$1" --image tiny --cpus 1 --memory 64M --disk 1G >/dev/null 2>"$YUN_TEST_DIR/err.$1"; }
create b1 && create b2 && tap_ok "b1 and b2 created on the primary" || tap_fail "b1, b2: $(cat "$YUN_TEST_DIR"/err.b*)"
[ "$(new_primary "SELECT count(*) FROM vms")" = 2 ] && tap_ok "the standby has both rows already (synchronous)" ||
  tap_fail "the standby has both rows ($(new_primary "SELECT name FROM vms" | tr '\n' ' '))"

# creates b3, b4, ..., two a second, through the kill and the promotion until told to stop; each outcome in acks
: >"$YUN_TEST_DIR/acks"
(for i in $(seq 3 40); do
  [ -e "$YUN_TEST_DIR/stop" ] && break
  if create "b$i"; then echo "b$i ok"; else echo "b$i no $(tr '\n' ' ' <"$YUN_TEST_DIR/err.b$i")"; fi
  sleep 0.5
done >>"$YUN_TEST_DIR/acks") &
LOOP=$!
yun_on_exit "kill $LOOP"
wait_until 20 "b3 acknowledged" grep -q "^b3 ok" "$YUN_TEST_DIR/acks"
kill -KILL "$YUN_TEST_PG_PID"
t_kill=$(date +%s.%N)
sleep 8
# shellcheck disable=SC2086 # PG_AS_USER is the fixture's command prefix, words on purpose
(cd "$YUN_TEST_PG_DIR" && $PG_AS_USER "$PGBIN/pg_ctl" promote -w -D "$YUN_TEST_PG_DIR/standby" >/dev/null) &&
  tap_ok "kill -9 of the primary, 8 s later the standby is promoted" || tap_fail "pg_ctl promote"
t_promote=$(date +%s.%N)
echo "promoted" >>"$YUN_TEST_DIR/acks"
answers() { [ "$(in_ns curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $YUN_TOKEN" "$YUN_URL/v1/vms")" = 200 ]; }
wait_until 30 "yund answers GET /v1/vms" answers &&
  tap_ok "yund answers GET /v1/vms again $(echo "$(date +%s.%N) - $t_promote" | bc | cut -c1-4) s after the promotion" ||
  tap_fail "yund answers again after the promotion"
acked_after() { [ "$(sed -n '/^promoted/,$p' "$YUN_TEST_DIR/acks" | grep -c " ok")" -ge 3 ]; }
wait_until 60 "3 creates acknowledged after the promotion" acked_after
touch "$YUN_TEST_DIR/stop"
wait "$LOOP"
kill -0 "$PID0" 2>/dev/null && [ "$YUND_PID" = "$PID0" ] && tap_ok "the same yund process (pid $PID0), never restarted" ||
  tap_fail "yund went on as the same process"
leading() { in_ns curl -fsS "$YUN_URL/healthz" | jq -e '.leading == true'; }
wait_until 20 "yund leads again" leading && tap_ok "yund leads again (healthz)" || tap_fail "yund leads again"
grep -q "store: the connection to .* was lost; reopened" "$STATE/yund.log" &&
  tap_ok "its log says the store's connection was reopened" || tap_fail "its log says the connection was reopened"

ACKED="b1 b2 $(awk '$2 == "ok" {print $1}' "$YUN_TEST_DIR/acks" | tr '\n' ' ')"
REFUSED=$(awk '$2 == "no" {print $1}' "$YUN_TEST_DIR/acks" | tr '\n' ' ')
tap_diag "acknowledged: $ACKED; refused: $REFUSED"
[ -n "$REFUSED" ] && acked_after && tap_ok "creates during the outage were refused; 3 after the promotion acknowledged" ||
  tap_fail "some creates refused during the outage and 3 acknowledged after ($(tr '\n' ';' <"$YUN_TEST_DIR/acks"))"
bad=""
for v in $REFUSED; do
  # the database out of reach; or, in the interval after, the host not heard from since before the outage
  grep -Eq "the database is out of reach: try again shortly|no host is up to take the VM" "$YUN_TEST_DIR/err.$v" ||
    bad+="$v: $(cat "$YUN_TEST_DIR/err.$v") "
done
[ -z "$bad" ] && tap_ok "each refusal said the database was out of reach (or, just after, that no host was up)" ||
  tap_fail "refusals: $bad"
bad=""
for v in $ACKED; do
  [ "$(new_primary "SELECT count(*) FROM vms WHERE name = '$v'")" = 1 ] || bad+="$v "
done
[ -z "$bad" ] && tap_ok "every acknowledged create is one row in the promoted standby (nothing committed lost)" ||
  tap_fail "acknowledged but not exactly one row: $bad"
bad=""
for v in $REFUSED; do
  [ "$(new_primary "SELECT count(*) FROM vms WHERE name = '$v'")" -le 1 ] || bad+="$v "
done
[ -z "$bad" ] && tap_ok "no refused create is there twice" || tap_fail "refused but twice: $bad"

create a1 && tap_ok "a create after the switch is acknowledged" || tap_fail "create a1: $(cat "$YUN_TEST_DIR/err.a1")"
all_run() {
  local v
  for v in $ACKED a1; do
    [ "$("${VIRSH[@]}" list --name | grep -c "^yun-admin-$v\$")" = 1 ] || return 1
    [ "$(vm_field "$v" state)" = running ] || return 1
  done
}
wait_until 180 "every acknowledged VM running, one domain each" all_run &&
  tap_ok "every acknowledged VM runs, exactly one domain each" ||
  tap_fail "every acknowledged VM runs ($(yun vm list 2>&1 | tr '\n' ';'))"
host_up && ! grep -q "is suspect" "$STATE/yund.log" &&
  tap_ok "the host stayed up: the $(echo "$t_promote - $t_kill" | bc | cut -c1-4) s outage was nobody's silence" ||
  tap_fail "the host stayed up ($(yun host list 2>&1 | tail -1); $(grep "is suspect" "$STATE/yund.log" | head -1))"
[ "$_YUN_TAP_FAILED" = 0 ] || grep -E "warn|error|leading|reopened" "$STATE/yund.log" | tail -40 | sed 's/^/# yund: /'
tap_done
