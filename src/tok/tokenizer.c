// tok/tokenizer.c — the byte-level tokenizer and the tokenizer_config.json of a model folder.
#include "tok/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"
#include "util/json.h"

void tok_init_bytes(Tokenizer *t) {
    t->kind = TOK_BYTES;
    t->vocab_size = 258;
    t->eos_id = 256;
    t->pad_id = 257;
}

size_t tok_encode(const Tokenizer *t, const char *text, size_t n, int **ids, size_t *len,
                  size_t *cap) {
    (void)t;
    if (*len + n > *cap) {
        *cap = (*len + n) * 2 + 16;
        *ids = xrealloc(*ids, *cap * sizeof(int));
    }
    for (size_t i = 0; i < n; i++) (*ids)[*len + i] = (unsigned char)text[i];
    *len += n;
    return n;
}

char *tok_decode(const Tokenizer *t, const int *ids, size_t n) {
    char *s = xmalloc(3 * n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int id = ids[i];
        if (id == t->eos_id || id == t->pad_id) continue;
        if (id >= 0 && id < 256) {
            s[k++] = (char)id;
        } else {  // U+FFFD
            s[k++] = (char)0xEF; s[k++] = (char)0xBF; s[k++] = (char)0xBD;
        }
    }
    s[k] = 0;
    return s;
}

int tok_save(const Tokenizer *t, const char *dir, Err *e) {
    json_t *j = json_object();
    json_object_set_new(j, "tokenizer_class", json_string("rlhf-bytes"));
    json_object_set_new(j, "rlhf_tokenizer", json_string("bytes"));
    json_object_set_new(j, "vocab_size", json_integer(t->vocab_size));
    json_object_set_new(j, "eos_token_id", json_integer(t->eos_id));
    json_object_set_new(j, "pad_token_id", json_integer(t->pad_id));
    char *path = path_join(dir, "tokenizer_config.json");
    int rc = json_write_file(path, j, e);
    free(path);
    json_decref(j);
    return rc;
}

int tok_load(Tokenizer *t, const char *dir, Err *e) {
    char *path = path_join(dir, "tokenizer_config.json");
    json_t *j = json_read_file(path, e);
    int rc = -1;
    if (!j) goto out;
    const char *kind = NULL;
    if (json_get_string(j, "rlhf_tokenizer", &kind, path, e)) goto out;
    if (strcmp(kind, "bytes") != 0) {
        err_set(e, "%s: field \"rlhf_tokenizer\": unknown tokenizer \"%s\" (expected \"bytes\")",
                path, kind);
        goto out;
    }
    tok_init_bytes(t);
    long eos = t->eos_id, pad = t->pad_id;
    if (json_get_long_opt(j, "eos_token_id", &eos, path, e)) goto out;
    if (json_get_long_opt(j, "pad_token_id", &pad, path, e)) goto out;
    if (eos != t->eos_id || pad != t->pad_id) {
        err_set(e, "%s: byte tokenizer expects eos_token_id 256 and pad_token_id 257", path);
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    free(path);
    return rc;
}
