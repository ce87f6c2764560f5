#!/usr/bin/env bash
# tests/cli_sft.sh — `rlhf sft` end to end on a tiny byte-tokenizer model from `rlhf init`: the
# run folder (config.json, metrics.jsonl with validation rows, samples.jsonl, final/), resume
# after kill -9 giving bit-identical final weights, --bf16 against fp32, RLHF_SGEMM (OpenBLAS
# against oneDNN, a bad value refused), RLHF_HUGEPAGES (0 gives the same losses, a bad value
# refused), bad data → FILE:LINE and exit 1, --help.
set -u
. "$(dirname "$0")/support/cli.sh" cli_sft

expect_rc 0 "sft --help" "$RLHF" sft --help
for f in --model --data --out --max-len --val-fraction --val --skip-bad --plain-template --batch \
         --grad-accum --warmup --eval-every --samples --resume --ckpt-every --seed --bf16; do
  grep -q -- "$f" "$T/out" || bad "sft --help lists $f"
done
grep -q "default" "$T/out" && ok "sft --help shows defaults" || bad "sft --help shows defaults"
"$RLHF" --help 2>&1 | grep -q "^  sft " && ok "rlhf --help lists sft" || bad "rlhf --help lists sft"
expect_rc 2 "missing --model" "$RLHF" sft --data x --out y

expect_rc 0 "init tiny model" "$RLHF" init --out "$T/m" --layers 2 --heads 2 --embd 32 --ctx 48
python3 - "$T/d.jsonl" <<'PY'
import json, random, sys
r = random.Random(3)
with open(sys.argv[1], "w") as f:
    for i in range(200):
        w = "".join(r.choice("abcd") for _ in range(3))
        if i % 3 == 0:
            f.write(json.dumps({"messages": [{"role": "user", "content": "r " + w}, {"role": "assistant", "content": w[::-1]}]}) + "\n")
        else:
            f.write(json.dumps({"prompt": "r " + w, "completion": w[::-1]}) + "\n")
PY
ARGS=(--model "$T/m" --data "$T/d.jsonl" --batch 8 --grad-accum 2 --steps 30 --lr 3e-3 --warmup 5
      --eval-every 10 --eval-max 16 --samples 2 --sample-max-new 6 --ckpt-every 5 --keep-checkpoints 3
      --seed 5 --quiet)
expect_rc 0 "sft runs" "$RLHF" sft "${ARGS[@]}" --out "$T/a"
for f in config.json metrics.jsonl samples.jsonl loss.svg final/config.json final/model.safetensors final/tokenizer_config.json; do
  [ -s "$T/a/$f" ] && ok "run has $f" || bad "run has $f"
done
python3 - "$T/a" <<'PY' && ok "metrics, val rows, samples, config" || bad "metrics, val rows, samples, config"
import json, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
loss = [r["loss"] for r in rows if "loss" in r]
val = [r["val_loss"] for r in rows if "val_loss" in r]
assert len(loss) == 30 and len(val) == 3, (len(loss), val)
assert val[-1] < val[0], val
s = [json.loads(l) for l in open(d + "/samples.jsonl")]
assert len(s) == 6 and {r["step"] for r in s} == {10, 20, 30}, s
assert all(set(r) >= {"step", "prompt", "completion", "reference"} for r in s)
assert "Assistant:" in s[0]["prompt"], s[0]
c = json.load(open(d + "/config.json"))
assert c["stage"] == "sft" and c["batch"] == 8 and c["grad_accum"] == 2, c
PY
cmp -s "$T/m/tokenizer_config.json" "$T/a/final/tokenizer_config.json" && ok "final has the same tokenizer" || bad "final has the same tokenizer"
expect_rc 1 "refuses to overwrite a run" "$RLHF" sft "${ARGS[@]}" --out "$T/a"

