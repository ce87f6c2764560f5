// train/sft.c — the SFT stage on the shared loop (train/loop.h). Step s covers positions
// [s·batch, (s+1)·batch) of an endless sequence of epochs, epoch k visiting the training examples
// in data_order(seed, k): a pure function of (seed, step), so a resumed run sees the same rows.
// Each rank takes its dist_shard share of those positions and splits it into --grad-accum
// contiguous micro-batches; every example is one row of a ragged batch (no padding, no packing
// across examples). Targets are −1 wherever the next token is not trained (data/batch.h).
#include "train/sft.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/batch.h"
#include "dist/dist.h"
#include "gen/sample.h"
#include "io/checkpoint.h"
#include "io/llmc.h"
#include "io/model_io.h"
#include "train/loop.h"
#include "train/run.h"
#include "train/schedule.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/sysinfo.h"

void sft_defaults(SftOptions *o) {
    memset(o, 0, sizeof *o);
    o->max_len = 0; o->min_prompt = -1; o->val_fraction = 0.05;
    o->batch = 16; o->grad_accum = 1; o->steps = 500;
    o->lr = 1e-4f; o->min_lr_frac = 0.1f; o->weight_decay = 0.0f;
    o->beta1 = 0.9f; o->beta2 = 0.95f; o->eps = 1e-8f; o->grad_clip = 1.0f;
    o->warmup = 20; o->schedule = "cosine";
    o->eval_every = 50; o->eval_max = 256;
    o->samples = 4; o->sample_max_new = 64; o->sample_temperature = 0.0f;
    o->ckpt_every = 200; o->keep_checkpoints = 2; o->seed = 1337;
}

double sft_batch_loss(GPT *m, const int *targets, float *logp, float *dlogp, int backward,
                      double *count) {
    // d(Σ −logp)/dlogp is −1 at every target, known before the head runs: a backward takes the
    // head's gradient with its forward (gpt_lm_logprobs_grad)
    if (dlogp)
        for (size_t n = 0; n < m->N; n++) dlogp[n] = targets[n] >= 0 ? -1.0f : 0.0f;
    if (backward) gpt_lm_logprobs_grad(m, targets, 1.0f, logp, NULL, dlogp, NULL);
    else gpt_lm_logprobs(m, targets, 1.0f, logp, NULL);
    double s = 0, c = 0;
    for (size_t n = 0; n < m->N; n++)
        if (targets[n] >= 0) { s -= logp[n]; c += 1; }
    if (backward) gpt_backward(m, targets, 1.0f, dlogp, NULL, NULL);
    *count = c;
    return s;
}

static LoopOptions loop_options(const SftOptions *o) {
    LoopOptions l;
    LOOP_OPTIONS_FROM_STAGE(l, o);
    return l;
}

static json_t *options_json(const SftOptions *o) {
    json_t *j = json_object();
    json_object_set_new(j, "stage", json_string("sft"));
    json_object_set_new(j, "model", json_string(o->model));
    json_object_set_new(j, "tokenizer", json_string_or_null(o->tokenizer));
    json_object_set_new(j, "data", json_string(o->data));
    json_object_set_new(j, "val", json_string_or_null(o->val));
    json_object_set_new(j, "max_len", json_integer(o->max_len));
    json_object_set_new(j, "min_prompt", json_integer(o->min_prompt));
    json_object_set_new(j, "val_fraction", json_real(o->val_fraction));
    json_object_set_new(j, "skip_bad", json_boolean(o->skip_bad));
    json_object_set_new(j, "plain_template", json_boolean(o->plain_template));
    json_object_set_new(j, "batch", json_integer(o->batch));
    LoopOptions l = loop_options(o);
    loop_options_to_json(&l, j);
    json_object_set_new(j, "eval_max", json_integer(o->eval_max));
    json_object_set_new(j, "samples", json_integer(o->samples));
    json_object_set_new(j, "sample_max_new", json_integer(o->sample_max_new));
    json_object_set_new(j, "sample_temperature", json_real(o->sample_temperature));
    loop_machine_to_json(j);
    return j;
}

static int opt_bool(const json_t *j, const char *key, int *out) {
    const json_t *v = json_object_get(j, key);
    if (v && json_is_boolean(v)) *out = json_is_true(v);
    return 0;
}

