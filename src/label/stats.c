// label/stats.c — owns the project statistics (see stats.h): counts and times from SQL, the
// agreement labels of live judgements and the κ / α computations through label/agreement.h.
#include "label/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "label/agreement.h"
#include "util/json.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static json_t *median_mean(double *v, long n) {
    if (n == 0) return json_pack("{s:n, s:n}", "median", "mean");
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double sum = 0;
    for (long i = 0; i < n; i++) sum += v[i];
    double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return json_pack("{s:f, s:f}", "median", med, "mean", sum / (double)n);
}

static int intern(char ***names, int *n, const char *s) {
    for (int i = 0; i < *n; i++)
        if (!strcmp((*names)[i], s)) return i;
    *names = xrealloc(*names, (size_t)(*n + 1) * sizeof **names);
    (*names)[*n] = xstrdup(s);
    return (*n)++;
}

// The agreement label of a judgement: "rID" of the single best response, "tie" or "both_bad".
static void agreement_label(const char *choice, const char *ranking, char *out, size_t cap) {
    json_t *g = json_loads(ranking, 0, NULL);
    json_t *top = json_array_get(g, 0);
    if (!strcmp(choice, "both_bad")) snprintf(out, cap, "both_bad");
    else if (json_array_size(g) < 2 || json_array_size(top) != 1) snprintf(out, cap, "tie");
    else snprintf(out, cap, "r%lld", (long long)json_integer_value(json_array_get(top, 0)));
    json_decref(g);
}

static json_t *agreement(LabelStore *s, Err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "SELECT j.item_id, a.name, j.choice, j.ranking FROM judgement j JOIN "
                              "annotator a ON a.id = j.annotator_id WHERE j.undone_at IS NULL AND "
                              "j.choice != 'skip' AND (SELECT count(*) FROM judgement k WHERE "
                              "k.item_id = j.item_id AND k.undone_at IS NULL AND k.choice != 'skip') "
                              ">= 2 ORDER BY j.item_id, a.name", e))
        return NULL;
    char **raters = NULL, **cats = NULL;
    int nr = 0, nc = 0, nu = 0;
    long last_item = -1, n = 0, cap = 0;
    int *unit = NULL, *rater = NULL, *cat = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        long item = (long)sqlite3_column_int64(st, 0);
        if (item != last_item) { nu++; last_item = item; }
        char lab[64];
        agreement_label(store_col_text(st, 2), store_col_text(st, 3), lab, sizeof lab);
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            unit = xrealloc(unit, (size_t)cap * sizeof(int));
            rater = xrealloc(rater, (size_t)cap * sizeof(int));
            cat = xrealloc(cat, (size_t)cap * sizeof(int));
        }
        unit[n] = nu - 1;
        rater[n] = intern(&raters, &nr, store_col_text(st, 1));
        cat[n] = intern(&cats, &nc, lab);
        n++;
    }
    sqlite3_finalize(st);
    int *codes = xmalloc((size_t)(nu > 0 ? nu : 1) * (size_t)(nr > 0 ? nr : 1) * sizeof(int));
    for (long i = 0; i < (long)nu * nr; i++) codes[i] = -1;
    for (long i = 0; i < n; i++) codes[(size_t)unit[i] * (size_t)nr + (size_t)rater[i]] = cat[i];
    int ok;
    double alpha = agreement_alpha(codes, nu, nr, nc, &ok);
    json_t *out = json_pack("{s:i, s:i, s:o}", "items", nu, "labels", nc, "krippendorff_alpha",
                            ok ? json_real(alpha) : json_null());
    json_t *pairs = json_array();
    int *a = xmalloc((size_t)(nu > 0 ? nu : 1) * sizeof(int)), *b = xmalloc((size_t)(nu > 0 ? nu : 1) * sizeof(int));
    double wsum = 0, ksum = 0;
    for (int p = 0; p < nr; p++)
        for (int q = p + 1; q < nr; q++) {
            int m = 0;
            for (int u = 0; u < nu; u++) {
                int x = codes[(size_t)u * (size_t)nr + (size_t)p], y = codes[(size_t)u * (size_t)nr + (size_t)q];
                if (x >= 0 && y >= 0) { a[m] = x; b[m] = y; m++; }
            }
            if (m == 0) continue;
            double k = agreement_kappa(a, b, m, &ok);
            if (ok) { wsum += m; ksum += m * k; }
            json_array_append_new(pairs, json_pack("{s:s, s:s, s:i, s:o}", "a", raters[p], "b",
                                                   raters[q], "items", m, "kappa",
                                                   ok ? json_real(k) : json_null()));
        }
    json_object_set_new(out, "cohen_kappa_mean", wsum > 0 ? json_real(ksum / wsum) : json_null());
    json_object_set_new(out, "pairs", pairs);
    for (int i = 0; i < nr; i++) free(raters[i]);
    for (int i = 0; i < nc; i++) free(cats[i]);
    free(raters); free(cats); free(unit); free(rater); free(cat); free(codes); free(a); free(b);
    return out;
}

static long count(LabelStore *s, const char *sql, int overlap, int *err, Err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, &st, sql, e)) { *err = 1; return 0; }
    sqlite3_bind_int(st, 1, overlap);
    long v = sqlite3_step(st) == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return v;
}

