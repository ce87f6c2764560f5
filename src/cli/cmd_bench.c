// cli/cmd_bench.c — `rlhf bench`: runs the benchmarks in bench/ (all, or --only one).
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli/commands.h"
#include "util/flags.h"

int cmd_bench(int argc, char **argv) {
    const char *only = NULL;
    int steps = 5;
    Flag flags[] = {
        {"only", 0, FLAG_STRING, &only, "run one benchmark: train_step, generate, membw or tokenize", 0, 0},
        {"repeat", 0, FLAG_INT, &steps, "timed repetitions per measurement (median reported)", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("bench", "[--only NAME] [--repeat N]",
                "Benchmarks on the GPT-2 124M shape (random init), one JSON object per line.",
                flags, nf, argc, argv, NULL, 0, NULL);
    if (steps < 1) { fprintf(stderr, "rlhf bench: --repeat must be ≥ 1\n"); return 2; }
    int any = 0;
    // training first, so its peak resident memory is not the membw buffer's
    if (!only || !strcmp(only, "train_step")) { bench_train_step(4, 64, steps); bench_train_step(8, 256, steps); any = 1; }
    double bw = 0;
    if (!only || !strcmp(only, "membw") || !strcmp(only, "generate")) { bw = bench_membw(steps); any = 1; }
    if (!only || !strcmp(only, "generate")) { bench_generate(1, steps, bw); bench_generate(32, steps, bw); }
    if (!only || !strcmp(only, "tokenize")) { bench_tokenize(steps); any = 1; }
    if (!any) { fprintf(stderr, "rlhf bench: unknown benchmark \"%s\"\n", only); return 2; }
    return 0;
}
