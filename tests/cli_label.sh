#!/usr/bin/env bash
# tests/cli_label.sh — `rlhf label` end to end: --help, init from candidates (bad lines → FILE:LINE)
# and from a model (K samples per prompt with their provenance, reproducible by seed), annotator
# add/list/revoke, the HTTP tests of every endpoint and bad request (tests/label_http.py), and the
# round trip: a simulated annotator labels 160 items over HTTP, `label export` writes pairs / sft,
# and `rlhf rm` (plus a few steps of dpo and sft) trains on those files.
set -u
. "$(dirname "$0")/support/cli.sh" cli_label
here=$(cd "$(dirname "$0")" && pwd)

expect_rc 0 "label --help" "$RLHF" label --help
grep -q "annotator" "$T/out" && ok "help lists the subcommands" || bad "help lists the subcommands"
expect_rc 2 "label without a subcommand" "$RLHF" label
expect_rc 2 "label frobnicate" "$RLHF" label frobnicate
for s in init serve export stats; do expect_rc 0 "label $s --help" "$RLHF" label $s --help; done
expect_rc 0 "label annotator add --help" "$RLHF" label annotator add --help
expect_rc 2 "init needs --model or --candidates" "$RLHF" label init --db "$T/x.sqlite"
expect_rc 2 "init --model needs --prompts" "$RLHF" label init --db "$T/x.sqlite" --model m
[ ! -e "$T/x.sqlite" ] && ok "no file left by a usage error" || bad "no file left by a usage error"

python3 - "$T" <<'PY'
import json, sys
T = sys.argv[1]
with open(T + "/cands.jsonl", "w") as f:
    for i in range(6):
        extra = " <script>alert(%d)</script>" % i if i == 2 else ""
        f.write(json.dumps({"prompt": "Question %d?" % i, "responses": ["First answer %d" % i, "Second answer %d%s" % (i, extra)]}) + "\n")
    for i in range(2):
        f.write(json.dumps({"prompt": "Rank these %d" % i, "responses": ["one %d" % i, "two %d" % i, "three %d" % i]}) + "\n")
open(T + "/bad1.jsonl", "w").write('{"prompt": "ok", "responses": ["a", "b"]}\n{"prompt": "x", "responses": ["only one"]}\n')
open(T + "/bad2.jsonl", "w").write('{"prompt": "ok", "responses": ["a", "b"]}\n\n{"prompt": 3, "responses": ["a", "b"]}\n')
open(T + "/bad3.jsonl", "w").write('{"prompt": "ok", "responses": ["a", 7]}\n')
open(T + "/bad4.jsonl", "w").write('{"prompt": "ok", "responses": ["a", "b"]\n')
open(T + "/guide.md", "w").write("# Be kind\nPrefer the answer that is <b>correct</b>.\n")
with open(T + "/prompts.jsonl", "w") as f:
    for i in range(3):
        f.write(json.dumps({"prompt": "Tell me about %d" % i}) + "\n")
PY
expect_rc 1 "candidates with one response" "$RLHF" label init --db "$T/b.sqlite" --candidates "$T/bad1.jsonl"
err_has "names FILE:LINE and the field" "bad1.jsonl:2: field \"responses\""
expect_rc 1 "candidates with a number prompt" "$RLHF" label init --db "$T/b.sqlite" --candidates "$T/bad2.jsonl"
err_has "names line 3" "bad2.jsonl:3: field \"prompt\": expected string"
expect_rc 1 "candidates with a number response" "$RLHF" label init --db "$T/b.sqlite" --candidates "$T/bad3.jsonl"
err_has "names the response" "bad3.jsonl:1: field \"responses\"[1]"
expect_rc 1 "candidates with invalid JSON" "$RLHF" label init --db "$T/b.sqlite" --candidates "$T/bad4.jsonl"
err_has "names the line" "bad4.jsonl:1:"
[ ! -e "$T/b.sqlite" ] && ok "a failed init leaves no project file" || bad "a failed init leaves no project file"

