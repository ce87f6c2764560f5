// train/pretrain.c — the pretraining loop: batches of random windows keyed by (seed, step, row)
// so a resumed run sees exactly the batches an uninterrupted one would; each rank takes its
// share of the global batch through dist; validation loss on fixed held-out windows; metrics,
// checkpoints with optimizer state, resume, final model folder and an SVG of the curves.
#include "train/pretrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/textdata.h"
#include "dist/dist.h"
#include "eval/plot.h"
#include "io/checkpoint.h"
#include "model/gpt.h"
#include "train/run.h"
#include "train/schedule.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/rng.h"
#include "util/sysinfo.h"
#include "util/timer.h"

void pretrain_defaults(PretrainOptions *o) {
    memset(o, 0, sizeof *o);
    o->layers = 4; o->heads = 4; o->embd = 128; o->ctx = 128;
    o->batch = 16; o->seq = 0; o->steps = 1000;
    o->lr = 1e-3f; o->min_lr_frac = 0.1f; o->weight_decay = 0.1f;
    o->beta1 = 0.9f; o->beta2 = 0.95f; o->eps = 1e-8f; o->grad_clip = 1.0f;
    o->warmup = 50; o->schedule = "cosine";
    o->val_fraction = 0.05; o->eval_every = 100; o->eval_batches = 4;
    o->ckpt_every = 500; o->keep_checkpoints = 2; o->log_every = 10;
    o->seed = 1337;
}

static json_t *options_json(const PretrainOptions *o) {
    json_t *j = json_object();
    json_object_set_new(j, "stage", json_string("pretrain"));
    json_object_set_new(j, "data", json_string(o->data));
    json_object_set_new(j, "tokenizer", o->tokenizer ? json_string(o->tokenizer) : json_null());
    json_object_set_new(j, "layers", json_integer(o->layers));
    json_object_set_new(j, "heads", json_integer(o->heads));
    json_object_set_new(j, "embd", json_integer(o->embd));
    json_object_set_new(j, "ctx", json_integer(o->ctx));
    json_object_set_new(j, "batch", json_integer(o->batch));
    json_object_set_new(j, "seq", json_integer(o->seq));
    json_object_set_new(j, "steps", json_integer(o->steps));
    json_object_set_new(j, "lr", json_real(o->lr));
    json_object_set_new(j, "min_lr_frac", json_real(o->min_lr_frac));
    json_object_set_new(j, "weight_decay", json_real(o->weight_decay));
    json_object_set_new(j, "beta1", json_real(o->beta1));
    json_object_set_new(j, "beta2", json_real(o->beta2));
    json_object_set_new(j, "eps", json_real(o->eps));
    json_object_set_new(j, "grad_clip", json_real(o->grad_clip));
    json_object_set_new(j, "warmup", json_integer(o->warmup));
    json_object_set_new(j, "schedule", json_string(o->schedule));
    json_object_set_new(j, "val_fraction", json_real(o->val_fraction));
    json_object_set_new(j, "eval_every", json_integer(o->eval_every));
    json_object_set_new(j, "eval_batches", json_integer(o->eval_batches));
    json_object_set_new(j, "ckpt_every", json_integer(o->ckpt_every));
    json_object_set_new(j, "keep_checkpoints", json_integer(o->keep_checkpoints));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "threads", json_integer(threads_get()));
    json_object_set_new(j, "processes", json_integer(dist_size()));
    return j;
}

// Reads the stored options of a run being resumed (the run's own settings win over flags; only
// --steps may extend it).
static int options_from_json(PretrainOptions *o, const json_t *j, const char *ctx, Err *e) {
    long l;
    double d;
    const char *s;
#define GETL(key, field) if (json_get_long(j, key, &l, ctx, e)) return -1; o->field = l;
#define GETD(key, field) if (json_get_double(j, key, &d, ctx, e)) return -1; o->field = d;
    GETL("layers", layers) GETL("heads", heads) GETL("embd", embd) GETL("ctx", ctx)
    GETL("batch", batch) GETL("seq", seq) GETD("lr", lr) GETD("min_lr_frac", min_lr_frac)
    GETD("weight_decay", weight_decay) GETD("beta1", beta1) GETD("beta2", beta2) GETD("eps", eps)
    GETD("grad_clip", grad_clip) GETL("warmup", warmup) GETD("val_fraction", val_fraction)
    GETL("eval_every", eval_every) GETL("eval_batches", eval_batches)
    GETL("ckpt_every", ckpt_every) GETL("keep_checkpoints", keep_checkpoints)
    GETL("seed", seed) GETL("steps", steps)
#undef GETL
#undef GETD
    if (json_get_string(j, "schedule", &s, ctx, e)) return -1;
    o->schedule = s;
    if (json_get_string(j, "data", &s, ctx, e)) return -1;
    o->data = s;
    const json_t *tk = json_object_get(j, "tokenizer");
    if (tk && !json_is_null(tk)) {
        if (json_get_string(j, "tokenizer", &s, ctx, e)) return -1;
        o->tokenizer = s;
    } else {
        o->tokenizer = NULL;
    }
    return 0;
}

