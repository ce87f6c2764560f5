// train/dpo.h — direct preference optimisation (docs/dpo.md): a trainable policy (a copy of the
// SFT model) and a frozen reference (the same weights, gpt_create(…, 0): no gradients, no
// moments) on comparison data (data/dataset.h, kind DATA_CMP: preferences, K = 2, and K-way
// rankings, which count through their untied (better, worse) pairs). The reference's response
// logprobs are computed ONCE before training for every train and validation example and kept
// (per response: summed logprob and token count); the reference model is then freed. Per pair,
// ℓ = summed response-token logprob (DPO, conservative DPO) or its per-token mean (IPO), and the
// loss is pref_pair (train/losses.h); one example = one batch element whose loss is the mean over
// its pairs. Runs on the shared loop (train/loop.h): accumulation, schedule, AdamW, checkpoints,
// bit-identical resume (the reference logprobs are recomputed deterministically on resume).
#ifndef RLHF_TRAIN_DPO_H
#define RLHF_TRAIN_DPO_H

#include <stdint.h>

#include "data/batch.h"
#include "data/dataset.h"
#include "model/gpt.h"
#include "train/losses.h"
#include "util/common.h"

typedef struct {
    const char *model;      // the SFT model folder (with its tokenizer): policy and reference
    const char *data;       // comparisons JSONL
    const char *val;        // separate validation file (NULL: --val-fraction of --data)
    const char *out;        // run folder
    const char *loss;       // "dpo" | "ipo"
    double beta;            // β
    double label_smoothing; // ε of conservative DPO (DPO only), in [0, 0.5)
    int batch;              // global comparison examples per optimizer step
    int grad_accum;
    long steps;
    float lr, min_lr_frac, weight_decay, beta1, beta2, eps, grad_clip;
    long warmup;
    const char *schedule;
    double val_fraction;
    long eval_every, ckpt_every, keep_checkpoints;
    int max_len;            // 0: the model's context
    int min_prompt;         // < 0: max_len / 2
    int plain_template, skip_bad;
    uint64_t seed;
    int resume, memory_only, quiet;
    int bf16;               // matrix products in bf16 (nn/gemm.h)
} DpoOptions;

void dpo_defaults(DpoOptions *o);
// Runs (or resumes) a DPO run; the finished policy lands in OUT/final with the same tokenizer.
int dpo_run(const DpoOptions *o, Err *e);

// ---- pieces, exposed for the tests -------------------------------------------------------------
// Per-response logprob sums and response-token counts of a dataset (the reference's, or any
// model's): response k of example i is at index first[i] + k.
typedef struct {
    size_t n, total;     // examples, responses
    size_t *first;       // [n]
    double *sum, *count; // [total]
} DpoRef;

// Forwards the examples of ds with need[i] != 0 (need NULL: all) through m (under mpirun each rank
// its share of whole chunks, the results summed over the ranks), `per_batch` of them per
// forward in dataset order (a deterministic computation), and fills *r (the others stay 0). Caller
// frees with dpo_ref_free.
int dpo_ref_compute(GPT *m, const Dataset *ds, int per_batch, const unsigned char *need, DpoRef *r, Err *e);
void dpo_ref_free(DpoRef *r);

typedef struct {
    double loss_sum;      // Σ over elements of the element's mean pair loss
    double elements;      // elements with at least one untied pair
    double acc_sum, rw_sum, rl_sum, margin_sum;  // Σ over elements of the per-element means
    double pairs, pairs_correct, pair_loss_sum, pair_rw_sum, pair_rl_sum;  // pair-level totals
} DpoStats;

// One example (one batch element) with policy sums p[k] / counts n[k] and reference sums q[k] /
// counts nq[k] of its K responses: loss = mean over its pairs of pref_pair (IPO: per-token means).
// dp[k] (may be NULL) gets ∂loss/∂(policy SUM of response k) (overwritten). Adds to st (may be
// NULL). Returns the loss (0 without pairs).
double dpo_example_loss(const CmpExample *ex, const PrefLossConfig *c, const double *p,
                        const double *n, const double *q, const double *nq, double *dp,
                        DpoStats *st);
// Forward of a comparison batch (rows from data_batch_add) through the policy m, the losses of its
// examples against the stored reference ref (of the same dataset ds); with backward (m
// trainable) the gradient of the loss SUM is scattered to the response tokens and backpropagated.
// policy_sum [B] (may be NULL) gets each row's summed response logprob.
int dpo_batch_loss(GPT *m, const Dataset *ds, const DpoRef *ref, const DataBatch *b,
                   const PrefLossConfig *c, int backward, double *policy_sum, DpoStats *st, Err *e);

#endif