// The stored settings of a resumed run win over flags (only --steps may change it).
static int options_from_json(SftOptions *o, const json_t *j, const char *ctx, Err *e) {
    long l;
    double d;
    LoopOptions lo = loop_options(o);
    if (loop_options_from_json(&lo, j, ctx, e)) return -1;
    LOOP_OPTIONS_TO_STAGE(o, lo);
#define GETL(key, field) if (json_get_long(j, key, &l, ctx, e)) return -1; o->field = l;
#define GETD(key, field) if (json_get_double(j, key, &d, ctx, e)) return -1; o->field = d;
    GETL("max_len", max_len) GETL("min_prompt", min_prompt) GETD("val_fraction", val_fraction)
    GETL("batch", batch) GETL("eval_max", eval_max) GETL("samples", samples)
    GETL("sample_max_new", sample_max_new) GETD("sample_temperature", sample_temperature)
#undef GETL
#undef GETD
    opt_bool(j, "skip_bad", &o->skip_bad);
    opt_bool(j, "plain_template", &o->plain_template);
    if (json_get_string(j, "model", &o->model, ctx, e) || json_get_string(j, "data", &o->data, ctx, e) ||
        json_get_string_or_null(j, "tokenizer", &o->tokenizer, ctx, e) || json_get_string_or_null(j, "val", &o->val, ctx, e))
        return -1;
    return 0;
}

// ---- the stage's state -------------------------------------------------------------------------
typedef struct {
    const SftOptions *o;
    const Dataset *train, *val;
    const Tokenizer *tok;
    RunDir *run;
    size_t start, count;      // this rank's share of the global batch
    int *order;               // [train->n] the visiting order of epoch order_epoch
    long order_epoch;
    DataBatch b;
    float *logp, *dlogp;
    size_t cap;               // floats in logp / dlogp
} Sft;

static void ensure_scratch(Sft *s, size_t n) {
    if (n <= s->cap) return;
    s->cap = n * 2;
    free(s->logp); free(s->dlogp);
    s->logp = falloc(s->cap);
    s->dlogp = falloc(s->cap);
}

// Training example at global position p of the endless epoch sequence.
static int example_at(Sft *s, unsigned long long p) {
    size_t n = s->train->n;
    long ep = (long)(p / n);
    if (ep != s->order_epoch) {
        data_order(n, s->o->seed, (int)ep, s->order);
        s->order_epoch = ep;
    }
    return s->order[p % n];
}

static int sft_batch(void *ctx, long step, int micro, Err *e) {
    (void)e;
    Sft *s = ctx;
    size_t A = (size_t)s->o->grad_accum;
    size_t a = s->count * (size_t)micro / A, b = s->count * (size_t)(micro + 1) / A;
    data_batch_clear(&s->b);
    unsigned long long base = (unsigned long long)step * (unsigned long long)s->o->batch + s->start;
    for (size_t j = a; j < b; j++) data_batch_add(&s->b, s->train, example_at(s, base + j));
    return 0;
}

static int sft_loss(void *ctx, GPT *m, LoopMicro *out, Err *e) {
    Sft *s = ctx;
    out->tokens = (double)s->b.N;
    if (s->b.B == 0) return 0;
    if (gpt_forward_targets(m, s->b.B, s->b.len, s->b.tokens, NULL, NULL, s->b.targets, e)) return -1;
    ensure_scratch(s, s->b.N);
    out->loss_sum = sft_batch_loss(m, s->b.targets, s->logp, s->dlogp, 1, &out->count);
    return 0;
}

// Removes the trailing EOS of a token list (for decoding completions and references).
static size_t strip_eos(const int *ids, size_t n, int eos) {
    return n > 0 && ids[n - 1] == eos ? n - 1 : n;
}

