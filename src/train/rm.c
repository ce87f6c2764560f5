// train/rm.c — the reward-model stage on the shared loop (train/loop.h). Step s covers the global
// examples s·batch … (s+1)·batch − 1 of the concatenated epoch orders (epoch e visits the training
// set in data_order(seed, e)), so a batch is a pure function of (seed, step): a resumed run sees
// the same batches. Each rank takes its dist_shard of the step's examples and splits it into
// --grad-accum contiguous micro-batches; every example's K responses are adjacent rows.
#include "train/rm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "io/checkpoint.h"
#include "io/model_io.h"
#include "train/loop.h"
#include "train/losses.h"
#include "train/run.h"
#include "train/schedule.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/sysinfo.h"

void rm_defaults(RmOptions *o) {
    memset(o, 0, sizeof *o);
    o->batch = 16; o->grad_accum = 1; o->steps = 500;
    o->lr = 3e-5f; o->min_lr_frac = 0.1f; o->weight_decay = 0.0f;
    o->beta1 = 0.9f; o->beta2 = 0.95f; o->eps = 1e-8f; o->grad_clip = 1.0f;
    o->warmup = 20; o->schedule = "cosine";
    o->val_fraction = 0.05; o->eval_every = 50; o->ckpt_every = 200; o->keep_checkpoints = 2;
    o->max_len = 0; o->min_prompt = -1; o->centre = 0.0;
    o->seed = 1337;
}

// ---- the loss ----------------------------------------------------------------------------------
double rm_example_loss(const CmpExample *ex, const double *r, double m, double centre, double *dr,
                       RmStats *st) {
    if (dr) for (int k = 0; k < ex->k; k++) dr[k] = 0;
    int P = ex->n_pairs;
    if (P == 0) return 0;
    double loss = 0, acc = 0, mar = 0;
    for (int p = 0; p < P; p++) {
        int a = ex->pairs[p][0], b = ex->pairs[p][1];
        BTPair bt = bt_pair(r[a], r[b], m, centre);
        loss += bt.loss;
        acc += bt.correct;
        mar += bt.margin;
        if (dr) { dr[a] += bt.d_w / P; dr[b] += bt.d_l / P; }
    }
    if (st) {
        st->loss_sum += loss / P; st->elements += 1;
        st->acc_sum += acc / P; st->margin_sum += mar / P;
        st->pairs += P; st->pairs_correct += acc; st->pair_margin_sum += mar;
    }
    return loss / P;
}

int rm_batch_loss(GPT *m, const Dataset *ds, const DataBatch *b, int ignore_margin, double centre,
                  double *rewards, float *dval, RmStats *st, Err *e) {
    if (b->B == 0) return 0;
    if (gpt_forward_last(m, b->B, b->len, b->tokens, b->parent, b->prefix, e)) return -1;
    float *val = falloc(b->N);
    gpt_values(m, val);
    double *r = xmalloc((size_t)b->B * sizeof(double)), *dr = xcalloc((size_t)b->B, sizeof(double));
    seq_gather_last(b->B, b->len, val, r);
    for (int row = 0; row < b->B;) {  // the rows of one example are adjacent, responses in order
        const CmpExample *ex = &ds->cmp[b->example[row]];
        double m_ = (!ignore_margin && ex->has_margin) ? ex->margin : 0.0;
        rm_example_loss(ex, r + row, m_, centre, dr + row, st);
        row += ex->k;
    }
    if (rewards) memcpy(rewards, r, (size_t)b->B * sizeof(double));
    if (dval) {
        seq_scatter_last(b->B, b->len, dr, dval);
        gpt_backward(m, NULL, 1.0f, NULL, NULL, dval);
    }
    free(val); free(r); free(dr);
    return 0;
}

