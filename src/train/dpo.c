// train/dpo.c — the DPO stage on the shared loop (train/loop.h). Step s covers the global examples
// s·batch … (s+1)·batch − 1 of the concatenated epoch orders (epoch e visits the training set in
// data_order(seed, e)): a pure function of (seed, step), so a resumed run sees the same batches.
// Each rank takes its dist_shard of the step's examples and splits it into --grad-accum
// contiguous micro-batches; an example's K responses are adjacent rows whose targets are set on
// the response tokens only (data/batch.h).
#include "train/dpo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "io/checkpoint.h"
#include "io/model_io.h"
#include "nn/gemm.h"
#include "train/loop.h"
#include "train/run.h"
#include "train/schedule.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/sysinfo.h"
#include "util/timer.h"

void dpo_defaults(DpoOptions *o) {
    memset(o, 0, sizeof *o);
    o->loss = "dpo"; o->beta = 0.1; o->label_smoothing = 0.0;
    o->batch = 16; o->grad_accum = 1; o->steps = 500;
    o->lr = 1e-6f; o->min_lr_frac = 0.1f; o->weight_decay = 0.0f;
    o->beta1 = 0.9f; o->beta2 = 0.95f; o->eps = 1e-8f; o->grad_clip = 1.0f;
    o->warmup = 20; o->schedule = "cosine";
    o->val_fraction = 0.05; o->eval_every = 50; o->ckpt_every = 200; o->keep_checkpoints = 2;
    o->max_len = 0; o->min_prompt = -1;
    o->seed = 1337;
}

// ---- the loss ----------------------------------------------------------------------------------
double dpo_example_loss(const CmpExample *ex, const PrefLossConfig *c, const double *p,
                        const double *n, const double *q, const double *nq, double *dp,
                        DpoStats *st) {
    if (dp) for (int k = 0; k < ex->k; k++) dp[k] = 0;
    int P = ex->n_pairs;
    if (P == 0) return 0;
    int ipo = c->kind == PREF_IPO;
    double loss = 0, acc = 0, rw = 0, rl = 0, mar = 0;
    for (int i = 0; i < P; i++) {
        int a = ex->pairs[i][0], b = ex->pairs[i][1];
        // IPO: per-token means (a response has ≥ 1 token: its EOS)
        double sa = ipo ? 1.0 / (n[a] > 0 ? n[a] : 1) : 1.0, sb = ipo ? 1.0 / (n[b] > 0 ? n[b] : 1) : 1.0;
        double qa = ipo ? 1.0 / (nq[a] > 0 ? nq[a] : 1) : 1.0, qb = ipo ? 1.0 / (nq[b] > 0 ? nq[b] : 1) : 1.0;
        PrefPair pp = pref_pair(c, p[a] * sa, p[b] * sb, q[a] * qa, q[b] * qb);
        loss += pp.loss; acc += pp.correct; rw += pp.reward_w; rl += pp.reward_l; mar += pp.margin;
        if (dp) { dp[a] += pp.d_pw * sa / P; dp[b] += pp.d_pl * sb / P; }
    }
    if (st) {
        st->loss_sum += loss / P; st->elements += 1;
        st->acc_sum += acc / P; st->rw_sum += rw / P; st->rl_sum += rl / P; st->margin_sum += mar / P;
        st->pairs += P; st->pairs_correct += acc; st->pair_loss_sum += loss;
        st->pair_rw_sum += rw; st->pair_rl_sum += rl;
    }
    return loss / P;
}

// Response-token logprob sums and counts of the last forward's rows (targets ≥ 0 = response).
static void row_sums(GPT *m, const int *targets, int B, const int *len, float *logp, float *mask,
                     double *sum, double *count) {
    size_t N = m->N;
    for (size_t i = 0; i < N; i++) { logp[i] = 0.0f; mask[i] = targets[i] >= 0 ? 1.0f : 0.0f; }
    gpt_lm_logprobs(m, targets, 1.0f, logp, NULL);
    seq_gather_sum(B, len, logp, mask, sum, count);
}

