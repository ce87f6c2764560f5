// tests/test_nn_gemm.c — the training-size products (nn/gemm.c) against a double-precision
// reference: every op(A)·op(B) combination, alpha, beta 0 / 1 (and 0.25 in fp32), leading
// dimensions wider than the rows, odd and one-sized shapes, 1 and 2 threads, on both fp32 engines
// (oneDNN, RLHF_SGEMM=openblas); the serial form (gemm_serial) alone and inside parallel regions;
// RLHF_SGEMM's check. The bf16 mode against the double product of the bf16-rounded operands
// (what it promises) and within bf16 rounding of the exact product; repeat bits; its refusals; the
// operands' rounding itself (f32_to_bf16_rows) bit for bit against a reference.
// At layer and model level: matmul and LM-head gradients and a tiny model's loss and gradients
// in bf16 within bf16 rounding of fp32; gemm_hold_begin/end: the same bits, the held rounding used;
// gemm_hold_rounded (a caller's rounding stands for its matrix) and a model's kept roundings of
// its layer inputs (the backward's gradients bit for bit those of recomputing them);
// gemm_bias (fp32 on oneDNN; declined elsewhere) and matmul_forward's bias either way.
// Where oneDNN has no bf16 matmul (valgrind's CPU), the refusal's message is checked and the bf16
// checks are skipped.
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gpt.h"
#include "nn/gemm.h"
#include "nn/nn.h"
#include "nn/onednn.h"
#include "support/check.h"
#include "support/ref_nn.h"
#include "support/tiny.h"

// c[M,N] = alpha·op(A)·op(B) + beta·c0 in double; bf16: the operands rounded as the bf16 mode does
static void ref_gemm(double *c, GemmOp ta, GemmOp tb, size_t M, size_t N, size_t K, float alpha,
                     const float *A, size_t lda, const float *B, size_t ldb, float beta,
                     const float *c0, size_t ldc, int bf16) {
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t k = 0; k < K; k++) {
                float a = ta == GEMM_T ? A[k * lda + i] : A[i * lda + k];
                float b = tb == GEMM_T ? B[j * ldb + k] : B[k * ldb + j];
                s += bf16 ? (double)ref_round_bf16(alpha * a) * ref_round_bf16(b) : (double)alpha * a * b;
            }
            c[i * N + j] = s + (double)beta * c0[i * ldc + j];
        }
}

// f32_to_bf16_rows against a rounding written another way (keep the upper half, add one when the
// lower half is over a half or exactly a half with an odd upper half): ties both ways, the largest
// finite values, infinities, NaNs (quieted), denormals (to ±0), a scale; rows of 45 and 77 values
// (AVX512-BF16 takes 32 at a time where the CPU has it, the rest is portable code) with a leading
// dimension wider than the row; a block big enough to be split over the threads.
static uint16_t other_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if (isnan(f)) return (uint16_t)(u >> 16) | 0x40u;
    if (fpclassify(f) == FP_SUBNORMAL) return (uint16_t)((u >> 31) << 15);
    uint32_t hi = u >> 16, lo = u & 0xffffu;
    if (lo > 0x8000u || (lo == 0x8000u && (hi & 1u))) hi++;
    return (uint16_t)hi;
}

