// tests/test_checkpoint.c — model folders (Hugging Face layout) and training checkpoints: bit-exact
// save→load round trips (with and without the scalar head, with and without the "transformer."
// prefix), the HF keys of config.json and the tensor names of model.safetensors, optimizer state
// and trainer_state.json, atomic replacement of an existing folder, and many broken folders, each
// of which must give a clear error naming the file (and the tensor / expected shape where it
// applies), never a crash.
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "util/fileio.h"
#include "util/json.h"

static char *g_dir;

static char *tpath(const char *name) { return path_join(g_dir, name); }

// Big enough for the byte tokenizer (258 ids); small otherwise.
static GPTConfig ck_config(int score_head, int n_embd) {
    GPTConfig c = {.n_layer = 2, .n_head = 2, .n_embd = n_embd, .n_ctx = 24, .vocab_size = 260,
                   .score_head = score_head};
    return c;
}

// A model whose every parameter (and moment, if trainable) is a distinct random value, so that a
// swapped, shifted or dropped tensor cannot go unnoticed.
static GPT *ck_model(int trainable, int score_head, int n_embd, unsigned long long seed) {
    GPTConfig c = ck_config(score_head, n_embd);
    GPT *m = gpt_create(&c, trainable);
    fill_uniform(m->params, m->n_params, seed, 1.0f);
    if (trainable) {
        fill_uniform(m->adam_m, m->n_params, seed + 1, 0.01f);
        fill_uniform(m->adam_v, m->n_params, seed + 2, 1e-4f);
        for (size_t i = 0; i < m->n_params; i++) m->adam_v[i] = m->adam_v[i] * m->adam_v[i];
        m->adam_step = 17 + (long)seed;
    }
    return m;
}

static int same_config(const GPTConfig *a, const GPTConfig *b) {
    return a->n_layer == b->n_layer && a->n_head == b->n_head && a->n_embd == b->n_embd &&
           a->n_ctx == b->n_ctx && a->vocab_size == b->vocab_size && a->score_head == b->score_head;
}

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "wb");
    if (!fp || fputs(text, fp) < 0) {
        perror(path);
        exit(1);
    }
    fclose(fp);
}

static json_t *load_json(const char *dir, const char *file) {
    char *p = path_join(dir, file);
    Err e;
    json_t *j = json_read_file(p, &e);
    if (!j) fprintf(stderr, "%s\n", e.msg);
    free(p);
    return j;
}

static void save_json(const char *dir, const char *file, json_t *j) {
    char *p = path_join(dir, file);
    Err e;
    if (json_write_file(p, j, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    free(p);
}

static void rm_file(const char *dir, const char *file) {
    char *p = path_join(dir, file);
    if (unlink(p) != 0) perror(p);
    free(p);
}

static long file_size(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fclose(fp);
    return n;
}

// Saves a good folder NAME (LM model with tokenizer) and returns its path.
static char *good_folder(const char *name, int score_head) {
    char *d = tpath(name);
    GPT *m = ck_model(0, score_head, 16, 5);
    Tokenizer tok;
    tok_init_bytes(&tok);
    Err e;
    if (ckpt_save_model(m, &tok, d, NULL, &e)) {
        fprintf(stderr, "good_folder: %s\n", e.msg);
        exit(1);
    }
    gpt_free(m);
    return d;
}

// ckpt_load_model must fail with a message containing every non-NULL fragment.
static void expect_load_fail_at(int line, const char *dir, const char *f1, const char *f2,
                                const char *f3) {
    Err e;
    memset(&e, 0, sizeof e);
    Tokenizer tok;
    GPT *m = ckpt_load_model(dir, 0, &tok, &e);
    CHECK(m == NULL, "line %d: loading %s should fail", line, dir);
    if (getenv("RLHF_TEST_VERBOSE")) fprintf(stderr, "line %d: %s\n", line, e.msg);
    if (m) {
        gpt_free(m);
        return;
    }
    const char *fr[3] = {f1, f2, f3};
    for (int i = 0; i < 3; i++)
        if (fr[i])
            CHECK(strstr(e.msg, fr[i]) != NULL, "line %d: message lacks \"%s\": %s", line, fr[i],
                  e.msg);
}
#define EXPECT_LOAD_FAIL(dir, f1, f2, f3) expect_load_fail_at(__LINE__, dir, f1, f2, f3)

// Names of a folder's entries containing frag (count).
static int count_entries(const char *dir, const char *frag) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, frag)) n++;
    closedir(d);
    return n;
}

