// nn/scalarhead.c — the scalar (reward / value) head: val[n] = x[n]·w, forward and backward.
#include "nn/nn.h"

// val[N] = x[N,C] · w[C]
void scalarhead_forward(float *val, const float *x, const float *w, size_t N, size_t C) {
#pragma omp parallel for schedule(static)
    for (size_t n = 0; n < N; n++) {
        const float *xr = x + n * C;
        float s = 0.0f;
        for (size_t c = 0; c < C; c++) s += xr[c] * w[c];
        val[n] = s;
    }
}

// dx[N,C] += dval[n]·w;  dw[C] += Σ_n dval[n]·x[n]  (channel blocks owned by threads)
void scalarhead_backward(float *dx, float *dw, const float *dval, const float *x, const float *w,
                         size_t N, size_t C) {
    if (dx) {
#pragma omp parallel for schedule(static)
        for (size_t n = 0; n < N; n++) {
            float g = dval[n];
            float *d = dx + n * C;
            for (size_t c = 0; c < C; c++) d[c] += g * w[c];
        }
    }
    if (dw) {
        enum { BLK = 64 };
        size_t nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for schedule(static)
        for (size_t bk = 0; bk < nblk; bk++) {
            size_t c0 = bk * BLK, c1 = c0 + BLK < C ? c0 + BLK : C;
            float acc[BLK];
            for (size_t c = c0; c < c1; c++) acc[c - c0] = 0.0f;
            for (size_t n = 0; n < N; n++) {
                float g = dval[n];
                const float *xr = x + n * C;
                for (size_t c = c0; c < c1; c++) acc[c - c0] += g * xr[c];
            }
            for (size_t c = c0; c < c1; c++) dw[c] += acc[c - c0];
        }
    }
}
