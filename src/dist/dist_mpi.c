// dist/dist_mpi.c — the Open MPI implementation of dist.h (built when `make` finds mpicc).
// Sums are deterministic: a reduce-scatter is an MPI_Alltoallv of the parts (in buckets of
// BUCKET floats per peer) followed by a left fold of the received parts in rank order; an
// all-reduce is that reduce-scatter plus an MPI_Allgatherv. Outside mpirun (no launcher in the
// environment) MPI is never initialised and every call is the single-process no-op.
#include "dist/dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

enum { BUCKET = 1 << 20 };  // floats per peer and exchange: bounds the scratch to size × 4 MiB

static int g_mpi, g_rank, g_size = 1;
static float *g_scratch;
static size_t g_scratch_n;
static int *g_counts;  // 4 × size ints: send counts/displs, recv counts/displs

static int launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

void dist_init(int *argc, char ***argv) {
    if (!launched_by_mpirun()) return;
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    g_mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_counts = xcalloc(4 * (size_t)g_size, sizeof(int));
}

void dist_finalize(void) {
    if (!g_mpi) return;
    MPI_Finalize();
    g_mpi = 0;
    free(g_scratch);
    free(g_counts);
    g_scratch = NULL;
    g_counts = NULL;
}

void dist_abort(int rc) {
    if (!g_mpi || g_size == 1) exit(rc);
    fflush(stdout);
    fprintf(stderr, "rlhf: rank %d of %d failed (exit status %d): stopping every process of the run\n",
            g_rank, g_size, rc);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, rc);
    exit(rc);  // not reached
}

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }
const char *dist_backend(void) { return g_mpi ? "mpi" : "single"; }

void dist_shard(size_t n, size_t *start, size_t *count) {
    size_t r = (size_t)g_rank, s = (size_t)g_size;
    size_t base = n / s, extra = n % s;
    *start = r * base + (r < extra ? r : extra);
    *count = base + (r < extra ? 1 : 0);
}

void dist_partition(size_t n, size_t *lo) {
    size_t s = (size_t)g_size, base = n / s, extra = n % s;
    lo[0] = 0;
    for (size_t r = 0; r < s; r++) lo[r + 1] = lo[r] + base + (r < extra ? 1 : 0);
}

static float *scratch(size_t n) {
    if (n > g_scratch_n) {
        free(g_scratch);
        g_scratch = falloc(n);
        g_scratch_n = n;
    }
    return g_scratch;
}

static void check_int_range(size_t n, const char *what) {
    if (n > (size_t)INT_MAX) die("%s: %zu elements exceed MPI's int counts", what, n);
}

void dist_reduce_scatter_sum(float *buf, const size_t *lo) {
    if (!g_mpi || g_size == 1) return;
    int S = g_size, me = g_rank;
    check_int_range(lo[S], "dist_reduce_scatter_sum");
    size_t longest = 0;
    for (int r = 0; r < S; r++) longest = max_sz(longest, lo[r + 1] - lo[r]);
    size_t steps = (longest + BUCKET - 1) / BUCKET;
    float *tmp = scratch((size_t)S * BUCKET);
    int *sc = g_counts, *sd = sc + S, *rc = sd + S, *rd = rc + S;
    for (size_t k = 0; k < steps; k++) {
        size_t off = k * (size_t)BUCKET;
        for (int r = 0; r < S; r++) {
            size_t len = lo[r + 1] - lo[r];
            sc[r] = off < len ? (int)min_sz(BUCKET, len - off) : 0;
            sd[r] = (int)(lo[r] + (off < len ? off : 0));
        }
        int mine = sc[me];
        for (int r = 0; r < S; r++) { rc[r] = mine; rd[r] = r * mine; }
        MPI_Alltoallv(buf, sc, sd, MPI_FLOAT, tmp, rc, rd, MPI_FLOAT, MPI_COMM_WORLD);
        float *out = buf + lo[me] + off;
        // left fold in rank order: ((p0 + p1) + p2) + …
#pragma omp parallel for schedule(static)
        for (int i = 0; i < mine; i++) {
            float s = tmp[i];
            for (int r = 1; r < S; r++) s += tmp[(size_t)r * (size_t)mine + (size_t)i];
            out[i] = s;
        }
    }
}

static void fill_counts(const size_t *lo, int *counts, int *displs) {
    for (int r = 0; r < g_size; r++) {
        counts[r] = (int)(lo[r + 1] - lo[r]);
        displs[r] = (int)lo[r];
    }
}

void dist_allgather(float *buf, const size_t *lo) {
    if (!g_mpi || g_size == 1) return;
    check_int_range(lo[g_size], "dist_allgather");
    int *counts = g_counts, *displs = g_counts + g_size;
    fill_counts(lo, counts, displs);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, MPI_COMM_WORLD);
}

void dist_gather_root(float *buf, const size_t *lo) {
    if (!g_mpi || g_size == 1) return;
    check_int_range(lo[g_size], "dist_gather_root");
    int *counts = g_counts, *displs = g_counts + g_size;
    fill_counts(lo, counts, displs);
    if (g_rank == 0)
        MPI_Gatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, 0, MPI_COMM_WORLD);
    else
        MPI_Gatherv(buf + lo[g_rank], counts[g_rank], MPI_FLOAT, NULL, NULL, NULL, MPI_FLOAT, 0, MPI_COMM_WORLD);
}

void dist_allreduce_sum(float *buf, size_t n) {
    if (!g_mpi || g_size == 1) return;
    size_t *lo = xmalloc(((size_t)g_size + 1) * sizeof(size_t));
    dist_partition(n, lo);
    dist_reduce_scatter_sum(buf, lo);
    dist_allgather(buf, lo);
    free(lo);
}

// Small double vectors (statistics): every rank's copy gathered, then folded in rank order.
void dist_allreduce_sum_double(double *buf, size_t n) {
    if (!g_mpi || g_size == 1 || n == 0) return;
    check_int_range(n * (size_t)g_size, "dist_allreduce_sum_double");
    double *all = xmalloc(n * (size_t)g_size * sizeof(double));
    MPI_Allgather(buf, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE, MPI_COMM_WORLD);
    for (size_t i = 0; i < n; i++) {
        double s = all[i];
        for (int r = 1; r < g_size; r++) s += all[(size_t)r * n + i];
        buf[i] = s;
    }
    free(all);
}

void dist_allreduce_max_double(double *buf, size_t n) {
    if (!g_mpi || g_size == 1 || n == 0) return;
    check_int_range(n, "dist_allreduce_max_double");
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
}

void dist_broadcast_from(int root, void *buf, size_t bytes) {
    if (!g_mpi || g_size == 1) return;
    char *p = buf;
    while (bytes > 0) {  // in pieces that fit an int count
        size_t k = min_sz(bytes, (size_t)1 << 30);
        MPI_Bcast(p, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
        p += k;
        bytes -= k;
    }
}

void dist_broadcast(void *buf, size_t bytes) { dist_broadcast_from(0, buf, bytes); }

void dist_barrier(void) {
    if (g_mpi && g_size > 1) MPI_Barrier(MPI_COMM_WORLD);
}

double dist_time_bare_allreduce(float *buf, size_t n) {
    if (!g_mpi || g_size == 1) return 0;
    double t = 0;
    for (size_t done = 0; done < n;) {  // in pieces that fit an int count
        int k = (int)min_sz(n - done, (size_t)1 << 30);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf + done, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t += MPI_Wtime() - t0;
        done += (size_t)k;
    }
    return t;
}
