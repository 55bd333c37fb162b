#!/usr/bin/env bash
# Issue 2 end to end, on a private libvirtd with real TCG guests from the starter image, through the yun CLI:
# create -> YUN-GUEST-READY -> stop -> start -> shares/cap/memory live (checked in libvirt's own view) ->
# reboot -> delete leaving no domain and no disk; a create that fits nowhere is refused with its reason;
# users cannot see each other's VMs (404); a failed define shows libvirt's message and delete cleans up while
# a stranger domain stays untouched; kill -9 of yund mid-create ends with the VM running exactly once.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

URI=$(yun_testhost_up lc) || { tap_fail "test host starts"; tap_done; exit 1; }
VIRSH=(virsh -q -c "$URI")
STATE=$YUN_TEST_DIR/state
yund_start "$STATE" "$URI" || { tap_fail "yund starts"; tap_done; exit 1; }
tap_ok "yund --all-in-one starts against a private libvirtd"

wait_until 30 "host registered" bash -c '[ "$(yun host list -o json | jq ".hosts | length")" = 1 ]' &&
  tap_ok "the agent registers its host" || tap_fail "the agent registers its host"
yun host list | sed 's/^/# /'

if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi
yun image list -o json | jq -e '.images[] | select(.name == "starter")' >/dev/null &&
  tap_ok "starter is listed" || tap_fail "starter is listed"

domains() { "${VIRSH[@]}" list --all --name | grep -c "^$1\$"; }
disks() { find "$STATE" -name '*.qcow2' -path '*vms*' | wc -l; }

# ---- create and boot ----
out=$(yun vm create web1 --image starter --cpus 1 --memory 128M --disk 1G 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc -eq 0 ] && echo "$out" | grep -q "web1" && tap_ok "vm create web1 says where it goes" ||
  tap_fail "vm create web1 (rc $rc)"
wait_until 120 "web1 running" vm_state_is web1 running && tap_ok "web1 reaches running" ||
  { tap_fail "web1 reaches running (state $(vm_field web1 state): $(vm_field web1 error))"; }
wait_until 180 "YUN-GUEST-READY" bash -c 'yun vm console-log web1 | grep -q YUN-GUEST-READY' &&
  tap_ok "console-log shows YUN-GUEST-READY" || tap_fail "console-log shows YUN-GUEST-READY"
[ "$(domains yun-admin-web1)" = 1 ] && tap_ok "virsh list shows yun-admin-web1 once" ||
  tap_fail "virsh list shows yun-admin-web1 once"
"${VIRSH[@]}" dumpxml yun-admin-web1 | grep -q "$(vm_field web1 uuid)" &&
  tap_ok "the domain carries the VM's uuid" || tap_fail "the domain carries the VM's uuid"

# ---- stop / start ----
yun vm stop web1 >/dev/null
wait_until 90 "web1 stopped" vm_state_is web1 stopped && tap_ok "stop: web1 stopped" || tap_fail "stop"
[ "$("${VIRSH[@]}" domstate yun-admin-web1)" = "shut off" ] && tap_ok "libvirt says shut off" ||
  tap_fail "libvirt says shut off ($("${VIRSH[@]}" domstate yun-admin-web1))"
yun vm start web1 >/dev/null
wait_until 120 "web1 running again" vm_state_is web1 running && tap_ok "start: web1 running again" ||
  tap_fail "start"

# ---- live tuning, read back through libvirt ----
yun vm set web1 --cpu-shares 512 --cpu-cap 50 >/dev/null && tap_ok "vm set shares and cap accepted" ||
  tap_fail "vm set shares and cap accepted"
sched_ok() {
  local s
  s=$("${VIRSH[@]}" schedinfo yun-admin-web1 --live)
  local period quota
  period=$(awk '$1=="vcpu_period"{print $3}' <<<"$s")
  quota=$(awk '$1=="vcpu_quota"{print $3}' <<<"$s")
  grep -Eq '^cpu_shares +: 512$' <<<"$s" && [ -n "$period" ] && [ "$quota" = $((period / 2)) ]
}
wait_until 30 "schedinfo shows 512 and 50%" sched_ok && tap_ok "virsh schedinfo: cpu_shares 512, quota = period/2" ||
  { tap_fail "virsh schedinfo shows the new shares and cap"; "${VIRSH[@]}" schedinfo yun-admin-web1 | sed 's/^/# /'; }
yun vm set web1 --memory 96M >/dev/null && tap_ok "vm set memory accepted" || tap_fail "vm set memory accepted"
mem_ok() { "${VIRSH[@]}" dommemstat yun-admin-web1 | grep -Eq '^actual 98304$'; }
wait_until 30 "balloon at 96M" mem_ok && tap_ok "the balloon is at 96M (virsh dommemstat actual)" ||
  { tap_fail "the balloon is at 96M"; "${VIRSH[@]}" dommemstat yun-admin-web1 | sed 's/^/# /'; }
