// train/losses.h — the losses of the stages as pure functions on small arrays: sequence-level
// gather/scatter over a packed ragged batch, the Bradley–Terry pairwise loss (margin, centring),
// K-way rankings as one batch element (InstructGPT), DPO / conservative DPO / IPO, and reward
// normalisation. Every loss returns its value AND its gradient per input element; the model's
// heads and gpt_backward do the rest (docs/losses.md has the formulas).
//
// Conventions: rewards and logprob sums are doubles (they are sums of many floats); a "row" is one
// sequence of a packed ragged batch: B rows, row b holds len[b] tokens at [off_b, off_b + len[b])
// with off_b = Σ_{c<b} len[c] (the layout of model/gpt.h). The per-element losses here are NOT
// divided by a batch size: callers sum them and divide by the global count (train/loop.h).
#ifndef RLHF_TRAIN_LOSSES_H
#define RLHF_TRAIN_LOSSES_H

#include <stddef.h>

// ---- numerics ----------------------------------------------------------------------------------
// σ(x) = 1/(1+e^{−x}) without overflow for any finite x.
double loss_sigmoid(double x);
// −log σ(x) = log(1 + e^{−x}) = softplus(−x), stable: max(−x, 0) + log1p(e^{−|x|}).
double loss_neg_log_sigmoid(double x);

// ---- sequence-level gather / scatter over a packed ragged batch --------------------------------
// row_sum[b] = Σ_{n in row b} mask[n]·tok[n]   (mask NULL = every token counts, weight 1)
// row_count[b] = Σ_{n in row b} mask[n]        (may be NULL)
// tok [N], mask [N] (0/1 or weights), row_sum [B], row_count [B]; N = Σ len.
// Typical use: tok = per-token logprobs from gpt_lm_logprobs, mask = "is a response token".
void seq_gather_sum(int B, const int *len, const float *tok, const float *mask, double *row_sum,
                    double *row_count);
// The reverse (the gradient of seq_gather_sum): dtok[n] = drow[b]·mask[n] for n in row b.
// Overwrites dtok [N]. For a per-token mean (IPO) pass drow[b] / row_count[b].
void seq_scatter_sum(int B, const int *len, const double *drow, const float *mask, float *dtok);
// The value at each row's last real token (the reward / score position): out[b] = tok[off_b+len_b−1].
void seq_gather_last(int B, const int *len, const float *tok, double *out);
// Its gradient: dtok[last of b] = drow[b], every other position 0. Overwrites dtok [N].
void seq_scatter_last(int B, const int *len, const double *drow, float *dtok);

// ---- Bradley–Terry pairwise loss (reward model) ------------------------------------------------
// One pair, chosen reward rw, rejected reward rl, margin m (0 = none), centring λ (0 = none):
//   loss = −log σ(rw − rl − m) + λ·(rw + rl)²
// d_w = ∂loss/∂rw, d_l = ∂loss/∂rl; correct = (rw > rl); margin = rw − rl (the reported margin,
// without m). Stays finite for any finite rewards.
typedef struct {
    double loss, d_w, d_l;
    int correct;
    double margin;
} BTPair;
BTPair bt_pair(double rw, double rl, double m, double centre);

// K-way ranking as ONE batch element: the K responses of one prompt with rewards r[K] and ranks
// rank[K] (smaller = better; equal ranks = a tie, that pair is skipped). Every ordered pair
// (i better than j) contributes bt_pair(r[i], r[j], m, centre); loss, accuracy and margin are
// MEANS over the element's P pairs (P ≤ K(K−1)/2), so an element weighs 1 whatever its K.
// dr[K] receives ∂loss/∂r (overwritten). With P = 0 (all tied) everything is 0.
typedef struct {
    double loss;
    int pairs;           // P: untied pairs
    double accuracy;     // fraction of pairs with r[better] > r[worse]
    double mean_margin;  // mean of r[better] − r[worse]
} BTRanking;
BTRanking bt_ranking(int K, const double *r, const int *rank, double m, double centre, double *dr);

// ---- DPO and relatives -------------------------------------------------------------------------
// Inputs per pair: pw, pl = policy logprob of chosen / rejected response (summed over response
// tokens for DPO; averaged per token for IPO), qw, ql = the same under the frozen reference.
//   h = (pw − qw) − (pl − ql)
//   DPO (label smoothing ε ∈ [0, 0.5)): loss = −(1−ε)·log σ(βh) − ε·log σ(−βh)   (ε = 0: DPO)
//   IPO:                                loss = (h − 1/(2β))²
// d_pw = ∂loss/∂pw, d_pl = ∂loss/∂pl (the reference is frozen); correct = (h > 0);
// implicit rewards reward_w = β(pw − qw), reward_l = β(pl − ql); margin = reward_w − reward_l.
typedef enum { PREF_DPO, PREF_IPO } PrefLossKind;
typedef struct {
    PrefLossKind kind;
    double beta;             // β (0.1 by default)
    double label_smoothing;  // ε, DPO only
} PrefLossConfig;
typedef struct {
    double loss, d_pw, d_pl;
    int correct;
    double reward_w, reward_l, margin;
} PrefPair;
PrefPair pref_pair(const PrefLossConfig *c, double pw, double pl, double qw, double ql);
// Parses "dpo" | "ipo"; -1 otherwise.
int pref_kind_parse(const char *s, PrefLossKind *k);

// ---- reward normalisation ----------------------------------------------------------------------
// normalised = gain·(score + bias). Fitted on a reference set: bias = −mean(scores), gain =
// 1/std(scores) (population std) when with_gain, else 1; a std of 0 keeps gain 1.
typedef struct {
    double bias, gain;
} RewardNorm;
RewardNorm reward_norm_fit(const double *scores, size_t n, int with_gain);
double reward_norm_apply(const RewardNorm *rn, double score);

#endif