static void check_bf16_rounding(void) {
    static const uint32_t special[] = {0x3f808000u, 0x3f818000u, 0xbf808000u, 0x3f807fffu,
                                       0x3f808001u, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u,
                                       0xff800000u, 0x7fc00001u, 0x7f800001u, 0xffa00000u,
                                       0x00000001u, 0x807fffffu, 0x00400000u, 0x00800000u,
                                       0x80000000u, 0x00000000u, 0x7f7f8000u, 0x7fffffffu,
                                       0xffffffffu};
    const size_t nsp = sizeof special / sizeof special[0];
    static const size_t colses[2] = {45, 77};
    for (int ci = 0; ci < 2; ci++)
        for (int big = 0; big < 2; big++) {
            size_t cols = colses[ci], ld = cols + 3, rows = big ? 2000 : 5;
            float *x = ref_rand_f(rows * ld, 700 + (unsigned long long)(ci * 2 + big), 3);
            // each special value among a row's first 32 and after them
            for (size_t i = 0; i < nsp; i++) {
                size_t r = (i * 7) % rows, c0 = (i * 13 + (size_t)ci) % 32;
                size_t c1 = 32 + (i * 5 + (size_t)ci) % (cols - 32);
                memcpy(&x[r * ld + c0], &special[i], sizeof(float));
                memcpy(&x[r * ld + c1], &special[i], sizeof(float));
            }
            uint16_t *y = malloc(rows * cols * sizeof(uint16_t));
            const float scales[2] = {1.0f, 0.5f};
            for (int si = 0; si < 2; si++) {
                f32_to_bf16_rows(y, x, rows, cols, ld, scales[si]);
                size_t bad = 0;
                for (size_t r = 0; r < rows; r++)
                    for (size_t c = 0; c < cols; c++)
                        bad += y[r * cols + c] != other_bf16(scales[si] * x[r * ld + c]);
                CHECK(bad == 0, "f32_to_bf16_rows: %zu of %zu values rounded otherwise (%zu x %zu, "
                      "scale %g)", bad, rows * cols, rows, cols, scales[si]);
            }
            free(x), free(y);
        }
}

// One product in the current mode against the reference; pad widens every leading dimension.
// serial: through gemm_serial (fp32 only).
static void check_product_with(int serial, GemmOp ta, GemmOp tb, size_t M, size_t N, size_t K,
                               float alpha, float beta, size_t pad, int bf16, unsigned seed) {
    size_t ar = ta == GEMM_T ? K : M, ac = (ta == GEMM_T ? M : K), lda = ac + pad;
    size_t br = tb == GEMM_T ? N : K, bc = (tb == GEMM_T ? K : N), ldb = bc + pad, ldc = N + pad;
    float *A = ref_rand_f(ar * lda, seed, 1.0f), *B = ref_rand_f(br * ldb, seed + 1, 1.0f);
    float *C = ref_rand_f(M * ldc, seed + 2, 1.0f), *C0 = ref_copy_f(C, M * ldc);
    double *r = ref_zeros(M * N), *rx = ref_zeros(M * N);
    ref_gemm(r, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc, bf16);
    ref_gemm(rx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc, 0);
    (serial ? gemm_serial : gemm)(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    float *got = malloc(M * N * sizeof(float));
    for (size_t i = 0; i < M; i++) memcpy(got + i * N, C + i * ldc, N * sizeof(float));
    char what[160];
    snprintf(what, sizeof what, "%s%s %c%c M=%zu N=%zu K=%zu alpha=%g beta=%g pad=%zu",
             serial ? "serial " : "", bf16 ? "bf16" : "f32", ta == GEMM_T ? 'T' : 'N',
             tb == GEMM_T ? 'T' : 'N', M, N, K, alpha, beta, pad);
    double scale = sqrt((double)K + 1);  // sums of K products of O(1) terms
    CHECK(check_close_f(what, got, r, M * N, bf16 ? 1e-5 : 1e-5, scale), "%s: vs reference", what);
    if (bf16) {  // the rounding really happens, and stays within bf16's precision of the exact
        double worst = 0;
        for (size_t i = 0; i < M * N; i++) worst = fmax(worst, fabs(got[i] - rx[i]));
        CHECK(worst < 2e-2 * scale, "%s: %.3g from the exact product", what, worst);
        if (K >= 8) CHECK(worst > 1e-6 * scale, "%s: bf16 products equal the f32 ones", what);
    }
    int padding_kept = 1;  // the columns past N in each row of C are not written
    for (size_t i = 0; i < M; i++)
        for (size_t j = N; j < ldc; j++) padding_kept &= C[i * ldc + j] == C0[i * ldc + j];
    CHECK(padding_kept, "%s: wrote past N", what);
    free(A); free(B); free(C); free(C0); free(got); free(r); free(rx);
}

static void check_product(GemmOp ta, GemmOp tb, size_t M, size_t N, size_t K, float alpha,
                          float beta, size_t pad, int bf16, unsigned seed) {
    check_product_with(0, ta, tb, M, N, K, alpha, beta, pad, bf16, seed);
}

// serial: gemm_serial instead of gemm (fp32)
static void check_all_products(int bf16, int serial) {
    static const size_t shapes[][3] = {{1, 1, 1}, {1, 7, 5}, {5, 1, 9}, {3, 4, 1}, {17, 23, 31},
                                       {64, 48, 96}, {130, 70, 257}};
    static const float ab[][2] = {{0.5f, 0.0f}, {1.0f, 1.0f}, {0.5f, 1.0f}, {1.0f, 0.25f}};
    unsigned seed = 10;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int k = 0; k < (bf16 ? 3 : 4); k++) {  // bf16: beta 0 or 1 only
                    size_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                    check_product_with(serial, (GemmOp)ta, (GemmOp)tb, M, N, K, ab[k][0], ab[k][1],
                                       (s + (size_t)ta) % 3, bf16, seed);
                    seed += 3;
                }
}

