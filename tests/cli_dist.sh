#!/usr/bin/env bash
# tests/cli_dist.sh — data parallelism under `mpirun -np 2` (1 thread per rank) for every
# training stage: 2 ranks give bit-identical weights to one process accumulating the same 2
# micro-batches (--grad-accum 2) for SFT, RM, DPO, pretrain, PPO and GRPO, and the check is
# sensitive (one process without accumulation differs); ZeRO-1 gives the weights and optimizer
# state of plain data parallelism (without clipping); rank 0 alone writes the run folder; resume with the same
# count continues bit for bit and a different count is refused; a rank that fails or is killed
# ends the whole job with a clear error instead of a hang.
set -u
. "$(dirname "$0")/support/cli.sh" cli_dist
export OMP_NUM_THREADS=1

if ! command -v mpirun >/dev/null || ! ldd "$RLHF" 2>/dev/null | grep -q libmpi; then
  echo "SKIP: $RLHF is built without MPI (no mpicc at build time) or mpirun is missing"
  cli_finish
fi
# ranks yield the core while they wait (the test machine is shared; 2 cores)
MPI=(mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 --mca mpi_yield_when_idle 1)
# under mpirun, Open MPI's plugins leak (unloaded, so unsuppressible): no leak check for the ranks
# (the single-process runs, the same code without MPI, keep it)
[ -n "${RLHF_SANITIZE:-}" ] && MPI+=(-x ASAN_OPTIONS=detect_leaks=0)

same() {  # same DESC FILE_A FILE_B
  if cmp -s "$2" "$3"; then ok "$1"; else bad "$1 ($2 and $3 differ)"; fi
}
differ() {  # differ DESC FILE_A FILE_B: the comparison above can fail
  if cmp -s "$2" "$3"; then bad "$1 (identical)"; else ok "$1"; fi
}

expect_rc 0 "init a tiny LM" "$RLHF" init --out "$T/m" --layers 2 --heads 2 --embd 32 --ctx 48 --seed 3
expect_rc 0 "init a tiny RM" "$RLHF" init --out "$T/rmi" --layers 2 --heads 2 --embd 32 --ctx 48 --score-head --seed 7
python3 - "$T" <<'PY'
import json, random, sys
T = sys.argv[1]; r = random.Random(3)
w = lambda n: "".join(r.choice("abcd") for _ in range(n))
with open(T + "/sft.jsonl", "w") as f:
    for i in range(120):
        x = w(3); f.write(json.dumps({"prompt": "r " + x, "completion": x[::-1]}) + "\n")
with open(T + "/prefs.jsonl", "w") as f:
    for i in range(120):
        x = w(4); f.write(json.dumps({"prompt": "q " + x, "chosen": x + "!", "rejected": w(3) + "."}) + "\n")
with open(T + "/norm.jsonl", "w") as f:
    for i in range(12): f.write(json.dumps({"prompt": "t " + w(3), "completion": w(4) + "!"}) + "\n")
with open(T + "/prompts.jsonl", "w") as f:
    for i in range(100): f.write(json.dumps({"prompt": "".join(r.choice("xyz") for _ in range(3))}) + "\n")
with open(T + "/corpus.txt", "w") as f:
    for i in range(300): f.write(w(r.randint(5, 30)) + "\n")
PY

# run_pair STAGE NAME ARGS...: 1 process × --grad-accum 2 ($T/NAME-1), 2 ranks × 1 ($T/NAME-2),
# 1 process × 1 ($T/NAME-0, the sensitivity check); compares final weights
run_pair() {
  local stage=$1 name=$2; shift 2
  expect_rc 0 "$name: 1 process, --grad-accum 2" "$RLHF" "$stage" "$@" --grad-accum 2 --out "$T/$name-1"
  expect_rc 0 "$name: mpirun -np 2" "${MPI[@]}" "$RLHF" "$stage" "$@" --grad-accum 1 --out "$T/$name-2"
  expect_rc 0 "$name: 1 process, no accumulation" "$RLHF" "$stage" "$@" --grad-accum 1 --out "$T/$name-0"
  same "$name: 2 ranks = 1 process × 2 micro-batches, bit for bit" "$T/$name-1/final/model.safetensors" "$T/$name-2/final/model.safetensors"
  differ "$name: the check is sensitive (1 micro-batch differs)" "$T/$name-1/final/model.safetensors" "$T/$name-0/final/model.safetensors"
}

