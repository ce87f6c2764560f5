// cli/cmd_pretrain.c — `rlhf pretrain`: flags → train/pretrain.
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "train/pretrain.h"
#include "train/dp_optim.h"
#include "util/flags.h"

int cmd_pretrain(int argc, char **argv) {
    PretrainOptions o;
    pretrain_defaults(&o);
    long seed = (long)o.seed;
    int zero = 0;
    Flag flags[] = {
        {"data", 0, FLAG_STRING, &o.data, "training text: .txt (one document) or .jsonl of {\"text\": ...}", 1, 0},
        {"out", 0, FLAG_STRING, &o.out, "run folder (config.json, metrics.jsonl, checkpoints/, final/)", 1, 0},
        {"tokenizer", 0, FLAG_STRING, &o.tokenizer, "tokenizer folder (vocab.json + merges.txt, e.g. from tokenizer-train); default: bytes", 0, 0},
        {"layers", 0, FLAG_INT, &o.layers, "transformer blocks", 0, 0},
        {"heads", 0, FLAG_INT, &o.heads, "attention heads (must divide --embd)", 0, 0},
        {"embd", 0, FLAG_INT, &o.embd, "embedding width", 0, 0},
        {"ctx", 0, FLAG_INT, &o.ctx, "context length (position embeddings)", 0, 0},
        {"batch", 0, FLAG_INT, &o.batch, "global batch: rows per optimizer step, over all processes", 0, 0},
        {"grad-accum", 0, FLAG_INT, &o.grad_accum, "micro-batches per step (gradient accumulation): same update, 1/N of the activation memory", 0, 0},
        {"seq", 0, FLAG_INT, &o.seq, "tokens per training row (0 = --ctx)", 0, 0},
        {"steps", 0, FLAG_LONG, &o.steps, "optimizer steps (with --resume: the new total)", 0, 0},
        {"lr", 0, FLAG_FLOAT, &o.lr, "peak learning rate", 0, 0},
        {"schedule", 0, FLAG_STRING, &o.schedule, "LR schedule after warmup: constant, linear or cosine", 0, 0},
        {"warmup", 0, FLAG_LONG, &o.warmup, "linear warmup steps", 0, 0},
        {"min-lr-frac", 0, FLAG_FLOAT, &o.min_lr_frac, "final LR as a fraction of --lr (linear/cosine)", 0, 0},
        {"weight-decay", 0, FLAG_FLOAT, &o.weight_decay, "AdamW decoupled weight decay (2-D weights only)", 0, 0},
        {"beta1", 0, FLAG_FLOAT, &o.beta1, "AdamW β1", 0, 0},
        {"beta2", 0, FLAG_FLOAT, &o.beta2, "AdamW β2", 0, 0},
        {"adam-eps", 0, FLAG_FLOAT, &o.eps, "AdamW ε", 0, 0},
        {"grad-clip", 0, FLAG_FLOAT, &o.grad_clip, "clip the global gradient norm to this (0 = off)", 0, 0},
        {"val-fraction", 0, FLAG_DOUBLE, &o.val_fraction, "held-out tail of the corpus for validation", 0, 0},
        {"eval-every", 0, FLAG_LONG, &o.eval_every, "validation loss every N steps (0 = only at the end)", 0, 0},
        {"eval-batches", 0, FLAG_LONG, &o.eval_batches, "validation batches per evaluation", 0, 0},
        {"ckpt-every", 0, FLAG_LONG, &o.ckpt_every, "checkpoint (with optimizer state) every N steps", 0, 0},
        {"keep-checkpoints", 0, FLAG_LONG, &o.keep_checkpoints, "newest checkpoints kept", 0, 0},
        {"seed", 0, FLAG_LONG, &seed, "random seed (init and batch order)", 0, 0},
        {"bf16", 0, FLAG_BOOL, &o.bf16, "matrix products in bf16 with fp32 accumulation and fp32 weights (oneDNN; needs AVX512-BF16, AMX or AVX512-core; docs/performance.md)", 0, 0},
        {"resume", 0, FLAG_BOOL, &o.resume, "continue the run in --out from its newest checkpoint", 0, 0},
        {"memory", 0, FLAG_BOOL, &o.memory_only, "print the memory estimate as JSON and exit", 0, 0},
        DIST_ZERO_FLAG(zero),
        {"quiet", 'q', FLAG_BOOL, &o.quiet, "no progress line", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    // --memory needs neither --data nor --out; --resume reads --data from the run's config.json
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--memory")) { flags[0].required = 0; flags[1].required = 0; }
        if (!strcmp(argv[i], "--resume")) flags[0].required = 0;
    }
    flags_parse("pretrain", "--data FILE --out DIR [FLAGS]",
                "Trains a GPT-2-architecture model from scratch on a text corpus (byte-level tokenizer, or --tokenizer DIR for BPE; the vocabulary size follows the tokenizer).",
                flags, nf, argc, argv, NULL, 0, NULL);
    o.seed = (uint64_t)seed;
    if (o.resume && !flag_seen(flags, nf, "steps")) o.steps = 0;  // keep the run's own
    Err e;
    if (dp_set_zero(zero, &e)) { fprintf(stderr, "rlhf: error: %s\n", e.msg); return 2; }
    if (pretrain_run(&o, &e)) {
        fprintf(stderr, "rlhf pretrain: error: %s\n", e.msg);
        return 1;
    }
    return 0;
}
