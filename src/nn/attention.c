// nn/attention.c — causal multi-head self-attention over a packed ragged batch (training):
// forward (saves softmax probabilities) and the O(len²·hs) backward. Work is split over
// (row, head) pairs; each pair is computed by one thread with single-threaded products
// (gemm_serial) on strided views of qkv (lda = 3C), so the bits do not depend on the thread count.
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>

#include "nn/gemm.h"
#include "nn/vecmath.h"
#include "util/common.h"

// Row / column block of the causal products: blocks above the diagonal are never computed.
#define ATT_BLK 64

// End of the block that starts at i0 in a row of L.
static inline int blk_end(int i0, int L) { return i0 + ATT_BLK < L ? i0 + ATT_BLK : L; }

// In-place causal softmax of an L×L score block S (row-major): row i keeps j ≤ i, zeros j > i.
// Vectorised (libmvec's expf, lane partial sums added in a fixed order).
static void causal_softmax(float *S, int L) {
    for (int i = 0; i < L; i++) {
        float *r = S + (size_t)i * (size_t)L;
        float mx = r[0];
#pragma omp simd reduction(max : mx)
        for (int j = 1; j <= i; j++) mx = r[j] > mx ? r[j] : mx;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j <= i; j++) {
            float ej = expf(r[j] - mx);
            r[j] = ej;
            s += ej;
        }
        float inv = 1.0f / s;
        for (int j = 0; j <= i; j++) r[j] *= inv;
        for (int j = i + 1; j < L; j++) r[j] = 0.0f;
    }
}

// qkv[N,3C] → out[N,C]; att: per row b, head h an L×L block (L = len[b]) at att_off[b] + h·L².
// Per (b,h): S = Q·Kᵀ/√hs → causal softmax → P (saved in att); O = P·V.
void attention_forward(float *out, float *att, const float *qkv, const int *len,
                       const size_t *off, const size_t *att_off, int B, size_t C, int NH) {
    size_t hs = C / (size_t)NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    int pairs = B * NH;
#pragma omp parallel for schedule(dynamic)
    for (int k = 0; k < pairs; k++) {
        int b = k / NH, h = k % NH, L = len[b];
        if (L <= 0) continue;
        const float *Q = qkv + off[b] * C3 + (size_t)h * hs;
        const float *K = Q + C, *V = Q + 2 * C;
        float *P = att + att_off[b] + (size_t)h * (size_t)L * (size_t)L;
        float *O = out + off[b] * C + (size_t)h * hs;
        // row blocks i0..i1 need only columns j < i1 (causal): the products skip the upper
        // triangle's blocks; causal_softmax writes the zeros of the whole row
        for (int i0 = 0; i0 < L; i0 += ATT_BLK) {
            int i1 = blk_end(i0, L);
            gemm_serial(GEMM_N, GEMM_T, i1 - i0, i1, hs, scale, Q + (size_t)i0 * C3, C3, K, C3,
                        0.0f, P + (size_t)i0 * L, L);
        }
        causal_softmax(P, L);
        for (int i0 = 0; i0 < L; i0 += ATT_BLK) {
            int i1 = blk_end(i0, L);
            gemm_serial(GEMM_N, GEMM_N, i1 - i0, hs, i1, 1.0f, P + (size_t)i0 * L, L, V, C3, 0.0f,
                        O + (size_t)i0 * C, C);
        }
    }
}

// dqkv[N,3C] += ∂/∂qkv given dout[N,C] and the saved probabilities att. Per (b,h), with P the
// L×L block and dO the head's L×hs slice of dout:
//   dV += Pᵀ·dO;  dP = dO·Vᵀ;  dS = P ⊙ (dP − rowsum(dP ⊙ P));  dQ += dS·K/√hs;  dK += dSᵀ·Q/√hs.
// Distinct (b,h) pairs write disjoint columns/rows of dqkv: no races. Scratch: one L×L buffer per
// thread (max L over the batch).
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        const int *len, const size_t *off, const size_t *att_off, int B, size_t C,
                        int NH) {
    if (!dqkv) return;
    size_t hs = C / (size_t)NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    int pairs = B * NH, maxL = 0;
    for (int b = 0; b < B; b++) maxL = len[b] > maxL ? len[b] : maxL;
    if (maxL == 0) return;
#pragma omp parallel
    {
        float *dS = xmalloc((size_t)maxL * (size_t)maxL * sizeof(float));
#pragma omp for schedule(dynamic)
        for (int k = 0; k < pairs; k++) {
            int b = k / NH, h = k % NH, L = len[b];
            if (L <= 0) continue;
            size_t base = off[b] * C3 + (size_t)h * hs;
            const float *Q = qkv + base, *K = Q + C, *V = Q + 2 * C;
            float *dQ = dqkv + base, *dK = dQ + C, *dV = dQ + 2 * C;
            const float *P = att + att_off[b] + (size_t)h * (size_t)L * (size_t)L;
            const float *dO = dout + off[b] * C + (size_t)h * hs;
            // causal blocks as in the forward: row block i0..i1 of dP, dS·K needs columns < i1;
            // column block j0..j1 of Pᵀ·dO, dSᵀ·Q needs rows ≥ j0
            for (int j0 = 0; j0 < L; j0 += ATT_BLK) {
                int j1 = blk_end(j0, L);
                gemm_serial(GEMM_T, GEMM_N, j1 - j0, hs, L - j0, 1.0f, P + (size_t)j0 * L + j0, L,
                            dO + (size_t)j0 * C, C, 1.0f, dV + (size_t)j0 * C3, C3);
                gemm_serial(GEMM_N, GEMM_T, j1 - j0, j1, hs, 1.0f, dO + (size_t)j0 * C, C, V, C3,
                            0.0f, dS + (size_t)j0 * L, L);
            }
            for (int i = 0; i < L; i++) {
                const float *p = P + (size_t)i * (size_t)L;
                float *d = dS + (size_t)i * (size_t)L;
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (int j = 0; j <= i; j++) s += p[j] * d[j];
#pragma omp simd
                for (int j = 0; j <= i; j++) d[j] = p[j] * (d[j] - s);
                for (int j = i + 1; j < L; j++) d[j] = 0.0f;
            }
            for (int j0 = 0; j0 < L; j0 += ATT_BLK) {
                int j1 = blk_end(j0, L);
                gemm_serial(GEMM_N, GEMM_N, j1 - j0, hs, j1, scale, dS + (size_t)j0 * L, L, K, C3,
                            1.0f, dQ + (size_t)j0 * C3, C3);
                gemm_serial(GEMM_T, GEMM_N, j1 - j0, hs, L - j0, scale, dS + (size_t)j0 * L + j0, L,
                            Q + (size_t)j0 * C3, C3, 1.0f, dK + (size_t)j0 * C3, C3);
            }
        }
        free(dS);
    }
}
