#!/usr/bin/env bash
# Builds yun's "starter" image from Debian packages, without internet beyond Debian's mirror:
#   OUTDIR/vmlinuz      the newest linux-image-*-cloud-amd64 kernel apt knows
#   OUTDIR/initrd.img   a busybox initrd (cpio newc | gzip); its init loads the virtio modules, mounts
#                       proc/sys/dev, brings eth0 up with udhcpc if there is one (failure tolerated; on a
#                       lease it prints YUN-GUEST-ADDR <ip> and pings the router once, so the host's ARP
#                       table learns it), serves a page with httpd on port 80 (/) and prints YUN-GUEST-READY
#                       on ttyS0. With a cloud-init seed disk (yun's, labelled cidata) it takes its hostname from
#                       meta-data (YUN-GUEST-HOSTNAME <name>) and the SSH keys of user-data into
#                       /root/.ssh/authorized_keys (YUN-GUEST-KEYS <count>). GET /cgi-bin/load?pct=N (0..100) keeps every vCPU busy N% of the time
#                       until told otherwise (yun-load); GET /cgi-bin/load says the load in force.
#                       GET /cgi-bin/net?op=ping|get|lookup&host=NAME: ping, fetch or resolve another
#                       guest from inside this one (by the DNS server DHCP gave).
#                       With "yun.probe=1" on the kernel command line it only prints YUN-PROBE-OK and
#                       powers off: the KVM probe (src/hv/hv.h, hv_accel_probe) boots that.
#   OUTDIR/base.qcow2   an empty, small qcow2 base disk (VMs get an overlay of it)
#   OUTDIR/cmdline      the kernel command line for the image (console=ttyS0 ...)
#   OUTDIR/manifest     what it was built from
# usage: scripts/build-starter.sh OUTDIR
# Idempotent: when OUTDIR holds an image built by this very script it returns at once. The .debs are
# cached in $YUN_DEB_CACHE (default OUTDIR/.debs). Output files are 0644 in 0755 folders, readable by
# libvirt's QEMU user. Needs: apt-get, dpkg-deb, cpio, gzip, xz, qemu-img; root to write device nodes is
# not needed.
set -euo pipefail
umask 022

OUT=${1:?usage: build-starter.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# one build of OUTDIR at a time (tests side by side, yund and a test): a second waits, then finds it up to date
exec 9>"$OUT/.build.lock"
flock 9
CACHE=${YUN_DEB_CACHE:-$OUT/.debs}
SELF_HASH=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
FILES=(vmlinuz initrd.img base.qcow2 cmdline)

have_all() {
  for f in "${FILES[@]}" manifest; do [ -s "$OUT/$f" ] || return 1; done
  grep -qx "script $SELF_HASH" "$OUT/manifest"
}
if have_all; then
  echo "build-starter: $OUT is up to date ($(sed -n 's/^kernel //p' "$OUT/manifest"))"
  exit 0
fi

for tool in apt-get apt-cache dpkg-deb cpio gzip xz qemu-img; do
  command -v "$tool" >/dev/null || { echo "build-starter: $tool is missing (run scripts/deps.sh)" >&2; exit 1; }
done

newest_kernel() {
  apt-cache search --names-only '^linux-image-[0-9].*-cloud-amd64$' 2>/dev/null | awk '{print $1}' |
    grep -v -- '-dbg$' | sort -V | tail -1
}
KPKG=$(newest_kernel)
if [ -z "$KPKG" ]; then
  apt-get update -qq >/dev/null
  KPKG=$(newest_kernel)
fi
[ -n "$KPKG" ] || { echo "build-starter: apt knows no linux-image-*-cloud-amd64 package" >&2; exit 1; }

mkdir -p "$CACHE"
chmod 0755 "$CACHE"
# apt-get download writes into the current folder; a deb already in the cache is not fetched again.
fetch() {
  local pkg=$1 f
  f=$(ls "$CACHE/${pkg}_"*.deb 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$f" ]; then
    if ! (cd "$CACHE" && apt-get download "$pkg" >/dev/null 2>&1); then
      apt-get update -qq >/dev/null
      (cd "$CACHE" && apt-get download "$pkg" >/dev/null) ||
        { echo "build-starter: apt-get download $pkg failed" >&2; exit 1; }
    fi
    f=$(ls "$CACHE/${pkg}_"*.deb | sort -V | tail -1)
  fi
  echo "$f"
}
KDEB=$(fetch "$KPKG")
BDEB=$(fetch busybox-static)

WORK=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
dpkg-deb -x "$KDEB" "$WORK/k"
dpkg-deb -x "$BDEB" "$WORK/b"
KVER=$(ls "$WORK/k/lib/modules" | head -1)
MODDIR=$WORK/k/lib/modules/$KVER

R=$WORK/root
mkdir -p "$R"/{bin,sbin,dev,proc,sys,tmp,run,var/log,var/run,etc/acpi/PWRF,www/cgi-bin,lib/modules,usr/share/udhcpc,root}
chmod 1777 "$R/tmp"
cp "$WORK/b/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
  [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"
done

# The virtio stack, in load order (each needs the ones before it). Kernels differ in what is built in
# (6.1 has virtio and virtio_pci as modules, 6.12 builds them in): copy those that are modules here.
# evdev + button: the ACPI power button as /dev/input/event*, so a shutdown request from libvirt
# reaches busybox acpid.
# cdrom + isofs: the cloud-init seed (an ISO 9660 disk labelled cidata) that yun attaches to every VM.
MODS="virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk virtio_balloon
      failover net_failover virtio_net evdev button cdrom isofs"
: > "$R/lib/modules/load-order"
for m in $MODS; do
  ko=$(find "$MODDIR/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \) | head -1)
  [ -n "$ko" ] || continue
  case $ko in
    *.xz) xz -dc "$ko" > "$R/lib/modules/$m.ko" ;;
    *.zst) zstd -qdc "$ko" > "$R/lib/modules/$m.ko" ;;
    *) cp "$ko" "$R/lib/modules/$m.ko" ;;
  esac
  echo "$m" >> "$R/lib/modules/load-order"
done

# PID 1 is this script until it execs busybox init: it sets up the console first, so nothing needs a
# /dev/console node in the archive (which only root could create).
cat > "$R/init" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin
mount -t devtmpfs dev /dev 2>/dev/null
exec 0</dev/console 1>/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
case " $(cat /proc/cmdline) " in
  *" yun.probe=1 "*)
    # the KVM probe: proof that a guest reached user space, then power off at once
    echo YUN-PROBE-OK
    poweroff -f ;;
