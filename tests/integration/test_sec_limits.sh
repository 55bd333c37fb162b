#!/usr/bin/env bash
# Body and header limits over real HTTP (issue 9, "Abuse"). Every JSON endpoint takes a body of at most 1 MiB
# (API_JSON_MAX): a bigger one is refused with 413 and a message saying the limit, whether the size is announced
# (Content-Length, refused before the body is read) or not (chunked, refused once it passes the limit). Headers
# larger than libmicrohttpd's per-connection memory get 431. After all of it yund still answers.
# yund on the fake hypervisor; TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TAP_DIAG='[ -f "$D/body" ] && head -c 400 "$D/body" && echo'
. "$(dirname "$0")/cloud.sh"
D=$YUN_TEST_DIR
yund_start "$D/state" "test:///default" --fake-hv && tap_ok "yund starts" || { tap_fail "yund starts"; tap_done; exit 1; }
URL=$YUN_URL
A=$(cat "$D/state/admin.token")
says() { jq -e --arg s "$1" '.error.message | contains($s)' "$D/body" >/dev/null; }

# a 2 MiB JSON body (a long name), size announced
python3 -c 'import sys; sys.stdout.write("{\"name\":\"" + "x" * (2 << 20) + "\"}")' >"$D/big.json"
s=$(curl -sS -o "$D/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $A" -H 'Content-Type: application/json' \
  --data-binary @"$D/big.json" "$URL/v1/users")
tap_eval "a 2 MiB body with Content-Length gets 413 saying the limit" '[ "$s" = 413 ] && says "the most is 1 MiB"'

# the same body chunked: no size announced, refused once it passes 1 MiB
s=$(curl -sS -o "$D/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $A" -H 'Content-Type: application/json' \
  -H 'Transfer-Encoding: chunked' --data-binary @"$D/big.json" "$URL/v1/users")
tap_eval "the same body chunked gets 413 saying the limit" '[ "$s" = 413 ] && says "larger than 1 MiB"'
curl -sS -o "$D/body" -H "Authorization: Bearer $A" "$URL/v1/users"
tap_eval "no user was created by either" '! grep -q xxxxxxxx "$D/body"'

# a 64 KiB header
H=$(python3 -c 'print("y" * 65536)')
# yund answers 431 and closes while curl may still be sending the header: the close with unread bytes is a
# reset, which can reach curl before the answer does (curl 55, send failure, or 56, receive failure; about 1
# run in 50 under load). Either way the request was refused; anything else (a 2xx, a 4xx other than 431) fails.
rm -f "$D/body"
rc=0
s=$(curl -sS -o "$D/body" -w '%{http_code}' -H "Authorization: Bearer $A" -H "X-Big: $H" "$URL/v1/users" 2>"$D/err") || rc=$?
tap_eval "a 64 KiB header gets 431 (or the connection cut: curl $rc, $(head -c 80 "$D/err"))" \
  '[ "$s" = 431 ] || { { [ "$rc" = 55 ] || [ "$rc" = 56 ]; } && [ "$s" = 000 ] && [ ! -s "$D/body" ]; }'

s=$(curl -sS -o /dev/null -w '%{http_code}' "$URL/healthz")
tap_eval "yund still answers" '[ "$s" = 200 ]'
tap_done
