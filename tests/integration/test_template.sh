#!/usr/bin/env bash
# Images made from VMs, with versions (docs/api.md, "Images from VMs"), on one private test host with real TCG guests:
#   - the starter guest t1 writes marker one into its disk (its /cgi-bin/disk: dd at a fixed sector + sync);
#     while it runs, `yun image create tpl --from-vm t1` is refused, saying to stop it, and leaves nothing;
#   - unknown VM, another user's VM: refused, saying so, nothing made;
#   - t1 stopped: tpl (version 1) is made by the host's agent (qemu-img convert of the overlay chain into one
#     qcow2 without backing file); a VM v1 made from tpl boots and reads marker one;
#   - t1 started again, marker two over marker one, stopped; while the agent cannot get on with it (the host's
#     libvirtd stopped for a moment) a second `image create tpl` is refused as in flight; then tpl:2 is made;
#   - t1 deleted (the images are files of their own); `--image tpl` gives tpl:2: v2 reads marker two; v1,
#     restarted, still reads marker one; the image list shows both versions and which VMs use them; a version
#     in use cannot be deleted, and says why; nor can a bare name that has versions (which one?);
#   - the image folder full (a tmpfs over images/templates in yund's mount namespace, holding tpl's file, which
#     v1's disk builds on, and filled up): the job fails
#     saying why, and leaves no image row and no file;
#   - v2 deleted, then tpl:2: its file goes; `--image tpl` is tpl again; the starter's kernel, which tpl
#     boots, stays.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

URI=$(yun_testhost_up tp) || { tap_fail "test host starts"; tap_done; exit 1; }
NS=$(yun_testhost_netns tp)
HOSTDIR=$YUN_TEST_DIR/hosts/tp
STATE=$YUN_TEST_DIR/state
TPLDIR=$STATE/images/templates
export YUND_NETNS=$NS # the guests' network is their host's: the CLI and curl run there
yun_starter_image >/dev/null || { tap_fail "the starter image's packages are fetched"; tap_done; exit 1; }
yund_start "$STATE" "$URI" || { tap_fail "yund starts"; tap_done; exit 1; }
tap_ok "yund --all-in-one starts on test host tp"
TAP_DIAG='tail -5 "$STATE/yund.log"'
# the libvirtd of the host, if the test stopped it, goes on at exit
yun_on_exit 'kill -CONT "$(cat "$HOSTDIR/libvirtd.pid")" 2>/dev/null'

if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi

# disk OP VM: the guest's /cgi-bin/disk
disk() { in_ns curl -sS -m 120 "http://$(vm_field "$2" address)/cgi-bin/disk?$1" 2>&1; }
# up VM: waits until VM runs and its httpd answers
up() {
  local vm=$1
  wait_until 240 "$vm running" vm_state_is "$vm" running || return 1
  _addr() { [ -n "$(vm_field "$1" address)" ]; }
  wait_until 180 "$vm's address" _addr "$vm" || return 1
  _httpd() { local r; r=$(disk "op=read&sector=0" "$1") && [ "${r:0:6}" != "curl: " ]; }
  wait_until 120 "$vm's httpd" _httpd "$vm"
}
image_names() { yun image list -o json | jq -r '[.images[].name] | sort | join(" ")'; }
templates() { ls -A "$TPLDIR" 2>/dev/null | tr '\n' ' '; }
# job_wait ID: until job ID has ended; echoes its state
job_state() { admin_api GET "/v1/jobs/$1" | jq -r .job.state; }
job_wait() { admin_wait '.job.state == "done" or .job.state == "failed"' "/v1/jobs/$1" 300; job_state "$1"; }

out=$(yun vm create t1 --image starter --cpus 1 --memory 128M --disk 1G 2>&1) && tap_ok "vm create t1" ||
  tap_fail "vm create t1: $out"
up t1 && tap_ok "t1 runs and answers" || tap_fail "t1 runs ($(vm_field t1 state): $(vm_field t1 error))"
tap_eval "t1 writes marker one at sector 2048" \
  '[ "$(disk "op=write&sector=2048&mark=MARKER-ONE" t1)" = "wrote MARKER-ONE at sector 2048" ]'

# ---- refusals: running, unknown, another user's ----
out=$(yun image create tpl --from-vm t1 2>&1)
[ $? = 1 ] && grep -q "stop it first (yun vm stop t1)" <<<"$out" && tap_ok "a running VM is refused: $out" ||
  tap_fail "image create from a running VM: $out"
