// model/kvcache.c — the KV cache and the cached forward used by generation: prefill (many new
// tokens per row) and decode (one per row) through the same path, each row with its own length.
// Products with 2+ rows use the model's packed weights when generate() packed them (gpt_pack).
#include <stdlib.h>
#include <string.h>

#include "model/gpt.h"
#include "nn/nn.h"
#include <omp.h>

void kv_init(KVCache *kv, const GPTConfig *c, int B, int T) {
    kv->n_layer = c->n_layer;
    kv->B = B;
    kv->T = T;
    kv->C = c->n_embd;
    size_t n = (size_t)c->n_layer * (size_t)B * (size_t)T * (size_t)c->n_embd;
    // not zeroed: a row's positions are written (prefill, decode, kv_move_row) before attention
    // reads them, and zeroing would touch every page of a cache sized for the longest generation
    kv->k = xalloc_huge(n * sizeof(float));
    kv->v = xalloc_huge(n * sizeof(float));
    kv->len = xcalloc((size_t)B, sizeof(int));
}

void kv_free(KVCache *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->len);
    memset(kv, 0, sizeof *kv);
}

void kv_reset(KVCache *kv) { memset(kv->len, 0, (size_t)kv->B * sizeof(int)); }

void kv_move_row(KVCache *kv, int dst, int src) {
    if (dst == src) return;
    size_t C = (size_t)kv->C, T = (size_t)kv->T, n = (size_t)kv->len[src] * C;
    for (int l = 0; l < kv->n_layer; l++) {
        size_t base = (size_t)l * (size_t)kv->B * T * C;
        memcpy(kv->k + base + (size_t)dst * T * C, kv->k + base + (size_t)src * T * C, n * sizeof(float));
        memcpy(kv->v + base + (size_t)dst * T * C, kv->v + base + (size_t)src * T * C, n * sizeof(float));
    }
    kv->len[dst] = kv->len[src];
}

