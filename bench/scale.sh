#!/usr/bin/env bash
# A thousand hosts (issue "... and a thousand hosts"): one yund (SQLite store) against HOSTS simulated hosts
# (bench/fake_hosts.c: threads of one process speaking the agent protocol over HTTPS as yun-agent does, each
# enrolled with its own credential and trusting yund's CA, with no hypervisor behind them) carrying VMS VMs
# created through the API, at the default report interval (2 s).
# fake_hosts prints each step on stderr with the machine's load; the last line is its JSON:
#   {"hosts": N, "vms": N, "yund_cpu_cores": F, "rss_mib": F, "list_p99_ms": F, "create_to_agent_p99_ms": F,
#    "silent_host_noticed_s": F}
# usage: bench/scale.sh BUILD [HOSTS] [VMS]   (1000, 50000; environment: WINDOW_S 30, LISTS 200, LATENCY 200,
# CREATORS 8, YUND_ARGS extra yund flags, SETTINGS "key=value ..." set before the hosts come)
set -u
BUILD=$(cd "${1:?usage: bench/scale.sh BUILD [HOSTS] [VMS]}" && pwd)
HOSTS=${2:-1000}
VMS=${3:-50000}
D=$(mktemp -d "${TMPDIR:-/tmp}/yun-scale.XXXXXX")
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] && echo "scale: kept $D" >&2 || rm -rf "$D"
}
trap cleanup EXIT
die() { echo "scale: $*" >&2; [ -f "$D/yund.log" ] && tail -5 "$D/yund.log" >&2; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="https://127.0.0.1:$PORT"
CA=$D/state/tls/ca.pem
# warn: 50,000 creates and their first reports would otherwise log a line each
YUN_LOG=${YUN_LOG:-warn} "$BUILD/src/cmd/yund" --state-dir "$D/state" --listen "127.0.0.1:$PORT" ${YUND_ARGS:-} \
  >>"$D/yund.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do [ -s "$CA" ] && curl -fsS --cacert "$CA" "$URL/healthz" >/dev/null 2>&1 && [ -s "$D/state/admin.token" ] && break; sleep 0.1; done
[ -s "$D/state/admin.token" ] || die "yund did not start"
A=$(cat "$D/state/admin.token")
for kv in ${SETTINGS:-}; do
  curl -fsS --cacert "$CA" -o /dev/null -X PUT -H "Authorization: Bearer $A" -d "{\"value\": \"${kv#*=}\"}" \
    "$URL/v1/settings/${kv%%=*}" || die "setting $kv"
done
qemu-img create -q -f qcow2 "$D/tiny.qcow2" 64M || die "qemu-img create"
[ "$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $A" -T "$D/tiny.qcow2" \
  "$URL/v1/images?name=tiny")" = 201 ] || die "uploading the image"
echo "scale: yund $PID on $URL, $HOSTS hosts, $VMS VMs; $(uptime)" >&2
"$BUILD/bench/fake_hosts" "$URL" "$CA" "$D/state/admin.token" "$PID" "$HOSTS" "$VMS" tiny \
  "${WINDOW_S:-30}" "${LISTS:-200}" "${LATENCY:-200}" "${CREATORS:-8}" || die "fake_hosts failed"
