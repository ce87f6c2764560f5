// tests/test_train_losses.c — train/losses: every loss and gradient against numbers written by
// hand or recomputed here in long double from the formulas, against central finite differences
// in double, at extreme inputs (differences of ±100 and more stay finite), rankings with ties,
// gather/scatter over a ragged batch, reward normalisation.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train/losses.h"

#define NEAR(a, b, tol, ...) CHECK(fabs((double)(a) - (double)(b)) <= (tol) * (1.0 + fabs((double)(b))), __VA_ARGS__)

// reference formulas in long double (naive but accurate for moderate inputs)
static long double ref_nls(long double x) { return logl(1.0L + expl(-x)); }  // −log σ(x)
static long double ref_sig(long double x) { return 1.0L / (1.0L + expl(-x)); }

static void test_numerics(void) {
    // hand values: −log σ(0) = ln 2, −log σ(1) = ln(1 + e^{−1}), σ(2) = 0.8807970779778823
    NEAR(loss_neg_log_sigmoid(0), 0.6931471805599453, 1e-15, "-log sigmoid(0)");
    NEAR(loss_neg_log_sigmoid(1), 0.31326168751822286, 1e-15, "-log sigmoid(1)");
    NEAR(loss_neg_log_sigmoid(-1), 1.3132616875182228, 1e-15, "-log sigmoid(-1)");
    NEAR(loss_sigmoid(2), 0.8807970779778823, 1e-15, "sigmoid(2)");
    NEAR(loss_sigmoid(-2), 0.11920292202211755, 1e-15, "sigmoid(-2)");
    for (double x = -30; x <= 30; x += 0.75) {
        NEAR(loss_neg_log_sigmoid(x), (double)ref_nls(x), 1e-14, "-log sigmoid(%g)", x);
        NEAR(loss_sigmoid(x), (double)ref_sig(x), 1e-14, "sigmoid(%g)", x);
    }
    // extremes: no overflow, the asymptotes
    CHECK(loss_neg_log_sigmoid(-1000) == 1000.0, "-log sigmoid(-1000) = %g", loss_neg_log_sigmoid(-1000));
    CHECK(loss_neg_log_sigmoid(1000) == 0.0, "-log sigmoid(1000) = %g", loss_neg_log_sigmoid(1000));
    CHECK(loss_sigmoid(-1000) == 0.0 && loss_sigmoid(1000) == 1.0, "sigmoid saturates");
    NEAR(loss_neg_log_sigmoid(100), 3.720075976020836e-44, 1e-12, "-log sigmoid(100) ~ e^-100");
}

static void test_gather_scatter(void) {
    // rows of 3, 1, 4 tokens
    int len[3] = {3, 1, 4};
    float tok[8] = {-1.0f, -2.0f, -0.5f, -3.0f, -0.25f, -0.75f, -1.5f, -2.5f};
    float mask[8] = {0, 1, 1, 1, 0, 0, 1, 1};
    tok[0] = NAN;  // a masked-out position may hold garbage
    double sum[3], cnt[3];
    seq_gather_sum(3, len, tok, mask, sum, cnt);
    CHECK(sum[0] == -2.5 && cnt[0] == 2, "row 0: %g / %g", sum[0], cnt[0]);
    CHECK(sum[1] == -3.0 && cnt[1] == 1, "row 1: %g / %g", sum[1], cnt[1]);
    CHECK(sum[2] == -4.0 && cnt[2] == 2, "row 2: %g / %g", sum[2], cnt[2]);
    tok[0] = -1.0f;
    seq_gather_sum(3, len, tok, NULL, sum, cnt);
    CHECK(sum[0] == -3.5 && cnt[0] == 3 && sum[2] == -5.0 && cnt[2] == 4, "no mask: %g %g", sum[0], sum[2]);

    double drow[3] = {2.0, -1.0, 0.5};
    float dtok[8];
    memset(dtok, 0x7f, sizeof dtok);  // overwritten, not accumulated
    seq_scatter_sum(3, len, drow, mask, dtok);
    float want[8] = {0, 2, 2, -1, 0, 0, 0.5f, 0.5f};
    CHECK(memcmp(dtok, want, sizeof want) == 0, "scatter sum: %g %g %g %g %g %g %g %g", dtok[0],
          dtok[1], dtok[2], dtok[3], dtok[4], dtok[5], dtok[6], dtok[7]);
    // adjoint: Σ dtok·tok = Σ drow·row_sum
    seq_gather_sum(3, len, tok, mask, sum, NULL);
    double lhs = 0, rhs = 0;
    for (int n = 0; n < 8; n++) lhs += (double)dtok[n] * tok[n];
    for (int b = 0; b < 3; b++) rhs += drow[b] * sum[b];
    NEAR(lhs, rhs, 1e-12, "scatter is the adjoint of gather: %g vs %g", lhs, rhs);

    double last[3];
    seq_gather_last(3, len, tok, last);
    CHECK(last[0] == -0.5 && last[1] == -3.0 && last[2] == -2.5, "last: %g %g %g", last[0], last[1], last[2]);
    memset(dtok, 0x7f, sizeof dtok);
    seq_scatter_last(3, len, drow, dtok);
    float want_last[8] = {0, 0, 2, -1, 0, 0, 0, 0.5f};
    CHECK(memcmp(dtok, want_last, sizeof want_last) == 0, "scatter last");
}

