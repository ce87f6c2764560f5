// train/run.c — run folders (see run.h).
#include "train/run.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "util/fileio.h"
#include "util/json.h"

int run_open(RunDir *r, const char *dir, int resume, Err *e) {
    memset(r, 0, sizeof *r);
    char *cfg = path_join(dir, "config.json");
    int exists = path_exists(cfg);
    free(cfg);
    if (exists && !resume)
        return err_set(e, "%s already holds a run (config.json); use --resume to continue it or "
                          "choose another --out", dir);
    if (!exists && resume)
        return err_set(e, "%s: nothing to resume (no config.json)", dir);
    if (mkdir_p(dir, e)) return -1;
    char *ck = path_join(dir, "checkpoints");
    int rc = mkdir_p(ck, e);
    free(ck);
    if (rc) return -1;
    r->dir = xstrdup(dir);
    r->metrics_path = path_join(dir, "metrics.jsonl");
    if (!resume) {
        r->metrics = fopen(r->metrics_path, "w");
        if (!r->metrics) return err_set(e, "%s: cannot create", r->metrics_path);
    }
    return 0;
}

void run_close(RunDir *r) {
    if (r->metrics) fclose(r->metrics);
    free(r->dir);
    free(r->metrics_path);
    memset(r, 0, sizeof *r);
}

// Writing (config, metrics, pruning) is rank 0's alone; the other ranks' calls do nothing.
int run_write_config(RunDir *r, const json_t *cfg, Err *e) {
    if (!dist_is_root()) return 0;
    char *p = path_join(r->dir, "config.json");
    int rc = json_write_file(p, cfg, e);
    free(p);
    return rc;
}

json_t *run_read_config(RunDir *r, Err *e) {
    char *p = path_join(r->dir, "config.json");
    json_t *j = json_read_file(p, e);
    free(p);
    return j;
}

int run_jsonl_keep_steps(const char *path, long max_step, Err *e) {
    if (!dist_is_root()) return 0;
    FILE *in = fopen(path, "r");
    if (!in) return 0;
    AtomicFile af;
    if (atomic_open(&af, path, e)) { fclose(in); return -1; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        json_t *j = json_loadb(line, (size_t)n, 0, NULL);
        json_t *s = j ? json_object_get(j, "step") : NULL;
        if (s && json_is_integer(s) && json_integer_value(s) <= max_step) fputs(line, af.fp);
        json_decref(j);
    }
    free(line);
    fclose(in);
    return atomic_commit(&af, e);
}

int run_metrics_resume(RunDir *r, long max_step, Err *e) {
    if (!dist_is_root()) return 0;
    if (run_jsonl_keep_steps(r->metrics_path, max_step, e)) return -1;
    r->metrics = fopen(r->metrics_path, "a");
    if (!r->metrics) return err_set(e, "%s: cannot open for appending", r->metrics_path);
    return 0;
}

void run_metric(RunDir *r, json_t *row) {
    if (r->metrics) {
        char *s = json_dumps(row, JSON_COMPACT | JSON_REAL_PRECISION(7));
        if (s) {
            fputs(s, r->metrics);
            fputc('\n', r->metrics);
            fflush(r->metrics);
            free(s);
        }
    }
    json_decref(row);
}

char *run_checkpoint_path(const RunDir *r, long step) {
    char name[64];
    snprintf(name, sizeof name, "checkpoints/step-%ld", step);
    return path_join(r->dir, name);
}

char *run_companion_path(const RunDir *r, long step, const char *what) {
    char name[96];
    snprintf(name, sizeof name, "checkpoints/step-%ld.%s", step, what);
    return path_join(r->dir, name);
}

// Lists the step numbers of complete checkpoints, ascending.
static int list_checkpoints(const RunDir *r, long **steps) {
    char *ck = path_join(r->dir, "checkpoints");
    DIR *d = opendir(ck);
    int n = 0, cap = 0;
    *steps = NULL;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            long s;
            char tail;
            if (sscanf(de->d_name, "step-%ld%c", &s, &tail) != 1) continue;
            char *dir = run_checkpoint_path(r, s);
            char *st = path_join(dir, "trainer_state.json");
            if (path_exists(st)) {
                if (n == cap) { cap = cap * 2 + 8; *steps = xrealloc(*steps, (size_t)cap * sizeof(long)); }
                (*steps)[n++] = s;
            }
            free(st);
            free(dir);
        }
        closedir(d);
    }
    free(ck);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && (*steps)[j - 1] > (*steps)[j]; j--) {
            long t = (*steps)[j]; (*steps)[j] = (*steps)[j - 1]; (*steps)[j - 1] = t;
        }
    return n;
}

long run_latest_checkpoint(const RunDir *r) {
    long *steps;
    int n = list_checkpoints(r, &steps);
    long best = n ? steps[n - 1] : -1;
    free(steps);
    return best;
}

void run_prune_checkpoints(const RunDir *r, int keep) {
    if (!dist_is_root()) return;
    long *steps;
    int n = list_checkpoints(r, &steps);
    for (int i = 0; i + keep < n; i++) {
        char *p = run_checkpoint_path(r, steps[i]);
        Err e;
        if (remove_tree(p, &e)) warnf("%s", e.msg);
        char *q = run_companion_path(r, steps[i], "critic");  // PPO's critic, if any
        if (path_exists(q) && remove_tree(q, &e)) warnf("%s", e.msg);
        free(q);
        free(p);
    }
    free(steps);
}
