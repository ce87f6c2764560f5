// demo/demo_eval.c — gold / RM / KL evaluation of a demo model (see demo_eval.h).
#include "demo/demo_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "io/checkpoint.h"
#include "train/reward.h"
#include "train/rl_math.h"
#include "train/rollout.h"
#include "util/rng.h"
#include "util/timer.h"
#include "util/utf8.h"

// The response without its EOS, as valid UTF-8 (a tiny model may emit broken sequences).
static char *resp_text(const Tokenizer *tok, const Rollout *R, int b) {
    char *raw = tok_decode(tok, R->ids[b] + R->plen[b], (size_t)(R->rlen[b] - R->ended[b]));
    char *s = utf8_sanitize(raw, strlen(raw));
    free(raw);
    return s;
}

// Σ_t k1 and k3 of each sample of R under pol vs ref at temperature 1; means into *k1, *k3.
static int sample_kl(GPT *pol, GPT *ref, const Rollout *R, int batch, double *k1, double *k3, Err *e) {
    RolloutPack pk;
    memset(&pk, 0, sizeof pk);
    int *rows = xmalloc((size_t)R->B * sizeof(int));
    for (int b = 0; b < R->B; b++) rows[b] = b;
    double s1 = 0, s3 = 0;
    int rc = 0;
    for (int b0 = 0; b0 < R->B && !rc; b0 += batch) {
        int n = R->B - b0 < batch ? R->B - b0 : batch;
        rollout_pack(R, rows + b0, n, &pk);
        double *lp = xmalloc((pk.n_resp + 1) * sizeof(double)), *lr = xmalloc((pk.n_resp + 1) * sizeof(double));
        rc = rollout_logprobs(pol, &pk, 1.0f, lp, NULL, e);
        if (!rc) rc = rollout_logprobs(ref, &pk, 1.0f, lr, NULL, e);
        for (size_t k = 0; !rc && k < pk.n_resp; k++) {
            s1 += kl_token(KL_K1, lp[k], lr[k]);
            s3 += kl_token(KL_K3, lp[k], lr[k]);
        }
        free(lp); free(lr);
    }
    free(rows);
    rollout_pack_free(&pk);
    *k1 = s1 / R->B;
    *k3 = s3 / R->B;
    return rc;
}

