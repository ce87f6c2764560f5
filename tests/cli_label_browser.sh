#!/usr/bin/env bash
# tests/cli_label_browser.sh — the labelling page in headless Chromium (tests/label_browser.py,
# Selenium from the cached .venv of scripts/setup-venv.sh, Debian's chromium + chromium-driver
# installed by `make test`). Screenshots go to build/test-artifacts/. Without the browser or the
# environment the test says SKIPPED and passes — except on CI (CI=true), where it fails.
set -u
. "$(dirname "$0")/support/cli.sh" cli_label_browser
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${RLHF_VENV:-$root/.venv}
missing=""
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || missing="Debian packages chromium chromium-driver (make test installs them as root)"
[ -z "$missing" ] && ! "$root/scripts/setup-venv.sh" --quiet && missing="the Python environment (scripts/setup-venv.sh)"
[ -z "$missing" ] && ! "$venv/bin/python" -c "import selenium" 2>/dev/null && missing="selenium in $venv (scripts/setup-venv.sh)"
if [ -n "$missing" ]; then
  rm -rf "$T"
  if [ "${CI:-}" = true ]; then echo "FAIL the browser test cannot run: no $missing (CI=true: it must run)"; exit 1; fi
  echo "SKIPPED the labelling browser test: no $missing"
  exit 0
fi
art="$root/build/test-artifacts"
mkdir -p "$art" "$T/shots"
"$venv/bin/python" "$root/tests/label_browser.py" "$RLHF" "$T" "$T/shots" >"$T/b.log" 2>&1; rc=$?
sed 's/^/  /' "$T/b.log"
cp "$T"/shots/*.png "$art/" 2>/dev/null
[ -s "$art/label-page.png" ] && ok "screenshot saved: build/test-artifacts/label-page.png" || bad "screenshot saved"
[ $rc -eq 0 ] && ok "browser test (tests/label_browser.py)" || bad "browser test (tests/label_browser.py)"
cli_finish
