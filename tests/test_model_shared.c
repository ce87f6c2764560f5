// tests/test_model_shared.c — shared prefixes (gpt_forward_shared): a batch whose rows continue
// other rows' first tokens gives the log-probabilities, entropies, values and parameter gradients
// of the same rows written out in full; bad parent / prefix tables are refused with a message;
// gpt_forward_stored tells a shared forward from a plain one; RLHF_PROMPT_SHARING=0 turns
// sharing off.
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tiny.h"

enum { B = 5 };

int main(void) {
    // rows 1 and 3 continue row 0 (11 and 5 of its 12 tokens), row 4 the whole of row 2
    static const int len[B] = {12, 6, 9, 10, 3}, parent[B] = {-1, 0, -1, 0, 2},
                     prefix[B] = {0, 11, 0, 5, 9};
    int elen[B], tok[64], etok[128], tgt[64], etgt[128];
    size_t off[B], eoff[B], N = tiny_tokens(tok, len, B, 40, 11), EN = 0;
    for (int b = 0, o = 0; b < B; o += len[b], b++) off[b] = (size_t)o;
    for (int b = 0; b < B; b++) {
        int pre = parent[b] >= 0 ? prefix[b] : 0;
        elen[b] = pre + len[b];
        eoff[b] = EN;
        memcpy(etok + EN, tok + off[parent[b] >= 0 ? parent[b] : 0], (size_t)pre * sizeof(int));
        memcpy(etok + EN + pre, tok + off[b], (size_t)len[b] * sizeof(int));
        for (int i = 0; i < elen[b]; i++)  // next token; nothing on the copied prefix
            etgt[EN + (size_t)i] = i >= pre && i + 1 < elen[b] ? etok[EN + (size_t)i + 1] : -1;
        memcpy(tgt + off[b], etgt + EN + pre, (size_t)len[b] * sizeof(int));
        EN += (size_t)elen[b];
    }
    float dlogp[64], dval[64], edlogp[128] = {0}, edval[128] = {0};
    for (size_t n = 0; n < N; n++) { dlogp[n] = 0.1f * (float)(n % 3) - 0.1f; dval[n] = 0.05f * (float)(n % 4); }
    for (int b = 0; b < B; b++) {
        size_t pre = (size_t)(elen[b] - len[b]);
        memcpy(edlogp + eoff[b] + pre, dlogp + off[b], (size_t)len[b] * sizeof(float));
        memcpy(edval + eoff[b] + pre, dval + off[b], (size_t)len[b] * sizeof(float));
    }
    GPT *m = tiny_model(1, 1, 7);
    Err e;
    float logp[64], ent[64], val[64], elogp[128], eent[128], eval_[128], edent[128];
    const float it = 1.0f / 0.8f;
    // expanded rows first: outputs, and gradients with nothing on the copied prefixes
    CHECK(gpt_forward(m, B, elen, etok, &e) == 0, "%s", e.msg);
    gpt_lm_logprobs(m, etgt, it, elogp, eent);
    gpt_values(m, eval_);
    for (size_t n = 0; n < EN; n++) edent[n] = 0;
    for (int b = 0; b < B; b++)
        for (int i = elen[b] - len[b]; i < elen[b]; i++) edent[eoff[b] + (size_t)i] = eent[eoff[b] + (size_t)i];
    gpt_zero_grad(m);
    gpt_backward(m, etgt, it, edlogp, edent, edval);
    float *g_full = malloc(m->n_params * sizeof(float));
    memcpy(g_full, m->grads, m->n_params * sizeof(float));

    CHECK(gpt_forward_shared(m, B, len, tok, parent, prefix, &e) == 0, "%s", e.msg);
    CHECK(m->N == N, "a shared batch runs %zu tokens, not %zu", m->N, N);
    gpt_lm_logprobs(m, tgt, it, logp, ent);
    gpt_values(m, val);
    for (int b = 0; b < B; b++) {
        size_t at = eoff[b] + (size_t)(elen[b] - len[b]), n = (size_t)len[b];
        double r1 = tiny_max_rel(logp + off[b], elogp + at, n), r2 = tiny_max_rel(ent + off[b], eent + at, n);
        double r3 = tiny_max_rel(val + off[b], eval_ + at, n);
        CHECK(r1 <= 1e-5 && r2 <= 1e-5 && r3 <= 1e-5,
              "row %d: shared vs full rel diff logp %.3g ent %.3g val %.3g", b, r1, r2, r3);
    }
    gpt_zero_grad(m);
    gpt_backward(m, tgt, it, dlogp, ent, dval);
    double gmax = tiny_max_abs(g_full, m->n_params), rel = tiny_max_rel(m->grads, g_full, m->n_params);
    CHECK(gmax > 0, "gradients are all zero");
    CHECK(rel <= 1e-5, "shared batch gradient differs from the full rows': %.3g of the largest (%.3g)", rel, gmax);

    // the stored forward is the shared one: the same rows without the table are not it
    CHECK(gpt_forward_stored(m, B, len, tok, parent, prefix, NULL), "the shared forward is not recognised");
    CHECK(!gpt_forward_stored(m, B, len, tok, NULL, NULL, NULL), "a plain batch taken for the shared forward");
    int prefix2[B] = {0, 10, 0, 5, 9};
    CHECK(!gpt_forward_stored(m, B, len, tok, parent, prefix2, NULL), "another prefix taken for the stored forward");
    int parent2[B] = {-1, 0, -1, 0, 0};
    CHECK(!gpt_forward_stored(m, B, len, tok, parent2, prefix, NULL), "another parent taken for the stored forward");

    // bad tables are refused with a message naming the row
    struct { int parent[B], prefix[B]; const char *msg; } bad[] = {
        {{-1, 1, -1, 0, 2}, {0, 11, 0, 5, 9}, "earlier row"},     // a row as its own parent
        {{-1, 0, -1, 1, 2}, {0, 11, 0, 5, 9}, "has a parent"},    // a child's child
        {{-1, 0, -1, 0, 2}, {0, 13, 0, 5, 9}, "shares 13"},       // longer than the parent
        {{-1, 0, -1, 0, 2}, {0, 0, 0, 5, 9}, "shares 0"},         // empty prefix
        {{-1, 0, -3, 0, 2}, {0, 11, 0, 5, 9}, "earlier row"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = gpt_forward_shared(m, B, len, tok, bad[k].parent, bad[k].prefix, &e);
        CHECK(rc != 0 && strstr(e.msg, bad[k].msg), "bad table %zu: rc %d, message '%s'", k, rc, rc ? e.msg : "");
    }
    int long_len[2] = {30, 10}, lp[2] = {-1, 0}, lpre[2] = {0, 25}, many[40] = {0};
    CHECK(gpt_forward_shared(m, 2, long_len, many, lp, lpre, &e) != 0 && strstr(e.msg, "context"),
          "a row past the context through its prefix accepted");
    CHECK(gpt_forward_stored(m, B, len, tok, parent, prefix, NULL), "a refused forward changed the stored one");

    unsetenv("RLHF_PROMPT_SHARING");
    CHECK(gpt_prompt_sharing(), "sharing off by default");
    setenv("RLHF_PROMPT_SHARING", "0", 1);
    CHECK(!gpt_prompt_sharing(), "RLHF_PROMPT_SHARING=0 did not turn sharing off");
    unsetenv("RLHF_PROMPT_SHARING");
    free(g_full);
    gpt_free(m);
    return check_summary("model_shared");
}