int rm_reference_scores(GPT *m, const Dataset *ds, int per_batch, double **scores, Err *e) {
    size_t n = ds->n;
    double *out = xcalloc(n ? n : 1, sizeof(double));
    if (per_batch < 1) per_batch = 1;
    int *len = xmalloc((size_t)per_batch * sizeof(int));
    size_t cap = 0;
    int *tok = NULL;
    float *val = NULL;
    for (size_t i0 = 0; i0 < n; i0 += (size_t)per_batch) {
        int B = (int)min_sz((size_t)per_batch, n - i0);
        size_t N = 0;
        for (int b = 0; b < B; b++) {  // sizes, then tokens
            size_t i = i0 + (size_t)b;
            if (ds->kind == DATA_CMP) {
                const CmpExample *c = &ds->cmp[i];
                len[b] = c->n_prompt + c->n_resp[c->n_rank > 0 ? c->rank[0] : 0];
            } else {
                len[b] = ds->sft[i].n;
            }
            N += (size_t)len[b];
        }
        if (N > cap) { cap = N; tok = xrealloc(tok, cap * sizeof(int)); val = xrealloc(val, cap * sizeof(float)); }
        size_t at = 0;
        for (int b = 0; b < B; b++) {
            size_t i = i0 + (size_t)b;
            if (ds->kind == DATA_CMP) {
                const CmpExample *c = &ds->cmp[i];
                int best = c->n_rank > 0 ? c->rank[0] : 0;
                memcpy(tok + at, c->prompt, (size_t)c->n_prompt * sizeof(int));
                memcpy(tok + at + c->n_prompt, c->resp[best], (size_t)c->n_resp[best] * sizeof(int));
            } else {
                memcpy(tok + at, ds->sft[i].ids, (size_t)ds->sft[i].n * sizeof(int));
            }
            at += (size_t)len[b];
        }
        if (gpt_forward_last(m, B, len, tok, NULL, NULL, e)) { free(out); free(len); free(tok); free(val); return -1; }
        gpt_values(m, val);
        seq_gather_last(B, len, val, out + i0);
    }
    free(len); free(tok); free(val);
    *scores = out;
    return 0;
}

// ---- the stage -----------------------------------------------------------------------------------
static LoopOptions loop_options(const RmOptions *o) {
    LoopOptions l;
    LOOP_OPTIONS_FROM_STAGE(l, o);
    return l;
}

static json_t *options_json(const RmOptions *o) {
    json_t *j = json_object();
    json_object_set_new(j, "stage", json_string("rm"));
    json_object_set_new(j, "model", json_string(o->model));
    json_object_set_new(j, "data", json_string(o->data));
    json_object_set_new(j, "val", json_string_or_null(o->val));
    json_object_set_new(j, "norm_data", json_string_or_null(o->norm_data));
    json_object_set_new(j, "batch", json_integer(o->batch));
    LoopOptions l = loop_options(o);
    loop_options_to_json(&l, j);
    json_object_set_new(j, "val_fraction", json_real(o->val_fraction));
    json_object_set_new(j, "max_len", json_integer(o->max_len));
    json_object_set_new(j, "min_prompt", json_integer(o->min_prompt));
    json_object_set_new(j, "plain_template", json_boolean(o->plain_template));
    json_object_set_new(j, "ignore_margin", json_boolean(o->ignore_margin));
    json_object_set_new(j, "center", json_real(o->centre));
    json_object_set_new(j, "norm_gain", json_boolean(o->norm_gain));
    json_object_set_new(j, "skip_bad", json_boolean(o->skip_bad));
    loop_machine_to_json(j);
    return j;
}

