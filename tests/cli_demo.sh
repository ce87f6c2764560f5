#!/usr/bin/env bash
# tests/cli_demo.sh — `rlhf demo --quick` on seeds 1 and 2 (then --from and --sweep on seed 1's
# folder): every stage's run folder, report.md, summary.json and the plots exist; the hidden gold
# judge was never called by a training stage; and the demo's acceptance holds: PPO beats SFT on the gold score (paired 95% CI above 0), keeps
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
assert "sweep" not in a["gold_calls"] or a["gold_calls"]["sweep"] == 0
assert a["reused_stages"] == [], a["reused_stages"]
for k in a["stages"]:
    assert a["stages"][k] == b["stages"][k], k
assert a["rm"] == b["rm"], (a["rm"], b["rm"])
assert set(b["stage_seconds"]) == {"world", "eval", "report"}, b["stage_seconds"]
PY
# --sweep (from the sweep stage on, reusing the trained models): PPO at each β, best-of-n at each n
expect_rc 0 "demo --from sweep --sweep" "$RLHF" demo --quick --quiet --seed 1 --out "$T/d1" --from sweep --sweep
python3 - "$T/d1/summary.json" "$T/d1/report.md" "$T/d1/frontier.svg" <<'PY' && ok "--sweep: PPO β and best-of-n series, over-optimisation findings consistent, frontier lines" || bad "--sweep: PPO β and best-of-n series, over-optimisation findings consistent, frontier lines"
import json, math, sys
s = json.load(open(sys.argv[1])); sw = s["sweep"]
assert [r["beta"] for r in sw["ppo"]] == [0.01, 0.05, 0.2, 0.5], sw["ppo"]
assert [r["n"] for r in sw["bon"]] == [1, 2, 4, 8, 16], sw["bon"]
main = [r for r in sw["ppo"] if r["beta"] == 0.05][0]  # the main PPO run is the quick demo's β point
assert main["gold"] == s["stages"]["ppo"]["gold"], (main["gold"], s["stages"]["ppo"]["gold"])
for r in sw["bon"]:
    n = r["n"]
    assert abs(r["kl_k1"] - (math.log(n) - (n - 1) / n)) < 1e-9, r
for a, b in zip(sw["bon"], sw["bon"][1:]):  # one sample set: more samples never lower the chosen RM score
    assert b["rm_score"] >= a["rm_score"] - 1e-9, (a["rm_score"], b["rm_score"])
for f in sw["overoptimised"]:
    assert f["rm_to"] > f["rm_from"] and f["gold_change_ci"][1] < 0 and f["kl_to"] >= f["kl_from"], f
assert s["gold_calls"]["sweep"] == 0, s["gold_calls"]
assert "sweep" in s["stage_seconds"] and "ppo" in s["reused_stages"]
rep = open(sys.argv[2]).read()
assert "## Sweep: the reward–KL frontier" in rep and "| PPO β=0.5 |" in rep and "| best-of-16 |" in rep
assert ("Over-optimised from" in rep) == (len(sw["overoptimised"]) > 0)
svg = open(sys.argv[3]).read()
assert svg.count("stroke-dasharray") == 3 + 4, svg.count("stroke-dasharray")  # RM lines: 3 PPO + 4 BoN segments
assert "PPO β=0.01" in svg and "n=16" in svg
PY
for b in 0.01 0.2 0.5; do [ -s "$T/d1/sweep/ppo-beta-$b/final/model.safetensors" ] || bad "sweep run ppo-beta-$b"; done

expect_rc 1 "demo --from with a name that is not a stage" "$RLHF" demo --quick --out "$T/d1" --from nosuch
err_has "--from nosuch names the stages" "not a stage (world, pretrain"
expect_rc 1 "demo --from in a folder without an earlier demo" "$RLHF" demo --quick --out "$T/nothing" --from rm
err_has "--from without a demo says so" "holds no earlier demo"

grep -q "| ppo |" "$T/d1/report.md" && grep -q "SFT vs PPO" "$T/d1/report.md" && ok "report.md has the table and the side-by-side" || bad "report.md has the table and the side-by-side"
cli_finish
