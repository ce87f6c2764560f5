// nn/gemm.c — the training-size matrix products (see gemm.h).
//
// Two families of oneDNN matmul primitives, created with every dimension and stride left to run
// time, so the ragged batches of training (a new token count every step) never create
// primitives; one primitive per (precision, op(A), op(B), beta, alpha ≠ 1, bias):
// - fp32 (the default): A, B and C used in place with their strides, alpha as a run-time output
//   scale, beta = 1 as a sum post-op; gemm_bias's [1, N] bias as the matmul's own bias. oneDNN's jit gemm picks the widest vectors the CPU has
//   (AVX-512 where present), whatever OPENBLAS_CORETYPE says; RLHF_SGEMM=openblas sends the fp32
//   products to OpenBLAS's sgemm instead (also the fallback if oneDNN has no f32 matmul).
// - bf16 (gemm_set_bf16(1)): each call rounds A (times alpha) and B into dense bf16 copies
//   (round to nearest even), then runs the primitive with C as fp32 destination, accumulated in
//   fp32 (AVX512-BF16 or AMX dot products). Rounding costs one pass over A and B; an operand
//   two products share (a backward pass's output gradient) is rounded once between
//   gemm_hold_begin and gemm_hold_end; a rounding the caller keeps (a training model's layer
//   inputs, model/gpt_forward.c) is used as it is between gemm_hold_rounded and its end.
// Bits: fixed for a given engine, thread count and instruction set; the engines differ.
#include "nn/gemm.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/onednn.h"

typedef struct {
    GemmOp ta, tb;
    float beta;
    int bf16, scaled;  // bf16 operands; a run-time output scale (fp32 with alpha ≠ 1)
    int bias;          // a [1, N] fp32 bias added to every row (gemm_bias)
    dnnl_primitive_t prim;
} GemmPrim;

#define GEMM_PRIM_CAP 32
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_bf16;      // bf16 products on
// 0 not chosen yet, 1 oneDNN, 2 OpenBLAS (RLHF_SGEMM or no oneDNN); written under g_lock, read
// without it by gemm_serial's callers on every thread
static _Atomic int g_fp32_eng;
static GemmPrim g_prims[GEMM_PRIM_CAP];
static int g_nprims;
static char g_impl[64] = "none", g_impl32[64] = "none";
enum { HOLD_DEPTH = 2 };  // gemm_hold_begin's holds may nest this deep
static uint16_t *g_ab, *g_bb, *g_hb[HOLD_DEPTH];  // bf16 copies of A, B and the held operands
static size_t g_ab_cap, g_bb_cap, g_hb_cap[HOLD_DEPTH];
typedef struct {  // a held operand (X == NULL: none) and its bf16 rounding
    const float *X;
    size_t rows, cols, ld;
    const uint16_t *b;
    int uses;
} Hold;
static Hold g_hold[HOLD_DEPTH], g_kept;  // gemm_hold_begin's (b = g_hb[i]), gemm_hold_rounded's
static int g_nhold;                      // gemm_hold_begin's holds in force (the innermost last)

// A 2-D descriptor of logical shape [r, c], stored row-major (trans = 0: ld·i + j) or
// transposed (trans = 1: i + ld·j). r, c, ld may be DNNL_RUNTIME_DIM_VAL.
static void md_2d(dnnl_memory_desc_t *md, dnnl_dim_t r, dnnl_dim_t c, dnnl_dim_t ld, int trans,
                  dnnl_data_type_t dt) {
    dnnl_dims_t dims = {r, c}, strides;
    strides[0] = trans ? 1 : ld;
    strides[1] = trans ? ld : 1;
    dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
}

// The primitive for (ta, tb, beta, bf16, scaled, bias), created on first use; NULL if oneDNN has
// none. g_lock held.
static dnnl_primitive_t prim_for(GemmOp ta, GemmOp tb, float beta, int bf16, int scaled,
                                 int bias) {
    for (int i = 0; i < g_nprims; i++)
        if (g_prims[i].ta == ta && g_prims[i].tb == tb && g_prims[i].beta == beta &&
            g_prims[i].bf16 == bf16 && g_prims[i].scaled == scaled && g_prims[i].bias == bias)
            return g_prims[i].prim;
    if (g_nprims == GEMM_PRIM_CAP || !onednn_ready()) return NULL;
    const dnnl_dim_t R = DNNL_RUNTIME_DIM_VAL;
    const dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t a, b, c, bi;
    md_2d(&a, R, R, R, ta == GEMM_T, dt);
    md_2d(&b, R, R, R, tb == GEMM_T, dt);
    md_2d(&c, R, R, R, 0, dnnl_f32);
    md_2d(&bi, 1, R, R, 0, dnnl_f32);
    dnnl_matmul_desc_t d;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    int ok = dnnl_matmul_desc_init(&d, &a, &b, bias ? &bi : NULL, &c) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success;
    const float runtime_scale = DNNL_RUNTIME_F32_VAL;
    if (ok && scaled)
        ok = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &runtime_scale) == dnnl_success;
    if (ok && beta != 0.0f)
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_sum(po, beta) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pd, &d, attr, onednn_engine(), NULL) == dnnl_success;
    if (ok) {
        const char *impl = NULL;
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
            impl)
            snprintf(bf16 ? g_impl : g_impl32, sizeof g_impl, bf16 ? "%s" : "oneDNN %s", impl);
        ok = dnnl_primitive_create(&prim, pd) == dnnl_success;
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) return NULL;
    g_prims[g_nprims++] = (GemmPrim){ta, tb, beta, bf16, scaled, bias, prim};
    return prim;
}

