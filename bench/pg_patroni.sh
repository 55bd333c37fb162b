#!/usr/bin/env bash
# A highly available PostgreSQL under yund, run on this one machine (docs/operations.md, "A highly available
# PostgreSQL"): one etcd and two Patroni nodes (PostgreSQL 15, synchronous_mode: a commit returns once the
# replica has it), all on 127.0.0.1 in a temporary folder, PostgreSQL and Patroni as nobody; one yund whose
# --store names both nodes with target_session_attrs=read-write. A writer makes users through the API, one every
# 0.2 s, while (1) `patronictl switchover` moves the primary to the replica, then (2) the new primary's Patroni
# and PostgreSQL are killed -9 and Patroni fails over to the other node. At the end: every user yund
# acknowledged is there exactly once, yund is the same process. The last line is JSON:
#   {"switchover_s": F, "failover_s": F, "acked": N, "lost": N, "duplicated": N, "refused": N, "yund_alive": B}
# (*_s: from the first refused write after the event to the first acknowledged one after it).
# usage: bench/pg_patroni.sh BUILD          needs: apt-get install patroni etcd-server postgresql-15
set -u
BUILD=$(cd "${1:?usage: bench/pg_patroni.sh BUILD}" && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
for c in patroni patronictl etcd "$PGBIN/postgres"; do
  command -v "$c" >/dev/null || { echo "pg_patroni: $c is missing: apt-get install patroni etcd-server postgresql-15" >&2; exit 1; }
done
D=$(mktemp -d "${TMPDIR:-/tmp}/yun-patroni.XXXXXX")
chmod 755 "$D"
PIDS=() # everything started, stopped in reverse order at exit
cleanup() {
  local i p
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    p=${PIDS[$i]}
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  for n in 1 2; do # a postmaster whose Patroni was killed -9 outlives it
    p=$(head -1 "$D/pg$n/postmaster.pid" 2>/dev/null)
    [ -n "$p" ] && kill -QUIT "$p" 2>/dev/null
  done
  [ "${KEEP:-0}" = 1 ] && echo "pg_patroni: kept $D" >&2 || rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "pg_patroni: $* ($(date +%T))" >&2; }
die() { say "$*"; for f in "$D"/*.log; do echo "== $f" >&2; tail -n 5 "$f" >&2; done; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
EC=$(port) EP=$(port)
declare -A PGP RP
for n in 1 2; do PGP[$n]=$(port); RP[$n]=$(port); done

etcd --name e1 --data-dir "$D/etcd" --listen-client-urls "http://127.0.0.1:$EC" \
  --advertise-client-urls "http://127.0.0.1:$EC" --listen-peer-urls "http://127.0.0.1:$EP" \
  --initial-advertise-peer-urls "http://127.0.0.1:$EP" --initial-cluster "e1=http://127.0.0.1:$EP" \
  >"$D/etcd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$EC/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$EC/health" >/dev/null || die "etcd did not start"

# one Patroni node's configuration (the recipe of docs/operations.md, on one machine)
node_config() {
  local n=$1
  cat <<EOF
scope: yun
name: pg$n
restapi:
  listen: 127.0.0.1:${RP[$n]}
  connect_address: 127.0.0.1:${RP[$n]}
etcd3:
  hosts: 127.0.0.1:$EC
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_log_hints: "on"
        max_connections: 200
  initdb:
    - encoding: UTF8
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${PGP[$n]}
  connect_address: 127.0.0.1:${PGP[$n]}
  data_dir: $D/pg$n
  bin_dir: $PGBIN
  pgpass: $D/run$n/pgpass
  authentication:
    superuser:
      username: yun
      password: yun
    replication:
      username: repl
      password: repl
    rewind:
      username: yun
      password: yun
  parameters:
    unix_socket_directories: $D/run$n
EOF
}
start_node() {
  local n=$1
  mkdir -p "$D/run$n" "$D/pg$n"
  chmod 700 "$D/pg$n"
  chown nobody:nogroup "$D/run$n" "$D/pg$n"
  node_config "$n" >"$D/patroni$n.yml"
  (cd "$D" && exec "${as_nobody[@]}" patroni "$D/patroni$n.yml") >>"$D/patroni$n.log" 2>&1 &
  PIDS+=($!)
  PATRONI[$n]=$!
}
role_is() { curl -fsS -o /dev/null "http://127.0.0.1:${RP[$1]}/$2" 2>/dev/null; } # role_is N primary|replica|sync
wait_for() { # wait_for SECONDS CMD...
  local end=$((SECONDS + $1))
  shift
  while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done
  return 1
}
declare -A PATRONI
start_node 1
wait_for 60 role_is 1 primary || die "pg1 did not become the primary"
start_node 2
wait_for 90 role_is 2 sync || die "pg2 did not become a synchronous replica"
say "etcd, pg1 primary, pg2 synchronous replica"
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "${PGP[1]}" -U yun -d postgres -c "CREATE DATABASE yun" || die "CREATE DATABASE"

YP=$(port)
STORE="postgres:host=127.0.0.1,127.0.0.1 port=${PGP[1]},${PGP[2]} dbname=yun user=yun"
STORE+=" target_session_attrs=read-write connect_timeout=3"
YUN_LOG=${YUN_LOG:-info} "$BUILD/src/cmd/yund" --state-dir "$D/yund" --listen "127.0.0.1:$YP" --store "$STORE" \
  >"$D/yund.log" 2>&1 &
YPID=$!
PIDS+=($YPID)
URL=https://127.0.0.1:$YP
for _ in $(seq 100); do [ -s "$D/yund/admin.token" ] && curl -fsS --cacert "$D/yund/tls/ca.pem" "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
[ -s "$D/yund/admin.token" ] || die "yund did not start"
A=$(cat "$D/yund/admin.token")
api() { curl -sS --cacert "$D/yund/tls/ca.pem" -H "Authorization: Bearer $A" -m 15 "$@"; }

# the writer: user wN, one every 0.2 s, until told to stop; "N ok|no EPOCH" per attempt
: >"$D/writes"
(i=0
while [ ! -e "$D/stop" ]; do
  i=$((i + 1))
  code=$(api -o /dev/null -w '%{http_code}' -X POST -d "{\"name\": \"w$i\"}" "$URL/v1/users" 2>/dev/null)
  [ "$code" = 201 ] && echo "$i ok $(date +%s.%N)" || echo "$i no $(date +%s.%N) $code"
  sleep 0.2
done >>"$D/writes") &
WRITER=$!
PIDS+=($WRITER)
acks_after() { awk -v t="$1" '$2 == "ok" && $3 > t' "$D/writes" | wc -l; }
ten_acked_since() { [ "$(acks_after "$1")" -ge 10 ]; } # ten_acked_since EPOCH
sleep 3

# (1) switchover to the replica
t1=$(date +%s.%N)
"${as_nobody[@]}" patronictl -c "$D/patroni1.yml" switchover --leader pg1 --candidate pg2 --force >"$D/switchover.log" 2>&1 ||
  die "patronictl switchover: $(cat "$D/switchover.log")"
wait_for 60 role_is 2 primary || die "pg2 did not become the primary"
wait_for 90 role_is 1 sync || say "pg1 is not a synchronous replica again"
wait_for 60 ten_acked_since "$(date +%s.%N)" || die "no writes acknowledged after the switchover"
say "switchover done: pg2 primary, pg1 replica"

# (2) the primary dies: its Patroni and PostgreSQL killed -9; Patroni fails over to pg1 once its key's ttl ends
t2=$(date +%s.%N)
pm=$(head -1 "$D/pg2/postmaster.pid")
kill -KILL "${PATRONI[2]}" "$pm"
say "killed -9 pg2's Patroni (${PATRONI[2]}) and PostgreSQL ($pm)"
wait_for 90 role_is 1 primary || die "pg1 did not take over"
wait_for 60 ten_acked_since "$(date +%s.%N)" || die "no writes acknowledged after the failover"
say "failover done: pg1 primary"
touch "$D/stop"
wait "$WRITER"

# the outage of each event: from its first refused write to the first acknowledged one after that
outage() { # outage T0
  awk -v t="$1" '$3 > t && $2 == "no" && !f {f = $3} f && $2 == "ok" && $3 > f {printf "%.2f", $3 - f; exit}
                 END {if (!f) printf "0"}' "$D/writes"
}
so=$(outage "$t1")
fo=$(outage "$t2")
api "$URL/v1/users" >"$D/users.json" || die "GET /v1/users"
acked=0 lost=0 dup=0
for i in $(awk '$2 == "ok" {print $1}' "$D/writes"); do
  acked=$((acked + 1))
  k=$(jq --arg n "w$i" '[.users[] | select(.name == $n)] | length' "$D/users.json")
  [ "$k" = 0 ] && lost=$((lost + 1))
  [ "$k" -gt 1 ] && dup=$((dup + 1))
done
refused=$(awk '$2 == "no"' "$D/writes" | wc -l)
alive=false
kill -0 "$YPID" 2>/dev/null && alive=true
say "yund's log about the store: $(grep -c "reopened" "$D/yund.log") reconnections, $(grep -c "leading:" "$D/yund.log") leadership changes"
echo "{\"switchover_s\": ${so:-0}, \"failover_s\": ${fo:-0}, \"acked\": $acked, \"lost\": $lost, \"duplicated\": $dup, \"refused\": $refused, \"yund_alive\": $alive}"
