// label/store.c — owns the project file: opening it (WAL, foreign keys, synchronous=FULL, busy
// timeout), the schema, metadata, items, responses and annotators (see store.h). The API's
// operations are in store_api.c.
#include "label/store.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/fileio.h"

static const char *SCHEMA =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE item(id INTEGER PRIMARY KEY, prompt TEXT NOT NULL, src_line INTEGER);"
    "CREATE TABLE response(id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES item(id),"
    " idx INTEGER NOT NULL, text TEXT NOT NULL, provenance TEXT NOT NULL, UNIQUE(item_id, idx));"
    "CREATE TABLE annotator(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " token_sha256 TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, revoked_at REAL);"
    "CREATE TABLE assignment(annotator_id INTEGER NOT NULL REFERENCES annotator(id),"
    " item_id INTEGER NOT NULL REFERENCES item(id), display_order TEXT NOT NULL,"
    " shown_at REAL NOT NULL, PRIMARY KEY(annotator_id, item_id));"
    "CREATE INDEX assignment_item ON assignment(item_id);"
    "CREATE TABLE judgement(id INTEGER PRIMARY KEY, annotator_id INTEGER NOT NULL,"
    " item_id INTEGER NOT NULL,"
    " choice TEXT NOT NULL CHECK(choice IN ('a','b','tie','both_bad','rank','skip')),"
    " ranking TEXT, strength INTEGER NOT NULL CHECK(strength IN (0,1,2)), flags TEXT NOT NULL,"
    " rewrite TEXT, created_at REAL NOT NULL, elapsed_s REAL NOT NULL, undone_at REAL,"
    " FOREIGN KEY(annotator_id, item_id) REFERENCES assignment(annotator_id, item_id));"
    "CREATE UNIQUE INDEX judgement_live ON judgement(annotator_id, item_id) WHERE undone_at IS NULL;"
    "CREATE INDEX judgement_annotator ON judgement(annotator_id, id);";

double store_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int store_db_err(LabelStore *s, const char *what, Err *e) {
    return err_set(e, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

int store_prepare(LabelStore *s, sqlite3_stmt **st, const char *sql, Err *e) {
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return store_db_err(s, "SQL", e);
    }
    return 0;
}

const char *store_col_text(sqlite3_stmt *st, int col) {
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? (const char *)t : "";
}

int store_exec(LabelStore *s, const char *sql, Err *e) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(e, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int open_conn(LabelStore *s, const char *path, int flags, Err *e) {
    memset(s, 0, sizeof *s);
    s->path = xstrdup(path);
    pthread_mutex_init(&s->mu, NULL);
    if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        err_set(e, "%s: cannot open: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return -1;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 10000);
    // WAL: readers never block the writer; FULL: each COMMIT is fsynced before it returns
    if (store_exec(s, "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;", e)) goto fail;
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "PRAGMA journal_mode=WAL", e)) goto fail;
    int ok = sqlite3_step(st) == SQLITE_ROW && !strcmp(store_col_text(st, 0), "wal");
    sqlite3_finalize(st);
    if (!ok) { store_db_err(s, "cannot switch to WAL mode", e); goto fail; }
    return 0;
fail:
    store_close(s);
    return -1;
}

int store_create(LabelStore *s, const char *path, Err *e) {
    if (path_exists(path))
        return err_set(e, "%s already exists: a new project needs a new file", path);
    if (open_conn(s, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, e)) return -1;
    unsigned char b[8];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        err_set(e, "getrandom failed");
        store_close(s);
        return -1;
    }
    memcpy(&s->shuffle_seed, b, sizeof b);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->shuffle_seed);
    if (store_exec(s, "BEGIN", e) || store_exec(s, SCHEMA, e) ||
        store_set_meta(s, "format", "rlhf.c labelling project", e) ||
        store_set_meta(s, "schema_version", LABEL_SCHEMA_VERSION, e) ||
        store_set_meta(s, "shuffle_seed", seed, e) || store_exec(s, "COMMIT", e)) {
        store_close(s);
        return -1;
    }
    return 0;
}

