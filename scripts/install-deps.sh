#!/usr/bin/env bash
# Installs the Debian packages rlhf.c builds against, if any is missing.
# As root: apt-get install -y. Otherwise: names the missing packages and fails.
# Usage: scripts/install-deps.sh [EXTRA_PACKAGE ...]
set -euo pipefail
PKGS=(gcc make libopenblas-openmp-dev libdnnl-dev libjansson-dev libutf8proc-dev libmicrohttpd-dev
      libsqlite3-dev libssl-dev libopenmpi-dev openmpi-bin "$@")  # extra packages may be named
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "rlhf: missing Debian packages: ${missing[*]}" >&2
  echo "rlhf: install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "rlhf: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
