#!/usr/bin/env bash
# apt_install PACKAGE...: installs Debian packages quietly, as root or with
# sudo, refreshing the package lists only when the first try fails.
# Sourced by the scripts/ensure-*.sh scripts.

apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to apt-get install $*" >&2; return 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}
