#!/usr/bin/env bash
# A Debian 12 guest from create to SSH answering, through yun against the same image started by hand.
# One private test host (tests/integration/lib.sh), yund --all-in-one in its namespace, the debian-12 image
# (scripts/build-debian.sh, cached; `yun image build-debian`). Each run, in turn:
#   yun:  `yun vm create` with --ssh-key (1 vCPU, 1 GiB, a 4 GiB disk), until `ssh debian@ADDR true` succeeds;
#   hand: an overlay of the same base (qemu-img), a seed ISO made by hand (xorriso: the same three files),
#         a domain XML written by hand (the same devices) through `virsh define` and `virsh start`, until the
#         same ssh succeeds.
# Both find the guest's address the same way (the NAT network's DHCP leases, by the NIC's MAC) and poll ssh
# every second. TCG on shared cores: the figures are the boot of a whole Debian (GRUB, systemd, cloud-init).
# The last line is one JSON object: both medians, in seconds, and their ratio (yun / hand). Under TCG each run
# also boots the hand domain with yun's translation cache size (<tcg><tb-cache>): ratio_same_cache is yun
# against that, what yun adds apart from the cache's size.
# usage: bench/debian_ssh.sh [BUILD] [RUNS]
set -u
BUILD=$(cd "${1:-build}" && pwd)
RUNS=${2:-1}
export YUN_BUILD=$BUILD YUN_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$YUN_ROOT/tests/integration/lib.sh"
. "$YUN_ROOT/tests/integration/cloud.sh"

