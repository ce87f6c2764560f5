# tests/label_http.py — HTTP tests of every endpoint of `rlhf label serve` and every bad-request
# class (no/wrong/revoked token, Host, Origin, body size, content type, each field), overlap and
# "never the same item twice", skip, undo, then export (pairs / rankings / sft) and stats checked
# against what this client submitted. Usage: label_http.py RLHF DIR (DIR has pairs.sqlite made by
# cli_label.sh: 6 items of 2 responses + 2 items of 3). Prints ok/FAIL lines; exit 1 on a failure.
import json
import sqlite3
import subprocess
import sys
from collections import Counter

sys.path.insert(0, __import__("os").path.dirname(__file__))
from label_client import Client, Server, add_annotator  # noqa: E402

RLHF, D = sys.argv[1], sys.argv[2]
DB = D + "/pairs.sqlite"
fails = 0


def check(cond, what, detail=""):
    global fails
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else "  " + str(detail)))
    fails += 0 if cond else 1


tok = {n: add_annotator(RLHF, DB, n) for n in ("alice", "bob", "carol", "dave")}
srv = Server(RLHF, DB, "--overlap", "2", log=open(D + "/serve.log", "w"))
anon = Client(srv)
A, B, C, Dv = (Client(srv, tok[n]) for n in ("alice", "bob", "carol", "dave"))

# --- the page and static files
st, body, h = anon.get("/")
check(st == 200 and "<title>rlhf.c labelling</title>" in body, "GET / serves the page")
check("script-src 'self'" in h.get("Content-Security-Policy", ""), "page has a Content-Security-Policy")
st, body, h = anon.get("/app.js")
check(st == 200 and h["Content-Type"].startswith("text/javascript") and "textContent" in body, "GET /app.js")
check("innerHTML" not in body, "the script never uses innerHTML")
check(anon.get("/app.css")[0] == 200, "GET /app.css")
check(anon.get("/nothing")[0] == 404, "unknown page -> 404")
check(anon.post("/", raw=b"")[0] == 405, "POST / -> 405")

# --- authentication
for path in ("/api/next", "/api/progress", "/api/project"):
    st, body, h = anon.get(path)
    check(st == 401 and "error" in body and h.get("WWW-Authenticate") == "Bearer", "no token -> 401 " + path)
st, body, _ = anon.post("/api/judgement", {"item_id": 1, "choice": "a"})
check(st == 401, "no token -> 401 POST /api/judgement")
check(anon.post("/api/undo", {})[0] == 401, "no token -> 401 POST /api/undo")
check(Client(srv, "0" * 64).get("/api/next")[0] == 401, "wrong token -> 401")
check(Client(srv, tok["alice"][:-1]).get("/api/next")[0] == 401, "truncated token -> 401")
check(anon.get("/api/next", headers={"Authorization": "Basic " + tok["alice"]})[0] == 401, "not Bearer -> 401")
st, body, _ = C.get("/api/progress")
check(st == 200, "carol's token works before revoking")
subprocess.run([RLHF, "label", "annotator", "revoke", "carol", "--db", DB], check=True, capture_output=True)
st, body, _ = C.get("/api/progress")
check(st == 401 and "revoked" in body["error"], "revoked token -> 401 at once (server running)", body)

# --- Host, Origin, size, content type
check(A.get("/api/progress", headers={"Host": "evil.example:%d" % srv.port})[0] == 403, "foreign Host -> 403")
check(A.get("/", headers={"Host": "evil.example"})[0] == 403, "foreign Host on the page -> 403 (DNS rebinding)")
check(A.get("/api/progress", headers={"Host": "localhost:%d" % srv.port})[0] == 200, "Host localhost:PORT accepted")
check(A.get("/api/progress", headers={"Origin": "http://evil.example"})[0] == 403, "foreign Origin -> 403")
check(A.get("/api/progress", headers={"Origin": "null"})[0] == 403, "Origin null -> 403")
check(A.get("/api/progress", headers={"Origin": srv.url.rstrip("/")})[0] == 200, "own Origin accepted")
big = json.dumps({"item_id": 1, "choice": "a", "rewrite": "x" * 70000}).encode()
st, body, _ = A.post("/api/judgement", raw=big, headers={"Content-Type": "application/json"})
check(st == 413, "body over 64 KiB -> 413", (st, body))
A.close()
st, body, _ = A.post("/api/judgement", raw=b"{}", headers={"Content-Type": "text/plain"})
check(st == 415, "POST with Content-Type text/plain -> 415", (st, body))
check(A.get("/api/judgement")[0] == 405, "GET /api/judgement -> 405")
check(A.post("/api/next", {})[0] == 405, "POST /api/next -> 405")
check(A.get("/api/nothing")[0] == 404, "unknown endpoint -> 404")

