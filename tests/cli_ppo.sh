#!/usr/bin/env bash
# tests/cli_ppo.sh — `rlhf ppo`, `rlhf grpo` and `rlhf bon` end to end on a tiny byte-tokenizer model
# fine-tuned (SFT) to answer with 6–12 letters from a–h. The reward, through --reward-cmd, is the
# fraction of the response's characters that are "a" (at most 1; the SFT model starts near 1/8):
# PPO and GRPO must each close ≥ 50% of the gap to 1 within 20 iterations of 32 prompts with KL
# < 20 nats; a larger β must end with a smaller KL; the first minibatch's ratio must be exactly 1;
# a run that a crashing reward command stops keeps its last checkpoint, and resuming it gives the
# uninterrupted run's weights bit for bit, as does a run that recomputes the scoring forwards the first
# training minibatch reuses; bad reward commands give clear errors; best-of-n
# improves the score and reports its KL bound; every --advantage runs.
set -u
. "$(dirname "$0")/support/cli.sh" cli_ppo

for c in ppo grpo bon; do
  expect_rc 0 "$c --help" "$RLHF" $c --help
  "$RLHF" --help 2>&1 | grep -q "^  $c " && ok "rlhf --help lists $c" || bad "rlhf --help lists $c"
done
"$RLHF" ppo --help >"$T/help" 2>&1
for f in --policy --reward --reward-cmd --prompts --out --advantage --beta --kl-estimator --adaptive-kl \
         --kl-target --gamma --lambda --clip-low --clip-high --value-clip --epochs --minibatch --rollouts \
         --noeos --temperature --lr --critic-lr --resume --eval-every --reward-timeout --group; do
  grep -q -- "$f" "$T/help" || bad "ppo --help lists $f"
done
grep -q -- "--beta FLOAT.*(default -1)" "$T/help" && grep -q -- "--temperature FLOAT.*(default 0.7)" "$T/help" \
  && ok "ppo --help shows defaults" || bad "ppo --help shows defaults"

# ---- a tiny SFT policy and the letter task ------------------------------------------------------
expect_rc 0 "init tiny model" "$RLHF" init --out "$T/m" --layers 2 --heads 2 --embd 48 --ctx 64
python3 - "$T" <<'PY'
import json, random, sys
d = sys.argv[1]; r = random.Random(1)
with open(d + "/sft.jsonl", "w") as f:
    for i in range(1500):
        q = "".join(r.choice("xyz") for _ in range(3))
        a = "".join(r.choice("abcdefgh") for _ in range(r.randint(6, 12)))
        f.write(json.dumps({"prompt": q, "completion": a}) + "\n")
with open(d + "/prompts.jsonl", "w") as f:
    for i in range(300):
        f.write(json.dumps({"prompt": "".join(r.choice("xyz") for _ in range(3))}) + "\n")
with open(d + "/score.py", "w") as f:  # crashes after CRASH_AFTER answers when that file exists
    f.write('''import json, os, sys
crash = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crash_after")
limit = int(open(crash).read()) if os.path.exists(crash) else -1
n = 0
for line in sys.stdin:
    r = json.loads(line)["response"]
    if n == limit: os._exit(3)
    n += 1
    print(json.dumps({"score": (r.count("a") / len(r)) if r else 0.0}), flush=True)
''')
PY
expect_rc 0 "sft of the tiny policy" "$RLHF" sft --model "$T/m" --data "$T/sft.jsonl" --out "$T/sft" \
  --steps 250 --lr 3e-3 --batch 32 --quiet
SCORE="python3 $T/score.py"
COMMON=(--policy "$T/sft/final" --prompts "$T/prompts.jsonl" --max-new 16 --lr 1e-3 --eval-every 5 --quiet)

