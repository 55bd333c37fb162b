#!/usr/bin/env bash
# Builds a Debian 12 cloud disk from Debian packages, without internet beyond the mirror apt uses here:
#   OUTDIR/disk.qcow2   a bootable disk like any downloaded cloud image: an MBR with GRUB in it, one ext4
#                       partition holding Debian 12 (minbase) with systemd, linux-image-cloud-amd64,
#                       cloud-init (NoCloud only), openssh-server, qemu-guest-agent, ifupdown + DHCP client,
#                       cloud-guest-utils (the root partition grows to the disk). No SSH host keys, no machine
#                       id, no password: cloud-init makes them on first boot from the VM's seed.
#   OUTDIR/manifest     what it was built from
# usage: scripts/build-debian.sh OUTDIR
# How, without loop devices or mounts: debootstrap into a folder; the root filesystem is made straight into
# the partition of a raw file with `mkfs.ext4 -d ROOT -E offset=...`; GRUB's core image (grub-mkimage from the
# guest's own grub-pc-bin, run in the chroot) goes into the gap after the MBR and its boot sector into the MBR,
# patched as grub-bios-setup would (the core image's sector count). grub.cfg boots /vmlinuz and /initrd.img,
# the symlinks Debian keeps to the newest kernel, so a kernel upgrade inside the guest needs no update-grub.
# Idempotent: when OUTDIR holds a disk built by this very script it returns at once. The .debs are cached in
# $YUN_DEB_CACHE (default OUTDIR/.debs), so a rebuild downloads nothing. Needs root (debootstrap, chroot),
# debootstrap, fdisk (sfdisk), e2fsprogs >= 1.47, qemu-img, python3.
set -euo pipefail
umask 022

OUT=${1:?usage: build-debian.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# one build of OUTDIR at a time (tests side by side, yund and a test): a second waits, then finds it up to date
exec 9>"$OUT/.build.lock"
flock 9
CACHE=${YUN_DEB_CACHE:-$OUT/.debs}
SELF_HASH=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
SUITE=bookworm
DISK_MIB=${YUN_DEBIAN_DISK_MIB:-2048}

if [ -s "$OUT/disk.qcow2" ] && [ -s "$OUT/manifest" ] && grep -qx "script $SELF_HASH" "$OUT/manifest"; then
  echo "build-debian: $OUT is up to date ($(sed -n 's/^kernel //p' "$OUT/manifest"))"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "build-debian: needs root (debootstrap and chroot)" >&2; exit 1; }
for tool in debootstrap sfdisk mkfs.ext4 qemu-img python3 chroot; do
  command -v "$tool" >/dev/null || { echo "build-debian: $tool is missing (run scripts/deps.sh)" >&2; exit 1; }
done

# The mirror apt uses here: the first URI serving $SUITE in sources.list.d/*.sources (deb822) or sources.list.
mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    awk -v s="$SUITE" '
      /^[ \t]*$/ { if (u != "" && ok) { print u; exit } u = ""; ok = 0; next }
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
      END { if (u != "" && ok) print u }' "$f" | head -1
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk -v s="$SUITE" '$1 == "deb" && $3 == s { print $2 }' | grep -v '^\[' || true
}
MIRROR=${YUN_DEBIAN_MIRROR:-$(mirror | head -1)}
[ -n "$MIRROR" ] || { echo "build-debian: apt has no source for $SUITE (set YUN_DEBIAN_MIRROR)" >&2; exit 1; }

