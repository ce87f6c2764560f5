// train/run.h — a run folder runs/NAME/: config.json (every resolved hyperparameter),
// metrics.jsonl (one JSON object per line, flushed as written), checkpoints/step-N/, final/,
// and SVG plots of the metrics.
#ifndef RLHF_TRAIN_RUN_H
#define RLHF_TRAIN_RUN_H

#include <jansson.h>
#include <stdio.h>

#include "util/common.h"

typedef struct {
    char *dir;
    char *metrics_path;
    FILE *metrics;
} RunDir;

// Creates (or, resuming, reopens) the folder. Without resume, a folder that already holds a
// run (config.json) is refused, so a finished run is never overwritten by accident.
int run_open(RunDir *r, const char *dir, int resume, Err *e);
void run_close(RunDir *r);
int run_write_config(RunDir *r, const json_t *cfg, Err *e);
json_t *run_read_config(RunDir *r, Err *e);
// Keeps only metrics rows whose "step" ≤ max_step (resume), rewriting the file atomically, then
// opens it for appending.
int run_metrics_resume(RunDir *r, long max_step, Err *e);
// Keeps only the rows of a JSONL file whose "step" ≤ max_step (atomic rewrite; a missing file is
// fine): samples.jsonl and the like on resume.
int run_jsonl_keep_steps(const char *path, long max_step, Err *e);
// Appends a row (steals the reference).
void run_metric(RunDir *r, json_t *row);
// Path of checkpoints/step-N (new string).
char *run_checkpoint_path(const RunDir *r, long step);
// Path of checkpoints/step-N.WHAT: a folder that belongs to checkpoint N (PPO's critic), written
// BEFORE step-N so that a complete step-N implies it; pruned with it.
char *run_companion_path(const RunDir *r, long step, const char *what);
// Highest N with a complete checkpoints/step-N (trainer_state.json present); -1 if none.
long run_latest_checkpoint(const RunDir *r);
// Removes all but the newest `keep` checkpoints.
void run_prune_checkpoints(const RunDir *r, int keep);

#endif
