// data/record.c — parsing and validating one record of any shape (see record.h): shape detection,
// messages, responses, rankings (→ ordered pairs, ties dropped) and margins.
#include "data/record.h"

#include <stdlib.h>
#include <string.h>

static const char *const SHAPE_NAMES[REC_SHAPE_COUNT] = {
    "text", "prompt/completion", "messages", "instruction/input/output",
    "prompt/chosen/rejected", "prompt/responses/ranking", "prompt"};

const char *rec_shape_name(RecShape s) { return SHAPE_NAMES[s]; }

const char *rec_json_type(const json_t *v) {
    if (!v) return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

// One message object; label names it in errors (e.g. "\"messages\"[2]").
static int parse_message(const json_t *m, const char *label, const char *ctx, Convo *out, Err *e) {
    if (!json_is_object(m))
        return err_set(e, "%s: field %s: expected a message object {\"role\", \"content\"}, got %s",
                       ctx, label, rec_json_type(m));
    const json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
    if (!role) return err_set(e, "%s: field %s: missing field \"role\"", ctx, label);
    if (!json_is_string(role))
        return err_set(e, "%s: field %s.role: expected string, got %s", ctx, label,
                       rec_json_type(role));
    const char *rs = json_string_value(role);
    int r = !strcmp(rs, "system") ? ROLE_SYSTEM : !strcmp(rs, "user") ? ROLE_USER
          : !strcmp(rs, "assistant") ? ROLE_ASSISTANT : -1;
    if (r < 0)
        return err_set(e, "%s: field %s.role: expected \"system\", \"user\" or \"assistant\", got "
                          "\"%.60s\"", ctx, label, rs);
    if (!content) return err_set(e, "%s: field %s: missing field \"content\"", ctx, label);
    if (!json_is_string(content))
        return err_set(e, "%s: field %s.content: expected string, got %s", ctx, label,
                       rec_json_type(content));
    convo_push(out, (ChatRole)r, json_string_value(content), json_string_length(content));
    return 0;
}

// A string (one message of role string_role) or a list of messages. label: "\"chosen\"".
static int parse_turns(const json_t *v, const char *label, ChatRole string_role, const char *ctx,
                       Convo *out, Err *e) {
    if (json_is_string(v)) {
        convo_push(out, string_role, json_string_value(v), json_string_length(v));
        return 0;
    }
    if (!json_is_array(v))
        return err_set(e, "%s: field %s: expected string or list of messages, got %s", ctx, label,
                       rec_json_type(v));
    size_t i;
    const json_t *m;
    json_array_foreach(v, i, m) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s[%zu]", label, i);
        if (parse_message(m, sub, ctx, out, e)) return -1;
    }
    return 0;
}

// A response is non-empty and starts with an assistant message.
static int check_response(const Convo *c, const char *label, const char *ctx, Err *e) {
    if (c->n == 0 || (c->n == 1 && c->msg[0].len == 0))
        return err_set(e, "%s: field %s: empty response", ctx, label);
    if (c->msg[0].role != ROLE_ASSISTANT)
        return err_set(e, "%s: field %s[0].role: a response starts with an assistant message, "
                          "got \"%s\"", ctx, label, chat_role_name(c->msg[0].role));
    return 0;
}

static int parse_response(const json_t *v, const char *label, const char *ctx, Convo *out,
                          Err *e) {
    if (parse_turns(v, label, ROLE_ASSISTANT, ctx, out, e)) return -1;
    return check_response(out, label, ctx, e);
}

static int get_string(const json_t *j, const char *key, int required, const char *ctx,
                      const json_t **out, Err *e) {
    const json_t *v = json_object_get(j, key);
    *out = v;
    if (!v) return required ? err_set(e, "%s: missing field \"%s\"", ctx, key) : 0;
    if (!json_is_string(v))
        return err_set(e, "%s: field \"%s\": expected string, got %s", ctx, key, rec_json_type(v));
    return 0;
}

static int get_number(const json_t *j, const char *key, const char *ctx, double *out, Err *e) {
    const json_t *v = json_object_get(j, key);
    if (!json_is_number(v))
        return err_set(e, "%s: field \"%s\": expected number, got %s", ctx, key, rec_json_type(v));
    *out = json_number_value(v);
    return 0;
}

