#!/usr/bin/env bash
# Backups, restores and snapshots of a real TCG guest on one private test host (docs/backups.md):
#   - without backup.dir a backup is refused, saying how to set it;
#   - the starter guest writes a marker into its disk (its /cgi-bin/disk, dd at a fixed sector + sync); a full
#     backup (libvirt's backup API, push mode, a checkpoint); a second marker; the guest paused, a copy of its
#     disk file taken with qemu-img (-U: QEMU holds the lock; paused, nothing writes) as the reference, and an
#     incremental backup taken while it is paused, so the reference is the disk at backup time; resumed;
#   - the incremental is incremental, builds on the full one, is smaller, and both verify (sha256);
#   - export gives one qcow2 equal to the reference (qemu-img compare: what the guest sees, byte for byte);
#   - a snapshot of the running guest (disk + memory), a third marker over the first, revert: the first is
#     back; the next backup is full and says why; the snapshot is deleted;
#   - the VM stopped, its disk file destroyed (its qcow2 header zeroed), restored in place from the
#     incremental: equal to the reference, and once started the guest reads both markers;
#   - a bitmap no checkpoint knows (what a VM that moved host carries): a snapshot revert drops it first, so
#     QEMU loads the snapshot and the VM runs on;
#   - restored --as a new VM: running, both markers;
#   - a damaged backup file: verify says which, a restore --as fails naming the checksum, and leaves no VM,
#     no domain, no disk file;
#   - the guest's QEMU killed while a backup runs: the job fails, leaving no file; the guest runs again; earlier
#     backups verify; the next backup is full and says why
#   - yund killed (-9) while a backup runs: after its restart the job ends (done, or failed as interrupted,
#     its file gone), the VM still runs, earlier backups still verify, and an interrupted chain restarts
#     with a full backup that says so;
#   - a schedule (every 10 s, keep 2): backups come by themselves, chains restart full, older backups are
#     pruned with their files, the newest verifies;
#   - `yun admin backup FILE`: a copy of yund's store that SQLite opens, with the backups in it.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

URI=$(yun_testhost_up bk) || { tap_fail "test host starts"; tap_done; exit 1; }
NS=$(yun_testhost_netns bk)
STATE=$YUN_TEST_DIR/state
BK=$YUN_TEST_DIR/backups
mkdir -p "$BK" && chmod 0755 "$BK"
export YUND_NETNS=$NS # the guest's network is its host's: the CLI and curl run there
yun_starter_image >/dev/null || { tap_fail "the starter image's packages are fetched"; tap_done; exit 1; }
yund_start "$STATE" "$URI" || { tap_fail "yund starts"; tap_done; exit 1; }
tap_ok "yund --all-in-one starts on test host bk"
TAP_DIAG='tail -5 "$STATE/yund.log"'

if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi
out=$(yun vm create b1 --image starter --cpus 1 --memory 128M --disk 1G 2>&1) && tap_ok "vm create b1" ||
  tap_fail "vm create b1: $out"
wait_until 240 "b1 running" vm_state_is b1 running && tap_ok "b1 runs" ||
  tap_fail "b1 runs ($(vm_field b1 state): $(vm_field b1 error))"
has_addr() { [ -n "$(vm_field b1 address)" ]; }
wait_until 180 "b1's address" has_addr || tap_fail "b1 has an address"
UUID=$(vm_field b1 uuid)
DISK=$STATE/vms/$UUID.qcow2
DOM=$(vm_field b1 domain)

# disk OP ARGS VM: the guest's /cgi-bin/disk
disk() { in_ns curl -sS -m 120 "http://$(vm_field "$2" address)/cgi-bin/disk?$1" 2>&1; }
ready() { disk "op=read&sector=0" b1 >/dev/null && [ "$(disk "op=read&sector=0" b1 | head -c 6)" != "curl: " ]; }
wait_until 120 "b1's httpd" ready || tap_fail "b1's httpd answers"

# ---- no backup store: refused, saying how to get one ----
out=$(yun vm backup b1 2>&1)
[ $? = 1 ] && grep -q "backup.dir" <<<"$out" && tap_ok "without backup.dir a backup is refused: $out" ||
  tap_fail "backup without backup.dir: $out"
