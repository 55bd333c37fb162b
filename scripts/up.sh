#!/usr/bin/env bash
# `make up`: a cloud on this machine. Starts libvirt if needed, then yund --all-in-one in the background
# (log in STATE/yund.log, pid in STATE/yund.pid), builds the starter image once, and prints where things are.
set -euo pipefail
BUILD=${1:-build}; STATE=${2:-var}; LISTEN=${3:-127.0.0.1:8080}
mkdir -p "$STATE"
bash scripts/libvirt-up.sh "$STATE"
URL="https://$LISTEN"
export CURL_CA_BUNDLE="$STATE/tls/ca.pem" # yund serves HTTPS with the CA it makes there at its first start
if [ -f "$STATE/yund.pid" ] && kill -0 "$(cat "$STATE/yund.pid")" 2>/dev/null; then
  echo "up: yund already runs (pid $(cat "$STATE/yund.pid"))"
else
  nohup "$BUILD/src/cmd/yund" --all-in-one --state-dir "$STATE" --listen "$LISTEN" >>"$STATE/yund.log" 2>&1 &
  echo $! > "$STATE/yund.pid"
fi
for _ in $(seq 1 100); do
  curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$(cat "$STATE/yund.pid")" 2>/dev/null; then
    echo "up: yund exited; the end of $STATE/yund.log:" >&2; tail -20 "$STATE/yund.log" >&2; exit 1
  fi
  sleep 0.2
done
YUN="$BUILD/src/cmd/yun"
export YUN_URL="$URL" YUN_TOKEN="$(cat "$STATE/admin.token")" YUN_CA="$STATE/tls/ca.pem"
# the agent registers this host within a few seconds
for _ in $(seq 1 100); do
  "$YUN" host list -o json 2>/dev/null | grep -q '"name"' && break
  sleep 0.3
done
if ! "$YUN" image show starter >/dev/null 2>&1; then
  echo "up: building the starter image from Debian packages (a minute the first time)"
  "$YUN" image build-starter
fi
"$YUN" host list
cat <<MSG

yun is up.
  portal   $URL/   (log in as admin with the password in $STATE/admin.password; yund's CA,
           which your browser does not know yet, is $STATE/tls/ca.pem)
  API      $URL/v1  (token: $STATE/admin.token)
  CLI      $YUN   (e.g. $YUN vm create web1 --image starter --cpus 1 --memory 128M --disk 1G)
  guests   on this host's NAT network "yun" (10.203.x.0/24, made by the agent; docs/networking.md):
           their addresses show in \`$YUN vm list\`, reachable from this machine
  log      $STATE/yund.log
  stop     make down   (VMs keep running)
MSG