int dpo_batch_loss(GPT *m, const Dataset *ds, const DpoRef *ref, const DataBatch *b,
                   const PrefLossConfig *c, int backward, double *policy_sum, DpoStats *st, Err *e) {
    if (b->B == 0) return 0;
    if (gpt_forward_targets(m, b->B, b->len, b->tokens, b->parent, b->prefix, b->targets, e)) return -1;
    size_t N = b->N, B = (size_t)b->B;
    float *logp = falloc(N), *mask = falloc(N);
    double *p = xmalloc(B * sizeof(double)), *n = xmalloc(B * sizeof(double)),
           *dp = xcalloc(B, sizeof(double));
    row_sums(m, b->targets, b->B, b->len, logp, mask, p, n);
    for (int row = 0; row < b->B;) {  // an example's rows are adjacent, responses 0..K−1 in order
        const CmpExample *ex = &ds->cmp[b->example[row]];
        const double *q = ref->sum + ref->first[b->example[row]],
                     *nq = ref->count + ref->first[b->example[row]];
        if (nq[0] == 0 && n[row] > 0) {  // dpo_ref_compute skipped it: the needed set was wrong
            free(logp); free(mask); free(p); free(n); free(dp);
            return err_set(e, "DPO: example %d has no reference log-probabilities", b->example[row]);
        }
        dpo_example_loss(ex, c, p + row, n + row, q, nq, dp + row, st);
        row += ex->k;
    }
    if (policy_sum) memcpy(policy_sum, p, B * sizeof(double));
    if (backward) {
        seq_scatter_sum(b->B, b->len, dp, mask, logp);  // logp reused as dL/dlogp
        gpt_backward(m, b->targets, 1.0f, logp, NULL, NULL);
    }
    free(logp); free(mask); free(p); free(n); free(dp);
    return 0;
}

int dpo_ref_compute(GPT *m, const Dataset *ds, int per_batch, const unsigned char *need, DpoRef *r, Err *e) {
    memset(r, 0, sizeof *r);
    r->n = ds->n;
    r->first = xmalloc((ds->n ? ds->n : 1) * sizeof(size_t));
    for (size_t i = 0; i < ds->n; i++) { r->first[i] = r->total; r->total += (size_t)ds->cmp[i].k; }
    r->sum = xcalloc(r->total ? r->total : 1, sizeof(double));
    r->count = xcalloc(r->total ? r->total : 1, sizeof(double));
    if (per_batch < 1) per_batch = 1;
    DataBatch b;
    memset(&b, 0, sizeof b);
    float *logp = NULL, *mask = NULL;
    double *sum = NULL, *count = NULL;
    size_t cap = 0, rcap = 0;
    int rc = 0;
    size_t *ex = xmalloc((size_t)per_batch * sizeof(size_t));
    // chunks of per_batch needed examples in dataset order, whole chunks dealt out to the ranks
    size_t needed = 0, c0, cc, chunk = 0;
    for (size_t i = 0; i < ds->n; i++) needed += !need || need[i];
    dist_shard((needed + (size_t)per_batch - 1) / (size_t)per_batch, &c0, &cc);
    for (size_t i = 0; i < ds->n && !rc; chunk++) {
        // the next per_batch needed examples, in dataset order
        data_batch_clear(&b);
        int nb = 0;
        size_t rows = 0;
        for (; i < ds->n && nb < per_batch; i++)
            if (!need || need[i]) { ex[nb++] = i; data_batch_add(&b, ds, (int)i); rows += (size_t)ds->cmp[i].k; }
        if (nb == 0) break;
        if (chunk < c0 || chunk >= c0 + cc) continue;  // another rank's
        if (gpt_forward_targets(m, b.B, b.len, b.tokens, b.parent, b.prefix, b.targets, e)) { rc = -1; break; }
        if (b.N > cap) { cap = b.N; logp = xrealloc(logp, cap * sizeof(float)); mask = xrealloc(mask, cap * sizeof(float)); }
        if (rows > rcap) { rcap = rows; sum = xrealloc(sum, rcap * sizeof(double)); count = xrealloc(count, rcap * sizeof(double)); }
        row_sums(m, b.targets, b.B, b.len, logp, mask, sum, count);  // rows: the examples' responses in order
        size_t o = 0;
        for (int j = 0; j < nb; j++) {
            size_t k = (size_t)ds->cmp[ex[j]].k;
            memcpy(r->sum + r->first[ex[j]], sum + o, k * sizeof(double));
            memcpy(r->count + r->first[ex[j]], count + o, k * sizeof(double));
            o += k;
        }
    }
    free(ex); free(logp); free(mask); free(sum); free(count);
    data_batch_free(&b);
    if (rc) { dpo_ref_free(r); return rc; }
    dist_allreduce_sum_double(r->sum, r->total);  // each entry from its one rank: exact
    dist_allreduce_sum_double(r->count, r->total);
    return 0;
}

