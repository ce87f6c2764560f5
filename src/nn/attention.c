// nn/attention.c — causal multi-head self-attention over a packed ragged batch (training):
// forward (saves softmax probabilities) and the O(len²·hs) backward. A row may continue another
// row's prefix (prompt sharing: the rows of one prompt run the prompt once): its queries then see
// the parent's first prefix[b] keys/values before its own, and its backward adds into the
// parent's K/V gradients. Every (row, head) is computed by one thread with single-threaded
// products (gemm_serial) on strided views of qkv (lda = 3C); the backward runs a root row and its
// children in order on one thread per head, so the bits do not depend on the thread count.
// A row may also ask for the outputs of its last few positions only (AttnBatch.tail): its
// queries are then those positions, its keys and values all of them.
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

// Row b as the kernels see it: keys are the parent's first `pre` positions, then its own L;
// queries are its own last t positions (q0 = L − t), written to out / read from dout at row qo.
typedef struct {
    int L, pre;      // own tokens, the parent's tokens seen first (0: no parent)
    int q0, t;       // first query position (own index), query rows
    size_t W;        // width of a probability row: pre + L
    size_t own, par; // first token of the row / of its parent (packed index)
    size_t qo;       // the row's first query in out / dout (packed index)
    size_t P;        // the row's probabilities in att
} RowView;

static RowView row_view(const AttnBatch *ab, int b) {
    RowView r = {.L = ab->len[b], .own = ab->off[b], .P = ab->att_off[b]};
    if (ab->parent && ab->parent[b] >= 0) {
        r.pre = ab->prefix[b];
        r.par = ab->off[ab->parent[b]];
    }
    r.t = ab->tail ? ab->tail[b] : r.L;
    r.q0 = r.L - r.t;
    r.qo = ab->qoff ? ab->qoff[b] : r.own + (size_t)r.q0;
    r.W = (size_t)r.pre + (size_t)r.L;
    return r;
}