static int parse_margin(const json_t *j, const char *ctx, DataRecord *r, Err *e) {
    const json_t *m = json_object_get(j, "margin");
    int sc = json_object_get(j, "score_chosen") != NULL;
    int sr = json_object_get(j, "score_rejected") != NULL;
    if (m && (sc || sr))
        return err_set(e, "%s: field \"margin\": give either \"margin\" or \"score_chosen\"/"
                          "\"score_rejected\", not both", ctx);
    if (m) {
        if (get_number(j, "margin", ctx, &r->margin, e)) return -1;
        r->has_margin = 1;
    } else if (sc || sr) {
        if (!sc) return err_set(e, "%s: missing field \"score_chosen\" (\"score_rejected\" is given)", ctx);
        if (!sr) return err_set(e, "%s: missing field \"score_rejected\" (\"score_chosen\" is given)", ctx);
        double a = 0, b = 0;
        if (get_number(j, "score_chosen", ctx, &a, e) || get_number(j, "score_rejected", ctx, &b, e))
            return -1;
        r->margin = a - b;
        r->has_margin = 1;
    }
    return 0;
}

static void set_pairwise(DataRecord *r) {
    r->n_rank = 2;
    r->rank = xmalloc(2 * sizeof(int));
    r->tie = xmalloc(2 * sizeof(int));
    r->rank[0] = 0, r->rank[1] = 1, r->tie[0] = 0, r->tie[1] = 1;
    r->n_pairs = 1;
    r->pairs = xmalloc(sizeof *r->pairs);
    r->pairs[0][0] = 0, r->pairs[0][1] = 1;
}

static int parse_preference(const json_t *j, const char *ctx, DataRecord *r, Err *e) {
    const json_t *p = json_object_get(j, "prompt"), *c = json_object_get(j, "chosen"),
                 *rj = json_object_get(j, "rejected");
    if (!c) return err_set(e, "%s: missing field \"chosen\"", ctx);
    if (!rj) return err_set(e, "%s: missing field \"rejected\"", ctx);
    r->k = 2;
    r->resp = xcalloc(2, sizeof *r->resp);
    if (p) {
        if (parse_turns(p, "\"prompt\"", ROLE_USER, ctx, &r->prompt, e)) return -1;
        if (parse_response(c, "\"chosen\"", ctx, &r->resp[0], e)) return -1;
        if (parse_response(rj, "\"rejected\"", ctx, &r->resp[1], e)) return -1;
    } else {
        r->implicit_prompt = 1;
        if (!json_is_string(c) && !json_is_array(c))
            return err_set(e, "%s: field \"chosen\": expected string or list of messages, got %s",
                           ctx, rec_json_type(c));
        if (json_is_string(c) != json_is_string(rj) || !(json_is_string(rj) || json_is_array(rj)))
            return err_set(e, "%s: field \"rejected\": expected %s like \"chosen\" (implicit "
                              "prompt), got %s", ctx, json_is_string(c) ? "string" : "list of messages",
                           rec_json_type(rj));
        if (json_is_string(c)) {
            if (record_implicit_strings(json_string_value(c), json_string_length(c),
                                        json_string_value(rj), json_string_length(rj), ctx,
                                        &r->prompt, &r->resp[0], &r->resp[1], e))
                return -1;
        } else {
            Convo cc = {0}, rc = {0};
            int rc_ = parse_turns(c, "\"chosen\"", ROLE_ASSISTANT, ctx, &cc, e);
            if (!rc_) rc_ = parse_turns(rj, "\"rejected\"", ROLE_ASSISTANT, ctx, &rc, e);
            if (!rc_) rc_ = record_implicit_messages(&cc, &rc, ctx, &r->prompt, &r->resp[0],
                                                     &r->resp[1], e);
            convo_free(&cc);
            convo_free(&rc);
            if (rc_) return -1;
        }
        if (check_response(&r->resp[0], "\"chosen\"", ctx, e)) return -1;
        if (check_response(&r->resp[1], "\"rejected\"", ctx, e)) return -1;
    }
    set_pairwise(r);
    return parse_margin(j, ctx, r, e);
}

