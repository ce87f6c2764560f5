// tests/test_model_grad.c — whole-model gradient check on the tiny config, through both heads.
// (1) The double-precision reference GPT (support/ref_gpt) against central finite differences, on
//     a sample of entries of EVERY tensor.
// (2) The fp32 model (gpt_forward, gpt_lm_logprobs with entropies, gpt_values, gpt_backward)
//     against that reference: forward outputs and every parameter gradient, tensor by tensor, for
//     L = Σ clogp·logp + Σ cent·ent + Σ cval·val with both heads, the LM head alone (with and
//     without the entropy term), the scalar head alone, and a model without a score head.
// The batch is ragged (rows of 5, 1 and 9 tokens), the temperature is 0.7, and some targets are
// inactive (< 0) while their coefficients are not zero.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ref_gpt.h"
#include "ref_nn.h"
#include "tiny.h"

enum { NB = 3, N = 15 };  // rows, tokens
static const int LEN[NB] = {5, 1, 9};
#define INV_TEMP (1.0f / 0.7f)

typedef struct {
    int tok[N], tgt[N];
    float clogp[N], cent[N], cval[N];     // the model's gradients on its outputs
    double dclogp[N], dcent[N], dcval[N];  // the same values in double, for the reference
} Batch;

static void make_batch(Batch *bt, int V) {
    tiny_tokens(bt->tok, LEN, NB, V, 11);
    tiny_tokens(bt->tgt, LEN, NB, V, 12);
    // inactive positions: row 0's last token, inside rows 0 and 2, and a "< 0 but not -1" one;
    // row 1 (a single token) stays active
    bt->tgt[1] = -1, bt->tgt[4] = -1, bt->tgt[9] = -1, bt->tgt[13] = -100;
    fill_uniform(bt->clogp, N, 21, 1.0f);
    fill_uniform(bt->cent, N, 22, 1.0f);
    fill_uniform(bt->cval, N, 23, 1.0f);
    for (int n = 0; n < N; n++) {
        bt->dclogp[n] = bt->clogp[n], bt->dcent[n] = bt->cent[n], bt->dcval[n] = bt->cval[n];
    }
}

static RefGPTBatch ref_batch(const Batch *bt, int use_logp, int use_ent, int use_val) {
    RefGPTBatch b = {NB, LEN, bt->tok, bt->tgt, (double)INV_TEMP,
                     use_logp ? bt->dclogp : NULL, use_ent ? bt->dcent : NULL,
                     use_val ? bt->dcval : NULL};
    return b;
}

// ---- (1) the reference against finite differences ------------------------------------------------
typedef struct {
    const GPT *layout;
    double *params;
    const RefGPTBatch *b;
} FdCtx;

static double fd_loss(void *p) {
    FdCtx *c = p;
    return ref_gpt_loss(c->layout, c->params, c->b, NULL, NULL, NULL, NULL);
}

// Up to K entries of a tensor: its 3 largest |gradient| entries and then spread-out others.
enum { K = 5 };
static int sample_entries(const double *g, size_t numel, size_t *idx) {
    int k = 0;
    if (numel <= K) {
        for (size_t i = 0; i < numel; i++) idx[k++] = i;
        return k;
    }
    for (int pick = 0; pick < 3; pick++) {
        size_t best = 0;
        double bv = -1;
        for (size_t i = 0; i < numel; i++) {
            int used = 0;
            for (int j = 0; j < k; j++) used |= idx[j] == i;
            if (!used && fabs(g[i]) > bv) bv = fabs(g[i]), best = i;
        }
        idx[k++] = best;
    }
    for (size_t s = 1; k < K; s++) {  // golden-ratio stride through the tensor
        size_t i = (size_t)((double)numel * fmod(0.6180339887498949 * (double)s, 1.0));
        int used = 0;
        for (int j = 0; j < k; j++) used |= idx[j] == i;
        if (!used) idx[k++] = i;
    }
    return k;
}

static void test_ref_vs_fd(const GPT *m, double *pd, const RefGPTBatch *b) {
    double *g = ref_zeros(m->n_params);
    ref_gpt_loss(m, pd, b, NULL, NULL, NULL, g);
    FdCtx ctx = {m, pd, b};
    int sampled = 0;
    for (int t = 0; t < m->n_tensors; t++) {
        const GPTTensor *T = &m->tensors[t];
        const double *gt = g + T->offset;
        double gmax = 0;
        for (size_t i = 0; i < T->numel; i++) gmax = fmax(gmax, fabs(gt[i]));
        // with both heads in the loss every tensor takes part
        CHECK(gmax > 0, "reference gradient of %s is all zero", T->name);
        size_t idx[K];
        double an[K], fd[K];
        int k = sample_entries(gt, T->numel, idx);
        for (int j = 0; j < k; j++) {
            an[j] = gt[idx[j]];
            ref_fd_grad(fd_loss, &ctx, pd + T->offset + idx[j], 1, 1e-5, &fd[j]);
        }
        char what[128];
        snprintf(what, sizeof what, "ref vs finite differences: %s", T->name);
        check_close_d(what, an, fd, (size_t)k, 1e-6, 1e-6);
        sampled += k;
    }
    CHECK(sampled >= 3 * m->n_tensors, "only %d entries sampled", sampled);
    free(g);
}

