"""bench/peers/run.py — `make bench-peers`: rlhf.c side by side with the peers, in one run.

Writes one tiny GPT-2 model (and a reward model) with `rlhf init` and one set of synthetic data,
then for each stage runs ours (build/rlhf sft / rm / dpo / grpo / ppo, and `rlhf bench --only
train_step` for the GPT-2 124M training step) and theirs (TRL's trainers, plain PyTorch for the
124M step; bench/peers/theirs_*.py in the peers' environment) one after the other on the same
model, data, batch shapes and thread count. Time per step / iteration is the median over the
steps after the first (a warm-up) — with --rounds N, each side runs N times in turn (ours,
theirs, ours, ...) and the median is over every round's steps after its warm-up; process start,
model loading and tokenisation are excluded on both sides. fp32 on both sides, or with --bf16 bf16 mixed precision on both (our --bf16; the
trainers' bf16=True, CPU autocast; autocast for the plain step). Prints one JSON line per stage and
a table: stage, ours (s), theirs (s), ratio (theirs / ours: how many times faster rlhf.c is).
Standard library only.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STAGES = ["sft", "rm", "dpo", "grpo", "ppo", "train_step"]

# The one configuration both sides run (docs/performance.md, "Peers").
# 4 layers, 4 heads, 128 wide (rlhf init's defaults), byte tokenizer (258 ids); context 256, not
# 128: TRL's GRPO decodes completions and re-encodes the text for the reward model, and a random
# model's invalid UTF-8 bytes come back as U+FFFD (3 bytes each), longer than what was sampled
MODEL = dict(layers=4, heads=4, embd=128, ctx=256)
SFT_RECORDS, PAIRS, PROMPTS = 64, 64, 16
BATCH = 16  # examples (SFT), pairs (RM, DPO), responses per iteration (GRPO, PPO)
GROUP, MAX_NEW, PPO_EPOCHS = 4, 32, 4
LR = "1e-4"
WORDS = ("the a small large red blue green cat dog bird fish tree house river stone cloud sun moon "
         "runs jumps sleeps sings reads writes finds keeps gives takes quickly slowly today here").split()


def say(msg):
    print("bench-peers: " + msg, file=sys.stderr, flush=True)


def words(rng, lo, hi):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def write_data(work):
    """Synthetic records in rlhf.c's shapes (docs/chat-template.md), the same bytes for both sides."""
    rng = random.Random(1)
    files = {"sft": [{"prompt": words(rng, 4, 8), "completion": words(rng, 6, 12)} for _ in range(SFT_RECORDS)],
             "pairs": [{"prompt": words(rng, 4, 8), "chosen": words(rng, 5, 10), "rejected": words(rng, 5, 10)}
                       for _ in range(PAIRS)],
             "prompts": [{"prompt": words(rng, 4, 8)} for _ in range(PROMPTS)]}
    # every sequence fits the context untruncated (the peers would not cut it as we do): the plain
    # chat form adds 22 bytes ("\n\nUser: ", "\n\nAssistant:", " ", EOS); GRPO / PPO add MAX_NEW
    for r in files["sft"] + files["pairs"] + files["prompts"]:
        resp = max([len(r[k]) for k in ("completion", "chosen", "rejected") if k in r] or [MAX_NEW])
        assert len(r["prompt"]) + resp + 22 <= 128, r  # sequences of at most 128 tokens
    paths = {}
    for name, rows in files.items():
        paths[name] = os.path.join(work, name + ".jsonl")
        with open(paths[name], "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    return paths


def run(cmd, log, env):
    """Runs cmd, its stderr to log; returns stdout. Exits with the log's tail on failure."""
    with open(log, "a", encoding="utf-8") as err:
        err.write("$ " + " ".join(cmd) + "\n")
        err.flush()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    if p.returncode != 0:
        with open(log, encoding="utf-8") as f:
            tail = f.read().splitlines()[-15:]
        say("FAILED (exit %d): %s\n  %s\n(full log: %s)" % (p.returncode, " ".join(cmd), "\n  ".join(tail), log))
        sys.exit(1)
    return p.stdout


def result_lines(out, what):
    rows = []
    for line in out.splitlines():
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    rows = [r for r in rows if isinstance(r, dict) and r.get("side") == "theirs"]
    if not rows:
        say("%s printed no result line" % what)
        sys.exit(1)
    return rows


def metrics(run_dir, key):
    """Per-step seconds from an rlhf run's metrics.jsonl: "ms" rows (sft, rm, dpo), or the sum of
    generation, scoring and training of each iteration (grpo, ppo)."""
    steps = []
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if key == "ms" and "ms" in r:
                steps.append(r["ms"] / 1e3)
            elif key == "iteration" and "time_training_s" in r:
                steps.append(r["time_generation_s"] + r["time_scoring_s"] + r["time_training_s"])
    return steps


def ours(stage, a, d, env, log, rnd=1):
    """Our side of one stage (round rnd): a list of (label, per-step seconds, extra fields)."""
    rl = a.rlhf
    out = os.path.join(a.work, "ours-" + stage + ("-%d" % rnd if rnd > 1 else ""))
    n = str(a.steps)
    common = ["--out", out, "--seed", "1", "--val-fraction", "0", "--eval-every", "0", "--ckpt-every", "0", "-q"]
    common += ["--bf16"] if a.bf16 else []
    if stage == "sft":
        run([rl, "sft", "--model", d["model"], "--data", d["sft"], "--steps", n, "--batch", str(BATCH),
             "--lr", LR, "--samples", "0"] + common, log, env)
        return [("sft", metrics(out, "ms"), {})]
    if stage in ("rm", "dpo"):
        run([rl, stage, "--model", d["model"], "--data", d["pairs"], "--steps", n, "--batch", str(BATCH),
             "--lr", LR] + common, log, env)
        return [(stage, metrics(out, "ms"), {})]
    if stage in ("grpo", "ppo"):
        shape = (["--group", str(GROUP), "--epochs", "1"] if stage == "grpo" else ["--epochs", str(PPO_EPOCHS)])
        run([rl, stage, "--policy", d["model"], "--reward", d["reward"], "--prompts", d["prompts"],
             "--iterations", n, "--rollouts", str(BATCH), "--minibatch", str(BATCH), "--max-new", str(MAX_NEW),
             "--eval-prompts", "0", "--lr", LR] + shape + common, log, env)
        return [(stage, metrics(out, "iteration"), {})]
    # train_step: the benchmark reports the median of --repeat steps after one warm-up
    rows = []
    bench = [rl, "bench", "--only", "train_step", "--repeat", str(a.train_steps)] + (["--bf16"] if a.bf16 else [])
    for line in run(bench, log, env).splitlines():
        r = json.loads(line) if line.startswith("{") else {}
        if r.get("bench") == "train_step":
            rows.append(("train_step B=%d T=%d" % (r["B"], r["T"]), [None, r["ms"] / 1e3],
                         {"blas_kernel": r.get("blas_kernel")}))
    return rows


def theirs(stage, a, d, env, log):
    script = os.path.join(HERE, "theirs_%s.py" % stage)
    py = [a.python, script, "--threads", str(a.threads)] + (["--bf16"] if a.bf16 else [])
    if stage == "train_step":
        rows = result_lines(run(py + ["--steps", str(a.train_steps)], log, env), "theirs_train_step.py")
        return [("train_step B=%d T=%d" % (r["B"], r["T"]), r["step_s"], {"torch": r["torch"]}) for r in rows]
    py += ["--model", d["model"], "--steps", str(a.steps), "--batch", str(BATCH)]
    if stage == "sft":
        py += ["--data", d["sft"]]
    elif stage in ("rm", "dpo"):
        py += ["--data", d["pairs"]]
    else:
        py += ["--data", d["prompts"], "--reward", d["reward"], "--max-new", str(MAX_NEW)]
        py += ["--group", str(GROUP)] if stage == "grpo" else ["--epochs", str(PPO_EPOCHS)]
    r = result_lines(run(py, log, env), os.path.basename(script))[0]
    return [(stage, r["step_s"], {"torch": r["torch"]})]


def median_after_warmup(rounds):
    """Median of the steps of every round after that round's first (its warm-up)."""
    rest = [s for steps in rounds for s in steps[1:] if s is not None]
    return statistics.median(rest) if rest else None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rlhf", default=os.path.join(ROOT, "build", "rlhf"), help="our binary")
    p.add_argument("--python", default=os.path.join(ROOT, ".venv-peers", "bin", "python"),
                   help="the peers' Python (scripts/setup-peers-venv.sh)")
    p.add_argument("--only", default=",".join(STAGES), help="comma-separated stages: " + ", ".join(STAGES))
    p.add_argument("--steps", type=int, default=6, help="steps / iterations per small stage (the first is a warm-up)")
    p.add_argument("--train-steps", type=int, default=3, help="timed 124M training steps per shape (after one warm-up)")
    p.add_argument("--threads", type=int, default=2, help="threads on both sides (OMP_NUM_THREADS, torch)")
    p.add_argument("--rounds", type=int, default=1,
                   help="rounds per stage, ours then theirs in turn; medians over every round's steps after "
                        "its warm-up (the peers' step times drift within minutes)")
    p.add_argument("--ours-only", action="store_true", help="run only our side (no peers' environment needed)")
    p.add_argument("--bf16", action="store_true",
                   help="both sides in bf16 mixed precision: our --bf16, the trainers' bf16=True, autocast")
    p.add_argument("--work", help="working folder (default: a temporary one, removed at the end)")
    a = p.parse_args()
    stages = [s for s in a.only.split(",") if s]
    for s in stages:
        if s not in STAGES:
            p.error("--only: unknown stage %r (expected %s)" % (s, ", ".join(STAGES)))
    if a.steps < 2 or a.train_steps < 1 or a.rounds < 1:
        p.error("--steps must be at least 2 (one warm-up), --train-steps and --rounds at least 1")
    if not os.access(a.rlhf, os.X_OK):
        p.error("%s: no such binary (run make first)" % a.rlhf)
    if not a.ours_only and not os.access(a.python, os.X_OK):
        p.error("%s: the peers' environment is missing (scripts/setup-peers-venv.sh makes it)" % a.python)
    keep = a.work is not None
    a.work = os.path.abspath(a.work) if keep else tempfile.mkdtemp(prefix="rlhf-bench-peers.")
    if keep:
        shutil.rmtree(a.work, ignore_errors=True)
        os.makedirs(a.work)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads),
               TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    log = os.path.join(a.work, "bench-peers.log")
    d = write_data(a.work)
    d["model"], d["reward"] = os.path.join(a.work, "model"), os.path.join(a.work, "reward")
    shape = ["--layers", str(MODEL["layers"]), "--heads", str(MODEL["heads"]), "--embd", str(MODEL["embd"]),
             "--ctx", str(MODEL["ctx"])]
    run([a.rlhf, "init", "--out", d["model"], "--seed", "1"] + shape, log, env)
    run([a.rlhf, "init", "--out", d["reward"], "--score-head", "--seed", "2"] + shape, log, env)

    rows = []
    t_start = time.time()
    for stage in stages:
        mine, peer = {}, {}  # label -> ([steps of each round], extra fields)
        for rnd in range(1, a.rounds + 1):
            tag = " (round %d of %d)" % (rnd, a.rounds) if a.rounds > 1 else ""
            say("%s: ours%s" % (stage, tag))
            for label, steps, extra in ours(stage, a, d, env, log, rnd):
                mine.setdefault(label, ([], extra))[0].append(steps)
            if not a.ours_only:
                say("%s: theirs%s" % (stage, tag))
                for label, steps, extra in theirs(stage, a, d, env, log):
                    peer.setdefault(label, ([], extra))[0].append(steps)
        for label, (steps, extra) in mine.items():
            o = median_after_warmup(steps)
            t_steps, t_extra = peer.get(label, ([], {}))
            t = median_after_warmup(t_steps)
            row = {"bench": "peers", "stage": label, "ours_s": round(o, 6) if o is not None else None,
                   "theirs_s": round(t, 6) if t is not None else None,
                   "ratio": round(t / o, 3) if t is not None and o else None,
                   "ours_steps": [round(x, 6) for r in steps for x in r if x is not None],
                   "theirs_steps": [round(x, 6) for r in t_steps for x in r], "rounds": a.rounds,
                   "threads": a.threads, "precision": "bf16" if a.bf16 else "fp32"}
            row.update(extra)
            row.update(t_extra)
            print(json.dumps(row), flush=True)
            rows.append(row)

    print()
    print("%-24s %10s %10s %8s" % ("stage", "ours (s)", "theirs (s)", "ratio"))
    for r in rows:
        f = lambda x, spec: (spec % x) if x is not None else "-"  # noqa: E731
        print("%-24s %10s %10s %8s" % (r["stage"], f(r["ours_s"], "%.4f"), f(r["theirs_s"], "%.4f"),
                                       f(r["ratio"], "%.2fx")))
    say("done in %.0f s (%d threads, %s; ratio = theirs / ours; medians after one warm-up step%s)"
        % (time.time() - t_start, a.threads, "bf16" if a.bf16 else "fp32",
           " per round, over %d rounds" % a.rounds if a.rounds > 1 else ""))
    if not keep:
        shutil.rmtree(a.work, ignore_errors=True)


if __name__ == "__main__":
    main()
