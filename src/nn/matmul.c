// nn/matmul.c — the linear layer (HF Conv1D layout, w[in, out]): forward and backward through
// nn/gemm.h (sgemm, or bf16 products when turned on); one-row forwards via nn/matvec.c.
#include "nn/nn.h"

#include <string.h>

#include "nn/gemm.h"

// out[N,OC] = inp[N,C] · w[C,OC] + bias[OC]   (bias may be NULL)
void matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                    size_t N, size_t C, size_t OC) {
    if (N == 0 || OC == 0) return;
    if (C == 0) {
        for (size_t n = 0; n < N; n++) {
            if (bias) memcpy(out + n * OC, bias, OC * sizeof(float));
            else memset(out + n * OC, 0, OC * sizeof(float));
        }
        return;
    }
    if (N == 1) {  // one row (batch-1 decoding): bound by reading w once (nn/matvec.c)
        matvec_in_out(out, inp, w, bias, C, OC);
        return;
    }
    if (bias && gemm_bias(N, OC, C, inp, C, w, OC, bias, out, OC) == 0) return;
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for schedule(static) if (N * OC >= 262144)
        for (size_t n = 0; n < N; n++) memcpy(out + n * OC, bias, OC * sizeof(float));
        beta = 1.0f;
    }
    gemm(GEMM_N, GEMM_N, N, OC, C, 1.0f, inp, C, w, OC, beta, out, OC);
}

// dinp[N,C] (+)= dout[N,OC]·wᵀ (added when beta_dinp = 1, overwritten when 0);
// dw[C,OC] += inpᵀ·dout;  dbias[OC] += Σ_n dout[n,:]
// dbias: each thread owns a block of output columns and walks all N rows in order, so the sum
// order (and the bits) do not depend on the thread count.
static void backward(float *dinp, float beta_dinp, float *dw, float *dbias, const float *dout,
                     const float *inp, const float *w, size_t N, size_t C, size_t OC) {
    if (N == 0) return;
    if (OC == 0) {
        if (dinp && beta_dinp == 0.0f) memset(dinp, 0, N * C * sizeof(float));
        return;
    }
    int hold = dinp && dw && C > 0;
    if (hold) gemm_hold_begin(dout, N, OC, OC);  // bf16: dout rounded once
    if (dinp && C > 0)
        gemm(GEMM_N, GEMM_T, N, C, OC, 1.0f, dout, OC, w, OC, beta_dinp, dinp, C);
    if (dw && C > 0)
        gemm(GEMM_T, GEMM_N, C, OC, N, 1.0f, inp, C, dout, OC, 1.0f, dw, OC);
    if (hold) gemm_hold_end();
    if (dbias) {
        enum { BLK = 64 };
        size_t nblk = (OC + BLK - 1) / BLK;
#pragma omp parallel for schedule(static)
        for (size_t bk = 0; bk < nblk; bk++) {
            size_t o0 = bk * BLK, o1 = o0 + BLK < OC ? o0 + BLK : OC;
            float acc[BLK];
            for (size_t o = o0; o < o1; o++) acc[o - o0] = 0.0f;
            for (size_t n = 0; n < N; n++) {
                const float *row = dout + n * OC;
                for (size_t o = o0; o < o1; o++) acc[o - o0] += row[o];
            }
            for (size_t o = o0; o < o1; o++) dbias[o] += acc[o - o0];
        }
    }
}

void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, size_t N, size_t C, size_t OC) {
    backward(dinp, 1.0f, dw, dbias, dout, inp, w, N, C, OC);
}

void matmul_backward_set(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, size_t N, size_t C, size_t OC) {
    backward(dinp, 0.0f, dw, dbias, dout, inp, w, N, C, OC);
}