yun vm set web1 --memory 512M >/dev/null 2>&1 && tap_fail "memory above the maximum is refused" ||
  tap_ok "memory above the maximum is refused"

# ---- reboot: the console shows a second boot ----
before=$(yun vm console-log web1 | grep -c YUN-GUEST-READY)
yun vm reboot web1 >/dev/null && tap_ok "vm reboot accepted" || tap_fail "vm reboot accepted"
wait_until 120 "a second boot" bash -c "[ \$(yun vm console-log web1 | grep -c YUN-GUEST-READY) -gt $before ]" &&
  tap_ok "reboot: the guest boots again" || tap_fail "reboot: the guest boots again"

# ---- a VM that fits nowhere ----
out=$(yun vm create huge --image starter --cpus 64 --memory 128M --disk 1G 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc -ne 0 ] && grep -q "no host has 64 free" <<<"$out" && tap_ok "a create that fits nowhere is refused with its reason" ||
  tap_fail "a create that fits nowhere is refused with its reason"
yun vm show huge >/dev/null 2>&1 && tap_fail "the refused VM does not exist" || tap_ok "the refused VM does not exist"
out=$(yun vm create big --image starter --cpus 1 --memory 100T --disk 1G 2>&1)
[ $? -ne 0 ] && grep -qi "memory" <<<"$out" && tap_ok "memory beyond every host is refused, naming memory" ||
  { tap_fail "memory beyond every host is refused"; echo "$out" | sed 's/^/# /'; }

# ---- users see only their own VMs ----
ta=$(yun user create alice -o json | jq -r .token)
tb=$(yun user create bob -o json | jq -r .token)
[ -n "$ta" ] && [ "$ta" != null ] && [ -n "$tb" ] && tap_ok "users alice and bob created with tokens" ||
  tap_fail "users created with tokens"
YUN_TOKEN=$ta yun vm create secret --image starter --memory 64M --disk 128M --stopped >/dev/null &&
  tap_ok "alice creates a (stopped) VM" || tap_fail "alice creates a VM"
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tb" "$YUN_URL/v1/vms/secret")
[ "$st" = 404 ] && tap_ok "bob GET alice's VM: 404" || tap_fail "bob GET alice's VM: $st"
id=$(YUN_TOKEN=$ta vm_field secret id)
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tb" "$YUN_URL/v1/vms/$id")
[ "$st" = 404 ] && tap_ok "bob GET alice's VM by id: 404" || tap_fail "bob GET by id: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -d '{"cpu_shares": 10}' -H "Authorization: Bearer $tb" \
  "$YUN_URL/v1/vms/secret")
[ "$st" = 404 ] && tap_ok "bob PATCH alice's VM: 404" || tap_fail "bob PATCH: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $tb" "$YUN_URL/v1/vms/secret/start")
[ "$st" = 404 ] && tap_ok "bob starts alice's VM: 404" || tap_fail "bob start: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $tb" "$YUN_URL/v1/vms/secret")
[ "$st" = 404 ] && tap_ok "bob DELETE alice's VM: 404" || tap_fail "bob DELETE: $st"
[ "$(YUN_TOKEN=$tb yun vm list -o json | jq '.vms | length')" = 0 ] && tap_ok "bob's list is empty" ||
  tap_fail "bob's list is empty"
[ "$(YUN_TOKEN=$ta yun vm list -o json | jq -r '.vms[].name')" = secret ] && tap_ok "alice lists only her VM" ||
  tap_fail "alice lists only her VM"
YUN_TOKEN=$ta wait_until 30 "secret stopped" vm_state_is secret stopped &&
  tap_ok "alice's VM created with --stopped reaches stopped" || tap_fail "alice's VM reaches stopped"
YUN_TOKEN=$ta yun vm delete secret --wait >/dev/null && tap_ok "alice deletes her VM" || tap_fail "alice deletes her VM"

# ---- a failed define: libvirt's message, and delete cleans up; a stranger is never touched ----
cat > "$YUN_TEST_DIR/stranger.xml" <<XML
<domain type='qemu'><name>yun-admin-clash</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os></domain>
XML
"${VIRSH[@]}" define "$YUN_TEST_DIR/stranger.xml" >/dev/null
yun vm create clash --image starter --memory 64M --disk 128M >/dev/null
wait_until 180 "clash in error" vm_state_is clash error && tap_ok "a define that libvirt refuses puts the VM in error" ||
  tap_fail "define failure -> error (state $(vm_field clash state))"
err=$(vm_field clash error)
tap_diag "error: $err"
grep -qi "already exists\|yun-admin-clash" <<<"$err" && tap_ok "the error carries libvirt's message" ||
  tap_fail "the error carries libvirt's message"
