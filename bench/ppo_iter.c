// bench/ppo_iter.c — one whole PPO iteration through ppo_run (rollout with the KV-cache sampler,
// old-policy / reference / critic / reward-model passes, epochs × minibatches of policy and critic
// updates) on random-init models written to a temporary folder, reporting the run's own time
// split and tokens/s per phase from its metrics row (frozen reference and reward model in f32, or
// in bf16 as --frozen-bf16 runs them), and the iteration's model FLOPs against the
// BLAS replay ceiling of the minibatch's training-step shapes.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "io/checkpoint.h"
#include "nn/gemm.h"
#include "train/ppo.h"
#include "util/fileio.h"
#include "util/sysinfo.h"
#include "util/timer.h"

static int write_model(const GPTConfig *c, int score_head, const char *dir, Err *e) {
    GPTConfig cc = *c;
    cc.score_head = score_head;
    GPT *m = gpt_create(&cc, 0);
    gpt_init_weights(m, score_head ? 2 : 1);
    Tokenizer tok;
    tok_init_bytes(&tok);
    int rc = ckpt_save_model(m, &tok, dir, NULL, e);
    tok_free(&tok);
    gpt_free(m);
    return rc;
}

// Model FLOPs of a forward pass over `tokens` tokens of sequences of length T, with the LM head at
// `head` positions: the layers' products (2 · 12·L·C² per token), attention's two products over
// the whole sequence (4·L·C·T per token, the convention train_step uses) and the head (2·V·C).
static double fwd_flops(const GPTConfig *c, double tokens, double T, double head) {
    double L = c->n_layer, C = c->n_embd;
    return tokens * (24.0 * L * C * C + 4.0 * L * C * T) + head * 2.0 * (double)c->vocab_size * C;
}

// The iteration's model FLOPs per phase, from its shape and the mean response length R:
// generation = the prompts' prefill + R − 1 decode steps per row (the first new token comes from
// the prefill); scoring = old policy and reference (LM head on the response tokens), critic and
// reward model (no LM head) over whole sequences; training = epochs × (policy + critic) ×
// (forward + backward = 3 forwards), less the forwards of the first minibatch that training took
// from scoring (`reused` of them, the policy's first: metrics' training_forwards_reused).
static void ppo_flops(const GPTConfig *c, int rows, int P, double R, int epochs, int minibatches,
                      int reused, double f[3]) {
    double T = P + R, seq = rows * T, resp = rows * R;
    f[0] = fwd_flops(c, rows * (double)P, P, rows) + fwd_flops(c, rows * (R - 1), P + R / 2, rows * (R - 1));
    f[1] = 2 * fwd_flops(c, seq, T, resp) + 2 * fwd_flops(c, seq, T, 0);
    f[2] = epochs * 3.0 * (fwd_flops(c, seq, T, resp) + fwd_flops(c, seq, T, 0));
    if (reused >= 1) f[2] -= fwd_flops(c, seq / minibatches, T, resp / minibatches);
    if (reused >= 2) f[2] -= fwd_flops(c, seq / minibatches, T, 0);
}

