// tests/test_nn_lmhead.c — the fused LM head: double reference vs finite differences (logp and
// entropy terms, temperature), fp32 kernel vs the reference over several row chunks (inactive
// target<0 rows skipped, vocab not a multiple of anything, dent NULL / dx NULL / dwte NULL),
// plain logits, determinism; the forward and backward in one pass (lmhead_forward_backward)
// against the two calls, bit for bit.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn/nn.h"
#include "support/check.h"
#include "support/ref_nn.h"

typedef struct {
    size_t N, C, V;
    double inv_temp;
    const int *target;
    double *x, *wte, *dlogp, *dent, *logp, *ent;
} Ctx;

static double loss(void *p) {
    Ctx *c = p;
    ref_lmhead_forward(c->logp, c->ent, c->x, c->wte, c->target, c->inv_temp, c->N, c->C, c->V);
    return ref_dot(c->dlogp, c->logp, c->N) + ref_dot(c->dent, c->ent, c->N);
}

static void test_ref_fd(void) {
    enum { N = 9, C = 8, V = 37 };
    static const int target[N] = {3, -1, 0, 36, 12, -100, 5, 5, 20};
    Ctx c = {N, C, V, 1.0 / 0.7, target, ref_zeros(N * C), ref_zeros(V * C), ref_zeros(N),
             ref_zeros(N), ref_zeros(N), ref_zeros(N)};
    fill_uniform_d(c.x, N * C, 1, 1), fill_uniform_d(c.wte, V * C, 2, 1);
    fill_uniform_d(c.dlogp, N, 3, 1), fill_uniform_d(c.dent, N, 4, 1);
    double *gx = ref_zeros(N * C), *gw = ref_zeros(V * C), *fx = ref_zeros(N * C),
           *fw = ref_zeros(V * C);
    ref_lmhead_backward(gx, gw, c.dlogp, c.dent, c.x, c.wte, target, c.inv_temp, N, C, V);
    ref_fd_grad(loss, &c, c.x, N * C, 1e-5, fx);
    ref_fd_grad(loss, &c, c.wte, V * C, 1e-5, fw);
    check_close_d("ref lmhead dx vs fd", gx, fx, N * C, 1e-6, 1e-3);
    check_close_d("ref lmhead dwte vs fd", gw, fw, V * C, 1e-6, 1e-3);
    // sanity of the reference forward: entropy of uniform logits is log V
    double *zx = ref_zeros(C), lp, en;
    int t0 = 0;
    ref_lmhead_forward(&lp, &en, zx, c.wte, &t0, 1.0, 1, C, V);
    CHECK(fabs(en - log((double)V)) < 1e-12 && fabs(lp + log((double)V)) < 1e-12,
          "uniform logits: ent %.6f logp %.6f", en, lp);
    free(zx);
    free(c.x), free(c.wte), free(c.dlogp), free(c.dent), free(c.logp), free(c.ent);
    free(gx), free(gw), free(fx), free(fw);
}