static void test_bt_pair(void) {
    // hand: rw = 1, rl = 0, no margin/centring: loss = ln(1 + e^{−1}), d_w = −σ(−1), d_l = σ(−1)
    BTPair p = bt_pair(1.0, 0.0, 0.0, 0.0);
    NEAR(p.loss, 0.31326168751822286, 1e-14, "bt loss %g", p.loss);
    NEAR(p.d_w, -0.2689414213699951, 1e-14, "bt d_w %g", p.d_w);
    NEAR(p.d_l, 0.2689414213699951, 1e-14, "bt d_l %g", p.d_l);
    CHECK(p.correct == 1 && p.margin == 1.0, "bt acc/margin");
    // margin 1 makes x = 0: loss ln 2, d_w = −1/2
    p = bt_pair(1.0, 0.0, 1.0, 0.0);
    NEAR(p.loss, 0.6931471805599453, 1e-14, "bt margin loss %g", p.loss);
    NEAR(p.d_w, -0.5, 1e-14, "bt margin d_w %g", p.d_w);
    CHECK(p.margin == 1.0, "reported margin excludes m: %g", p.margin);
    // centring: rw = 0.5, rl = 1.5, λ = 0.01: loss = ln(1+e) + 0.01·4, d_w = −σ(1) + 0.04, d_l = σ(1) + 0.04
    p = bt_pair(0.5, 1.5, 0.0, 0.01);
    NEAR(p.loss, 1.3132616875182228 + 0.04, 1e-14, "bt centre loss %g", p.loss);
    NEAR(p.d_w, -0.7310585786300049 + 0.04, 1e-14, "bt centre d_w %g", p.d_w);
    NEAR(p.d_l, 0.7310585786300049 + 0.04, 1e-14, "bt centre d_l %g", p.d_l);
    CHECK(p.correct == 0 && p.margin == -1.0, "bt wrong order");
    CHECK(bt_pair(1.0, 1.0, 0, 0).correct == 0, "a tie is not correct");

    // long double reference and finite differences over a grid
    const double h = 1e-5;
    for (double rw = -3; rw <= 3; rw += 1.25)
        for (double rl = -2; rl <= 2; rl += 1.5)
            for (int k = 0; k < 4; k++) {
                double m = (k & 1) ? 0.7 : 0.0, c = (k & 2) ? 0.05 : 0.0;
                BTPair q = bt_pair(rw, rl, m, c);
                long double s = (long double)rw + rl;
                long double ref = ref_nls((long double)rw - rl - m) + c * s * s;
                NEAR(q.loss, (double)ref, 1e-13, "bt(%g,%g,%g,%g) loss %.17g vs %.17g", rw, rl, m, c, q.loss, (double)ref);
                double fw = (bt_pair(rw + h, rl, m, c).loss - bt_pair(rw - h, rl, m, c).loss) / (2 * h);
                double fl = (bt_pair(rw, rl + h, m, c).loss - bt_pair(rw, rl - h, m, c).loss) / (2 * h);
                NEAR(q.d_w, fw, 1e-7, "bt d_w fd (%g,%g,%g,%g): %.10g vs %.10g", rw, rl, m, c, q.d_w, fw);
                NEAR(q.d_l, fl, 1e-7, "bt d_l fd (%g,%g,%g,%g): %.10g vs %.10g", rw, rl, m, c, q.d_l, fl);
            }
    // extremes
    BTPair a = bt_pair(100.0, -0.0, 0, 0), b = bt_pair(-50.0, 50.0, 0, 0), c = bt_pair(-1e4, 1e4, 0.5, 0);
    CHECK(isfinite(a.loss) && a.loss >= 0 && a.loss < 1e-40 && isfinite(a.d_w) && fabs(a.d_w) < 1e-40,
          "rw - rl = 100: loss %g d_w %g", a.loss, a.d_w);
    NEAR(b.loss, 100.0, 1e-15, "rw - rl = -100: loss %g", b.loss);
    CHECK(b.d_w == -1.0 && b.d_l == 1.0, "rw - rl = -100: grads %g %g", b.d_w, b.d_l);
    CHECK(isfinite(c.loss) && isfinite(c.d_w) && isfinite(c.d_l), "rw - rl = -2e4 finite");
}

