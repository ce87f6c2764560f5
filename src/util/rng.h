// util/rng.h — deterministic random streams (xoshiro256**), seeded from a (seed, a, b) triple so
// that every consumer (init, data order, each sample) draws from its own stream, independent of
// thread count, batch position or process rank.
#ifndef RLHF_UTIL_RNG_H
#define RLHF_UTIL_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

// Stream for (seed, a, b): the triple is hashed with splitmix64 into the state; different triples
// give unrelated streams.
void rng_seed(Rng *r, uint64_t seed, uint64_t a, uint64_t b);
uint64_t rng_u64(Rng *r);
double rng_uniform(Rng *r);             // [0, 1), 53 random bits
float rng_normal(Rng *r);               // N(0, 1), Box–Muller in double
uint64_t rng_below(Rng *r, uint64_t n); // uniform integer in [0, n), unbiased; n > 0
// Fisher–Yates shuffle of idx[0..n).
void rng_shuffle(Rng *r, int *idx, int n);

#endif
