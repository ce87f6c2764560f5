// tests/test_rm.c — the reward-model stage (train/rm.h): the Bradley–Terry loss through a tiny RM
// (rewards = gpt_values at each row's EOS) against a hand computation, with margin and centring;
// the gradient w.r.t. the per-position values lands only on the EOS positions and matches central
// differences on score.weight; a K = 4 ranking with a tie is the mean of its pairs; the score
// head added to a language model; a tiny RM learns a synthetic preference (chosen responses hold
// more of the letter 'x') to ≥ 95% held-out accuracy; the stored normalisation gives the
// reference set (chosen responses of the training data) mean 0.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/checkpoint.h"
#include "train/losses.h"
#include "train/rm.h"
#include "util/fileio.h"
#include "util/rng.h"

static char *tmp_root;

static GPTConfig rm_config(int score_head) {
    GPTConfig c = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_ctx = 64, .vocab_size = 258,
                   .score_head = score_head};
    return c;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static double nls(double x) { return log1p(exp(-x)); }  // −log σ(x), fine for the small x here
static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

static void test_loss_through_model(void) {
    char *path = path_join(tmp_root, "cmp.jsonl");
    write_file(path,
               "{\"prompt\": \"Hi\", \"chosen\": \"Hello there\", \"rejected\": \"Go\", \"margin\": 0.5}\n"
               "{\"prompt\": \"Name four\", \"responses\": [\"one\", \"two two\", \"three\", \"4\"], \"ranking\": [2, [0, 3], 1]}\n");
    Tokenizer tok;
    tok_init_bytes(&tok);
    DataOpts o = {.kind = DATA_CMP, .tok = &tok, .trunc = {.max_len = 64, .min_prompt = -1}};
    Dataset ds, val;
    DataReport rep;
    memset(&rep, 0, sizeof rep);
    Err e;
    int rc = dataset_load(path, &o, &ds, &val, &rep, &e);
    CHECK(rc == 0, "load: %s", rc ? e.msg : "");
    if (rc) return;
    CHECK(ds.n == 2 && ds.cmp[0].k == 2 && ds.cmp[1].k == 4 && ds.cmp[1].n_pairs == 5,
          "2 examples, K = 2 and 4 (5 untied pairs), got %zu", ds.n);

    GPTConfig c = rm_config(1);
    GPT *m = gpt_create(&c, 1);
    gpt_init_weights(m, 7);
    DataBatch b;
    memset(&b, 0, sizeof b);
    data_batch_add(&b, &ds, 0);
    data_batch_add(&b, &ds, 1);
    CHECK(b.B == 6, "6 rows, got %d", b.B);
    double lam = 0.01, r[6];
    float *dval = falloc(b.N);
    RmStats st = {0};
    gpt_zero_grad(m);
    CHECK(rm_batch_loss(m, &ds, &b, 0, lam, r, dval, &st, &e) == 0, "rm_batch_loss");
    float *gsc = falloc((size_t)c.n_embd);
    memcpy(gsc, m->g.scorew, (size_t)c.n_embd * sizeof(float));

    // hand computation from the head's values at each row's last token (the EOS)
    float *val_ = falloc(b.N);
    Err e2;
    gpt_forward_shared(m, b.B, b.len, b.tokens, b.parent, b.prefix, &e2);
    gpt_values(m, val_);
    size_t off = 0;
    int eos_ok = 1;
    for (int row = 0; row < b.B; row++) {
        off += (size_t)b.len[row];
        eos_ok &= b.tokens[off - 1] == tok.eos_id;
        CHECK(fabs(r[row] - val_[off - 1]) < 1e-6, "row %d reward = value at EOS", row);
    }
    CHECK(eos_ok, "every row ends with EOS");
    double L0 = nls(r[0] - r[1] - 0.5) + lam * (r[0] + r[1]) * (r[0] + r[1]);
    // ranking [2, [0, 3], 1] over responses 0..3 = rows 2..5: pairs 2>0, 2>3, 2>1, 0>1, 3>1
    const int P[5][2] = {{2, 0}, {2, 3}, {2, 1}, {0, 1}, {3, 1}};
    double L1 = 0, dr1[4] = {0, 0, 0, 0};
    for (int p = 0; p < 5; p++) {
        double w = r[2 + P[p][0]], l = r[2 + P[p][1]];
        L1 += (nls(w - l) + lam * (w + l) * (w + l)) / 5;
        dr1[P[p][0]] += (-sig(-(w - l)) + 2 * lam * (w + l)) / 5;
        dr1[P[p][1]] += (sig(-(w - l)) + 2 * lam * (w + l)) / 5;
    }
    printf("BT: loss pair %.6f, ranking %.6f, rewards %.4f %.4f | %.4f %.4f %.4f %.4f\n", L0, L1,
           r[0], r[1], r[2], r[3], r[4], r[5]);
    CHECK(fabs(st.loss_sum - (L0 + L1)) < 1e-9, "loss sum %.9f vs hand %.9f", st.loss_sum, L0 + L1);
    CHECK(st.elements == 2, "two elements");
    // ranking path = mean of bt_pair over its pairs, and = bt_ranking with ranks (tie: equal rank)
    double dr[4], drk[4];
    double lr = rm_example_loss(&ds.cmp[1], r + 2, 0, lam, dr, NULL);
    int rank[4] = {1, 2, 0, 1};
    BTRanking br = bt_ranking(4, r + 2, rank, 0, lam, drk);
    CHECK(fabs(lr - L1) < 1e-12 && fabs(br.loss - L1) < 1e-12 && br.pairs == 5,
          "ranking = mean of its pairs (%.9f, %.9f, %.9f)", lr, L1, br.loss);
    for (int k = 0; k < 4; k++)
        CHECK(fabs(dr[k] - dr1[k]) < 1e-12 && fabs(drk[k] - dr1[k]) < 1e-12, "ranking gradient %d", k);
    // per-position gradient: only at the EOS positions, equal to ∂loss/∂r
    double dpair[2] = {-sig(-(r[0] - r[1] - 0.5)) + 2 * lam * (r[0] + r[1]),
                       sig(-(r[0] - r[1] - 0.5)) + 2 * lam * (r[0] + r[1])};
    off = 0;
    int only_eos = 1;
    for (int row = 0; row < b.B; row++) {
        for (int i = 0; i < b.len[row] - 1; i++) only_eos &= dval[off + (size_t)i] == 0.0f;
        off += (size_t)b.len[row];
        double want = row < 2 ? dpair[row] : dr1[row - 2];
        CHECK(fabs(dval[off - 1] - want) < 1e-6, "row %d: dval at EOS %.6g vs %.6g", row, dval[off - 1], want);
        CHECK(dval[off - 1] != 0.0f, "row %d: gradient reaches its EOS", row);
    }
    CHECK(only_eos, "no gradient on positions other than the EOS");
    // the gradient reaches the weights: central differences on score.weight and a trunk weight
    int worst_ok = 1;
    for (int j = 0; j < 6; j++) {
        float *w = j < 4 ? &m->w.scorew[j * 7] : &m->w.h[0].qkvw[j * 131];
        double g = j < 4 ? gsc[j * 7] : 0;
        if (j >= 4) {  // trunk grad from the first backward
            gpt_zero_grad(m);
            RmStats s2 = {0};
            rm_batch_loss(m, &ds, &b, 0, lam, NULL, dval, &s2, &e2);
            g = m->g.h[0].qkvw[j * 131];
        }
        float w0 = *w, h = 1e-2f;
        RmStats sp = {0}, sm = {0};
        *w = w0 + h; rm_batch_loss(m, &ds, &b, 0, lam, NULL, NULL, &sp, &e2);
        *w = w0 - h; rm_batch_loss(m, &ds, &b, 0, lam, NULL, NULL, &sm, &e2);
        *w = w0;
        double fd = (sp.loss_sum - sm.loss_sum) / (2 * (double)h);
        int okj = fabs(fd - g) <= 2e-2 * fmax(fabs(fd), 1e-2);
        if (!okj) fprintf(stderr, "param %d: analytic %.6g, finite differences %.6g\n", j, g, fd);
        worst_ok &= okj;
    }
    CHECK(worst_ok, "weight gradients match central differences");
    // margin ignored: a different loss
    RmStats s3 = {0};
    rm_batch_loss(m, &ds, &b, 1, lam, NULL, NULL, &s3, &e2);
    double L0nm = nls(r[0] - r[1]) + lam * (r[0] + r[1]) * (r[0] + r[1]);
    CHECK(fabs(s3.loss_sum - (L0nm + L1)) < 1e-6, "--ignore-margin: %.9f vs %.9f", s3.loss_sum, L0nm + L1);
    free(dval); free(gsc); free(val_);
    data_batch_free(&b);
    gpt_free(m);
    dataset_free(&ds); dataset_free(&val);
    data_report_free(&rep);
    tok_free(&tok);
    free(path);
}

