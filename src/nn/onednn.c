// nn/onednn.c — one oneDNN CPU engine per process and one stream per module that uses it (see
// onednn.h). Creating them takes a lock; the modules serialise their own calls. Also the f32 → bf16
// rounding of products' operands (AVX512-BF16's instruction where the CPU has it).
#include "nn/onednn.h"

#include <immintrin.h>
#include <pthread.h>
#include <string.h>

#include "nn/gemm.h"
#include "nn/packed.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t g_engine;
static dnnl_stream_t g_streams[ONEDNN_USERS];
static int g_state;  // 0 not tried, 1 ready, -1 oneDNN unusable

static void destroy_all(int streams) {
    for (int i = 0; i < streams; i++) dnnl_stream_destroy(g_streams[i]);
    dnnl_engine_destroy(g_engine);
}

int onednn_ready(void) {
    pthread_mutex_lock(&g_lock);
    if (g_state == 0) {
        g_state = -1;
        if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) == dnnl_success) {
            int n = 0;
            while (n < ONEDNN_USERS && dnnl_stream_create(&g_streams[n], g_engine,
                                                          dnnl_stream_default_flags) == dnnl_success)
                n++;
            if (n == ONEDNN_USERS) g_state = 1;
            else destroy_all(n);
        }
    }
    int ok = g_state == 1;
    pthread_mutex_unlock(&g_lock);
    return ok;
}

dnnl_engine_t onednn_engine(void) { return g_engine; }
dnnl_stream_t onednn_stream(OnednnUser user) { return g_streams[user]; }

void onednn_release_all(void) {
    packed_release_cache();
    gemm_release_cache();
    pthread_mutex_lock(&g_lock);
    if (g_state == 1) destroy_all(ONEDNN_USERS);
    g_state = 0;
    pthread_mutex_unlock(&g_lock);
}

// The rounding AVX512-BF16's vcvtne2ps2bf16 does: to nearest even, a NaN kept as a quiet NaN,
// a denormal (|x| < 2⁻¹²⁶) to a zero of its sign.
static inline uint16_t bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static void row_portable(uint16_t *restrict y, const float *restrict x, size_t cols, float scale) {
    for (size_t c = 0; c < cols; c++) y[c] = bf16_of(scale * x[c]);  // 1·x is x exactly
}

// 32 values per instruction where the CPU has AVX512-BF16 (the pass was 8–10% of a bf16 training
// step's samples with the portable loop alone); a row's last < 32 values go through bf16_of,
// which rounds as the instruction does.
__attribute__((target("avx512f,avx512bf16"))) static void row_native(uint16_t *restrict y,
                                                                      const float *restrict x,
                                                                      size_t cols, float scale) {
    __m512 s = _mm512_set1_ps(scale);
    size_t c = 0;
    for (; c + 32 <= cols; c += 32) {
        __m512 lo = _mm512_mul_ps(s, _mm512_loadu_ps(x + c));
        __m512 hi = _mm512_mul_ps(s, _mm512_loadu_ps(x + c + 16));
        __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);
        memcpy(y + c, &v, sizeof v);
    }
    row_portable(y + c, x + c, cols - c, scale);
}

void f32_to_bf16_rows(uint16_t *restrict y, const float *restrict x, size_t rows, size_t cols,
                      size_t ld, float scale) {
    int nat = __builtin_cpu_supports("avx512bf16");  // a read of libgcc's CPU model
#pragma omp parallel for schedule(static) if (rows * cols >= 65536)
    for (size_t r = 0; r < rows; r++) {
        if (nat) row_native(y + r * cols, x + r * ld, cols, scale);
        else row_portable(y + r * cols, x + r * ld, cols, scale);
    }
}