static int options_from_json(RmOptions *o, const json_t *j, const char *ctx, Err *e) {
    long l;
    double d;
    LoopOptions lo = loop_options(o);
    if (loop_options_from_json(&lo, j, ctx, e)) return -1;
    LOOP_OPTIONS_TO_STAGE(o, lo);
    if (json_get_string(j, "model", &o->model, ctx, e) || json_get_string(j, "data", &o->data, ctx, e) ||
        json_get_string_or_null(j, "val", &o->val, ctx, e) || json_get_string_or_null(j, "norm_data", &o->norm_data, ctx, e))
        return -1;
#define GETL(key, field) if (json_get_long(j, key, &l, ctx, e)) return -1; o->field = (int)l;
    GETL("batch", batch) GETL("max_len", max_len) GETL("min_prompt", min_prompt)
#undef GETL
    if (json_get_double(j, "val_fraction", &d, ctx, e)) return -1;
    o->val_fraction = d;
    if (json_get_double(j, "center", &d, ctx, e)) return -1;
    o->centre = d;
    if (json_get_bool(j, "plain_template", &o->plain_template, ctx, e) ||
        json_get_bool(j, "ignore_margin", &o->ignore_margin, ctx, e) ||
        json_get_bool(j, "norm_gain", &o->norm_gain, ctx, e) || json_get_bool(j, "skip_bad", &o->skip_bad, ctx, e))
        return -1;
    return 0;
}

typedef struct {
    const RmOptions *o;
    const Dataset *train, *val, *norm;  // norm: NULL = the chosen responses of train
    const char *norm_source;
    size_t start, count;                // this rank's share of the global batch
    int cached_epoch;
    int *order;                         // [train->n] order of cached_epoch
    DataBatch b;
    float *dval;
    size_t cap_dval;
} Rm;

static int rm_cb_batch(void *ctx, long step, int micro, Err *e) {
    (void)e;
    Rm *r = ctx;
    size_t n = r->train->n, G = (size_t)r->o->batch, A = (size_t)r->o->grad_accum;
    size_t a = r->count * (size_t)micro / A, b = r->count * (size_t)(micro + 1) / A;
    data_batch_clear(&r->b);
    for (size_t j = r->start + a; j < r->start + b; j++) {
        size_t g = (size_t)step * G + j;
        int epoch = (int)(g / n);
        if (epoch != r->cached_epoch) { data_order(n, r->o->seed, epoch, r->order); r->cached_epoch = epoch; }
        data_batch_add(&r->b, r->train, r->order[g % n]);
    }
    return 0;
}

static int rm_cb_loss(void *ctx, GPT *m, LoopMicro *out, Err *e) {
    Rm *r = ctx;
    if (r->b.B == 0) return 0;
    if (r->b.N > r->cap_dval) { r->cap_dval = r->b.N; r->dval = xrealloc(r->dval, r->cap_dval * sizeof(float)); }
    RmStats st = {0};
    if (rm_batch_loss(m, r->train, &r->b, r->o->ignore_margin, r->o->centre, NULL, r->dval, &st, e)) return -1;
    out->loss_sum = st.loss_sum;
    out->count = st.elements;
    out->tokens = (double)r->b.N;
    out->extra[0] = st.acc_sum;
    out->extra[1] = st.margin_sum;
    return 0;
}

static int rm_cb_eval(void *ctx, GPT *m, long step, json_t *row, Err *e) {
    (void)step;
    Rm *r = ctx;
    if (!r->val || r->val->n == 0) return 1;
    size_t per = dist_micro_rows(r->o->batch, r->o->grad_accum), start, count;
    dist_shard_chunks(r->val->n, per, &start, &count);
    RmStats st = {0};
    DataBatch b;
    memset(&b, 0, sizeof b);
    for (size_t i = start; i < start + count; i += per) {
        data_batch_clear(&b);
        for (size_t j = i; j < min_sz(i + per, start + count); j++) data_batch_add(&b, r->val, (int)j);
        if (rm_batch_loss(m, r->val, &b, r->o->ignore_margin, r->o->centre, NULL, NULL, &st, e)) {
            data_batch_free(&b);
            return -1;
        }
    }
    data_batch_free(&b);
    double s[5] = {st.loss_sum, st.elements, st.pairs, st.pairs_correct, st.pair_margin_sum};
    dist_allreduce_sum_double(s, 5);
    if (s[2] == 0) return 1;
    json_object_set_new(row, "val_loss", json_real(s[0] / s[1]));
    json_object_set_new(row, "val_accuracy", json_real(s[3] / s[2]));
    json_object_set_new(row, "val_margin", json_real(s[4] / s[2]));
    return 0;
}

