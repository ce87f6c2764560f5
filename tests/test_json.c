// tests/test_json.c — json_read_file errors (file:line:col), typed getters with their exact
// messages, *_opt variants, json_write_file (2-space indent, insertion order, newline, atomic).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/check.h"
#include "util/fileio.h"
#include "util/json.h"

static char *make_tmpdir(void) {
    const char *base = getenv("RLHF_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/json.XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        exit(1);
    }
    return xstrdup(d);
}

static void write_text(const char *path, const char *s) {
    Err e;
    if (atomic_write_file(path, s, strlen(s), &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
}

int main(void) {
    char *dir = make_tmpdir();
    Err e;
    char *cfg = path_join(dir, "config.json");

    // reading a valid file and the typed getters
    write_text(cfg, "{\n  \"n_layer\": 12,\n  \"lr\": 0.5,\n  \"lr_int\": 3,\n"
                    "  \"name\": \"gpt2\",\n  \"flag\": true,\n  \"nothing\": null,\n"
                    "  \"arr\": [1, 2],\n  \"obj\": {}\n}\n");
    json_t *j = json_read_file(cfg, &e);
    CHECK(j != NULL, "json_read_file: %s", e.msg);
    if (!j) return check_summary("test_json");
    long l = 0;
    double d = 0;
    const char *s = NULL;
    CHECK(json_get_long(j, "n_layer", &l, "cfg", &e) == 0 && l == 12, "get_long");
    CHECK(json_get_double(j, "lr", &d, "cfg", &e) == 0 && d == 0.5, "get_double real");
    CHECK(json_get_double(j, "lr_int", &d, "cfg", &e) == 0 && d == 3.0,
          "get_double accepts an integer");
    CHECK(json_get_string(j, "name", &s, "cfg", &e) == 0 && strcmp(s, "gpt2") == 0,
          "get_string");

    // missing key
    CHECK(json_get_long(j, "n_head", &l, "runs/x/config.json", &e) == -1, "missing key fails");
    CHECK(strcmp(e.msg, "runs/x/config.json: missing field \"n_head\"") == 0, "msg: %s", e.msg);
    CHECK(json_get_double(j, "zz", &d, "C", &e) == -1 &&
              strcmp(e.msg, "C: missing field \"zz\"") == 0,
          "msg: %s", e.msg);
    CHECK(json_get_string(j, "zz", &s, "C", &e) == -1 &&
              strcmp(e.msg, "C: missing field \"zz\"") == 0,
          "msg: %s", e.msg);

    // wrong types
    CHECK(json_get_long(j, "name", &l, "runs/x/config.json", &e) == -1, "string as long fails");
    CHECK(strcmp(e.msg, "runs/x/config.json: field \"name\": expected integer, got string") == 0,
          "msg: %s", e.msg);
    CHECK(json_get_long(j, "lr", &l, "C", &e) == -1 &&
              strcmp(e.msg, "C: field \"lr\": expected integer, got real") == 0,
          "msg: %s", e.msg);
    CHECK(json_get_long(j, "flag", &l, "C", &e) == -1 &&
              strcmp(e.msg, "C: field \"flag\": expected integer, got boolean") == 0,
          "msg: %s", e.msg);
    CHECK(json_get_double(j, "name", &d, "C", &e) == -1 &&
              strcmp(e.msg, "C: field \"name\": expected number, got string") == 0,
          "msg: %s", e.msg);
    CHECK(json_get_string(j, "n_layer", &s, "C", &e) == -1 &&
              strcmp(e.msg, "C: field \"n_layer\": expected string, got integer") == 0,
          "msg: %s", e.msg);
    CHECK(json_get_string(j, "arr", &s, "C", &e) == -1 &&
              strcmp(e.msg, "C: field \"arr\": expected string, got array") == 0,
          "msg: %s", e.msg);
    CHECK(json_get_string(j, "obj", &s, "C", &e) == -1 &&
              strcmp(e.msg, "C: field \"obj\": expected string, got object") == 0,
          "msg: %s", e.msg);
    CHECK(json_get_long(j, "nothing", &l, "C", &e) == -1 &&
              strcmp(e.msg, "C: field \"nothing\": expected integer, got null") == 0,
          "msg: %s", e.msg);
    // not an object
    CHECK(json_get_long(json_object_get(j, "arr"), "x", &l, "C", &e) == -1 &&
              strcmp(e.msg, "C: expected an object, got array") == 0,
          "msg: %s", e.msg);

    // *_opt: absent (or null) leaves *out untouched and returns 0; wrong type still fails
    l = 77;
    d = 7.5;
    s = "keep";
    CHECK(json_get_long_opt(j, "absent", &l, "C", &e) == 0 && l == 77, "long_opt absent");
    CHECK(json_get_double_opt(j, "absent", &d, "C", &e) == 0 && d == 7.5, "double_opt absent");
    CHECK(json_get_string_opt(j, "absent", &s, "C", &e) == 0 && strcmp(s, "keep") == 0,
          "string_opt absent");
    CHECK(json_get_long_opt(j, "nothing", &l, "C", &e) == 0 && l == 77, "long_opt null");
    CHECK(json_get_long_opt(j, "n_layer", &l, "C", &e) == 0 && l == 12, "long_opt present");
    CHECK(json_get_double_opt(j, "lr", &d, "C", &e) == 0 && d == 0.5, "double_opt present");
    CHECK(json_get_string_opt(j, "name", &s, "C", &e) == 0 && strcmp(s, "gpt2") == 0,
          "string_opt present");
    CHECK(json_get_long_opt(j, "name", &l, "C", &e) == -1 &&
              strcmp(e.msg, "C: field \"name\": expected integer, got string") == 0,
          "opt wrong type msg: %s", e.msg);

    // type names
    CHECK(strcmp(json_type_name(json_object_get(j, "lr")), "real") == 0, "type name real");
    CHECK(strcmp(json_type_name(json_object_get(j, "n_layer")), "integer") == 0, "integer");
    CHECK(strcmp(json_type_name(json_object_get(j, "name")), "string") == 0, "string");
    json_decref(j);

    // invalid JSON: file:line:col
    write_text(cfg, "{\n  \"a\": 1,\n  \"b\": ,\n}\n");
    j = json_read_file(cfg, &e);
    CHECK(j == NULL, "invalid JSON must fail");
    char want[1100];
    snprintf(want, sizeof want, "%s:3:", cfg);
    CHECK(strncmp(e.msg, want, strlen(want)) == 0, "message starts with %s: %s", want, e.msg);
    CHECK(strstr(e.msg, "invalid JSON: ") != NULL, "message: %s", e.msg);
    json_decref(j);
    // empty file
    write_text(cfg, "");
    j = json_read_file(cfg, &e);
    CHECK(j == NULL && strstr(e.msg, cfg) && strstr(e.msg, "invalid JSON"), "empty: %s", e.msg);
    // missing file
    char *missing = path_join(dir, "nope.json");
    j = json_read_file(missing, &e);
    CHECK(j == NULL && strstr(e.msg, missing) && strstr(e.msg, "No such file"),
          "missing: %s", e.msg);
    free(missing);

    // writing: 2-space indent, insertion order, trailing newline, round trip
    json_t *o = json_object();
    json_object_set_new(o, "zeta", json_integer(1));
    json_object_set_new(o, "alpha", json_string("x"));
    json_t *arr = json_array();
    json_array_append_new(arr, json_real(0.25));
    json_object_set_new(o, "list", arr);
    char *out = path_join(dir, "out.json");
    CHECK(json_write_file(out, o, &e) == 0, "json_write_file: %s", e.msg);
    char *text;
    size_t n;
    CHECK(read_file(out, &text, &n, &e) == 0, "read back: %s", e.msg);
    const char *expect = "{\n  \"zeta\": 1,\n  \"alpha\": \"x\",\n  \"list\": [\n    0.25\n  ]\n}\n";
    CHECK(strcmp(text, expect) == 0, "written text:\n%s", text);
    free(text);
    json_t *back = json_read_file(out, &e);
    CHECK(back && json_equal(back, o), "round trip equal");
    json_decref(back);
    char *bad = path_join(dir, "no/dir/out.json");
    CHECK(json_write_file(bad, o, &e) == -1 && strstr(e.msg, bad), "write into missing dir: %s",
          e.msg);
    free(bad);
    json_decref(o);
    free(out);

    free(cfg);
    CHECK(remove_tree(dir, &e) == 0, "cleanup: %s", e.msg);
    free(dir);
    return check_summary("test_json");
}
