// dist/dist.h — the processes taking part in a run. Two implementations: dist_single.c (rank 0
// of 1, every collective is the identity) and dist_mpi.c (Open MPI; built when `make` finds
// mpicc). Stages take their share of each global batch through dist_shard and reduce gradients
// through dist_allreduce_sum; nothing outside src/dist includes <mpi.h>.
//
// Every sum is a left fold in rank order, x₀ + x₁ + … + x_{N−1}, whatever algorithm MPI would
// pick, so the same run on the same number of processes gives the same bits, and two processes
// give the bits of one process adding the same two partial sums (docs/distributed.md).
// Float collectives take partitions `lo[0..size]` of a flat buffer: rank r owns [lo[r], lo[r+1]).
#ifndef RLHF_DIST_H
#define RLHF_DIST_H

#include <stddef.h>
#include <stdnoreturn.h>

// Starts MPI when the process was launched by mpirun (else: one process, no MPI calls at all).
void dist_init(int *argc, char ***argv);
void dist_finalize(void);
// Ends every process of the run with exit status rc (MPI_Abort): used when one rank fails, so
// the others never wait forever in a collective.
noreturn void dist_abort(int rc);
int dist_rank(void);
int dist_size(void);
static inline int dist_is_root(void) { return dist_rank() == 0; }
const char *dist_backend(void);  // "mpi" or "single"
// This rank's contiguous share [*start, *start + *count) of n global items.
void dist_shard(size_t n, size_t *start, size_t *count);
// This rank's share of n items dealt out in whole chunks of `chunk` items: a loop over the share
// in steps of `chunk` forms the same chunks on any number of ranks (so the same packs, the same
// bits, for evaluation and reference passes).
static inline void dist_shard_chunks(size_t n, size_t chunk, size_t *start, size_t *count) {
    size_t nc = chunk ? (n + chunk - 1) / chunk : 0, c0, cc;
    dist_shard(nc, &c0, &cc);
    size_t a = c0 * chunk < n ? c0 * chunk : n, b = (c0 + cc) * chunk < n ? (c0 + cc) * chunk : n;
    *start = a;
    *count = b - a;
}
// Rows of one micro-batch on one rank: global batch / (grad_accum × processes), at least 1.
static inline size_t dist_micro_rows(long batch, int grad_accum) {
    long r = batch / ((long)grad_accum * dist_size());
    return r > 0 ? (size_t)r : 1;
}
// The even partition of n items over the ranks (lo has size + 1 entries), as dist_shard.
void dist_partition(size_t n, size_t *lo);
// In-place sum over ranks, identical bits on every rank.
void dist_allreduce_sum(float *buf, size_t n);
void dist_allreduce_sum_double(double *buf, size_t n);
void dist_allreduce_max_double(double *buf, size_t n);
// After it, buf[lo[r], lo[r+1]) on rank r holds the sum over ranks; the rest of buf is unchanged.
void dist_reduce_scatter_sum(float *buf, const size_t *lo);
// Every rank's part buf[lo[r], lo[r+1]) copied into every rank's buf.
void dist_allgather(float *buf, const size_t *lo);
// Every rank's part copied into rank 0's buf (the others' buf unchanged).
void dist_gather_root(float *buf, const size_t *lo);
void dist_broadcast(void *buf, size_t bytes);  // from rank 0
void dist_broadcast_from(int root, void *buf, size_t bytes);
void dist_barrier(void);
// The benchmark's yardstick: seconds one bare MPI_Allreduce(MPI_SUM) of n floats in place takes
// (MPI's own algorithm, no ordering guarantee); 0 on one process.
double dist_time_bare_allreduce(float *buf, size_t n);

#endif
