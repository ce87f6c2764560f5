// tests/test_rl_math.c — train/rl_math: every function against numbers written by hand or
// recomputed here by a separate straightforward implementation (forward sums instead of the
// backward recursions, two-pass statistics instead of raw moments), policy/value gradients against
// central finite differences, every clip branch, ragged and masked batches.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train/rl_math.h"

#define NEAR(a, b, tol, ...) CHECK(fabs((double)(a) - (double)(b)) <= (tol) * (1.0 + fabs((double)(b))), __VA_ARGS__)

static void test_kl(void) {
    // d = 0.5: k1 = 0.5, k2 = 0.125, k3 = e^{−0.5} − 1 + 0.5
    NEAR(kl_token(KL_K1, -1.0, -1.5), 0.5, 1e-15, "k1");
    NEAR(kl_token(KL_K2, -1.0, -1.5), 0.125, 1e-15, "k2");
    NEAR(kl_token(KL_K3, -1.0, -1.5), 0.10653065971263342, 1e-14, "k3(0.5) %.17g", kl_token(KL_K3, -1.0, -1.5));
    NEAR(kl_token(KL_K3, -1.5, -1.0), 0.14872127070012819, 1e-14, "k3(-0.5) %.17g", kl_token(KL_K3, -1.5, -1.0));
    CHECK(kl_token(KL_K3, -2.0, -2.0) == 0.0 && kl_token(KL_K1, -2.0, -2.0) == 0.0, "d = 0 gives 0");
    // k3 ≥ 0 everywhere, k2 ≥ 0, and each matches its formula (independent, naive)
    for (double d = -15; d <= 15; d += 0.37) {
        double k3 = kl_token(KL_K3, d - 3.0, -3.0);
        CHECK(k3 >= 0, "k3(%g) = %g < 0", d, k3);
        NEAR(k3, exp(-d) - 1.0 + d, 1e-12, "k3(%g) formula", d);
        NEAR(kl_token(KL_K2, d, 0.0), d * d / 2, 1e-15, "k2(%g)", d);
    }
    for (double d = -1e-9; d <= 1e-9; d += 1e-10) CHECK(kl_token(KL_K3, d, 0) >= 0, "k3 near 0 at %g", d);
    // k1 summed over a sequence = the sequence log-ratio
    double lp[5] = {-0.1, -2.3, -0.7, -4.0, -1.1}, lr[5] = {-0.3, -1.9, -0.7, -5.5, -0.2}, kl[5];
    kl_per_token(KL_K1, 5, lp, lr, kl);
    double s = 0, sp = 0, sr = 0;
    for (int i = 0; i < 5; i++) s += kl[i], sp += lp[i], sr += lr[i];
    NEAR(s, sp - sr, 1e-14, "k1 sums to the sequence log-ratio: %g vs %g", s, sp - sr);
    kl_per_token(KL_K3, 5, lp, lr, kl);
    for (int i = 0; i < 5; i++) NEAR(kl[i], kl_token(KL_K3, lp[i], lr[i]), 0, "per_token k3 [%d]", i);
    // gradients of the estimators (for a KL loss term) against finite differences
    const double h = 1e-6;
    for (int k = 0; k < 3; k++)
        for (double d = -3; d <= 3; d += 0.5) {
            double fd = (kl_token((KLEstimator)k, d + h, 0) - kl_token((KLEstimator)k, d - h, 0)) / (2 * h);
            NEAR(kl_token_grad((KLEstimator)k, d, 0), fd, 1e-8, "kl grad %s at %g", kl_estimator_name((KLEstimator)k), d);
        }
    KLEstimator e;
    CHECK(kl_estimator_parse("k3", &e) == 0 && e == KL_K3 && kl_estimator_parse("k4", &e) != 0, "parse kl");
}

