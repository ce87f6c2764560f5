"""bench/peers/theirs_dpo.py — TRL's DPOTrainer on rlhf.c's preference pairs: the policy starts
from the model and the frozen reference is a copy; the reference's log-probabilities are computed
once before training (precompute_ref_log_probs, as rlhf dpo does), so a step is the policy's
forward and backward on chosen and rejected plus AdamW. Prints one JSON line with every step's
seconds."""

import peerlib

peerlib.quiet()
a = peerlib.parse_args()
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

rows = [{"prompt": peerlib.render_prompt(r["prompt"]), "chosen": peerlib.render_response(r["chosen"]),
         "rejected": peerlib.render_response(r["rejected"])} for r in peerlib.read_jsonl(a.data)]
timer = peerlib.step_timer()
trainer = DPOTrainer(
    model=AutoModelForCausalLM.from_pretrained(a.model),
    ref_model=AutoModelForCausalLM.from_pretrained(a.model),
    args=peerlib.common_config(DPOConfig, a, learning_rate=1e-4, beta=0.1, precompute_ref_log_probs=True),
    train_dataset=Dataset.from_list(rows),
    processing_class=peerlib.byte_tokenizer(),
    callbacks=[timer],
)
trainer.train()
peerlib.report("dpo", timer, examples=len(rows))
