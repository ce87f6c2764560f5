// train/losses.c — stage losses with per-element gradients (see losses.h, docs/losses.md).
#include "train/losses.h"

#include <math.h>
#include <string.h>

double loss_sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

double loss_neg_log_sigmoid(double x) {
    return (x < 0 ? -x : 0.0) + log1p(exp(-fabs(x)));
}

void seq_gather_sum(int B, const int *len, const float *tok, const float *mask, double *row_sum,
                    double *row_count) {
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        double s = 0, c = 0;
        for (size_t i = 0; i < (size_t)len[b]; i++) {
            double w = mask ? (double)mask[o + i] : 1.0;
            if (w == 0) continue;  // masked positions may hold anything (even NaN)
            s += w * (double)tok[o + i];
            c += w;
        }
        row_sum[b] = s;
        if (row_count) row_count[b] = c;
        o += (size_t)len[b];
    }
}

void seq_scatter_sum(int B, const int *len, const double *drow, const float *mask, float *dtok) {
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        for (size_t i = 0; i < (size_t)len[b]; i++)
            dtok[o + i] = mask ? (float)(drow[b] * (double)mask[o + i]) : (float)drow[b];
        o += (size_t)len[b];
    }
}

void seq_gather_last(int B, const int *len, const float *tok, double *out) {
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        o += (size_t)len[b];
        out[b] = len[b] > 0 ? (double)tok[o - 1] : 0.0;
    }
}

void seq_scatter_last(int B, const int *len, const double *drow, float *dtok) {
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        for (size_t i = 0; i < (size_t)len[b]; i++) dtok[o + i] = 0.0f;
        o += (size_t)len[b];
        if (len[b] > 0) dtok[o - 1] = (float)drow[b];
    }
}

BTPair bt_pair(double rw, double rl, double m, double centre) {
    BTPair p;
    double x = rw - rl - m;
    double s = rw + rl;
    p.loss = loss_neg_log_sigmoid(x) + centre * s * s;
    double g = -loss_sigmoid(-x);  // d/dx −log σ(x) = −σ(−x)
    p.d_w = g + 2.0 * centre * s;
    p.d_l = -g + 2.0 * centre * s;
    p.correct = rw > rl;
    p.margin = rw - rl;
    return p;
}

BTRanking bt_ranking(int K, const double *r, const int *rank, double m, double centre, double *dr) {
    BTRanking out = {0, 0, 0, 0};
    for (int k = 0; k < K; k++) dr[k] = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            if (rank[i] >= rank[j]) continue;  // i strictly better than j; ties skipped
            BTPair p = bt_pair(r[i], r[j], m, centre);
            out.loss += p.loss;
            out.accuracy += p.correct;
            out.mean_margin += p.margin;
            dr[i] += p.d_w;
            dr[j] += p.d_l;
            out.pairs++;
        }
    if (out.pairs > 0) {
        double inv = 1.0 / out.pairs;
        out.loss *= inv;
        out.accuracy *= inv;
        out.mean_margin *= inv;
        for (int k = 0; k < K; k++) dr[k] *= inv;
    }
    return out;
}

PrefPair pref_pair(const PrefLossConfig *c, double pw, double pl, double qw, double ql) {
    PrefPair p;
    double b = c->beta;
    double h = (pw - qw) - (pl - ql);
    double dh;
    if (c->kind == PREF_IPO) {
        double d = h - 1.0 / (2.0 * b);
        p.loss = d * d;
        dh = 2.0 * d;
    } else {
        double eps = c->label_smoothing;
        double x = b * h;
        p.loss = (1.0 - eps) * loss_neg_log_sigmoid(x) + eps * loss_neg_log_sigmoid(-x);
        dh = b * (-(1.0 - eps) * loss_sigmoid(-x) + eps * loss_sigmoid(x));
    }
    p.d_pw = dh;
    p.d_pl = -dh;
    p.correct = h > 0;
    p.reward_w = b * (pw - qw);
    p.reward_l = b * (pl - ql);
    p.margin = p.reward_w - p.reward_l;
    return p;
}

int pref_kind_parse(const char *s, PrefLossKind *k) {
    if (!strcmp(s, "dpo")) *k = PREF_DPO;
    else if (!strcmp(s, "ipo")) *k = PREF_IPO;
    else return -1;
    return 0;
}

RewardNorm reward_norm_fit(const double *scores, size_t n, int with_gain) {
    RewardNorm rn = {0.0, 1.0};
    if (n == 0) return rn;
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += scores[i];
    mean /= (double)n;
    rn.bias = -mean;
    if (with_gain) {
        double var = 0;
        for (size_t i = 0; i < n; i++) var += (scores[i] - mean) * (scores[i] - mean);
        var /= (double)n;
        if (var > 0) rn.gain = 1.0 / sqrt(var);
    }
    return rn;
}

double reward_norm_apply(const RewardNorm *rn, double score) { return rn->gain * (score + rn->bias); }
