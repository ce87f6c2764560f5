// train/pretrain.c — the pretraining stage on the shared loop (train/loop.h): batches of random
// windows keyed by (seed, step, row) so a resumed run sees exactly the batches an uninterrupted
// one would; each rank takes its share of the global batch through dist and splits it into
// --grad-accum micro-batches; validation loss on fixed held-out windows.
#include "train/pretrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/textdata.h"
#include "dist/dist.h"
#include "model/gpt.h"
#include "train/loop.h"
#include "train/run.h"
#include "train/schedule.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/rng.h"
#include "util/sysinfo.h"

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
    o->grad_accum = 1;
}

// The loop's share of the options.
static LoopOptions loop_options(const PretrainOptions *o) {
    LoopOptions l;
    loop_options_defaults(&l);
    l.steps = o->steps; l.grad_accum = o->grad_accum;
    l.lr = o->lr; l.min_lr_frac = o->min_lr_frac; l.warmup = o->warmup; l.schedule = o->schedule;
    l.weight_decay = o->weight_decay; l.beta1 = o->beta1; l.beta2 = o->beta2; l.eps = o->eps;
    l.grad_clip = o->grad_clip; l.eval_every = o->eval_every; l.ckpt_every = o->ckpt_every;
    l.keep_checkpoints = o->keep_checkpoints; l.seed = o->seed; l.resume = o->resume;
    l.quiet = o->quiet; l.bf16 = o->bf16;
    return l;
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
    LoopOptions l = loop_options(o);
    loop_options_to_json(&l, j);
    json_object_set_new(j, "val_fraction", json_real(o->val_fraction));
    json_object_set_new(j, "eval_batches", json_integer(o->eval_batches));
    loop_machine_to_json(j);
    return j;
}

