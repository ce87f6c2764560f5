// data/batch.h — ragged batches of a Dataset, ready for gpt_forward / gpt_lm_logprobs
// (model/gpt.h): row lengths, packed tokens and per-position targets (the next token where it is
// trained, −1 elsewhere). Global-batch aware: each step covers the next global_batch examples of
// the epoch's order, and this process takes its share through dist_shard.
//   SFT: one row per example; target[n] = ids[n+1] when mask[n+1] is 1, else −1.
//   comparisons: one row per response (prompt + response_i), rows of an example adjacent;
//     targets on the response tokens (the positions predicting them), −1 on the prompt. When
//     gpt_prompt_sharing() (model/gpt.h) and the prompt has ≥ 2 tokens, the example's prompt runs
//     once: response 0's row holds it whole; each later response's row holds only the prompt's
//     last token (whose logits predict the response's first token) and the response, and
//     continues response 0's row's first n_prompt − 1 positions (parent / prefix, for
//     gpt_forward_shared).
//   prompts: one row per prompt, every target −1.
#ifndef RLHF_DATA_BATCH_H
#define RLHF_DATA_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

typedef struct {
    int B;          // rows
    size_t N;       // tokens (sum of len)
    int *len;       // [B]
    int *tokens;    // [N] packed rows
    int *targets;   // [N]
    int *example;   // [B] dataset index of each row's example
    int *response;  // [B] response index within the example (comparisons), else 0
    int *parent;    // [B] the row whose first prefix[b] tokens this row continues, or −1
    int *prefix;    // [B] (0 when parent[b] is −1)
    int n_examples; // examples in this share
    size_t cap_rows, cap_tok;
} DataBatch;

typedef struct {
    const Dataset *ds;
    int *order;     // [ds->n]
    size_t global_batch;
    size_t pos;     // next position in order
} BatchIter;

// Order: shuffled by (seed, epoch) when shuffle, else file order.
void batch_iter_init(BatchIter *it, const Dataset *ds, size_t global_batch, uint64_t seed,
                     int epoch, int shuffle);
// Fills b with this process's share of the next global batch (the last one may be short).
// Returns 0 when the epoch is done.
int batch_iter_next(BatchIter *it, DataBatch *b);
// Appends example i of ds as rows of b (for callers building their own batches).
void data_batch_add(DataBatch *b, const Dataset *ds, int i);
void data_batch_clear(DataBatch *b);
void batch_iter_free(BatchIter *it);
void data_batch_free(DataBatch *b);

#endif
