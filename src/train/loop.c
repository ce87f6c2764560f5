// train/loop.c — the shared training loop (see loop.h).
#include "train/loop.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "eval/plot.h"
#include "io/checkpoint.h"
#include "nn/gemm.h"
#include "train/dp_optim.h"
#include "train/schedule.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/sysinfo.h"
#include "util/timer.h"

void loop_options_defaults(LoopOptions *o) {
    memset(o, 0, sizeof *o);
    o->steps = 1000; o->grad_accum = 1;
    o->lr = 1e-3f; o->min_lr_frac = 0.1f; o->warmup = 50; o->schedule = "cosine";
    o->weight_decay = 0.1f; o->beta1 = 0.9f; o->beta2 = 0.95f; o->eps = 1e-8f; o->grad_clip = 1.0f;
    o->eval_every = 100; o->ckpt_every = 500; o->keep_checkpoints = 2;
    o->seed = 1337;
}

void loop_machine_to_json(json_t *j) {
    json_object_set_new(j, "threads", json_integer(threads_get()));
    json_object_set_new(j, "processes", json_integer(dist_size()));
    json_object_set_new(j, "fp32_matmul", json_string(gemm_fp32_impl()));
}

void loop_options_to_json(const LoopOptions *o, json_t *j) {
    json_object_set_new(j, "steps", json_integer(o->steps));
    json_object_set_new(j, "grad_accum", json_integer(o->grad_accum));
    json_object_set_new(j, "lr", json_real(o->lr));
    json_object_set_new(j, "min_lr_frac", json_real(o->min_lr_frac));
    json_object_set_new(j, "warmup", json_integer(o->warmup));
    json_object_set_new(j, "schedule", json_string(o->schedule));
    json_object_set_new(j, "weight_decay", json_real(o->weight_decay));
    json_object_set_new(j, "beta1", json_real(o->beta1));
    json_object_set_new(j, "beta2", json_real(o->beta2));
    json_object_set_new(j, "eps", json_real(o->eps));
    json_object_set_new(j, "grad_clip", json_real(o->grad_clip));
    json_object_set_new(j, "eval_every", json_integer(o->eval_every));
    json_object_set_new(j, "ckpt_every", json_integer(o->ckpt_every));
    json_object_set_new(j, "keep_checkpoints", json_integer(o->keep_checkpoints));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "bf16", json_boolean(o->bf16));
}

int loop_options_from_json(LoopOptions *o, const json_t *j, const char *ctx, Err *e) {
    long l;
    double d;
#define GETL(key, field) if (json_get_long(j, key, &l, ctx, e)) return -1; o->field = l;
#define GETD(key, field) if (json_get_double(j, key, &d, ctx, e)) return -1; o->field = (float)d;
    GETL("steps", steps) GETD("lr", lr) GETD("min_lr_frac", min_lr_frac) GETL("warmup", warmup)
    GETD("weight_decay", weight_decay) GETD("beta1", beta1) GETD("beta2", beta2) GETD("eps", eps)
    GETD("grad_clip", grad_clip) GETL("eval_every", eval_every) GETL("ckpt_every", ckpt_every)
    GETL("keep_checkpoints", keep_checkpoints) GETL("seed", seed)
#undef GETL
#undef GETD
    l = 1;
    if (json_get_long_opt(j, "grad_accum", &l, ctx, e)) return -1;
    o->grad_accum = (int)l;
    if (json_get_string(j, "schedule", &o->schedule, ctx, e)) return -1;
    o->bf16 = 0;
    if (json_object_get(j, "bf16") && json_get_bool(j, "bf16", &o->bf16, ctx, e)) return -1;
    return 0;
}

