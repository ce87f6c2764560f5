// util/json.c — owns the jansson helpers: reading a JSON file with file:line:col errors, typed
// field getters with contextual messages, and atomic pretty-printed writing (see json.h).
#include "util/json.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"

json_t *json_read_file(const char *path, Err *e) {
    char *data;
    size_t n;
    if (read_file(path, &data, &n, e) != 0) return NULL;
    json_error_t je;
    json_t *j = json_loadb(data, n, 0, &je);
    free(data);
    if (!j) {
        err_set(e, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
        return NULL;
    }
    return j;
}

int json_write_file(const char *path, const json_t *j, Err *e) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s) return err_set(e, "%s: cannot serialise JSON", path);
    size_t n = strlen(s);
    char *buf = xmalloc(n + 2);
    memcpy(buf, s, n);
    buf[n] = '\n';
    buf[n + 1] = 0;
    free(s);
    int rc = atomic_write_file(path, buf, n + 1, e);
    free(buf);
    return rc;
}

const char *json_type_name(const json_t *j) {
    if (!j) return "nothing";
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

// Looks up key; returns 1 if found (*v set), 0 if absent (or null when opt), -1 on error.
static int lookup(const json_t *obj, const char *key, const json_t **v, int opt, const char *ctx,
                  Err *e) {
    if (!json_is_object(obj))
        return err_set(e, "%s: expected an object, got %s", ctx, json_type_name(obj));
    const json_t *x = json_object_get(obj, key);
    if (!x || (opt && json_is_null(x))) {
        if (opt) return 0;
        return err_set(e, "%s: missing field \"%s\"", ctx, key);
    }
    *v = x;
    return 1;
}

static int get_long(const json_t *obj, const char *key, long *out, int opt, const char *ctx,
                    Err *e) {
    const json_t *v = NULL;
    int r = lookup(obj, key, &v, opt, ctx, e);
    if (r <= 0) return r;
    if (!json_is_integer(v))
        return err_set(e, "%s: field \"%s\": expected integer, got %s", ctx, key,
                       json_type_name(v));
    json_int_t x = json_integer_value(v);
    if (x < LONG_MIN || x > LONG_MAX)
        return err_set(e, "%s: field \"%s\": integer %lld out of range", ctx, key, (long long)x);
    *out = (long)x;
    return 0;
}

static int get_double(const json_t *obj, const char *key, double *out, int opt, const char *ctx,
                      Err *e) {
    const json_t *v = NULL;
    int r = lookup(obj, key, &v, opt, ctx, e);
    if (r <= 0) return r;
    if (!json_is_number(v))
        return err_set(e, "%s: field \"%s\": expected number, got %s", ctx, key,
                       json_type_name(v));
    *out = json_number_value(v);
    return 0;
}

static int get_string(const json_t *obj, const char *key, const char **out, int opt,
                      const char *ctx, Err *e) {
    const json_t *v = NULL;
    int r = lookup(obj, key, &v, opt, ctx, e);
    if (r <= 0) return r;
    if (!json_is_string(v))
        return err_set(e, "%s: field \"%s\": expected string, got %s", ctx, key,
                       json_type_name(v));
    *out = json_string_value(v);
    return 0;
}

int json_get_long(const json_t *obj, const char *key, long *out, const char *ctx, Err *e) {
    return get_long(obj, key, out, 0, ctx, e);
}
int json_get_double(const json_t *obj, const char *key, double *out, const char *ctx, Err *e) {
    return get_double(obj, key, out, 0, ctx, e);
}
int json_get_string(const json_t *obj, const char *key, const char **out, const char *ctx,
                    Err *e) {
    return get_string(obj, key, out, 0, ctx, e);
}
int json_get_long_opt(const json_t *obj, const char *key, long *out, const char *ctx, Err *e) {
    return get_long(obj, key, out, 1, ctx, e);
}
int json_get_double_opt(const json_t *obj, const char *key, double *out, const char *ctx,
                        Err *e) {
    return get_double(obj, key, out, 1, ctx, e);
}
int json_get_string_opt(const json_t *obj, const char *key, const char **out, const char *ctx,
                        Err *e) {
    return get_string(obj, key, out, 1, ctx, e);
}

int json_get_string_or_null(const json_t *obj, const char *key, const char **out, const char *ctx,
                            Err *e) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) { *out = NULL; return 0; }
    return json_get_string(obj, key, out, ctx, e);
}

json_t *json_string_or_null(const char *s) { return s ? json_string(s) : json_null(); }

int json_get_bool(const json_t *obj, const char *key, int *out, const char *ctx, Err *e) {
    const json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v)) return err_set(e, "%s: \"%s\": expected true or false", ctx, key);
    *out = json_is_true(v);
    return 0;
}

double json_number_at(const json_t *obj, const char *key) { return json_number_value(json_object_get(obj, key)); }