# kill -9 after a checkpoint, resume, compare bits with the uninterrupted run
"$RLHF" sft "${ARGS[@]}" --out "$T/b" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f "$T/b/checkpoints/step-10/trainer_state.json" ] && break; sleep 0.01; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[ -d "$T/b/final" ] && echo "note: the run finished before it could be killed; resuming a finished run"
expect_rc 0 "resume after kill -9" "$RLHF" sft --resume --out "$T/b" --quiet
cmp -s "$T/a/final/model.safetensors" "$T/b/final/model.safetensors" && ok "resumed weights bit-identical" || bad "resumed weights bit-identical"
cmp -s "$T/a/samples.jsonl" "$T/b/samples.jsonl" && ok "resumed samples.jsonl identical" || bad "resumed samples.jsonl identical"

# --bf16 (matrix products in bf16, fp32 weights and accumulation): the same run's losses stay within
# bf16 rounding of the fp32 run's, it learns, config.json records it and a resumed run keeps it
# (extended without the flag); where oneDNN has no bf16 matmul, a refusal naming the reason
B16=(--model "$T/m" --data "$T/d.jsonl" --batch 8 --steps 20 --lr 3e-3 --warmup 5 --eval-every 0
     --samples 0 --ckpt-every 10 --seed 5 --quiet)
expect_rc 0 "sft fp32 (for --bf16)" "$RLHF" sft "${B16[@]}" --out "$T/h32"
if "$RLHF" sft "${B16[@]}" --bf16 --out "$T/h16" >"$T/out" 2>"$T/err"; then
  ok "sft --bf16 runs"
  expect_rc 0 "resume a --bf16 run (no flag), 5 more steps" "$RLHF" sft --resume --steps 25 --out "$T/h16" --quiet
  python3 - "$T" <<'PY' && ok "--bf16: losses within bf16 rounding of fp32, learns, kept on resume" || bad "--bf16: losses within bf16 rounding of fp32, learns, kept on resume"
import json, sys
d = sys.argv[1]
f = [json.loads(l)["loss"] for l in open(d + "/h32/metrics.jsonl") if '"loss"' in l]
b = [json.loads(l)["loss"] for l in open(d + "/h16/metrics.jsonl") if '"loss"' in l]
print(f"  loss fp32 {f[0]:.5f} -> {f[-1]:.5f}; bf16 {b[0]:.5f} -> {b[19]:.5f} (-> {b[-1]:.5f} after the resume)")
assert len(f) == 20 and len(b) == 25, (len(f), len(b))
assert b[0] != f[0] and abs(b[0] - f[0]) < 1e-2 * f[0], (b[0], f[0])
assert abs(b[19] - f[19]) < 0.1 * f[19] and b[19] < 0.8 * b[0], (b[19], f[19], b[0])
c = json.load(open(d + "/h16/config.json"))
assert c["bf16"] is True and c["steps"] == 25, c
assert json.load(open(d + "/h32/config.json"))["bf16"] is False
PY
else
  bf16_unavailable "sft --bf16"
fi