static void test_roundtrip(int score_head) {
    char *d = tpath(score_head ? "rt_head" : "rt_lm");
    GPT *m = ck_model(0, score_head, 16, 11);
    Tokenizer tok;
    tok_init_bytes(&tok);
    Err e;
    json_t *extra = json_pack("{s:s}", "rlhf_stage", "sft");
    CHECK(ckpt_save_model(m, &tok, d, extra, &e) == 0, "save: %s", e.msg);
    json_decref(extra);

    // config.json: the keys transformers reads
    json_t *j = load_json(d, "config.json");
    CHECK(j != NULL, "config.json readable");
    if (j) {
        const char *mt = json_string_value(json_object_get(j, "model_type"));
        CHECK(mt && !strcmp(mt, "gpt2"), "model_type %s", mt ? mt : "(none)");
        CHECK(json_integer_value(json_object_get(j, "n_layer")) == 2, "n_layer");
        CHECK(json_integer_value(json_object_get(j, "n_head")) == 2, "n_head");
        CHECK(json_integer_value(json_object_get(j, "n_embd")) == 16, "n_embd");
        CHECK(json_integer_value(json_object_get(j, "n_positions")) == 24, "n_positions");
        CHECK(json_integer_value(json_object_get(j, "vocab_size")) == 260, "vocab_size");
        const char *act = json_string_value(json_object_get(j, "activation_function"));
        CHECK(act && !strcmp(act, "gelu_new"), "activation_function %s", act ? act : "(none)");
        CHECK(json_real_value(json_object_get(j, "layer_norm_epsilon")) == 1e-5, "layer_norm_epsilon");
        CHECK(json_integer_value(json_object_get(j, "eos_token_id")) == 256, "eos_token_id");
        json_t *arch = json_object_get(j, "architectures");
        const char *a0 = json_string_value(json_array_get(arch, 0));
        const char *want = score_head ? "GPT2ForSequenceClassification" : "GPT2LMHeadModel";
        CHECK(json_is_array(arch) && json_array_size(arch) == 1 && a0 && !strcmp(a0, want),
              "architectures: %s, want %s", a0 ? a0 : "(none)", want);
        json_t *id2label = json_object_get(j, "id2label");
        if (score_head) {
            CHECK(json_is_object(id2label) && json_object_size(id2label) == 1 &&
                      json_is_string(json_object_get(id2label, "0")),
                  "id2label {\"0\": ...} for the score head");
            CHECK(json_is_object(json_object_get(j, "label2id")), "label2id");
        } else {
            CHECK(id2label == NULL, "no id2label without a head");
        }
        const char *st = json_string_value(json_object_get(j, "rlhf_stage"));
        CHECK(st && !strcmp(st, "sft"), "extra keys merged into config.json");
        json_decref(j);
    }

    // model.safetensors: every tensor once, trunk names prefixed, score.weight not
    char *p = path_join(d, "model.safetensors");
    StFile f;
    CHECK(st_open(&f, p, &e) == 0, "%s", e.msg);
    if (f.map) {
        CHECK(f.n == m->n_tensors, "%d tensors in the file, model has %d", f.n, m->n_tensors);
        int bad = 0;
        for (int i = 0; i < f.n; i++) {
            const char *nm = f.tensors[i].name;
            int head = !strcmp(nm, "score.weight");
            if (!head && strncmp(nm, "transformer.", 12) != 0) {
                bad++;
                fprintf(stderr, "unexpected tensor name %s\n", nm);
            }
            if (strcmp(f.tensors[i].dtype_name, "F32") != 0) bad++;
        }
        CHECK(bad == 0, "%d badly named or typed tensors", bad);
        CHECK((st_find(&f, "score.weight") != NULL) == score_head, "score.weight present iff head");
        CHECK(st_find(&f, "transformer.score.weight") == NULL, "score.weight has no prefix");
        CHECK(st_find(&f, "transformer.h.1.mlp.c_proj.bias") != NULL, "layer tensor prefixed");
        const StTensor *w = st_find(&f, "transformer.h.0.attn.c_attn.weight");
        CHECK(w && w->ndim == 2 && w->shape[0] == 16 && w->shape[1] == 48,
              "c_attn.weight is [C, 3C] (Conv1D layout)");
        const char *fmt = st_meta(&f, "format");
        CHECK(fmt && !strcmp(fmt, "pt"), "__metadata__ format pt");
        st_close(&f);
    }
    free(p);

    // load: same config, bit-identical parameters, tokenizer restored
    Tokenizer tok2;
    memset(&tok2, 0, sizeof tok2);
    GPT *m2 = ckpt_load_model(d, 0, &tok2, &e);
    CHECK(m2 != NULL, "load: %s", e.msg);
    if (m2) {
        CHECK(same_config(&m2->cfg, &m->cfg), "config round trip (score_head %d)", m2->cfg.score_head);
        CHECK(m2->n_params == m->n_params, "n_params");
        if (m2->n_params == m->n_params) check_bitwise("params round trip", m2->params, m->params, m->n_params);
        CHECK(tok2.kind == tok.kind && tok2.vocab_size == tok.vocab_size &&
                  tok2.eos_id == tok.eos_id && tok2.pad_id == tok.pad_id,
              "tokenizer round trip");
        CHECK((m2->w.scorew != NULL) == score_head, "score weights allocated iff head");
        gpt_free(m2);
    }
    // trainable load and load without a tokenizer
    m2 = ckpt_load_model(d, 1, NULL, &e);
    CHECK(m2 != NULL && m2->trainable && m2->adam_m, "trainable load: %s", m2 ? "" : e.msg);
    if (m2) {
        check_bitwise("params (trainable load)", m2->params, m->params, m->n_params);
        gpt_free(m2);
    }
    // ckpt_read_config alone
    GPTConfig c;
    CHECK(ckpt_read_config(d, &c, &e) == 0 && same_config(&c, &m->cfg), "ckpt_read_config");

    // a file whose trunk names lack "transformer." (as some exports write them) loads too
    {
        StWriteTensor *ts = calloc((size_t)m->n_tensors, sizeof *ts);
        float *other = malloc(m->n_params * sizeof(float));
        fill_uniform(other, m->n_params, 99, 2.0f);
        for (int i = 0; i < m->n_tensors; i++) {
            const GPTTensor *t = &m->tensors[i];
            ts[i].name = t->name;
            ts[i].data = other + t->offset;
            ts[i].ndim = t->ndim;
            ts[i].shape[0] = t->shape[0];
            ts[i].shape[1] = t->shape[1];
        }
        p = path_join(d, "model.safetensors");
        CHECK(st_write(p, ts, m->n_tensors, NULL, NULL, 0, 0, &e) == 0, "%s", e.msg);
        free(p);
        m2 = ckpt_load_model(d, 0, NULL, &e);
        CHECK(m2 != NULL, "unprefixed names: %s", e.msg);
        if (m2) {
            check_bitwise("params (unprefixed names)", m2->params, other, m->n_params);
            gpt_free(m2);
        }
        // ckpt_load_weights into an existing model
        GPT *m3 = ck_model(0, score_head, 16, 123);
        CHECK(ckpt_load_weights(m3, d, &e) == 0, "ckpt_load_weights: %s", e.msg);
        check_bitwise("params (ckpt_load_weights)", m3->params, other, m->n_params);
        gpt_free(m3);
        free(other);
        free(ts);
    }
    gpt_free(m);
    free(d);
}