void bench_ppo_iteration(const char *label, const GPTConfig *c, int prompts, int prompt_len,
                         int max_new, int epochs, int minibatches, int frozen_bf16) {
    char tmpl[] = "/tmp/rlhf-bench-ppo.XXXXXX";
    char *root = mkdtemp(tmpl);
    if (!root) { fprintf(stderr, "bench ppo: cannot create a temporary folder\n"); return; }
    char *pol = path_join(root, "policy"), *rm = path_join(root, "rm"), *pr = path_join(root, "prompts.jsonl"),
         *out = path_join(root, "run"), *metrics = path_join(out, "metrics.jsonl");
    Err e;
    int ok = !write_model(c, 0, pol, &e) && !write_model(c, 1, rm, &e);
    if (ok) {  // prompts longer than prompt_len bytes; --max-prompt keeps their last prompt_len tokens
        FILE *f = fopen(pr, "w");
        for (int i = 0; f && i < prompts; i++) {
            fprintf(f, "{\"prompt\": \"");
            for (int k = 0; k < prompt_len + 16; k++) fputc('a' + (i * 7 + k * 3) % 26, f);
            fprintf(f, "\"}\n");
        }
        if (f) fclose(f);
        ok = f != NULL;
    }
    if (ok) {
        PpoOptions o;
        ppo_defaults(&o);
        o.policy = pol; o.reward = rm; o.prompts = pr; o.out = out;
        o.iterations = 1; o.rollouts = prompts; o.minibatch = prompts / minibatches; o.epochs = epochs;
        o.max_new = max_new; o.max_prompt = prompt_len; o.val_fraction = 0; o.eval_prompts = 0;
        o.noeos = "none"; o.quiet = 1; o.frozen_bf16 = frozen_bf16;
        o.bf16 = gemm_bf16_on();  // rlhf bench --bf16
        double t0 = now_s();
        ok = !ppo_run(&o, &e);
        double wall = now_s() - t0;
        json_t *row = ok ? json_load_file(metrics, 0, NULL) : NULL;
        if (row) {
            char common[384];
            bench_common_fields(common, sizeof common);
            double tg = json_number_value(json_object_get(row, "time_generation_s")),
                   ts = json_number_value(json_object_get(row, "time_scoring_s")),
                   tt = json_number_value(json_object_get(row, "time_training_s"));
            double R = json_number_value(json_object_get(row, "response_length")), f[3];
            int reused = (int)json_integer_value(json_object_get(row, "training_forwards_reused"));
            ppo_flops(c, prompts, prompt_len, R, epochs, minibatches, reused, f);
            double ceil = bench_sgemm_ceiling(c, prompts / minibatches, prompt_len + max_new, 0, 3, NULL);
            double iter_s = tg + ts + tt, gflops = (f[0] + f[1] + f[2]) / iter_s / 1e9;
            printf("{\"bench\": \"ppo_iteration\", \"model\": \"%s\", \"frozen\": \"%s\", \"params\": %zu, \"prompts\": %d, "
                   "\"prompt_tokens\": %d, \"new_tokens\": %d, \"response_length\": %.1f, \"epochs\": %d, "
                   "\"minibatches\": %d, \"forwards_reused\": %d, \"generation_s\": %.3f, \"scoring_s\": %.3f, \"training_s\": %.3f, "
                   "\"generation_tokens_per_s\": %.0f, \"scoring_tokens_per_s\": %.0f, "
                   "\"training_tokens_per_s\": %.0f, \"generation_gflops\": %.1f, \"scoring_gflops\": %.1f, "
                   "\"training_gflops\": %.1f, \"model_gflop\": %.1f, \"gflops\": %.1f, \"sgemm_gflops\": %.1f, "
                   "\"ratio\": %.3f, \"whole_run_s\": %.2f, \"peak_rss_gib\": %.2f, %s}\n",
                   label, frozen_bf16 ? "bf16" : "f32", gpt_num_params(c), prompts, prompt_len, max_new, R, epochs, minibatches, reused, tg, ts, tt,
                   json_number_value(json_object_get(row, "generation_tokens_per_s")),
                   json_number_value(json_object_get(row, "scoring_tokens_per_s")),
                   json_number_value(json_object_get(row, "training_tokens_per_s")), f[0] / tg / 1e9,
                   f[1] / ts / 1e9, f[2] / tt / 1e9, (f[0] + f[1] + f[2]) / 1e9, gflops, ceil,
                   gflops / ceil, wall, (double)peak_rss_bytes() / (1u << 30), common);
            fflush(stdout);
            json_decref(row);
        } else if (ok) {
            fprintf(stderr, "bench ppo: %s: no metrics row\n", metrics);
        }
    }
    if (!ok) fprintf(stderr, "bench ppo: %s\n", e.msg);
    if (remove_tree(root, &e)) fprintf(stderr, "bench ppo: %s\n", e.msg);
    free(pol); free(rm); free(pr); free(out); free(metrics);
}