# RLHF_SGEMM: the fp32 products on OpenBLAS give the default (oneDNN) run's losses up to fp32
# summation order; a value other than onednn / openblas stops any command at start-up, exit 2
expect_rc 0 "sft with RLHF_SGEMM=openblas" env RLHF_SGEMM=openblas "$RLHF" sft "${B16[@]}" --out "$T/hob"
python3 - "$T" <<'PY' && ok "RLHF_SGEMM=openblas: the default run's losses to fp32 rounding, config.json says which ran" || bad "RLHF_SGEMM=openblas: the default run's losses to fp32 rounding, config.json says which ran"
import json, sys
d = sys.argv[1]
f = [json.loads(l)["loss"] for l in open(d + "/h32/metrics.jsonl") if '"loss"' in l]
o = [json.loads(l)["loss"] for l in open(d + "/hob/metrics.jsonl") if '"loss"' in l]
print(f"  loss oneDNN {f[0]:.7f} -> {f[-1]:.7f}; OpenBLAS {o[0]:.7f} -> {o[-1]:.7f}")
assert len(f) == len(o) == 20, (len(f), len(o))
assert abs(o[0] - f[0]) < 1e-5 * f[0], (o[0], f[0])
assert all(abs(a - b) < 1e-3 * b for a, b in zip(o, f)), list(zip(o, f))
assert json.load(open(d + "/hob/config.json"))["fp32_matmul"] == "OpenBLAS sgemm"
assert json.load(open(d + "/h32/config.json"))["fp32_matmul"].startswith("oneDNN ")
PY
expect_rc 2 "RLHF_SGEMM=mkl refused" env RLHF_SGEMM=mkl "$RLHF" sft "${B16[@]}" --out "$T/hbad"
err_has "RLHF_SGEMM refusal names the variable and the choices" "RLHF_SGEMM=mkl: expected onednn or openblas"
[ ! -e "$T/hbad" ] && ok "a refused RLHF_SGEMM writes nothing" || bad "a refused RLHF_SGEMM writes nothing"
# RLHF_HUGEPAGES: 0 (4 KiB pages) gives the default run's losses exactly; anything but 0 / 1 is
# refused at start-up like RLHF_SGEMM
expect_rc 0 "sft with RLHF_HUGEPAGES=0" env RLHF_HUGEPAGES=0 "$RLHF" sft "${B16[@]}" --out "$T/hp0"
grep -q '"loss"' "$T/hp0/metrics.jsonl" &&
  cmp -s <(grep -o '"loss":[^,]*' "$T/h32/metrics.jsonl") <(grep -o '"loss":[^,]*' "$T/hp0/metrics.jsonl") \
  && ok "RLHF_HUGEPAGES=0: the same losses" || bad "RLHF_HUGEPAGES=0: the same losses"
expect_rc 2 "RLHF_HUGEPAGES=yes refused" env RLHF_HUGEPAGES=yes "$RLHF" sft "${B16[@]}" --out "$T/hpbad"
err_has "RLHF_HUGEPAGES refusal names the variable and the choices" "RLHF_HUGEPAGES=yes: expected 0 or 1"
[ ! -e "$T/hpbad" ] && ok "a refused RLHF_HUGEPAGES writes nothing" || bad "a refused RLHF_HUGEPAGES writes nothing"

# bad data: FILE:LINE and exit 1; --skip-bad goes on
printf '{"prompt": "r abc", "completion": "cba"}\n{"prompt": "r abd", "completion": 5}\n' >"$T/bad.jsonl"
# rlhf sample --chat renders a prompt as SFT did: greedy samples equal the run's own greedy samples
python3 - "$T/a" "$RLHF" <<'PY' && ok "sample --chat continues like the SFT evaluation" || bad "sample --chat continues like the SFT evaluation"
import json, re, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/samples.jsonl")]
last = [r for r in rows if r["step"] == rows[-1]["step"]]
assert last
for r in last:
    user = re.fullmatch(r"\n\nUser: (.*)\n\nAssistant:", r["prompt"], re.S).group(1)
    out = subprocess.run([sys.argv[2], "sample", "--model", sys.argv[1] + "/final", "--chat", "--prompt", user,
                          "--temperature", "0", "--max-new", "6", "--json"], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)["completion"]
    assert got == r["completion"], (user, got, r["completion"])
PY
expect_rc 1 "bad record" "$RLHF" sft --model "$T/m" --data "$T/bad.jsonl" --out "$T/c" --steps 2 --quiet
err_has "error names file:line" "bad.jsonl:2:"
for i in $(seq 1 20); do echo '{"prompt": "r abc", "completion": "cba"}'; done >>"$T/bad.jsonl"
expect_rc 0 "--skip-bad" "$RLHF" sft --model "$T/m" --data "$T/bad.jsonl" --out "$T/d" --steps 2 --batch 4 --samples 0 --skip-bad --quiet
expect_rc 1 "missing model" "$RLHF" sft --model "$T/nothing" --data "$T/d.jsonl" --out "$T/e" --quiet
expect_rc 1 "--max-len over the context" "$RLHF" sft --model "$T/m" --data "$T/d.jsonl" --out "$T/f" --max-len 4096 --quiet
expect_rc 0 "--memory" "$RLHF" sft --memory --model "$T/m"
grep -q estimate_bytes "$T/out" && ok "--memory JSON" || bad "--memory JSON"

cli_finish
