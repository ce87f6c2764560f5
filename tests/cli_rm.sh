#!/usr/bin/env bash
# tests/cli_rm.sh — `rlhf rm` end to end: --help, a tiny reward model from `rlhf init` on synthetic
# preferences (chosen responses end with "!"), the run folder, final/config.json's classification
# layout and normalisation keys, `rlhf score` applying the normalisation (the reference set's mean
# score ≈ 0; --raw gives the head's output), resume after kill -9 bit-identical, bad data → FILE:LINE,
# the run without prompt sharing agreeing with the shared one.
set -u
. "$(dirname "$0")/support/cli.sh" cli_rm

expect_rc 0 "rm --help" "$RLHF" rm --help
grep -q -- "--center" "$T/out" && grep -q "default" "$T/out" && ok "help lists --center with defaults" || bad "help lists --center with defaults"
expect_rc 2 "rm without --data" "$RLHF" rm --model x --out y

python3 - "$T" <<'PY'
import json, random, sys
T = sys.argv[1]; random.seed(1); w = "abcdefghij klmnop"
with open(T + "/prefs.jsonl", "w") as f, open(T + "/ref.jsonl", "w") as g, open(T + "/ref_ids.jsonl", "w") as h:
    for i in range(200):
        p = "Say something %d" % random.randint(0, 99)
        a = "".join(random.choice(w) for _ in range(random.randint(3, 10)))
        b = "".join(random.choice(w) for _ in range(random.randint(3, 10)))
        f.write(json.dumps({"prompt": p, "chosen": a + "!", "rejected": b + "."}) + "\n")
    for i in range(40):  # the normalisation's reference set, and the same rows as ids (plain template)
        p, c = "Tell me %d" % i, "".join(random.choice(w) for _ in range(random.randint(3, 10))) + "!"
        g.write(json.dumps({"prompt": p, "completion": c}) + "\n")
        ids = list(b"\n\nUser: " + p.encode() + b"\n\nAssistant:") + list((" " + c).encode()) + [256]
        h.write(json.dumps({"ids": ids}) + "\n")
PY
expect_rc 0 "init a tiny trunk" "$RLHF" init --out "$T/tiny" --layers 2 --heads 2 --embd 32 --ctx 64 --seed 2
ARGS=(--model "$T/tiny" --data "$T/prefs.jsonl" --steps 30 --batch 8 --lr 3e-3 --warmup 3
      --eval-every 10 --ckpt-every 5 --keep-checkpoints 3 --val-fraction 0.2 --center 0.01
      --norm-data "$T/ref.jsonl" --seed 4 --quiet)
expect_rc 0 "rm runs" "$RLHF" rm "${ARGS[@]}" --out "$T/a"
# prompt sharing: the same run with every row running its whole prompt (RLHF_PROMPT_SHARING=0)
# gives the same metrics up to summation order, forwarding more tokens
expect_rc 0 "rm without prompt sharing" env RLHF_PROMPT_SHARING=0 "$RLHF" rm "${ARGS[@]}" --out "$T/a0"
python3 "$(dirname "$0")/support/metrics_close.py" "$T/a" "$T/a0" \
  && ok "rm: shared prompts give the unshared run's metrics, fewer tokens" \
  || bad "rm: shared prompts give the unshared run's metrics, fewer tokens"
for f in config.json metrics.jsonl loss.svg final/config.json final/model.safetensors final/tokenizer_config.json; do
  [ -s "$T/a/$f" ] && ok "run has $f" || bad "run has $f"