out=$(yun settings set backup.dir relative/path 2>&1)
[ $? != 0 ] && grep -q "absolute" <<<"$out" && tap_ok "backup.dir must be absolute: $out" || tap_fail "backup.dir relative: $out"
yun settings set backup.dir "$BK" >/dev/null && tap_ok "backup.dir set" || tap_fail "backup.dir set"

# ---- full, more data, incremental ----
tap_eval "the guest writes marker one at sector 2048" '[ "$(disk "op=write&sector=2048&mark=MARKER-ONE" b1)" = "wrote MARKER-ONE at sector 2048" ]'
out=$(yun vm backup b1 --wait -o json 2>&1)
FULL=$(jq -r .job.id <<<"$out" 2>/dev/null)
tap_eval "a full backup is done (backup $FULL)" '[ "$(jq -r ".job.state + \" \" + .job.type" <<<"$out")" = "done full" ]'
tap_diag "$(yun backup show "$FULL" 2>&1)"
tap_eval "marker two at sector 4096" '[ "$(disk "op=write&sector=4096&mark=MARKER-TWO" b1)" = "wrote MARKER-TWO at sector 4096" ]'
virsh -q -c "$URI" suspend "$DOM" >/dev/null && tap_ok "b1 paused (virsh suspend)" || tap_fail "virsh suspend"
qemu-img convert -U -f qcow2 -O qcow2 "$DISK" "$YUN_TEST_DIR/ref.qcow2" && tap_ok "reference copy of the paused disk" ||
  tap_fail "qemu-img convert -U of the paused disk"
out=$(yun vm backup b1 --wait -o json 2>&1)
INC=$(jq -r .job.id <<<"$out" 2>/dev/null)
virsh -q -c "$URI" resume "$DOM" >/dev/null
tap_eval "an incremental backup (backup $INC) builds on backup $FULL" \
  '[ "$(jq -r "[.job.state, .job.type, .job.parent_id] | join(\" \")" <<<"$out")" = "done incremental $FULL" ]'
FB=$(yun backup show "$FULL" -o json | jq .backup.bytes)
IB=$(yun backup show "$INC" -o json | jq .backup.bytes)
tap_eval "the incremental file ($IB bytes) is smaller than the full one ($FB bytes)" '[ "$IB" -gt 0 ] && [ "$IB" -lt "$FB" ]'
tap_eval "backup $INC and the chain under it verify" 'yun backup verify "$INC" >/dev/null 2>&1'
qemu-img info "$(yun backup show "$INC" -o json | jq -r .backup.path)" | grep -q "backing file: $FULL.qcow2" &&
  tap_ok "the incremental file names the full one as its backing, by a relative name" ||
  tap_fail "backing of the incremental: $(qemu-img info "$BK/$UUID/$INC.qcow2" | grep backing)"
tap_check "yun backup export gives one qcow2" yun backup export "$INC" "$YUN_TEST_DIR/export.qcow2"
tap_check "the export equals the disk at backup time (qemu-img compare)" \
  qemu-img compare -f qcow2 -F qcow2 "$YUN_TEST_DIR/export.qcow2" "$YUN_TEST_DIR/ref.qcow2"
yun backup list | sed 's/^/# /'

# ---- snapshot, overwrite, revert ----
out=$(yun vm snapshot create b1 s1 --wait -o json 2>&1)
PAUSE=$(jq -r .job.pause_ms <<<"$out" 2>/dev/null)
tap_eval "a snapshot of the running b1 (disk and memory; the guest paused $PAUSE ms)" \
  '[ "$(jq -r ".job.state" <<<"$out")" = done ] && [ "$(jq -r .job.memory <<<"$out")" = true ]'
tap_eval "the snapshot counts its disk and memory (1024+128 MiB) against the disk quota" \
  '[ "$(yun vm snapshot list b1 -o json | jq ".snapshots[0].quota_mib")" = 1152 ]'
tap_eval "the owner's usage shows it: disk 1024+1152 MiB, of which snapshots 1152" \
  '[ "$(yun user show admin -o json | jq -c "[.usage.disk_mib, .usage.snapshot_mib]")" = "[2176,1152]" ]'
