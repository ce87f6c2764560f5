// tests/test_nn_packed.c — pre-packed weights (nn/packed.c: our f32 panels on AVX-512, oneDNN
// otherwise) against a double-precision reference: Conv1D and transposed (tied LM head) layouts,
// with and without bias, row counts from 1 to past the packing's reference 32 (tiles of 12, panels
// of 32 columns cut short), odd shapes; repeat bits; the panels' bits whatever M and the thread
// count, and their refusal past 256 rows; the bias copied at packing;
// the products scattered in segments, added to a residual stream or put through GELU, bit for
// bit; bad shapes refused with a message; the bf16 mode against the product of bf16-rounded operands;
// and at model level, the cached forward with packed weights (gpt_pack) against the same forward
// on sgemm, a bf16-packed frozen model's logprobs, an AdamW step dropping a packed copy.
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/gpt.h"
#include "nn/nn.h"
#include "nn/onednn.h"
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
    PackedMat *p = packed_create(w, K, N, transposed, with_bias ? b : NULL, 0, &e);
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
    // f32 panels (AVX-512): bits independent of M and of the thread count; past 256 rows declined
    if (!strncmp(packed_impl(), "panels", 6)) {
        CHECK(packed_forward(p, y, x, MAXM) == 0, "panels M=%d", MAXM);
        for (size_t M = 1; M <= 25; M += 12) {
            CHECK(packed_forward(p, y2, x, M) == 0, "panels M=%zu", M);
            check_bitwise("panels: the first rows whatever M", y, y2, M * N);
        }
        omp_set_num_threads(1);
        CHECK(packed_forward(p, y2, x, MAXM) == 0, "panels M=%d, one thread", MAXM);
        omp_set_num_threads(saved);
        check_bitwise("panels: one thread = several", y, y2, MAXM * N);
        float *big = ref_rand_f(257 * K, 9, 1.0f), *ybig = ref_rand_f(257 * N, 10, 9);
        float *ybig0 = ref_rand_f(257 * N, 10, 9);
        CHECK(packed_forward(p, ybig, big, 257) == -1, "panels decline 257 rows (gemm is faster)");
        check_bitwise("a declined product leaves out untouched", ybig0, ybig, 257 * N);
        free(big), free(ybig), free(ybig0);
    }
    packed_free(p);
out:
    free(w), free(b), free(x), free(y), free(y2), free(r);
}

// packed_forward_to (nn/panels.h): the rows in segments of seg columns each scattered to their own
// place, the product stored, added to what is there, or put through GELU — packed_forward's
// product then the same work (vec_accumulate, gelu_forward) bit for bit, whatever M and the thread
// count; a seg that would cut a panel, and any product not on the f32 panels, refused untouched.
static void test_to(size_t K, size_t N, size_t seg) {
    enum { MAXM = 40 };
    size_t nseg = (N + seg - 1) / seg;
    float *w = ref_rand_f(K * N, 21 + K, 0.5f), *b = ref_rand_f(N, 22, 0.5f);
    float *x = ref_rand_f(MAXM * K, 23, 1.0f), *y = ref_rand_f(MAXM * N, 24, 9);
    float *base = ref_rand_f(MAXM * N, 25, 2.0f), *want = ref_rand_f(MAXM * N, 26, 9);
    float *dst = ref_rand_f(nseg * MAXM * seg * 2, 27, 2.0f);  // row m of segment s at (s·M + m)·2·seg
    float **rows = malloc(nseg * MAXM * sizeof *rows);
    Err e;
    PackedMat *p = packed_create(w, K, N, 0, b, 0, &e);
    CHECK(p != NULL, "packed_create %zux%zu: %s", K, N, e.msg);
    if (!p) goto out;
    int panels = !strncmp(packed_impl(), "panels", 6);
    size_t Ms[] = {1, 5, 13, 32, MAXM};
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 2; nt++) {
        omp_set_num_threads(nt);
        for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++)
            for (int op = PANELS_STORE; op <= PANELS_GELU; op++) {
                size_t M = Ms[mi];
                CHECK(packed_forward(p, y, x, M) == 0, "packed_forward M=%zu", M);
                memcpy(want, base, M * N * sizeof(float));  // the destinations' contents, row-major
                if (op == PANELS_STORE) memcpy(want, y, M * N * sizeof(float));
                if (op == PANELS_ADD) vec_accumulate(want, y, M * N);
                if (op == PANELS_GELU) gelu_forward(want, y, M * N);
                for (size_t s = 0; s < nseg; s++)
                    for (size_t m = 0; m < M; m++) {
                        size_t nc = N - s * seg < seg ? N - s * seg : seg;
                        rows[s * M + m] = dst + (s * M + m) * 2 * seg + (m % 3);  // unaligned too
                        memcpy(rows[s * M + m], base + m * N + s * seg, nc * sizeof(float));
                    }
                PanelsOut o = {rows, seg, (PanelsOp)op};
                int rc = packed_forward_to(p, &o, x, M);
                CHECK(rc == (panels ? 0 : -1), "packed_forward_to M=%zu op %d: %d", M, op, rc);
                size_t bad = 0;
                for (size_t s = 0; s < nseg; s++)
                    for (size_t m = 0; m < M; m++)
                        for (size_t j = 0; j < seg && s * seg + j < N; j++) {
                            float got = rows[s * M + m][j];
                            float exp = rc == 0 ? want[m * N + s * seg + j] : base[m * N + s * seg + j];
                            bad += memcmp(&got, &exp, sizeof got) != 0;
                        }
                CHECK(bad == 0, "packed_forward_to %zux%zu seg %zu M=%zu op %d, %d threads: %zu values "
                      "differ from the product then the op (or were written when refused)", K, N, seg,
                      M, op, nt, bad);
            }
    }
    omp_set_num_threads(saved);
    if (panels && seg < N) {  // a seg that cuts a 32-column panel: refused, nothing written
        float *before = malloc(nseg * MAXM * seg * 2 * sizeof(float));
        memcpy(before, dst, nseg * MAXM * seg * 2 * sizeof(float));
        PanelsOut o = {rows, seg + 16, PANELS_STORE};
        CHECK(packed_forward_to(p, &o, x, 4) == -1, "seg %zu cuts a panel: refused", seg + 16);
        check_bitwise("a refused product writes nothing", before, dst, nseg * MAXM * seg * 2);
        free(before);
    }
    packed_free(p);
