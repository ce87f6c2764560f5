// cli/cmd_bon.c — `rlhf bon`: best-of-n sampling, the baseline every RL method should beat. For
// each prompt, n responses from the policy (full distribution at --temperature: no top-k / top-p),
// each scored by the reward model or command; the best (ties → the first) is kept. Writes one
// JSON line per prompt and reports the mean score of one sample, of the chosen ones, the gain,
// and the KL bound of best-of-n against the policy: log n − (n−1)/n (docs/ppo.md).
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "data/dataset.h"
#include "io/checkpoint.h"
#include "train/reward.h"
#include "train/rl_math.h"
#include "train/rollout.h"
#include "util/fileio.h"
#include "util/flags.h"
#include "util/timer.h"
#include "util/utf8.h"

typedef struct {
    const char *policy, *reward, *reward_cmd, *prompts, *out;
    double reward_timeout;
    int n, max_new, batch, plain_template, limit;
    float temperature;
    long seed;
} BonOptions;

static int bon_run(const BonOptions *o, Err *e) {
    Tokenizer tok;
    memset(&tok, 0, sizeof tok);
    Dataset ds;
    memset(&ds, 0, sizeof ds);
    RewardSource rs;
    memset(&rs, 0, sizeof rs);
    AtomicFile af;
    int have_af = 0, rc = -1;
    double *score = NULL;
    GPT *m = ckpt_load_model(o->policy, 0, &tok, e);
    if (!m) goto out;
    if (m->cfg.score_head) { err_set(e, "%s has a score head: --policy must be a language model", o->policy); goto out; }
    if (o->max_new >= m->cfg.n_ctx) { err_set(e, "--max-new %d leaves no room for a prompt in the context of %d", o->max_new, m->cfg.n_ctx); goto out; }
    if (rollout_load_prompts(o->prompts, &tok, m->cfg.n_ctx - o->max_new, o->plain_template, &ds, e)) goto out;
    if (ds.n == 0) { err_set(e, "%s: no prompts", o->prompts); goto out; }
    if (reward_open(&rs, o->reward, o->reward_cmd, o->reward_timeout, &tok, o->batch * o->n, e)) goto out;
    if (atomic_open(&af, o->out, e)) goto out;
    have_af = 1;
    size_t np = o->limit > 0 && (size_t)o->limit < ds.n ? (size_t)o->limit : ds.n;
    SampleConfig sc = {.temperature = o->temperature, .top_k = 0, .top_p = 1.0f, .max_new = o->max_new,
                       .eos_id = tok.eos_id, .seed = (uint64_t)o->seed};
    score = xmalloc((size_t)o->batch * (size_t)o->n * sizeof(double));
    int *idx = xmalloc((size_t)o->batch * sizeof(int));
    uint64_t *gidx = xmalloc((size_t)o->batch * sizeof(uint64_t));
    double sum_one = 0, sum_best = 0, t0 = now_s();
    int n = o->n;
    for (size_t p0 = 0; p0 < np; p0 += (size_t)o->batch) {
        int k = (int)(np - p0 < (size_t)o->batch ? np - p0 : (size_t)o->batch);
        for (int i = 0; i < k; i++) { idx[i] = (int)(p0 + (size_t)i); gidx[i] = p0 + (size_t)i; }
        Rollout R;
        if (rollout_generate(m, &ds, idx, gidx, k, n, &sc, &R, e)) break;
        int bad = reward_score(&rs, &R, &ds, score, e);
        for (int i = 0; !bad && i < k; i++) {
            const double *s = score + (size_t)i * (size_t)n;
            int best = rl_best_of_n(n, s);
            double mean = 0;
            json_t *all = json_array();
            for (int j = 0; j < n; j++) { mean += s[j] / n; json_array_append_new(all, json_real(s[j])); }
            sum_one += mean;
            sum_best += s[best];
            int b = i * n + best;
            char *raw = tok_decode(&tok, R.ids[b] + R.plen[b], (size_t)(R.rlen[b] - R.ended[b]));
            char *text = utf8_sanitize(raw, strlen(raw));  // a model may emit broken UTF-8
            free(raw);
            json_t *j = json_pack("{s:s?, s:s, s:f, s:i, s:o, s:b}", "prompt", ds.prm[idx[i]].text,
                                  "response", text, "score", s[best], "index", best, "scores", all,
                                  "ended", R.ended[b]);
            char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
            if (line) fprintf(af.fp, "%s\n", line);
            else bad = err_set(e, "%s: cannot encode the output line of prompt %zu", o->out, p0 + (size_t)i + 1);
            free(line); json_decref(j); free(text);
        }
        rollout_free(&R);
        if (bad) break;
        if (p0 + (size_t)k >= np) rc = 0;
    }
    free(idx); free(gidx);
    if (rc) goto out;
    have_af = 0;
    if (atomic_commit(&af, e)) { rc = -1; goto out; }
    double kl = rl_bon_kl_bound(n);
    printf("{\"prompts\": %zu, \"n\": %d, \"mean_score_one_sample\": %.6f, \"mean_score_best\": %.6f, "
           "\"gain\": %.6f, \"kl_bound\": %.6f, \"seconds\": %.2f}\n", np, n, sum_one / (double)np,
           sum_best / (double)np, (sum_best - sum_one) / (double)np, kl, now_s() - t0);
    infof("bon: best of %d over %zu prompts: mean score %.4f → %.4f (gain %.4f); KL(best-of-%d ‖ policy) ≤ "
          "log n − (n−1)/n = %.4f nats; responses in %s", n, np, sum_one / (double)np, sum_best / (double)np,
          (sum_best - sum_one) / (double)np, n, kl, o->out);
out:
    if (have_af) atomic_abort(&af);
    free(score);
    reward_close(&rs);
    dataset_free(&ds);
    if (m) gpt_free(m);
    tok_free(&tok);
    return rc;
}

