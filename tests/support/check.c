// tests/support/check.c — the test harness (see check.h).
#include "check.h"

#include <math.h>
#include <string.h>

int check_failures = 0, check_count = 0;

static int close_report(const char *what, double maxdiff, size_t worst, double bmax, double tol,
                        double av, double bv) {
    check_count++;
    if (maxdiff <= tol && !isnan(maxdiff)) return 1;
    check_failures++;
    fprintf(stderr, "%s: max |a-b| = %.3e at [%zu] (a=%.6e b=%.6e), allowed %.3e (|b|max %.3e)\n",
            what, maxdiff, worst, av, bv, tol, bmax);
    return 0;
}

int check_close_f(const char *what, const float *a, const double *b, size_t n, double rtol,
                  double floor) {
    double maxdiff = 0, bmax = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (isnan(d) || d > maxdiff) { maxdiff = isnan(d) ? NAN : d; worst = i; if (isnan(d)) break; }
        if (fabs(b[i]) > bmax) bmax = fabs(b[i]);
    }
    double tol = rtol * (bmax > floor ? bmax : floor);
    return close_report(what, maxdiff, worst, bmax, tol, n ? a[worst] : 0, n ? b[worst] : 0);
}

int check_close_d(const char *what, const double *a, const double *b, size_t n, double rtol,
                  double floor) {
    double maxdiff = 0, bmax = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (isnan(d) || d > maxdiff) { maxdiff = isnan(d) ? NAN : d; worst = i; if (isnan(d)) break; }
        if (fabs(b[i]) > bmax) bmax = fabs(b[i]);
    }
    double tol = rtol * (bmax > floor ? bmax : floor);
    return close_report(what, maxdiff, worst, bmax, tol, n ? a[worst] : 0, n ? b[worst] : 0);
}

int check_bitwise(const char *what, const float *a, const float *b, size_t n) {
    check_count++;
    if (memcmp(a, b, n * sizeof(float)) == 0) return 1;
    check_failures++;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            fprintf(stderr, "%s: not bit-identical, first difference at [%zu]: %.9g vs %.9g\n",
                    what, i, a[i], b[i]);
            break;
        }
    return 0;
}

int check_summary(const char *name) {
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

static unsigned long long splitmix(unsigned long long *s) {
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void fill_uniform(float *x, size_t n, unsigned long long seed, float scale) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(((splitmix(&seed) >> 11) * (1.0 / 9007199254740992.0)) * 2.0 - 1.0) * scale;
}

void fill_uniform_d(double *x, size_t n, unsigned long long seed, double scale) {
    for (size_t i = 0; i < n; i++)
        x[i] = (((splitmix(&seed) >> 11) * (1.0 / 9007199254740992.0)) * 2.0 - 1.0) * scale;
}
