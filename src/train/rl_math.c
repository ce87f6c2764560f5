// train/rl_math.c — the pure math of the RL stages (see rl_math.h, docs/losses.md "RL math").
#include "train/rl_math.h"

#include <math.h>
#include <string.h>

// ---- KL ----------------------------------------------------------------------------------------
int kl_estimator_parse(const char *s, KLEstimator *k) {
    if (!s) return -1;
    if (!strcmp(s, "k1")) *k = KL_K1;
    else if (!strcmp(s, "k2")) *k = KL_K2;
    else if (!strcmp(s, "k3")) *k = KL_K3;
    else return -1;
    return 0;
}

const char *kl_estimator_name(KLEstimator k) {
    switch (k) {
    case KL_K1: return "k1";
    case KL_K2: return "k2";
    case KL_K3: return "k3";
    }
    return "?";
}

double kl_token(KLEstimator k, double logp, double logp_ref) {
    double d = logp - logp_ref;
    switch (k) {
    case KL_K1: return d;
    case KL_K2: return 0.5 * d * d;
    case KL_K3: return expm1(-d) + d;  // (e^{−d} − 1) + d, accurate near d = 0
    }
    return 0;
}

void kl_per_token(KLEstimator k, size_t N, const double *logp, const double *logp_ref, double *kl) {
    for (size_t n = 0; n < N; n++) kl[n] = kl_token(k, logp[n], logp_ref[n]);
}

double kl_token_grad(KLEstimator k, double logp, double logp_ref) {
    double d = logp - logp_ref;
    switch (k) {
    case KL_K1: return 1.0;
    case KL_K2: return d;
    case KL_K3: return -expm1(-d);  // 1 − e^{−d}
    }
    return 0;
}

// ---- score and rewards -------------------------------------------------------------------------
RLScoreConfig rl_score_config_default(void) {
    RLScoreConfig c = {RL_NOEOS_REPLACE, -1.0, 0.0};
    return c;
}

int rl_noeos_parse(const char *s, RLNoEosMode *m) {
    if (!s) return -1;
    if (!strcmp(s, "replace")) *m = RL_NOEOS_REPLACE;
    else if (!strcmp(s, "subtract")) *m = RL_NOEOS_SUBTRACT;
    else if (!strcmp(s, "none")) *m = RL_NOEOS_NONE;
    else return -1;
    return 0;
}

double rl_final_score(const RLScoreConfig *c, double score, int has_eos) {
    if (!has_eos) {
        if (c->noeos_mode == RL_NOEOS_REPLACE) score = c->noeos_value;
        else if (c->noeos_mode == RL_NOEOS_SUBTRACT) score -= c->noeos_value;
    }
    if (c->clip > 0) {
        if (score > c->clip) score = c->clip;
        if (score < -c->clip) score = -c->clip;
    }
    return score;
}

void rl_token_rewards(int B, const int *len, const double *kl, double beta, const double *score,
                      double *reward, double *nonscore) {
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        size_t L = (size_t)len[b];
        double ns = 0;
        for (size_t t = 0; t < L; t++) {
            reward[o + t] = -beta * kl[o + t];
            ns += reward[o + t];
        }
        if (L > 0) reward[o + L - 1] += score[b];
        if (nonscore) nonscore[b] = ns;
        o += L;
    }
}

// ---- GAE ---------------------------------------------------------------------------------------
void rl_gae(int B, const int *len, const double *reward, const double *value, double gamma,
            double lambda, double *adv, double *ret) {
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        size_t L = (size_t)len[b];
        double next_v = 0, next_a = 0;
        for (size_t t = L; t-- > 0;) {
            double v = value[o + t];
            double delta = reward[o + t] + gamma * next_v - v;
            double a = delta + gamma * lambda * next_a;
            adv[o + t] = a;
            if (ret) ret[o + t] = a + v;
            next_v = v;
            next_a = a;
        }
        o += L;
    }
}

void rl_reward_to_go(int B, const int *len, const double *reward, double gamma, double *ret) {
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        size_t L = (size_t)len[b];
        double acc = 0;
        for (size_t t = L; t-- > 0;) {
            acc = reward[o + t] + gamma * acc;
            ret[o + t] = acc;
        }
        o += L;
    }
}

// ---- whitening ---------------------------------------------------------------------------------
void rl_moments_add(RLMoments *m, size_t N, const double *x, const float *mask) {
    for (size_t n = 0; n < N; n++) {
        if (mask && mask[n] == 0) continue;
        m->sum += x[n];
        m->sumsq += x[n] * x[n];
        m->count += 1;
    }
}

double rl_moments_mean(const RLMoments *m) { return m->count > 0 ? m->sum / m->count : 0.0; }

double rl_moments_var(const RLMoments *m) {
    if (m->count <= 0) return 0.0;
    double mu = m->sum / m->count;
    double v = m->sumsq / m->count - mu * mu;
    return v > 0 ? v : 0.0;
}

