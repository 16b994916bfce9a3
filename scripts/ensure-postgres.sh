#!/usr/bin/env bash
# Installs the PostgreSQL server binaries (initdb, postgres, pg_ctl, pg_dump,
# pgbench) and psql from the distribution's packages when they are missing,
# and pg_partman for the newest server found.
#
# Only the versioned server package (postgresql-N, which includes contrib) and
# its client are installed, not the `postgresql` meta package, and with
# postgresql-common's create_main_cluster switched off first: Switchyard's
# tests and demo start throwaway clusters of their own, and Debian would
# otherwise create and start a "main" cluster on port 5432 at boot.
# Sourced by scripts/test and scripts/demo; safe to run on its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

have_server() {
  [ -n "${SWITCHYARD_PG_BINDIR:-}" ] && [ -x "${SWITCHYARD_PG_BINDIR}/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

# The major version the distribution's `postgresql` meta package stands for.
distribution_pg_major() {
  apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1
}

# Keeps postgresql-N's postinst from creating (and enabling) the main cluster.
no_main_cluster() {
  local conf=/etc/postgresql-common/createcluster.conf sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  grep -Eq '^[[:space:]]*create_main_cluster[[:space:]]*=[[:space:]]*false' "$conf" 2>/dev/null && return 0
  echo "setting create_main_cluster = false in $conf (no cluster on port 5432)" >&2
  $sudo sed -i -E '/^[#[:space:]]*create_main_cluster[[:space:]]*=/d' "$conf"
  echo "create_main_cluster = false" | $sudo tee -a "$conf" >/dev/null
}

if ! have_server || ! command -v psql >/dev/null; then
  echo "PostgreSQL server binaries not found; installing them from the distribution's packages" >&2
  apt_install postgresql-common
  no_main_cluster
  PG_NEW=$(distribution_pg_major)
  if [ -z "$PG_NEW" ]; then
    apt_refresh
    PG_NEW=$(distribution_pg_major)
  fi
  [ -n "$PG_NEW" ] || { echo "the package lists name no postgresql-N server package" >&2; exit 1; }
  apt_install "postgresql-$PG_NEW" "postgresql-client-$PG_NEW"
  have_server || { echo "installing postgresql-$PG_NEW did not provide initdb" >&2; exit 1; }
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
