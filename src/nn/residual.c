// nn/residual.c — the residual add and the in-place gradient accumulate (elementwise).
#include "nn/nn.h"

// out[n] = a[n] + b[n]   (out may alias a or b)
void residual_forward(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// dst[n] += src[n]
void vec_accumulate(float *dst, const float *src, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}
