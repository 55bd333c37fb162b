#!/usr/bin/env bash
# Starts the machine's libvirt (virtlogd, then libvirtd) when it is not answering, for `make up`.
# Machines without systemd (containers, CI) have nobody else to start it. Pid files go to STATE so
# `make down` can stop exactly what this started, and nothing else.
set -euo pipefail
STATE=${1:-var}
mkdir -p "$STATE"
bash "$(dirname "$0")/kvm-dev.sh"
if timeout 20 virsh -c qemu:///system version >/dev/null 2>&1; then
  exit 0
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl start virtlogd libvirtd && exit 0
fi
echo "up: starting virtlogd and libvirtd (pid files in $STATE/)" >&2
if ! [ -S /run/libvirt/virtlogd-sock ]; then
  virtlogd --daemon --pid-file "$(realpath "$STATE")/virtlogd.pid"
fi
libvirtd --daemon --pid-file "$(realpath "$STATE")/libvirtd.pid"
for _ in $(seq 1 60); do
  timeout 20 virsh -c qemu:///system version >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "up: libvirtd did not answer on qemu:///system; see /var/log/libvirt/" >&2
exit 1
