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

# pg_partman, for `switchyard maintain --partman` and its test: the package
# that matches the newest server found.
BINDIR=${SWITCHYARD_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
PG_MAJOR=$(basename "$(dirname "$BINDIR")")
SHAREDIR=$("$BINDIR/pg_config" --sharedir 2>/dev/null || echo "/usr/share/postgresql/$PG_MAJOR")
if ! compgen -G "$SHAREDIR/extension/pg_partman.control" >/dev/null; then
  echo "pg_partman not found for PostgreSQL $PG_MAJOR; installing postgresql-$PG_MAJOR-partman" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to apt-get install postgresql-$PG_MAJOR-partman" >&2; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends "postgresql-$PG_MAJOR-partman" >/dev/null \
    || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "postgresql-$PG_MAJOR-partman" >/dev/null; }
  compgen -G "$SHAREDIR/extension/pg_partman.control" >/dev/null \
    || { echo "installing postgresql-$PG_MAJOR-partman did not provide pg_partman" >&2; exit 1; }
fi
