#!/usr/bin/env bash
# Installs the Debian packages yun builds, tests and runs with, only those missing.
# Used by `make up` and `make check`, so a fresh Debian 12 machine needs nothing by hand.
set -euo pipefail
pkgs=(build-essential pkg-config meson ninja-build
      libvirt-dev libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils bubblewrap
      ipmitool openipmi
      dnsmasq-base iptables
      libsqlite3-dev libpq-dev postgresql-15 libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev
      libsodium-dev libgnutls28-dev libxml2-dev libcmocka-dev
      clang libclang-rt-14-dev
      cpio gzip xz-utils busybox-static gnuplot-nox iproute2 curl jq bc python3-yaml
      xorriso debootstrap fdisk e2fsprogs openssh-client
      nodejs chromium firefox-esr)
# the portal: npm vendors its packages; a nodejs that ships its own npm needs no Debian npm (which would
# pull in Debian's older nodejs over it)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
