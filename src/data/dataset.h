// data/dataset.h — a JSONL file tokenised into memory for one stage: SFT examples (ids + loss
// mask), comparison examples (a prompt, K responses, their ranking and ordered pairs, margin —
// preferences are K = 2) or prompts (for sampling / PPO). Records that cannot fit max_len are
// counted and skipped (never silently: DataReport says how many); bad lines fail the load or,
// with skip_bad, are counted. A train/validation split by a deterministic hash of each record's
// line number (val_fraction) or a separate validation file; shuffling by (seed, epoch).
#ifndef RLHF_DATA_DATASET_H
#define RLHF_DATA_DATASET_H

#include <stdint.h>

#include "data/encode.h"

typedef enum { DATA_SFT = 1, DATA_CMP = 2, DATA_PROMPT = 3 } DataKind;

typedef struct {
    int *ids;             // [n] prompt then response
    unsigned char *mask;  // [n] 1 = trained token (assistant content + EOS)
    int n, n_prompt;
    long line;
} SftExample;

typedef struct {
    int *prompt;          // [n_prompt]
    int n_prompt;
    int k;                // responses
    int **resp;           // [k][n_resp[i]]
    int *n_resp;
    int n_rank;           // ranked responses, best first, with tie groups
    int *rank, *tie;
    int n_pairs;          // (better, worse) pairs, ties dropped
    int (*pairs)[2];
    int has_margin;
    float margin;
    long line;
} CmpExample;

typedef struct {
    int *ids;             // [n] the rendered prompt, ends with the assistant marker
    int n;
    char *answer;         // optional reference answer, else NULL
    char *text;           // the prompt as text (what a reward command receives): a single
                          // message's content, else the messages as a plain transcript
                          // ("\n\nUser: ...\n\nAssistant: ...", docs/ppo.md)
    long line;
} PromptExample;

typedef struct {
    DataKind kind;
    size_t n;
    SftExample *sft;      // kind DATA_SFT
    CmpExample *cmp;      // kind DATA_CMP
    PromptExample *prm;   // kind DATA_PROMPT
} Dataset;

typedef struct {
    DataKind kind;
    const Tokenizer *tok;
    int plain_template;   // force the plain-text chat form
    TruncOpts trunc;
    int skip_bad;
    int max_problems;     // messages kept in the report (skip_bad)
    double val_fraction;  // with val_path == NULL: records whose line hashes below it go to val
    uint64_t split_seed;
    const char *val_path; // a separate validation file (val_fraction ignored)
} DataOpts;

typedef struct {
    long shape[REC_SHAPE_COUNT];  // good records read, by shape
    long n_bad;                   // bad lines skipped (skip_bad)
    long n_truncated;             // records kept after cutting tokens
    long n_too_long;              // records that could not fit (skipped, counted)
    long n_train, n_val;
    char **problems;              // first max_problems messages of bad lines
    int n_problems;
} DataReport;

// Which record shapes a kind accepts (bit i = RecShape i).
unsigned data_kind_shapes(DataKind kind);
// Loads path (and val_path when given) into train / val (val may be NULL: everything in train).
int dataset_load(const char *path, const DataOpts *o, Dataset *train, Dataset *val,
                 DataReport *rep, Err *e);
void dataset_free(Dataset *ds);
void data_report_free(DataReport *rep);
// Does the record on this line go to validation? Deterministic in (seed, line).
int data_is_val(uint64_t seed, long line, double val_fraction);
// The visiting order of epoch `epoch`: a permutation of 0..n-1 by (seed, epoch).
void data_order(size_t n, uint64_t seed, int epoch, int *idx);

#endif
