// nn/layernorm.c — layer normalisation over the last dimension (eps 1e-5): forward and backward.
#include "nn/nn.h"

#include <math.h>

#define LN_EPS 1e-5

// out[N,C] = (inp − mean)·rstd·w[C] + b[C]; mean[N], rstd[N] saved when non-NULL.
// Statistics per row in double (two passes, summed in vector lanes); each row is owned by one
// thread.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, size_t N, size_t C) {
    if (C == 0) return;
#pragma omp parallel for schedule(static)
    for (size_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        float *y = out + n * C;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (size_t c = 0; c < C; c++) s += x[c];
        double mu = s / (double)C;
        double v = 0.0;
#pragma omp simd reduction(+ : v)
        for (size_t c = 0; c < C; c++) {
            double d = x[c] - mu;
            v += d * d;
        }
        v /= (double)C;
        float m = (float)mu, r = (float)(1.0 / sqrt(v + LN_EPS));
        for (size_t c = 0; c < C; c++) y[c] = (x[c] - m) * r * w[c] + b[c];
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = r;
    }
}

// dinp[N,C] += rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dout·w, x̂ = (inp − mean)·rstd;
// dw[C] += Σ_n dout·x̂;  db[C] += Σ_n dout  (channel blocks owned by threads, rows in order).
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, size_t N, size_t C) {
    if (C == 0 || N == 0) return;
    if (dinp) {
#pragma omp parallel for schedule(static)
        for (size_t n = 0; n < N; n++) {
            const float *x = inp + n * C, *dy = dout + n * C;
            float *dx = dinp + n * C;
            float m = mean[n], r = rstd[n];
            double sg = 0.0, sgx = 0.0;
#pragma omp simd reduction(+ : sg, sgx)
            for (size_t c = 0; c < C; c++) {
                float g = dy[c] * w[c];
                sg += g;
                sgx += (double)g * ((x[c] - m) * r);
            }
            float mg = (float)(sg / (double)C), mgx = (float)(sgx / (double)C);
            for (size_t c = 0; c < C; c++) {
                float xh = (x[c] - m) * r;
                dx[c] += r * (dy[c] * w[c] - mg - xh * mgx);
            }
        }
    }
    if (dw || db) {
        enum { BLK = 64 };
        size_t nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for schedule(static)
        for (size_t bk = 0; bk < nblk; bk++) {
            size_t c0 = bk * BLK, c1 = c0 + BLK < C ? c0 + BLK : C;
            float aw[BLK], ab[BLK];
            for (size_t c = c0; c < c1; c++) aw[c - c0] = ab[c - c0] = 0.0f;
            for (size_t n = 0; n < N; n++) {
                const float *x = inp + n * C, *dy = dout + n * C;
                float m = mean[n], r = rstd[n];
                for (size_t c = c0; c < c1; c++) {
                    aw[c - c0] += dy[c] * ((x[c] - m) * r);
                    ab[c - c0] += dy[c];
                }
            }
            for (size_t c = c0; c < c1; c++) {
                if (dw) dw[c] += aw[c - c0];
                if (db) db[c] += ab[c - c0];
            }
        }
    }
}