// Selects the fp32 engine (RLHF_SGEMM; read again after a release) and checks what runs.
static void use_fp32_engine(const char *name, const char *expect) {
    setenv("RLHF_SGEMM", name, 1);
    onednn_release_all();
    printf("RLHF_SGEMM=%s: fp32 products through %s\n", name, gemm_fp32_impl());
    CHECK(strstr(gemm_fp32_impl(), expect) != NULL, "RLHF_SGEMM=%s runs %s", name, gemm_fp32_impl());
}

// gemm_serial from every thread of a parallel region gives the bits it gives outside one.
static void check_serial_in_parallel(void) {
    size_t M = 70, N = 33, K = 90;
    float *A = ref_rand_f(M * K, 5, 1.0f), *B = ref_rand_f(N * K, 6, 1.0f);
    float *c0 = calloc(M * N, sizeof(float)), *ct = calloc(2 * M * N, sizeof(float));
    gemm_serial(GEMM_N, GEMM_T, M, N, K, 0.7f, A, K, B, K, 0.0f, c0, N);
    omp_set_num_threads(2);
#pragma omp parallel num_threads(2)
    {
        int t = omp_get_thread_num();
        gemm_serial(GEMM_N, GEMM_T, M, N, K, 0.7f, A, K, B, K, 0.0f, ct + (size_t)t * M * N, N);
    }
    for (int t = 0; t < 2; t++)
        CHECK(check_bitwise("serial in parallel", ct + (size_t)t * M * N, c0, M * N),
              "thread %d: the bits of the serial call", t);
    free(A); free(B); free(c0); free(ct);
}

static void check_env(void) {
    Err e;
    setenv("RLHF_SGEMM", "mkl", 1);
    CHECK(gemm_check_env(&e) == -1 && strstr(e.msg, "RLHF_SGEMM=mkl") && strstr(e.msg, "openblas"),
          "a bad RLHF_SGEMM is refused with a message: %s", e.msg);
    setenv("RLHF_SGEMM", "openblas", 1);
    CHECK(gemm_check_env(&e) == 0, "openblas accepted");
    unsetenv("RLHF_SGEMM");
    CHECK(gemm_check_env(&e) == 0, "unset accepted");
}

// The bf16 mode gives the same bits on every call (fixed threads) and on 1 and 2 threads
// agrees with the bf16 reference.
static void check_bf16_repeat(void) {
    size_t M = 200, N = 150, K = 300;
    float *A = ref_rand_f(M * K, 1, 1.0f), *B = ref_rand_f(K * N, 2, 1.0f);
    float *c1 = calloc(M * N, sizeof(float)), *c2 = calloc(M * N, sizeof(float));
    gemm(GEMM_N, GEMM_N, M, N, K, 1.0f, A, K, B, N, 0.0f, c1, N);
    gemm(GEMM_N, GEMM_N, M, N, K, 1.0f, A, K, B, N, 0.0f, c2, N);
    CHECK(check_bitwise("bf16 repeat", c1, c2, M * N), "same bits on a repeat");
    free(A); free(B); free(c1); free(c2);
}

