// tests/test_nn_adamw.c — AdamW against a double reference over several steps (bias correction,
// decoupled weight decay, grad_scale), a hand-checked first step, sum_squares, determinism.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "support/check.h"
#include "support/ref_nn.h"

enum { NP = 1003 };

static void run_steps(float wd, float gscale, unsigned long long seed) {
    float *p = ref_rand_f(NP, seed, 1), *m = calloc(NP, 4), *v = calloc(NP, 4);
    double *rp = ref_to_double(p, NP), *rm = ref_zeros(NP), *rv = ref_zeros(NP);
    for (long step = 1; step <= 5; step++) {
        float *g = ref_rand_f(NP, seed + (unsigned long long)step, 2);
        double *rg = ref_to_double(g, NP);
        adamw_update(p, g, m, v, NP, step, 1e-2f, 0.9f, 0.95f, 1e-8f, wd, gscale);
        ref_adamw_update(rp, rg, rm, rv, NP, step, 1e-2, 0.9, 0.95, 1e-8, wd, gscale);
        free(g), free(rg);
    }
    check_close_f("adamw p", p, rp, NP, 1e-3, 1e-3);
    check_close_f("adamw m", m, rm, NP, 1e-3, 1e-3);
    check_close_f("adamw v", v, rv, NP, 1e-3, 1e-3);
    free(p), free(m), free(v), free(rp), free(rm), free(rv);
}

int main(void) {
    run_steps(0.1f, 0.5f, 1);
    run_steps(0.0f, 1.0f, 2);

    // first step by hand: m̂ = g', v̂ = g'², so p −= lr·(sign(g')·|g'|/(|g'| + eps) + wd·p)
    {
        float p[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.4f, -0.2f, 0.0f}, m[3] = {0}, v[3] = {0};
        adamw_update(p, g, m, v, 3, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.5f);
        double e[3] = {1.0 - 0.1 * (1.0 + 0.01 * 1.0), -2.0 - 0.1 * (-1.0 + 0.01 * -2.0),
                       0.5 - 0.1 * (0.01 * 0.5)};
        check_close_f("adamw first step by hand", p, e, 3, 1e-5, 1e-3);
        double em[3] = {0.1 * 0.2, 0.1 * -0.1, 0}, ev[3] = {0.001 * 0.04, 0.001 * 0.01, 0};
        check_close_f("adamw first step m", m, em, 3, 1e-5, 1e-3);
        check_close_f("adamw first step v", v, ev, 3, 1e-4, 1e-6);  // 0.999f ≠ 0.999
    }

    // sum_squares
    size_t n = 100003;
    float *g = ref_rand_f(n, 9, 3);
    double *dg = ref_to_double(g, n);
    double s = sum_squares(g, n), rs = ref_sum_squares(dg, n);
    CHECK(fabs(s - rs) <= 1e-12 * rs, "sum_squares %.17g vs %.17g", s, rs);
    CHECK(sum_squares(g, 0) == 0.0, "sum_squares of nothing");
    CHECK(sum_squares(g, 1) == (double)g[0] * (double)g[0], "sum_squares of one");

    int saved = omp_get_max_threads();
    float *p0 = ref_rand_f(n, 10, 1), *pfirst = NULL;
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        double a = sum_squares(g, n), b = sum_squares(g, n);
        CHECK(memcmp(&a, &b, sizeof a) == 0, "sum_squares repeat with %d threads", nt);
        float *pp[2];
        for (int r = 0; r < 2; r++) {
            float *m = calloc(n, 4), *v = calloc(n, 4);
            pp[r] = ref_copy_f(p0, n);
            adamw_update(pp[r], g, m, v, n, 3, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 0.7f);
            free(m), free(v);
        }
        check_bitwise("adamw repeat", pp[0], pp[1], n);
        if (!pfirst) pfirst = pp[0];
        else check_bitwise("adamw across threads", pfirst, pp[0], n), free(pp[0]);
        free(pp[1]);
    }
    omp_set_num_threads(saved);
    free(g), free(dg), free(p0), free(pfirst);
    return check_summary("test_nn_adamw");
}