expect_rc 0 "init from candidates" "$RLHF" label init --db "$T/pairs.sqlite" --candidates "$T/cands.jsonl" --guidelines "$T/guide.md"
expect_rc 1 "init refuses an existing file" "$RLHF" label init --db "$T/pairs.sqlite" --candidates "$T/cands.jsonl"
err_has "says it exists" "already exists"
expect_rc 1 "serve a missing project" "$RLHF" label serve --db "$T/none.sqlite"
echo "not sqlite" >"$T/junk.sqlite"
expect_rc 1 "serve a file that is not a project" "$RLHF" label stats --db "$T/junk.sqlite"
expect_rc 2 "serve --overlap 0" "$RLHF" label serve --db "$T/pairs.sqlite" --overlap 0
expect_rc 1 "serve --host not an address" "$RLHF" label serve --db "$T/pairs.sqlite" --host example.org --port 0
err_has "names the host" "--host example.org"

# annotators: add prints a token, only its SHA-256 is stored; list; revoke
expect_rc 0 "annotator add" "$RLHF" label annotator add zoe --db "$T/pairs.sqlite"
tok=$(cat "$T/out")
python3 - "$T/pairs.sqlite" "$tok" <<'PY' && ok "token printed once, stored as SHA-256 only" || bad "token printed once, stored as SHA-256 only"
import hashlib, sqlite3, sys, re
db, tok = sys.argv[1], sys.argv[2]
assert re.fullmatch(r"[0-9a-f]{64}", tok), tok
c = sqlite3.connect(db)
rows = c.execute("SELECT name, token_sha256 FROM annotator").fetchall()
assert rows == [("zoe", hashlib.sha256(tok.encode()).hexdigest())], rows
dump = "\n".join(c.iterdump())
assert tok not in dump
assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
PY
expect_rc 1 "annotator add twice" "$RLHF" label annotator add zoe --db "$T/pairs.sqlite"
err_has "says the name exists" "already exists"
expect_rc 2 "annotator add without NAME" "$RLHF" label annotator add --db "$T/pairs.sqlite"
expect_rc 0 "annotator revoke" "$RLHF" label annotator revoke zoe --db "$T/pairs.sqlite"
expect_rc 1 "revoke an unknown name" "$RLHF" label annotator revoke nobody --db "$T/pairs.sqlite"
expect_rc 0 "annotator list" "$RLHF" label annotator list --db "$T/pairs.sqlite"
grep -q "zoe.*revoked" "$T/out" && ok "list shows the revoked annotator" || bad "list shows the revoked annotator"

# the HTTP tests of every endpoint (Python standard library client)
python3 "$here/label_http.py" "$RLHF" "$T" >"$T/http.log" 2>&1; rc=$?
sed 's/^/  http: /' "$T/http.log" | grep -v '^  http: ok' | head -40
grep -c '^ok' "$T/http.log" | sed 's/^/  http checks passed: /'
[ $rc -eq 0 ] && ok "HTTP tests (tests/label_http.py)" || bad "HTTP tests (tests/label_http.py)"

# init from a model: K samples per prompt with provenance; the same seed gives the same texts
expect_rc 0 "init a tiny model" "$RLHF" init --out "$T/tiny" --layers 2 --heads 2 --embd 32 --ctx 64 --seed 2
expect_rc 0 "label init --model -k 3" "$RLHF" label init --db "$T/m1.sqlite" --model "$T/tiny" --prompts "$T/prompts.jsonl" -k 3 --max-new 12 --seed 7 --temperature 0.9
expect_rc 0 "label init --model again, same seed" "$RLHF" label init --db "$T/m2.sqlite" --model "$T/tiny" --prompts "$T/prompts.jsonl" -k 3 --max-new 12 --seed 7 --temperature 0.9
expect_rc 0 "label init --model, another seed" "$RLHF" label init --db "$T/m3.sqlite" --model "$T/tiny" --prompts "$T/prompts.jsonl" -k 3 --max-new 12 --seed 8 --temperature 0.9
python3 - "$T" <<'PY' && ok "model candidates: 3 x 3 with provenance, reproducible by seed" || bad "model candidates: 3 x 3 with provenance, reproducible by seed"
import json, sqlite3, sys
T = sys.argv[1]
def rows(n):
    return sqlite3.connect(T + "/m%d.sqlite" % n).execute(
        "SELECT i.prompt, r.idx, r.text, r.provenance FROM response r JOIN item i ON i.id = r.item_id ORDER BY r.id").fetchall()
a, b, c = rows(1), rows(2), rows(3)
assert len(a) == 9 and [r[1] for r in a] == [0, 1, 2] * 3, a
assert a == b, "same seed, different candidates"
assert [r[2] for r in a] != [r[2] for r in c], "another seed, same candidates"
p = [json.loads(r[3]) for r in a]
assert all(x["source"] == "model" and x["model"].endswith("/tiny") and x["seed"] == 7 and x["max_new"] == 12
           and abs(x["temperature"] - 0.9) < 1e-6 and x["top_k"] == 0 for x in p), p[0]
