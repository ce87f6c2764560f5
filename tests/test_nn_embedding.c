// tests/test_nn_embedding.c — token + position embedding: double reference vs finite
// differences, fp32 kernel vs the reference (repeated tokens, accumulation, NULL gradients),
// determinism across thread counts.
#include <omp.h>
#include <stdlib.h>

#include "nn/nn.h"
#include "support/check.h"
#include "support/ref_nn.h"

enum { N = 37, C = 40, V = 50, P = 20 };

static int tok[N], pos[N];

typedef struct {
    double *wte, *wpe, *dout, *out;
} Ctx;

static double loss(void *p) {
    Ctx *c = p;
    ref_embedding_forward(c->out, tok, pos, c->wte, c->wpe, N, C);
    return ref_dot(c->dout, c->out, N * C);
}

int main(void) {
    for (int n = 0; n < N; n++) tok[n] = (n * 7 + 3) % 11 * 4 % V, pos[n] = n % P;  // repeats
    Ctx c = {ref_zeros(V * C), ref_zeros(P * C), ref_zeros(N * C), ref_zeros(N * C)};
    fill_uniform_d(c.wte, V * C, 1, 1), fill_uniform_d(c.wpe, P * C, 2, 1);
    fill_uniform_d(c.dout, N * C, 3, 1);
    double *gt = ref_zeros(V * C), *gp = ref_zeros(P * C), *ft = ref_zeros(V * C),
           *fp = ref_zeros(P * C);
    ref_embedding_backward(gt, gp, c.dout, tok, pos, N, C);
    ref_fd_grad(loss, &c, c.wte, V * C, 1e-5, ft);
    ref_fd_grad(loss, &c, c.wpe, P * C, 1e-5, fp);
    check_close_d("ref dwte vs fd", gt, ft, V * C, 1e-6, 1e-3);
    check_close_d("ref dwpe vs fd", gp, fp, P * C, 1e-6, 1e-3);

    float *wte = ref_rand_f(V * C, 11, 1), *wpe = ref_rand_f(P * C, 12, 1);
    float *dout = ref_rand_f(N * C, 13, 1), *out = ref_rand_f(N * C, 14, 9);
    double *dwte_ = ref_to_double(wte, V * C), *dwpe_ = ref_to_double(wpe, P * C);
    double *ddo = ref_to_double(dout, N * C), *rout = ref_zeros(N * C);
    embedding_forward(out, tok, pos, wte, wpe, N, C);
    ref_embedding_forward(rout, tok, pos, dwte_, dwpe_, N, C);
    check_close_f("embedding_forward", out, rout, N * C, 1e-3, 1e-3);
    float *gte = ref_rand_f(V * C, 21, 1), *gpe = ref_rand_f(P * C, 22, 1);
    double *rgte = ref_to_double(gte, V * C), *rgpe = ref_to_double(gpe, P * C);
    embedding_backward(gte, gpe, dout, tok, pos, N, C);
    ref_embedding_backward(rgte, rgpe, ddo, tok, pos, N, C);
    check_close_f("embedding_backward dwte", gte, rgte, V * C, 1e-3, 1e-3);
    check_close_f("embedding_backward dwpe", gpe, rgpe, P * C, 1e-3, 1e-3);
    embedding_backward(gte, NULL, dout, tok, pos, N, C);
    ref_embedding_backward(rgte, NULL, ddo, tok, pos, N, C);
    check_close_f("embedding_backward dwte only", gte, rgte, V * C, 1e-3, 1e-3);
    check_close_f("embedding_backward dwpe untouched", gpe, rgpe, P * C, 1e-3, 1e-3);

    float *first = NULL;
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        float *g[2];
        for (int r = 0; r < 2; r++) {
            g[r] = calloc(V * C, 4);
            embedding_backward(g[r], NULL, dout, tok, pos, N, C);
        }
        check_bitwise("embedding_backward repeat", g[0], g[1], V * C);
        if (!first) first = g[0];
        else check_bitwise("embedding_backward across threads", first, g[0], V * C), free(g[0]);
        free(g[1]);
    }
    omp_set_num_threads(saved);
    free(first);
    free(c.wte), free(c.wpe), free(c.dout), free(c.out), free(gt), free(gp), free(ft), free(fp);
    free(wte), free(wpe), free(dout), free(out), free(dwte_), free(dwpe_), free(ddo), free(rout);
    free(gte), free(gpe), free(rgte), free(rgpe);
    return check_summary("test_nn_embedding");
}
