// tests/test_rng.c — xoshiro256** streams: determinism, stream independence, normal moments,
// rng_below range and uniformity, shuffle is a permutation.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support/check.h"
#include "util/rng.h"

int main(void) {
    // determinism
    Rng a, b;
    rng_seed(&a, 42, 1, 2);
    rng_seed(&b, 42, 1, 2);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= rng_u64(&a) == rng_u64(&b);
    CHECK(same, "same triple gives the same stream");

    // different triples differ (including swapped a/b and seed vs a)
    const uint64_t triples[][3] = {{42, 1, 2}, {42, 2, 1}, {43, 1, 2}, {42, 1, 3}, {1, 42, 2},
                                   {0, 0, 0},  {0, 0, 1}, {0, 1, 0},  {1, 0, 0}};
    int nt = (int)(sizeof triples / sizeof *triples);
    uint64_t first[16][4];
    for (int t = 0; t < nt; t++) {
        Rng r;
        rng_seed(&r, triples[t][0], triples[t][1], triples[t][2]);
        CHECK((r.s[0] | r.s[1] | r.s[2] | r.s[3]) != 0, "state nonzero for triple %d", t);
        for (int k = 0; k < 4; k++) first[t][k] = rng_u64(&r);
    }
    int distinct = 1;
    for (int t = 0; t < nt; t++)
        for (int u = t + 1; u < nt; u++)
            for (int k = 0; k < 4; k++)
                if (first[t][k] == first[u][k]) distinct = 0;
    CHECK(distinct, "different triples give unrelated streams");

    // stream independence: correlation of uniforms from adjacent streams is ~0
    {
        Rng r1, r2;
        rng_seed(&r1, 7, 0, 0);
        rng_seed(&r2, 7, 0, 1);
        double sxy = 0, sx = 0, sy = 0, sxx = 0, syy = 0;
        const int N = 100000;
        for (int i = 0; i < N; i++) {
            double x = rng_uniform(&r1), y = rng_uniform(&r2);
            sx += x; sy += y; sxy += x * y; sxx += x * x; syy += y * y;
        }
        double cov = sxy / N - (sx / N) * (sy / N);
        double corr = cov / sqrt((sxx / N - sx * sx / N / N) * (syy / N - sy * sy / N / N));
        CHECK(fabs(corr) < 0.02, "adjacent streams correlated: %g", corr);
    }

    // uniform in [0, 1), mean ~ 0.5
    {
        Rng r;
        rng_seed(&r, 1, 2, 3);
        double s = 0, lo = 1, hi = 0;
        for (int i = 0; i < 100000; i++) {
            double u = rng_uniform(&r);
            s += u;
            if (u < lo) lo = u;
            if (u > hi) hi = u;
        }
        CHECK(lo >= 0 && hi < 1, "uniform range [%g, %g]", lo, hi);
        CHECK(fabs(s / 1e5 - 0.5) < 0.01, "uniform mean %g", s / 1e5);
    }

    // normal: mean 0, variance 1 within bounds on 1e5 draws; finite
    {
        Rng r;
        rng_seed(&r, 123, 4, 5);
        double s = 0, ss = 0, s4 = 0;
        int finite = 1;
        const int N = 100000;
        for (int i = 0; i < N; i++) {
            double x = rng_normal(&r);
            finite &= isfinite(x);
            s += x; ss += x * x; s4 += x * x * x * x;
        }
        double mean = s / N, var = ss / N - mean * mean;
        CHECK(finite, "normal draws finite");
        CHECK(fabs(mean) < 0.02, "normal mean %g", mean);    // sd of mean ~0.0032
        CHECK(fabs(var - 1) < 0.03, "normal variance %g", var);  // sd ~0.0045
        CHECK(fabs(s4 / N - 3) < 0.15, "normal 4th moment %g", s4 / N);
    }

    // rng_below: range and uniformity (chi-square), and edge cases
    {
        Rng r;
        rng_seed(&r, 9, 9, 9);
        CHECK(rng_below(&r, 1) == 0, "rng_below(1) == 0");
        enum { K = 10, N = 100000 };
        long cnt[K] = {0};
        int in_range = 1;
        for (int i = 0; i < N; i++) {
            uint64_t x = rng_below(&r, K);
            if (x >= K) in_range = 0;
            else cnt[x]++;
        }
        CHECK(in_range, "rng_below out of range");
        double chi = 0, expct = (double)N / K;
        for (int k = 0; k < K; k++) chi += (cnt[k] - expct) * (cnt[k] - expct) / expct;
        CHECK(chi < 30, "chi-square %g over 9 dof too large", chi);  // p ~ 0.0004
        // a non-power-of-two n near 2^63 (rejection path is heavily exercised)
        uint64_t big = (UINT64_C(1) << 63) + 12345;
        int ok = 1;
        long lower_half = 0;
        for (int i = 0; i < 10000; i++) {
            uint64_t x = rng_below(&r, big);
            if (x >= big) ok = 0;
            if (x < big / 2) lower_half++;
        }
        CHECK(ok, "rng_below(big) in range");
        CHECK(labs(lower_half - 5000) < 300, "rng_below(big) halves %ld", lower_half);
        // powers of two
        int okp = 1;
        for (int i = 0; i < 1000; i++) okp &= rng_below(&r, 8) < 8;
        CHECK(okp, "rng_below(8) in range");
        uint64_t m = 0;
        for (int i = 0; i < 1000; i++) {
            uint64_t x = rng_below(&r, UINT64_MAX);
            if (x > m) m = x;
        }
        CHECK(m < UINT64_MAX, "rng_below(UINT64_MAX) in range");
    }

    // shuffle: permutation, deterministic, not identity, handles n = 0 / 1
    {
        enum { N = 1000 };
        int idx[N], idx2[N], seen[N];
        for (int i = 0; i < N; i++) idx[i] = idx2[i] = i;
        Rng r1, r2;
        rng_seed(&r1, 5, 6, 7);
        rng_seed(&r2, 5, 6, 7);
        rng_shuffle(&r1, idx, N);
        rng_shuffle(&r2, idx2, N);
        memset(seen, 0, sizeof seen);
        int perm = 1, fixed = 0;
        for (int i = 0; i < N; i++) {
            if (idx[i] < 0 || idx[i] >= N || seen[idx[i]]) perm = 0;
            else seen[idx[i]] = 1;
            fixed += idx[i] == i;
        }
        CHECK(perm, "shuffle is a permutation");
        CHECK(fixed < 10, "shuffle left %d fixed points", fixed);
        CHECK(memcmp(idx, idx2, sizeof idx) == 0, "shuffle deterministic");
        int one = 3;
        rng_shuffle(&r1, &one, 1);
        rng_shuffle(&r1, NULL, 0);
        CHECK(one == 3, "shuffle of one element");
        // each of the 6 permutations of 3 elements appears about equally often
        long pc[6] = {0};
        for (int t = 0; t < 60000; t++) {
            int p[3] = {0, 1, 2};
            rng_shuffle(&r1, p, 3);
            int code = p[0] * 2 + (p[1] > p[2]);  // unique per permutation
            pc[code]++;
        }
        int balanced = 1;
        for (int k = 0; k < 6; k++) balanced &= labs(pc[k] - 10000) < 500;
        CHECK(balanced, "shuffle of 3 unbiased: %ld %ld %ld %ld %ld %ld", pc[0], pc[1], pc[2],
              pc[3], pc[4], pc[5]);
    }
    return check_summary("test_rng");
}
