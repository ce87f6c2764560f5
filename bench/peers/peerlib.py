"""bench/peers/peerlib.py — what every peer script (theirs_*.py) shares: the thread setting, the
byte-level tokenizer that gives the same ids as rlhf.c's byte tokenizer, the chat rendering of
rlhf.c's plain template (so both sides train on the same tokens), the per-step timer and the
JSON line each script prints. Runs in the peers' environment (.venv-peers/)."""

import argparse
import json
import os
import sys
import tempfile
import time


def parse_args(extra=None):
    """The flags every peer script takes; extra(parser) adds a script's own."""
    p = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__)
    p.add_argument("--model", help="rlhf.c model folder (Hugging Face layout)")
    p.add_argument("--data", help="JSONL data in rlhf.c's record shapes")
    p.add_argument("--steps", type=int, default=6, help="optimizer steps / iterations to run")
    p.add_argument("--batch", type=int, default=16, help="examples per optimizer step")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--bf16", action="store_true",
                   help="bf16 mixed precision: the trainers' bf16=True (CPU autocast), autocast for the plain step")
    if extra:
        extra(p)
    a = p.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    return a


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# rlhf.c's plain chat form (docs/chat-template.md): a string prompt is one user message, the
# generation point is "\n\nAssistant:", a response is " " + its text followed by EOS.
def render_prompt(prompt):
    return "\n\nUser: " + prompt + "\n\nAssistant:"


def render_response(text):
    return " " + text


def byte_tokenizer(padding_side="right"):
    """rlhf.c's byte tokenizer as a fast Hugging Face tokenizer: ids 0-255 are the bytes, 256 is
    <|endoftext|> (EOS), 257 <|pad|>."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {ch: b for b, ch in bytes_to_unicode().items()}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True), AddedToken("<|pad|>", special=True)])
    t = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                pad_token="<|pad|>", padding_side=padding_side)
    assert t.eos_token_id == 256 and t.pad_token_id == 257, "byte tokenizer: special ids moved"
    return t


def common_config(cls, a, **kw):
    """A TRL config for timing: fp32 unless --bf16 (TRL's configs default to bf16), no gradient checkpointing
    (TRL's default is on; rlhf.c keeps activations), no logging, saving or evaluation, CPU."""
    out = tempfile.mkdtemp(prefix="rlhf-peers-")
    base = dict(output_dir=out, max_steps=a.steps, per_device_train_batch_size=a.batch,
                gradient_accumulation_steps=1, bf16=a.bf16, fp16=False, gradient_checkpointing=False,
                logging_strategy="no", save_strategy="no", eval_strategy="no", report_to="none",
                use_cpu=True, disable_tqdm=True, dataloader_num_workers=0, seed=a.seed)
    base.update(kw)
    return cls(**base)


def step_timer():
    """A Trainer callback recording the time of every step's end (and the first step's begin)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.begin = None
            self.ends = []

        def on_step_begin(self, args, state, control, **kw):
            if self.begin is None:
                self.begin = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.ends.append(time.perf_counter())

        def intervals(self):
            """Seconds per step: the first from its begin (TRL's PPO has no step begin: from the
            train begin), every later one from the previous step's end — so data loading,
            collation and the trainer's bookkeeping between steps are counted."""
            t = [self.begin if self.begin is not None else self.train_begin] + self.ends
            return [b - a for a, b in zip(t, t[1:])]

        def on_train_begin(self, args, state, control, **kw):
            self.train_begin = time.perf_counter()

    return StepTimer()


def report(stage, timer, **fields):
    """One JSON line on stdout: the stage and every step's seconds (the caller takes the median)."""
    import torch

    row = {"side": "theirs", "stage": stage, "step_s": [round(x, 6) for x in timer.intervals()],
           "threads": torch.get_num_threads(), "torch": torch.__version__}
    row.update(fields)
    print(json.dumps(row), flush=True)


def quiet():
    """Less noise on stderr: the peers' progress bars and experimental-API warnings."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
