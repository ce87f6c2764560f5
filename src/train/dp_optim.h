// train/dp_optim.h — the optimizer step every trainable model goes through, on one process or
// many (data parallelism): gradient accumulation over micro-batches in a fixed summation order,
// the sum over processes (dist_allreduce_sum, or with ZeRO-1 a reduce-scatter), scaling by the
// global count, the global gradient norm, clipping, AdamW, and with ZeRO-1 the all-gather of the
// updated parameters. Everything is ordered so that P processes × A micro-batches give the bits
// of one process × P·A micro-batches when A = 1 (docs/distributed.md):
//   - micro-batch gradients are each computed from zero and added left to right;
//   - the sum over processes is a left fold in rank order (dist/dist.h);
//   - plain data parallelism: every rank holds the whole reduced gradient and takes its norm as one
//     process does (sum_squares, gpt_adamw_step's bits); ZeRO-1: Σ over fixed blocks of NB
//     parameters (each summed in order, in double, by its one owner), added in block order.
// ZeRO-1 (`--zero 1`): rank r keeps the AdamW moments of its shard only (blocks dist_shard'ed
// over the ranks; the rest of the moment buffers is released) and updates only those parameters;
// an all-gather then gives every rank the whole updated model. Checkpoints gather the moments on
// rank 0 just for the write.
#ifndef RLHF_TRAIN_DP_OPTIM_H
#define RLHF_TRAIN_DP_OPTIM_H

#include "model/gpt.h"
#include "util/common.h"

// The process-wide ZeRO stage (0 or 1; the training commands' --zero flag).
int dp_set_zero(int stage, Err *e);
int dp_zero(void);

// After micro-batch `micro` (0-based, of n_micro) has run its backward from zero gradients:
// keeps the running sum so that after the last one m->grads = ((g₀ + g₁) + …) + g_{n−1}.
typedef struct {
    float *acc;
    size_t n;
} DpAccum;
void dp_accum_micro(DpAccum *a, GPT *m, int micro, int n_micro);
void dp_accum_free(DpAccum *a);

// The step: sum gradients over processes, × 1/count (count ≤ 0: unscaled), clip to the global
// norm, AdamW; returns the norm before clipping. Collective: every rank calls it.
float dp_step(GPT *m, const AdamWConfig *oc, double count);
// ZeRO-1: releases the moments outside this rank's shard (after a load or a checkpoint).
void dp_prepare(GPT *m);
// Collective, before rank 0 writes a checkpoint with optimizer state: the moments on rank 0.
void dp_gather_state(GPT *m);

#endif
