#!/usr/bin/env bash
# Installs the node packages of the independent MCP clients and checkers in tests/mcp_server/clients (TypeScript SDK,
# MCP Inspector, conformance suite): `npm ci` from each folder's package-lock.json, skipped when node_modules
# was installed from the same package.json and lock. Quiet; run by tests/setup_system.sh and by the tests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v npm >/dev/null || { echo "npm is needed for tests/mcp_server/clients: run tests/setup_system.sh" >&2; exit 1; }
for folder in ts inspector conformance; do
  dir="$here/$folder"
  want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
  stamp="$dir/node_modules/.installed-from"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
done
