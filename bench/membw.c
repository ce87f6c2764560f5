// bench/membw.c — memory read bandwidth: all threads read disjoint halves of a 1 GiB buffer with
// vectorised sums; the figure generation's weight-read bandwidth is compared against.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "util/common.h"
#include "util/timer.h"

double bench_membw(int repeat) {
    size_t n = (size_t)1 << 28;  // 2^28 floats = 1 GiB
    float *x = falloc(n);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = (float)(i & 1023) * 1e-3f;
    int reps = repeat < 3 ? 3 : repeat;
    double *gbps = xmalloc((size_t)reps * sizeof(double));
    volatile float sink = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        float total = 0;
        #pragma omp parallel
        {
            float s = 0;
            #pragma omp for schedule(static) nowait
            for (size_t blk = 0; blk < n; blk += 4096) {
                float acc = 0;
                #pragma omp simd reduction(+ : acc)
                for (size_t i = blk; i < blk + 4096; i++) acc += x[i];
                s += acc;
            }
            #pragma omp critical
            total += s;
        }
        sink += total;
        gbps[r] = (double)n * sizeof(float) / (now_s() - t0) / 1e9;
    }
    double med = bench_median(gbps, reps);
    char common[256];
    bench_common_fields(common, sizeof common);
    printf("{\"bench\": \"membw\", \"bytes\": %zu, \"gbps\": %.2f, %s}\n", n * sizeof(float), med, common);
    fflush(stdout);
    free(gbps);
    free(x);
    (void)sink;
    return med;
}
