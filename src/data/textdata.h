// data/textdata.h — plain-text corpora for pretraining: a .txt file (one document) or a .jsonl
// file of {"text": "..."} records, tokenised into one stream with EOS after every document, or an
// llm.c token shard (.bin, magic 20240520: ids taken as they are); then split into a training
// part and a held-out validation tail.
#ifndef RLHF_DATA_TEXTDATA_H
#define RLHF_DATA_TEXTDATA_H

#include <stddef.h>

#include "tok/tokenizer.h"
#include "util/common.h"

typedef struct {
    int *tokens;
    size_t n;
    size_t n_docs;
} TokenStream;

// Reads FILE (.jsonl: one {"text": string} per line, blank lines skipped; .bin or a file starting
// with the shard magic: an llm.c token shard, every id below tok's vocabulary; anything else: raw
// text as one document). Errors name the file, line and field.
int textdata_load(const char *path, const Tokenizer *tok, TokenStream *out, Err *e);
// Splits off the last `val_fraction` of the stream (at least min_val tokens when val_fraction > 0)
// into val; train keeps the rest. Both are views into s (no copies).
void textdata_split(const TokenStream *s, double val_fraction, size_t min_val, TokenStream *train,
                    TokenStream *val);
void textdata_free(TokenStream *s);

#endif
