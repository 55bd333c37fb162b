#!/usr/bin/env bash
# Several yund on one PostgreSQL (issue 13, item 2): a real PostgreSQL 15 of the test's own (tests/pg_fixture.sh),
# three yund on it (each its own state folder, one CA, all in test host A's namespace), two test hosts whose real
# agents are given the three URLs, and the CLI given them too (YUN_URL=URL1,URL2,URL3). Twice, with three yund
# and then with the two left: a burst of creates through the CLI and a drain of one host, and kill -9 of the
# leading yund in the middle of both. Then: another yund leads within 10 s, every create the CLI acknowledged
# exists exactly once (one row, one running domain in libvirt), none that was not acknowledged exists twice, the
# drain finishes (the host drained, its VMs running on the other), and both hosts go on reporting (their agents
# moved to a living yund). Also: one admin, made by the first yund; the later ones leave its token alone.
# run-tests: timeout=900
set -u
if [ -z "${YUN_TEST_PG:-}" ]; then # run again inside a PostgreSQL of this test's own, stopped when it ends
  exec bash "$(cd "$(dirname "$0")/../.." && pwd)/tests/pg_fixture.sh" bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"
TAP_DIAG='for i in 1 2 3; do echo "# yund $i:"; tail -4 "$YUN_TEST_DIR/y$i/yund.log" 2>/dev/null | sed "s/^/#   /"; done
  for h in A B; do echo "# agent $h:"; tail -3 "$YUN_TEST_DIR/agent-$h.log" 2>/dev/null | sed "s/^/#   /"; done'

"$PGBIN/psql" -X -qtA "$YUN_TEST_PG" -c "CREATE DATABASE yun_ha" >/dev/null ||
  { tap_fail "a database in the test's PostgreSQL"; tap_done; exit 1; }
STORE="postgres:$YUN_TEST_PG dbname=yun_ha"
pg() { "$PGBIN/psql" -X -qtA "$YUN_TEST_PG dbname=yun_ha" -c "$1"; }

for h in A B; do yun_testhost_up "$h" >/dev/null || { tap_fail "test host $h starts"; tap_done; exit 1; }; done
NSA=$(yun_testhost_netns A)
ADDR=$(yun_testhost_addr A)
export YUND_NETNS=$NSA

# ---- three yund on one database ----
declare -A YPID PORT
start_yund() { # start_yund N: yund N in A's namespace, state y$N, on the one database
  mkdir -p "$YUN_TEST_DIR/y$1" && chmod 0755 "$YUN_TEST_DIR/y$1"
  PORT[$1]=${PORT[$1]:-$(free_port)}
  ip netns exec "$NSA" "$YUN_BIN/yund" --state-dir "$YUN_TEST_DIR/y$1" --listen "$ADDR:${PORT[$1]}" --store "$STORE" \
    >>"$YUN_TEST_DIR/y$1/yund.log" 2>&1 &
  YPID[$1]=$!
  yun_on_exit "kill -KILL ${YPID[$1]} 2>/dev/null"
}
healthy() { in_ns curl -fsS --cacert "$YUN_TEST_DIR/y1/tls/ca.pem" "https://$ADDR:${PORT[$1]}/healthz" >/dev/null 2>&1; }
# the first alone makes the schema and the admin; the others find them
start_yund 1
wait_until 60 "yund 1 answers" healthy 1 && [ -s "$YUN_TEST_DIR/y1/admin.token" ] ||
  { tap_fail "yund 1 starts on PostgreSQL"; tap_done; exit 1; }
# one CA for all: yund 2 and 3 find yund 1's CA in their state and sign their own certificates with it
for i in 2 3; do mkdir -p "$YUN_TEST_DIR/y$i/tls" && cp -p "$YUN_TEST_DIR"/y1/tls/ca.{pem,key} "$YUN_TEST_DIR/y$i/tls/"; done
start_yund 2
start_yund 3
others_up() { healthy 2 && healthy 3; }
wait_until 60 "yund 2 and 3 answer" others_up || { tap_fail "yund 2 and 3 start"; tap_done; exit 1; }
[ ! -e "$YUN_TEST_DIR/y2/admin.token" ] && [ ! -e "$YUN_TEST_DIR/y3/admin.token" ] &&
  [ "$(pg "SELECT count(*) FROM users WHERE is_admin = 1")" = 1 ] &&
  tap_ok "one admin, made by the first yund; the others write no admin.token (its token stays good)" ||
  tap_fail "admins: $(pg "SELECT name FROM users WHERE is_admin = 1" | tr '\n' ' '), tokens: $(ls "$YUN_TEST_DIR"/y*/admin.token)"
