// data/records.c — JSONL token-sequence records for the scoring commands (see records.h). The file
// is read line by line; each record's ids live in their own allocation.
#include "data/records.h"

#include "data/chat.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/chat.h"
#include "util/json.h"

typedef struct {
    int *ids;
    size_t n, cap;
} IdBuf;

static void push(IdBuf *b, int id) {
    if (b->n + 1 > b->cap) {
        b->cap = b->cap * 2 + 16;
        b->ids = xrealloc(b->ids, b->cap * sizeof(int));
    }
    b->ids[b->n++] = id;
}

// Encodes the string field `key` of record j into b.
static int encode_field(const json_t *j, const char *key, const RecordOpts *o, IdBuf *b,
                        const char *path, long line, Err *e) {
    const json_t *v = json_object_get(j, key);
    if (!v) return err_set(e, "%s:%ld: missing field \"%s\"", path, line, key);
    if (!json_is_string(v))
        return err_set(e, "%s:%ld: field \"%s\": expected string, got %s", path, line, key,
                       json_type_name(v));
    if (!o->tok)
        return err_set(e, "%s:%ld: field \"%s\": cannot encode text: %s; give token ids as "
                          "{\"ids\": [...]} instead", path, line, key,
                       o->no_tok_why ? o->no_tok_why : "the model has no tokenizer");
    tok_encode(o->tok, json_string_value(v), json_string_length(v), &b->ids, &b->n, &b->cap);
    return 0;
}

// {"prompt","response"} through the chat template: [prompt as a user turn + assistant marker]
// [response + EOS] (the final EOS dropped when o->eos is 0).
static int render_chat(const json_t *j, const RecordOpts *o, IdBuf *b, const char *path, long line,
                       Err *e) {
    const char *keys[2] = {"prompt", "response"};
    for (int k = 0; k < 2; k++) {
        const json_t *v = json_object_get(j, keys[k]);
        if (!v) return err_set(e, "%s:%ld: missing field \"%s\"", path, line, keys[k]);
        if (!json_is_string(v))
            return err_set(e, "%s:%ld: field \"%s\": expected string, got %s", path, line, keys[k],
                           json_type_name(v));
    }
    if (!o->tok)
        return err_set(e, "%s:%ld: field \"prompt\": cannot encode text: %s; give token ids as "
                          "{\"ids\": [...]} instead", path, line,
                       o->no_tok_why ? o->no_tok_why : "the model has no tokenizer");
    const json_t *p = json_object_get(j, "prompt"), *r = json_object_get(j, "response");
    Convo prompt = {0}, resp = {0};
    convo_push(&prompt, ROLE_USER, json_string_value(p), json_string_length(p));
    convo_push(&resp, ROLE_ASSISTANT, json_string_value(r), json_string_length(r));
    TokSeq s = {0};
    chat_render_prompt(o->chat, &prompt, &s);
    chat_render_response(o->chat, &resp, &s);
    int n = s.n;
    if (!o->eos && n > 0 && s.ids[n - 1] == o->chat->eos_id) n--;
    for (int i = 0; i < n; i++) push(b, s.ids[i]);
    tokseq_free(&s);
    convo_free(&prompt);
    convo_free(&resp);
    return 0;
}

static int read_ids(const json_t *v, const RecordOpts *o, IdBuf *b, const char *path, long line,
                    Err *e) {
    if (!json_is_array(v))
        return err_set(e, "%s:%ld: field \"ids\": expected an array of token ids, got %s", path,
                       line, json_type_name(v));
    size_t k;
    const json_t *x;
    json_array_foreach(v, k, x) {
        if (!json_is_integer(x))
            return err_set(e, "%s:%ld: field \"ids\"[%zu]: expected an integer token id, got %s",
                           path, line, k, json_type_name(x));
        json_int_t id = json_integer_value(x);
        if (id < 0 || id >= o->vocab_size)
            return err_set(e, "%s:%ld: field \"ids\"[%zu]: token id %lld is outside the model's "
                              "vocabulary [0, %d)", path, line, k, (long long)id, o->vocab_size);
        push(b, (int)id);
    }
    return 0;
}

