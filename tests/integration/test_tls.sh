#!/usr/bin/env bash
# yund serves HTTPS only (src/api/tls.c): its own CA and certificate in STATE/tls, kept across restarts; the CLI
# refuses a certificate it does not trust and says how to trust it; --ca, YUN_CA, --pin and a saved login
# trust it; plain HTTP is refused with a hint; an operator's certificate and key are served, a mismatched pair
# refused at start; the session cookie is Secure. A yund on the fake hypervisor; TAP on stdout.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cloud.sh"

D=$YUN_TEST_DIR
S=$D/state
yund_start "$S" none || { tap_fail "yund starts"; tap_done; exit 1; }
tap_eval "yund made its CA and certificate in STATE/tls, keys 0600" \
  '[ -s "$S/tls/ca.pem" ] && [ "$(stat -c %a "$S/tls/key.pem")" = 600 ] && [ "$(stat -c %a "$S/tls/ca.key")" = 600 ]'
tap_eval "the certificate verifies against the CA and names 127.0.0.1" \
  'openssl verify -CAfile "$S/tls/ca.pem" "$S/tls/cert.pem" >/dev/null && openssl x509 -in "$S/tls/cert.pem" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.1"'
PIN=$(grep -o 'pin sha256//[^ ]*' "$S/yund.log" | tail -1 | cut -d' ' -f2)
OPENSSL_PIN=sha256//$(openssl x509 -in "$S/tls/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
tap_eval "yund logs its key's pin, the SHA-256 of its SubjectPublicKeyInfo" '[ -n "$PIN" ] && [ "$PIN" = "$OPENSSL_PIN" ]'

# the CLI with no trust given (no YUN_CA; run elsewhere than a yund's folder)
untrusted() { (cd "$D" && env -u YUN_CA -u YUN_PIN HOME="$D" XDG_CONFIG_HOME= "$YUN_BIN/yun" "$@"); }
out=$(untrusted vm list 2>&1)
rc=$?
tap_eval "the CLI refuses a certificate it does not trust (exit 1) and says how to trust it" \
  '[ $rc = 1 ] && grep -q "refusing https://" <<<"$out" && grep -q -- "--ca FILE" <<<"$out" && grep -q -- "--pin" <<<"$out"'
out=$(untrusted --ca "$S/tls/ca.pem" vm list 2>&1) && tap_ok "--ca trusts it" || tap_fail "--ca: $out"
out=$(cd "$D" && env -u YUN_PIN YUN_CA="$S/tls/ca.pem" HOME="$D" XDG_CONFIG_HOME= "$YUN_BIN/yun" vm list 2>&1) && tap_ok "YUN_CA trusts it" || tap_fail "YUN_CA: $out"
out=$(untrusted --pin "$PIN" vm list 2>&1) && tap_ok "--pin with yund's pin trusts it" || tap_fail "--pin: $out"
out=$(untrusted --pin "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" vm list 2>&1)
tap_eval "another pin is refused" '[ $? != 0 ] && grep -q "pinned public key" <<<"$out"'
# a CA of another yund is not this one's
mkdir -p "$D/other"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other -days 2 \
  -keyout "$D/other/key.pem" -out "$D/other/ca.pem" 2>/dev/null
out=$(untrusted --ca "$D/other/ca.pem" vm list 2>&1)
tap_eval "another CA is refused" '[ $? != 0 ] && grep -q "refusing" <<<"$out"'
out=$(untrusted --url "http://127.0.0.1:$YUND_PORT" vm list 2>&1)
tap_eval "plain HTTP gets nothing, and the CLI says to use https://" '[ $? != 0 ] && grep -q "use https://" <<<"$out"'
out=$(untrusted login "$YUN_URL" --token "$YUN_TOKEN" --ca "$S/tls/ca.pem" 2>&1) &&
  grep -q "^ca = $S/tls/ca.pem$" "$D/.config/yun/config" && tap_ok "login saves the CA in the config" ||
  tap_fail "login --ca: $out"
out=$(untrusted vm list 2>&1) && tap_ok "the saved login's CA is trusted" || tap_fail "saved login: $out"
rm -f "$D/.config/yun/config"
# the session cookie
admin_api PUT /v1/users/admin/password '{"password":"admin-password"}' >/dev/null
curl -sS -o /dev/null -D "$D/headers" -X POST -H 'Content-Type: application/json' -H 'X-Yun-Portal: 1' \
  -d '{"name":"admin","password":"admin-password"}' "$YUN_URL/v1/session"
tap_eval "the session cookie is Secure" 'grep -i "^set-cookie: yun_session=" "$D/headers" | grep -q "; Secure;"'

# a restart keeps the CA and the key
ca1=$(sha256sum <"$S/tls/ca.pem")
yund_stop
yund_start "$S" none || tap_fail "yund starts again"
tap_eval "a restart keeps the CA and the key (same pin)" \
  '[ "$(sha256sum <"$S/tls/ca.pem")" = "$ca1" ] && grep -o "pin sha256//[^ ]*" "$S/yund.log" | tail -1 | grep -qF "$PIN"'
yund_stop

# the operator's certificate and key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=op -days 30 \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$D/op.key" -out "$D/op.pem" 2>/dev/null
S2=$D/state2
mkdir -p "$S2"
"$YUN_BIN/yund" --state-dir "$S2" --listen "127.0.0.1:$YUND_PORT" --tls-cert "$D/op.pem" --tls-key "$D/op.key" \
  >>"$S2/yund.log" 2>&1 &
YUND_PID=$!
wait_until 30 "yund with the operator's certificate answers" curl -fsS --cacert "$D/op.pem" "$YUN_URL/healthz" &&
  tap_ok "yund starts with --tls-cert/--tls-key" || tap_fail "yund starts with --tls-cert/--tls-key"
out=$(untrusted --url "$YUN_URL" --token "$(cat "$S2/admin.token")" --ca "$D/op.pem" vm list 2>&1) &&
  tap_ok "the operator's certificate is served and trusted through it" || tap_fail "operator's certificate: $out"
tap_eval "nothing of yund's own is made then" '[ ! -e "$S2/tls/ca.pem" ]'
yund_stop
out=$(timeout 20 "$YUN_BIN/yund" --state-dir "$D/state3" --listen 127.0.0.1:0 --tls-cert "$D/op.pem" \
  --tls-key "$D/other/key.pem" 2>&1)
tap_eval "a key that is not the certificate's is refused at start, saying so" \
  '[ $? != 0 ] && grep -q "is not the key of the certificate" <<<"$out"'
tap_done
