#!/usr/bin/env bash
# tests/cli_dpo.sh — `rlhf dpo` end to end on a tiny byte-tokenizer model from `rlhf init`: the run
# folder (config.json, metrics.jsonl with the DPO metrics and validation rows, final/ = the policy
# with the tokenizer), step 0 at log 2, resume after kill -9 giving bit-identical final weights,
# IPO and label smoothing, bad data → FILE:LINE and exit 1, --help with defaults; the run without
# prompt sharing agrees with the shared one.
set -u
. "$(dirname "$0")/support/cli.sh" cli_dpo

expect_rc 0 "dpo --help" "$RLHF" dpo --help
for f in --model --data --out --beta --loss --label-smoothing --batch --grad-accum --lr --schedule \
         --warmup --steps --eval-every --ckpt-every --resume --seed --max-len --val-fraction --val \
         --skip-bad --plain-template --memory; do
  grep -q -- "$f" "$T/out" || bad "dpo --help lists $f"
done
grep -q -- "--beta FLOAT.*(default 0.1)" "$T/out" && ok "dpo --help shows defaults (β 0.1)" || bad "dpo --help shows defaults (β 0.1)"
"$RLHF" --help 2>&1 | grep -q "^  dpo " && ok "rlhf --help lists dpo" || bad "rlhf --help lists dpo"
expect_rc 2 "missing --model" "$RLHF" dpo --data x --out y

expect_rc 0 "init tiny model" "$RLHF" init --out "$T/m" --layers 2 --heads 2 --embd 32 --ctx 48
python3 - "$T/p.jsonl" <<'PY'
import json, random, sys
r = random.Random(3)
with open(sys.argv[1], "w") as f:
    for i in range(160):
        w = "".join(r.choice("abcd") for _ in range(4))
        if i % 4 == 0:  # a ranking: two pairs and a tie
            f.write(json.dumps({"prompt": "q " + w, "responses": ["x" + w, w, "y" + w], "ranking": [0, [1, 2]]}) + "\n")
        else:
            f.write(json.dumps({"prompt": "q " + w, "chosen": "x" + w, "rejected": w + "z"}) + "\n")
PY
ARGS=(--model "$T/m" --data "$T/p.jsonl" --batch 8 --grad-accum 2 --steps 24 --lr 2e-3 --warmup 2
      --eval-every 8 --ckpt-every 4 --keep-checkpoints 2 --val-fraction 0.2 --seed 5 --quiet)
expect_rc 0 "dpo runs" "$RLHF" dpo "${ARGS[@]}" --out "$T/a"
for f in config.json metrics.jsonl loss.svg final/config.json final/model.safetensors final/tokenizer_config.json; do
  [ -s "$T/a/$f" ] && ok "run has $f" || bad "run has $f"
done
cmp -s "$T/m/tokenizer_config.json" "$T/a/final/tokenizer_config.json" && ok "final has the same tokenizer" || bad "final has the same tokenizer"
python3 - "$T/a" <<'PY' && ok "metrics: step-0 log 2, DPO keys, validation rows, config" || bad "metrics: step-0 log 2, DPO keys, validation rows, config"
import json, math, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
tr = [r for r in rows if "loss" in r]
va = [r for r in rows if "val_loss" in r]
assert len(tr) == 24 and len(va) == 3, (len(tr), len(va))
for k in ("accuracy", "reward_chosen", "reward_rejected", "margin"):
    assert all(k in r for r in tr), k
for k in ("val_accuracy", "val_reward_chosen", "val_reward_rejected", "val_margin"):
    assert all(k in r for r in va), k
assert abs(tr[0]["loss"] - math.log(2)) < 1e-5, tr[0]
assert abs(tr[0]["margin"]) < 1e-5 and tr[0]["accuracy"] <= 0.5, tr[0]
assert abs(tr[-1]["margin"] - (tr[-1]["reward_chosen"] - tr[-1]["reward_rejected"])) < 1e-6
assert va[-1]["val_accuracy"] > 0.8 and va[-1]["val_margin"] > 0 and va[-1]["val_loss"] < math.log(2), va[-1]
c = json.load(open(d + "/config.json"))
assert c["stage"] == "dpo" and c["beta"] == 0.1 and c["loss"] == "dpo" and c["label_smoothing"] == 0, c
f = json.load(open(d + "/final/config.json"))
assert not f.get("score_head"), f
PY
expect_rc 1 "refuses to overwrite a run" "$RLHF" dpo "${ARGS[@]}" --out "$T/a"

# prompt sharing: the same run with every row running its whole prompt (RLHF_PROMPT_SHARING=0)
# gives the same metrics up to summation order, forwarding more tokens
expect_rc 0 "dpo without prompt sharing" env RLHF_PROMPT_SHARING=0 "$RLHF" dpo "${ARGS[@]}" --out "$T/a0"
python3 "$(dirname "$0")/support/metrics_close.py" "$T/a" "$T/a0" \
  && ok "dpo: shared prompts give the unshared run's metrics, fewer tokens" \
  || bad "dpo: shared prompts give the unshared run's metrics, fewer tokens"
expect_rc 2 "RLHF_PROMPT_SHARING=yes refused" env RLHF_PROMPT_SHARING=yes "$RLHF" dpo "${ARGS[@]}" --out "$T/abad"
err_has "RLHF_PROMPT_SHARING refusal names the variable and the choices" "RLHF_PROMPT_SHARING=yes: expected 0 or 1"
[ ! -e "$T/abad" ] && ok "a refused RLHF_PROMPT_SHARING writes nothing" || bad "a refused RLHF_PROMPT_SHARING writes nothing"