# gap closed, KL bound, ratio exactly 1 on every first minibatch, all the metrics
check_run() {  # check_run DIR LABEL
  python3 - "$1" <<'PY' && ok "$2: closes ≥ 50% of the gap with KL < 20, ratio 1, metrics, samples" || bad "$2: closes ≥ 50% of the gap with KL < 20, ratio 1, metrics, samples"
import json, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
assert len(rows) == 20, len(rows)
start = rows[0]["score"]; end = sum(r["score"] for r in rows[-3:]) / 3; kl = rows[-1]["kl"]
print(f"  start {start:.3f} → end {end:.3f} (gap closed {(end - start) / (1 - start):.0%}), KL {kl:.2f}")
assert (end - start) >= 0.5 * (1 - start), (start, end)
assert 0 <= kl < 20, kl
assert all(r["first_ratio_dev"] == 0 for r in rows), [r["first_ratio_dev"] for r in rows]
keys = ["score", "kl", "non_score_reward", "total_reward", "entropy", "clip_fraction", "approx_kl",
        "ratio_mean", "ratio_max", "response_length", "eos_rate", "beta", "time_generation_s",
        "time_scoring_s", "time_training_s", "sampler_logp_maxdiff"]
for k in keys: assert all(k in r for r in rows), k
assert all(r["sampler_logp_maxdiff"] < 1e-3 for r in rows)
ev = [r for r in rows if "eval_score" in r]
assert [r["step"] for r in ev] == [5, 10, 15, 20], ev
for k in ("eval_kl", "eval_reference_score", "eval_win_rate"): assert all(k in r for r in ev), k
assert ev[-1]["eval_score"] > ev[-1]["eval_reference_score"] and ev[-1]["eval_win_rate"] > 0.5, ev[-1]
s = [json.loads(l) for l in open(d + "/samples.jsonl")]
assert len(s) > 0 and all(set(x) >= {"step", "prompt", "reference", "policy", "reference_score", "policy_score"} for x in s)
c = json.load(open(d + "/config.json"))
assert c["iterations"] == 20 and c["rollouts"] in (32, 128)
PY
}

timed() {  # timed SECONDS DESC CMD...: expect exit 0 within SECONDS (the plain build only)
  local lim=$1 desc=$2; shift 2
  local t0; t0=$(date +%s.%N)
  expect_rc 0 "$desc" "$@"
  local dt; dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  echo "  $desc: ${dt} s"
  case "$RLHF" in *build/rlhf)
    awk -v d="$dt" -v l="$lim" 'BEGIN{exit !(d <= l)}' && ok "$desc within ${lim} s" || bad "$desc within ${lim} s (${dt} s)";;
  esac
}

timed 30 "ppo: 20 iterations × 32 prompts" "$RLHF" ppo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/ppo" \
  --iterations 20 --rollouts 32 --minibatch 8 --beta 0.02
check_run "$T/ppo" "ppo"
python3 - "$T/ppo" <<'PY' && ok "ppo: critic metrics, scoring forwards reused" || bad "ppo: critic metrics, scoring forwards reused"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
for k in ("value_loss", "explained_variance", "value_clip_fraction"): assert all(k in r for r in rows), k
assert rows[-1]["explained_variance"] > rows[0]["explained_variance"]
# the first training micro-batch took the policy's and the critic's forwards from scoring
assert all(r["training_forwards_reused"] == 2 for r in rows), [r["training_forwards_reused"] for r in rows]
PY
for f in final/model.safetensors final/tokenizer_config.json rl.svg checkpoints/step-20/trainer_state.json \
         checkpoints/step-20.critic/model.safetensors; do
  [ -s "$T/ppo/$f" ] && ok "ppo run has $f" || bad "ppo run has $f"
done
expect_rc 1 "refuses to overwrite a run" "$RLHF" ppo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/ppo"

timed 30 "grpo: 20 iterations × 32 prompts × 4" "$RLHF" grpo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/grpo" \
  --iterations 20 --rollouts 128 --group 4 --minibatch 32 --beta 0.1