// gemm_hold_begin / gemm_hold_end: the two backward products that share an operand (a linear
// layer's dout as A of one and B of the other; the LM head's dz as A, then as Aᵀ) give the same
// bits with the hold as without. In bf16 the held rounding is really used: changing the matrix
// after the hold (which callers must not do) does not change the products until gemm_hold_end.
static void check_hold(const char *mode, int bf16) {
    size_t N = 53, C = 40, OC = 72;
    float *inp = ref_rand_f(N * C, 30, 1.0f), *w = ref_rand_f(C * OC, 31, 0.3f),
          *dout = ref_rand_f(N * OC, 32, 1.0f), *di0 = ref_rand_f(N * C, 33, 1.0f),
          *dw0 = ref_rand_f(C * OC, 34, 1.0f);
    float *di[2], *dw[2];
    for (int k = 0; k < 2; k++) {
        di[k] = malloc(N * C * sizeof(float));
        dw[k] = malloc(C * OC * sizeof(float));
        memcpy(di[k], di0, N * C * sizeof(float));
        memcpy(dw[k], dw0, C * OC * sizeof(float));
    }
    for (int k = 0; k < 2; k++) {  // k = 1: with the hold
        if (k) gemm_hold_begin(dout, N, OC, OC);
        gemm(GEMM_N, GEMM_T, N, C, OC, 1.0f, dout, OC, w, OC, 1.0f, di[k], C);
        gemm(GEMM_T, GEMM_N, C, OC, N, 1.0f, inp, C, dout, OC, 1.0f, dw[k], OC);
        // the LM head's pattern: dout as A [N,OC] of an NN product, then as Aᵀ
        gemm(GEMM_N, GEMM_N, N, C, OC, 1.0f, dout, OC, w + 0, C, 0.0f, di[k], C);
        gemm(GEMM_T, GEMM_N, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw[k], C);
        if (k) gemm_hold_end();
    }
    char what[64];
    snprintf(what, sizeof what, "%s hold", mode);
    CHECK(check_bitwise(what, di[1], di[0], N * C), "%s: dinp", what);
    CHECK(check_bitwise(what, dw[1], dw[0], C * OC), "%s: dw", what);
    // a scaled product (alpha ≠ 1) and another matrix of the same shape do not take the held one
    float *other = ref_rand_f(N * OC, 35, 1.0f);
    for (int k = 0; k < 2; k++) {
        if (k) gemm_hold_begin(dout, N, OC, OC);
        gemm(GEMM_N, GEMM_T, N, C, OC, 0.5f, dout, OC, w, OC, 0.0f, di[k], C);
        gemm(GEMM_N, GEMM_T, N, C, OC, 1.0f, other, OC, w, OC, 1.0f, di[k], C);
        if (k) gemm_hold_end();
    }
    CHECK(check_bitwise(what, di[1], di[0], N * C), "%s: alpha 0.5 and another matrix", what);
    // changed after the hold: bf16 still multiplies the held rounding, fp32 the new values
    gemm(GEMM_N, GEMM_T, N, C, OC, 1.0f, dout, OC, w, OC, 0.0f, di[0], C);
    gemm_hold_begin(dout, N, OC, OC);
    for (size_t i = 0; i < N * OC; i++) dout[i] *= 2.0f;
    gemm(GEMM_N, GEMM_T, N, C, OC, 1.0f, dout, OC, w, OC, 0.0f, di[1], C);
    gemm_hold_end();
    int same = !memcmp(di[0], di[1], N * C * sizeof(float));
    CHECK(same == bf16, "%s: a product inside the hold %s the held rounding", what,
          bf16 ? "did not use" : "used");
    gemm(GEMM_N, GEMM_T, N, C, OC, 1.0f, dout, OC, w, OC, 0.0f, di[1], C);  // released
    CHECK(memcmp(di[0], di[1], N * C * sizeof(float)), "%s: after gemm_hold_end the new values", what);
    // nested two deep (the LM head's weight across its chunks, a chunk's gradient inside): both
    // held roundings serve until their own end; gemm_hold_end ends the inner one first
    float *y[4];
    for (int k = 0; k < 4; k++) y[k] = malloc(N * C * sizeof(float));
    gemm(GEMM_N, GEMM_T, N, C, OC, 1.0f, dout, OC, w, OC, 0.0f, y[0], C);  // before any change
    gemm_hold_begin(w, C, OC, OC);     // outer: the weight (B, stored [C, OC])
    gemm_hold_begin(dout, N, OC, OC);  // inner: the gradient (A)
    for (size_t i = 0; i < C * OC; i++) w[i] *= 0.5f;
    for (size_t i = 0; i < N * OC; i++) dout[i] *= 0.5f;
    gemm(GEMM_N, GEMM_T, N, C, OC, 1.0f, dout, OC, w, OC, 0.0f, y[1], C);  // both held
    gemm_hold_end();
    gemm(GEMM_N, GEMM_T, N, C, OC, 1.0f, dout, OC, w, OC, 0.0f, y[2], C);  // w held, dout new
    gemm_hold_end();
    gemm(GEMM_N, GEMM_T, N, C, OC, 1.0f, dout, OC, w, OC, 0.0f, y[3], C);  // both new
    if (bf16) {
        CHECK(!memcmp(y[1], y[0], N * C * sizeof(float)), "%s: nested, both held roundings", what);
        CHECK(memcmp(y[2], y[0], N * C * sizeof(float)) && memcmp(y[2], y[3], N * C * sizeof(float)),
              "%s: the inner end released the gradient only", what);
    }
    CHECK(memcmp(y[3], y[0], N * C * sizeof(float)), "%s: after both ends the new values", what);
    for (int k = 0; k < 4; k++) free(y[k]);
    for (int k = 0; k < 2; k++) {
        free(di[k]);
        free(dw[k]);
    }
    free(inp); free(w); free(dout); free(di0); free(dw0); free(other);
}