void rl_whiten_apply(size_t N, double *x, const float *mask, const RLMoments *m, int shift_mean) {
    double mu = rl_moments_mean(m);
    double inv = 1.0 / sqrt(rl_moments_var(m) + RL_WHITEN_EPS);
    for (size_t n = 0; n < N; n++) {
        if (mask && mask[n] == 0) {
            x[n] = 0;
            continue;
        }
        if (m->count <= 0) continue;
        double w = (x[n] - mu) * inv;
        x[n] = shift_mean ? w : w + mu;
    }
}

void rl_whiten(size_t N, double *x, const float *mask, const RLMoments *pre, int shift_mean) {
    RLMoments m = {0, 0, 0};
    if (pre) m = *pre;
    else rl_moments_add(&m, N, x, mask);
    rl_whiten_apply(N, x, mask, &m, shift_mean);
}

// ---- PPO policy loss ---------------------------------------------------------------------------
RLPolicyTok rl_policy_token(double logp_new, double logp_old, double adv, double eps_low,
                            double eps_high) {
    RLPolicyTok r;
    double d = logp_new - logp_old;
    int clamped = 0;
    double dc = d;
    if (dc > RL_LOG_RATIO_CLAMP) dc = RL_LOG_RATIO_CLAMP, clamped = 1;
    if (dc < -RL_LOG_RATIO_CLAMP) dc = -RL_LOG_RATIO_CLAMP, clamped = 1;
    double rho = exp(dc);
    double rc = rho;
    if (rc < 1.0 - eps_low) rc = 1.0 - eps_low;
    if (rc > 1.0 + eps_high) rc = 1.0 + eps_high;
    double l1 = -adv * rho, l2 = -adv * rc;
    r.ratio = rho;
    r.approx_kl = 0.5 * d * d;
    if (l1 >= l2) {
        r.loss = l1;
        r.dlogp = clamped ? 0.0 : l1;  // ∂(−A·e^d)/∂ℓnew = −A·ρ
        r.clipped = 0;
    } else {
        r.loss = l2;
        r.dlogp = 0.0;
        r.clipped = 1;
    }
    return r;
}

RLPolicyStats rl_policy_loss(size_t N, const double *logp_new, const double *logp_old,
                             const double *adv, double eps_low, double eps_high, double *loss,
                             double *dlogp) {
    RLPolicyStats s = {0, 0, 0, 0, 0, 0};
    for (size_t n = 0; n < N; n++) {
        RLPolicyTok t = rl_policy_token(logp_new[n], logp_old[n], adv[n], eps_low, eps_high);
        if (loss) loss[n] = t.loss;
        if (dlogp) dlogp[n] = t.dlogp;
        s.tokens += 1;
        s.loss_sum += t.loss;
        s.clipped += t.clipped;
        s.approx_kl_sum += t.approx_kl;
        s.ratio_sum += t.ratio;
        if (n == 0 || t.ratio > s.ratio_max) s.ratio_max = t.ratio;
    }
    return s;
}

// ---- aggregation -------------------------------------------------------------------------------
int rl_agg_parse(const char *s, RLAgg *a) {
    if (!s) return -1;
    if (!strcmp(s, "token-mean")) *a = RL_AGG_TOKEN_MEAN;
    else if (!strcmp(s, "seq-mean")) *a = RL_AGG_SEQ_MEAN;
    else if (!strcmp(s, "seq-sum")) *a = RL_AGG_SEQ_SUM;
    else return -1;
    return 0;
}

void rl_agg_weights(RLAgg mode, int B, const int *len, double global_tokens, double global_rows,
                    int max_len, double *w) {
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        size_t L = (size_t)len[b];
        double den = 0;
        switch (mode) {
        case RL_AGG_TOKEN_MEAN: den = global_tokens; break;
        case RL_AGG_SEQ_MEAN: den = (double)L * global_rows; break;
        case RL_AGG_SEQ_SUM: den = global_rows * (double)max_len; break;
        }
        double wt = den > 0 ? 1.0 / den : 0.0;
        for (size_t t = 0; t < L; t++) w[o + t] = wt;
        o += L;
    }
}

// ---- value loss --------------------------------------------------------------------------------
RLValueTok rl_value_token(double v, double v_old, double ret, double clip) {
    RLValueTok r;
    double e1 = v - ret;
    if (clip <= 0) {
        r.loss = 0.5 * e1 * e1;
        r.dv = e1;
        r.clipped = 0;
        return r;
    }
    double vc = v;
    if (vc < v_old - clip) vc = v_old - clip;
    if (vc > v_old + clip) vc = v_old + clip;
    double e2 = vc - ret;
    if (e1 * e1 >= e2 * e2) {
        r.loss = 0.5 * e1 * e1;
        r.dv = e1;
        r.clipped = 0;
    } else {
        r.loss = 0.5 * e2 * e2;
        r.dv = 0.0;  // V is outside the clip interval here (inside, Vc = V and the terms tie)
        r.clipped = 1;
    }
    return r;
}