tap_check "t1 stopped" yun vm stop t1 --wait --timeout 120
out=$(yun image create tpl --from-vm nosuch 2>&1)
[ $? = 1 ] && grep -q "VM nosuch not found" <<<"$out" && tap_ok "an unknown VM is refused: $out" ||
  tap_fail "image create from an unknown VM: $out"
TB=$(yun user create bob -o json | jq -r .token)
out=$(YUN_TOKEN=$TB yun image create tpl --from-vm t1 2>&1)
[ $? = 1 ] && grep -q "VM t1 not found" <<<"$out" && tap_ok "another user's VM is refused (bob): $out" ||
  tap_fail "image create from another user's VM: $out"
tap_eval "the refusals made no image and no file" '[ "$(image_names)" = starter ] && [ -z "$(templates)" ]'

# ---- version 1 ----
out=$(yun image create tpl --from-vm t1 --wait -o json 2>&1)
tap_eval "tpl is made from the stopped t1 ($(jq -r '.job.duration_ms' <<<"$out" 2>/dev/null) ms on the agent)" \
  '[ "$(jq -r "[.job.state, .job.name] | join(\" \")" <<<"$out")" = "done tpl" ]'
TPL1=$(yun image show tpl -o json | jq -r .path)
tap_eval "tpl is one qcow2 of its own (no backing file) in images/templates" \
  '[ "${TPL1%/*}" = "$TPLDIR" ] && qemu-img info -U "$TPL1" | grep -q "file format: qcow2" && ! qemu-img info -U "$TPL1" | grep -q "backing file"'
tap_eval "tpl is the admin's, private, version 1" \
  '[ "$(yun image show tpl -o json | jq -c "[.owner, .public, .version, .base]")" = "[\"admin\",false,1,\"tpl\"]" ]'
out=$(YUN_TOKEN=$TB yun vm create bv --image tpl --memory 128M 2>&1)
[ $? != 0 ] && grep -q "image tpl not found" <<<"$out" && tap_ok "bob does not see the private tpl: $out" ||
  tap_fail "bob and the private tpl: $out"
out=$(yun vm create v1 --image tpl --cpus 1 --memory 128M 2>&1) && tap_ok "vm create v1 --image tpl" ||
  tap_fail "vm create v1: $out"
up v1 && tap_ok "v1 runs" || tap_fail "v1 runs ($(vm_field v1 state): $(vm_field v1 error))"
tap_eval "v1 reads marker one" '[ "$(disk "op=read&sector=2048" v1)" = MARKER-ONE ]'

# ---- version 2, and a second one in flight ----
tap_check "t1 started again" yun vm start t1 --wait --timeout 240
up t1 || tap_fail "t1 answers again"
tap_eval "t1 writes marker two over marker one" \
  '[ "$(disk "op=write&sector=2048&mark=MARKER-TWO" t1)" = "wrote MARKER-TWO at sector 2048" ]'
tap_check "t1 stopped" yun vm stop t1 --wait --timeout 120
tap_check "v1 stopped" yun vm stop v1 --wait --timeout 120
# the host's libvirtd stopped (SIGSTOP, by its pid): the agent cannot get on with the job, which stays in flight
kill -STOP "$(cat "$HOSTDIR/libvirtd.pid")"
out=$(yun image create tpl --from-vm t1 -o json 2>&1)
J2=$(jq -r .template.id <<<"$out" 2>/dev/null)
out2=$(yun image create tpl --from-vm v1 2>&1)
rc2=$?
kill -CONT "$(cat "$HOSTDIR/libvirtd.pid")"
tap_eval "tpl:2 is asked (job $J2)" '[ "$(jq -r .template.name <<<"$out")" = tpl:2 ]'
[ $rc2 = 1 ] && grep -q "image tpl:2 is being made already (job $J2, from VM t1)" <<<"$out2" &&
  tap_ok "a second tpl while tpl:2 is made is refused: $out2" || tap_fail "tpl in flight twice: $out2"
tap_eval "job $J2 is done" '[ "$(job_wait "$J2")" = done ]'
tap_eval "the image list shows both versions" '[ "$(image_names)" = "starter tpl tpl:2" ]'
yun image list | sed 's/^/# /'
# the host has 2 cores and a stopped VM keeps its place: t1 goes, and the images made from it stay whole
tap_check "t1, the VM the images were made from, deleted" yun vm delete t1 --wait --timeout 120
out=$(yun vm create v2 --image tpl --cpus 1 --memory 128M 2>&1) && tap_ok "vm create v2 --image tpl" ||
  tap_fail "vm create v2: $out"