static void test_rewards(void) {
    RLScoreConfig c = rl_score_config_default();
    CHECK(c.noeos_mode == RL_NOEOS_REPLACE && c.noeos_value == -1.0 && c.clip <= 0, "defaults");
    CHECK(rl_final_score(&c, 3.0, 1) == 3.0, "EOS keeps the score");
    CHECK(rl_final_score(&c, 3.0, 0) == -1.0, "no EOS: replaced by -1");
    c.noeos_mode = RL_NOEOS_SUBTRACT;
    c.noeos_value = 0.5;
    CHECK(rl_final_score(&c, 3.0, 0) == 2.5 && rl_final_score(&c, 3.0, 1) == 3.0, "no EOS: subtract");
    c.noeos_mode = RL_NOEOS_NONE;
    CHECK(rl_final_score(&c, 3.0, 0) == 3.0, "no EOS: none");
    c = rl_score_config_default();
    c.clip = 2.0;
    CHECK(rl_final_score(&c, 3.0, 1) == 2.0 && rl_final_score(&c, -7.0, 1) == -2.0 &&
              rl_final_score(&c, 1.5, 1) == 1.5, "clip to ±2");
    c.clip = 0.5;
    CHECK(rl_final_score(&c, 3.0, 0) == -0.5, "penalty then clip");
    RLNoEosMode m;
    CHECK(rl_noeos_parse("subtract", &m) == 0 && m == RL_NOEOS_SUBTRACT && rl_noeos_parse("x", &m) != 0, "parse noeos");

    // ragged rows of 2, 3, 0, 1 tokens
    int len[4] = {2, 3, 0, 1};
    double kl[6] = {0.1, 0.2, 0.3, -0.1, 0.4, 0.5}, score[4] = {1, -2, 7, 0.25}, r[6], ns[4];
    rl_token_rewards(4, len, kl, 0.5, score, r, ns);
    double want[6] = {-0.05, 0.9, -0.15, 0.05, -2.2, 0.0};
    for (int i = 0; i < 6; i++) NEAR(r[i], want[i], 1e-15, "reward[%d] = %g, want %g", i, r[i], want[i]);
    double wns[4] = {-0.15, -0.3, 0, -0.25};
    for (int b = 0; b < 4; b++) NEAR(ns[b], wns[b], 1e-15, "nonscore[%d] = %g", b, ns[b]);
    // total reward = nonscore + score for every non-empty row
    double tot = 0;
    for (int i = 0; i < 6; i++) tot += r[i];
    NEAR(tot, (-0.15 + 1) + (-0.3 - 2) + (-0.25 + 0.25), 1e-14, "total reward");
}

// independent GAE: A_t = Σ_{l≥0} (γλ)^l δ_{t+l}, δ computed forward
static void ref_gae(int L, const double *r, const double *v, double g, double lam, double *a) {
    for (int t = 0; t < L; t++) {
        double s = 0, f = 1;
        for (int u = t; u < L; u++) {
            double vn = u + 1 < L ? v[u + 1] : 0.0;
            s += f * (r[u] + g * vn - v[u]);
            f *= g * lam;
        }
        a[t] = s;
    }
}

