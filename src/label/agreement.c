// label/agreement.c — owns the agreement statistics (see agreement.h): Cohen's κ from the
// observed and chance agreement, Krippendorff's α from the coincidence matrix (Krippendorff,
// "Computing Krippendorff's Alpha-Reliability", 2011, nominal data).
#include "label/agreement.h"

#include <stdlib.h>

#include "util/common.h"

double agreement_kappa(const int *a, const int *b, int n, int *ok) {
    *ok = 0;
    if (n <= 0) return 0;
    int cats = 0;
    for (int i = 0; i < n; i++) {
        if (a[i] + 1 > cats) cats = a[i] + 1;
        if (b[i] + 1 > cats) cats = b[i] + 1;
    }
    double *pa = xcalloc((size_t)cats, sizeof(double)), *pb = xcalloc((size_t)cats, sizeof(double));
    double po = 0;
    for (int i = 0; i < n; i++) {
        po += a[i] == b[i];
        pa[a[i]] += 1.0 / n;
        pb[b[i]] += 1.0 / n;
    }
    po /= n;
    double pe = 0;
    for (int c = 0; c < cats; c++) pe += pa[c] * pb[c];
    free(pa);
    free(pb);
    if (1 - pe < 1e-12) return 0;
    *ok = 1;
    return (po - pe) / (1 - pe);
}

double agreement_alpha(const int *codes, int n_units, int n_raters, int n_cats, int *ok) {
    *ok = 0;
    if (n_cats <= 0) return 0;
    double *o = xcalloc((size_t)n_cats * (size_t)n_cats, sizeof(double));  // coincidences
    int *cnt = xmalloc((size_t)n_cats * sizeof(int));
    for (int u = 0; u < n_units; u++) {
        int m = 0;
        for (int c = 0; c < n_cats; c++) cnt[c] = 0;
        for (int r = 0; r < n_raters; r++) {
            int v = codes[(size_t)u * (size_t)n_raters + (size_t)r];
            if (v >= 0 && v < n_cats) { cnt[v]++; m++; }
        }
        if (m < 2) continue;
        for (int c = 0; c < n_cats; c++)  // ordered pairs of values within the unit, / (m − 1)
            for (int k = 0; k < n_cats; k++)
                o[c * n_cats + k] += (double)cnt[c] * (double)(cnt[k] - (c == k)) / (m - 1);
    }
    double n = 0, dobs = 0, dexp = 0;
    double *nc = xcalloc((size_t)n_cats, sizeof(double));
    for (int c = 0; c < n_cats; c++)
        for (int k = 0; k < n_cats; k++) {
            nc[c] += o[c * n_cats + k];
            if (c != k) dobs += o[c * n_cats + k];
        }
    for (int c = 0; c < n_cats; c++) n += nc[c];
    for (int c = 0; c < n_cats; c++)
        for (int k = 0; k < n_cats; k++)
            if (c != k) dexp += nc[c] * nc[k];
    free(o);
    free(cnt);
    free(nc);
    if (n < 2 || dexp <= 0) return 0;
    *ok = 1;
    return 1 - (n - 1) * dobs / dexp;
}