esac
exec /bin/init
EOF
cat > "$R/etc/inittab" <<'EOF'
::sysinit:/etc/rc
tty1::respawn:-/bin/sh
::ctrlaltdel:/bin/reboot
::shutdown:/bin/echo YUN-GUEST-STOPPING
EOF
cat > "$R/etc/rc" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
hostname yun-starter
for m in $(cat /lib/modules/load-order); do
  insmod "/lib/modules/$m.ko" 2>/dev/null
done
ip link set lo up
# The cloud-init NoCloud seed yun attaches (docs/guests.md), read the starter's way: the hostname from
# meta-data's local-hostname, the SSH keys of user-data's ssh_authorized_keys into /root/.ssh/authorized_keys
# (for an image with sshd; the starter has none).
for i in $(seq 1 20); do [ -b /dev/vdb ] && break; usleep 50000; done
for dev in /dev/vd[b-z]; do
  [ -b "$dev" ] || continue
  mkdir -p /run/seed
  mount -t iso9660 -o ro "$dev" /run/seed 2>/dev/null || continue
  if [ -f /run/seed/meta-data ]; then
    h=$(sed -n 's/^local-hostname: *//p' /run/seed/meta-data | head -1)
    if [ -n "$h" ]; then
      hostname "$h"
      echo "YUN-GUEST-HOSTNAME $h"
    fi
    mkdir -p /root/.ssh
    chmod 0700 /root/.ssh
    sed -n 's/^  - "\(\(ssh-\|ecdsa-\|sk-\).*\)"$/\1/p' /run/seed/user-data 2>/dev/null |
      sed 's/\\"/"/g; s/\\\\/\\/g' > /root/.ssh/authorized_keys
    chmod 0600 /root/.ssh/authorized_keys
    echo "YUN-GUEST-KEYS $(grep -c . /root/.ssh/authorized_keys)"
  fi
  umount /run/seed
  break
done
# busybox acpid runs /etc/acpi/PWRF/00000080 on the power button (libvirt's shutdown and reboot). It
# opens the input devices once, at its start: wait for the power button's to appear.
for i in $(seq 1 50); do
  ev=$(awk '/Power Button/ {p = 1} p && /Handlers/ {for (i = 1; i <= NF; i++) if ($i ~ /^event/) {print $i; exit}}' /proc/bus/input/devices)
  [ -n "$ev" ] && [ -e "/dev/input/$ev" ] && break
  usleep 100000
done
acpid -l /var/log/acpid.log
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up
  # in the background: a network without DHCP must not hold the guest up
  udhcpc -i eth0 -s /usr/share/udhcpc/default.script -b -t 3 -T 2 -S -O mtu >/dev/null 2>&1 &