# --bf16: the reference's log-probabilities go through the policy's (bf16) products, so the first
# step still starts at log 2 with a zero margin; and the run learns
if "$RLHF" dpo "${ARGS[@]}" --out "$T/b16" --bf16 >"$T/out" 2>"$T/err"; then
  python3 - "$T/b16" <<'PY' && ok "dpo --bf16: step-1 log 2 and margin 0, learns" || bad "dpo --bf16: step-1 log 2 and margin 0, learns"
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
tr = [r for r in rows if "loss" in r]
va = [r for r in rows if "val_loss" in r]
print(f"  step 1: loss {tr[0]['loss']:.7f} (log 2 = {math.log(2):.7f}), margin {tr[0]['margin']:.3g}; "
      f"last val accuracy {va[-1]['val_accuracy']:.2f}")
assert abs(tr[0]["loss"] - math.log(2)) < 1e-6 and abs(tr[0]["margin"]) < 1e-6, tr[0]
assert va[-1]["val_accuracy"] > 0.8 and va[-1]["val_loss"] < math.log(2), va[-1]
assert json.load(open(sys.argv[1] + "/config.json"))["bf16"] is True
PY
else
  bf16_unavailable "dpo --bf16"
fi

# kill -9 after a checkpoint, resume, compare bits with the uninterrupted run
"$RLHF" dpo "${ARGS[@]}" --out "$T/b" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f "$T/b/checkpoints/step-8/trainer_state.json" ] && break; sleep 0.01; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[ -d "$T/b/final" ] && echo "note: the run finished before it could be killed; resuming a finished run"
expect_rc 0 "resume after kill -9" "$RLHF" dpo --resume --out "$T/b" --quiet
cmp -s "$T/a/final/model.safetensors" "$T/b/final/model.safetensors" && ok "resumed weights bit-identical" || bad "resumed weights bit-identical"
cmp -s "$T/a/metrics.jsonl" "$T/b/metrics.jsonl" 2>/dev/null; python3 - "$T/a" "$T/b" <<'PY' && ok "resumed metrics equal (but ms)" || bad "resumed metrics equal (but ms)"
import json, sys
def rows(d):
    out = []
    for l in open(d + "/metrics.jsonl"):
        r = json.loads(l)
        for k in ("ms", "tokens_per_s", "time_s", "elapsed_s"): r.pop(k, None)
        out.append(r)
    return out
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert a == b, [x for x in zip(a, b) if x[0] != x[1]][:1]
PY

# IPO and conservative DPO run; IPO with label smoothing is refused
expect_rc 0 "--loss ipo" "$RLHF" dpo --model "$T/m" --data "$T/p.jsonl" --out "$T/i" --loss ipo --steps 3 --batch 4 --quiet
python3 -c "import json,sys; c=json.load(open(sys.argv[1])); assert c['loss']=='ipo'" "$T/i/config.json" && ok "ipo in config.json" || bad "ipo in config.json"
expect_rc 0 "--label-smoothing 0.1" "$RLHF" dpo --model "$T/m" --data "$T/p.jsonl" --out "$T/s" --label-smoothing 0.1 --beta 0.5 --steps 3 --batch 4 --quiet
expect_rc 1 "--loss ipo with --label-smoothing" "$RLHF" dpo --model "$T/m" --data "$T/p.jsonl" --out "$T/s2" --loss ipo --label-smoothing 0.1 --steps 3 --quiet
expect_rc 1 "--loss bogus" "$RLHF" dpo --model "$T/m" --data "$T/p.jsonl" --out "$T/s3" --loss kto --steps 3 --quiet
err_has "names the choices" "dpo or ipo"
expect_rc 1 "--label-smoothing 0.5" "$RLHF" dpo --model "$T/m" --data "$T/p.jsonl" --out "$T/s4" --label-smoothing 0.5 --steps 3 --quiet

# bad data: FILE:LINE and exit 1; --skip-bad goes on
printf '{"prompt": "q a", "chosen": "xa", "rejected": "a"}\n{"prompt": "q b", "chosen": 5, "rejected": "b"}\n' >"$T/bad.jsonl"
expect_rc 1 "bad record" "$RLHF" dpo --model "$T/m" --data "$T/bad.jsonl" --out "$T/c" --steps 2 --quiet
err_has "error names file:line" "bad.jsonl:2:"
for i in $(seq 1 20); do echo '{"prompt": "q abc", "chosen": "xabc", "rejected": "abc"}'; done >>"$T/bad.jsonl"
expect_rc 0 "--skip-bad" "$RLHF" dpo --model "$T/m" --data "$T/bad.jsonl" --out "$T/d" --steps 2 --batch 4 --skip-bad --quiet
expect_rc 1 "missing model" "$RLHF" dpo --model "$T/nothing" --data "$T/p.jsonl" --out "$T/e" --quiet
expect_rc 1 "--max-len over the context" "$RLHF" dpo --model "$T/m" --data "$T/p.jsonl" --out "$T/f" --max-len 4096 --quiet
expect_rc 0 "--memory" "$RLHF" dpo --memory --model "$T/m"
grep -q estimate_bytes "$T/out" && ok "--memory JSON" || bad "--memory JSON"

cli_finish
