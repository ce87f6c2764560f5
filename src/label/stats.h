// label/stats.h — a project's progress and quality: items done (≥ overlap non-skip judgements),
// judgements by choice, per-annotator counts and seconds per item (shown → judged), and agreement
// on items judged by several annotators: Cohen's κ per annotator pair (and their item-weighted
// mean) and Krippendorff's α (nominal). An annotator's label for agreement is which response won
// (the single best, by response id), "tie" or "both_bad".
#ifndef RLHF_LABEL_STATS_H
#define RLHF_LABEL_STATS_H

#include <jansson.h>
#include <stdio.h>

#include "label/store.h"

json_t *label_stats(LabelStore *s, int overlap, Err *e);
// The stats object as readable lines on f.
void label_stats_print(const json_t *st, FILE *f);

#endif
