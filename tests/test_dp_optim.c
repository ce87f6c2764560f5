// tests/test_dp_optim.c — the data-parallel optimizer step on one process: gradient
// accumulation is the left fold ((g₀ + g₁) + g₂) of gradients each computed from zero; dp_step
// scales by 1/count and, without clipping, gives the bits of the model's own gpt_adamw_step; its
// norm matches a double reference and clips; ZeRO-1 on one process changes nothing;
// dist_shard_chunks / dist_micro_rows on one process.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "support/check.h"
#include "train/dp_optim.h"

static GPT *tiny(void) {
    GPTConfig c = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 8, .vocab_size = 300};
    GPT *m = gpt_create(&c, 1);
    gpt_init_weights(m, 3);
    return m;
}

static void test_accumulation(void) {
    GPT *m = tiny();
    size_t n = m->n_params;
    float *g[3], *want = malloc(n * sizeof(float));
    for (int k = 0; k < 3; k++) { g[k] = malloc(n * sizeof(float)); fill_uniform(g[k], n, 10 + (unsigned)k, 1.0f); }
    for (size_t i = 0; i < n; i++) want[i] = (g[0][i] + g[1][i]) + g[2][i];
    DpAccum acc = {0};
    gpt_zero_grad(m);
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < n; i++) CHECK(m->grads[i] == 0.0f, "micro %d starts from zero", k);
        memcpy(m->grads, g[k], n * sizeof(float));  // "backward"
        dp_accum_micro(&acc, m, k, 3);
    }
    check_bitwise("accumulated gradients", m->grads, want, n);
    // one micro-batch: untouched, no buffer
    memcpy(m->grads, g[1], n * sizeof(float));
    DpAccum one = {0};
    dp_accum_micro(&one, m, 0, 1);
    check_bitwise("single micro-batch", m->grads, g[1], n);
    CHECK(one.acc == NULL, "no accumulation buffer for one micro-batch");
    dp_accum_free(&acc);
    for (int k = 0; k < 3; k++) free(g[k]);
    free(want);
    gpt_free(m);
}

static void test_step(void) {
    GPT *a = tiny(), *b = tiny();
    size_t n = a->n_params;
    float *g = malloc(n * sizeof(float));
    AdamWConfig oc = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 0};
    for (int s = 0; s < 3; s++) {
        fill_uniform(g, n, 40 + (unsigned)s, 2.0f);
        for (size_t i = 0; i < n; i++) { a->grads[i] = g[i]; b->grads[i] = g[i] * (float)(1.0 / 4.0); }
        float na = dp_step(a, &oc, 4.0);  // scales by 1/4 itself
        gpt_adamw_step(b, &oc);
        double ref = 0;
        for (size_t i = 0; i < n; i++) ref += (double)b->grads[i] * b->grads[i];
        CHECK(fabs(na - sqrt(ref)) <= 1e-5 * sqrt(ref), "norm %g vs %g", na, sqrt(ref));
    }
    check_bitwise("dp_step = gpt_adamw_step without clipping", a->params, b->params, n);
    check_bitwise("moments", a->adam_v, b->adam_v, n);
    // clipping: the update of clipped gradients equals the update of pre-scaled ones
    GPT *c = tiny(), *d = tiny();
    fill_uniform(g, n, 77, 1.0f);
    memcpy(c->grads, g, n * sizeof(float));
    oc.grad_clip = 0.5f;
    float nc = dp_step(c, &oc, 0);
    CHECK(nc > 0.5f, "the test gradient is above the clip (%g)", nc);
    for (size_t i = 0; i < n; i++) d->grads[i] = g[i] * (0.5f / nc);
    oc.grad_clip = 0;
    dp_step(d, &oc, 0);
    double maxd = 0;
    for (size_t i = 0; i < n; i++) maxd = fmax(maxd, fabs((double)c->params[i] - d->params[i]));
    CHECK(maxd < 1e-6, "clipped vs pre-scaled update differ by %g", maxd);
    // ZeRO-1 on one process: the same bits
    GPT *z = tiny(), *p = tiny();
    Err e;
    CHECK(dp_set_zero(1, &e) == 0, "--zero 1 accepted");
    CHECK(dp_set_zero(2, &e) != 0 && strstr(e.msg, "--zero"), "--zero 2 refused: %s", e.msg);
    dp_prepare(z);
    memcpy(z->grads, g, n * sizeof(float));
    dp_step(z, &oc, 2.0);
    dp_gather_state(z);
    dp_set_zero(0, &e);
    memcpy(p->grads, g, n * sizeof(float));
    dp_step(p, &oc, 2.0);
    check_bitwise("ZeRO-1 on one process", z->params, p->params, n);
    free(g);
    gpt_free(a); gpt_free(b); gpt_free(c); gpt_free(d); gpt_free(z); gpt_free(p);
}

static void test_shards(void) {
    size_t s, c;
    dist_shard_chunks(10, 4, &s, &c);
    CHECK(s == 0 && c == 10, "one process takes everything (%zu, %zu)", s, c);
    dist_shard_chunks(0, 4, &s, &c);
    CHECK(c == 0, "nothing to share");
    CHECK(dist_micro_rows(8, 2) == 4 && dist_micro_rows(1, 4) == 1, "micro rows");
    CHECK(!strcmp(dist_backend(), "single"), "no MPI outside mpirun (%s)", dist_backend());
}

int main(void) {
    test_accumulation();
    test_step();
    test_shards();
    return check_summary("test_dp_optim");
}
