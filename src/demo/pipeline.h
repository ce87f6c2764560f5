// demo/pipeline.h — `rlhf demo`: the whole RLHF story on the built-in world (demo/world.h), each
// stage a real run folder under OUT made by the same code as the commands: world files → pretrain
// → SFT → simulated labelling of SFT samples → reward model → PPO, with DPO, GRPO (with the RM)
// and best-of-n from the same SFT model and data as baselines → evaluation of every model on
// held-out prompts by the hidden gold judge (which no training stage ever calls: its per-stage
// call counts are in summary.json) → OUT/report.md, OUT/summary.json and SVG plots.
#ifndef RLHF_DEMO_PIPELINE_H
#define RLHF_DEMO_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "util/common.h"

typedef struct {
    const char *out;
    uint64_t seed;
    int quick, sweep, quiet;
    const char *from;       // --from STAGE: rerun from this stage on, reusing OUT's earlier stages
    // world
    size_t corpus_bytes;
    int sft_examples, rl_prompts, label_prompts, label_k, eval_prompts, rm_eval_prompts;
    float label_temp;       // temperature of the SFT samples the labelers compare
    int contractors;        // add a right and a wrong contractor answer to each comparison pool
    // model + pretraining
    int layers, heads, embd, ctx, seq, pt_batch;
    long pt_steps;
    float pt_lr;
    // SFT, RM
    long sft_steps, rm_steps;
    int sft_batch, rm_batch;
    float sft_lr, rm_lr;
    // RL and baselines
    int max_new, ppo_iters, ppo_rollouts, ppo_minibatch, grpo_iters, grpo_group, bon_n;
    float ppo_lr, grpo_lr, dpo_lr;
    double ppo_beta, grpo_beta, dpo_beta;
    long dpo_steps;
    int dpo_batch;
} DemoConfig;

// The stages in order; demo_stage_index: a name's index, −1 for none.
enum { DEMO_N_STAGES = 11 };
extern const char *const DEMO_STAGES[DEMO_N_STAGES];
int demo_stage_index(const char *name);

// The default sizes (quick: the ~90 s version the tests run).
void demo_config_defaults(DemoConfig *c, int quick);
int demo_pipeline(const DemoConfig *c, Err *e);

#endif
