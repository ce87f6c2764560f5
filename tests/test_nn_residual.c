// tests/test_nn_residual.c — residual_forward (incl. in-place aliasing) and vec_accumulate
// against double sums, and determinism.
#include <omp.h>
#include <stdlib.h>

#include "nn/nn.h"
#include "support/check.h"
#include "support/ref_nn.h"

enum { NE = 1001 };

int main(void) {
    float *a = ref_rand_f(NE, 1, 1), *b = ref_rand_f(NE, 2, 3), *out = ref_rand_f(NE, 3, 9);
    double *r = ref_zeros(NE);
    for (size_t i = 0; i < NE; i++) r[i] = (double)a[i] + (double)b[i];
    residual_forward(out, a, b, NE);
    check_close_f("residual_forward", out, r, NE, 1e-6, 1e-3);
    float *a2 = ref_copy_f(a, NE);
    residual_forward(a2, a2, b, NE);  // out aliases a
    check_bitwise("residual_forward in place", a2, out, NE);

    float *dst = ref_copy_f(a, NE);
    vec_accumulate(dst, b, NE);
    check_close_f("vec_accumulate", dst, r, NE, 1e-6, 1e-3);
    vec_accumulate(dst, b, NE);
    for (size_t i = 0; i < NE; i++) r[i] += b[i];
    check_close_f("vec_accumulate twice", dst, r, NE, 1e-6, 1e-3);

    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        float *o = calloc(NE, 4), *d = ref_copy_f(a, NE);
        residual_forward(o, a, b, NE);
        vec_accumulate(d, b, NE);
        check_bitwise("residual_forward threads", o, out, NE);
        check_bitwise("vec_accumulate threads", d, out, NE);
        free(o), free(d);
    }
    omp_set_num_threads(saved);
    free(a), free(b), free(out), free(r), free(a2), free(dst);
    return check_summary("test_nn_residual");
}
