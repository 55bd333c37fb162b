#!/usr/bin/env bash
# One path for every change: only the controller (src/ctl) and the store itself (src/store) call the store's
# write functions, so each change to VMs, hosts, users, images, sessions or settings is made, checked and
# announced to the agents in one place (DESIGN.md: "api reads from store; writes go through ctl").
#
# The write functions are derived from src/store/store.h: every store_* function it declares except the
# reads (get, list, each, count, usage, shared) and opening/closing (store_pool_* too: it opens and closes stores), so a write added to the store later is caught
# without editing this file. TAP on stdout; each offending call is named file:line.
#
#   bash tests/unit/test_store_writes.sh [SOURCE_ROOT]
set -uo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
HDR=$ROOT/src/store/store.h

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }

writes=()
while read -r fn; do
  case $fn in
    store_open | store_close | store_schema_version | store_shared | store_usage | store_pool_*) ;;
    *_get | *_get_by_* | *_list | *_each | *_count) ;;
    *) writes+=("$fn") ;;
  esac
done < <(grep -oE '\bstore_[a-z0-9_]+\(' "$HDR" | tr -d '(' | sort -u)

# the derivation itself must see the writes it exists for, or the check below would pass on nothing
missing=""
for must in store_begin store_vm_create store_vm_update store_vm_delete store_host_update store_user_create \
  store_image_create store_setting_set store_session_create; do
  [[ " ${writes[*]} " == *" $must "* ]] || missing="$missing $must"
done
if [ -z "$missing" ]; then
  ok "store.h declares ${#writes[@]} write functions (${writes[*]})"
else
  notok "the write functions derived from store.h miss:$missing"
fi

pattern="\\b($(IFS='|'; echo "${writes[*]}"))[[:space:]]*\\("
offenders=$(cd "$ROOT" && grep -rnE "$pattern" src --include='*.c' --include='*.h' |
  grep -vE '^src/(ctl|store)/' | sed -E 's/^([^:]+:[0-9]+):.*\b(store_[a-z0-9_]+)[[:space:]]*\(.*/\1: \2/')
if [ -z "$offenders" ]; then
  ok "no file outside src/ctl and src/store calls a store write"
else
  notok "store writes outside src/ctl and src/store (make each change through a ctl_* function):"
  printf '%s\n' "$offenders" | sed 's/^/# /'
fi

echo "1..$n"
[ "$failed" -eq 0 ]
