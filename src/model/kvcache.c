// model/kvcache.c — the KV cache and the cached forward used by generation: prefill (many new
// tokens per row) and decode (one per row) through the same path, each row with its own length.
// Products with 2+ rows use the model's packed weights when generate() packed them (gpt_pack),
// which put their outputs where they go: keys and values into the cache, the projections onto
// the residual stream, the MLP's hidden layer through GELU (linear_to).
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

// out = inp[N,C]·w + b for linear idx, delivered as o says (rows in o->seg-column segments,
// o->op): by the packed product itself where it can (gpt_packed_forward_to), else the product into
// tmp[N,OC] (gpt_linear) and the same work here, row by row — the same bits either way. A
// destination row that is tmp's own row is left where it is.
static void linear_to(const GPT *m, int idx, const PanelsOut *o, float *tmp, const float *inp,
                      const float *w, const float *b, size_t N, size_t C, size_t OC) {
    if (N >= 2 && gpt_packed_forward_to(m, idx, o, inp, N) == 0) return;
    gpt_linear(m, idx, tmp, inp, w, b, N, C, OC);
    size_t nseg = (OC + o->seg - 1) / o->seg;
#pragma omp parallel for schedule(static) if (N > 1)
    for (size_t n = 0; n < N; n++)
        for (size_t s = 0; s < nseg; s++) {
            size_t c0 = s * o->seg, nc = OC - c0 < o->seg ? OC - c0 : o->seg;
            const float *y = tmp + n * OC + c0;
            float *d = o->rows[s * N + n];
            if (o->op == PANELS_GELU) gelu_forward_serial(d, y, nc);
            else if (o->op == PANELS_ADD)
                for (size_t j = 0; j < nc; j++) d[j] += y[j];
            else if (d != y)
                memcpy(d, y, nc * sizeof(float));
        }
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
    // Where the products' outputs go (nn/panels.h): a token's query to its qkv row, its key and
    // value straight into the cache; both projections added to the residual stream x; the MLP's
    // hidden layer through GELU (linear_to).
    float **qkv_rows = xmalloc(3 * N * sizeof *qkv_rows), **x_rows = xmalloc(N * sizeof *x_rows);
    float **fch_rows = xmalloc(N * sizeof *fch_rows);
    for (size_t n = 0; n < N; n++) {
        qkv_rows[n] = qkv + n * 3 * C;
        x_rows[n] = x + n * C;
        fch_rows[n] = fch + n * 4 * C;
    }
    PanelsOut to_qkv = {qkv_rows, C, PANELS_STORE}, to_x = {x_rows, C, PANELS_ADD};
    PanelsOut to_fch = {fch_rows, 4 * C, PANELS_GELU};
    embedding_forward(x, tokens, pos, m->w.wte, m->w.wpe, N, C);
    size_t T = (size_t)kv->T;
    for (int l = 0; l < c->n_layer; l++) {
        const GPTLayer *w = &m->w.h[l];
        float *kl = kv->k + (size_t)l * (size_t)kv->B * T * C;
        float *vl = kv->v + (size_t)l * (size_t)kv->B * T * C;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n_new[b]; i++) {
                size_t n = q_off[b] + (size_t)i, t = (size_t)(kv->len[b] + i);
                qkv_rows[N + n] = kl + (size_t)b * T * C + t * C;
                qkv_rows[2 * N + n] = vl + (size_t)b * T * C + t * C;
            }
        layernorm_forward(ln, NULL, NULL, x, w->ln1w, w->ln1b, N, C);
        linear_to(m, 4 * l + 0, &to_qkv, qkv, ln, w->qkvw, w->qkvb, N, C, 3 * C);
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
            N = (size_t)B;  // x_rows and fch_rows: their first B entries are rows 0..B-1
        } else {
            attention_forward_cached(atty, qkv, 3 * C, kl, vl, T * C, kv->len, n_new, q_off, B, C,
                                     c->n_head, scratch);
        }
        linear_to(m, 4 * l + 1, &to_x, proj, atty, w->attprojw, w->attprojb, N, C, C);
        layernorm_forward(ln, NULL, NULL, x, w->ln2w, w->ln2b, N, C);
        linear_to(m, 4 * l + 2, &to_fch, fch, ln, w->fcw, w->fcb, N, C, 4 * C);
        linear_to(m, 4 * l + 3, &to_x, proj, fch, w->fcprojw, w->fcprojb, N, 4 * C, C);
    }
    free(qkv_rows); free(x_rows); free(fch_rows);
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
