#!/usr/bin/env bash
# Installs what tests/it/clients/node.rs needs when it is missing: Node.js and
# npm from the distribution's packages, and node-postgres (pg, pg-cursor)
# from npm into tests/node/node_modules, at the versions tests/node/
# package-lock.json pins (npm ci). Quick when they are installed already.
# Sourced by scripts/test; safe to run on its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

NODE_SUITE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/node"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing Node.js and npm from the distribution's packages" >&2
  apt_install nodejs npm
  command -v node >/dev/null || { echo "installing nodejs did not provide node" >&2; exit 1; }
  command -v npm >/dev/null || { echo "installing npm did not provide npm" >&2; exit 1; }
fi

# Installed again when the lock file changed since the last install.
if ! { [ -f "$NODE_SUITE_DIR/node_modules/.package-lock.json" ] \
       && [ "$NODE_SUITE_DIR/node_modules/.package-lock.json" -nt "$NODE_SUITE_DIR/package-lock.json" ] \
       && (cd "$NODE_SUITE_DIR" && node -e "require('pg'); require('pg-cursor')") 2>/dev/null; }; then
  echo "installing pg and pg-cursor into $NODE_SUITE_DIR/node_modules" >&2
  (cd "$NODE_SUITE_DIR" && npm ci --silent --no-audit --no-fund) \
    || { echo "npm ci in $NODE_SUITE_DIR failed" >&2; exit 1; }
fi