static void test_gae(void) {
    // hand: r = (0, 1), V = (0.5, 0.2), γ = 0.9, λ = 0.8:
    // δ1 = 1 − 0.2 = 0.8 = A1, R1 = 1; δ0 = 0.9·0.2 − 0.5 = −0.32, A0 = −0.32 + 0.72·0.8 = 0.256, R0 = 0.756
    int len1[1] = {2};
    double r[2] = {0, 1}, v[2] = {0.5, 0.2}, a[2], R[2];
    rl_gae(1, len1, r, v, 0.9, 0.8, a, R);
    NEAR(a[1], 0.8, 1e-15, "A1 %g", a[1]);
    NEAR(a[0], 0.256, 1e-15, "A0 %g", a[0]);
    NEAR(R[1], 1.0, 1e-15, "R1 %g", R[1]);
    NEAR(R[0], 0.756, 1e-15, "R0 %g", R[0]);

    // ragged batch vs the forward-sum reference, and γ = λ = 1 ⇒ A = reward-to-go − V
    int len[5] = {4, 1, 0, 7, 3};
    enum { N = 15 };
    double rr[N], vv[N], aa[N], ret[N], ref[N], rtg[N];
    fill_uniform_d(rr, N, 11, 1.0);
    fill_uniform_d(vv, N, 12, 2.0);
    const double gl[3][2] = {{1.0, 0.95}, {0.99, 0.9}, {1.0, 1.0}};
    for (int k = 0; k < 3; k++) {
        rl_gae(5, len, rr, vv, gl[k][0], gl[k][1], aa, ret);
        int o = 0;
        for (int b = 0; b < 5; b++) {
            ref_gae(len[b], rr + o, vv + o, gl[k][0], gl[k][1], ref + o);
            o += len[b];
        }
        check_close_d("gae vs forward sums", aa, ref, N, 1e-13, 1.0);
        for (int i = 0; i < N; i++) NEAR(ret[i], aa[i] + vv[i], 1e-15, "R = A + V [%d]", i);
    }
    rl_gae(5, len, rr, vv, 1.0, 1.0, aa, NULL);
    rl_reward_to_go(5, len, rr, 1.0, rtg);
    int o = 0;
    for (int b = 0; b < 5; b++) {
        for (int t = 0; t < len[b]; t++) {
            double s = 0;
            for (int u = t; u < len[b]; u++) s += rr[o + u];
            NEAR(rtg[o + t], s, 1e-14, "reward-to-go row %d t %d", b, t);
            NEAR(aa[o + t], s - vv[o + t], 1e-14, "γ=λ=1: A = RTG − V, row %d t %d", b, t);
        }
        o += len[b];
    }
    // discounted reward-to-go by hand: r = (1, 2, 3), γ = 0.5: (1 + 1 + 0.75, 2 + 1.5, 3)
    int l3[1] = {3};
    double r3[3] = {1, 2, 3}, g3[3];
    rl_reward_to_go(1, l3, r3, 0.5, g3);
    CHECK(g3[0] == 2.75 && g3[1] == 3.5 && g3[2] == 3.0, "rtg γ=0.5: %g %g %g", g3[0], g3[1], g3[2]);
}

static void two_pass(size_t n, const double *x, const float *mask, double *mean, double *var) {
    double s = 0, c = 0, q = 0;
    for (size_t i = 0; i < n; i++)
        if (!mask || mask[i]) s += x[i], c += 1;
    *mean = s / c;
    for (size_t i = 0; i < n; i++)
        if (!mask || mask[i]) q += (x[i] - *mean) * (x[i] - *mean);
    *var = q / c;
}

static void test_whiten(void) {
    // rows of 2, 1, 3 tokens: x = 1..6, mean 3.5, population var 17.5/6
    double x[6] = {1, 2, 3, 4, 5, 6};
    rl_whiten(6, x, NULL, NULL, 1);
    double sd = sqrt(17.5 / 6 + 1e-8);
    for (int i = 0; i < 6; i++) NEAR(x[i], (i + 1 - 3.5) / sd, 1e-14, "whiten[%d] = %g", i, x[i]);
    double m, v;
    two_pass(6, x, NULL, &m, &v);
    CHECK(fabs(m) < 1e-15 && fabs(v - 1) < 1e-8, "whitened mean %g var %g", m, v);
    // without shifting the mean: std 1, the mean kept
    double y[6] = {1, 2, 3, 4, 5, 6};
    rl_whiten(6, y, NULL, NULL, 0);
    two_pass(6, y, NULL, &m, &v);
    CHECK(fabs(m - 3.5) < 1e-14 && fabs(v - 1) < 1e-8, "no shift: mean %g var %g", m, v);

    // a padded ragged layout: only the real tokens count, padding may hold NaN and comes back 0
    enum { N = 12 };
    double z[N], zc[N];
    float mask[N] = {1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0};  // rows of real length 2, 1, 3 padded to 4
    fill_uniform_d(z, N, 21, 3.0);
    int nc = 0;
    for (int i = 0; i < N; i++)
        if (mask[i]) zc[nc++] = z[i];
        else z[i] = NAN;
    double mref, vref;
    two_pass((size_t)nc, zc, NULL, &mref, &vref);
    double want[N];
    for (int i = 0; i < N; i++) want[i] = mask[i] ? (z[i] - mref) / sqrt(vref + 1e-8) : 0.0;
    rl_whiten(N, z, mask, NULL, 1);
    check_close_d("masked whitening", z, want, N, 1e-13, 1.0);
    for (int i = 0; i < N; i++) CHECK(!mask[i] ? z[i] == 0.0 : isfinite(z[i]), "masked entry %d -> %g", i, z[i]);

    // pre-reduced statistics: two shards accumulated into one total, applied to each shard,
    // equals whitening the whole batch at once (bitwise: the same summation order)
    double w[9], whole[9];
    fill_uniform_d(w, 9, 31, 5.0);
    memcpy(whole, w, sizeof w);
    rl_whiten(9, whole, NULL, NULL, 1);
    RLMoments tot = {0, 0, 0};
    rl_moments_add(&tot, 4, w, NULL);
    rl_moments_add(&tot, 5, w + 4, NULL);
    CHECK(tot.count == 9, "count %g", tot.count);
    rl_whiten_apply(4, w, NULL, &tot, 1);
    rl_whiten(5, w + 4, NULL, &tot, 1);
    CHECK(memcmp(w, whole, sizeof w) == 0, "sharded whitening with reduced moments = whole batch");
    // shards reduced separately then added (an all-reduce): equal to rounding
    fill_uniform_d(w, 9, 31, 5.0);
    RLMoments a = {0, 0, 0}, b = {0, 0, 0};
    rl_moments_add(&a, 4, w, NULL);
    rl_moments_add(&b, 5, w + 4, NULL);
    RLMoments ab = {a.sum + b.sum, a.sumsq + b.sumsq, a.count + b.count};
    rl_whiten(9, w, NULL, &ab, 1);
    check_close_d("all-reduced moments", w, whole, 9, 1e-13, 1.0);
    // moment accessors
    RLMoments e = {0, 0, 0};
    CHECK(rl_moments_mean(&e) == 0 && rl_moments_var(&e) == 0, "empty moments");
    double one[1] = {5};
    rl_whiten(1, one, NULL, NULL, 1);
    CHECK(one[0] == 0.0, "single entry whitens to 0 (var 0 + eps): %g", one[0]);
}

