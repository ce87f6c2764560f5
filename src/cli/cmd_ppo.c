// cli/cmd_ppo.c — `rlhf ppo` and `rlhf grpo`: flags → train/ppo (PPO with a critic and GAE, and
// the critic-free GRPO / Dr. GRPO / RLOO / REINFORCE++ on the same machinery; docs/ppo.md).
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "train/ppo.h"
#include "train/dp_optim.h"
#include "util/flags.h"

static int run_rl(const char *cmd, const char *advantage, int argc, char **argv) {
    PpoOptions o;
    ppo_defaults(&o);
    o.advantage = advantage;
    long seed = (long)o.seed;
    int zero = 0;
    Flag flags[] = {
        {"policy", 0, FLAG_STRING, &o.policy, "the SFT model folder (with its tokenizer): the policy starts from it; the frozen reference is a copy", 1, 0},
        {"prompts", 0, FLAG_STRING, &o.prompts, "prompt JSONL: {\"prompt\", \"answer\"?}, {\"messages\"} or any record with a prompt", 1, 0},
        {"out", 0, FLAG_STRING, &o.out, "run folder (config.json, metrics.jsonl, samples.jsonl, checkpoints/, final/, rl.svg)", 1, 0},
        {"reward", 0, FLAG_STRING, &o.reward, "reward-model folder (rlhf rm's final/; its normalisation is applied)", 0, 0},
        {"reward-cmd", 0, FLAG_STRING, &o.reward_cmd, "external scorer: reads {\"prompt\",\"response\",\"answer\"?} lines on stdin, answers {\"score\": x} per line", 0, 0},
        {"reward-timeout", 0, FLAG_DOUBLE, &o.reward_timeout, "seconds the reward command may take for one answer", 0, 0},
        {"critic", 0, FLAG_STRING, &o.critic, "critic initialisation (default: the reward model; with --reward-cmd the policy trunk + a fresh head)", 0, 0},
        {"advantage", 0, FLAG_STRING, &o.advantage, "gae (PPO with a critic), grpo, dr-grpo, rloo, reinforce (REINFORCE++) or reinforce-baseline", 0, 0},
        {"val-prompts", 0, FLAG_STRING, &o.val_prompts, "held-out prompts for evaluation (instead of --val-fraction)", 0, 0},
        {"val-fraction", 0, FLAG_DOUBLE, &o.val_fraction, "prompts held out for evaluation (by a hash of seed and line)", 0, 0},
        {"iterations", 0, FLAG_LONG, &o.iterations, "rollout + update iterations (with --resume: the new total)", 0, 0},
        {"rollouts", 0, FLAG_INT, &o.rollouts, "responses sampled per iteration (prompts × --group)", 0, 0},
        {"group", 0, FLAG_INT, &o.group, "responses per prompt (0: 1 for gae/reinforce, 4 for grpo/dr-grpo/rloo/reinforce-baseline)", 0, 0},
        {"minibatch", 0, FLAG_INT, &o.minibatch, "responses per minibatch = per optimizer step (a multiple of --group)", 0, 0},
        {"grad-accum", 0, FLAG_INT, &o.grad_accum, "micro-batches per minibatch on each process (whole groups each): same update, less activation memory", 0, 0},
        {"epochs", 0, FLAG_INT, &o.epochs, "passes over each rollout batch", 0, 0},
        {"max-new", 0, FLAG_INT, &o.max_new, "response tokens at most (a response without EOS by then is penalised, --noeos)", 0, 0},
        {"max-prompt", 0, FLAG_INT, &o.max_prompt, "prompt tokens kept, cut from the left (0: context − --max-new)", 0, 0},
        {"temperature", 0, FLAG_FLOAT, &o.temperature, "rollout sampling temperature (no top-k / top-p: they would bias the KL)", 0, 0},
        {"beta", 0, FLAG_DOUBLE, &o.beta, "KL coefficient β (−1: 0.05, grpo/dr-grpo 0.04); 0 = no reference model", 0, 0},
        {"kl-estimator", 0, FLAG_STRING, &o.kl_estimator, "k1, k2 or k3 (default k1; grpo/dr-grpo k3)", 0, 0},
        {"kl-in", 0, FLAG_STRING, &o.kl_in, "where the KL acts: reward (−β·kl per token) or loss (+β·kl per token); default reward, grpo/dr-grpo loss", 0, 0},
        {"adaptive-kl", 0, FLAG_BOOL, &o.adaptive_kl, "adapt β towards --kl-target (Ziegler et al.)", 0, 0},
        {"kl-target", 0, FLAG_DOUBLE, &o.kl_target, "adaptive β: target KL per response, nats", 0, 0},
        {"kl-horizon", 0, FLAG_DOUBLE, &o.kl_horizon, "adaptive β: horizon in responses (0: the run's responses / 10)", 0, 0},
        {"gamma", 0, FLAG_DOUBLE, &o.gamma, "discount γ", 0, 0},
        {"lambda", 0, FLAG_DOUBLE, &o.lambda, "GAE λ", 0, 0},
        {"clip-low", 0, FLAG_DOUBLE, &o.clip_low, "ratio clip ε_low: ρ ≥ 1 − ε_low", 0, 0},
        {"clip-high", 0, FLAG_DOUBLE, &o.clip_high, "ratio clip ε_high: ρ ≤ 1 + ε_high", 0, 0},
        {"value-clip", 0, FLAG_DOUBLE, &o.value_clip, "value clip c (0 = off)", 0, 0},
        {"noeos", 0, FLAG_STRING, &o.noeos, "a response without EOS: replace its score by --noeos-score, subtract it, or none", 0, 0},
        {"noeos-score", 0, FLAG_DOUBLE, &o.noeos_value, "the score (replace) or penalty (subtract) of a response without EOS", 0, 0},
        {"score-clip", 0, FLAG_DOUBLE, &o.score_clip, "clip scores to ±this (0 = off)", 0, 0},
        {"whiten-rewards", 0, FLAG_BOOL, &o.whiten_rewards, "whiten the per-token rewards over the batch before GAE", 0, 0},
        {"loss-agg", 0, FLAG_STRING, &o.loss_agg, "token-mean (default), seq-mean or seq-sum (Dr. GRPO's default: sum / (responses × --max-new))", 0, 0},
        {"lr", 0, FLAG_FLOAT, &o.lr, "policy learning rate (0: 1e-4 up to 10M parameters, 3e-6 from 124M, log-linear between)", 0, 0},
        {"critic-lr", 0, FLAG_FLOAT, &o.critic_lr, "critic learning rate (0: the policy's)", 0, 0},
        {"schedule", 0, FLAG_STRING, &o.schedule, "LR schedule over iterations: constant, linear or cosine", 0, 0},
        {"warmup", 0, FLAG_LONG, &o.warmup, "linear warmup iterations", 0, 0},
        {"min-lr-frac", 0, FLAG_FLOAT, &o.min_lr_frac, "final LR as a fraction of --lr", 0, 0},
        {"weight-decay", 0, FLAG_FLOAT, &o.weight_decay, "AdamW decoupled weight decay", 0, 0},
        {"beta1", 0, FLAG_FLOAT, &o.beta1, "AdamW β1", 0, 0},
        {"beta2", 0, FLAG_FLOAT, &o.beta2, "AdamW β2", 0, 0},
        {"adam-eps", 0, FLAG_FLOAT, &o.adam_eps, "AdamW ε", 0, 0},
        {"grad-clip", 0, FLAG_FLOAT, &o.grad_clip, "clip the global gradient norm to this (0 = off), policy and critic each", 0, 0},
        {"eval-every", 0, FLAG_INT, &o.eval_every, "evaluate on held-out prompts every N iterations (and at the end; 0 = only at the end)", 0, 0},
        {"eval-prompts", 0, FLAG_INT, &o.eval_prompts, "held-out prompts per evaluation (at most)", 0, 0},
        {"eval-samples", 0, FLAG_INT, &o.eval_samples, "reference-vs-policy pairs written to samples.jsonl per evaluation", 0, 0},
        {"eval-temperature", 0, FLAG_FLOAT, &o.eval_temperature, "evaluation sampling temperature (−1: --temperature; 0 = greedy)", 0, 0},
        {"ckpt-every", 0, FLAG_LONG, &o.ckpt_every, "checkpoint (policy, critic, optimizers, β) every N iterations", 0, 0},
        {"keep-checkpoints", 0, FLAG_LONG, &o.keep_checkpoints, "newest checkpoints kept", 0, 0},
        {"plain-template", 0, FLAG_BOOL, &o.plain_template, "use the plain-text chat form even if the tokenizer has role tokens", 0, 0},
        {"skip-bad", 0, FLAG_BOOL, &o.skip_bad, "count and skip malformed prompt records instead of stopping", 0, 0},
        {"frozen-bf16", 0, FLAG_BOOL, &o.frozen_bf16, "run the frozen reference and reward model's layer products in bf16 on weights packed once (oneDNN; needs AVX-512; logprobs and scores move by ~1e-2)", 0, 0},
        {"seed", 0, FLAG_LONG, &seed, "random seed (prompt order, sampling, minibatches, validation split)", 0, 0},
        {"bf16", 0, FLAG_BOOL, &o.bf16, "matrix products in bf16 with fp32 accumulation and fp32 weights (oneDNN; needs AVX512-BF16, AMX or AVX512-core; docs/performance.md)", 0, 0},
        {"resume", 0, FLAG_BOOL, &o.resume, "continue the run in --out from its newest checkpoint", 0, 0},
        DIST_ZERO_FLAG(zero),
        {"quiet", 'q', FLAG_BOOL, &o.quiet, "no progress line", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    for (int i = 1; i < argc; i++)  // --resume reads everything from the run's config.json
        if (!strcmp(argv[i], "--resume")) { flags[0].required = 0; flags[1].required = 0; }
    flags_parse(cmd, "--policy SFT_DIR (--reward RM_DIR | --reward-cmd CMD) --prompts FILE --out DIR [FLAGS]",
                !strcmp(cmd, "grpo")
                    ? "Group-relative policy optimisation: --group responses per prompt, advantages "
                      "from the group's scores (grpo; dr-grpo, rloo, reinforce-baseline also), no "
                      "critic, clipped policy loss with a k3 KL loss to the frozen reference. The "
                      "same machinery as rlhf ppo. See docs/ppo.md."
                    : "PPO against a reward model or a reward command: a policy and a critic "
                      "(trainable), the frozen reference and reward model; per-token KL penalty, "
                      "GAE, whitened advantages, clipped policy and value losses, E epochs × M "
                      "minibatches per rollout batch. --advantage selects the critic-free "
                      "estimators instead. See docs/ppo.md.",
                flags, nf, argc, argv, NULL, 0, NULL);
    o.seed = (uint64_t)seed;
    if (o.resume && !flag_seen(flags, nf, "iterations")) o.iterations = 0;
    if (!o.resume && !o.reward == !o.reward_cmd) {
        fprintf(stderr, "rlhf %s: give exactly one of --reward RM_DIR or --reward-cmd \"CMD\"\n", cmd);
        return 2;
    }
    Err e;
    if (dp_set_zero(zero, &e)) { fprintf(stderr, "rlhf: error: %s\n", e.msg); return 2; }
    if (ppo_run(&o, &e)) {
        fprintf(stderr, "rlhf %s: error: %s\n", cmd, e.msg);
        return 1;
    }
    return 0;
}

int cmd_ppo(int argc, char **argv) { return run_rl("ppo", "gae", argc, argv); }
int cmd_grpo(int argc, char **argv) { return run_rl("grpo", "grpo", argc, argv); }