yun vm delete clash --wait >/dev/null && tap_ok "deleting the failed VM works" || tap_fail "deleting the failed VM"
[ "$(domains yun-admin-clash)" = 1 ] && tap_ok "the stranger domain of the same name is untouched" ||
  tap_fail "the stranger domain is untouched"
wait_until 30 "the stranger reported" bash -c "yun host show hostlc -o json | jq -e '.strangers[]? | select(.name == \"yun-admin-clash\")' >/dev/null" &&
  tap_ok "the domain without yun's metadata is listed as a stranger" || tap_fail "the stranger is listed"
"${VIRSH[@]}" undefine yun-admin-clash >/dev/null

# ---- an orphan (yun's metadata, a uuid yun does not know) is reported and never touched ----
ou=$(cat /proc/sys/kernel/random/uuid)
cat > "$YUN_TEST_DIR/orphan.xml" <<XML
<domain type='qemu'><name>yun-ghost-old</name><uuid>$ou</uuid><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<metadata><yun:vm xmlns:yun="https://yun.dev/xmlns/domain/1"><yun:uuid>$ou</yun:uuid><yun:owner>ghost</yun:owner></yun:vm></metadata>
<os><type arch='x86_64'>hvm</type></os></domain>
XML
"${VIRSH[@]}" define "$YUN_TEST_DIR/orphan.xml" >/dev/null
wait_until 30 "the orphan reported" bash -c "yun host show hostlc -o json | jq -e '.orphans[]? | select(.uuid == \"$ou\")' >/dev/null" &&
  tap_ok "a domain with yun's metadata that no VM owns is reported as an orphan" ||
  { tap_fail "the orphan is reported"; yun host show hostlc -o json | sed 's/^/# /'; }
sleep 3
[ "$(domains yun-ghost-old)" = 1 ] && tap_ok "the orphan is left alone" || tap_fail "the orphan is left alone"
"${VIRSH[@]}" undefine yun-ghost-old >/dev/null

# ---- kill -9 of yund during a create ----
yun vm create k9 --image starter --memory 64M --disk 128M >/dev/null &
cpid=$!
sleep 0.3
yund_kill9
curl -fsS "$YUN_URL/healthz" >/dev/null 2>&1 && tap_fail "yund is gone after kill -9" || tap_ok "yund is gone after kill -9"
wait $cpid 2>/dev/null
yund_start "$STATE" "$URI" && tap_ok "yund restarts after kill -9" || tap_fail "yund restarts after kill -9"
if yun vm show k9 >/dev/null 2>&1; then
  wait_until 180 "k9 running" vm_state_is k9 running && tap_ok "the VM created across kill -9 runs" ||
    tap_fail "the VM created across kill -9 runs (state $(vm_field k9 state))"
else
  tap_diag "the create did not reach the store before the kill; creating it again"
  yun vm create k9 --image starter --memory 64M --disk 128M >/dev/null
  wait_until 180 "k9 running" vm_state_is k9 running && tap_ok "the VM runs after the restart" ||
    tap_fail "the VM runs after the restart"
fi
# kill again while it boots, and once more right after it runs
yund_kill9
yund_start "$STATE" "$URI" >/dev/null
wait_until 60 "k9 running" vm_state_is k9 running
sleep 3
[ "$(domains yun-admin-k9)" = 1 ] && [ "$("${VIRSH[@]}" list --name | grep -c '^yun-admin-k9$')" = 1 ] &&
  tap_ok "k9 runs exactly once in libvirt" || tap_fail "k9 runs exactly once"
[ "$(yun vm list -o json | jq '[.vms[] | select(.name == "k9")] | length')" = 1 ] &&
  tap_ok "k9 is one VM in the store" || tap_fail "k9 is one VM in the store"
wait_until 60 "web1 still running" vm_state_is web1 running && tap_ok "web1 survived the restarts, running" ||
  tap_fail "web1 survived the restarts"

# ---- delete everything: nothing left behind ----
yun vm delete web1 --wait >/dev/null && yun vm delete k9 --wait >/dev/null && tap_ok "delete web1 and k9" ||
  tap_fail "delete web1 and k9"
[ "$("${VIRSH[@]}" list --all --name | grep -c '^yun-')" = 0 ] && tap_ok "no yun domain is left in libvirt" ||
  tap_fail "no yun domain is left ($("${VIRSH[@]}" list --all --name | tr '\n' ' '))"
[ "$(disks)" = 0 ] && tap_ok "no VM disk file is left" || tap_fail "no VM disk file is left: $(find "$STATE" -name '*.qcow2' -path '*vms*')"
[ -z "$(find "$STATE/vms" -type f ! -name .accel 2>/dev/null)" ] && tap_ok "no console log or other file is left" ||
  tap_fail "files left: $(find "$STATE/vms" -type f ! -name .accel)"
tap_done