void dpo_ref_free(DpoRef *r) {
    free(r->first); free(r->sum); free(r->count);
    memset(r, 0, sizeof *r);
}

// ---- options -------------------------------------------------------------------------------------
static LoopOptions loop_options(const DpoOptions *o) {
    LoopOptions l;
    LOOP_OPTIONS_FROM_STAGE(l, o);
    return l;
}

static json_t *options_json(const DpoOptions *o) {
    json_t *j = json_object();
    json_object_set_new(j, "stage", json_string("dpo"));
    json_object_set_new(j, "model", json_string(o->model));
    json_object_set_new(j, "data", json_string(o->data));
    json_object_set_new(j, "val", json_string_or_null(o->val));
    json_object_set_new(j, "loss", json_string(o->loss));
    json_object_set_new(j, "beta", json_real(o->beta));
    json_object_set_new(j, "label_smoothing", json_real(o->label_smoothing));
    json_object_set_new(j, "batch", json_integer(o->batch));
    LoopOptions l = loop_options(o);
    loop_options_to_json(&l, j);
    json_object_set_new(j, "val_fraction", json_real(o->val_fraction));
    json_object_set_new(j, "max_len", json_integer(o->max_len));
    json_object_set_new(j, "min_prompt", json_integer(o->min_prompt));
    json_object_set_new(j, "plain_template", json_boolean(o->plain_template));
    json_object_set_new(j, "skip_bad", json_boolean(o->skip_bad));
    loop_machine_to_json(j);
    return j;
}

// The stored settings of a resumed run win over flags (only --steps may change it).
static int options_from_json(DpoOptions *o, const json_t *j, const char *ctx, Err *e) {
    long l;
    LoopOptions lo = loop_options(o);
    if (loop_options_from_json(&lo, j, ctx, e)) return -1;
    LOOP_OPTIONS_TO_STAGE(o, lo);
    if (json_get_string(j, "model", &o->model, ctx, e) || json_get_string(j, "data", &o->data, ctx, e) ||
        json_get_string_or_null(j, "val", &o->val, ctx, e) || json_get_string(j, "loss", &o->loss, ctx, e) ||
        json_get_double(j, "beta", &o->beta, ctx, e) ||
        json_get_double(j, "label_smoothing", &o->label_smoothing, ctx, e) ||
        json_get_double(j, "val_fraction", &o->val_fraction, ctx, e))
        return -1;
#define GETL(key, field) if (json_get_long(j, key, &l, ctx, e)) return -1; o->field = (int)l;
    GETL("batch", batch) GETL("max_len", max_len) GETL("min_prompt", min_prompt)
#undef GETL
    if (json_get_bool(j, "plain_template", &o->plain_template, ctx, e) || json_get_bool(j, "skip_bad", &o->skip_bad, ctx, e))
        return -1;
    return 0;
}

