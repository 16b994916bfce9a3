#!/usr/bin/env bash
# Installs the PostgreSQL server binaries (initdb, postgres, pg_ctl, pg_dump,
# pgbench) from the distribution's packages when they are missing.
# Sourced by scripts/test and scripts/demo; safe to run on its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

have_server() {
  [ -n "${SWITCHYARD_PG_BINDIR:-}" ] && [ -x "${SWITCHYARD_PG_BINDIR}/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if ! have_server || ! command -v psql >/dev/null; then
  echo "PostgreSQL server binaries not found; installing them from the distribution's packages" >&2
  apt_install postgresql postgresql-contrib postgresql-client
  have_server || { echo "installing postgresql did not provide initdb" >&2; exit 1; }
fi

# pg_partman, for `switchyard maintain --partman` and its test: the package
# that matches the newest server found.
BINDIR=${SWITCHYARD_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
PG_MAJOR=$(basename "$(dirname "$BINDIR")")
SHAREDIR=$("$BINDIR/pg_config" --sharedir 2>/dev/null || echo "/usr/share/postgresql/$PG_MAJOR")
if ! compgen -G "$SHAREDIR/extension/pg_partman.control" >/dev/null; then
  echo "pg_partman not found for PostgreSQL $PG_MAJOR; installing postgresql-$PG_MAJOR-partman" >&2
  apt_install "postgresql-$PG_MAJOR-partman"
  compgen -G "$SHAREDIR/extension/pg_partman.control" >/dev/null \
    || { echo "installing postgresql-$PG_MAJOR-partman did not provide pg_partman" >&2; exit 1; }
fi
