// label/candidates.c — owns filling a project with items: reading prompt / candidate JSONL with
// FILE:LINE errors, sampling K responses per prompt through gen/sample.h, importing given
// responses, and each response's provenance record (see candidates.h).
#include "label/candidates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/chat.h"
#include "gen/sample.h"
#include "io/checkpoint.h"
#include "util/json.h"
#include "util/utf8.h"

typedef struct {
    char *prompt;
    json_t *responses;  // import only
    long line;
} Row;

// Reads every non-blank line; want_responses: also a "responses" list of 2..LABEL_MAX_K strings.
static Row *read_rows(const char *path, int want_responses, long *n, Err *e) {
    FILE *f = fopen(path, "r");
    if (!f) { err_set(e, "%s: cannot open", path); return NULL; }
    Row *rows = NULL;
    long cap = 0, line = 0;
    *n = 0;
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t len;
    int bad = 0;
    while (!bad && (len = getline(&buf, &bcap, f)) >= 0) {
        line++;
        size_t sp = strspn(buf, " \t\r\n");
        if ((ssize_t)sp == len) continue;
        json_error_t je;
        json_t *j = json_loadb(buf, (size_t)len, 0, &je);
        json_t *p = json_object_get(j, "prompt"), *rs = json_object_get(j, "responses");
        if (!j) bad = err_set(e, "%s:%ld:%d: invalid JSON: %s", path, line, je.column, je.text);
        else if (!json_is_object(j)) bad = err_set(e, "%s:%ld: expected a JSON object, got %s", path, line, json_type_name(j));
        else if (!json_is_string(p)) bad = err_set(e, "%s:%ld: field \"prompt\": expected string, got %s", path, line, json_type_name(p));
        else if (want_responses && (!json_is_array(rs) || json_array_size(rs) < 2 || json_array_size(rs) > LABEL_MAX_K))
            bad = err_set(e, "%s:%ld: field \"responses\": expected a list of 2 to %d strings, got %s%s",
                          path, line, LABEL_MAX_K, json_type_name(rs), json_is_array(rs) ? " of another length" : "");
        for (size_t i = 0; !bad && want_responses && i < json_array_size(rs); i++)
            if (!json_is_string(json_array_get(rs, i)))
                bad = err_set(e, "%s:%ld: field \"responses\"[%zu]: expected string, got %s", path,
                              line, i, json_type_name(json_array_get(rs, i)));
        if (!bad) {
            if (*n == cap) { cap = cap ? 2 * cap : 64; rows = xrealloc(rows, (size_t)cap * sizeof *rows); }
            rows[*n] = (Row){xstrdup(json_string_value(p)), want_responses ? json_incref(rs) : NULL, line};
            (*n)++;
        }
        json_decref(j);
    }
    free(buf);
    fclose(f);
    if (!bad && *n == 0) bad = err_set(e, "%s: no records", path);
    if (bad) {
        for (long i = 0; i < *n; i++) { free(rows[i].prompt); json_decref(rows[i].responses); }
        free(rows);
        return NULL;
    }
    return rows;
}

static void free_rows(Row *rows, long n) {
    for (long i = 0; i < n; i++) { free(rows[i].prompt); json_decref(rows[i].responses); }
    free(rows);
}