static void test_bt_ranking(void) {
    // K = 3 strict ranking: rewards (2, 1, 0) ranked 0 < 1 < 2: pairs (0,1), (0,2), (1,2) with
    // differences 1, 2, 1: loss = (2·ln(1+e^{−1}) + ln(1+e^{−2})) / 3
    double r[4] = {2.0, 1.0, 0.0, 0.0}, dr[4];
    int rank[4] = {0, 1, 2, 0};
    BTRanking k = bt_ranking(3, r, rank, 0, 0, dr);
    double want = (2 * 0.31326168751822286 + 0.12692801104297263) / 3;
    CHECK(k.pairs == 3, "pairs %d", k.pairs);
    NEAR(k.loss, want, 1e-14, "ranking loss %.17g vs %.17g", k.loss, want);
    CHECK(k.accuracy == 1.0, "ranking accuracy %g", k.accuracy);
    NEAR(k.mean_margin, 4.0 / 3.0, 1e-15, "ranking margin %g", k.mean_margin);
    // d r0 = (−σ(−1) − σ(−2))/3; d r2 = (σ(−2) + σ(−1))/3; d r1 = (σ(−1) − σ(−1))/3 = 0
    double s1 = 0.2689414213699951, s2 = 0.11920292202211755;
    NEAR(dr[0], -(s1 + s2) / 3, 1e-14, "dr0 %g", dr[0]);
    NEAR(dr[1], 0.0, 1e-14, "dr1 %g", dr[1]);
    NEAR(dr[2], (s1 + s2) / 3, 1e-14, "dr2 %g", dr[2]);

    // ties: K = 4, ranks (0, 1, 1, 2): the pair (1, 2) is skipped → 5 pairs
    int trank[4] = {0, 1, 1, 2};
    double tr[4] = {0.3, -0.2, 0.9, -1.1};
    k = bt_ranking(4, tr, trank, 0.1, 0.02, dr);
    CHECK(k.pairs == 5, "ties skipped: %d pairs", k.pairs);
    long double lsum = 0;
    int better[5] = {0, 0, 0, 1, 2}, worse[5] = {1, 2, 3, 3, 3};
    int correct = 0;
    for (int p = 0; p < 5; p++) {
        long double x = (long double)tr[better[p]] - tr[worse[p]] - 0.1L, s = (long double)tr[better[p]] + tr[worse[p]];
        lsum += ref_nls(x) + 0.02L * s * s;
        correct += tr[better[p]] > tr[worse[p]];
    }
    NEAR(k.loss, (double)(lsum / 5), 1e-13, "tied ranking loss %.17g vs %.17g", k.loss, (double)(lsum / 5));
    NEAR(k.accuracy, correct / 5.0, 1e-15, "tied ranking accuracy %g (%d/5)", k.accuracy, correct);
    const double h = 1e-5;
    for (int i = 0; i < 4; i++) {
        double up[4], dn[4], g[4];
        memcpy(up, tr, sizeof up); memcpy(dn, tr, sizeof dn);
        up[i] += h; dn[i] -= h;
        double fd = (bt_ranking(4, up, trank, 0.1, 0.02, g).loss - bt_ranking(4, dn, trank, 0.1, 0.02, g).loss) / (2 * h);
        NEAR(dr[i], fd, 1e-7, "ranking dr[%d] %.10g vs fd %.10g", i, dr[i], fd);
    }
    // swapping the tied two changes nothing; un-tying them adds a pair
    double sw[4] = {0.3, 0.9, -0.2, -1.1}, gs[4];
    CHECK(fabs(bt_ranking(4, sw, trank, 0.1, 0.02, gs).loss - k.loss) < 1e-15, "tie order irrelevant");
    int untied[4] = {0, 1, 2, 3};
    CHECK(bt_ranking(4, tr, untied, 0.1, 0.02, dr).pairs == 6, "untied: 6 pairs");
    // all tied: zero pairs, zero everything
    int all[3] = {1, 1, 1};
    k = bt_ranking(3, r, all, 0, 0, dr);
    CHECK(k.pairs == 0 && k.loss == 0 && dr[0] == 0 && dr[1] == 0 && dr[2] == 0, "all tied");
    // K = 2 equals one pair
    int two[2] = {0, 1};
    double r2[2] = {0.4, 1.7};
    k = bt_ranking(2, r2, two, 0.2, 0.01, dr);
    BTPair p = bt_pair(0.4, 1.7, 0.2, 0.01);
    CHECK(k.loss == p.loss && dr[0] == p.d_w && dr[1] == p.d_l, "K = 2 is one pair");
    // extremes
    double ex[3] = {-100, 0, 100};
    int exr[3] = {0, 1, 2};
    k = bt_ranking(3, ex, exr, 0, 0, dr);
    CHECK(isfinite(k.loss) && isfinite(dr[0]) && isfinite(dr[2]) && k.accuracy == 0, "extreme ranking finite: %g", k.loss);
    NEAR(k.loss, (100.0 + 200.0 + 100.0) / 3, 1e-12, "extreme ranking loss %g", k.loss);
}

