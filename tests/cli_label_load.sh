#!/usr/bin/env bash
# tests/cli_label_load.sh — the labelling server under load and under SIGKILL (tests/label_load.py):
# 20 concurrent annotators x 100 submissions on loopback in ≤ 20 s with no error and nothing lost;
# a SIGKILL during a burst of submissions loses no acknowledged judgement, the SQLite file is
# intact, and a restarted server lets everyone finish.
set -u
. "$(dirname "$0")/support/cli.sh" cli_label_load
here=$(cd "$(dirname "$0")" && pwd)
for t in concurrency crash; do
  python3 "$here/label_load.py" $t "$RLHF" "$T" >"$T/$t.log" 2>&1; rc=$?
  sed 's/^/  /' "$T/$t.log"
  [ $rc -eq 0 ] && ok "label $t test" || bad "label $t test"
done
cli_finish
