#!/usr/bin/env bash
# src/hv against a real libvirtd (a private test host) and a real guest from the starter image:
# KVM probe, qcow2 overlay, define (with yun's metadata and an escaped description), start, the guest's
# YUN-GUEST-READY on the serial console file, live CPU shares/cap and balloon as libvirt itself reports
# them, ACPI shutdown, then destroy, undefine and disk removal leaving nothing behind; image import.
. "$(dirname "$0")/lib.sh"

HVC=$YUN_BUILD/src/hv/hv-check
[ -x "$HVC" ] || { tap_fail "hv-check is built ($HVC)"; tap_done; exit 1; }

wait_for() { # wait_for SECONDS COMMAND...: polls every 0.2 s
  local deadline=$((SECONDS + $1))
  shift
  while [ $SECONDS -lt $deadline ]; do
    "$@" > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
kv() { sed -n "s/^$1=//p"; } # the value of key $1 in hv-check's key=value output

IMG=$(yun_starter_image) && [ -s "$IMG/vmlinuz" ] && [ -s "$IMG/initrd.img" ] &&
  tap_ok "starter image built from Debian packages ($(sed -n 's/^kernel //p' "$IMG/manifest"))" ||
  { tap_fail "starter image"; tap_done; exit 1; }
tap_check "starter image files are 0644 in a 0755 folder" \
  bash -c "[ \"\$(stat -c %a '$IMG')\" = 755 ] && for f in vmlinuz initrd.img base.qcow2 cmdline; do [ \"\$(stat -c %a '$IMG/'\$f)\" = 644 ] || exit 1; done"
BEFORE=$(stat -c %Y.%i "$IMG"/vmlinuz "$IMG"/initrd.img "$IMG"/base.qcow2)
bash "$YUN_ROOT/scripts/build-starter.sh" "$IMG" > /dev/null &&
  [ "$(stat -c %Y.%i "$IMG"/vmlinuz "$IMG"/initrd.img "$IMG"/base.qcow2)" = "$BEFORE" ] &&
  tap_ok "a second build-starter run leaves the image as it is" || tap_fail "a second build-starter run is a no-op"

# --- KVM or TCG, by trying ---
W=$YUN_TEST_DIR/work
mkdir -p "$W" && chmod 0755 "$W"
OUT=$("$HVC" probe "$IMG/vmlinuz" "$IMG/initrd.img" "$W/accel" 20000)
ACCEL=$(echo "$OUT" | kv accel)
case $ACCEL in
  kvm | tcg) tap_ok "KVM probe says $ACCEL: $(echo "$OUT" | kv detail)" ;;
  *) tap_fail "KVM probe gave a verdict: $OUT" ;;
esac
OUT2=$("$HVC" probe "$IMG/vmlinuz" "$IMG/initrd.img" "$W/accel" 20000)
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  # a /dev/kvm that works, or one that hangs guests: the boot that decided is not repeated in this boot
  [ "$(echo "$OUT2" | kv accel)" = "$ACCEL" ] && echo "$OUT2" | grep -q cached &&
    tap_ok "the probe's verdict is cached for this boot" || tap_fail "probe cache: $OUT2"
else
  # no /dev/kvm to open: the answer is tcg at once, with no boot, so there is nothing to cache (the cache
  # itself is tested with a stand-in device in tests/unit/test_hv_probe.c)
  [ "$(echo "$OUT2" | kv accel)" = tcg ] && echo "$OUT2" | grep -q "KVM is not available" && [ ! -e "$W/accel" ] &&
    tap_ok "without /dev/kvm the probe answers tcg again at once, booting nothing and caching nothing" ||
    tap_fail "probe without /dev/kvm: $OUT2"
fi
# The probe's positive path, end to end with the real starter image: a stand-in QEMU that boots the
# probe guest under TCG instead of KVM must be recognised by its YUN-PROBE-OK.
cat > "$W/qemu-tcg" << 'EOF'
#!/bin/bash
args=()
while [ $# -gt 0 ]; do
  case $1 in
    -accel) args+=(-accel tcg); shift ;;
    -cpu) shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
