// label/api.c — owns the JSON API's request handling: routing by method and path, strict
// validation of a judgement (every field, its type and range, the ids against the caller's
// recorded display order) into the canonical row the store writes, and the error replies.
#include "label/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

ApiReply api_error(int status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return (ApiReply){status, json_pack("{s:s}", "error", msg)};
}

static ApiReply server_error(const Err *e) {
    fprintf(stderr, "rlhf label: error: %s\n", e->msg);
    return api_error(500, "internal error (see the server's log)");
}

static const char *CHOICES[] = {"a", "b", "tie", "both_bad", "rank", "skip"};
static const char *FLAGS[] = {"harmful", "wrong", "ignores_instruction"};
static const char *KEYS[] = {"item_id", "choice", "ranking", "strength", "flags", "rewrite"};

static int in_list(const char *s, const char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s, list[i])) return 1;
    return 0;
}

static int pos_of(long id, const long *ids, int k) {
    for (int i = 0; i < k; i++)
        if (ids[i] == id) return i;
    return -1;
}

// "ranking" of a K > 2 item: every shown id once, best first; an entry is an id or a list of
// tied ids. Builds the canonical groups into *groups.
static ApiReply parse_ranking(const json_t *rk, const long *ids, int k, json_t **groups) {
    if (!json_is_array(rk))
        return api_error(400, "field \"ranking\": expected a list of response ids (best first), got %s",
                         json_type_name(rk));
    int seen[LABEL_MAX_K] = {0}, count = 0;
    *groups = json_array();
    size_t g;
    const json_t *x;
    json_array_foreach(rk, g, x) {
        size_t m = json_is_array(x) ? json_array_size(x) : 1;
        if (!json_is_integer(x) && !(json_is_array(x) && m > 0)) {
            json_decref(*groups);
            return api_error(400, "field \"ranking\"[%zu]: expected a response id or a non-empty "
                                  "list of tied ids, got %s", g, json_type_name(x));
        }
        json_t *grp = json_array();
        json_array_append_new(*groups, grp);
        for (size_t t = 0; t < m; t++) {
            const json_t *y = json_is_array(x) ? json_array_get(x, t) : x;
            int p = json_is_integer(y) ? pos_of((long)json_integer_value(y), ids, k) : -1;
            if (!json_is_integer(y) || p < 0 || seen[p]) {
                json_decref(*groups);
                if (!json_is_integer(y))
                    return api_error(400, "field \"ranking\"[%zu]: expected a response id, got %s",
                                     g, json_type_name(y));
                return api_error(400, "field \"ranking\"[%zu]: id %lld %s", g,
                                 (long long)json_integer_value(y),
                                 p < 0 ? "is not a response of this item" : "appears twice");
            }
            seen[p] = 1;
            count++;
            json_array_append_new(grp, json_integer(ids[p]));
        }
    }
    if (count != k || json_array_size(*groups) < 2) {
        json_decref(*groups);
        return api_error(400, "field \"ranking\": expected all %d response ids in at least two "
                              "groups, got %d ids in %zu", k, count, json_array_size(rk));
    }
    return (ApiReply){0, NULL};
}

