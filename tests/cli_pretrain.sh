#!/usr/bin/env bash
# tests/cli_pretrain.sh — the command line end to end: help texts, flag errors, a tiny pretraining
# run, resume after a kill -9 giving bit-identical weights, the memory estimate and refusal,
# sampling, and clear errors on bad data and bad model folders.
set -u
. "$(dirname "$0")/support/cli.sh" cli_pretrain

# help and flag errors
expect_rc 0 "rlhf --help" "$RLHF" --help
grep -q pretrain "$T/out" && grep -q sample "$T/out" && ok "help lists subcommands" || bad "help lists subcommands"
for c in pretrain sample bench demo; do
  expect_rc 0 "rlhf $c --help" "$RLHF" $c --help
  grep -q "default" "$T/out" || bad "$c --help shows defaults"
done
grep -q -- "--lr" <("$RLHF" pretrain --help) && ok "pretrain --help lists --lr" || bad "pretrain --help lists --lr"
expect_rc 2 "unknown command" "$RLHF" frobnicate
expect_rc 2 "unknown flag" "$RLHF" pretrain --data x --out y --bogus 1
grep -q -- "--bogus" "$T/err" && ok "unknown flag named" || bad "unknown flag named"
expect_rc 2 "bad number" "$RLHF" pretrain --data x --out y --lr abc
expect_rc 2 "missing required flag" "$RLHF" pretrain --out y

# a small corpus
for i in $(seq 1 400); do echo "the cat $i sat on the mat and the dog ran to the park."; done >"$T/corpus.txt"
ARGS=(--data "$T/corpus.txt" --layers 2 --heads 2 --embd 32 --ctx 32 --batch 4 --steps 40
      --eval-every 10 --ckpt-every 5 --keep-checkpoints 3 --lr 3e-3 --seed 5 --quiet)

expect_rc 0 "pretrain runs" "$RLHF" pretrain "${ARGS[@]}" --out "$T/a"
for f in config.json metrics.jsonl loss.svg final/config.json final/model.safetensors final/tokenizer_config.json; do
  [ -s "$T/a/$f" ] && ok "run has $f" || bad "run has $f"
done
[ "$(ls "$T/a/checkpoints" | wc -l)" -le 3 ] && ok "old checkpoints pruned" || bad "old checkpoints pruned"
python3 - "$T/a/metrics.jsonl" <<'PY' && ok "metrics: 40 steps, loss falls" || bad "metrics: 40 steps, loss falls"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
loss = [r["loss"] for r in rows if "loss" in r]
val = [r["val_loss"] for r in rows if "val_loss" in r]
assert len(loss) == 40, len(loss)
assert loss[-1] < loss[0] - 0.5, (loss[0], loss[-1])
assert len(val) == 4, val
PY
expect_rc 1 "refuses to overwrite a run" "$RLHF" pretrain "${ARGS[@]}" --out "$T/a"
grep -q -- "--resume" "$T/err" && ok "overwrite message suggests --resume" || bad "overwrite message suggests --resume"

# interrupted run: kill -9 after a checkpoint, resume, compare bits with the uninterrupted run
"$RLHF" pretrain "${ARGS[@]}" --out "$T/b" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f "$T/b/checkpoints/step-10/trainer_state.json" ] && break; sleep 0.02; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
if [ -d "$T/b/final" ]; then
  echo "note: the run finished before it could be killed; resuming a finished run"