static void test_policy(void) {
    const double eps = 0.2;
    struct {
        double d, A;
        int clipped;
        double loss, dlogp;
    } cases[] = {
        {0.1, 1, 0, -exp(0.1), -exp(0.1)},    // A > 0, inside
        {0.3, 1, 1, -1.2, 0.0},               // A > 0, ρ > 1+ε: clipped
        {-0.5, 1, 0, -exp(-0.5), -exp(-0.5)}, // A > 0, ρ < 1−ε: unclipped (pessimistic)
        {-0.1, -1, 0, exp(-0.1), exp(-0.1)},  // A < 0, inside
        {0.3, -1, 0, exp(0.3), exp(0.3)},     // A < 0, ρ > 1+ε: unclipped
        {-0.5, -1, 1, 0.8, 0.0},              // A < 0, ρ < 1−ε: clipped
        {0.3, 0, 0, 0.0, 0.0},                // A = 0
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        RLPolicyTok t = rl_policy_token(-1.0 + cases[i].d, -1.0, cases[i].A, eps, eps);
        CHECK(t.clipped == cases[i].clipped, "case %zu clipped %d", i, t.clipped);
        NEAR(t.loss, cases[i].loss, 1e-14, "case %zu loss %.17g want %.17g", i, t.loss, cases[i].loss);
        NEAR(t.dlogp, cases[i].dlogp, 1e-14, "case %zu dlogp %.17g", i, t.dlogp);
        NEAR(t.ratio, exp(cases[i].d), 1e-14, "case %zu ratio", i);
        NEAR(t.approx_kl, 0.5 * cases[i].d * cases[i].d, 1e-14, "case %zu approx_kl", i);
    }
    // asymmetric clip (ε_high = 0.28): ρ = e^0.25 = 1.284 is clipped, e^0.24 = 1.271 is not
    RLPolicyTok t = rl_policy_token(0.25, 0.0, 2.0, 0.2, 0.28);
    CHECK(t.clipped && fabs(t.loss + 2 * 1.28) < 1e-14 && t.dlogp == 0, "eps_high clip %g", t.loss);
    t = rl_policy_token(0.24, 0.0, 2.0, 0.2, 0.28);
    CHECK(!t.clipped && fabs(t.loss + 2 * exp(0.24)) < 1e-14, "inside eps_high %g", t.loss);
    // ratio exactly 1: loss −A, gradient −A, no clipping, approx-KL 0
    for (double A = -2; A <= 2; A += 0.5) {
        t = rl_policy_token(-3.25, -3.25, A, eps, eps);
        CHECK(t.ratio == 1.0 && t.loss == -A && t.dlogp == -A && t.clipped == 0 && t.approx_kl == 0,
              "ratio 1, A = %g: loss %g dlogp %g", A, t.loss, t.dlogp);
    }
    // log-ratio clamp: finite, no gradient through the clamp, approx-KL on the true difference
    t = rl_policy_token(50.0, 0.0, -1.0, eps, eps);
    CHECK(isfinite(t.loss) && t.ratio == exp(20.0) && t.dlogp == 0.0 && t.approx_kl == 1250.0, "clamp +: %g %g", t.loss, t.ratio);
    t = rl_policy_token(-800.0, 0.0, 1.0, eps, eps);
    CHECK(isfinite(t.loss) && t.ratio == exp(-20.0) && t.dlogp == 0.0, "clamp -: %g", t.loss);

    // gradients against central finite differences (away from the clip boundaries)
    const double h = 1e-6;
    for (double d = -0.9; d <= 0.9; d += 0.07)
        for (double A = -1.5; A <= 1.5; A += 0.6) {
            double rho = exp(d);
            if (fabs(rho - 0.8) < 1e-3 || fabs(rho - 1.2) < 1e-3) continue;
            double lo = -2.0;
            RLPolicyTok p = rl_policy_token(lo + d, lo, A, eps, eps);
            double fd = (rl_policy_token(lo + d + h, lo, A, eps, eps).loss -
                         rl_policy_token(lo + d - h, lo, A, eps, eps).loss) / (2 * h);
            NEAR(p.dlogp, fd, 1e-7, "policy fd d=%g A=%g: %.10g vs %.10g", d, A, p.dlogp, fd);
        }

    // the array form and its sums
    double ln[4] = {-1.0, -0.7, -1.5, -2.0}, lo[4] = {-1.0, -1.0, -1.0, -2.1}, adv[4] = {1, 1, -1, 0.5};
    double loss[4], dl[4];
    RLPolicyStats s = rl_policy_loss(4, ln, lo, adv, eps, eps, loss, dl);
    double ls = 0, ks = 0, rs = 0, rmax = 0;
    int cl = 0;
    for (int i = 0; i < 4; i++) {
        RLPolicyTok q = rl_policy_token(ln[i], lo[i], adv[i], eps, eps);
        CHECK(loss[i] == q.loss && dl[i] == q.dlogp, "array form [%d]", i);
        ls += q.loss, ks += q.approx_kl, rs += q.ratio, cl += q.clipped;
        if (q.ratio > rmax) rmax = q.ratio;
    }
    CHECK(s.tokens == 4 && s.clipped == cl && cl == 2, "stats clipped %g (want 2)", s.clipped);
    NEAR(s.loss_sum, ls, 1e-15, "loss sum");
    NEAR(s.approx_kl_sum, ks, 1e-15, "approx-kl sum");
    NEAR(s.ratio_sum, rs, 1e-15, "ratio sum");
    CHECK(s.ratio_max == rmax && fabs(rmax - exp(0.3)) < 1e-15, "ratio max %g", s.ratio_max);
    // first pass of PPO: new = old ⇒ clip fraction 0 and loss = −Σ A
    s = rl_policy_loss(4, lo, lo, adv, eps, eps, loss, NULL);
    CHECK(s.clipped == 0 && s.ratio_max == 1.0 && s.approx_kl_sum == 0 && s.loss_sum == -1.5, "first pass: %g", s.loss_sum);
}

