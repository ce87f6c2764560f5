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

// One labelled comparison of texts ta / tb with gold ga / gb (ties, empty and identical texts
// skipped); returns 1 when a line was written.
static int compare(FILE *f, const Labelers *L, uint64_t seed, long np, const char *prompt, const char *ta,
                   double ga, const char *tb, double gb) {
    if (!strcmp(ta, tb) || fabs(ga - gb) < DEMO_TIE || !ta[0] || !tb[0]) return 0;
    int pa = labeler_prefers(L, (int)(np % L->n_labelers), ga, gb, seed, (uint64_t)np);
    json_t *j = json_pack("{s:s, s:s, s:s}", "prompt", prompt, "chosen", pa ? ta : tb, "rejected", pa ? tb : ta);
    char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (line) fprintf(f, "%s\n", line);
    free(line);
    json_decref(j);
    return line != NULL;
}

int demo_label_write(const DemoSamples *s, const Labelers *L, uint64_t seed, int contractors,
                     const char *path, long *pairs, double *agreement, Err *e) {
    AtomicFile af;
    if (atomic_open(&af, path, e)) return -1;
    size_t cap = (size_t)s->n_prompts * (size_t)(s->K * (s->K - 1) / 2 + 3) + 1;
    double *ga = xmalloc(cap * sizeof(double)), *gb = xmalloc(cap * sizeof(double));
    long np = 0;
#define ADD(ta, g1, tb, g2)                                                         \
    if (compare(af.fp, L, seed, np, prompt, ta, g1, tb, g2)) { ga[np] = g1; gb[np] = g2; np++; }
    for (int i = 0; i < s->n_prompts; i++) {
        const char *prompt = s->ds.prm[i].text;
        for (int k = 0; k < s->K; k++)
            for (int q = k + 1; q < s->K; q++) {
                int a = i * s->K + k, b = i * s->K + q;
                ADD(s->text[a], s->gold[a], s->text[b], s->gold[b])
            }
        DemoTask t;
        if (contractors > 0 && demo_parse_task(prompt, &t) == 0) {
            char good[96], wrong[96];
            demo_reply(&t, DEMO_REPLY_GOOD, seed, (uint64_t)i, good, sizeof good);
            demo_reply(&t, DEMO_REPLY_WRONG, seed, (uint64_t)i, wrong, sizeof wrong);
            double gg = demo_gold(prompt, good, 1).total, gw = demo_gold(prompt, wrong, 1).total;
            int a = i * s->K;
            ADD(good, gg, wrong, gw)
            ADD(good, gg, s->text[a], s->gold[a])
            ADD(wrong, gw, s->text[a], s->gold[a])
        }
    }
#undef ADD
    *pairs = np;
    *agreement = np ? labelers_agreement(L, (int)np, ga, gb, seed) : 0;
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