fi
expect_rc 0 "resume after kill -9" "$RLHF" pretrain --resume --out "$T/b" --quiet
cmp -s "$T/a/final/model.safetensors" "$T/b/final/model.safetensors" && ok "resumed weights bit-identical" || bad "resumed weights bit-identical"
python3 - "$T/a/metrics.jsonl" "$T/b/metrics.jsonl" <<'PY' && ok "resumed metrics identical" || bad "resumed metrics identical"
import json, sys
def rows(p):
    out = {}
    for l in open(p):
        r = json.loads(l)
        key = (r["step"], "val" if "val_loss" in r else "train")
        out[key] = r.get("loss", r.get("val_loss"))
    return out
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert a == b, [k for k in a if a.get(k) != b.get(k)][:5]
PY
# extending a finished run continues from its last checkpoint
expect_rc 0 "resume with more steps" "$RLHF" pretrain --resume --out "$T/b" --steps 45 --quiet
[ "$(grep -c '"loss"' "$T/b/metrics.jsonl")" -eq 45 ] && ok "extended to 45 steps" || bad "extended to 45 steps"
expect_rc 1 "resume of nothing" "$RLHF" pretrain --resume --out "$T/none" --quiet

# memory estimate and refusal
expect_rc 0 "--memory" "$RLHF" pretrain --memory --layers 12 --heads 12 --embd 768 --ctx 1024 --batch 4 --seq 64
python3 -c "import json,sys; d=json.load(open('$T/out')); assert d['params'] > 8e7 and d['estimate_bytes'] > 4*d['params']" && ok "--memory JSON" || bad "--memory JSON"
expect_rc 1 "refuses a run that cannot fit" "$RLHF" pretrain --data "$T/corpus.txt" --out "$T/huge" --layers 64 --heads 32 --embd 8192 --ctx 2048 --batch 64
grep -q "GiB" "$T/err" && ok "refusal names the estimate" || bad "refusal names the estimate"
[ ! -e "$T/huge/final" ] && ok "nothing trained when refused" || bad "nothing trained when refused"

# sampling
expect_rc 0 "sample" "$RLHF" sample --model "$T/a/final" --prompt "the cat" -n 3 --max-new 20 --seed 3
[ "$(grep -c '^--- sample' "$T/out")" -eq 3 ] && ok "three samples printed" || bad "three samples printed"
"$RLHF" sample --model "$T/a/final" --prompt "the" -n 2 --max-new 10 --json --top-k 5 --top-p 0.9 >"$T/s1" 2>/dev/null
"$RLHF" sample --model "$T/a/final" --prompt "the" -n 2 --max-new 10 --json --top-k 5 --top-p 0.9 >"$T/s2" 2>/dev/null
cmp -s "$T/s1" "$T/s2" && python3 -c "
import json; rows=[json.loads(l) for l in open('$T/s1')]; assert len(rows)==2 and all('completion' in r for r in rows)" \
  && ok "sample --json deterministic" || bad "sample --json deterministic"
expect_rc 2 "sample bad --top-p" "$RLHF" sample --model "$T/a/final" --top-p 1.5

# bad inputs: data and model folders
printf '{"text": "fine"}\n{"text": 5}\n' >"$T/bad.jsonl"
expect_rc 1 "bad jsonl field" "$RLHF" pretrain --data "$T/bad.jsonl" --out "$T/c" --quiet
grep -q 'bad.jsonl:2: field "text"' "$T/err" && ok "error names file:line:field" || { bad "error names file:line:field"; cat "$T/err"; }
printf '{"text": "fine"}\n{"text": \n' >"$T/bad2.jsonl"
expect_rc 1 "invalid json line" "$RLHF" pretrain --data "$T/bad2.jsonl" --out "$T/d" --quiet
grep -q 'bad2.jsonl:2' "$T/err" && ok "invalid JSON line named" || bad "invalid JSON line named"
expect_rc 1 "missing data file" "$RLHF" pretrain --data "$T/nope.txt" --out "$T/e" --quiet
cp -r "$T/a/final" "$T/broken"
head -c 1000 "$T/a/final/model.safetensors" >"$T/broken/model.safetensors"
expect_rc 1 "truncated weights" "$RLHF" sample --model "$T/broken"
grep -q "model.safetensors" "$T/err" && ok "truncated weights named" || bad "truncated weights named"
expect_rc 1 "model folder missing" "$RLHF" sample --model "$T/nothing"

cli_finish
