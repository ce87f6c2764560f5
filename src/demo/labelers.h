// demo/labelers.h — simulated human labelers for the demo: each compares two responses through
// their gold scores with Bradley–Terry noise, P(a ≻ b) = σ((gold_a − gold_b) / bt_scale), and then
// flips the choice with probability `flip` (inattention). Several labelers with different noise
// give the inter-labeler agreement the demo reports (issue 6: 70–85 % on SFT sample pairs).
#ifndef RLHF_DEMO_LABELERS_H
#define RLHF_DEMO_LABELERS_H

#include <stdint.h>

typedef struct {
    int n_labelers;
    double *bt_scale;  // per labeler, > 0
    double *flip;      // per labeler, in [0, 0.5]
} Labelers;

// n labelers (n >= 1) with the default spread of noise: bt_scale from 0.04 to 0.10 and flip from
// 0.04 to 0.10, the careful ones first (labeler l of n is at fraction l/(n−1) of each range).
void labelers_default(Labelers *L, int n);
void labelers_free(Labelers *L);
// One comparison by labeler l, deterministic in (seed, item, l). Returns 1 if a is preferred.
int labeler_prefers(const Labelers *L, int l, double gold_a, double gold_b, uint64_t seed, uint64_t item);
// Fraction of (pair, labeler pair) where two labelers make the same choice; pair i is item i.
// 1.0 when there are fewer than two labelers or no pairs.
double labelers_agreement(const Labelers *L, int n_pairs, const double *gold_a, const double *gold_b,
                          uint64_t seed);

#endif
