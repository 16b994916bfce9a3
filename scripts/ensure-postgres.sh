#!/usr/bin/env bash
# Installs the PostgreSQL server binaries (initdb, postgres, pg_ctl, pg_dump,
# pgbench) from the distribution's packages when they are missing.
# Sourced by scripts/test and scripts/demo; safe to run on its own.
set -euo pipefail

have_server() {
  [ -n "${SWITCHYARD_PG_BINDIR:-}" ] && [ -x "${SWITCHYARD_PG_BINDIR}/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if ! have_server || ! command -v psql >/dev/null; then
  echo "PostgreSQL server binaries not found; installing them from the distribution's packages" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to apt-get install postgresql" >&2; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # The server package, without letting it start a cluster of its own.
  $SUDO apt-get install -y -qq --no-install-recommends postgresql postgresql-contrib postgresql-client >/dev/null
  have_server || { echo "installing postgresql did not provide initdb" >&2; exit 1; }
fi