static void test_kernel(size_t N, size_t C, size_t V, float inv_temp, unsigned long long seed) {
    int *target = malloc(N * sizeof(int));
    for (size_t n = 0; n < N; n++)
        target[n] = n % 3 == 1 ? -1 : n % 7 == 4 ? -100 : (int)((n * 131 + seed) % V);
    float *x = ref_rand_f(N * C, seed, 1.5f), *wte = ref_rand_f(V * C, seed + 1, 1.5f);
    float *dlogp = ref_rand_f(N, seed + 2, 1), *dent = ref_rand_f(N, seed + 3, 1);
    float *logp = ref_rand_f(N, seed + 4, 9), *ent = ref_rand_f(N, seed + 5, 9);
    float *scratch = malloc(lmhead_scratch_floats(C, V) * sizeof(float));
    double *dx_ = ref_to_double(x, N * C), *dw_ = ref_to_double(wte, V * C);
    double *ddl = ref_to_double(dlogp, N), *dde = ref_to_double(dent, N);
    double *rlogp = ref_zeros(N), *rent = ref_zeros(N);

    int kept = lmhead_forward(logp, ent, x, wte, target, inv_temp, N, C, V, scratch);
    size_t active = 0;
    for (size_t n = 0; n < N; n++) active += target[n] >= 0;
    CHECK(kept == (active > 0 && active <= lmhead_chunk_rows()), "forward with %zu active rows: kept %d", active, kept);
    ref_lmhead_forward(rlogp, rent, dx_, dw_, target, inv_temp, N, C, V);
    check_close_f("lmhead_forward logp", logp, rlogp, N, 1e-3, 1e-3);
    check_close_f("lmhead_forward ent", ent, rent, N, 1e-3, 1e-3);
    int zeros = 1;
    for (size_t n = 0; n < N; n++)
        if (target[n] < 0) zeros &= logp[n] == 0.0f && ent[n] == 0.0f;
    CHECK(zeros, "inactive positions must get logp = ent = 0");
    float *logp2 = ref_rand_f(N, seed + 6, 9);
    lmhead_forward(logp2, NULL, x, wte, target, inv_temp, N, C, V, scratch);
    check_bitwise("lmhead_forward without ent", logp2, logp, N);

    // backward with entropy gradient, accumulating into non-zero buffers
    float *gx = ref_rand_f(N * C, seed + 7, 1), *gw = ref_rand_f(V * C, seed + 8, 1);
    double *rgx = ref_to_double(gx, N * C), *rgw = ref_to_double(gw, V * C);
    lmhead_backward(gx, gw, dlogp, dent, x, wte, target, inv_temp, N, C, V, scratch, 0);
    ref_lmhead_backward(rgx, rgw, ddl, dde, dx_, dw_, target, inv_temp, N, C, V);
    check_close_f("lmhead_backward dx", gx, rgx, N * C, 1e-3, 1e-3);
    check_close_f("lmhead_backward dwte", gw, rgw, V * C, 1e-3, 1e-3);
    // reusing the logits the forward kept gives the same bits as recomputing them
    if (kept) {
        float *kx = ref_rand_f(N * C, seed + 7, 1), *kw = ref_rand_f(V * C, seed + 8, 1);
        float *fx = ref_rand_f(N * C, seed + 7, 1), *fw = ref_rand_f(V * C, seed + 8, 1);
        lmhead_forward(logp2, ent, x, wte, target, inv_temp, N, C, V, scratch);
        lmhead_backward(kx, kw, dlogp, dent, x, wte, target, inv_temp, N, C, V, scratch, 1);
        lmhead_backward(fx, fw, dlogp, dent, x, wte, target, inv_temp, N, C, V, scratch, 0);
        check_bitwise("lmhead_backward dx, kept logits vs recomputed", kx, fx, N * C);
        check_bitwise("lmhead_backward dwte, kept logits vs recomputed", kw, fw, V * C);
        free(kx), free(kw), free(fx), free(fw);
    }
    // without dent; dx only; dwte only
    lmhead_backward(gx, NULL, dlogp, NULL, x, wte, target, inv_temp, N, C, V, scratch, 0);
    ref_lmhead_backward(rgx, NULL, ddl, NULL, dx_, dw_, target, inv_temp, N, C, V);
    check_close_f("lmhead_backward dx (no dent)", gx, rgx, N * C, 1e-3, 1e-3);
    lmhead_backward(NULL, gw, dlogp, dent, x, wte, target, inv_temp, N, C, V, scratch, 0);
    ref_lmhead_backward(NULL, rgw, ddl, dde, dx_, dw_, target, inv_temp, N, C, V);
    check_close_f("lmhead_backward dwte only", gw, rgw, V * C, 1e-3, 1e-3);
    // the entropy gradient alone (dlogp = 0) is non-trivial and matches too
    float *zero = calloc(N, 4), *ge = calloc(N * C, 4);
    double *rzero = ref_zeros(N), *rge = ref_zeros(N * C);
    lmhead_backward(ge, NULL, zero, dent, x, wte, target, inv_temp, N, C, V, scratch, 0);
    ref_lmhead_backward(rge, NULL, rzero, dde, dx_, dw_, target, inv_temp, N, C, V);
    check_close_f("lmhead_backward dx (dent only)", ge, rge, N * C, 1e-3, 1e-3);
    int inactive_zero = 1;
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++)
            if (target[n] < 0) inactive_zero &= ge[n * C + c] == 0.0f;
    CHECK(inactive_zero, "inactive positions must get no dx");

    // plain logits
    float *logits = ref_rand_f(N * V, seed + 9, 9);
    double *rl = ref_zeros(N * V);
    lmhead_logits(logits, x, wte, N, C, V);
    for (size_t n = 0; n < N; n++)
        for (size_t v = 0; v < V; v++) rl[n * V + v] = ref_dot(dx_ + n * C, dw_ + v * C, C);
    check_close_f("lmhead_logits", logits, rl, N * V, 1e-3, 1e-3);

    free(target), free(x), free(wte), free(dlogp), free(dent), free(logp), free(ent);
    free(scratch), free(dx_), free(dw_), free(ddl), free(dde), free(rlogp), free(rent);
    free(logp2), free(gx), free(gw), free(rgx), free(rgw), free(zero), free(ge), free(rzero);
    free(rge), free(logits), free(rl);
}

