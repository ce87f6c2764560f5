// tests/test_model_tail.c — tailed forwards (gpt_forward_tail): when only each row's last
// positions reach a head, the last layer runs its attention output, MLP and final norm for those
// positions alone. The log-probabilities, entropies and values there, and every parameter
// gradient, must equal the full forward's (with nothing asked of the other positions) — plain and
// shared-prefix batches, a trainable and a frozen model; the other positions' values are zero;
// bad tails are refused; gpt_forward_stored tells tails apart; the tails derived from targets.
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tiny.h"

enum { B = 5, NMAX = 64 };

static const int len[B] = {12, 6, 9, 10, 3}, parent[B] = {-1, 0, -1, 0, 2},
                 prefix[B] = {0, 11, 0, 5, 9};

// One batch, full then tailed: outputs on the tails and all gradients must agree.
static void compare(int trainable, const int *par, const int *pre, const int *tail, const char *what) {
    int tok[NMAX], tgt[NMAX];
    size_t N = tiny_tokens(tok, len, B, 40, 21);
    float dlogp[NMAX], dent[NMAX], dval[NMAX];
    for (int b = 0, o = 0; b < B; o += len[b], b++)
        for (int i = 0; i < len[b]; i++) {
            size_t n = (size_t)(o + i);
            int in_tail = i >= len[b] - tail[b];
            // a target on every tail position but a row's last (as SFT / PPO packs have them)
            tgt[n] = in_tail && i + 1 < len[b] ? tok[n + 1] : -1;
            dlogp[n] = tgt[n] >= 0 ? 0.1f * (float)(n % 3) - 0.1f : 0.0f;
            dent[n] = tgt[n] >= 0 ? 0.02f * (float)(n % 5) : 0.0f;
            dval[n] = in_tail ? 0.05f * (float)(n % 4) - 0.07f : 0.0f;
        }
    GPT *m = tiny_model(trainable, 1, 9);
    Err e;
    const float it = 1.0f / 0.9f;
    float lf[NMAX], ef[NMAX], vf[NMAX], lt[NMAX], et[NMAX], vt[NMAX];
    CHECK(gpt_forward_tail(m, B, len, tok, par, pre, NULL, &e) == 0, "%s", e.msg);
    gpt_lm_logprobs(m, tgt, it, lf, ef);
    gpt_values(m, vf);
    float *gf = NULL;
    if (trainable) {
        gpt_zero_grad(m);
        gpt_backward(m, tgt, it, dlogp, dent, dval);
        gf = malloc(m->n_params * sizeof(float));
        memcpy(gf, m->grads, m->n_params * sizeof(float));
    }
    CHECK(gpt_forward_tail(m, B, len, tok, par, pre, tail, &e) == 0, "%s", e.msg);
    size_t Nt = 0;
    for (int b = 0; b < B; b++) Nt += (size_t)tail[b];
    CHECK(m->Nt == Nt && m->tailed == (Nt < N), "%s: Nt %zu tailed %d", what, m->Nt, m->tailed);
    gpt_lm_logprobs(m, tgt, it, lt, et);
    gpt_values(m, vt);
    for (int b = 0, o = 0; b < B; o += len[b], b++) {
        size_t at = (size_t)(o + len[b] - tail[b]), n = (size_t)tail[b];
        // the logprobs / entropies exist where targets are (all but each tail's last position)
        double r1 = n > 1 ? tiny_max_rel(lt + at, lf + at, n - 1) : 0;
        double r2 = n > 1 ? tiny_max_rel(et + at, ef + at, n - 1) : 0;
        double r3 = tiny_max_rel(vt + at, vf + at, n);
        CHECK(r1 <= 1e-5 && r2 <= 1e-5 && r3 <= 1e-5, "%s row %d: tailed vs full rel diff logp %.3g ent %.3g val %.3g",
              what, b, r1, r2, r3);
        for (int i = 0; i < len[b] - tail[b]; i++)
            CHECK(vt[o + i] == 0.0f, "%s row %d: position %d before the tail has value %g", what, b, i, vt[o + i]);
    }
    if (trainable) {
        gpt_zero_grad(m);
        gpt_backward(m, tgt, it, dlogp, dent, dval);
        double gmax = tiny_max_abs(gf, m->n_params), rel = tiny_max_rel(m->grads, gf, m->n_params);
        CHECK(gmax > 0, "%s: gradients are all zero", what);
        CHECK(rel <= 1e-5, "%s: tailed gradient differs from the full forward's: %.3g of the largest (%.3g)",
              what, rel, gmax);
        CHECK(gpt_forward_stored(m, B, len, tok, par, pre, tail), "%s: the tailed forward is not recognised", what);
        CHECK(!gpt_forward_stored(m, B, len, tok, par, pre, NULL) || Nt == N,
              "%s: a full forward taken for the tailed one", what);
    }
    free(gf);
    gpt_free(m);
}

int main(void) {
    static const int tails[][B] = {
        {12, 6, 9, 10, 3},  // every position: the plain path
        {5, 6, 1, 4, 2},    // response-like tails
        {1, 1, 1, 1, 1},    // a reward model's last positions
    };
    for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
        compare(1, NULL, NULL, tails[k], "plain");
        compare(1, parent, prefix, tails[k], "shared");
        compare(0, NULL, NULL, tails[k], "frozen");
        compare(0, parent, prefix, tails[k], "frozen shared");
    }

    // bad tails are refused with a message naming the row
    int tok[NMAX];
    tiny_tokens(tok, len, B, 40, 21);
    GPT *m = tiny_model(1, 1, 9);
    Err e;
    int t0[B] = {1, 0, 1, 1, 1}, t1[B] = {1, 1, 10, 1, 1};
    CHECK(gpt_forward_tail(m, B, len, tok, NULL, NULL, t0, &e) != 0 && strstr(e.msg, "row 1"),
          "a tail of 0 accepted");
    CHECK(gpt_forward_tail(m, B, len, tok, NULL, NULL, t1, &e) != 0 && strstr(e.msg, "row 2"),
          "a tail longer than its row accepted");
    // the last-position and from-targets forms
    float v1[NMAX], vf[NMAX];
    CHECK(gpt_forward(m, B, len, tok, &e) == 0, "%s", e.msg);
    gpt_values(m, vf);
    CHECK(gpt_forward_last(m, B, len, tok, NULL, NULL, &e) == 0, "%s", e.msg);
    CHECK(m->Nt == B, "gpt_forward_last kept %zu positions", m->Nt);
    gpt_values(m, v1);
    for (int b = 0, o = 0; b < B; o += len[b], b++)
        CHECK(tiny_max_rel(v1 + o + len[b] - 1, vf + o + len[b] - 1, 1) <= 1e-5, "row %d: last value differs", b);
    int tg[NMAX], want[B] = {4, 6, 1, 10, 1}, got[B];
    for (int n = 0; n < NMAX; n++) tg[n] = -1;
    tg[8] = tg[9] = 3;         // row 0 (0..11): first target at 8
    tg[12] = tg[17] = 1;       // row 1 (12..17): at its first position
    tg[27] = tg[30] = 2;       // row 3 (27..36): its first position; rows 2 and 4 have none
    gpt_tail_from_targets(B, len, tg, got);
    for (int b = 0; b < B; b++) CHECK(got[b] == want[b], "row %d: tail %d from targets, want %d", b, got[b], want[b]);
    gpt_free(m);
    return check_summary("model_tail");
}