static int add_response(LabelStore *s, long item, int idx, const char *text, json_t *prov, Err *e) {
    char *p = json_dumps(prov, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(prov);
    int rc = store_add_response(s, item, idx, text, p, e);
    free(p);
    return rc;
}

long candidates_import(LabelStore *s, const char *path, Err *e) {
    long n;
    Row *rows = read_rows(path, 1, &n, e);
    if (!rows) return -1;
    int rc = store_exec(s, "BEGIN", e);
    for (long i = 0; i < n && !rc; i++) {
        long item;
        rc = store_add_item(s, rows[i].prompt, rows[i].line, &item, e);
        for (size_t r = 0; !rc && r < json_array_size(rows[i].responses); r++)
            rc = add_response(s, item, (int)r, json_string_value(json_array_get(rows[i].responses, r)),
                              json_pack("{s:s, s:s, s:I, s:i}", "source", "import", "file", path,
                                        "line", (json_int_t)rows[i].line, "index", (int)r), e);
    }
    if (!rc) rc = store_exec(s, "COMMIT", e);
    if (rc) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    free_rows(rows, n);
    return rc ? -1 : n;
}

long candidates_sample(LabelStore *s, const char *prompts_path, const CandidateSampling *cs, Err *e) {
    if (cs->k < 2 || cs->k > LABEL_MAX_K) return err_set(e, "-k %d: expected 2 to %d responses per prompt", cs->k, LABEL_MAX_K);
    long n;
    Row *rows = read_rows(prompts_path, 0, &n, e);
    if (!rows) return -1;
    Tokenizer tok = {0};
    GPT *m = ckpt_load_model(cs->model, 0, &tok, e);
    if (!m) { free_rows(rows, n); tok_free(&tok); return -1; }
    ChatTemplate ct;
    chat_template_init(&ct, &tok, cs->plain_template);
    int rc = store_exec(s, "BEGIN", e);
    for (long i = 0; i < n && !rc; i++) {
        Convo c = {0};
        convo_push(&c, ROLE_USER, rows[i].prompt, strlen(rows[i].prompt));
        TokSeq ts = {0};
        chat_render_prompt(&ct, &c, &ts);
        convo_free(&c);
        int max_new = cs->max_new;
        if (ts.n + max_new > m->cfg.n_ctx) max_new = m->cfg.n_ctx - ts.n;
        if (max_new <= 0) {
            rc = err_set(e, "%s:%ld: the prompt (%d tokens) fills the model's context of %d",
                         prompts_path, rows[i].line, ts.n, m->cfg.n_ctx);
            tokseq_free(&ts);
            break;
        }
        const int *pp[LABEL_MAX_K];
        int pl[LABEL_MAX_K];
        uint64_t sid[LABEL_MAX_K];
        for (int j = 0; j < cs->k; j++) { pp[j] = ts.ids; pl[j] = ts.n; sid[j] = (uint64_t)(i * cs->k + j); }
        SampleConfig sc = {.temperature = cs->temperature, .top_k = cs->top_k, .top_p = cs->top_p,
                           .max_new = max_new, .eos_id = tok.eos_id, .seed = (uint64_t)cs->seed};
        Samples smp = {0};
        rc = generate(m, cs->k, pp, pl, sid, &sc, &smp, e);
        int have = !rc;
        tokseq_free(&ts);
        long item = 0;
        if (!rc) rc = store_add_item(s, rows[i].prompt, rows[i].line, &item, e);
        for (int j = 0; !rc && j < cs->k; j++) {
            int len = smp.len[j] - (smp.ended[j] ? 1 : 0);
            char *raw = tok_decode(&tok, smp.tokens[j], (size_t)len);
            char *text = utf8_sanitize(raw, strlen(raw));
            free(raw);
            json_t *prov = json_pack("{s:s, s:s, s:s, s:f, s:i, s:f, s:i, s:I, s:I, s:i, s:b}",
                                     "source", "model", "model", cs->model, "template",
                                     ct.special ? "special" : "plain", "temperature",
                                     (double)cs->temperature, "top_k", cs->top_k, "top_p",
                                     (double)cs->top_p, "max_new", max_new, "seed",
                                     (json_int_t)cs->seed, "sample_id", (json_int_t)sid[j],
                                     "tokens", smp.len[j], "ended", smp.ended[j]);
            rc = add_response(s, item, j, text, prov, e);
            free(text);
        }
        if (have) samples_free(&smp);
    }
    if (!rc) rc = store_exec(s, "COMMIT", e);
    if (rc) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    gpt_free(m);
    tok_free(&tok);
    free_rows(rows, n);
    return rc ? -1 : n;
}
