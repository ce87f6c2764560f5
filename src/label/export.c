// label/export.c — owns turning judgements into training JSONL (rules in export.h), written
// atomically (util/fileio.h).
#include "label/export.h"

#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"

typedef struct {
    long id[LABEL_MAX_K];
    const char *text[LABEL_MAX_K];
    char *owned[LABEL_MAX_K];
    int k;
} ItemResponses;

static int load_responses(LabelStore *s, sqlite3_stmt *st, long item, ItemResponses *r, Err *e) {
    for (int i = 0; i < r->k; i++) free(r->owned[i]);
    r->k = 0;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, item);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && r->k < LABEL_MAX_K) {
        r->id[r->k] = (long)sqlite3_column_int64(st, 0);
        r->owned[r->k] = xstrdup(store_col_text(st, 1));
        r->text[r->k] = r->owned[r->k];
        r->k++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_db_err(s, "reading responses", e);
    return 0;
}

static int idx_of(const ItemResponses *r, long id) {
    for (int i = 0; i < r->k; i++)
        if (r->id[i] == id) return i;
    return -1;
}

// Writes o as one line; 0 lines for a NULL o (json_pack refuses text that is not UTF-8).
static void put_line(FILE *f, json_t *o) {
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (line) fprintf(f, "%s\n", line);
    else warnf("label export: a record with text that is not valid UTF-8 was left out");
    free(line);
    json_decref(o);
}

static void tag(json_t *o, long item, long jid, const char *who) {
    json_object_set_new(o, "item_id", json_integer(item));
    json_object_set_new(o, "judgement_id", json_integer(jid));
    json_object_set_new(o, "annotator", json_string(who));
}

int label_export(LabelStore *s, const ExportOptions *o, const char *out_path, ExportCounts *n,
                 Err *e) {
    memset(n, 0, sizeof *n);
    sqlite3_stmt *js = NULL, *rs = NULL;
    if (store_prepare(s, &js, "SELECT j.id, j.item_id, a.name, j.choice, j.ranking, j.strength, "
                              "j.rewrite, i.prompt FROM judgement j JOIN item i ON i.id = "
                              "j.item_id JOIN annotator a ON a.id = j.annotator_id WHERE "
                              "j.undone_at IS NULL ORDER BY j.id", e) ||
        store_prepare(s, &rs, "SELECT id, text FROM response WHERE item_id = ?1 ORDER BY idx", e)) {
        sqlite3_finalize(js);
        return -1;
    }
    AtomicFile af;
    if (atomic_open(&af, out_path, e)) { sqlite3_finalize(js); sqlite3_finalize(rs); return -1; }
    ItemResponses r = {0};
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(js)) == SQLITE_ROW) {
        long jid = (long)sqlite3_column_int64(js, 0), item = (long)sqlite3_column_int64(js, 1);
        const char *who = store_col_text(js, 2), *choice = store_col_text(js, 3);
        int strength = sqlite3_column_int(js, 5);
        const char *rewrite = (const char *)sqlite3_column_text(js, 6);
        const char *prompt = store_col_text(js, 7);
        n->judgements++;
        long before = n->records;
        if (o->format == EXPORT_SFT) {
            if (rewrite && *rewrite) {
                json_t *l = json_pack("{s:s, s:s}", "prompt", prompt, "completion", rewrite);
                tag(l, item, jid, who);
                put_line(af.fp, l);
                n->records++;
            }
        } else if (strcmp(choice, "skip")) {
            json_t *groups = json_loads(store_col_text(js, 4), 0, NULL);
            if (!json_is_array(groups) || load_responses(s, rs, item, &r, e)) {
                if (!json_is_array(groups)) rc = err_set(e, "%s: judgement %ld: bad ranking", s->path, jid);
                json_decref(groups);
                rc = -1;
                break;
            }
            int ordered = json_array_size(groups) >= 2;
            double margin = strength == 2 ? o->margin_clear : o->margin_slight;
            if (o->format == EXPORT_PAIRS && ordered) {
                for (size_t g = 0; g < json_array_size(groups); g++)
                    for (size_t h = g + 1; h < json_array_size(groups); h++)
                        for (size_t x = 0; x < json_array_size(json_array_get(groups, g)); x++)
                            for (size_t y = 0; y < json_array_size(json_array_get(groups, h)); y++) {
                                int bi = idx_of(&r, (long)json_integer_value(json_array_get(json_array_get(groups, g), x)));
                                int wi = idx_of(&r, (long)json_integer_value(json_array_get(json_array_get(groups, h), y)));
                                if (bi < 0 || wi < 0) continue;
                                json_t *l = json_pack("{s:s, s:s, s:s, s:f}", "prompt", prompt, "chosen",
                                                      r.text[bi], "rejected", r.text[wi], "margin", margin);
                                tag(l, item, jid, who);
                                put_line(af.fp, l);
                                n->records++;
                            }
            } else if (o->format == EXPORT_RANKINGS && (ordered || o->keep_ties)) {
                json_t *resp = json_array(), *rank = json_array();
                for (int i = 0; i < r.k; i++) json_array_append_new(resp, json_string(r.text[i]));
                for (size_t g = 0; g < json_array_size(groups); g++) {
                    json_t *grp = json_array_get(groups, g), *out = json_array();
                    for (size_t x = 0; x < json_array_size(grp); x++)
                        json_array_append_new(out, json_integer(idx_of(&r, (long)json_integer_value(json_array_get(grp, x)))));
                    if (json_array_size(out) == 1) {
                        json_array_append(rank, json_array_get(out, 0));
                        json_decref(out);
                    } else {
                        json_array_append_new(rank, out);
                    }
                }
                json_t *l = json_pack("{s:s, s:o, s:o}", "prompt", prompt, "responses", resp, "ranking", rank);
                if (ordered) json_object_set_new(l, "margin", json_real(margin));
                json_object_set_new(l, "choice", json_string(choice));
                tag(l, item, jid, who);
                put_line(af.fp, l);
                n->records++;
            }
            json_decref(groups);
        }
        if (n->records == before) n->skipped++;
    }
    for (int i = 0; i < r.k; i++) free(r.owned[i]);
    if (!rc && step != SQLITE_DONE) rc = store_db_err(s, "reading judgements", e);
    sqlite3_finalize(js);
    sqlite3_finalize(rs);
    if (rc) { atomic_abort(&af); return -1; }
    return atomic_commit(&af, e);
}
