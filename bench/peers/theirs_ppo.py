"""bench/peers/theirs_ppo.py — TRL's PPOTrainer (trl.experimental.ppo, TRL 1.12: the last release
that ships it) against rlhf.c's reward model: one iteration samples one response for each of
--batch prompts (temperature 0.7, at most --max-new tokens, EOS stops), scores them with the
reference, the reward model and the critic (initialised from the reward model, as rlhf ppo), then
--epochs passes of one minibatch of policy + critic training. Prints one JSON line with every
iteration's seconds."""

import peerlib


def flags(p):
    p.add_argument("--reward", required=True, help="reward-model folder")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--minibatches", type=int, default=1)
    p.add_argument("--max-new", type=int, default=32)


peerlib.quiet()
a = peerlib.parse_args(flags)
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification  # noqa: E402
from trl.experimental.ppo import PPOConfig, PPOTrainer  # noqa: E402

tok = peerlib.byte_tokenizer(padding_side="left")
prompts = [peerlib.render_prompt(r["prompt"]) for r in peerlib.read_jsonl(a.data)]
data = Dataset.from_list([{"input_ids": tok(p)["input_ids"]} for p in prompts])
timer = peerlib.step_timer()
trainer = PPOTrainer(
    args=peerlib.common_config(PPOConfig, a, learning_rate=1e-4, num_mini_batches=a.minibatches,
                               num_ppo_epochs=a.epochs, total_episodes=a.batch * a.steps,
                               local_rollout_forward_batch_size=a.batch, response_length=a.max_new,
                               stop_token="eos", temperature=0.7, kl_coef=0.05, num_sample_generations=0),
    processing_class=tok,
    model=AutoModelForCausalLM.from_pretrained(a.model),
    ref_model=AutoModelForCausalLM.from_pretrained(a.model),
    reward_model=AutoModelForSequenceClassification.from_pretrained(a.reward, num_labels=1),
    value_model=AutoModelForSequenceClassification.from_pretrained(a.reward, num_labels=1),
    train_dataset=data,
    eval_dataset=data,
    callbacks=[timer],
)
trainer.train()
peerlib.report("ppo", timer, prompts=len(prompts), rollouts=a.batch, max_new=a.max_new)
