// train/rm.h — the reward-model stage: a GPT trunk (SFT or pretrained, with its tokenizer) plus a
// new scalar head, trained with the Bradley–Terry loss on comparisons (preferences and K-way
// rankings) on the shared loop (train/loop.h). Each example's K responses (prompt + response by
// the chat template, EOS last) are rows of one ragged batch; the reward is the head at each row's
// last real token; one example = one batch element whose loss is the mean over its ordered pairs.
// After training, a normalisation (bias, optionally gain) fitted on a reference set goes into
// final/config.json ("rlhf_reward_bias", "rlhf_reward_gain"); docs/reward-model.md.
#ifndef RLHF_TRAIN_RM_H
#define RLHF_TRAIN_RM_H

#include <stdint.h>

#include "data/batch.h"
#include "data/dataset.h"
#include "model/gpt.h"
#include "util/common.h"

typedef struct {
    const char *model;      // trunk: an HF model folder with tokenizer files
    const char *data;       // comparisons JSONL
    const char *out;        // run folder
    const char *val;        // separate validation file (NULL: --val-fraction)
    const char *norm_data;  // reference set for the normalisation (NULL: the chosen responses)
    int batch;              // global examples per optimizer step
    int grad_accum;
    long steps;
    float lr, min_lr_frac, weight_decay, beta1, beta2, eps, grad_clip;
    long warmup;
    const char *schedule;
    double val_fraction;
    long eval_every, ckpt_every, keep_checkpoints;
    int max_len;            // 0: the model's context
    int min_prompt;         // < 0: max_len / 2
    int plain_template;
    int ignore_margin;      // ignore the records' margins (m = 0)
    double centre;          // λ of the centring term λ·(r_w + r_l)²
    int norm_gain;          // also fit a gain so the reference set has std 1
    int skip_bad;
    uint64_t seed;
    int resume, quiet;
    int bf16;               // matrix products in bf16 (nn/gemm.h)
} RmOptions;

void rm_defaults(RmOptions *o);
// Runs (or resumes) a reward-model run; the finished model lands in OUT/final.
int rm_run(const RmOptions *o, Err *e);

// ---- pieces, exposed for the tests -------------------------------------------------------------
typedef struct {
    double loss_sum;      // Σ over elements of the element's mean pair loss
    double elements;      // elements with at least one untied pair
    double acc_sum;       // Σ over elements of the element's pair accuracy
    double margin_sum;    // Σ over elements of the element's mean r_better − r_worse
    double pairs, pairs_correct, pair_margin_sum;  // pair-level totals (evaluation)
} RmStats;

// One comparison example (one batch element): rewards r[k] of its K responses; loss = mean over
// its ordered pairs (better, worse) of bt_pair(r_better, r_worse, m, centre); dr[k] (may be NULL)
// gets ∂loss/∂r_k (overwritten). Adds to st (may be NULL). Returns the loss (0 with no pairs).
double rm_example_loss(const CmpExample *ex, const double *r, double m, double centre, double *dr,
                       RmStats *st);
// Forward of a comparison batch (rows from data_batch_add), rewards[b] = head at row b's last
// token; losses of its examples (margin from the record unless ignore_margin); with dval != NULL
// (N floats) the per-position gradient of the loss SUM is written there and backpropagated
// (model trainable). rewards [B] may be NULL.
int rm_batch_loss(GPT *m, const Dataset *ds, const DataBatch *b, int ignore_margin, double centre,
                  double *rewards, float *dval, RmStats *st, Err *e);
// Rewards of reference rows: the best-ranked response of each comparison example (prompt +
// response), or each SFT example's full sequence; forwarded `per_batch` examples at a time.
// *scores gets n = ds->n doubles (caller frees).
int rm_reference_scores(GPT *m, const Dataset *ds, int per_batch, double **scores, Err *e);

#endif