static void test_agg(void) {
    int len[3] = {2, 1, 3};
    double w[6];
    rl_agg_weights(RL_AGG_TOKEN_MEAN, 3, len, 12, 4, 5, w);
    for (int i = 0; i < 6; i++) CHECK(w[i] == 1.0 / 12, "token mean w[%d] = %g", i, w[i]);
    rl_agg_weights(RL_AGG_SEQ_MEAN, 3, len, 12, 4, 5, w);
    double ws[6] = {1.0 / 8, 1.0 / 8, 1.0 / 4, 1.0 / 12, 1.0 / 12, 1.0 / 12};
    for (int i = 0; i < 6; i++) CHECK(w[i] == ws[i], "seq mean w[%d] = %g", i, w[i]);
    rl_agg_weights(RL_AGG_SEQ_SUM, 3, len, 12, 4, 5, w);
    for (int i = 0; i < 6; i++) CHECK(w[i] == 1.0 / 20, "Dr. GRPO w[%d] = %g", i, w[i]);
    // a whole batch: token-mean weights sum to 1, per-sequence means weigh each row 1/B
    rl_agg_weights(RL_AGG_TOKEN_MEAN, 3, len, 6, 3, 3, w);
    double s = 0;
    for (int i = 0; i < 6; i++) s += w[i];
    NEAR(s, 1.0, 1e-15, "token mean sums to 1");
    rl_agg_weights(RL_AGG_SEQ_MEAN, 3, len, 6, 3, 3, w);
    NEAR(w[0] + w[1], 1.0 / 3, 1e-15, "row 0 weighs 1/B");
    NEAR(w[3] + w[4] + w[5], 1.0 / 3, 1e-15, "row 2 weighs 1/B");
    RLAgg a;
    CHECK(rl_agg_parse("seq-sum", &a) == 0 && a == RL_AGG_SEQ_SUM && rl_agg_parse("mean", &a) != 0, "parse agg");
}