say() { printf '# %s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { echo "bench/debian_ssh.sh: $*" >&2; exit 1; }
URI=$(yun_testhost_up ds) || die "test host"
NS=$(yun_testhost_netns ds)
export YUND_NETNS=$NS
STATE=$YUN_TEST_DIR/state
yun_starter_image >/dev/null || die "starter image"
export YUN_DEBIAN_CACHE=$YUN_TEST_CACHE/debian-12
bash "$YUN_ROOT/scripts/build-debian.sh" "$YUN_DEBIAN_CACHE" >&2 || die "build-debian.sh"
yund_start "$STATE" "$URI" >/dev/null || die "yund"
yun image build-debian debian-12 >/dev/null 2>&1 || die "yun image build-debian"
BASE=$(yun image show debian-12 -o json | jq -r '.path // .image.path')
K=$YUN_TEST_DIR/k
ssh-keygen -q -t ed25519 -N '' -f "$K" || die "ssh-keygen"
yun key add k "$K.pub" >/dev/null || die "key add"
net_up() { virsh -c "$URI" net-info yun 2>/dev/null | grep -Eq '^Active: +yes'; }
wait_until 120 "network yun" net_up >/dev/null || die "network yun"

lease_of() { virsh -c "$URI" net-dhcp-leases yun 2>/dev/null | awk -v m="$1" '$3 == m {sub("/.*", "", $5); print $5}' | tail -1; }
# until_ssh MAC: seconds (from $T0) until ssh answers on the guest with that MAC
until_ssh() {
  local mac=$1 addr=""
  while [ $((SECONDS - T0)) -lt 900 ]; do
    [ -z "$addr" ] && addr=$(lease_of "$mac")
    if [ -n "$addr" ] && ip netns exec "$NS" ssh -i "$K" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR "debian@$addr" true 2>/dev/null; then
      python3 -c "import time; print(round(time.monotonic() - $T0F, 1))"
      return 0
    fi
    sleep 1
  done
  return 1
}
now() { python3 -c 'import time; print(time.monotonic())'; }
# how often QEMU's translation cache filled and was flushed during the boot (TCG only: yun sizes the cache,
# <tcg><tb-cache>, where a hand-written domain gets QEMU's default)
tb_flushes() { virsh -c "$URI" qemu-monitor-command --hmp "$1" 'info jit' 2>/dev/null | awk '/TB flush count/ {print $NF}'; }
# the guest's QEMU process's resident memory (the translation cache is part of it)
rss_mib() { ps -eo rss=,args= | awk -v n="guest=$1," 'index($0, n) && /qemu-system/ {printf "%.0f", $1 / 1024; exit}'; }

# by hand: the same base, devices, seed and network; $1 the run, $2 a TCG translation cache ("262144 KiB", as
# libvirt shows yun's) or "" for QEMU's default (what a hand-written domain gets); prints the seconds to ssh
hand_run() {
  local r=$1 tb=$2 H U HMAC t feat="<acpi/>"
  [ -z "$tb" ] || feat="<acpi/><tcg><tb-cache unit='${tb#* }'>${tb% *}</tb-cache></tcg>"
  H=$YUN_TEST_DIR/hand$r${tb:+-c}
  mkdir -p "$H/seed" && chmod 0755 "$H"
  U=$(cat /proc/sys/kernel/random/uuid)
  HMAC=$(printf '52:54:00:%02x:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)))
  printf 'instance-id: %s\nlocal-hostname: hand%s\n' "$U" "$r" > "$H/seed/meta-data"
  printf '#cloud-config\nssh_authorized_keys:\n  - "%s"\n' "$(cat "$K.pub")" > "$H/seed/user-data"
  printf 'version: 2\nethernets:\n  nic0:\n    match:\n      macaddress: "%s"\n    dhcp4: true\n' "$HMAC" > "$H/seed/network-config"
  cat > "$H/dom.xml" <<XML
<domain type='qemu'><name>hand$r</name><uuid>$U</uuid><memory unit='MiB'>1024</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><features>$feat</features>
<devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$H/disk.qcow2'/><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$H/seed.iso'/><target dev='vdb' bus='virtio'/><readonly/></disk>
<interface type='network'><source network='yun'/><mac address='$HMAC'/><model type='virtio'/></interface>
<serial type='file'><source path='$H/console.log'/><target port='0'/></serial>
<console type='file'><source path='$H/console.log'/><target type='serial' port='0'/></console>
<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
<memballoon model='virtio'><stats period='5'/></memballoon>
</devices></domain>
XML
  T0=$SECONDS T0F=$(now)
  qemu-img create -q -f qcow2 -b "$BASE" -F qcow2 "$H/disk.qcow2" 4G &&
    xorriso -as mkisofs -quiet -o "$H/seed.iso" -V cidata -J -r "$H/seed" 2>/dev/null &&
    virsh -q -c "$URI" define "$H/dom.xml" >/dev/null && virsh -q -c "$URI" start "hand$r" >/dev/null || die "by hand"
  t=$(until_ssh "$HMAC") || die "the hand-made guest never answered ssh"
  say "hand run $r${tb:+ (cache $tb)}: define+start -> ssh ${t}s (TB flushes: $(tb_flushes "hand$r"), QEMU RSS $(rss_mib "hand$r") MiB)"
  virsh -q -c "$URI" destroy "hand$r" >/dev/null 2>&1; virsh -q -c "$URI" undefine "hand$r" >/dev/null 2>&1
  echo "$t"
}
YUN_T=() HAND_T=() SAME_T=()
for r in $(seq 1 "$RUNS"); do
  T0=$SECONDS T0F=$(now)
  yun vm create "b$r" --image debian-12 --cpus 1 --memory 1G --disk 4G --ssh-key k >/dev/null 2>&1 || die "vm create"
  wait_until 60 "domain" bash -c "[ -n \"\$(virsh -c '$URI' domiflist yun-admin-b$r 2>/dev/null | awk '/network/ {print \$5}')\" ]" >/dev/null
  MAC=$(virsh -c "$URI" domiflist "yun-admin-b$r" | awk '/network/ {print $5}')
  t=$(until_ssh "$MAC") || die "yun's guest never answered ssh"
  YUN_T+=("$t"); say "yun run $r: create -> ssh ${t}s (TB flushes: $(tb_flushes "yun-admin-b$r"), QEMU RSS $(rss_mib "yun-admin-b$r") MiB)"
  TB=$(virsh -c "$URI" dumpxml "yun-admin-b$r" | sed -n "s/.*<tb-cache unit='\([A-Za-z]*\)'>\([0-9]*\)<.*/\2 \1/p")
  yun vm delete "b$r" --wait >/dev/null 2>&1

  t=$(hand_run "$r" "") || exit 1
  HAND_T+=("$t")
  if [ -n "$TB" ]; then # the same hand domain with yun's cache size: what yun itself adds, apart from the cache
    t=$(hand_run "$r" "$TB") || exit 1
    SAME_T+=("$t")
  fi
done
python3 - "${YUN_T[*]}" "${HAND_T[*]}" "${SAME_T[*]:-}" <<'PY'
import json, statistics, sys
y = [float(x) for x in sys.argv[1].split()]
h = [float(x) for x in sys.argv[2].split()]
c = [float(x) for x in sys.argv[3].split()]
my, mh = statistics.median(y), statistics.median(h)
out = {"runs": len(y), "yun_create_to_ssh_s": my, "hand_define_start_to_ssh_s": mh, "yun_runs_s": y, "hand_runs_s": h}
if c:  # TCG: the hand domain again with yun's translation cache size
    out.update({"hand_yun_cache_runs_s": c, "ratio_same_cache": round(my / statistics.median(c), 3)})
out["ratio"] = round(my / mh, 3)
print(json.dumps(out))
PY
