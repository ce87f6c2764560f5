"""tests/hf_crosscheck.py — rlhf.c against the reference implementation (Hugging Face transformers
on PyTorch), both ways, on tiny random GPT-2 models fed token ids (so no tokenizer is involved):

(a) folders WE write load in transformers (GPT2LMHeadModel / GPT2ForSequenceClassification and
    the Auto* classes, no missing or unexpected tensors) and give the same numbers:
    `rlhf init` LM and RM, and strongly random models round-tripped through `rlhf convert`;
(b) folders TRANSFORMERS writes (save_pretrained, safetensors; fp32 and bf16) load in rlhf and give
    the same numbers; bf16 is compared against HF in fp32 on the bf16-rounded weights.

Numbers compared: `rlhf logprobs` vs log_softmax(logits) gathered at the next token, `rlhf score`
vs HF's pooled score (ragged rows, padded batches on the HF side). Tolerance: 1e-4 absolute.
Usage: python hf_crosscheck.py RLHF_BIN TMPDIR
"""
import json
import os
import subprocess
import sys

import torch
import transformers
from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification, GPT2Config,
                          GPT2ForSequenceClassification, GPT2LMHeadModel)

TOL = 1e-4
RLHF, TMP = sys.argv[1], sys.argv[2]
torch.set_num_threads(2)
transformers.logging.set_verbosity_error()
fails = 0
figures = []


def check(cond, desc):
    global fails
    print(("ok   " if cond else "FAIL ") + desc, flush=True)
    if not cond:
        fails += 1


def rlhf(*args, expect_rc=0):
    p = subprocess.run([RLHF, *args], capture_output=True, text=True)
    if p.returncode != expect_rc:
        print(f"FAIL rlhf {' '.join(args)}: exit {p.returncode}\n{p.stderr}", flush=True)
        raise SystemExit(1)
    return p


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def ragged_ids(vocab, ctx, lengths, seed, avoid=()):
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        ids = torch.randint(0, vocab, (n,), generator=g).tolist()
        out.append([i if i not in avoid else 1 for i in ids])
    return out


def hf_logprobs(model, rows, pad=0):
    """Per-row log p(t_i | t_<i), i >= 1, from one right-padded batch with an attention mask."""
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
        mask[b, :len(r)] = 1
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
    lp = torch.log_softmax(logits, dim=-1)
    return [lp[b, :len(r) - 1].gather(-1, torch.tensor(r[1:]).unsqueeze(-1)).squeeze(-1).tolist()
            if len(r) > 1 else [] for b, r in enumerate(rows)]


def hf_scores(model, rows, pad):
    """HF's pooled score for right-padded rows (pad must not occur inside a row)."""
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
        mask[b, :len(r)] = 1
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits.float()[:, 0].tolist()


def our_logprobs(model_dir, rows, name, extra=()):
    data = write_jsonl(os.path.join(TMP, name + ".jsonl"), [{"ids": r} for r in rows])
    out = rlhf("logprobs", "--model", model_dir, "--data", data, *extra).stdout
    return [json.loads(l) for l in out.splitlines()]


def our_scores(model_dir, records, name, extra=()):
    data = write_jsonl(os.path.join(TMP, name + ".jsonl"), records)
    p = rlhf("score", "--model", model_dir, "--data", data, *extra)
    return [json.loads(l)["score"] for l in p.stdout.splitlines()], p.stderr


def max_diff(a, b):
    flat_a = [x for r in a for x in (r if isinstance(r, list) else [r])]
    flat_b = [x for r in b for x in (r if isinstance(r, list) else [r])]
    assert len(flat_a) == len(flat_b), (len(flat_a), len(flat_b))
    return max((abs(x - y) for x, y in zip(flat_a, flat_b)), default=0.0)


def compare_lm(desc, ours_dir, hf_model, rows):
    hf = hf_logprobs(hf_model, rows)
    spread = max((abs(x - y) for r in hf for x in r for y in r[:1]), default=0.0)
    for extra, how in (((), "one batch"), (("--batch-tokens", "40"), "--batch-tokens 40")):
        ours = our_logprobs(ours_dir, rows, desc.replace(" ", "_"), extra)
        d = max_diff([o["logprobs"] for o in ours], hf)
        dn = max(abs(o["nll"] - (-sum(h) / len(h))) for o, h in zip(ours, hf) if h)
        figures.append((f"{desc}: logprobs ({how})", d))
        check(d <= TOL and dn <= TOL,
              f"{desc}: logprobs agree ({how}): max |diff| {d:.2e}, nll {dn:.2e} "
              f"(logprob spread {spread:.2f})")


def compare_rm(desc, ours_dir, hf_model, rows, pad):
    hf = hf_scores(hf_model, rows, pad)
    ours, _ = our_scores(ours_dir, [{"ids": r} for r in rows], desc.replace(" ", "_"))
    d = max_diff(ours, hf)
    figures.append((f"{desc}: scores", d))
    check(d <= TOL, f"{desc}: scores agree: max |diff| {d:.2e} (scores span "
                    f"{min(hf):.3f}..{max(hf):.3f})")


