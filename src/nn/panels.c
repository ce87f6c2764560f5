// nn/panels.c — f32 products with few rows on weights laid out in 32-column panels (AVX-512).
//
// Batched decoding multiplies M ≈ 32 rows by every weight matrix once per step: 2·M flops per
// weight read, too few to hide the read behind the arithmetic unless the read is spread out.
// Layout: panel q holds columns 32q .. 32q+31 of W as K rows of 32 contiguous floats, the panels
// back to back. A thread takes a contiguous run of panels; for each it computes the M rows in
// tiles of 12 (12 × 32 accumulators = 24 zmm registers, the panel read from L1/L2 by every tile
// after the first), and meanwhile prefetches the *next* panel a few lines per step, evenly over
// all of this panel's tiles — a burst of misses at each panel start stalled the FMAs instead
// (measured in docs/performance.md). Each output is bias + Σ_k inp[m,k]·W[k,n] with the k terms
// added in order by FMA, whatever M, the tile or the thread count. panels_forward_to delivers
// each tile's outputs from its registers: to per-row destinations in column segments (a token's
// key and value straight into a KV cache), added to what is there (a residual stream), or
// through GELU (nn/gelu.c's own code on the stored row).
//
// The kernel is compiled for AVX-512 by function attribute and chosen at run time
// (panels_available), so every build — sanitizers and valgrind's AVX2 one included — links it.
#include "nn/panels.h"

#include <immintrin.h>
#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "util/common.h"

enum {
    PANEL_COLS = 32,         // two 16-lane vectors
    TILE_ROWS = 12,          // rows per register tile
    PANELS_PAR_MIN = 1 << 16 // multiply-adds below this: one thread (region overhead)
};

int panels_available(void) { return __builtin_cpu_supports("avx512f"); }

void panels_create(Panels *p, const float *w, size_t K, size_t N, int transposed,
                   const float *bias) {
    p->K = K;
    p->N = N;
    p->np = (N + PANEL_COLS - 1) / PANEL_COLS;
    p->w = xalloc_huge(p->np * K * PANEL_COLS * sizeof(float));
    p->bias = NULL;
    if (bias) {
        p->bias = falloc(N);
        memcpy(p->bias, bias, N * sizeof(float));
    }
#pragma omp parallel for schedule(static)
    for (size_t q = 0; q < p->np; q++) {
        float *dst = p->w + q * K * PANEL_COLS;
        size_t n0 = q * PANEL_COLS, nc = N - n0 < PANEL_COLS ? N - n0 : PANEL_COLS;
        if (!transposed) {
            for (size_t k = 0; k < K; k++) {
                memcpy(dst + k * PANEL_COLS, w + k * N + n0, nc * sizeof(float));
                for (size_t j = nc; j < PANEL_COLS; j++) dst[k * PANEL_COLS + j] = 0.0f;
            }
        } else {  // w[N,K]: column n of W is row n of w
            for (size_t j = 0; j < PANEL_COLS; j++) {
                const float *src = j < nc ? w + (n0 + j) * K : NULL;
                for (size_t k = 0; k < K; k++) dst[k * PANEL_COLS + j] = src ? src[k] : 0.0f;
            }
        }
    }
}

void panels_free(Panels *p) {
    free(p->w);
    free(p->bias);
    p->w = p->bias = NULL;
}

size_t panels_bytes(const Panels *p) { return p->np * p->K * PANEL_COLS * sizeof(float); }