// One record from a parsed line into b.
static int parse_record(const json_t *j, const RecordOpts *o, IdBuf *b, const char *path,
                        long line, Err *e) {
    if (!json_is_object(j))
        return err_set(e, "%s:%ld: expected a JSON object, got %s", path, line, json_type_name(j));
    const json_t *ids = json_object_get(j, "ids"), *text = json_object_get(j, "text");
    int has_pr = json_object_get(j, "prompt") || json_object_get(j, "response");
    int shapes = !!ids + !!text + has_pr;
    if (shapes > 1)
        return err_set(e, "%s:%ld: the record mixes %s; give exactly one of {\"text\"}, "
                          "{\"ids\"} or {\"prompt\", \"response\"}", path, line,
                       ids && text ? "\"ids\" and \"text\"" : ids ? "\"ids\" and \"prompt\"/\"response\""
                                                                  : "\"text\" and \"prompt\"/\"response\"");
    char accepted[96];
    snprintf(accepted, sizeof accepted, "%s%s%s",
             o->shapes & REC_TEXT ? " {\"text\"}" : "", o->shapes & REC_IDS ? " {\"ids\"}" : "",
             o->shapes & REC_PROMPT_RESPONSE ? " {\"prompt\", \"response\"}" : "");
    if (shapes == 0)
        return err_set(e, "%s:%ld: no record field: expected one of%s", path, line, accepted);
    if (ids) {
        if (!(o->shapes & REC_IDS))
            return err_set(e, "%s:%ld: field \"ids\": not accepted here (expected one of%s)", path,
                           line, accepted);
        return read_ids(ids, o, b, path, line, e);
    }
    const char *first = text ? "text" : "prompt";
    if (!(o->shapes & (text ? REC_TEXT : REC_PROMPT_RESPONSE)))
        return err_set(e, "%s:%ld: field \"%s\": not accepted here (expected one of%s)", path,
                       line, first, accepted);
    if (!text && o->chat) return render_chat(j, o, b, path, line, e);
    if (o->bos) push(b, o->eos_id);
    if (encode_field(j, first, o, b, path, line, e)) return -1;
    if (!text && encode_field(j, "response", o, b, path, line, e)) return -1;
    if (o->eos) push(b, o->eos_id);
    return 0;
}

int records_load(const char *path, const RecordOpts *o, TokRecords *out, Err *e) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t lcap = 0, rcap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
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
        IdBuf b = {0};
        rc = parse_record(j, o, &b, path, lineno, e);
        json_decref(j);
        if (!rc && o->max_len > 0 && b.n > (size_t)o->max_len && !o->truncate)
            rc = err_set(e, "%s:%ld: the record has %zu tokens, more than the model's context of "
                            "%d%s%s", path, lineno, b.n, o->max_len, o->long_hint ? "; " : "",
                         o->long_hint ? o->long_hint : "");
        if (rc) {
            free(b.ids);
            break;
        }
        if (out->n == rcap) {
            rcap = rcap * 2 + 16;
            out->r = xrealloc(out->r, rcap * sizeof *out->r);
        }
        TokRecord *r = &out->r[out->n++];
        r->line = lineno;
        r->truncated = 0;
        if (o->max_len > 0 && b.n > (size_t)o->max_len) {
            r->truncated = (int)(b.n - (size_t)o->max_len);
            b.n = (size_t)o->max_len;
        }
        r->ids = b.ids;
        r->n = (int)b.n;
    }
    if (!rc && ferror(fp)) rc = err_set(e, "%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(fp);
    if (rc) records_free(out);
    return rc;
}

void records_free(TokRecords *rs) {
    for (size_t i = 0; i < rs->n; i++) free(rs->r[i].ids);
    free(rs->r);
    memset(rs, 0, sizeof *rs);
}
