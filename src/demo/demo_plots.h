// demo/demo_plots.h — the demo's SVG plots: the reward–KL frontier (gold and reward-model score of
// each model or procedure against √KL to SFT, with sweeps drawn as lines) and PPO's curves over
// iterations (RM score and KL from its metrics, the gold score of its held-out samples).
#ifndef RLHF_DEMO_DEMO_PLOTS_H
#define RLHF_DEMO_DEMO_PLOTS_H

#include "util/common.h"

int demo_frontier_svg(const char *path, int n, const char *const *label, const int *series, const double *kl,
                      const double *gold, const double *rm, Err *e);
// Reads PPO_DIR/metrics.jsonl and samples.jsonl, writes the joined rows to OUT_JSONL and the plot to SVG.
int demo_ppo_curves(const char *ppo_dir, const char *out_jsonl, const char *svg, Err *e);

#endif