// gemm_hold_rounded: a rounding the caller made (f32_to_bf16_rows) stands for X in the products
// that take X as A or B — X itself is not read, so X may then hold anything — and the end
// reports how many products used it; in fp32 mode nothing is held (0 uses).
static void check_hold_rounded(int bf16) {
    size_t N = 41, C = 24, OC = 56;
    float *inp = ref_rand_f(N * C, 40, 1.0f), *dout = ref_rand_f(N * OC, 41, 1.0f);
    float *dw0 = calloc(C * OC, sizeof(float)), *dw1 = calloc(C * OC, sizeof(float));
    float *y0 = calloc(N * OC, sizeof(float)), *y1 = calloc(N * OC, sizeof(float));
    float *w = ref_rand_f(C * OC, 42, 0.3f);
    uint16_t *xb = malloc(N * C * sizeof(uint16_t));
    gemm(GEMM_T, GEMM_N, C, OC, N, 1.0f, inp, C, dout, OC, 1.0f, dw0, OC);  // X as Aᵀ
    gemm(GEMM_N, GEMM_N, N, OC, C, 1.0f, inp, C, w, OC, 0.0f, y0, OC);      // X as A
    f32_to_bf16_rows(xb, inp, N, C, C, 1.0f);
    gemm_hold_rounded(inp, xb, N, C, C);
    float *saved = ref_copy_f(inp, N * C);
    for (size_t i = 0; i < N * C; i++) inp[i] = NAN;  // not read while held
    gemm(GEMM_T, GEMM_N, C, OC, N, 1.0f, inp, C, dout, OC, 1.0f, dw1, OC);
    gemm(GEMM_N, GEMM_N, N, OC, C, 1.0f, inp, C, w, OC, 0.0f, y1, OC);
    gemm(GEMM_N, GEMM_N, N, OC, C, 0.5f, saved, C, w, OC, 0.0f, y1 + 0, OC);  // not X: not counted
    gemm(GEMM_N, GEMM_N, N, OC, C, 1.0f, inp, C, w, OC, 0.0f, y1, OC);
    int uses = gemm_hold_rounded_end();
    if (bf16) {
        CHECK(uses == 3, "bf16: the held rounding served %d products, not 3", uses);
        CHECK(check_bitwise("hold_rounded dw", dw1, dw0, C * OC), "bf16: dW from the held rounding");
        CHECK(check_bitwise("hold_rounded y", y1, y0, N * OC), "bf16: A·W from the held rounding");
    } else {
        CHECK(uses == 0, "fp32: nothing held (%d uses)", uses);
        int nan = 0;
        for (size_t i = 0; i < N * OC; i++) nan |= isnan(y1[i]);
        CHECK(nan, "fp32: the products read X itself");
    }
    CHECK(gemm_hold_rounded_end() == 0, "a second end: nothing held");
    free(inp); free(dout); free(dw0); free(dw1); free(y0); free(y1); free(w); free(xb); free(saved);
}

