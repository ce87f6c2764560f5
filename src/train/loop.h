// train/loop.h — the training loop every gradient stage shares (pretrain, sft, rm, dpo): resume
// from the newest checkpoint, per step gradient accumulation over micro-batches, all-reduce,
// normalisation over the GLOBAL batch, LR schedule, AdamW with clipping, metrics rows, evaluation
// and checkpoint cadence with pruning, progress, the final model folder and an SVG plot.
//
// A stage supplies plain callbacks on its own context:
//   batch(step, micro)  fill this rank's micro-batch `micro` of optimizer step `step` — a pure
//                       function of (seed, step, micro, rank), so a resumed run sees the same data;
//   loss(...)           forward + loss + gpt_backward on that micro-batch, with gradients of the
//                       loss SUM (not mean); reports the sum and the count it is a mean over
//                       (tokens, pairs, elements). The loop sums both over micro-batches and ranks
//                       and scales the gradients by 1/global count before the optimizer step, so
//                       any split of the global batch gives the same update up to float rounding;
//   eval(step)          optional; adds keys ("val_loss", ...) to a metrics row.
// Global batch = micro-batch × grad_accum × processes; the stage decides what a micro-batch is.
#ifndef RLHF_TRAIN_LOOP_H
#define RLHF_TRAIN_LOOP_H

#include <jansson.h>
#include <stdint.h>

#include "model/gpt.h"
#include "tok/tokenizer.h"
#include "train/run.h"
#include "util/common.h"

// The settings every stage's loop has (stored in config.json under these key names).
typedef struct {
    long steps;              // optimizer steps in the run
    int grad_accum;          // micro-batches per optimizer step (≥ 1)
    float lr, min_lr_frac;   // peak LR; final LR as a fraction of it (linear / cosine)
    long warmup;             // linear warmup steps
    const char *schedule;    // constant | linear | cosine
    float weight_decay, beta1, beta2, eps, grad_clip;  // AdamW; grad_clip <= 0: off
    long eval_every;         // evaluation every N steps (0: only at the end)
    long ckpt_every;         // checkpoint every N steps (and at the end)
    long keep_checkpoints;   // newest checkpoints kept
    uint64_t seed;
    int resume;              // continue from the newest checkpoint in the run folder
    int quiet;               // no progress line
    int bf16;                // matrix products in bf16 with fp32 accumulation (nn/gemm.h)
} LoopOptions;

void loop_options_defaults(LoopOptions *o);
// A stage's options struct carries the loop's settings under the same field names; these copy
// them into a LoopOptions (l, from *o) and back after a resume (*o, from l).
#define LOOP_OPTIONS_FROM_STAGE(l, o)                                                           \
    do {                                                                                        \
        loop_options_defaults(&(l));                                                            \
        (l).steps = (o)->steps; (l).grad_accum = (o)->grad_accum; (l).lr = (o)->lr;             \
        (l).min_lr_frac = (o)->min_lr_frac; (l).warmup = (o)->warmup;                           \
        (l).schedule = (o)->schedule; (l).weight_decay = (o)->weight_decay;                     \
        (l).beta1 = (o)->beta1; (l).beta2 = (o)->beta2; (l).eps = (o)->eps;                     \
        (l).grad_clip = (o)->grad_clip; (l).eval_every = (o)->eval_every;                       \
        (l).ckpt_every = (o)->ckpt_every; (l).keep_checkpoints = (o)->keep_checkpoints;         \
        (l).seed = (o)->seed; (l).resume = (o)->resume; (l).quiet = (o)->quiet;                 \
        (l).bf16 = (o)->bf16;                                                                   \
    } while (0)
#define LOOP_OPTIONS_TO_STAGE(o, l)                                                             \
    do {                                                                                        \
        (o)->steps = (l).steps; (o)->grad_accum = (l).grad_accum; (o)->lr = (l).lr;             \
        (o)->min_lr_frac = (l).min_lr_frac; (o)->warmup = (l).warmup;                           \
        (o)->schedule = (l).schedule; (o)->weight_decay = (l).weight_decay;                     \
        (o)->beta1 = (l).beta1; (o)->beta2 = (l).beta2; (o)->eps = (l).eps;                     \
        (o)->grad_clip = (l).grad_clip; (o)->eval_every = (l).eval_every;                       \
        (o)->ckpt_every = (l).ckpt_every; (o)->keep_checkpoints = (l).keep_checkpoints;         \
        (o)->seed = (l).seed; (o)->bf16 = (l).bf16;                                             \
    } while (0)
