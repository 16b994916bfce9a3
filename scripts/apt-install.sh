#!/usr/bin/env bash
# apt_install PACKAGE...: installs Debian packages quietly, as root or with
# sudo, refreshing the package lists only when the first try fails.
# apt_refresh: refreshes the package lists.
# Sourced by the scripts/ensure-*.sh scripts.

apt_sudo() {
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to run apt-get $*" >&2; return 1; }
    sudo "$@"
  else
    "$@"
  fi
}

apt_refresh() {
  apt_sudo apt-get update -qq
}

apt_install() {
  # env: sudo drops the caller's environment.
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@")
  apt_sudo "${install[@]}" >/dev/null 2>&1 || { apt_refresh && apt_sudo "${install[@]}" >/dev/null; }
}
