// nn/attention_cached.c — causal attention of new tokens against a KV cache (inference prefill
// and decode). Work items are (row, head, new token) triples, each computed by one thread with
// vectorisable dot products over hs; decode (n_new = 1) is memory-bound on the cache reads.
#include "nn/nn.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "util/common.h"

// q: new token i of row b at q + (q_off[b] + i)·q_stride (C query columns first);
// cache of row b: K at kcache + b·cache_stride + t·C, V likewise, t < past[b] + n_new[b];
// out[N_new, C]: new token i of row b at out + (q_off[b] + i)·C.
// scratch: per thread max_b(past[b] + n_new[b]) floats (≤ nthreads × max_positions).
void attention_forward_cached(float *out, const float *q, size_t q_stride, const float *kcache,
                              const float *vcache, size_t cache_stride, const int *past,
                              const int *n_new, const size_t *q_off, int B, size_t C, int NH,
                              float *scratch) {
    size_t hs = C / (size_t)NH;
    float scale = 1.0f / sqrtf((float)hs);
    // first[b] = index of row b's first work item; items of row b: NH·n_new[b], head-major.
    size_t *first = xmalloc(((size_t)B + 1) * sizeof(size_t));
    size_t maxT = 0;
    first[0] = 0;
    for (int b = 0; b < B; b++) {
        first[b + 1] = first[b] + (size_t)NH * (size_t)(n_new[b] > 0 ? n_new[b] : 0);
        size_t T = (size_t)past[b] + (size_t)(n_new[b] > 0 ? n_new[b] : 0);
        maxT = T > maxT ? T : maxT;
    }
    size_t items = first[B];
#pragma omp parallel
    {
        float *w = scratch + (size_t)omp_get_thread_num() * maxT;
        int b = 0;
#pragma omp for schedule(dynamic, 4)
        for (size_t k = 0; k < items; k++) {
            while (k < first[b]) b--;        // a thread's items mostly increase: walk from last b
            while (k >= first[b + 1]) b++;
            size_t r = k - first[b];
            int h = (int)(r / (size_t)n_new[b]), i = (int)(r % (size_t)n_new[b]);
            size_t T = (size_t)past[b] + (size_t)i + 1;
            const float *qv = q + (q_off[b] + (size_t)i) * q_stride + (size_t)h * hs;
            const float *kb = kcache + (size_t)b * cache_stride + (size_t)h * hs;
            const float *vb = vcache + (size_t)b * cache_stride + (size_t)h * hs;
            float *o = out + (q_off[b] + (size_t)i) * C + (size_t)h * hs;
            // w[t] = scale · K[t,:]·q for t < T (K rows of this head at stride C)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)T, (int)hs, scale, kb, (int)C, qv, 1, 0.0f, w, 1);
            float mx = -INFINITY;
            for (size_t t = 0; t < T; t++) mx = w[t] > mx ? w[t] : mx;
            float sum = 0.0f;
            for (size_t t = 0; t < T; t++) {
                w[t] = expf(w[t] - mx);
                sum += w[t];
            }
            // o = (1/sum) · Vᵀ·w
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)T, (int)hs, 1.0f / sum, vb, (int)C, w, 1, 0.0f, o, 1);
        }
    }
    free(first);
}
