// nn/lmhead.c — the fused language-model head tied to wte[V,C]: per active position the logprob
// of its target and the entropy, and their backward, over chunks of active rows (never N×V).
// When every active row fits in one chunk, the forward leaves that chunk's logits in the scratch
// and the backward reuses them instead of recomputing the product; when the loss's gradient is
// known before the forward (SFT, pretraining), lmhead_forward_backward does both on each chunk's
// logits while it has them. Also the plain logits for generation.
#include "nn/nn.h"

#include <string.h>

#include "nn/gemm.h"
#include "nn/vecmath.h"

#define LMH_CHUNK 256  // active rows per chunk (the weight matrix is streamed once per chunk)

size_t lmhead_chunk_rows(void) { return LMH_CHUNK; }

// scratch layout: z[CHUNK·V] logits | xb[CHUNK·C] gathered inputs | dxb[CHUNK·C] chunk dx
size_t lmhead_scratch_floats(size_t C, size_t V) {
    return (size_t)LMH_CHUNK * V + 2 * (size_t)LMH_CHUNK * C;
}

// Gathers up to LMH_CHUNK active positions starting at *pos into idx/xb; returns the count.
static int gather_chunk(size_t *pos, size_t *idx, float *xb, const float *x, const int *target,
                        size_t N, size_t C) {
    int m = 0;
    while (*pos < N && m < LMH_CHUNK) {
        size_t n = (*pos)++;
        if (target[n] < 0) continue;
        idx[m] = n;
        memcpy(xb + (size_t)m * C, x + n * C, C * sizeof(float));
        m++;
    }
    return m;
}

// z[m,V] = inv_temp · xb[m,C] · wteᵀ
static void chunk_logits(float *z, const float *xb, const float *wte, float inv_temp, int m,
                         size_t C, size_t V) {
    gemm(GEMM_N, GEMM_T, (size_t)m, V, C, inv_temp, xb, C, wte, C, 0.0f, z, V);
}

// Softmax statistics of one logit row z[V]: max, log Σ exp(z − max), and E_p[z − max] (the sums in
// double, vectorised: lane partial sums added in a fixed order).
static void row_stats(const float *z, size_t V, float *mx_out, double *logs_out,
                      double *ez_out) {
    float mx = z[0];
    for (size_t v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
    double s = 0.0, sz = 0.0;
#pragma omp simd reduction(+ : s, sz)
    for (size_t v = 0; v < V; v++) {
        float d = z[v] - mx;
        double e = exp((double)d);
        s += e;
        sz += e * d;
    }
    *mx_out = mx;
    *logs_out = log(s);
    *ez_out = sz / s;
}

// One logit row zr[V] of position n (softmax statistics mx, logs, ez from row_stats) becomes its
// gradient dz_v = inv_temp·(dlogp·(1[v=t] − p_v) − dent·p_v·(z_v − E_p[z])).
static void row_grad(float *zr, size_t V, float mx, double logs, double ez, float gl, float ge,
                     int t, float inv_temp) {
    float lse = (float)logs, ezf = (float)ez;
#pragma omp simd
    for (size_t v = 0; v < V; v++) {
        float d = zr[v] - mx;
        float p = expf(d - lse);
        zr[v] = inv_temp * (-gl * p - ge * p * (d - ezf));
    }
    zr[t] += inv_temp * gl;
}

// Each logit row of a chunk z[m,V] (positions idx[]): its softmax statistics, then — with logp —
// the target's log-probability and (with ent) the entropy, and — with grad — the row turned into
// its gradient for dlogp / dent (row_grad).
static void chunk_rows(float *z, const size_t *idx, int m, size_t V, const int *target,
                       float inv_temp, float *logp, float *ent, int grad, const float *dlogp,
                       const float *dent) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < m; r++) {
        float *zr = z + (size_t)r * V;
        float mx;
        double logs, ez;
        row_stats(zr, V, &mx, &logs, &ez);
        size_t n = idx[r];
        if (logp) {
            logp[n] = (float)((double)(zr[target[n]] - mx) - logs);
            if (ent) ent[n] = (float)(logs - ez);
        }
        if (grad)
            row_grad(zr, V, mx, logs, ez, dlogp ? dlogp[n] : 0.0f, dent ? dent[n] : 0.0f,
                     target[n], inv_temp);
    }
}

// A chunk's gradients from its dz[m,V] and inputs xb[m,C]: dx rows += dz·wte (through dxb);
// dwte += dzᵀ·xb.
static void chunk_backprop(float *dx, float *dwte, const float *z, const float *xb, float *dxb,
                           const size_t *idx, int m, const float *wte, size_t C, size_t V) {
    int hold = dx && dwte;
    if (hold) gemm_hold_begin(z, (size_t)m, V, V);  // bf16: dz rounded once
    if (dx) {
        gemm(GEMM_N, GEMM_N, (size_t)m, C, V, 1.0f, z, V, wte, C, 0.0f, dxb, C);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < m; r++) {
            float *d = dx + idx[r] * C;
            const float *s = dxb + (size_t)r * C;
            for (size_t c = 0; c < C; c++) d[c] += s[c];
        }
    }
    if (dwte) gemm(GEMM_T, GEMM_N, V, C, (size_t)m, 1.0f, z, V, xb, C, 1.0f, dwte, C);
    if (hold) gemm_hold_end();
}

