// train/rl_math.h — the pure math of the RL stages (PPO, GRPO / Dr. GRPO, RLOO, REINFORCE++,
// best-of-n): per-token KL estimators, per-token rewards, GAE, whitening, the clipped policy and
// value losses with their gradients, loss-aggregation weights, group advantages, the adaptive KL
// controller and the best-of-n KL bound. No model code: arrays in, arrays out, in double.
//
// Layout: a rollout batch is RAGGED and PACKED over response tokens only. B rows (responses), row b
// holds len[b] ≥ 0 tokens at [off_b, off_b + len[b]) with off_b = Σ_{c<b} len[c]; N = Σ len. Every
// per-token array (logprobs, values, rewards, advantages, …) has N entries in that order. Position
// t of row b is response token y_t: its logprob ℓ_t and its value V_t both come from the hidden
// state before y_t; the row's last token (t = len[b]−1) is the EOS when the response has one —
// the RM score belongs there (docs/losses.md, "RL math").
//
// Style (as train/losses.h): every loss returns its value AND its gradient per token; nothing here
// divides by a batch size except the aggregation helpers, whose whole job is to produce the
// per-token weights of a global mean. Sums run in index order (fixed, deterministic).
#ifndef RLHF_TRAIN_RL_MATH_H
#define RLHF_TRAIN_RL_MATH_H

#include <stddef.h>

// Clamp applied to ℓnew − ℓold before exp() in the PPO ratio (a larger log-ratio gives NaN/inf).
#define RL_LOG_RATIO_CLAMP 20.0
// GRPO's std epsilon: A = (r − mean)/(std + RL_GRPO_STD_EPS).
#define RL_GRPO_STD_EPS 1e-4
// Whitening's variance epsilon: (x − μ)/sqrt(var + RL_WHITEN_EPS).
#define RL_WHITEN_EPS 1e-8

// ---- per-token KL estimators -------------------------------------------------------------------
// d = ℓ^π − ℓ^ref (policy minus reference logprob of the sampled token, both at the same
// temperature):  k1 = d;  k2 = ½·d²;  k3 = (e^{−d} − 1) + d  (≥ 0, unbiased for KL(π‖ref)).
typedef enum { KL_K1, KL_K2, KL_K3 } KLEstimator;
// Parses "k1" | "k2" | "k3"; returns -1 otherwise.
int kl_estimator_parse(const char *s, KLEstimator *k);
const char *kl_estimator_name(KLEstimator k);
// The value of the estimator for one token. In PPO this is a reward term: no gradient.
double kl_token(KLEstimator k, double logp, double logp_ref);
// kl[n] = kl_token(k, logp[n], logp_ref[n]) for n < N.
void kl_per_token(KLEstimator k, size_t N, const double *logp, const double *logp_ref, double *kl);
// ∂kl_token/∂logp (the reference is frozen), for a KL LOSS term (GRPO's +β·k3_t):
// k1 → 1, k2 → d, k3 → 1 − e^{−d}.
double kl_token_grad(KLEstimator k, double logp, double logp_ref);

// ---- score and per-token rewards ---------------------------------------------------------------
// What happens to the score of a response that never emitted EOS (truncated at n_max).
typedef enum {
    RL_NOEOS_NONE,      // keep the score
    RL_NOEOS_REPLACE,   // score ← value (default, value −1)
    RL_NOEOS_SUBTRACT,  // score ← score − value
} RLNoEosMode;
typedef struct {
    RLNoEosMode noeos_mode;  // RL_NOEOS_REPLACE by default
    double noeos_value;      // −1 for REPLACE by default; the amount subtracted for SUBTRACT
    double clip;             // > 0: clip the final score to [−clip, clip]; ≤ 0: no clipping
} RLScoreConfig;
// The defaults above: replace with −1, no clipping.
RLScoreConfig rl_score_config_default(void);
// Parses "replace" | "subtract" | "none"; -1 otherwise.
int rl_noeos_parse(const char *s, RLNoEosMode *m);
// The score that enters the reward: the caller's (already RM-normalised) score, then the
// missing-EOS penalty when !has_eos, then the clip to ±clip (in that order).
double rl_final_score(const RLScoreConfig *c, double score, int has_eos);
// Per-token rewards: reward[n] = −β·kl[n] for every token n of row b, plus score[b] added once at
// the row's last token (t = len[b]−1). A row with len[b] = 0 gets nothing (its score is dropped).
// nonscore[b] (may be NULL) = Σ_t −β·kl_t of row b (the "non-score reward" that is logged).
void rl_token_rewards(int B, const int *len, const double *kl, double beta, const double *score,
                      double *reward, double *nonscore);

