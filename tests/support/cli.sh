# tests/support/cli.sh — the helpers every tests/cli_*.sh sources: the binary under test, a temp
# folder, pass/fail bookkeeping, and checks on a command's exit status and messages.
# Usage: . "$(dirname "$0")/support/cli.sh" NAME   … then end the script with: cli_finish
RLHF=${RLHF_BIN:-build/rlhf}
T=$(mktemp -d "${RLHF_TEST_TMP:-/tmp}/${1:-cli}.XXXXXX")
fails=0
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails+1)); }
expect_rc() {  # expect_rc WANT DESC CMD...: stdout → $T/out, stderr → $T/err
  local want=$1 desc=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [ "$rc" -eq "$want" ]; then ok "$desc"; else bad "$desc (exit $rc, wanted $want)"; sed 's/^/     /' "$T/err" | head -5; fi
}
err_has() {  # err_has DESC TEXT: the last command's stderr contains TEXT (fixed string)
  if grep -qF -- "$2" "$T/err"; then ok "$1"; else bad "$1 (stderr lacks '$2')"; sed 's/^/     /' "$T/err" | head -3; fi
}
bf16_unavailable() {  # bf16_unavailable DESC [LOG]: after a failed --bf16 run: ok (SKIPPED) when LOG
  # ($T/err) says oneDNN has no bf16 matmul on this CPU, else a failure showing the error
  if grep -qF "no bf16 matmul on this CPU" "${2:-$T/err}"; then ok "$1 refused with its reason here (SKIPPED)"
  else bad "$1"; sed 's/^/     /' "$T/err" | head -5; fi
}
cli_finish() {  # removes the temp folder, prints the count, exits non-zero on any failure
  rm -rf "$T"
  echo "$(basename "$0" .sh): $fails failed"
  [ "$fails" -eq 0 ]
  exit $?
}