check_run "$T/grpo" "grpo"
python3 - "$T/grpo" <<'PY' && ok "grpo: no critic, KL in the loss" || bad "grpo: no critic, KL in the loss"
import json, os, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
assert all("value_loss" not in r and "kl_loss" in r for r in rows)
c = json.load(open(d + "/config.json"))
assert c["stage"] == "grpo" and c["kl_estimator"] == "k3" and c["kl_in"] == "loss" and c["group"] == 4, c
assert not os.path.exists(d + "/checkpoints/step-20.critic")
PY

# one epoch of one minibatch (GRPO's usual shape): the training forward's logprobs serve as the old
# ones, so the KL, entropy and sampler figures come from it — KL exactly 0 at the first iteration
# (policy = reference) and moving after it, the sampler's logprobs reproduced, a real entropy
expect_rc 0 "grpo, 1 epoch × 1 minibatch" "$RLHF" grpo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/g11" \
  --iterations 6 --rollouts 32 --group 4 --minibatch 32 --epochs 1 --beta 0.1 --eval-every 0
python3 - "$T/g11" <<'PY' && ok "grpo 1×1: old logprobs from the training forward" || bad "grpo 1×1: old logprobs from the training forward"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
print(f"  KL {rows[0]['kl']:.3g} → {rows[-1]['kl']:.3g}, entropy {rows[0]['entropy']:.3f}, "
      f"sampler max diff {max(r['sampler_logp_maxdiff'] for r in rows):.2g}, score {rows[0]['score']:.3f} → {rows[-1]['score']:.3f}")
assert len(rows) == 6 and rows[0]["kl"] == 0 and rows[0]["kl_estimate"] == 0 and rows[-1]["kl"] != 0, rows
assert all(r["training_forwards_reused"] == 0 for r in rows)  # no scoring forward of the policy to reuse
assert all(r["sampler_logp_maxdiff"] < 1e-3 and r["entropy"] > 0.1 and r["first_ratio_dev"] == 0 for r in rows)
PY
# prompt sharing: a group's 4 rows run their prompt once in every pack (scoring, reward model,
# training); without it (RLHF_PROMPT_SHARING=0) the same run gives the same metrics up to
# summation order, forwarding more tokens
expect_rc 0 "grpo 1×1 without prompt sharing" env RLHF_PROMPT_SHARING=0 "$RLHF" grpo "${COMMON[@]}" \
  --reward-cmd "$SCORE" --out "$T/g11u" --iterations 6 --rollouts 32 --group 4 --minibatch 32 --epochs 1 \
  --beta 0.1 --eval-every 0
python3 "$(dirname "$0")/support/metrics_close.py" "$T/g11" "$T/g11u" \
  && ok "grpo: shared prompts give the unshared run's metrics, fewer tokens" \
  || bad "grpo: shared prompts give the unshared run's metrics, fewer tokens"

# a larger β keeps the policy closer to the reference
expect_rc 0 "ppo with β 0.3" "$RLHF" ppo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/ppo_b3" \
  --iterations 20 --rollouts 32 --minibatch 8 --beta 0.3
python3 - "$T/ppo" "$T/ppo_b3" <<'PY' && ok "larger β → smaller KL" || bad "larger β → smaller KL"
import json, sys
kl = [sum(json.loads(l)["kl"] for l in list(open(d + "/metrics.jsonl"))[-5:]) / 5 for d in sys.argv[1:]]
print(f"  mean KL of the last 5 iterations: β 0.02 → {kl[0]:.2f}, β 0.3 → {kl[1]:.2f}")
assert kl[1] < kl[0], kl
PY

