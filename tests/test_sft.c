// tests/test_sft.c — the SFT stage (train/sft.h): masking (the gradient is bitwise unchanged when
// only the labels of untrained positions change, and does change when a prompt position becomes
// trained); the loss equals a hand-computed mean of −log p over the response tokens of a tiny
// model; the data layer's targets are exactly "next token where its mask is 1, else −1"; and a
// tiny run on a synthetic task (reverse three letters, byte tokenizer) drives the validation loss
// down and makes greedy samples correct for most validation prompts.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/batch.h"
#include "gen/sample.h"
#include "io/checkpoint.h"
#include "tiny.h"
#include "train/sft.h"
#include "util/fileio.h"

static char *tmp_root;

// Two rows: a "prompt" part (mask 0) then a "response" part (mask 1), as data/dataset.h builds.
enum { B = 2 };
static const int LEN[B] = {9, 7};
static const int NPROMPT[B] = {5, 3};

// targets[n] = labels[n] where mask[n+1] is 1 (data/batch.h), else −1
static void make_targets(const int *labels, const unsigned char *mask, int *tg) {
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < LEN[b]; i++) tg[o + i] = (i + 1 < LEN[b] && mask[o + i + 1]) ? labels[o + i] : -1;
        o += (size_t)LEN[b];
    }
}

static float *grad_of(GPT *m, const int *tok, const int *tg, size_t N, double *loss, double *count) {
    Err e;
    gpt_zero_grad(m);
    if (gpt_forward(m, B, LEN, tok, &e)) { fprintf(stderr, "%s\n", e.msg); exit(1); }
    float *logp = falloc(N), *dlogp = falloc(N);
    *loss = sft_batch_loss(m, tg, logp, dlogp, 1, count);
    float *g = malloc(m->n_params * sizeof(float));
    memcpy(g, m->grads, m->n_params * sizeof(float));
    free(logp); free(dlogp);
    return g;
}