static void test_train_roundtrip(void) {
    char *d = tpath("train");
    GPT *m = ck_model(1, 1, 16, 21);
    Tokenizer tok;
    tok_init_bytes(&tok);
    Err e;
    json_t *state = json_pack("{s:i,s:i,s:s}", "step", 40, "data_pos", 12345, "stage", "rm");
    CHECK(ckpt_save_train(m, &tok, d, state, &e) == 0, "save_train: %s", e.msg);
    json_decref(state);
    char *p = path_join(d, "optimizer.safetensors");
    CHECK(path_exists(p), "optimizer.safetensors written");
    free(p);

    GPT *m2 = ck_model(1, 1, 16, 77);  // same config, other values
    json_t *st = NULL;
    CHECK(ckpt_load_train(m2, d, &st, &e) == 0, "load_train: %s", e.msg);
    check_bitwise("params (train ckpt)", m2->params, m->params, m->n_params);
    check_bitwise("adam_m", m2->adam_m, m->adam_m, m->n_params);
    check_bitwise("adam_v", m2->adam_v, m->adam_v, m->n_params);
    CHECK(m2->adam_step == m->adam_step, "adam_step %ld, want %ld", m2->adam_step, m->adam_step);
    CHECK(st != NULL, "trainer state returned");
    if (st) {
        CHECK(json_integer_value(json_object_get(st, "step")) == 40, "state step");
        CHECK(json_integer_value(json_object_get(st, "data_pos")) == 12345, "state data_pos");
        const char *sg = json_string_value(json_object_get(st, "stage"));
        CHECK(sg && !strcmp(sg, "rm"), "state stage");
        json_decref(st);
    }
    // the training checkpoint is also a model folder
    GPT *m3 = ckpt_load_model(d, 0, NULL, &e);
    CHECK(m3 != NULL, "train checkpoint loads as a model: %s", e.msg);
    if (m3) {
        check_bitwise("params (model load of a train ckpt)", m3->params, m->params, m->n_params);
        gpt_free(m3);
    }
    // a frozen model has no optimizer state to save or load
    GPT *fz = ck_model(0, 1, 16, 3);
    char *d2 = tpath("train_frozen");
    state = json_object();
    CHECK(ckpt_save_train(fz, &tok, d2, state, &e) != 0 && strstr(e.msg, d2),
          "frozen save_train refused: %s", e.msg);
    CHECK(!path_exists(d2), "no folder left behind by a failed save");
    CHECK(count_entries(g_dir, "train_frozen.tmp.") == 0, "no temporary folder left behind");
    json_decref(state);
    st = (json_t *)1;
    CHECK(ckpt_load_train(fz, d, &st, &e) != 0 && st == NULL, "load_train into a frozen model refused");
    gpt_free(fz);
    free(d2);

    // a model of another shape (n_head differs: no tensor shape shows it) is refused
    GPTConfig c4 = ck_config(1, 16);
    c4.n_head = 4;
    GPT *m4 = gpt_create(&c4, 1);
    CHECK(ckpt_load_train(m4, d, &st, &e) != 0 && strstr(e.msg, "config.json") && strstr(e.msg, "n_head"),
          "load_train with another n_head refused: %s", e.msg);
    gpt_free(m4);
    // one more layer in the model than in the checkpoint: a missing tensor
    GPTConfig c5 = ck_config(1, 16);
    c5.n_layer = 3;
    GPT *m5 = gpt_create(&c5, 1);
    CHECK(ckpt_load_train(m5, d, &st, &e) != 0, "load_train with more layers refused");
    gpt_free(m5);
    // one layer fewer: the checkpoint's extra layer must not be silently dropped
    GPTConfig c6 = ck_config(1, 16);
    c6.n_layer = 1;
    GPT *m6 = gpt_create(&c6, 1);
    CHECK(ckpt_load_train(m6, d, &st, &e) != 0 && strstr(e.msg, "n_layer"),
          "load_train with fewer layers refused: %s", e.msg);
    gpt_free(m6);

    // broken training checkpoints
    char *bad = tpath("train_bad");
    m2->adam_step = 5;
    state = json_object();
    CHECK(ckpt_save_train(m, &tok, bad, state, &e) == 0, "%s", e.msg);
    rm_file(bad, "optimizer.safetensors");
    CHECK(ckpt_load_train(m2, bad, &st, &e) != 0 && strstr(e.msg, "optimizer.safetensors") &&
              st == NULL,
          "missing optimizer.safetensors: %s", e.msg);
    CHECK(ckpt_save_train(m, &tok, bad, state, &e) == 0, "%s", e.msg);
    rm_file(bad, "trainer_state.json");
    CHECK(ckpt_load_train(m2, bad, &st, &e) != 0 && strstr(e.msg, "trainer_state.json") && st == NULL,
          "missing trainer_state.json: %s", e.msg);
    CHECK(ckpt_save_train(m, &tok, bad, state, &e) == 0, "%s", e.msg);
    p = path_join(bad, "optimizer.safetensors");
    long sz = file_size(p);
    CHECK(truncate(p, sz / 2) == 0, "truncate");
    CHECK(ckpt_load_train(m2, bad, &st, &e) != 0 && strstr(e.msg, p), "truncated optimizer: %s", e.msg);
    free(p);
    // optimizer file lacking one moment tensor
    CHECK(ckpt_save_train(m, &tok, bad, state, &e) == 0, "%s", e.msg);
    {
        int n = 2 * m->n_tensors - 1, k = 0;
        StWriteTensor *ts = calloc((size_t)n + 1, sizeof *ts);
        char (*names)[128] = calloc((size_t)n + 1, sizeof *names);
        for (int mom = 0; mom < 2; mom++)
            for (int i = 0; i < m->n_tensors; i++) {
                const GPTTensor *t = &m->tensors[i];
                if (mom == 1 && !strcmp(t->name, "h.0.mlp.c_fc.weight")) continue;
                snprintf(names[k], sizeof names[k], "%s%s", mom ? "exp_avg_sq." : "exp_avg.", t->name);
                ts[k].name = names[k];
                ts[k].data = (mom ? m->adam_v : m->adam_m) + t->offset;
                ts[k].ndim = t->ndim;
                ts[k].shape[0] = t->shape[0];
                ts[k].shape[1] = t->shape[1];
                k++;
            }
        p = path_join(bad, "optimizer.safetensors");
        CHECK(k == n && st_write(p, ts, n, NULL, NULL, 0, 0, &e) == 0, "%s", e.msg);
        CHECK(ckpt_load_train(m2, bad, &st, &e) != 0 && strstr(e.msg, p) &&
                  strstr(e.msg, "h.0.mlp.c_fc.weight") && strstr(e.msg, "[16, 64]"),
              "missing moment tensor: %s", e.msg);
        free(p);
        free(ts);
        free(names);
    }
    json_decref(state);
    free(bad);
    gpt_free(m2);
    gpt_free(m);
    free(d);
}

