#!/usr/bin/env bash
# Gives /dev/kvm the owner and mode Debian's udev rules give it (root:kvm 0660) when a machine without udev
# (a container, a CI runner) left it root:root 0600. Without this, libvirt probes QEMU as root and finds KVM,
# then checks /dev/kvm as the QEMU user (libvirt-qemu, group kvm) and does not: it throws its capability
# cache away and probes QEMU again on every define and start (about 30 s each here). Whether guests run
# under KVM is still decided by trying (the agent's probe), not by this.
set -u
[ -c /dev/kvm ] || exit 0
getent group kvm >/dev/null || exit 0
if [ "$(stat -c '%G %a' /dev/kvm)" != "kvm 660" ] && [ "$(id -u)" = 0 ]; then
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm &&
    echo "kvm-dev: /dev/kvm set to root:kvm 0660, as udev would (libvirt re-probes QEMU on every call otherwise)" >&2
fi
exit 0
