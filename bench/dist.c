// bench/dist.c — data parallelism: one training step (forward, LM-head loss, backward, the
// data-parallel optimizer step of train/dp_optim) of a global batch B×T split over the processes
// of the launch, and the bandwidth of our deterministic all-reduce (dist_allreduce_sum) against
// a bare MPI_Allreduce of the same size. Compare `OMP_NUM_THREADS=2 rlhf bench --only dist` with
// `mpirun -np 2 -x OMP_NUM_THREADS=1 rlhf bench --only dist` (make bench runs both).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "dist/dist.h"
#include "train/dp_optim.h"
#include "util/rng.h"
#include "util/sysinfo.h"
#include "util/timer.h"

static void print_line(const char *body) {
    if (!dist_is_root()) return;
    char common[384];
    bench_common_fields(common, sizeof common);
    printf("{\"bench\": \"dist\", %s, \"processes\": %d, \"backend\": \"%s\", %s}\n", body,
           dist_size(), dist_backend(), common);
    fflush(stdout);
}

static void step_bench(const char *label, const GPTConfig *c, int B, int T, int repeat) {
    GPT *m = gpt_create(c, 1);
    gpt_init_weights(m, 1);  // the same weights on every rank
    size_t start, rows;
    dist_shard((size_t)B, &start, &rows);
    size_t N = rows * (size_t)T;
    int *tok = xmalloc((N + 1) * sizeof(int)), *tgt = xmalloc((N + 1) * sizeof(int));
    int *len = xmalloc((rows + 1) * sizeof(int));
    Rng r;
    rng_seed(&r, 7, start, 0);  // this rank's rows
    for (size_t i = 0; i < N; i++) {
        tok[i] = (int)rng_below(&r, (uint64_t)c->vocab_size);
        tgt[i] = (int)rng_below(&r, (uint64_t)c->vocab_size);
    }
    for (size_t b = 0; b < rows; b++) len[b] = T;
    float *logp = falloc(N + 1), *dlogp = falloc(N + 1);
    for (size_t i = 0; i < N; i++) dlogp[i] = -1.0f / (float)((size_t)B * (size_t)T);
    AdamWConfig oc = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1.0f};
    int reps = repeat < 1 ? 1 : repeat;
    double *ms = xmalloc((size_t)reps * sizeof(double)), *cms = xmalloc((size_t)reps * sizeof(double));
    dp_prepare(m);
    for (int it = -1; it < reps; it++) {  // one warm-up step
        dist_barrier();
        double t0 = now_s();
        Err e;
        gpt_zero_grad(m);
        if (rows > 0) {
            if (gpt_forward(m, (int)rows, len, tok, &e)) die("bench: %s", e.msg);
            gpt_lm_logprobs_grad(m, tgt, 1.0f, logp, NULL, dlogp, NULL);
            gpt_backward(m, tgt, 1.0f, dlogp, NULL, NULL);
        }
        double t1 = now_s();
        dp_step(m, &oc, 0);
        double t2 = now_s();
        if (it >= 0) { ms[it] = (t2 - t0) * 1e3; cms[it] = (t1 - t0) * 1e3; }
    }
    double med = bench_median(ms, reps), cmed = bench_median(cms, reps);
    double tokens = (double)B * T;
    double flops = 6.0 * (double)gpt_matmul_params(c) * tokens + 12.0 * c->n_layer * c->n_embd * (double)T * tokens;
    double comm_mb = dist_size() > 1 ? 2.0 * (dist_size() - 1) / dist_size() * 4.0 * (double)m->n_params / 1e6 : 0;
    char body[640];
    snprintf(body, sizeof body,
             "\"what\": \"train_step\", \"model\": \"%s\", \"params\": %zu, \"B\": %d, \"T\": %d, "
             "\"zero\": %d, \"ms\": %.1f, \"compute_ms\": %.1f, \"reduce_optimizer_ms\": %.1f, "
             "\"tokens_per_s\": %.1f, \"gflops\": %.2f, \"comm_mb_per_rank\": %.1f, \"peak_rss_mb\": %.0f, \"repeat\": %d",
             label, m->n_params, B, T, dp_zero(), med, cmed, med - cmed, tokens / (med * 1e-3),
             flops / (med * 1e-3) / 1e9, comm_mb, (double)peak_rss_bytes() / 1048576.0, reps);
    print_line(body);
    gpt_free(m);
    free(tok); free(tgt); free(len); free(logp); free(dlogp); free(ms); free(cms);
}

static void allreduce_bench(size_t n, int repeat) {
    if (dist_size() == 1) { print_line("\"what\": \"allreduce\", \"note\": \"one process: nothing to reduce (run under mpirun)\""); return; }
    float *buf = falloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = 1e-3f * (float)(i % 101);
    int reps = repeat < 1 ? 1 : repeat;
    double *ours = xmalloc((size_t)reps * sizeof(double)), *bare = xmalloc((size_t)reps * sizeof(double));
    dist_allreduce_sum(buf, n);  // warm-up (scratch, connections)
    dist_time_bare_allreduce(buf, n);
    for (int i = 0; i < reps; i++) {
        dist_barrier();
        double t0 = now_s();
        dist_allreduce_sum(buf, n);
        ours[i] = now_s() - t0;
        bare[i] = dist_time_bare_allreduce(buf, n);
    }
    double to = bench_median(ours, reps), tb = bench_median(bare, reps);
    double bytes = 4.0 * (double)n, bus = 2.0 * (dist_size() - 1) / dist_size();
    char body[512];
    snprintf(body, sizeof body,
             "\"what\": \"allreduce\", \"floats\": %zu, \"ms\": %.2f, \"bare_mpi_ms\": %.2f, "
             "\"algbw_gbps\": %.3f, \"busbw_gbps\": %.3f, \"bare_busbw_gbps\": %.3f, \"vs_bare\": %.3f, \"repeat\": %d",
             n, to * 1e3, tb * 1e3, bytes / to / 1e9, bus * bytes / to / 1e9, bus * bytes / tb / 1e9,
             tb / to, reps);
    print_line(body);
    free(buf); free(ours); free(bare);
}

void bench_dist(const char *model, int repeat) {
    GPTConfig c = bench_gpt2_124m();
    int B = 8, T = 128;
    if (model && !strcmp(model, "tiny")) {
        c = (GPTConfig){.n_layer = 2, .n_head = 2, .n_embd = 64, .n_ctx = 64, .vocab_size = 258};
        B = 4; T = 32;
    }
    step_bench(model && !strcmp(model, "tiny") ? "tiny" : "gpt2-124M", &c, B, T, repeat);
    allreduce_bench(gpt_num_params(&c), repeat);
}