// Rows 0 .. mr-1 of one tile: Σ_k x[i,k]·pw[k,:] (+ bias) for the panel's ncols columns, pw
// one panel, put at orow[i] + col as op says. Every `every`-th step prefetches the next 128 bytes
// at *pf (the next panel's rows); *left counts the steps to the next prefetch across the tiles of
// a panel.
static inline __attribute__((always_inline, target("avx512f"))) void tile(
    float *const *orow, size_t col, PanelsOp op, const float *x, size_t ldx, const float *pw,
    size_t K, int mr, int ncols, const float *bias, const char **pf, int every, int *left) {
    __m512 a0[TILE_ROWS], a1[TILE_ROWS];
    for (int i = 0; i < TILE_ROWS; i++) a0[i] = a1[i] = _mm512_setzero_ps();
    const char *p = *pf;
    int c = *left;
    for (size_t k = 0; k < K; k++) {
        const float *wk = pw + k * PANEL_COLS;
        __m512 w0 = _mm512_load_ps(wk), w1 = _mm512_load_ps(wk + 16);
        if (--c == 0) {
            _mm_prefetch(p, _MM_HINT_T1);
            _mm_prefetch(p + 64, _MM_HINT_T1);
            p += 128;
            c = every;
        }
        for (int i = 0; i < TILE_ROWS; i++)
            if (i < mr) {
                __m512 xb = _mm512_set1_ps(x[(size_t)i * ldx + k]);
                a0[i] = _mm512_fmadd_ps(xb, w0, a0[i]);
                a1[i] = _mm512_fmadd_ps(xb, w1, a1[i]);
            }
    }
    *pf = p;
    *left = c;
    __mmask16 m0 = ncols >= 16 ? 0xffff : (__mmask16)((1u << ncols) - 1);
    __mmask16 m1 = ncols >= 32 ? 0xffff : ncols > 16 ? (__mmask16)((1u << (ncols - 16)) - 1) : 0;
    __m512 b0 = _mm512_setzero_ps(), b1 = b0;
    if (bias) {
        b0 = _mm512_maskz_loadu_ps(m0, bias);
        b1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
    for (int i = 0; i < TILE_ROWS; i++)
        if (i < mr) {
            float *o = orow[i] + col;
            __m512 y0 = _mm512_add_ps(a0[i], b0), y1 = _mm512_add_ps(a1[i], b1);
            if (op == PANELS_ADD) {  // o + y: vec_accumulate's sum, bit for bit
                y0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, o), y0);
                y1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, o + 16), y1);
            }
            _mm512_mask_storeu_ps(o, m0, y0);
            _mm512_mask_storeu_ps(o + 16, m1, y1);
            if (op == PANELS_GELU) gelu_forward_serial(o, o, (size_t)ncols);
        }
}

// Panels q0 .. q1-1 for all M rows.
__attribute__((target("avx512f"))) static void panel_run(const Panels *p, const PanelsOut *o,
                                                         const float *inp, size_t M, size_t q0,
                                                         size_t q1) {
    size_t K = p->K, tiles = (M + TILE_ROWS - 1) / TILE_ROWS;
    for (size_t q = q0; q < q1; q++) {
        const float *pw = p->w + q * K * PANEL_COLS;
        const char *pf = (const char *)(pw + K * PANEL_COLS);  // the next panel
        int every = q + 1 < q1 ? (int)tiles : INT_MAX, left = every;
        size_t n0 = q * PANEL_COLS, seg = n0 / o->seg;  // the panel's destination segment
        float *const *rows = o->rows + seg * M;
        size_t col = n0 - seg * o->seg;
        int ncols = (int)(p->N - n0 < PANEL_COLS ? p->N - n0 : PANEL_COLS);
        const float *bias = p->bias ? p->bias + n0 : NULL;
        for (size_t m0 = 0; m0 < M; m0 += TILE_ROWS) {
            const float *x = inp + m0 * K;
            int mr = M - m0 >= TILE_ROWS ? TILE_ROWS : (int)(M - m0);
            switch (mr) {  // a constant row count: the row loop unrolled with no tests
#define TILE_CASE(R)                                                                 \
    case R:                                                                          \
        tile(rows + m0, col, o->op, x, K, pw, K, R, ncols, bias, &pf, every, &left); \
        break;
                TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6)
                TILE_CASE(7) TILE_CASE(8) TILE_CASE(9) TILE_CASE(10) TILE_CASE(11) TILE_CASE(12)
#undef TILE_CASE
            }
        }
    }
}

int panels_out_ok(const Panels *p, const PanelsOut *o) {
    return o->seg > 0 && (o->seg >= p->N || o->seg % PANEL_COLS == 0);
}

void panels_forward_to(const Panels *p, const PanelsOut *o, const float *inp, size_t M) {
    if (M == 0) return;
    if (!panels_out_ok(p, o)) die("panels: output segments of %zu columns cut a %d-column panel",
                                  o->seg, PANEL_COLS);
    int nt = omp_in_parallel() || M * p->K * p->N < PANELS_PAR_MIN ? 1 : omp_get_max_threads();
    if ((size_t)nt > p->np) nt = (int)p->np;
#pragma omp parallel num_threads(nt)
    {
        size_t t = (size_t)omp_get_thread_num(), n = (size_t)omp_get_num_threads();
        panel_run(p, o, inp, M, t * p->np / n, (t + 1) * p->np / n);
    }
}

void panels_forward(const Panels *p, float *out, const float *inp, size_t M) {
    if (M == 0) return;
    float **rows = xmalloc(M * sizeof *rows);
    for (size_t m = 0; m < M; m++) rows[m] = out + m * p->N;
    PanelsOut o = {rows, p->N, PANELS_STORE};
    panels_forward_to(p, &o, inp, M);
    free(rows);
}
