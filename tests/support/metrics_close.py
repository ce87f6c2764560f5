#!/usr/bin/env python3
"""tests/support/metrics_close.py SHARED UNSHARED — the command-line tests' check that a run with
prompt sharing (the default) and the same run with RLHF_PROMPT_SHARING=0 agree: every numeric
metric of every metrics.jsonl row (timings and rates aside) within 1e-4 + 1e-4·|value| (the
gradient norm 1e-3·|value|: it sums many rounding differences), and the shared run forwarded
fewer tokens. Prints the largest differences; exits non-zero when a check fails."""
import json
import sys

SKIP = {"ms", "tokens_per_s", "time_s", "elapsed_s", "step", "lr"}


def rows(d):
    return [json.loads(l) for l in open(d + "/metrics.jsonl")]


a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert len(a) == len(b) and a, (len(a), len(b))
worst, bad = {}, []
for ra, rb in zip(a, b):
    assert ra.keys() == rb.keys(), (ra.keys(), rb.keys())
    for k, x in ra.items():
        if k in SKIP or k.startswith("time_") or k.endswith("_per_s") or not isinstance(x, (int, float)):
            continue
        d = abs(x - rb[k])
        worst[k] = max(worst.get(k, 0.0), d)
        rel = 1e-3 if k == "grad_norm" else 1e-4
        if d > 1e-4 + rel * abs(rb[k]):
            bad.append((ra.get("step"), k, x, rb[k]))
print("  largest shared − unshared differences: " +
      ", ".join(f"{k} {v:.2g}" for k, v in sorted(worst.items(), key=lambda kv: -kv[1])[:4]))
assert not bad, bad[:3]


def tokens(rs):  # tokens forwarded: the loop's rate × step time, or RL's scoring + training phases
    t = 0.0
    for r in rs:
        if "tokens_per_s" in r and "ms" in r:
            t += r["tokens_per_s"] * r["ms"] / 1000
        for ph in ("scoring", "training"):
            if f"{ph}_tokens_per_s" in r:
                t += r[f"{ph}_tokens_per_s"] * r[f"time_{ph}_s"]
    return t


ta, tb = tokens(a), tokens(b)
if tb > 0:
    print(f"  tokens forwarded: {ta:.0f} shared, {tb:.0f} unshared")
    assert ta < 0.95 * tb, (ta, tb)
