// tests/test_nn_matmul.c — matmul forward/backward: double reference vs finite differences,
// fp32 kernel vs the double reference, accumulation, NULL gradients, determinism.
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "support/check.h"
#include "support/ref_nn.h"

enum { N = 13, C = 24, OC = 20 };

typedef struct {
    double *inp, *w, *bias, *dout, *out;
} Ctx;

static double loss(void *p) {
    Ctx *c = p;
    ref_matmul_forward(c->out, c->inp, c->w, c->bias, N, C, OC);
    return ref_dot(c->dout, c->out, (size_t)N * OC);
}

static void test_ref_fd(void) {
    Ctx c;
    c.inp = ref_zeros(N * C), c.w = ref_zeros(C * OC), c.bias = ref_zeros(OC);
    c.dout = ref_zeros(N * OC), c.out = ref_zeros(N * OC);
    fill_uniform_d(c.inp, N * C, 1, 1), fill_uniform_d(c.w, C * OC, 2, 0.5);
    fill_uniform_d(c.bias, OC, 3, 0.5), fill_uniform_d(c.dout, N * OC, 4, 1);
    double *gi = ref_zeros(N * C), *gw = ref_zeros(C * OC), *gb = ref_zeros(OC);
    double *fi = ref_zeros(N * C), *fw = ref_zeros(C * OC), *fb = ref_zeros(OC);
    ref_matmul_backward(gi, gw, gb, c.dout, c.inp, c.w, N, C, OC);
    ref_fd_grad(loss, &c, c.inp, N * C, 1e-5, fi);
    ref_fd_grad(loss, &c, c.w, C * OC, 1e-5, fw);
    ref_fd_grad(loss, &c, c.bias, OC, 1e-5, fb);
    check_close_d("ref dinp vs fd", gi, fi, N * C, 1e-6, 1e-3);
    check_close_d("ref dw vs fd", gw, fw, C * OC, 1e-6, 1e-3);
    check_close_d("ref dbias vs fd", gb, fb, OC, 1e-6, 1e-3);
    free(c.inp), free(c.w), free(c.bias), free(c.dout), free(c.out);
    free(gi), free(gw), free(gb), free(fi), free(fw), free(fb);
}

