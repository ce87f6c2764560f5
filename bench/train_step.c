// bench/train_step.c — one training step (forward, LM-head loss, backward, AdamW) of a model at
// B×T tokens, against the same step's matrix products replayed on BLAS alone (bench/replay.c).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "nn/nn.h"
#include "util/rng.h"
#include "util/sysinfo.h"
#include "util/timer.h"

void bench_train_step(int B, int T, int repeat) {
    GPTConfig c = bench_gpt2_124m();
    GPT *m = gpt_create(&c, 1);
    gpt_init_weights(m, 1);
    size_t N = (size_t)B * (size_t)T;
    int *tok = xmalloc(N * sizeof(int)), *tgt = xmalloc(N * sizeof(int)), *len = xmalloc((size_t)B * sizeof(int));
    Rng r;
    rng_seed(&r, 7, 0, 0);
    for (size_t i = 0; i < N; i++) { tok[i] = (int)rng_below(&r, (uint64_t)c.vocab_size); tgt[i] = (int)rng_below(&r, (uint64_t)c.vocab_size); }
    for (int b = 0; b < B; b++) len[b] = T;
    float *logp = falloc(N), *dlogp = falloc(N);
    for (size_t i = 0; i < N; i++) dlogp[i] = -1.0f / (float)N;
    AdamWConfig oc = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1.0f};
    int reps = repeat < 1 ? 1 : repeat;
    double *ms = xmalloc((size_t)reps * sizeof(double));
    double loss = 0;
    for (int it = -1; it < reps; it++) {  // one warm-up step
        double t0 = now_s();
        Err e;
        gpt_zero_grad(m);
        if (gpt_forward(m, B, len, tok, &e)) die("bench: %s", e.msg);
        gpt_lm_logprobs_grad(m, tgt, 1.0f, logp, NULL, dlogp, NULL);
        gpt_backward(m, tgt, 1.0f, dlogp, NULL, NULL);
        gpt_adamw_step(m, &oc);
        double dt = now_s() - t0;
        if (it >= 0) ms[it] = dt * 1e3;
        loss = 0;
        for (size_t i = 0; i < N; i++) loss -= logp[i];
        loss /= (double)N;
    }
    double med_ms = bench_median(ms, reps);
    double flops = 6.0 * (double)gpt_matmul_params(&c) * (double)N +
                   12.0 * c.n_layer * c.n_embd * (double)T * (double)N;
    size_t rss = peak_rss_bytes();
    gpt_free(m);

    double rflop = 0, sgemm_gflops = bench_sgemm_ceiling(&c, B, T, 1, reps, &rflop);
    double gflops = flops / (med_ms * 1e-3) / 1e9;
    char common[384];
    bench_common_fields(common, sizeof common);
    printf("{\"bench\": \"train_step\", \"model\": \"gpt2-124M\", \"B\": %d, \"T\": %d, \"ms\": %.1f, "
           "\"tokens_per_s\": %.1f, \"model_gflop\": %.2f, \"gflops\": %.2f, \"replay_gflop\": %.2f, "
           "\"sgemm_gflops\": %.2f, \"ratio\": %.3f, \"peak_rss_mb\": %.0f, \"loss\": %.4f, \"repeat\": %d, %s}\n",
           B, T, med_ms, (double)N / (med_ms * 1e-3), flops / 1e9, gflops, rflop,
           sgemm_gflops, gflops / sgemm_gflops, (double)rss / 1048576.0, loss, reps, common);
    fflush(stdout);
    free(tok); free(tgt); free(len); free(logp); free(dlogp); free(ms);
}
