// tests/test_train_loop.c — the shared training loop (train/loop.h), through pretrain and through
// a toy stage: gradient accumulation (B rows at once vs B/2 rows × 2 and B/4 × 4 give the same
// weights up to float rounding; re-runs are bit-identical); resume with accumulation equals an
// uninterrupted run bit for bit; extra metrics, evaluation rows, stage state in checkpoints and
// the finish hook's keys in final/config.json.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/checkpoint.h"
#include "train/loop.h"
#include "train/pretrain.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/sysinfo.h"

static char *tmp_root;

static char *tmp_path(const char *name) { return path_join(tmp_root, name); }

static PretrainOptions base_options(const char *corpus, const char *out) {
    PretrainOptions o;
    pretrain_defaults(&o);
    o.data = corpus; o.out = out;
    o.layers = 2; o.heads = 2; o.embd = 32; o.ctx = 16; o.batch = 8; o.steps = 4;
    // a large Adam ε makes the update nearly linear in the gradient, so rounding differences in
    // the gradient stay rounding-sized in the weights (with ε = 1e-8 Adam maps tiny gradients to
    // ±lr, amplifying them)
    // (and no clipping, which would hide a wrongly scaled gradient)
    o.lr = 1e-2f; o.eps = 1.0f; o.grad_clip = 0.0f; o.weight_decay = 0.0f; o.warmup = 0;
    o.schedule = "constant";
    o.eval_every = 2; o.ckpt_every = 2; o.keep_checkpoints = 5; o.seed = 11; o.quiet = 1;
    return o;
}