static ApiReply post_judgement(const ApiContext *c, long annot, const char *body, size_t n) {
    json_error_t je;
    json_t *j = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    if (!j) return api_error(400, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    ApiReply rep = {0, NULL};
    json_t *groups = NULL, *flags = NULL;
    char *ranking_txt = NULL, *flags_txt = NULL;
    const char *key;
    json_t *v;
    if (!json_is_object(j)) { rep = api_error(400, "expected a JSON object, got %s", json_type_name(j)); goto out; }
    json_object_foreach(j, key, v) if (!in_list(key, KEYS, 6)) {
        rep = api_error(400, "unknown field \"%s\"", key);
        goto out;
    }
    const json_t *it = json_object_get(j, "item_id"), *ch = json_object_get(j, "choice"),
                 *rk = json_object_get(j, "ranking"), *st = json_object_get(j, "strength"),
                 *fl = json_object_get(j, "flags"), *rw = json_object_get(j, "rewrite");
    if (!json_is_integer(it)) { rep = api_error(400, "field \"item_id\": expected an integer, got %s", json_type_name(it)); goto out; }
    if (!json_is_string(ch) || !in_list(json_string_value(ch), CHOICES, 6)) {
        rep = api_error(400, "field \"choice\": expected one of \"a\", \"b\", \"tie\", "
                             "\"both_bad\", \"rank\", \"skip\"");
        goto out;
    }
    const char *choice = json_string_value(ch);
    long item = (long)json_integer_value(it), ids[LABEL_MAX_K];
    int k = 0;
    Err e;
    int r = store_shown(c->store, annot, item, ids, &k, &e);
    if (r == ST_ERROR) { rep = server_error(&e); goto out; }
    if (r == ST_NOT_ASSIGNED) { rep = api_error(403, "item %ld is not assigned to you (GET /api/next first)", item); goto out; }
    int ordered = !strcmp(choice, "a") || !strcmp(choice, "b") || !strcmp(choice, "rank");
    if (k == 2 && !strcmp(choice, "rank")) { rep = api_error(400, "field \"choice\": \"rank\" is for items with more than 2 responses; use \"a\" or \"b\""); goto out; }
    if (k > 2 && (!strcmp(choice, "a") || !strcmp(choice, "b"))) { rep = api_error(400, "field \"choice\": item %ld has %d responses: use \"rank\" with a \"ranking\"", item, k); goto out; }
    if (rk && strcmp(choice, "rank")) { rep = api_error(400, "field \"ranking\": only with choice \"rank\""); goto out; }
    if (!rk && !strcmp(choice, "rank")) { rep = api_error(400, "missing field \"ranking\" (choice \"rank\")"); goto out; }
    int strength = 0;
    if (st && (!json_is_integer(st) || json_integer_value(st) < 1 || json_integer_value(st) > 2)) {
        rep = api_error(400, "field \"strength\": expected 1 (slightly) or 2 (clearly)");
        goto out;
    }
    if (st && !ordered) { rep = api_error(400, "field \"strength\": only with \"a\", \"b\" or \"rank\""); goto out; }
    if (ordered) strength = st ? (int)json_integer_value(st) : 1;
    if (fl && !json_is_array(fl)) { rep = api_error(400, "field \"flags\": expected a list, got %s", json_type_name(fl)); goto out; }
    flags = json_array();
    size_t i;
    json_array_foreach(fl, i, v) {
        if (!json_is_string(v) || !in_list(json_string_value(v), FLAGS, 3)) {
            rep = api_error(400, "field \"flags\"[%zu]: expected \"harmful\", \"wrong\" or "
                                 "\"ignores_instruction\"", i);
            goto out;
        }
        for (size_t q = 0; q < json_array_size(flags); q++)
            if (!strcmp(json_string_value(json_array_get(flags, q)), json_string_value(v))) {
                rep = api_error(400, "field \"flags\"[%zu]: \"%s\" appears twice", i, json_string_value(v));
                goto out;
            }
        json_array_append(flags, v);
    }
    if (rw && !json_is_string(rw)) { rep = api_error(400, "field \"rewrite\": expected a string, got %s", json_type_name(rw)); goto out; }
    if (rw && json_string_length(rw) > LABEL_MAX_REWRITE) { rep = api_error(400, "field \"rewrite\": longer than %d bytes", LABEL_MAX_REWRITE); goto out; }
    if (rw && strlen(json_string_value(rw)) != json_string_length(rw)) { rep = api_error(400, "field \"rewrite\": contains a NUL character"); goto out; }
    if (!strcmp(choice, "rank")) {
        rep = parse_ranking(rk, ids, k, &groups);
        if (rep.status) goto out;
    } else if (strcmp(choice, "skip")) {
        groups = json_array();
        if (ordered) {  // a / b: the shown first / second is better
            int w = !strcmp(choice, "a") ? 0 : 1;
            json_array_append_new(groups, json_pack("[I]", (json_int_t)ids[w]));
            json_array_append_new(groups, json_pack("[I]", (json_int_t)ids[1 - w]));
        } else {  // tie / both_bad: one group of every response
            json_t *g = json_array();
            for (int q = 0; q < k; q++) json_array_append_new(g, json_integer(ids[q]));
            json_array_append_new(groups, g);
        }
    }
    ranking_txt = groups ? json_dumps(groups, JSON_COMPACT) : NULL;
    flags_txt = json_dumps(flags, JSON_COMPACT);
    const char *rewrite = rw && json_string_length(rw) > 0 ? json_string_value(rw) : NULL;
    JudgementRow row = {choice, ranking_txt, strength, flags_txt, rewrite};
    long jid = 0;
    r = store_judge(c->store, annot, item, &row, &jid, &e);
    if (r == ST_ERROR) rep = server_error(&e);
    else if (r == ST_NOT_ASSIGNED) rep = api_error(403, "item %ld is not assigned to you", item);
    else if (r == ST_ALREADY_JUDGED) rep = api_error(409, "you already judged item %ld (POST /api/undo to change it)", item);
    else rep = (ApiReply){200, json_pack("{s:b, s:I}", "ok", 1, "judgement_id", (json_int_t)jid)};
out:
    free(ranking_txt);
    free(flags_txt);
    json_decref(groups);
    json_decref(flags);
    json_decref(j);
    return rep;
}

ApiReply api_handle(const ApiContext *c, long annot, const char *method, const char *path,
                    const char *body, size_t n) {
    static const char *GETS[] = {"/api/next", "/api/progress", "/api/project"};
    static const char *POSTS[] = {"/api/judgement", "/api/undo"};
    int is_get = in_list(path, GETS, 3), is_post = in_list(path, POSTS, 2);
    if (!is_get && !is_post) return api_error(404, "no such endpoint: %s", path);
    if (is_get && strcmp(method, "GET")) return api_error(405, "%s takes GET, not %s", path, method);
    if (is_post && strcmp(method, "POST")) return api_error(405, "%s takes POST, not %s", path, method);
    Err e;
    json_t *out = NULL;
    if (!strcmp(path, "/api/next")) {
        out = store_next(c->store, annot, c->overlap, &e);
    } else if (!strcmp(path, "/api/progress")) {
        out = store_progress(c->store, annot, c->overlap, &e);
    } else if (!strcmp(path, "/api/project")) {
        out = json_pack("{s:s, s:i}", "guidelines", c->guidelines ? c->guidelines : "", "overlap",
                        c->overlap);
    } else if (!strcmp(path, "/api/judgement")) {
        return post_judgement(c, annot, body, n);
    } else {  // /api/undo: the body, if any, is ignored
        long jid = 0, item = 0;
        int r = store_undo(c->store, annot, &jid, &item, &e);
        if (r == ST_NOTHING) return api_error(409, "nothing to undo");
        if (r == ST_OK)
            return (ApiReply){200, json_pack("{s:b, s:I, s:I}", "ok", 1, "undone", (json_int_t)jid,
                                             "item_id", (json_int_t)item)};
    }
    if (!out) return server_error(&e);
    return (ApiReply){200, out};
}
