#!/usr/bin/env bash
# Installs the node packages the tests run: the independent MCP clients and checkers in tests/mcp_server/clients
# (TypeScript SDK, MCP Inspector, conformance suite) and the OpenID Connect provider in devtools/oidc_provider
# (oidc-provider, driven by devtools/oidc.py). `npm ci` from each folder's package-lock.json, skipped when
# node_modules was installed from the same package.json and lock. Quiet; run by tests/setup_system.sh and by the tests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
command -v npm >/dev/null || { echo "npm is needed for the tests' node packages: run tests/setup_system.sh" >&2; exit 1; }
for dir in "$here/ts" "$here/inspector" "$here/conformance" "$root/devtools/oidc_provider"; do
  want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
  stamp="$dir/node_modules/.installed-from"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
done