// ---- GAE ---------------------------------------------------------------------------------------
// Per row, backwards from t = len−1 with V_len = 0 and A_len = 0:
//   δ_t = r_t + γ·V_{t+1} − V_t,   A_t = δ_t + γλ·A_{t+1},   R_t = A_t + V_t.
// reward, value [N] in; adv, ret [N] out (either may alias nothing else; ret may be NULL).
// γ = λ = 1 gives A_t = Σ_{s≥t} r_s − V_t (reward-to-go minus the value).
void rl_gae(int B, const int *len, const double *reward, const double *value, double gamma,
            double lambda, double *adv, double *ret);
// Discounted reward-to-go per row: ret_t = Σ_{s≥t} γ^{s−t} r_s (REINFORCE++'s return).
void rl_reward_to_go(int B, const int *len, const double *reward, double gamma, double *ret);

// ---- whitening (batch statistics that can be all-reduced) --------------------------------------
// Raw moments of the counted entries: sum = Σ x, sumsq = Σ x², count = number of entries.
typedef struct {
    double sum, sumsq, count;
} RLMoments;
// Accumulates the entries n < N with mask[n] ≠ 0 (mask NULL = all), in index order, into *m
// (which the caller zero-initialises: RLMoments m = {0}). Masked entries may hold anything.
// For a multi-process batch: each process accumulates its shard, the three numbers are summed
// across processes (all-reduce), and every process applies the same totals.
void rl_moments_add(RLMoments *m, size_t N, const double *x, const float *mask);
double rl_moments_mean(const RLMoments *m);  // sum/count (0 for count 0)
double rl_moments_var(const RLMoments *m);   // population variance sumsq/count − mean² (≥ 0)
// Applies whitening with the statistics m (μ = mean, σ² = var):
//   shift_mean: x ← (x − μ)/sqrt(σ² + 1e-8)           (mean 0, std 1)
//   else:       x ← (x − μ)/sqrt(σ² + 1e-8) + μ       (std 1, the mean kept — TRL's shift_mean=False)
// Only entries with mask[n] ≠ 0 (NULL = all) are touched; the others are set to 0. count 0: no-op
// apart from the masked entries.
void rl_whiten_apply(size_t N, double *x, const float *mask, const RLMoments *m, int shift_mean);
// Both halves at once: pre = NULL computes the moments of x itself (one process); otherwise pre
// holds already reduced global moments.
void rl_whiten(size_t N, double *x, const float *mask, const RLMoments *pre, int shift_mean);

// ---- PPO clipped policy loss -------------------------------------------------------------------
// One token, log-ratio d = clamp(ℓnew − ℓold, ±20), ratio ρ = e^d:
//   loss = max(−A·ρ, −A·clip(ρ, 1 − ε_low, 1 + ε_high))
//   dlogp = ∂loss/∂ℓnew = −A·ρ when the unclipped term is the max (ties included) and the clamp is
//           inactive, else 0
//   clipped = 1 when the clipped term is strictly larger (the token gets no gradient)
//   approx_kl = ½·(ℓnew − ℓold)² (unclamped)
// ρ = 1 exactly when ℓnew = ℓold: loss = −A, dlogp = −A, clipped = 0.
typedef struct {
    double loss, dlogp, ratio, approx_kl;
    int clipped;
} RLPolicyTok;
RLPolicyTok rl_policy_token(double logp_new, double logp_old, double adv, double eps_low,
                            double eps_high);
// Sums over a set of tokens (for the logs; means = sum / tokens, merge by adding).
typedef struct {
    double tokens, loss_sum, clipped, approx_kl_sum, ratio_sum, ratio_max;
} RLPolicyStats;
// rl_policy_token over N tokens: loss[n], dlogp[n] (either may be NULL) and the sums. The
// per-token loss and gradient are NOT weighted: multiply by the aggregation weights w[n].
RLPolicyStats rl_policy_loss(size_t N, const double *logp_new, const double *logp_old,
                             const double *adv, double eps_low, double eps_high, double *loss,
                             double *dlogp);

// ---- loss aggregation: per-token weights -------------------------------------------------------
// Total loss = Σ_n w[n]·loss[n]; gradient to the model = w[n]·dlogp[n]. The GLOBAL figures describe
// the whole rollout batch (all minibatches / shards), so a piece of the batch gets the weights the
// whole-batch mean would give it:
//   RL_AGG_TOKEN_MEAN: w = 1/global_tokens              (token mean over the whole batch; default)
//   RL_AGG_SEQ_MEAN:   w = 1/(len[b]·global_rows)       (mean per sequence, then over sequences)
//   RL_AGG_SEQ_SUM:    w = 1/(global_rows·max_len)      (Dr. GRPO: sum / (B × max response length))
// Writes w[N] for the B rows given; a zero denominator gives weight 0.
typedef enum { RL_AGG_TOKEN_MEAN, RL_AGG_SEQ_MEAN, RL_AGG_SEQ_SUM } RLAgg;
int rl_agg_parse(const char *s, RLAgg *a);  // "token-mean" | "seq-mean" | "seq-sum"
void rl_agg_weights(RLAgg mode, int B, const int *len, double global_tokens, double global_rows,
                    int max_len, double *w);

