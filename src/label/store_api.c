// label/store_api.c — owns the store's operations behind the JSON API: the next item for an
// annotator (overlap, never the same item twice, recorded shuffled order), judgements in one
// transaction each, undo, progress (see store.h). Each call holds the store's mutex throughout.
#include <stdlib.h>
#include <string.h>

#include "label/store.h"
#include "util/rng.h"

// an item a can still be given: never assigned to a, fewer than overlap non-skipped assignments
#define AVAILABLE_WHERE                                                                          \
    "NOT EXISTS (SELECT 1 FROM assignment a WHERE a.item_id = i.id AND a.annotator_id = ?1) AND " \
    "(SELECT count(*) FROM assignment a WHERE a.item_id = i.id AND NOT EXISTS (SELECT 1 FROM "     \
    "judgement j WHERE j.annotator_id = a.annotator_id AND j.item_id = i.id AND j.undone_at IS "   \
    "NULL AND j.choice = 'skip')) < ?2"
#define OPEN_WHERE                                                                               \
    "a.annotator_id = ?1 AND NOT EXISTS (SELECT 1 FROM judgement j WHERE j.annotator_id = ?1 "    \
    "AND j.item_id = a.item_id AND j.undone_at IS NULL)"

static long query_long(LabelStore *s, const char *sql, long a, long b, int *err, Err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, &st, sql, e)) { *err = 1; return 0; }
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    long v = 0;
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) v = (long)sqlite3_column_int64(st, 0);
    else if (r != SQLITE_DONE) { store_db_err(s, "query", e); *err = 1; }
    else v = -1;  // no row
    sqlite3_finalize(st);
    return v;
}

static int parse_order(const char *txt, long ids[LABEL_MAX_K], int *k) {
    json_t *j = json_loads(txt, 0, NULL);
    *k = 0;
    if (!json_is_array(j) || json_array_size(j) > LABEL_MAX_K) { json_decref(j); return -1; }
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v) ids[(*k)++] = (long)json_integer_value(v);
    json_decref(j);
    return 0;
}

static json_t *item_json(LabelStore *s, long item, const long *ids, int k, Err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "SELECT prompt FROM item WHERE id = ?1", e)) return NULL;
    sqlite3_bind_int64(st, 1, item);
    if (sqlite3_step(st) != SQLITE_ROW) { sqlite3_finalize(st); store_db_err(s, "item", e); return NULL; }
    json_t *o = json_object();
    json_object_set_new(o, "item_id", json_integer(item));
    json_object_set_new(o, "prompt", json_string(store_col_text(st, 0)));
    sqlite3_finalize(st);
    json_t *rs = json_array();
    json_object_set_new(o, "responses", rs);
    if (store_prepare(s, &st, "SELECT text FROM response WHERE id = ?1", e)) { json_decref(o); return NULL; }
    for (int i = 0; i < k; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, ids[i]);
        if (sqlite3_step(st) != SQLITE_ROW) { sqlite3_finalize(st); json_decref(o); store_db_err(s, "response", e); return NULL; }
        json_t *r = json_object();
        json_object_set_new(r, "id", json_integer(ids[i]));
        json_object_set_new(r, "text", json_string(store_col_text(st, 0)));
        json_array_append_new(rs, r);
    }
    sqlite3_finalize(st);
    return o;
}

// Assigns a new item to annot inside the caller's transaction: *item = -1 when none is left.
static int assign_new(LabelStore *s, long annot, int overlap, long *item, long ids[LABEL_MAX_K],
                      int *k, Err *e) {
    int err = 0;
    *item = query_long(s, "SELECT i.id FROM item i WHERE " AVAILABLE_WHERE " ORDER BY i.id LIMIT 1",
                       annot, overlap, &err, e);
    if (err || *item < 0) return err ? -1 : 0;
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "SELECT id FROM response WHERE item_id = ?1 ORDER BY idx", e)) return -1;
    sqlite3_bind_int64(st, 1, *item);
    *k = 0;
    while (sqlite3_step(st) == SQLITE_ROW && *k < LABEL_MAX_K) ids[(*k)++] = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    int perm[LABEL_MAX_K];
    long orig[LABEL_MAX_K];
    for (int i = 0; i < *k; i++) { perm[i] = i; orig[i] = ids[i]; }
    Rng r;
    rng_seed(&r, s->shuffle_seed, (uint64_t)annot, (uint64_t)*item);
    rng_shuffle(&r, perm, *k);
    json_t *order = json_array();
    for (int i = 0; i < *k; i++) {
        ids[i] = orig[perm[i]];
        json_array_append_new(order, json_integer(ids[i]));
    }
    char *txt = json_dumps(order, JSON_COMPACT);
    json_decref(order);
    int rc = store_prepare(s, &st, "INSERT INTO assignment(annotator_id, item_id, display_order, "
                                   "shown_at) VALUES(?1, ?2, ?3, ?4)", e);
    if (!rc) {
        sqlite3_bind_int64(st, 1, annot);
        sqlite3_bind_int64(st, 2, *item);
        sqlite3_bind_text(st, 3, txt, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 4, store_now());
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_db_err(s, "recording an assignment", e);
        sqlite3_finalize(st);
    }
    free(txt);
    return rc;
}