SFT=(--model "$T/m" --data "$T/sft.jsonl" --batch 8 --steps 6 --lr 3e-3 --warmup 2 --eval-every 3
     --eval-max 16 --samples 2 --sample-max-new 4 --ckpt-every 3 --keep-checkpoints 5 --seed 5 --quiet)
run_pair sft sft "${SFT[@]}"
same "sft: optimizer state too" "$T/sft-1/checkpoints/step-6/optimizer.safetensors" "$T/sft-2/checkpoints/step-6/optimizer.safetensors"
python3 - "$T/sft-1" "$T/sft-2" <<'PY' && ok "sft: rank 0 alone writes: the same metrics and samples rows" || bad "sft: rank 0 alone writes: the same metrics and samples rows"
import json, sys
def rows(d, f, drop=("ms", "tokens_per_s")):
    return [{k: v for k, v in json.loads(l).items() if k not in drop} for l in open(d + "/" + f)]
a, b = sys.argv[1:]
assert rows(a, "metrics.jsonl") == rows(b, "metrics.jsonl"), "metrics"
assert rows(a, "samples.jsonl") == rows(b, "samples.jsonl"), "samples"
assert len(rows(b, "metrics.jsonl")) == 8, len(rows(b, "metrics.jsonl"))  # 6 steps + 2 evaluations
assert json.load(open(b + "/config.json"))["processes"] == 2
PY

RM=(--model "$T/rmi" --data "$T/prefs.jsonl" --batch 8 --steps 5 --lr 3e-3 --warmup 1 --eval-every 5
    --ckpt-every 5 --val-fraction 0.2 --norm-data "$T/norm.jsonl" --seed 4 --quiet)
run_pair rm rm "${RM[@]}"
same "rm: the reward normalisation too (final/config.json)" "$T/rm-1/final/config.json" "$T/rm-2/final/config.json"

DPO=(--model "$T/m" --data "$T/prefs.jsonl" --batch 8 --steps 5 --lr 2e-3 --warmup 1 --eval-every 5
     --ckpt-every 5 --val-fraction 0.2 --seed 5 --quiet)
run_pair dpo dpo "${DPO[@]}"

PRE=(--data "$T/corpus.txt" --layers 2 --heads 2 --embd 32 --ctx 32 --batch 4 --steps 5 --lr 3e-3
     --eval-every 5 --ckpt-every 5 --seed 2 --quiet)
run_pair pretrain pretrain "${PRE[@]}"

RL=(--policy "$T/m" --reward "$T/rmi" --prompts "$T/prompts.jsonl" --max-new 8 --noeos none --iterations 3
    --epochs 2 --lr 1e-3 --eval-every 2 --eval-prompts 4 --ckpt-every 3 --seed 9 --quiet)
run_pair ppo ppo "${RL[@]}" --rollouts 8 --minibatch 4
same "ppo: the critic too" "$T/ppo-1/checkpoints/step-3.critic/model.safetensors" "$T/ppo-2/checkpoints/step-3.critic/model.safetensors"
run_pair grpo grpo "${RL[@]}" --rollouts 16 --group 4 --minibatch 8
python3 - "$T/grpo-2" <<'PY' && ok "grpo: every first minibatch's ratio is exactly 1 on 2 ranks" || bad "grpo: every first minibatch's ratio is exactly 1 on 2 ranks"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
assert len(rows) == 3 and all(r["first_ratio_dev"] == 0 for r in rows), rows
PY
# one epoch of one minibatch: the training forward's logprobs are the old ones (no scoring pass of
# the policy), each rank fills its rows, then the sums; the metrics rows agree bit for bit
run_pair grpo grpo1 "${RL[@]}" --rollouts 16 --group 4 --minibatch 16 --epochs 1
python3 - "$T/grpo1-1" "$T/grpo1-2" <<'PY' && ok "grpo, 1 epoch × 1 minibatch: the same metrics on 2 ranks, KL 0 at first" || bad "grpo, 1 epoch × 1 minibatch: the same metrics on 2 ranks, KL 0 at first"
import json, sys
def rows(d):
    return [{k: v for k, v in json.loads(l).items() if "time" not in k and "per_s" not in k}
            for l in open(d + "/metrics.jsonl")]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert a == b, (a, b)
