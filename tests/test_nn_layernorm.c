// tests/test_nn_layernorm.c — layernorm forward/backward: double reference vs finite
// differences, fp32 kernel vs the reference (incl. saved mean/rstd), accumulation, determinism.
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "nn/nn.h"
#include "support/check.h"
#include "support/ref_nn.h"

enum { N = 7, C = 32 };

typedef struct {
    double *inp, *w, *b, *dout, *out;
} Ctx;

static double loss(void *p) {
    Ctx *c = p;
    ref_layernorm_forward(c->out, c->inp, c->w, c->b, N, C);
    return ref_dot(c->dout, c->out, N * C);
}

static void test_ref_fd(void) {
    Ctx c = {ref_zeros(N * C), ref_zeros(C), ref_zeros(C), ref_zeros(N * C), ref_zeros(N * C)};
    fill_uniform_d(c.inp, N * C, 1, 2), fill_uniform_d(c.w, C, 2, 1);
    fill_uniform_d(c.b, C, 3, 1), fill_uniform_d(c.dout, N * C, 4, 1);
    double *gi = ref_zeros(N * C), *gw = ref_zeros(C), *gb = ref_zeros(C);
    double *fi = ref_zeros(N * C), *fw = ref_zeros(C), *fb = ref_zeros(C);
    ref_layernorm_backward(gi, gw, gb, c.dout, c.inp, c.w, N, C);
    ref_fd_grad(loss, &c, c.inp, N * C, 1e-5, fi);
    ref_fd_grad(loss, &c, c.w, C, 1e-5, fw);
    ref_fd_grad(loss, &c, c.b, C, 1e-5, fb);
    check_close_d("ref dinp vs fd", gi, fi, N * C, 1e-6, 1e-3);
    check_close_d("ref dw vs fd", gw, fw, C, 1e-6, 1e-3);
    check_close_d("ref db vs fd", gb, fb, C, 1e-6, 1e-3);
    free(c.inp), free(c.w), free(c.b), free(c.dout), free(c.out);
    free(gi), free(gw), free(gb), free(fi), free(fw), free(fb);
}

