// nn/attention.c — causal multi-head self-attention over a packed ragged batch (training):
// forward (saves softmax probabilities) and the O(len²·hs) backward. A row may continue another
// row's prefix (prompt sharing: the rows of one prompt run the prompt once): its queries then see
// the parent's first prefix[b] keys/values before its own, and its backward adds into the
// parent's K/V gradients. Every (row, head) is computed by one thread with single-threaded
// products (gemm_serial) on strided views of qkv (lda = 3C); the backward runs a root row and its
// children in order on one thread per head, so the bits do not depend on the thread count.
// A row may also ask for the outputs of its last few positions only (AttnBatch.tail): its
// queries are then those positions, its keys and values all of them.
// The products: on AVX-512 our register tiles (nn/attention_tiles.h: 8 output rows at a time,
// the keys transposed once per (row, head) for the scores), else gemm_serial on 64-row causal
// blocks. Either way nothing above the causal diagonal is summed (rounded up to a tile or block).
#include "nn/nn.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "nn/attention_tiles.h"
#include "nn/gemm.h"
#include "nn/vecmath.h"
#include "util/common.h"

// The softmax loops in 16-lane vectors where the CPU has AVX-512 (gcc's -march=native keeps to
// 256-bit ones by default): libmvec's 16-lane expf, as in nn/gelu.c.
#pragma GCC target("prefer-vector-width=512")

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

// x[j] = exp(x[j] − mx) for one block of SM_BLK, its first m added into the lane sums acc[]:
// every score goes through the same 16-lane libmvec expf (a row's last, partial block padded with
// mx, whose exp is 1 and not counted — an infinite pad would send libmvec to its slow
// special-case path); the lanes are added together once per row, in order.
enum { SM_BLK = 16 };
static inline void exp_block(float *x, float mx, int m, float *acc) {
#pragma omp simd
    for (int j = 0; j < SM_BLK; j++) {
        float e = expf(x[j] - mx);
        x[j] = e;
        acc[j] += j < m ? e : 0.0f;
    }
}

// In-place softmax of a rows×W score block S (row-major): row i keeps its first first + i + 1
// columns (the prefix and own positions up to its own, causal) and zeros the rest.
static void causal_softmax(float *S, int rows, size_t W, int first) {
    for (int i = 0; i < rows; i++) {
        float *r = S + (size_t)i * W;
        int n = first + i + 1, j = 0;
        float mx = r[0];
#pragma omp simd reduction(max : mx)
        for (int k = 1; k < n; k++) mx = r[k] > mx ? r[k] : mx;
        float acc[SM_BLK] = {0};
        for (; j + SM_BLK <= n; j += SM_BLK) exp_block(r + j, mx, SM_BLK, acc);
        if (j < n) {
            float tail[SM_BLK];
            for (int k = 0; k < SM_BLK; k++) tail[k] = j + k < n ? r[j + k] : mx;
            exp_block(tail, mx, n - j, acc);
            memcpy(r + j, tail, (size_t)(n - j) * sizeof(float));
        }
        float s = 0.0f;
        for (int k = 0; k < SM_BLK; k++) s += acc[k];
        float inv = 1.0f / s;
#pragma omp simd
        for (int k = 0; k < n; k++) r[k] *= inv;
        for (size_t k = (size_t)n; k < W; k++) r[k] = 0.0f;
    }
}

// dS = P ⊙ (dS − rowsum(dS ⊙ P)) in place (dS holds dP), rows as in causal_softmax: row i's
// first first + i + 1 columns; the rest zeroed.
static void softmax_backward(float *dS, const float *P, int rows, size_t W, int first) {
    for (int i = 0; i < rows; i++) {
        const float *p = P + (size_t)i * W;
        float *d = dS + (size_t)i * W;
        int n = first + i + 1;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < n; j++) s += p[j] * d[j];
#pragma omp simd
        for (int j = 0; j < n; j++) d[j] = p[j] * (d[j] - s);
        for (size_t j = (size_t)n; j < W; j++) d[j] = 0.0f;
    }
}

size_t attention_probs_floats(int len, int prefix, int NH) {
    return (size_t)NH * (size_t)len * ((size_t)prefix + (size_t)len);
}

// 1: the register tiles (the default where the CPU has AVX-512), 0: gemm_serial; −1 not decided.
static _Atomic int g_tiles = -1;

static int use_tiles(void) {
    int t = atomic_load(&g_tiles);
    if (t < 0) {
        t = attn_tiles_available();
        atomic_store(&g_tiles, t);
    }
    return t;
}

