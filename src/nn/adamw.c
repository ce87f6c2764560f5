// nn/adamw.c — the optimizer: Σg² for global-norm clipping, and the AdamW parameter update.
#include "nn/nn.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "util/common.h"

// Σ g[i]² over g[n]: thread t sums the t-th contiguous slice in double, in 8 interleaved partial
// sums (one vector register) added in a fixed order; the threads' partials are added in thread
// order (same thread count → same bits).
double sum_squares(const float *g, size_t n) {
    int maxt = omp_get_max_threads();
    double *part = xcalloc((size_t)maxt, sizeof(double));
    int used = 1;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
#pragma omp single
        used = nt;
        size_t per = (n + (size_t)nt - 1) / (size_t)nt;
        size_t i0 = (size_t)t * per, i1 = i0 + per < n ? i0 + per : n;
        double acc[8] = {0}, s = 0.0;
        size_t i = i0;
        for (; i + 8 <= i1; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += (double)g[i + (size_t)j] * (double)g[i + (size_t)j];
        for (; i < i1; i++) s += (double)g[i] * (double)g[i];
        for (int j = 0; j < 8; j++) s += acc[j];
        part[t] = s;
    }
    double total = 0.0;
    for (int t = 0; t < used; t++) total += part[t];
    free(part);
    return total;
}

// p[n], g[n], m[n], v[n]: one AdamW step (step 1-based), gradient scaled by grad_scale first,
// decoupled weight decay: p −= lr·(m̂/(√v̂ + eps) + weight_decay·p).
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, long step, float lr,
                  float beta1, float beta2, float eps, float weight_decay, float grad_scale) {
    float bc1 = (float)(1.0 - pow((double)beta1, (double)step));
    float bc2 = (float)(1.0 - pow((double)beta2, (double)step));
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * grad_scale;
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float mh = mi / bc1, vh = vi / bc2;
        p[i] -= lr * (mh / (sqrtf(vh) + eps) + weight_decay * p[i]);
    }
}
