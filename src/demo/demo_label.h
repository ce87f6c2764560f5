// demo/demo_label.h — the demo's human-feedback step, simulated: K samples of the SFT model per
// prompt, each judged by the hidden gold judge (demo/world.h), then compared in pairs by
// simulated labelers (demo/labelers.h) with their own noise, written as standard preference JSONL
// ({"prompt", "chosen", "rejected"}: the format the labelling app exports). The same samples of
// held-out prompts, ordered by the gold judge, measure the trained reward model's accuracy.
#ifndef RLHF_DEMO_DEMO_LABEL_H
#define RLHF_DEMO_DEMO_LABEL_H

#include <stdint.h>

#include "data/dataset.h"
#include "demo/labelers.h"
#include "tok/tokenizer.h"
#include "train/rollout.h"
#include "util/common.h"

typedef struct {
    int n_prompts, K;
    Tokenizer tok;
    Dataset ds;
    Rollout R;          // row i·K + k: sample k of prompt i
    char **text;        // [n·K] responses without EOS
    double *gold;       // [n·K] gold totals
} DemoSamples;

// K samples per prompt of the first n prompts of `prompts` (0: all) at temperature temp.
int demo_samples(const char *model, const char *prompts, int n, int K, float temp, int max_new,
                 uint64_t seed, DemoSamples *s, Err *e);
void demo_samples_free(DemoSamples *s);

// Gold totals closer than this are a tie: the labeler says "can't tell" and the pair is skipped
// (as a labelling app's tie button does).
#define DEMO_TIE 0.01
// Every pair of each prompt's K samples (identical texts and ties skipped), labeler = pair index
// mod n_labelers; writes the preferences atomically. contractors > 0: each prompt's pool also gets
// two answers written by (simulated) contractors in the bare answer form — one right, one wrong
// (world.h's demo_reply) — compared with each other and with the first SFT sample, as InstructGPT
// compared outputs of several sources; without them an RM of SFT samples learns form, not facts. *pairs = lines written; *agreement = the
// labelers' pairwise agreement on these pairs (labelers_agreement).
int demo_label_write(const DemoSamples *s, const Labelers *L, uint64_t seed, int contractors,
                     const char *path, long *pairs, double *agreement, Err *e);

// The reward model's accuracy on the pairs (0,1), (2,3), … of each prompt ordered by the gold
// judge (gold ties skipped);
// *n_pairs = pairs counted.
int demo_rm_gold_accuracy(const DemoSamples *s, const char *rm_dir, double *acc, long *n_pairs,
                          Err *e);

#endif
