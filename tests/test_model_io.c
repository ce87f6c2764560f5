// tests/test_model_io.c — model paths in any format and the Hugging Face reader's edge cases:
// model_load / model_save dispatch (folder = HF, *.bin = llm.c) and their errors; BF16 and F16
// weights; the skipped causal-mask buffers and tied lm_head.weight; refusal of unexpected extra
// tensors (an extra layer, a stray score head, unknown names); BF16 HF writing; and vocabulary
// growth (mean-initialised rows, grads/moments carried over, the model still runs).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "io/checkpoint.h"
#include "io/model_io.h"
#include "io/safetensors.h"
#include "util/fileio.h"
#include "util/json.h"

static char *g_dir;
static char *tpath(const char *name) { return path_join(g_dir, name); }

static GPT *rand_model(int trainable, int score_head, unsigned long long seed) {
    GPTConfig c = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 24, .vocab_size = 260,
                   .score_head = score_head};
    GPT *m = gpt_create(&c, trainable);
    fill_uniform(m->params, m->n_params, seed, 1.0f);
    if (trainable) {
        fill_uniform(m->grads, m->n_params, seed + 1, 0.1f);
        fill_uniform(m->adam_m, m->n_params, seed + 2, 0.01f);
        fill_uniform(m->adam_v, m->n_params, seed + 3, 0.001f);
        m->adam_step = 9;
    }
    return m;
}

typedef struct {
    const char *name;
    const float *data;
    int ndim;
    size_t shape[4];
} Extra;

// Writes DIR/model.safetensors: the model's tensors ("transformer." prefixed, except those listed
// in skip, a comma-separated list) plus extras, as F32 or BF16.
static void write_weights(const GPT *m, const char *dir, const Extra *extras, int nx, int bf16,
                          const char *skip) {
    int n = m->n_tensors + nx, k = 0;
    StWriteTensor *ts = xcalloc((size_t)n, sizeof *ts);
    char (*names)[128] = xcalloc((size_t)n, sizeof *names);
    for (int i = 0; i < m->n_tensors; i++) {
        const GPTTensor *t = &m->tensors[i];
        if (skip && strstr(skip, t->name)) continue;
        snprintf(names[k], sizeof names[k], "%s%s", t->is_head ? "" : "transformer.", t->name);
        ts[k].name = names[k];
        ts[k].data = m->params + t->offset;
        ts[k].ndim = t->ndim;
        ts[k].shape[0] = t->shape[0];
        ts[k].shape[1] = t->shape[1];
        k++;
    }
    for (int i = 0; i < nx; i++, k++) {
        ts[k].name = extras[i].name;
        ts[k].data = extras[i].data;
        ts[k].ndim = extras[i].ndim;
        memcpy(ts[k].shape, extras[i].shape, sizeof ts[k].shape);
    }
    char *p = path_join(dir, "model.safetensors");
    Err e;
    if (st_write(p, ts, k, NULL, NULL, 0, bf16, &e)) {
        fprintf(stderr, "write_weights: %s\n", e.msg);
        exit(1);
    }
    free(p);
    free(ts);
    free(names);
}

