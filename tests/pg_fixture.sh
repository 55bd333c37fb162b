#!/usr/bin/env bash
# pg_fixture.sh CMD [ARGS...]: runs CMD against a PostgreSQL 15 of its own and exits with CMD's status.
# The cluster is made by initdb in a new temporary folder, run as an unprivileged user (root may not run
# postgres: as root it runs as nobody), on a free port of 127.0.0.1 with its unix socket in that folder;
# YUN_TEST_PG is its libpq conninfo (database "postgres", superuser "yun"), PGBIN the binaries' folder.
# It is stopped by PID and its folder removed on any exit. If it cannot start, this fails (never skips).
# YUN_TEST_PG_STANDBY=1: durable commits, and a streaming standby of it (pg_basebackup -R) on another port,
# synchronous (a commit returns once the standby has it); then also YUN_TEST_PG_STANDBY (its conninfo),
# YUN_TEST_PG_PID and YUN_TEST_PG_STANDBY_PID (the postmasters, for a test to kill -9 or promote) and
# YUN_TEST_PG_DIR (data/ and standby/ in it; run pg_ctl there with "$PG_AS_USER").
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
[ -x "$PGBIN/postgres" ] || { echo "pg_fixture: no $PGBIN/postgres: install postgresql-15 (scripts/deps.sh)" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/yun-pg.XXXXXX")
pid=""
spid=""
stop_pg() { # stop_pg PID
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill -INT "$1" 2>/dev/null || true # fast shutdown
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
  fi
}
cleanup() {
  stop_pg "$spid"
  stop_pg "$pid"
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_user=()
if [ "$(id -u)" -eq 0 ]; then
  chmod 755 "$dir"
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
mkdir -p "$dir/data" "$dir/sock"
[ ${#as_user[@]} -eq 0 ] || chown nobody:nogroup "$dir/data" "$dir/sock"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$dir" && "${as_user[@]}" "$PGBIN/initdb" -D "$dir/data" -U yun -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1) ||
  { echo "pg_fixture: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
# the test's data is thrown away: no fsync; with a standby, a commit waits for it (what a failover keeps)
durable=(-c synchronous_commit=off)
[ "${YUN_TEST_PG_STANDBY:-}" = 1 ] && durable=(-c synchronous_commit=on -c wal_level=replica)
start_pg() { # start_pg DATA SOCKDIR PORT LOG [ARGS]: the postmaster's PID in $started once it answers
  local data=$1 sock=$2 p=$3 log=$4
  shift 4
  (cd "$dir" && exec "${as_user[@]}" "$PGBIN/postgres" -D "$data" -p "$p" -k "$sock" \
    -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200 "$@" >"$log" 2>&1) &
  started=$!
  for _ in $(seq 300); do
    "$PGBIN/pg_isready" -q -h "$sock" -p "$p" && return 0
    kill -0 "$started" 2>/dev/null || break
    sleep 0.1
  done
  echo "pg_fixture: PostgreSQL ($data) did not start:" >&2
  cat "$log" >&2
  return 1
}
start_pg "$dir/data" "$dir/sock" "$port" "$dir/postgres.log" "${durable[@]}" || { pid=$started; exit 1; }
pid=$started
export YUN_TEST_PG="host=$dir/sock port=$port user=yun dbname=postgres"
if [ "${YUN_TEST_PG_STANDBY:-}" = 1 ]; then
  sport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$dir/sock2" "$dir/standby"
  chmod 700 "$dir/standby"
  [ ${#as_user[@]} -eq 0 ] || chown nobody:nogroup "$dir/sock2" "$dir/standby"
  (cd "$dir" && "${as_user[@]}" "$PGBIN/pg_basebackup" -h "$dir/sock" -p "$port" -U yun -D "$dir/standby" -R \
    -X stream -c fast >"$dir/basebackup.log" 2>&1) ||
    { echo "pg_fixture: pg_basebackup failed:" >&2; cat "$dir/basebackup.log" >&2; exit 1; }
  start_pg "$dir/standby" "$dir/sock2" "$sport" "$dir/standby.log" "${durable[@]}" -c cluster_name=standby ||
    { spid=$started; exit 1; }
  spid=$started
  # synchronous only once it streams: before, every commit would wait for a standby not yet there
  for _ in $(seq 300); do
    [ "$("$PGBIN/psql" -X -qtA "$YUN_TEST_PG" -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ] && break
    sleep 0.1
  done
  "$PGBIN/psql" -X -qtA "$YUN_TEST_PG" -c "ALTER SYSTEM SET synchronous_standby_names = 'standby'" \
    -c "SELECT pg_reload_conf()" >/dev/null &&
    [ "$("$PGBIN/psql" -X -qtA "$YUN_TEST_PG" -c "SELECT sync_state FROM pg_stat_replication")" = sync ] || {
    sleep 1
    [ "$("$PGBIN/psql" -X -qtA "$YUN_TEST_PG" -c "SELECT sync_state FROM pg_stat_replication")" = sync ]
  } || { echo "pg_fixture: the standby does not replicate synchronously:" >&2; tail -5 "$dir/standby.log" >&2; exit 1; }
  export YUN_TEST_PG_STANDBY="host=$dir/sock2 port=$sport user=yun dbname=postgres"
  export YUN_TEST_PG_PID=$pid YUN_TEST_PG_STANDBY_PID=$spid YUN_TEST_PG_DIR=$dir
  export PG_AS_USER="${as_user[*]}"
fi
export PGBIN
rc=0
"$@" || rc=$?
exit $rc