// In-place softmax of a rows×W score block S (row-major): row i keeps its first first + i + 1
// columns (the prefix and own positions up to its own, causal) and zeros the rest.
// Vectorised (libmvec's expf, lane partial sums added in a fixed order).
static void causal_softmax(float *S, int rows, size_t W, int first) {
    for (int i = 0; i < rows; i++) {
        float *r = S + (size_t)i * W;
        int n = first + i + 1;
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

// One (row, head) of the forward: S = Q·[Kp | K]ᵀ/√hs → softmax → P (saved); O = P·[Vp | V],
// for the row's t query positions q0 … L−1 (P: t×W at r.P + h·t·W).
static void forward_pair(float *out, float *att, const float *qkv, RowView r, int h, size_t C,
                         size_t hs, float scale) {
    size_t C3 = 3 * C, W = r.W;
    int pre = r.pre, q0 = r.q0, t = r.t;
    const float *Q = qkv + (r.own + (size_t)q0) * C3 + (size_t)h * hs;
    const float *K = qkv + r.own * C3 + C + (size_t)h * hs, *V = K + C;
    const float *Kp = qkv + r.par * C3 + C + (size_t)h * hs, *Vp = Kp + C;
    float *P = att + r.P + (size_t)h * (size_t)t * W;
    float *O = out + r.qo * C + (size_t)h * hs;
    // query blocks i0..i1 need only own columns up to q0 + i1 (causal): the products skip the
    // upper triangle's blocks; causal_softmax writes the zeros of the whole row
    for (int i0 = 0; i0 < t; i0 += ATT_BLK) {
        int i1 = blk_end(i0, t), a1 = q0 + i1;
        if (pre)
            gemm_serial(GEMM_N, GEMM_T, i1 - i0, pre, hs, scale, Q + (size_t)i0 * C3, C3, Kp, C3,
                        0.0f, P + (size_t)i0 * W, W);
        gemm_serial(GEMM_N, GEMM_T, i1 - i0, a1, hs, scale, Q + (size_t)i0 * C3, C3, K, C3, 0.0f,
                    P + (size_t)i0 * W + pre, W);
    }
    causal_softmax(P, t, W, pre + q0);
    for (int i0 = 0; i0 < t; i0 += ATT_BLK) {
        int i1 = blk_end(i0, t), a1 = q0 + i1;
        if (pre)
            gemm_serial(GEMM_N, GEMM_N, i1 - i0, hs, pre, 1.0f, P + (size_t)i0 * W, W, Vp, C3,
                        0.0f, O + (size_t)i0 * C, C);
        gemm_serial(GEMM_N, GEMM_N, i1 - i0, hs, a1, 1.0f, P + (size_t)i0 * W + pre, W, V, C3,
                    pre ? 1.0f : 0.0f, O + (size_t)i0 * C, C);
    }
}

void attention_forward_batch(float *out, float *att, const float *qkv, const AttnBatch *ab,
                             size_t C, int NH) {
    size_t hs = C / (size_t)NH;
    float scale = 1.0f / sqrtf((float)hs);
    int pairs = ab->B * NH;
#pragma omp parallel for schedule(dynamic)
    for (int k = 0; k < pairs; k++) {
        int b = k / NH, h = k % NH;
        RowView r = row_view(ab, b);
        if (r.L <= 0 || r.t <= 0) continue;
        forward_pair(out, att, qkv, r, h, C, hs, scale);
    }
}

void attention_forward(float *out, float *att, const float *qkv, const int *len,
                       const size_t *off, const size_t *att_off, int B, size_t C, int NH) {
    AttnBatch ab = {.B = B, .len = len, .off = off, .att_off = att_off};
    attention_forward_batch(out, att, qkv, &ab, C, NH);
}

// One (row, head) of the backward, with P the t×W probabilities and dO the head's t×hs slice:
//   d[Vp|V] += Pᵀ·dO;  dP = dO·[Vp|V]ᵀ;  dS = P ⊙ (dP − rowsum(dP ⊙ P));
//   dQ += dS·[Kp|K]/√hs;  d[Kp|K] += dSᵀ·Q/√hs.
// dS: a t×W scratch.
static void backward_pair(float *dqkv, const float *dout, const float *qkv, const float *att,
                          RowView r, int h, size_t C, size_t hs, float scale, float *dS) {
    size_t C3 = 3 * C, W = r.W;
    int L = r.L, pre = r.pre, q0 = r.q0, t = r.t;
    size_t base = r.own * C3 + (size_t)h * hs, pbase = r.par * C3 + (size_t)h * hs;
    const float *K = qkv + base + C, *V = K + C, *Q = qkv + base + (size_t)q0 * C3;
    const float *Kp = qkv + pbase + C, *Vp = Kp + C;
    float *dK = dqkv + base + C, *dV = dK + C, *dQ = dqkv + base + (size_t)q0 * C3;
    float *dKp = dqkv + pbase + C, *dVp = dKp + C;
    const float *P = att + r.P + (size_t)h * (size_t)t * W;
    const float *dO = dout + r.qo * C + (size_t)h * hs;
    // causal blocks as in the forward: own key block j0..j1 of Pᵀ·dO and dSᵀ·Q needs the query
    // rows at positions ≥ j0 (rows from max(0, j0 − q0)); query block i0..i1 of dP and dS·K needs
    // own keys < q0 + i1
    for (int j0 = 0; j0 < L; j0 += ATT_BLK) {
        int j1 = blk_end(j0, L), r0 = j0 > q0 ? j0 - q0 : 0;
        gemm_serial(GEMM_T, GEMM_N, j1 - j0, hs, t - r0, 1.0f, P + (size_t)r0 * W + pre + j0, W,
                    dO + (size_t)r0 * C, C, 1.0f, dV + (size_t)j0 * C3, C3);
    }
    for (int i0 = 0; i0 < t; i0 += ATT_BLK) {
        int i1 = blk_end(i0, t);
        gemm_serial(GEMM_N, GEMM_T, i1 - i0, q0 + i1, hs, 1.0f, dO + (size_t)i0 * C, C, V, C3,
                    0.0f, dS + (size_t)i0 * W + pre, W);
    }
    if (pre) {
        gemm_serial(GEMM_T, GEMM_N, pre, hs, t, 1.0f, P, W, dO, C, 1.0f, dVp, C3);
        gemm_serial(GEMM_N, GEMM_T, t, pre, hs, 1.0f, dO, C, Vp, C3, 0.0f, dS, W);
    }
    for (int i = 0; i < t; i++) {
        const float *p = P + (size_t)i * W;
        float *d = dS + (size_t)i * W;
        int n = pre + q0 + i + 1;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < n; j++) s += p[j] * d[j];
#pragma omp simd
        for (int j = 0; j < n; j++) d[j] = p[j] * (d[j] - s);
        for (size_t j = (size_t)n; j < W; j++) d[j] = 0.0f;
    }
    for (int i0 = 0; i0 < t; i0 += ATT_BLK) {
        int i1 = blk_end(i0, t);
        gemm_serial(GEMM_N, GEMM_N, i1 - i0, hs, q0 + i1, scale, dS + (size_t)i0 * W + pre, W, K,
                    C3, 1.0f, dQ + (size_t)i0 * C3, C3);
    }
    for (int j0 = 0; j0 < L; j0 += ATT_BLK) {
        int j1 = blk_end(j0, L), r0 = j0 > q0 ? j0 - q0 : 0;
        gemm_serial(GEMM_T, GEMM_N, j1 - j0, hs, t - r0, scale, dS + (size_t)r0 * W + pre + j0, W,
                    Q + (size_t)r0 * C3, C3, 1.0f, dK + (size_t)j0 * C3, C3);
    }
    if (pre) {
        gemm_serial(GEMM_N, GEMM_N, t, hs, pre, scale, dS, W, Kp, C3, 1.0f, dQ, C3);
        gemm_serial(GEMM_T, GEMM_N, pre, hs, t, scale, dS, W, Q, C3, 1.0f, dKp, C3);
    }
}

void attention_backward_batch(float *dqkv, const float *dout, const float *qkv, const float *att,
                              const AttnBatch *ab, size_t C, int NH) {
    int B = ab->B;
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
        int p = ab->parent ? ab->parent[b] : -1;
        if (p < 0) { roots[nroots++] = b; last[b] = b; }
        else { next[last[p]] = b; last[p] = b; }
        RowView r = row_view(ab, b);
        size_t W = (size_t)(r.t > 0 ? r.t : 0) * r.W;
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
                for (int b = roots[k / NH]; b >= 0; b = next[b]) {
                    RowView r = row_view(ab, b);
                    if (r.L > 0 && r.t > 0) backward_pair(dqkv, dout, qkv, att, r, h, C, hs, scale, dS);
                }
            }
            free(dS);
        }
    }
    free(roots); free(next); free(last);
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        const int *len, const size_t *off, const size_t *att_off, int B, size_t C,
                        int NH) {
    AttnBatch ab = {.B = B, .len = len, .off = off, .att_off = att_off};
    attention_backward_batch(dqkv, dout, qkv, att, &ab, C, NH);
}
