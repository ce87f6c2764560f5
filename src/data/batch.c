// data/batch.c — ragged batches of a dataset (see batch.h).
#include "data/batch.h"

#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "model/gpt.h"

static void reserve(DataBatch *b, int rows, size_t toks) {
    if ((size_t)(b->B + rows) > b->cap_rows) {
        b->cap_rows = (size_t)(b->B + rows) * 2;
        b->len = xrealloc(b->len, b->cap_rows * sizeof(int));
        b->example = xrealloc(b->example, b->cap_rows * sizeof(int));
        b->response = xrealloc(b->response, b->cap_rows * sizeof(int));
        b->parent = xrealloc(b->parent, b->cap_rows * sizeof(int));
        b->prefix = xrealloc(b->prefix, b->cap_rows * sizeof(int));
    }
    if (b->N + toks > b->cap_tok) {
        b->cap_tok = (b->N + toks) * 2;
        b->tokens = xrealloc(b->tokens, b->cap_tok * sizeof(int));
        b->targets = xrealloc(b->targets, b->cap_tok * sizeof(int));
    }
}

static void add_row(DataBatch *b, int ex, int resp, const int *a, int na, const int *c, int nc,
                    const unsigned char *mask, int first_target) {
    int n = na + nc;
    reserve(b, 1, (size_t)n);
    int *t = b->tokens + b->N, *g = b->targets + b->N;
    if (na) memcpy(t, a, (size_t)na * sizeof(int));
    if (nc) memcpy(t + na, c, (size_t)nc * sizeof(int));
    for (int i = 0; i < n; i++) {
        int nxt = i + 1;
        int on = nxt < n && (mask ? mask[nxt] : nxt >= first_target);
        g[i] = on ? t[nxt] : -1;
    }
    b->len[b->B] = n;
    b->parent[b->B] = -1;
    b->prefix[b->B] = 0;
    b->example[b->B] = ex;
    b->response[b->B++] = resp;
    b->N += (size_t)n;
}

void data_batch_add(DataBatch *b, const Dataset *ds, int i) {
    if (ds->kind == DATA_SFT) {
        const SftExample *s = &ds->sft[i];
        add_row(b, i, 0, s->ids, s->n, NULL, 0, s->mask, 0);
    } else if (ds->kind == DATA_CMP) {
        const CmpExample *c = &ds->cmp[i];
        int first = b->B, share = c->n_prompt >= 2 && gpt_prompt_sharing();
        for (int k = 0; k < c->k; k++) {
            if (k == 0 || !share) {
                add_row(b, i, k, c->prompt, c->n_prompt, c->resp[k], c->n_resp[k], NULL, c->n_prompt);
                continue;
            }
            add_row(b, i, k, c->prompt + c->n_prompt - 1, 1, c->resp[k], c->n_resp[k], NULL, 1);
            b->parent[b->B - 1] = first;
            b->prefix[b->B - 1] = c->n_prompt - 1;
        }
    } else {
        const PromptExample *q = &ds->prm[i];
        add_row(b, i, 0, q->ids, q->n, NULL, 0, NULL, q->n + 1);
    }
    b->n_examples++;
}

void data_batch_clear(DataBatch *b) {
    b->B = 0;
    b->N = 0;
    b->n_examples = 0;
}

void batch_iter_init(BatchIter *it, const Dataset *ds, size_t global_batch, uint64_t seed,
                     int epoch, int shuffle) {
    it->ds = ds;
    it->global_batch = global_batch > 0 ? global_batch : 1;
    it->pos = 0;
    it->order = xmalloc((ds->n > 0 ? ds->n : 1) * sizeof(int));
    if (shuffle) data_order(ds->n, seed, epoch, it->order);
    else for (size_t i = 0; i < ds->n; i++) it->order[i] = (int)i;
}

int batch_iter_next(BatchIter *it, DataBatch *b) {
    data_batch_clear(b);
    if (it->pos >= it->ds->n) return 0;
    size_t g = min_sz(it->global_batch, it->ds->n - it->pos), start, count;
    dist_shard(g, &start, &count);
    for (size_t i = 0; i < count; i++) data_batch_add(b, it->ds, it->order[it->pos + start + i]);
    it->pos += g;
    return 1;
}

void batch_iter_free(BatchIter *it) {
    free(it->order);
    it->order = NULL;
}

void data_batch_free(DataBatch *b) {
    free(b->len);
    free(b->tokens);
    free(b->targets);
    free(b->example);
    free(b->response);
    free(b->parent);
    free(b->prefix);
    memset(b, 0, sizeof *b);
}
