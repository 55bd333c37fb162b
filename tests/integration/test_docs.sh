#!/usr/bin/env bash
# The API reference stays true to the router: docs/openapi.yaml parses, and every route yund serves
# (src/api/router.c) is in it with its method, and in docs/api.md. TAP on stdout.
set -u
ROOT=${YUN_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" - "$ROOT" <<'EOF_PY'
import re, sys
root = sys.argv[1]
n = 0
failed = 0
def tap(ok, what):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print(("ok" if ok else "not ok") + f" {n} - {what}")
try:
    import yaml
    spec = yaml.safe_load(open(f"{root}/docs/openapi.yaml"))
    tap(isinstance(spec, dict) and "paths" in spec, "docs/openapi.yaml parses as YAML with paths")
except Exception as e:
    tap(False, f"docs/openapi.yaml parses as YAML: {e}")
    spec = {"paths": {}}
norm = lambda p: re.sub(r"\{[^}]*\}", "{}", p)
paths = {norm(p): {m.upper() for m in (ops or {}) if m.lower() in ("get", "put", "post", "patch", "delete")}
         for p, ops in spec.get("paths", {}).items()}
apimd = open(f"{root}/docs/api.md").read()
apimd_paths = {norm(p) for p in re.findall(r"(/(?:v1|metrics|healthz)[A-Za-z0-9_/{}.-]*)", apimd)}
routes = re.findall(r'\{"(GET|POST|PUT|PATCH|DELETE)", "([^"]+)"', open(f"{root}/src/api/router.c").read())
tap(len(routes) > 20, f"the router has its routes ({len(routes)})")
for method, path in routes:
    if path.startswith("/v1/agent/"):
        continue  # the agent protocol has its own page
    tap(method in paths.get(path, set()), f"{method} {path} is in docs/openapi.yaml")
    tap(path in apimd_paths, f"{path} is in docs/api.md")
print(f"1..{n}")
sys.exit(1 if failed else 0)
EOF_PY
