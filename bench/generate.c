// bench/generate.c — KV-cache generation speed: prefill a 64-token prompt per row, then decode
// 128 tokens per row (2+ rows: on the weights generate() packs once, nn/packed.c); new tokens/s
// and the weight-read bandwidth decoding achieves (each decode step reads every parameter once)
// against the memory bandwidth read right after each repetition.
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "gen/sample.h"
#include "nn/gemm.h"
#include "nn/packed.h"
#include "util/rng.h"
#include "util/timer.h"

void bench_generate(int batch, int repeat) {
    const int P = 64, NEW = 128;
    GPTConfig c = bench_gpt2_124m();
    GPT *m = gpt_create(&c, 0);
    gpt_init_weights(m, 1);
    int *prompt = xmalloc((size_t)batch * P * sizeof(int));
    Rng r;
    rng_seed(&r, 11, 0, 0);
    for (int i = 0; i < batch * P; i++) prompt[i] = (int)rng_below(&r, (uint64_t)c.vocab_size);
    const int **pp = xmalloc((size_t)batch * sizeof(int *));
    int *pl = xmalloc((size_t)batch * sizeof(int)), *nn = xmalloc((size_t)batch * sizeof(int));
    uint64_t *sid = xmalloc((size_t)batch * sizeof(uint64_t));
    for (int b = 0; b < batch; b++) { pp[b] = prompt + (size_t)b * P; pl[b] = P; nn[b] = P; sid[b] = (uint64_t)b; }
    SampleConfig sc = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .max_new = NEW, .eos_id = -1, .seed = 1};
    int reps = repeat < 1 ? 1 : repeat;
    double *total = xmalloc((size_t)reps * sizeof(double)), *pre = xmalloc((size_t)reps * sizeof(double));
    double *bw = xmalloc((size_t)reps * sizeof(double)), *ratio = xmalloc((size_t)reps * sizeof(double));
    size_t mbn;
    float *mb = bench_membw_buffer(&mbn);
    double weight_bytes = (double)m->n_params * sizeof(float);
    int decode_steps = NEW - 1;  // the first new token comes from the prefill's logits
    KVCache kv;
    kv_init(&kv, &c, batch, P + NEW);
    float *logits = falloc((size_t)batch * (size_t)c.vocab_size);
    Err e;
    for (int it = -1; it < reps; it++) {
        // the prefill alone (the same work generate() starts with: on packed weights — bf16 ones
        // under --bf16, as generate() packs them — when it packs)
        kv_reset(&kv);
        if (batch >= 2 && gpt_pack(m, gemm_bf16_on(), &e)) die("bench: %s", e.msg);
        double t0 = now_s();
        if (gpt_forward_cached(m, &kv, batch, nn, prompt, logits, &e)) die("bench: %s", e.msg);
        double tp = now_s() - t0;
        gpt_unpack(m);
        Samples s;
        t0 = now_s();
        if (generate(m, batch, pp, pl, sid, &sc, &s, &e)) die("bench: %s", e.msg);
        double tt = now_s() - t0;
        samples_free(&s);
        if (it >= 0) {
            total[it] = tt;
            pre[it] = tp;
            bw[it] = bench_membw_read(mb, mbn);
            double td = tt - tp > 0 ? tt - tp : tt;
            ratio[it] = weight_bytes * decode_steps / td / 1e9 / bw[it];
        }
    }
    double t_total = bench_median(total, reps), t_pre = bench_median(pre, reps);
    double t_dec = t_total - t_pre;
    if (t_dec <= 0) t_dec = t_total;
    double gbps = weight_bytes * decode_steps / t_dec / 1e9;
    double bw_lo = bw[0], bw_hi = bw[0];
    for (int i = 1; i < reps; i++) { bw_lo = bw[i] < bw_lo ? bw[i] : bw_lo; bw_hi = bw[i] > bw_hi ? bw[i] : bw_hi; }
    double membw_gbps = bench_median(bw, reps), r_med = bench_median(ratio, reps);
    // which code multiplied by the weights: batch 1 nn/matvec.c; more rows the packed weights
    // (panels or oneDNN's kernel, nn/packed.h) unless RLHF_PACKED=0 or packing failed, then sgemm
    char products[96];
    if (batch < 2) snprintf(products, sizeof products, "matvec");
    else if (packed_enabled()) snprintf(products, sizeof products, "%s", packed_impl());
    else snprintf(products, sizeof products, "sgemm");
    char common[384];
    bench_common_fields(common, sizeof common);
    printf("{\"bench\": \"generate\", \"model\": \"gpt2-124M\", \"batch\": %d, \"T\": %d, \"prompt\": %d, "
           "\"new_tokens\": %d, \"ms\": %.1f, \"prefill_ms\": %.1f, \"tokens_per_s\": %.1f, "
           "\"decode_tokens_per_s\": %.1f, \"gbps\": %.2f, \"membw_gbps\": %.2f, \"membw_range_gbps\": [%.2f, %.2f], \"ratio\": %.3f, \"repeat\": %d, \"products\": \"%s\", %s}\n",
           batch, P + NEW, P, NEW, t_total * 1e3, t_pre * 1e3, (double)batch * NEW / t_total,
           (double)batch * decode_steps / t_dec, gbps, membw_gbps, bw_lo, bw_hi, r_med, reps, products, common);
    fflush(stdout);
    kv_free(&kv);
    free(logits); free(prompt); free(pp); free(pl); free(nn); free(sid); free(total); free(pre);
    free(bw); free(ratio); free(mb);
    gpt_free(m);
}