static void test_add_head(void) {
    GPTConfig c = rm_config(0), ch = rm_config(1);
    GPT *m = gpt_create(&c, 1), *ref = gpt_create(&ch, 0);
    gpt_init_weights(m, 3);
    gpt_init_weights(ref, 3);
    GPT *orig = gpt_create(&c, 0);
    memcpy(orig->params, m->params, m->n_params * sizeof(float));
    Err e;
    CHECK(gpt_add_score_head(&m, 3, &e) == 0 && m->cfg.score_head == 1 && m->trainable, "head added");
    CHECK(!memcmp(m->params, orig->params, orig->n_params * sizeof(float)), "trunk carried over");
    check_bitwise("head = gpt_init_weights' draw", m->w.scorew, ref->w.scorew, (size_t)c.n_embd);
    double s = 0;
    for (int j = 0; j < c.n_embd; j++) s += (double)m->w.scorew[j] * m->w.scorew[j];
    printf("score head std %.4f (want ≈ %.4f)\n", sqrt(s / c.n_embd), 1 / sqrt(c.n_embd + 1.0));
    gpt_free(m); gpt_free(ref); gpt_free(orig);
}

// Synthetic preferences: random strings of a..h, the chosen one holds more 'x'.
static void test_learns_and_normalises(void) {
    char *data = path_join(tmp_root, "syn.jsonl"), *trunk = path_join(tmp_root, "trunk"),
         *out = path_join(tmp_root, "run");
    FILE *f = fopen(data, "w");
    Rng g;
    rng_seed(&g, 5, 0, 0);
    for (int i = 0; i < 400; i++) {
        char a[24], b[24];
        int na = 6 + (int)rng_below(&g, 8), nb = 6 + (int)rng_below(&g, 8);
        for (int k = 0; k < na; k++) a[k] = (char)('a' + rng_below(&g, 8));
        for (int k = 0; k < nb; k++) b[k] = (char)('a' + rng_below(&g, 8));
        a[na] = b[nb] = 0;
        int xa = 2 + (int)rng_below(&g, 3), xb = (int)rng_below(&g, 2);  // chosen 2..4 x, rejected 0..1
        for (int k = 0; k < xa; k++) a[rng_below(&g, (uint64_t)na)] = 'x';
        for (int k = 0; k < xb; k++) b[rng_below(&g, (uint64_t)nb)] = 'x';
        fprintf(f, "{\"prompt\": \"Q%d\", \"chosen\": \"%s\", \"rejected\": \"%s\"}\n", i % 10, a, b);
    }
    fclose(f);
    Tokenizer tok;
    tok_init_bytes(&tok);
    GPTConfig c = rm_config(0);
    GPT *m = gpt_create(&c, 0);
    gpt_init_weights(m, 1);
    Err e;
    CHECK(ckpt_save_model(m, &tok, trunk, NULL, &e) == 0, "trunk saved");
    gpt_free(m);
    RmOptions o;
    rm_defaults(&o);
    o.model = trunk; o.data = data; o.out = out; o.batch = 16; o.steps = 80; o.lr = 3e-3f;
    o.warmup = 5; o.eval_every = 40; o.ckpt_every = 1000; o.val_fraction = 0.2; o.seed = 9;
    o.centre = 1e-2; o.quiet = 1;
    int rc = rm_run(&o, &e);
    CHECK(rc == 0, "rm_run: %s", rc ? e.msg : "");
    if (rc) { tok_free(&tok); free(data); free(trunk); free(out); return; }
    char *metrics = path_join(out, "metrics.jsonl");
    FILE *mf = fopen(metrics, "r");
    char line[1024];
    double acc = -1, margin = 0;
    while (mf && fgets(line, sizeof line, mf)) {
        json_t *j = json_loads(line, 0, NULL);
        if (j && json_object_get(j, "val_accuracy")) {
            acc = json_number_value(json_object_get(j, "val_accuracy"));
            margin = json_number_value(json_object_get(j, "val_margin"));
        }
        json_decref(j);
    }
    if (mf) fclose(mf);
    printf("synthetic preferences: held-out accuracy %.4f, mean margin %.3f\n", acc, margin);
    CHECK(acc >= 0.95, "held-out accuracy %.4f ≥ 0.95", acc);

    char *fin = path_join(out, "final"), *cfgp = path_join(fin, "config.json");
    json_t *cfg = json_load_file(cfgp, 0, NULL);
    const json_t *jb = json_object_get(cfg, "rlhf_reward_bias"), *jg = json_object_get(cfg, "rlhf_reward_gain");
    CHECK(json_is_number(jb) && json_is_number(jg), "normalisation keys in final/config.json");
    RewardNorm rn = {json_number_value(jb), json_number_value(jg)};
    Tokenizer t2;
    memset(&t2, 0, sizeof t2);
    GPT *rm = ckpt_load_model(fin, 0, &t2, &e);
    CHECK(rm && rm->cfg.score_head, "final loads as a reward model");
    DataOpts dop = {.kind = DATA_CMP, .tok = &tok, .trunc = {.max_len = c.n_ctx, .min_prompt = -1},
                    .val_fraction = 0.2, .split_seed = 9};
    Dataset tr, va;
    DataReport rep;
    memset(&rep, 0, sizeof rep);
    if (rm && dataset_load(data, &dop, &tr, &va, &rep, &e) == 0) {
        double *sc = NULL;
        CHECK(rm_reference_scores(rm, &tr, 32, &sc, &e) == 0, "reference scores");
        double mean = 0;
        for (size_t i = 0; i < tr.n; i++) mean += reward_norm_apply(&rn, sc[i]);
        mean /= (double)tr.n;
        printf("normalised mean on %zu reference rows: %.3g (bias %.4f)\n", tr.n, mean, rn.bias);
        CHECK(fabs(mean) <= 1e-4, "reference mean after normalisation %.3g", mean);
        CHECK(fabs(rn.bias) > 1e-3, "a bias was needed (raw mean %.4f)", -rn.bias);
        free(sc);
        dataset_free(&tr); dataset_free(&va);
    }
    data_report_free(&rep);
    json_decref(cfg);
    if (rm) gpt_free(rm);
    tok_free(&t2); tok_free(&tok);
    free(fin); free(cfgp); free(metrics); free(data); free(trunk); free(out);
}

int main(void) {
    const char *base = getenv("RLHF_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/rm.XXXXXX", base ? base : "/tmp");
    tmp_root = mkdtemp(tmpl);
    if (!tmp_root) { perror("mkdtemp"); return 1; }
    test_loss_through_model();
    test_add_head();
    test_learns_and_normalises();
    Err e;
    remove_tree(tmp_root, &e);
    return check_summary("test_rm");
}
