// nn/attention.c — causal multi-head self-attention over a packed ragged batch (training):
// forward (saves softmax probabilities) and the O(len²·hs) backward. A row may continue another
// row's prefix (prompt sharing: the rows of one prompt run the prompt once): its queries then see
// the parent's first prefix[b] keys/values before its own, and its backward adds into the
// parent's K/V gradients. Every (row, head) is computed by one thread with single-threaded
// products (gemm_serial) on strided views of qkv (lda = 3C); the backward runs a root row and its
// children in order on one thread per head, so the bits do not depend on the thread count.
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

// Where row b's keys start: the parent's first `pre` positions, then its own L.
typedef struct {
    int L, pre;      // own tokens, the parent's tokens seen first (0: no parent)
    size_t W;        // width of a probability row: pre + L
    size_t own, par; // first token of the row / of its parent (packed index)
} RowView;

static RowView row_view(int b, const int *len, const size_t *off, const int *parent,
                        const int *prefix) {
    RowView r = {.L = len[b], .own = off[b]};
    if (parent && parent[b] >= 0) {
        r.pre = prefix[b];
        r.par = off[parent[b]];
    }
    r.W = (size_t)r.pre + (size_t)r.L;
    return r;
}

// In-place softmax of an L×W score block S (row-major, W = pre + L): row i keeps its first
// pre + i + 1 columns (the prefix, then its own causal part) and zeros the rest.
// Vectorised (libmvec's expf, lane partial sums added in a fixed order).
static void causal_softmax(float *S, int L, int pre) {
    size_t W = (size_t)pre + (size_t)L;
    for (int i = 0; i < L; i++) {
        float *r = S + (size_t)i * W;
        int n = pre + i + 1;
        float mx = r[0];
#pragma omp simd reduction(max : mx)
        for (int j = 1; j < n; j++) mx = r[j] > mx ? r[j] : mx;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < n; j++) {
            float ej = expf(r[j] - mx);
            r[j] = ej;
            s += ej;
        }
        float inv = 1.0f / s;
        for (int j = 0; j < n; j++) r[j] *= inv;
        for (size_t j = (size_t)n; j < W; j++) r[j] = 0.0f;
    }
}

size_t attention_probs_floats(int len, int prefix, int NH) {
    return (size_t)NH * (size_t)len * ((size_t)prefix + (size_t)len);
}

// One (row, head) of the forward: S = Q·[Kp | K]ᵀ/√hs → softmax → P (saved); O = P·[Vp | V].
static void forward_pair(float *out, float *att, const float *qkv, RowView r, const size_t *att_off,
                         int b, int h, size_t C, size_t hs, float scale) {
    size_t C3 = 3 * C, W = r.W;
    int L = r.L, pre = r.pre;
    const float *Q = qkv + r.own * C3 + (size_t)h * hs, *K = Q + C, *V = Q + 2 * C;
    const float *Kp = qkv + r.par * C3 + C + (size_t)h * hs, *Vp = Kp + C;
    float *P = att + att_off[b] + (size_t)h * (size_t)L * W;
    float *O = out + r.own * C + (size_t)h * hs;
    // row blocks i0..i1 need only own columns j < i1 (causal): the products skip the upper
    // triangle's blocks; causal_softmax writes the zeros of the whole row
    for (int i0 = 0; i0 < L; i0 += ATT_BLK) {
        int i1 = blk_end(i0, L);
        if (pre)
            gemm_serial(GEMM_N, GEMM_T, i1 - i0, pre, hs, scale, Q + (size_t)i0 * C3, C3, Kp, C3,
                        0.0f, P + (size_t)i0 * W, W);
        gemm_serial(GEMM_N, GEMM_T, i1 - i0, i1, hs, scale, Q + (size_t)i0 * C3, C3, K, C3, 0.0f,
                    P + (size_t)i0 * W + pre, W);
    }
    causal_softmax(P, L, pre);
    for (int i0 = 0; i0 < L; i0 += ATT_BLK) {
        int i1 = blk_end(i0, L);
        if (pre)
            gemm_serial(GEMM_N, GEMM_N, i1 - i0, hs, pre, 1.0f, P + (size_t)i0 * W, W, Vp, C3,
                        0.0f, O + (size_t)i0 * C, C);
        gemm_serial(GEMM_N, GEMM_N, i1 - i0, hs, i1, 1.0f, P + (size_t)i0 * W + pre, W, V, C3,
                    pre ? 1.0f : 0.0f, O + (size_t)i0 * C, C);
    }
}

void attention_forward_shared(float *out, float *att, const float *qkv, const int *len,
                              const size_t *off, const size_t *att_off, const int *parent,
                              const int *prefix, int B, size_t C, int NH) {
    size_t hs = C / (size_t)NH;
    float scale = 1.0f / sqrtf((float)hs);
    int pairs = B * NH;
#pragma omp parallel for schedule(dynamic)
    for (int k = 0; k < pairs; k++) {
        int b = k / NH, h = k % NH;
        if (len[b] <= 0) continue;
        forward_pair(out, att, qkv, row_view(b, len, off, parent, prefix), att_off, b, h, C, hs,
                     scale);
    }
}

void attention_forward(float *out, float *att, const float *qkv, const int *len,
                       const size_t *off, const size_t *att_off, int B, size_t C, int NH) {
    attention_forward_shared(out, att, qkv, len, off, att_off, NULL, NULL, B, C, NH);
}

