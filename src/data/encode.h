// data/encode.h — a record through the chat template into token ids + loss mask, truncated to
// max_len tokens per sequence (prompt + one response).
//
// Truncation rule (docs/chat-template.md): when prompt p + longest response r > max_len, the
// prompt is cut from the LEFT (its end, with the assistant marker, is kept) and the responses
// from the RIGHT (their start is kept):
//   floor  = min(p, max(marker_len, min_prompt))      min_prompt < 0 means max_len / 2
//   keep_p = min(max(floor, max_len - r), max_len - 1)
//   every response keeps its first max_len - keep_p tokens.
// A record that cannot keep the whole assistant marker and at least one response token
// (max_len <= marker_len) is "too long": never silently dropped, callers count and report it.
// Prompt-only records keep min(p, max_len - 1) tokens (room for one generated token).
#ifndef RLHF_DATA_ENCODE_H
#define RLHF_DATA_ENCODE_H

#include "data/chat.h"
#include "data/record.h"

typedef struct {
    int max_len;     // <= 0: no limit
    int min_prompt;  // < 0: max_len / 2
} TruncOpts;

enum { ENC_OK = 0, ENC_TRUNCATED = 1, ENC_TOO_LONG = 2 };

// The plan for a prompt of p tokens and a longest response of r: *keep_p prompt tokens (the last
// ones), *keep_r response tokens (the first ones) at most. Returns ENC_*.
int trunc_plan(const TruncOpts *o, int marker_len, int p, int r, int *keep_p, int *keep_r);

typedef struct {
    TokSeq prompt;   // the rendered prompt (empty for {"text"}); ends with the assistant marker
    TokSeq *resp;    // [k] rendered responses (text records: one, the text + EOS)
    int k;
    int prompt_len0; // lengths before truncation
    int resp_len0_max;
    int cut_prompt;  // tokens cut from the prompt's left
    int cut_resp;    // tokens cut from the responses' right (all responses)
} EncodedRecord;

// Renders and truncates; returns ENC_*. With ENC_TOO_LONG, out holds the untruncated rendering.
int record_encode(const ChatTemplate *ct, const DataRecord *rec, const TruncOpts *o,
                  EncodedRecord *out);
void encoded_free(EncodedRecord *x);

#endif
