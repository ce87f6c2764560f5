// nn/packed.c — pre-packed weights for repeated inference products out[M,N] = inp[M,K]·W + bias.
// Batched decoding multiplies the same frozen weights by a few rows per step; OpenBLAS re-packs W
// into its kernel's blocked layout on every sgemm call, which costs as much as the product at
// M = 32. Here W is laid out once and every later product reads it directly:
// - f32 on a CPU with AVX-512: our 32-column panels (nn/panels.c), for up to PANELS_M_MAX rows
//   (more rows: -1, the caller's sgemm/gemm path is faster there);
// - bf16, or f32 without AVX-512: reordered into the layout oneDNN's matmul primitive (Debian
//   libdnnl) reads, chosen for M = 32.
//
// oneDNN primitives depend only on shapes (M, K, N, bias, the packed layout), not on weight
// values: one process-wide cache keyed by those serves every layer, every model and every
// generate() call (creating one takes ~0.5 ms; decoding meets a new M each time a row finishes).
// bf16 mode (frozen models, opt-in): W is stored as bf16 (half the bytes) and each product
// rounds its input rows to bf16 (round to nearest even) and accumulates in f32 — AVX512-BF16's
// dot products on this CPU; relative error ~2⁻⁸ per product instead of f32's ~2⁻²⁴.
// Bits: oneDNN's are fixed for a given thread count, instruction set and M; the panels' do not
// depend on M or the thread count. Both differ from sgemm's.
#include "nn/packed.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/onednn.h"
#include "nn/panels.h"
#include "util/common.h"

#define PACK_REF_M 32      // the row count the packed layout is chosen for
#define PRIM_CACHE_CAP 512 // cached primitives; when full the cache starts over
// Panels serve products up to this many rows; from there on oneDNN's run-time gemm on the model's
// own weights is faster (M = 512: 350 vs 314 GFLOP/s at 124M) and gpt_linear falls back to it.
#define PANELS_M_MAX 256

struct PackedMat {
    size_t K, N;
    int has_bias, bf16;
    int panels;               // f32 on AVX-512: our own layout and kernel (nn/panels.c) in pan
    Panels pan;
    dnnl_memory_desc_t wmd;   // the packed layout
    dnnl_memory_t wmem;       // packed weights (owned), in wbuf
    void *wbuf;
    dnnl_memory_t bmem;       // bias [1,N] (owned copy) or NULL
    float *bias;
};

typedef struct {  // key: rows, bias, packed layout (the layout holds K, N and the data type)
    size_t M;
    int has_bias;
    dnnl_memory_desc_t wmd;
    dnnl_primitive_t prim;
} CachedPrim;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static CachedPrim g_cache[PRIM_CACHE_CAP];
static int g_ncache;
static char g_impl[64] = "none";
static uint16_t *g_xb;  // bf16 copy of the input rows (bf16 mode), grown as needed
static size_t g_xb_cap;

int packed_enabled(void) { return env_switch_on("RLHF_PACKED"); }

const char *packed_impl(void) { return g_impl; }

static void md2t(dnnl_memory_desc_t *md, size_t r, size_t c, dnnl_data_type_t dt,
                 dnnl_format_tag_t tag) {
    dnnl_dims_t d = {(dnnl_dim_t)r, (dnnl_dim_t)c};
    dnnl_memory_desc_init_by_tag(md, 2, d, dt, tag);
}
static void md2(dnnl_memory_desc_t *md, size_t r, size_t c, dnnl_format_tag_t tag) {
    md2t(md, r, c, dnnl_f32, tag);
}

