// data/textdata.c — loading pretraining text (see textdata.h). JSONL is streamed line by line
// (getline), so files larger than memory's text budget are not buffered whole.
#include "data/textdata.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/llmc.h"

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

// An llm.c token shard: ids as stored (each document starts with EOT); documents = EOS count.
static int load_shard(const char *path, const Tokenizer *tok, TokenStream *out, Err *e) {
    if (llmc_shard_load(path, tok ? tok->vocab_size : 0, &out->tokens, &out->n, e)) return -1;
    for (size_t i = 0; tok && i < out->n; i++) out->n_docs += out->tokens[i] == tok->eos_id;
    if (out->n_docs == 0) out->n_docs = 1;
    return 0;
}

int textdata_load(const char *path, const Tokenizer *tok, TokenStream *out, Err *e) {
    memset(out, 0, sizeof *out);
    uint32_t magic = 0;
    Err ignore;
    if (ends_with(path, ".bin") ||
        (llmc_file_magic(path, &magic, &ignore) == 0 && magic == LLMC_SHARD_MAGIC))
        return load_shard(path, tok, out, e);
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 0;
    int rc = 0;
    if (ends_with(path, ".jsonl")) {
        char *line = NULL;
        size_t lcap = 0;
        ssize_t got;
        long lineno = 0;
        while ((got = getline(&line, &lcap, fp)) >= 0) {
            lineno++;
            size_t k = (size_t)got;
            while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r' || line[k - 1] == ' ' ||
                             line[k - 1] == '\t'))
                k--;
            if (k == 0) continue;
            json_error_t je;
            json_t *j = json_loadb(line, k, 0, &je);
            if (!j) {
                rc = err_set(e, "%s:%ld: invalid JSON: %s (column %d)", path, lineno, je.text, je.column);
                break;
            }
            json_t *t = json_is_object(j) ? json_object_get(j, "text") : NULL;
            if (!json_is_object(j)) {
                rc = err_set(e, "%s:%ld: expected a JSON object, got %s", path, lineno,
                             json_is_array(j) ? "an array" : "a scalar");
            } else if (!t) {
                rc = err_set(e, "%s:%ld: missing field \"text\"", path, lineno);
            } else if (!json_is_string(t)) {
                rc = err_set(e, "%s:%ld: field \"text\": expected string", path, lineno);
            } else {
                tok_encode(tok, json_string_value(t), json_string_length(t), &out->tokens, &out->n, &cap);
                if (out->n + 1 > cap) { cap = cap * 2 + 16; out->tokens = xrealloc(out->tokens, cap * sizeof(int)); }
                out->tokens[out->n++] = tok->eos_id;
                out->n_docs++;
            }
            json_decref(j);
            if (rc) break;
        }
        free(line);
    } else {
        // chunks end at a piece boundary (tok_split_point), so BPE sees every word whole
        size_t bcap = 1 << 16, have = 0, got;
        char *buf = xmalloc(bcap);
        while ((got = fread(buf + have, 1, bcap - have, fp)) > 0) {
            have += got;
            size_t p = tok_split_point(buf, have);
            if (p == 0) {
                if (have == bcap) buf = xrealloc(buf, bcap *= 2);
                continue;
            }
            tok_encode(tok, buf, p, &out->tokens, &out->n, &cap);
            memmove(buf, buf + p, have - p);
            have -= p;
        }
        tok_encode(tok, buf, have, &out->tokens, &out->n, &cap);
        free(buf);
        if (ferror(fp)) rc = err_set(e, "%s: read error: %s", path, strerror(errno));
        if (out->n + 1 > cap) out->tokens = xrealloc(out->tokens, (out->n + 1) * sizeof(int));
        out->tokens[out->n++] = tok->eos_id;
        out->n_docs = 1;
    }
    fclose(fp);
    if (!rc && out->n_docs == 0) rc = err_set(e, "%s: no documents", path);
    if (rc) textdata_free(out);
    return rc;
}

void textdata_split(const TokenStream *s, double val_fraction, size_t min_val, TokenStream *train,
                    TokenStream *val) {
    size_t nv = 0;
    if (val_fraction > 0) {
        nv = (size_t)((double)s->n * val_fraction);
        if (nv < min_val) nv = min_val;
        if (nv > s->n / 2) nv = s->n / 2;
    }
    train->tokens = s->tokens;
    train->n = s->n - nv;
    train->n_docs = s->n_docs;
    val->tokens = s->tokens + train->n;
    val->n = nv;
    val->n_docs = 0;
}

void textdata_free(TokenStream *s) {
    free(s->tokens);
    memset(s, 0, sizeof *s);
}
