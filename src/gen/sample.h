// gen/sample.h — batched sampling with a KV cache: temperature, top-k, top-p (partial selection,
// never a full sort of the vocabulary), stop at EOS, max new tokens. Each sample's randomness is
// its own stream (seed, sample id), so results do not depend on batch size or thread count.
#ifndef RLHF_GEN_SAMPLE_H
#define RLHF_GEN_SAMPLE_H

#include <stdint.h>

#include "model/gpt.h"

typedef struct {
    float temperature;  // 0 = greedy
    int top_k;          // 0 = off; applied first
    float top_p;        // 1 = off; nucleus of the (renormalised) top-k distribution
    int max_new;        // new tokens at most
    int eos_id;         // stop after emitting it (-1: never stop early)
    uint64_t seed;
    int batch;          // rows decoded together (0: all at once)
} SampleConfig;

typedef struct {
    int n;          // samples
    int *len;       // [n] generated tokens (EOS included when emitted)
    int **tokens;   // [n][len]
    float **logp;   // [n][len] log-probability of each sampled token under softmax(logits / T)
                    // (T = 1 when greedy), before top-k/top-p truncation
    int *ended;     // [n] 1 if the sample emitted EOS
} Samples;

// Picks the next token from logits[V] (modified in place: scaled by 1/T); u is a uniform draw in
// [0,1). Returns the token; *logp gets its log-probability under softmax(logits/T). Scratch:
// idx_scratch V ints, exp_scratch V doubles (each exp(logit − max) is computed once).
int sample_token(float *logits, int V, const SampleConfig *sc, double u, float *logp,
                 int *idx_scratch, double *exp_scratch);

// Samples continuations for n prompts (prompt i: plen[i] tokens). sample_id[i] keys the random
// stream of sample i (its global index, so batch layout never changes the sampled tokens; their
// log-probabilities agree to BLAS rounding). On failure *out is left empty (nothing to free).
int generate(GPT *m, int n, const int *const *prompt, const int *plen, const uint64_t *sample_id,
             const SampleConfig *sc, Samples *out, Err *e);
void samples_free(Samples *s);

#endif