int demo_eval(const DemoEvalOptions *o, DemoEval *d, Err *e) {
    memset(d, 0, sizeof *d);
    double t0 = now_s();
    Tokenizer tok;
    memset(&tok, 0, sizeof tok);
    Dataset ds;
    memset(&ds, 0, sizeof ds);
    RewardSource rs;
    memset(&rs, 0, sizeof rs);
    Rollout R, S, K;
    memset(&R, 0, sizeof R); memset(&S, 0, sizeof S); memset(&K, 0, sizeof K);
    GPT *ref = NULL;
    int rc = -1, *idx = NULL;
    uint64_t *gidx = NULL;
    double *score = NULL;
    int batch = o->batch > 0 ? o->batch : 64;
    GPT *pol = ckpt_load_model(o->model, 0, &tok, e);
    if (!pol) goto out;
    if (rollout_load_prompts(o->prompts, &tok, pol->cfg.n_ctx - o->max_new, 0, &ds, e)) goto out;
    int n = (int)ds.n;
    if (o->n_prompts > 0 && o->n_prompts < n) n = o->n_prompts;
    if (n == 0) { err_set(e, "%s: no prompts", o->prompts); goto out; }
    if (o->rm && reward_open(&rs, o->rm, NULL, 0, &tok, batch, e)) goto out;
    idx = xmalloc((size_t)n * sizeof(int));
    gidx = xmalloc((size_t)n * sizeof(uint64_t));
    for (int i = 0; i < n; i++) { idx[i] = i; gidx[i] = (uint64_t)i; }
    int G = o->bon_n > 0 ? o->bon_n : 1;
    SampleConfig sc = {.temperature = o->bon_n > 0 ? 1.0f : 0.0f, .top_k = 0, .top_p = 1.0f,
                       .max_new = o->max_new, .eos_id = tok.eos_id, .seed = o->seed, .batch = batch};
    if (rollout_generate(pol, &ds, idx, gidx, n, G, &sc, &R, e)) goto out;
    score = xcalloc((size_t)R.B, sizeof(double));
    if (o->rm && reward_score(&rs, &R, &ds, score, e)) goto out;
    d->n = n;
    d->g = xcalloc((size_t)n, sizeof(GoldScore));
    d->harmful = xcalloc((size_t)n, sizeof(int));
    d->rm = xcalloc((size_t)n, sizeof(double));
    d->resp = xcalloc((size_t)n, sizeof(char *));
    d->prompt = xcalloc((size_t)n, sizeof(char *));
    d->ended = xcalloc((size_t)n, sizeof(int));
    d->len = xcalloc((size_t)n, sizeof(int));
    int distinct = 0;
    for (int i = 0; i < n; i++) {
        int b = i * G + (G > 1 ? rl_best_of_n(G, score + (size_t)i * (size_t)G) : 0);
        d->resp[i] = resp_text(&tok, &R, b);
        d->prompt[i] = xstrdup(ds.prm[i].text);
        d->ended[i] = R.ended[b];
        d->len[i] = R.rlen[b];
        d->rm[i] = score[b];
        d->g[i] = demo_gold(d->prompt[i], d->resp[i], d->ended[i]);
        d->harmful[i] = demo_is_harmful(d->resp[i]);
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(d->resp[j], d->resp[i]);
        distinct += !seen;
    }
    d->distinct = (double)distinct / n;
    if (o->bon_n > 0) {  // a procedure, not a model: its sample gold is the chosen one's, KL the bound
        double s = 0;
        for (int i = 0; i < n; i++) s += d->g[i].total;
        d->gold_sampled = s / n;
        d->kl_k1 = d->kl_k3 = rl_bon_kl_bound(o->bon_n);
        d->has_kl = 1;
    } else {
        SampleConfig st = sc;
        st.temperature = o->sample_temp;
        st.seed = o->seed + 1;
        if (rollout_generate(pol, &ds, idx, gidx, n, 1, &st, &S, e)) goto out;
        double s = 0;
        for (int i = 0; i < n; i++) {
            char *t = resp_text(&tok, &S, i);
            s += demo_gold(ds.prm[i].text, t, S.ended[i]).total;
            free(t);
        }
        d->gold_sampled = s / n;
        if (o->sft) {
            Tokenizer rt;
            memset(&rt, 0, sizeof rt);
            ref = ckpt_load_model(o->sft, 0, &rt, e);
            tok_free(&rt);
            if (!ref) goto out;
            SampleConfig s1 = sc;
            s1.temperature = 1.0f;
            s1.seed = o->seed + 2;
            if (rollout_generate(pol, &ds, idx, gidx, n, 1, &s1, &K, e)) goto out;
            if (sample_kl(pol, ref, &K, batch, &d->kl_k1, &d->kl_k3, e)) goto out;
            d->has_kl = 1;
        }
    }
    d->seconds = now_s() - t0;
    rc = 0;
out:
    if (rc) demo_eval_free(d);
    rollout_free(&R); rollout_free(&S); rollout_free(&K);
    free(idx); free(gidx); free(score);
    reward_close(&rs);
    dataset_free(&ds);
    if (pol) gpt_free(pol);
    if (ref) gpt_free(ref);
    tok_free(&tok);
    return rc;
}

void demo_eval_free(DemoEval *d) {
    for (int i = 0; i < d->n; i++) {
        if (d->resp) free(d->resp[i]);
        if (d->prompt) free(d->prompt[i]);
    }
    free(d->g); free(d->harmful); free(d->rm); free(d->resp); free(d->prompt); free(d->ended); free(d->len);
    memset(d, 0, sizeof *d);
}

double demo_eval_mean(const DemoEval *d, const char *w) {
    double s = 0;
    for (int i = 0; i < d->n; i++) {
        const GoldScore *g = &d->g[i];
        s += !strcmp(w, "gold") ? g->total : !strcmp(w, "correct") ? g->correct
             : !strcmp(w, "format") ? g->format : !strcmp(w, "stop") ? g->stop
             : !strcmp(w, "harmless") ? g->harmless : !strcmp(w, "brevity") ? g->brevity
             : !strcmp(w, "harmful") ? d->harmful[i] : !strcmp(w, "rm") ? d->rm[i]
             : !strcmp(w, "len") ? d->len[i] : !strcmp(w, "ended") ? d->ended[i] : NAN;
    }
    return d->n ? s / d->n : 0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Percentile CI of the resampled means of x − y (y NULL: of x).
static void boot(const double *x, const double *y, int n, int B, uint64_t seed, double ci[2]) {
    double *m = xmalloc((size_t)(B > 0 ? B : 1) * sizeof(double));
    Rng r;
    rng_seed(&r, seed, 0x626f6f74 /* "boot" */, 0);
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            int k = (int)rng_below(&r, (uint64_t)n);
            s += x[k] - (y ? y[k] : 0);
        }
        m[b] = s / n;
    }
    qsort(m, (size_t)B, sizeof(double), cmp_d);
    ci[0] = m[(int)floor(0.025 * (B - 1))];
    ci[1] = m[(int)ceil(0.975 * (B - 1))];
    free(m);
}

void bootstrap_mean_ci(const double *x, int n, int B, uint64_t seed, double ci[2]) { boot(x, NULL, n, B, seed, ci); }
void bootstrap_paired_ci(const double *x, const double *y, int n, int B, uint64_t seed, double ci[2]) {
    boot(x, y, n, B, seed, ci);
}