mkdir -p "$CACHE"
chmod 0755 "$CACHE"
WORK=$(mktemp -d "$OUT/.build.XXXXXX")
cleanup() {
  # debootstrap mounts proc and sys inside the target while it configures packages; a failed run may leave them
  for m in proc sys dev/pts dev; do umount -l "$WORK/root/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
R=$WORK/root
t0=$(date +%s)
PKGS=systemd-sysv,udev,linux-image-cloud-amd64,grub-pc-bin,cloud-init,openssh-server,qemu-guest-agent
PKGS+=,ifupdown,isc-dhcp-client,cloud-guest-utils,e2fsprogs,netbase,sudo,ca-certificates,less
# debootstrap follows Depends but not virtual packages: python3-cryptography needs python3-cffi-backend-api-*
PKGS+=,python3-cffi-backend
echo "build-debian: debootstrap $SUITE from $MIRROR (debs cached in $CACHE)"
if ! debootstrap --variant=minbase --include="$PKGS" --cache-dir="$CACHE" "$SUITE" "$R" "$MIRROR" \
    > "$WORK/debootstrap.log" 2>&1; then
  tail -20 "$WORK/debootstrap.log" >&2
  [ -e "$R/debootstrap/debootstrap.log" ] && tail -20 "$R/debootstrap/debootstrap.log" >&2
  echo "build-debian: debootstrap failed" >&2
  exit 1
fi
t1=$(date +%s)
KVER=$(ls "$R/lib/modules" | sort -V | tail -1)
[ -e "$R/vmlinuz" ] && [ -e "$R/initrd.img" ] || { echo "build-debian: no /vmlinuz or /initrd.img in the guest" >&2; exit 1; }

ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
cat > "$R/etc/fstab" <<EOF
UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1
EOF
echo debian > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
cat > "$R/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
EOF
cat > "$R/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback
source /etc/network/interfaces.d/*
EOF
mkdir -p "$R/etc/network/interfaces.d"
# Only the NoCloud seed (yun's cidata disk): no minutes spent probing cloud metadata services that are not there.
# C.UTF-8 is built into glibc: the default en_US.UTF-8 would need the locales package (cloud-init's locale
# module fails without it, and `cloud-init status` says error).
cat > "$R/etc/cloud/cloud.cfg.d/90_yun.cfg" <<'EOF'
datasource_list: [ NoCloud, None ]
locale: C.UTF-8
EOF
# Made per instance on first boot, never shared by every VM of the image
rm -f "$R"/etc/ssh/ssh_host_*
: > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* "$R/debootstrap"

# GRUB: boot.img for the MBR, core.img (disk + partition + ext4 drivers, prefix on partition 1) for the gap
mkdir -p "$R/boot/grub/i386-pc"
cp "$R"/usr/lib/grub/i386-pc/*.mod "$R"/usr/lib/grub/i386-pc/*.lst "$R/boot/grub/i386-pc/"
chroot "$R" grub-mkimage -O i386-pc -o /tmp/core.img -p '(hd0,msdos1)/boot/grub' biosdisk part_msdos ext2
mv "$R/tmp/core.img" "$WORK/core.img"
cp "$R/usr/lib/grub/i386-pc/boot.img" "$WORK/boot.img"
cat > "$R/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
insmod part_msdos
insmod ext2
insmod linux
insmod gzio
search --no-floppy --fs-uuid --set=root $ROOT_UUID
menuentry 'Debian GNU/Linux' {
  linux /vmlinuz root=UUID=$ROOT_UUID ro console=tty0 console=ttyS0,115200 no_timer_check net.ifnames=0
  initrd /initrd.img
}
EOF

# The disk: MBR, partition 1 from 1 MiB to the end, ext4 made from the folder straight into it
RAW=$WORK/disk.raw
truncate -s "${DISK_MIB}M" "$RAW"
echo 'label: dos
start=2048, type=83, bootable' | sfdisk -q "$RAW"
PART_BYTES=$(( (DISK_MIB - 1) * 1024 * 1024 ))
mkfs.ext4 -q -F -U "$ROOT_UUID" -L root -O ^orphan_file,^metadata_csum_seed -d "$R" -E offset=1048576 "$RAW" "$((PART_BYTES / 1024))k"
python3 - "$RAW" "$WORK/boot.img" "$WORK/core.img" <<'EOF'
import struct, sys
raw, boot_path, core_path = sys.argv[1:]
boot = open(boot_path, "rb").read()
core = bytearray(open(core_path, "rb").read())
sectors = (len(core) + 511) // 512
if sectors > 2047:
    sys.exit("build-debian: GRUB's core image does not fit before the partition")
# diskboot.img's block list (the last 12 bytes of core.img's first sector): the rest of the core image
# starts at sector 2 and is sectors-1 long, loaded at segment 0x820 (grub-bios-setup does the same)
struct.pack_into("<QHH", core, 512 - 12, 2, sectors - 1, 0x820)
with open(raw, "r+b") as f:
    mbr = bytearray(f.read(512))
    mbr[0:440] = boot[0:440]          # the boot code; the partition table and signature stay
    struct.pack_into("<Q", mbr, 0x5C, 1)  # boot.img loads core.img from sector 1
    f.seek(0); f.write(mbr)
    f.seek(512); f.write(core)
EOF
qemu-img convert -q -f raw -O qcow2 "$RAW" "$WORK/disk.qcow2"
t2=$(date +%s)
{
  echo "suite $SUITE"
  echo "mirror $MIRROR"
  echo "kernel $KVER"
  echo "root_uuid $ROOT_UUID"
  echo "disk_mib $DISK_MIB"
  echo "packages $PKGS"
  echo "seconds_debootstrap $((t1 - t0))"
  echo "seconds_disk $((t2 - t1))"
  echo "script $SELF_HASH"
} > "$WORK/manifest"
rm -f "$OUT/manifest"
for f in disk.qcow2 manifest; do
  chmod 0644 "$WORK/$f"
  mv -f "$WORK/$f" "$OUT/$f"
done
chmod 0755 "$OUT"
echo "build-debian: built $OUT (kernel $KVER, $(du -m "$OUT/disk.qcow2" | cut -f1) MiB, debootstrap $((t1 - t0)) s, disk $((t2 - t1)) s)"