// ---- the stage's callbacks -----------------------------------------------------------------------
typedef struct {
    const DpoOptions *o;
    PrefLossConfig pc;
    const Dataset *train, *val;
    DpoRef ref_train, ref_val;
    size_t start, count;      // this rank's share of the global batch
    int cached_epoch;
    int *order;               // [train->n] order of cached_epoch
    DataBatch b;
} Dpo;

static int dpo_cb_batch(void *ctx, long step, int micro, Err *e) {
    (void)e;
    Dpo *d = ctx;
    size_t n = d->train->n, G = (size_t)d->o->batch, A = (size_t)d->o->grad_accum;
    size_t a = d->count * (size_t)micro / A, b = d->count * (size_t)(micro + 1) / A;
    data_batch_clear(&d->b);
    for (size_t j = d->start + a; j < d->start + b; j++) {
        size_t g = (size_t)step * G + j;
        int epoch = (int)(g / n);
        if (epoch != d->cached_epoch) { data_order(n, d->o->seed, epoch, d->order); d->cached_epoch = epoch; }
        data_batch_add(&d->b, d->train, d->order[g % n]);
    }
    return 0;
}

static int dpo_cb_loss(void *ctx, GPT *m, LoopMicro *out, Err *e) {
    Dpo *d = ctx;
    out->tokens = (double)d->b.N;
    if (d->b.B == 0) return 0;
    DpoStats st = {0};
    if (dpo_batch_loss(m, d->train, &d->ref_train, &d->b, &d->pc, 1, NULL, &st, e)) return -1;
    out->loss_sum = st.loss_sum;
    out->count = st.elements;
    out->extra[0] = st.acc_sum;
    out->extra[1] = st.rw_sum;
    out->extra[2] = st.rl_sum;
    out->extra[3] = st.margin_sum;
    return 0;
}

// A micro-batch's examples on one rank (the reference pass and evaluation use the same packs on
// any number of ranks).
static int per_batch(const DpoOptions *o) { return (int)dist_micro_rows(o->batch, o->grad_accum); }

static int dpo_cb_eval(void *ctx, GPT *m, long step, json_t *row, Err *e) {
    (void)step;
    Dpo *d = ctx;
    if (!d->val || d->val->n == 0) return 1;
    size_t per = (size_t)per_batch(d->o), start, count;
    dist_shard_chunks(d->val->n, per, &start, &count);
    DpoStats st = {0};
    DataBatch b;
    memset(&b, 0, sizeof b);
    for (size_t i = start; i < start + count; i += per) {
        data_batch_clear(&b);
        for (size_t j = i; j < min_sz(i + per, start + count); j++) data_batch_add(&b, d->val, (int)j);
        if (dpo_batch_loss(m, d->val, &d->ref_val, &b, &d->pc, 0, NULL, &st, e)) { data_batch_free(&b); return -1; }
    }
    data_batch_free(&b);
    double s[6] = {st.loss_sum, st.elements, st.pairs, st.pairs_correct, st.pair_rw_sum, st.pair_rl_sum};
    dist_allreduce_sum_double(s, 6);
    if (s[1] == 0 || s[2] == 0) return 1;
    json_object_set_new(row, "val_loss", json_real(s[0] / s[1]));
    json_object_set_new(row, "val_accuracy", json_real(s[3] / s[2]));
    json_object_set_new(row, "val_reward_chosen", json_real(s[4] / s[2]));
    json_object_set_new(row, "val_reward_rejected", json_real(s[5] / s[2]));
    json_object_set_new(row, "val_margin", json_real((s[4] - s[5]) / s[2]));
    return 0;
}

static void report(const DataReport *rep, const char *path, size_t n_train, size_t n_val) {
    if (!dist_is_root()) return;
    infof("dpo: %s: %zu train / %zu validation examples; %ld truncated, %ld too long (skipped), %ld bad lines skipped",
          path, n_train, n_val, rep->n_truncated, rep->n_too_long, rep->n_bad);
    for (int i = 0; i < rep->n_problems; i++) infof("  %s", rep->problems[i]);
}

