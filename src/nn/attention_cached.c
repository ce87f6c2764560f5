// nn/attention_cached.c — causal attention of new tokens against a KV cache (inference prefill
// and decode). Work items are new tokens (with a few rows: groups of heads of a new token), each
// computed by one thread; decode (n_new = 1) is bound by reading the cache, which each item
// streams position by position.
#include "nn/nn.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "nn/vecmath.h"
#include "util/common.h"

// One work item: new token i of row b against its T cached positions, heads h0 .. h1-1 at
// once. K, then V, are read a position at a time (the group's columns of a position are
// contiguous), so the hardware prefetchers see plain streams. o: the token's C outputs;
// w: (h1-h0)·T scores. Each head's arithmetic is the same whatever group it is in.
static inline __attribute__((always_inline)) void attend_heads(
    float *o, const float *qv, const float *kb, const float *vb, size_t T, size_t C, int h0,
    int h1, size_t hs, float scale, float *w) {
    size_t c0 = (size_t)h0 * hs, nh = (size_t)(h1 - h0);
    // positions in two interleaved runs, t and t + half: two streams from memory at once read
    // the cache ~10% faster than one
    size_t half = (T + 1) / 2;
    for (size_t t0 = 0; t0 < half; t0++)
        for (size_t t = t0; t < T; t += half) {  // w[j·T + t] = scale · K[t, head]·q[head]
            const float *k = kb + t * C + c0;
            for (size_t j = 0; j < nh; j++) {
                const float *kh = k + j * hs, *qh = qv + c0 + j * hs;
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (size_t d = 0; d < hs; d++) s = fmaf(qh[d], kh[d], s);
                w[j * T + t] = s * scale;
            }
        }
    float *og = o + c0;
    for (size_t c = 0; c < nh * hs; c++) og[c] = 0.0f;
    for (size_t j = 0; j < nh; j++) {  // softmax of each head's row, left unnormalised
        float *wh = w + j * T, mx = -INFINITY;
        for (size_t t = 0; t < T; t++) mx = wh[t] > mx ? wh[t] : mx;
#pragma omp simd
        for (size_t t = 0; t < T; t++) wh[t] = expf(wh[t] - mx);
    }
    for (size_t t0 = 0; t0 < half; t0++)
        for (size_t t = t0; t < T; t += half) {  // o[head] += w[j·T + t] · V[t, head]
            const float *v = vb + t * C + c0;
            for (size_t j = 0; j < nh; j++) {
                float p = w[j * T + t], *oh = og + j * hs;
                const float *vh = v + j * hs;
#pragma omp simd
                for (size_t d = 0; d < hs; d++) oh[d] = fmaf(p, vh[d], oh[d]);
            }
        }
    for (size_t j = 0; j < nh; j++) {  // divide by each head's softmax sum (added in t order)
        const float *wh = w + j * T;
        float sum = 0.0f;
        for (size_t t = 0; t < T; t++) sum += wh[t];
        float inv = 1.0f / sum, *oh = og + j * hs;
        for (size_t d = 0; d < hs; d++) oh[d] *= inv;
    }
}

// q: new token i of row b at q + (q_off[b] + i)·q_stride (C query columns first);
// cache of row b: K at kcache + b·cache_stride + t·C, V likewise, t < past[b] + n_new[b];
// out[N_new, C]: new token i of row b at out + (q_off[b] + i)·C.
// scratch: per thread NH · max_b(past[b] + n_new[b]) floats.
void attention_forward_cached(float *out, const float *q, size_t q_stride, const float *kcache,
                              const float *vcache, size_t cache_stride, const int *past,
                              const int *n_new, const size_t *q_off, int B, size_t C, int NH,
                              float *scratch) {
    size_t hs = C / (size_t)NH;
    float scale = 1.0f / sqrtf((float)hs);
    // first[b] = index of row b's first new token
    size_t *first = xmalloc(((size_t)B + 1) * sizeof(size_t));
    size_t maxT = 0;
    first[0] = 0;
    for (int b = 0; b < B; b++) {
        size_t nb = (size_t)(n_new[b] > 0 ? n_new[b] : 0);
        first[b + 1] = first[b] + nb;
        size_t T = (size_t)past[b] + nb;
        maxT = T > maxT ? T : maxT;
    }
    // Work items: (new token, head group). Whole rows of heads while there are enough tokens to
    // keep every thread busy; fewer tokens (small-batch decoding) split the heads into G groups.
    size_t tokens = first[B], want = 4 * (size_t)omp_get_max_threads();
    int G = tokens >= want ? 1 : (int)((want + tokens - 1) / (tokens ? tokens : 1));
    if (G > NH) G = NH;
    size_t items = tokens * (size_t)G;
#pragma omp parallel if (items > 1)
    {
        float *w = scratch + (size_t)omp_get_thread_num() * (size_t)NH * maxT;
        int b = 0;
#pragma omp for schedule(dynamic, 1)
        for (size_t k = 0; k < items; k++) {
            size_t tok = k / (size_t)G;
            int g = (int)(k % (size_t)G), h0 = g * NH / G, h1 = (g + 1) * NH / G;
            while (tok < first[b]) b--;  // a thread's items mostly increase: walk from last b
            while (tok >= first[b + 1]) b++;
            size_t i = tok - first[b];
            float *o = out + (q_off[b] + i) * C;
            const float *qv = q + (q_off[b] + i) * q_stride;
            const float *kb = kcache + (size_t)b * cache_stride;
            const float *vb = vcache + (size_t)b * cache_stride;
            size_t T = (size_t)past[b] + i + 1;
            if (hs == 64)  // GPT-2's head size: loops the compiler unrolls completely
                attend_heads(o, qv, kb, vb, T, C, h0, h1, 64, scale, w);
            else if (hs == 32)  // rlhf init's default (128 wide, 4 heads)
                attend_heads(o, qv, kb, vb, T, C, h0, h1, 32, scale, w);
            else
                attend_heads(o, qv, kb, vb, T, C, h0, h1, hs, scale, w);
        }
    }
    free(first);
}
