#!/usr/bin/env bash
# Installs Debian's prometheus (the server and promtool) when promtool or
# prometheus is missing: tests/it/prometheus.rs checks deploy/prometheus/alerts.yml
# with `promtool check rules` and runs a throwaway Prometheus against a proxy.
# The package enables a system-wide Prometheus service on port 9090 where
# systemd runs; one this script installed is stopped and disabled again
# (the tests start their own, on a free port).
# Sourced by scripts/test; safe to run on its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  echo "prometheus/promtool not found; installing prometheus from the distribution's packages" >&2
  apt_install prometheus
  command -v promtool >/dev/null && command -v prometheus >/dev/null \
    || { echo "installing prometheus did not provide promtool and prometheus" >&2; exit 1; }
  if [ -d /run/systemd/system ] && systemctl is-enabled --quiet prometheus 2>/dev/null; then
    echo "disabling the prometheus service the package enabled" >&2
    apt_sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
