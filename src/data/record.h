// data/record.h — one JSONL line of a training/evaluation file as a typed record, for every
// record shape of shared/reference/formats.md ("Data records"):
//   {"text"}                                   → REC_SHAPE_TEXT
//   {"prompt", "completion"}                   → REC_SHAPE_COMPLETION
//   {"messages": [{"role", "content"}...]}     → REC_SHAPE_MESSAGES (last message: assistant)
//   {"instruction", "input"?, "output"}        → REC_SHAPE_ALPACA
//   {"prompt"?, "chosen", "rejected"}          → REC_SHAPE_PREFERENCE (no prompt: implicit)
//   {"prompt", "responses", "ranking"}         → REC_SHAPE_RANKING
//   {"prompt", "answer"?}                      → REC_SHAPE_PROMPT
// Every record is normalised to a prompt conversation plus k responses (conversations that start
// with an assistant message): a string prompt is one user message, a string response one
// assistant message. Errors are "FILE:LINE: field \"x\": expected ..., got ...".
#ifndef RLHF_DATA_RECORD_H
#define RLHF_DATA_RECORD_H

#include <jansson.h>

#include "data/chat.h"
#include "util/common.h"

typedef enum {
    REC_SHAPE_TEXT = 0,
    REC_SHAPE_COMPLETION,
    REC_SHAPE_MESSAGES,
    REC_SHAPE_ALPACA,
    REC_SHAPE_PREFERENCE,
    REC_SHAPE_RANKING,
    REC_SHAPE_PROMPT,
    REC_SHAPE_COUNT
} RecShape;

const char *rec_shape_name(RecShape s);  // "text", "prompt/completion", ...

typedef struct {
    RecShape shape;
    long line;
    int implicit_prompt;  // preference without "prompt" (extracted from chosen/rejected)
    char *text;           // REC_SHAPE_TEXT (owned)
    size_t text_len;
    Convo prompt;         // every other shape
    Convo *resp;          // [k]: completion/alpaca/messages 1, preference 2 (chosen, rejected),
    int k;                //      ranking K, prompt 0
    int *rank;            // [n_rank] response indices, best first (preference: {0, 1})
    int *tie;             // [n_rank] tie group of each ranked position (non-decreasing)
    int n_rank;
    int (*pairs)[2];      // [n_pairs] (better, worse): every pair of ranked responses not tied
    int n_pairs;
    int has_margin;
    double margin;        // "margin", or score_chosen − score_rejected
    char *answer;         // REC_SHAPE_PROMPT: optional reference answer (owned), else NULL
} DataRecord;

// Parses one JSON value (the line's) into rec. ctx is "FILE:LINE" for messages.
int record_parse(const json_t *j, const char *ctx, DataRecord *rec, Err *e);
void record_free(DataRecord *rec);

// The type of a JSON value as the messages name it: "number", "string", "array", ...
const char *rec_json_type(const json_t *v);

// Implicit prompts (record_implicit.c). HH-RLHF transcripts: the prompt is the common prefix of
// chosen and rejected up to and including the last "\n\nAssistant:"; its turns ("\n\nHuman:" →
// user, "\n\nAssistant:" → assistant, text before the first marker → system) become *prompt and
// the rest of each (one leading space dropped) a single assistant message. Message lists: the
// common leading messages are the prompt, the rest the responses.
int record_implicit_strings(const char *c, size_t nc, const char *r, size_t nr, const char *ctx,
                            Convo *prompt, Convo *chosen, Convo *rejected, Err *e);
int record_implicit_messages(const Convo *c, const Convo *r, const char *ctx, Convo *prompt,
                             Convo *chosen, Convo *rejected, Err *e);
// The transcript's turns: text before the first marker (if not blank) → system, "\n\nHuman:" →
// user, "\n\nAssistant:" → assistant; one space after a marker is dropped.
void record_parse_transcript(const char *s, size_t n, Convo *out);

#endif
