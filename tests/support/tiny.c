// tests/support/tiny.c — tiny models and batches (see tiny.h).
#include "tiny.h"

#include <math.h>

#include "util/rng.h"

GPTConfig tiny_config(int score_head) {
    GPTConfig c = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 32, .vocab_size = 40,
                   .score_head = score_head};
    return c;
}

GPT *tiny_model(int trainable, int score_head, unsigned long long seed) {
    GPTConfig c = tiny_config(score_head);
    GPT *m = gpt_create(&c, trainable);
    gpt_init_weights(m, seed);
    // larger-than-GPT-2 weights so the tiny model's outputs depend visibly on every input, and
    // LayerNorm gains / biases moved off 1 and 0 so that no two tensors hold the same values
    // (a backward that used one LayerNorm's parameters for another's would pass otherwise)
    Rng r;
    rng_seed(&r, seed, 0x746e79 /* "tny" */, 0);
    for (size_t i = 0; i < m->n_params; i++) {
        float v = m->params[i], u = (float)rng_uniform(&r) - 0.5f;
        m->params[i] = v == 1.0f ? 1.0f + 0.6f * u : v == 0.0f ? 0.4f * u : v * 10.0f;
    }
    return m;
}

size_t tiny_tokens(int *tok, const int *len, int B, int V, unsigned long long seed) {
    Rng r;
    rng_seed(&r, seed, 1, 2);
    size_t n = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < len[b]; i++) tok[n++] = (int)rng_below(&r, (uint64_t)V);
    return n;
}

double tiny_max_rel(const float *a, const float *b, size_t n) {
    double worst = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return worst / scale;
}

double tiny_max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i]));
    return m;
}