assert a[0]["kl"] == 0 and a[-1]["kl"] != 0 and all(r["sampler_logp_maxdiff"] < 1e-3 for r in a if "kl" in r), a
PY
expect_rc 1 "grpo: a minibatch of 1 group cannot feed 2 ranks" "${MPI[@]}" "$RLHF" grpo "${RL[@]}" --rollouts 16 --group 4 --minibatch 4 --out "$T/g-small"
err_has "grpo: says why" "fewer than --grad-accum 1 × 2 processes"

# ZeRO-1: the same weights and optimizer state as plain data parallelism (without clipping: the
# sharded norm is summed in another order than the whole gradient's, so a clip could differ by ulps)
expect_rc 0 "sft on 2 ranks, no clipping" "${MPI[@]}" "$RLHF" sft "${SFT[@]}" --grad-clip 0 --out "$T/sft-p"
expect_rc 0 "sft --zero 1 on 2 ranks" "${MPI[@]}" "$RLHF" sft "${SFT[@]}" --grad-clip 0 --zero 1 --out "$T/sft-z"
same "sft --zero 1: weights of plain data parallelism" "$T/sft-p/final/model.safetensors" "$T/sft-z/final/model.safetensors"
same "sft --zero 1: optimizer state gathered for the checkpoint" "$T/sft-p/checkpoints/step-6/optimizer.safetensors" "$T/sft-z/checkpoints/step-6/optimizer.safetensors"
expect_rc 0 "ppo on 2 ranks, no clipping" "${MPI[@]}" "$RLHF" ppo "${RL[@]}" --rollouts 8 --minibatch 4 --grad-clip 0 --out "$T/ppo-p"
expect_rc 0 "ppo --zero 1 on 2 ranks" "${MPI[@]}" "$RLHF" ppo "${RL[@]}" --rollouts 8 --minibatch 4 --grad-clip 0 --zero 1 --out "$T/ppo-z"
same "ppo --zero 1: policy of plain data parallelism" "$T/ppo-p/final/model.safetensors" "$T/ppo-z/final/model.safetensors"
same "ppo --zero 1: critic of plain data parallelism" "$T/ppo-p/checkpoints/step-3.critic/optimizer.safetensors" "$T/ppo-z/checkpoints/step-3.critic/optimizer.safetensors"
expect_rc 2 "--zero 2 is refused" "$RLHF" sft "${SFT[@]}" --zero 2 --out "$T/z2"