out:
    free(w), free(b), free(x), free(y), free(base), free(want), free(dst), free(rows);
}

// bf16 mode: equal to the double product of the bf16-rounded inputs and weights (f32 accumulation
// only), and within bf16's rounding of the exact product.
static void test_shape_bf16(size_t K, size_t N, int transposed, int with_bias) {
    enum { MAXM = 40 };
    float *w = ref_rand_f(K * N, 11 + K, 0.5f), *b = ref_rand_f(N, 12, 0.5f);
    float *x = ref_rand_f(MAXM * K, 13, 1.0f), *y = ref_rand_f(MAXM * N, 14, 9);
    float *wr = ref_rand_f(K * N, 15, 1), *xr = ref_rand_f(MAXM * K, 16, 1);
    for (size_t i = 0; i < K * N; i++) wr[i] = ref_round_bf16(w[i]);
    for (size_t i = 0; i < MAXM * K; i++) xr[i] = ref_round_bf16(x[i]);
    double *exact = ref_zeros(MAXM * N), *rounded = ref_zeros(MAXM * N);
    ref_product(exact, x, w, with_bias ? b : NULL, MAXM, K, N, transposed);
    ref_product(rounded, xr, wr, with_bias ? b : NULL, MAXM, K, N, transposed);
    Err e;
    PackedMat *p = packed_create(w, K, N, transposed, with_bias ? b : NULL, 1, &e);
    if (!p) {  // a CPU without AVX-512: the mode is refused with a message, not run
        CHECK(strstr(e.msg, "bf16") != NULL, "bf16 refused without saying why: %s", e.msg);
        printf("bf16 packing not available here: %s\n", e.msg);
        goto out;
    }
    // 2 bytes per weight (small shapes are padded to the kernel's blocks)
    CHECK(packed_bytes(p) >= K * N * 2 && (K * N < 8192 || packed_bytes(p) < K * N * 3),
          "bf16 packed size %zu for %zux%zu", packed_bytes(p), K, N);
    size_t Ms[] = {2, 5, 32, MAXM};
    for (size_t k = 0; k < sizeof Ms / sizeof Ms[0]; k++) {
        size_t M = Ms[k];
        CHECK(packed_forward(p, y, x, M) == 0, "bf16 packed_forward M=%zu", M);
        check_close_f("bf16 = product of the rounded operands", y, rounded, M * N, 1e-5, 1e-3);
        check_close_f("bf16 near the exact product", y, exact, M * N, 2e-2, 1e-3);
    }
    // the f32 mode is much closer to the exact product than bf16 is: bf16 really rounds
    double worst = 0;
    for (size_t i = 0; i < MAXM * N; i++) {
        double d = fabs((double)y[i] - exact[i]);
        worst = d > worst ? d : worst;
    }
    CHECK(worst > 1e-4, "bf16 products differ from the exact ones by only %.3g (not rounded?)", worst);
    packed_free(p);
out:
    free(w), free(b), free(x), free(y), free(wr), free(xr), free(exact), free(rounded);
}