// A bf16 copy buffer holding at least n values: exactly n the first time, 25% headroom when it
// grows again (ragged batches change size every step; each regrowth faults the pages in anew).
static uint16_t *grow(uint16_t **buf, size_t *cap, size_t n) {
    if (*cap < n) {
        free(*buf);
        *cap = *cap ? n + n / 4 : n;
        *buf = xalloc_huge(*cap * sizeof **buf);
    }
    return *buf;
}

// Runs prim on A [M,K] or [K,M] (leading dimension lda), B [K,N] or [N,K] (ldb) of type dt, C
// [M,N] (ldc, fp32), with *scale as run-time output scale when scale is not NULL and bias [N]
// added to every row when bias is not NULL (a primitive made for it); -1 if oneDNN failed.
// g_lock held.
static int run_prim(dnnl_primitive_t prim, dnnl_data_type_t dt, GemmOp ta, GemmOp tb, size_t M,
                    size_t N, size_t K, const void *A, size_t lda, const void *B, size_t ldb,
                    float *C, size_t ldc, const float *scale, const float *bias) {
    dnnl_memory_desc_t amd, bmd, cmd, smd, bimd;
    md_2d(&amd, (dnnl_dim_t)M, (dnnl_dim_t)K, (dnnl_dim_t)lda, ta == GEMM_T, dt);
    md_2d(&bmd, (dnnl_dim_t)K, (dnnl_dim_t)N, (dnnl_dim_t)ldb, tb == GEMM_T, dt);
    md_2d(&cmd, (dnnl_dim_t)M, (dnnl_dim_t)N, (dnnl_dim_t)ldc, 0, dnnl_f32);
    md_2d(&bimd, 1, (dnnl_dim_t)N, (dnnl_dim_t)N, 0, dnnl_f32);
    dnnl_dims_t one = {1};
    dnnl_memory_desc_init_by_tag(&smd, 1, one, dnnl_f32, dnnl_a);
    dnnl_engine_t eng = onednn_engine();
    dnnl_stream_t st = onednn_stream(ONEDNN_GEMM);
    dnnl_memory_t am = NULL, bm = NULL, cm = NULL, sm = NULL, bim = NULL;
    // oneDNN's memory objects take non-const handles; it only reads A, B and the scale
    int ok = dnnl_memory_create(&am, &amd, eng, (void *)(uintptr_t)A) == dnnl_success &&
             dnnl_memory_create(&bm, &bmd, eng, (void *)(uintptr_t)B) == dnnl_success &&
             dnnl_memory_create(&cm, &cmd, eng, C) == dnnl_success &&
             (!scale ||
              dnnl_memory_create(&sm, &smd, eng, (void *)(uintptr_t)scale) == dnnl_success) &&
             (!bias ||
              dnnl_memory_create(&bim, &bimd, eng, (void *)(uintptr_t)bias) == dnnl_success);
    if (ok) {
        dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
        int n = 3;
        if (scale) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_OUTPUT_SCALES, sm};
        if (bias) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, bim};
        ok = dnnl_primitive_execute(prim, st, n, args) == dnnl_success &&
             dnnl_stream_wait(st) == dnnl_success;
    }
    if (am) dnnl_memory_destroy(am);
    if (bm) dnnl_memory_destroy(bm);
    if (cm) dnnl_memory_destroy(cm);
    if (sm) dnnl_memory_destroy(sm);
    if (bim) dnnl_memory_destroy(bim);
    return ok ? 0 : -1;
}

static int holds(const Hold *h, const float *X, size_t rows, size_t cols, size_t ld) {
    return h->X && X == h->X && rows == h->rows && cols == h->cols && ld == h->ld;
}

