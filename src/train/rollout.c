// train/rollout.c — sampling a rollout batch and packing its rows (see rollout.h).
#include "train/rollout.h"

#include <stdlib.h>
#include <string.h>

int rollout_load_prompts(const char *path, const Tokenizer *tok, int max_prompt, int plain_template,
                         Dataset *ds, Err *e) {
    DataReport rep;
    memset(&rep, 0, sizeof rep);
    DataOpts dop = {.kind = DATA_PROMPT, .tok = tok, .plain_template = plain_template,
                    .trunc = {.max_len = max_prompt + 1, .min_prompt = -1}, .max_problems = 10};
    int rc = dataset_load(path, &dop, ds, NULL, &rep, e);
    data_report_free(&rep);
    return rc;
}

int rollout_generate(GPT *policy, const Dataset *ds, const int *prompt_idx, const uint64_t *gidx,
                     int n_prompts, int G, const SampleConfig *sc, Rollout *r, Err *e) {
    memset(r, 0, sizeof *r);
    int B = n_prompts * G;
    const int **pr = xmalloc((size_t)B * sizeof(int *));
    int *pl = xmalloc((size_t)B * sizeof(int));
    uint64_t *sid = xmalloc((size_t)B * sizeof(uint64_t));
    for (int i = 0; i < n_prompts; i++)
        for (int k = 0; k < G; k++) {
            const PromptExample *q = &ds->prm[prompt_idx[i]];
            pr[i * G + k] = q->ids;
            pl[i * G + k] = q->n;
            sid[i * G + k] = gidx[i] * (uint64_t)G + (uint64_t)k;
        }
    Samples s;
    int rc = generate(policy, B, pr, pl, sid, sc, &s, e);
    free(sid);
    if (rc) { free(pr); free(pl); return -1; }
    r->B = B;
    r->prompt = xmalloc((size_t)B * sizeof(int));
    r->plen = pl;
    r->rlen = xmalloc((size_t)B * sizeof(int));
    r->ended = xmalloc((size_t)B * sizeof(int));
    r->ids = xmalloc((size_t)B * sizeof(int *));
    r->roff = xmalloc((size_t)B * sizeof(size_t));
    for (int b = 0; b < B; b++) {
        r->prompt[b] = prompt_idx[b / G];
        r->rlen[b] = s.len[b];
        r->ended[b] = s.ended[b];
        r->roff[b] = r->N;
        r->N += (size_t)s.len[b];
        r->ids[b] = xmalloc((size_t)(pl[b] + s.len[b]) * sizeof(int));
        memcpy(r->ids[b], pr[b], (size_t)pl[b] * sizeof(int));
        memcpy(r->ids[b] + pl[b], s.tokens[b], (size_t)s.len[b] * sizeof(int));
    }
    r->sampler_logp = falloc(r->N ? r->N : 1);
    for (int b = 0; b < B; b++)
        memcpy(r->sampler_logp + r->roff[b], s.logp[b], (size_t)s.len[b] * sizeof(float));
    samples_free(&s);
    free(pr);
    return 0;
}

void rollout_free(Rollout *r) {
    for (int b = 0; b < r->B; b++) free(r->ids[b]);
    free(r->ids); free(r->prompt); free(r->plen); free(r->rlen); free(r->ended); free(r->roff);
    free(r->sampler_logp);
    memset(r, 0, sizeof *r);
}

