// eval/plot.h — SVG line charts of a run's metrics.jsonl, one panel per metric, for people to
// look at (a browser opens them).
#ifndef RLHF_EVAL_PLOT_H
#define RLHF_EVAL_PLOT_H

#include "util/common.h"

// Plots each key's values against "step" (rows lacking the key are skipped) into one SVG file,
// written atomically. Keys with no data are left out.
int plot_metrics_svg(const char *metrics_path, const char *svg_path, const char *title,
                     const char *const *keys, int nkeys, Err *e);

#endif