json_t *store_next(LabelStore *s, long annot, int overlap, Err *e) {
    pthread_mutex_lock(&s->mu);
    json_t *out = NULL;
    long ids[LABEL_MAX_K], item = -1;
    int k = 0;
    if (store_exec(s, "BEGIN IMMEDIATE", e)) goto done;
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "SELECT a.item_id, a.display_order FROM assignment a WHERE "
                              OPEN_WHERE " ORDER BY a.shown_at DESC, a.item_id LIMIT 1", e))
        goto rollback;
    sqlite3_bind_int64(st, 1, annot);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        item = (long)sqlite3_column_int64(st, 0);
        if (parse_order(store_col_text(st, 1), ids, &k)) {
            sqlite3_finalize(st);
            err_set(e, "%s: assignment of item %ld has a bad display order", s->path, item);
            goto rollback;
        }
    }
    sqlite3_finalize(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE) { store_db_err(s, "open assignment", e); goto rollback; }
    if (item < 0 && assign_new(s, annot, overlap, &item, ids, &k, e)) goto rollback;
    if (store_exec(s, "COMMIT", e)) goto rollback;
    if (item < 0) {
        out = json_pack("{s:b}", "done", 1);
    } else {
        out = item_json(s, item, ids, k, e);
    }
    goto done;
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
done:
    pthread_mutex_unlock(&s->mu);
    return out;
}

static int shown_locked(LabelStore *s, long annot, long item, long ids[LABEL_MAX_K], int *k, Err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "SELECT display_order FROM assignment WHERE annotator_id = ?1 AND "
                              "item_id = ?2", e))
        return ST_ERROR;
    sqlite3_bind_int64(st, 1, annot);
    sqlite3_bind_int64(st, 2, item);
    int r = sqlite3_step(st), rc = ST_OK;
    if (r == SQLITE_DONE) rc = ST_NOT_ASSIGNED;
    else if (r != SQLITE_ROW) rc = store_db_err(s, "assignment", e);
    else if (parse_order(store_col_text(st, 0), ids, k))
        rc = err_set(e, "%s: assignment of item %ld has a bad display order", s->path, item);
    sqlite3_finalize(st);
    return rc;
}