# --- project, next, the recorded shuffled order
st, proj, _ = A.get("/api/project")
check(st == 200 and proj["guidelines"].startswith("# Be kind") and proj["overlap"] == 2, "GET /api/project", proj)
st, p0, _ = A.get("/api/progress")
check(st == 200 and p0["done"] == 0 and p0["remaining"] == 8 and p0["items_total"] == 8, "GET /api/progress at start", p0)
st, it, _ = A.get("/api/next")
check(st == 200 and set(it) == {"item_id", "prompt", "responses"} and len(it["responses"]) == 2, "GET /api/next", it)
st, again, _ = A.get("/api/next")
check(again == it, "GET /api/next again: the same open item, same order")
db = sqlite3.connect(DB)
order = json.loads(db.execute("SELECT display_order FROM assignment WHERE item_id=? AND annotator_id="
                              "(SELECT id FROM annotator WHERE name='alice')", (it["item_id"],)).fetchone()[0])
check(order == [r["id"] for r in it["responses"]], "display order recorded in the store")

# --- every bad judgement -> 400 (nothing recorded)
item = it["item_id"]
BAD = [
    (b"{not json", "invalid JSON"), (b"[1,2]", "not an object"), (b'"a"', "a string"),
    (b'{"item_id": 1, "item_id": 2, "choice": "a"}', "duplicate key"),
]
for raw, what in BAD:
    st, body, _ = A.post("/api/judgement", raw=raw, headers={"Content-Type": "application/json"})
    check(st == 400 and "error" in body, "400: " + what, (st, body))
BADJ = [
    ({"choice": "a"}, "item_id missing"), ({"item_id": "1", "choice": "a"}, "item_id a string"),
    ({"item_id": item}, "choice missing"), ({"item_id": item, "choice": "A"}, "choice unknown"),
    ({"item_id": item, "choice": 1}, "choice a number"),
    ({"item_id": item, "choice": "a", "strength": 3}, "strength 3"),
    ({"item_id": item, "choice": "a", "strength": 1.5}, "strength 1.5"),
    ({"item_id": item, "choice": "tie", "strength": 1}, "strength with a tie"),
    ({"item_id": item, "choice": "a", "flags": "harmful"}, "flags not a list"),
    ({"item_id": item, "choice": "a", "flags": ["rude"]}, "unknown flag"),
    ({"item_id": item, "choice": "a", "flags": ["wrong", "wrong"]}, "flag twice"),
    ({"item_id": item, "choice": "a", "rewrite": 5}, "rewrite not a string"),
    ({"item_id": item, "choice": "a", "rewrite": "y" * 20001}, "rewrite too long"),
    ({"item_id": item, "choice": "a", "rewrite": "nul\u0000byte"}, "rewrite with NUL"),
    ({"item_id": item, "choice": "rank", "ranking": [1, 2]}, "rank on a 2-response item"),
    ({"item_id": item, "choice": "a", "ranking": [1, 2]}, "ranking with choice a"),
    ({"item_id": item, "choice": "a", "extra": 1}, "unknown field"),
]
for body_, what in BADJ:
    st, body, _ = A.post("/api/judgement", body_)
    check(st == 400 and "error" in body, "400: " + what, (st, body))
st, body, _ = A.post("/api/judgement", {"item_id": 999, "choice": "a"})
check(st == 403, "item not assigned to the caller -> 403", (st, body))
n0 = db.execute("SELECT count(*) FROM judgement").fetchone()[0]
check(n0 == 0, "no judgement recorded by the bad requests", n0)
check(A.post("/api/undo", {})[0] == 409, "undo with nothing to undo -> 409")

