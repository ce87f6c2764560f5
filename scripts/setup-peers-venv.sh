#!/usr/bin/env bash
# scripts/setup-peers-venv.sh — the Python environment of `make bench-peers` (benchmarks only; the
# product never needs Python): PyTorch, transformers, accelerate, datasets and TRL at the versions
# pinned in bench/peers/requirements.txt, in a cached virtual environment (.venv-peers/ in the
# repository, git-ignored; RLHF_PEERS_VENV overrides the place). It is separate from the test
# environment (.venv/, Debian's torch 1.13), which is too old for current TRL.
#
# A ready environment is reused at once (the stamp holds a hash of the requirements' pins).
# Exit status: 0 ready; 3 unavailable (python3-venv missing and not root, or PyPI unreachable).
# Usage: scripts/setup-peers-venv.sh [--quiet]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${RLHF_PEERS_VENV:-$root/.venv-peers}
req=$root/bench/peers/requirements.txt
PY=/usr/bin/python3
quiet=${1:-}
say() { [ "$quiet" = --quiet ] || echo "rlhf: $*" >&2; }
stamp="$venv/.rlhf-peers-ready"
want=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$req" | sha256sum | cut -d' ' -f1)  # the pins, not the comments

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then exit 0; fi

start=$(date +%s)
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    say "the peers' environment needs the Debian package python3-venv (sudo apt-get install -y python3-venv)"
    exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; }; then
    say "apt-get could not install python3-venv"
    exit 3
  fi
fi

# built aside (no system site packages: Debian's torch 1.13 must not shadow the pinned one) and
# moved into place when complete
tmp="$venv.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv "$tmp"
say "installing the peers (bench/peers/requirements.txt: torch, transformers, TRL; ~5 GB) into $venv"
if ! "$tmp/bin/python" -m pip install -q --disable-pip-version-check --no-input --timeout 60 \
      --retries 2 -r "$req" >"$tmp/pip.log" 2>&1; then
  say "pip could not install the peers (PyPI unreachable?):"
  tail -n 5 "$tmp/pip.log" >&2
  exit 3
fi
TRL_EXPERIMENTAL_SILENCE=1 "$tmp/bin/python" -c 'import torch, transformers, trl, accelerate, datasets
from trl.experimental.ppo import PPOTrainer' || { say "the peers' environment does not import"; exit 3; }
echo "$want" >"$tmp/.rlhf-peers-ready"
rm -rf "$venv"
mv "$tmp" "$venv"
trap - EXIT
# the venv's scripts name their folder: rebuild those paths after the move
sed -i "s#$tmp#$venv#g" "$venv"/bin/activate* "$venv"/bin/pip* "$venv/pyvenv.cfg" 2>/dev/null || true
say "peers' environment ready in $(( $(date +%s) - start )) s"
