// tests/test_nn_gelu.c — GELU (tanh approximation): double reference vs finite differences and
// known values, fp32 kernel vs the reference, accumulation, determinism; the backward's fused
// recompute (gelu_forward_slope, gelu_scale, gelu_slope_only) against the separate kernels' bits.
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "nn/nn.h"
#include "support/check.h"
#include "support/ref_nn.h"

enum { NE = 1000 };

typedef struct {
    double *inp, *dout, *out;
} Ctx;

static double loss(void *p) {
    Ctx *c = p;
    ref_gelu_forward(c->out, c->inp, NE);
    return ref_dot(c->dout, c->out, NE);
}

int main(void) {
    // known values of gelu_new (as in Hugging Face transformers' NewGELUActivation)
    double kx[3] = {1.0, -0.5, 2.0}, ky[3] = {0.8411919906082768, -0.15428599, 1.9545976940}, kout[3];
    ref_gelu_forward(kout, kx, 3);
    for (int i = 0; i < 3; i++)
        CHECK(fabs(kout[i] - ky[i]) < 1e-6, "gelu(%g) = %.10f, expected %.10f", kx[i], kout[i], ky[i]);

    Ctx c = {ref_zeros(NE), ref_zeros(NE), ref_zeros(NE)};
    fill_uniform_d(c.inp, NE, 1, 5), fill_uniform_d(c.dout, NE, 2, 1);
    double *g = ref_zeros(NE), *f = ref_zeros(NE);
    ref_gelu_backward(g, c.inp, c.dout, NE);
    ref_fd_grad(loss, &c, c.inp, NE, 1e-5, f);
    check_close_d("ref gelu backward vs fd", g, f, NE, 1e-6, 1e-3);
    free(c.inp), free(c.dout), free(c.out), free(g), free(f);

    float *x = ref_rand_f(NE, 11, 6), *dout = ref_rand_f(NE, 12, 1), *out = ref_rand_f(NE, 13, 9);
    float *gx = ref_rand_f(NE, 14, 1);
    double *dx = ref_to_double(x, NE), *ddo = ref_to_double(dout, NE), *rout = ref_zeros(NE);
    double *rg = ref_to_double(gx, NE);
    gelu_forward(out, x, NE);
    ref_gelu_forward(rout, dx, NE);
    check_close_f("gelu_forward", out, rout, NE, 1e-3, 1e-3);
    gelu_backward(gx, x, dout, NE);
    ref_gelu_backward(rg, dx, ddo, NE);
    check_close_f("gelu_backward (accumulating)", gx, rg, NE, 1e-3, 1e-3);
    // the overwriting form: garbage in dinp is ignored, and in place (dinp = dout) gives the bits
    // of accumulating into zeros
    {
        float *gs = ref_rand_f(NE, 15, 9), *gz = calloc(NE, 4), *gin = ref_copy_f(dout, NE);
        double *rz = ref_zeros(NE);
        gelu_backward_set(gs, x, dout, NE);
        ref_gelu_backward(rz, dx, ddo, NE);
        check_close_f("gelu_backward_set", gs, rz, NE, 1e-3, 1e-3);
        gelu_backward(gz, x, dout, NE);
        check_bitwise("gelu_backward_set = accumulating into zeros", gs, gz, NE);
        gelu_backward_set(gin, x, gin, NE);
        check_bitwise("gelu_backward_set in place", gin, gz, NE);
        // the backward's fused form: the forward's bits, then d·slope = gelu_backward_set's
        // values (the same bits when the compiler vectorises both loops alike, as -O3 does; an
        // -O1 build may call the scalar expf in one and libmvec's in the other: last-ulp
        // differences). NE − 1 values: a partial 16-block at the end.
        float *fo = ref_rand_f(NE, 16, 9), *sl = ref_rand_f(NE, 17, 9), *ds = ref_copy_f(dout, NE);
        double *dgz = ref_to_double(gz, NE);
        gelu_forward_slope(fo, sl, x, NE - 1);
        gelu_scale(ds, sl, NE - 1);
        check_bitwise("gelu_forward_slope output = gelu_forward", fo, out, NE - 1);
        float *so = ref_rand_f(NE, 18, 9), *so_last = ref_copy_f(so + NE - 1, 1);
        gelu_slope_only(so, x, NE - 1);
        check_bitwise("gelu_slope_only = gelu_forward_slope's slope", so, sl, NE - 1);
        CHECK(so[NE - 1] == so_last[0], "gelu_slope_only wrote past its n");
        free(so), free(so_last);
        check_close_f("gelu_scale(slope) = gelu_backward_set", ds, dgz, NE - 1, 1e-6, 1e-3);
        free(dgz);
        CHECK(ds[NE - 1] == dout[NE - 1], "gelu_scale wrote past its n");
        free(fo), free(sl), free(ds);
        free(gs), free(gz), free(gin), free(rz);
    }

    float *first[2] = {0};
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        float *o[2], *gg[2];
        for (int r = 0; r < 2; r++) {
            o[r] = calloc(NE, 4), gg[r] = calloc(NE, 4);
            gelu_forward(o[r], x, NE);
            gelu_backward(gg[r], x, dout, NE);
        }
        check_bitwise("gelu_forward repeat", o[0], o[1], NE);
        check_bitwise("gelu_backward repeat", gg[0], gg[1], NE);
        if (!first[0]) first[0] = o[0], first[1] = gg[0];
        else {
            check_bitwise("gelu_forward across threads", first[0], o[0], NE);
            check_bitwise("gelu_backward across threads", first[1], gg[0], NE);
            free(o[0]), free(gg[0]);
        }
        free(o[1]), free(gg[1]);
    }
    omp_set_num_threads(saved);
    free(first[0]), free(first[1]);
    free(x), free(dout), free(out), free(gx), free(dx), free(ddo), free(rout), free(rg);
    return check_summary("test_nn_gelu");
}