// The cached forward of a tiny model, prefill of ragged rows then one decode step of all rows:
// packed weights (2+ rows per product) give the logits of the sgemm path to rounding.
static void test_model_bf16(void);
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
        if (packed) CHECK(gpt_pack(m, 0, &e) == 0 && m->packed, "gpt_pack: %s", e.msg);
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
    CHECK(gpt_pack(m, 0, &e) == 0 && m->packed == NULL, "RLHF_PACKED=0 leaves the model unpacked");
    unsetenv("RLHF_PACKED");
    CHECK(gpt_pack(m, 0, &e) == 0 && m->packed, "packed again: %s", e.msg);
    gpt_free(m);  // frees the packed weights too
    free(l_ref), free(l_pk), free(r);
    test_model_bf16();
}

// A frozen model packed in bf16 (PPO's --frozen-bf16): the full forward's log-probabilities stay
// within bf16 rounding of the f32 ones; a trainable model's AdamW step drops its packed copy.
static void test_model_bf16(void) {
    GPT *m = tiny_model(0, 0, 6);
    enum { B = 3 };
    int len[B] = {7, 4, 11}, tok[32], tgt[32];
    size_t N = tiny_tokens(tok, len, B, m->cfg.vocab_size, 9);
    for (size_t i = 0; i < N; i++) tgt[i] = i + 1 < N ? tok[i + 1] : -1;
    float lp32[32], lp16[32];
    Err e;
    CHECK(gpt_forward(m, B, len, tok, &e) == 0, "%s", e.msg);
    gpt_lm_logprobs(m, tgt, 1.0f, lp32, NULL);
    if (gpt_pack(m, 1, &e) == 0 && m->packed) {
        CHECK(gpt_packed_bf16(m), "packed in bf16");
        CHECK(gpt_forward(m, B, len, tok, &e) == 0, "%s", e.msg);
        gpt_lm_logprobs(m, tgt, 1.0f, lp16, NULL);
        double worst = 0;
        for (size_t i = 0; i + 1 < N; i++) worst = fmax(worst, fabs((double)lp16[i] - lp32[i]));
        CHECK(worst < 0.05 && worst > 0, "bf16 frozen model: logprobs move by %.3g", worst);
        printf("bf16 frozen tiny model: largest logprob change %.3g\n", worst);
    } else {
        printf("bf16 packing not available here: %s\n", e.msg);
    }
    gpt_free(m);
    // a reward model (score head): its values likewise
    GPT *rm = tiny_model(0, 1, 8);
    float v32[32], v16[32];
    CHECK(gpt_forward(rm, B, len, tok, &e) == 0, "%s", e.msg);
    gpt_values(rm, v32);
    if (gpt_pack(rm, 1, &e) == 0 && rm->packed) {
        CHECK(gpt_forward(rm, B, len, tok, &e) == 0, "%s", e.msg);
        gpt_values(rm, v16);
        double worst = 0, scale = 0;
        for (size_t i = 0; i < N; i++) {
            worst = fmax(worst, fabs((double)v16[i] - v32[i]));
            scale = fmax(scale, fabs((double)v32[i]));
        }
        CHECK(worst > 0 && worst < 0.02 * fmax(scale, 1.0), "bf16 reward model: values move by %.3g (scale %.3g)",
              worst, scale);
    }
    gpt_free(rm);
    GPT *t = tiny_model(1, 0, 7);
    CHECK(gpt_pack(t, 0, &e) == 0 && t->packed, "pack a trainable model: %s", e.msg);
    AdamWConfig oc = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f};
    gpt_zero_grad(t);
    gpt_adamw_step(t, &oc);
    CHECK(t->packed == NULL, "an AdamW step drops the packed copy of the weights it changes");
    gpt_free(t);
}

int main(void) {
    test_shape(7, 5, 0, 1);       // tiny
    test_shape(37, 53, 0, 0);     // odd shapes, no bias
    test_shape(64, 192, 0, 1);    // a tiny model's qkv
    test_shape(256, 64, 0, 1);    // a tiny model's fc projection
    test_shape(48, 301, 1, 0);    // transposed: the tied LM head w[V,C]
    test_shape(40, 63, 1, 1);     // a last panel one column short
    test_to(64, 192, 64);  // a tiny model's qkv: query, key, value to three places
    test_to(40, 160, 96);  // a last segment of 64
    test_to(33, 77, 77);   // one segment, a last panel 13 columns short
    test_shape_bf16(64, 192, 0, 1);
    test_shape_bf16(37, 53, 1, 0);
    Err e;
    float one = 1.0f;
    CHECK(packed_create(&one, 0, 4, 0, NULL, 0, &e) == NULL && strstr(e.msg, "empty"),
          "an empty matrix is refused: %s", e.msg);
    printf("packed implementation: %s\n", packed_impl());
    test_model();
    onednn_release_all();
    return check_summary("nn_packed");
}
