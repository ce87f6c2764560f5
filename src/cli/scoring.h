// cli/scoring.h — what `rlhf logprobs` and `rlhf score` share: loading a model path (Hugging Face
// folder or llm.c .bin) with its tokenizer when it has one, and cutting a list of token records
// into packed ragged batches for gpt_forward.
#ifndef RLHF_CLI_SCORING_H
#define RLHF_CLI_SCORING_H

#include <stddef.h>

#include "data/records.h"
#include "model/gpt.h"
#include "tok/tokenizer.h"
#include "util/common.h"

typedef struct {
    GPT *m;
    Tokenizer tok;
    int has_tok;             // tok is valid (the folder has tokenizer files)
    char no_tok_why[320];    // when !has_tok
    int eos_id;              // tokenizer's, else config.json's eos_token_id, else -1
    long cfg_eos, cfg_pad;   // config.json's eos_token_id / pad_token_id (-1: absent or null)
} ScoringModel;

int scoring_load(const char *path, ScoringModel *s, Err *e);
void scoring_free(ScoringModel *s);

// A packed batch: records first..first+B-1 that have tokens (empty records are skipped),
// row b = record rec[b].
typedef struct {
    int B;
    size_t N;
    int *len;      // [B]
    size_t *off;   // [B] offset of row b in tokens
    size_t *rec;   // [B] record index
    int *tokens;   // [N]
} PackedBatch;

// Fills pb with the records from *next on, up to batch_tokens tokens (at least one record), and
// advances *next. Returns 0 when no records are left.
int scoring_next_batch(const TokRecords *rs, size_t *next, size_t batch_tokens, PackedBatch *pb);
void packed_batch_free(PackedBatch *pb);

#endif