// lmhead_forward_backward against lmhead_forward then lmhead_backward (with the logits the forward
// kept, as gpt_backward passes them): logp, ent, dx and dwte bit for bit, accumulating into
// non-zero buffers, with and without dent, and with dx or dwte alone.
static void test_fused(size_t N, size_t C, size_t V, float inv_temp, unsigned long long seed) {
    int *target = malloc(N * sizeof(int));
    for (size_t n = 0; n < N; n++)
        target[n] = n % 5 == 2 ? -1 : (int)((n * 97 + seed) % V);
    float *x = ref_rand_f(N * C, seed, 1.5f), *wte = ref_rand_f(V * C, seed + 1, 1.5f);
    float *dlogp = ref_rand_f(N, seed + 2, 1), *dent = ref_rand_f(N, seed + 3, 1);
    float *scratch = malloc(lmhead_scratch_floats(C, V) * sizeof(float));
    for (int form = 0; form < 4; form++) {  // dent; no dent; dx alone; dwte alone
        const float *de = form == 1 ? NULL : dent;
        int with_dx = form != 3, with_dw = form != 2;
        float *lp1 = ref_rand_f(N, seed + 4, 9), *en1 = ref_rand_f(N, seed + 5, 9);
        float *lp2 = ref_rand_f(N, seed + 4, 9), *en2 = ref_rand_f(N, seed + 5, 9);
        float *gx1 = ref_rand_f(N * C, seed + 6, 1), *gw1 = ref_rand_f(V * C, seed + 7, 1);
        float *gx2 = ref_rand_f(N * C, seed + 6, 1), *gw2 = ref_rand_f(V * C, seed + 7, 1);
        int kept = lmhead_forward(lp1, en1, x, wte, target, inv_temp, N, C, V, scratch);
        lmhead_backward(with_dx ? gx1 : NULL, with_dw ? gw1 : NULL, dlogp, de, x, wte, target,
                        inv_temp, N, C, V, scratch, kept);
        lmhead_forward_backward(lp2, en2, with_dx ? gx2 : NULL, with_dw ? gw2 : NULL, dlogp, de, x,
                                wte, target, inv_temp, N, C, V, scratch);
        char what[96];
        snprintf(what, sizeof what, "fused head (N %zu, form %d): logp", N, form);
        check_bitwise(what, lp2, lp1, N);
        snprintf(what, sizeof what, "fused head (N %zu, form %d): ent", N, form);
        check_bitwise(what, en2, en1, N);
        snprintf(what, sizeof what, "fused head (N %zu, form %d): dx", N, form);
        check_bitwise(what, gx2, gx1, N * C);
        snprintf(what, sizeof what, "fused head (N %zu, form %d): dwte", N, form);
        check_bitwise(what, gw2, gw1, V * C);
        free(lp1), free(en1), free(lp2), free(en2), free(gx1), free(gw1), free(gx2), free(gw2);
    }
    free(target), free(x), free(wte), free(dlogp), free(dent), free(scratch);
}

static void test_determinism(void) {
    size_t N = 150, C = 16, V = 300;
    int *target = malloc(N * sizeof(int));
    for (size_t n = 0; n < N; n++) target[n] = n % 4 == 0 ? -1 : (int)(n * 37 % V);
    float *x = ref_rand_f(N * C, 51, 1.5f), *wte = ref_rand_f(V * C, 52, 1.5f);
    float *dlogp = ref_rand_f(N, 53, 1), *dent = ref_rand_f(N, 54, 1);
    float *scratch = malloc(lmhead_scratch_floats(C, V) * sizeof(float));
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        float *res[2][4];
        for (int r = 0; r < 2; r++) {
            float *lp = calloc(N, 4), *en = calloc(N, 4), *gx = calloc(N * C, 4),
                  *gw = calloc(V * C, 4);
            lmhead_forward(lp, en, x, wte, target, 1.3f, N, C, V, scratch);
            lmhead_backward(gx, gw, dlogp, dent, x, wte, target, 1.3f, N, C, V, scratch, 0);
            res[r][0] = lp, res[r][1] = en, res[r][2] = gx, res[r][3] = gw;
        }
        size_t sz[4] = {N, N, N * C, V * C};
        const char *nm[4] = {"lmhead logp", "lmhead ent", "lmhead dx", "lmhead dwte"};
        for (int k = 0; k < 4; k++) {
            check_bitwise(nm[k], res[0][k], res[1][k], sz[k]);
            free(res[0][k]), free(res[1][k]);
        }
    }
    omp_set_num_threads(saved);
    free(target), free(x), free(wte), free(dlogp), free(dent), free(scratch);
}

int main(void) {
    test_ref_fd();
    test_kernel(150, 16, 300, 1.0f / 0.7f, 7);  // ~90 active rows: one chunk, kept for the backward
    test_kernel(700, 8, 120, 1.0f / 0.7f, 5);   // ~400 active rows: two chunks, the last partial
    test_kernel(40, 32, 257, 1.0f, 11);
    test_kernel(1, 8, 5, 2.0f, 13);
    test_fused(150, 16, 300, 1.0f / 0.7f, 17);  // one chunk
    test_fused(700, 8, 120, 1.3f, 19);          // three chunks, the last partial
    test_determinism();
    return check_summary("test_nn_lmhead");
}
