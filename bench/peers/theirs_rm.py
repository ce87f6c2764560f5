"""bench/peers/theirs_rm.py — TRL's RewardTrainer on rlhf.c's preference pairs: the model's trunk
plus a new scalar head (as rlhf rm), Bradley–Terry loss, --steps optimizer steps of --batch pairs;
prints one JSON line with every step's seconds."""

import peerlib

peerlib.quiet()
a = peerlib.parse_args()
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForSequenceClassification  # noqa: E402
from trl import RewardConfig, RewardTrainer  # noqa: E402

rows = [{"prompt": peerlib.render_prompt(r["prompt"]), "chosen": peerlib.render_response(r["chosen"]),
         "rejected": peerlib.render_response(r["rejected"])} for r in peerlib.read_jsonl(a.data)]
tok = peerlib.byte_tokenizer()
model = AutoModelForSequenceClassification.from_pretrained(a.model, num_labels=1)
model.config.pad_token_id = tok.pad_token_id
timer = peerlib.step_timer()
trainer = RewardTrainer(
    model=model,
    args=peerlib.common_config(RewardConfig, a, learning_rate=3e-5),
    train_dataset=Dataset.from_list(rows),
    processing_class=tok,
    callbacks=[timer],
)
trainer.train()
peerlib.report("rm", timer, examples=len(rows))