int cmd_bon(int argc, char **argv) {
    BonOptions o = {.reward_timeout = 60, .n = 4, .max_new = 64, .batch = 8, .temperature = 1.0f, .seed = 1337};
    Flag flags[] = {
        {"policy", 0, FLAG_STRING, &o.policy, "the model to sample from (an SFT model folder with its tokenizer)", 1, 0},
        {"prompts", 0, FLAG_STRING, &o.prompts, "prompt JSONL (as rlhf ppo --prompts)", 1, 0},
        {"out", 0, FLAG_STRING, &o.out, "output JSONL: {prompt, response, score, index, scores, ended} per prompt", 1, 0},
        {"reward", 0, FLAG_STRING, &o.reward, "reward-model folder", 0, 0},
        {"reward-cmd", 0, FLAG_STRING, &o.reward_cmd, "external scorer (as rlhf ppo --reward-cmd)", 0, 0},
        {"reward-timeout", 0, FLAG_DOUBLE, &o.reward_timeout, "seconds the reward command may take for one answer", 0, 0},
        {"n", 'n', FLAG_INT, &o.n, "responses per prompt", 0, 0},
        {"max-new", 0, FLAG_INT, &o.max_new, "response tokens at most", 0, 0},
        {"temperature", 0, FLAG_FLOAT, &o.temperature, "sampling temperature (the KL bound is against the policy at this temperature)", 0, 0},
        {"batch", 0, FLAG_INT, &o.batch, "prompts sampled together (n rows each)", 0, 0},
        {"limit", 0, FLAG_INT, &o.limit, "only the first N prompts (0 = all)", 0, 0},
        {"plain-template", 0, FLAG_BOOL, &o.plain_template, "use the plain-text chat form even if the tokenizer has role tokens", 0, 0},
        {"seed", 0, FLAG_LONG, &o.seed, "random seed (sample k of prompt i has its own stream)", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("bon", "--policy DIR (--reward RM_DIR | --reward-cmd CMD) --prompts FILE --out FILE -n N [FLAGS]",
                "Best-of-n sampling: n responses per prompt, each scored, the best kept. Prints a JSON "
                "summary: mean score of one sample and of the best, the gain, and the bound "
                "log n − (n−1)/n on KL(best-of-n ‖ policy). See docs/ppo.md.",
                flags, nf, argc, argv, NULL, 0, NULL);
    if (!o.reward == !o.reward_cmd) { fprintf(stderr, "rlhf bon: give exactly one of --reward RM_DIR or --reward-cmd \"CMD\"\n"); return 2; }
    if (o.n < 1 || o.batch < 1 || o.max_new < 1 || !(o.temperature > 0)) {
        fprintf(stderr, "rlhf bon: -n, --batch and --max-new must be positive and --temperature > 0\n");
        return 2;
    }
    Err e;
    if (bon_run(&o, &e)) {
        fprintf(stderr, "rlhf bon: error: %s\n", e.msg);
        return 1;
    }
    return 0;
}
