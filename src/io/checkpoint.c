// io/checkpoint.c — model folders (Hugging Face layout) and training checkpoints; see
// checkpoint.h. Tensor names come from the model's tensor table; trunk tensors are written with
// the "transformer." prefix as GPT2LMHeadModel saves them and read with or without it.
#include "io/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "util/fileio.h"
#include "util/json.h"

int ckpt_read_config(const char *dir, GPTConfig *c, Err *e) {
    char *path = path_join(dir, "config.json");
    json_t *j = json_read_file(path, e);
    int rc = -1;
    if (!j) goto out;
    long nl, nh, ne, np, nv;
    if (json_get_long(j, "n_layer", &nl, path, e) || json_get_long(j, "n_head", &nh, path, e) ||
        json_get_long(j, "n_embd", &ne, path, e) || json_get_long(j, "n_positions", &np, path, e) ||
        json_get_long(j, "vocab_size", &nv, path, e))
        goto out;
    const char *mt = NULL;
    if (json_get_string_opt(j, "model_type", &mt, path, e)) goto out;
    if (mt && strcmp(mt, "gpt2") != 0) {
        err_set(e, "%s: field \"model_type\": expected \"gpt2\", got \"%s\"", path, mt);
        goto out;
    }
    const char *act = NULL;
    if (json_get_string_opt(j, "activation_function", &act, path, e)) goto out;
    if (act && strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0) {
        err_set(e, "%s: field \"activation_function\": only the tanh GELU (\"gelu_new\") is "
                   "supported, got \"%s\"", path, act);
        goto out;
    }
    double eps = 1e-5;
    if (json_get_double_opt(j, "layer_norm_epsilon", &eps, path, e)) goto out;
    if (eps != 1e-5) {
        err_set(e, "%s: field \"layer_norm_epsilon\": only 1e-05 is supported, got %g", path, eps);
        goto out;
    }
    memset(c, 0, sizeof *c);
    c->n_layer = (int)nl; c->n_head = (int)nh; c->n_embd = (int)ne; c->n_ctx = (int)np;
    c->vocab_size = (int)nv;
    if (nl != c->n_layer || nh != c->n_head || ne != c->n_embd || np != c->n_ctx || nv != c->vocab_size) {
        err_set(e, "%s: model sizes out of range", path);
        goto out;
    }
    // a scalar head is announced by the architecture
    json_t *arch = json_object_get(j, "architectures");
    if (arch && json_is_array(arch)) {
        size_t i;
        json_t *v;
        json_array_foreach(arch, i, v) if (json_is_string(v) &&
                                           strcmp(json_string_value(v), "GPT2ForSequenceClassification") == 0)
            c->score_head = 1;
    }
    if (gpt_config_check(c, e)) {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        err_set(e, "%s: %s", path, msg);
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    free(path);
    return rc;
}

static json_t *config_json(const GPT *m, const Tokenizer *tok) {
    const GPTConfig *c = &m->cfg;
    json_t *j = json_object();
    json_object_set_new(j, "model_type", json_string("gpt2"));
    json_t *arch = json_array();
    json_array_append_new(arch, json_string(c->score_head ? "GPT2ForSequenceClassification"
                                                          : "GPT2LMHeadModel"));
    json_object_set_new(j, "architectures", arch);
    json_object_set_new(j, "n_layer", json_integer(c->n_layer));
    json_object_set_new(j, "n_head", json_integer(c->n_head));
    json_object_set_new(j, "n_embd", json_integer(c->n_embd));
    json_object_set_new(j, "n_positions", json_integer(c->n_ctx));
    json_object_set_new(j, "n_ctx", json_integer(c->n_ctx));
    json_object_set_new(j, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(j, "n_inner", json_null());
    json_object_set_new(j, "activation_function", json_string("gelu_new"));
    json_object_set_new(j, "layer_norm_epsilon", json_real(1e-5));
    json_object_set_new(j, "resid_pdrop", json_real(0.0));
    json_object_set_new(j, "embd_pdrop", json_real(0.0));
    json_object_set_new(j, "attn_pdrop", json_real(0.0));
    json_object_set_new(j, "initializer_range", json_real(0.02));
    json_object_set_new(j, "tie_word_embeddings", json_true());
    json_object_set_new(j, "scale_attn_weights", json_true());
    json_object_set_new(j, "use_cache", json_true());
    if (tok) {
        json_object_set_new(j, "bos_token_id", json_integer(tok->eos_id));
        json_object_set_new(j, "eos_token_id", json_integer(tok->eos_id));
        json_object_set_new(j, "pad_token_id", json_integer(tok->pad_id));
    }
    if (c->score_head) {
        json_t *id2label = json_object(), *label2id = json_object();
        json_object_set_new(id2label, "0", json_string("LABEL_0"));
        json_object_set_new(label2id, "LABEL_0", json_integer(0));
        json_object_set_new(j, "id2label", id2label);
        json_object_set_new(j, "label2id", label2id);
    }
    json_object_set_new(j, "torch_dtype", json_string("float32"));
    return j;
}

static void tensor_file_name(const GPTTensor *t, const char *prefix, char *buf, size_t n) {
    if (t->is_head) snprintf(buf, n, "%s%s", prefix, t->name);
    else snprintf(buf, n, "%stransformer.%s", prefix, t->name);
}

// Writes one safetensors file of the model's tensors from buf (params or a moment buffer).
static int write_tensors(const GPT *m, const float *buf, const char *prefix, const char *path,
                         Err *e) {
    StWriteTensor *ts = xcalloc((size_t)m->n_tensors, sizeof *ts);
    char (*names)[96] = xcalloc((size_t)m->n_tensors, sizeof *names);
    for (int i = 0; i < m->n_tensors; i++) {
        const GPTTensor *t = &m->tensors[i];
        tensor_file_name(t, prefix, names[i], sizeof names[i]);
        ts[i].name = names[i];
        ts[i].data = buf + t->offset;
        ts[i].ndim = t->ndim;
        ts[i].shape[0] = t->shape[0];
        ts[i].shape[1] = t->shape[1];
    }
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    int rc = st_write(path, ts, m->n_tensors, mk, mv, 1, 0, e);
    free(ts);
    free(names);
    return rc;
}

// Reads every tensor of the model from an open safetensors file into buf. Trunk tensors may carry
// the "transformer." prefix or not.
static int read_tensors(const GPT *m, const StFile *f, float *buf, const char *prefix, Err *e) {
    char name[128];
    for (int i = 0; i < m->n_tensors; i++) {
        const GPTTensor *t = &m->tensors[i];
        tensor_file_name(t, prefix, name, sizeof name);
        const StTensor *st = st_find(f, name);
        if (!st && !t->is_head) {
            snprintf(name, sizeof name, "%s%s", prefix, t->name);
            st = st_find(f, name);
        }
        if (!st) {
            if (t->ndim == 2)
                return err_set(e, "%s: tensor \"%s\" is missing (expected shape [%zu, %zu])",
                               f->path, name, t->shape[0], t->shape[1]);
            return err_set(e, "%s: tensor \"%s\" is missing (expected shape [%zu])", f->path,
                           name, t->shape[0]);
        }
        if (st_read_f32(f, st, buf + t->offset, t->ndim, t->shape, e)) return -1;
    }
    return 0;
}

int ckpt_load_weights(GPT *m, const char *dir, Err *e) {
    char *path = path_join(dir, "model.safetensors");
    StFile f;
    int rc = st_open(&f, path, e);
    free(path);
    if (rc) return -1;
    rc = read_tensors(m, &f, m->params, "", e);
    st_close(&f);
    return rc;
}

GPT *ckpt_load_model(const char *dir, int trainable, Tokenizer *tok, Err *e) {
    GPTConfig c;
    if (!is_dir(dir)) {
        err_set(e, "%s: not a model folder (expected a folder with config.json and "
                   "model.safetensors)", dir);
        return NULL;
    }
    if (ckpt_read_config(dir, &c, e)) return NULL;
    if (tok) {
        if (tok_load(tok, dir, e)) return NULL;
        if (tok->vocab_size > c.vocab_size) {
            err_set(e, "%s: tokenizer has %d ids but the model's vocab_size is %d", dir,
                    tok->vocab_size, c.vocab_size);
            return NULL;
        }
    }
    GPT *m = gpt_create(&c, trainable);
    if (ckpt_load_weights(m, dir, e)) {
        gpt_free(m);
        return NULL;
    }
    return m;
}

// Writes into "DIR.tmp.PID", then replaces DIR.
static int save_folder(const GPT *m, const Tokenizer *tok, const char *dir_arg, const json_t *extra,
                       const json_t *state, Err *e) {
    // "runs/x/" names the folder runs/x: without trailing slashes the temporary folder is a
    // sibling ("runs/x.tmp.PID"), not a child that the replacement would try to move into itself
    char dir[4096], tmp[4096 + 32];
    snprintf(dir, sizeof dir, "%s", dir_arg);
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--) dir[n - 1] = 0;
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", dir, (int)getpid());
    if (remove_tree(tmp, e) || mkdir_p(tmp, e)) return -1;
    int rc = -1;
    json_t *cfg = config_json(m, tok);
    if (extra) json_object_update(cfg, (json_t *)extra);
    char *p = path_join(tmp, "config.json");
    rc = json_write_file(p, cfg, e);
    free(p);
    json_decref(cfg);
    if (rc) goto fail;
    p = path_join(tmp, "model.safetensors");
    rc = write_tensors(m, m->params, "", p, e);
    free(p);
    if (rc) goto fail;
    if (tok && (rc = tok_save(tok, tmp, e))) goto fail;
    if (state) {
        if (!m->adam_m) { rc = err_set(e, "%s: model has no optimizer state to save", dir); goto fail; }
        p = path_join(tmp, "optimizer.safetensors");
        // both moments in one file: "exp_avg." and "exp_avg_sq." prefixes
        StWriteTensor *ts = xcalloc(2 * (size_t)m->n_tensors, sizeof *ts);
        char (*names)[112] = xcalloc(2 * (size_t)m->n_tensors, sizeof *names);
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < m->n_tensors; i++) {
                const GPTTensor *t = &m->tensors[i];
                int j = k * m->n_tensors + i;
                snprintf(names[j], sizeof names[j], "%s%s", k ? "exp_avg_sq." : "exp_avg.", t->name);
                ts[j].name = names[j];
                ts[j].data = (k ? m->adam_v : m->adam_m) + t->offset;
                ts[j].ndim = t->ndim;
                ts[j].shape[0] = t->shape[0];
                ts[j].shape[1] = t->shape[1];
            }
        rc = st_write(p, ts, 2 * m->n_tensors, NULL, NULL, 0, 0, e);
        free(ts); free(names); free(p);
        if (rc) goto fail;
        json_t *st = json_deep_copy(state);
        json_object_set_new(st, "adam_step", json_integer(m->adam_step));
        p = path_join(tmp, "trainer_state.json");
        rc = json_write_file(p, st, e);
        free(p);
        json_decref(st);
        if (rc) goto fail;
    }
    if ((rc = replace_dir(tmp, dir, e))) goto fail;
    return 0;
fail:
    {
        Err ignore;
        remove_tree(tmp, &ignore);
    }
    return -1;
}

