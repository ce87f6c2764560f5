#!/usr/bin/env bash
# tests/cli_bench_peers.sh — bench/peers/run.py (`make bench-peers`) without the peers' environment:
# our side of SFT and GRPO on the shared tiny model and data gives per-step times; a stand-in peer
# (a script that answers like theirs_*.py) is merged into the same row with ratio = theirs / ours
# (median after the warm-up step); --rounds runs both sides in turn and pools the rounds' steps;
# --bf16 reaches both sides; a failing or silent peer, an unknown stage and a missing environment
# stop the run with a clear message and a non-zero exit.
set -u
. "$(dirname "$0")/support/cli.sh" cli_bench_peers
RUN=(python3 bench/peers/run.py --rlhf "$RLHF" --steps 2 --threads 1)

expect_rc 0 "our side only: sft, grpo" "${RUN[@]}" --ours-only --only sft,grpo --work "$T/w1"
python3 - "$T/out" <<'PY' && ok "a JSON line per stage with our per-step seconds; the table" || bad "JSON lines and table"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
rows = [json.loads(l) for l in lines if l.startswith("{")]
assert [r["stage"] for r in rows] == ["sft", "grpo"], rows
for r in rows:
    assert len(r["ours_steps"]) == 2 and all(s > 0 for s in r["ours_steps"]), r
    assert r["ours_s"] == r["ours_steps"][1] and r["theirs_s"] is None and r["ratio"] is None, r
assert any(l.split()[:4] == ["stage", "ours", "(s)", "theirs"] for l in lines), lines
assert any(l.split()[0] == "grpo" for l in lines if l and not l.startswith("{")), lines
PY
[ -s "$T/w1/ours-grpo/metrics.jsonl" ] && [ -d "$T/w1/model" ] && [ -d "$T/w1/reward" ] \
  && ok "--work keeps the model, the reward model and the runs" || bad "--work keeps the runs"

# a stand-in peer: one result line among other output, step times 9, 2, 3 (warm-up 9)
cat >"$T/peer" <<'SH'
#!/bin/sh
echo "{'train_runtime': 1}"
echo '{"side": "theirs", "stage": "sft", "step_s": [9.0, 2.0, 3.0], "torch": "stand-in"}'
SH
chmod +x "$T/peer"
expect_rc 0 "with a stand-in peer" "${RUN[@]}" --python "$T/peer" --only sft
python3 - "$T/out" <<'PY' && ok "theirs = median after the warm-up (2.5 s), ratio = theirs / ours" || bad "theirs and ratio"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][0]
assert r["theirs_steps"] == [9.0, 2.0, 3.0] and r["theirs_s"] == 2.5 and r["torch"] == "stand-in", r
assert abs(r["ratio"] - 2.5 / r["ours_s"]) <= 1e-3 * r["ratio"], r
PY

# --bf16: both sides in bf16 mixed precision — our run records it, the peer gets --bf16
cat >"$T/peer16" <<'SH'
#!/bin/sh
echo "$*" >"$(dirname "$0")/peer16.args"
echo '{"side": "theirs", "stage": "sft", "step_s": [9.0, 2.0, 3.0], "torch": "stand-in"}'
SH
chmod +x "$T/peer16"
if "${RUN[@]}" --python "$T/peer16" --only sft --bf16 --work "$T/w16" >"$T/out" 2>"$T/err"; then
  python3 - "$T" <<'PY' && ok "--bf16: our run in bf16, the peer called with --bf16, rows say bf16" || bad "--bf16 on both sides"
import json, sys
d = sys.argv[1]
r = [json.loads(l) for l in open(d + "/out") if l.startswith("{")][0]
assert r["precision"] == "bf16" and r["theirs_s"] == 2.5, r
assert json.load(open(d + "/w16/ours-sft/config.json"))["bf16"] is True
assert "--bf16" in open(d + "/peer16.args").read().split()
PY
else
  bf16_unavailable "bench-peers --bf16" "$T/w16/bench-peers.log"
fi

# --rounds 2: each side runs twice in turn; medians over both rounds' steps after their warm-ups
cat >"$T/peer2" <<'SH'
#!/bin/sh
echo x >>"$(dirname "$0")/peer2.calls"
echo '{"side": "theirs", "stage": "sft", "step_s": [9.0, 2.0, 4.0], "torch": "stand-in"}'
SH
chmod +x "$T/peer2"
expect_rc 0 "--rounds 2 with a stand-in peer" "${RUN[@]}" --python "$T/peer2" --only sft --rounds 2 --work "$T/w2"
python3 - "$T" <<'PY' && ok "--rounds 2: both sides twice, medians over the rounds' steps after each warm-up" || bad "--rounds"
import json, os, statistics, sys
d = sys.argv[1]
r = [json.loads(l) for l in open(d + "/out") if l.startswith("{")][0]
assert r["rounds"] == 2 and r["theirs_steps"] == [9.0, 2.0, 4.0, 9.0, 2.0, 4.0] and r["theirs_s"] == 3.0, r
o = r["ours_steps"]
assert len(o) == 4 and abs(r["ours_s"] - statistics.median([o[1], o[3]])) <= 2e-6, r
assert len(open(d + "/peer2.calls").read().split()) == 2
assert os.path.isdir(d + "/w2/ours-sft") and os.path.isdir(d + "/w2/ours-sft-2")
PY
expect_rc 2 "--rounds 0 refused" "${RUN[@]}" --ours-only --rounds 0

printf '#!/bin/sh\necho "peer broke" >&2\nexit 3\n' >"$T/bad"; chmod +x "$T/bad"
expect_rc 1 "a failing peer stops the run" "${RUN[@]}" --python "$T/bad" --only sft
err_has "names the failed command and its log" "FAILED (exit 3)"
err_has "shows the peer's own message" "peer broke"
printf '#!/bin/sh\necho nothing\n' >"$T/mute"; chmod +x "$T/mute"
expect_rc 1 "a peer without a result line" "${RUN[@]}" --python "$T/mute" --only sft
err_has "says so" "printed no result line"
expect_rc 2 "unknown stage" "${RUN[@]}" --ours-only --only sft,bogus
err_has "names it" "unknown stage 'bogus'"
expect_rc 2 "missing peers' environment" "${RUN[@]}" --python "$T/nowhere/python" --only sft
err_has "says how to make it" "scripts/setup-peers-venv.sh"
expect_rc 2 "--steps 1 leaves no step after the warm-up" "${RUN[@]}" --ours-only --steps 1
cli_finish