static void test_kernel(size_t n, size_t cc, float shift) {
    float *inp = ref_rand_f(n * cc, 11, 2), *w = ref_rand_f(cc, 12, 1), *b = ref_rand_f(cc, 13, 1);
    for (size_t i = 0; i < n * cc; i++) inp[i] += shift;  // a large common offset per row
    float *dout = ref_rand_f(n * cc, 14, 1), *out = ref_rand_f(n * cc, 15, 9);
    float *mean = ref_rand_f(n, 16, 9), *rstd = ref_rand_f(n, 17, 9);
    double *di = ref_to_double(inp, n * cc), *dw_ = ref_to_double(w, cc);
    double *db_ = ref_to_double(b, cc), *ddo = ref_to_double(dout, n * cc);
    double *rout = ref_zeros(n * cc), *rmean = ref_zeros(n), *rrstd = ref_zeros(n);
    for (size_t r = 0; r < n; r++) {
        double m = 0, v = 0;
        for (size_t c = 0; c < cc; c++) m += di[r * cc + c];
        m /= (double)cc;
        for (size_t c = 0; c < cc; c++) v += (di[r * cc + c] - m) * (di[r * cc + c] - m);
        rmean[r] = m, rrstd[r] = 1 / sqrt(v / (double)cc + 1e-5);
    }
    layernorm_forward(out, mean, rstd, inp, w, b, n, cc);
    ref_layernorm_forward(rout, di, dw_, db_, n, cc);
    check_close_f("layernorm_forward", out, rout, n * cc, 1e-3, 1e-3);
    check_close_f("layernorm mean", mean, rmean, n, 1e-3, 1e-3);
    check_close_f("layernorm rstd", rstd, rrstd, n, 1e-3, 1e-3);
    float *out2 = ref_rand_f(n * cc, 18, 9);
    layernorm_forward(out2, NULL, NULL, inp, w, b, n, cc);  // inference: no saved stats
    check_bitwise("layernorm_forward without mean/rstd", out2, out, n * cc);

    float *gi = ref_rand_f(n * cc, 21, 1), *gw = ref_rand_f(cc, 22, 1), *gb = ref_rand_f(cc, 23, 1);
    double *rgi = ref_to_double(gi, n * cc), *rgw = ref_to_double(gw, cc);
    double *rgb = ref_to_double(gb, cc);
    layernorm_backward(gi, gw, gb, dout, inp, w, mean, rstd, n, cc);
    ref_layernorm_backward(rgi, rgw, rgb, ddo, di, dw_, n, cc);
    check_close_f("layernorm_backward dinp", gi, rgi, n * cc, 1e-3, 1e-3);
    check_close_f("layernorm_backward dw", gw, rgw, cc, 1e-3, 1e-3);
    check_close_f("layernorm_backward db", gb, rgb, cc, 1e-3, 1e-3);
    layernorm_backward(NULL, gw, NULL, dout, inp, w, mean, rstd, n, cc);
    ref_layernorm_backward(NULL, rgw, NULL, ddo, di, dw_, n, cc);
    check_close_f("layernorm_backward dw only", gw, rgw, cc, 1e-3, 1e-3);
    layernorm_backward(gi, NULL, gb, dout, inp, w, mean, rstd, n, cc);
    ref_layernorm_backward(rgi, NULL, rgb, ddo, di, dw_, n, cc);
    check_close_f("layernorm_backward dinp 2", gi, rgi, n * cc, 1e-3, 1e-3);
    check_close_f("layernorm_backward db 2", gb, rgb, cc, 1e-3, 1e-3);

    free(inp), free(w), free(b), free(dout), free(out), free(out2), free(mean), free(rstd);
    free(di), free(dw_), free(db_), free(ddo), free(rout), free(rmean), free(rrstd);
    free(gi), free(gw), free(gb), free(rgi), free(rgw), free(rgb);
}

static void test_determinism(void) {
    size_t n = 29, cc = 96;
    float *inp = ref_rand_f(n * cc, 31, 2), *w = ref_rand_f(cc, 32, 1), *b = ref_rand_f(cc, 33, 1);
    float *dout = ref_rand_f(n * cc, 34, 1), *first[4] = {0};
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        float *res[2][4];
        for (int r = 0; r < 2; r++) {
            float *o = calloc(n * cc, 4), *m = calloc(n, 4), *s = calloc(n, 4);
            float *gi = calloc(n * cc, 4), *gw = calloc(cc, 4), *gb = calloc(cc, 4);
            layernorm_forward(o, m, s, inp, w, b, n, cc);
            layernorm_backward(gi, gw, gb, dout, inp, w, m, s, n, cc);
            res[r][0] = o, res[r][1] = gi, res[r][2] = gw, res[r][3] = gb;
            free(m), free(s);
        }
        size_t sz[4] = {n * cc, n * cc, cc, cc};
        const char *nm[4] = {"out", "dinp", "dw", "db"};
        for (int k = 0; k < 4; k++) {
            check_bitwise(nm[k], res[0][k], res[1][k], sz[k]);
            if (!first[k]) first[k] = ref_copy_f(res[0][k], sz[k]);
            else check_bitwise(nm[k], first[k], res[0][k], sz[k]);  // thread-count independent
            free(res[0][k]), free(res[1][k]);
        }
    }
    omp_set_num_threads(saved);
    for (int k = 0; k < 4; k++) free(first[k]);
    free(inp), free(w), free(b), free(dout);
}

int main(void) {
    test_ref_fd();
    test_kernel(N, C, 0);
    test_kernel(1, 5, 0);
    test_kernel(33, 96, 50);
    test_determinism();
    return check_summary("test_nn_layernorm");
}
