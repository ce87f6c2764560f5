// train/sft.h — supervised fine-tuning on demonstrations (docs/sft.md): a starting model folder
// and its tokenizer, JSONL records through the chat template (data/dataset.h, kind DATA_SFT),
// mean next-token NLL over the response tokens only (assistant / completion contents + their
// EOS; prompt, system and user tokens never train), normalised over the trained tokens of the
// global batch. Runs on the shared loop (train/loop.h): accumulation, LR schedule, AdamW,
// clipping, checkpoints, bit-identical resume. Each evaluation adds val_loss and appends greedy
// samples of a few validation prompts to OUT/samples.jsonl.
#ifndef RLHF_TRAIN_SFT_H
#define RLHF_TRAIN_SFT_H

#include <stdint.h>

#include "data/dataset.h"
#include "model/gpt.h"
#include "util/common.h"

typedef struct {
    const char *model;      // starting model: HF folder (with its tokenizer) or llm.c .bin
    const char *tokenizer;  // tokenizer folder (needed for a .bin; overrides the folder's)
    const char *data;       // JSONL demonstrations
    const char *val;        // separate validation JSONL (NULL: --val-fraction of --data)
    const char *out;        // run folder
    int max_len;            // tokens per sequence (0: the model's context)
    int min_prompt;         // prompt tokens kept when truncating (-1: max_len / 2)
    double val_fraction;
    int skip_bad, plain_template;
    int batch;              // global examples (rows) per optimizer step
    int grad_accum;
    long steps;
    float lr, min_lr_frac, weight_decay, beta1, beta2, eps, grad_clip;
    long warmup;
    const char *schedule;
    long eval_every, eval_max;       // eval_max: validation examples per evaluation (0: all)
    int samples, sample_max_new;     // samples per evaluation, new tokens each
    float sample_temperature;        // 0: greedy
    long ckpt_every, keep_checkpoints;
    uint64_t seed;
    int resume, memory_only, quiet;
    int bf16;               // matrix products in bf16 (nn/gemm.h)
} SftOptions;

void sft_defaults(SftOptions *o);
// Runs (or resumes) an SFT run; the finished model lands in OUT/final with the same tokenizer.
int sft_run(const SftOptions *o, Err *e);

// The SFT loss of the last gpt_forward's batch: Σ over positions with target ≥ 0 of −logp,
// returned; *count gets the number of such positions. When backward, accumulates the gradient
// of that SUM (dlogp = −1 on trained positions, 0 elsewhere). logp and dlogp: [m->N] scratch.
double sft_batch_loss(GPT *m, const int *targets, float *logp, float *dlogp, int backward,
                      double *count);

#endif
