// nn/attention_tiles.h — the register-tile product under training attention's per-(row, head)
// products (nn/attention.c): up to 8 output rows × 32 columns kept in AVX-512 registers while a
// sum runs over k. One form serves all five products of a head (scores, P·V, and the backward's
// dP, dQ, dK / dV), by choosing where the scalar factors and the vector rows come from.
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

#endif