int store_shown(LabelStore *s, long annot, long item, long ids[LABEL_MAX_K], int *k, Err *e) {
    pthread_mutex_lock(&s->mu);
    int rc = shown_locked(s, annot, item, ids, k, e);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int store_judge(LabelStore *s, long annot, long item, const JudgementRow *j, long *jid, Err *e) {
    pthread_mutex_lock(&s->mu);
    int rc = ST_ERROR, err = 0;
    if (store_exec(s, "BEGIN IMMEDIATE", e)) goto done;
    double shown = 0;
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "SELECT shown_at FROM assignment WHERE annotator_id = ?1 AND "
                              "item_id = ?2", e))
        goto rollback;
    sqlite3_bind_int64(st, 1, annot);
    sqlite3_bind_int64(st, 2, item);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) shown = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    if (r == SQLITE_DONE) { rc = ST_NOT_ASSIGNED; goto rollback; }
    if (r != SQLITE_ROW) { store_db_err(s, "assignment", e); goto rollback; }
    long live = query_long(s, "SELECT id FROM judgement WHERE annotator_id = ?1 AND item_id = ?2 "
                              "AND undone_at IS NULL", annot, item, &err, e);
    if (err) goto rollback;
    if (live >= 0) { rc = ST_ALREADY_JUDGED; goto rollback; }
    if (store_prepare(s, &st, "INSERT INTO judgement(annotator_id, item_id, choice, ranking, "
                              "strength, flags, rewrite, created_at, elapsed_s) VALUES(?1, ?2, ?3, "
                              "?4, ?5, ?6, ?7, ?8, ?9)", e))
        goto rollback;
    double now = store_now();
    sqlite3_bind_int64(st, 1, annot);
    sqlite3_bind_int64(st, 2, item);
    sqlite3_bind_text(st, 3, j->choice, -1, SQLITE_STATIC);
    if (j->ranking_json) sqlite3_bind_text(st, 4, j->ranking_json, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, j->strength);
    sqlite3_bind_text(st, 6, j->flags_json, -1, SQLITE_STATIC);
    if (j->rewrite) sqlite3_bind_text(st, 7, j->rewrite, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 8, now);
    sqlite3_bind_double(st, 9, now > shown ? now - shown : 0.0);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) { store_db_err(s, "recording a judgement", e); goto rollback; }
    *jid = (long)sqlite3_last_insert_rowid(s->db);
    if (store_exec(s, "COMMIT", e)) goto rollback;
    rc = ST_OK;
    goto done;
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
done:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int store_undo(LabelStore *s, long annot, long *jid, long *item, Err *e) {
    pthread_mutex_lock(&s->mu);
    int rc = ST_ERROR;
    if (store_exec(s, "BEGIN IMMEDIATE", e)) goto done;
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "SELECT id, item_id FROM judgement WHERE annotator_id = ?1 AND "
                              "undone_at IS NULL ORDER BY id DESC LIMIT 1", e))
        goto rollback;
    sqlite3_bind_int64(st, 1, annot);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *jid = (long)sqlite3_column_int64(st, 0);
        *item = (long)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (r == SQLITE_DONE) { rc = ST_NOTHING; goto rollback; }
    if (r != SQLITE_ROW) { store_db_err(s, "undo", e); goto rollback; }
    double now = store_now();
    // the item is open again and shown first (most recent shown_at)
    static const char *SQL[2] = {"UPDATE judgement SET undone_at = ?3 WHERE id = ?1",
                                 "UPDATE assignment SET shown_at = ?3 WHERE item_id = ?2 AND "
                                 "annotator_id = ?4"};
    for (int i = 0; i < 2; i++) {
        if (store_prepare(s, &st, SQL[i], e)) goto rollback;
        sqlite3_bind_int64(st, 1, *jid);
        sqlite3_bind_int64(st, 2, *item);
        sqlite3_bind_double(st, 3, now);
        sqlite3_bind_int64(st, 4, annot);
        r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_DONE) { store_db_err(s, "undo", e); goto rollback; }
    }
    if (store_exec(s, "COMMIT", e)) goto rollback;
    rc = ST_OK;
    goto done;
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
done:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

json_t *store_progress(LabelStore *s, long annot, int overlap, Err *e) {
    pthread_mutex_lock(&s->mu);
    int err = 0;
    long done = query_long(s, "SELECT count(*) FROM judgement WHERE annotator_id = ?1 AND "
                              "undone_at IS NULL", annot, 0, &err, e);
    long open = err ? 0 : query_long(s, "SELECT count(*) FROM assignment a WHERE " OPEN_WHERE,
                                     annot, 0, &err, e);
    long avail = err ? 0 : query_long(s, "SELECT count(*) FROM item i WHERE " AVAILABLE_WHERE,
                                      annot, overlap, &err, e);
    long total = err ? 0 : query_long(s, "SELECT count(*) FROM item",
                                      0, 0, &err, e);
    long complete = err ? 0 : query_long(
        s, "SELECT count(*) FROM item i WHERE (SELECT count(*) FROM judgement j "
           "WHERE j.item_id = i.id AND j.undone_at IS NULL AND j.choice != 'skip') >= ?2",
        0, overlap, &err, e);
    pthread_mutex_unlock(&s->mu);
    if (err) return NULL;
    return json_pack("{s:I, s:I, s:I, s:I, s:i}", "done", (json_int_t)done, "remaining",
                     (json_int_t)(open + avail), "items_total", (json_int_t)total,
                     "items_complete", (json_int_t)complete, "overlap", overlap);
}
