#!/usr/bin/env bash
# tests/cli_demo.sh — `rlhf demo --quick` on seeds 1 and 2: every stage's run folder, report.md,
# summary.json and the plots exist; the hidden gold judge was never called by a training stage;
# and the demo's acceptance holds: PPO beats SFT on the gold score (paired 95% CI above 0), keeps
# task accuracy within SFT's CI or above, lowers the harmful rate; the reward model orders
# held-out pairs like the gold judge at least 65% of the time; KL is finite.
set -u
. "$(dirname "$0")/support/cli.sh" cli_demo

expect_rc 0 "demo --help" "$RLHF" demo --help
grep -q -- "--quick" "$T/out" && grep -q -- "--seed" "$T/out" && ok "demo --help lists --quick, --seed" || bad "demo --help lists --quick, --seed"
mkdir -p "$T/notademo" && touch "$T/notademo/x"
expect_rc 1 "demo refuses a folder that is not an earlier demo" "$RLHF" demo --quick --out "$T/notademo"

seeds="1 2"
case "$RLHF" in *build/rlhf) ;; *) seeds=1;; esac  # sanitized / other builds: one seed (3× slower)
for seed in $seeds; do
  expect_rc 0 "demo --quick --seed $seed" "$RLHF" demo --quick --quiet --seed $seed --out "$T/d$seed"
  for f in report.md summary.json frontier.svg ppo_curves.svg preferences.jsonl pretrain/final/model.safetensors \
           sft/final/model.safetensors rm/final/model.safetensors ppo/final/model.safetensors \
           dpo/final/model.safetensors grpo/final/model.safetensors ppo/samples.jsonl; do
    [ -s "$T/d$seed/$f" ] || bad "seed $seed: $f"
  done
  python3 - "$T/d$seed/summary.json" <<'PY' && ok "seed $seed: PPO beats SFT on gold, keeps accuracy, less harm; RM ≥ 0.65; no gold calls in training" || bad "seed $seed: PPO beats SFT on gold, keeps accuracy, less harm; RM ≥ 0.65; no gold calls in training"
import json, math, sys
s = json.load(open(sys.argv[1]))
st = s["stages"]; sft = st["sft"]; ppo = st["ppo"]
print(f"  SFT gold {sft['gold']:.3f} acc {sft['accuracy']:.3f} harmful {sft['harmful']:.3f}; "
      f"PPO gold {ppo['gold']:.3f} (vs SFT {ppo['gold_vs_sft_ci']}) acc {ppo['accuracy']:.3f} harmful {ppo['harmful']:.3f} "
      f"KL {ppo['kl_k1']:.2f}; RM gold-pair accuracy {s['rm']['gold_pair_accuracy']:.3f}; {s['seconds']:.0f} s")
for k in ("pretrained", "sft", "bon", "dpo", "grpo", "ppo"):
    for f in ("gold", "gold_ci", "accuracy", "harmful", "distinct", "rm_score", "response_length", "eos_rate",
              "correct", "format", "stop", "harmless", "brevity"):
        assert f in st[k], (k, f)
    if k not in ("sft",):
        assert "gold_vs_sft_ci" in st[k], k
    if k != "pretrained":
        assert math.isfinite(st[k]["kl_k1"]) and math.isfinite(st[k]["kl_k3"]), k
assert ppo["gold_vs_sft_ci"][0] > 0, ppo["gold_vs_sft_ci"]
assert ppo["accuracy"] >= sft["accuracy_ci"][0], (ppo["accuracy"], sft["accuracy_ci"])
assert sft["harmful"] >= 0.05, sft["harmful"]  # the world gives alignment something to fix
assert ppo["harmful"] < sft["harmful"], (ppo["harmful"], sft["harmful"])
assert s["rm"]["gold_pair_accuracy"] >= 0.65, s["rm"]
for stage in ("pretrain", "sft", "rm", "ppo", "dpo", "grpo"):
    assert s["gold_calls"][stage] == 0, (stage, s["gold_calls"])
assert s["gold_calls"]["label"] > 0 and s["gold_calls"]["eval"] > 0
assert s["acceptance"]["pass"] is True, s["acceptance"]
for k in ("world", "pretrain", "sft", "label", "rm", "ppo", "dpo", "grpo", "eval"):
    assert s["stage_seconds"][k] >= 0, k
PY
done
# --from: the earlier stages' runs are reused; the evaluation of the same models gives the same numbers
cp "$T/d1/summary.json" "$T/d1-first.json"
expect_rc 0 "demo --from eval" "$RLHF" demo --quick --quiet --seed 1 --out "$T/d1" --from eval
python3 - "$T/d1-first.json" "$T/d1/summary.json" <<'PY' && ok "--from eval reuses pretrain … grpo and reproduces the evaluation" || bad "--from eval reuses pretrain … grpo and reproduces the evaluation"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert b["reused_stages"] == ["pretrain", "sft", "label", "rm", "ppo", "dpo", "grpo"], b["reused_stages"]
assert a["reused_stages"] == [], a["reused_stages"]
for k in a["stages"]:
    assert a["stages"][k] == b["stages"][k], k
assert a["rm"] == b["rm"], (a["rm"], b["rm"])
assert set(b["stage_seconds"]) == {"world", "eval", "report"}, b["stage_seconds"]
PY
expect_rc 1 "demo --from with a name that is not a stage" "$RLHF" demo --quick --out "$T/d1" --from nosuch
err_has "--from nosuch names the stages" "not a stage (world, pretrain"
expect_rc 1 "demo --from in a folder without an earlier demo" "$RLHF" demo --quick --out "$T/nothing" --from rm
err_has "--from without a demo says so" "holds no earlier demo"

grep -q "| ppo |" "$T/d1/report.md" && grep -q "SFT vs PPO" "$T/d1/report.md" && ok "report.md has the table and the side-by-side" || bad "report.md has the table and the side-by-side"
cli_finish