// Fills rows [r0, r0+nr) of the global batch for `step`: inputs and next-token targets.
static void fill_batch(const TokenStream *s, uint64_t seed, long step, size_t r0, size_t nr, int T,
                       int *inp, int *tgt) {
    size_t span = s->n - (size_t)T;  // valid window starts: [0, span)
    for (size_t r = 0; r < nr; r++) {
        Rng g;
        rng_seed(&g, seed, 0x64617461 /* "data" */ + (uint64_t)step * 0x10000ULL, r0 + r);
        size_t st = (size_t)rng_below(&g, span);
        memcpy(inp + r * (size_t)T, s->tokens + st, (size_t)T * sizeof(int));
        memcpy(tgt + r * (size_t)T, s->tokens + st + 1, (size_t)T * sizeof(int));
    }
}

// Mean next-token loss over the first eval_batches × batch non-overlapping validation windows.
static double eval_loss(GPT *m, const TokenStream *val, int T, int B, long batches, float *logp) {
    size_t windows = (val->n - 1) / (size_t)T;
    size_t want = (size_t)batches * (size_t)B;
    if (want > windows) want = windows;
    if (want == 0) return NAN;
    size_t start, count;
    dist_shard(want, &start, &count);
    int *inp = xmalloc((size_t)B * (size_t)T * sizeof(int)), *tgt = xmalloc((size_t)B * (size_t)T * sizeof(int));
    int *len = xmalloc((size_t)B * sizeof(int));
    double sum[2] = {0, 0};
    for (size_t w = start; w < start + count; w += (size_t)B) {
        int rows = (int)min_sz((size_t)B, start + count - w);
        for (int r = 0; r < rows; r++) {
            memcpy(inp + (size_t)r * T, val->tokens + (w + (size_t)r) * (size_t)T, (size_t)T * sizeof(int));
            memcpy(tgt + (size_t)r * T, val->tokens + (w + (size_t)r) * (size_t)T + 1, (size_t)T * sizeof(int));
            len[r] = T;
        }
        Err e;
        if (gpt_forward(m, rows, len, inp, &e)) die("validation: %s", e.msg);
        gpt_lm_logprobs(m, tgt, 1.0f, logp, NULL);
        for (size_t n = 0; n < (size_t)rows * (size_t)T; n++) sum[0] -= logp[n];
        sum[1] += (double)rows * T;
    }
    dist_allreduce_sum_double(sum, 2);
    free(inp); free(tgt); free(len);
    return sum[0] / sum[1];
}