// Greedy (or low-temperature) samples of the first o->samples validation prompts, appended to
// OUT/samples.jsonl; *acc gets the fraction whose completion equals the reference exactly (NAN
// when no validation example has a prompt).
static int write_samples(Sft *s, GPT *m, long step, double *acc, Err *e) {
    int eos = s->tok->eos_id;
    char *path = path_join(s->run->dir, "samples.jsonl");
    FILE *f = fopen(path, "a");
    free(path);
    if (!f) return err_set(e, "%s/samples.jsonl: cannot open for appending", s->run->dir);
    int done = 0, match = 0;
    for (size_t i = 0; i < s->val->n && done < s->o->samples; i++) {
        const SftExample *x = &s->val->sft[i];
        if (x->n_prompt <= 0 || x->n_prompt >= m->cfg.n_ctx) continue;  // text records: no prompt
        SampleConfig sc = {.temperature = s->o->sample_temperature, .top_k = 0, .top_p = 1.0f,
                           .max_new = s->o->sample_max_new, .eos_id = eos, .seed = s->o->seed,
                           .batch = 1};
        if (sc.max_new > m->cfg.n_ctx - x->n_prompt) sc.max_new = m->cfg.n_ctx - x->n_prompt;
        const int *pp = x->ids;
        uint64_t id = (uint64_t)step * 1000003ULL + i;
        Samples out;
        if (generate(m, 1, &pp, &x->n_prompt, &id, &sc, &out, e)) { fclose(f); return -1; }
        char *prompt = tok_decode_ex(s->tok, x->ids, (size_t)x->n_prompt, 1, NULL);
        char *comp = tok_decode(s->tok, out.tokens[0], strip_eos(out.tokens[0], (size_t)out.len[0], eos));
        const int *r = x->ids + x->n_prompt;
        char *ref = tok_decode(s->tok, r, strip_eos(r, (size_t)(x->n - x->n_prompt), eos));
        match += !strcmp(comp, ref);
        json_t *row = json_object();
        json_object_set_new(row, "step", json_integer(step));
        json_object_set_new(row, "line", json_integer(x->line));
        json_object_set_new(row, "prompt", json_string(prompt));
        json_object_set_new(row, "completion", json_string(comp));
        json_object_set_new(row, "reference", json_string(ref));
        json_object_set_new(row, "ended", json_boolean(out.ended[0]));
        char *line = json_dumps(row, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (line) { fputs(line, f); fputc('\n', f); free(line); }
        json_decref(row);
        free(prompt); free(comp); free(ref);
        samples_free(&out);
        done++;
    }
    fclose(f);
    *acc = done ? (double)match / done : NAN;
    return 0;
}

static int sft_eval(void *ctx, GPT *m, long step, json_t *row, Err *e) {
    Sft *s = ctx;
    if (!s->val || s->val->n == 0) return 1;
    size_t want = s->val->n;
    if (s->o->eval_max > 0 && (size_t)s->o->eval_max < want) want = (size_t)s->o->eval_max;
    size_t rows = dist_micro_rows(s->o->batch, s->o->grad_accum), start, count;
    dist_shard_chunks(want, rows, &start, &count);
    double sum[2] = {0, 0};
    DataBatch vb;
    memset(&vb, 0, sizeof vb);
    for (size_t i = start; i < start + count; i += rows) {
        data_batch_clear(&vb);
        for (size_t j = i; j < start + count && j < i + rows; j++) data_batch_add(&vb, s->val, (int)j);
        if (gpt_forward_targets(m, vb.B, vb.len, vb.tokens, NULL, NULL, vb.targets, e)) {
            data_batch_free(&vb);
            return -1;
        }
        ensure_scratch(s, vb.N);
        double c;
        sum[0] += sft_batch_loss(m, vb.targets, s->logp, NULL, 0, &c);
        sum[1] += c;
    }
    data_batch_free(&vb);
    dist_allreduce_sum_double(sum, 2);
    json_object_set_new(row, "val_loss", json_real(sum[1] > 0 ? sum[0] / sum[1] : NAN));
    json_object_set_new(row, "val_tokens", json_integer((json_int_t)sum[1]));
    if (dist_is_root() && s->o->samples > 0) {
        double acc = NAN;
        if (write_samples(s, m, step, &acc, e)) return -1;
        if (!isnan(acc)) json_object_set_new(row, "sample_match", json_real(acc));
    }
    return 0;
}

// A resumed run drops sample rows written after its checkpoint (as the loop does for metrics).
static int sft_load_state(void *ctx, const json_t *state, Err *e) {
    Sft *s = ctx;
    long last;
    if (json_get_long(state, "step", &last, "trainer_state.json", e)) return -1;
    if (!dist_is_root()) return 0;
    char *path = path_join(s->run->dir, "samples.jsonl");
    char *data = NULL;
    size_t n = 0;
    if (!path_exists(path)) { free(path); return 0; }
    if (read_file(path, &data, &n, e)) { free(path); return -1; }
    char *keep = xmalloc(n + 1);
    size_t k = 0;
    for (char *p = data; p < data + n;) {
        char *nl = memchr(p, '\n', (size_t)(data + n - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(data + n - p);
        json_t *row = json_loadb(p, len, 0, NULL);
        const json_t *st = row ? json_object_get(row, "step") : NULL;
        if (st && json_is_integer(st) && json_integer_value(st) <= last) {
            memcpy(keep + k, p, len);
            k += len;
            if (keep[k - 1] != '\n') keep[k++] = '\n';
        }
        json_decref(row);
        p += len;
    }
    int rc = atomic_write_file(path, keep, k, e);
    free(keep); free(data); free(path);
    return rc;
}

// ---- loading -----------------------------------------------------------------------------------
static int read_model_config(const SftOptions *o, GPTConfig *c, Err *e) {
    ModelFormat f;
    if (model_format_of(o->model, &f, e)) return -1;
    if (f == MODEL_FMT_HF) return ckpt_read_config(o->model, c, e);
    LlmcModelHeader h;
    if (llmc_read_header(o->model, &h, e)) return -1;
    *c = llmc_config(&h);
    return 0;
}

// The starting model (trainable) and its tokenizer: a folder's own tokenizer unless --tokenizer;
// an llm.c .bin needs --tokenizer.
static GPT *load_model(const SftOptions *o, Tokenizer *tok, Err *e) {
    GPT *m = NULL;
    if (!o->tokenizer && is_dir(o->model)) return ckpt_load_model(o->model, 1, tok, e);
    if (!o->tokenizer) {
        err_set(e, "%s is not a model folder (an llm.c checkpoint carries no tokenizer): pass --tokenizer DIR", o->model);
        return NULL;
    }
    if (tok_load(tok, o->tokenizer, e)) return NULL;
    if (!(m = model_load(o->model, 1, e))) return NULL;
    if (tok->vocab_size > m->cfg.vocab_size) {
        err_set(e, "the tokenizer in %s has %d ids but the model's vocab_size is %d", o->tokenizer,
                tok->vocab_size, m->cfg.vocab_size);
        gpt_free(m);
        return NULL;
    }
    return m;
}

int sft_run(const SftOptions *opts, Err *e) {
    SftOptions o = *opts;
    RunDir run;
    memset(&run, 0, sizeof run);
    json_t *stored = NULL;
    int rc = -1;
    GPT *m = NULL;
    Tokenizer tok;
    memset(&tok, 0, sizeof tok);
    Dataset train, val;
    memset(&train, 0, sizeof train);
    memset(&val, 0, sizeof val);
    DataReport rep;
    memset(&rep, 0, sizeof rep);
    json_t *cj = NULL;
    Sft s;
    memset(&s, 0, sizeof s);

    if (!o.memory_only) {
        if (loop_open_run(&run, o.out, o.resume, &stored, e)) return -1;
        if (o.resume) {
            char *ctx = path_join(o.out, "config.json");
            int r = options_from_json(&o, stored, ctx, e);
            free(ctx);
            if (r) goto done;
            if (opts->steps > 0) o.steps = opts->steps;
            o.quiet = opts->quiet;
            o.resume = 1;
        }
    }
    SchedKind sk;
    if (sched_parse(o.schedule, &sk)) { err_set(e, "--schedule: expected constant, linear or cosine, got \"%s\"", o.schedule); goto done; }
    if (o.batch <= 0 || o.steps <= 0) { err_set(e, "--batch and --steps must be positive"); goto done; }
    if (o.grad_accum < 1 || o.grad_accum > o.batch) { err_set(e, "--grad-accum must be between 1 and --batch (%d), got %d", o.batch, o.grad_accum); goto done; }
    if (o.val_fraction < 0 || o.val_fraction >= 1) { err_set(e, "--val-fraction must be in [0, 1), got %g", o.val_fraction); goto done; }
    if (o.samples < 0 || o.sample_max_new < 1 || o.sample_temperature < 0) { err_set(e, "need --samples ≥ 0, --sample-max-new ≥ 1, --sample-temperature ≥ 0"); goto done; }

    GPTConfig cfg;
    if (read_model_config(&o, &cfg, e)) goto done;
    if (o.max_len <= 0) o.max_len = cfg.n_ctx;
    if (o.max_len > cfg.n_ctx) { err_set(e, "--max-len %d is longer than the model's context %d", o.max_len, cfg.n_ctx); goto done; }
    size_t start, count;
    dist_shard((size_t)o.batch, &start, &count);
    size_t max_rows = (count + (size_t)o.grad_accum - 1) / (size_t)o.grad_accum;
    size_t need = gpt_memory_estimate(&cfg, 1, max_rows * (size_t)o.max_len, (size_t)o.max_len,
                                      o.bf16);
    size_t avail = mem_available_bytes();
    if (o.memory_only) {
        printf("{\"params\": %zu, \"estimate_bytes\": %zu, \"estimate_gib\": %.3f, "
               "\"available_gib\": %.3f}\n", gpt_num_params(&cfg), need,
               (double)need / (1u << 30), (double)avail / (1u << 30));
        rc = 0;
        goto done;
    }
    if (avail && need > avail) {
        err_set(e, "this run needs about %.2f GiB (model %zu parameters, micro-batch up to %zu×%d "
                   "tokens) but only %.2f GiB is available (try --grad-accum or --max-len)",
                (double)need / (1u << 30), gpt_num_params(&cfg), max_rows, o.max_len,
                (double)avail / (1u << 30));
        goto done;
    }

    if (!(m = load_model(&o, &tok, e))) goto done;
    DataOpts dopt = {.kind = DATA_SFT, .tok = &tok, .plain_template = o.plain_template,
                     .trunc = {.max_len = o.max_len, .min_prompt = o.min_prompt},
                     .skip_bad = o.skip_bad, .max_problems = 5, .val_fraction = o.val_fraction,
                     .split_seed = o.seed, .val_path = o.val};
    if (dataset_load(o.data, &dopt, &train, &val, &rep, e)) goto done;
    if (dist_is_root()) {
        infof("sft: %s: %ld train / %ld validation examples, %ld truncated, %ld too long for --max-len %d (skipped), %ld bad lines skipped",
              o.data, rep.n_train, rep.n_val, rep.n_truncated, rep.n_too_long, o.max_len, rep.n_bad);
        for (int i = 0; i < rep.n_problems; i++) warnf("%s", rep.problems[i]);
    }
    if (train.n == 0) { err_set(e, "%s: no training examples", o.data); goto done; }

    s.o = &o; s.train = &train; s.val = &val; s.tok = &tok; s.run = &run;
    s.start = start; s.count = count; s.order_epoch = -1;
    s.order = xmalloc(train.n * sizeof(int));
    if (dist_is_root())
        infof("sft: %zu parameters (%d layers, %d heads, %d wide, context %d), batch %d examples "
              "(%d micro-batches), %ld steps (%.2f epochs), %d threads",
              m->n_params, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.n_ctx, o.batch, o.grad_accum,
              o.steps, (double)o.steps * o.batch / (double)train.n, threads_get());
    cj = options_json(&o);
    TrainLoop L = {.stage = "sft", .opt = loop_options(&o), .run = &run, .config = cj,
                   .model = m, .tok = &tok, .ctx = &s, .batch = sft_batch, .loss = sft_loss,
                   .eval = sft_eval, .load_state = sft_load_state,
                   .n_plot = 4, .plot_keys = {"loss", "val_loss", "lr", "grad_norm"}};
    rc = loop_train(&L, e);

done:
    json_decref(cj);
    free(s.order); free(s.logp); free(s.dlogp);
    data_batch_free(&s.b);
    dataset_free(&train);
    dataset_free(&val);
    data_report_free(&rep);
    gpt_free(m);
    tok_free(&tok);
    run_close(&run);
    json_decref(stored);
    return rc;
}