int attention_set_tiles(int on) {
    int was = use_tiles();
    atomic_store(&g_tiles, on && attn_tiles_available());
    return was;
}

static inline int imin(int a, int b) { return a < b ? a : b; }

// S[i][0 .. lim) = alpha · A[i]·T for the t query rows, a tile of TILE_ROWS rows summing up to
// the causal limit of its last row (pre + q0 + i + 1; the columns a row does not see are zeroed
// afterwards by the softmax). A rows of stride lda. Each tile's rows then go through the
// softmax while they are in L1: the forward's (P NULL), or the backward's against the
// probabilities P (S holds dP and becomes dS).
static void scores_tiled(float *S, size_t W, const float *A, size_t lda, const float *T, int t,
                         int first, size_t hs, float alpha, const float *P) {
    for (int i0 = 0; i0 < t; i0 += TILE_ROWS) {
        int nr = imin(TILE_ROWS, t - i0);
        TileSum in = {.s = A + (size_t)i0 * lda, .sr = lda, .sk = 1, .x0 = T, .x1 = T,
                      .ld0 = W, .ld1 = W, .split = (int)hs, .K = (int)hs};
        float *o[TILE_ROWS] = {0};
        for (int r = 0; r < nr; r++) o[r] = S + (size_t)(i0 + r) * W;
        attn_tile(nr, first + i0 + nr, &in, o, alpha, 0);
        if (P) softmax_backward(S + (size_t)i0 * W, P + (size_t)i0 * W, nr, W, first + i0);
        else attn_softmax(S + (size_t)i0 * W, nr, W, first + i0);
    }
}

// O[i] (+)= alpha · Σ_j S[i][j]·[Xp | X][j] for the t rows (O rows of stride ldo), each tile
// summing the columns its last row sees; S is zero past each row's own limit.
static void rows_tiled(float *O, size_t ldo, const float *S, size_t W, const float *Xp, int pre,
                       const float *X, size_t C3, int t, int first, size_t hs, float alpha,
                       int add) {
    for (int i0 = 0; i0 < t; i0 += TILE_ROWS) {
        int nr = imin(TILE_ROWS, t - i0);
        TileSum in = {.s = S + (size_t)i0 * W, .sr = W, .sk = 1, .x0 = Xp, .x1 = X, .ld0 = C3,
                      .ld1 = C3, .split = pre, .K = first + i0 + nr};
        float *o[TILE_ROWS] = {0};
        for (int r = 0; r < nr; r++) o[r] = O + (size_t)(i0 + r) * ldo;
        attn_tile(nr, (int)hs, &in, o, alpha, add);
    }
}

// [Dp | D][j] += alpha · Σ_i S[i][j]·Y[i] for every column j of S (the prefix's, then the row's
// own): a tile of TILE_ROWS columns sums from the first query row that sees its first column
// (every row sees the prefix; own column j is seen from query row j − q0 on). Y rows of stride
// ldy.
static void columns_tiled(float *Dp, float *D, size_t C3, const float *S, size_t W, int pre,
                          int q0, int t, const float *Y, size_t ldy, size_t hs, float alpha) {
    for (int j0 = 0; j0 < (int)W; j0 += TILE_ROWS) {
        int nr = imin(TILE_ROWS, (int)W - j0);
        int i0 = j0 < pre || j0 - pre < q0 ? 0 : j0 - pre - q0;
        TileSum in = {.s = S + (size_t)i0 * W + (size_t)j0, .sr = 1, .sk = W,
                      .x0 = Y + (size_t)i0 * ldy, .x1 = Y + (size_t)i0 * ldy, .ld0 = ldy,
                      .ld1 = ldy, .split = t - i0, .K = t - i0};
        float *o[TILE_ROWS] = {0};
        for (int r = 0; r < nr; r++) {
            int c = j0 + r;
            o[r] = c < pre ? Dp + (size_t)c * C3 : D + (size_t)(c - pre) * C3;
        }
        attn_tile(nr, (int)hs, &in, o, alpha, 1);
    }
}

