// util/flags.c — owns command-line flag parsing from a per-subcommand table and the --help text
// (see flags.h).
#include "util/flags.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_cmd = "";

static noreturn void usage_error(const char *fmt, ...) RLHF_PRINTF(1, 2);

static noreturn void usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rlhf %s: ", g_cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(run 'rlhf %s --help' to list the flags)\n", g_cmd);
    fflush(stderr);
    exit(2);
}

static const char *metavar(const Flag *f) {
    switch (f->type) {
    case FLAG_INT:
    case FLAG_LONG: return "INT";
    case FLAG_FLOAT:
    case FLAG_DOUBLE: return "FLOAT";
    case FLAG_BOOL: return "";
    case FLAG_STRING: {
        static const char *path_words[] = {"path", "file", "folder", "dir", "out", "ckpt",
                                           "checkpoint", "model", "data", "init", "tokenizer"};
        for (size_t i = 0; i < sizeof path_words / sizeof *path_words; i++)
            if (strstr(f->name, path_words[i])) return "PATH";
        return "STR";
    }
    }
    return "";
}

static void default_text(const Flag *f, char *buf, size_t n) {
    if (f->required) {
        snprintf(buf, n, "(required)");
        return;
    }
    switch (f->type) {
    case FLAG_INT: snprintf(buf, n, "(default %d)", *(const int *)f->ptr); break;
    case FLAG_LONG: snprintf(buf, n, "(default %ld)", *(const long *)f->ptr); break;
    case FLAG_FLOAT: snprintf(buf, n, "(default %g)", (double)*(const float *)f->ptr); break;
    case FLAG_DOUBLE: snprintf(buf, n, "(default %g)", *(const double *)f->ptr); break;
    case FLAG_STRING: {
        const char *s = *(const char *const *)f->ptr;
        if (s) snprintf(buf, n, "(default %s)", s);
        else snprintf(buf, n, "(default (none))");
        break;
    }
    case FLAG_BOOL: snprintf(buf, n, "(default %s)", *(const int *)f->ptr ? "on" : "off"); break;
    }
}

static void left_column(const Flag *f, char *buf, size_t n) {
    const char *mv = metavar(f);
    if (f->short_name)
        snprintf(buf, n, "-%c, --%s%s%s", f->short_name, f->name, *mv ? " " : "", mv);
    else
        snprintf(buf, n, "--%s%s%s", f->name, *mv ? " " : "", mv);
}

void flags_print_help(const char *cmd, const char *usage, const char *description,
                      const Flag *flags, int nflags) {
    printf("usage: rlhf %s %s\n", cmd, usage && *usage ? usage : "[flags]");
    if (description && *description) printf("%s\n", description);
    if (nflags <= 0) return;
    printf("flags:\n");
    int width = 20;
    char left[256], def[512];
    for (int i = 0; i < nflags; i++) {
        left_column(&flags[i], left, sizeof left);
        int l = (int)strlen(left);
        if (l + 2 > width) width = l + 2;
    }
    for (int i = 0; i < nflags; i++) {
        left_column(&flags[i], left, sizeof left);
        default_text(&flags[i], def, sizeof def);
        const char *help = flags[i].help ? flags[i].help : "";
        printf("  %-*s%s%s%s\n", width, left, help, *help ? " " : "", def);
    }
}

int flag_seen(const Flag *flags, int nflags, const char *name) {
    for (int i = 0; i < nflags; i++)
        if (strcmp(flags[i].name, name) == 0) return flags[i].seen;
    return 0;
}

static Flag *find_long(Flag *flags, int nflags, const char *name, size_t len) {
    for (int i = 0; i < nflags; i++)
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
            return &flags[i];
    return NULL;
}

static Flag *find_short(Flag *flags, int nflags, char c) {
    for (int i = 0; i < nflags; i++)
        if (flags[i].short_name && flags[i].short_name == c) return &flags[i];
    return NULL;
}

static int parse_bool_text(const char *v, int *out) {
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) { *out = 1; return 0; }
        if (strcmp(v, no[i]) == 0) { *out = 0; return 0; }
    }
    return -1;
}