// Reads the stored options of a run being resumed (the run's own settings win over flags; only
// --steps may extend it).
static int options_from_json(PretrainOptions *o, const json_t *j, const char *ctx, Err *e) {
    long l;
    double d;
    const char *s;
    LoopOptions lo = loop_options(o);
    if (loop_options_from_json(&lo, j, ctx, e)) return -1;
    o->steps = lo.steps; o->grad_accum = lo.grad_accum;
    o->lr = lo.lr; o->min_lr_frac = lo.min_lr_frac; o->warmup = lo.warmup; o->schedule = lo.schedule;
    o->weight_decay = lo.weight_decay; o->beta1 = lo.beta1; o->beta2 = lo.beta2; o->eps = lo.eps;
    o->grad_clip = lo.grad_clip; o->eval_every = lo.eval_every; o->ckpt_every = lo.ckpt_every;
    o->keep_checkpoints = lo.keep_checkpoints; o->seed = lo.seed; o->bf16 = lo.bf16;
#define GETL(key, field) if (json_get_long(j, key, &l, ctx, e)) return -1; o->field = l;
#define GETD(key, field) if (json_get_double(j, key, &d, ctx, e)) return -1; o->field = d;
    GETL("layers", layers) GETL("heads", heads) GETL("embd", embd) GETL("ctx", ctx)
    GETL("batch", batch) GETL("seq", seq) GETD("val_fraction", val_fraction)
    GETL("eval_batches", eval_batches)
#undef GETL
#undef GETD
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

// Mean next-token loss over the first eval_batches × batch non-overlapping validation windows,
// forwarded B rows at a time.
static double eval_loss(GPT *m, const TokenStream *val, int T, int batch, int B, long batches,
                        float *logp) {
    size_t windows = (val->n - 1) / (size_t)T;
    size_t want = (size_t)batches * (size_t)batch;
    if (want > windows) want = windows;
    if (want == 0) return NAN;
    size_t start, count;
    dist_shard_chunks(want, (size_t)B, &start, &count);
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


// The stage's state for the loop callbacks.
typedef struct {
    const TokenStream *train, *val;
    uint64_t seed;
    int T, accum, batch;      // tokens per row, micro-batches per step, global rows
    long eval_batches;
    size_t start_row, nrows;  // this rank's share of the global batch
    size_t rows;              // rows of the current micro-batch
    int *inp, *tgt, *len;     // [max micro rows × T], [.. × T], [max micro rows]
    float *logp, *dlogp;      // [max micro rows × T]
    size_t max_rows;
} Pretrain;

// Micro-batch `micro` of this rank's rows: the contiguous part [nrows·micro/A, nrows·(micro+1)/A).
static int pt_batch(void *ctx, long step, int micro, Err *e) {
    (void)e;
    Pretrain *p = ctx;
    size_t a = p->nrows * (size_t)micro / (size_t)p->accum, b = p->nrows * (size_t)(micro + 1) / (size_t)p->accum;
    p->rows = b - a;
    fill_batch(p->train, p->seed, step, p->start_row + a, p->rows, p->T, p->inp, p->tgt);
    return 0;
}

// Next-token cross-entropy summed over every token; gradient of the sum.
static int pt_loss(void *ctx, GPT *m, LoopMicro *out, Err *e) {
    Pretrain *p = ctx;
    size_t ntok = p->rows * (size_t)p->T;
    out->count = (double)ntok;
    out->tokens = (double)ntok;
    if (p->rows == 0) return 0;
    if (gpt_forward(m, (int)p->rows, p->len, p->inp, e)) return -1;
    gpt_lm_logprobs_grad(m, p->tgt, 1.0f, p->logp, NULL, p->dlogp, NULL);  // dlogp: −1 throughout
    double s = 0;
    for (size_t n = 0; n < ntok; n++) s -= p->logp[n];
    out->loss_sum = s;
    gpt_backward(m, p->tgt, 1.0f, p->dlogp, NULL, NULL);
    return 0;
}

static int pt_eval(void *ctx, GPT *m, long step, json_t *row, Err *e) {
    (void)step; (void)e;
    Pretrain *p = ctx;
    if (p->val->n <= (size_t)p->T) return 1;
    double v = eval_loss(m, p->val, p->T, p->batch, (int)max_sz(p->max_rows, 1), p->eval_batches, p->logp);
    json_object_set_new(row, "val_loss", json_real(v));
    return 0;
}

int pretrain_run(const PretrainOptions *opts, Err *e) {
    PretrainOptions o = *opts;
    RunDir run;
    memset(&run, 0, sizeof run);
    json_t *stored = NULL;
    if (!o.memory_only) {
        if (loop_open_run(&run, o.out, o.resume, &stored, e)) return -1;
        if (o.resume) {
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
    int bad = 0;
    if (sched_parse(o.schedule, &sk)) bad = err_set(e, "--schedule: expected constant, linear or cosine, got \"%s\"", o.schedule);
    else if (T > o.ctx) bad = err_set(e, "--seq %d is longer than --ctx %d", T, o.ctx);
    else if (o.batch <= 0 || o.steps <= 0) bad = err_set(e, "--batch and --steps must be positive");
    else if (o.grad_accum < 1 || o.grad_accum > o.batch) bad = err_set(e, "--grad-accum must be between 1 and --batch (%d), got %d", o.batch, o.grad_accum);
    if (bad) { run_close(&run); json_decref(stored); return -1; }

    Tokenizer tok;
    if (!o.tokenizer) tok_init_bytes(&tok);
    else if (tok_load(&tok, o.tokenizer, e)) {
        run_close(&run);
        json_decref(stored);
        return -1;
    }
    GPTConfig cfg = {.n_layer = o.layers, .n_head = o.heads, .n_embd = o.embd, .n_ctx = o.ctx,
                     .vocab_size = tok.vocab_size, .score_head = 0};
    if (gpt_config_check(&cfg, e)) { tok_free(&tok); run_close(&run); json_decref(stored); return -1; }
    size_t start_row, nrows;
    dist_shard((size_t)o.batch, &start_row, &nrows);
    size_t max_rows = (nrows + (size_t)o.grad_accum - 1) / (size_t)o.grad_accum;  // per micro-batch
    size_t need = gpt_memory_estimate(&cfg, 1, max_rows * (size_t)T, (size_t)T, o.bf16);
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
        return err_set(e, "this run needs about %.2f GiB (model %zu parameters, micro-batch %zu×%d "
                          "tokens) but only %.2f GiB is available (try --grad-accum)",
                       (double)need / (1u << 30), gpt_num_params(&cfg), max_rows, T,
                       (double)avail / (1u << 30));
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
    if (!o.resume) gpt_init_weights(m, o.seed);  // a resume overwrites everything from the checkpoint
    size_t mtok = max_sz(max_rows * (size_t)T, 1);
    Pretrain p = {.train = &train, .val = &val, .seed = o.seed, .T = T, .accum = o.grad_accum, .batch = o.batch,
                  .eval_batches = o.eval_batches, .start_row = start_row, .nrows = nrows,
                  .max_rows = max_rows};
    p.inp = xmalloc(mtok * sizeof(int));
    p.tgt = xmalloc(mtok * sizeof(int));
    p.len = xmalloc(max_sz(max_rows, 1) * sizeof(int));
    p.logp = falloc(max_sz(max_rows, 1) * (size_t)T);  // also the validation chunk
    p.dlogp = falloc(mtok);
    for (size_t r = 0; r < max_rows; r++) p.len[r] = T;
    for (size_t n = 0; n < mtok; n++) p.dlogp[n] = -1.0f;  // d(Σ −logp)/dlogp; the loop divides by the global count

    if (dist_is_root())
        infof("pretrain: %zu parameters (%d layers, %d heads, %d wide, context %d), %zu train / "
              "%zu validation tokens, batch %d × %d (%d micro-batches), %ld steps, %d threads",
              m->n_params, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.n_ctx, train.n, val.n,
              o.batch, T, o.grad_accum, o.steps, threads_get());
    json_t *cj = options_json(&o);
    TrainLoop L = {.stage = "pretrain", .opt = loop_options(&o), .run = &run, .config = cj,
                   .model = m, .tok = &tok, .ctx = &p, .batch = pt_batch, .loss = pt_loss,
                   .eval = pt_eval, .n_plot = 4, .plot_keys = {"loss", "val_loss", "lr", "grad_norm"}};
    int rc = loop_train(&L, e);

    json_decref(cj);
    free(p.inp); free(p.tgt); free(p.len); free(p.logp); free(p.dlogp);
    gpt_free(m);
    textdata_free(&all);
    tok_free(&tok);
    run_close(&run);
    json_decref(stored);
    return rc;
}
