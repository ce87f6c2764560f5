// nn/matvec.c — one-row matrix products, the whole cost of batch-1 decoding: every weight is read
// once per token, so these run at memory speed or not at all. Hand-written (not cblas_sgemv)
// because Debian's OpenBLAS 0.3.21 sgemv reads the weights at 20–24 GB/s here, where a plain
// vectorised stream per thread reaches 26–33 GB/s (measured in docs/performance.md).
//
// Both kernels give the same bits for the same inputs and thread count; matvec_rows_dot's bits do
// not depend on the thread count at all.
#include "nn/nn.h"

#include <omp.h>
#include <stdlib.h>

#include "util/common.h"

enum { MATVEC_PAR_MIN = 1 << 15 };  // weights below this many floats: one thread (region overhead)

// Adds x[c0..c1) · W[c0..c1, :] into y[OC]: four weight rows per pass, so y (in L1) is loaded and
// stored once per four rows while the weights stream from memory contiguously.
static void rows_axpy(float *restrict y, const float *restrict x, const float *restrict W,
                      size_t c0, size_t c1, size_t OC) {
    size_t c = c0;
    for (; c + 4 <= c1; c += 4) {
        const float *w0 = W + c * OC, *w1 = w0 + OC, *w2 = w1 + OC, *w3 = w2 + OC;
        float x0 = x[c], x1 = x[c + 1], x2 = x[c + 2], x3 = x[c + 3];
#pragma omp simd
        for (size_t j = 0; j < OC; j++) y[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j];
    }
    for (; c < c1; c++) {
        const float *w0 = W + c * OC;
        float x0 = x[c];
#pragma omp simd
        for (size_t j = 0; j < OC; j++) y[j] += x0 * w0[j];
    }
}

// y[OC] = x[C] · W[C,OC] + bias[OC]  (bias may be NULL; y must not alias x)
// Thread t sums its contiguous block of rows of W into its own partial y; the partials are then
// added in thread order, column blocks split over the threads.
void matvec_in_out(float *y, const float *x, const float *W, const float *bias, size_t C,
                   size_t OC) {
    if (OC == 0) return;
    int nt = omp_in_parallel() || C * OC < MATVEC_PAR_MIN ? 1 : omp_get_max_threads();
    if (nt > (int)C) nt = C > 0 ? (int)C : 1;
    float *part = falloc((size_t)nt * OC);
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        size_t per = (C + (size_t)n - 1) / (size_t)n;
        size_t c0 = (size_t)t * per < C ? (size_t)t * per : C, c1 = c0 + per < C ? c0 + per : C;
        float *p = part + (size_t)t * OC;
        for (size_t j = 0; j < OC; j++) p[j] = 0.0f;
        rows_axpy(p, x, W, c0, c1, OC);
#pragma omp barrier
        size_t cols = ((OC + (size_t)n - 1) / (size_t)n + 15) / 16 * 16;
        size_t j0 = (size_t)t * cols < OC ? (size_t)t * cols : OC, j1 = j0 + cols < OC ? j0 + cols : OC;
        for (size_t j = j0; j < j1; j++) {
            float s = part[j];
            for (int k = 1; k < n; k++) s += part[(size_t)k * OC + j];
            y[j] = bias ? s + bias[j] : s;
        }
    }
    free(part);
}

// y[V] = A[V,C] · x[C]: one dot product per row of A (the tied LM head, wte[V,C]), each in 16
// interleaved partial sums added in a fixed order.
void matvec_rows_dot(float *y, const float *A, const float *x, size_t V, size_t C) {
    enum { L = 16 };
    size_t C16 = C / L * L;
#pragma omp parallel for schedule(static) if (!omp_in_parallel() && V * C >= MATVEC_PAR_MIN)
    for (size_t v = 0; v < V; v++) {
        const float *a = A + v * C;
        float acc[L] = {0};
        for (size_t c = 0; c < C16; c += L)
            for (int l = 0; l < L; l++) acc[l] += a[c + l] * x[c + l];
        for (size_t c = C16; c < C; c++) acc[c - C16] += a[c] * x[c];
        for (int w = L / 2; w > 0; w /= 2)
            for (int l = 0; l < w; l++) acc[l] += acc[l + w];
        y[v] = acc[0];
    }
}