out=$(yun vm snapshot create b1 s1 2>&1)
[ $? = 1 ] && grep -q "has a snapshot s1 already" <<<"$out" && tap_ok "a second s1 is refused: $out" || tap_fail "second s1: $out"
tap_eval "marker three over marker one" '[ "$(disk "op=write&sector=2048&mark=MARKER-THREE" b1)" = "wrote MARKER-THREE at sector 2048" ]'
tap_eval "the guest reads marker three" '[ "$(disk "op=read&sector=2048" b1)" = MARKER-THREE ]'
tap_check "revert to s1" yun vm snapshot revert b1 s1 --wait
wait_until 60 "the guest answers after the revert" bash -c "curl -sS -m 5 http://$(vm_field b1 address)/ >/dev/null" || true
tap_eval "after the revert the guest reads marker one again" '[ "$(disk "op=read&sector=2048" b1)" = MARKER-ONE ]'
out=$(yun vm backup b1 --wait -o json 2>&1)
tap_eval "the next backup is full and says why ($(jq -r .job.note <<<"$out"))" \
  '[ "$(jq -r .job.type <<<"$out")" = full ] && jq -r .job.note <<<"$out" | grep -q reverted'
tap_check "snapshot s1 deleted" yun vm snapshot delete b1 s1 --wait
tap_eval "no snapshot left" '[ "$(yun vm snapshot list b1 -o json | jq ".snapshots | length")" = 0 ]'

# ---- the disk destroyed, restored in place ----
out=$(yun vm restore "$INC" 2>&1)
[ $? = 1 ] && grep -q "stop it first" <<<"$out" && tap_ok "restore in place of a running VM is refused: $out" ||
  tap_fail "restore in place while running: $out"
tap_check "b1 stopped" yun vm stop b1 --wait --timeout 120
dd if=/dev/zero of="$DISK" bs=1M count=4 conv=notrunc status=none && tap_ok "b1's disk destroyed (its first 4 MiB zeroed)" ||
  tap_fail "destroying the disk"
qemu-img info -U -f qcow2 "$DISK" >/dev/null 2>&1 && tap_fail "the destroyed disk still opens" || tap_ok "the destroyed disk no longer opens"
T0=$(date +%s.%N)
tap_check "restore backup $INC in place" yun vm restore "$INC" --wait
tap_diag "restore of a 1 GiB disk: $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $T0}") s"
tap_check "the restored disk equals the disk at backup time (qemu-img compare)" \
  qemu-img compare -f qcow2 -F qcow2 "$DISK" "$YUN_TEST_DIR/ref.qcow2"
# a bitmap no checkpoint of this host knows, as a VM that moved from another host carries in its qcow2 (libvirt
# keeps checkpoints' metadata per host): QEMU refuses to load a snapshot while it is there
qemu-img bitmap --add -f qcow2 "$DISK" yun-from-elsewhere && tap_ok "a bitmap left by another host is in b1's disk" ||
  tap_fail "qemu-img bitmap --add"
tap_check "b1 starts on its restored disk" yun vm start b1 --wait --timeout 240
wait_until 120 "b1's httpd" ready || true
tap_eval "b1 reads marker one" '[ "$(disk "op=read&sector=2048" b1)" = MARKER-ONE ]'
tap_eval "b1 reads marker two" '[ "$(disk "op=read&sector=4096" b1)" = MARKER-TWO ]'
tap_check "snapshot s2 of b1" yun vm snapshot create b1 s2 --wait
tap_check "revert to s2 despite the stray bitmap (dropped first)" yun vm snapshot revert b1 s2 --wait
tap_eval "b1 still runs after the revert" 'vm_state_is b1 running && [ "$(virsh -q -c "$URI" domstate "$DOM")" = running ]'
tap_eval "the stray bitmap is gone" '! qemu-img info -U -f qcow2 "$DISK" | grep -q yun-from-elsewhere'
tap_check "snapshot s2 deleted" yun vm snapshot delete b1 s2 --wait

# ---- restored as a new VM ----
tap_check "restore backup $INC as b2" yun vm restore "$INC" --as b2 --wait
wait_until 240 "b2 running" vm_state_is b2 running && tap_ok "b2 runs" || tap_fail "b2 runs ($(vm_field b2 state): $(vm_field b2 error))"
b2_ready() { [ -n "$(vm_field b2 address)" ] && disk "op=read&sector=0" b2 >/dev/null; }
wait_until 180 "b2's httpd" b2_ready || true
tap_eval "b2 reads both markers" '[ "$(disk "op=read&sector=2048" b2)" = MARKER-ONE ] && [ "$(disk "op=read&sector=4096" b2)" = MARKER-TWO ]'
tap_check "b2 deleted (this machine has room for two such VMs only)" yun vm delete b2 --wait --timeout 120