static void test_value(void) {
    const double c = 0.2;
    struct {
        double v, vold, R;
        int clipped;
        double loss, dv;
    } cases[] = {
        {1.1, 1.0, 0.0, 0, 0.605, 1.1},  // inside the clip interval
        {1.5, 1.0, 0.0, 0, 1.125, 1.5},  // above, unclipped term larger
        {1.5, 1.0, 2.0, 1, 0.32, 0.0},   // above, clipped term larger
        {0.5, 1.0, 0.0, 1, 0.32, 0.0},   // below, clipped term larger
        {0.5, 1.0, 2.0, 0, 1.125, -1.5}, // below, unclipped term larger
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        RLValueTok t = rl_value_token(cases[i].v, cases[i].vold, cases[i].R, c);
        CHECK(t.clipped == cases[i].clipped, "value case %zu clipped %d", i, t.clipped);
        NEAR(t.loss, cases[i].loss, 1e-14, "value case %zu loss %.17g", i, t.loss);
        NEAR(t.dv, cases[i].dv, 1e-14, "value case %zu dv %.17g", i, t.dv);
    }
    RLValueTok t = rl_value_token(0.5, 1.0, 2.0, 0.0);
    CHECK(t.loss == 1.125 && t.dv == -1.5 && !t.clipped, "no clipping");
    const double h = 1e-6;
    for (double v = -1.0; v <= 3.0; v += 0.13)
        for (double R = -1.0; R <= 3.0; R += 0.7) {
            if (fabs(v - 0.8) < 1e-3 || fabs(v - 1.2) < 1e-3) continue;
            RLValueTok q = rl_value_token(v, 1.0, R, c);
            double fd = (rl_value_token(v + h, 1.0, R, c).loss - rl_value_token(v - h, 1.0, R, c).loss) / (2 * h);
            NEAR(q.dv, fd, 1e-7, "value fd v=%g R=%g: %.10g vs %.10g", v, R, q.dv, fd);
        }
    double vv[5], vo[5], rr[5], l[5], d[5];
    for (int i = 0; i < 5; i++) vv[i] = cases[i].v, vo[i] = cases[i].vold, rr[i] = cases[i].R;
    size_t nc = rl_value_loss(5, vv, vo, rr, c, l, d);
    CHECK(nc == 2, "clipped count %zu", nc);
    for (int i = 0; i < 5; i++) CHECK(l[i] == rl_value_token(vv[i], vo[i], rr[i], c).loss && d[i] == cases[i].dv, "array value [%d]", i);

    // explained variance: R = (1,2,3,4), V = (1.5,1.5,3.5,3.5): var(R−V) = 0.25, var R = 1.25 ⇒ 0.8
    double R4[4] = {1, 2, 3, 4}, V4[4] = {1.5, 1.5, 3.5, 3.5}, Z[4] = {0, 0, 0, 0};
    NEAR(rl_explained_variance(4, V4, R4, NULL), 0.8, 1e-14, "EV hand");
    NEAR(rl_explained_variance(4, R4, R4, NULL), 1.0, 1e-15, "EV perfect");
    NEAR(rl_explained_variance(4, Z, R4, NULL), 0.0, 1e-15, "EV zero critic");
    CHECK(rl_explained_variance(4, V4, Z, NULL) == 0.0, "EV of constant returns is 0 (finite)");
    double R6[6] = {1, 2, NAN, 3, 4, NAN}, V6[6] = {1.5, 1.5, NAN, 3.5, 3.5, 7};
    float m6[6] = {1, 1, 0, 1, 1, 0};
    NEAR(rl_explained_variance(6, V6, R6, m6), 0.8, 1e-14, "EV masked");
}