// A held operand's bf16 rounding when X (stored [rows, cols], leading dimension ld, times
// scale) is that operand; NULL otherwise. g_lock held.
static const uint16_t *held(const float *X, size_t rows, size_t cols, size_t ld, float scale) {
    if (scale != 1.0f) return NULL;
    if (holds(&g_kept, X, rows, cols, ld)) {
        g_kept.uses++;
        return g_kept.b;
    }
    for (int i = g_nhold - 1; i >= 0; i--)
        if (holds(&g_hold[i], X, rows, cols, ld)) return g_hold[i].b;
    return NULL;
}

void gemm_hold_begin(const float *X, size_t rows, size_t cols, size_t ld) {
    if (!g_bf16) return;
    pthread_mutex_lock(&g_lock);
    if (g_nhold == HOLD_DEPTH) die("gemm_hold_begin: %d operands are already held", HOLD_DEPTH);
    int i = g_nhold++;
    g_hold[i] = (Hold){0};  // an empty matrix: a hold that matches nothing (its end still pops it)
    if (rows > 0 && cols > 0) {
        f32_to_bf16_rows(grow(&g_hb[i], &g_hb_cap[i], rows * cols), X, rows, cols, ld, 1.0f);
        g_hold[i] = (Hold){X, rows, cols, ld, g_hb[i], 0};
    }
    pthread_mutex_unlock(&g_lock);
}

void gemm_hold_end(void) {
    pthread_mutex_lock(&g_lock);
    if (g_nhold > 0) g_hold[--g_nhold].X = NULL;
    pthread_mutex_unlock(&g_lock);
}

void gemm_hold_rounded(const float *X, const uint16_t *xb, size_t rows, size_t cols, size_t ld) {
    if (!g_bf16 || rows == 0 || cols == 0) return;
    pthread_mutex_lock(&g_lock);
    if (g_kept.X) die("gemm_hold_rounded: a rounding is already held");
    g_kept = (Hold){X, rows, cols, ld, xb, 0};
    pthread_mutex_unlock(&g_lock);
}

int gemm_hold_rounded_end(void) {
    pthread_mutex_lock(&g_lock);
    int uses = g_kept.X ? g_kept.uses : 0;
    g_kept.X = NULL;
    pthread_mutex_unlock(&g_lock);
    return uses;
}

// The bf16 product; -1 if oneDNN failed (C untouched). g_lock held.
static int gemm_bf16(GemmOp ta, GemmOp tb, size_t M, size_t N, size_t K, float alpha,
                     const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                     size_t ldc) {
    dnnl_primitive_t prim = prim_for(ta, tb, beta, 1, 0, 0);
    if (!prim) return -1;
    // dense bf16 copies: A as stored ([M,K] or [K,M]), B as stored ([K,N] or [N,K])
    size_t ar = ta == GEMM_T ? K : M, ac = ta == GEMM_T ? M : K;
    size_t br = tb == GEMM_T ? N : K, bc = tb == GEMM_T ? K : N;
    const uint16_t *ab = held(A, ar, ac, lda, alpha), *bb = held(B, br, bc, ldb, 1.0f);
    if (!ab) {
        uint16_t *r = grow(&g_ab, &g_ab_cap, ar * ac);
        f32_to_bf16_rows(r, A, ar, ac, lda, alpha);
        ab = r;
    }
    if (!bb) {
        uint16_t *r = grow(&g_bb, &g_bb_cap, br * bc);
        f32_to_bf16_rows(r, B, br, bc, ldb, 1.0f);
        bb = r;
    }
    return run_prim(prim, dnnl_bf16, ta, tb, M, N, K, ab, ac, bb, bc, C, ldc, NULL, NULL);
}

// The product on OpenBLAS's sgemm (RLHF_SGEMM=openblas, or where oneDNN has no primitive).
static void blas_product(GemmOp ta, GemmOp tb, size_t M, size_t N, size_t K, float alpha,
                         const float *A, size_t lda, const float *B, size_t ldb, float beta,
                         float *C, size_t ldc) {
    cblas_sgemm(CblasRowMajor, ta == GEMM_T ? CblasTrans : CblasNoTrans,
                tb == GEMM_T ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha, A, (int)lda,
                B, (int)ldb, beta, C, (int)ldc);
}

int gemm_check_env(Err *e) {
    const char *v = getenv("RLHF_SGEMM");
    if (v && *v && strcmp(v, "onednn") != 0 && strcmp(v, "openblas") != 0)
        return err_set(e, "environment variable RLHF_SGEMM=%s: expected onednn or openblas", v);
    return 0;
}

// Chooses the fp32 engine once: RLHF_SGEMM (onednn, the default, or openblas). g_lock held.
static void choose_fp32_engine(void) {
    if (g_fp32_eng) return;
    Err e;
    if (gemm_check_env(&e)) die("%s", e.msg);
    const char *v = getenv("RLHF_SGEMM");
    g_fp32_eng = v && strcmp(v, "openblas") == 0 ? 2 : 1;
    if (g_fp32_eng == 1 && !prim_for(GEMM_N, GEMM_N, 0.0f, 0, 0, 0)) g_fp32_eng = 2;
}