// ---- clipped value loss ------------------------------------------------------------------------
// One token, value V, old value V_old, return R, clip c:
//   Vc = clip(V, V_old − c, V_old + c);  loss = ½·max((V − R)², (Vc − R)²)
//   dv = ∂loss/∂V = V − R when the unclipped term is the max (ties included), else 0
//   clipped = 1 when the clipped term is strictly larger
// c ≤ 0 disables the clipping: loss = ½(V − R)².
typedef struct {
    double loss, dv;
    int clipped;
} RLValueTok;
RLValueTok rl_value_token(double v, double v_old, double ret, double clip);
// Over N tokens: loss[n], dv[n] (either may be NULL); returns the number of clipped tokens.
size_t rl_value_loss(size_t N, const double *v, const double *v_old, const double *ret,
                     double clip, double *loss, double *dv);
// Explained variance 1 − Var(R − V)/Var(R) (population variances) over the entries with
// mask ≠ 0 (NULL = all); 0 when Var(R) = 0 or nothing is counted (keeps the logs finite).
double rl_explained_variance(size_t N, const double *v, const double *ret, const float *mask);
// The same from moments (all-reduced across processes): mr of R, md of R − V.
double rl_explained_variance_moments(const RLMoments *mr, const RLMoments *md);

// ---- group-relative advantages (critic-free) ---------------------------------------------------
// n_groups groups of G consecutive responses (response i = g·G + k), scores r[n_groups·G]:
//   RL_ADV_GRPO:    A_i = (r_i − mean_g)/(std_g + 1e-4), std = sample std (÷(G−1)); G = 1: 0
//   RL_ADV_DR_GRPO: A_i = r_i − mean_g
//   RL_ADV_RLOO:    A_i = r_i − mean_{j≠i} r_j = G/(G−1)·(r_i − mean_g); G = 1: 0
// adv[n_groups·G] out, one value per response (broadcast to its tokens with rl_broadcast_rows).
typedef enum { RL_ADV_GRPO, RL_ADV_DR_GRPO, RL_ADV_RLOO } RLGroupAdv;
void rl_group_advantages(RLGroupAdv mode, int n_groups, int G, const double *r, double *adv);
// out[n] = row_val[b] for every token n of row b.
void rl_broadcast_rows(int B, const int *len, const double *row_val, double *out);
// REINFORCE++ returns (before whitening): scores s[B] (G > 0: the "-baseline" variant, each score
// minus its group's mean, groups of G consecutive rows, B a multiple of G; G ≤ 0: plain), per-token
// rewards −β·kl_t plus the score at the last token, return = reward-to-go with γ. ret[N] out.
// Whiten ret over the whole batch (rl_whiten, or rl_moments_add + all-reduce + rl_whiten_apply)
// to get the advantages; rl_reinforce_pp does all of it for one process.
void rl_reinforce_pp_returns(int B, const int *len, const double *kl, double beta,
                             const double *score, int G, double gamma, double *ret);
void rl_reinforce_pp(int B, const int *len, const double *kl, double beta, const double *score,
                     int G, double gamma, double *adv);

// ---- KL coefficient controller -----------------------------------------------------------------
// Fixed: β never changes. Adaptive (Ziegler et al.): after each batch with mean KL `kl` (nats per
// sequence) over n episodes: e = clip(kl/target − 1, −0.2, 0.2), β ← β·(1 + e·n/horizon).
typedef struct {
    double beta;     // current β
    int adaptive;    // 0: fixed
    double target;   // target KL (6 nats)
    double horizon;  // horizon in episodes (10000)
} RLKLController;
// Returns the new β (also stored in c->beta).
double rl_klctl_update(RLKLController *c, double kl, int n);

// ---- best-of-n ---------------------------------------------------------------------------------
// The index of the largest reward among n ≥ 1 (ties → the lowest index; NaN never wins unless
// all are NaN, then 0).
int rl_best_of_n(int n, const double *reward);
// The upper bound on KL(best-of-n ‖ π): log n − (n−1)/n (0 for n = 1).
double rl_bon_kl_bound(int n);

#endif