static void test_group(void) {
    // G = 4: r = (1, 2, 3, 6), mean 3, sample var 14/3
    double r[8] = {1, 2, 3, 6, 5, 5, 5, 5}, a[8];
    double sd = sqrt(14.0 / 3);
    rl_group_advantages(RL_ADV_GRPO, 2, 4, r, a);
    for (int i = 0; i < 4; i++) NEAR(a[i], (r[i] - 3) / (sd + 1e-4), 1e-14, "grpo[%d] = %g", i, a[i]);
    for (int i = 4; i < 8; i++) CHECK(a[i] == 0, "grpo equal scores -> 0");
    rl_group_advantages(RL_ADV_DR_GRPO, 2, 4, r, a);
    double dr[8] = {-2, -1, 0, 3, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++) CHECK(a[i] == dr[i], "dr grpo[%d] = %g", i, a[i]);
    rl_group_advantages(RL_ADV_RLOO, 2, 4, r, a);
    double rl[8] = {-8.0 / 3, -4.0 / 3, 0, 4, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++) NEAR(a[i], rl[i], 1e-15, "rloo[%d] = %g", i, a[i]);
    for (int i = 0; i < 4; i++) NEAR(a[i], 4.0 / 3 * dr[i], 1e-15, "rloo = G/(G-1)·(r − mean)");
    // RLOO with G = 2: A = (r1 − r2, r2 − r1)
    double r2[4] = {1, 4, -0.5, 0.25}, a2[4];
    rl_group_advantages(RL_ADV_RLOO, 2, 2, r2, a2);
    CHECK(a2[0] == -3 && a2[1] == 3 && a2[2] == -0.75 && a2[3] == 0.75, "rloo G=2: %g %g %g %g", a2[0], a2[1], a2[2], a2[3]);
    // G = 1: no baseline information, advantage 0
    rl_group_advantages(RL_ADV_GRPO, 2, 1, r2, a2);
    CHECK(a2[0] == 0 && a2[1] == 0, "grpo G=1");
    // broadcast per response to tokens
    int len[3] = {2, 0, 3};
    double rv[3] = {1.5, 9, -2}, out[5];
    rl_broadcast_rows(3, len, rv, out);
    CHECK(out[0] == 1.5 && out[1] == 1.5 && out[2] == -2 && out[4] == -2, "broadcast");
}

