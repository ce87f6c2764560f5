"""bench/peers/theirs_grpo.py — TRL's GRPOTrainer against rlhf.c's reward model: one iteration
samples --group responses for each of --batch / --group prompts (temperature 0.7, at most
--max-new tokens), scores them with the reward model and the frozen reference (beta 0.04, as
rlhf grpo), and takes one optimizer step on all of them (one epoch, one minibatch). Prints one
JSON line with every iteration's seconds."""

import peerlib


def flags(p):
    p.add_argument("--reward", required=True, help="reward-model folder")
    p.add_argument("--group", type=int, default=4)
    p.add_argument("--max-new", type=int, default=32)


peerlib.quiet()
a = peerlib.parse_args(flags)
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

rows = [{"prompt": peerlib.render_prompt(r["prompt"])} for r in peerlib.read_jsonl(a.data)]
tok = peerlib.byte_tokenizer(padding_side="left")
rm_tok = peerlib.byte_tokenizer()
reward = AutoModelForSequenceClassification.from_pretrained(a.reward, num_labels=1)
timer = peerlib.step_timer()
trainer = GRPOTrainer(
    model=AutoModelForCausalLM.from_pretrained(a.model),
    reward_funcs=reward,
    args=peerlib.common_config(GRPOConfig, a, learning_rate=1e-4, num_generations=a.group,
                               max_completion_length=a.max_new, temperature=0.7, beta=0.04,
                               num_iterations=1, steps_per_generation=1),
    train_dataset=Dataset.from_list(rows),
    processing_class=tok,
    reward_processing_classes=rm_tok,
    callbacks=[timer],
)
trainer.train()
peerlib.report("grpo", timer, prompts=len(rows), rollouts=a.batch, max_new=a.max_new)