// After the last step: the reference set's scores → bias (and gain) in final/config.json.
static int rm_cb_finish(void *ctx, GPT *m, json_t *extra, Err *e) {
    Rm *r = ctx;
    const Dataset *ref = r->norm ? r->norm : r->train;
    if (ref->n == 0) return err_set(e, "normalisation: the reference set (%s) is empty", r->norm_source);
    size_t per = dist_micro_rows(r->o->batch, r->o->grad_accum), start, count;
    dist_shard_chunks(ref->n, per, &start, &count);
    double *all = xcalloc(ref->n, sizeof(double)), *part = NULL;
    Dataset shard = *ref;  // this rank's slice of the reference set
    if (ref->kind == DATA_CMP) shard.cmp = ref->cmp + start; else shard.sft = ref->sft + start;
    shard.n = count;
    if (rm_reference_scores(m, &shard, (int)per, &part, e)) { free(all); return -1; }
    memcpy(all + start, part, count * sizeof(double));
    free(part);
    dist_allreduce_sum_double(all, ref->n);
    RewardNorm rn = reward_norm_fit(all, ref->n, r->o->norm_gain);
    double mean = -rn.bias, var = 0;
    for (size_t i = 0; i < ref->n; i++) var += (all[i] - mean) * (all[i] - mean);
    double sd = sqrt(var / (double)ref->n);
    free(all);
    json_object_set_new(extra, "rlhf_reward_bias", json_real(rn.bias));
    json_object_set_new(extra, "rlhf_reward_gain", json_real(rn.gain));
    json_t *info = json_object();
    json_object_set_new(info, "reference", json_string(r->norm_source));
    json_object_set_new(info, "n", json_integer((json_int_t)ref->n));
    json_object_set_new(info, "raw_mean", json_real(mean));
    json_object_set_new(info, "raw_std", json_real(sd));
    json_object_set_new(info, "formula", json_string("score = gain * (raw + bias)"));
    json_object_set_new(extra, "rlhf_reward_norm", info);
    if (dist_is_root())
        infof("rm: normalisation on %zu reference rows (%s): raw mean %.4f, std %.4f → bias %.6g, gain %.6g",
              ref->n, r->norm_source, mean, sd, rn.bias, rn.gain);
    return 0;
}

static void report(const char *what, const DataReport *rep, size_t n_train, size_t n_val) {
    if (!dist_is_root()) return;
    infof("rm: %s: %zu train / %zu validation examples; %ld truncated, %ld too long (skipped), %ld bad lines skipped",
          what, n_train, n_val, rep->n_truncated, rep->n_too_long, rep->n_bad);
    for (int i = 0; i < rep->n_problems; i++) infof("  %s", rep->problems[i]);
}

