// tests/test_model_ragged.c — a packed ragged batch gives, per row, the same log-probabilities,
// entropies, values and parameter gradients as running each row alone; gpt_forward_stored knows
// which rows the stored forward is of.
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tiny.h"

int main(void) {
    int len[4] = {7, 1, 20, 12};
    int B = 4;
    int tok[64], tgt[64];
    size_t N = tiny_tokens(tok, len, B, 40, 5);
    // targets: next token inside the row, -1 at each row's last position
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < len[b]; i++) tgt[o + i] = i + 1 < len[b] ? tok[o + i + 1] : -1;
        o += len[b];
    }
    GPT *m = tiny_model(1, 1, 3);
    Err e;
    float logp[64], ent[64], val[64], dlogp[64], dval[64];
    for (size_t n = 0; n < N; n++) { dlogp[n] = 0.1f * (float)(n % 3) - 0.1f; dval[n] = 0.05f * (float)(n % 4); }
    CHECK(gpt_forward(m, B, len, tok, &e) == 0, "%s", e.msg);
    gpt_lm_logprobs(m, tgt, 1.0f / 0.7f, logp, ent);
    gpt_values(m, val);
    // gradients of the whole batch = Σ of per-row gradients
    gpt_zero_grad(m);
    gpt_backward(m, tgt, 1.0f / 0.7f, dlogp, ent, dval);
    float *g_batch = malloc(m->n_params * sizeof(float));
    memcpy(g_batch, m->grads, m->n_params * sizeof(float));
    gpt_zero_grad(m);
    o = 0;
    float lp1[64], en1[64], v1[64];
    for (int b = 0; b < B; b++) {
        CHECK(gpt_forward(m, 1, &len[b], tok + o, &e) == 0, "%s", e.msg);
        gpt_lm_logprobs(m, tgt + o, 1.0f / 0.7f, lp1, en1);
        gpt_values(m, v1);
        double r1 = tiny_max_rel(lp1, logp + o, (size_t)len[b]), r2 = tiny_max_rel(en1, ent + o, (size_t)len[b]);
        double r3 = tiny_max_rel(v1, val + o, (size_t)len[b]);
        CHECK(r1 <= 1e-6 && r2 <= 1e-6 && r3 <= 1e-6, "row %d: rel diff logp %.3g ent %.3g val %.3g", b, r1, r2, r3);
        gpt_backward(m, tgt + o, 1.0f / 0.7f, dlogp + o, ent + o, dval + o);
        o += len[b];
    }
    // the sum of per-row gradients equals the batch gradient up to summation order
    double gmax = tiny_max_abs(g_batch, m->n_params), rel = tiny_max_rel(m->grads, g_batch, m->n_params);
    CHECK(gmax > 0, "gradients are all zero");
    CHECK(rel <= 1e-5, "ragged batch gradient differs from per-row sum: %.3g of the largest (%.3g)", rel, gmax);
    // a pad-free batch: changing another row's tokens never changes this row's outputs
    int tok2[64];
    memcpy(tok2, tok, sizeof tok);
    for (int i = 0; i < len[0]; i++) tok2[i] = (tok2[i] + 7) % 40;
    CHECK(gpt_forward(m, B, len, tok2, &e) == 0, "%s", e.msg);
    float logp2[64];
    gpt_lm_logprobs(m, tgt, 1.0f / 0.7f, logp2, NULL);
    CHECK(memcmp(logp2 + len[0], logp + len[0], (N - (size_t)len[0]) * sizeof(float)) == 0,
          "rows 1.. changed when row 0's tokens changed");
    // gpt_forward_stored: the stored forward is tok2's batch; any other rows, a failed forward
    // (the stored one stays) or an optimizer step (weights changed) says no
    CHECK(gpt_forward_stored(m, B, len, tok2, NULL, NULL, NULL), "the last forward's rows are not recognised");
    CHECK(!gpt_forward_stored(m, B, len, tok, NULL, NULL, NULL), "other tokens taken for the stored forward");
    int len_b[4] = {len[0], len[1], len[2] - 1, len[3] + 1};
    CHECK(!gpt_forward_stored(m, B, len_b, tok2, NULL, NULL, NULL), "other row lengths taken for the stored forward");
    CHECK(!gpt_forward_stored(m, B - 1, len, tok2, NULL, NULL, NULL), "fewer rows taken for the stored forward");
    int bad0[2] = {3, 0};
    CHECK(gpt_forward(m, 2, bad0, tok, &e) != 0 && gpt_forward_stored(m, B, len, tok2, NULL, NULL, NULL),
          "a refused forward changed the stored one");
    AdamWConfig oc = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f};
    gpt_adamw_step(m, &oc);
    CHECK(!gpt_forward_stored(m, B, len, tok2, NULL, NULL, NULL), "the stored forward survived an optimizer step");
    // bad batches are refused with a message
    int bad_len[2] = {3, 0};
    CHECK(gpt_forward(m, 2, bad_len, tok, &e) != 0 && strstr(e.msg, "empty"), "empty row accepted");
    int long_len[1] = {33};
    int many[40] = {0};
    CHECK(gpt_forward(m, 1, long_len, many, &e) != 0 && strstr(e.msg, "context"), "over-long row accepted");
    int oov[2] = {1, 40}, l2[1] = {2};
    CHECK(gpt_forward(m, 1, l2, oov, &e) != 0 && strstr(e.msg, "vocabulary"), "out-of-vocabulary token accepted");
    free(g_batch);
    gpt_free(m);
    return check_summary("model_ragged");
}
