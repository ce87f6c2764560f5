// dist/dist_single.c — the single-process implementation of dist.h: rank 0 of 1 (built when
// there is no mpicc; with MPI, dist_mpi.c behaves the same way outside mpirun).
#include "dist/dist.h"

#include <stdlib.h>

void dist_init(int *argc, char ***argv) { (void)argc; (void)argv; }
void dist_finalize(void) {}
void dist_abort(int rc) { exit(rc); }
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
const char *dist_backend(void) { return "single"; }

void dist_shard(size_t n, size_t *start, size_t *count) { *start = 0; *count = n; }
void dist_partition(size_t n, size_t *lo) { lo[0] = 0; lo[1] = n; }

void dist_allreduce_sum(float *buf, size_t n) { (void)buf; (void)n; }
void dist_allreduce_sum_double(double *buf, size_t n) { (void)buf; (void)n; }
void dist_allreduce_max_double(double *buf, size_t n) { (void)buf; (void)n; }
void dist_reduce_scatter_sum(float *buf, const size_t *lo) { (void)buf; (void)lo; }
void dist_allgather(float *buf, const size_t *lo) { (void)buf; (void)lo; }
void dist_gather_root(float *buf, const size_t *lo) { (void)buf; (void)lo; }
void dist_broadcast(void *buf, size_t bytes) { (void)buf; (void)bytes; }
void dist_broadcast_from(int root, void *buf, size_t bytes) { (void)root; (void)buf; (void)bytes; }
void dist_barrier(void) {}
double dist_time_bare_allreduce(float *buf, size_t n) { (void)buf; (void)n; return 0; }
