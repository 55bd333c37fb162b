#!/usr/bin/env bash
# pg_fixture.sh CMD [ARGS...]: runs CMD against a PostgreSQL 15 of its own and exits with CMD's status.
# The cluster is made by initdb in a new temporary folder, run as an unprivileged user (root may not run
# postgres: as root it runs as nobody), on a free port of 127.0.0.1 with its unix socket in that folder;
# YUN_TEST_PG is its libpq conninfo (database "postgres", superuser "yun"), PGBIN the binaries' folder.
# It is stopped by PID and its folder removed on any exit. If it cannot start, this fails (never skips).
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
[ -x "$PGBIN/postgres" ] || { echo "pg_fixture: no $PGBIN/postgres: install postgresql-15 (scripts/deps.sh)" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/yun-pg.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true # fast shutdown
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
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
# the test's data is thrown away: no fsync
(cd "$dir" && exec "${as_user[@]}" "$PGBIN/postgres" -D "$dir/data" -p "$port" -k "$dir/sock" \
  -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
  -c max_connections=200 >"$dir/postgres.log" 2>&1) &
pid=$!
for _ in $(seq 300); do
  "$PGBIN/pg_isready" -q -h "$dir/sock" -p "$port" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if ! "$PGBIN/pg_isready" -q -h "$dir/sock" -p "$port"; then
  echo "pg_fixture: PostgreSQL did not start:" >&2
  cat "$dir/postgres.log" >&2
  exit 1
fi
export YUN_TEST_PG="host=$dir/sock port=$port user=yun dbname=postgres"
export PGBIN
rc=0
"$@" || rc=$?
exit $rc