fi
cat > /www/index.html <<PAGE
<!doctype html><title>yun starter</title><h1>Hello from a yun starter VM</h1>
<p>kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU(s), $(awk '/MemTotal/{print $2}' /proc/meminfo) KiB memory</p>
PAGE
httpd -p 80 -h /www
echo "YUN-GUEST-READY $(uname -r)"
EOF
cat > "$R/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    # a cloud network's VXLAN leaves room for 1450 bytes (docs/networking.md)
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "YUN-GUEST-ADDR $ip" > /dev/console
    # say hello to the gateway: its ARP table then knows this guest, which is how a host learns the address
    # of a guest on a bridge whose DHCP server it does not run (docs/networking.md)
    [ -n "$router" ] && ping -c 1 -W 1 "${router%% *}" >/dev/null 2>&1 &
    ;;
esac
exit 0
EOF
# A CPU load that tests and benches can drive (a trace replayed inside a real guest): one spinning shell
# per vCPU, stopped and continued so that it runs N ms of every 100 ms. The guest's kernel schedules it
# like any process, so the host sees the guest ask for N% and a CPU cap holds it back.
cat > "$R/bin/yun-load" <<'EOF'
#!/bin/sh
# yun-load N: every vCPU busy N% of the time (0..100) until the next yun-load; yun-load: the load in force
export PATH=/bin:/sbin
if [ $# -eq 0 ]; then cat /run/yun-load.pct 2>/dev/null || echo 0; exit 0; fi
case $1 in ''|*[!0-9]*) echo "yun-load: give a whole percent from 0 to 100, not '$1'" >&2; exit 2 ;; esac
n=$1
[ "$n" -le 100 ] || { echo "yun-load: give a whole percent from 0 to 100, not '$1'" >&2; exit 2; }
for p in $(cat /run/yun-load.pids 2>/dev/null); do kill "$p" 2>/dev/null; done
: > /run/yun-load.pids
echo "$n" > /run/yun-load.pct
[ "$n" -eq 0 ] && exit 0
for c in $(seq 1 "$(grep -c ^processor /proc/cpuinfo)"); do
  setsid sh -c '
    sh -c "while :; do :; done" & b=$!
    trap "kill -9 $b; exit 0" TERM
    if [ "$0" -ge 100 ]; then wait; fi
    while :; do usleep $(($0 * 1000)); kill -STOP $b; usleep $(((100 - $0) * 1000)); kill -CONT $b; done
  ' "$n" </dev/null >/dev/null 2>&1 &
  echo $! >> /run/yun-load.pids
done
EOF
cat > "$R/www/cgi-bin/load" <<'EOF'
#!/bin/sh
# GET /cgi-bin/load?pct=N: yun-load N; GET /cgi-bin/load: the load in force. Answers the percent in force.
export PATH=/bin:/sbin
pct=
for kv in $(echo "$QUERY_STRING" | tr '&' ' '); do
  case $kv in pct=*) pct=${kv#pct=} ;; esac
done
if [ -n "$pct" ] && ! msg=$(yun-load "$pct" 2>&1); then
  printf 'Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n%s\n' "$msg"
  exit 0
fi
printf 'Content-Type: text/plain\r\n\r\n%s\n' "$(yun-load)"
EOF
# GET /cgi-bin/disk: the guest's own view of its disk (/dev/vda), for tests and benches of backups and
# snapshots: op=write&sector=N&mark=TEXT writes TEXT (letters, digits, -) into 512-byte sector N and syncs;
# op=read&sector=N prints what sector N holds (from the disk: the page cache is dropped first);
# op=fill&at=A&mib=M writes M MiB of data at MiB A (a random block of up to 16 MiB, repeated) and syncs (the
# change an incremental backup copies).
cat > "$R/www/cgi-bin/disk" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin
op= sector= mark= at= mib=
for kv in $(echo "$QUERY_STRING" | tr '&' ' '); do
  case $kv in op=*) op=${kv#op=} ;; sector=*) sector=${kv#sector=} ;; mark=*) mark=${kv#mark=} ;;
    at=*) at=${kv#at=} ;; mib=*) mib=${kv#mib=} ;; esac
done
bad() { printf 'Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n%s\n' "$1"; exit 0; }
num() { case $1 in ''|*[!0-9]*) return 1 ;; esac; }
case $op in
  write)
    num "$sector" || bad "sector=N: a whole number"
    case $mark in ''|*[!A-Za-z0-9-]*) bad "mark=TEXT: letters, digits and - only" ;; esac
    printf '%s' "$mark" | dd of=/dev/vda bs=512 seek="$sector" count=1 conv=sync,fsync 2>/dev/null || bad "dd failed"
    sync
    out="wrote $mark at sector $sector" ;;
  read)
    num "$sector" || bad "sector=N: a whole number"
    sync; echo 3 > /proc/sys/vm/drop_caches
    out=$(dd if=/dev/vda bs=512 skip="$sector" count=1 2>/dev/null | tr -d '\000') ;;
  fill)
    num "$at" && num "$mib" || bad "at=A&mib=M: whole numbers of MiB"
    # a 16 MiB random block written over and over: as much data for the disk, without TCG spending minutes on
    # the random numbers
    blk=$((mib < 16 ? mib : 16)) i=0
    dd if=/dev/urandom of=/tmp/blk bs=1048576 count="$blk" 2>/dev/null || bad "dd failed"
    while [ "$i" -lt "$mib" ]; do
      n=$((mib - i)); [ "$n" -gt 16 ] && n=16
      dd if=/tmp/blk of=/dev/vda bs=1048576 seek=$((at + i)) count="$n" conv=fsync 2>/dev/null || bad "dd failed"
      i=$((i + n))
    done
    rm -f /tmp/blk
    sync
    out="filled $mib MiB at $at MiB" ;;
  *) bad "op=write, read or fill" ;;