# ---- a damaged backup: found, and a restore from it leaves nothing ----
FULLF=$(yun backup show "$FULL" -o json | jq -r .backup.path)
cp "$FULLF" "$YUN_TEST_DIR/full.keep"
printf 'X' | dd of="$FULLF" bs=1 seek=200000 conv=notrunc status=none
out=$(yun backup verify "$INC" 2>&1)
[ $? = 1 ] && grep -q "$FULL.qcow2 BAD" <<<"$out" && tap_ok "verify names the damaged file" || tap_fail "verify: $out"
out=$(yun vm restore "$INC" --as b3 --wait 2>&1)
[ $? = 1 ] && grep -q "does not match its checksum" <<<"$out" && tap_ok "a restore from it fails: $out" ||
  tap_fail "restore of a damaged chain: $out"
gone_b3() { ! yun vm show b3 >/dev/null 2>&1; }
wait_until 60 "b3 gone" gone_b3 && tap_ok "the VM made for the failed restore is gone" || tap_fail "b3 is left: $(yun vm show b3 2>&1 | head -3)"
tap_eval "no domain for b3" '! virsh -q -c "$URI" list --all --name | grep -q b3'
tap_eval "no disk file left but b1's" '[ "$(ls "$STATE/vms"/*.qcow2 | wc -l)" = 1 ]'
cp "$YUN_TEST_DIR/full.keep" "$FULLF"
tap_eval "the repaired backup verifies again" 'yun backup verify "$INC" >/dev/null 2>&1'

# ---- yund killed during a backup ----
tap_eval "400 MiB of new data in b1 (so a full backup takes a while)" 'disk "op=fill&at=100&mib=400" b1 | grep -q filled'
out=$(yun vm backup b1 --full -o json 2>&1)
CUT=$(jq -r .backup.id <<<"$out" 2>/dev/null)
running() { [ "$(admin_api GET "/v1/jobs/$CUT" | jq -r .job.state)" = running ]; }
wait_until 30 "backup $CUT running" running
tap_diag "backup $CUT is $(admin_api GET "/v1/jobs/$CUT" | jq -r .job.state) when yund is killed"
yund_kill9
yund_start "$STATE" "$URI" && tap_ok "yund killed (-9) during backup $CUT and started again" || tap_fail "yund restarts"
ended() { admin_api GET "/v1/jobs/$CUT" | jq -e '.job.state == "done" or .job.state == "failed"' >/dev/null; }
wait_until 120 "backup $CUT ends" ended && tap_ok "backup $CUT ended: $(admin_api GET "/v1/jobs/$CUT" | jq -c '[.job.state, .job.error]')" ||
  tap_fail "backup $CUT ended ($(admin_api GET "/v1/jobs/$CUT" | jq -r .job.state))"
wait_until 60 "b1 running" vm_state_is b1 running && tap_ok "b1 still runs" || tap_fail "b1: $(vm_field b1 state)"
tap_eval "the earlier backups still verify" 'yun backup verify "$INC" >/dev/null 2>&1'
if [ "$(admin_api GET "/v1/jobs/$CUT" | jq -r .job.state)" = failed ]; then
  tap_eval "the interrupted backup says so and left no file" \
    'admin_api GET "/v1/jobs/$CUT" | jq -r .job.error | grep -q interrupted && [ ! -e "$BK/$UUID/$CUT.qcow2" ]'
  out=$(yun vm backup b1 --wait -o json 2>&1)
  tap_eval "the next backup restarts the chain: full, and says so ($(jq -r .job.note <<<"$out"))" \
    '[ "$(jq -r .job.type <<<"$out")" = full ] && jq -r .job.note <<<"$out" | grep -q "backup $CUT failed"'
else
  tap_eval "the backup yund did not see end was finished by the agent and verifies" 'yun backup verify "$CUT" >/dev/null 2>&1'
fi

# ---- the guest's QEMU killed during a backup (the VM crashes) ----
tap_eval "400 MiB of new data in b1 again" 'disk "op=fill&at=100&mib=400" b1 | grep -q filled'
out=$(yun vm backup b1 --full -o json 2>&1)
CR=$(jq -r .backup.id <<<"$out" 2>/dev/null)
CUT=$CR
wait_until 30 "backup $CR running" running
QPID=$(grep -l -a -- "$UUID" /proc/[0-9]*/cmdline 2>/dev/null | while read -r f; do
  { tr '\0' ' ' <"$f"; } 2>/dev/null | grep -q '^[^ ]*qemu-system' && basename "$(dirname "$f")"; done | head -1)
