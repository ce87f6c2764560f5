// dist/dist_single.c — the single-process implementation of dist.h: rank 0 of 1.
#include "dist/dist.h"

void dist_init(int *argc, char ***argv) { (void)argc; (void)argv; }
void dist_finalize(void) {}
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }

void dist_shard(size_t n, size_t *start, size_t *count) {
    size_t r = (size_t)dist_rank(), s = (size_t)dist_size();
    size_t base = n / s, extra = n % s;
    *start = r * base + (r < extra ? r : extra);
    *count = base + (r < extra ? 1 : 0);
}

void dist_allreduce_sum(float *buf, size_t n) { (void)buf; (void)n; }
void dist_allreduce_sum_double(double *buf, size_t n) { (void)buf; (void)n; }
void dist_broadcast(void *buf, size_t bytes) { (void)buf; (void)bytes; }
void dist_barrier(void) {}