# ---- a crashing reward command: clear error, last checkpoint intact; resume = uninterrupted ------
RARGS=(--iterations 6 --rollouts 16 --minibatch 8 --epochs 2 --ckpt-every 2 --eval-every 3 --eval-prompts 3 --beta 0.02)
expect_rc 0 "ppo: uninterrupted 6 iterations" "$RLHF" ppo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/r1" "${RARGS[@]}"
echo 70 > "$T/crash_after"  # 16 answers per iteration + 3 evaluation prompts: dies in iteration 5
expect_rc 1 "ppo: reward command crashes" "$RLHF" ppo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/r2" "${RARGS[@]}"
err_has "crash: names the command and its exit status" "exited with status 3"
[ -f "$T/r2/checkpoints/step-4/trainer_state.json" ] && [ -d "$T/r2/checkpoints/step-4.critic" ] && [ ! -d "$T/r2/final" ] \
  && ok "crash: checkpoint step-4 intact, no final" || bad "crash: checkpoint step-4 intact, no final"
rm -f "$T/crash_after"
expect_rc 0 "ppo --resume after the crash" "$RLHF" ppo --resume --out "$T/r2" --quiet
cmp -s "$T/r1/final/model.safetensors" "$T/r2/final/model.safetensors" && ok "resumed policy bit-identical" || bad "resumed policy bit-identical"
cmp -s "$T/r1/checkpoints/step-6.critic/model.safetensors" "$T/r2/checkpoints/step-6.critic/model.safetensors" \
  && ok "resumed critic bit-identical" || bad "resumed critic bit-identical"
python3 - "$T/r1" "$T/r2" <<'PY' && ok "resumed metrics and samples equal (but times)" || bad "resumed metrics and samples equal (but times)"
import json, sys
def rows(p):
    out = []
    for l in open(p):
        r = json.loads(l)
        for k in list(r):
            if k.startswith("time_") or k.endswith("tokens_per_s"): del r[k]
        out.append(r)
    return out
for f in ("metrics.jsonl", "samples.jsonl"):
    a, b = rows(sys.argv[1] + "/" + f), rows(sys.argv[2] + "/" + f)
    assert a == b, (f, [x for x in zip(a, b) if x[0] != x[1]][:1])
PY

# the first training minibatch backpropagates the scoring pass's stored forwards (policy and critic)
# instead of running them again: the same run with that turned off gives the same bits
expect_rc 0 "ppo: RLHF_FORWARD_REUSE=0" env RLHF_FORWARD_REUSE=0 "$RLHF" ppo "${COMMON[@]}" --reward-cmd "$SCORE" \
  --out "$T/r3" "${RARGS[@]}"
cmp -s "$T/r1/final/model.safetensors" "$T/r3/final/model.safetensors" \
  && cmp -s "$T/r1/checkpoints/step-6.critic/model.safetensors" "$T/r3/checkpoints/step-6.critic/model.safetensors" \
  && ok "reused scoring forwards: policy and critic bit-identical to recomputing them" \
  || bad "reused scoring forwards: policy and critic bit-identical to recomputing them"

# ---- bad reward commands and flags -----------------------------------------------------------------
BAD=(--iterations 1 --rollouts 8 --minibatch 8 --epochs 1)
expect_rc 1 "reward command printing garbage" "$RLHF" ppo "${COMMON[@]}" --out "$T/g1" "${BAD[@]}" \
  --reward-cmd 'while read l; do echo "not json"; done'
err_has "garbage: names the answer and the line" 'answer 1 of 8'
err_has "garbage: quotes what it got" 'not json'
expect_rc 1 "reward command that hangs" "$RLHF" ppo "${COMMON[@]}" --out "$T/g2" "${BAD[@]}" \
  --reward-cmd 'sleep 60' --reward-timeout 1