// A row whose prompt an earlier row of the pack already holds (the same tokens) shares it: the
// row keeps only the prompt's last token (its logits predict the first response token) and
// continues the earlier row's first plen − 1 positions (gpt_forward_shared).
void rollout_pack(const Rollout *r, const int *rows, int n, RolloutPack *p) {
    if ((size_t)n > p->cap_B) {
        p->cap_B = (size_t)n;
        p->rows = xrealloc(p->rows, p->cap_B * sizeof(int));
        p->len = xrealloc(p->len, p->cap_B * sizeof(int));
        p->rlen = xrealloc(p->rlen, p->cap_B * sizeof(int));
        p->parent = xrealloc(p->parent, p->cap_B * sizeof(int));
        p->prefix = xrealloc(p->prefix, p->cap_B * sizeof(int));
        p->tail = xrealloc(p->tail, p->cap_B * sizeof(int));
    }
    int share = gpt_prompt_sharing();
    size_t N = 0, R = 0;
    for (int i = 0; i < n; i++) {
        int b = rows[i], P = r->plen[b];
        p->parent[i] = -1;
        p->prefix[i] = 0;
        for (int j = 0; share && P >= 2 && j < i; j++) {
            int a = rows[j];
            if (p->parent[j] < 0 && r->plen[a] == P &&
                !memcmp(r->ids[a], r->ids[b], (size_t)P * sizeof(int))) {
                p->parent[i] = j;
                p->prefix[i] = P - 1;
                break;
            }
        }
        p->rows[i] = b;
        p->rlen[i] = r->rlen[b];
        p->len[i] = P + r->rlen[b] - p->prefix[i];
        p->tail[i] = r->rlen[b] + 1 < p->len[i] ? r->rlen[b] + 1 : p->len[i];
        N += (size_t)p->len[i];
        R += (size_t)r->rlen[b];
    }
    if (N > p->cap_N) {
        p->cap_N = N;
        p->tokens = xrealloc(p->tokens, N * sizeof(int));
        p->targets = xrealloc(p->targets, N * sizeof(int));
    }
    if (R > p->cap_r) {
        p->cap_r = R;
        p->idx = xrealloc(p->idx, R * sizeof(size_t));
        p->pos = xrealloc(p->pos, R * sizeof(size_t));
    }
    p->B = n; p->N = N; p->n_resp = R;
    size_t o = 0, k = 0;
    for (int i = 0; i < n; i++) {
        int b = rows[i], skip = p->prefix[i], P = r->plen[b] - skip, L = p->len[i];
        memcpy(p->tokens + o, r->ids[b] + skip, (size_t)L * sizeof(int));
        for (int t = 0; t < L; t++) p->targets[o + (size_t)t] = -1;
        for (int t = 0; t < r->rlen[b]; t++, k++) {
            size_t at = o + (size_t)(P - 1 + t);
            p->targets[at] = r->ids[b][r->plen[b] + t];
            p->idx[k] = r->roff[b] + (size_t)t;
            p->pos[k] = at;
        }
        o += (size_t)L;
    }
}

void rollout_pack_free(RolloutPack *p) {
    free(p->rows); free(p->len); free(p->rlen); free(p->parent); free(p->prefix); free(p->tail); free(p->tokens); free(p->targets);
    free(p->idx); free(p->pos);
    memset(p, 0, sizeof *p);
}

int rollout_logprobs(GPT *m, const RolloutPack *p, float inv_temp, double *logp, double *ent,
                     Err *e) {
    if (p->B == 0) return 0;
    if (gpt_forward_tail(m, p->B, p->len, p->tokens, p->parent, p->prefix, p->tail, e)) return -1;
    float *lp = falloc(p->N), *en = ent ? falloc(p->N) : NULL;
    gpt_lm_logprobs(m, p->targets, inv_temp, lp, en);
    for (size_t k = 0; k < p->n_resp; k++) {
        logp[k] = lp[p->pos[k]];
        if (ent) ent[k] = en[p->pos[k]];
    }
    free(lp); free(en);
    return 0;
}

int rollout_values(GPT *m, const RolloutPack *p, double *val, Err *e) {
    if (p->B == 0) return 0;
    if (gpt_forward_tail(m, p->B, p->len, p->tokens, p->parent, p->prefix, p->tail, e)) return -1;
    float *v = falloc(p->N);
    gpt_values(m, v);
    for (size_t k = 0; k < p->n_resp; k++) val[k] = v[p->pos[k]];
    free(v);
    return 0;
}

int rollout_last_values(GPT *m, const RolloutPack *p, double *out, Err *e) {
    if (p->B == 0) return 0;
    if (gpt_forward_last(m, p->B, p->len, p->tokens, p->parent, p->prefix, e)) return -1;
    float *v = falloc(p->N);
    gpt_values(m, v);
    size_t o = 0;
    for (int i = 0; i < p->B; i++) {
        o += (size_t)p->len[i];
        out[i] = v[o - 1];
    }
    free(v);
    return 0;
}

void rollout_scatter(const RolloutPack *p, const double *in, float *packed) {
    memset(packed, 0, p->N * sizeof(float));
    for (size_t k = 0; k < p->n_resp; k++) packed[p->pos[k]] = (float)in[k];
}
