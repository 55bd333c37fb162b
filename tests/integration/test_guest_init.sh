#!/usr/bin/env bash
# Guests' first boot from a cloud-init NoCloud seed (docs/guests.md), on a private test host with real TCG guests:
#   - users keep SSH public keys (`yun key add/list/delete`): the fingerprint is ssh-keygen's; a malformed key,
#     a private key, a taken name are refused saying why;
#   - bad input to `yun vm create` (an unknown key name, user-data too big or not text) is refused saying what
#     was wrong and leaves nothing behind: no VM row, no domain, no file in the VM folder;
#   - the starter reads its seed: its console says YUN-GUEST-HOSTNAME <its name> and how many keys it got; the
#     seed ISO exists beside its disk, and goes with it on delete;
#   - a Debian 12 image built by `yun image build-debian` (scripts/build-debian.sh: a plain disk with its own
#     bootloader, imported like any disk: no kernel fields) boots; created with --ssh-key k1 and --user-data
#     (a runcmd writing a marker once), it reaches cloud-init's "done" (`cloud-init status --wait` over SSH),
#     its hostname is its name, the owner's key logs in over SSH from the host, another key does not; stopped
#     and started again it keeps one marker line and one instance (no second first boot).
# yund --all-in-one runs in the test host's network namespace (the guests' NAT network is that host's).
# run-tests: timeout=3600 (a debootstrap and two Debian boots under TCG: 10-40 minutes, by the machine's load)
# GUEST_INIT_ONLY=starter stops before the Debian half (minutes under TCG), for a quick run by hand; CI runs all.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"

URI=$(yun_testhost_up gi) || { tap_fail "test host starts"; tap_done; exit 1; }
NS=$(yun_testhost_netns gi)
STATE=$YUN_TEST_DIR/state
export YUND_NETNS=$NS
# the namespace has no way out to Debian's mirror: both images' packages are fetched (and cached) from here
yun_starter_image >/dev/null || { tap_fail "the starter image's packages are fetched"; tap_done; exit 1; }
export YUN_DEBIAN_CACHE=$YUN_TEST_CACHE/debian-12 # where yund's build-debian finds the disk built below
yund_start "$STATE" "$URI" || { tap_fail "yund starts"; tap_done; exit 1; }
tap_ok "yund --all-in-one starts in the test host's namespace"
wait_until 60 "host registered" bash -c '[ "$(yun host list -o json | jq ".hosts | length")" = 1 ]' ||
  tap_fail "the agent registers its host"
if out=$(yun image build-starter 2>&1); then tap_ok "yun image build-starter"; else
  tap_fail "yun image build-starter"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi

# ---- keys ----
K=$YUN_TEST_DIR/keys
mkdir -p "$K"
ssh-keygen -q -t ed25519 -N '' -C k1@test -f "$K/k1" && ssh-keygen -q -t ed25519 -N '' -C k2@test -f "$K/k2" ||
  tap_fail "ssh-keygen"
out=$(yun key add k1 "$K/k1.pub" 2>&1) && tap_ok "yun key add k1: $out" || tap_fail "yun key add k1: $out"
fp=$(ssh-keygen -lf "$K/k1.pub" | awk '{print $2}')
yun key list | awk -v fp="$fp" '$1 == "k1" && $2 == "ssh-ed25519" && $3 == fp {ok = 1} END {exit !ok}' && tap_ok "yun key list shows k1 with ssh-keygen's fingerprint" ||
  tap_fail "yun key list: $(yun key list | tr '\n' '|')"
out=$(yun key add k1 "$K/k2.pub" 2>&1) && tap_fail "a taken key name is refused" ||
  { grep -q "already have an SSH key named" <<<"$out" && tap_ok "a taken key name is refused: $out" || tap_fail "taken: $out"; }
out=$(yun key add bad "$K/k2" 2>&1) && tap_fail "a private key is refused" ||
  { grep -q "private SSH key" <<<"$out" && tap_ok "a private key is refused: $out" || tap_fail "private: $out"; }
out=$(echo "ssh-ed25519 AAAAnotbase64!!" | yun key add bad - 2>&1) && tap_fail "a malformed key is refused" ||
  { grep -q "not base64" <<<"$out" && tap_ok "a malformed key is refused: $out" || tap_fail "malformed: $out"; }
# the same rule on the server, for clients other than the CLI
body=$(in_ns curl -sS -X POST -H "Authorization: Bearer $YUN_TOKEN" "$YUN_URL/v1/keys" \
  -d '{"name":"bad","public_key":"ssh-dss AAAA x"}')
