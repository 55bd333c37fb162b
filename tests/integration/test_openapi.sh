#!/usr/bin/env bash
# docs/openapi.yaml is valid OpenAPI 3.0 by a standard validator (tests/integration/openapi_check.mjs:
# @apidevtools/swagger-parser from npm). And the check can fail: the same document with one flow-style
# description holding an unquoted comma (the mistake that once gave MetricsSeries an extra key `t`) is rejected.
. "$(dirname "$0")/lib.sh"

CHECK=$YUN_ROOT/tests/integration/openapi_check.mjs
if out=$(node "$CHECK" "$YUN_ROOT/docs/openapi.yaml" 2>&1); then
  tap_ok "docs/openapi.yaml is valid OpenAPI ($out)"
else
  tap_fail "docs/openapi.yaml is not valid OpenAPI"
  printf '%s\n' "$out" | sed 's/^/# /'
fi
BAD=$YUN_TEST_DIR/openapi-bad.yaml
sed 's|description: "bucket starts, ms since the epoch"|description: bucket starts, ms since the epoch|' \
  "$YUN_ROOT/docs/openapi.yaml" >"$BAD"
if cmp -s "$BAD" "$YUN_ROOT/docs/openapi.yaml"; then
  tap_fail "the broken copy differs from docs/openapi.yaml (MetricsSeries.t's description not found)"
elif out=$(node "$CHECK" "$BAD" 2>&1); then
  tap_fail "the validator accepts a description that grows an extra key"
else
  tap_ok "the validator rejects a description that grows an extra key: $(head -2 <<<"$out" | tail -1)"
fi
tap_done