tap_eval "--image tpl took the newest: v2 is on tpl:2" '[ "$(vm_field v2 image)" = tpl:2 ]'
up v2 && tap_ok "v2 runs" || tap_fail "v2 runs ($(vm_field v2 state): $(vm_field v2 error))"
tap_eval "v2 reads marker two" '[ "$(disk "op=read&sector=2048" v2)" = MARKER-TWO ]'
tap_check "v1 started again" yun vm start v1 --wait --timeout 240
up v1 || tap_fail "v1 answers again"
tap_eval "v1 is still on tpl and still reads marker one" \
  '[ "$(vm_field v1 image)" = tpl ] && [ "$(disk "op=read&sector=2048" v1)" = MARKER-ONE ]'
tap_eval "the list says which version each VM uses" \
  '[ "$(yun image list -o json | jq -c "[.images[] | select(.base == \"tpl\") | [.name, .version, .vms]]")" = "[[\"tpl\",1,1],[\"tpl:2\",2,1]]" ]'
out=$(yun image delete tpl 2>&1)
[ $? = 1 ] && grep -q "image tpl has 2 versions (the newest is tpl:2): name the one to delete" <<<"$out" &&
  tap_ok "a bare name with versions is not a delete: $out" || tap_fail "delete tpl with versions: $out"
out=$(yun image delete tpl:1 2>&1)
[ $? = 1 ] && grep -q "image tpl is used by 1 VM (admin/v1), and a VM keeps the image version it was made from" <<<"$out" &&
  tap_ok "a version in use is not deleted: $out" || tap_fail "delete tpl:1 in use: $out"
out=$(yun vm create v3 --image tpl:7 --memory 128M 2>&1)
[ $? != 0 ] && grep -q "image tpl:7 not found" <<<"$out" && tap_ok "a version that does not exist: $out" ||
  tap_fail "--image tpl:7: $out"
out=$(yun vm create v3 --image tpl:x --memory 128M 2>&1)
[ $? != 0 ] && grep -q "not found" <<<"$out" && tap_ok "a bad version: $out" || tap_fail "--image tpl:x: $out"

# ---- the image folder full ----
tap_check "v1 stopped" yun vm stop v1 --wait --timeout 120
# v1's disk is an overlay on tpl's file, in that very folder: the tmpfs holds a copy of it and 64 KiB more
TPL1B=$(stat -c %s "$TPL1")
cp "$TPL1" "$YUN_TEST_DIR/tpl1.copy"
nsenter -t "$YUND_PID" -m mount -t tmpfs -o size=$((TPL1B + 65536)) yun-tpl-full "$TPLDIR" &&
  nsenter -t "$YUND_PID" -m cp "$YUN_TEST_DIR/tpl1.copy" "$TPL1" &&
  { nsenter -t "$YUND_PID" -m dd if=/dev/zero of="$TPLDIR/fill" bs=4k status=none 2>/dev/null; true; } &&
  tap_ok "images/templates is a full tmpfs for yund and its agent, holding tpl's file (qcow2 files are sparse: filled up)" ||
  tap_fail "tmpfs over images/templates"
yun_on_exit '[ -n "$YUND_PID" ] && nsenter -t "$YUND_PID" -m umount "$TPLDIR" 2>/dev/null'
out=$(yun image create tpl --from-vm v1 --wait 2>&1)
rc=$?
[ $rc = 1 ] && grep -q "No space left on device" <<<"$out" && tap_ok "the copy fails, saying why: $out" ||
  tap_fail "template into a full folder: $out"
tap_eval "no image row and no file left behind" \
  '[ "$(image_names)" = "starter tpl tpl:2" ] && [ "$(nsenter -t "$YUND_PID" -m ls -A "$TPLDIR" | xargs)" = "fill $(basename "$TPL1")" ]'
nsenter -t "$YUND_PID" -m umount "$TPLDIR" && tap_ok "the tmpfs is gone" || tap_fail "umount the tmpfs"
tap_eval "no partial file under it either" '[ "$(templates)" = "$(basename "$TPL1") $(basename "$(yun image show tpl:2 -o json | jq -r .path)") " ]'

# ---- deleting a version ----
tap_check "v2 deleted" yun vm delete v2 --wait --timeout 120
TPL2=$(yun image show tpl:2 -o json | jq -r .path)
tap_check "tpl:2 deleted" yun image delete tpl:2
tap_eval "its file went" '[ ! -e "$TPL2" ] && [ -e "$TPL1" ]'
tap_eval "--image tpl is version 1 again" '[ "$(yun image show tpl -o json | jq -r .name)" = tpl ]'
KERNEL=$(yun image show tpl -o json | jq -r .kernel_path)
tap_eval "the starter's kernel, which tpl boots, is there" '[ -s "$KERNEL" ]'

tap_done