esac
printf 'Content-Type: text/plain\r\n\r\n%s\n' "$out"
EOF
# GET /cgi-bin/net?op=ping|get|lookup&host=NAME: the guest's own view of its network, for tests: ping NAME
# twice, fetch http://NAME/ (another starter's page), or resolve NAME with the DNS server DHCP gave it.
cat > "$R/www/cgi-bin/net" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin
op= host=
for kv in $(echo "$QUERY_STRING" | tr '&' ' '); do
  case $kv in op=*) op=${kv#op=} ;; host=*) host=${kv#host=} ;; esac
done
bad() { printf 'Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n%s\n' "$1"; exit 0; }
case $host in ''|*[!A-Za-z0-9.-]*) bad "host=NAME: letters, digits, . and - only" ;; esac
case $op in
  ping) out=$(ping -c 2 -W 2 "$host" 2>&1); rc=$? ;;
  # the name is resolved by busybox's own nslookup (with the DNS server DHCP gave: busybox-static's libc
  # resolver knows no NSS), and the page fetched from that address; busybox 1.35's wget -T crashes, so timeout
  get) case $host in *[!0-9.]*) addr=$(nslookup "$host" 2>/dev/null | awk '/^Name:/ {n = 1} n && /^Address/ {print $NF; exit}') ;;
         *) addr=$host ;; esac
       if [ -z "$addr" ]; then out="$host: no address"; rc=1; else out=$(timeout 10 wget -q -O - "http://$addr/" 2>&1); rc=$?; fi ;;
  lookup) out=$(nslookup "$host" 2>&1); rc=$? ;;
  *) bad "op=ping, get or lookup" ;;
esac
printf 'Content-Type: text/plain\r\n\r\nrc=%s\n%s\n' "$rc" "$out"
EOF
cat > "$R/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
poweroff
EOF
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
chmod 0755 "$R/init" "$R/etc/rc" "$R/usr/share/udhcpc/default.script" "$R/etc/acpi/PWRF/00000080" "$R/bin/yun-load" \
  "$R/www/cgi-bin/load" "$R/www/cgi-bin/disk" "$R/www/cgi-bin/net"

(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --reproducible --quiet) | gzip -9n > "$WORK/initrd.img"
cp "$WORK/k/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
qemu-img create -q -f qcow2 "$WORK/base.qcow2" 64M
# no_timer_check: a guest held to a few % of a core (its allocation) sees too few timer ticks while the kernel
# checks its timer at boot, and panics ("IO-APIC + timer doesn't work!"); the check is for broken hardware
echo "console=tty0 console=ttyS0 no_timer_check" > "$WORK/cmdline"
{
  echo "kernel $KVER"
  echo "kernel_deb $(basename "$KDEB")"
  echo "busybox_deb $(basename "$BDEB")"
  echo "modules $(tr '\n' ' ' < "$R/lib/modules/load-order")"
  echo "script $SELF_HASH"
} > "$WORK/manifest"
# The manifest goes last: a build cut short leaves no manifest, so the next run builds again.
rm -f "$OUT/manifest"
for f in "${FILES[@]}" manifest; do
  chmod 0644 "$WORK/$f"
  mv -f "$WORK/$f" "$OUT/$f"
done
chmod 0755 "$OUT"
echo "build-starter: built $OUT (kernel $KVER, initrd $(du -k "$OUT/initrd.img" | cut -f1) KiB)"
