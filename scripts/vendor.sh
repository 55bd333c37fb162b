#!/usr/bin/env bash
# Copies the portal's browser packages from node_modules/ (npm ci, from package-lock.json) into www/vendor/,
# which is not committed. Run by `make build`; safe to run again. No bundler: the pages import these files
# as ES modules, so the only change made is pointing preact/hooks at preact by a relative path (a bare
# "preact" import would need an inline import map, which the portal's Content-Security-Policy forbids).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ ! -d node_modules/preact ] || [ ! -d node_modules/@novnc/novnc ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  command -v npm >/dev/null || { echo "vendor: npm is missing: run scripts/deps.sh (Debian's npm)" >&2; exit 1; }
  echo "vendor: npm ci (packages from package-lock.json)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
out=www/vendor
mkdir -p www
tmp=$(mktemp -d www/.vendor.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/preact" "$tmp/htm" "$tmp/uplot" "$tmp/novnc"
cp node_modules/preact/dist/preact.module.js "$tmp/preact/"
sed 's#from"preact"#from"./preact.module.js"#' node_modules/preact/hooks/dist/hooks.module.js >"$tmp/preact/hooks.module.js"
grep -q 'from"./preact.module.js"' "$tmp/preact/hooks.module.js" || { echo "vendor: preact/hooks no longer imports \"preact\" as expected" >&2; exit 1; }
cp node_modules/htm/dist/htm.module.js "$tmp/htm/"
cp node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css "$tmp/uplot/"
cp -r node_modules/@novnc/novnc/core node_modules/@novnc/novnc/vendor "$tmp/novnc/"
for p in preact htm uplot @novnc/novnc; do
  cp node_modules/"$p"/LICENSE* "$tmp/$(basename "$p")/" 2>/dev/null || true
done
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "vendor: www/vendor ready" >&2
