// data/records.h — JSONL records of token sequences for the scoring commands (`rlhf logprobs`,
// `rlhf score`): each line {"text": "..."}, {"ids": [...]} or {"prompt": "...", "response": "..."}
// becomes one token sequence. All records are read and checked before any is scored, so a bad
// line fails the command before it prints anything; errors name FILE:LINE: field "x".
//
// Text is encoded with the model's tokenizer: {"text"} → [EOS]? text [EOS]?, {"prompt",
// "response"} → the chat template's user turn + assistant turn + EOS when opts.chat is set, else
// [EOS]? prompt response [EOS]? (the two encoded separately and concatenated). The leading EOS (opts.bos) is the
// document start GPT-2 saw in training; the trailing one (opts.eos) is where a reward model reads
// its score. {"ids"} records are taken exactly as given.
// (Training data — SFT, preference, ranking and prompt records with the chat template — is read
// by data/reader.h and data/dataset.h instead.)
#ifndef RLHF_DATA_RECORDS_H
#define RLHF_DATA_RECORDS_H

#include <stddef.h>

#include "tok/tokenizer.h"
#include "util/common.h"

enum { REC_TEXT = 1, REC_IDS = 2, REC_PROMPT_RESPONSE = 4 };

typedef struct {
    unsigned shapes;    // accepted record shapes (REC_* bits)
    const Tokenizer *tok;  // NULL: the model has no tokenizer, only {"ids"} records are accepted
    const char *no_tok_why;  // with tok == NULL: why (named in the error of a text record)
    int vocab_size;     // every id must be < vocab_size
    int eos_id;         // for opts.bos / opts.eos
    int bos;            // prepend EOS to text records
    int eos;            // append EOS to text records
    int max_len;        // > 0: a longer record is an error, unless truncate
    int truncate;       // keep the first max_len tokens instead
    const char *long_hint;  // appended to the too-long error (e.g. "use --truncate"), may be NULL
    // non-NULL: {"prompt","response"} records are rendered with the chat template (prompt as a user
    // turn, response as the assistant turn ending in EOS; no leading EOS), exactly as the SFT and
    // reward-model stages render them; eos = 0 then drops the final EOS. NULL: plain concatenation.
    const struct ChatTemplate *chat;
} RecordOpts;

typedef struct {
    int *ids;      // [n]
    int n;
    long line;     // 1-based line of the file
    int truncated; // tokens dropped by opts.truncate
} TokRecord;

typedef struct {
    TokRecord *r;
    size_t n;
} TokRecords;

// Reads every record of a JSONL file (blank lines skipped). Fails on the first bad line.
int records_load(const char *path, const RecordOpts *opts, TokRecords *out, Err *e);
void records_free(TokRecords *rs);

#endif
