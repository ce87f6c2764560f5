// bench/membw.c — memory read bandwidth: all threads read disjoint halves of a 1 GiB buffer with
// vectorised sums; the figure generation's weight-read bandwidth is compared against.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "util/common.h"
#include "util/timer.h"

float *bench_membw_buffer(size_t *n) {
    *n = (size_t)1 << 28;  // 2^28 floats = 1 GiB
    float *x = falloc_huge(*n);  // huge pages, as the weights the decoders read
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < *n; i++) x[i] = (float)(i & 1023) * 1e-3f;
    return x;
}

double bench_membw_read(const float *x, size_t n) {
    static volatile float sink;
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
    double gbps = (double)n * sizeof(float) / (now_s() - t0) / 1e9;
    sink += total;
    return gbps;
}

double bench_membw(int repeat) {
    size_t n;
    float *x = bench_membw_buffer(&n);
    int reps = repeat < 3 ? 3 : repeat;
    double *gbps = xmalloc((size_t)reps * sizeof(double));
    for (int r = 0; r < reps; r++) gbps[r] = bench_membw_read(x, n);
    double med = bench_median(gbps, reps);
    char common[384];
    bench_common_fields(common, sizeof common);
    printf("{\"bench\": \"membw\", \"bytes\": %zu, \"gbps\": %.2f, %s}\n", n * sizeof(float), med, common);
    fflush(stdout);
    free(gbps);
    free(x);
    return med;
}
