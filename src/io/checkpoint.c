// io/checkpoint.c — model folders (Hugging Face layout) and training checkpoints; see
// checkpoint.h. Tensor names come from the model's tensor table; trunk tensors are written with
// the "transformer." prefix as GPT2LMHeadModel saves them and read with or without it.
#include "io/checkpoint.h"

#include <math.h>
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

static json_t *config_json(const GPT *m, const Tokenizer *tok, int bf16) {
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
        // GPT-2's own vocabulary has no pad token: then there is none to name
        json_object_set_new(j, "pad_token_id", tok->pad_id >= 0 ? json_integer(tok->pad_id) : json_null());
    }
    if (c->score_head) {
        json_t *id2label = json_object(), *label2id = json_object();
        json_object_set_new(id2label, "0", json_string("LABEL_0"));
        json_object_set_new(label2id, "LABEL_0", json_integer(0));
        json_object_set_new(j, "id2label", id2label);
        json_object_set_new(j, "label2id", label2id);
    }
    json_object_set_new(j, "torch_dtype", json_string(bf16 ? "bfloat16" : "float32"));
    return j;
}

static void tensor_file_name(const GPTTensor *t, const char *prefix, char *buf, size_t n) {
    if (t->is_head) snprintf(buf, n, "%s%s", prefix, t->name);
    else snprintf(buf, n, "%stransformer.%s", prefix, t->name);
}

// Writes one safetensors file of the model's tensors from buf (params or a moment buffer).
static int write_tensors(const GPT *m, const float *buf, const char *prefix, const char *path,
                         int bf16, Err *e) {
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
    int rc = st_write(path, ts, m->n_tensors, mk, mv, 1, bf16, e);
    free(ts);
    free(names);
    return rc;
}

static void fmt_shape(char *buf, size_t n, int ndim, const size_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%zu", d ? ", " : "", shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

// Reads every tensor of a table (tensors[0..n)) from an open safetensors file into buf. Trunk
// tensors may carry the "transformer." prefix or not. used (may be NULL): used[i] = 1 for each
// file tensor read. buf NULL: only checks that every tensor is present with its shape and a float
// dtype (before the model is allocated, so a lying config.json cannot cause a huge allocation).
static int read_tensors(const GPTTensor *tensors, int n, const StFile *f, float *buf,
                        const char *prefix, char *used, Err *e) {
    char name[128];
    for (int i = 0; i < n; i++) {
        const GPTTensor *t = &tensors[i];
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
        if (buf) {
            if (st_read_f32(f, st, buf + t->offset, t->ndim, t->shape, e)) return -1;
        } else {
            int same = st->ndim == t->ndim;
            for (int d = 0; same && d < t->ndim; d++) same = st->shape[d] == t->shape[d];
            if (!same) {
                char want[96], got[200];
                fmt_shape(want, sizeof want, t->ndim, t->shape);
                fmt_shape(got, sizeof got, st->ndim, st->shape);
                return err_set(e, "%s: tensor \"%s\": expected shape %s, found %s", f->path,
                               st->name, want, got);
            }
            if (st->dtype == ST_OTHER)
                return err_set(e, "%s: tensor \"%s\": dtype %s cannot be read as float "
                                  "(supported: F32, BF16, F16)", f->path, st->name, st->dtype_name);
        }
        if (used) used[st - f->tensors] = 1;
    }
    return 0;
}

// The causal-mask buffers GPT2Model saves with older transformers: [transformer.]h.N.attn.bias
// and h.N.attn.masked_bias. They are not parameters.
static int is_mask_buffer(const char *name) {
    if (strncmp(name, "transformer.", 12) == 0) name += 12;
    if (strncmp(name, "h.", 2) != 0) return 0;
    const char *p = name + 2;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    return strcmp(p, ".attn.bias") == 0 || strcmp(p, ".attn.masked_bias") == 0;
}

// Every tensor of the file not read into the model must be a mask buffer or a tied lm_head
// (equal to wte; a different one is used as wte anyway, with a warning). Anything else is refused:
// dropping parameters silently would load a different model than the file holds.
static int check_leftovers(const GPT *m, const StFile *f, const char *used, Err *e) {
    for (int i = 0; i < f->n; i++) {
        if (used[i]) continue;
        const StTensor *st = &f->tensors[i];
        const char *name = st->name;
        if (is_mask_buffer(name)) continue;
        if (strcmp(name, "lm_head.weight") == 0) {
            const GPTTensor *wte = &m->tensors[0];  // the table's first tensor
            float *tmp = falloc(wte->numel);
            int rc = st_read_f32(f, st, tmp, wte->ndim, wte->shape, e);
            if (!rc) {
                double maxd = 0;
                for (size_t k = 0; k < wte->numel; k++) {
                    double d = fabs((double)tmp[k] - (double)m->params[wte->offset + k]);
                    if (!(d <= maxd)) maxd = d;  // NaN counts as a difference
                }
                if (maxd != 0)
                    warnf("%s: lm_head.weight differs from wte.weight (max |difference| %g); GPT-2 "
                          "ties them, so the output layer uses wte.weight", f->path, maxd);
            }
            free(tmp);
            if (rc) return -1;
            continue;
        }
        const char *base = strncmp(name, "transformer.", 12) == 0 ? name + 12 : name;
        char why[160] = "";
        int layer;
        if (sscanf(base, "h.%d.", &layer) == 1 && layer >= m->cfg.n_layer)
            snprintf(why, sizeof why, ": layer %d, but config.json has n_layer %d (layers 0..%d)",
                     layer, m->cfg.n_layer, m->cfg.n_layer - 1);
        else if (strcmp(base, "score.weight") == 0 && !m->cfg.score_head)
            snprintf(why, sizeof why, ": a score head, but config.json's architectures does not "
                                      "name GPT2ForSequenceClassification");
        char shape[200];
        fmt_shape(shape, sizeof shape, st->ndim, st->shape);
        return err_set(e, "%s: unexpected tensor \"%s\" (%s %s) is not a parameter of this GPT-2 "
                          "model%s; refusing to drop it",
                       f->path, name, st->dtype_name, shape, why);
    }
    return 0;
}

// Reads the model's tensors from an open file and checks what is left over.
static int load_from(GPT *m, const StFile *f, Err *e) {
    char *used = xcalloc(f->n ? (size_t)f->n : 1, 1);
    int rc = read_tensors(m->tensors, m->n_tensors, f, m->params, "", used, e);
    if (!rc) rc = check_leftovers(m, f, used, e);
    free(used);
    return rc;
}

int ckpt_load_weights(GPT *m, const char *dir, Err *e) {
    char *path = path_join(dir, "model.safetensors");
    StFile f;
    int rc = st_open(&f, path, e);
    free(path);
    if (rc) return -1;
    rc = load_from(m, &f, e);
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
            tok_free(tok);
            return NULL;
        }
    }
    char *path = path_join(dir, "model.safetensors");
    StFile f;
    int rc = st_open(&f, path, e);
    free(path);
    if (rc) {
        if (tok) tok_free(tok);
        return NULL;
    }
    // the file must hold every tensor the config implies before the model is allocated
    GPTTensor *table;
    size_t np;
    int nt = gpt_tensor_table(&c, &table, &np);
    rc = read_tensors(table, nt, &f, NULL, "", NULL, e);
    free(table);
    GPT *m = NULL;
    if (!rc) {
        m = gpt_create(&c, trainable);
        if (load_from(m, &f, e)) {
            gpt_free(m);
            m = NULL;
        }
    }
    st_close(&f);
    if (!m && tok) tok_free(tok);
    return m;
}