int rm_run(const RmOptions *opts, Err *e) {
    RmOptions o = *opts;
    RunDir run;
    memset(&run, 0, sizeof run);
    json_t *stored = NULL;
    if (loop_open_run(&run, o.out, o.resume, &stored, e)) return -1;
    if (o.resume) {
        char *ctx = path_join(o.out, "config.json");
        int rc = options_from_json(&o, stored, ctx, e);
        free(ctx);
        if (rc) { json_decref(stored); run_close(&run); return -1; }
        if (opts->steps > 0) o.steps = opts->steps;
        o.quiet = opts->quiet;
    }
    SchedKind sk;
    int bad = 0;
    if (sched_parse(o.schedule, &sk)) bad = err_set(e, "--schedule: expected constant, linear or cosine, got \"%s\"", o.schedule);
    else if (o.batch <= 0 || o.steps <= 0) bad = err_set(e, "--batch and --steps must be positive");
    else if (o.grad_accum < 1 || o.grad_accum > o.batch) bad = err_set(e, "--grad-accum must be between 1 and --batch (%d), got %d", o.batch, o.grad_accum);
    else if (o.centre < 0) bad = err_set(e, "--center must be ≥ 0, got %g", o.centre);
    if (bad) { run_close(&run); json_decref(stored); return -1; }

    Tokenizer tok;
    memset(&tok, 0, sizeof tok);
    GPT *m = ckpt_load_model(o.model, 1, &tok, e);
    if (!m) { run_close(&run); json_decref(stored); return -1; }
    Dataset train, val, norm;
    memset(&train, 0, sizeof train); memset(&val, 0, sizeof val); memset(&norm, 0, sizeof norm);
    DataReport rep, nrep;
    memset(&rep, 0, sizeof rep); memset(&nrep, 0, sizeof nrep);
    json_t *cj = NULL;
    Rm r;
    memset(&r, 0, sizeof r);
    int rc = -1, added = 0;
    if (model_ensure_pad(&m, &tok, &added, e)) goto out;
    if (added && dist_is_root()) infof("rm: added a pad token (id %d) distinct from EOS", tok.pad_id);
    if (!m->cfg.score_head) {
        if (gpt_add_score_head(&m, o.seed, e)) goto out;
    } else if (dist_is_root()) {
        infof("rm: %s already has a score head: training it further", o.model);
    }
    int max_len = o.max_len > 0 ? o.max_len : m->cfg.n_ctx;
    if (max_len > m->cfg.n_ctx) { err_set(e, "--max-len %d is longer than the model's context %d", max_len, m->cfg.n_ctx); goto out; }
    DataOpts dop = {.kind = DATA_CMP, .tok = &tok, .plain_template = o.plain_template,
                    .trunc = {.max_len = max_len, .min_prompt = o.min_prompt}, .skip_bad = o.skip_bad,
                    .max_problems = 10, .val_fraction = o.val_fraction, .split_seed = o.seed,
                    .val_path = o.val};
    if (dataset_load(o.data, &dop, &train, &val, &rep, e)) goto out;
    report(o.data, &rep, train.n, val.n);
    if (train.n == 0) { err_set(e, "%s: no training examples (all held out, too long or bad)", o.data); goto out; }
    if (o.norm_data) {
        DataOpts nop = dop;
        nop.kind = DATA_SFT; nop.val_path = NULL; nop.val_fraction = 0;
        if (dataset_load(o.norm_data, &nop, &norm, NULL, &nrep, e)) goto out;
        report(o.norm_data, &nrep, norm.n, 0);
    }
    dist_shard((size_t)o.batch, &r.start, &r.count);
    r.o = &o; r.train = &train; r.val = &val; r.norm = o.norm_data ? &norm : NULL;
    r.norm_source = o.norm_data ? o.norm_data : "chosen responses of the training data";
    r.cached_epoch = -1;
    r.order = xmalloc(train.n * sizeof(int));
    if (dist_is_root())
        infof("rm: %zu parameters (%d layers, %d wide, context %d), batch %d examples (%d micro-batches), "
              "%ld steps, centre %g, margins %s, %d threads", m->n_params, m->cfg.n_layer,
              m->cfg.n_embd, m->cfg.n_ctx, o.batch, o.grad_accum, o.steps, o.centre,
              o.ignore_margin ? "ignored" : "used", threads_get());
    cj = options_json(&o);
    TrainLoop L = {.stage = "rm", .opt = loop_options(&o), .run = &run, .config = cj, .model = m,
                   .tok = &tok, .ctx = &r, .batch = rm_cb_batch, .loss = rm_cb_loss,
                   .eval = rm_cb_eval, .finish = rm_cb_finish, .n_extra = 2,
                   .extra_names = {"accuracy", "margin"}, .n_plot = 4,
                   .plot_keys = {"loss", "val_loss", "val_accuracy", "lr"}};
    rc = loop_train(&L, e);
out:
    json_decref(cj);
    free(r.order); free(r.dval);
    data_batch_free(&r.b);
    dataset_free(&train); dataset_free(&val); dataset_free(&norm);
    data_report_free(&rep); data_report_free(&nrep);
    gpt_free(m);
    tok_free(&tok);
    run_close(&run);
    json_decref(stored);
    return rc;
}
