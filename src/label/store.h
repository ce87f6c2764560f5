// label/store.h — the labelling project's SQLite file: schema, items and their candidate
// responses with provenance, annotators (token hashes only), per-annotator assignments with the
// recorded display order, and judgements. WAL mode, foreign keys on, synchronous=FULL, one
// transaction per write: a judgement is acknowledged only after its COMMIT returned.
// One connection shared by the server's threads behind a mutex (every store_* call locks it).
#ifndef RLHF_LABEL_STORE_H
#define RLHF_LABEL_STORE_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "util/common.h"

#define LABEL_MAX_K 16          // candidate responses per item at most
#define LABEL_SCHEMA_VERSION "1"

typedef struct {
    sqlite3 *db;
    pthread_mutex_t mu;
    char *path;
    uint64_t shuffle_seed;  // meta "shuffle_seed": keys each (annotator, item) display order
} LabelStore;

// Status of the API's operations (store_judge, store_shown, store_undo).
enum { ST_OK = 0, ST_ERROR = -1, ST_NOT_ASSIGNED = 1, ST_ALREADY_JUDGED = 2, ST_NOTHING = 3 };

// A new project file (refuses an existing path) with the schema; an existing one (checks it is a
// labelling project of this schema version).
int store_create(LabelStore *s, const char *path, Err *e);
int store_open(LabelStore *s, const char *path, Err *e);
void store_close(LabelStore *s);
int store_exec(LabelStore *s, const char *sql, Err *e);  // e.g. "BEGIN", "COMMIT"

int store_set_meta(LabelStore *s, const char *key, const char *value, Err *e);
char *store_get_meta(LabelStore *s, const char *key);  // NULL when absent; free()
int store_add_item(LabelStore *s, const char *prompt, long src_line, long *item_id, Err *e);
// provenance: a JSON object as text (model, sampling settings, seed, sample id / source file).
int store_add_response(LabelStore *s, long item_id, int idx, const char *text,
                       const char *provenance, Err *e);

int store_annotator_add(LabelStore *s, const char *name, const char *token_hash, Err *e);
int store_annotator_revoke(LabelStore *s, const char *name, Err *e);
// [{"name", "created_at", "revoked": bool, "judgements"}] by name.
json_t *store_annotator_list(LabelStore *s, Err *e);
// 1: the hash belongs to a live annotator (*id set), 0: unknown or revoked, -1: error.
int store_auth(LabelStore *s, const char *token_hash, long *id, Err *e);

// The caller's open item (assigned, not judged: shown again, most recent first) or a new one:
// the lowest item the annotator never had whose assignments without a skip are < overlap; its
// responses shuffled (stream (shuffle_seed, annotator, item)) and the order recorded.
// {"item_id", "prompt", "responses": [{"id", "text"}]} or {"done": true}; NULL on error.
json_t *store_next(LabelStore *s, long annot, int overlap, Err *e);
// The display order of an item assigned to annot: ids[*k] (ST_NOT_ASSIGNED if not assigned).
int store_shown(LabelStore *s, long annot, long item, long ids[LABEL_MAX_K], int *k, Err *e);

typedef struct {
    const char *choice;        // a, b, tie, both_bad, rank, skip
    const char *ranking_json;  // [[id, ...], ...] tie groups best→worst, or NULL (skip)
    int strength;              // 1 slightly, 2 clearly, 0 none
    const char *flags_json;    // ["harmful", ...]
    const char *rewrite;       // or NULL
} JudgementRow;
// One transaction: ST_NOT_ASSIGNED, ST_ALREADY_JUDGED (a live judgement exists), or ST_OK with
// *jid once committed.
int store_judge(LabelStore *s, long annot, long item, const JudgementRow *j, long *jid, Err *e);
// Marks the caller's latest live judgement undone (the item is open again): ST_NOTHING if none.
int store_undo(LabelStore *s, long annot, long *jid, long *item, Err *e);
// {"done", "remaining", "items_total", "items_complete", "overlap"}; NULL on error.
json_t *store_progress(LabelStore *s, long annot, int overlap, Err *e);

// Shared by export and stats: prepare with a message naming the file.
int store_prepare(LabelStore *s, sqlite3_stmt **st, const char *sql, Err *e);
int store_db_err(LabelStore *s, const char *what, Err *e);
const char *store_col_text(sqlite3_stmt *st, int col);  // "" for NULL
double store_now(void);  // seconds since the epoch

#endif
