// bench/train_step.c — one training step (forward, LM-head loss, backward, AdamW) of a model at
// B×T tokens, against the same step's matrix products replayed on BLAS alone.
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "nn/nn.h"
#include "util/rng.h"
#include "util/sysinfo.h"
#include "util/timer.h"

typedef struct {
    int M, N, K, count;  // C[M,N] = A[M,K]·B[K,N], `count` times
} Gemm;

// The products one step makes (forward and backward), as the kernels issue them.
static int step_gemms(const GPTConfig *c, int B, int T, Gemm *g) {
    int n = 0, C = c->n_embd, V = c->vocab_size, L = c->n_layer, N = B * T, hs = C / c->n_head;
    int BH = B * c->n_head;
    Gemm lin[4] = {{N, 3 * C, C, L}, {N, C, C, L}, {N, 4 * C, C, L}, {N, C, 4 * C, L}};
    for (int i = 0; i < 4; i++) {
        g[n++] = lin[i];                                            // forward
        g[n++] = (Gemm){N, lin[i].K, lin[i].N, L};                  // dinp = dout·Wᵀ
        g[n++] = (Gemm){lin[i].K, lin[i].N, N, L};                  // dW = inpᵀ·dout
    }
    g[n++] = (Gemm){N, V, C, 2};  // LM head logits: forward, and recomputed in backward
    g[n++] = (Gemm){N, C, V, 1};  // dx = dz·wte
    g[n++] = (Gemm){V, C, N, 1};  // dwte = dzᵀ·x
    g[n++] = (Gemm){T, T, hs, 2 * L * BH};  // QKᵀ forward, dP = dO·Vᵀ
    g[n++] = (Gemm){T, hs, T, 4 * L * BH};  // P·V forward, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q
    return n;
}

static double replay(const Gemm *g, int n, double *flops) {
    size_t maxa = 0, maxb = 0, maxc = 0;
    for (int i = 0; i < n; i++) {
        maxa = max_sz(maxa, (size_t)g[i].M * (size_t)g[i].K);
        maxb = max_sz(maxb, (size_t)g[i].K * (size_t)g[i].N);
        maxc = max_sz(maxc, (size_t)g[i].M * (size_t)g[i].N);
    }
    float *A = falloc(maxa), *Bm = falloc(maxb), *Cm = falloc(maxc);
    for (size_t i = 0; i < maxa; i++) A[i] = 1e-3f * (float)(i % 97);
    for (size_t i = 0; i < maxb; i++) Bm[i] = 1e-3f * (float)(i % 89);
    double t0 = now_s();
    *flops = 0;
    for (int i = 0; i < n; i++) {
        for (int r = 0; r < g[i].count; r++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g[i].M, g[i].N, g[i].K, 1.0f, A,
                        g[i].K, Bm, g[i].N, 0.0f, Cm, g[i].N);
        *flops += 2.0 * g[i].M * g[i].N * (double)g[i].K * g[i].count;
    }
    double dt = now_s() - t0;
    free(A); free(Bm); free(Cm);
    return dt;
}

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
        gpt_lm_logprobs(m, tgt, 1.0f, logp, NULL);
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

    Gemm g[32];
    int ng = step_gemms(&c, B, T, g);
    double *rt = xmalloc((size_t)reps * sizeof(double)), rflops = 0;
    replay(g, ng, &rflops);  // warm-up
    for (int i = 0; i < reps; i++) rt[i] = replay(g, ng, &rflops);
    double sgemm_gflops = rflops / bench_median(rt, reps) / 1e9;
    double gflops = flops / (med_ms * 1e-3) / 1e9;
    char common[256];
    bench_common_fields(common, sizeof common);
    printf("{\"bench\": \"train_step\", \"model\": \"gpt2-124M\", \"B\": %d, \"T\": %d, \"ms\": %.1f, "
           "\"tokens_per_s\": %.1f, \"model_gflop\": %.2f, \"gflops\": %.2f, \"replay_gflop\": %.2f, "
           "\"sgemm_gflops\": %.2f, \"ratio\": %.3f, \"peak_rss_mb\": %.0f, \"loss\": %.4f, \"repeat\": %d, %s}\n",
           B, T, med_ms, (double)N / (med_ms * 1e-3), flops / 1e9, gflops, rflops / 1e9,
           sgemm_gflops, gflops / sgemm_gflops, (double)rss / 1048576.0, loss, reps, common);
    fflush(stdout);
    free(tok); free(tgt); free(len); free(logp); free(dlogp); free(ms); free(rt);
}