// dx[N,C] += ..., dwte[V,C] += ... given dlogp[N] and dent[N] (may be NULL) at active positions.
// Per chunk: recompute z (or, with `kept`, take the one chunk's z the forward left), then
// row_grad; dx rows += dz·wte; dwte += dzᵀ·xb (chunks in order: deterministic).
void lmhead_backward(float *dx, float *dwte, const float *dlogp, const float *dent,
                     const float *x, const float *wte, const int *target, float inv_temp,
                     size_t N, size_t C, size_t V, float *scratch, int kept) {
    if (!dx && !dwte) return;
    float *z = scratch, *xb = scratch + (size_t)LMH_CHUNK * V, *dxb = xb + (size_t)LMH_CHUNK * C;
    size_t idx[LMH_CHUNK];
    size_t pos = 0;
    gemm_hold_begin(wte, V, C, C);  // bf16: wte rounded once for every chunk's products
    for (;;) {
        int m = gather_chunk(&pos, idx, xb, x, target, N, C);
        if (m == 0) break;
        if (!kept) chunk_logits(z, xb, wte, inv_temp, m, C, V);
        kept = 0;  // only ever the first (and only) chunk
        chunk_rows(z, idx, m, V, target, inv_temp, NULL, NULL, 1, dlogp, dent);
        chunk_backprop(dx, dwte, z, xb, dxb, idx, m, wte, C, V);
    }
    gemm_hold_end();
}

// x[N,C], wte[V,C], target[N] → logp[N], ent[N] (ent may be NULL); inactive positions get 0.
// With dx or dwte, each chunk's logits then become its gradient for dlogp / dent right away
// (lmhead_forward_backward). Returns the number of chunks.
static int head_pass(float *logp, float *ent, float *dx, float *dwte, const float *dlogp,
                     const float *dent, const float *x, const float *wte, const int *target,
                     float inv_temp, size_t N, size_t C, size_t V, float *scratch) {
    float *z = scratch, *xb = scratch + (size_t)LMH_CHUNK * V, *dxb = xb + (size_t)LMH_CHUNK * C;
    size_t idx[LMH_CHUNK];
    int grad = dx || dwte;
    for (size_t n = 0; n < N; n++)
        if (target[n] < 0) {
            logp[n] = 0.0f;
            if (ent) ent[n] = 0.0f;
        }
    size_t pos = 0;
    int chunks = 0;
    gemm_hold_begin(wte, V, C, C);  // bf16: wte rounded once for every chunk's products
    for (;;) {
        int m = gather_chunk(&pos, idx, xb, x, target, N, C);
        if (m == 0) break;
        chunks++;
        chunk_logits(z, xb, wte, inv_temp, m, C, V);
        chunk_rows(z, idx, m, V, target, inv_temp, logp, ent, grad, dlogp, dent);
        if (grad) chunk_backprop(dx, dwte, z, xb, dxb, idx, m, wte, C, V);
    }
    gemm_hold_end();
    return chunks;
}

// When all active rows made one chunk, its logits and inputs stay in the scratch (returns 1).
int lmhead_forward(float *logp, float *ent, const float *x, const float *wte, const int *target,
                   float inv_temp, size_t N, size_t C, size_t V, float *scratch) {
    return head_pass(logp, ent, NULL, NULL, NULL, NULL, x, wte, target, inv_temp, N, C, V,
                     scratch) == 1;
}

// lmhead_forward then lmhead_backward in one pass over the chunks: the same bits as the two
// calls; the scratch keeps nothing for a later backward.
void lmhead_forward_backward(float *logp, float *ent, float *dx, float *dwte, const float *dlogp,
                             const float *dent, const float *x, const float *wte,
                             const int *target, float inv_temp, size_t N, size_t C, size_t V,
                             float *scratch) {
    head_pass(logp, ent, dx, dwte, dlogp, dent, x, wte, target, inv_temp, N, C, V, scratch);
}

// logits[N,V] = x[N,C] · wteᵀ  (no temperature)
void lmhead_logits(float *logits, const float *x, const float *wte, size_t N, size_t C,
                   size_t V) {
    if (N == 0 || V == 0) return;
    if (N == 1)  // batch-1 decoding: a dot product per vocabulary row (nn/matvec.c)
        matvec_rows_dot(logits, wte, x, V, C);
    else
        gemm(GEMM_N, GEMM_T, N, V, C, 1.0f, x, C, wte, C, 0.0f, logits, V);
}