json_t *label_stats(LabelStore *s, int overlap, Err *e) {
    int err = 0;
    json_t *o = json_object();
    json_object_set_new(o, "overlap", json_integer(overlap));
    json_object_set_new(o, "items_total", json_integer(count(s, "SELECT count(*) FROM item", 0, &err, e)));
    json_object_set_new(o, "items_complete", json_integer(count(s,
        "SELECT count(*) FROM item i WHERE (SELECT count(*) FROM judgement j WHERE j.item_id = i.id "
        "AND j.undone_at IS NULL AND j.choice != 'skip') >= ?1", overlap, &err, e)));
    json_object_set_new(o, "judgements", json_integer(count(s,
        "SELECT count(*) FROM judgement WHERE undone_at IS NULL", 0, &err, e)));
    json_object_set_new(o, "undone", json_integer(count(s,
        "SELECT count(*) FROM judgement WHERE undone_at IS NOT NULL", 0, &err, e)));
    json_t *by = json_object();
    static const char *CH[] = {"a", "b", "tie", "both_bad", "rank", "skip"};
    for (int i = 0; i < 6 && !err; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM judgement WHERE undone_at IS NULL AND choice = '%s'", CH[i]);
        json_object_set_new(by, CH[i], json_integer(count(s, sql, 0, &err, e)));
    }
    json_object_set_new(o, "by_choice", by);
    // per annotator, and seconds per item over everyone
    sqlite3_stmt *st;
    json_t *ann = json_array();
    json_object_set_new(o, "annotators", ann);
    if (err || store_prepare(s, &st, "SELECT id, name FROM annotator ORDER BY name", e)) { json_decref(o); return NULL; }
    sqlite3_stmt *ts;
    if (store_prepare(s, &ts, "SELECT elapsed_s, choice = 'skip' FROM judgement WHERE "
                              "undone_at IS NULL AND (?1 = 0 OR annotator_id = ?1)", e)) {
        sqlite3_finalize(st); json_decref(o); return NULL;
    }
    double *v = NULL;
    long cap = 0;
    for (int pass = 0;; pass++) {
        long id = 0;
        const char *name = NULL;
        if (pass > 0) {
            if (sqlite3_step(st) != SQLITE_ROW) break;
            id = (long)sqlite3_column_int64(st, 0);
            name = store_col_text(st, 1);
        }
        sqlite3_reset(ts);
        sqlite3_bind_int64(ts, 1, id);
        long n = 0, skips = 0;
        while (sqlite3_step(ts) == SQLITE_ROW) {
            if (n == cap) { cap = cap ? 2 * cap : 256; v = xrealloc(v, (size_t)cap * sizeof *v); }
            v[n++] = sqlite3_column_double(ts, 0);
            skips += sqlite3_column_int(ts, 1);
        }
        json_t *mm = median_mean(v, n);
        if (pass == 0) {
            json_object_set_new(o, "seconds_per_item", mm);
        } else {
            json_array_append_new(ann, json_pack("{s:s, s:I, s:I, s:o}", "name", name, "judgements",
                                                 (json_int_t)n, "skips", (json_int_t)skips,
                                                 "seconds_per_item", mm));
        }
    }
    free(v);
    sqlite3_finalize(st);
    sqlite3_finalize(ts);
    json_t *ag = agreement(s, e);
    if (!ag) { json_decref(o); return NULL; }
    json_object_set_new(o, "agreement", ag);
    return o;
}

static void put_num(FILE *f, const json_t *v, const char *fmt) {
    if (json_is_number(v)) fprintf(f, fmt, json_number_value(v));
    else fprintf(f, "n/a");
}

void label_stats_print(const json_t *st, FILE *f) {
    fprintf(f, "items: %lld of %lld done (each needs %lld non-skip judgements)\n",
            (long long)json_integer_value(json_object_get(st, "items_complete")),
            (long long)json_integer_value(json_object_get(st, "items_total")),
            (long long)json_integer_value(json_object_get(st, "overlap")));
    fprintf(f, "judgements: %lld (undone: %lld)", (long long)json_integer_value(json_object_get(st, "judgements")),
            (long long)json_integer_value(json_object_get(st, "undone")));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(st, "by_choice"), k, v) fprintf(f, "  %s %lld", k, (long long)json_integer_value(v));
    fprintf(f, "\nseconds per item: median ");
    put_num(f, json_object_get(json_object_get(st, "seconds_per_item"), "median"), "%.1f");
    fprintf(f, ", mean ");
    put_num(f, json_object_get(json_object_get(st, "seconds_per_item"), "mean"), "%.1f");
    fprintf(f, "\nannotators:\n");
    size_t i;
    json_array_foreach(json_object_get(st, "annotators"), i, v) {
        fprintf(f, "  %-20s %6lld judgements, %lld skips, median ", json_string_value(json_object_get(v, "name")),
                (long long)json_integer_value(json_object_get(v, "judgements")),
                (long long)json_integer_value(json_object_get(v, "skips")));
        put_num(f, json_object_get(json_object_get(v, "seconds_per_item"), "median"), "%.1f");
        fprintf(f, " s/item\n");
    }
    const json_t *ag = json_object_get(st, "agreement");
    fprintf(f, "agreement on %lld items judged by 2 or more: Krippendorff's alpha ",
            (long long)json_integer_value(json_object_get(ag, "items")));
    put_num(f, json_object_get(ag, "krippendorff_alpha"), "%.3f");
    fprintf(f, ", mean Cohen's kappa ");
    put_num(f, json_object_get(ag, "cohen_kappa_mean"), "%.3f");
    fprintf(f, "\n");
    json_array_foreach(json_object_get(ag, "pairs"), i, v) {
        fprintf(f, "  kappa %s / %s on %lld items: ", json_string_value(json_object_get(v, "a")),
                json_string_value(json_object_get(v, "b")), (long long)json_integer_value(json_object_get(v, "items")));
        put_num(f, json_object_get(v, "kappa"), "%.3f");
        fprintf(f, "\n");
    }
}
