#!/usr/bin/env bash
# The portal's API as a browser would use it, with curl keeping cookies: login, the cookie's attributes, the CSRF
# header rule, logout, registration on and off, passwords set by the admin and by the user (every session of
# theirs ends), the portal's settings and the largest-VM limit. yund on the fake hypervisor; TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TAP_DIAG='[ -f "$D/body" ] && cat "$D/body" | head -3'
. "$(dirname "$0")/cloud.sh"
D=$YUN_TEST_DIR
yund_start "$D/state" "test:///default" --fake-hv && tap_ok "yund starts" || { tap_fail "yund starts"; tap_done; exit 1; }
URL=$YUN_URL
PID=$YUND_PID
A=$(cat "$D/state/admin.token")

# JAR METHOD PATH [BODY] [extra curl args...]: a browser-like call with a cookie jar; status in $D/status
web() {
  local jar=$1 m=$2 p=$3 body=${4:-}
  shift 4 2>/dev/null || shift $#
  curl -sS -o "$D/body" -D "$D/headers" -w '%{http_code}' -b "$D/$jar" -c "$D/$jar" -X "$m" \
    ${body:+-d "$body"} "$@" "$URL$p" >"$D/status"
}
adm() { # METHOD PATH [BODY]
  curl -sS -o "$D/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $A" ${3:+-d "$3"} "$URL$2" >"$D/status"
}
st() { cat "$D/status"; }

web alice POST /v1/register '{"name":"alice","password":"alice-password"}' -H 'X-Yun-Portal: 1'
tap_eval "register answers 201 with the user" '[ "$(st)" = 201 ] && jq -e ".user.name == \"alice\" and .user.admin == false" "$D/body" >/dev/null'
tap_eval "the cookie is HttpOnly, SameSite=Strict, Path=/" \
  'grep -i "^set-cookie: yun_session=" "$D/headers" | grep -q "HttpOnly" && grep -i "^set-cookie:" "$D/headers" | grep -q "SameSite=Strict; " && grep -i "^set-cookie:" "$D/headers" | grep -q "Path=/;"'
web alice GET /v1/whoami
tap_eval "the cookie alone authenticates a GET" '[ "$(st)" = 200 ] && jq -e ".name == \"alice\"" "$D/body" >/dev/null'
web alice POST /v1/vms '{"name":"x","image":"none","memory":"64M"}'
tap_eval "a write by cookie without X-Yun-Portal is 403 naming the header" '[ "$(st)" = 403 ] && grep -q "X-Yun-Portal" "$D/body"'
web alice POST /v1/vms '{"name":"x","image":"none","memory":"64M"}' -H 'X-Yun-Portal: 1'
tap_eval "with the header the request goes through to the handler (404: no such image)" '[ "$(st)" = 404 ]'

web other POST /v1/session '{"name":"alice","password":"wrong-password"}'
wrong=$(jq -r .error.message "$D/body")
tap_eval "a wrong password is 401" '[ "$(st)" = 401 ]'
web other POST /v1/session '{"name":"nobody","password":"wrong-password"}'
tap_eval "an unknown name is 401 with the same message" '[ "$(st)" = 401 ] && [ "$(jq -r .error.message "$D/body")" = "$wrong" ]'
web second POST /v1/session '{"name":"alice","password":"alice-password"}'
tap_eval "a second login of alice (another browser)" '[ "$(st)" = 201 ]'

# the user changes their own password: needs the old one; every session ends, this one gets a new cookie
web alice PUT /v1/users/alice/password '{"password":"new-alice-password"}' -H 'X-Yun-Portal: 1'
tap_eval "changing one's own password without old_password is refused" '[ "$(st)" = 403 ]'
web alice PUT /v1/users/alice/password '{"password":"new-alice-password","old_password":"alice-password"}' -H 'X-Yun-Portal: 1'
tap_eval "with old_password it is set" '[ "$(st)" = 200 ]'
web alice GET /v1/whoami
tap_eval "the changing browser stays logged in (new cookie)" '[ "$(st)" = 200 ]'
web second GET /v1/whoami
tap_eval "the other browser's session ended" '[ "$(st)" = 401 ] && grep -q "log in again" "$D/body"'

# the admin resets it: alice is logged out everywhere, the new password works, the old does not
adm PUT /v1/users/alice/password '{"password":"reset-by-admin"}'
tap_eval "the admin resets alice's password" '[ "$(st)" = 200 ]'
web alice GET /v1/whoami
tap_eval "and alice's sessions end" '[ "$(st)" = 401 ]'
web alice POST /v1/session '{"name":"alice","password":"new-alice-password"}'
tap_eval "the old password no longer works" '[ "$(st)" = 401 ]'
web alice POST /v1/session '{"name":"alice","password":"reset-by-admin"}'
tap_eval "the reset one does" '[ "$(st)" = 201 ]'
web alice PUT /v1/users/admin/password '{"password":"stolen-admin","old_password":"x"}' -H 'X-Yun-Portal: 1'
tap_eval "a user cannot set another user's password (404)" '[ "$(st)" = 404 ]'

web alice DELETE /v1/session '' -H 'X-Yun-Portal: 1'
tap_eval "logout answers 204 and clears the cookie" '[ "$(st)" = 204 ] && grep -i "^set-cookie:" "$D/headers" | grep -q "Max-Age=0"'
web alice GET /v1/whoami
tap_eval "after logout the API answers 401" '[ "$(st)" = 401 ]'

adm PUT /v1/settings/portal.registration '{"value":"maybe"}'
tap_eval "a bad registration value is 400" '[ "$(st)" = 400 ]'
adm PUT /v1/settings/portal.registration '{"value":"off"}'
curl -sS "$URL/v1/portal" >"$D/body"
tap_eval "GET /v1/portal tells the login page registration is off" 'jq -e ".registration == false" "$D/body" >/dev/null'
web bob POST /v1/register '{"name":"bob","password":"bob-password"}'
tap_eval "registration off: 403" '[ "$(st)" = 403 ] && grep -q "turned off" "$D/body"'

qemu-img create -q -f qcow2 "$D/tiny.qcow2" 64M
curl -sS -o "$D/body" -H "Authorization: Bearer $A" -T "$D/tiny.qcow2" "$URL/v1/images?name=tiny" >/dev/null
adm PUT /v1/settings/vm.max_cpus '{"value":"2"}'
adm POST /v1/vms '{"name":"big","image":"tiny","cpus":4,"memory":"64M"}'
tap_eval "a VM above vm.max_cpus is 400 naming the setting" '[ "$(st)" = 400 ] && grep -q "vm.max_cpus" "$D/body"'
adm PUT /v1/settings/price.cpu '{"value":"4.50"}'
adm GET /v1/resources
tap_eval "resources show the price and the limit" \
  'jq -e "(.items[] | select(.item == \"cpu\") | .price == \"4.50\" and .unit == \"core\") and .limits.max_cpus == 2" "$D/body" >/dev/null'
curl -sS -o "$D/body" -w '%{http_code}' "$URL/v1/resources" >"$D/status"
tap_eval "resources need a login (401)" '[ "$(st)" = 401 ]'
tap_done
