// util/json.h — helpers over jansson (Debian libjansson) for reading config files with precise
// errors ("FILE: field \"n_layer\": expected integer, got string") and writing them atomically.
#ifndef RLHF_UTIL_JSON_H
#define RLHF_UTIL_JSON_H

#include <jansson.h>

#include "util/common.h"

// Parses a whole JSON file; errors name the file, line and column.
json_t *json_read_file(const char *path, Err *e);
// Writes pretty-printed JSON (2-space indent, keys in insertion order, trailing newline)
// atomically.
int json_write_file(const char *path, const json_t *j, Err *e);
const char *json_type_name(const json_t *j);  // "string", "integer", "real", ...

// Typed field access. `ctx` names the source ("runs/x/config.json"). A missing key is an error
// unless a *_opt variant is used, which leaves *out untouched and returns 0.
int json_get_long(const json_t *obj, const char *key, long *out, const char *ctx, Err *e);
int json_get_double(const json_t *obj, const char *key, double *out, const char *ctx, Err *e);
int json_get_string(const json_t *obj, const char *key, const char **out, const char *ctx, Err *e);
int json_get_bool(const json_t *obj, const char *key, int *out, const char *ctx, Err *e);  // true / false → 1 / 0
int json_get_long_opt(const json_t *obj, const char *key, long *out, const char *ctx, Err *e);
int json_get_double_opt(const json_t *obj, const char *key, double *out, const char *ctx, Err *e);
int json_get_string_opt(const json_t *obj, const char *key, const char **out, const char *ctx,
                        Err *e);

// A string field that may be absent or null (*out = NULL then); wrong type is an error.
int json_get_string_or_null(const json_t *obj, const char *key, const char **out, const char *ctx,
                            Err *e);
// The number at key (integer or real), 0 when absent or not a number: for reading our own rows.
double json_number_at(const json_t *obj, const char *key);
// json_string(s), or json null for NULL.
json_t *json_string_or_null(const char *s);

#endif
