#!/usr/bin/env bash
# Creates <repo>/.venv-tests, a CPython 3 virtualenv holding the PostgreSQL
# drivers that tests/it/python_clients.rs runs through the proxy: psycopg 3
# (psycopg[binary]), psycopg2 (psycopg2-binary) and asyncpg, and the Django
# ORM that tests/it/clients/django.rs runs over psycopg 3, from PyPI.
# Quick when they are already installed (it only tries the imports).
# Installs python3 (minimal systems have none) and python3-venv with apt-get
# when they are missing.
# Sourced by scripts/test; safe to run on its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

PY_DRIVERS_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY_DRIVERS_VENV="$PY_DRIVERS_REPO/.venv-tests"
PY_DRIVERS_IMPORTS="import psycopg, psycopg2, asyncpg, django"

if ! { [ -x "$PY_DRIVERS_VENV/bin/python" ] && "$PY_DRIVERS_VENV/bin/python" -c "$PY_DRIVERS_IMPORTS" 2>/dev/null; }; then
  if ! command -v python3 >/dev/null; then
    echo "python3 not found; installing python3 and python3-venv from the distribution's packages" >&2
    apt_install python3 python3-venv
  fi
  # A venv without pip (Debian's python3 without python3-venv fails half way) is made again.
  if ! { [ -x "$PY_DRIVERS_VENV/bin/python" ] && "$PY_DRIVERS_VENV/bin/python" -m pip --version >/dev/null 2>&1; }; then
    echo "creating $PY_DRIVERS_VENV" >&2
    if ! python3 -m venv --clear "$PY_DRIVERS_VENV" >/dev/null 2>&1; then
      echo "python3 -m venv is not usable; installing python3-venv from the distribution's packages" >&2
      # python3-venv depends on the interpreter's own pythonX.Y-venv.
      apt_install python3-venv
      python3 -m venv --clear "$PY_DRIVERS_VENV" \
        || { echo "python3 -m venv still fails after installing python3-venv" >&2; exit 1; }
    fi
  fi
  echo "installing psycopg[binary], psycopg2-binary, asyncpg and django into $PY_DRIVERS_VENV" >&2
  "$PY_DRIVERS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "psycopg[binary]" psycopg2-binary asyncpg django
  "$PY_DRIVERS_VENV/bin/python" -c "$PY_DRIVERS_IMPORTS" \
    || { echo "the drivers do not import from $PY_DRIVERS_VENV after pip install" >&2; exit 1; }
fi
