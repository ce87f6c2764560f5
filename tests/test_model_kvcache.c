// tests/test_model_kvcache.c — decoding with the KV cache (prefill, then one token per step, rows
// of different lengths) gives the same log-probabilities as a full forward pass.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/nn.h"
#include "tiny.h"

int main(void) {
    GPT *m = tiny_model(0, 0, 9);
    const GPTConfig *c = &m->cfg;
    int V = c->vocab_size;
    enum { B = 3 };
    int total[B] = {12, 5, 20};   // full sequence lengths
    int prefill[B] = {4, 1, 9};   // prompt lengths fed at once
    int tok[64];
    size_t N = tiny_tokens(tok, total, B, V, 17);
    size_t off[B] = {0, 12, 17};
    // reference: full forward, logprob of every next token
    int tgt[64];
    for (int b = 0; b < B; b++)
        for (int i = 0; i < total[b]; i++) tgt[off[b] + i] = i + 1 < total[b] ? tok[off[b] + i + 1] : -1;
    Err e;
    CHECK(gpt_forward(m, B, total, tok, &e) == 0, "%s", e.msg);
    float ref[64];
    gpt_lm_logprobs(m, tgt, 1.0f, ref, NULL);
    (void)N;
    // cached: prefill then decode
    KVCache kv;
    kv_init(&kv, c, B, 24);
    float *logits = malloc((size_t)B * V * sizeof(float));
    int feed[64], nn_[B];
    int pos[B];
    size_t k = 0;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < prefill[b]; i++) feed[k++] = tok[off[b] + i];
        nn_[b] = prefill[b];
        pos[b] = prefill[b];
    }
    CHECK(gpt_forward_cached(m, &kv, B, nn_, feed, logits, &e) == 0, "%s", e.msg);
    double worst = 0;
    int compared = 0, expected = 0;
    for (int b = 0; b < B; b++) expected += total[b] - prefill[b];
    for (int step = 0;; step++) {
        // compare the logprob of each unfinished row's next real token
        int active = 0;
        for (int b = 0; b < B; b++) {
            if (pos[b] >= total[b]) continue;
            const float *z = logits + (size_t)b * V;
            double mx = z[0], s = 0;
            for (int v = 1; v < V; v++) mx = fmax(mx, z[v]);
            for (int v = 0; v < V; v++) s += exp(z[v] - mx);
            double lp = z[tok[off[b] + pos[b]]] - mx - log(s);
            double d = fabs(lp - ref[off[b] + pos[b] - 1]);
            if (d > worst) worst = d;
            compared++;
            active++;
        }
        if (!active) break;
        // one new token per row; finished rows are fed a token whose output is ignored
        for (int b = 0; b < B; b++) {
            nn_[b] = 1;
            feed[b] = pos[b] < total[b] ? tok[off[b] + pos[b]] : 0;
            pos[b]++;
        }
        CHECK(gpt_forward_cached(m, &kv, B, nn_, feed, logits, &e) == 0, "%s", e.msg);
    }
    CHECK(compared == expected, "%d positions compared, expected %d", compared, expected);
    CHECK(worst <= 1e-5, "KV-cache logprob differs from the full forward by %.3g", worst);
    // the cache refuses to overflow
    kv_reset(&kv);
    int big[B] = {25, 1, 1};
    int zeros[32] = {0};
    CHECK(gpt_forward_cached(m, &kv, B, big, zeros, logits, &e) != 0, "cache overflow accepted");
    kv_free(&kv);
    free(logits);
    gpt_free(m);
    return check_summary("model_kvcache");
}
