// nn/attention_tiles.h — the register-tile product under training attention's per-(row, head)
// products (nn/attention.c): up to 8 output rows × 32 columns kept in AVX-512 registers while a
// sum runs over k. One form serves all five products of a head (scores, P·V, and the backward's
// dP, dQ, dK / dV), by choosing where the scalar factors and the vector rows come from. Also the
// AVX-512 transposition and causal softmax that feed and follow the score tiles.
#ifndef RLHF_NN_ATTENTION_TILES_H
#define RLHF_NN_ATTENTION_TILES_H

#include <stddef.h>

enum { TILE_ROWS = 8 };  // output rows per tile

// The sum's inputs: for k = 0 … K−1, the scalar factor of output row r is s[r·sr + k·sk]; the
// vector row k is x0 + k·ld0 for k < split, else x1 + (k − split)·ld1 (two segments: a parent's
// prefix positions, then the row's own).
typedef struct {
    const float *s;
    size_t sr, sk;
    const float *x0, *x1;
    size_t ld0, ld1;
    int split, K;
} TileSum;

// 1 when this CPU runs the kernel (AVX-512F); the callers keep a plain path for the others.
int attn_tiles_available(void);

// out[r][c] = alpha · Σ_k s(r, k) · x_k[c]   (add = 0), or out[r][c] += that (add = 1),
// for r < nr (1 … TILE_ROWS) and c < ncol. The k terms are added in order by FMA, so the bits
// depend on nothing but the inputs. Reads exactly ncol floats of each vector row (masked loads).
void attn_tile(int nr, int ncol, const TileSum *in, float *const out[TILE_ROWS], float alpha,
               int add);

// T[d·W + j] = x_j[d] for d < hs and the pre + L positions j: the parent's first pre rows Xp,
// then the row's own L rows X (rows of stride ld) — a head's keys or values as the vector rows of
// the scores' tiles. 16 × 16 blocks through registers.
void attn_transpose(float *T, size_t W, const float *Xp, int pre, const float *X, int L,
                    size_t ld, size_t hs);

// In-place causal softmax of S's rows (stride W): row i over its first first + i + 1 columns,
// the rest of the row zeroed. The bits of nn/attention.c's portable softmax in an AVX-512 build:
// exp through libmvec's 16-lane expf, a last partial block padded with the row's maximum (not
// counted), lane sums added block by block and then lane by lane in order; 1/sum times each
// value. What changes is the cost per row: masked blocks instead of copies, and the sequential
// lane sums of a few rows interleaved.
void attn_softmax(float *S, int rows, size_t W, int first);

#endif
