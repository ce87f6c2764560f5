// cli/cmd_rm.c — `rlhf rm`: flags → train/rm (reward model from comparisons).
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "train/rm.h"
#include "train/dp_optim.h"
#include "util/flags.h"

int cmd_rm(int argc, char **argv) {
    RmOptions o;
    rm_defaults(&o);
    long seed = (long)o.seed;
    int zero = 0;
    Flag flags[] = {
        {"model", 0, FLAG_STRING, &o.model, "trunk: model folder with its tokenizer (SFT or pretrained; a new scalar head is added)", 1, 0},
        {"data", 0, FLAG_STRING, &o.data, "comparisons JSONL: {prompt?, chosen, rejected, margin?} or {prompt, responses, ranking}", 1, 0},
        {"out", 0, FLAG_STRING, &o.out, "run folder (config.json, metrics.jsonl, checkpoints/, final/)", 1, 0},
        {"val", 0, FLAG_STRING, &o.val, "separate validation file (instead of --val-fraction)", 0, 0},
        {"val-fraction", 0, FLAG_DOUBLE, &o.val_fraction, "records held out for validation (by a hash of seed and line)", 0, 0},
        {"norm-data", 0, FLAG_STRING, &o.norm_data, "reference set for the normalisation: SFT-shaped JSONL (text, prompt/completion, messages, alpaca); default: the chosen responses of the training data", 0, 0},
        {"norm-gain", 0, FLAG_BOOL, &o.norm_gain, "also store a gain so the reference scores have std 1", 0, 0},
        {"center", 0, FLAG_DOUBLE, &o.centre, "centring λ: adds λ·(r_w + r_l)² per pair (1e-2 is the usual value)", 0, 0},
        {"ignore-margin", 0, FLAG_BOOL, &o.ignore_margin, "ignore the records' margin (default: −log σ(r_w − r_l − margin) when a record has one)", 0, 0},
        {"batch", 0, FLAG_INT, &o.batch, "global batch: comparison examples per optimizer step, over all processes", 0, 0},
        {"grad-accum", 0, FLAG_INT, &o.grad_accum, "micro-batches per step (gradient accumulation)", 0, 0},
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
        {"max-len", 0, FLAG_INT, &o.max_len, "tokens per prompt + response (0 = the model's context); prompts are cut from the left first", 0, 0},
        {"min-prompt", 0, FLAG_INT, &o.min_prompt, "prompt tokens kept before responses are cut (-1 = max-len/2)", 0, 0},
        {"plain-template", 0, FLAG_BOOL, &o.plain_template, "use the plain-text chat form even if the tokenizer has role tokens", 0, 0},
        {"skip-bad", 0, FLAG_BOOL, &o.skip_bad, "count and skip malformed records instead of stopping", 0, 0},
        {"eval-every", 0, FLAG_LONG, &o.eval_every, "held-out accuracy / margin every N steps (0 = only at the end)", 0, 0},
        {"ckpt-every", 0, FLAG_LONG, &o.ckpt_every, "checkpoint (with optimizer state) every N steps", 0, 0},
        {"keep-checkpoints", 0, FLAG_LONG, &o.keep_checkpoints, "newest checkpoints kept", 0, 0},
        {"seed", 0, FLAG_LONG, &seed, "random seed (head init, split, batch order)", 0, 0},
        {"bf16", 0, FLAG_BOOL, &o.bf16, "matrix products in bf16 with fp32 accumulation and fp32 weights (oneDNN; needs AVX512-BF16, AMX or AVX512-core; docs/performance.md)", 0, 0},
        {"resume", 0, FLAG_BOOL, &o.resume, "continue the run in --out from its newest checkpoint", 0, 0},
        DIST_ZERO_FLAG(zero),
        {"quiet", 'q', FLAG_BOOL, &o.quiet, "no progress line", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    for (int i = 1; i < argc; i++)  // --resume reads --model and --data from the run's config.json
        if (!strcmp(argv[i], "--resume")) { flags[0].required = 0; flags[1].required = 0; }
    flags_parse("rm", "--model DIR --data FILE --out DIR [FLAGS]",
                "Trains a reward model (Bradley–Terry on preferences and K-way rankings) from a "
                "model's trunk plus a new scalar head; stores a score normalisation in "
                "final/config.json (docs/reward-model.md).",
                flags, nf, argc, argv, NULL, 0, NULL);
    o.seed = (uint64_t)seed;
    if (o.resume && !flag_seen(flags, nf, "steps")) o.steps = 0;
    Err e;
    if (dp_set_zero(zero, &e)) { fprintf(stderr, "rlhf: error: %s\n", e.msg); return 2; }
    if (rm_run(&o, &e)) {
        fprintf(stderr, "rlhf rm: error: %s\n", e.msg);
        return 1;
    }
    return 0;
}
