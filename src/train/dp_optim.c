// train/dp_optim.c — the data-parallel optimizer step (see dp_optim.h).
#include "train/dp_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "nn/nn.h"

enum { NB = 4096 };  // parameters per norm block (and the ZeRO shard granularity)

static int g_zero;

int dp_set_zero(int stage, Err *e) {
    if (stage != 0 && stage != 1) return err_set(e, "--zero: expected 0 or 1, got %d", stage);
    g_zero = stage;
    return 0;
}

int dp_zero(void) { return g_zero; }

void dp_accum_micro(DpAccum *a, GPT *m, int micro, int n_micro) {
    if (n_micro <= 1) return;
    size_t n = m->n_params;
    float *g = m->grads;
    if (micro == 0) {
        if (a->n < n) { free(a->acc); a->acc = falloc(n); a->n = n; }
        memcpy(a->acc, g, n * sizeof(float));
        gpt_zero_grad(m);
    } else if (micro < n_micro - 1) {
        float *acc = a->acc;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) acc[i] += g[i];
        gpt_zero_grad(m);
    } else {
        const float *acc = a->acc;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) g[i] = acc[i] + g[i];
    }
}

void dp_accum_free(DpAccum *a) {
    free(a->acc);
    a->acc = NULL;
    a->n = 0;
}

static int sharded(void) { return g_zero && dist_size() > 1; }

// The ZeRO partition: whole blocks dist_shard'ed over the ranks; lo has size + 1 entries.
static size_t *zero_partition(size_t n) {
    int S = dist_size();
    size_t nb = (n + NB - 1) / NB;
    size_t *lo = xmalloc(((size_t)S + 1) * sizeof(size_t));
    size_t *blo = xmalloc(((size_t)S + 1) * sizeof(size_t));
    dist_partition(nb, blo);
    for (int r = 0; r <= S; r++) lo[r] = min_sz(blo[r] * NB, n);
    free(blo);
    return lo;
}

// Σ g² over [lo, hi) (whole blocks), per block into sq[block]; the rest of sq is left as is.
static void block_squares(const float *g, size_t n, size_t lo, size_t hi, double *sq) {
    long b0 = (long)(lo / NB), b1 = (long)((hi + NB - 1) / NB);
#pragma omp parallel for schedule(static)
    for (long b = b0; b < b1; b++) {
        size_t i0 = (size_t)b * NB, i1 = min_sz(i0 + NB, n);
        double s = 0;
        for (size_t i = i0; i < i1; i++) s += (double)g[i] * (double)g[i];
        sq[b] = s;
    }
}

float dp_step(GPT *m, const AdamWConfig *oc, double count) {
    if (!m->trainable) die("dp_step: model was created frozen");
    size_t n = m->n_params, lo = 0, hi = n;
    size_t *part = NULL;
    if (sharded()) {
        part = zero_partition(n);
        dist_reduce_scatter_sum(m->grads, part);
        lo = part[dist_rank()];
        hi = part[dist_rank() + 1];
    } else {
        dist_allreduce_sum(m->grads, n);
    }
    if (count > 0) {
        float s = (float)(1.0 / count);
        float *g = m->grads;
#pragma omp parallel for schedule(static)
        for (size_t i = lo; i < hi; i++) g[i] *= s;
    }
    double total = 0;
    if (part) {  // ZeRO-1: per-block sums, each block from its one owner (exact), in block order
        size_t nb = (n + NB - 1) / NB;
        double *sq = xcalloc(nb ? nb : 1, sizeof(double));
        block_squares(m->grads, n, lo, hi, sq);
        dist_allreduce_sum_double(sq, nb);
        for (size_t b = 0; b < nb; b++) total += sq[b];
        free(sq);
    } else {  // every rank holds the whole gradient: the model's own norm (gpt_adamw_step's bits)
        total = sum_squares(m->grads, n);
    }
    float norm = gpt_adamw_apply(m, oc, total, lo, hi);
    if (part) dist_allgather(m->params, part);
    free(part);
    return norm;
}

// A fresh calloc'ed buffer (pages untouched outside the shard stay unbacked) holding only
// [lo, hi) of *buf.
static void keep_shard(float **buf, size_t n, size_t lo, size_t hi) {
    float *fresh = xcalloc(n, sizeof(float));
    memcpy(fresh + lo, *buf + lo, (hi - lo) * sizeof(float));
    free(*buf);
    *buf = fresh;
}

void dp_prepare(GPT *m) {
    if (!sharded() || !m->trainable) return;
    size_t *part = zero_partition(m->n_params);
    size_t lo = part[dist_rank()], hi = part[dist_rank() + 1];
    keep_shard(&m->adam_m, m->n_params, lo, hi);
    keep_shard(&m->adam_v, m->n_params, lo, hi);
    free(part);
}

void dp_gather_state(GPT *m) {
    if (!sharded() || !m->trainable) return;
    size_t *part = zero_partition(m->n_params);
    dist_gather_root(m->adam_m, part);
    dist_gather_root(m->adam_v, part);
    free(part);
}
