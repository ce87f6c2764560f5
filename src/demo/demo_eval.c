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

// What every evaluation opens: the model, its tokenizer, the first n prompts, the reward model.
typedef struct {
    Tokenizer tok;
    Dataset ds;
    RewardSource rs;
    GPT *pol;
    int n, *idx;
    uint64_t *gidx;
} EvalCtx;

static void ctx_close(EvalCtx *c) {
    free(c->idx); free(c->gidx);
    reward_close(&c->rs);
    dataset_free(&c->ds);
    if (c->pol) gpt_free(c->pol);
    tok_free(&c->tok);
}

static int ctx_open(const DemoEvalOptions *o, EvalCtx *c, Err *e) {
    memset(c, 0, sizeof *c);
    int batch = o->batch > 0 ? o->batch : 64;
    c->pol = ckpt_load_model(o->model, 0, &c->tok, e);
    if (!c->pol || rollout_load_prompts(o->prompts, &c->tok, c->pol->cfg.n_ctx - o->max_new, 0, &c->ds, e)) return -1;
    c->n = (int)c->ds.n;
    if (o->n_prompts > 0 && o->n_prompts < c->n) c->n = o->n_prompts;
    if (c->n == 0) return err_set(e, "%s: no prompts", o->prompts);
    if (o->rm && reward_open(&c->rs, o->rm, NULL, 0, &c->tok, batch, e)) return -1;
    c->idx = xmalloc((size_t)c->n * sizeof(int));
    c->gidx = xmalloc((size_t)c->n * sizeof(uint64_t));
    for (int i = 0; i < c->n; i++) { c->idx[i] = i; c->gidx[i] = (uint64_t)i; }
    return 0;
}

// G responses per prompt in R (scored by the RM in score[]): d gets, per prompt, the RM-best of the
// first `use` of them (use 1: the first).
static void fill_from(DemoEval *d, const EvalCtx *c, const Rollout *R, const double *score, int G, int use) {
    int n = c->n;
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
        int b = i * G + (use > 1 ? rl_best_of_n(use, score + (size_t)i * (size_t)G) : 0);
        d->resp[i] = resp_text(&c->tok, R, b);
        d->prompt[i] = xstrdup(c->ds.prm[i].text);
        d->ended[i] = R->ended[b];
        d->len[i] = R->rlen[b];
        d->rm[i] = score[b];
        d->g[i] = demo_gold(d->prompt[i], d->resp[i], d->ended[i]);
        d->harmful[i] = demo_is_harmful(d->resp[i]);
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(d->resp[j], d->resp[i]);
        distinct += !seen;
    }
    d->distinct = (double)distinct / n;
}

// Best-of-n is a procedure, not a model: its sampled gold is the chosen response's, its KL the bound.
static void bon_finish(DemoEval *d, int n) {
    double s = 0;
    for (int i = 0; i < d->n; i++) s += d->g[i].total;
    d->gold_sampled = s / d->n;
    d->kl_k1 = d->kl_k3 = rl_bon_kl_bound(n);
    d->has_kl = 1;
}

int demo_eval(const DemoEvalOptions *o, DemoEval *d, Err *e) {
    memset(d, 0, sizeof *d);
    double t0 = now_s();
    EvalCtx c;
    Rollout R, S, K;
    memset(&R, 0, sizeof R); memset(&S, 0, sizeof S); memset(&K, 0, sizeof K);
    GPT *ref = NULL;
    int rc = -1;
    double *score = NULL;
    int batch = o->batch > 0 ? o->batch : 64;
    if (ctx_open(o, &c, e)) goto out;
    int n = c.n, G = o->bon_n > 0 ? o->bon_n : 1;
    SampleConfig sc = {.temperature = o->bon_n > 0 ? 1.0f : 0.0f, .top_k = 0, .top_p = 1.0f,
                       .max_new = o->max_new, .eos_id = c.tok.eos_id, .seed = o->seed, .batch = batch};
    if (rollout_generate(c.pol, &c.ds, c.idx, c.gidx, n, G, &sc, &R, e)) goto out;
    score = xcalloc((size_t)R.B, sizeof(double));
    if (o->rm && reward_score(&c.rs, &R, &c.ds, score, e)) goto out;
    fill_from(d, &c, &R, score, G, G);
    if (o->bon_n > 0) {
        bon_finish(d, o->bon_n);
    } else {
        SampleConfig st = sc;
        st.temperature = o->sample_temp;
        st.seed = o->seed + 1;
        if (rollout_generate(c.pol, &c.ds, c.idx, c.gidx, n, 1, &st, &S, e)) goto out;
        double s = 0;
        for (int i = 0; i < n; i++) {
            char *t = resp_text(&c.tok, &S, i);
            s += demo_gold(c.ds.prm[i].text, t, S.ended[i]).total;
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
            if (rollout_generate(c.pol, &c.ds, c.idx, c.gidx, n, 1, &s1, &K, e)) goto out;
            if (sample_kl(c.pol, ref, &K, batch, &d->kl_k1, &d->kl_k3, e)) goto out;
            d->has_kl = 1;
        }
    }
    d->seconds = now_s() - t0;
    rc = 0;
out:
    if (rc) demo_eval_free(d);
    rollout_free(&R); rollout_free(&S); rollout_free(&K);
    free(score);
    ctx_close(&c);
    if (ref) gpt_free(ref);
    return rc;
}

int demo_eval_bon_curve(const DemoEvalOptions *o, const int *ns, int k, DemoEval *out, Err *e) {
    memset(out, 0, (size_t)k * sizeof *out);
    double t0 = now_s();
    EvalCtx c;
    Rollout R;
    memset(&R, 0, sizeof R);
    double *score = NULL;
    int rc = -1, G = 0;
    for (int j = 0; j < k; j++) G = ns[j] > G ? ns[j] : G;
    if (G < 1) return err_set(e, "best-of-n curve: no n given");
    if (ctx_open(o, &c, e)) goto out;
    SampleConfig sc = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .max_new = o->max_new,
                       .eos_id = c.tok.eos_id, .seed = o->seed, .batch = o->batch > 0 ? o->batch : 64};
    if (rollout_generate(c.pol, &c.ds, c.idx, c.gidx, c.n, G, &sc, &R, e)) goto out;
    score = xcalloc((size_t)R.B, sizeof(double));
    if (o->rm && reward_score(&c.rs, &R, &c.ds, score, e)) goto out;
    for (int j = 0; j < k; j++) {
        fill_from(&out[j], &c, &R, score, G, ns[j]);
        bon_finish(&out[j], ns[j]);
        out[j].seconds = (now_s() - t0) / k;
    }
    rc = 0;
out:
    if (rc)
        for (int j = 0; j < k; j++) demo_eval_free(&out[j]);
    rollout_free(&R);
    free(score);
    ctx_close(&c);
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