grep -q '"invalid_argument"' <<<"$body" && grep -q "not an SSH public key type" <<<"$body" &&
  tap_ok "POST /v1/keys refuses an unknown key type" || tap_fail "POST /v1/keys: $body"

# ---- bad input to vm create leaves nothing ----
nothing_left() {
  [ "$(yun vm list -o json | jq '.vms | length')" = 0 ] && [ -z "$(virsh -c "$URI" list --all --name | grep .)" ] &&
    [ -z "$(ls -A "$STATE/vms" 2>/dev/null)" ]
}
out=$(yun vm create x1 --image starter --memory 128M --ssh-key nosuch 2>&1) && tap_fail "an unknown key is refused" ||
  { grep -q "no SSH key named 'nosuch'" <<<"$out" && nothing_left && tap_ok "an unknown key name is refused, nothing left: $out" ||
    tap_fail "unknown key: $out"; }
head -c 20000 /dev/zero | tr '\0' a | sed '1s/^/#!\/bin\/sh\n/' > "$YUN_TEST_DIR/big"
out=$(yun vm create x1 --image starter --memory 128M --user-data "$YUN_TEST_DIR/big" 2>&1) && tap_fail "big user-data is refused" ||
  { grep -q "more than the 16384 allowed" <<<"$out" && nothing_left && tap_ok "user-data too big is refused, nothing left: $out" ||
    tap_fail "big: $out"; }
printf '#!/bin/sh\n\0\1\2' > "$YUN_TEST_DIR/bin"
out=$(yun vm create x1 --image starter --memory 128M --user-data "$YUN_TEST_DIR/bin" 2>&1) && tap_fail "binary user-data is refused" ||
  { grep -q "not text" <<<"$out" && nothing_left && tap_ok "user-data that is not text is refused, nothing left: $out" ||
    tap_fail "binary: $out"; }
body=$(in_ns curl -sS -X POST -H "Authorization: Bearer $YUN_TOKEN" "$YUN_URL/v1/vms" \
  -d '{"name":"x1","image":"starter","memory":"128M","user_data":"echo no shebang"}')
grep -q "must start with" <<<"$body" && nothing_left && tap_ok "POST /v1/vms refuses user-data that is neither #cloud-config nor a script" ||
  tap_fail "POST /v1/vms: $body"

# ---- the starter reads its seed ----
out=$(yun vm create st1 --image starter --memory 128M --ssh-key k1 2>&1) && tap_ok "vm create st1 --ssh-key k1" ||
  tap_fail "vm create st1: $out"
said() { yun vm console-log st1 | tr -d '\r' | grep -qx "$1"; }
wait_until 240 "st1's hostname" said "YUN-GUEST-HOSTNAME st1" && tap_ok "the starter takes its hostname from the seed (YUN-GUEST-HOSTNAME st1)" ||
  tap_fail "st1's console: $(yun vm console-log st1 | tail -5 | tr '\n' '|')"
said "YUN-GUEST-KEYS 1" && tap_ok "the starter got the one key of the seed" || tap_fail "st1's keys: $(yun vm console-log st1 | grep -a YUN-GUEST-KEYS)"
U=$(vm_field st1 uuid)
[ -s "$STATE/vms/$U.seed.iso" ] && tap_ok "the seed ISO lies beside the disk" || tap_fail "no $STATE/vms/$U.seed.iso"
yun vm delete st1 --wait >/dev/null 2>&1
[ -n "$U" ] && [ ! -e "$STATE/vms/$U.seed.iso" ] && tap_ok "deleting st1 removes its seed" || tap_fail "st1's seed is left"

# ---- a real Debian guest ----
if [ "${GUEST_INIT_ONLY:-}" = starter ]; then tap_done; exit $?; fi
# the Debian disk is built from here (the namespace has no way out to the mirror), then yund copies it
t0=$SECONDS
if out=$(bash "$YUN_ROOT/scripts/build-debian.sh" "$YUN_DEBIAN_CACHE" 2>&1); then
  tap_ok "scripts/build-debian.sh builds (or finds cached) the Debian disk ($((SECONDS - t0)) s): $(tail -1 <<<"$out")"
else
  tap_fail "scripts/build-debian.sh"; echo "$out" | tail -8 | sed 's/^/# /'; tap_done; exit 1
fi

t0=$SECONDS
if out=$(yun image build-debian debian-12 2>&1); then tap_ok "yun image build-debian debian-12 ($((SECONDS - t0)) s)"; else
  tap_fail "yun image build-debian"; echo "$out" | tail -5 | sed 's/^/# /'; tap_done; exit 1; fi