int pretrain_run(const PretrainOptions *opts, Err *e) {
    PretrainOptions o = *opts;
    RunDir run;
    json_t *stored = NULL;
    if (!o.memory_only) {
        if (run_open(&run, o.out, o.resume, e)) return -1;
        if (o.resume) {
            stored = run_read_config(&run, e);
            if (!stored) { run_close(&run); return -1; }
            char *ctx = path_join(o.out, "config.json");
            int rc = options_from_json(&o, stored, ctx, e);
            free(ctx);
            if (rc) { json_decref(stored); run_close(&run); return -1; }
            if (opts->steps > 0) o.steps = opts->steps;  // extending (or shortening) the run
            o.quiet = opts->quiet;
        }
    }
    int T = o.seq > 0 ? o.seq : o.ctx;
    SchedKind sk;
    if (sched_parse(o.schedule, &sk)) return err_set(e, "--schedule: expected constant, linear or cosine, got \"%s\"", o.schedule);
    if (T > o.ctx) return err_set(e, "--seq %d is longer than --ctx %d", T, o.ctx);
    if (o.batch <= 0 || o.steps <= 0) return err_set(e, "--batch and --steps must be positive");

    Tokenizer tok;
    if (!o.tokenizer) tok_init_bytes(&tok);
    else if (tok_load(&tok, o.tokenizer, e)) {
        if (!o.memory_only) run_close(&run);
        json_decref(stored);
        return -1;
    }
    GPTConfig cfg = {.n_layer = o.layers, .n_head = o.heads, .n_embd = o.embd, .n_ctx = o.ctx,
                     .vocab_size = tok.vocab_size, .score_head = 0};
    if (gpt_config_check(&cfg, e)) { tok_free(&tok); return -1; }
    size_t start_row, nrows;
    dist_shard((size_t)o.batch, &start_row, &nrows);
    size_t need = gpt_memory_estimate(&cfg, 1, nrows * (size_t)T, (size_t)T);
    size_t avail = mem_available_bytes();
    if (o.memory_only) {
        printf("{\"params\": %zu, \"estimate_bytes\": %zu, \"estimate_gib\": %.3f, "
               "\"available_gib\": %.3f}\n", gpt_num_params(&cfg), need,
               (double)need / (1u << 30), (double)avail / (1u << 30));
        tok_free(&tok);
        return 0;
    }
    if (avail && need > avail) {
        tok_free(&tok);
        run_close(&run);
        json_decref(stored);
        return err_set(e, "this run needs about %.2f GiB (model %zu parameters, batch %zu×%d "
                          "tokens) but only %.2f GiB is available", (double)need / (1u << 30),
                       gpt_num_params(&cfg), nrows, T, (double)avail / (1u << 30));
    }

    TokenStream all, train, val;
    if (textdata_load(o.data, &tok, &all, e)) { tok_free(&tok); run_close(&run); json_decref(stored); return -1; }
    textdata_split(&all, o.val_fraction, (size_t)T + 1, &train, &val);
    if (train.n < (size_t)T + 2) {
        textdata_free(&all);
        tok_free(&tok);
        run_close(&run);
        json_decref(stored);
        return err_set(e, "%s: %zu training tokens, too few for windows of %d tokens", o.data, train.n, T);
    }

    GPT *m = gpt_create(&cfg, 1);
    long step0 = 0;
    int rc = -1;
    int *inp = NULL, *tgt = NULL, *len = NULL;
    float *logp = NULL, *dlogp = NULL;
    if (o.resume) {
        long last = run_latest_checkpoint(&run);
        if (last < 0) { err_set(e, "%s: no complete checkpoint to resume from", o.out); goto done; }
        char *ck = run_checkpoint_path(&run, last);
        json_t *st = NULL;
        rc = ckpt_load_train(m, ck, &st, e);
        free(ck);
        json_decref(st);
        if (rc) goto done;
        rc = -1;
        step0 = last;
        if (run_metrics_resume(&run, last, e)) goto done;
        infof("resuming %s from step %ld", o.out, last);
    } else {
        gpt_init_weights(m, o.seed);
    }
    {
        json_t *cj = options_json(&o);
        int wr = run_write_config(&run, cj, e);
        json_decref(cj);
        if (wr) goto done;
    }
    if (dist_is_root())
        infof("pretrain: %zu parameters (%d layers, %d heads, %d wide, context %d), %zu train / "
              "%zu validation tokens, batch %d × %d, %ld steps, %d threads",
              m->n_params, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.n_ctx, train.n, val.n,
              o.batch, T, o.steps, threads_get());

    LRSchedule sched = {.kind = sk, .lr = o.lr, .warmup = o.warmup, .total = o.steps,
                        .min_lr_frac = o.min_lr_frac};
    AdamWConfig oc = {.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps,
                      .weight_decay = o.weight_decay, .grad_clip = o.grad_clip};
    size_t ntok = nrows * (size_t)T;
    inp = xmalloc(max_sz(ntok, 1) * sizeof(int));
    tgt = xmalloc(max_sz(ntok, 1) * sizeof(int));
    len = xmalloc(max_sz(nrows, 1) * sizeof(int));
    logp = falloc(max_sz(ntok, (size_t)o.batch * (size_t)T));
    dlogp = falloc(max_sz(ntok, 1));
    for (size_t r = 0; r < nrows; r++) len[r] = T;
    float global_tokens = (float)o.batch * (float)T;
    for (size_t n = 0; n < ntok; n++) dlogp[n] = -1.0f / global_tokens;

    Progress prog;
    progress_start(&prog, "pretrain", o.steps);
    prog.done = step0;
    double t_run = now_s();
    char extra[128];
    double last_val = NAN;
    for (long step = step0; step < o.steps; step++) {
        double t0 = now_s();
        fill_batch(&train, o.seed, step, start_row, nrows, T, inp, tgt);
        gpt_zero_grad(m);
        double loss_sum[1] = {0};
        if (nrows > 0) {
            if (gpt_forward(m, (int)nrows, len, inp, e)) goto done;
            gpt_lm_logprobs(m, tgt, 1.0f, logp, NULL);
            for (size_t n = 0; n < ntok; n++) loss_sum[0] -= logp[n];
            gpt_backward(m, tgt, 1.0f, dlogp, NULL, NULL);
        }
        dist_allreduce_sum(m->grads, m->n_params);
        dist_allreduce_sum_double(loss_sum, 1);
        double loss = loss_sum[0] / global_tokens;
        oc.lr = sched_lr(&sched, step);
        float gnorm = gpt_adamw_step(m, &oc);
        double dt = now_s() - t0;
        if (!isfinite(loss)) { err_set(e, "step %ld: loss is %f — training diverged (try a lower --lr)", step + 1, loss); goto done; }
        long s1 = step + 1;
        if (dist_is_root()) {
            json_t *row = json_object();
            json_object_set_new(row, "step", json_integer(s1));
            json_object_set_new(row, "loss", json_real(loss));
            json_object_set_new(row, "lr", json_real(oc.lr));
            json_object_set_new(row, "grad_norm", json_real(gnorm));
            json_object_set_new(row, "ms", json_real(dt * 1e3));
            json_object_set_new(row, "tokens_per_s", json_real(global_tokens / dt));
            run_metric(&run, row);
        }
        if ((o.eval_every > 0 && s1 % o.eval_every == 0) || s1 == o.steps) {
            if (val.n > (size_t)T) {
                last_val = eval_loss(m, &val, T, o.batch, o.eval_batches, logp);
                if (dist_is_root()) {
                    json_t *row = json_object();
                    json_object_set_new(row, "step", json_integer(s1));
                    json_object_set_new(row, "val_loss", json_real(last_val));
                    run_metric(&run, row);
                    char line[160];
                    snprintf(line, sizeof line, "step %ld: loss %.4f, val_loss %.4f", s1, loss, last_val);
                    if (o.quiet) infof("%s", line); else progress_log(&prog, line);
                }
            }
        }
        if ((o.ckpt_every > 0 && s1 % o.ckpt_every == 0) || s1 == o.steps) {
            if (dist_is_root()) {
                char *ck = run_checkpoint_path(&run, s1);
                json_t *st = json_object();
                json_object_set_new(st, "step", json_integer(s1));
                json_object_set_new(st, "seed", json_integer((json_int_t)o.seed));
                int wr = ckpt_save_train(m, &tok, ck, st, e);
                json_decref(st);
                free(ck);
                if (wr) goto done;
                run_prune_checkpoints(&run, (int)(o.keep_checkpoints > 0 ? o.keep_checkpoints : 1));
            }
        }
        snprintf(extra, sizeof extra, "loss %.4f", loss);
        if (!o.quiet) progress_update(&prog, s1, extra);
    }
    if (!o.quiet) progress_end(&prog, NULL);
    if (dist_is_root()) {
        char *fin = path_join(o.out, "final");
        int wr = ckpt_save_model(m, &tok, fin, NULL, e);
        free(fin);
        if (wr) goto done;
        char *svg = path_join(o.out, "loss.svg");
        const char *keys[] = {"loss", "val_loss", "lr", "grad_norm"};
        Err pe;
        if (plot_metrics_svg(run.metrics_path, svg, "pretrain", keys, 4, &pe)) warnf("%s", pe.msg);
        free(svg);
        infof("pretrain: done in %.1f s; final model in %s/final", now_s() - t_run, o.out);
    }
    rc = 0;
done:
    free(inp); free(tgt); free(len); free(logp); free(dlogp);
    gpt_free(m);
    textdata_free(&all);
    tok_free(&tok);
    run_close(&run);
    json_decref(stored);
    return rc;
}