static void test_reinforce(void) {
    // β = 0, baseline over groups of 2: scores (1, 3, 2, 2) → (−1, 1, 0, 0); rows of 2, 1, 2, 1
    // tokens: returns (−1, −1 | 1 | 0, 0 | 0)
    int len[4] = {2, 1, 2, 1};
    double kl[6] = {0.3, -0.2, 0.1, 0.5, 0.4, -0.1}, sc[4] = {1, 3, 2, 2}, ret[6];
    rl_reinforce_pp_returns(4, len, kl, 0.0, sc, 2, 1.0, ret);
    double w0[6] = {-1, -1, 1, 0, 0, 0};
    for (int i = 0; i < 6; i++) CHECK(ret[i] == w0[i], "rpp baseline ret[%d] = %g", i, ret[i]);
    // β = 0.5, no baseline: rewards −0.5·kl + score at the last token, reward-to-go (γ = 1)
    rl_reinforce_pp_returns(4, len, kl, 0.5, sc, 0, 1.0, ret);
    double w1[6] = {-0.15 + 0.1 + 1, 0.1 + 1, -0.05 + 3, -0.25 - 0.2 + 2, -0.2 + 2, 0.05 + 2};
    for (int i = 0; i < 6; i++) NEAR(ret[i], w1[i], 1e-14, "rpp ret[%d] = %g want %g", i, ret[i], w1[i]);
    // the advantages are those returns whitened over the whole batch (two-pass reference)
    double adv[6], m, v;
    rl_reinforce_pp(4, len, kl, 0.5, sc, 0, 1.0, adv);
    two_pass(6, w1, NULL, &m, &v);
    for (int i = 0; i < 6; i++) NEAR(adv[i], (w1[i] - m) / sqrt(v + 1e-8), 1e-13, "rpp adv[%d]", i);
    // with the baseline and β: scores minus group means (−1, 1, 0, 0)
    rl_reinforce_pp(4, len, kl, 0.5, sc, 2, 1.0, adv);
    double w2[6] = {-0.15 + 0.1 - 1, 0.1 - 1, -0.05 + 1, -0.25 - 0.2, -0.2, 0.05};
    two_pass(6, w2, NULL, &m, &v);
    for (int i = 0; i < 6; i++) NEAR(adv[i], (w2[i] - m) / sqrt(v + 1e-8), 1e-13, "rpp-baseline adv[%d]", i);
}

static void test_klctl(void) {
    RLKLController c = {0.1, 1, 6.0, 10000.0};
    NEAR(rl_klctl_update(&c, 12.0, 64), 0.1 * (1 + 0.2 * 64 / 10000.0), 1e-15, "error clipped at +0.2");
    double before = c.beta;
    CHECK(rl_klctl_update(&c, 6.0, 64) == before, "KL on target leaves β");
    c.beta = 0.1;
    NEAR(rl_klctl_update(&c, 0.0, 64), 0.1 * (1 - 0.2 * 64 / 10000.0), 1e-15, "error clipped at -0.2");
    c.beta = 0.1;
    NEAR(rl_klctl_update(&c, 6.6, 64), 0.1 * (1 + 0.1 * 64 / 10000.0), 1e-15, "inside the clip: e = 0.1");
    c.beta = 0.1;
    NEAR(rl_klctl_update(&c, 1e9, 10000), 0.12, 1e-15, "n = horizon, e = 0.2 ⇒ ×1.2");
    RLKLController f = {0.05, 0, 6.0, 10000.0};
    CHECK(rl_klctl_update(&f, 100.0, 64) == 0.05 && f.beta == 0.05, "fixed β never moves");
}

static void test_bon(void) {
    double r[4] = {1, 3, 3, 2};
    CHECK(rl_best_of_n(4, r) == 1, "argmax, ties -> lowest index: %d", rl_best_of_n(4, r));
    double r2[3] = {NAN, -1, -2};
    CHECK(rl_best_of_n(3, r2) == 1, "NaN never wins");
    CHECK(rl_best_of_n(1, r) == 0, "n = 1");
    CHECK(rl_bon_kl_bound(1) == 0.0, "bound n=1 = 0");
    NEAR(rl_bon_kl_bound(4), log(4.0) - 0.75, 1e-15, "bound n=4");
    NEAR(rl_bon_kl_bound(4), 0.6362943611198906, 1e-15, "bound n=4 hand");
    NEAR(rl_bon_kl_bound(2), 0.19314718055994531, 1e-15, "bound n=2 hand");
    for (int n = 1; n < 64; n++) CHECK(rl_bon_kl_bound(n + 1) > rl_bon_kl_bound(n), "bound grows with n (%d)", n);
}

int main(void) {
    test_kl();
    test_rewards();
    test_gae();
    test_whiten();
    test_policy();
    test_agg();
    test_value();
    test_group();
    test_reinforce();
    test_klctl();
    test_bon();
    return check_summary("rl_math");
}
