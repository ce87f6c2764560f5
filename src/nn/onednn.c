// nn/onednn.c — one oneDNN CPU engine and stream per process (see onednn.h). Creating them takes
// a lock; the modules that use them serialise their own calls.
#include "nn/onednn.h"

#include <pthread.h>
#include <string.h>

#include "nn/gemm.h"
#include "nn/packed.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t g_engine;
static dnnl_stream_t g_stream;
static int g_state;  // 0 not tried, 1 ready, -1 oneDNN unusable

int onednn_ready(void) {
    pthread_mutex_lock(&g_lock);
    if (g_state == 0) {
        g_state = -1;
        if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) == dnnl_success) {
            if (dnnl_stream_create(&g_stream, g_engine, dnnl_stream_default_flags) == dnnl_success)
                g_state = 1;
            else
                dnnl_engine_destroy(g_engine);
        }
    }
    int ok = g_state == 1;
    pthread_mutex_unlock(&g_lock);
    return ok;
}

dnnl_engine_t onednn_engine(void) { return g_engine; }
dnnl_stream_t onednn_stream(void) { return g_stream; }

void onednn_release_all(void) {
    packed_release_cache();
    gemm_release_cache();
    pthread_mutex_lock(&g_lock);
    if (g_state == 1) {
        dnnl_stream_destroy(g_stream);
        dnnl_engine_destroy(g_engine);
    }
    g_state = 0;
    pthread_mutex_unlock(&g_lock);
}

static inline uint16_t bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

void f32_to_bf16(uint16_t *restrict y, const float *restrict x, size_t n) {
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++) y[i] = bf16_of(x[i]);
}

void f32_to_bf16_rows(uint16_t *restrict y, const float *restrict x, size_t rows, size_t cols,
                      size_t ld, float scale) {
#pragma omp parallel for schedule(static) if (rows * cols >= 65536)
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * ld;
        uint16_t *yr = y + r * cols;
        if (scale == 1.0f)
            for (size_t c = 0; c < cols; c++) yr[c] = bf16_of(xr[c]);
        else
            for (size_t c = 0; c < cols; c++) yr[c] = bf16_of(scale * xr[c]);
    }
}
