# tests/label_browser.py — the labelling page in a real browser: Debian's headless chromium driven
# by Selenium (/usr/bin/chromedriver; no network). Signs in, labels items with the mouse and with
# keyboard shortcuts, skips one, undoes one and relabels it (with a flag and a rewrite), checks
# that a response containing <script> is shown as text, saves screenshots, then checks that
# `rlhf label export` gives exactly the expected pairs and SFT record.
# Usage: label_browser.py RLHF DIR SCREENSHOT_DIR
import json
import os
import subprocess
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(__file__))
from label_client import Server, add_annotator  # noqa: E402

RLHF, D, SHOTS = sys.argv[1], sys.argv[2], sys.argv[3]
fails = 0


def check(cond, what, detail=""):
    global fails
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else "  " + str(detail)[:1500]))
    fails += 0 if cond else 1


XSS = "<script>window.__pwned = 1</script><b>not bold</b> & <img src=x onerror=window.__pwned=2>"
with open(D + "/b.jsonl", "w") as f:
    for i in range(5):
        f.write(json.dumps({"prompt": "Prompt %d: <i>write</i> something" % i,
                            "responses": ["Left answer %d" % i, ("Right answer %d " % i) + (XSS if i == 0 else "")]}) + "\n")
    f.write(json.dumps({"prompt": "Prompt 5: rank", "responses": ["one", "two", "three"]}) + "\n")
db = D + "/b.sqlite"
open(D + "/g.md", "w").write("Pick the better answer.\n<b>Never</b> rendered as HTML.")
subprocess.run([RLHF, "label", "init", "--db", db, "--candidates", D + "/b.jsonl", "--guidelines", D + "/g.md"],
               check=True, capture_output=True)
token = add_annotator(RLHF, db, "web")
srv = Server(RLHF, db, log=open(D + "/serve.log", "w"))

opt = webdriver.ChromeOptions()
opt.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-gpu",
          "--disable-dev-shm-usage", "--window-size=1280,1000", "--user-data-dir=" + D + "/profile"):
    opt.add_argument(a)
opt.set_capability("goog:loggingPrefs", {"browser": "ALL"})
drv = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=opt)
wait = WebDriverWait(drv, 15)
by_id = lambda i: drv.find_element(By.ID, i)  # noqa: E731
expected_pairs, expected_sft = [], []


def shown():
    return by_id("prompt").text, by_id("resp-a").text, by_id("resp-b").text


def wait_done(n):  # the progress line after n judgements
    wait.until(lambda d: by_id("progress").text.startswith("done %d " % n))


def key(k):
    drv.find_element(By.TAG_NAME, "body").send_keys(k)


