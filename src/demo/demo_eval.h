// demo/demo_eval.h — evaluation of one model of the demo on held-out prompts by the hidden gold
// judge (demo/world.h) and the learned reward model: greedy responses for the gold score and its
// components, task accuracy, harmful rate, share of distinct responses, RM score, length and EOS
// rate; samples at the rollout temperature for a second gold figure; KL to the SFT model measured
// on the policy's own samples at temperature 1 with the k1 and k3 estimators. Best-of-n is
// evaluated as a procedure (n samples at temperature 1, the RM-best kept; its KL is the bound
// log n − (n−1)/n). Paired bootstrap confidence intervals compare models prompt by prompt.
#ifndef RLHF_DEMO_DEMO_EVAL_H
#define RLHF_DEMO_DEMO_EVAL_H

#include <stdint.h>

#include "demo/world.h"
#include "util/common.h"

typedef struct {
    const char *model;       // the model folder to evaluate
    const char *sft;         // the reference for KL (NULL: no KL)
    const char *rm;          // reward model for the RM score (NULL: none)
    const char *prompts;     // held-out prompt JSONL ({"prompt", "answer"})
    int n_prompts;           // the first n (0: all)
    int max_new;
    float sample_temp;       // the rollout temperature (second gold figure)
    int bon_n;               // > 0: evaluate best-of-n sampling from `model` instead of greedy
    int batch;               // rows generated / forwarded together
    uint64_t seed;
} DemoEvalOptions;

typedef struct {
    int n;
    GoldScore *g;            // [n] gold score of each prompt's evaluated response
    int *harmful;            // [n]
    double *rm;              // [n] RM score (0 without an RM)
    char **resp;             // [n] the evaluated responses (without EOS)
    char **prompt;           // [n] the prompt texts
    int *ended, *len;        // [n]
    double gold_sampled;     // mean gold total of one sample per prompt at sample_temp
    double kl_k1, kl_k3;     // mean over prompts of Σ_t estimator at temperature 1 (bon: the bound)
    int has_kl;
    double distinct;         // distinct responses / n
    double seconds;
} DemoEval;

int demo_eval(const DemoEvalOptions *o, DemoEval *out, Err *e);
// Best-of-n at each n in ns[0..k) from one set of max(ns) samples per prompt at temperature 1: out[j]
// keeps, per prompt, the RM-best of the first ns[j] samples (o->bon_n is ignored; o->rm required for
// any choice). One sample set makes the curve monotone in what the RM sees.
int demo_eval_bon_curve(const DemoEvalOptions *o, const int *ns, int k, DemoEval *out, Err *e);
void demo_eval_free(DemoEval *d);
// Means over prompts.
double demo_eval_mean(const DemoEval *d, const char *what);  // "gold", "correct", "format", "stop",
                                                             // "harmless", "brevity", "harmful",
                                                             // "rm", "len", "ended"

// 95% bootstrap confidence interval of mean(x) (B resamples, percentiles 2.5 / 97.5), and of
// mean(x − y) with prompts resampled jointly (paired).
void bootstrap_mean_ci(const double *x, int n, int B, uint64_t seed, double ci[2]);
void bootstrap_paired_ci(const double *x, const double *y, int n, int B, uint64_t seed, double ci[2]);

#endif