[ -n "$QPID" ] && kill -9 "$QPID" && tap_ok "b1's QEMU (pid $QPID) killed during backup $CR" || tap_fail "no QEMU of b1 to kill"
wait_until 120 "backup $CR ends" ended && tap_ok "backup $CR ended: $(admin_api GET "/v1/jobs/$CR" | jq -c '[.job.state, .job.error]')" ||
  tap_fail "backup $CR ended ($(admin_api GET "/v1/jobs/$CR" | jq -r .job.state))"
tap_eval "it failed and left no file" \
  '[ "$(admin_api GET "/v1/jobs/$CR" | jq -r .job.state)" = failed ] && [ ! -e "$BK/$UUID/$CR.qcow2" ]'
again() { vm_state_is b1 running && [ -n "$(grep -l -a -- "$UUID" /proc/[0-9]*/cmdline 2>/dev/null)" ]; }
wait_until 90 "b1 running again" again && tap_ok "b1 runs again (its agent started the crashed guest)" ||
  tap_fail "b1 after its crash: $(vm_field b1 state)"
LASTOK=$(yun backup list --vm b1 -o json | jq '[.backups[] | select(.state == "done") | .id] | max')
tap_eval "the earlier backups still verify ($LASTOK)" 'yun backup verify "$LASTOK" >/dev/null 2>&1'
out=$(yun vm backup b1 --wait -o json 2>&1)
tap_eval "the next backup restarts the chain: full, and says so ($(jq -r .job.note <<<"$out"))" \
  '[ "$(jq -r .job.type <<<"$out")" = full ] && jq -r .job.note <<<"$out" | grep -q "backup $CR failed"'

# ---- a schedule: a backup every 10 s, the newest 2 and their chain kept ----
out=$(yun vm backup-schedule b1 --every 5s 2>&1)
[ $? = 1 ] && grep -q "from 10s" <<<"$out" && tap_ok "a schedule under 10 s is refused: $out" || tap_fail "every 5s: $out"
tap_check "yun vm backup-schedule b1 --every 10s --keep 2" yun vm backup-schedule b1 --every 10s --keep 2
LAST=$(yun backup list --vm b1 -o json | jq '[.backups[].id] | max')
scheduled() { [ "$(yun backup list --vm b1 -o json | jq --argjson l "$LAST" '[.backups[] | select(.id > $l and .state == "done")] | length')" -ge 3 ]; }
if wait_until 90 "three scheduled backups" scheduled; then
  tap_ok "three scheduled backups came, 10 s apart"
else
  tap_fail "scheduled backups: $(yun backup list --vm b1 | tr '\n' '|')"
fi
pruned() { ! yun backup show "$FULL" >/dev/null 2>&1 && ! yun backup show "$INC" >/dev/null 2>&1; }
wait_until 30 "older backups pruned" pruned
tap_eval "older backups pruned: rows and files ($FULL and $INC gone)" 'pruned && [ ! -e "$BK/$UUID/$FULL.qcow2" ]'
few() { [ "$(yun backup list --vm b1 -o json | jq '[.backups[] | select(.state == "done")] | length')" -le 3 ]; }
wait_until 30 "at most three left" few
yun backup list --vm b1 | sed 's/^/# /'
tap_eval "at most the newest two and what they build on are left" few
tap_check "schedule off" yun vm backup-schedule b1 --off
NEWEST=$(yun backup list --vm b1 -o json | jq '[.backups[] | select(.state == "done") | .id] | max')
tap_eval "the newest backup ($NEWEST) verifies" 'yun backup verify "$NEWEST" >/dev/null 2>&1'

# ---- yund's own state ----
tap_check "yun admin backup" yun admin backup "$YUN_TEST_DIR/yun-copy.db"
tap_eval "the copy is a whole SQLite database with the backups in it" \
  '[ "$(python3 -c "import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); print(d.execute(\"pragma integrity_check\").fetchone()[0], d.execute(\"select count(*) from jobs where kind=\x27backup\x27\").fetchone()[0] > 1)" "$YUN_TEST_DIR/yun-copy.db")" = "ok True" ]'
tap_done
