// bench/bench.h — the performance programs behind `rlhf bench`. Each prints one JSON object per
// measurement on stdout, naming the BLAS kernel family and the thread count.
#ifndef RLHF_BENCH_H
#define RLHF_BENCH_H

#include "model/gpt.h"

// GPT-2 124M shape: 12 layers, 12 heads, 768 wide, context 1024, vocabulary 50257.
GPTConfig bench_gpt2_124m(void);
// Training step (forward, backward, AdamW) at B×T, timed over `repeat` steps after one warm-up;
// also replays the step's matrix products on BLAS alone for the local ceiling.
void bench_train_step(int B, int T, int repeat);
// KV-cache generation at `batch` rows: prompt 64, 128 new tokens; the weight-read bandwidth of
// decoding against the memory bandwidth read right after each repetition (the machine's
// bandwidth drifts between sittings, so the ratio is the median of per-repetition ratios).
void bench_generate(int batch, int repeat);
// Memory read bandwidth: vectorised read of 1 GiB with all threads; returns GB/s (median).
double bench_membw(int repeat);
float *bench_membw_buffer(size_t *n);               // the 1 GiB buffer (n floats), filled
double bench_membw_read(const float *x, size_t n);  // one timed read of it: GB/s
// Tokenizer: training an 8k BPE on ~5 MB of generated English-like prose, and GPT-2 BPE encoding
// speed on one core (skipped, with a JSON note, without the GPT-2 files).
void bench_tokenize(int repeat);
// One PPO iteration (rlhf ppo with a reward-model directory, random-init policy / critic /
// reference / reward model of config c and the byte tokenizer): `prompts` rollouts of prompt_len
// prompt tokens and max_new new tokens (no early EOS stop counted: --noeos none), epochs ×
// minibatches updates; prints the iteration's time split and tokens/s per phase. frozen_bf16: the
// reference and reward model as --frozen-bf16 runs them; the run has --bf16 when the bench does.
void bench_ppo_iteration(const char *label, const GPTConfig *c, int prompts, int prompt_len,
                         int max_new, int epochs, int minibatches, int frozen_bf16);
// The local ceiling: GFLOP/s of the matrix products one training step of config c at B×T makes,
// replayed on BLAS alone (median of `repeat` after a warm-up); *replay_gflop = their GFLOP.
double bench_sgemm_ceiling(const GPTConfig *c, int B, int T, int head_fused, int repeat,
                           double *replay_gflop);
// Data parallelism (bench/dist.c): a training step of a global batch split over the launch's
// processes (model "gpt2-124M": B 8 × T 128; "tiny": a 2-layer model, for tests), then our
// deterministic all-reduce vs a bare MPI_Allreduce of the model's size. Rank 0 prints.
void bench_dist(const char *model, int repeat);
// Helpers shared by the benchmarks.
double bench_median(double *x, int n);
void bench_common_fields(char *buf, size_t n);  // "\"blas_kernel\": ..., \"threads\": ..."

#endif