// ---- (2) the fp32 model against the reference ----------------------------------------------------
// Which terms of L the loss has (a NULL gradient for the others in gpt_backward).
typedef struct {
    const char *name;
    int logp, ent, val;
} Mode;
static const Mode BOTH = {"both heads", 1, 1, 1}, LM = {"LM head", 1, 1, 0},
                  LOGP_ONLY = {"LM head, no entropy", 1, 0, 0},
                  VALUE_ONLY = {"scalar head", 0, 0, 1}, ENT_ONLY = {"entropy only", 0, 1, 0};

// Forward outputs of the model m (forward already run on bt) vs the reference (params pd).
static void test_outputs(const char *model, GPT *m, const double *pd, const Batch *bt) {
    int head = m->cfg.score_head;
    RefGPTBatch b = ref_batch(bt, 0, 0, 0);
    double rlogp[N], rent[N], rval[N];
    ref_gpt_loss(m, pd, &b, rlogp, rent, head ? rval : NULL, NULL);
    char what[160];
    float logp[N], ent[N], val[N];
    gpt_lm_logprobs(m, bt->tgt, INV_TEMP, logp, ent);
    snprintf(what, sizeof what, "%s: logp", model);
    check_close_f(what, logp, rlogp, N, 1e-3, 1e-3);
    snprintf(what, sizeof what, "%s: entropy", model);
    check_close_f(what, ent, rent, N, 1e-3, 1e-3);
    int inactive_zero = 1;
    for (int n = 0; n < N; n++)
        if (bt->tgt[n] < 0) inactive_zero &= logp[n] == 0.0f && ent[n] == 0.0f;
    CHECK(inactive_zero, "%s: inactive positions got a logp or an entropy", model);
    if (head) {
        gpt_values(m, val);
        snprintf(what, sizeof what, "%s: values", model);
        check_close_f(what, val, rval, N, 1e-3, 1e-3);
    }
}

// Every tensor's gradient of the model m (forward already run on bt) vs the reference.
static void test_grads(const char *model, GPT *m, const double *pd, const Batch *bt,
                       const Mode *mode) {
    RefGPTBatch b = ref_batch(bt, mode->logp, mode->ent, mode->val);
    double *g = ref_zeros(m->n_params);
    ref_gpt_loss(m, pd, &b, NULL, NULL, NULL, g);
    gpt_zero_grad(m);
    gpt_backward(m, bt->tgt, INV_TEMP, mode->logp ? bt->clogp : NULL, mode->ent ? bt->cent : NULL,
                 mode->val ? bt->cval : NULL);
    char what[160];
    for (int t = 0; t < m->n_tensors; t++) {
        const GPTTensor *T = &m->tensors[t];
        snprintf(what, sizeof what, "%s, %s: d %s", model, mode->name, T->name);
        check_close_f(what, m->grads + T->offset, g + T->offset, T->numel, 1e-3, 1e-3);
    }
    // a head outside the loss gets exactly no gradient
    int si = ref_gpt_find(m, "score.weight");
    if (si >= 0 && !mode->val) {
        const GPTTensor *T = &m->tensors[si];
        int zero = 1;
        for (size_t i = 0; i < T->numel; i++) zero &= m->grads[T->offset + i] == 0.0f;
        CHECK(zero, "%s, %s: score.weight has a gradient without a value term", model, mode->name);
    }
    free(g);
}

static void run_model(const char *name, int score_head, unsigned long long seed,
                      const Mode *const *modes, int n_modes, int with_fd) {
    GPT *m = tiny_model(1, score_head, seed);
    Batch bt;
    make_batch(&bt, m->cfg.vocab_size);
    double *pd = ref_to_double(m->params, m->n_params);
    if (with_fd) {
        RefGPTBatch b = ref_batch(&bt, 1, 1, score_head);
        test_ref_vs_fd(m, pd, &b);
    }
    Err e;
    CHECK(gpt_forward(m, NB, LEN, bt.tok, &e) == 0, "%s", e.msg);
    test_outputs(name, m, pd, &bt);
    for (int i = 0; i < n_modes; i++) test_grads(name, m, pd, &bt, modes[i]);
    free(pd);
    gpt_free(m);
}

int main(void) {
    const Mode *all[] = {&BOTH, &LM, &LOGP_ONLY, &VALUE_ONLY, &ENT_ONLY};
    const Mode *lm[] = {&LM, &LOGP_ONLY};
    run_model("score-head model", 1, 7, all, 5, 1);  // FD check of the reference, every mode
    run_model("LM-only model", 0, 8, lm, 2, 0);     // no score.weight in the table
    return check_summary("model_grad");
}