static void test_broken_folders(void) {
    Err e;
    Tokenizer tok;
    // missing folder; a file instead of a folder
    char *d = tpath("does_not_exist");
    EXPECT_LOAD_FAIL(d, d, "not a model folder", NULL);
    GPTConfig c;
    CHECK(ckpt_read_config(d, &c, &e) != 0 && strstr(e.msg, "config.json"), "read_config: %s", e.msg);
    free(d);
    d = tpath("plain_file");
    write_text(d, "hello\n");
    EXPECT_LOAD_FAIL(d, d, NULL, NULL);
    free(d);

    // config.json problems
    d = good_folder("no_config", 0);
    rm_file(d, "config.json");
    char *cfgp = path_join(d, "config.json");
    EXPECT_LOAD_FAIL(d, cfgp, NULL, NULL);
    write_text(cfgp, "{ \"n_layer\": 2, \"n_head\": ");
    EXPECT_LOAD_FAIL(d, cfgp, "invalid JSON", NULL);
    write_text(cfgp, "[1, 2, 3]\n");
    EXPECT_LOAD_FAIL(d, cfgp, NULL, NULL);
    write_text(cfgp, "");
    EXPECT_LOAD_FAIL(d, cfgp, NULL, NULL);
    free(cfgp);
    free(d);

    d = good_folder("cfg_edit", 0);
    cfgp = path_join(d, "config.json");
    json_t *good = load_json(d, "config.json");
    struct {
        const char *key;
        json_t *val;  // NULL: delete the key
        const char *f1, *f2;
    } edits[] = {
        {"n_layer", json_string("two"), "\"n_layer\"", "expected integer"},
        {"n_embd", json_real(16.5), "\"n_embd\"", "expected integer"},
        {"n_head", json_integer(3), "divisible", "n_head"},
        {"n_head", json_integer(0), "positive", NULL},
        {"n_layer", json_integer(-1), "positive", NULL},
        {"n_embd", json_integer(1LL << 40), "out of range", NULL},
        {"vocab_size", NULL, "\"vocab_size\"", "missing"},
        {"n_positions", NULL, "\"n_positions\"", "missing"},
        {"model_type", json_string("gpt_neox"), "\"model_type\"", "gpt_neox"},
        {"model_type", json_integer(2), "\"model_type\"", "expected string"},
        {"activation_function", json_string("relu"), "\"activation_function\"", "relu"},
        {"layer_norm_epsilon", json_real(1e-6), "\"layer_norm_epsilon\"", NULL},
        {"layer_norm_epsilon", json_string("small"), "\"layer_norm_epsilon\"", "expected number"},
        // the byte tokenizer does not fit a smaller vocabulary
        {"vocab_size", json_integer(100), "tokenizer", "vocab_size"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        json_t *j = json_deep_copy(good);
        if (edits[i].val) json_object_set_new(j, edits[i].key, edits[i].val);
        else json_object_del(j, edits[i].key);
        save_json(d, "config.json", j);
        json_decref(j);
        expect_load_fail_at(__LINE__ * 1000 + (int)i, d, d, edits[i].f1, edits[i].f2);
        // config errors name config.json itself, not just the folder (the last edit is a
        // tokenizer / config disagreement, reported against the folder)
        if (i + 1 < sizeof edits / sizeof edits[0]) {
            Tokenizer t2;
            GPT *m = ckpt_load_model(d, 0, &t2, &e);
            CHECK(!m && strstr(e.msg, cfgp), "edit %zu: message names %s: %s", i, cfgp, e.msg);
            if (m) gpt_free(m);
        }
    }
    // the untouched config loads (the edits above were the only problem)
    save_json(d, "config.json", good);
    GPT *ok = ckpt_load_model(d, 0, &tok, &e);
    CHECK(ok != NULL, "restored config loads: %s", e.msg);
    if (ok) gpt_free(ok);
    json_decref(good);
    free(cfgp);
    free(d);

    // tokenizer_config.json missing / broken
    d = good_folder("no_tok", 0);
    char *tokp = path_join(d, "tokenizer_config.json");
    rm_file(d, "tokenizer_config.json");
    EXPECT_LOAD_FAIL(d, tokp, NULL, NULL);
    ok = ckpt_load_model(d, 0, NULL, &e);  // without a tokenizer it is not needed
    CHECK(ok != NULL, "load without tokenizer: %s", e.msg);
    if (ok) gpt_free(ok);
    write_text(tokp, "{\"rlhf_tokenizer\": \"bpe-unknown\"}");
    EXPECT_LOAD_FAIL(d, tokp, "bpe-unknown", NULL);
    free(tokp);
    free(d);

    // model.safetensors missing, truncated at many lengths, replaced by garbage
    d = good_folder("weights", 0);
    char *wp = path_join(d, "model.safetensors");
    char *raw = NULL;
    size_t nraw = 0;
    CHECK(read_file(wp, &raw, &nraw, &e) == 0, "%s", e.msg);
    rm_file(d, "model.safetensors");
    EXPECT_LOAD_FAIL(d, wp, NULL, NULL);
    size_t hdr = 0;
    for (int i = 0; i < 8; i++) hdr |= (size_t)(unsigned char)raw[i] << (8 * i);
    size_t cuts[] = {0, 1, 7, 8, 9, 8 + hdr / 2, 8 + hdr - 1, 8 + hdr, 8 + hdr + 1,
                     8 + hdr + 4 * 260 * 16, nraw / 2, nraw - 4, nraw - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *fp = fopen(wp, "wb");
        if (cuts[i]) fwrite(raw, 1, cuts[i], fp);
        fclose(fp);
        expect_load_fail_at(__LINE__ * 1000 + (int)i, d, wp, NULL, NULL);
    }
    // the intact file loads again (the cuts above were the only problem)
    {
        FILE *fp = fopen(wp, "wb");
        fwrite(raw, 1, nraw, fp);
        fclose(fp);
        ok = ckpt_load_model(d, 0, &tok, &e);
        CHECK(ok != NULL, "the intact file loads again: %s", e.msg);
        if (ok) gpt_free(ok);
    }
    free(raw);
    free(wp);
    free(d);

    // a tensor of the wrong shape: config says n_embd 16, the file is 12 wide
    d = good_folder("shape", 0);
    char *d12 = tpath("shape12");
    {
        GPT *m12 = ck_model(0, 0, 12, 8);
        CHECK(ckpt_save_model(m12, NULL, d12, NULL, &e) == 0, "%s", e.msg);
        gpt_free(m12);
        char *src = path_join(d12, "model.safetensors"), *dst = path_join(d, "model.safetensors");
        CHECK(rename(src, dst) == 0, "move 12-wide weights");
        EXPECT_LOAD_FAIL(d, dst, "transformer.wte.weight", "expected shape [260, 16], found [260, 12]");
        free(src);
        free(dst);
    }
    free(d12);
    free(d);

    // a single tensor of the wrong shape, deep in the file
    d = good_folder("shape1", 0);
    {
        GPT *m = ck_model(0, 0, 16, 5);
        StWriteTensor *ts = calloc((size_t)m->n_tensors, sizeof *ts);
        char (*names)[128] = calloc((size_t)m->n_tensors, sizeof *names);
        for (int i = 0; i < m->n_tensors; i++) {
            const GPTTensor *t = &m->tensors[i];
            snprintf(names[i], sizeof names[i], "transformer.%s", t->name);
            ts[i].name = names[i];
            ts[i].data = m->params + t->offset;
            ts[i].ndim = t->ndim;
            ts[i].shape[0] = t->shape[0];
            ts[i].shape[1] = t->shape[1];
            if (!strcmp(t->name, "h.1.attn.c_proj.weight")) {  // [16,16] → [16,8] + [8]
                ts[i].shape[1] = 8;
            }
        }
        char *p = path_join(d, "model.safetensors");
        CHECK(st_write(p, ts, m->n_tensors, NULL, NULL, 0, 0, &e) == 0, "%s", e.msg);
        EXPECT_LOAD_FAIL(d, p, "h.1.attn.c_proj.weight", "expected shape [16, 16], found [16, 8]");
        // a missing tensor: drop h.1.ln_2.bias
        int k = 0;
        for (int i = 0; i < m->n_tensors; i++) {
            const GPTTensor *t = &m->tensors[i];
            if (!strcmp(t->name, "h.1.ln_2.bias")) continue;
            snprintf(names[k], sizeof names[k], "transformer.%s", t->name);
            ts[k].name = names[k];
            ts[k].data = m->params + t->offset;
            ts[k].ndim = t->ndim;
            ts[k].shape[0] = t->shape[0];
            ts[k].shape[1] = t->shape[1];
            k++;
        }
        CHECK(k == m->n_tensors - 1 && st_write(p, ts, k, NULL, NULL, 0, 0, &e) == 0, "%s", e.msg);
        EXPECT_LOAD_FAIL(d, p, "h.1.ln_2.bias", "missing");
        EXPECT_LOAD_FAIL(d, p, "[16]", NULL);
        // the head's weight missing for a GPT2ForSequenceClassification config
        json_t *j = load_json(d, "config.json");
        json_object_set_new(j, "architectures", json_pack("[s]", "GPT2ForSequenceClassification"));
        save_json(d, "config.json", j);
        json_decref(j);
        for (int i = 0; i < m->n_tensors; i++) {  // all trunk tensors, no score.weight
            const GPTTensor *t = &m->tensors[i];
            snprintf(names[i], sizeof names[i], "transformer.%s", t->name);
            ts[i].name = names[i];
            ts[i].data = m->params + t->offset;
            ts[i].ndim = t->ndim;
            ts[i].shape[0] = t->shape[0];
            ts[i].shape[1] = t->shape[1];
        }
        CHECK(st_write(p, ts, m->n_tensors, NULL, NULL, 0, 0, &e) == 0, "%s", e.msg);
        EXPECT_LOAD_FAIL(d, p, "score.weight", "[1, 16]");
        free(p);
        free(ts);
        free(names);
        gpt_free(m);
    }
    free(d);
}

static void test_replace(void) {
    Err e;
    Tokenizer tok;
    tok_init_bytes(&tok);
    char *d = tpath("replace");
    GPT *a = ck_model(1, 0, 16, 31), *b = ck_model(0, 0, 16, 32);
    json_t *state = json_pack("{s:i}", "step", 1);
    CHECK(ckpt_save_train(a, &tok, d, state, &e) == 0, "%s", e.msg);
    json_decref(state);
    char *junk = path_join(d, "junk.txt");
    write_text(junk, "stale\n");
    CHECK(ckpt_save_model(b, &tok, d, NULL, &e) == 0, "save over an existing folder: %s", e.msg);
    CHECK(!path_exists(junk), "the old folder's files are gone (replaced, not merged)");
    char *opt = path_join(d, "optimizer.safetensors");
    CHECK(!path_exists(opt), "the old optimizer state is gone");
    GPT *m = ckpt_load_model(d, 0, &tok, &e);
    CHECK(m != NULL, "%s", e.msg);
    if (m) {
        check_bitwise("params after replacing", m->params, b->params, b->n_params);
        gpt_free(m);
    }
    // and once more, the other way round
    state = json_object();
    CHECK(ckpt_save_train(a, &tok, d, state, &e) == 0, "%s", e.msg);
    json_decref(state);
    CHECK(path_exists(opt), "optimizer state written on the second replacement");
    CHECK(count_entries(g_dir, ".tmp.") == 0, "no *.tmp.* siblings left behind");
    CHECK(count_entries(g_dir, ".old.") == 0, "no *.old.* siblings left behind");
    CHECK(count_entries(d, ".tmp.") == 0, "no *.tmp.* files inside the folder");
    // a trailing slash names the same folder
    char *ds = tpath("replace/");
    CHECK(ckpt_save_model(b, &tok, ds, NULL, &e) == 0, "save to \"%s\": %s", ds, e.msg);
    m = ckpt_load_model(ds, 0, NULL, &e);
    CHECK(m != NULL, "%s", e.msg);
    if (m) {
        check_bitwise("params after saving to DIR/", m->params, b->params, b->n_params);
        gpt_free(m);
    }
    CHECK(!path_exists(opt), "DIR/ replaced DIR");
    CHECK(count_entries(g_dir, ".tmp.") == 0 && count_entries(d, ".tmp.") == 0 &&
              count_entries(g_dir, ".old.") == 0,
          "no temporary folders after saving to DIR/");
    // a folder in a folder that does not exist yet
    char *deep = tpath("a/b/c");
    CHECK(ckpt_save_model(b, NULL, deep, NULL, &e) == 0, "save to a new nested folder: %s", e.msg);
    CHECK(is_dir(deep), "nested folder created");
    // saving where the parent is a file fails cleanly
    char *under_file = tpath("replace/junk2/x");
    char *j2 = path_join(d, "junk2");
    write_text(j2, "x");
    CHECK(ckpt_save_model(b, NULL, under_file, NULL, &e) != 0 && strstr(e.msg, "junk2"),
          "save under a file refused: %s", e.msg);
    free(j2);
    free(under_file);
    free(deep);
    free(ds);
    free(opt);
    free(junk);
    gpt_free(a);
    gpt_free(b);
    free(d);
}

int main(void) {
    const char *base = getenv("RLHF_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/ckpt.XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        return 1;
    }
    g_dir = xstrdup(d);
    test_roundtrip(0);
    test_roundtrip(1);
    test_train_roundtrip();
    test_broken_folders();
    test_replace();
    Err e;
    CHECK(remove_tree(g_dir, &e) == 0, "cleanup: %s", e.msg);
    free(g_dir);
    return check_summary("test_checkpoint");
}