// A matmul primitive descriptor for M rows; weights_md NULL = let oneDNN choose the layout.
static dnnl_primitive_desc_t make_pd(size_t M, size_t K, size_t N, int has_bias, int bf16,
                                     const dnnl_memory_desc_t *weights_md) {
    dnnl_memory_desc_t src, any, bias, dst;
    dnnl_data_type_t in = bf16 ? dnnl_bf16 : dnnl_f32;
    md2t(&src, M, K, in, dnnl_ab);
    md2(&dst, M, N, dnnl_ab);
    md2(&bias, 1, N, dnnl_ab);
    if (!weights_md) md2t(&any, K, N, in, dnnl_format_tag_any);
    dnnl_matmul_desc_t d;
    if (dnnl_matmul_desc_init(&d, &src, weights_md ? weights_md : &any, has_bias ? &bias : NULL,
                              &dst) != dnnl_success)
        return NULL;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_primitive_desc_create(&pd, &d, NULL, onednn_engine(), NULL) != dnnl_success)
        return NULL;
    return pd;
}

PackedMat *packed_create(const float *w, size_t K, size_t N, int transposed, const float *bias,
                         int bf16, Err *e) {
    if (K == 0 || N == 0) {
        err_set(e, "packed weights: empty %zux%zu matrix", K, N);
        return NULL;
    }
    if (!bf16 && panels_available()) {
        PackedMat *p = xcalloc(1, sizeof *p);
        p->K = K;
        p->N = N;
        p->has_bias = bias != NULL;
        p->panels = 1;
        panels_create(&p->pan, w, K, N, transposed, bias);
        pthread_mutex_lock(&g_lock);
        snprintf(g_impl, sizeof g_impl, "panels:avx512f");
        pthread_mutex_unlock(&g_lock);
        return p;
    }
    pthread_mutex_lock(&g_lock);
    PackedMat *p = NULL;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t user = NULL;
    if (!onednn_ready()) {
        err_set(e, "packed weights: oneDNN found no usable CPU engine");
        goto out;
    }
    pd = make_pd(PACK_REF_M, K, N, bias != NULL, bf16, NULL);
    if (!pd) {
        err_set(e, "packed weights: oneDNN has no %s matmul for %zux%zu on this CPU",
                bf16 ? "bf16" : "f32", K, N);
        goto out;
    }
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(g_impl, sizeof g_impl, "onednn %s", impl);
    p = xcalloc(1, sizeof *p);
    p->K = K;
    p->N = N;
    p->has_bias = bias != NULL;
    p->bf16 = bf16;
    p->wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t umd;
    md2(&umd, K, N, transposed ? dnnl_ba : dnnl_ab);  // ba: w stored as [N,K]
    dnnl_engine_t eng = onednn_engine();
    // the packed weights in our own buffer: huge pages for a read that streams all of them
    p->wbuf = xalloc_huge(dnnl_memory_desc_get_size(&p->wmd));
    int ok = dnnl_memory_create(&p->wmem, &p->wmd, eng, p->wbuf) == dnnl_success;
    ok = ok && dnnl_memory_create(&user, &umd, eng, (void *)w) == dnnl_success;
    ok = ok && dnnl_reorder_primitive_desc_create(&rpd, &umd, eng, &p->wmd, eng, NULL) ==
                   dnnl_success;
    ok = ok && dnnl_primitive_create(&reorder, rpd) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, p->wmem}};
        dnnl_stream_t st = onednn_stream(ONEDNN_PACKED);
        ok = dnnl_primitive_execute(reorder, st, 2, a) == dnnl_success &&
             dnnl_stream_wait(st) == dnnl_success;
    }
    if (ok && bias) {
        p->bias = falloc(N);
        memcpy(p->bias, bias, N * sizeof(float));
        dnnl_memory_desc_t bmd;
        md2(&bmd, 1, N, dnnl_ab);
        ok = dnnl_memory_create(&p->bmem, &bmd, eng, p->bias) == dnnl_success;
    }
    if (!ok) {
        err_set(e, "packed weights: oneDNN could not reorder a %zux%zu matrix", K, N);
        if (p->wmem) dnnl_memory_destroy(p->wmem);
        if (p->bmem) dnnl_memory_destroy(p->bmem);
        free(p->wbuf);
        free(p->bias);
        free(p);
        p = NULL;
    }
out:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (user) dnnl_memory_destroy(user);
    if (pd) dnnl_primitive_desc_destroy(pd);
    pthread_mutex_unlock(&g_lock);
    return p;
}

