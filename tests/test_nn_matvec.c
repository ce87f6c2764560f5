// tests/test_nn_matvec.c — the one-row products of batch-1 decoding (nn/matvec.c) against a
// double-precision reference, over shapes that exercise the 4-row and 16-lane tails, the
// single-thread cutoff and more threads than rows; bits repeatable for a thread count, the dot
// kernel's bits independent of it, and matmul_forward / lmhead_logits taking this path for N = 1.
#include <omp.h>
#include <stdlib.h>

#include "nn/nn.h"
#include "support/check.h"
#include "support/ref_nn.h"

// y = x·W + bias in double, W[C,OC]
static void ref_in_out(double *y, const float *x, const float *W, const float *bias, size_t C,
                       size_t OC) {
    for (size_t j = 0; j < OC; j++) {
        double s = bias ? bias[j] : 0.0;
        for (size_t c = 0; c < C; c++) s += (double)x[c] * W[c * OC + j];
        y[j] = s;
    }
}

static void test_in_out(size_t C, size_t OC) {
    float *x = ref_rand_f(C, 1, 1), *W = ref_rand_f(C * OC, 2, 0.5f), *b = ref_rand_f(OC, 3, 0.5f);
    float *y = ref_rand_f(OC, 4, 9), *y2 = ref_rand_f(OC, 5, 9), *ym = ref_rand_f(OC, 6, 9);
    double *r = ref_zeros(OC), *rb = ref_zeros(OC);
    ref_in_out(r, x, W, NULL, C, OC);
    ref_in_out(rb, x, W, b, C, OC);
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        matvec_in_out(y, x, W, NULL, C, OC);
        check_close_f("matvec_in_out", y, r, OC, 1e-5, 1e-3);
        matvec_in_out(y, x, W, b, C, OC);
        check_close_f("matvec_in_out bias", y, rb, OC, 1e-5, 1e-3);
        matvec_in_out(y2, x, W, b, C, OC);
        check_bitwise("matvec_in_out repeat", y, y2, OC);
        matmul_forward(ym, x, W, b, 1, C, OC);  // the N = 1 path of the linear layer
        check_bitwise("matmul_forward N=1 = matvec_in_out", ym, y, OC);
    }
    // inside a parallel region (one thread does the whole product)
    omp_set_num_threads(2);
#pragma omp parallel
#pragma omp single
    matvec_in_out(y, x, W, b, C, OC);
    check_close_f("matvec_in_out nested", y, rb, OC, 1e-5, 1e-3);
    omp_set_num_threads(saved);
    free(x), free(W), free(b), free(y), free(y2), free(ym), free(r), free(rb);
}

static void test_rows_dot(size_t V, size_t C) {
    float *A = ref_rand_f(V * C, 7, 0.5f), *x = ref_rand_f(C, 8, 1);
    float *y1 = ref_rand_f(V, 9, 9), *y = ref_rand_f(V, 10, 9), *yl = ref_rand_f(V, 11, 9);
    double *r = ref_zeros(V);
    for (size_t v = 0; v < V; v++) {
        double s = 0;
        for (size_t c = 0; c < C; c++) s += (double)A[v * C + c] * x[c];
        r[v] = s;
    }
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    matvec_rows_dot(y1, A, x, V, C);
    check_close_f("matvec_rows_dot", y1, r, V, 1e-5, 1e-3);
    for (int nt = 2; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        matvec_rows_dot(y, A, x, V, C);
        check_bitwise("matvec_rows_dot: same bits for any thread count", y, y1, V);
        lmhead_logits(yl, x, A, 1, C, V);  // the N = 1 path of the LM head
        check_bitwise("lmhead_logits N=1 = matvec_rows_dot", yl, y1, V);
    }
    omp_set_num_threads(saved);
    free(A), free(x), free(y1), free(y), free(yl), free(r);
}

int main(void) {
    test_in_out(7, 3);        // fewer rows than a 4-row pass on some threads, tiny: one thread
    test_in_out(2, 5);        // more threads than rows
    test_in_out(37, 53);      // row and column tails
    test_in_out(300, 517);    // above the single-thread cutoff, odd column split
    test_in_out(768, 96);
    test_rows_dot(5, 3);      // shorter than one 16-lane block
    test_rows_dot(101, 37);   // lane tail
    test_rows_dot(2003, 64);  // above the single-thread cutoff
    return check_summary("nn_matvec");
}