# --- alice judges every item; expected export built from what was shown
expect_pairs, expect_sft, expect_rank = [], [], []
seen_a, choice_of, texts_a = [], {}, []
plan = ["a", "b", "tie", "skip", "both_bad", "a", "rank", "rank"]
step = 0
while True:
    st, it, _ = A.get("/api/next")
    if it.get("done"):
        break
    check(it["item_id"] not in seen_a, "alice never gets an item twice")
    seen_a.append(it["item_id"])
    r = it["responses"]
    texts_a.extend(x["text"] for x in r)
    ch = plan[step] if len(r) == 2 or plan[step] in ("skip", "tie") else "rank"
    if len(r) == 3:
        ch = "rank"
    body_ = {"item_id": it["item_id"], "choice": ch}
    if ch in ("a", "b"):
        w = 0 if ch == "a" else 1
        body_["strength"] = 2 if step == 0 else 1
        expect_pairs.append((it["prompt"], r[w]["text"], r[1 - w]["text"], 1.0 if step == 0 else 0.0))
    if ch == "rank":  # [r2, [r0, r1]]: r2 best, r0 and r1 tied
        body_["ranking"] = [r[2]["id"], [r[0]["id"], r[1]["id"]]]
        body_["strength"] = 2
        body_["flags"] = ["wrong"]
        for loser in (r[0], r[1]):
            expect_pairs.append((it["prompt"], r[2]["text"], loser["text"], 1.0))
        expect_rank.append((it["prompt"], r[2]["text"], {r[0]["text"], r[1]["text"]}))
    if step == 1:
        body_["rewrite"] = "A better answer %d" % step
        expect_sft.append((it["prompt"], body_["rewrite"]))
        body_["flags"] = ["harmful", "ignores_instruction"]
    if step == 5:  # judged, then undone, then judged again the other way
        st, res, _ = A.post("/api/judgement", dict(body_, choice="b"))
        check(st == 200 and res["ok"], "judgement before undo")
        st, res2, _ = A.post("/api/judgement", body_)
        check(st == 409, "second judgement of the same item -> 409", (st, res2))
        st, u, _ = A.post("/api/undo", {})
        check(st == 200 and u["undone"] == res["judgement_id"] and u["item_id"] == it["item_id"], "POST /api/undo", u)
        st, back, _ = A.get("/api/next")
        check(back == it, "after undo the same item is shown again", back)
    st, res, _ = A.post("/api/judgement", body_)
    check(st == 200 and res.get("ok") is True and isinstance(res.get("judgement_id"), int),
          "POST /api/judgement (%s)" % ch, (st, res))
    choice_of[it["item_id"]] = ch
    step += 1
check("Second answer 2 <script>alert(2)</script>" in texts_a, "a response with <script> comes back verbatim")
check(step == 8 and sorted(seen_a) == list(range(1, 9)), "alice saw all 8 items once", seen_a)
st, p1, _ = A.get("/api/progress")
check(p1["done"] == 8 and p1["remaining"] == 0, "progress after alice", p1)

# --- bob: every item too (overlap 2); dave then gets only the item alice skipped
seen_b = []
while True:
    st, it, _ = B.get("/api/next")
    if it.get("done"):
        break
    seen_b.append(it["item_id"])
    r = it["responses"]
    body_ = {"item_id": it["item_id"], "choice": "a"}
    if len(r) == 3:
        body_ = {"item_id": it["item_id"], "choice": "rank", "ranking": [x["id"] for x in r]}
    check(B.post("/api/judgement", body_)[0] == 200, "bob judges item %d" % it["item_id"])
check(sorted(seen_b) == list(range(1, 9)), "bob saw all 8 items", seen_b)
skipped = [i for i, c in choice_of.items() if c == "skip"]
st, it, _ = Dv.get("/api/next")
check(st == 200 and it.get("item_id") == skipped[0], "dave gets the item alice skipped (skips leave the slot open)", it)
Dv.post("/api/judgement", {"item_id": it["item_id"], "choice": "tie"})
st, it, _ = Dv.get("/api/next")
check(it == {"done": True}, "then dave is done: every other item has 2 annotators", it)
st, p, _ = Dv.get("/api/progress")
check(p["done"] == 1 and p["remaining"] == 0, "dave's progress", p)
srv.stop()
check(srv.proc.returncode == 0, "serve stops cleanly on SIGTERM")

# --- exports match what was submitted
def run(*a):
    return subprocess.run([RLHF, "label", *a], capture_output=True, text=True)


r = run("export", "--db", DB, "--format", "pairs", "--out", D + "/pairs.jsonl")
check(r.returncode == 0, "export pairs", r.stderr)
got = [json.loads(l) for l in open(D + "/pairs.jsonl")]
mine = [(g["prompt"], g["chosen"], g["rejected"], g["margin"]) for g in got if g["annotator"] == "alice"]
check(Counter(mine) == Counter(expect_pairs), "alice's pairs exactly as submitted", (mine, expect_pairs))
bobs = [g for g in got if g["annotator"] == "bob"]
check(len(bobs) == 6 + 2 * 3 and all(g["margin"] == 0.0 for g in bobs), "bob's 6 'a' pairs + 3 per ranking of 3, margin of strength 1", len(bobs))
check(not any(g["annotator"] == "dave" for g in got), "a tie gives no pair")
r = run("export", "--db", DB, "--format", "pairs", "--out", D + "/pairs2.jsonl", "--margin-clear", "3", "--margin-slight", "0.5")
got2 = [json.loads(l)["margin"] for l in open(D + "/pairs2.jsonl")]
check(sorted(set(got2)) == [0.5, 3.0], "--margin-slight / --margin-clear", set(got2))
r = run("export", "--db", DB, "--format", "rankings", "--out", D + "/rank.jsonl")
rk = [json.loads(l) for l in open(D + "/rank.jsonl")]
alice_rk = [x for x in rk if x["annotator"] == "alice"]
check(len(alice_rk) == 3 + 2, "rankings: alice's 5 ordered judgements (ties / both_bad / skip left out)", len(alice_rk))
k3 = [x for x in alice_rk if len(x["responses"]) == 3]
ok3 = all(isinstance(x["ranking"][0], int) and sorted(x["ranking"][1]) == sorted({0, 1, 2} - {x["ranking"][0]}) for x in k3)
check(len(k3) == 2 and ok3 and Counter((x["prompt"], x["responses"][x["ranking"][0]], frozenset(x["responses"][i] for i in x["ranking"][1])) for x in k3)
      == Counter((p, b, frozenset(s)) for p, b, s in expect_rank), "rankings keep the tie group", k3)