static void test_kernel(size_t n, size_t cc, size_t oc) {
    float *inp = ref_rand_f(n * cc, 11, 1), *w = ref_rand_f(cc * oc, 12, 0.5f);
    float *bias = ref_rand_f(oc, 13, 0.5f), *dout = ref_rand_f(n * oc, 14, 1);
    float *out = ref_rand_f(n * oc, 15, 9);  // garbage: forward overwrites
    double *di = ref_to_double(inp, n * cc), *dw_ = ref_to_double(w, cc * oc);
    double *db_ = ref_to_double(bias, oc), *ddo = ref_to_double(dout, n * oc);
    double *rout = ref_zeros(n * oc);

    matmul_forward(out, inp, w, bias, n, cc, oc);
    ref_matmul_forward(rout, di, dw_, db_, n, cc, oc);
    check_close_f("matmul_forward", out, rout, n * oc, 1e-3, 1e-3);
    matmul_forward(out, inp, w, NULL, n, cc, oc);
    ref_matmul_forward(rout, di, dw_, NULL, n, cc, oc);
    check_close_f("matmul_forward no bias", out, rout, n * oc, 1e-3, 1e-3);

    // backward accumulates into non-zero buffers
    float *gi = ref_rand_f(n * cc, 21, 1), *gw = ref_rand_f(cc * oc, 22, 1);
    float *gb = ref_rand_f(oc, 23, 1);
    double *rgi = ref_to_double(gi, n * cc), *rgw = ref_to_double(gw, cc * oc);
    double *rgb = ref_to_double(gb, oc);
    matmul_backward(gi, gw, gb, dout, inp, w, n, cc, oc);
    ref_matmul_backward(rgi, rgw, rgb, ddo, di, dw_, n, cc, oc);
    check_close_f("matmul_backward dinp", gi, rgi, n * cc, 1e-3, 1e-3);
    check_close_f("matmul_backward dw", gw, rgw, cc * oc, 1e-3, 1e-3);
    check_close_f("matmul_backward dbias", gb, rgb, oc, 1e-3, 1e-3);

    // the overwriting form: garbage in dinp is ignored (the bits of accumulating into zeros);
    // dw and dbias still accumulate
    {
        float *si = ref_rand_f(n * cc, 24, 9), *zi = calloc(n * cc, sizeof(float));
        float *sw = ref_copy_f(gw, cc * oc), *sb = ref_copy_f(gb, oc);
        double *rsi = ref_zeros(n * cc), *rsw = ref_to_double(gw, cc * oc), *rsb = ref_to_double(gb, oc);
        matmul_backward_set(si, sw, sb, dout, inp, w, n, cc, oc);
        ref_matmul_backward(rsi, rsw, rsb, ddo, di, dw_, n, cc, oc);
        check_close_f("matmul_backward_set dinp", si, rsi, n * cc, 1e-3, 1e-3);
        check_close_f("matmul_backward_set dw", sw, rsw, cc * oc, 1e-3, 1e-3);
        check_close_f("matmul_backward_set dbias", sb, rsb, oc, 1e-3, 1e-3);
        matmul_backward(zi, NULL, NULL, dout, inp, w, n, cc, oc);
        check_bitwise("matmul_backward_set = accumulating into zeros", si, zi, n * cc);
        free(si), free(zi), free(sw), free(sb), free(rsi), free(rsw), free(rsb);
    }

    // NULL gradients are skipped; the others still accumulate
    matmul_backward(NULL, gw, NULL, dout, inp, w, n, cc, oc);
    ref_matmul_backward(NULL, rgw, NULL, ddo, di, dw_, n, cc, oc);
    check_close_f("matmul_backward dw only", gw, rgw, cc * oc, 1e-3, 1e-3);
    matmul_backward(gi, NULL, gb, dout, inp, w, n, cc, oc);
    ref_matmul_backward(rgi, NULL, rgb, ddo, di, dw_, n, cc, oc);
    check_close_f("matmul_backward dinp+dbias", gi, rgi, n * cc, 1e-3, 1e-3);
    check_close_f("matmul_backward dbias 2", gb, rgb, oc, 1e-3, 1e-3);

    free(inp), free(w), free(bias), free(dout), free(out), free(di), free(dw_), free(db_);
    free(ddo), free(rout), free(gi), free(gw), free(gb), free(rgi), free(rgw), free(rgb);
}

static void test_determinism(void) {
    size_t n = 37, cc = 32, oc = 96;  // dbias spans two column blocks
    float *inp = ref_rand_f(n * cc, 31, 1), *w = ref_rand_f(cc * oc, 32, 0.5f);
    float *bias = ref_rand_f(oc, 33, 0.5f), *dout = ref_rand_f(n * oc, 34, 1);
    float *o[2], *gi[2], *gw[2], *gb[2], *gb1 = NULL;
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        for (int r = 0; r < 2; r++) {
            o[r] = calloc(n * oc, sizeof(float)), gi[r] = calloc(n * cc, sizeof(float));
            gw[r] = calloc(cc * oc, sizeof(float)), gb[r] = calloc(oc, sizeof(float));
            matmul_forward(o[r], inp, w, bias, n, cc, oc);
            matmul_backward(gi[r], gw[r], gb[r], dout, inp, w, n, cc, oc);
        }
        check_bitwise("matmul_forward repeat", o[0], o[1], n * oc);
        check_bitwise("matmul_backward dinp repeat", gi[0], gi[1], n * cc);
        check_bitwise("matmul_backward dw repeat", gw[0], gw[1], cc * oc);
        check_bitwise("matmul_backward dbias repeat", gb[0], gb[1], oc);
        if (!gb1) gb1 = ref_copy_f(gb[0], oc);
        else check_bitwise("matmul_backward dbias across thread counts", gb1, gb[0], oc);
        for (int r = 0; r < 2; r++) free(o[r]), free(gi[r]), free(gw[r]), free(gb[r]);
    }
    omp_set_num_threads(saved);
    free(inp), free(w), free(bias), free(dout), free(gb1);
}

int main(void) {
    test_ref_fd();
    test_kernel(N, C, OC);
    test_kernel(1, 7, 3);
    test_kernel(40, 32, 130);
    test_determinism();
    return check_summary("test_nn_matmul");
}
