#!/usr/bin/env bash
# Installs Debian's chromium when no Chromium is on PATH: tests/it/cockpit.rs
# loads the proxy's status page in it, headless.
# Sourced by scripts/test; safe to run on its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  echo "chromium not found; installing it from the distribution's packages (a few minutes)" >&2
  apt_install chromium
  command -v chromium >/dev/null || { echo "installing chromium did not provide the chromium command" >&2; exit 1; }
fi