// matmul_backward and the LM head's gradients through bf16 products stay within bf16 rounding
// of the fp32 ones; a tiny model's loss and every parameter gradient likewise.
static double rel_diff(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / fmax(den, 1e-30));
}

static void model_grads(float *loss, float *grads, GPT *m, int B, const int *len, const int *tok,
                        const int *tgt) {
    Err e;
    CHECK(gpt_forward(m, B, len, tok, &e) == 0, "%s", e.msg);
    float lp[64], dl[64];
    gpt_lm_logprobs(m, tgt, 1.0f, lp, NULL);
    double s = 0;
    for (size_t i = 0; i < m->N; i++) {
        dl[i] = tgt[i] >= 0 ? -1.0f : 0.0f;
        if (tgt[i] >= 0) s -= lp[i];
    }
    *loss = (float)s;
    gpt_zero_grad(m);
    gpt_backward(m, tgt, 1.0f, dl, NULL, NULL);
    memcpy(grads, m->grads, m->n_params * sizeof(float));
}

// A trainable model in bf16 mode keeps its layers' product inputs as its forward rounded them
// (model/gpt_forward.c): the backward's weight gradients use them and recompute no LayerNorm or
// GELU output. Loss, log-probabilities, values and every gradient bit for bit those of the
// recomputing backward (RLHF_BF16_KEEP=0), on shared prefixes and tails (targets on each row's
// second half), then on a larger batch (the kept block regrows).
static void check_model_kept(void) {
    GPT *m = tiny_model(1, 1, 13);
    enum { B = 4, NMAX = 96 };
    int parent[B] = {-1, 0, -1, 2}, prefix[B] = {0, 7, 0, 9}, tok[NMAX], tgt[NMAX];
    float lp[2][NMAX], val[2][NMAX], dl[NMAX], dv[NMAX], *g[2];
    for (int k = 0; k < 2; k++) g[k] = falloc(m->n_params);
    for (int round = 0; round < 2; round++) {
        int len[B] = {11, 6, 14, 3};
        for (int b = 0; round && b < B; b++) len[b] += 6;
        size_t N = tiny_tokens(tok, len, B, m->cfg.vocab_size, 14 + round);
        for (int b = 0, o = 0; b < B; o += len[b], b++)
            for (int i = 0; i < len[b]; i++) {
                size_t n = (size_t)(o + i);
                tgt[n] = 2 * i >= len[b] && i + 1 < len[b] ? tok[n + 1] : -1;
                dl[n] = tgt[n] >= 0 ? -0.5f - 0.1f * (float)(n % 3) : 0.0f;
                dv[n] = tgt[n] >= 0 ? 0.05f * (float)(n % 4) - 0.08f : 0.0f;
            }
        for (int k = 0; k < 2; k++) {  // k = 1: recomputed, not kept
            if (k) setenv("RLHF_BF16_KEEP", "0", 1);
            Err e;
            CHECK(gpt_forward_targets(m, B, len, tok, parent, prefix, tgt, &e) == 0, "%s", e.msg);
            CHECK(m->kept_on == !k && m->tailed, "round %d: kept %d (want %d), tailed %d", round,
                  m->kept_on, !k, m->tailed);
            gpt_lm_logprobs(m, tgt, 1.0f, lp[k], NULL);
            gpt_values(m, val[k]);
            gpt_zero_grad(m);
            gpt_backward(m, tgt, 1.0f, dl, NULL, dv);
            memcpy(g[k], m->grads, m->n_params * sizeof(float));
            unsetenv("RLHF_BF16_KEEP");
        }
        CHECK(check_bitwise("kept: logp", lp[0], lp[1], N), "round %d: log-probabilities", round);
        CHECK(check_bitwise("kept: values", val[0], val[1], N), "round %d: values", round);
        CHECK(check_bitwise("kept: gradients", g[0], g[1], m->n_params), "round %d: gradients", round);
        CHECK(tiny_max_abs(g[0], m->n_params) > 0, "round %d: gradients all zero", round);
    }
    for (int k = 0; k < 2; k++) free(g[k]);
    gpt_free(m);
}