try:
    drv.get(srv.url)
    by_id("token").send_keys(token)
    by_id("signin").click()
    wait.until(lambda d: by_id("prompt").text != "")
    wait_done(0)
    check(by_id("guidelines").text.startswith("Pick the better answer.") and "<b>Never</b>" in by_id("guidelines").text,
          "guidelines shown as text")
    p, a, b = shown()
    check(p == "Prompt 0: <i>write</i> something", "the prompt is shown as text", p)
    check(not by_id("login").is_displayed() and not by_id("choices-rank").is_displayed()
          and by_id("choices-pair").is_displayed(), "signed in: the pair view only")
    check(XSS.split("<img")[0] in a + b, "a response with <script> is shown as text", (a, b))
    check(drv.execute_script("return window.__pwned === undefined"), "the <script> / onerror never ran")
    check(not drv.find_elements(By.CSS_SELECTOR, "#pair script, #pair b, #pair img"), "no elements made from response text")
    check("1" in by_id("a2").text and "4" in by_id("b2").text and "K" in by_id("skip").text, "shortcuts shown on the buttons")
    drv.save_screenshot(SHOTS + "/label-page.png")
    # 1: mouse, A clearly better
    by_id("a2").click()
    expected_pairs.append((p, a, b, 1.0))
    wait_done(1)
    # 2: shortcut 3, B slightly better
    p, a, b = shown()
    check(p.startswith("Prompt 1"), "second item shown", p)
    key("3")
    expected_pairs.append((p, b, a, 0.0))
    wait_done(2)
    # 3: skip with K
    p3 = shown()[0]
    key("k")
    wait_done(3)
    # 4: shortcut 4 (B clearly), then undo with U: the item comes back; relabel A slightly with a
    # flag (H) and a rewrite (R, type, Esc) by mouse
    p, a, b = shown()
    check(p != p3, "skip moves on")
    key("4")
    wait_done(4)
    key("u")
    wait.until(lambda d: by_id("prompt").text == p and by_id("progress").text.startswith("done 3 "))
    check(shown() == (p, a, b), "undo shows the same item again, same order")
    key("h")
    check(by_id("flag-harmful").is_selected(), "H toggles the harmful flag")
    key("r")
    by_id("rewrite").send_keys("A much better answer.")
    by_id("rewrite").send_keys(Keys.ESCAPE)
    by_id("a1").click()
    expected_pairs.append((p, a, b, 0.0))
    expected_sft.append((p, "A much better answer."))
    wait_done(4)
    check(not by_id("flag-harmful").is_selected() and by_id("rewrite").get_attribute("value") == "",
          "flags and rewrite reset for the next item")
    # 5: tie with T: no pair
    key("t")
    wait_done(5)
    # 6: three responses: select the third with 3, move it up twice with the arrow key, Enter
    wait.until(lambda d: by_id("ranked").is_displayed())
    check(not by_id("choices-pair").is_displayed(), "ranking view for 3 responses")
    texts = [e.text for e in drv.find_elements(By.CSS_SELECTOR, "#rank-list li .text")]
    p = by_id("prompt").text
    key("3")
    key(Keys.ARROW_UP)
    key(Keys.ARROW_UP)
    order = [e.text for e in drv.find_elements(By.CSS_SELECTOR, "#rank-list li .text")]
    check(order == [texts[2], texts[0], texts[1]], "3, Up, Up moves the third response to the top", order)
    drv.save_screenshot(SHOTS + "/label-ranking.png")
    key(Keys.ENTER)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        expected_pairs.append((p, order[i], order[j], 0.0))
    wait.until(lambda d: by_id("done").is_displayed())
    check(by_id("progress").text == "done 6 / remaining 0", "progress at the end", by_id("progress").text)
    drv.save_screenshot(SHOTS + "/label-done.png")
    logs = [l for l in drv.get_log("browser") if l["level"] == "SEVERE" and "favicon" not in l["message"]]
    check(not logs, "no errors in the browser console (CSP, script)", logs)
except Exception as ex:  # a timeout: keep what the page showed
    check(False, "browser session", repr(ex))
    drv.save_screenshot(SHOTS + "/label-failure.png")
finally:
    drv.quit()
    srv.stop()

r = subprocess.run([RLHF, "label", "export", "--db", db, "--format", "pairs", "--out", D + "/p.jsonl"],
                   capture_output=True, text=True)
got = [json.loads(l) for l in open(D + "/p.jsonl")] if r.returncode == 0 else []
check([(g["prompt"], g["chosen"], g["rejected"], g["margin"]) for g in got] == expected_pairs,
      "export gives exactly the 6 expected pairs", (got, expected_pairs))
subprocess.run([RLHF, "label", "export", "--db", db, "--format", "sft", "--out", D + "/s.jsonl"], check=True,
               capture_output=True)
got = [(json.loads(l)["prompt"], json.loads(l)["completion"]) for l in open(D + "/s.jsonl")]
check(got == expected_sft, "export sft gives the rewrite", got)
flags = sqlite3_flags = __import__("sqlite3").connect(db).execute(
    "SELECT flags FROM judgement WHERE undone_at IS NULL AND rewrite IS NOT NULL").fetchall()
check(flags == [('["harmful"]',)], "the flag was stored with the relabelled judgement", flags)
print("label_browser: %d failed" % fails)
sys.exit(1 if fails else 0)