// One (row, head) of the backward, with P the L×W probabilities and dO the head's L×hs slice:
//   d[Vp|V] += Pᵀ·dO;  dP = dO·[Vp|V]ᵀ;  dS = P ⊙ (dP − rowsum(dP ⊙ P));
//   dQ += dS·[Kp|K]/√hs;  d[Kp|K] += dSᵀ·Q/√hs.
// dS: an L×W scratch.
static void backward_pair(float *dqkv, const float *dout, const float *qkv, const float *att,
                          RowView r, const size_t *att_off, int b, int h, size_t C, size_t hs,
                          float scale, float *dS) {
    size_t C3 = 3 * C, W = r.W;
    int L = r.L, pre = r.pre;
    size_t base = r.own * C3 + (size_t)h * hs, pbase = r.par * C3 + (size_t)h * hs;
    const float *Q = qkv + base, *K = Q + C, *V = Q + 2 * C;
    const float *Kp = qkv + pbase + C, *Vp = Kp + C;
    float *dQ = dqkv + base, *dK = dQ + C, *dV = dQ + 2 * C;
    float *dKp = dqkv + pbase + C, *dVp = dKp + C;
    const float *P = att + att_off[b] + (size_t)h * (size_t)L * W;
    const float *dO = dout + r.own * C + (size_t)h * hs;
    // causal blocks as in the forward: row block j0..j1 of dP, dS·K needs own columns < j1;
    // own column block j0..j1 of Pᵀ·dO, dSᵀ·Q needs rows ≥ j0
    for (int j0 = 0; j0 < L; j0 += ATT_BLK) {
        int j1 = blk_end(j0, L);
        gemm_serial(GEMM_T, GEMM_N, j1 - j0, hs, L - j0, 1.0f, P + (size_t)j0 * W + pre + j0, W,
                    dO + (size_t)j0 * C, C, 1.0f, dV + (size_t)j0 * C3, C3);
        gemm_serial(GEMM_N, GEMM_T, j1 - j0, j1, hs, 1.0f, dO + (size_t)j0 * C, C, V, C3, 0.0f,
                    dS + (size_t)j0 * W + pre, W);
    }
    if (pre) {
        gemm_serial(GEMM_T, GEMM_N, pre, hs, L, 1.0f, P, W, dO, C, 1.0f, dVp, C3);
        gemm_serial(GEMM_N, GEMM_T, L, pre, hs, 1.0f, dO, C, Vp, C3, 0.0f, dS, W);
    }
    for (int i = 0; i < L; i++) {
        const float *p = P + (size_t)i * W;
        float *d = dS + (size_t)i * W;
        int n = pre + i + 1;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < n; j++) s += p[j] * d[j];
#pragma omp simd
        for (int j = 0; j < n; j++) d[j] = p[j] * (d[j] - s);
        for (size_t j = (size_t)n; j < W; j++) d[j] = 0.0f;
    }
    for (int j0 = 0; j0 < L; j0 += ATT_BLK) {
        int j1 = blk_end(j0, L);
        gemm_serial(GEMM_N, GEMM_N, j1 - j0, hs, j1, scale, dS + (size_t)j0 * W + pre, W, K, C3,
                    1.0f, dQ + (size_t)j0 * C3, C3);
        gemm_serial(GEMM_T, GEMM_N, j1 - j0, hs, L - j0, scale, dS + (size_t)j0 * W + pre + j0, W,
                    Q + (size_t)j0 * C3, C3, 1.0f, dK + (size_t)j0 * C3, C3);
    }
    if (pre) {
        gemm_serial(GEMM_N, GEMM_N, L, hs, pre, scale, dS, W, Kp, C3, 1.0f, dQ, C3);
        gemm_serial(GEMM_T, GEMM_N, pre, hs, L, scale, dS, W, Q, C3, 1.0f, dKp, C3);
    }
}

void attention_backward_shared(float *dqkv, const float *dout, const float *qkv, const float *att,
                               const int *len, const size_t *off, const size_t *att_off,
                               const int *parent, const int *prefix, int B, size_t C, int NH) {
    if (!dqkv || B <= 0) return;
    size_t hs = C / (size_t)NH;
    float scale = 1.0f / sqrtf((float)hs);
    // work items: (root row, head); a root's children follow it on the same thread, in order
    // (they add into its K/V gradients). next[b]: the next child of b's root after b, or −1.
    int *roots = xmalloc((size_t)B * sizeof(int)), *next = xmalloc((size_t)B * sizeof(int));
    int *last = xmalloc((size_t)B * sizeof(int)), nroots = 0;
    size_t maxW = 0;
    for (int b = 0; b < B; b++) {
        next[b] = -1;
        int p = parent ? parent[b] : -1;
        if (p < 0) { roots[nroots++] = b; last[b] = b; }
        else { next[last[p]] = b; last[p] = b; }
        size_t W = (size_t)len[b] * (size_t)(len[b] + (p >= 0 ? prefix[b] : 0));
        maxW = W > maxW ? W : maxW;
    }
    int items = nroots * NH;
    if (maxW > 0) {
#pragma omp parallel
        {
            float *dS = xmalloc(maxW * sizeof(float));
#pragma omp for schedule(dynamic)
            for (int k = 0; k < items; k++) {
                int h = k % NH;
                for (int b = roots[k / NH]; b >= 0; b = next[b])
                    if (len[b] > 0)
                        backward_pair(dqkv, dout, qkv, att, row_view(b, len, off, parent, prefix),
                                      att_off, b, h, C, hs, scale, dS);
            }
            free(dS);
        }
    }
    free(roots); free(next); free(last);
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        const int *len, const size_t *off, const size_t *att_off, int B, size_t C,
                        int NH) {
    attention_backward_shared(dqkv, dout, qkv, att, len, off, att_off, NULL, NULL, B, C, NH);
}
