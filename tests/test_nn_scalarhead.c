// tests/test_nn_scalarhead.c — the scalar (reward/value) head: double reference vs finite
// differences, fp32 kernel vs the reference, accumulation, NULL gradients, determinism.
#include <omp.h>
#include <stdlib.h>

#include "nn/nn.h"
#include "support/check.h"
#include "support/ref_nn.h"

enum { N = 17, C = 96 };

typedef struct {
    double *x, *w, *dval, *val;
} Ctx;

static double loss(void *p) {
    Ctx *c = p;
    ref_scalarhead_forward(c->val, c->x, c->w, N, C);
    return ref_dot(c->dval, c->val, N);
}

int main(void) {
    Ctx c = {ref_zeros(N * C), ref_zeros(C), ref_zeros(N), ref_zeros(N)};
    fill_uniform_d(c.x, N * C, 1, 1), fill_uniform_d(c.w, C, 2, 1), fill_uniform_d(c.dval, N, 3, 1);
    double *gx = ref_zeros(N * C), *gw = ref_zeros(C), *fx = ref_zeros(N * C), *fw = ref_zeros(C);
    ref_scalarhead_backward(gx, gw, c.dval, c.x, c.w, N, C);
    ref_fd_grad(loss, &c, c.x, N * C, 1e-5, fx);
    ref_fd_grad(loss, &c, c.w, C, 1e-5, fw);
    check_close_d("ref dx vs fd", gx, fx, N * C, 1e-6, 1e-3);
    check_close_d("ref dw vs fd", gw, fw, C, 1e-6, 1e-3);

    float *x = ref_rand_f(N * C, 11, 1), *w = ref_rand_f(C, 12, 1), *dval = ref_rand_f(N, 13, 1);
    float *val = ref_rand_f(N, 14, 9);
    double *dx_ = ref_to_double(x, N * C), *dw_ = ref_to_double(w, C);
    double *ddv = ref_to_double(dval, N), *rval = ref_zeros(N);
    scalarhead_forward(val, x, w, N, C);
    ref_scalarhead_forward(rval, dx_, dw_, N, C);
    check_close_f("scalarhead_forward", val, rval, N, 1e-3, 1e-3);
    float *sx = ref_rand_f(N * C, 21, 1), *sw = ref_rand_f(C, 22, 1);
    double *rsx = ref_to_double(sx, N * C), *rsw = ref_to_double(sw, C);
    scalarhead_backward(sx, sw, dval, x, w, N, C);
    ref_scalarhead_backward(rsx, rsw, ddv, dx_, dw_, N, C);
    check_close_f("scalarhead_backward dx", sx, rsx, N * C, 1e-3, 1e-3);
    check_close_f("scalarhead_backward dw", sw, rsw, C, 1e-3, 1e-3);
    scalarhead_backward(NULL, sw, dval, x, w, N, C);
    ref_scalarhead_backward(NULL, rsw, ddv, dx_, dw_, N, C);
    check_close_f("scalarhead_backward dw only", sw, rsw, C, 1e-3, 1e-3);
    scalarhead_backward(sx, NULL, dval, x, w, N, C);
    ref_scalarhead_backward(rsx, NULL, ddv, dx_, dw_, N, C);
    check_close_f("scalarhead_backward dx only", sx, rsx, N * C, 1e-3, 1e-3);

    float *first[2] = {0};
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        float *v[2], *g[2];
        for (int r = 0; r < 2; r++) {
            v[r] = calloc(N, 4), g[r] = calloc(C, 4);
            scalarhead_forward(v[r], x, w, N, C);
            scalarhead_backward(NULL, g[r], dval, x, w, N, C);
        }
        check_bitwise("scalarhead_forward repeat", v[0], v[1], N);
        check_bitwise("scalarhead_backward dw repeat", g[0], g[1], C);
        if (!first[0]) first[0] = v[0], first[1] = g[0];
        else {
            check_bitwise("scalarhead_forward across threads", first[0], v[0], N);
            check_bitwise("scalarhead_backward dw across threads", first[1], g[0], C);
            free(v[0]), free(g[0]);
        }
        free(v[1]), free(g[1]);
    }
    omp_set_num_threads(saved);
    free(first[0]), free(first[1]);
    free(c.x), free(c.w), free(c.dval), free(c.val), free(gx), free(gw), free(fx), free(fw);
    free(x), free(w), free(dval), free(val), free(dx_), free(dw_), free(ddv), free(rval);
    free(sx), free(sw), free(rsx), free(rsw);
    return check_summary("test_nn_scalarhead");
}
