// bench/replay.c — the local ceiling the benchmarks compare against: exactly the matrix products
// one training step of a GPT makes at B×T tokens (linear layers forward and both backward
// products, the LM head's per-chunk logits — once when the step knows its loss gradient before
// the head runs (gpt_lm_logprobs_grad) or one chunk holds every row, else twice — and its two
// backward products, attention's products per row and head), replayed on OpenBLAS alone.
#include <cblas.h>
#include <stdlib.h>

#include "bench.h"
#include "nn/nn.h"
#include "util/timer.h"

typedef struct {
    int M, N, K, count;  // C[M,N] = A[M,K]·B[K,N], `count` times
} Gemm;

// The products one step makes (forward and backward), as the kernels issue them.
static int step_gemms(const GPTConfig *c, int B, int T, int head_fused, Gemm *g) {
    int n = 0, C = c->n_embd, V = c->vocab_size, L = c->n_layer, N = B * T, hs = C / c->n_head;
    int BH = B * c->n_head;
    Gemm lin[4] = {{N, 3 * C, C, L}, {N, C, C, L}, {N, 4 * C, C, L}, {N, C, 4 * C, L}};
    for (int i = 0; i < 4; i++) {
        g[n++] = lin[i];                                            // forward
        g[n++] = (Gemm){N, lin[i].K, lin[i].N, L};                  // dinp = dout·Wᵀ
        g[n++] = (Gemm){lin[i].K, lin[i].N, N, L};                  // dW = inpᵀ·dout
    }
    // LM head, per chunk of up to lmhead_chunk_rows() rows: logits in the forward, recomputed in
    // the backward unless the head's backward ran with its forward or one chunk holds every row
    // (then kept); dx = dz·wte; dwte = dzᵀ·x
    int chunk = (int)lmhead_chunk_rows(), nch = (N + chunk - 1) / chunk, rows = N < chunk ? N : chunk;
    g[n++] = (Gemm){rows, V, C, nch == 1 || head_fused ? nch : 2 * nch};
    g[n++] = (Gemm){rows, C, V, nch};
    g[n++] = (Gemm){V, C, rows, nch};
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

double bench_sgemm_ceiling(const GPTConfig *c, int B, int T, int head_fused, int repeat,
                           double *replay_gflop) {
    Gemm g[32];
    int ng = step_gemms(c, B, T, head_fused, g), reps = repeat < 1 ? 1 : repeat;
    double *rt = xmalloc((size_t)reps * sizeof(double)), flops = 0;
    replay(g, ng, &flops);  // warm-up
    for (int i = 0; i < reps; i++) rt[i] = replay(g, ng, &flops);
    double gflops = flops / bench_median(rt, reps) / 1e9;
    free(rt);
    if (replay_gflop) *replay_gflop = flops / 1e9;
    return gflops;
}
