// cli/cmd_sft.c — `rlhf sft`: flags → train/sft (docs/sft.md).
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "train/sft.h"
#include "train/dp_optim.h"
#include "util/flags.h"

int cmd_sft(int argc, char **argv) {
    SftOptions o;
    sft_defaults(&o);
    long seed = (long)o.seed;
    int zero = 0;
    Flag flags[] = {
        {"model", 0, FLAG_STRING, &o.model, "starting model: a model folder (its tokenizer is used) or an llm.c .bin (with --tokenizer)", 1, 0},
        {"data", 0, FLAG_STRING, &o.data, "JSONL demonstrations: {prompt, completion}, {messages}, {instruction, input, output} or {text} (docs/sft.md)", 1, 0},
        {"out", 0, FLAG_STRING, &o.out, "run folder (config.json, metrics.jsonl, samples.jsonl, checkpoints/, final/)", 1, 0},
        {"tokenizer", 0, FLAG_STRING, &o.tokenizer, "tokenizer folder (required for an llm.c .bin; default: the model folder's)", 0, 0},
        {"val", 0, FLAG_STRING, &o.val, "separate validation JSONL (then --val-fraction is ignored)", 0, 0},
        {"val-fraction", 0, FLAG_DOUBLE, &o.val_fraction, "records held out for validation, by a hash of (seed, line)", 0, 0},
        {"max-len", 0, FLAG_INT, &o.max_len, "tokens per example, prompt cut from the left, response from the right (0 = model context)", 0, 0},
        {"min-prompt", 0, FLAG_INT, &o.min_prompt, "prompt tokens kept before the response is cut (-1 = max-len/2)", 0, 0},
        {"skip-bad", 0, FLAG_BOOL, &o.skip_bad, "count and skip bad lines instead of stopping at the first", 0, 0},
        {"plain-template", 0, FLAG_BOOL, &o.plain_template, "plain-text role markers even when the tokenizer has <|user|>/<|assistant|>", 0, 0},
        {"batch", 0, FLAG_INT, &o.batch, "global batch: examples (rows) per optimizer step, over all processes", 0, 0},
        {"grad-accum", 0, FLAG_INT, &o.grad_accum, "micro-batches per step (gradient accumulation): same update, 1/N of the activation memory", 0, 0},
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
        {"eval-every", 0, FLAG_LONG, &o.eval_every, "validation loss + samples every N steps (0 = only at the end)", 0, 0},
        {"eval-max", 0, FLAG_LONG, &o.eval_max, "validation examples per evaluation, the first in file order (0 = all)", 0, 0},
        {"samples", 0, FLAG_INT, &o.samples, "validation prompts sampled into samples.jsonl at each evaluation (0 = none)", 0, 0},
        {"sample-max-new", 0, FLAG_INT, &o.sample_max_new, "new tokens per sample at most", 0, 0},
        {"sample-temperature", 0, FLAG_FLOAT, &o.sample_temperature, "sampling temperature (0 = greedy)", 0, 0},
        {"ckpt-every", 0, FLAG_LONG, &o.ckpt_every, "checkpoint (with optimizer state) every N steps", 0, 0},
        {"keep-checkpoints", 0, FLAG_LONG, &o.keep_checkpoints, "newest checkpoints kept", 0, 0},
        {"seed", 0, FLAG_LONG, &seed, "random seed (example order, validation split, sampling)", 0, 0},
        {"bf16", 0, FLAG_BOOL, &o.bf16, "matrix products in bf16 with fp32 accumulation and fp32 weights (oneDNN; needs AVX512-BF16, AMX or AVX512-core; docs/performance.md)", 0, 0},
        {"resume", 0, FLAG_BOOL, &o.resume, "continue the run in --out from its newest checkpoint", 0, 0},
        {"memory", 0, FLAG_BOOL, &o.memory_only, "print the memory estimate as JSON and exit (needs only --model)", 0, 0},
        DIST_ZERO_FLAG(zero),
        {"quiet", 'q', FLAG_BOOL, &o.quiet, "no progress line", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    // --memory needs only --model; --resume reads --model and --data from the run's config.json
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--memory")) { flags[1].required = 0; flags[2].required = 0; }
        if (!strcmp(argv[i], "--resume")) { flags[0].required = 0; flags[1].required = 0; }
    }
    flags_parse("sft", "--model DIR --data FILE --out DIR [FLAGS]",
                "Supervised fine-tuning on demonstrations: the loss is the mean next-token NLL over "
                "response tokens only (assistant/completion contents and their EOS; prompt, system "
                "and user tokens never train), over the trained tokens of the global batch. Each "
                "example is its own row of a ragged batch (no padding; examples are never packed "
                "into a shared row, so no example attends to another). See docs/sft.md.",
                flags, nf, argc, argv, NULL, 0, NULL);
    o.seed = (uint64_t)seed;
    if (o.resume && !flag_seen(flags, nf, "steps")) o.steps = 0;  // keep the run's own
    Err e;
    if (dp_set_zero(zero, &e)) { fprintf(stderr, "rlhf: error: %s\n", e.msg); return 2; }
    if (sft_run(&o, &e)) {
        fprintf(stderr, "rlhf sft: error: %s\n", e.msg);
        return 1;
    }
    return 0;
}
