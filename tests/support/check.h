// tests/support/check.h — the tiny test harness every tests/test_*.c uses.
// CHECK records a failure with file:line and goes on; a test's main ends with
// `return check_summary("name");`, which prints the counts and returns non-zero on any failure.
#ifndef RLHF_TEST_CHECK_H
#define RLHF_TEST_CHECK_H

#include <stddef.h>
#include <stdio.h>

extern int check_failures, check_count;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        check_count++;                                                        \
        if (!(cond)) {                                                        \
            check_failures++;                                                 \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

// ‖a − b‖∞ ≤ rtol · max(‖b‖∞, floor): the kernel-vs-reference criterion. Prints the worst index.
int check_close_f(const char *what, const float *a, const double *b, size_t n, double rtol,
                  double floor);
int check_close_d(const char *what, const double *a, const double *b, size_t n, double rtol,
                  double floor);
// Bitwise equality of two float arrays.
int check_bitwise(const char *what, const float *a, const float *b, size_t n);
int check_summary(const char *name);

// Deterministic test data: uniform in [-scale, scale], from a seed.
void fill_uniform(float *x, size_t n, unsigned long long seed, float scale);
void fill_uniform_d(double *x, size_t n, unsigned long long seed, double scale);

#endif