assert [x["sample_id"] for x in p] == list(range(9)), p
assert len(set(r[2] for r in a[:3])) > 1, "the K samples of a prompt differ"
meta = dict(sqlite3.connect(T + "/m1.sqlite").execute("SELECT key, value FROM meta"))
assert json.loads(meta["provenance"])["k"] == 3
PY
expect_rc 2 "label init -k 1" "$RLHF" label init --db "$T/m4.sqlite" --model "$T/tiny" --prompts "$T/prompts.jsonl" -k 1

# round trip: a simulated annotator prefers responses ending in "!", over HTTP; export; rm trains
python3 - "$T" <<'PY'
import json, random, sys
T = sys.argv[1]; r = random.Random(1); w = "abcdefghij klmnop"
with open(T + "/rt.jsonl", "w") as f:
    for i in range(160):
        a = "".join(r.choice(w) for _ in range(r.randint(3, 10))) + "!"
        b = "".join(r.choice(w) for _ in range(r.randint(3, 10))) + "."
        resp = [a, b] if r.random() < 0.5 else [b, a]
        f.write(json.dumps({"prompt": "Say something %d" % r.randint(0, 99), "responses": resp}) + "\n")
PY
expect_rc 0 "init the round-trip project" "$RLHF" label init --db "$T/rt.sqlite" --candidates "$T/rt.jsonl"
python3 - "$RLHF" "$T" "$here" <<'PY' && ok "160 items labelled over HTTP" || bad "160 items labelled over HTTP"
import sys
sys.path.insert(0, sys.argv[3])
from label_client import Client, Server, add_annotator
rlhf, T = sys.argv[1], sys.argv[2]
tok = add_annotator(rlhf, T + "/rt.sqlite", "sim")
s = Server(rlhf, T + "/rt.sqlite")
c = Client(s, tok)
n = 0
while True:
    st, it, _ = c.get("/api/next")
    assert st == 200, it
    if it.get("done"):
        break
    r = it["responses"]
    body = {"item_id": it["item_id"], "choice": "a" if r[0]["text"].endswith("!") else "b",
            "strength": 1 + n % 2}
    if n % 5 == 0:
        body["rewrite"] = "A fine answer!"
    st, res, _ = c.post("/api/judgement", body)
    assert st == 200 and res["ok"], res
    n += 1
assert n == 160, n
assert s.stop() == 0
PY
expect_rc 0 "export pairs" "$RLHF" label export --db "$T/rt.sqlite" --format pairs --out "$T/rt_pairs.jsonl"
expect_rc 0 "export sft" "$RLHF" label export --db "$T/rt.sqlite" --format sft --out "$T/rt_sft.jsonl"
[ "$(wc -l <"$T/rt_pairs.jsonl")" -eq 160 ] && ok "160 pairs" || bad "160 pairs"
[ "$(wc -l <"$T/rt_sft.jsonl")" -eq 32 ] && ok "32 sft records" || bad "32 sft records"
expect_rc 0 "rm trains on the export" "$RLHF" rm --model "$T/tiny" --data "$T/rt_pairs.jsonl" --steps 30 --batch 8 --lr 3e-3 \
  --warmup 3 --eval-every 10 --val-fraction 0.2 --seed 4 --quiet --out "$T/rm"
python3 - "$T/rm" <<'PY' && ok "the reward model learns the annotator's preference (val accuracy ≥ 0.9)" || bad "the reward model learns the annotator's preference (val accuracy ≥ 0.9)"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
ev = [r for r in ev if "val_accuracy" in r]
print("  val_accuracy:", [r["val_accuracy"] for r in ev])
assert ev and ev[-1]["val_accuracy"] >= 0.9, ev
PY
expect_rc 0 "dpo reads the export" "$RLHF" dpo --model "$T/tiny" --data "$T/rt_pairs.jsonl" --steps 2 --batch 4 --quiet --out "$T/dpo"
expect_rc 0 "sft reads the export" "$RLHF" sft --model "$T/tiny" --data "$T/rt_sft.jsonl" --steps 2 --batch 4 --quiet --out "$T/sft"
cli_finish