def load_info_clean(cls, path, desc, **kw):
    model, info = cls.from_pretrained(path, output_loading_info=True, **kw)
    bad = {k: v for k, v in info.items() if v}
    check(not bad, f"{desc}: transformers loads it with no missing/unexpected tensors {bad or ''}")
    model.eval()
    return model


def randomise(model, seed):
    """Strong random weights everywhere (biases and LayerNorms too), so that every part of the
    network moves the outputs well above the tolerance."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if ".ln_" in name and name.endswith("weight"):
                p.copy_(1 + 0.3 * r)
            elif name.endswith("wte.weight"):
                p.copy_(0.5 * r)
            else:
                p.copy_(0.2 * r)
    return model


V, CTX, C, L, NH = 258, 64, 32, 2, 4
LENGTHS = [1, 2, 7, 17, CTX, 33, 5]

# ---- (a) folders we write, loaded by transformers --------------------------------------------
lm_dir, rm_dir = os.path.join(TMP, "ours_lm"), os.path.join(TMP, "ours_rm")
rlhf("init", "--out", lm_dir, "--layers", str(L), "--heads", str(NH), "--embd", str(C),
     "--ctx", str(CTX), "--seed", "11")
rlhf("init", "--out", rm_dir, "--layers", str(L), "--heads", str(NH), "--embd", str(C),
     "--ctx", str(CTX), "--seed", "12", "--score-head")
lm = load_info_clean(GPT2LMHeadModel, lm_dir, "rlhf init LM")
check(type(AutoModelForCausalLM.from_pretrained(lm_dir)).__name__ == "GPT2LMHeadModel",
      "rlhf init LM: AutoModelForCausalLM gives GPT2LMHeadModel")
rows = ragged_ids(V, CTX, LENGTHS, 1)
compare_lm("rlhf init LM", lm_dir, lm, rows)

rm = load_info_clean(GPT2ForSequenceClassification, rm_dir, "rlhf init RM")
auto_rm = AutoModelForSequenceClassification.from_pretrained(rm_dir)
check(type(auto_rm).__name__ == "GPT2ForSequenceClassification" and auto_rm.config.num_labels == 1
      and auto_rm.config.pad_token_id == 257 and auto_rm.config.eos_token_id == 256,
      "rlhf init RM: AutoModelForSequenceClassification, 1 label, pad 257 != eos 256")
rm_rows = ragged_ids(V, CTX, LENGTHS, 2, avoid=(257,))
compare_rm("rlhf init RM", rm_dir, rm, rm_rows, pad=257)
# text records: [EOS] text [EOS], the score read at the final EOS == HF's last non-pad token
texts = ["hello world", "a", "The quick brown fox jumps over the lazy dog."]
ours, _ = our_scores(rm_dir, [{"text": t} for t in texts], "rm_text")
pr, _ = our_scores(rm_dir, [{"prompt": "Q: 2+2?", "response": " 4"}], "rm_pr", ("--no-template",))
# {"prompt", "response"} by default goes through the chat template (plain form for the byte
# tokenizer): "\n\nUser: " prompt "\n\nAssistant: " response, then EOS, no leading EOS
chat, _ = our_scores(rm_dir, [{"prompt": "Q: 2+2?", "response": "4"}], "rm_chat")
pr += chat
hf = hf_scores(rm, [[256] + list(t.encode()) + [256] for t in texts + ["Q: 2+2? 4"]]
               + [list("\n\nUser: Q: 2+2?\n\nAssistant: 4".encode()) + [256]], pad=257)
d = max_diff(ours + pr, hf)
figures.append(("rlhf init RM: text and prompt/response records", d))
check(d <= TOL, f"rlhf init RM: text/prompt+response records scored at the EOS like HF: max |diff| {d:.2e}")

# ---- (b) folders transformers writes, loaded by us ---------------------------------------------
def hf_config(**kw):
    return GPT2Config(vocab_size=kw.pop("vocab_size", V), n_positions=CTX, n_embd=C, n_layer=L,
                      n_head=NH, bos_token_id=256, eos_token_id=256, resid_pdrop=0.0,
                      embd_pdrop=0.0, attn_pdrop=0.0, activation_function="gelu_new", **kw)


torch.manual_seed(0)
V2 = 311  # a vocabulary that is not the byte tokenizer's
hf_lm = randomise(GPT2LMHeadModel(hf_config(vocab_size=V2)), 3).eval()
hf_lm_dir = os.path.join(TMP, "hf_lm")
hf_lm.save_pretrained(hf_lm_dir, safe_serialization=True)
rows2 = ragged_ids(V2, CTX, LENGTHS, 4)
compare_lm("transformers-written LM (fp32)", hf_lm_dir, hf_lm, rows2)

hf_rm = randomise(GPT2ForSequenceClassification(hf_config(num_labels=1, pad_token_id=257)), 5).eval()
hf_rm_dir = os.path.join(TMP, "hf_rm")
hf_rm.save_pretrained(hf_rm_dir, safe_serialization=True)
compare_rm("transformers-written RM (fp32)", hf_rm_dir, hf_rm, rm_rows, pad=257)

# bf16 files: HF in fp32 on the bf16-rounded weights is the reference
for desc, model, d_name in (("LM", hf_lm, "hf_lm_bf16"), ("RM", hf_rm, "hf_rm_bf16")):
    path = os.path.join(TMP, d_name)
    m16 = type(model)(model.config)
    m16.load_state_dict(model.state_dict())
    m16.to(torch.bfloat16).save_pretrained(path, safe_serialization=True)
    with open(os.path.join(path, "config.json")) as f:
        check(json.load(f).get("torch_dtype") == "bfloat16", f"bf16 {desc}: saved as bfloat16")
    ref = type(model).from_pretrained(path, torch_dtype=torch.float32).eval()
    if desc == "LM":
        compare_lm("transformers-written LM (bf16)", path, ref, rows2)
    else:
        compare_rm("transformers-written RM (bf16)", path, ref, rm_rows, pad=257)

# pad = eos (the common GPT-2 workaround): HF scores the token before the EOS
pe = randomise(GPT2ForSequenceClassification(hf_config(num_labels=1, pad_token_id=256)), 6).eval()
pe_dir = os.path.join(TMP, "hf_rm_pad_eos")
pe.save_pretrained(pe_dir, safe_serialization=True)
pe_rows = [r + [256] for r in ragged_ids(V, CTX - 1, [1, 6, 20, CTX - 1], 7, avoid=(256, 257))]
hf_pe = [hf_scores(pe, [r], pad=256)[0] for r in pe_rows]  # one row each: no padding involved
ours_pe, err = our_scores(pe_dir, [{"ids": r} for r in pe_rows], "pe", ("--score-at", "before-eos"))
d = max_diff(ours_pe, hf_pe)
figures.append(("pad = eos RM: --score-at before-eos", d))
check(d <= TOL, f"pad = eos RM: --score-at before-eos matches HF: max |diff| {d:.2e}")
ours_eos, err = our_scores(pe_dir, [{"ids": r} for r in pe_rows], "pe2")
check("pad_token_id = eos_token_id" in err and "before-eos" in err,
      "pad = eos RM: the default --score-at eos warns and names before-eos")
check(max_diff(ours_eos, hf_pe) > 10 * TOL, "pad = eos RM: --score-at eos reads a different position")

# ---- (a, strong weights) our writer on random weights everywhere: rlhf convert HF -> ours ------
for desc, src, cls, kind in (("LM", hf_lm_dir, GPT2LMHeadModel, "lm"),
                             ("RM", hf_rm_dir, GPT2ForSequenceClassification, "rm")):
    dst = os.path.join(TMP, f"ours_{kind}_converted")
    rlhf("convert", "--from", src, "--to", dst)
    again = load_info_clean(cls, dst, f"rlhf-written {desc} (random weights, via rlhf convert)")
    orig = cls.from_pretrained(src).eval()
    if kind == "lm":
        d = max_diff(hf_logprobs(again, rows2), hf_logprobs(orig, rows2))
        check(d <= 1e-6, f"rlhf-written {desc}: transformers gives the original's logprobs: max |diff| {d:.2e}")
        compare_lm(f"rlhf-written {desc} (random weights)", dst, again, rows2)
    else:
        if again.config.pad_token_id is None:
            # rlhf convert of a folder without tokenizer files writes no pad_token_id, and HF's
            # GPT2ForSequenceClassification then refuses batches of more than one row
            print(f"note rlhf-written {desc} via convert: config.json has no pad_token_id "
                  "(the source folder had no tokenizer); scoring HF one row at a time")
            def hf_rows(model):
                return [hf_scores(model, [r], 257)[0] for r in rm_rows]
        else:
            def hf_rows(model):
                return hf_scores(model, rm_rows, 257)
        d = max_diff(hf_rows(again), hf_rows(orig))
        check(d <= 1e-6, f"rlhf-written {desc}: transformers gives the original's scores: max |diff| {d:.2e}")
        ours, _ = our_scores(dst, [{"ids": r} for r in rm_rows], "converted_rm")
        d = max_diff(ours, hf_rows(again))
        figures.append((f"rlhf-written {desc} (random weights): scores", d))
        check(d <= TOL, f"rlhf-written {desc} (random weights): scores agree: max |diff| {d:.2e}")

print(f"torch {torch.__version__}, transformers {transformers.__version__}")
print("max |diff| overall: %.2e (tolerance %.0e)" % (max(d for _, d in figures), TOL))
print(f"hf_crosscheck: {fails} failed")
sys.exit(1 if fails else 0)