# resume: the same count continues bit for bit (ZeRO on), another count is refused; each run is
# cut back to its middle checkpoint first, as if it had been killed there
cut_back() {  # cut_back RUN_DIR STEP: drops the checkpoints after STEP and final/
  for c in "$1"/checkpoints/step-*; do
    n=${c##*/step-}; n=${n%%.*}
    [ "$n" -gt "$2" ] && rm -rf "$c"
  done
  rm -rf "$1/final"
}
cp -r "$T/sft-z" "$T/res"
cut_back "$T/res" 3
expect_rc 1 "resume with 1 process is refused" "$RLHF" sft --resume --out "$T/res" --quiet
err_has "resume: names both counts" "trained by 2 processes and this run has 1"
expect_rc 0 "sft: resume from step 3 on 2 ranks" "${MPI[@]}" "$RLHF" sft --resume --zero 1 --out "$T/res" --quiet
same "sft: resumed run = uninterrupted run" "$T/sft-z/final/model.safetensors" "$T/res/final/model.safetensors"
expect_rc 0 "grpo: a run with a checkpoint per iteration" "${MPI[@]}" "$RLHF" grpo "${RL[@]}" --rollouts 16 --group 4 --minibatch 8 --ckpt-every 1 --keep-checkpoints 5 --out "$T/gres"
cut_back "$T/gres" 1
expect_rc 0 "grpo: resume from iteration 1 on 2 ranks" "${MPI[@]}" "$RLHF" grpo --resume --out "$T/gres" --quiet
same "grpo: resumed run = uninterrupted run" "$T/grpo-2/final/model.safetensors" "$T/gres/final/model.safetensors"
python3 - "$T/gres" <<'PY' && ok "grpo: resumed metrics hold each iteration once" || bad "grpo: resumed metrics hold each iteration once"
import json, sys
assert [json.loads(l)["step"] for l in open(sys.argv[1] + "/metrics.jsonl")] == [1, 2, 3]
PY

# the benchmark on a tiny model: alone and on 2 ranks, one JSON object per measurement
expect_rc 0 "bench --only dist, 1 process" "$RLHF" bench --only dist --dist-model tiny --repeat 1
cp "$T/out" "$T/bench1.jsonl"
expect_rc 0 "bench --only dist, 2 ranks, ZeRO-1" "${MPI[@]}" "$RLHF" bench --only dist --dist-model tiny --repeat 1 --zero 1
python3 - "$T/bench1.jsonl" "$T/out" <<'PY' && ok "bench dist: step and all-reduce figures" || bad "bench dist: step and all-reduce figures"
import json, sys
one = [json.loads(l) for l in open(sys.argv[1])]
two = [json.loads(l) for l in open(sys.argv[2])]
assert [r["what"] for r in one] == ["train_step", "allreduce"] and one[0]["processes"] == 1
assert len(two) == 2 and all(r["processes"] == 2 and r["backend"] == "mpi" for r in two), two  # rank 0 alone prints
s, a = two
assert s["zero"] == 1 and s["ms"] > 0 and s["tokens_per_s"] > 0 and s["comm_mb_per_rank"] > 0
assert a["floats"] == s["params"] and a["ms"] > 0 and a["bare_mpi_ms"] > 0 and a["vs_bare"] > 0
PY
expect_rc 2 "bench --dist-model bogus" "$RLHF" bench --only dist --dist-model bogus

# a failing rank: rank 1's reward command dies; the job ends (no hang) with the error
cat >"$T/score.sh" <<'EOF'
#!/bin/sh
[ "${OMPI_COMM_WORLD_RANK:-0}" = 1 ] && exit 3
while read -r line; do echo '{"score": 0.5}'; done
EOF
chmod +x "$T/score.sh"
RC=(--policy "$T/m" --reward-cmd "$T/score.sh" --prompts "$T/prompts.jsonl" --max-new 8 --iterations 3
    --rollouts 16 --group 4 --minibatch 8 --quiet)
t0=$(date +%s)
expect_rc 1 "rank 1 fails: the job exits" timeout 60 "${MPI[@]}" "$RLHF" grpo "${RC[@]}" --out "$T/dead1"
[ $(( $(date +%s) - t0 )) -lt 50 ] && ok "rank 1 fails: no hang" || bad "rank 1 fails: no hang"
err_has "rank 1 fails: the reason" "reward command"
err_has "rank 1 fails: every process stopped" "rank 1 of 2 failed"

# a killed rank: mpirun ends the others
"${MPI[@]}" "$RLHF" sft "${SFT[@]}" --steps 100000 --eval-every 0 --ckpt-every 100000 --out "$T/dead2" >"$T/out" 2>"$T/err" &
mp=$!
for _ in $(seq 100); do [ -s "$T/dead2/metrics.jsonl" ] && break; sleep 0.1; done
kill -9 "$(pgrep -P "$mp" | tail -1)"
for _ in $(seq 300); do kill -0 "$mp" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$mp" 2>/dev/null; then kill -9 "$mp"; bad "killed rank: the job exits (still running after 30 s)"; fi
wait "$mp"; rc=$?
[ "$rc" -ne 0 ] && ok "killed rank: the job exits ($rc)" || bad "killed rank: the job exits (rc $rc)"
err_has "killed rank: mpirun says which" "exited on signal 9"
pgrep -f "$T/dead2" >/dev/null && bad "killed rank: no process left" || ok "killed rank: no process left"

cli_finish