static void check_model_bf16(void) {
    GPT *m = tiny_model(1, 0, 11);
    enum { B = 3 };
    int len[B] = {9, 5, 13}, tok[64], tgt[64];
    size_t N = tiny_tokens(tok, len, B, m->cfg.vocab_size, 12);
    for (size_t i = 0; i < N; i++) tgt[i] = i % 5 == 0 ? -1 : tok[(i * 7) % N];
    float l32, l16, *g32 = falloc(m->n_params), *g16 = falloc(m->n_params);
    Err e;
    CHECK(gemm_set_bf16(0, &e) == 0, "off");
    model_grads(&l32, g32, m, B, len, tok, tgt);
    CHECK(gemm_set_bf16(1, &e) == 0, "on: %s", e.msg);
    model_grads(&l16, g16, m, B, len, tok, tgt);
    double dg = rel_diff(g16, g32, m->n_params);
    printf("tiny model, bf16 vs f32 products: loss %.6f vs %.6f, gradient relative difference %.3g\n",
           l16, l32, dg);
    CHECK(fabs(l16 - l32) < 1e-2 * fabs(l32) && l16 != l32, "loss %g vs %g", l16, l32);
    CHECK(dg < 3e-2 && dg > 0, "gradients differ by %.3g (relative, 2-norm)", dg);
    // matmul_backward alone, a layer's shapes
    size_t n = 37, C = 48, OC = 96;
    float *inp = ref_rand_f(n * C, 20, 1.0f), *w = ref_rand_f(C * OC, 21, 0.2f),
          *dout = ref_rand_f(n * OC, 22, 1.0f);
    float *dinp[2], *dw[2];
    for (int k = 0; k < 2; k++) {
        dinp[k] = calloc(n * C, sizeof(float));
        dw[k] = calloc(C * OC, sizeof(float));
        CHECK(gemm_set_bf16(k, &e) == 0, "%s", e.msg);
        matmul_backward(dinp[k], dw[k], NULL, dout, inp, w, n, C, OC);
    }
    double di = rel_diff(dinp[1], dinp[0], n * C), dd = rel_diff(dw[1], dw[0], C * OC);
    CHECK(di < 1e-2 && di > 0 && dd < 1e-2 && dd > 0, "matmul_backward bf16 vs f32: %.3g %.3g", di, dd);
    for (int k = 0; k < 2; k++) { free(dinp[k]); free(dw[k]); }
    free(inp); free(w); free(dout);
    CHECK(gemm_set_bf16(0, &e) == 0, "off");
    free(g32); free(g16);
    gpt_free(m);
}

