#!/usr/bin/env bash
# Installs the system packages the tests drive: Debian's chromium (the browser tests), node and npm (the
# TypeScript MCP client), and podman with its helpers (the image tests; tests/setup_podman.sh).
# Idempotent and quiet: a fresh Debian 12 machine (as CI) gets everything, a prepared one nothing new.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# Colour emoji for the page as users see it (the browser tests save a screenshot).
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "Missing ${need[*]}: install them with apt-get (needs root), then run the tests again." >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -x tests/setup_podman.sh ]; then
  bash tests/setup_podman.sh >/dev/null
fi
# The node packages of the independent MCP clients and checkers (tests/mcp_server/clients): npm ci from their lock files,
# skipped when already installed from the same ones.
bash tests/mcp_server/clients/install.sh
