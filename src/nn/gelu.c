// nn/gelu.c — GELU, tanh approximation ("gelu_new"): forward and analytic backward, written with
// the logistic function (0.5·(1 + tanh(u)) = σ(2u)) so that the loops vectorise: the compiler
// calls glibc's vector expf (libmvec) for 16 (AVX-512) or 8 (AVX2) lanes at a time.
#include "nn/nn.h"

#include <string.h>

#include "nn/vecmath.h"

// 16-lane vectors where the CPU has AVX-512 (gcc's -march=native keeps to 256-bit ones by
// default): every element is independent and libmvec's 16-lane expf gives the 8-lane one's bits
// (checked on 4M values in [−10, 10]), so the results do not change — the loops take ~20% less
// time (0.237 → 0.190 ms forward, 0.323 → 0.260 ms backward for 1655 × 512 values, 2 threads).
#pragma GCC target("prefer-vector-width=512")

#define GELU_K 0.7978845608028654f  // √(2/π)
#define GELU_A 0.044715f

// Every element goes through the same 16-wide vector code (the last partial block padded), so the
// bits do not depend on how the threads split the array.
#define GELU_BLOCK 16

// out[n] = 0.5·x·(1 + tanh(u)) = x·σ(2u),  u = √(2/π)·(x + 0.044715·x³)   (out may be inp)
static void gelu_forward_block(float *out, const float *inp) {
#pragma omp simd
    for (int j = 0; j < GELU_BLOCK; j++) {
        float x = inp[j];
        float u = GELU_K * (x + GELU_A * x * x * x);
        out[j] = x / (1.0f + expf(-2.0f * u));
    }
}

// A last partial block, padded.
static void gelu_forward_tail(float *out, const float *inp, size_t r) {
    float x[GELU_BLOCK] = {0}, y[GELU_BLOCK];
    memcpy(x, inp, r * sizeof(float));
    gelu_forward_block(y, x);
    memcpy(out, y, r * sizeof(float));
}

void gelu_forward(float *out, const float *inp, size_t n) {
    size_t nb = n / GELU_BLOCK, r = n % GELU_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < nb; b++) gelu_forward_block(out + b * GELU_BLOCK, inp + b * GELU_BLOCK);
    if (r) gelu_forward_tail(out + nb * GELU_BLOCK, inp + nb * GELU_BLOCK, r);
}

void gelu_forward_serial(float *out, const float *inp, size_t n) {
    size_t nb = n / GELU_BLOCK, r = n % GELU_BLOCK;
    for (size_t b = 0; b < nb; b++) gelu_forward_block(out + b * GELU_BLOCK, inp + b * GELU_BLOCK);
    if (r) gelu_forward_tail(out + nb * GELU_BLOCK, inp + nb * GELU_BLOCK, r);
}

// dinp[n] += dout · d/dx gelu(x)
//   = dout · (0.5·(1 + t) + 0.5·x·(1 − t²)·du),  t = tanh(u), du = √(2/π)·(1 + 3·0.044715·x²)
//   = dout · (s + 2·x·s·(1 − s)·du),  s = σ(2u)
// acc: dinp += …; else dinp = … (dinp may then alias dout: each element is read before written)
static inline float gelu_slope(float x, float e) {  // e = exp(−2u)
    float s = 1.0f / (1.0f + e);
    float du = GELU_K * (1.0f + 3.0f * GELU_A * x * x);
    return s + 2.0f * x * s * (1.0f - s) * du;
}

static void gelu_backward_block(float *dinp, const float *inp, const float *dout, int acc) {
#pragma omp simd
    for (int j = 0; j < GELU_BLOCK; j++) {
        float x = inp[j];
        float u = GELU_K * (x + GELU_A * x * x * x);
        float g = dout[j] * gelu_slope(x, expf(-2.0f * u));
        dinp[j] = acc ? dinp[j] + g : g;
    }
}

static void forward_slope_block(float *out, float *slope, const float *inp) {
#pragma omp simd
    for (int j = 0; j < GELU_BLOCK; j++) {
        float x = inp[j];
        float u = GELU_K * (x + GELU_A * x * x * x);
        float e = expf(-2.0f * u);
        out[j] = x / (1.0f + e);
        slope[j] = gelu_slope(x, e);
    }
}

void gelu_forward_slope(float *out, float *slope, const float *inp, size_t n) {
    size_t nb = n / GELU_BLOCK, r = n % GELU_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < nb; b++)
        forward_slope_block(out + b * GELU_BLOCK, slope + b * GELU_BLOCK, inp + b * GELU_BLOCK);
    if (r) {
        float x[GELU_BLOCK] = {0}, y[GELU_BLOCK], g[GELU_BLOCK];
        memcpy(x, inp + nb * GELU_BLOCK, r * sizeof(float));
        forward_slope_block(y, g, x);
        memcpy(out + nb * GELU_BLOCK, y, r * sizeof(float));
        memcpy(slope + nb * GELU_BLOCK, g, r * sizeof(float));
    }
}

static void slope_block(float *slope, const float *inp) {
#pragma omp simd
    for (int j = 0; j < GELU_BLOCK; j++) {
        float x = inp[j];
        float u = GELU_K * (x + GELU_A * x * x * x);
        slope[j] = gelu_slope(x, expf(-2.0f * u));
    }
}

void gelu_slope_only(float *slope, const float *inp, size_t n) {
    size_t nb = n / GELU_BLOCK, r = n % GELU_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < nb; b++) slope_block(slope + b * GELU_BLOCK, inp + b * GELU_BLOCK);
    if (r) {
        float x[GELU_BLOCK] = {0}, g[GELU_BLOCK];
        memcpy(x, inp + nb * GELU_BLOCK, r * sizeof(float));
        slope_block(g, x);
        memcpy(slope + nb * GELU_BLOCK, g, r * sizeof(float));
    }
}

void gelu_scale(float *d, const float *slope, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) d[i] = d[i] * slope[i];
}

static void backward(float *dinp, const float *inp, const float *dout, size_t n, int acc) {
    size_t nb = n / GELU_BLOCK, r = n % GELU_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < nb; b++) {
        size_t o = b * GELU_BLOCK;
        gelu_backward_block(dinp + o, inp + o, dout + o, acc);
    }
    if (r) {
        size_t o = nb * GELU_BLOCK;
        float d[GELU_BLOCK] = {0}, x[GELU_BLOCK] = {0}, g[GELU_BLOCK] = {0};
        memcpy(d, dinp + o, r * sizeof(float));
        memcpy(x, inp + o, r * sizeof(float));
        memcpy(g, dout + o, r * sizeof(float));
        gelu_backward_block(d, x, g, acc);
        memcpy(dinp + o, d, r * sizeof(float));
    }
}

void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    backward(dinp, inp, dout, n, 1);
}

void gelu_backward_set(float *dinp, const float *inp, const float *dout, size_t n) {
    backward(dinp, inp, dout, n, 0);
}