int store_open(LabelStore *s, const char *path, Err *e) {
    if (!path_exists(path)) return err_set(e, "%s: no such file (create it with rlhf label init)", path);
    if (open_conn(s, path, SQLITE_OPEN_READWRITE, e)) return -1;
    char *fmt = store_get_meta(s, "format"), *ver = store_get_meta(s, "schema_version");
    char *seed = store_get_meta(s, "shuffle_seed");
    int rc = 0;
    if (!fmt || strcmp(fmt, "rlhf.c labelling project"))
        rc = err_set(e, "%s: not an rlhf.c labelling project (no meta \"format\")", path);
    else if (!ver || strcmp(ver, LABEL_SCHEMA_VERSION))
        rc = err_set(e, "%s: schema version %s, this build reads %s", path, ver ? ver : "?",
                     LABEL_SCHEMA_VERSION);
    else if (seed)
        s->shuffle_seed = strtoull(seed, NULL, 10);
    free(fmt); free(ver); free(seed);
    if (rc) store_close(s);
    return rc;
}

void store_close(LabelStore *s) {
    if (s->db) sqlite3_close(s->db);
    if (s->path) pthread_mutex_destroy(&s->mu);
    free(s->path);
    memset(s, 0, sizeof *s);
}

int store_set_meta(LabelStore *s, const char *key, const char *value, Err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", e)) return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_db_err(s, "writing meta", e);
    sqlite3_finalize(st);
    return rc;
}

char *store_get_meta(LabelStore *s, const char *key) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    char *v = sqlite3_step(st) == SQLITE_ROW ? xstrdup(store_col_text(st, 0)) : NULL;
    sqlite3_finalize(st);
    return v;
}

int store_add_item(LabelStore *s, const char *prompt, long src_line, long *item_id, Err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "INSERT INTO item(prompt, src_line) VALUES(?1, ?2)", e)) return -1;
    sqlite3_bind_text(st, 1, prompt, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, src_line);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_db_err(s, "adding an item", e);
    sqlite3_finalize(st);
    if (!rc) *item_id = (long)sqlite3_last_insert_rowid(s->db);
    return rc;
}

int store_add_response(LabelStore *s, long item_id, int idx, const char *text,
                       const char *provenance, Err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "INSERT INTO response(item_id, idx, text, provenance) "
                              "VALUES(?1, ?2, ?3, ?4)", e))
        return -1;
    sqlite3_bind_int64(st, 1, item_id);
    sqlite3_bind_int(st, 2, idx);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, provenance, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_db_err(s, "adding a response", e);
    sqlite3_finalize(st);
    return rc;
}

int store_annotator_add(LabelStore *s, const char *name, const char *token_hash, Err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "INSERT INTO annotator(name, token_sha256, created_at) "
                              "VALUES(?1, ?2, ?3)", e))
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, token_hash, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, store_now());
    int r = sqlite3_step(st), rc = 0;
    if (r == SQLITE_CONSTRAINT_UNIQUE)
        rc = err_set(e, "%s: an annotator named \"%s\" already exists", s->path, name);
    else if (r != SQLITE_DONE)
        rc = store_db_err(s, "adding an annotator", e);
    sqlite3_finalize(st);
    return rc;
}

int store_annotator_revoke(LabelStore *s, const char *name, Err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "UPDATE annotator SET revoked_at = ?2 WHERE name = ?1", e)) return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, store_now());
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_db_err(s, "revoking", e);
    if (!rc && sqlite3_changes(s->db) == 0)
        rc = err_set(e, "%s: no annotator named \"%s\"", s->path, name);
    sqlite3_finalize(st);
    return rc;
}

json_t *store_annotator_list(LabelStore *s, Err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, &st, "SELECT name, created_at, revoked_at IS NOT NULL, (SELECT count(*) "
                              "FROM judgement j WHERE j.annotator_id = a.id AND j.undone_at IS "
                              "NULL) FROM annotator a ORDER BY name", e))
        return NULL;
    json_t *arr = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(store_col_text(st, 0)));
        json_object_set_new(o, "created_at", json_real(sqlite3_column_double(st, 1)));
        json_object_set_new(o, "revoked", json_boolean(sqlite3_column_int(st, 2)));
        json_object_set_new(o, "judgements", json_integer(sqlite3_column_int64(st, 3)));
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) { json_decref(arr); store_db_err(s, "listing annotators", e); return NULL; }
    return arr;
}

int store_auth(LabelStore *s, const char *token_hash, long *id, Err *e) {
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = -1;
    if (!store_prepare(s, &st, "SELECT id FROM annotator WHERE token_sha256 = ?1 AND revoked_at "
                               "IS NULL", e)) {
        sqlite3_bind_text(st, 1, token_hash, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) { *id = (long)sqlite3_column_int64(st, 0); rc = 1; }
        else if (r == SQLITE_DONE) rc = 0;
        else store_db_err(s, "checking a token", e);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
