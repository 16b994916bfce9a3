#!/usr/bin/env bash
# Creates <repo>/.venv-tests, a CPython 3 virtualenv holding the PostgreSQL
# drivers that tests/python_clients.rs runs through the proxy: psycopg 3
# (psycopg[binary]), psycopg2 (psycopg2-binary) and asyncpg, from PyPI.
# Quick when they are already installed (it only tries the imports).
# Installs python3-venv with apt-get when `python3 -m venv` is missing.
# Sourced by scripts/test; safe to run on its own.
set -euo pipefail

PY_DRIVERS_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY_DRIVERS_VENV="$PY_DRIVERS_REPO/.venv-tests"
PY_DRIVERS_IMPORTS="import psycopg, psycopg2, asyncpg"

if ! { [ -x "$PY_DRIVERS_VENV/bin/python" ] && "$PY_DRIVERS_VENV/bin/python" -c "$PY_DRIVERS_IMPORTS" 2>/dev/null; }; then
  command -v python3 >/dev/null || { echo "python3 not found: install python3 (apt-get install python3)" >&2; exit 1; }
  # A venv without ensurepip (Debian's python3 without python3-venv) cannot install anything.
  if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    echo "python3 -m venv is not usable; installing python3-venv from the distribution's packages" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || { echo "need root or sudo to apt-get install python3-venv" >&2; exit 1; }
      SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    # python3-venv depends on the interpreter's own pythonX.Y-venv.
    $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null 2>&1 \
      || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; }
    python3 -c "import venv, ensurepip" 2>/dev/null \
      || { echo "installing python3-venv did not make python3 -m venv usable" >&2; exit 1; }
  fi
  if [ ! -x "$PY_DRIVERS_VENV/bin/python" ]; then
    echo "creating $PY_DRIVERS_VENV" >&2
    python3 -m venv "$PY_DRIVERS_VENV"
  fi
  echo "installing psycopg[binary], psycopg2-binary and asyncpg into $PY_DRIVERS_VENV" >&2
  "$PY_DRIVERS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "psycopg[binary]" psycopg2-binary asyncpg
  "$PY_DRIVERS_VENV/bin/python" -c "$PY_DRIVERS_IMPORTS" \
    || { echo "the drivers do not import from $PY_DRIVERS_VENV after pip install" >&2; exit 1; }
fi