img=$(yun image show debian-12 -o json)
[ "$(jq -r '.kernel // .image.kernel // ""' <<<"$img")" = "" ] && tap_ok "debian-12 is a plain disk (no kernel fields): it boots by its own bootloader" ||
  tap_fail "debian-12: $img"
cat > "$YUN_TEST_DIR/ud" <<'UD'
#cloud-config
runcmd:
  - [sh, -c, "echo once >> /var/lib/yun-first-boot"]
UD
t0=$SECONDS
out=$(yun vm create deb1 --image debian-12 --cpus 1 --memory 1G --disk 4G --ssh-key k1 --user-data "$YUN_TEST_DIR/ud" 2>&1) &&
  tap_ok "vm create deb1 --image debian-12 --ssh-key k1 --user-data" || tap_fail "vm create deb1: $out"
has_addr() { [ -n "$(vm_field deb1 address)" ]; }
wait_until 600 "deb1's address" has_addr && ADDR=$(vm_field deb1 address) && tap_ok "deb1 has an address: $ADDR" ||
  { ADDR=""; tap_fail "deb1 has an address"; yun vm console-log deb1 | tail -10 | sed 's/^/# /'; }
SSH=(ssh -i "$K/k1" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10
     -o LogLevel=ERROR)
ssh_ok() { ip netns exec "$NS" "${SSH[@]}" "debian@$ADDR" true 2>/dev/null; }
if [ -n "$ADDR" ] && wait_until 600 "SSH on deb1" ssh_ok; then
  tap_ok "the owner's key k1 logs in over SSH as debian@$ADDR ($((SECONDS - t0)) s after create)"
else
  tap_fail "k1 logs in over SSH"; yun vm console-log deb1 | tail -15 | sed 's/^/# /'
fi
st=$(ip netns exec "$NS" "${SSH[@]}" "debian@$ADDR" cloud-init status --wait 2>&1 | tail -1)
[ "$st" = "status: done" ] && tap_ok "cloud-init reaches done ($((SECONDS - t0)) s after create)" || tap_fail "cloud-init status: $st"
h=$(ip netns exec "$NS" "${SSH[@]}" "debian@$ADDR" hostname 2>&1)
[ "$h" = deb1 ] && tap_ok "its hostname is its name (deb1)" || tap_fail "hostname: $h"
ip netns exec "$NS" ssh -i "$K/k2" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
  -o ConnectTimeout=10 -o LogLevel=ERROR "debian@$ADDR" true 2>/dev/null && tap_fail "another key (k2) logs in" ||
  tap_ok "another key (k2) is refused"
marker() { ip netns exec "$NS" "${SSH[@]}" "debian@$ADDR" cat /var/lib/yun-first-boot 2>&1 | grep -c once; }
[ "$(marker)" = 1 ] && tap_ok "the user-data's runcmd ran once" || tap_fail "marker: $(marker)"
iid=$(ip netns exec "$NS" "${SSH[@]}" "debian@$ADDR" cat /var/lib/cloud/data/instance-id 2>&1)
[ "$iid" = "$(vm_field deb1 uuid)" ] && tap_ok "cloud-init's instance is the VM's uuid" || tap_fail "instance-id: $iid"

# ---- a second boot is not a first boot ----
yun vm stop deb1 --wait --timeout 300 >/dev/null 2>&1 && tap_ok "deb1 stops" || tap_fail "deb1 stops ($(vm_field deb1 state))"
yun vm start deb1 --wait --timeout 300 >/dev/null 2>&1 && tap_ok "deb1 starts again" || tap_fail "deb1 starts again"
wait_until 600 "SSH on deb1 again" ssh_ok && tap_ok "k1 logs in again after the restart" || tap_fail "SSH after the restart"
ip netns exec "$NS" "${SSH[@]}" "debian@$ADDR" cloud-init status --wait >/dev/null 2>&1
[ "$(marker)" = 1 ] && tap_ok "the second boot did not run the first boot's runcmd again" || tap_fail "marker after restart: $(marker)"
boots=$(ip netns exec "$NS" "${SSH[@]}" "debian@$ADDR" 'ls /var/lib/cloud/instances | wc -l' 2>&1)
[ "$boots" = 1 ] && tap_ok "one cloud-init instance after two boots" || tap_fail "instances: $boots"
yun vm delete deb1 --wait >/dev/null 2>&1 && tap_ok "deb1 deleted" || tap_fail "deb1 delete"
tap_done