export YUN_CA=$YUN_TEST_DIR/y1/tls/ca.pem CURL_CA_BUNDLE=$YUN_TEST_DIR/y1/tls/ca.pem
export YUN_TOKEN=$(cat "$YUN_TEST_DIR/y1/admin.token")
url() { echo "https://$ADDR:${PORT[$1]}"; }
export YUN_URL="$(url 1),$(url 2),$(url 3)"
[ "$(yun user list -o json 2>/dev/null | jq -r ".users[0].name")" = admin ] &&
  tap_ok "three yund on one PostgreSQL; the CLI reaches them through one list of URLs" ||
  tap_fail "the CLI through YUN_URL=$YUN_URL: $(yun user list 2>&1 | head -2)"

leads() { grep -c "info: leading:" "$YUN_TEST_DIR/y$1/yund.log" 2>/dev/null; }
leader() { # the one living yund that leads now (its last word on it was "leading"), or nothing
  local i last
  for i in "$@"; do
    last=$(grep -E "info: (not )?leading:" "$YUN_TEST_DIR/y$i/yund.log" 2>/dev/null | tail -1)
    [[ $last == *"info: leading:"* ]] && echo "$i"
  done
}
one_leader() { [ "$(leader 1 2 3 | wc -w)" = 1 ]; }
wait_until 30 "one leader" one_leader
L=$(leader 1 2 3)
[ "$(echo "$L" | wc -w)" = 1 ] && tap_ok "exactly one of the three leads (yund $L)" || tap_fail "one leader: '$L'"

# settings for a quick test: reports every second, no dispatcher
for kv in "agent.interval_ms 1000" "dispatch.mode off" "placement.cpu_ratio 16"; do
  yun settings set $kv >/dev/null || tap_fail "settings set $kv"
done

# ---- two hosts whose agents know all three ----
AGENT_PIDS=()
_agents_stop() { local p; for p in "${AGENT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${AGENT_PIDS[@]}"; do for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; done; }
yun_on_exit _agents_stop
for h in A B; do
  tok=$(host_join "host$h") || { tap_fail "yun host add host$h"; tap_done; exit 1; }
  ip netns exec "$(yun_testhost_netns $h)" "$YUN_BIN/yun-agent" --controller "$YUN_URL" --ca "$YUN_CA" \
    --join "$tok" --state "$YUN_TEST_DIR/agent-$h" --libvirt-uri "$(yun_testhost_uri $h)" \
    --migrate-addr "$(yun_testhost_addr $h)" >"$YUN_TEST_DIR/agent-$h.log" 2>&1 &
  AGENT_PIDS+=($!)
done
up_count() { yun host list -o json 2>/dev/null | jq '[.hosts[] | select(.state == "up")] | length'; }
hosts_up() { [ "$(up_count)" = 2 ]; }
wait_until 120 "two hosts up" hosts_up && tap_ok "two hosts up, their agents given the three URLs" ||
  { tap_fail "hosts up: $(yun host list 2>&1 | tr '\n' '|')"; tap_done; exit 1; }
qemu-img create -q -f qcow2 "$YUN_TEST_DIR/tiny.qcow2" 64M
in_ns curl -fsS -o /dev/null -H "Authorization: Bearer $YUN_TOKEN" -T "$YUN_TEST_DIR/tiny.qcow2" \
  "$(url 1)/v1/images?name=tiny" && tap_ok "image tiny" || tap_fail "image tiny"

domains_named() { # how many domains named $1 run on both hosts
  local h n=0 c
  for h in A B; do
    c=$(virsh -q -c "$(yun_testhost_uri $h)" list --name 2>/dev/null | grep -c "^$1\$")
    n=$((n + c))
  done
  echo "$n"
}

