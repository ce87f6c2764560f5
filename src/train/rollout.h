// train/rollout.h — one batch of on-policy experience for the RL stages (PPO, GRPO, RLOO,
// REINFORCE++, best-of-n): B responses sampled by the policy with the KV-cache sampler, stored
// as prompt + response token rows, and the packing that turns any subset of those rows into a
// ragged batch for gpt_forward with per-response-token outputs gathered back.
//
// Indexing: response token t of rollout b is "rollout token" roff[b] + t (N = Σ rlen). Its
// logprob and its value both come from the hidden state at row position plen[b] − 1 + t (the one
// that predicts it); a reward model reads the row's LAST position (the EOS when it has one).
// Response b of a group run belongs to prompt prompt[b]; rows of one prompt are adjacent.
#ifndef RLHF_TRAIN_ROLLOUT_H
#define RLHF_TRAIN_ROLLOUT_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "gen/sample.h"
#include "model/gpt.h"
#include "util/common.h"

typedef struct {
    int B;
    int *prompt;          // [B] dataset index of the prompt
    int *plen, *rlen;     // [B] prompt / response tokens (rlen ≥ 1)
    int *ended;           // [B] the response ends with EOS
    int **ids;            // [B][plen + rlen] prompt then response
    size_t N;             // Σ rlen
    size_t *roff;         // [B] first rollout token of row b
    float *sampler_logp;  // [N] the sampler's own logprob of each response token (diagnostic)
} Rollout;

// Loads a prompt file (any record with a prompt, data/dataset.h) rendered with the chat template
// and cut from the left to max_prompt tokens (room for the response). No validation split.
int rollout_load_prompts(const char *path, const Tokenizer *tok, int max_prompt, int plain_template,
                         Dataset *ds, Err *e);

// Samples G responses for each of the n_prompts prompts ds->prm[prompt_idx[i]] with the policy:
// rollout i·G + k is sample k of prompt i, its random stream keyed by
// (sc->seed, gidx[i]·G + k) where gidx[i] is the prompt's global index in the run — so the
// responses do not depend on how the batch is split. Generation stops after the first EOS.
int rollout_generate(GPT *policy, const Dataset *ds, const int *prompt_idx, const uint64_t *gidx,
                     int n_prompts, int G, const SampleConfig *sc, Rollout *r, Err *e);
void rollout_free(Rollout *r);
// Data parallelism (train/rollout_gather.c): replaces each rank's rows by all ranks' rows in
// rank order, on every rank (collective; a no-op on one process).
void rollout_allgather(Rollout *r);

// A packed subset of rollout rows ready for gpt_forward_tail(m, B, len, tokens, parent,
// prefix, tail). targets[p] is the response token predicted at packed position p (−1 elsewhere); idx[k]
// is the rollout token of the k-th response token of the pack (rows in the given order) and
// pos[k] its packed position. Rows whose prompt an earlier row of the pack holds (a group's
// samples) share it when gpt_prompt_sharing(): such a row packs only its prompt's last token and
// its response (len = rlen + 1) and continues that row's first plen − 1 positions. tail[b]: the
// positions from the prompt's last token on (rlen + 1), the only ones any head reads.
typedef struct {
    int B;
    size_t N, n_resp;
    int *rows;            // [B] rollout rows
    int *len;             // [B] plen + rlen
    int *rlen;            // [B]
    int *parent, *prefix; // [B] shared prompts: the earlier pack row and its positions, or −1 / 0
    int *tail;            // [B] rlen + 1
    int *tokens, *targets;  // [N]
    size_t *idx, *pos;    // [n_resp]
    size_t cap_B, cap_N, cap_r;
} RolloutPack;

void rollout_pack(const Rollout *r, const int *rows, int n, RolloutPack *p);  // reuses p's memory
void rollout_pack_free(RolloutPack *p);

// Forward of the pack through m, then per response token (pack order, n_resp entries):
// logp[k] = log softmax(logits·inv_temp)[y], ent[k] (may be NULL) the entropy there.
int rollout_logprobs(GPT *m, const RolloutPack *p, float inv_temp, double *logp, double *ent,
                     Err *e);
// Forward of the pack through a model with a scalar head: val[k] per response token (pack order).
int rollout_values(GPT *m, const RolloutPack *p, double *val, Err *e);
// Forward of the pack through a reward model: out[b] = the head at row b's last position.
int rollout_last_values(GPT *m, const RolloutPack *p, double *out, Err *e);

// Scatters per-response-token values (pack order) into a packed [N] array, zero elsewhere.
void rollout_scatter(const RolloutPack *p, const double *in, float *packed);

#endif
