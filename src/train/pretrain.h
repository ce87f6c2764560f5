// train/pretrain.h — the pretraining stage: next-token cross-entropy on every position of random
// windows of a text corpus, from a fresh GPT-2-style model.
#ifndef RLHF_TRAIN_PRETRAIN_H
#define RLHF_TRAIN_PRETRAIN_H

#include <stdint.h>

#include "util/common.h"

typedef struct {
    const char *data;       // .txt or .jsonl {"text"}
    const char *out;        // run folder
    const char *tokenizer;  // tokenizer folder (vocab.json + merges.txt ...); NULL = bytes
    int layers, heads, embd, ctx;
    int batch;              // global rows per optimizer step
    int grad_accum;         // micro-batches per step: each rank forwards its rows in this many parts
    int seq;                // tokens per row (≤ ctx); 0 = ctx
    long steps;
    float lr, min_lr_frac, weight_decay, beta1, beta2, eps, grad_clip;
    long warmup;
    const char *schedule;   // constant | linear | cosine
    double val_fraction;
    long eval_every, eval_batches, ckpt_every, keep_checkpoints, log_every;
    uint64_t seed;
    int resume;
    int memory_only;        // print the memory estimate and exit
    int quiet;              // no progress line
    int bf16;               // matrix products in bf16 (nn/gemm.h)
} PretrainOptions;

void pretrain_defaults(PretrainOptions *o);
// Runs (or resumes) a pretraining run; the finished model lands in OUT/final.
int pretrain_run(const PretrainOptions *o, Err *e);

#endif
