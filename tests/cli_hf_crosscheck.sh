#!/usr/bin/env bash
# tests/cli_hf_crosscheck.sh — rlhf.c against Hugging Face transformers on PyTorch, both ways
# (tests/hf_crosscheck.py: our folders load in transformers with the same logprobs and scores,
# and transformers' folders, fp32 and bf16, load in rlhf with the same numbers, to 1e-4).
# The Python environment is the cached .venv/ of scripts/setup-venv.sh (instant when present).
# Without it (no root for apt, apt or PyPI unreachable) the check says it was skipped and passes —
# except on CI (CI=true), where it must run and a missing environment fails.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
RLHF=${RLHF_BIN:-$root/build/rlhf}
venv=${RLHF_VENV:-$root/.venv}
T=$(mktemp -d "${RLHF_TEST_TMP:-/tmp}/hfx.XXXXXX")
trap 'rm -rf "$T"' EXIT
if ! "$root/scripts/setup-venv.sh" --quiet; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL the Hugging Face cross-check cannot run: scripts/setup-venv.sh failed (CI=true: it must run)"
    exit 1
  fi
  echo "SKIPPED the Hugging Face cross-check: no Python environment (scripts/setup-venv.sh could not"
  echo "        install python3-torch / transformers; run it to see why)"
  exit 0
fi
export OMP_NUM_THREADS=2
"$venv/bin/python" "$root/tests/hf_crosscheck.py" "$RLHF" "$T"
