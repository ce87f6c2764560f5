// demo/demo_label.c — simulated labelling of SFT samples (see demo_label.h).
#include "demo/demo_label.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo/world.h"
#include "io/checkpoint.h"
#include "train/reward.h"
#include "util/fileio.h"
#include "util/utf8.h"

int demo_samples(const char *model, const char *prompts, int n, int K, float temp, int max_new,
                 uint64_t seed, DemoSamples *s, Err *e) {
    memset(s, 0, sizeof *s);
    GPT *m = ckpt_load_model(model, 0, &s->tok, e);
    if (!m) return -1;
    int rc = rollout_load_prompts(prompts, &s->tok, m->cfg.n_ctx - max_new, 0, &s->ds, e);
    if (!rc) {
        if (n <= 0 || (size_t)n > s->ds.n) n = (int)s->ds.n;
        s->n_prompts = n;
        s->K = K;
        int *idx = xmalloc((size_t)(n ? n : 1) * sizeof(int));
        uint64_t *gidx = xmalloc((size_t)(n ? n : 1) * sizeof(uint64_t));
        for (int i = 0; i < n; i++) { idx[i] = i; gidx[i] = (uint64_t)i; }
        SampleConfig sc = {.temperature = temp, .top_k = 0, .top_p = 1.0f, .max_new = max_new,
                           .eos_id = s->tok.eos_id, .seed = seed, .batch = 128};
        rc = rollout_generate(m, &s->ds, idx, gidx, n, K, &sc, &s->R, e);
        free(idx); free(gidx);
    }
    gpt_free(m);
    if (rc) { demo_samples_free(s); return -1; }
    int B = s->R.B;
    s->text = xcalloc((size_t)(B ? B : 1), sizeof(char *));
    s->gold = xcalloc((size_t)(B ? B : 1), sizeof(double));
    for (int b = 0; b < B; b++) {
        const Rollout *R = &s->R;
        char *raw = tok_decode(&s->tok, R->ids[b] + R->plen[b], (size_t)(R->rlen[b] - R->ended[b]));
        s->text[b] = utf8_sanitize(raw, strlen(raw));  // a tiny model may emit broken UTF-8
        free(raw);
        s->gold[b] = demo_gold(s->ds.prm[R->prompt[b]].text, s->text[b], R->ended[b]).total;
    }
    return 0;
}

void demo_samples_free(DemoSamples *s) {
    for (int b = 0; b < s->R.B && s->text; b++) free(s->text[b]);
    free(s->text); free(s->gold);
    rollout_free(&s->R);
    dataset_free(&s->ds);
    tok_free(&s->tok);
    memset(s, 0, sizeof *s);
}

int demo_label_write(const DemoSamples *s, const Labelers *L, uint64_t seed, const char *path,
                     long *pairs, double *agreement, Err *e) {
    AtomicFile af;
    if (atomic_open(&af, path, e)) return -1;
    int cap = s->n_prompts * s->K * (s->K - 1) / 2 + 1, np = 0;
    double *ga = xmalloc((size_t)cap * sizeof(double)), *gb = xmalloc((size_t)cap * sizeof(double));
    for (int i = 0; i < s->n_prompts; i++)
        for (int k = 0; k < s->K; k++)
            for (int q = k + 1; q < s->K; q++) {
                int a = i * s->K + k, b = i * s->K + q;
                // identical texts, or responses the judge cannot tell apart: the labeler marks a tie
                // an empty response cannot be shown (nor stored: data records need text)
                if (!strcmp(s->text[a], s->text[b]) || fabs(s->gold[a] - s->gold[b]) < DEMO_TIE ||
                    !s->text[a][0] || !s->text[b][0])
                    continue;
                int l = np % L->n_labelers;
                int pa = labeler_prefers(L, l, s->gold[a], s->gold[b], seed, (uint64_t)np);
                int w = pa ? a : b, lo = pa ? b : a;
                json_t *j = json_pack("{s:s, s:s, s:s}", "prompt", s->ds.prm[i].text, "chosen", s->text[w],
                                      "rejected", s->text[lo]);
                char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
                if (line) fprintf(af.fp, "%s\n", line);
                free(line);
                json_decref(j);
                ga[np] = s->gold[a]; gb[np] = s->gold[b];
                np++;
            }
    *pairs = np;
    *agreement = np ? labelers_agreement(L, np, ga, gb, seed) : 0;
    free(ga); free(gb);
    return atomic_commit(&af, e);
}

int demo_rm_gold_accuracy(const DemoSamples *s, const char *rm_dir, double *acc, long *n_pairs,
                          Err *e) {
    RewardSource rs;
    if (reward_open(&rs, rm_dir, NULL, 0, &s->tok, 64, e)) return -1;
    double *score = xcalloc((size_t)(s->R.B ? s->R.B : 1), sizeof(double));
    int rc = reward_score(&rs, &s->R, &s->ds, score, e);
    long n = 0, right = 0;
    for (int i = 0; !rc && i < s->n_prompts; i++)
        for (int k = 0; k + 1 < s->K; k += 2) {
            int a = i * s->K + k, b = a + 1;
            if (s->gold[a] == s->gold[b]) continue;
            n++;
            right += (s->gold[a] > s->gold[b]) == (score[a] > score[b]);
        }
    *n_pairs = n;
    *acc = n ? (double)right / (double)n : 0;
    free(score);
    reward_close(&rs);
    return rc;
}