// Runs pretrain and returns the final weights (caller frees), or NULL.
static float *run_pretrain(const PretrainOptions *o, size_t *n) {
    Err e;
    if (pretrain_run(o, &e)) { fprintf(stderr, "pretrain %s: %s\n", o->out, e.msg); return NULL; }
    char *fin = path_join(o->out, "final");
    Tokenizer tok;
    memset(&tok, 0, sizeof tok);
    GPT *m = ckpt_load_model(fin, 0, &tok, &e);
    free(fin);
    if (!m) { fprintf(stderr, "%s\n", e.msg); return NULL; }
    float *w = malloc(m->n_params * sizeof(float));
    memcpy(w, m->params, m->n_params * sizeof(float));
    *n = m->n_params;
    gpt_free(m);
    tok_free(&tok);
    return w;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

static void test_pretrain_accum(const char *corpus) {
    char *dirs[6];
    const char *names[6] = {"acc1", "acc2", "acc4", "acc2b", "seed", "acc2r"};
    for (int i = 0; i < 6; i++) dirs[i] = tmp_path(names[i]);
    size_t n = 0, n2 = 0;
    PretrainOptions o = base_options(corpus, dirs[0]);
    float *w1 = run_pretrain(&o, &n);
    o.out = dirs[1]; o.grad_accum = 2;
    float *w2 = run_pretrain(&o, &n2);
    o.out = dirs[2]; o.grad_accum = 4;
    float *w4 = run_pretrain(&o, &n2);
    o.out = dirs[3]; o.grad_accum = 2;
    float *w2b = run_pretrain(&o, &n2);
    o.out = dirs[4]; o.grad_accum = 1; o.seed = 12;
    float *ws = run_pretrain(&o, &n2);
    CHECK(w1 && w2 && w4 && w2b && ws, "pretrain runs");
    if (w1 && w2 && w4 && w2b && ws) {
        double d2 = max_abs_diff(w1, w2, n), d4 = max_abs_diff(w1, w4, n), ds = max_abs_diff(w1, ws, n);
        printf("max |w(accum 1) − w(accum 2)| = %.3g, accum 4: %.3g, other seed: %.3g\n", d2, d4, ds);
        CHECK(d2 < 2e-6, "batch 8 vs 4 × 2 accumulation: weights differ by %.3g", d2);
        CHECK(d4 < 2e-6, "batch 8 vs 2 × 4 accumulation: weights differ by %.3g", d4);
        CHECK(ds > 1e-3, "another seed must give other weights (%.3g): the checks above can fail", ds);
        check_bitwise("re-run with accumulation", w2, w2b, n);
    }
    // resume with accumulation: 2 steps, then --resume to 4 == the uninterrupted acc2 run
    o = base_options(corpus, dirs[5]);
    o.grad_accum = 2; o.steps = 2;
    free(run_pretrain(&o, &n2));
    PretrainOptions r;
    pretrain_defaults(&r);
    r.out = dirs[5]; r.resume = 1; r.steps = 4; r.quiet = 1;
    float *wr = run_pretrain(&r, &n2);
    CHECK(wr != NULL, "resume runs");
    if (wr && w2) check_bitwise("resumed accumulation run", w2, wr, n);
    // the resumed run kept grad_accum = 2 from its config.json
    char *cfgp = path_join(dirs[5], "config.json");
    Err e;
    json_t *cfg = json_read_file(cfgp, &e);
    long ga = 0;
    CHECK(cfg && json_get_long(cfg, "grad_accum", &ga, cfgp, &e) == 0 && ga == 2, "config.json grad_accum %ld", ga);
    json_decref(cfg);
    free(cfgp);
    // --grad-accum beyond the batch is refused
    o = base_options(corpus, dirs[4]);
    o.grad_accum = 9;
    char *bad = tmp_path("bad");
    o.out = bad;
    CHECK(pretrain_run(&o, &e) != 0 && strstr(e.msg, "--grad-accum"), "grad-accum > batch refused");
    free(bad);
    free(w1); free(w2); free(w4); free(w2b); free(ws); free(wr);
    for (int i = 0; i < 6; i++) free(dirs[i]);
}

// ---- a toy stage on the loop API --------------------------------------------------------------
typedef struct {
    int tok[24], tgt[24], len[2];
    float logp[24], dlogp[24];
    long batches, evals, restored_cursor;
    int finished;
} Toy;

static int toy_batch(void *ctx, long step, int micro, Err *e) {
    (void)e;
    Toy *t = ctx;
    for (int i = 0; i < 24; i++) {
        t->tok[i] = (int)((step * 7 + micro * 3 + i) % 20);
        t->tgt[i] = (int)((step * 7 + micro * 3 + i + 1) % 20);
    }
    t->len[0] = 10; t->len[1] = 14;
    t->batches++;
    return 0;
}

static int toy_loss(void *ctx, GPT *m, LoopMicro *out, Err *e) {
    Toy *t = ctx;
    if (gpt_forward(m, 2, t->len, t->tok, e)) return -1;
    gpt_lm_logprobs(m, t->tgt, 1.0f, t->logp, NULL);
    for (int i = 0; i < 24; i++) { out->loss_sum -= t->logp[i]; t->dlogp[i] = -1.0f; }
    gpt_backward(m, t->tgt, 1.0f, t->dlogp, NULL, NULL);
    out->count = 24;
    out->tokens = 24;
    out->extra[0] = 0.25 * 24;  // reported as 0.25
    out->extra[1] = 2.0;        // 3 micro-batches: reported as 6 / 72 (global sum / global count)
    return 0;
}

static int toy_eval(void *ctx, GPT *m, long step, json_t *row, Err *e) {
    (void)m; (void)e;
    Toy *t = ctx;
    t->evals++;
    json_object_set_new(row, "val_toy", json_real((double)step));
    return 0;
}

static void toy_save(void *ctx, json_t *st) {
    Toy *t = ctx;
    json_object_set_new(st, "cursor", json_integer(t->batches));
}

static int toy_load(void *ctx, const json_t *st, Err *e) {
    Toy *t = ctx;
    return json_get_long(st, "cursor", &t->restored_cursor, "trainer_state.json", e);
}

static int toy_finish(void *ctx, GPT *m, json_t *extra, Err *e) {
    (void)m; (void)e;
    Toy *t = ctx;
    t->finished = 1;
    json_object_set_new(extra, "reward_bias", json_real(-1.5));
    return 0;
}

static int toy_run(const char *out, int resume, long steps, Toy *t, float **weights, size_t *n) {
    Err e;
    RunDir run;
    json_t *stored = NULL;
    memset(t, 0, sizeof *t);
    if (loop_open_run(&run, out, resume, &stored, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
    GPTConfig c = {.n_layer = 1, .n_head = 2, .n_embd = 16, .n_ctx = 16, .vocab_size = 20};
    GPT *m = gpt_create(&c, 1);
    gpt_init_weights(m, 3);
    Tokenizer tok;
    tok_init_bytes(&tok);
    json_t *cfg = json_object();
    json_object_set_new(cfg, "stage", json_string("toy"));
    TrainLoop L = {.stage = "toy", .run = &run, .config = cfg, .model = m, .tok = &tok, .ctx = t,
                   .batch = toy_batch, .loss = toy_loss, .eval = toy_eval, .save_state = toy_save,
                   .load_state = toy_load, .finish = toy_finish, .n_extra = 2,
                   .extra_names = {"acc", "per_count"}, .n_plot = 2, .plot_keys = {"loss", "acc"}};
    loop_options_defaults(&L.opt);
    L.opt.steps = steps; L.opt.grad_accum = 3; L.opt.warmup = 0; L.opt.eval_every = 2;
    L.opt.ckpt_every = 2; L.opt.keep_checkpoints = 2; L.opt.resume = resume; L.opt.quiet = 1;
    L.opt.lr = 1e-3f; L.opt.schedule = "constant";  // a resume to another length keeps the LRs
    int rc = loop_train(&L, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    *n = m->n_params;
    *weights = malloc(m->n_params * sizeof(float));
    memcpy(*weights, m->params, m->n_params * sizeof(float));
    json_decref(cfg);
    json_decref(stored);
    gpt_free(m);
    tok_free(&tok);
    run_close(&run);
    return rc;
}

static void test_toy_stage(void) {
    char *a = tmp_path("toy_a"), *b = tmp_path("toy_b");
    Toy t;
    float *wa = NULL, *wb = NULL;
    size_t n;
    CHECK(toy_run(a, 0, 5, &t, &wa, &n) == 0, "toy stage runs");
    CHECK(t.batches == 15, "5 steps × 3 micro-batches = %ld batches", t.batches);
    CHECK(t.evals == 3, "evaluations at steps 2, 4 and the last (5): %ld", t.evals);
    CHECK(t.finished, "finish hook called");
    // metrics rows
    char *mp = path_join(a, "metrics.jsonl");
    FILE *f = fopen(mp, "r");
    int train_rows = 0, eval_rows = 0, acc_ok = 1, pc_ok = 1, tps = 1;
    char line[2048];
    while (f && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        if (json_object_get(j, "loss")) {
            train_rows++;
            acc_ok &= fabs(json_number_value(json_object_get(j, "acc")) - 0.25) < 1e-12;
            pc_ok &= fabs(json_number_value(json_object_get(j, "per_count")) - 6.0 / 72.0) < 1e-7;
            tps &= json_object_get(j, "tokens_per_s") != NULL;
        }
        if (json_object_get(j, "val_toy")) eval_rows++;
        json_decref(j);
    }
    if (f) fclose(f);
    free(mp);
    CHECK(train_rows == 5 && eval_rows == 3, "metrics: %d train rows, %d eval rows", train_rows, eval_rows);
    CHECK(acc_ok && pc_ok && tps, "extra metrics averaged over the global count (acc %d, per_count %d, tokens_per_s %d)", acc_ok, pc_ok, tps);
    // final model config carries the finish hook's key; checkpoints pruned to 2; stage state saved
    char *fc = path_join(a, "final/config.json");
    Err e;
    json_t *cfg = json_read_file(fc, &e);
    double bias = 0;
    CHECK(cfg && json_get_double(cfg, "reward_bias", &bias, fc, &e) == 0 && bias == -1.5, "final/config.json reward_bias %g", bias);
    json_decref(cfg);
    free(fc);
    char *ck = path_join(a, "checkpoints/step-2");
    CHECK(!path_exists(ck), "old checkpoint step-2 pruned");
    free(ck);
    char *svg = path_join(a, "loss.svg");
    CHECK(path_exists(svg), "loss.svg written");
    free(svg);
    // resume: 4 steps, then resume to 5 == uninterrupted; the stage state comes back
    CHECK(toy_run(b, 0, 4, &t, &wb, &n) == 0, "toy run to 4");
    free(wb);
    CHECK(toy_run(b, 1, 5, &t, &wb, &n) == 0, "toy resume to 5");
    CHECK(t.restored_cursor == 12, "stage state restored: cursor %ld (4 steps × 3)", t.restored_cursor);
    CHECK(t.batches == 3, "the resumed run did only the last step: %ld batches", t.batches);
    if (wa && wb) check_bitwise("toy resume", wa, wb, n);
    // a new run refuses an existing folder
    RunDir run;
    CHECK(loop_open_run(&run, a, 0, NULL, &e) != 0 && strstr(e.msg, "--resume"), "refuses to overwrite");
    free(wa); free(wb);
    free(a); free(b);
}

int main(void) {
    const char *base = getenv("RLHF_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/train_loop.XXXXXX", base ? base : "/tmp");
    tmp_root = mkdtemp(tmpl);
    if (!tmp_root) { perror("mkdtemp"); return 1; }
    char *corpus = tmp_path("corpus.txt");
    FILE *f = fopen(corpus, "w");
    for (int i = 0; i < 200; i++) fprintf(f, "the cat %d sat on the mat and the dog ran to the park.\n", i);
    fclose(f);
    test_pretrain_accum(corpus);
    test_toy_stage();
    free(corpus);
    Err e;
    if (remove_tree(tmp_root, &e)) fprintf(stderr, "%s\n", e.msg);
    return check_summary("train_loop");
}