// Adds the options to a config.json object (keys: steps, grad_accum, lr, min_lr_frac, warmup,
// schedule, weight_decay, beta1, beta2, eps, grad_clip, eval_every, ckpt_every,
// keep_checkpoints, seed, bf16).
void loop_options_to_json(const LoopOptions *o, json_t *j);
// What ran a stage, into its config.json: "threads", "processes" (a resume must match) and
// "fp32_matmul" (nn/gemm.h's engine for the fp32 products; a record, not checked on resume).
void loop_machine_to_json(json_t *j);
// Reads them back (resume); grad_accum may be missing (1), bf16 too (runs from before --bf16:
// off). Strings point into j.
int loop_options_from_json(LoopOptions *o, const json_t *j, const char *ctx, Err *e);

// Opens the run folder: a new run refuses a folder that holds one; a resumed run must have one,
// and *stored (when stored != NULL) gets its config.json (caller decrefs) for the stage to read
// its own settings back.
int loop_open_run(RunDir *run, const char *out, int resume, json_t **stored, Err *e);

#define LOOP_MAX_EXTRA 8

// What a loss callback reports for one micro-batch on this rank.
typedef struct {
    double loss_sum;                // Σ of per-item losses
    double count;                   // items the reported loss is a mean over
    double tokens;                  // tokens forwarded, a shared prompt once (tokens_per_s; 0 = none)
    double extra[LOOP_MAX_EXTRA];   // sums of the stage's extra metrics (divided by count)
} LoopMicro;

typedef struct {
    const char *stage;       // "pretrain", "sft", ... (labels, plot title)
    LoopOptions opt;
    RunDir *run;             // opened by loop_open_run
    const json_t *config;    // written to config.json once the resume succeeded
    GPT *model;              // trainable; initialised (or to be overwritten by the resume)
    const Tokenizer *tok;    // saved with every checkpoint and the final model
    void *ctx;               // the stage's state, passed to every callback

    int (*batch)(void *ctx, long step, int micro, Err *e);
    int (*loss)(void *ctx, GPT *m, LoopMicro *out, Err *e);
    // Optional: fills `row` with evaluation metrics; returns 1 for "nothing to evaluate", -1 on error.
    int (*eval)(void *ctx, GPT *m, long step, json_t *row, Err *e);
    // Optional: extra keys for trainer_state.json / reading them back on resume.
    void (*save_state)(void *ctx, json_t *state);
    int (*load_state)(void *ctx, const json_t *state, Err *e);
    // Optional: after the last step, before OUT/final is written; may add config.json keys
    // of the final model (e.g. a reward normalisation) to final_extra.
    int (*finish)(void *ctx, GPT *m, json_t *final_extra, Err *e);

    int n_extra;                             // extra metrics, named here, averaged over count
    const char *extra_names[LOOP_MAX_EXTRA];
    int n_plot;                              // metrics plotted into OUT/loss.svg
    const char *plot_keys[8];
} TrainLoop;

// Runs steps [resume point, opt.steps), with the matrix products in bf16 when opt.bf16 (refused
// with a message where the CPU has no bf16 matmul). Per step: zero grads; for micro in 0..grad_accum−1:
// batch, loss (backward accumulates); all-reduce gradients and sums; gradients × 1/count;
// LR from the schedule; AdamW (clipping); metrics row {step, loss, lr, grad_norm, ms,
// tokens_per_s?, extras}; eval at the cadence and the last step; checkpoint at the cadence and
// the last step (trainer_state: step, seed, + save_state), pruning to keep_checkpoints; at the end
// OUT/final and OUT/loss.svg. A non-finite loss stops the run with an error.
int loop_train(TrainLoop *L, Err *e);

// The optimizer part of a step, for stages with their own loop (PPO): all-reduce gradients,
// scale them by 1/count (count ≤ 0: unscaled), one AdamW step at `lr`; returns the grad norm.
float loop_optimizer_step(GPT *m, const LoopOptions *o, float lr, double count);

#endif