void gemm(GemmOp ta, GemmOp tb, size_t M, size_t N, size_t K, float alpha, const float *A,
          size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    if (M == 0 || N == 0) return;
    if (g_bf16 && K > 0) {
        if (beta != 0.0f && beta != 1.0f) die("gemm: bf16 products take beta 0 or 1, not %g", beta);
        pthread_mutex_lock(&g_lock);
        int rc = gemm_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        pthread_mutex_unlock(&g_lock);
        if (rc) die("gemm: oneDNN's bf16 matmul failed on a %zux%zux%zu product", M, N, K);
        return;
    }
    pthread_mutex_lock(&g_lock);
    choose_fp32_engine();
    dnnl_primitive_t prim = NULL;
    if (g_fp32_eng == 1 && K > 0) prim = prim_for(ta, tb, beta, 0, alpha != 1.0f, 0);
    int rc = prim ? run_prim(prim, dnnl_f32, ta, tb, M, N, K, A, lda, B, ldb, C, ldc,
                             alpha != 1.0f ? &alpha : NULL, NULL)
                  : 1;
    pthread_mutex_unlock(&g_lock);
    if (rc < 0) die("gemm: oneDNN's f32 matmul failed on a %zux%zux%zu product", M, N, K);
    if (rc == 0) return;
    blas_product(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int gemm_bias(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
              const float *bias, float *C, size_t ldc) {
    if (M == 0 || N == 0 || K == 0) return -1;
    // bf16: oneDNN's bf16 matmul with a bias measured slower than filling C and summing into it
    // (a bf16 SFT step 33–35 → 37–38 ms), so bf16 products keep the caller's way
    if (g_bf16) return -1;
    pthread_mutex_lock(&g_lock);
    int rc = -1;
    choose_fp32_engine();
    dnnl_primitive_t prim = g_fp32_eng == 1 ? prim_for(GEMM_N, GEMM_N, 0.0f, 0, 0, 1) : NULL;
    if (prim)
        rc = run_prim(prim, dnnl_f32, GEMM_N, GEMM_N, M, N, K, A, lda, B, ldb, C, ldc, NULL, bias);
    pthread_mutex_unlock(&g_lock);
    return rc;
}

void gemm_serial(GemmOp ta, GemmOp tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                 size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    if (M == 0 || N == 0) return;
    if (!g_fp32_eng) {
        pthread_mutex_lock(&g_lock);
        choose_fp32_engine();
        pthread_mutex_unlock(&g_lock);
    }
    if (g_fp32_eng == 1 &&
        dnnl_sgemm(ta == GEMM_T ? 'T' : 'N', tb == GEMM_T ? 'T' : 'N', (dnnl_dim_t)M,
                   (dnnl_dim_t)N, (dnnl_dim_t)K, alpha, A, (dnnl_dim_t)lda, B, (dnnl_dim_t)ldb,
                   beta, C, (dnnl_dim_t)ldc) == dnnl_success)
        return;
    blas_product(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int gemm_set_bf16(int on, Err *e) {
    pthread_mutex_lock(&g_lock);
    int ok = !on || prim_for(GEMM_N, GEMM_N, 0.0f, 1, 0, 0) != NULL;
    if (ok) g_bf16 = on != 0;
    pthread_mutex_unlock(&g_lock);
    if (!ok)
        return err_set(e, "bf16 matrix products: oneDNN has no bf16 matmul on this CPU (it needs "
                          "AVX512-BF16, AMX or AVX512-core); run without --bf16");
    return 0;
}

int gemm_bf16_on(void) { return g_bf16; }
const char *gemm_bf16_impl(void) { return g_impl; }

const char *gemm_fp32_impl(void) {
    pthread_mutex_lock(&g_lock);
    choose_fp32_engine();
    pthread_mutex_unlock(&g_lock);
    return g_fp32_eng == 1 ? g_impl32 : "OpenBLAS sgemm";
}

void gemm_release_cache(void) {
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_nprims; i++) dnnl_primitive_destroy(g_prims[i].prim);
    g_nprims = 0;
    g_fp32_eng = 0;
    free(g_ab);
    free(g_bb);
    g_ab = g_bb = NULL;
    g_ab_cap = g_bb_cap = 0;
    for (int i = 0; i < HOLD_DEPTH; i++) {
        free(g_hb[i]);
        g_hb[i] = NULL;
        g_hb_cap[i] = 0;
        g_hold[i].X = NULL;
    }
    g_nhold = 0;
    g_kept.X = NULL;
    pthread_mutex_unlock(&g_lock);
}