static void test_pref(void) {
    const double h = 1e-5;
    // hand: DPO, β = 0.1, pw = −10, pl = −12, qw = −11, ql = −11: h = 1 − (−1) = 2, βh = 0.2
    PrefLossConfig c = {PREF_DPO, 0.1, 0.0};
    PrefPair p = pref_pair(&c, -10, -12, -11, -11);
    NEAR(p.loss, 0.5981388693815918, 1e-14, "dpo loss %.17g", p.loss);  // ln(1 + e^{−0.2})
    NEAR(p.d_pw, -0.1 * 0.45016600268752216, 1e-14, "dpo d_pw %g", p.d_pw);  // −β σ(−0.2)
    NEAR(p.d_pl, 0.1 * 0.45016600268752216, 1e-14, "dpo d_pl %g", p.d_pl);
    CHECK(p.correct == 1, "dpo correct");
    NEAR(p.reward_w, 0.1, 1e-14, "reward_w %g", p.reward_w);
    NEAR(p.reward_l, -0.1, 1e-14, "reward_l %g", p.reward_l);
    NEAR(p.margin, 0.2, 1e-14, "dpo margin %g", p.margin);
    // label smoothing ε = 0.1: loss = 0.9·ln(1+e^{−0.2}) + 0.1·ln(1+e^{0.2})
    c.label_smoothing = 0.1;
    p = pref_pair(&c, -10, -12, -11, -11);
    NEAR(p.loss, 0.9 * 0.5981388693815918 + 0.1 * 0.7981388693815918, 1e-14, "cdpo loss %.17g", p.loss);
    NEAR(p.d_pw, 0.1 * (-0.9 * 0.45016600268752216 + 0.1 * 0.5498339973124779), 1e-14, "cdpo d_pw %g", p.d_pw);
    // IPO, β = 0.5 → target 1: h = 2 → loss 1, d_pw = 2
    PrefLossConfig ipo = {PREF_IPO, 0.5, 0.0};
    p = pref_pair(&ipo, -1.0, -2.5, -1.5, -1.0);  // h = 0.5 − (−1.5) = 2
    NEAR(p.loss, 1.0, 1e-14, "ipo loss %g", p.loss);
    NEAR(p.d_pw, 2.0, 1e-14, "ipo d_pw %g", p.d_pw);
    NEAR(p.d_pl, -2.0, 1e-14, "ipo d_pl %g", p.d_pl);

    // grid: long double reference + finite differences for all three
    PrefLossConfig cfgs[3] = {{PREF_DPO, 0.1, 0.0}, {PREF_DPO, 0.3, 0.2}, {PREF_IPO, 0.25, 0.0}};
    for (int ci = 0; ci < 3; ci++) {
        const PrefLossConfig *q = &cfgs[ci];
        for (double pw = -20; pw <= -2; pw += 4.5)
            for (double pl = -18; pl <= -3; pl += 5)
                for (double dq = -3; dq <= 3; dq += 3) {
                    double qw = pw + dq, ql = pl - 0.5 * dq;
                    PrefPair r = pref_pair(q, pw, pl, qw, ql);
                    long double hh = ((long double)pw - qw) - ((long double)pl - ql), ref;
                    if (q->kind == PREF_IPO) { long double d = hh - 1.0L / (2.0L * q->beta); ref = d * d; }
                    else ref = (1.0L - q->label_smoothing) * ref_nls(q->beta * hh) + q->label_smoothing * ref_nls(-q->beta * hh);
                    NEAR(r.loss, (double)ref, 1e-13, "pref[%d] loss %.17g vs %.17g", ci, r.loss, (double)ref);
                    double fw = (pref_pair(q, pw + h, pl, qw, ql).loss - pref_pair(q, pw - h, pl, qw, ql).loss) / (2 * h);
                    double fl = (pref_pair(q, pw, pl + h, qw, ql).loss - pref_pair(q, pw, pl - h, qw, ql).loss) / (2 * h);
                    NEAR(r.d_pw, fw, 1e-7, "pref[%d] d_pw %.10g vs fd %.10g", ci, r.d_pw, fw);
                    NEAR(r.d_pl, fl, 1e-7, "pref[%d] d_pl %.10g vs fd %.10g", ci, r.d_pl, fl);
                    CHECK(r.correct == (hh > 0), "pref[%d] correct", ci);
                }
    }
    // extremes: log-ratio differences of ±1000 (βh = ±100)
    PrefPair a = pref_pair(&c, 0, -1000, 0, 0), b = pref_pair(&c, -1000, 0, 0, 0);
    CHECK(isfinite(a.loss) && isfinite(a.d_pw) && isfinite(b.loss) && isfinite(b.d_pw), "dpo extremes finite");
    c.label_smoothing = 0;
    b = pref_pair(&c, -1000, 0, 0, 0);
    NEAR(b.loss, 100.0, 1e-14, "dpo βh = -100: loss %g", b.loss);
    NEAR(b.d_pw, -0.1, 1e-14, "dpo βh = -100: d_pw %g", b.d_pw);
    PrefLossKind k;
    CHECK(pref_kind_parse("ipo", &k) == 0 && k == PREF_IPO && pref_kind_parse("kto", &k) != 0, "parse");
}

