// nn/gelu.c — GELU, tanh approximation ("gelu_new"): forward and analytic backward.
#include "nn/nn.h"

#include <math.h>

#define GELU_K 0.7978845608028654f  // √(2/π)
#define GELU_A 0.044715f

// out[n] = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
void gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_A * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(u));
    }
}

// dinp[n] += dout · d/dx gelu(x)
//   = dout · (0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)),  t = tanh(u)
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_A * x * x * x);
        float t = tanhf(u);
        float du = GELU_K * (1.0f + 3.0f * GELU_A * x * x);
        dinp[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
    }
}