int gpt_forward_cached(GPT *m, KVCache *kv, int B, const int *n_new, const int *tokens,
                       float *logits, Err *e) {
    const GPTConfig *c = &m->cfg;
    size_t C = (size_t)c->n_embd, V = (size_t)c->vocab_size;
    if (B <= 0 || B > kv->B) return err_set(e, "cached forward: %d rows for a cache of %d", B, kv->B);
    size_t N = 0;
    for (int b = 0; b < B; b++) {
        if (n_new[b] <= 0) return err_set(e, "cached forward: row %d has no new tokens", b);
        int end = kv->len[b] + n_new[b];
        if (end > kv->T || end > c->n_ctx)
            return err_set(e, "cached forward: row %d would reach %d positions (cache %d, context %d)",
                           b, end, kv->T, c->n_ctx);
        N += (size_t)n_new[b];
    }
    for (size_t n = 0; n < N; n++)
        if (tokens[n] < 0 || tokens[n] >= c->vocab_size)
            return err_set(e, "cached forward: token %d outside the vocabulary (0..%d)", tokens[n],
                           c->vocab_size - 1);
    size_t *q_off = xmalloc((size_t)B * sizeof(size_t));
    size_t *last_row = xmalloc((size_t)B * sizeof(size_t));  // each row's last new token in x
    int *pos = xmalloc(N * sizeof(int));
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        q_off[b] = o;
        last_row[b] = o + (size_t)n_new[b] - 1;
        for (int i = 0; i < n_new[b]; i++) pos[o + (size_t)i] = kv->len[b] + i;
        o += (size_t)n_new[b];
    }
    // scratch for N tokens of one layer (decode: N = B, a few hundred KiB)
    float *x = falloc(N * C), *ln = falloc(N * C), *qkv = falloc(N * 3 * C), *atty = falloc(N * C);
    float *proj = falloc(N * C), *fch = falloc(N * 4 * C);
    int nthreads = omp_get_max_threads();
    float *scratch = falloc((size_t)nthreads * (size_t)c->n_head * (size_t)kv->T);
    embedding_forward(x, tokens, pos, m->w.wte, m->w.wpe, N, C);
    size_t T = (size_t)kv->T;
    for (int l = 0; l < c->n_layer; l++) {
        const GPTLayer *w = &m->w.h[l];
        float *kl = kv->k + (size_t)l * (size_t)kv->B * T * C;
        float *vl = kv->v + (size_t)l * (size_t)kv->B * T * C;
        layernorm_forward(ln, NULL, NULL, x, w->ln1w, w->ln1b, N, C);
        gpt_linear(m, 4 * l + 0, qkv, ln, w->qkvw, w->qkvb, N, C, 3 * C);
        // rows in parallel: a prefill is the first touch of the cache's pages (faulted in by
        // whichever thread writes them)
#pragma omp parallel for schedule(static) if (N >= 256)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n_new[b]; i++) {
                const float *src = qkv + (q_off[b] + (size_t)i) * 3 * C;
                size_t t = (size_t)(kv->len[b] + i);
                memcpy(kl + (size_t)b * T * C + t * C, src + C, C * sizeof(float));
                memcpy(vl + (size_t)b * T * C + t * C, src + 2 * C, C * sizeof(float));
            }
        if (l == c->n_layer - 1 && N > (size_t)B) {
            // A prefill's last layer: its keys and values are cached for every new token (above),
            // but only each row's last token goes on to the logits, so its attention, projection
            // and MLP run for those B tokens alone, compacted to rows 0..B-1 of x and atty.
            int *last_past = xmalloc((size_t)B * sizeof(int));
            int *ones = xmalloc((size_t)B * sizeof(int));
            for (int b = 0; b < B; b++) {
                last_past[b] = kv->len[b] + n_new[b] - 1;
                ones[b] = 1;
            }
            attention_forward_cached(atty, qkv, 3 * C, kl, vl, T * C, last_past, ones, last_row, B,
                                     C, c->n_head, scratch);
            free(last_past);
            free(ones);
            for (int b = 0; b < B; b++) {  // row last_row[b] ≥ b, and rows below b are done
                memmove(x + (size_t)b * C, x + last_row[b] * C, C * sizeof(float));
                memmove(atty + (size_t)b * C, atty + last_row[b] * C, C * sizeof(float));
                last_row[b] = (size_t)b;
            }
            N = (size_t)B;
        } else {
            attention_forward_cached(atty, qkv, 3 * C, kl, vl, T * C, kv->len, n_new, q_off, B, C,
                                     c->n_head, scratch);
        }
        gpt_linear(m, 4 * l + 1, proj, atty, w->attprojw, w->attprojb, N, C, C);
        vec_accumulate(x, proj, N * C);
        layernorm_forward(ln, NULL, NULL, x, w->ln2w, w->ln2b, N, C);
        gpt_linear(m, 4 * l + 2, fch, ln, w->fcw, w->fcb, N, C, 4 * C);
        gelu_forward(fch, fch, N * 4 * C);
        gpt_linear(m, 4 * l + 3, proj, fch, w->fcprojw, w->fcprojb, N, 4 * C, C);
        vec_accumulate(x, proj, N * C);
    }
    // final norm of each row's last new token, then logits
    float *last = falloc((size_t)B * C);
    for (int b = 0; b < B; b++)
        memcpy(last + (size_t)b * C, x + last_row[b] * C, C * sizeof(float));
    layernorm_forward(ln, NULL, NULL, last, m->w.lnfw, m->w.lnfb, (size_t)B, C);
    if (logits && (B < 2 || gpt_packed_forward(m, 4 * c->n_layer, logits, ln, (size_t)B)))
        lmhead_logits(logits, ln, m->w.wte, (size_t)B, C, V);
    for (int b = 0; b < B; b++) kv->len[b] += n_new[b];
    free(last); free(x); free(ln); free(qkv); free(atty); free(proj); free(fch); free(scratch);
    free(q_off); free(last_row); free(pos);
    return 0;
}