static int parse_ranking(const json_t *j, const char *ctx, DataRecord *r, Err *e) {
    const json_t *p = json_object_get(j, "prompt"), *rs = json_object_get(j, "responses"),
                 *rk = json_object_get(j, "ranking");
    if (!p) return err_set(e, "%s: missing field \"prompt\"", ctx);
    if (parse_turns(p, "\"prompt\"", ROLE_USER, ctx, &r->prompt, e)) return -1;
    if (!rs) return err_set(e, "%s: missing field \"responses\"", ctx);
    if (!json_is_array(rs))
        return err_set(e, "%s: field \"responses\": expected a list of responses, got %s", ctx,
                       rec_json_type(rs));
    size_t K = json_array_size(rs);
    if (K < 2)
        return err_set(e, "%s: field \"responses\": expected at least 2 responses, got %zu", ctx, K);
    r->k = (int)K;
    r->resp = xcalloc(K, sizeof *r->resp);
    for (size_t i = 0; i < K; i++) {
        char label[64];
        snprintf(label, sizeof label, "\"responses\"[%zu]", i);
        if (parse_response(json_array_get(rs, i), label, ctx, &r->resp[i], e)) return -1;
    }
    if (!rk) return err_set(e, "%s: missing field \"ranking\"", ctx);
    if (!json_is_array(rk))
        return err_set(e, "%s: field \"ranking\": expected a list of response indices (best "
                          "first), got %s", ctx, rec_json_type(rk));
    int *seen = xcalloc(K, sizeof(int));
    r->rank = xmalloc(K * sizeof(int));
    r->tie = xmalloc(K * sizeof(int));
    size_t g;
    const json_t *x;
    int rc = 0;
    json_array_foreach(rk, g, x) {
        // an entry is one index or a list of tied indices
        size_t m = json_is_array(x) ? json_array_size(x) : 1;
        if (!json_is_integer(x) && !json_is_array(x)) {
            rc = err_set(e, "%s: field \"ranking\"[%zu]: expected a response index or a list of "
                            "tied indices, got %s", ctx, g, rec_json_type(x));
            break;
        }
        for (size_t t = 0; t < m && !rc; t++) {
            const json_t *y = json_is_array(x) ? json_array_get(x, t) : x;
            if (!json_is_integer(y)) {
                rc = err_set(e, "%s: field \"ranking\"[%zu][%zu]: expected a response index, got "
                                "%s", ctx, g, t, rec_json_type(y));
                break;
            }
            json_int_t v = json_integer_value(y);
            if (v < 0 || v >= (json_int_t)K) {
                rc = err_set(e, "%s: field \"ranking\"[%zu]: index %lld is out of range: there are "
                                "%zu responses (indices 0..%zu)", ctx, g, (long long)v, K, K - 1);
                break;
            }
            if (seen[v]) {
                rc = err_set(e, "%s: field \"ranking\"[%zu]: index %lld appears twice", ctx, g,
                             (long long)v);
                break;
            }
            seen[v] = 1;
            r->rank[r->n_rank] = (int)v;
            r->tie[r->n_rank++] = (int)g;
        }
        if (rc) break;
    }
    free(seen);
    if (rc) return -1;
    if (r->n_rank < 2)
        return err_set(e, "%s: field \"ranking\": expected at least 2 ranked responses, got %d",
                       ctx, r->n_rank);
    r->pairs = xmalloc((size_t)r->n_rank * (size_t)(r->n_rank - 1) / 2 * sizeof *r->pairs);
    for (int a = 0; a < r->n_rank; a++)
        for (int b = a + 1; b < r->n_rank; b++)
            if (r->tie[a] != r->tie[b]) {
                r->pairs[r->n_pairs][0] = r->rank[a];
                r->pairs[r->n_pairs++][1] = r->rank[b];
            }
    if (r->n_pairs == 0)
        return err_set(e, "%s: field \"ranking\": every ranked response is tied (no ordered pair)",
                       ctx);
    return parse_margin(j, ctx, r, e);
}

static int parse_messages(const json_t *j, const char *ctx, DataRecord *r, Err *e) {
    const json_t *v = json_object_get(j, "messages");
    if (!json_is_array(v))
        return err_set(e, "%s: field \"messages\": expected list of messages, got %s", ctx,
                       rec_json_type(v));
    Convo all = {0};
    if (parse_turns(v, "\"messages\"", ROLE_USER, ctx, &all, e)) {
        convo_free(&all);
        return -1;
    }
    if (all.n == 0 || all.msg[all.n - 1].role != ROLE_ASSISTANT) {
        int n = all.n;
        convo_free(&all);
        return n == 0 ? err_set(e, "%s: field \"messages\": empty list", ctx)
                      : err_set(e, "%s: field \"messages\": the last message must be the "
                                   "assistant's (nothing to train on)", ctx);
    }
    int split = all.n;
    while (split > 0 && all.msg[split - 1].role == ROLE_ASSISTANT) split--;
    r->k = 1;
    r->resp = xcalloc(1, sizeof *r->resp);
    for (int i = 0; i < all.n; i++)
        convo_push(i < split ? &r->prompt : &r->resp[0], all.msg[i].role, all.msg[i].text,
                   all.msg[i].len);
    convo_free(&all);
    return check_response(&r->resp[0], "\"messages\"", ctx, e);
}