static void test_masking(void) {
    GPT *m = tiny_model(1, 0, 7);
    int V = m->cfg.vocab_size;
    size_t N = (size_t)LEN[0] + LEN[1];
    int tok[32], labels[32], labels2[32], tg[32], tg2[32];
    unsigned char mask[32], mask2[32];
    tiny_tokens(tok, LEN, B, V, 3);
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < LEN[b]; i++) {
            labels[o + i] = i + 1 < LEN[b] ? tok[o + i + 1] : 0;
            mask[o + i] = i >= NPROMPT[b];
        }
        o += (size_t)LEN[b];
    }
    // the data layer builds the same targets from an example's ids + mask
    Dataset ds = {.kind = DATA_SFT, .n = B};
    SftExample ex[B];
    ds.sft = ex;
    o = 0;
    for (int b = 0; b < B; b++) {
        ex[b] = (SftExample){.ids = tok + o, .mask = mask + o, .n = LEN[b], .n_prompt = NPROMPT[b], .line = b + 1};
        o += (size_t)LEN[b];
    }
    DataBatch db;
    memset(&db, 0, sizeof db);
    for (int b = 0; b < B; b++) data_batch_add(&db, &ds, b);
    make_targets(labels, mask, tg);
    CHECK(db.B == B && db.N == N && !memcmp(db.targets, tg, N * sizeof(int)) && !memcmp(db.tokens, tok, N * sizeof(int)),
          "data_batch_add targets = next token where its mask is 1, else -1");
    int n_on = 0;
    for (size_t n = 0; n < N; n++) n_on += tg[n] >= 0;
    CHECK(n_on == (LEN[0] - NPROMPT[0]) + (LEN[1] - NPROMPT[1]), "trained positions: %d", n_on);
    data_batch_free(&db);

    double l1, c1, l2, c2, l3, c3;
    float *g1 = grad_of(m, tok, tg, N, &l1, &c1);
    // every untrained position's label changes (prompt positions and the rows' last positions)
    memcpy(labels2, labels, sizeof labels);
    for (size_t n = 0; n < N; n++) if (tg[n] < 0) labels2[n] = (labels[n] + 1 + (int)n) % V;
    make_targets(labels2, mask, tg2);
    float *g2 = grad_of(m, tok, tg2, N, &l2, &c2);
    CHECK(check_bitwise("gradient, masked labels changed", g1, g2, m->n_params), "masked labels moved the gradient");
    CHECK(l1 == l2 && c1 == c2, "loss %g vs %g", l1, l2);
    free(g2);
    // a prompt position made trained (mask 1) with a changed label: the gradient must change
    memcpy(mask2, mask, sizeof mask);
    mask2[2] = 1;  // row 0: target at position 1 now trained
    make_targets(labels2, mask2, tg2);
    float *g3 = grad_of(m, tok, tg2, N, &l3, &c3);
    double d = 0;
    for (size_t i = 0; i < m->n_params; i++) d = fmax(d, fabs((double)g1[i] - g3[i]));
    CHECK(d > 1e-6 && c3 == c1 + 1, "training a prompt position changes the gradient (max diff %g)", d);
    free(g1); free(g3);

    // the loss against a hand computation from the final hidden states: logits = lnf · wteᵀ
    double cnt;
    float *logp = falloc(N);
    gpt_forward(m, B, LEN, tok, &(Err){0});
    double sum = sft_batch_loss(m, tg, logp, NULL, 0, &cnt);
    double want = 0;
    int C = m->cfg.n_embd, nt = 0;
    for (size_t n = 0; n < N; n++) {
        if (tg[n] < 0) continue;
        const float *x = m->a.lnf + n * (size_t)C;
        double mx = -1e300, z[64];
        for (int v = 0; v < V; v++) {
            double s = 0;
            for (int c = 0; c < C; c++) s += (double)x[c] * m->w.wte[(size_t)v * C + c];
            z[v] = s;
            if (s > mx) mx = s;
        }
        double se = 0;
        for (int v = 0; v < V; v++) se += exp(z[v] - mx);
        want += -(z[tg[n]] - mx - log(se));
        nt++;
    }
    want /= nt;
    printf("SFT loss %.6f, hand-computed %.6f over %d response tokens\n", sum / cnt, want, nt);
    CHECK(cnt == nt && fabs(sum / cnt - want) < 1e-5 * fmax(1, want), "loss %.7f vs hand %.7f", sum / cnt, want);
    free(logp);
    gpt_free(m);
}

// Mean validation loss over response tokens and the greedy exact-match rate.
static void evaluate(GPT *m, const Tokenizer *tok, const Dataset *val, double *loss, double *acc) {
    DataBatch b;
    memset(&b, 0, sizeof b);
    for (size_t i = 0; i < val->n; i++) data_batch_add(&b, val, (int)i);
    Err e;
    if (gpt_forward(m, b.B, b.len, b.tokens, &e)) { fprintf(stderr, "%s\n", e.msg); exit(1); }
    float *logp = falloc(b.N);
    double c;
    *loss = sft_batch_loss(m, b.targets, logp, NULL, 0, &c) / c;
    free(logp);
    int ok = 0;
    for (size_t i = 0; i < val->n; i++) {
        const SftExample *x = &val->sft[i];
        SampleConfig sc = {.temperature = 0, .top_p = 1, .max_new = 6, .eos_id = tok->eos_id, .batch = 1};
        const int *p = x->ids;
        uint64_t id = i;
        Samples s;
        if (generate(m, 1, &p, &x->n_prompt, &id, &sc, &s, &e)) { fprintf(stderr, "%s\n", e.msg); exit(1); }
        int nr = x->n - x->n_prompt;
        ok += s.len[0] == nr && !memcmp(s.tokens[0], x->ids + x->n_prompt, (size_t)nr * sizeof(int));
        samples_free(&s);
    }
    *acc = (double)ok / (double)val->n;
    data_batch_free(&b);
}

