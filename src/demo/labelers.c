// demo/labelers.c — simulated labelers (see labelers.h): Bradley–Terry choice plus random flips,
// and the pairwise agreement between them.
#include "demo/labelers.h"

#include <math.h>
#include <stdlib.h>

#include "util/common.h"
#include "util/rng.h"

enum { TAG_LABEL = 0x6c61626c };

void labelers_default(Labelers *L, int n) {
    if (n < 1) n = 1;
    L->n_labelers = n;
    L->bt_scale = xmalloc((size_t)n * sizeof(double));
    L->flip = xmalloc((size_t)n * sizeof(double));
    for (int l = 0; l < n; l++) {
        double f = n > 1 ? (double)l / (n - 1) : 0.5;
        L->bt_scale[l] = 0.04 + 0.06 * f;
        L->flip[l] = 0.04 + 0.06 * f;
    }
}

void labelers_free(Labelers *L) {
    free(L->bt_scale);
    free(L->flip);
    L->bt_scale = L->flip = NULL;
    L->n_labelers = 0;
}

int labeler_prefers(const Labelers *L, int l, double gold_a, double gold_b, uint64_t seed, uint64_t item) {
    Rng r;
    rng_seed(&r, seed ^ TAG_LABEL, item, (uint64_t)l);
    double p = 1.0 / (1.0 + exp(-(gold_a - gold_b) / L->bt_scale[l]));
    int a = rng_uniform(&r) < p;
    if (rng_uniform(&r) < L->flip[l]) a = !a;
    return a;
}

double labelers_agreement(const Labelers *L, int n_pairs, const double *gold_a, const double *gold_b,
                          uint64_t seed) {
    int n = L->n_labelers;
    if (n < 2 || n_pairs <= 0) return 1.0;
    int *c = xmalloc((size_t)n * sizeof(int));
    long agree = 0, total = 0;
    for (int i = 0; i < n_pairs; i++) {
        for (int l = 0; l < n; l++) c[l] = labeler_prefers(L, l, gold_a[i], gold_b[i], seed, (uint64_t)i);
        for (int a = 0; a < n; a++)
            for (int b = a + 1; b < n; b++) agree += c[a] == c[b], total++;
    }
    free(c);
    return (double)agree / (double)total;
}
