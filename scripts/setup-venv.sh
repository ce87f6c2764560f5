#!/usr/bin/env bash
# scripts/setup-venv.sh — the Python environment of the tests that need Python packages (tests
# only; the product never needs Python): Debian's python3-torch (CPU build, no multi-gigabyte CUDA
# wheels) plus a pinned `transformers` release from PyPI that supports that torch (the Hugging
# Face cross-check), and a pinned `selenium` (the labelling app's browser test, driving Debian's
# chromium through /usr/bin/chromedriver), in a cached virtual environment (.venv/ in the
# repository, git-ignored; RLHF_VENV overrides the place).
#
# A ready environment is reused at once (the stamp file names the pinned version). Exit status:
# 0 ready; 3 unavailable (not root and python3-torch missing, or apt / PyPI unreachable): the
# cross-check then says it was skipped — except on CI (CI=true), where it fails.
# Usage: scripts/setup-venv.sh [--quiet]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${RLHF_VENV:-$root/.venv}
# Debian 12's python3-torch is 1.13.1; transformers 4.40 is the last line tested against torch
# 1.11-1.13 (setup.py: torch>=1.11,!=1.12.0) and reads/writes safetensors by default.
# selenium 4.27 speaks W3C WebDriver to any current chromedriver; the tests name the driver's
# path, so Selenium Manager never downloads one.
PIN="transformers==4.40.2 selenium==4.27.1"
PY=/usr/bin/python3
quiet=${1:-}
say() { [ "$quiet" = --quiet ] || echo "rlhf: $*" >&2; }
stamp="$venv/.rlhf-ready"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PIN" ] && [ -x "$venv/bin/python" ]; then exit 0; fi

start=$(date +%s)
# 1. Debian packages: torch (with numpy), venv
need=()
"$PY" -c 'import torch' 2>/dev/null || need+=(python3-torch)
"$PY" -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
"$PY" -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "the Hugging Face cross-check needs Debian packages: ${need[*]} (sudo apt-get install -y ${need[*]})"
    exit 3
  fi
  say "installing Debian packages for the cross-check: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
    say "apt-get could not install ${need[*]}"
    exit 3
  fi
fi

# 2. the virtual environment, built aside and moved into place when complete
tmp="$venv.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv --system-site-packages "$tmp"
say "installing $PIN from PyPI into $venv"
if ! "$tmp/bin/python" -m pip install -q --disable-pip-version-check --no-input --timeout 30 \
      --retries 2 $PIN >"$tmp/pip.log" 2>&1; then
  say "pip could not install $PIN (PyPI unreachable?):"
  tail -n 5 "$tmp/pip.log" >&2
  exit 3
fi
"$tmp/bin/python" -c 'import torch, transformers, safetensors, selenium' || { say "the environment does not import"; exit 3; }
echo "$PIN" >"$tmp/.rlhf-ready"
# the venv's scripts name their folder: rebuild those paths after the move
rm -rf "$venv"
mv "$tmp" "$venv"
trap - EXIT
sed -i "s#$tmp#$venv#g" "$venv"/bin/activate* "$venv"/bin/pip* 2>/dev/null || true
sed -i "s#$tmp#$venv#g" "$venv/pyvenv.cfg" 2>/dev/null || true
say "Python environment for the tests ready in $(( $(date +%s) - start )) s"
