// data/reader.c — the streaming JSONL record reader (see reader.h).
#include "data/reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int data_reader_open(DataReader *r, const char *path, int skip_bad, int max_problems, Err *e) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->skip_bad = skip_bad;
    r->max_problems = max_problems;
    r->fp = fopen(path, "rb");
    if (!r->fp) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    return 0;
}

static int parse_line(DataReader *r, size_t k, DataRecord *rec, Err *e) {
    char ctx[512];
    snprintf(ctx, sizeof ctx, "%s:%ld", r->path, r->line);
    json_error_t je;
    json_t *j = json_loadb(r->buf, k, JSON_DECODE_ANY, &je);
    if (!j) return err_set(e, "%s: invalid JSON: %s (column %d)", ctx, je.text, je.column);
    int rc = record_parse(j, ctx, rec, e);
    json_decref(j);
    rec->line = r->line;
    return rc;
}

int data_reader_next(DataReader *r, DataRecord *rec, Err *e) {
    ssize_t got;
    while ((got = getline(&r->buf, &r->cap, r->fp)) >= 0) {
        r->line++;
        size_t k = (size_t)got;
        while (k > 0 && (r->buf[k - 1] == '\n' || r->buf[k - 1] == '\r' || r->buf[k - 1] == ' ' ||
                         r->buf[k - 1] == '\t'))
            k--;
        if (k == 0) continue;
        if (parse_line(r, k, rec, e) == 0) {
            r->n_records++;
            return 1;
        }
        if (!r->skip_bad) return -1;
        r->n_bad++;
        if (r->n_problems < r->max_problems) {
            r->problems = xrealloc(r->problems, (size_t)(r->n_problems + 1) * sizeof(char *));
            r->problems[r->n_problems++] = xstrdup(e->msg);
        }
    }
    if (ferror(r->fp)) return err_set(e, "%s: read error: %s", r->path, strerror(errno));
    return 0;
}

void data_reader_close(DataReader *r) {
    if (r->fp) fclose(r->fp);
    free(r->buf);
    for (int i = 0; i < r->n_problems; i++) free(r->problems[i]);
    free(r->problems);
    memset(r, 0, sizeof *r);
}
