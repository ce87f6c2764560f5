// cli/cmd_info.c — `rlhf info PATH`: what a model path holds, read from headers only: the format,
// config, parameter count and tensor list (name, shape, dtype). Also names llm.c tokenizer and
// token-shard files and lists a bare .safetensors file. Text, or one JSON object with --json.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "io/checkpoint.h"
#include "io/llmc.h"
#include "io/safetensors.h"
#include "util/fileio.h"
#include "util/flags.h"

static json_t *shape_json(int ndim, const size_t *shape) {
    json_t *a = json_array();
    for (int d = 0; d < ndim; d++) json_array_append_new(a, json_integer((json_int_t)shape[d]));
    return a;
}

static json_t *tensor_json(const char *name, int ndim, const size_t *shape, const char *dtype) {
    json_t *t = json_object();
    json_object_set_new(t, "name", json_string(name));
    json_object_set_new(t, "shape", shape_json(ndim, shape));
    json_object_set_new(t, "dtype", json_string(dtype));
    return t;
}

static json_t *config_json(const GPTConfig *c) {
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:b}", "n_layer", c->n_layer, "n_head", c->n_head,
                     "n_embd", c->n_embd, "n_ctx", c->n_ctx, "vocab_size", c->vocab_size,
                     "score_head", c->score_head);
}

static int cmp_offset(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

// Tensors of a safetensors file, in file order.
static int add_st_tensors(json_t *j, const char *path, Err *e) {
    StFile f;
    if (st_open(&f, path, e)) return -1;
    const StTensor **s = xmalloc((f.n ? (size_t)f.n : 1) * sizeof *s);
    for (int i = 0; i < f.n; i++) s[i] = &f.tensors[i];
    qsort(s, (size_t)f.n, sizeof *s, cmp_offset);
    json_t *ts = json_array();
    size_t total = 0;
    for (int i = 0; i < f.n; i++) {
        json_array_append_new(ts, tensor_json(s[i]->name, s[i]->ndim, s[i]->shape, s[i]->dtype_name));
        total += s[i]->numel;
    }
    json_object_set_new(j, "file_elements", json_integer((json_int_t)total));
    json_object_set_new(j, "tensors", ts);
    free(s);
    st_close(&f);
    return 0;
}

static json_t *info_hf(const char *dir, Err *e) {
    GPTConfig c;
    if (ckpt_read_config(dir, &c, e)) return NULL;
    json_t *j = json_pack("{s:s,s:s,s:s}", "path", dir, "format", "hf", "architecture",
                          c.score_head ? "GPT2ForSequenceClassification" : "GPT2LMHeadModel");
    json_object_set_new(j, "config", config_json(&c));
    json_object_set_new(j, "params", json_integer((json_int_t)gpt_num_params(&c)));
    char *p = path_join(dir, "model.safetensors");
    int rc = add_st_tensors(j, p, e);
    free(p);
    if (rc) { json_decref(j); return NULL; }
    return j;
}

static json_t *info_llmc_model(const char *path, Err *e) {
    LlmcModelHeader h;
    if (llmc_read_header(path, &h, e)) return NULL;
    GPTConfig c = llmc_config(&h);
    const char *dt = h.version == 3 ? "fp32" : "bf16";
    json_t *j = json_pack("{s:s,s:s,s:i,s:s}", "path", path, "format", "llmc", "version",
                          h.version, "dtype", dt);
    json_t *cj = config_json(&c);
    json_object_set_new(cj, "padded_vocab_size", json_integer(h.Vp));
    json_object_set_new(j, "config", cj);
    json_object_set_new(j, "params", json_integer((json_int_t)gpt_num_params(&c)));
    json_object_set_new(j, "file_elements", json_integer((json_int_t)h.n_params));
    LlmcTensorInfo ti[LLMC_N_TENSORS];
    llmc_tensor_list(&h, ti);
    json_t *ts = json_array();
    for (int i = 0; i < LLMC_N_TENSORS; i++) {
        json_t *t = tensor_json(ti[i].name, ti[i].ndim, ti[i].shape, dt);
        char hf[96];
        snprintf(hf, sizeof hf, "%s%s", ti[i].layer ? "h.*." : "", ti[i].hf);
        json_object_set_new(t, "hf_name", json_string(hf));
        json_array_append_new(ts, t);
    }
    json_object_set_new(j, "tensors", ts);
    return j;
}

static json_t *info_file(const char *path, Err *e) {
    size_t n = strlen(path);
    if (n >= 12 && strcmp(path + n - 12, ".safetensors") == 0) {
        json_t *j = json_pack("{s:s,s:s}", "path", path, "format", "safetensors");
        if (add_st_tensors(j, path, e)) { json_decref(j); return NULL; }
        return j;
    }
    uint32_t magic;
    if (llmc_file_magic(path, &magic, e)) return NULL;
    if (magic == LLMC_MODEL_MAGIC || (n >= 4 && strcmp(path + n - 4, ".bin") == 0 &&
                                      magic != LLMC_TOKENIZER_MAGIC && magic != LLMC_SHARD_MAGIC))
        return info_llmc_model(path, e);
    if (magic == LLMC_TOKENIZER_MAGIC) {
        LlmcTokenizer t;
        if (llmc_tok_load(&t, path, e)) return NULL;
        json_t *j = json_pack("{s:s,s:s,s:i,s:i}", "path", path, "format", "llmc-tokenizer",
                              "tokens", t.n, "eot_id", t.eot);
        llmc_tok_free(&t);
        return j;
    }
    if (magic == LLMC_SHARD_MAGIC) {
        int *ids;
        size_t nt;
        if (llmc_shard_load(path, 0, &ids, &nt, e)) return NULL;
        int maxid = 0;
        for (size_t i = 0; i < nt; i++) if (ids[i] > maxid) maxid = ids[i];
        free(ids);
        return json_pack("{s:s,s:s,s:I,s:i}", "path", path, "format", "llmc-shard", "tokens",
                         (json_int_t)nt, "max_id", maxid);
    }
    err_set(e, "%s: not a model: expected a Hugging Face model folder, an llm.c .bin file or a "
               ".safetensors file", path);
    return NULL;
}

static void print_shape(const json_t *shape, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    size_t i;
    json_t *v;
    json_array_foreach(shape, i, v) if (k < n)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)json_integer_value(v));
    if (k < n) snprintf(buf + k, n - k, "]");
}