// One (row, head) of the forward: S = Q·[Kp | K]ᵀ/√hs → softmax → P (saved); O = P·[Vp | V],
// for the row's t query positions q0 … L−1 (P: t×W at r.P + h·t·W). T: hs × W scratch (tiles).
static void forward_pair(float *out, float *att, const float *qkv, RowView r, int h, size_t C,
                         size_t hs, float scale, float *T) {
    size_t C3 = 3 * C, W = r.W;
    int pre = r.pre, q0 = r.q0, t = r.t;
    const float *Q = qkv + (r.own + (size_t)q0) * C3 + (size_t)h * hs;
    const float *K = qkv + r.own * C3 + C + (size_t)h * hs, *V = K + C;
    const float *Kp = qkv + r.par * C3 + C + (size_t)h * hs, *Vp = Kp + C;
    float *P = att + r.P + (size_t)h * (size_t)t * W;
    float *O = out + r.qo * C + (size_t)h * hs;
    if (T) {
        attn_transpose(T, W, Kp, pre, K, r.L, C3, hs);
        scores_tiled(P, W, Q, C3, T, t, pre + q0, hs, scale, NULL);
        rows_tiled(O, C, P, W, Vp, pre, V, C3, t, pre + q0, hs, 1.0f, 0);
        return;
    }
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
    int pairs = ab->B * NH, tiles = use_tiles();
    size_t maxW = 0;
    for (int b = 0; b < ab->B; b++) {
        RowView r = row_view(ab, b);
        maxW = r.W > maxW ? r.W : maxW;
    }
#pragma omp parallel
    {
        float *T = tiles ? xmalloc(hs * maxW * sizeof(float) + 1) : NULL;
#pragma omp for schedule(dynamic)
        for (int k = 0; k < pairs; k++) {
            int b = k / NH, h = k % NH;
            RowView r = row_view(ab, b);
            if (r.L <= 0 || r.t <= 0) continue;
            forward_pair(out, att, qkv, r, h, C, hs, scale, T);
        }
        free(T);
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
// dS: a t×W scratch; T: hs × W scratch (tiles; NULL: gemm_serial).
static void backward_pair(float *dqkv, const float *dout, const float *qkv, const float *att,
                          RowView r, int h, size_t C, size_t hs, float scale, float *dS, float *T) {
    size_t C3 = 3 * C, W = r.W;
    int L = r.L, pre = r.pre, q0 = r.q0, t = r.t;
    size_t base = r.own * C3 + (size_t)h * hs, pbase = r.par * C3 + (size_t)h * hs;
    const float *K = qkv + base + C, *V = K + C, *Q = qkv + base + (size_t)q0 * C3;
    const float *Kp = qkv + pbase + C, *Vp = Kp + C;
    float *dK = dqkv + base + C, *dV = dK + C, *dQ = dqkv + base + (size_t)q0 * C3;
    float *dKp = dqkv + pbase + C, *dVp = dKp + C;
    const float *P = att + r.P + (size_t)h * (size_t)t * W;
    const float *dO = dout + r.qo * C + (size_t)h * hs;
    if (T) {
        attn_transpose(T, W, Vp, pre, V, L, C3, hs);
        scores_tiled(dS, W, dO, C, T, t, pre + q0, hs, 1.0f, P);  // reads P along its rows
        columns_tiled(dVp, dV, C3, P, W, pre, q0, t, dO, C, hs, 1.0f);  // then down its columns
        rows_tiled(dQ, C3, dS, W, Kp, pre, K, C3, t, pre + q0, hs, scale, 1);
        columns_tiled(dKp, dK, C3, dS, W, pre, q0, t, Q, C3, hs, scale);
        return;
    }
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
    softmax_backward(dS, P, t, W, pre + q0);
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
    size_t maxW = 0, maxRow = 0;  // the largest t×W, and the widest W
    for (int b = 0; b < B; b++) {
        next[b] = -1;
        int p = ab->parent ? ab->parent[b] : -1;
        if (p < 0) { roots[nroots++] = b; last[b] = b; }
        else { next[last[p]] = b; last[p] = b; }
        RowView r = row_view(ab, b);
        size_t W = (size_t)(r.t > 0 ? r.t : 0) * r.W;
        maxW = W > maxW ? W : maxW;
        maxRow = r.W > maxRow ? r.W : maxRow;
    }
    int items = nroots * NH, tiles = use_tiles();
    if (maxW > 0) {
#pragma omp parallel
        {
            float *dS = xmalloc(maxW * sizeof(float));
            float *T = tiles ? xmalloc(hs * maxRow * sizeof(float) + 1) : NULL;
#pragma omp for schedule(dynamic)
            for (int k = 0; k < items; k++) {
                int h = k % NH;
                for (int b = roots[k / NH]; b >= 0; b = next[b]) {
                    RowView r = row_view(ab, b);
                    if (r.L > 0 && r.t > 0)
                        backward_pair(dqkv, dout, qkv, att, r, h, C, hs, scale, dS, T);
                }
            }
            free(dS);
            free(T);
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