exec qemu-system-x86_64 "${args[@]}"
EOF
chmod +x "$W/qemu-tcg"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  OUT3=$("$HVC" probe "$IMG/vmlinuz" "$IMG/initrd.img" "" 90000 "$W/qemu-tcg" 2>&1)
  [ "$(echo "$OUT3" | kv accel)" = kvm ] && tap_ok "the probe recognises a guest that answers: $(echo "$OUT3" | kv detail)" ||
    tap_fail "probe with a guest that answers: $OUT3"
else
  tap_skip "the probe's positive path needs /dev/kvm to open"
fi

# --- a private libvirt host ---
URI=$(yun_testhost_up A) && tap_ok "test host A is up ($URI)" || { tap_fail "test host A"; tap_done; exit 1; }
NODE=$("$HVC" -c "$URI" node)
[ "$(echo "$NODE" | kv hostname)" = hostA ] && [ "$(echo "$NODE" | kv cores)" -ge 1 ] &&
  [ "$(echo "$NODE" | kv mem_mib)" -ge "$(awk '/MemTotal/{print int($2/1024) - 64}' /proc/meminfo)" ] &&
  tap_ok "node info: $(echo "$NODE" | tr '\n' ' ')" || tap_fail "node info: $NODE"

# --- disk ---
DISK=$W/vms/web1.qcow2
tap_check "qcow2 overlay on the base image" "$HVC" overlay "$IMG/base.qcow2" "$DISK" 256
INFO=$(qemu-img info --output=json -U "$DISK")
echo "$INFO" | grep -q '"virtual-size": 268435456' && echo "$INFO" | grep -q "\"backing-filename\": \"$IMG/base.qcow2\"" &&
  [ "$(stat -c %a "$W/vms")" = 755 ] && [ "$(stat -c %a "$DISK")" = 644 ] &&
  tap_ok "overlay: 256 MiB, backed by the base, 0644 in a 0755 folder" || tap_fail "overlay: $INFO"
"$HVC" overlay "$IMG/base.qcow2" "$DISK" 256 2> "$W/err" && tap_fail "a second overlay on the same path is refused" ||
  { grep -q "already exists" "$W/err" && tap_ok "a second overlay on the same path is refused"; } ||
  tap_fail "overlay conflict message: $(cat "$W/err")"

# --- define ---
UUID=$(cat /proc/sys/kernel/random/uuid)
NAME=yun-it-$YUN_TEST_ID-web1
DESC="it's \"quoted\" <b>&amp; & more</b> café 云"
CONSOLE=$W/vms/web1.console.log
"$HVC" -c "$URI" define --uuid "$UUID" --name "$NAME" --owner alice --desc "$DESC" --cpus 1 --mem 128 \
  --max-mem 160 --shares 1024 --disk "$DISK" --kernel "$IMG/vmlinuz" --initrd "$IMG/initrd.img" \
  --cmdline "$(cat "$IMG/cmdline")" --console "$CONSOLE" --accel "$ACCEL" 2> "$W/err" &&
  tap_ok "define $NAME" || tap_fail "define: $(cat "$W/err")"
[ "$(virsh -c "$URI" desc "$NAME" 2> /dev/null)" = "$DESC" ] &&
  tap_ok "the description comes back from libvirt byte for byte" ||
  tap_fail "description: $(virsh -c "$URI" desc "$NAME" 2>&1)"
