# tests/label_load.py — load and crash tests of `rlhf label serve` (Python standard library only).
#   concurrency RLHF DIR: 20 annotators x 100 items (overlap 20) on loopback, one thread and one
#     keep-alive connection each: every submission acknowledged, no error, ≤ 20 s, and the store
#     holds exactly the 2000 judgements (each item judged by 20 different annotators).
#   crash RLHF DIR: 8 annotators submit in a burst; the server is killed with SIGKILL once 300
#     judgements are acknowledged; after a restart every acknowledged judgement is in the store,
#     unchanged, the file passes PRAGMA integrity_check, and the annotators finish their items.
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from label_client import Client, Server, add_annotator  # noqa: E402

RLHF, D = sys.argv[2], sys.argv[3]
fails = 0


def check(cond, what, detail=""):
    global fails
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else "  " + str(detail)[:2000]))
    fails += 0 if cond else 1


def make_project(name, n_items, n_annot):
    db = "%s/%s.sqlite" % (D, name)
    with open("%s/%s.jsonl" % (D, name), "w") as f:
        for i in range(n_items):
            f.write(json.dumps({"prompt": "p%d" % i, "responses": ["x%d" % i, "y%d" % i]}) + "\n")
    subprocess.run([RLHF, "label", "init", "--db", db, "--candidates", "%s/%s.jsonl" % (D, name)],
                   check=True, capture_output=True)
    return db, [add_annotator(RLHF, db, "u%02d" % k) for k in range(n_annot)]


def worker(srv, token, acked, errors, stop_after=None, counter=None):
    """Labels until done: choice derived from the item, so a restart can check it."""
    c = Client(srv, token, timeout=30)
    try:
        while True:
            st, it, _ = c.get("/api/next")
            if st != 200:
                errors.append(("next", st, it))
                return
            if it.get("done"):
                return
            ch = "a" if it["item_id"] % 3 else "b"
            st, res, _ = c.post("/api/judgement", {"item_id": it["item_id"], "choice": ch, "strength": 1})
            if st != 200:
                errors.append(("judgement", st, res))
                return
            acked.append((res["judgement_id"], it["item_id"], ch))
            if counter is not None:
                counter.append(1)
    except Exception as ex:  # connection refused / reset after the kill
        errors.append(("exception", repr(ex)))
    finally:
        c.close()


def concurrency():
    n_items, n_annot = 100, 20
    db, toks = make_project("conc", n_items, n_annot)
    srv = Server(RLHF, db, "--overlap", str(n_annot), "--threads", "4")
    acked = [[] for _ in toks]
    errors = []
    t0 = time.time()
    th = [threading.Thread(target=worker, args=(srv, t, acked[k], errors)) for k, t in enumerate(toks)]
    for t in th:
        t.start()
    for t in th:
        t.join(timeout=60)
    secs = time.time() - t0
    check(srv.stop() == 0, "server stops cleanly")
    check(not errors, "no errors from 20 clients", errors[:5])
    total = sum(len(a) for a in acked)
    check(all(len(a) == n_items for a in acked), "each of 20 clients made 100 acknowledged submissions",
          [len(a) for a in acked])
    print("  %d submissions (%d requests) by %d clients in %.2f s: %.0f submissions/s"
          % (total, 2 * total + 20, n_annot, secs, total / secs))
    # the cap is 20 s; the ASan/UBSan build (make sanitize) runs the server ~3x slower
    cap = 60 if os.environ.get("RLHF_SANITIZE") else 20
    check(secs <= cap, "done within %d s (%.2f s)" % (cap, secs))
    con = sqlite3.connect(db)
    rows = con.execute("SELECT annotator_id, item_id FROM judgement WHERE undone_at IS NULL").fetchall()
    check(len(rows) == 2000 and len(set(rows)) == 2000, "the store holds 2000 distinct judgements", len(rows))
    per_item = con.execute("SELECT count(DISTINCT annotator_id) FROM judgement GROUP BY item_id").fetchall()
    check(sorted(set(per_item)) == [(20,)] and len(per_item) == 100, "every item judged by 20 different annotators")
    ids = {r[0] for r in con.execute("SELECT id FROM judgement")}
    check(all(j in ids for a in acked for j, _, _ in a), "every acknowledged id is stored")


def crash():
    n_items, n_annot = 150, 8
    db, toks = make_project("crash", n_items, n_annot)
    log = open(D + "/crash-serve.log", "w")
    srv = Server(RLHF, db, "--overlap", str(n_annot), log=log)
    acked = [[] for _ in toks]
    errors, counter = [], []
    th = [threading.Thread(target=worker, args=(srv, t, acked[k], errors, None, counter))
          for k, t in enumerate(toks)]
    for t in th:
        t.start()
    while len(counter) < 300 and any(t.is_alive() for t in th):
        time.sleep(0.002)
    srv.proc.send_signal(signal.SIGKILL)  # in the middle of the burst
    srv.proc.wait()
    for t in th:
        t.join(timeout=60)
    n_acked = sum(len(a) for a in acked)
    check(srv.proc.returncode == -signal.SIGKILL, "server killed with SIGKILL")
    check(300 <= n_acked < n_items * n_annot, "killed mid-burst after %d acknowledged judgements" % n_acked)
    check(any(e[0] == "exception" for e in errors), "clients saw the server die")
    con = sqlite3.connect(db)
    check(con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity_check ok after SIGKILL")
    check(con.execute("PRAGMA foreign_key_check").fetchall() == [], "foreign keys consistent")
    stored = {r[0]: (r[1], r[2], r[3]) for r in con.execute(
        "SELECT j.id, j.item_id, j.choice, a.name FROM judgement j JOIN annotator a ON a.id = j.annotator_id "
        "WHERE j.undone_at IS NULL")}
    con.close()
    lost = [(j, i, c) for k, a in enumerate(acked) for j, i, c in a
            if stored.get(j) != (i, c, "u%02d" % k)]
    check(not lost, "every acknowledged judgement is stored, unchanged", lost[:5])
    # restart on the same file and finish
    srv2 = Server(RLHF, db, "--overlap", str(n_annot), log=log)
    acked2 = [[] for _ in toks]
    errors2 = []
    th = [threading.Thread(target=worker, args=(srv2, t, acked2[k], errors2)) for k, t in enumerate(toks)]
    for t in th:
        t.start()
    for t in th:
        t.join(timeout=60)
    check(srv2.stop() == 0 and not errors2, "restart and continue without errors", errors2[:3])
    con = sqlite3.connect(db)
    rows = con.execute("SELECT annotator_id, item_id FROM judgement WHERE undone_at IS NULL").fetchall()
    check(len(rows) == n_items * n_annot and len(set(rows)) == len(rows),
          "after the restart every annotator judged every item exactly once", len(rows))
    check(con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity_check ok at the end")


{"concurrency": concurrency, "crash": crash}[sys.argv[1]]()
print("label_load %s: %d failed" % (sys.argv[1], fails))
sys.exit(1 if fails else 0)