done
python3 - "$T/a" <<'PY' && ok "metrics and final/config.json layout" || bad "metrics and final/config.json layout"
import json, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
assert len([r for r in rows if "loss" in r]) == 30
ev = [r for r in rows if "val_accuracy" in r]
assert len(ev) == 3 and ev[-1]["val_accuracy"] >= 0.95 and "val_margin" in ev[-1], ev
c = json.load(open(d + "/final/config.json"))
assert c["architectures"] == ["GPT2ForSequenceClassification"], c["architectures"]
assert c["id2label"] == {"0": "LABEL_0"} and c["pad_token_id"] != c["eos_token_id"]
assert isinstance(c["rlhf_reward_bias"], float) and c["rlhf_reward_gain"] == 1.0
assert c["rlhf_reward_norm"]["n"] == 40
PY
expect_rc 0 "score normalised" "$RLHF" score --model "$T/a/final" --data "$T/ref_ids.jsonl"
cp "$T/out" "$T/norm.out"
expect_rc 0 "score --raw" "$RLHF" score --model "$T/a/final" --data "$T/ref_ids.jsonl" --raw
python3 - "$T/norm.out" "$T/out" "$T/a/final/config.json" <<'PY' && ok "reference mean ≈ 0 after normalisation; --raw = raw" || bad "reference mean ≈ 0 after normalisation; --raw = raw"
import json, sys
n = [json.loads(l)["score"] for l in open(sys.argv[1])]
r = [json.loads(l)["score"] for l in open(sys.argv[2])]
b = json.load(open(sys.argv[3]))["rlhf_reward_bias"]
assert len(n) == 40 and abs(sum(n) / 40) < 1e-4, sum(n) / 40
assert abs(sum(r) / 40 + b) < 1e-4 and abs(b) > 1e-3, (sum(r) / 40, b)
assert all(abs(x - (y + b)) < 1e-5 for x, y in zip(n, r))
PY

# transformers loads final/ as GPT2ForSequenceClassification; its score = our --raw score
venv=${RLHF_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import transformers" 2>/dev/null; then
  "$venv/bin/python" - "$T/a/final" "$T/ref_ids.jsonl" "$T/out" <<'PY' && ok "transformers: same raw scores" || bad "transformers: same raw scores"
import json, sys, torch
from transformers import GPT2ForSequenceClassification
m, info = GPT2ForSequenceClassification.from_pretrained(sys.argv[1], output_loading_info=True)
assert not info["missing_keys"] and not info["unexpected_keys"], info
m.eval()
rows = [json.loads(l)["ids"] for l in open(sys.argv[2])][:8]
ours = [json.loads(l)["score"] for l in open(sys.argv[3])][:8]
with torch.no_grad():
    hf = [m(input_ids=torch.tensor([r])).logits[0, 0].item() for r in rows]
d = max(abs(a - b) for a, b in zip(hf, ours))
assert d < 1e-4, d
PY
else
  echo "skipped: transformers check (no .venv; tests/cli_hf_crosscheck.sh sets it up)"
fi

# interrupted run: kill -9 after a checkpoint, resume, compare bits
"$RLHF" rm "${ARGS[@]}" --out "$T/b" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f "$T/b/checkpoints/step-10/trainer_state.json" ] && break; sleep 0.01; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[ -d "$T/b/final" ] && echo "note: the run finished before it could be killed; resuming a finished run"
expect_rc 0 "resume after kill -9" "$RLHF" rm --resume --out "$T/b" --quiet
cmp -s "$T/a/final/model.safetensors" "$T/b/final/model.safetensors" && ok "resumed weights bit-identical" || bad "resumed weights bit-identical"
cmp -s "$T/a/final/config.json" "$T/b/final/config.json" && ok "resumed normalisation identical" || bad "resumed normalisation identical"

# bad data: FILE:LINE and exit 1; --skip-bad counts and goes on
{ head -3 "$T/prefs.jsonl"; echo '{"prompt": "x", "chosen": 5, "rejected": "y"}'; } >"$T/bad.jsonl"
expect_rc 1 "bad record" "$RLHF" rm --model "$T/tiny" --data "$T/bad.jsonl" --out "$T/c" --steps 2 --quiet
err_has "bad record names FILE:LINE and field" "bad.jsonl:4: field \"chosen\""
expect_rc 0 "--skip-bad" "$RLHF" rm --model "$T/tiny" --data "$T/bad.jsonl" --out "$T/d" --steps 2 --batch 2 --val-fraction 0 --skip-bad --quiet
err_has "--skip-bad reports the skipped line" "1 bad lines skipped"
expect_rc 1 "missing model" "$RLHF" rm --model "$T/none" --data "$T/prefs.jsonl" --out "$T/e" --quiet
cli_finish