// Rank 0 alone opens (or creates) the folder and reads config.json; the outcome, the error
// message and the stored config reach every rank, so all fail or go on together.
int loop_open_run(RunDir *run, const char *out, int resume, json_t **stored, Err *e) {
    if (stored) *stored = NULL;
    int rc = 0;
    char *text = NULL;
    if (dist_is_root()) {
        rc = run_open(run, out, resume, e);
        if (!rc && resume && stored) {
            json_t *j = run_read_config(run, e);
            if (!j) rc = -1;
            else text = json_dumps(j, JSON_COMPACT);
            json_decref(j);
        }
    } else {
        memset(run, 0, sizeof *run);  // no files: metrics rows go nowhere
        run->dir = xstrdup(out);
        run->metrics_path = path_join(out, "metrics.jsonl");
    }
    long len = text ? (long)strlen(text) + 1 : 0;
    long head[2] = {rc, len};
    dist_broadcast(head, sizeof head);
    dist_broadcast(e->msg, sizeof e->msg);
    if (head[0]) { free(text); run_close(run); return -1; }
    if (head[1] > 0) {
        if (!text) text = xmalloc((size_t)head[1]);
        dist_broadcast(text, (size_t)head[1]);
        json_error_t je;
        *stored = json_loads(text, 0, &je);
        free(text);
        if (!*stored) { run_close(run); return err_set(e, "%s/config.json: %s", out, je.text); }
    }
    if (resume && stored && *stored) {
        json_int_t procs = 1;
        const json_t *p = json_object_get(*stored, "processes");
        if (p && json_is_integer(p)) procs = json_integer_value(p);
        if (procs != dist_size()) {
            err_set(e, "%s was trained by %lld process%s and this run has %d: resume it with the "
                       "same count (mpirun -np %lld), or start a new run from its checkpoint",
                    out, (long long)procs, procs == 1 ? "" : "es", dist_size(), (long long)procs);
            json_decref(*stored);
            *stored = NULL;
            run_close(run);
            return -1;
        }
    }
    return 0;
}

float loop_optimizer_step(GPT *m, const LoopOptions *o, float lr, double count) {
    AdamWConfig oc = {.lr = lr, .beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps,
                      .weight_decay = o->weight_decay, .grad_clip = o->grad_clip};
    return dp_step(m, &oc, count);
}

// Restores model, optimizer and stage state from the newest checkpoint; returns its step.
static long resume_from_checkpoint(TrainLoop *L, Err *e) {
    long last = run_latest_checkpoint(L->run);
    if (last < 0) { err_set(e, "%s: no complete checkpoint to resume from", L->run->dir); return -1; }
    char *ck = run_checkpoint_path(L->run, last);
    json_t *st = NULL;
    int rc = ckpt_load_train(L->model, ck, &st, e);
    free(ck);
    if (!rc && L->load_state) rc = L->load_state(L->ctx, st, e);
    json_decref(st);
    if (rc) return -1;
    if (run_metrics_resume(L->run, last, e)) return -1;
    if (dist_is_root()) infof("resuming %s from step %ld", L->run->dir, last);
    return last;
}

static int save_checkpoint(TrainLoop *L, long step, Err *e) {
    char *ck = run_checkpoint_path(L->run, step);
    json_t *st = json_object();
    json_object_set_new(st, "step", json_integer(step));
    json_object_set_new(st, "seed", json_integer((json_int_t)L->opt.seed));
    if (L->save_state) L->save_state(L->ctx, st);
    int rc = ckpt_save_train(L->model, L->tok, ck, st, e);
    json_decref(st);
    free(ck);
    if (!rc) run_prune_checkpoints(L->run, (int)(L->opt.keep_checkpoints > 0 ? L->opt.keep_checkpoints : 1));
    return rc;
}

// Runs the stage's evaluation and logs its row; returns -1 on error.
static int evaluate(TrainLoop *L, Progress *prog, long step, double loss, Err *e) {
    json_t *row = json_object();
    json_object_set_new(row, "step", json_integer(step));
    int rc = L->eval(L->ctx, L->model, step, row, e);
    if (rc != 0 || !dist_is_root()) { json_decref(row); return rc < 0 ? -1 : 0; }
    char line[256];
    int n = snprintf(line, sizeof line, "step %ld: loss %.4f", step, loss);
    const char *key;
    json_t *v;
    json_object_foreach(row, key, v) {
        if (!json_is_number(v) || !strcmp(key, "step") || n >= (int)sizeof line) continue;
        n += snprintf(line + n, sizeof line - (size_t)n, ", %s %.4f", key, json_number_value(v));
    }
    run_metric(L->run, row);
    if (L->opt.quiet) infof("%s", line); else progress_log(prog, line);
    return 0;
}

static int finish_run(TrainLoop *L, double t_run, Err *e) {
    json_t *extra = json_object();
    int rc = L->finish ? L->finish(L->ctx, L->model, extra, e) : 0;
    if (!rc && dist_is_root()) {
        char *fin = path_join(L->run->dir, "final");
        rc = ckpt_save_model(L->model, L->tok, fin, json_object_size(extra) ? extra : NULL, e);
        free(fin);
        if (!rc && L->n_plot > 0) {
            char *svg = path_join(L->run->dir, "loss.svg");
            Err pe;
            if (plot_metrics_svg(L->run->metrics_path, svg, L->stage, L->plot_keys, L->n_plot, &pe))
                warnf("%s", pe.msg);
            free(svg);
        }
        if (!rc) infof("%s: done in %.1f s; final model in %s/final", L->stage, now_s() - t_run, L->run->dir);
    }
    json_decref(extra);
    return rc;
}

