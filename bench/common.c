// bench/common.c — shared pieces of the benchmarks: the GPT-2 124M config, medians, and the
// fields every JSON line carries (BLAS kernel family, OPENBLAS_CORETYPE, threads, fp32 or bf16
// matrix products).
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "nn/gemm.h"
#include "util/sysinfo.h"

GPTConfig bench_gpt2_124m(void) {
    GPTConfig c = {.n_layer = 12, .n_head = 12, .n_embd = 768, .n_ctx = 1024, .vocab_size = 50257,
                   .score_head = 0};
    return c;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *x, int n) {
    qsort(x, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

void bench_common_fields(char *buf, size_t n) {
    const char *ct = getenv("OPENBLAS_CORETYPE");
    char prec[96];
    if (gemm_bf16_on()) snprintf(prec, sizeof prec, "bf16 (oneDNN %s)", gemm_bf16_impl());
    else snprintf(prec, sizeof prec, "fp32 (%s)", gemm_fp32_impl());
    snprintf(buf, n, "\"blas_kernel\": \"%s\", \"openblas_coretype_env\": \"%s\", \"blas_threading\": \"%s\", \"threads\": %d, \"matmul_precision\": \"%s\"",
             blas_corename(), ct ? ct : "", blas_threading(), threads_get(), prec);
}
