// cli/cmd_dpo.c — `rlhf dpo`: flags → train/dpo (DPO, conservative DPO, IPO; docs/dpo.md).
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "train/dpo.h"
#include "train/dp_optim.h"
#include "util/flags.h"

int cmd_dpo(int argc, char **argv) {
    DpoOptions o;
    dpo_defaults(&o);
    long seed = (long)o.seed;
    const char *policy = NULL;
    int zero = 0;
    Flag flags[] = {
        {"model", 0, FLAG_STRING, &o.model, "the SFT model folder (with its tokenizer): the policy starts from it and the frozen reference is a copy", 1, 0},
        {"data", 0, FLAG_STRING, &o.data, "comparisons JSONL: {prompt?, chosen, rejected} or {prompt, responses, ranking} (rankings train on their pairs)", 1, 0},
        {"out", 0, FLAG_STRING, &o.out, "run folder (config.json, metrics.jsonl, checkpoints/, final/)", 1, 0},
        {"policy", 0, FLAG_STRING, &policy, "the same as --model", 0, 0},
        {"loss", 0, FLAG_STRING, &o.loss, "dpo (−log σ(βh) on summed response logprobs) or ipo ((h − 1/(2β))² on per-token means)", 0, 0},
        {"beta", 0, FLAG_DOUBLE, &o.beta, "β: the strength of the implicit KL to the reference", 0, 0},
        {"label-smoothing", 0, FLAG_DOUBLE, &o.label_smoothing, "ε of conservative DPO, in [0, 0.5): −(1−ε)log σ(βh) − ε log σ(−βh)", 0, 0},
        {"val", 0, FLAG_STRING, &o.val, "separate validation file (instead of --val-fraction)", 0, 0},
        {"val-fraction", 0, FLAG_DOUBLE, &o.val_fraction, "records held out for validation (by a hash of seed and line)", 0, 0},
        {"batch", 0, FLAG_INT, &o.batch, "global batch: comparison examples per optimizer step, over all processes", 0, 0},
        {"grad-accum", 0, FLAG_INT, &o.grad_accum, "micro-batches per step (gradient accumulation)", 0, 0},
        {"steps", 0, FLAG_LONG, &o.steps, "optimizer steps (with --resume: the new total)", 0, 0},
        {"lr", 0, FLAG_FLOAT, &o.lr, "peak learning rate (GPT-2-sized models; tiny models need ~1e-4–1e-3)", 0, 0},
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
        {"eval-every", 0, FLAG_LONG, &o.eval_every, "held-out loss / accuracy / implicit rewards every N steps (0 = only at the end)", 0, 0},
        {"ckpt-every", 0, FLAG_LONG, &o.ckpt_every, "checkpoint (with optimizer state) every N steps", 0, 0},
        {"keep-checkpoints", 0, FLAG_LONG, &o.keep_checkpoints, "newest checkpoints kept", 0, 0},
        {"seed", 0, FLAG_LONG, &seed, "random seed (example order, validation split)", 0, 0},
        {"bf16", 0, FLAG_BOOL, &o.bf16, "matrix products in bf16 with fp32 accumulation and fp32 weights (oneDNN; needs AVX512-BF16, AMX or AVX512-core; docs/performance.md)", 0, 0},
        {"resume", 0, FLAG_BOOL, &o.resume, "continue the run in --out from its newest checkpoint", 0, 0},
        {"memory", 0, FLAG_BOOL, &o.memory_only, "print the memory estimate (policy + reference) as JSON and exit (needs only --model)", 0, 0},
        DIST_ZERO_FLAG(zero),
        {"quiet", 'q', FLAG_BOOL, &o.quiet, "no progress line", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    for (int i = 1; i < argc; i++) {
        // --resume reads --model and --data from the run's config.json; --memory needs only --model
        if (!strcmp(argv[i], "--resume")) { flags[0].required = 0; flags[1].required = 0; }
        if (!strcmp(argv[i], "--memory")) { flags[1].required = 0; flags[2].required = 0; }
        if (!strcmp(argv[i], "--policy") || !strncmp(argv[i], "--policy=", 9)) flags[0].required = 0;
    }
    flags_parse("dpo", "--model SFT_DIR --data FILE --out DIR [FLAGS]",
                "Direct preference optimisation of a policy (a copy of the SFT model) against a "
                "frozen reference (the same weights) on preference pairs / rankings: DPO, "
                "conservative DPO (--label-smoothing) or IPO (--loss ipo). The reference's "
                "response logprobs are computed once before training. See docs/dpo.md.",
                flags, nf, argc, argv, NULL, 0, NULL);
    if (policy) o.model = policy;
    o.seed = (uint64_t)seed;
    if (o.resume && !flag_seen(flags, nf, "steps")) o.steps = 0;
    Err e;
    if (dp_set_zero(zero, &e)) { fprintf(stderr, "rlhf: error: %s\n", e.msg); return 2; }
    if (dpo_run(&o, &e)) {
        fprintf(stderr, "rlhf dpo: error: %s\n", e.msg);
        return 1;
    }
    return 0;
}
