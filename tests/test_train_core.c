// tests/test_train_core.c — training from the model API: overfitting one small batch drives the
// loss below 0.05 within 300 steps; the same seed and thread count give bit-identical weights
// (checked at 1, 2 and 3 threads); LR schedules have the documented shape.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/gpt.h"
#include "train/schedule.h"
#include "util/rng.h"
#include "util/sysinfo.h"

// Trains `steps` steps on a fixed ragged batch; returns the last loss.
static double train(GPT *m, int steps, float lr, int B, const int *len, const int *tok, const int *tgt) {
    size_t N = 0;
    for (int b = 0; b < B; b++) N += (size_t)len[b];
    float *logp = malloc(N * sizeof(float)), *dlogp = malloc(N * sizeof(float));
    size_t active = 0;
    for (size_t n = 0; n < N; n++) active += tgt[n] >= 0;
    for (size_t n = 0; n < N; n++) dlogp[n] = tgt[n] >= 0 ? -1.0f / (float)active : 0.0f;
    AdamWConfig oc = {.lr = lr, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.0f, .grad_clip = 1.0f};
    double loss = NAN;
    Err e;
    for (int s = 0; s < steps; s++) {
        gpt_zero_grad(m);
        if (gpt_forward(m, B, len, tok, &e)) { fprintf(stderr, "%s\n", e.msg); break; }
        gpt_lm_logprobs(m, tgt, 1.0f, logp, NULL);
        loss = 0;
        for (size_t n = 0; n < N; n++) loss -= tgt[n] >= 0 ? logp[n] : 0;
        loss /= (double)active;
        gpt_backward(m, tgt, 1.0f, dlogp, NULL, NULL);
        gpt_adamw_step(m, &oc);
    }
    free(logp);
    free(dlogp);
    return loss;
}

static void make_batch(int B, const int *len, int V, int *tok, int *tgt, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed, 3, 4);
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i <= len[b]; i++) {
            int t = (int)rng_below(&r, (uint64_t)V);
            if (i < len[b]) tok[o + i] = t;
            if (i > 0) tgt[o + i - 1] = t;
        }
        o += (size_t)len[b];
    }
}

int main(void) {
    // under valgrind (make valgrind) the slow numeric sections are cut down: memory errors show
    // in any step, and the full checks run in make test
    int vg = getenv("RLHF_VALGRIND") != NULL;
    // 1. overfit one small batch
    if (vg) {
        printf("valgrind: overfitting section skipped\n");
    } else {
        GPTConfig c = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_ctx = 32, .vocab_size = 40};
        GPT *m = gpt_create(&c, 1);
        gpt_init_weights(m, 42);
        int len[3] = {16, 9, 12}, tok[64], tgt[64];
        make_batch(3, len, c.vocab_size, tok, tgt, 1);
        double first = train(m, 1, 3e-3f, 3, len, tok, tgt);
        double last = train(m, 299, 3e-3f, 3, len, tok, tgt);
        CHECK(first > 3.0, "initial loss %.3f should be near ln 40 = 3.69", first);
        CHECK(last < 0.05, "loss after 300 steps is %.4f, expected < 0.05", last);
        gpt_free(m);
    }
    // 2. determinism at 1, 2 and 3 threads (big enough that BLAS uses its threads)
    {
        GPTConfig c = {.n_layer = 2, .n_head = 4, .n_embd = 128, .n_ctx = 64, .vocab_size = 300};
        int len[4] = {64, 50, 64, 33}, tok[256], tgt[256];
        make_batch(4, len, c.vocab_size, tok, tgt, 2);
        int saved = threads_get();
        for (int th = 1; th <= (vg ? 1 : 3); th++) {
            threads_set(th);
            GPT *a = gpt_create(&c, 1), *b = gpt_create(&c, 1);
            gpt_init_weights(a, 7);
            gpt_init_weights(b, 7);
            double la = train(a, 4, 1e-3f, 4, len, tok, tgt);
            double lb = train(b, 4, 1e-3f, 4, len, tok, tgt);
            char what[64];
            snprintf(what, sizeof what, "weights after 4 steps, %d threads", th);
            check_bitwise(what, a->params, b->params, a->n_params);
            snprintf(what, sizeof what, "AdamW moments, %d threads", th);
            check_bitwise(what, a->adam_v, b->adam_v, a->n_params);
            CHECK(la == lb && isfinite(la), "losses differ at %d threads: %.9g vs %.9g", th, la, lb);
            // a different seed must give different weights (the check above can fail)
            GPT *d = gpt_create(&c, 1);
            gpt_init_weights(d, 8);
            train(d, 4, 1e-3f, 4, len, tok, tgt);
            CHECK(memcmp(a->params, d->params, a->n_params * sizeof(float)) != 0, "seed ignored");
            gpt_free(a); gpt_free(b); gpt_free(d);
        }
        threads_set(saved);
    }
    // 3. schedules
    {
        LRSchedule s = {.kind = SCHED_COSINE, .lr = 1.0f, .warmup = 10, .total = 110, .min_lr_frac = 0.1f};
        CHECK(fabsf(sched_lr(&s, 0) - 0.1f) < 1e-6f, "warmup start %g", sched_lr(&s, 0));
        CHECK(fabsf(sched_lr(&s, 9) - 1.0f) < 1e-6f, "warmup end %g", sched_lr(&s, 9));
        CHECK(fabsf(sched_lr(&s, 10) - 1.0f) < 1e-6f, "decay start %g", sched_lr(&s, 10));
        CHECK(fabsf(sched_lr(&s, 109) - 0.1f) < 1e-6f, "cosine end %g", sched_lr(&s, 109));
        CHECK(fabsf(sched_lr(&s, 59) - 0.55f) < 0.01f, "cosine middle %g", sched_lr(&s, 59));
        s.kind = SCHED_LINEAR;
        CHECK(fabsf(sched_lr(&s, 109) - 0.1f) < 1e-6f, "linear end %g", sched_lr(&s, 109));
        CHECK(fabsf(sched_lr(&s, 59) - 0.5545f) < 0.01f, "linear middle %g", sched_lr(&s, 59));
        s.kind = SCHED_CONSTANT;
        CHECK(sched_lr(&s, 100) == 1.0f, "constant %g", sched_lr(&s, 100));
        SchedKind k;
        CHECK(sched_parse("cosine", &k) == 0 && k == SCHED_COSINE, "parse cosine");
        CHECK(sched_parse("exp", &k) != 0, "parse rejects unknown");
    }
    return check_summary("train_core");
}
