#!/usr/bin/env bash
# Uploaded images may refer to nothing outside themselves (issue 8, item 1; docs/operations.md, "Uploaded
# images"). A plain user uploads, and the admin imports with `yun image import`, hostile images built with the
# real qemu-img: a qcow2 whose external data file is a secret file of the server's (the issue's reproduction,
# with a secret of the test's own instead of /etc/shadow), a qcow2 whose backing file is the secret (by path
# and as json:), and a vmdk descriptor whose extent is the secret. Each is a 400 that says why, no image is
# made, and no byte of the secret reaches any file under the state folder. Declared raw, the qcow2 with the
# data file is imported as the bytes it is (a raw image whose bytes look like qcow2 stays raw). yund on the
# fake hypervisor (the disk conversion is the real one); TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"
D=$YUN_TEST_DIR

yund_start "$D/state" "test:///default" --fake-hv || { tap_fail "yund starts"; tap_done; exit 1; }
URL=$YUN_URL
A=$(cat "$D/state/admin.token")
U=$(curl -sS -X POST -H "Authorization: Bearer $A" -d '{"name":"mallory"}' "$URL/v1/users" | jq -r .token)
[ -n "$U" ] && [ "$U" != null ] && tap_ok "a plain user mallory" || tap_fail "a plain user mallory"

# the server's secret, and the hostile images that point at it
MARK=YUN-SECRET-MARKER-c41d
SECRET=$D/secret
for _ in $(seq 2000); do echo "$MARK"; done >"$SECRET"
chmod 0600 "$SECRET"
(
  cd "$D" &&
    qemu-img create -q -f qcow2 -o data_file=dummy,data_file_raw=on data.qcow2 64K &&
    qemu-img amend -q -f qcow2 -o data_file="$SECRET" data.qcow2 &&
    qemu-img create -q -f qcow2 -u -b "$SECRET" -F raw back.qcow2 64K &&
    qemu-img create -q -f qcow2 -u -b "json:{\"driver\":\"raw\",\"file\":{\"driver\":\"file\",\"filename\":\"$SECRET\"}}" \
      -F raw json.qcow2 64K &&
    printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 64 FLAT "%s" 0\n' \
      "$SECRET" >desc.vmdk
) && tap_ok "hostile images made with qemu-img" || tap_fail "hostile images made with qemu-img"
# qemu-img itself would follow them: the data file's image reads as the secret
qemu-img convert -f qcow2 -O raw "$D/data.qcow2" "$D/probe.raw" 2>/dev/null && grep -qa "$MARK" "$D/probe.raw" &&
  tap_ok "qemu-img alone reads the secret through data.qcow2 (what yun must prevent)" ||
  tap_fail "qemu-img alone reads the secret through data.qcow2"
rm -f "$D/probe.raw"

upload() { # upload TOKEN FILE NAME [FORMAT]: prints the status, then the body
  curl -sS -o "$D/body" -w '%{http_code}' -H "Authorization: Bearer $1" --data-binary "@$2" \
    "$URL/v1/images?name=$3${4:+&format=$4}"
}
refused() { # refused FILE NAME FORMAT REASON: the plain user's upload is a 400 saying REASON, and no image
  local st
  st=$(upload "$U" "$D/$1" "$2" "$3")
  if [ "$st" = 400 ] && grep -q "$4" "$D/body" &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $U" "$URL/v1/images/$2")" = 404 ]; then
    tap_ok "upload of $1${3:+ (format=$3)} is refused: $(jq -r .error.message "$D/body" | cut -c1-110)"
  else
    tap_fail "upload of $1${3:+ (format=$3)}: $st $(cat "$D/body")"
  fi
}
refused data.qcow2 d1 "" "external data file"
refused data.qcow2 d2 qcow2 "external data file"
refused back.qcow2 b1 "" "backing file"
refused json.qcow2 j1 "" "backing file"
refused desc.vmdk v1 "" "looks like a vmdk"
refused desc.vmdk v2 qcow2 "not a qcow2"
# refused from the query alone, while curl still sends the 1 MiB body: yund reads the body before answering, so
# curl reads the 400 and never a reset ("Send failure: Broken pipe", status 000); 20 times, as it was 1 in ~50
bad=""
for i in $(seq 20); do
  rm -f "$D/body"
  st=$(upload "$U" "$D/data.qcow2" f1 vmdk 2>"$D/err")
  [ "$st" = 400 ] && grep -q "give format=qcow2 or format=raw" "$D/body" || { bad="try $i: $st $(cat "$D/err" "$D/body" 2>/dev/null)"; break; }
done
[ -z "$bad" ] && tap_ok "format=vmdk is refused, naming the two (the answer read 20 times of 20)" ||
  tap_fail "format=vmdk: $bad"

# the admin's `yun image import FILE` takes the same path (cloud.sh's yun: the admin's token)
for f in data.qcow2 back.qcow2 json.qcow2 desc.vmdk; do
  if yun image import "$D/$f" --name "adm-${f%%.*}" >"$D/out" 2>"$D/err"; then
    tap_fail "yun image import $f by the admin was accepted"
  elif grep -Eq "external data file|backing file|looks like a vmdk" "$D/err"; then
    tap_ok "yun image import $f by the admin is refused: $(head -c 110 "$D/err")"
  else
    tap_fail "yun image import $f: $(cat "$D/err")"
  fi
done

# declared raw, the qcow2-looking file is just its bytes
st=$(upload "$U" "$D/data.qcow2" asraw raw)
P=$(ls "$D"/state/images/asraw-*.qcow2 2>/dev/null | head -1)
if [ "$st" = 201 ] && [ -f "$P" ] && qemu-img convert -f qcow2 -O raw "$P" "$D/back.raw" &&
  truncate -s "$(stat -c %s "$D/data.qcow2")" "$D/back.raw" && cmp -s "$D/back.raw" "$D/data.qcow2"; then
  tap_ok "declared raw, data.qcow2 is imported as the bytes it is"
else
  tap_fail "format=raw upload of data.qcow2: $st $(cat "$D/body")"
fi
yun image import "$D/desc.vmdk" --name adm-raw --format raw >"$D/out" 2>"$D/err" && tap_ok "yun image import --format raw takes the descriptor as bytes" ||
  tap_fail "yun image import --format raw: $(cat "$D/err")"

if grep -rqa "$MARK" "$D/state"; then
  tap_fail "the secret reached a file under the state folder: $(grep -rla "$MARK" "$D/state" | head -3)"
else
  tap_ok "no byte of the secret reached any file under the state folder"
fi
kill -0 "$YUND_PID" 2>/dev/null && tap_ok "yund is still running" || tap_fail "yund is still running"
tap_done
