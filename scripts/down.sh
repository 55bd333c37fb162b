#!/usr/bin/env bash
# `make down`: stops the yund that `make up` started (by its pid file). VMs keep running; libvirt too.
set -uo pipefail
STATE=${1:-var}
if [ -f "$STATE/yund.pid" ] && kill -0 "$(cat "$STATE/yund.pid")" 2>/dev/null; then
  pid=$(cat "$STATE/yund.pid"); kill -TERM "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  echo "down: yund (pid $pid) stopped"
fi
rm -f "$STATE/yund.pid"