int ckpt_save_model(const GPT *m, const Tokenizer *tok, const char *dir, const json_t *extra, Err *e) {
    return save_folder(m, tok, dir, extra, NULL, e);
}

int ckpt_save_train(const GPT *m, const Tokenizer *tok, const char *dir, const json_t *state, Err *e) {
    return save_folder(m, tok, dir, NULL, state, e);
}

// Fails unless DIR/config.json describes m's shape: n_head (no tensor shape shows it) and a
// checkpoint with more layers than the model (its extra tensors would be ignored) must not load.
static int check_same_config(const GPT *m, const char *dir, Err *e) {
    GPTConfig c;
    if (ckpt_read_config(dir, &c, e)) return -1;
    const GPTConfig *w = &m->cfg;
    const char *field = c.n_layer != w->n_layer       ? "n_layer"
                        : c.n_head != w->n_head       ? "n_head"
                        : c.n_embd != w->n_embd       ? "n_embd"
                        : c.n_ctx != w->n_ctx         ? "n_positions"
                        : c.vocab_size != w->vocab_size ? "vocab_size"
                        : c.score_head != w->score_head ? "architectures (score head)"
                                                        : NULL;
    if (!field) return 0;
    char *p = path_join(dir, "config.json");
    err_set(e, "%s: the checkpoint does not match the model: %s differs (checkpoint: n_layer %d, "
               "n_head %d, n_embd %d, n_positions %d, vocab_size %d, score head %d; model: %d, %d, "
               "%d, %d, %d, %d)", p, field, c.n_layer, c.n_head, c.n_embd, c.n_ctx, c.vocab_size,
            c.score_head, w->n_layer, w->n_head, w->n_embd, w->n_ctx, w->vocab_size, w->score_head);
    free(p);
    return -1;
}

int ckpt_load_train(GPT *m, const char *dir, json_t **state, Err *e) {
    *state = NULL;
    if (!m->adam_m) return err_set(e, "%s: loading optimizer state into a frozen model", dir);
    if (check_same_config(m, dir, e)) return -1;
    if (ckpt_load_weights(m, dir, e)) return -1;
    char *p = path_join(dir, "optimizer.safetensors");
    StFile f;
    int rc = st_open(&f, p, e);
    free(p);
    if (rc) return -1;
    rc = read_tensors(m, &f, m->adam_m, "exp_avg.", e);
    if (!rc) rc = read_tensors(m, &f, m->adam_v, "exp_avg_sq.", e);
    st_close(&f);
    if (rc) return -1;
    p = path_join(dir, "trainer_state.json");
    json_t *st = json_read_file(p, e);
    if (!st) { free(p); return -1; }
    long step;
    if (json_get_long(st, "adam_step", &step, p, e)) { free(p); json_decref(st); return -1; }
    free(p);
    m->adam_step = step;
    *state = st;
    return 0;
}