err_has "hang: timeout message" "no answer within"
expect_rc 1 "reward command not found" "$RLHF" ppo "${COMMON[@]}" --out "$T/g3" "${BAD[@]}" --reward-cmd 'no-such-scorer-xyz'
err_has "not found: exit status 127" "127"
expect_rc 2 "no reward source" "$RLHF" ppo "${COMMON[@]}" --out "$T/g4"
expect_rc 1 "a language model as --reward" "$RLHF" ppo "${COMMON[@]}" --out "$T/g5" "${BAD[@]}" --reward "$T/sft/final"
err_has "not a reward model" "no score head"
expect_rc 1 "--advantage bogus" "$RLHF" ppo "${COMMON[@]}" --out "$T/g6" "${BAD[@]}" --reward-cmd "$SCORE" --advantage bogus
err_has "--advantage names the choices" "expected gae, grpo"
expect_rc 1 "group split across minibatches" "$RLHF" grpo "${COMMON[@]}" --out "$T/g7" --reward-cmd "$SCORE" \
  --rollouts 16 --group 4 --minibatch 6
err_has "minibatch/group message" "a group is never split"
expect_rc 1 "--max-new beyond the context" "$RLHF" ppo "${COMMON[@]}" --out "$T/g8" "${BAD[@]}" --reward-cmd "$SCORE" --max-new 64
printf '{"prompt": "xyz"}\n{"prompt": 3}\n' > "$T/badp.jsonl"
expect_rc 1 "bad prompt file" "$RLHF" ppo --policy "$T/sft/final" --prompts "$T/badp.jsonl" --out "$T/g9" --reward-cmd "$SCORE" "${BAD[@]}" --max-new 16
err_has "bad prompt: FILE:LINE" "badp.jsonl:2"

# ---- a reward-model directory as the source (critic from it), the other estimators ---------------
expect_rc 0 "init a reward model" "$RLHF" init --out "$T/rm" --layers 2 --heads 2 --embd 48 --ctx 64 --score-head
expect_rc 0 "ppo with --reward RM_DIR" "$RLHF" ppo "${COMMON[@]}" --reward "$T/rm" --out "$T/rmrun" \
  --iterations 2 --rollouts 16 --minibatch 8 --epochs 1 --eval-every 0
for a in dr-grpo rloo reinforce reinforce-baseline; do
  expect_rc 0 "--advantage $a" "$RLHF" ppo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/adv-$a" --advantage $a \
    --iterations 3 --rollouts 16 --minibatch 8 --epochs 1 --eval-every 0
done
expect_rc 0 "grpo with β 0 (no reference)" "$RLHF" grpo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/nb" --beta 0 \
  --iterations 2 --rollouts 16 --minibatch 8 --epochs 1
grep -q "no reference" "$T/err" && ok "β 0: no reference model loaded" || bad "β 0: no reference model loaded"
expect_rc 0 "ppo --adaptive-kl" "$RLHF" ppo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/akl" --adaptive-kl --beta 0.1 \
  --kl-target 0.5 --iterations 4 --rollouts 16 --minibatch 8 --epochs 2 --eval-every 0
python3 - "$T/akl" <<'PY' && ok "adaptive β moves" || bad "adaptive β moves"
import json, sys
b = [json.loads(l)["beta"] for l in open(sys.argv[1] + "/metrics.jsonl")]
assert b[0] == 0.1 and b[-1] != b[0], b
PY

# --frozen-bf16: the reference's layer products in bf16 on weights packed once; at the first
# iteration the policy equals the reference, so the KL is exactly 0 in f32 and only bf16 rounding here
for v in f32 bf16; do
  flag=(); [ $v = bf16 ] && flag=(--frozen-bf16)
  expect_rc 0 "ppo ($v frozen reference)" "$RLHF" ppo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/fz-$v" \
    --iterations 2 --rollouts 16 --minibatch 8 --epochs 1 --eval-every 0 "${flag[@]}"
