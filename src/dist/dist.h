// dist/dist.h — the processes taking part in a run. Today one process (rank 0 of 1, every
// collective is the identity); stages already take their share of each global batch through
// dist_shard and reduce gradients through dist_allreduce_sum, so adding MPI changes no stage.
#ifndef RLHF_DIST_H
#define RLHF_DIST_H

#include <stddef.h>

void dist_init(int *argc, char ***argv);
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);
static inline int dist_is_root(void) { return dist_rank() == 0; }
// This rank's contiguous share [*start, *start + *count) of n global items.
void dist_shard(size_t n, size_t *start, size_t *count);
// In-place sum over ranks, identical bits on every rank.
void dist_allreduce_sum(float *buf, size_t n);
void dist_allreduce_sum_double(double *buf, size_t n);
void dist_broadcast(void *buf, size_t bytes);  // from rank 0
void dist_barrier(void);

#endif