r = run("export", "--db", DB, "--format", "rankings", "--out", D + "/rank_ties.jsonl", "--keep-ties")
rt = [json.loads(l) for l in open(D + "/rank_ties.jsonl")]
ties = [x for x in rt if x["choice"] in ("tie", "both_bad")]
check(len(ties) == 3 and all(len(x["ranking"]) == 1 for x in ties), "--keep-ties writes the all-tied judgements", ties)
r = run("export", "--db", DB, "--format", "sft", "--out", D + "/sft.jsonl")
sft = [(json.loads(l)["prompt"], json.loads(l)["completion"]) for l in open(D + "/sft.jsonl")]
check(sft == expect_sft, "sft: the rewritten answer", sft)
check(run("export", "--db", DB, "--format", "csv", "--out", D + "/x").returncode == 2, "export --format csv -> 2")

# --- stats: counts, and agreement recomputed here from the judgements
r = run("stats", "--db", DB, "--overlap", "2", "--json")
st = json.loads(r.stdout)
check(st["judgements"] == 8 + 8 + 1 and st["undone"] == 1, "stats: judgement counts", st)
check(st["items_complete"] == 8 and st["by_choice"]["skip"] == 1, "stats: items done at overlap 2, skips", st)
names = {a["name"]: a for a in st["annotators"]}
check(names["alice"]["judgements"] == 8 and names["alice"]["skips"] == 1 and names["carol"]["judgements"] == 0, "stats: per annotator")
rows = db.execute("SELECT j.item_id, a.name, j.choice, j.ranking FROM judgement j JOIN annotator a ON a.id=j.annotator_id "
                  "WHERE j.undone_at IS NULL AND j.choice != 'skip'").fetchall()
lab = {}
for item_, who, ch, ranking in rows:
    g = json.loads(ranking)
    lab.setdefault(item_, {})[who] = "both_bad" if ch == "both_bad" else ("tie" if len(g) < 2 or len(g[0]) != 1 else "r%d" % g[0][0])
units = [v for v in lab.values() if len(v) >= 2]
# Krippendorff's alpha (nominal), straight from the definition with pairable values
vals = Counter()
o = Counter()
for u in units:
    vs = list(u.values())
    for i, x in enumerate(vs):
        for j, y in enumerate(vs):
            if i != j:
                o[(x, y)] += 1 / (len(vs) - 1)
for (x, y), c in o.items():
    vals[x] += c
n = sum(vals.values())
do = sum(c for (x, y), c in o.items() if x != y)
de = sum(vals[x] * vals[y] for x in vals for y in vals if x != y)
alpha = 1 - (n - 1) * do / de
check(st["agreement"]["items"] == len(units) and abs(st["agreement"]["krippendorff_alpha"] - alpha) < 1e-9,
      "stats: Krippendorff's alpha = %.4f" % alpha, st["agreement"])
ab = [(u["alice"], u["bob"]) for u in units if "alice" in u and "bob" in u]
po = sum(x == y for x, y in ab) / len(ab)
ca, cb = Counter(x for x, _ in ab), Counter(y for _, y in ab)
pe = sum(ca[c] * cb[c] for c in ca) / len(ab) ** 2
kappa = (po - pe) / (1 - pe)
pair = [p for p in st["agreement"]["pairs"] if {p["a"], p["b"]} == {"alice", "bob"}][0]
check(pair["items"] == len(ab) and abs(pair["kappa"] - kappa) < 1e-9, "stats: Cohen's kappa alice/bob = %.4f" % kappa, pair)
r = run("stats", "--db", DB)
check(r.returncode == 0 and "Krippendorff" in r.stdout, "stats as text")
print("label_http: %d failed" % fails)
sys.exit(1 if fails else 0)
