#!/usr/bin/env bash
# Runs every test: the unit-test binaries in BUILD/tests/ and the command-line tests tests/cli_*.sh.
# Prints each test's name, result and time; the last line is "N passed, N failed".
# Usage: tests/run.sh BUILD_DIR [NAME_FILTER]
set -u
build=${1:-build}
filter=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export RLHF_BIN="$root/$build/rlhf"
export RLHF_TEST_TMP=$(mktemp -d /tmp/rlhf-test.XXXXXX)
trap 'rm -rf "$RLHF_TEST_TMP"' EXIT
passed=0; failed=0; failed_names=()
tests=()
for t in "$build"/tests/test_*; do [ -x "$t" ] && tests+=("$t"); done
# command-line tests run with the binary of the same build (sanitized under make sanitize)
for t in tests/cli_*.sh; do [ -f "$t" ] && tests+=("$t"); done
for t in "${tests[@]}"; do
  name=$(basename "$t")
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
  log="$RLHF_TEST_TMP/$name.log"
  start=$(date +%s.%N)
  if [[ "$t" == *.sh ]]; then
    [ -n "${RLHF_VALGRIND:-}" ] && continue  # command-line tests: not under valgrind
    timeout 600 bash "$t" >"$log" 2>&1; rc=$?
  elif [ -n "${RLHF_VALGRIND:-}" ]; then
    timeout 900 valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
      "$t" >"$log" 2>&1; rc=$?
  else
    timeout 600 "$t" >"$log" 2>&1; rc=$?
  fi
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
  if [ $rc -eq 0 ]; then
    passed=$((passed+1)); printf 'PASS  %-40s %7.2fs\n' "$name" "$secs"
  else
    failed=$((failed+1)); failed_names+=("$name")
    printf 'FAIL  %-40s %7.2fs  (exit %d)\n' "$name" "$secs" "$rc"
    sed 's/^/    | /' "$log" | tail -n 40
  fi
done
[ $failed -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