META=$(virsh -c "$URI" metadata "$NAME" https://yun.dev/xmlns/domain/1 2>&1)
echo "$META" | grep -q "<uuid>$UUID</uuid>" && echo "$META" | grep -q "<owner>alice</owner>" &&
  tap_ok "yun's metadata is in the domain" || tap_fail "metadata: $META"
WANT_TYPE=qemu
[ "$ACCEL" = kvm ] && WANT_TYPE=kvm
virsh -c "$URI" dumpxml "$NAME" | grep -q "<domain type='$WANT_TYPE'" &&
  tap_ok "domain type $WANT_TYPE for $ACCEL" || tap_fail "domain type"

# --- start, console, live settings ---
T0=$SECONDS
"$HVC" -c "$URI" start "$UUID" 2> "$W/err" && tap_ok "start" || tap_fail "start: $(cat "$W/err")"
if wait_for 180 grep -q YUN-GUEST-READY "$CONSOLE"; then
  tap_ok "YUN-GUEST-READY on the serial console file after $((SECONDS - T0)) s"
else
  tap_fail "YUN-GUEST-READY on the console"
  tail -20 "$CONSOLE" 2> /dev/null | sed 's/^/# /'
fi
"$HVC" -c "$URI" start "$UUID" 2> "$W/err" && tap_fail "a second start is refused" ||
  { grep -q "^error: conflict:" "$W/err" && tap_ok "a second start is refused (conflict)"; } ||
  tap_fail "second start: $(cat "$W/err")"
GET=$("$HVC" -c "$URI" get "$UUID")
[ "$(echo "$GET" | kv state)" = running ] && [ "$(echo "$GET" | kv yun_owned)" = 1 ] &&
  [ "$(echo "$GET" | kv owner)" = alice ] && [ "$(echo "$GET" | kv cpu_shares)" = 1024 ] &&
  [ "$(echo "$GET" | kv cpu_cap)" = 0 ] && [ "$(echo "$GET" | kv max_mem_mib)" = 160 ] &&
  tap_ok "get: running, yun's, owner alice, shares 1024, no cap" || tap_fail "get: $GET"

tap_check "set shares 512 and cap 50% live" "$HVC" -c "$URI" sched "$UUID" 512 50
SI=$(virsh -c "$URI" schedinfo "$NAME" --live)
echo "$SI" | grep -Eq '^cpu_shares +: 512$' && echo "$SI" | grep -Eq '^vcpu_period +: 100000$' &&
  echo "$SI" | grep -Eq '^vcpu_quota +: 50000$' &&
  tap_ok "virsh schedinfo --live: cpu_shares 512, vcpu_quota 50000 of 100000" || tap_fail "schedinfo: $SI"
SI=$(virsh -c "$URI" schedinfo "$NAME" --config)
echo "$SI" | grep -Eq '^cpu_shares +: 512$' && echo "$SI" | grep -Eq '^vcpu_quota +: 50000$' &&
  tap_ok "and in the persistent configuration" || tap_fail "schedinfo --config: $SI"
GET=$("$HVC" -c "$URI" get "$UUID")
[ "$(echo "$GET" | kv cpu_shares)" = 512 ] && [ "$(echo "$GET" | kv cpu_cap)" = 50 ] &&
  tap_ok "hv reads back shares 512, cap 50" || tap_fail "get after sched: $GET"
tap_check "lift the cap" "$HVC" -c "$URI" sched "$UUID" 512 0
[ "$("$HVC" -c "$URI" get "$UUID" | kv cpu_cap)" = 0 ] && tap_ok "cap lifted" || tap_fail "cap lifted"

tap_check "balloon to 96 MiB live" "$HVC" -c "$URI" setmem "$UUID" 96
# the guest's balloon driver deflates at its own pace (slowly under TCG)
wait_for 90 bash -c "virsh -c '$URI' dominfo '$NAME' | grep -Eq '^Used memory: +98304 KiB'"
DI=$(virsh -c "$URI" dominfo "$NAME")
echo "$DI" | grep -Eq '^Used memory: +98304 KiB' && echo "$DI" | grep -Eq '^Max memory: +163840 KiB' &&
  tap_ok "virsh dominfo: used 98304 KiB of 163840" || tap_fail "dominfo: $DI"
"$HVC" -c "$URI" setmem "$UUID" 200 2> "$W/err" && tap_fail "balloon above the maximum is refused" ||
  { grep -q "^error: invalid_argument:.*maximum" "$W/err" && tap_ok "balloon above the maximum is refused"; } ||
  tap_fail "balloon above max: $(cat "$W/err")"
virsh -c "$URI" domstats --interface "$NAME" | grep -q 'net.count=1' &&
  tap_ok "the ethernet (tap) NIC gives net statistics" || tap_fail "net stats"

# --- ACPI reboot: libvirt powers the guest down through acpid, then resets it ---
tap_check "reboot (ACPI)" "$HVC" -c "$URI" reboot "$UUID"
if wait_for 180 bash -c "[ \$(grep -c YUN-GUEST-READY '$CONSOLE') -ge 2 ]"; then
  tap_ok "the guest came back: a second YUN-GUEST-READY on the console"
else
  tap_fail "the guest came back after the reboot"
  tail -5 "$CONSOLE" | sed 's/^/# /'
fi

# --- errors: clear, libvirt silent ---
"$HVC" -c "$URI" get 00000000-0000-4000-8000-000000000000 > /dev/null 2> "$W/err"
RC=$?
[ $RC = 2 ] && [ "$(wc -l < "$W/err")" = 1 ] && grep -q "^error: not_found:" "$W/err" &&
  tap_ok "unknown domain: not_found, one line, nothing printed by libvirt" ||
  tap_fail "unknown domain: rc $RC, $(cat "$W/err")"

# --- someone else's domain is listed but not ours ---
cat > "$W/stranger.xml" << EOF
<domain type='qemu'><name>stranger-$YUN_TEST_ID</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64'>hvm</type></os></domain>
EOF
virsh -c "$URI" define "$W/stranger.xml" > /dev/null 2>&1
LIST=$("$HVC" -c "$URI" list)
SIDX=$(echo "$LIST" | sed -n "s/^\([0-9]*\)\.name=stranger-$YUN_TEST_ID$/\1/p")
OIDX=$(echo "$LIST" | sed -n "s/^\([0-9]*\)\.name=$NAME$/\1/p")
[ -n "$SIDX" ] && [ -n "$OIDX" ] && [ "$(echo "$LIST" | kv "$SIDX.yun_owned")" = 0 ] &&
  [ "$(echo "$LIST" | kv "$OIDX.yun_owned")" = 1 ] &&
  tap_ok "list: ours carries yun's mark, the stranger does not" || tap_fail "list: $LIST"
virsh -c "$URI" undefine "stranger-$YUN_TEST_ID" > /dev/null 2>&1

# --- ACPI shutdown (the starter's acpid), then the end of it all ---
tap_check "shutdown (ACPI)" "$HVC" -c "$URI" shutdown "$UUID"
if wait_for 60 bash -c "\"$HVC\" -c \"$URI\" get $UUID | grep -qx state=shutoff"; then
  tap_ok "the guest powered off on the ACPI request"
else
  tap_fail "the guest powered off on the ACPI request"
  "$HVC" -c "$URI" destroy "$UUID"
fi
tap_check "destroy of a stopped domain is fine" "$HVC" -c "$URI" destroy "$UUID"
tap_check "undefine" "$HVC" -c "$URI" undefine "$UUID"
tap_check "undefine again is fine" "$HVC" -c "$URI" undefine "$UUID"
tap_check "remove the disk" "$HVC" rm "$DISK"
tap_check "remove it again is fine" "$HVC" rm "$DISK"
[ -z "$(virsh -c "$URI" list --all --name | grep -v '^$')" ] && [ ! -e "$DISK" ] &&
  tap_ok "nothing left: no domain, no disk" || tap_fail "leftovers: $(virsh -c "$URI" list --all --name)"

# --- import ---
truncate -s 10M "$W/raw.img"
OUT=$("$HVC" import "$W/raw.img" "$W/images/imported.qcow2" 2> "$W/err")
[ "$(echo "$OUT" | kv size_mib)" = 10 ] && qemu-img info "$W/images/imported.qcow2" | grep -q '^file format: qcow2' &&
  tap_ok "import of a raw file: a 10 MiB qcow2" || tap_fail "raw import: $OUT $(cat "$W/err")"
OUT=$("$HVC" import "$DISK.none" "$W/images/x.qcow2" 2>&1)
echo "$OUT" | grep -q "^error: not_found:" && tap_ok "import of a missing file: not_found" || tap_fail "missing: $OUT"
qemu-img create -q -f vmdk "$W/disk.vmdk" 10M
OUT=$("$HVC" import "$W/disk.vmdk" "$W/images/y.qcow2" 2>&1)
echo "$OUT" | grep -q "looks like a vmdk image" && [ ! -e "$W/images/y.qcow2" ] && [ ! -e "$W/images/y.qcow2.part" ] &&
  tap_ok "import of a vmdk is refused with the format named, nothing left" || tap_fail "vmdk: $OUT"
qemu-img create -q -f qcow2 -b "$W/images/imported.qcow2" -F qcow2 "$W/backed.qcow2"
OUT=$("$HVC" import "$W/backed.qcow2" "$W/images/z.qcow2" 2>&1)
echo "$OUT" | grep -q "backing file" && tap_ok "import of an image with a backing file is refused" ||
  tap_fail "backed: $OUT"

tap_done
