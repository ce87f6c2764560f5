// nn/attention_tiles.c — attn_tile (see attention_tiles.h): a TILE_ROWS × 32 block of outputs in
// 16 zmm accumulators; per k, two vector loads and one broadcast per row feed up to 16 FMAs (16
// independent chains: enough to keep both FMA ports busy through the FMA's latency).
//
// Attention's products are small (a head is 32 or 64 wide, a row ~100 positions) and there are
// thousands per training step; a library gemm spends more on dispatching and packing each of
// them than on the arithmetic (measured in docs/performance.md). Compiled for AVX-512 by function
// attribute and chosen at run time (attn_tiles_available), so every build links it.
#include "nn/attention_tiles.h"

#include <immintrin.h>

#include "util/common.h"

int attn_tiles_available(void) { return __builtin_cpu_supports("avx512f"); }

#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

// acc[r][v] += s[r·sr + k·sk] · x_k[16v …] for k = k0 … k1−1, x_k = x + (k − k0)·ld; the last
// vector of each row loaded under `last` (the columns past ncol are neither read nor counted).
INLINE AVX512 void sum_segment(__m512 acc[TILE_ROWS][2], const int NR, const int NV,
                               __mmask16 last, const float *s, size_t sr, size_t sk,
                               const float *x, size_t ld, int k0, int k1) {
    for (int k = k0; k < k1; k++, x += ld) {
        __m512 xv[2];
        for (int v = 0; v < NV; v++)
            xv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, x + 16 * v)
                                : _mm512_loadu_ps(x + 16 * v);
        const float *sp = s + (size_t)k * sk;
        for (int r = 0; r < NR; r++) {
            __m512 b = _mm512_set1_ps(sp[(size_t)r * sr]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(b, xv[v], acc[r][v]);
        }
    }
}

// One tile of NR rows × NV vectors (columns col … col + 16·NV − 1, the last vector under `last`).
INLINE AVX512 void tile_fixed(const int NR, const int NV, __mmask16 last, const TileSum *in,
                              size_t col, float *const out[TILE_ROWS], float alpha, int add) {
    __m512 acc[TILE_ROWS][2];
    for (int r = 0; r < NR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    int split = in->split < in->K ? in->split : in->K;
    sum_segment(acc, NR, NV, last, in->s, in->sr, in->sk, in->x0 + col, in->ld0, 0, split);
    sum_segment(acc, NR, NV, last, in->s, in->sr, in->sk, in->x1 + col, in->ld1, split, in->K);
    __m512 a = _mm512_set1_ps(alpha);
    for (int r = 0; r < NR; r++)
        for (int v = 0; v < NV; v++) {
            __mmask16 m = v == NV - 1 ? last : (__mmask16)0xFFFF;
            float *o = out[r] + col + 16 * (size_t)v;
            __m512 y = _mm512_mul_ps(a, acc[r][v]);
            if (add) y = _mm512_add_ps(_mm512_maskz_loadu_ps(m, o), y);
            _mm512_mask_storeu_ps(o, m, y);
        }
}

// The sixteen (rows, vectors) shapes, each compiled with its loops unrolled.
#define TILE_CASE(R, V) \
    case (R) * 4 + (V): tile_fixed(R, V, last, in, col, out, alpha, add); break;

AVX512 void attn_tile(int nr, int ncol, const TileSum *in, float *const out[TILE_ROWS],
                      float alpha, int add) {
    if (nr < 1 || nr > TILE_ROWS) die("attn_tile: %d rows (1 to %d)", nr, TILE_ROWS);
    for (int col = 0; col < ncol; col += 32) {
        int nc = ncol - col < 32 ? ncol - col : 32, nv = (nc + 15) / 16;
        __mmask16 last = (__mmask16)(nc % 16 ? (1u << (nc % 16)) - 1u : 0xFFFFu);
        switch (nr * 4 + nv) {
            TILE_CASE(1, 1) TILE_CASE(1, 2) TILE_CASE(2, 1) TILE_CASE(2, 2)
            TILE_CASE(3, 1) TILE_CASE(3, 2) TILE_CASE(4, 1) TILE_CASE(4, 2)
            TILE_CASE(5, 1) TILE_CASE(5, 2) TILE_CASE(6, 1) TILE_CASE(6, 2)
            TILE_CASE(7, 1) TILE_CASE(7, 2) TILE_CASE(8, 1) TILE_CASE(8, 2)
        }
    }
}
