// train/ppo.h — the RL stage (docs/ppo.md): PPO with a per-token KL penalty to the frozen
// reference, a critic and GAE (InstructGPT / the "N+ implementation details" recipe), and on the
// same machinery the critic-free estimators GRPO, Dr. GRPO, RLOO and REINFORCE++ (`rlhf grpo`,
// `rlhf ppo --advantage ...`). All formulas live in train/rl_math.h; this file is the loop:
//
//   per iteration: take the next `rollouts / group` prompts of the epoch order (a pure function of
//   (seed, iteration)); sample `group` responses per prompt with the KV-cache sampler at
//   temperature T (no top-k / top-p); recompute with the training forward (logits ÷ T), in the
//   minibatch partition of epoch 0, the policy's "old" logprobs and entropies, the reference's
//   logprobs and the critic's values; score each response (reward model or --reward-cmd), apply
//   the missing-EOS penalty and the clip; build per-token KL, rewards, advantages and returns over
//   the WHOLE rollout batch; then E epochs × M minibatches (groups never split) of the clipped
//   policy loss (+ β·KL loss for the GRPO family) and the clipped value loss, each minibatch one
//   AdamW step of the policy and one of the critic (separate optimizers). The KL coefficient
//   is fixed or adaptive. Metrics to metrics.jsonl per iteration, evaluation on held-out prompts
//   with reference-vs-policy pairs in samples.jsonl, checkpoints (policy + critic + β) from which
//   a resumed run continues bit for bit.
#ifndef RLHF_TRAIN_PPO_H
#define RLHF_TRAIN_PPO_H

#include <stddef.h>
#include <stdint.h>

#include "util/common.h"

typedef struct {
    const char *policy;       // SFT model folder: the policy and the frozen reference
    const char *reward;       // reward-model folder, or NULL with reward_cmd
    const char *reward_cmd;   // external scorer (train/reward_cmd.h), or NULL
    double reward_timeout;    // seconds the command may take per answer
    const char *critic;       // critic initialisation (NULL: the reward model, else the policy trunk + a fresh head)
    const char *prompts, *val_prompts;  // prompt JSONL (val: NULL → --val-fraction of prompts)
    const char *out;
    const char *advantage;    // gae | grpo | dr-grpo | rloo | reinforce | reinforce-baseline
    long iterations;
    int rollouts;             // responses per iteration (global)
    int group;                // responses per prompt (0: 1 for gae/reinforce, 4 otherwise)
    int minibatch;            // responses per minibatch (a multiple of group)
    int epochs;
    int grad_accum;           // micro-batches per minibatch on each process (groups never split)
    int max_new;              // response tokens at most
    int max_prompt;           // prompt tokens kept (0: context − max_new), cut from the left
    float temperature;        // rollout sampling temperature (> 0)
    double beta;              // KL coefficient (< 0: per --advantage: 0.05, GRPO family 0.04)
    const char *kl_estimator; // k1 | k2 | k3 (NULL: k1, GRPO family k3)
    const char *kl_in;        // reward | loss (NULL: reward, GRPO family loss)
    int adaptive_kl;
    double kl_target, kl_horizon;  // adaptive β: target KL (nats), horizon (0: episodes in the run / 10)
    double gamma, lambda;
    double clip_low, clip_high, value_clip;
    const char *noeos;        // replace | subtract | none
    double noeos_value;
    double score_clip;        // > 0: clip scores to ±score_clip
    int whiten_rewards;
    const char *loss_agg;     // token-mean | seq-mean | seq-sum (NULL: per --advantage)
    float lr, critic_lr;      // ≤ 0: the size rule (ppo_default_lr); critic: the policy's
    float min_lr_frac, weight_decay, beta1, beta2, adam_eps, grad_clip;
    const char *schedule;     // constant | linear | cosine (over iterations)
    long warmup;
    double val_fraction;
    int eval_every, eval_prompts, eval_samples;
    float eval_temperature;   // < 0: the rollout temperature
    long ckpt_every, keep_checkpoints;
    int plain_template, skip_bad;
    int frozen_bf16;          // reference and reward model: layers' products in bf16 (packed once)
    int bf16;                 // every training-size matrix product in bf16 (nn/gemm.h)
    uint64_t seed;
    int resume, quiet;
} PpoOptions;

void ppo_defaults(PpoOptions *o);
// The learning-rate rule when --lr is not given: 1e-4 up to 10M parameters, 3e-6 from 124M on,
// log-linear in between (docs/ppo.md).
float ppo_default_lr(size_t n_params);
// Runs (or resumes) an RL run; the final policy lands in OUT/final with the policy's tokenizer.
int ppo_run(const PpoOptions *o, Err *e);

#endif