int loop_train(TrainLoop *L, Err *e) {
    if (!dist_is_root()) L->opt.quiet = 1;  // one progress line: rank 0's
    const LoopOptions *o = &L->opt;
    SchedKind sk;
    if (sched_parse(o->schedule, &sk))
        return err_set(e, "--schedule: expected constant, linear or cosine, got \"%s\"", o->schedule);
    if (o->grad_accum < 1) return err_set(e, "--grad-accum must be at least 1, got %d", o->grad_accum);
    if (L->n_extra < 0 || L->n_extra > LOOP_MAX_EXTRA) return err_set(e, "loop: too many extra metrics");
    if (gemm_set_bf16(o->bf16, e)) return -1;
    long step0 = 0;
    if (o->resume && (step0 = resume_from_checkpoint(L, e)) < 0) return -1;
    if (L->config && run_write_config(L->run, L->config, e)) return -1;
    dp_prepare(L->model);
    DpAccum acc = {0};

    LRSchedule sched = {.kind = sk, .lr = o->lr, .warmup = o->warmup, .total = o->steps,
                        .min_lr_frac = o->min_lr_frac};
    Progress prog;
    progress_start(&prog, L->stage, o->steps);
    prog.done = step0;
    double t_run = now_s();
    enum { SUMS = 3 + LOOP_MAX_EXTRA };  // loss_sum, count, tokens, extras
    for (long step = step0; step < o->steps; step++) {
        double t0 = now_s();
        double sums[SUMS] = {0};
        gpt_zero_grad(L->model);
        for (int micro = 0; micro < o->grad_accum; micro++) {
            LoopMicro mb;
            memset(&mb, 0, sizeof mb);
            if (L->batch(L->ctx, step, micro, e) || L->loss(L->ctx, L->model, &mb, e)) { dp_accum_free(&acc); return -1; }
            dp_accum_micro(&acc, L->model, micro, o->grad_accum);
            sums[0] += mb.loss_sum;
            sums[1] += mb.count;
            sums[2] += mb.tokens;
            for (int k = 0; k < L->n_extra; k++) sums[3 + k] += mb.extra[k];
        }
        dist_allreduce_sum_double(sums, SUMS);
        double count = sums[1];
        double loss = count > 0 ? sums[0] / count : 0.0;
        float lr = sched_lr(&sched, step);
        float gnorm = loop_optimizer_step(L->model, o, lr, count);
        double dt = now_s() - t0;
        long s1 = step + 1;
        if (!isfinite(loss)) {
            dp_accum_free(&acc);
            return err_set(e, "step %ld: loss is %f — training diverged (try a lower --lr)", s1, loss);
        }
        if (dist_is_root()) {
            json_t *row = json_object();
            json_object_set_new(row, "step", json_integer(s1));
            json_object_set_new(row, "loss", json_real(loss));
            json_object_set_new(row, "lr", json_real(lr));
            json_object_set_new(row, "grad_norm", json_real(gnorm));
            json_object_set_new(row, "ms", json_real(dt * 1e3));
            if (sums[2] > 0) json_object_set_new(row, "tokens_per_s", json_real(sums[2] / dt));
            for (int k = 0; k < L->n_extra; k++)
                json_object_set_new(row, L->extra_names[k], json_real(count > 0 ? sums[3 + k] / count : 0.0));
            run_metric(L->run, row);
        }
        if (L->eval && ((o->eval_every > 0 && s1 % o->eval_every == 0) || s1 == o->steps))
            if (evaluate(L, &prog, s1, loss, e)) { dp_accum_free(&acc); return -1; }
        if ((o->ckpt_every > 0 && s1 % o->ckpt_every == 0) || s1 == o->steps) {
            dp_gather_state(L->model);  // ZeRO-1: the moments on rank 0 for the write
            if (dist_is_root() && save_checkpoint(L, s1, e)) { dp_accum_free(&acc); return -1; }
            dp_prepare(L->model);
        }
        char extra[64];
        snprintf(extra, sizeof extra, "loss %.4f", loss);
        if (!o->quiet) progress_update(&prog, s1, extra);
    }
    dp_accum_free(&acc);
    if (!o->quiet) progress_end(&prog, NULL);
    return finish_run(L, t_run, e);
}