int dpo_run(const DpoOptions *opts, Err *e) {
    DpoOptions o = *opts;
    RunDir run;
    memset(&run, 0, sizeof run);
    json_t *stored = NULL, *cj = NULL;
    GPT *m = NULL, *ref = NULL;
    Tokenizer tok;
    memset(&tok, 0, sizeof tok);
    Dataset train, val;
    memset(&train, 0, sizeof train); memset(&val, 0, sizeof val);
    DataReport rep;
    memset(&rep, 0, sizeof rep);
    Dpo d;
    memset(&d, 0, sizeof d);
    int rc = -1;

    if (!o.memory_only) {
        if (loop_open_run(&run, o.out, o.resume, &stored, e)) return -1;
        if (o.resume) {
            char *ctx = path_join(o.out, "config.json");
            int r = options_from_json(&o, stored, ctx, e);
            free(ctx);
            if (r) goto out;
            if (opts->steps > 0) o.steps = opts->steps;
            o.quiet = opts->quiet;
            o.resume = 1;
        }
    }
    SchedKind sk;
    if (sched_parse(o.schedule, &sk)) { err_set(e, "--schedule: expected constant, linear or cosine, got \"%s\"", o.schedule); goto out; }
    if (pref_kind_parse(o.loss, &d.pc.kind)) { err_set(e, "--loss: expected dpo or ipo, got \"%s\"", o.loss); goto out; }
    if (!(o.beta > 0) || !isfinite(o.beta)) { err_set(e, "--beta must be positive, got %g", o.beta); goto out; }
    if (!(o.label_smoothing >= 0 && o.label_smoothing < 0.5)) { err_set(e, "--label-smoothing must be in [0, 0.5), got %g", o.label_smoothing); goto out; }
    if (d.pc.kind == PREF_IPO && o.label_smoothing != 0) { err_set(e, "--label-smoothing applies to --loss dpo only"); goto out; }
    if (o.batch <= 0 || o.steps <= 0) { err_set(e, "--batch and --steps must be positive"); goto out; }
    if (o.grad_accum < 1 || o.grad_accum > o.batch) { err_set(e, "--grad-accum must be between 1 and --batch (%d), got %d", o.batch, o.grad_accum); goto out; }
    if (o.val_fraction < 0 || o.val_fraction >= 1) { err_set(e, "--val-fraction must be in [0, 1), got %g", o.val_fraction); goto out; }
    d.pc.beta = o.beta;
    d.pc.label_smoothing = o.label_smoothing;

    GPTConfig cfg;
    if (ckpt_read_config(o.model, &cfg, e)) goto out;
    int max_len = o.max_len > 0 ? o.max_len : cfg.n_ctx;
    if (max_len > cfg.n_ctx) { err_set(e, "--max-len %d is longer than the model's context %d", max_len, cfg.n_ctx); goto out; }
    dist_shard((size_t)o.batch, &d.start, &d.count);
    {   // policy (trainable) + reference (inference); a micro-batch of pairs = 2 rows per example
        size_t rows = 2 * ((d.count + (size_t)o.grad_accum - 1) / (size_t)o.grad_accum);
        size_t need =
            gpt_memory_estimate(&cfg, 1, rows * (size_t)max_len, (size_t)max_len, o.bf16) +
            gpt_memory_estimate(&cfg, 0, rows * (size_t)max_len, (size_t)max_len, o.bf16);
        size_t avail = mem_available_bytes();
        if (o.memory_only) {
            printf("{\"params\": %zu, \"estimate_bytes\": %zu, \"estimate_gib\": %.3f, "
                   "\"available_gib\": %.3f}\n", gpt_num_params(&cfg), need,
                   (double)need / (1u << 30), (double)avail / (1u << 30));
            rc = 0;
            goto out;
        }
        if (avail && need > avail) {
            err_set(e, "this run needs about %.2f GiB (policy + reference of %zu parameters, micro-batch "
                       "up to %zu×%d tokens) but only %.2f GiB is available (try --grad-accum or --max-len)",
                    (double)need / (1u << 30), gpt_num_params(&cfg), rows, max_len, (double)avail / (1u << 30));
            goto out;
        }
    }

    if (!(m = ckpt_load_model(o.model, 1, &tok, e))) goto out;
    if (m->cfg.score_head) { err_set(e, "%s has a score head (a reward model): DPO needs a language model", o.model); goto out; }
    DataOpts dop = {.kind = DATA_CMP, .tok = &tok, .plain_template = o.plain_template,
                    .trunc = {.max_len = max_len, .min_prompt = o.min_prompt}, .skip_bad = o.skip_bad,
                    .max_problems = 10, .val_fraction = o.val_fraction, .split_seed = o.seed,
                    .val_path = o.val};
    if (dataset_load(o.data, &dop, &train, &val, &rep, e)) goto out;
    report(&rep, o.data, train.n, val.n);
    if (train.n == 0) { err_set(e, "%s: no training examples (all held out, too long or bad)", o.data); goto out; }

    // the frozen reference: the same weights, no gradients or moments; its logprobs once, then
    // freed — through the products the policy will train with (--bf16: bf16 from here on)
    if (gemm_set_bf16(o.bf16, e)) goto out;
    ref = gpt_create(&m->cfg, 0);
    memcpy(ref->params, m->params, m->n_params * sizeof(float));
    double t0 = now_s();
    // only the training examples the run's steps will draw (all when it covers an epoch): the
    // order is a function of the seed, so a resumed run computes the same set the same way
    unsigned char *need = NULL;
    if ((size_t)o.steps * (size_t)o.batch < train.n) {
        need = xcalloc(train.n, 1);
        int *ord = xmalloc(train.n * sizeof(int));
        data_order(train.n, o.seed, 0, ord);
        for (size_t g = 0; g < (size_t)o.steps * (size_t)o.batch; g++) need[ord[g]] = 1;
        free(ord);
    }
    int rr = dpo_ref_compute(ref, &train, per_batch(&o), need, &d.ref_train, e) ||
             dpo_ref_compute(ref, &val, per_batch(&o), NULL, &d.ref_val, e);
    free(need);
    if (rr) goto out;
    gpt_free(ref);
    ref = NULL;
    if (dist_is_root())
        infof("dpo: reference logprobs of %zu + %zu responses in %.2f s", d.ref_train.total,
              d.ref_val.total, now_s() - t0);

    d.o = &o; d.train = &train; d.val = &val;
    d.cached_epoch = -1;
    d.order = xmalloc(train.n * sizeof(int));
    if (dist_is_root())
        infof("dpo: %zu parameters (%d layers, %d wide, context %d), loss %s, β %g%s, batch %d examples "
              "(%d micro-batches), %ld steps, %d threads", m->n_params, m->cfg.n_layer, m->cfg.n_embd,
              m->cfg.n_ctx, o.loss, o.beta, o.label_smoothing > 0 ? " (label smoothing)" : "",
              o.batch, o.grad_accum, o.steps, threads_get());
    cj = options_json(&o);
    TrainLoop L = {.stage = "dpo", .opt = loop_options(&o), .run = &run, .config = cj, .model = m,
                   .tok = &tok, .ctx = &d, .batch = dpo_cb_batch, .loss = dpo_cb_loss,
                   .eval = dpo_cb_eval, .n_extra = 4,
                   .extra_names = {"accuracy", "reward_chosen", "reward_rejected", "margin"},
                   .n_plot = 4, .plot_keys = {"loss", "val_loss", "val_accuracy", "margin"}};
    rc = loop_train(&L, e);
out:
    json_decref(cj);
    free(d.order);
    data_batch_free(&d.b);
    dpo_ref_free(&d.ref_train); dpo_ref_free(&d.ref_val);
    dataset_free(&train); dataset_free(&val);
    data_report_free(&rep);
    if (ref) gpt_free(ref);
    if (m) gpt_free(m);
    tok_free(&tok);
    run_close(&run);
    json_decref(stored);
    return rc;
}
