// label/candidates.h — fills a new project with items: prompts plus K candidate responses each,
// either sampled from a model (the existing generator, chat template, per-sample random streams)
// or imported from JSONL ({"prompt": "...", "responses": ["...", ...]} per line). Every response
// is stored with its provenance (model, sampling settings, seed, sample id — or file and line).
#ifndef RLHF_LABEL_CANDIDATES_H
#define RLHF_LABEL_CANDIDATES_H

#include "label/store.h"

typedef struct {
    const char *model;  // model folder
    int k;              // responses per prompt
    float temperature, top_p;
    int top_k, max_new, plain_template;
    long seed;
} CandidateSampling;

// Prompts: JSONL with a "prompt" string per line (other fields ignored). Returns items added.
long candidates_sample(LabelStore *s, const char *prompts_path, const CandidateSampling *cs, Err *e);
long candidates_import(LabelStore *s, const char *path, Err *e);

#endif
