"""bench/peers/theirs_sft.py — TRL's SFTTrainer on rlhf.c's SFT data and model: --steps optimizer
steps of --batch prompt/completion examples (loss on the completion only, as rlhf sft); prints one
JSON line with every step's seconds."""

import peerlib

peerlib.quiet()
a = peerlib.parse_args()
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402

rows = [{"prompt": peerlib.render_prompt(r["prompt"]), "completion": peerlib.render_response(r["completion"])}
        for r in peerlib.read_jsonl(a.data)]
timer = peerlib.step_timer()
trainer = SFTTrainer(
    model=AutoModelForCausalLM.from_pretrained(a.model),
    args=peerlib.common_config(SFTConfig, a, learning_rate=1e-4, completion_only_loss=True, packing=False),
    train_dataset=Dataset.from_list(rows),
    processing_class=peerlib.byte_tokenizer(),
    callbacks=[timer],
)
trainer.train()
peerlib.report("sft", timer, examples=len(rows))
