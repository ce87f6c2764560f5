// cli/cmd_bench.c — `rlhf bench`: runs the benchmarks in bench/ (all, or --only one).
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli/commands.h"
#include "nn/gemm.h"
#include "train/dp_optim.h"
#include "util/flags.h"

int cmd_bench(int argc, char **argv) {
    const char *only = NULL;
    const char *dist_model = "gpt2-124M";
    int steps = 5, zero = 0, bf16 = 0;
    Flag flags[] = {
        {"only", 0, FLAG_STRING, &only, "run one benchmark: train_step, generate, membw, tokenize, ppo, or dist (data parallelism: run it alone and under mpirun; not part of the default set)", 0, 0},
        {"dist-model", 0, FLAG_STRING, &dist_model, "--only dist: gpt2-124M or tiny", 0, 0},
        DIST_ZERO_FLAG(zero),
        {"repeat", 0, FLAG_INT, &steps, "timed repetitions per measurement (median reported)", 0, 0},
        {"bf16", 0, FLAG_BOOL, &bf16, "training-size matrix products in bf16 (as the training commands' --bf16); every line says which ran (matmul_precision)", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("bench", "[--only NAME] [--repeat N] [--bf16]",
                "Benchmarks on the GPT-2 124M shape (random init), one JSON object per line; "
                "ppo also runs a ~1M-parameter model.",
                flags, nf, argc, argv, NULL, 0, NULL);
    if (steps < 1) { fprintf(stderr, "rlhf bench: --repeat must be ≥ 1\n"); return 2; }
    Err be;
    if (gemm_set_bf16(bf16, &be)) { fprintf(stderr, "rlhf bench: --bf16: %s\n", be.msg); return 2; }
    if (only && !strcmp(only, "dist")) {
        if (strcmp(dist_model, "gpt2-124M") && strcmp(dist_model, "tiny")) {
            fprintf(stderr, "rlhf bench: --dist-model: expected gpt2-124M or tiny, got \"%s\"\n", dist_model);
            return 2;
        }
        Err e;
        if (dp_set_zero(zero, &e)) { fprintf(stderr, "rlhf bench: %s\n", e.msg); return 2; }
        bench_dist(dist_model, steps);
        return 0;
    }
    int any = 0;
    // training first, so its peak resident memory is not the membw buffer's
    if (!only || !strcmp(only, "train_step")) { bench_train_step(4, 64, steps); bench_train_step(8, 256, steps); any = 1; }
    if (!only || !strcmp(only, "membw") || !strcmp(only, "generate")) { bench_membw(steps); any = 1; }
    if (!only || !strcmp(only, "generate")) { bench_generate(1, steps); bench_generate(32, steps); }
    if (!only || !strcmp(only, "tokenize")) { bench_tokenize(steps); any = 1; }
    if (!only || !strcmp(only, "ppo")) {
        GPTConfig g = bench_gpt2_124m();
        bench_ppo_iteration("gpt2-124m", &g, 16, 64, 32, 1, 2, 0);
        bench_ppo_iteration("gpt2-124m", &g, 16, 64, 32, 1, 2, 1);  // the bf16 frozen models
        GPTConfig t = {.n_layer = 4, .n_head = 4, .n_embd = 144, .n_ctx = 128, .vocab_size = 258};
        bench_ppo_iteration("tiny-1m", &t, 64, 64, 32, 4, 4, 0);
        any = 1;
    }
    if (!any) { fprintf(stderr, "rlhf bench: unknown benchmark \"%s\"\n", only); return 2; }
    return 0;
}
