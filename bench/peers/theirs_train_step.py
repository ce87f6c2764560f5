"""bench/peers/theirs_train_step.py — one plain PyTorch training step of Hugging Face's
GPT2LMHeadModel at the GPT-2 124M shape (random init, fp32 — or bf16 autocast with --bf16 — no
dropout): forward, cross-entropy on
B×T random targets, backward, gradient-norm clip 1.0 and torch.optim.AdamW — the work of rlhf.c's
`rlhf bench --only train_step`. One warm-up step, then --steps timed ones for each B×T in --shapes;
prints one JSON line per shape."""

import peerlib


def flags(p):
    p.add_argument("--shapes", default="4x64,8x256", help="comma-separated BxT")


peerlib.quiet()
a = peerlib.parse_args(flags)
import json  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

# 12 layers, 12 heads, 768 wide, context 1024, vocabulary 50257; no dropout (GPT2Config's default
# is 0.1, and rlhf.c has none: dropout would add work ours does not do)
cfg = GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
model = GPT2LMHeadModel(cfg)
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
g = torch.Generator().manual_seed(7)
for shape in a.shapes.split(","):
    B, T = (int(x) for x in shape.split("x"))
    tok = torch.randint(cfg.vocab_size, (B, T), generator=g)
    tgt = torch.randint(cfg.vocab_size, (B, T), generator=g)
    times = []
    for it in range(a.steps + 1):  # the first is the warm-up
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            logits = model(input_ids=tok).logits
            loss = F.cross_entropy(logits.view(-1, cfg.vocab_size).float(), tgt.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"side": "theirs", "stage": "train_step", "B": B, "T": T, "step_s": [round(x, 6) for x in times],
                      "attn": model.config._attn_implementation, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "bf16": a.bf16, "loss": round(loss.item(), 4)}), flush=True)
