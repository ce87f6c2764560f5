// nn/attention_tiles.c — attn_tile (see attention_tiles.h): a TILE_ROWS × 32 block of outputs in
// 16 zmm accumulators; per k, two vector loads and one broadcast per row feed up to 16 FMAs (16
// independent chains: enough to keep both FMA ports busy through the FMA's latency).
//
// Attention's products are small (a head is 32 or 64 wide, a row ~100 positions) and there are
// thousands per training step; a library gemm spends more on dispatching and packing each of
// them than on the arithmetic (measured in docs/performance.md). The same file holds the two
// passes around the score tiles that were costing as much as the tiles: attn_transpose (a head's
// keys / values into the tiles' layout, 16 × 16 blocks through registers) and attn_softmax (the
// portable softmax's bits at a fraction of its cost per row). Compiled for AVX-512 by function
// attribute and chosen at run time (attn_tiles_available), so every build links it.
#include "nn/attention_tiles.h"

#include <immintrin.h>
#include <math.h>

#include "nn/vecmath.h"
#include "util/common.h"

// libmvec's 16-lane expf for attn_softmax (nn/vecmath.h), as attention.c's portable softmax
// calls it in this build
#pragma GCC target("prefer-vector-width=512")

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

// The 16 × 16 block v (row r: 16 values) transposed in place (v[c] becomes column c): pairs,
// then quads within each 128-bit lane, then the lanes across four rows.
INLINE AVX512 void transpose16(__m512 v[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    for (int k = 0; k < 4; k++) {  // u[4k + c], lane l: column 4l + c of rows 4k … 4k + 3
        __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 1]);
        __m512d c = _mm512_castps_pd(t[4 * k + 2]), d = _mm512_castps_pd(t[4 * k + 3]);
        u[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int c = 0; c < 4; c++) {
        __m512 w = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        __m512 x = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);
        __m512 y = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        __m512 z = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
        v[c] = _mm512_shuffle_f32x4(w, y, 0x88);
        v[4 + c] = _mm512_shuffle_f32x4(x, z, 0x88);
        v[8 + c] = _mm512_shuffle_f32x4(w, y, 0xdd);
        v[12 + c] = _mm512_shuffle_f32x4(x, z, 0xdd);
    }
}

AVX512 void attn_transpose(float *T, size_t W, const float *Xp, int pre, const float *X, int L,
                           size_t ld, size_t hs) {
    int n = pre + L;
    for (int j0 = 0; j0 < n; j0 += 16) {  // 16 positions at a time (the last block under a mask)
        int nj = n - j0 < 16 ? n - j0 : 16;
        __mmask16 jm = (__mmask16)(nj == 16 ? 0xFFFFu : (1u << nj) - 1u);
        const float *src[16];
        for (int r = 0; r < nj; r++)
            src[r] = j0 + r < pre ? Xp + (size_t)(j0 + r) * ld : X + (size_t)(j0 + r - pre) * ld;
        for (size_t d0 = 0; d0 < hs; d0 += 16) {
            int nd = hs - d0 < 16 ? (int)(hs - d0) : 16;
            __mmask16 m = (__mmask16)(nd == 16 ? 0xFFFFu : (1u << nd) - 1u);
            __m512 v[16];
            for (int r = 0; r < 16; r++)
                v[r] = r < nj ? _mm512_maskz_loadu_ps(m, src[r] + d0) : _mm512_setzero_ps();
            transpose16(v);
            for (int c = 0; c < nd; c++)
                _mm512_mask_storeu_ps(T + (d0 + (size_t)c) * W + j0, jm, v[c]);
        }
    }
}

// e = exp(x) in 16 lanes through libmvec (the call attention.c's exp blocks make).
INLINE AVX512 __m512 exp16(__m512 x) {
    float a[16], e[16];
    _mm512_storeu_ps(a, x);
#pragma omp simd
    for (int j = 0; j < 16; j++) e[j] = expf(a[j]);
    return _mm512_loadu_ps(e);
}

enum { SM_GROUP = 4 };  // rows whose lane sums are added up side by side

AVX512 void attn_softmax(float *S, int rows, size_t W, int first) {
    for (int i0 = 0; i0 < rows; i0 += SM_GROUP) {
        int g = rows - i0 < SM_GROUP ? rows - i0 : SM_GROUP;
        float acc[SM_GROUP][16], inv[SM_GROUP];
        for (int r = 0; r < g; r++) {
            float *x = S + (size_t)(i0 + r) * W;
            int n = first + i0 + r + 1, full = n / 16 * 16;
            __mmask16 tm = (__mmask16)((1u << (n - full)) - 1u);  // the last block's columns
            __m512 mv = _mm512_set1_ps(x[0]);
            for (int j = 0; j < full; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(x + j));
            if (tm) mv = _mm512_mask_max_ps(mv, tm, mv, _mm512_maskz_loadu_ps(tm, x + full));
            __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
            __m512 a = _mm512_setzero_ps();
            for (int j = 0; j < full; j += 16) {
                __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), mx));
                _mm512_storeu_ps(x + j, e);
                a = _mm512_add_ps(a, e);
            }
            if (tm) {  // padded with the maximum: exp(0) = 1 in the other lanes, not counted
                __m512 e = exp16(_mm512_sub_ps(_mm512_mask_loadu_ps(mx, tm, x + full), mx));
                _mm512_mask_storeu_ps(x + full, tm, e);
                a = _mm512_mask_add_ps(a, tm, a, e);
            }
            _mm512_storeu_ps(acc[r], a);
        }
        float s[SM_GROUP] = {0};
        for (int k = 0; k < 16; k++)  // each row's lanes in order; the rows' chains interleaved
            for (int r = 0; r < SM_GROUP; r++) s[r] += r < g ? acc[r][k] : 0.0f;
        for (int r = 0; r < g; r++) inv[r] = 1.0f / s[r];
        for (int r = 0; r < g; r++) {
            float *x = S + (size_t)(i0 + r) * W;
            int n = first + i0 + r + 1, full = n / 16 * 16;
            __mmask16 tm = (__mmask16)((1u << (n - full)) - 1u);
            __m512 iv = _mm512_set1_ps(inv[r]), z = _mm512_setzero_ps();
            for (int j = 0; j < full; j += 16) _mm512_storeu_ps(x + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), iv));
            // the last block: its columns scaled, the rest of the block zeroed
            size_t j = (size_t)full;
            if (j < W) {
                size_t left = W - j;
                __mmask16 wm = (__mmask16)(left >= 16 ? 0xFFFFu : (1u << left) - 1u);
                __m512 y = _mm512_maskz_mul_ps(tm, _mm512_maskz_loadu_ps(tm, x + j), iv);
                _mm512_mask_storeu_ps(x + j, wm, y);
                for (j += 16; j + 16 <= W; j += 16) _mm512_storeu_ps(x + j, z);
                if (j < W) _mm512_mask_storeu_ps(x + j, (__mmask16)((1u << (W - j)) - 1u), z);
            }
        }
    }
}