// gemm_bias: A·B + bias on every row against the double reference, with a leading dimension
// wider than the row; fp32 on oneDNN it runs (0), on OpenBLAS and in bf16 mode it declines (-1,
// C untouched) and matmul_forward adds the bias itself — matmul_forward's result checked both ways.
static void check_bias(const char *engine, int expect_rc) {
    size_t M = 37, N = 21, K = 19, lda = 23, ldc = 25;
    float *A = ref_rand_f(M * lda, 701, 1), *B = ref_rand_f(K * N, 702, 1), *bias = ref_rand_f(N, 703, 1);
    float *C = ref_rand_f(M * ldc, 704, 3), *C0 = ref_copy_f(C, M * ldc);
    double *want = ref_zeros(M * ldc);
    for (size_t i = 0; i < M * ldc; i++) want[i] = C[i];
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = bias[j];
            for (size_t k = 0; k < K; k++) s += (double)A[i * lda + k] * B[k * N + j];
            want[i * ldc + j] = s;
        }
    int rc = gemm_bias(M, N, K, A, lda, B, N, bias, C, ldc);
    CHECK(rc == expect_rc, "%s: gemm_bias returned %d, expected %d", engine, rc, expect_rc);
    if (rc == 0) check_close_f("gemm_bias", C, want, M * ldc, 1e-5, 1e-3);
    else CHECK(!memcmp(C, C0, M * ldc * sizeof(float)), "%s: a declined gemm_bias wrote C", engine);
    // matmul_forward (dense rows) either way
    float *Ad = malloc(M * K * sizeof(float)), *out = malloc(M * N * sizeof(float));
    double *wd = ref_zeros(M * N);
    for (size_t i = 0; i < M; i++)
        for (size_t k = 0; k < K; k++) Ad[i * K + k] = A[i * lda + k];
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) wd[i * N + j] = want[i * ldc + j];
    matmul_forward(out, Ad, B, bias, M, K, N);
    check_close_f("matmul_forward with bias", out, wd, M * N, gemm_bf16_on() ? 2e-2 : 1e-5, 1e-3);
    free(A), free(B), free(bias), free(C), free(C0), free(want), free(Ad), free(out), free(wd);
}

int main(void) {
    Err e;
    CHECK(!gemm_bf16_on(), "fp32 products by default");
    check_env();
    check_bf16_rounding();
    CHECK(strstr(gemm_fp32_impl(), "oneDNN") != NULL, "default fp32 engine: %s", gemm_fp32_impl());
    static const char *engines[][2] = {{"onednn", "oneDNN"}, {"openblas", "OpenBLAS"}};
    for (int g = 0; g < 2; g++) {
        use_fp32_engine(engines[g][0], engines[g][1]);
        for (int t = 1; t <= 2; t++) {
            omp_set_num_threads(t);
            check_all_products(0, 0);
            check_all_products(0, 1);
        }
        check_serial_in_parallel();
        check_hold(engines[g][0], 0);
        check_hold_rounded(0);
        check_bias(engines[g][0], g == 0 ? 0 : -1);
    }
    unsetenv("RLHF_SGEMM");
    onednn_release_all();
    if (gemm_set_bf16(1, &e) != 0) {
        CHECK(strstr(e.msg, "no bf16 matmul on this CPU") != NULL, "refusal names the reason: %s", e.msg);
        CHECK(!gemm_bf16_on(), "a refused switch leaves fp32 on");
        printf("bf16 products not available here (SKIPPED the bf16 checks): %s\n", e.msg);
        onednn_release_all();
        return check_summary("nn_gemm");
    }
    CHECK(gemm_bf16_on(), "bf16 on");
    printf("bf16 products: oneDNN %s\n", gemm_bf16_impl());
    for (int t = 1; t <= 2; t++) {
        omp_set_num_threads(t);
        check_all_products(1, 0);
        check_bf16_repeat();
        check_hold("bf16", 1);
        check_hold_rounded(1);
    }
    check_model_kept();
    check_bias("bf16", -1);
    onednn_release_all();  // the cache rebuilds itself after a release
    check_product(GEMM_T, GEMM_N, 33, 20, 65, 1.0f, 1.0f, 1, 1, 99);
    check_model_bf16();
    CHECK(gemm_set_bf16(0, &e) == 0 && !gemm_bf16_on(), "off again");
    check_product(GEMM_N, GEMM_T, 9, 8, 7, 1.0f, 0.0f, 0, 0, 98);
    onednn_release_all();
    return check_summary("nn_gemm");
}