static void test_norm(void) {
    double s[4] = {1.0, 2.0, 3.0, 6.0};  // mean 3, population variance (4+1+0+9)/4 = 3.5
    RewardNorm n = reward_norm_fit(s, 4, 0);
    CHECK(n.bias == -3.0 && n.gain == 1.0, "bias only: %g %g", n.bias, n.gain);
    CHECK(reward_norm_apply(&n, 6.0) == 3.0, "apply bias");
    n = reward_norm_fit(s, 4, 1);
    NEAR(n.gain, 1.0 / sqrt(3.5), 1e-15, "gain %g", n.gain);
    double m = 0, v = 0;
    for (int i = 0; i < 4; i++) m += reward_norm_apply(&n, s[i]);
    m /= 4;
    for (int i = 0; i < 4; i++) v += (reward_norm_apply(&n, s[i]) - m) * (reward_norm_apply(&n, s[i]) - m);
    v /= 4;
    CHECK(fabs(m) < 1e-15 && fabs(v - 1) < 1e-14, "normalised mean %g var %g", m, v);
    double same[3] = {2, 2, 2};
    n = reward_norm_fit(same, 3, 1);
    CHECK(n.bias == -2 && n.gain == 1, "constant scores keep gain 1");
    n = reward_norm_fit(NULL, 0, 1);
    CHECK(n.bias == 0 && n.gain == 1, "empty set is the identity");
}

int main(void) {
    test_numerics();
    test_gather_scatter();
    test_bt_pair();
    test_bt_ranking();
    test_pref();
    test_norm();
    return check_summary("train_losses");
}