// Stores value v into f; `shown` is how the flag was written ("--lr" or "-n").
static void set_value(Flag *f, const char *shown, const char *v) {
    char *end;
    switch (f->type) {
    case FLAG_INT:
    case FLAG_LONG: {
        errno = 0;
        long x = strtol(v, &end, 10);
        if (end == v || *end != 0 || (*v == ' ' || *v == '\t'))
            usage_error("flag %s: expected an integer, got '%s'", shown, v);
        if (errno == ERANGE || (f->type == FLAG_INT && (x < INT_MIN || x > INT_MAX)))
            usage_error("flag %s: %s is out of range", shown, v);
        if (f->type == FLAG_INT) *(int *)f->ptr = (int)x;
        else *(long *)f->ptr = x;
        break;
    }
    case FLAG_FLOAT:
    case FLAG_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || *end != 0 || (*v == ' ' || *v == '\t'))
            usage_error("flag %s: expected a number, got '%s'", shown, v);
        int overflow = errno == ERANGE && fabs(x) > 1.0;
        if (!overflow && !isfinite(x))
            usage_error("flag %s: expected a finite number, got '%s'", shown, v);
        if (overflow || (f->type == FLAG_FLOAT && fabs(x) > FLT_MAX))
            usage_error("flag %s: %s is out of range", shown, v);
        if (f->type == FLAG_FLOAT) *(float *)f->ptr = (float)x;
        else *(double *)f->ptr = x;
        break;
    }
    case FLAG_STRING: *(const char **)f->ptr = v; break;
    case FLAG_BOOL: {
        int b;
        if (parse_bool_text(v, &b) != 0)
            usage_error("flag %s: expected true/false, got '%s'", shown, v);
        *(int *)f->ptr = b;
        break;
    }
    }
    f->seen = 1;
}

void flags_parse(const char *cmd, const char *usage, const char *description, Flag *flags,
                 int nflags, int argc, char **argv, const char **positional, int max_positional,
                 int *n_positional) {
    g_cmd = cmd ? cmd : "";
    for (int i = 0; i < nflags; i++) flags[i].seen = 0;
    // --help first, so that the defaults shown are the values before any flag is applied.
    // (A "-h" that is the value of a preceding flag, e.g. "--name -h", is not help.)
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) break;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            flags_print_help(g_cmd, usage, description, flags, nflags);
            fflush(stdout);
            exit(0);
        }
        if (a[0] == '-' && a[1] != 0 && !strchr(a, '=')) {  // skip the value of a valued flag
            const Flag *f = NULL;
            if (a[1] == '-') f = find_long(flags, nflags, a + 2, strlen(a + 2));
            else if (a[2] == 0) f = find_short(flags, nflags, a[1]);
            if (f && f->type != FLAG_BOOL) i++;
        }
    }
    int npos = 0;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (only_pos || a[0] != '-' || a[1] == 0) {  // positional ("-" alone counts as one)
            if (!positional) usage_error("unexpected argument '%s'", a);
            if (npos >= max_positional) {
                if (max_positional == 0) usage_error("unexpected argument '%s'", a);
                usage_error("too many arguments at '%s' (at most %d)", a, max_positional);
            }
            positional[npos++] = a;
            continue;
        }
        Flag *f = NULL;
        const char *inline_val = NULL;
        char shown[160];
        if (a[1] == '-') {  // --name, --name=value, --no-name
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (eq) inline_val = eq + 1;
            f = find_long(flags, nflags, name, len);
            snprintf(shown, sizeof shown, "--%.*s", (int)len, name);
            if (!f && len > 3 && strncmp(name, "no-", 3) == 0 && !eq) {
                Flag *g = find_long(flags, nflags, name + 3, len - 3);
                if (g && g->type == FLAG_BOOL) {
                    *(int *)g->ptr = 0;
                    g->seen = 1;
                    continue;
                }
            }
            if (!f) usage_error("unknown flag %s", shown);
        } else {  // -n, -n=value
            if (a[2] != 0 && a[2] != '=') usage_error("unknown flag %s", a);
            f = find_short(flags, nflags, a[1]);
            snprintf(shown, sizeof shown, "-%c", a[1]);
            if (!f) usage_error("unknown flag %s", shown);
            if (a[2] == '=') inline_val = a + 3;
        }
        if (f->type == FLAG_BOOL && !inline_val) {
            *(int *)f->ptr = 1;
            f->seen = 1;
            continue;
        }
        const char *v = inline_val;
        if (!v) {
            if (i + 1 >= argc) usage_error("flag %s: missing value", shown);
            v = argv[++i];
        }
        set_value(f, shown, v);
    }
    for (int i = 0; i < nflags; i++)
        if (flags[i].required && !flags[i].seen)
            usage_error("missing required flag --%s", flags[i].name);
    if (n_positional) *n_positional = npos;
}