static void test_synthetic_run(void) {
    char *data = path_join(tmp_root, "rev.jsonl"), *start = path_join(tmp_root, "start"),
         *out = path_join(tmp_root, "run"), *fin = path_join(out, "final");
    FILE *f = fopen(data, "w");
    unsigned s = 12345;
    for (int i = 0; i < 400; i++) {
        char w[4];
        for (int k = 0; k < 3; k++) { s = s * 1103515245u + 12345u; w[k] = (char)('a' + (s >> 16) % 5); }
        w[3] = 0;
        fprintf(f, "{\"prompt\": \"r %s\", \"completion\": \"%c%c%c\"}\n", w, w[2], w[1], w[0]);
    }
    fclose(f);
    Tokenizer tok;
    tok_init_bytes(&tok);
    GPTConfig cfg = {.n_layer = 2, .n_head = 2, .n_embd = 48, .n_ctx = 48, .vocab_size = tok.vocab_size};
    GPT *m0 = gpt_create(&cfg, 0);
    gpt_init_weights(m0, 3);
    Err e;
    CHECK(ckpt_save_model(m0, &tok, start, NULL, &e) == 0, "save start model");

    SftOptions o;
    sft_defaults(&o);
    o.model = start; o.data = data; o.out = out;
    // under valgrind (make valgrind) a short run: memory errors show in any step; the learning
    // checks below run in make test
    int vg = getenv("RLHF_VALGRIND") != NULL;
    o.batch = 16; o.steps = vg ? 30 : 250; o.lr = 3e-3f; o.warmup = 10; o.val_fraction = 0.1;
    o.eval_every = 0; o.eval_max = 16; o.samples = 2; o.sample_max_new = 6; o.ckpt_every = 1000;
    o.seed = 4; o.quiet = 1;
    int rc = sft_run(&o, &e);
    CHECK(rc == 0, "sft_run: %s", rc ? e.msg : "");
    Dataset tr, val;
    DataReport rep;
    DataOpts dopt = {.kind = DATA_SFT, .tok = &tok, .val_fraction = 0.1, .split_seed = 4, .trunc = {.max_len = 48, .min_prompt = -1}};
    CHECK(dataset_load(data, &dopt, &tr, &val, &rep, &e) == 0 && val.n >= 20, "validation split");
    Tokenizer t2;
    GPT *m1 = rc ? NULL : ckpt_load_model(fin, 0, &t2, &e);
    if (m1 && val.n > 0) {
        double l0, a0, l1, a1;
        evaluate(m0, &tok, &val, &l0, &a0);
        evaluate(m1, &tok, &val, &l1, &a1);
        printf("reverse task: %zu train / %zu val; val loss %.4f -> %.4f, greedy exact %.0f%% -> %.0f%%\n",
               tr.n, val.n, l0, l1, 100 * a0, 100 * a1);
        if (!vg) {
            CHECK(l1 < 0.25 * l0 && l1 < 0.5, "val loss %g -> %g", l0, l1);
            CHECK(a1 >= 0.8, "greedy accuracy %g", a1);
        }
        char *sp = path_join(out, "samples.jsonl");
        CHECK(path_exists(sp), "samples.jsonl written");
        free(sp);
        gpt_free(m1);
        tok_free(&t2);
    }
    dataset_free(&tr); dataset_free(&val); data_report_free(&rep);
    gpt_free(m0);
    tok_free(&tok);
    free(data); free(start); free(out); free(fin);
}

int main(void) {
    const char *base = getenv("RLHF_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/sft.XXXXXX", base ? base : "/tmp");
    tmp_root = mkdtemp(tmpl);
    if (!tmp_root) { perror("mkdtemp"); return 1; }
    test_masking();
    test_synthetic_run();
    Err e;
    if (remove_tree(tmp_root, &e)) fprintf(stderr, "%s\n", e.msg);
    return check_summary("sft");
}
