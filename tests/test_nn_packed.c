// tests/test_nn_packed.c — pre-packed weights (nn/packed.c, oneDNN) against a double-precision
// reference: Conv1D and transposed (tied LM head) layouts, with and without bias, row counts
// from 1 to past the packing's reference 32, odd shapes; repeat bits; the bias copied at packing;
// bad shapes refused with a message; and at model level, the cached forward with packed weights
// (gpt_pack) against the same forward on sgemm.
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/gpt.h"
#include "nn/packed.h"
#include "support/check.h"
#include "support/ref_nn.h"
#include "support/tiny.h"

// y[M,N] = x[M,K]·W + bias in double; W[K,N], or w[N,K] when transposed
static void ref_product(double *y, const float *x, const float *w, const float *bias, size_t M,
                        size_t K, size_t N, int transposed) {
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = bias ? bias[j] : 0.0;
            for (size_t k = 0; k < K; k++)
                s += (double)x[i * K + k] * (transposed ? w[j * K + k] : w[k * N + j]);
            y[i * N + j] = s;
        }
}

static void test_shape(size_t K, size_t N, int transposed, int with_bias) {
    enum { MAXM = 70 };
    float *w = ref_rand_f(K * N, 1 + K, 0.5f), *b = ref_rand_f(N, 2 + N, 0.5f);
    float *x = ref_rand_f(MAXM * K, 3, 1.0f);
    float *y = ref_rand_f(MAXM * N, 4, 9), *y2 = ref_rand_f(MAXM * N, 5, 9);
    double *r = ref_zeros(MAXM * N);
    ref_product(r, x, w, with_bias ? b : NULL, MAXM, K, N, transposed);
    Err e;
    PackedMat *p = packed_create(w, K, N, transposed, with_bias ? b : NULL, &e);
    CHECK(p != NULL, "packed_create %zux%zu: %s", K, N, e.msg);
    if (!p) goto out;
    CHECK(packed_bytes(p) >= K * N * sizeof(float), "packed size %zu for %zux%zu", packed_bytes(p), K, N);
    if (with_bias) b[0] += 100.0f;  // the bias was copied at packing: later edits do not leak in
    size_t Ms[] = {1, 2, 3, 7, 32, 33, MAXM};
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 2; nt++) {
        omp_set_num_threads(nt);
        for (size_t k = 0; k < sizeof Ms / sizeof Ms[0]; k++) {
            size_t M = Ms[k];
            CHECK(packed_forward(p, y, x, M) == 0, "packed_forward M=%zu", M);
            check_close_f("packed_forward", y, r, M * N, 1e-5, 1e-3);
            CHECK(packed_forward(p, y2, x, M) == 0, "packed_forward M=%zu again", M);
            check_bitwise("packed_forward repeat", y, y2, M * N);
        }
    }
    omp_set_num_threads(saved);
    packed_free(p);
out:
    free(w), free(b), free(x), free(y), free(y2), free(r);
}

// The cached forward of a tiny model, prefill of ragged rows then one decode step of all rows:
// packed weights (2+ rows per product) give the logits of the sgemm path to rounding.
static void test_model(void) {
    GPT *m = tiny_model(0, 0, 5);
    const GPTConfig *c = &m->cfg;
    enum { B = 4 };
    int plen[B] = {5, 1, 9, 3}, tok[32], step[B] = {1, 1, 1, 1};
    size_t N = tiny_tokens(tok, plen, B, c->vocab_size, 8);
    int next[B] = {1, 2, 3, 4};
    size_t V = (size_t)c->vocab_size;
    float *l_ref = ref_rand_f(2 * B * V, 6, 9), *l_pk = ref_rand_f(2 * B * V, 7, 9);
    Err e;
    for (int packed = 0; packed <= 1; packed++) {
        float *lg = packed ? l_pk : l_ref;
        if (packed) CHECK(gpt_pack(m, &e) == 0 && m->packed, "gpt_pack: %s", e.msg);
        KVCache kv;
        kv_init(&kv, c, B, 16);
        CHECK(gpt_forward_cached(m, &kv, B, plen, tok, lg, &e) == 0, "prefill: %s", e.msg);
        CHECK(gpt_forward_cached(m, &kv, B, step, next, lg + B * V, &e) == 0, "decode: %s", e.msg);
        kv_free(&kv);
    }
    (void)N;
    double *r = ref_zeros(2 * B * V);
    for (size_t i = 0; i < 2 * B * V; i++) r[i] = l_ref[i];
    check_close_f("cached forward, packed vs sgemm", l_pk, r, 2 * B * V, 1e-5, 1e-2);
    gpt_unpack(m);
    CHECK(m->packed == NULL, "gpt_unpack clears the packed weights");
    // RLHF_PACKED=0: gpt_pack packs nothing
    setenv("RLHF_PACKED", "0", 1);
    CHECK(gpt_pack(m, &e) == 0 && m->packed == NULL, "RLHF_PACKED=0 leaves the model unpacked");
    unsetenv("RLHF_PACKED");
    CHECK(gpt_pack(m, &e) == 0 && m->packed, "packed again: %s", e.msg);
    gpt_free(m);  // frees the packed weights too
    free(l_ref), free(l_pk), free(r);
}

int main(void) {
    test_shape(7, 5, 0, 1);       // tiny
    test_shape(37, 53, 0, 0);     // odd shapes, no bias
    test_shape(64, 192, 0, 1);    // a tiny model's qkv
    test_shape(256, 64, 0, 1);    // a tiny model's fc projection
    test_shape(48, 301, 1, 0);    // transposed: the tied LM head w[V,C]
    Err e;
    float one = 1.0f;
    CHECK(packed_create(&one, 0, 4, 0, NULL, &e) == NULL && strstr(e.msg, "empty"),
          "an empty matrix is refused: %s", e.msg);
    printf("oneDNN implementation: %s\n", packed_impl());
    test_model();
    packed_release_all();
    return check_summary("nn_packed");
}
