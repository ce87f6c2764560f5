#!/usr/bin/env bash
# tests/cli_data.sh — `rlhf data-stats`: record counts per shape, token-length percentiles,
# what shared prompts save on comparison rows, truncation counts, bad lines listed with FILE:LINE
# messages, exit codes (0 good, 1 bad lines or unreadable file, 2 usage), --skip-bad, and a
# trained BPE's special-token chat form.
set -u
. "$(dirname "$0")/support/cli.sh" cli_data
out_has() { if grep -qF -- "$2" "$T/out"; then ok "$1"; else bad "$1 (stdout lacks: $2)"; sed 's/^/     /' "$T/out" | head -30; fi; }

cat >"$T/good.jsonl" <<'EOF2'
{"text": "hello world"}
{"prompt": "Hi", "completion": "Hello!"}
{"messages": [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
{"instruction": "Add", "input": "1 2", "output": "3"}
{"prompt": "Q", "chosen": "good", "rejected": "bad", "margin": 1.5}

{"chosen": "\n\nHuman: hi\n\nAssistant: yes", "rejected": "\n\nHuman: hi\n\nAssistant: no"}
{"prompt": "Q", "responses": ["a", "b", "c"], "ranking": [2, [0, 1]]}
{"prompt": "Q", "answer": "42"}
EOF2
expect_rc 0 "data-stats --help" "$RLHF" data-stats --help
out_has "--help shows defaults" "default"
expect_rc 0 "data-stats on good data" "$RLHF" data-stats "$T/good.jsonl"
out_has "good/bad counts" "records: 8 good, 0 bad"
for s in "text " "prompt/completion " "messages " "instruction/input/output " "prompt/responses/ranking " "prompt "; do
  grep -qE "^  $s +1$" "$T/out" && ok "one $s record" || bad "one $s record"
done
grep -qE "^  prompt/chosen/rejected +2$" "$T/out" && ok "two preference records" || bad "two preference records"
out_has "pairs: 1 + 1 + 2 (a tie dropped)" "comparison pairs: 4 (ties dropped)"
out_has "implicit prompts counted" "implicit prompts: 1"
out_has "byte tokenizer: plain template" "chat template: plain text (tokenizer: bytes"
python3 - "$T/out" <<'PY' && ok "percentile table: p50 p90 p99 max count" || bad "percentile table"
import sys
rows = {l.split()[0]: l.split()[1:] for l in open(sys.argv[1]) if l.startswith("  ") and len(l.split()) == 6}
p, r, t = rows["prompt"], rows["response"], rows["total"]
assert int(p[4]) == 7 and int(r[4]) == 11 and int(t[4]) == 12, (p, r, t)
for row in (p, r, t):
    v = list(map(int, row[:4]))
    assert v == sorted(v), row
# the longest total is the messages record: "\n\nSystem: Be nice.\n\nUser: Hi\n\nAssistant:" (40) + " Hello" + EOS (7)
assert int(t[3]) == 47, t
PY
# what prompt sharing saves on comparison rows: the plain template's prompt "\n\nUser: Q\n\nAssistant:"
# is 21 tokens, " good" / " bad" / " a" + EOS 6 / 5 / 3: written out 27 + 26 + 3·24 = 125 tokens;
# shared 27 + (1 + 5) + 24 + 2·(1 + 3) = 65 (the SFT record does not count)
printf '%s\n' '{"prompt": "Q", "chosen": "good", "rejected": "bad"}' \
  '{"prompt": "Q", "responses": ["a", "b", "c"], "ranking": [2, [0, 1]]}' \
  '{"prompt": "Hi", "completion": "Hello!"}' >"$T/cmp.jsonl"
expect_rc 0 "data-stats on comparisons" "$RLHF" data-stats "$T/cmp.jsonl"
out_has "comparison rows with and without shared prompts" "comparison rows: 125 tokens, 65 with each prompt run once (48% fewer"
expect_rc 0 "data-stats --max-len 30" "$RLHF" data-stats "$T/good.jsonl" --max-len 30
out_has "truncation counted" "max-len 30: 2 records truncated"
expect_rc 0 "data-stats --max-len 8" "$RLHF" data-stats "$T/good.jsonl" --max-len 8
out_has "records that cannot fit are counted" "7 cannot fit"

cat >"$T/bad.jsonl" <<'EOF2'
{"prompt": "Q", "chosen": "good", "rejected": "bad"}
{"prompt": "Q", "chosen": 3, "rejected": "bad"}
not json
[1, 2]
{"messages": [{"role": "bot", "content": "x"}]}
{"prompt": "Q", "responses": ["a", "b"], "ranking": [0, 5]}
{"text": "fine"}
EOF2
expect_rc 1 "bad lines: exit 1" "$RLHF" data-stats "$T/bad.jsonl"
out_has "counts good and bad" "records: 2 good, 5 bad"
out_has "wrong type, precise" "$T/bad.jsonl:2: field \"chosen\": expected string or list of messages, got number"
out_has "invalid JSON" "$T/bad.jsonl:3: invalid JSON:"
out_has "not an object" "$T/bad.jsonl:4: expected a JSON object, got array"
out_has "bad role" "$T/bad.jsonl:5: field \"messages\"[0].role: expected \"system\", \"user\" or \"assistant\", got \"bot\""
out_has "bad ranking index" "$T/bad.jsonl:6: field \"ranking\"[1]: index 5 is out of range: there are 2 responses (indices 0..1)"
err_has "stderr names --skip-bad" "--skip-bad"
expect_rc 0 "--skip-bad: exit 0" "$RLHF" data-stats "$T/bad.jsonl" --skip-bad
out_has "--skip-bad still lists the problems" "problems (5 bad lines)"
expect_rc 0 "--max-problems 2" "$RLHF" data-stats "$T/bad.jsonl" --skip-bad --max-problems 2
n=$(grep -c "^  $T/bad.jsonl:" "$T/out"); [ "$n" -eq 2 ] && ok "only 2 problems listed" || bad "only 2 problems listed (got $n)"
expect_rc 1 "missing file: exit 1" "$RLHF" data-stats "$T/none.jsonl"
err_has "missing file named" "$T/none.jsonl: cannot open"
expect_rc 2 "no FILE: exit 2" "$RLHF" data-stats
expect_rc 2 "unknown flag: exit 2" "$RLHF" data-stats "$T/good.jsonl" --bogus

# a trained BPE has the role tokens: the special form
printf 'Hello there. How are you? Fine, thanks. Q good bad\n%.0s' $(seq 30) >"$T/corpus.txt"
if "$RLHF" tokenizer-train --data "$T/corpus.txt" --vocab-size 300 --out "$T/tok" >/dev/null 2>&1; then
  expect_rc 0 "data-stats --tokenizer BPE" "$RLHF" data-stats "$T/good.jsonl" --tokenizer "$T/tok"
  out_has "BPE with role tokens: special template" "chat template: special role tokens (tokenizer: BPE"
  expect_rc 0 "--plain-template" "$RLHF" data-stats "$T/good.jsonl" --tokenizer "$T/tok" --plain-template
  out_has "--plain-template forces the plain form" "chat template: plain text (tokenizer: BPE"
else
  bad "tokenizer-train for the BPE check"
fi

cli_finish