void packed_free(PackedMat *p) {
    if (!p) return;
    if (p->panels) {
        panels_free(&p->pan);
        free(p);
        return;
    }
    dnnl_memory_destroy(p->wmem);
    if (p->bmem) dnnl_memory_destroy(p->bmem);
    free(p->wbuf);
    free(p->bias);
    free(p);
}

size_t packed_bytes(const PackedMat *p) {
    if (!p) return 0;
    return p->panels ? panels_bytes(&p->pan) : dnnl_memory_desc_get_size(&p->wmd);
}

// The cached primitive for M rows of p's shape and layout (created on first use); NULL if oneDNN
// has none. Called with g_lock held.
static dnnl_primitive_t prim_for(const PackedMat *p, size_t M) {
    for (int i = 0; i < g_ncache; i++) {
        CachedPrim *c = &g_cache[i];
        if (c->M == M && c->has_bias == p->has_bias && dnnl_memory_desc_equal(&c->wmd, &p->wmd))
            return c->prim;
    }
    dnnl_primitive_desc_t pd = make_pd(M, p->K, p->N, p->has_bias, p->bf16, &p->wmd);
    if (!pd) return NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_status_t s = dnnl_primitive_create(&prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success) return NULL;
    if (g_ncache == PRIM_CACHE_CAP) {
        for (int i = 0; i < g_ncache; i++) dnnl_primitive_destroy(g_cache[i].prim);
        g_ncache = 0;
    }
    g_cache[g_ncache++] = (CachedPrim){M, p->has_bias, p->wmd, prim};
    return prim;
}

int packed_forward(const PackedMat *p, float *out, const float *inp, size_t M) {
    if (M == 0) return 0;
    if (p->panels) {
        if (M > PANELS_M_MAX) return -1;
        panels_forward(&p->pan, out, inp, M);
        return 0;
    }
    pthread_mutex_lock(&g_lock);
    int rc = -1;
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_t prim = prim_for(p, M);
    if (prim) {
        const void *x = inp;
        if (p->bf16) {
            if (g_xb_cap < M * p->K) {
                free(g_xb);
                g_xb_cap = M * p->K;
                g_xb = xalloc_huge(g_xb_cap * sizeof *g_xb);
            }
            f32_to_bf16_rows(g_xb, inp, M, p->K, p->K, 1.0f);
            x = g_xb;
        }
        dnnl_memory_desc_t smd, dmd;
        md2t(&smd, M, p->K, p->bf16 ? dnnl_bf16 : dnnl_f32, dnnl_ab);
        md2(&dmd, M, p->N, dnnl_ab);
        if (dnnl_memory_create(&src, &smd, onednn_engine(), (void *)x) == dnnl_success &&
            dnnl_memory_create(&dst, &dmd, onednn_engine(), out) == dnnl_success) {
            dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p->wmem},
                                    {DNNL_ARG_DST, dst}, {DNNL_ARG_BIAS, p->bmem}};
            dnnl_stream_t st = onednn_stream(ONEDNN_PACKED);
            if (dnnl_primitive_execute(prim, st, p->has_bias ? 4 : 3, a) == dnnl_success &&
                dnnl_stream_wait(st) == dnnl_success)
                rc = 0;
        }
    }
    if (src) dnnl_memory_destroy(src);
    if (dst) dnnl_memory_destroy(dst);
    pthread_mutex_unlock(&g_lock);
    return rc;
}

int packed_forward_to(const PackedMat *p, const PanelsOut *o, const float *inp, size_t M) {
    if (!p->panels || M > PANELS_M_MAX || !panels_out_ok(&p->pan, o)) return -1;
    panels_forward_to(&p->pan, o, inp, M);
    return 0;
}

void packed_release_cache(void) {
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_ncache; i++) dnnl_primitive_destroy(g_cache[i].prim);
    g_ncache = 0;
    free(g_xb);
    g_xb = NULL;
    g_xb_cap = 0;
    pthread_mutex_unlock(&g_lock);
}
