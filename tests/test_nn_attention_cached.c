// tests/test_nn_attention_cached.c — attention against a KV cache: prefill followed by
// token-by-token decode (ragged rows, rows that finish early, a length-1 row) must reproduce
// attention_forward on the full sequences; the cached kernel also matches the double reference;
// determinism across thread counts. Head sizes 8, 32 and 64 (the last two: the kernel's unrolled
// paths).
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "support/check.h"
#include "support/ref_nn.h"

enum { B = 4, TMAX = 16 };

static const int len[B] = {7, 1, 12, 3};     // final lengths
static const int prefill[B] = {4, 1, 5, 3};  // prompt lengths

static double maxabs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

// Runs prefill + decode; returns out[N, C] in the packed layout of the full sequences.
static float *run_cached(const float *qkv, const size_t *off, size_t N, size_t C, int NH) {
    size_t cache_stride = (size_t)TMAX * C;
    float *kc = calloc(B * cache_stride, 4), *vc = calloc(B * cache_stride, 4);
    float *out = calloc(N * C, 4);
    float *scratch = calloc((size_t)omp_get_max_threads() * (size_t)NH * TMAX, 4);
    int past[B], nnew[B], cur[B];
    size_t qoff[B];
    // prefill: queries read in place from qkv (q_stride 3C, gapped offsets), out likewise
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < prefill[b]; t++) {
            const float *row = qkv + (off[b] + (size_t)t) * 3 * C;
            memcpy(kc + b * cache_stride + (size_t)t * C, row + C, C * 4);
            memcpy(vc + b * cache_stride + (size_t)t * C, row + 2 * C, C * 4);
        }
        past[b] = 0, nnew[b] = prefill[b], qoff[b] = off[b], cur[b] = prefill[b];
    }
    attention_forward_cached(out, qkv, 3 * C, kc, vc, cache_stride, past, nnew, qoff, B, C, NH,
                             scratch);
    // decode: one new token per unfinished row, queries packed densely (q_stride C)
    float *q = calloc(B * C, 4), *o = calloc(B * C, 4);
    for (;;) {
        size_t k = 0;
        for (int b = 0; b < B; b++) {
            past[b] = cur[b], nnew[b] = cur[b] < len[b] ? 1 : 0, qoff[b] = k;
            if (!nnew[b]) continue;
            const float *row = qkv + (off[b] + (size_t)cur[b]) * 3 * C;
            memcpy(q + k * C, row, C * 4);
            memcpy(kc + b * cache_stride + (size_t)cur[b] * C, row + C, C * 4);
            memcpy(vc + b * cache_stride + (size_t)cur[b] * C, row + 2 * C, C * 4);
            k++;
        }
        if (k == 0) break;
        attention_forward_cached(o, q, C, kc, vc, cache_stride, past, nnew, qoff, B, C, NH,
                                 scratch);
        for (int b = 0; b < B; b++)
            if (nnew[b]) memcpy(out + (off[b] + (size_t)cur[b]) * C, o + qoff[b] * C, C * 4), cur[b]++;
    }
    free(kc), free(vc), free(scratch), free(q), free(o);
    return out;
}

static void check_shape(size_t C, int NH) {
    size_t off[B], att_off[B], N = 0, natt = 0;
    for (int b = 0; b < B; b++) {
        off[b] = N, att_off[b] = natt;
        N += (size_t)len[b], natt += (size_t)NH * len[b] * len[b];
    }
    float *qkv = ref_rand_f(N * 3 * C, 1, 2);
    float *full = calloc(N * C, 4), *att = calloc(natt, 4);
    attention_forward(full, att, qkv, len, off, att_off, B, C, NH);
    float *cached = run_cached(qkv, off, N, C, NH);
    double d = maxabs_diff(cached, full, N * C);
    CHECK(d <= 1e-5, "hs %zu: prefill+decode vs attention_forward: max |diff| %.3e > 1e-5",
          C / (size_t)NH, d);

    double *dq = ref_to_double(qkv, N * 3 * C), *rout = ref_zeros(N * C);
    ref_attention_forward(rout, NULL, dq, len, off, att_off, B, C, NH);
    check_close_f("cached vs double reference", cached, rout, N * C, 1e-3, 1e-3);

    // the whole sequence as one prefill (past 0) is the same computation as well
    {
        size_t cs = (size_t)TMAX * C;
        float *kc = calloc(B * cs, 4), *vc = calloc(B * cs, 4), *o = calloc(N * C, 4);
        float *scratch = calloc((size_t)omp_get_max_threads() * (size_t)NH * TMAX, 4);
        int past[B] = {0}, nn[B];
        for (int b = 0; b < B; b++) {
            nn[b] = len[b];
            for (int t = 0; t < len[b]; t++) {
                memcpy(kc + b * cs + (size_t)t * C, qkv + (off[b] + t) * 3 * C + C, C * 4);
                memcpy(vc + b * cs + (size_t)t * C, qkv + (off[b] + t) * 3 * C + 2 * C, C * 4);
            }
        }
        attention_forward_cached(o, qkv, 3 * C, kc, vc, cs, past, nn, off, B, C, NH, scratch);
        d = maxabs_diff(o, full, N * C);
        CHECK(d <= 1e-5, "hs %zu: full prefill vs attention_forward: max |diff| %.3e > 1e-5",
              C / (size_t)NH, d);
        free(kc), free(vc), free(o), free(scratch);
    }

    float *first = NULL;
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        float *a = run_cached(qkv, off, N, C, NH), *b = run_cached(qkv, off, N, C, NH);
        check_bitwise("attention_forward_cached repeat", a, b, N * C);
        if (!first) first = a;
        else check_bitwise("attention_forward_cached across threads", first, a, N * C), free(a);
        free(b);
    }
    omp_set_num_threads(saved);
    free(first), free(qkv), free(full), free(att), free(cached), free(dq), free(rout);
}

int main(void) {
    check_shape(32, 4);   // head size 8
    check_shape(128, 4);  // head size 32 (rlhf init's default)
    check_shape(192, 3);  // head size 64 (GPT-2's)
    return check_summary("test_nn_attention_cached");
}