static void print_text(const json_t *j) {
    const char *fmt = json_string_value(json_object_get(j, "format"));
    const char *path = json_string_value(json_object_get(j, "path"));
    if (!strcmp(fmt, "hf"))
        printf("%s: Hugging Face model folder (%s)\n", path,
               json_string_value(json_object_get(j, "architecture")));
    else if (!strcmp(fmt, "llmc"))
        printf("%s: llm.c model checkpoint, version %lld (%s)\n", path,
               (long long)json_integer_value(json_object_get(j, "version")),
               json_string_value(json_object_get(j, "dtype")));
    else if (!strcmp(fmt, "llmc-tokenizer")) {
        printf("%s: llm.c tokenizer (decode only): %lld tokens, end-of-text id %lld\n", path,
               (long long)json_integer_value(json_object_get(j, "tokens")),
               (long long)json_integer_value(json_object_get(j, "eot_id")));
        return;
    } else if (!strcmp(fmt, "llmc-shard")) {
        printf("%s: llm.c token shard: %lld tokens (largest id %lld)\n", path,
               (long long)json_integer_value(json_object_get(j, "tokens")),
               (long long)json_integer_value(json_object_get(j, "max_id")));
        return;
    } else
        printf("%s: safetensors file\n", path);
    const json_t *c = json_object_get(j, "config");
    if (c) {
        printf("config: n_layer %lld, n_head %lld, n_embd %lld, n_ctx %lld, vocab_size %lld",
               (long long)json_integer_value(json_object_get(c, "n_layer")),
               (long long)json_integer_value(json_object_get(c, "n_head")),
               (long long)json_integer_value(json_object_get(c, "n_embd")),
               (long long)json_integer_value(json_object_get(c, "n_ctx")),
               (long long)json_integer_value(json_object_get(c, "vocab_size")));
        const json_t *vp = json_object_get(c, "padded_vocab_size");
        if (vp) printf(" (padded to %lld in the file)", (long long)json_integer_value(vp));
        printf(", score head: %s\n", json_is_true(json_object_get(c, "score_head")) ? "yes" : "no");
        printf("parameters: %lld\n", (long long)json_integer_value(json_object_get(j, "params")));
    }
    const json_t *ts = json_object_get(j, "tensors");
    printf("tensors: %zu (%lld elements in the file)\n", json_array_size(ts),
           (long long)json_integer_value(json_object_get(j, "file_elements")));
    size_t i;
    json_t *t;
    json_array_foreach(ts, i, t) {
        char sh[128];
        print_shape(json_object_get(t, "shape"), sh, sizeof sh);
        const char *hf = json_string_value(json_object_get(t, "hf_name"));
        const char *dt = json_string_value(json_object_get(t, "dtype"));
        if (hf) printf("  %-36s %-20s %-5s  (%s)\n", json_string_value(json_object_get(t, "name")), sh, dt, hf);
        else printf("  %-36s %-20s %s\n", json_string_value(json_object_get(t, "name")), sh, dt);
    }
}

int cmd_info(int argc, char **argv) {
    int as_json = 0;
    Flag flags[] = {
        {"json", 0, FLAG_BOOL, &as_json, "print one JSON object", 0, 0},
    };
    const char *pos[1] = {NULL};
    int npos = 0;
    flags_parse("info", "PATH [--json]",
                "Describes a model from its headers, without loading the weights: format, config, "
                "parameter count and tensors (name, shape, dtype). PATH: a Hugging Face model "
                "folder, an llm.c .bin (model, tokenizer or token shard) or a .safetensors file.",
                flags, 1, argc, argv, pos, 1, &npos);
    if (npos != 1) {
        fprintf(stderr, "rlhf info: expected one PATH (run 'rlhf info --help')\n");
        return 2;
    }
    Err e;
    const char *path = pos[0];
    json_t *j = NULL;
    if (is_dir(path)) j = info_hf(path, &e);
    else if (path_exists(path)) j = info_file(path, &e);
    else err_set(&e, "%s: no such file or folder", path);
    if (!j) {
        fprintf(stderr, "rlhf info: error: %s\n", e.msg);
        return 1;
    }
    if (as_json) {
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        printf("%s\n", s);
        free(s);
    } else {
        print_text(j);
    }
    json_decref(j);
    return 0;
}