static int parse_alpaca(const json_t *j, const char *ctx, DataRecord *r, Err *e) {
    const json_t *ins, *in, *out;
    if (get_string(j, "instruction", 1, ctx, &ins, e) || get_string(j, "input", 0, ctx, &in, e) ||
        get_string(j, "output", 1, ctx, &out, e))
        return -1;
    size_t a = json_string_length(ins), b = in ? json_string_length(in) : 0;
    char *u = xmalloc(a + b + 3);
    memcpy(u, json_string_value(ins), a);
    size_t n = a;
    if (b) {
        memcpy(u + n, "\n\n", 2);
        memcpy(u + n + 2, json_string_value(in), b);
        n += 2 + b;
    }
    convo_push(&r->prompt, ROLE_USER, u, n);
    free(u);
    r->k = 1;
    r->resp = xcalloc(1, sizeof *r->resp);
    return parse_response(out, "\"output\"", ctx, &r->resp[0], e);
}

int record_parse(const json_t *j, const char *ctx, DataRecord *r, Err *e) {
    memset(r, 0, sizeof *r);
    if (!json_is_object(j))
        return err_set(e, "%s: expected a JSON object, got %s", ctx, rec_json_type(j));
#define HAS(k) (json_object_get(j, k) != NULL)
    int rc;
    if (HAS("responses") || HAS("ranking")) {
        r->shape = REC_SHAPE_RANKING;
        rc = parse_ranking(j, ctx, r, e);
    } else if (HAS("chosen") || HAS("rejected")) {
        r->shape = REC_SHAPE_PREFERENCE;
        rc = parse_preference(j, ctx, r, e);
    } else if (HAS("messages")) {
        r->shape = REC_SHAPE_MESSAGES;
        rc = parse_messages(j, ctx, r, e);
    } else if (HAS("instruction") || HAS("output")) {
        r->shape = REC_SHAPE_ALPACA;
        rc = parse_alpaca(j, ctx, r, e);
    } else if (HAS("completion")) {
        r->shape = REC_SHAPE_COMPLETION;
        const json_t *p = json_object_get(j, "prompt");
        if (!p) return err_set(e, "%s: missing field \"prompt\"", ctx);
        rc = parse_turns(p, "\"prompt\"", ROLE_USER, ctx, &r->prompt, e);
        if (!rc) {
            r->k = 1;
            r->resp = xcalloc(1, sizeof *r->resp);
            rc = parse_response(json_object_get(j, "completion"), "\"completion\"", ctx,
                                &r->resp[0], e);
        }
    } else if (HAS("prompt")) {
        r->shape = REC_SHAPE_PROMPT;
        rc = parse_turns(json_object_get(j, "prompt"), "\"prompt\"", ROLE_USER, ctx, &r->prompt, e);
        const json_t *a;
        if (!rc) rc = get_string(j, "answer", 0, ctx, &a, e);
        if (!rc && a) r->answer = xstrdup(json_string_value(a));
    } else if (HAS("text")) {
        r->shape = REC_SHAPE_TEXT;
        const json_t *t;
        rc = get_string(j, "text", 1, ctx, &t, e);
        if (!rc) {
            r->text_len = json_string_length(t);
            r->text = xmalloc(r->text_len + 1);
            memcpy(r->text, json_string_value(t), r->text_len + 1);
        }
    } else {
        rc = err_set(e, "%s: no record field: expected one of {\"text\"}, {\"prompt\", "
                        "\"completion\"}, {\"messages\"}, {\"instruction\", \"input\", \"output\"}, "
                        "{\"prompt\", \"chosen\", \"rejected\"}, {\"prompt\", \"responses\", "
                        "\"ranking\"}, {\"prompt\"}", ctx);
    }
#undef HAS
    if (rc) record_free(r);
    return rc;
}

void record_free(DataRecord *r) {
    free(r->text);
    convo_free(&r->prompt);
    for (int i = 0; i < r->k; i++) convo_free(&r->resp[i]);
    free(r->resp);
    free(r->rank);
    free(r->tie);
    free(r->pairs);
    free(r->answer);
    memset(r, 0, sizeof *r);
}