done
python3 - "$T" <<'PY' && ok "--frozen-bf16: first-iteration KL only bf16 rounding" || bad "--frozen-bf16: first-iteration KL only bf16 rounding"
import json, sys
d = sys.argv[1]
f = [json.loads(l) for l in open(d + "/fz-f32/metrics.jsonl")]
b = [json.loads(l) for l in open(d + "/fz-bf16/metrics.jsonl")]
print(f"  first-iteration KL: f32 {f[0]['kl']:.3g}, bf16 {b[0]['kl']:.3g}")
assert len(f) == len(b) == 2
assert f[0]["kl"] == 0, f[0]["kl"]
assert b[0]["kl"] != 0 and abs(b[0]["kl"]) < 0.05, b[0]["kl"]
assert json.load(open(d + "/fz-bf16/config.json"))["frozen_bf16"] is True
PY

# --bf16: every training-size product in bf16 (fp32 weights): the policy's, the critic's and the
# reference's forwards agree bit for bit at the first iteration (KL 0, first ratio exactly 1 —
# with the scoring forwards recomputed in training, RLHF_FORWARD_REUSE=0, so that the ratio
# compares two forwards), the sampler's f32 logprobs differ only by bf16 rounding; a CPU without
# a bf16 matmul refuses
if RLHF_FORWARD_REUSE=0 "$RLHF" ppo "${COMMON[@]}" --reward-cmd "$SCORE" --out "$T/b16" --iterations 2 --rollouts 16 \
    --minibatch 8 --epochs 2 --eval-every 0 --bf16 >"$T/out" 2>"$T/err"; then
  python3 - "$T" <<'PY' && ok "ppo --bf16: KL 0 and ratio 1 at the first iteration, sampler within bf16 rounding" || bad "ppo --bf16: KL 0 and ratio 1 at the first iteration, sampler within bf16 rounding"
import json, sys
d = sys.argv[1]
b = [json.loads(l) for l in open(d + "/b16/metrics.jsonl")]
print(f"  first iteration: KL {b[0]['kl']:.3g}, first ratio deviation {b[0]['first_ratio_dev']:.3g}, "
      f"sampler logprob max diff {b[0]['sampler_logp_maxdiff']:.3g}")
assert len(b) == 2 and b[0]["kl"] == 0 and b[0]["first_ratio_dev"] == 0 and b[1]["first_ratio_dev"] == 0, b
assert 0 < b[0]["sampler_logp_maxdiff"] < 0.1, b[0]["sampler_logp_maxdiff"]
assert json.load(open(d + "/b16/config.json"))["bf16"] is True
PY
else
  bf16_unavailable "ppo --bf16"
fi

# ---- best-of-n ---------------------------------------------------------------------------------------
expect_rc 0 "bon -n 1" "$RLHF" bon --policy "$T/sft/final" --reward-cmd "$SCORE" --prompts "$T/prompts.jsonl" --limit 40 -n 1 --out "$T/b1.jsonl" --max-new 16
cp "$T/out" "$T/b1.out"
expect_rc 0 "bon -n 8" "$RLHF" bon --policy "$T/sft/final" --reward-cmd "$SCORE" --prompts "$T/prompts.jsonl" --limit 40 -n 8 --out "$T/b8.jsonl" --max-new 16
python3 - "$T" <<'PY' && ok "bon: best-of-8 beats one sample, KL bound log n − (n−1)/n, one line per prompt" || bad "bon: best-of-8 beats one sample, KL bound log n − (n−1)/n, one line per prompt"
import json, math, sys
d = sys.argv[1]
one = json.loads(open(d + "/b1.out").read()); eight = json.loads(open(d + "/out").read())
print(f"  best-of-1 {one['mean_score_best']:.3f}, best-of-8 {eight['mean_score_best']:.3f}")
assert one["gain"] == 0 and one["kl_bound"] == 0
assert eight["mean_score_best"] > one["mean_score_best"] + 0.05, (one, eight)
assert abs(eight["kl_bound"] - (math.log(8) - 7 / 8)) < 1e-6
lines = [json.loads(l) for l in open(d + "/b8.jsonl")]
assert len(lines) == 40 and all(len(x["scores"]) == 8 and x["score"] == max(x["scores"]) for x in lines)
PY
cli_finish