static char *saved_folder(const char *name, const GPT *m) {
    char *d = tpath(name);
    Err e;
    if (ckpt_save_model(m, NULL, d, NULL, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    return d;
}

static void expect_fail(int line, const char *dir, const char *f1, const char *f2, const char *f3) {
    Err e;
    memset(&e, 0, sizeof e);
    GPT *m = model_load(dir, 0, &e);
    CHECK(m == NULL, "line %d: loading %s should fail", line, dir);
    if (m) {
        gpt_free(m);
        return;
    }
    if (getenv("RLHF_TEST_VERBOSE")) fprintf(stderr, "line %d: %s\n", line, e.msg);
    const char *fr[3] = {f1, f2, f3};
    for (int i = 0; i < 3; i++)
        if (fr[i]) CHECK(strstr(e.msg, fr[i]) != NULL, "line %d: message lacks \"%s\": %s", line, fr[i], e.msg);
}
#define EXPECT_FAIL(d, a, b, c) expect_fail(__LINE__, d, a, b, c)

static void expect_loads(int line, const char *dir, const float *want, size_t n) {
    Err e;
    GPT *m = model_load(dir, 0, &e);
    CHECK(m != NULL, "line %d: %s", line, m ? "" : e.msg);
    if (!m) return;
    CHECK(m->n_params == n, "line %d: n_params %zu, want %zu", line, m->n_params, n);
    if (m->n_params == n) check_bitwise("params", m->params, want, n);
    gpt_free(m);
}
#define EXPECT_LOADS(d, w, n) expect_loads(__LINE__, d, w, n)

static void test_extras(void) {
    GPT *m = rand_model(0, 0, 3);
    char *d = saved_folder("extras", m);
    char *wp = path_join(d, "model.safetensors");
    const size_t C = 16;
    float *big = xcalloc(24 * 24 * 2 + 4 * C * C, sizeof(float));

    // causal-mask buffers (with and without prefix, incl. a 0-d masked_bias) are skipped
    Extra masks[] = {
        {"transformer.h.0.attn.bias", big, 4, {1, 1, 24, 24}},
        {"h.1.attn.bias", big, 4, {1, 1, 24, 24}},
        {"transformer.h.0.attn.masked_bias", big, 0, {0}},
        {"transformer.h.1.attn.masked_bias", big, 0, {0}},
    };
    write_weights(m, d, masks, 4, 0, NULL);
    EXPECT_LOADS(d, m->params, m->n_params);

    // a tied lm_head equal to wte is skipped; a different one loads too (with a warning), wte wins
    Extra lm = {"lm_head.weight", m->w.wte, 2, {260, C}};
    write_weights(m, d, &lm, 1, 0, NULL);
    EXPECT_LOADS(d, m->params, m->n_params);
    float *other = xmalloc(260 * C * sizeof(float));
    fill_uniform(other, 260 * C, 44, 1.0f);
    lm.data = other;
    fprintf(stderr, "(a warning about lm_head.weight is expected next)\n");
    write_weights(m, d, &lm, 1, 0, NULL);
    EXPECT_LOADS(d, m->params, m->n_params);
    lm.shape[0] = 259;  // of the wrong shape: an error
    write_weights(m, d, &lm, 1, 0, NULL);
    EXPECT_FAIL(d, wp, "lm_head.weight", "[260, 16]");

    // an extra layer: h.2.* in a 2-layer config is refused, naming the tensor
    Extra layer2 = {"transformer.h.2.attn.c_attn.weight", big, 2, {C, 3 * C}};
    write_weights(m, d, &layer2, 1, 0, NULL);
    EXPECT_FAIL(d, wp, "transformer.h.2.attn.c_attn.weight", "n_layer 2");
    Extra layer5 = {"h.5.ln_1.weight", big, 1, {C}};
    write_weights(m, d, &layer5, 1, 0, NULL);
    EXPECT_FAIL(d, "\"h.5.ln_1.weight\"", "layer 5", "F32 [16]");
    // a score head in an LM config
    Extra score = {"score.weight", big, 2, {1, C}};
    write_weights(m, d, &score, 1, 0, NULL);
    EXPECT_FAIL(d, "score.weight", "GPT2ForSequenceClassification", NULL);
    // unknown names, and an unknown tensor inside a layer
    Extra unk[] = {{"transformer.foo", big, 1, {3}}, {"transformer.h.0.attn.q_proj.weight", big, 2, {C, C}}};
    write_weights(m, d, &unk[0], 1, 0, NULL);
    EXPECT_FAIL(d, wp, "\"transformer.foo\"", "refusing");
    write_weights(m, d, &unk[1], 1, 0, NULL);
    EXPECT_FAIL(d, "h.0.attn.q_proj.weight", NULL, NULL);
    // a buffer-like name that is not a buffer (h.x.attn.bias, h.0.attn.biases)
    Extra nb[] = {{"transformer.h.x.attn.bias", big, 1, {3}}, {"h.0.attn.biases", big, 1, {3}}};
    write_weights(m, d, &nb[0], 1, 0, NULL);
    EXPECT_FAIL(d, "h.x.attn.bias", NULL, NULL);
    write_weights(m, d, &nb[1], 1, 0, NULL);
    EXPECT_FAIL(d, "h.0.attn.biases", NULL, NULL);
    // the optimizer file is unaffected: a training checkpoint still round-trips
    {
        GPT *t = rand_model(1, 0, 8);
        char *td = tpath("extras_train");
        Err e;
        json_t *st = json_object();
        CHECK(ckpt_save_train(t, NULL, td, st, &e) == 0, "%s", e.msg);
        json_decref(st);
        GPT *t2 = rand_model(1, 0, 9);
        json_t *got = NULL;
        CHECK(ckpt_load_train(t2, td, &got, &e) == 0, "train checkpoint: %s", e.msg);
        json_decref(got);
        check_bitwise("adam_v after load_train", t2->adam_v, t->adam_v, t->n_params);
        gpt_free(t); gpt_free(t2);
        free(td);
    }
    free(other);
    free(big);
    free(wp);
    free(d);
    gpt_free(m);
}

static uint16_t f16_bits(float x) {  // exact for the normal values used below
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t sign = (u >> 16) & 0x8000, exp = (u >> 23) & 0xFF, mant = u & 0x7FFFFF;
    if (exp == 0) return (uint16_t)sign;
    return (uint16_t)(sign | ((exp - 127 + 15) << 10) | (mant >> 13));
}

static void test_half_precision(void) {
    Err e;
    GPT *m = rand_model(0, 1, 5);
    char *d = saved_folder("bf16", m);
    // BF16 tensors (as st_write rounds them) load as their float values
    write_weights(m, d, NULL, 0, 1, NULL);
    float *want = xmalloc(m->n_params * sizeof(float));
    for (size_t i = 0; i < m->n_params; i++) want[i] = st_bf16_to_f32(st_bf16_from_f32(m->params[i]));
    GPT *b = ckpt_load_model(d, 0, NULL, &e);
    CHECK(b != NULL, "BF16 folder: %s", e.msg);
    if (b) {
        check_bitwise("BF16 weights", b->params, want, m->n_params);
        gpt_free(b);
    }
    // F16 tensors: a file built by hand, values k/64 (exact in half precision)
    {
        float *vals = xmalloc(m->n_params * sizeof(float));
        for (size_t i = 0; i < m->n_params; i++) vals[i] = (float)((int)(i % 97) - 48) / 64.0f;
        json_t *hdr = json_object();
        size_t off = 0;
        for (int i = 0; i < m->n_tensors; i++) {
            const GPTTensor *t = &m->tensors[i];
            char name[128];
            snprintf(name, sizeof name, "%s%s", t->is_head ? "" : "transformer.", t->name);
            json_t *shape = t->ndim == 2 ? json_pack("[I,I]", (json_int_t)t->shape[0], (json_int_t)t->shape[1])
                                         : json_pack("[I]", (json_int_t)t->shape[0]);
            json_object_set_new(hdr, name, json_pack("{s:s,s:o,s:[I,I]}", "dtype", "F16", "shape", shape,
                                                     "data_offsets", (json_int_t)(2 * t->offset),
                                                     (json_int_t)(2 * (t->offset + t->numel))));
            off = 2 * (t->offset + t->numel);
        }
        char *txt = json_dumps(hdr, JSON_COMPACT);
        json_decref(hdr);
        size_t hl = strlen(txt), pad = (8 - hl % 8) % 8;
        char *p = path_join(d, "model.safetensors");
        FILE *fp = fopen(p, "wb");
        uint64_t L = hl + pad;
        fwrite(&L, 8, 1, fp);
        fwrite(txt, 1, hl, fp);
        for (size_t i = 0; i < pad; i++) fputc(' ', fp);
        for (size_t i = 0; i < m->n_params; i++) {
            uint16_t h = f16_bits(vals[i]);
            fwrite(&h, 2, 1, fp);
        }
        fclose(fp);
        CHECK(off == 2 * m->n_params, "F16 file covers every parameter");
        GPT *f = ckpt_load_model(d, 0, NULL, &e);
        CHECK(f != NULL, "F16 folder: %s", e.msg);
        if (f) {
            check_bitwise("F16 weights", f->params, vals, m->n_params);
            gpt_free(f);
        }
        free(txt);
        free(p);
        free(vals);
    }
    // writing BF16: config says bfloat16, tensors are BF16, values rounded
    char *d2 = tpath("bf16_written");
    CHECK(model_save(m, NULL, d2, NULL, 1, &e) == 0, "model_save bf16: %s", e.msg);
    {
        char *p = path_join(d2, "model.safetensors");
        StFile f;
        CHECK(st_open(&f, p, &e) == 0, "%s", e.msg);
        int nb = 0;
        for (int i = 0; i < f.n; i++) nb += !strcmp(f.tensors[i].dtype_name, "BF16");
        CHECK(f.n == m->n_tensors && nb == f.n, "%d of %d tensors BF16", nb, f.n);
        st_close(&f);
        free(p);
        p = path_join(d2, "config.json");
        json_t *j = json_read_file(p, &e);
        const char *dt = j ? json_string_value(json_object_get(j, "torch_dtype")) : NULL;
        CHECK(dt && !strcmp(dt, "bfloat16"), "torch_dtype %s", dt ? dt : "(none)");
        json_decref(j);
        free(p);
        b = model_load(d2, 0, &e);
        CHECK(b != NULL, "%s", e.msg);
        if (b) {
            check_bitwise("BF16 written weights", b->params, want, m->n_params);
            gpt_free(b);
        }
    }
    free(d2);
    free(want);
    free(d);
    gpt_free(m);
}

static void test_dispatch(void) {
    Err e;
    GPT *m = rand_model(0, 0, 12);
    char *bin = tpath("d.bin"), *dir = tpath("d_folder"), *txt = tpath("d.txt");
    CHECK(model_save(m, NULL, bin, NULL, 0, &e) == 0 && model_format_for_save(bin) == MODEL_FMT_LLMC,
          "save .bin: %s", e.msg);
    CHECK(model_save(m, NULL, dir, NULL, 0, &e) == 0 && is_dir(dir), "save folder: %s", e.msg);
    ModelFormat f;
    CHECK(model_format_of(bin, &f, &e) == 0 && f == MODEL_FMT_LLMC, "format of .bin");
    CHECK(model_format_of(dir, &f, &e) == 0 && f == MODEL_FMT_HF, "format of a folder");
    EXPECT_LOADS(bin, m->params, m->n_params);
    EXPECT_LOADS(dir, m->params, m->n_params);
    GPT *t = model_load(bin, 1, &e);
    CHECK(t && t->trainable, "trainable .bin load");
    gpt_free(t);
    FILE *fp = fopen(txt, "w");
    fputs("hello\n", fp);
    fclose(fp);
    EXPECT_FAIL(txt, txt, "not a model", "*.bin");
    char *none = tpath("missing_model");
    EXPECT_FAIL(none, none, "No such file", "Hugging Face");
    char *nb = tpath("missing.bin");
    EXPECT_FAIL(nb, nb, "No such file", NULL);
    // a folder without model files
    char *empty = tpath("empty_folder");
    CHECK(mkdir_p(empty, &e) == 0, "%s", e.msg);
    EXPECT_FAIL(empty, "config.json", NULL, NULL);
    // a lying config.json (terabytes of parameters) is refused from the file's tensor list,
    // before the model is allocated (an allocation of that size would abort the test)
    {
        char *cp = path_join(dir, "config.json");
        json_t *j = json_read_file(cp, &e);
        json_object_set_new(j, "n_layer", json_integer(1000));
        json_object_set_new(j, "n_embd", json_integer(65536));
        json_object_set_new(j, "n_head", json_integer(1));
        CHECK(json_write_file(cp, j, &e) == 0, "%s", e.msg);
        EXPECT_FAIL(dir, "model.safetensors", "wte.weight", "expected shape [260, 65536], found [260, 16]");
        json_object_set_new(j, "n_embd", json_integer(16));
        CHECK(json_write_file(cp, j, &e) == 0, "%s", e.msg);
        EXPECT_FAIL(dir, "model.safetensors", "h.2.ln_1.weight", "missing");
        json_decref(j);
        free(cp);
    }
    free(empty); free(nb); free(none);
    free(bin); free(dir); free(txt);
    gpt_free(m);
}

static void test_resize(void) {
    Err e;
    for (int trainable = 0; trainable <= 1; trainable++) {
        GPT *old = rand_model(trainable, 1, 20 + (unsigned long long)trainable);
        GPT *m = rand_model(trainable, 1, 20 + (unsigned long long)trainable);  // same values
        const size_t C = 16, V = 260;
        CHECK(gpt_resize_vocab(&m, 262, &e) == 0, "resize: %s", e.msg);
        CHECK(m->cfg.vocab_size == 262 && m->n_params == old->n_params + 2 * C,
              "vocab %d, n_params %zu", m->cfg.vocab_size, m->n_params);
        CHECK(m->trainable == trainable && (m->grads != NULL) == trainable, "trainable kept");
        // every tensor but wte identical, by name
        int bad = 0;
        for (int i = 0; i < m->n_tensors; i++) {
            const GPTTensor *a = &old->tensors[i], *b = &m->tensors[i];
            if (strcmp(a->name, b->name)) { bad++; continue; }
            size_t n = a->numel;  // wte: the old rows
            float *bo[4] = {old->params, old->grads, old->adam_m, old->adam_v};
            float *bn[4] = {m->params, m->grads, m->adam_m, m->adam_v};
            for (int k = 0; k < (trainable ? 4 : 1); k++)
                bad += memcmp(bo[k] + a->offset, bn[k] + b->offset, n * sizeof(float)) != 0;
        }
        CHECK(bad == 0, "%d tensors differ after the resize", bad);
        // new rows: the mean of the old rows; grads and moments zero
        double worst = 0;
        int nz = 0;
        for (size_t j = 0; j < C; j++) {
            double s = 0;
            for (size_t r = 0; r < V; r++) s += old->w.wte[r * C + j];
            for (size_t r = V; r < 262; r++) {
                worst = fmax(worst, fabs(m->w.wte[r * C + j] - s / V));
                if (trainable)
                    nz += m->g.wte[r * C + j] != 0 || m->adam_m[m->tensors[0].offset + r * C + j] != 0 ||
                          m->adam_v[m->tensors[0].offset + r * C + j] != 0;
            }
        }
        CHECK(worst < 1e-6, "new rows differ from the mean by %g", worst);
        CHECK(nz == 0, "%d non-zero grads/moments in new rows", nz);
        CHECK(m->adam_step == old->adam_step, "adam_step kept");
        // pointers bound into the new buffers: a forward with the new id runs
        int len[1] = {4}, toks[4] = {1, 261, 260, 5};
        CHECK(gpt_forward(m, 1, len, toks, &e) == 0, "forward with new ids: %s", e.msg);
        float vals[4];
        gpt_values(m, vals);
        CHECK(isfinite(vals[3]), "finite output");
        // saving and loading keeps the new size
        char *d = tpath("resized");
        CHECK(ckpt_save_model(m, NULL, d, NULL, &e) == 0, "%s", e.msg);
        GPT *r = model_load(d, 0, &e);
        CHECK(r && r->cfg.vocab_size == 262, "reload resized: %s", r ? "" : e.msg);
        if (r) check_bitwise("resized params", r->params, m->params, m->n_params);
        gpt_free(r);
        free(d);
        // shrinking refused, the same size a no-op
        GPT *before = m;
        CHECK(gpt_resize_vocab(&m, 100, &e) != 0 && strstr(e.msg, "100") && m == before,
              "shrink refused: %s", e.msg);
        CHECK(gpt_resize_vocab(&m, 262, &e) == 0 && m == before, "same size: no-op");
        CHECK(gpt_resize_vocab(&m, 1 << 30, &e) != 0 && m == before, "implausible size refused");
        gpt_free(m);
        gpt_free(old);
    }
}

int main(void) {
    const char *base = getenv("RLHF_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/mio.XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        return 1;
    }
    g_dir = xstrdup(d);
    test_extras();
    test_half_precision();
    test_dispatch();
    test_resize();
    Err e;
    CHECK(remove_tree(g_dir, &e) == 0, "cleanup: %s", e.msg);
    free(g_dir);
    return check_summary("test_model_io");
}