# round TAG FROM TO LIVING...: a burst of creates and a drain of FROM (its VMs to TO), kill -9 of the leader
# among LIVING in the middle; the checks. Sets LEFT to the living yund after it.
round() {
  local tag=$1 from=$2 to=$3
  shift 3
  local living=("$@") i n
  local L0
  L0=$(leader "${living[@]}")
  [ "$(echo "$L0" | wc -w)" = 1 ] || { tap_fail "$tag: one leader among ${living[*]} before the kill: '$L0'"; return; }
  # two VMs on FROM first, for the drain to move
  yun host disable "host$to" >/dev/null
  for i in 1 2; do yun vm create "$tag-d$i" --image tiny --memory 64M --disk 1G >/dev/null || tap_fail "create $tag-d$i"; done
  yun host enable "host$to" >/dev/null
  d_running() { [ "$(yun vm list -o json | jq --arg t "$tag-d" --arg h "host$from" '[.vms[] | select((.name | startswith($t)) and .state == "running" and .host == $h)] | length')" = 2 ]; }
  wait_until 90 "$tag-d1/2 running" d_running ||
    tap_fail "$tag: two VMs running on host$from before the drain"
  # the burst: 8 creates, 4 at a time, each CLI call given the URL list; 0 = acknowledged
  mkdir -p "$YUN_TEST_DIR/$tag"
  local burst=()
  for i in $(seq 1 8); do
    ( yun vm create "$tag-b$i" --image tiny --memory 64M --disk 1G >"$YUN_TEST_DIR/$tag/b$i.out" 2>&1
      echo $? >"$YUN_TEST_DIR/$tag/b$i.rc" ) &
    burst+=($!)
    [ $((i % 4)) = 0 ] || [ "$i" = 3 ] && sleep 0.3
  done
  yun host drain "host$from" >/dev/null || tap_fail "$tag: drain host$from"
  sleep 0.5
  kill -KILL "${YPID[$L0]}"
  local t0=$SECONDS
  local rest=()
  for i in "${living[@]}"; do [ "$i" = "$L0" ] || rest+=("$i"); done
  LEFT=("${rest[@]}")
  one_leads() { [ "$(leader "${rest[@]}" | wc -w)" = 1 ]; }
  if wait_until 10 "a new leader" one_leads; then
    tap_ok "$tag: kill -9 of the leader (yund $L0) during a burst and a drain: yund $(leader "${rest[@]}") leads $((SECONDS - t0)) s later"
  else
    tap_fail "$tag: another of ${rest[*]} leads within 10 s of the kill"
  fi
  wait "${burst[@]}"
  local acked=0 unacked=0 bad=""
  for i in $(seq 1 8); do
    n=$(yun vm list -o json | jq --arg n "$tag-b$i" '[.vms[] | select(.name == $n)] | length')
    if [ "$(cat "$YUN_TEST_DIR/$tag/b$i.rc")" = 0 ]; then
      acked=$((acked + 1))
      [ "$n" = 1 ] || bad+=" $tag-b$i(acknowledged, $n rows)"
    else
      unacked=$((unacked + 1))
      [ "$n" -le 1 ] || bad+=" $tag-b$i(not acknowledged, $n rows)"
      tap_diag "$tag-b$i not acknowledged ($n rows): $(head -c 200 "$YUN_TEST_DIR/$tag/b$i.out")"
    fi
  done
  [ -z "$bad" ] && tap_ok "$tag: each of the $acked acknowledged creates is one VM ($unacked not acknowledged, none twice)" ||
    tap_fail "$tag: creates:$bad"
  all_run() { [ "$(yun vm list -o json | jq --arg t "$tag-" '[.vms[] | select((.name | startswith($t)) and .state != "running")] | length')" = 0 ]; }
  wait_until 120 "$tag's VMs running" all_run || tap_diag "not running: $(yun vm list -o json | jq -c --arg t "$tag-" '[.vms[] | select((.name | startswith($t)) and .state != "running") | {name, state, error}]')"
  drained() { [ "$(yun host show "host$from" -o json | jq -r .state)" = drained ] &&
    [ "$(yun vm list -o json | jq --arg h "host$from" '[.vms[] | select(.host == $h)] | length')" = 0 ]; }
  wait_until 180 "host$from drained" drained &&
    tap_ok "$tag: the drain finished: host$from drained, its VMs on host$to ($((SECONDS - t0)) s after the kill)" ||
    tap_fail "$tag: drain of host$from: $(yun host show "host$from" -o json | jq -r .state), VMs there: $(yun vm list -o json | jq -c --arg h "host$from" '[.vms[] | select(.host == $h) | .name]')"
  # after the drain: a live migration in flight has its domain on both hosts, paused on the target
  bad=""
  for v in $(yun vm list -o json | jq -r --arg t "$tag-" '.vms[] | select(.name | startswith($t)) | .name'); do
    [ "$(domains_named "yun-admin-$v")" = 1 ] || bad+=" $v($(domains_named "yun-admin-$v") domains)"
  done
  [ -z "$bad" ] && tap_ok "$tag: every VM of the round runs as exactly one domain in libvirt" || tap_fail "$tag: domains:$bad"
  hosts_fine() { [ "$(yun host list -o json | jq '[.hosts[] | select(.state == "up" or .state == "drained")] | length')" = 2 ]; }
  sleep 3
  hosts_fine && tap_ok "$tag: both hosts report on (their agents moved to a living yund)" ||
    tap_fail "$tag: hosts: $(yun host list -o json | jq -c '[.hosts[] | {name, state}]')"
  yun host enable "host$from" >/dev/null
}

round r3 A B 1 2 3
round r2 B A "${LEFT[@]}"
[ "$(pg "SELECT count(*) FROM vms WHERE name LIKE 'r%'")" -ge 4 ] && tap_ok "the rows are in PostgreSQL" ||
  tap_fail "rows in PostgreSQL"
tap_done