size_t rl_value_loss(size_t N, const double *v, const double *v_old, const double *ret,
                     double clip, double *loss, double *dv) {
    size_t nc = 0;
    for (size_t n = 0; n < N; n++) {
        RLValueTok t = rl_value_token(v[n], v_old[n], ret[n], clip);
        if (loss) loss[n] = t.loss;
        if (dv) dv[n] = t.dv;
        nc += (size_t)t.clipped;
    }
    return nc;
}

double rl_explained_variance_moments(const RLMoments *mr, const RLMoments *md) {
    double vr = rl_moments_var(mr);
    if (mr->count <= 0 || !(vr > 0)) return 0.0;
    return 1.0 - rl_moments_var(md) / vr;
}

double rl_explained_variance(size_t N, const double *v, const double *ret, const float *mask) {
    RLMoments mr = {0, 0, 0}, md = {0, 0, 0};
    for (size_t n = 0; n < N; n++) {
        if (mask && mask[n] == 0) continue;
        double d = ret[n] - v[n];
        mr.sum += ret[n];
        mr.sumsq += ret[n] * ret[n];
        mr.count += 1;
        md.sum += d;
        md.sumsq += d * d;
        md.count += 1;
    }
    return rl_explained_variance_moments(&mr, &md);
}

// ---- group advantages --------------------------------------------------------------------------
void rl_group_advantages(RLGroupAdv mode, int n_groups, int G, const double *r, double *adv) {
    for (int g = 0; g < n_groups; g++) {
        const double *x = r + (size_t)g * (size_t)G;
        double *a = adv + (size_t)g * (size_t)G;
        double mean = 0;
        for (int k = 0; k < G; k++) mean += x[k];
        mean /= G;
        switch (mode) {
        case RL_ADV_GRPO: {
            double ss = 0;
            for (int k = 0; k < G; k++) ss += (x[k] - mean) * (x[k] - mean);
            double sd = G > 1 ? sqrt(ss / (G - 1)) : 0.0;
            for (int k = 0; k < G; k++) a[k] = G > 1 ? (x[k] - mean) / (sd + RL_GRPO_STD_EPS) : 0.0;
            break;
        }
        case RL_ADV_DR_GRPO:
            for (int k = 0; k < G; k++) a[k] = x[k] - mean;
            break;
        case RL_ADV_RLOO: {
            double sum = 0;
            for (int k = 0; k < G; k++) sum += x[k];
            for (int k = 0; k < G; k++) a[k] = G > 1 ? x[k] - (sum - x[k]) / (G - 1) : 0.0;
            break;
        }
        }
    }
}

void rl_broadcast_rows(int B, const int *len, const double *row_val, double *out) {
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        for (size_t t = 0; t < (size_t)len[b]; t++) out[o + t] = row_val[b];
        o += (size_t)len[b];
    }
}

void rl_reinforce_pp_returns(int B, const int *len, const double *kl, double beta,
                             const double *score, int G, double gamma, double *ret) {
    // ret doubles as the per-token reward buffer: rewards first, then reward-to-go in place
    // (rl_reward_to_go reads reward[t] before writing ret[t], walking backwards).
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        size_t L = (size_t)len[b];
        double s = score[b];
        if (G > 0) {
            int g0 = b - b % G;
            double mean = 0;
            int cnt = 0;
            for (int k = 0; k < G && g0 + k < B; k++, cnt++) mean += score[g0 + k];
            mean /= cnt;
            s -= mean;
        }
        for (size_t t = 0; t < L; t++) ret[o + t] = -beta * kl[o + t];
        if (L > 0) ret[o + L - 1] += s;
        o += L;
    }
    rl_reward_to_go(B, len, ret, gamma, ret);
}

void rl_reinforce_pp(int B, const int *len, const double *kl, double beta, const double *score,
                     int G, double gamma, double *adv) {
    rl_reinforce_pp_returns(B, len, kl, beta, score, G, gamma, adv);
    size_t N = 0;
    for (int b = 0; b < B; b++) N += (size_t)len[b];
    rl_whiten(N, adv, NULL, NULL, 1);
}

// ---- KL controller -----------------------------------------------------------------------------
double rl_klctl_update(RLKLController *c, double kl, int n) {
    if (!c->adaptive || !(c->target > 0) || !(c->horizon > 0)) return c->beta;
    double e = kl / c->target - 1.0;
    if (e > 0.2) e = 0.2;
    if (e < -0.2) e = -0.2;
    c->beta *= 1.0 + e * (double)n / c->horizon;
    return c->beta;
}

// ---- best-of-n ---------------------------------------------------------------------------------
int rl_best_of_n(int n, const double *reward) {
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (isnan(reward[i])) continue;
        if (best < 0 || reward[i] > reward[best]) best = i;
    }
    return best < 0 ? 0 : best;
}

double rl_bon_kl_bound(int n) {
    if (n <= 1) return 0.0;
    return log((double)n) - (double)(n - 1) / (double)n;
}
