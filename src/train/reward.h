// train/reward.h — where the RL stages (ppo, grpo, bon) get a response's score: a reward-model
// folder (a GPT with a scalar head, frozen: no gradients, no optimizer state; its stored
// normalisation gain·(raw + bias) applied; read at the row's last token, the EOS) or an external
// command (train/reward_cmd.h) that answers {"score": x} for each {"prompt", "response"} line, so
// rewards can be written in any language. The reward model must use the policy's tokenizer.
#ifndef RLHF_TRAIN_REWARD_H
#define RLHF_TRAIN_REWARD_H

#include "data/dataset.h"
#include "model/gpt.h"
#include "tok/tokenizer.h"
#include "train/reward_cmd.h"
#include "train/rollout.h"
#include "util/common.h"

typedef struct {
    GPT *rm;                    // reward-model source (NULL for a command)
    double bias, gain;          // its normalisation
    RewardCmd *cmd;             // command source
    const Tokenizer *tok;       // the policy's tokenizer (decodes responses for the command)
    int batch;                  // rows per reward-model forward
    double tokens;              // tokens forwarded / responses sent so far (throughput figures)
} RewardSource;

// Exactly one of rm_dir / cmd is non-NULL. policy_tok: the tokenizer the rollouts use; a reward
// model with a different vocabulary is refused.
int reward_open(RewardSource *rs, const char *rm_dir, const char *cmd, double timeout_s,
                const Tokenizer *policy_tok, int batch, Err *e);
// score[b] for every rollout row: the normalised reward-model score, or the command's answer.
// The command receives the prompt's text (PromptExample.text), the response decoded without its
// final EOS, and the record's "answer" when it has one.
int reward_score(RewardSource *rs, const Rollout *r, const Dataset *prompts, double *score, Err *e);
// score[i] for the rows rows[0..n) only: one reward-model forward over them as one pack (so the
// same rows give the same bits however the batch is split), or one exchange with the command.
int reward_score_rows(RewardSource *rs, const Rollout *r, const int *rows, int n,
                      const Dataset *prompts, double *score, Err *e);
void reward_close(RewardSource *rs);

// Do two tokenizers map every id below vocab to the same text? (special tokens included)
int tok_same_vocab(const Tokenizer *a, const Tokenizer *b, int vocab);

#endif