// Writes into "DIR.tmp.PID", then replaces DIR.
static int save_folder(const GPT *m, const Tokenizer *tok, const char *dir_arg, const json_t *extra,
                       const json_t *state, int bf16, Err *e) {
    // "runs/x/" names the folder runs/x: without trailing slashes the temporary folder is a
    // sibling ("runs/x.tmp.PID"), not a child that the replacement would try to move into itself
    char dir[4096], tmp[4096 + 32];
    snprintf(dir, sizeof dir, "%s", dir_arg);
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--) dir[n - 1] = 0;
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", dir, (int)getpid());
    if (remove_tree(tmp, e) || mkdir_p(tmp, e)) return -1;
    int rc = -1;
    json_t *cfg = config_json(m, tok, bf16);
    if (extra) json_object_update(cfg, (json_t *)extra);
    char *p = path_join(tmp, "config.json");
    rc = json_write_file(p, cfg, e);
    free(p);
    json_decref(cfg);
    if (rc) goto fail;
    p = path_join(tmp, "model.safetensors");
    rc = write_tensors(m, m->params, "", p, bf16, e);
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
    return save_folder(m, tok, dir, extra, NULL, 0, e);
}

int ckpt_save_model_bf16(const GPT *m, const Tokenizer *tok, const char *dir, const json_t *extra,
                         int bf16, Err *e) {
    return save_folder(m, tok, dir, extra, NULL, bf16, e);
}

int ckpt_save_train(const GPT *m, const Tokenizer *tok, const char *dir, const json_t *state, Err *e) {
    return save_folder(m, tok, dir, NULL, state, 0, e);
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
    rc = read_tensors(m->tensors, m->n_tensors, &f, m->adam_m, "exp_avg.", NULL, e);
    if (!rc) rc = read_tensors(m->tensors, m->n_tensors, &f, m->adam_v, "exp_avg_sq.", NULL, e);
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

int ckpt_read_reward_norm(const char *dir, double *bias, double *gain) {
    *bias = 0; *gain = 1;
    char *p = path_join(dir, "config.json");
    json_t *j = json_load_file(p, 0, NULL);
    free(p);
    if (!j) return 0;
    const json_t *b = json_object_get(j, "rlhf_reward_bias"), *g = json_object_get(j, "rlhf_reward_gain");
    int has = json_is_number(b) || json_is_number(g);
    if (json_is_number(b)) *bias = json_number_value(b);
    if (json_is_number(g)) *gain = json_number_value(g);
    json_decref(j);
    return has;
}
