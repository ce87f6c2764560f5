// model/gpt_forward.c — forward and backward of the GPT over a packed ragged batch, and the two
// heads (fused LM log-probabilities/entropies; scalar values). The kernels live in nn/.
#include <stdlib.h>
#include <string.h>

#include "model/gpt.h"
#include "nn/gemm.h"
#include "nn/nn.h"
#include "nn/onednn.h"

// What to grow a buffer of capacity `cap` to when `need` no longer fits: 25% headroom when the
// batch is ragged (its rows differ in length, or share prompts: such batches change size every
// step, and each regrowth re-allocates and zeroes every activation buffer — tens of ms of page
// faults at the tiny model's shapes, as much as a step) or when a buffer grows a second time;
// exactly `need` the first time for rows of one length (a fixed batch shape never grows again);
// never past `most`, what B rows of the full context can need.
static size_t grown(size_t cap, size_t need, size_t most, int ragged) {
    size_t want = cap == 0 && !ragged ? need : need + need / 4;
    if (want > most) want = most;
    return want > need ? want : need;
}

// Grows the batch bookkeeping and activation buffers to hold N tokens in B rows (attention
// probabilities: att floats per layer).
static void ensure_capacity(GPT *m, int B, size_t N, size_t att, int ragged) {
    const GPTConfig *c = &m->cfg;
    size_t C = (size_t)c->n_embd;
    if ((size_t)B > m->cap_B) {
        m->cap_B = (size_t)B;
        m->len = xrealloc(m->len, (size_t)B * sizeof(int));
        m->off = xrealloc(m->off, (size_t)B * sizeof(size_t));
        m->att_off = xrealloc(m->att_off, (size_t)B * sizeof(size_t));
        m->parent = xrealloc(m->parent, (size_t)B * sizeof(int));
        m->prefix = xrealloc(m->prefix, (size_t)B * sizeof(int));
        m->tail = xrealloc(m->tail, (size_t)B * sizeof(int));
        m->qoff = xrealloc(m->qoff, (size_t)B * sizeof(size_t));
    }
    size_t L = m->trainable ? (size_t)c->n_layer : 1;
    GPTActs *a = &m->a;
    if (N > m->cap_N) {
        N = m->cap_N = grown(m->cap_N, N, (size_t)B * (size_t)c->n_ctx, ragged);
        m->pos = xrealloc(m->pos, N * sizeof(int));
        m->tok = xrealloc(m->tok, N * sizeof(int));
        m->head_target = xrealloc(m->head_target, N * sizeof(int));
        m->head_dlogp = xrealloc(m->head_dlogp, N * sizeof(float));
        m->head_dent = xrealloc(m->head_dent, N * sizeof(float));
        struct { float **buf; size_t width; } per_layer[] = {
            {&a->qkv, 3 * C}, {&a->atty, C}, {&a->res2, C},
            {&a->fch, 4 * C}, {&a->res3, C}, {&a->ln1_mean, 1},
            {&a->ln1_rstd, 1}, {&a->ln2_mean, 1}, {&a->ln2_rstd, 1}};
        for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++) {
            free(*per_layer[i].buf);
            *per_layer[i].buf = falloc_huge(L * N * per_layer[i].width);
        }
        free(a->encoded); a->encoded = falloc_huge(N * C);
        free(a->ln); a->ln = falloc_huge(N * C);
        free(a->gelu); a->gelu = falloc_huge(N * 4 * C);
        free(a->lnf); a->lnf = falloc_huge(N * C);
        free(a->lnf_mean); a->lnf_mean = falloc_huge(N);
        free(a->lnf_rstd); a->lnf_rstd = falloc_huge(N);
        free(a->proj); a->proj = falloc_huge(N * C);
        if (m->trainable) {
            free(a->dres); a->dres = falloc_huge(N * C);
            free(a->dln); a->dln = falloc_huge(N * C);
            free(a->dqkv); a->dqkv = falloc_huge(N * 3 * C);
            free(a->datty); a->datty = falloc_huge(N * C);
            free(a->dfch_gelu); a->dfch_gelu = falloc_huge(N * 4 * C);
            free(a->gelu_slope); a->gelu_slope = falloc_huge(N * 4 * C);
            free(a->dlnf); a->dlnf = falloc_huge(N * C);
        }
    }
    if (att > m->cap_att) {
        size_t ctx = (size_t)c->n_ctx;
        att = m->cap_att = grown(m->cap_att, att, (size_t)B * (size_t)c->n_head * ctx * ctx, ragged);
        free(a->att);
        a->att = falloc_huge(L * att);
    }
    if (!a->head_scratch)
        a->head_scratch = falloc_huge(lmhead_scratch_floats(C, (size_t)c->vocab_size));
}

// bf16 products in a trainable model: decides, before a forward, whether it keeps its layers'
// rounded product inputs (GPTActs.kept, grown to the batch's cap_N tokens) — not when the products
// are fp32, the model is frozen, the kept roundings would take more than GPT_BF16_KEPT_MAX_BYTES
// or RLHF_BF16_KEEP=0 (the backward then recomputes and rounds again: the same bits).
static void kept_prepare(GPT *m) {
    GPTActs *a = &m->a;
    size_t bytes = gpt_bf16_kept_bytes(&m->cfg, m->cap_N);
    m->kept_on = m->trainable && gemm_bf16_on() && bytes <= GPT_BF16_KEPT_MAX_BYTES &&
                 env_switch_on("RLHF_BF16_KEEP");
    if (m->kept_on && a->kept_cap < m->cap_N) {
        free(a->kept);
        a->kept_cap = m->cap_N;
        a->kept = xalloc_huge(bytes);
    }
}

// Layer l's kept rounding of product input `part` (0 ln1 out, 1 attention out, 2 ln2 out, 3 GELU
// out; the GPTActs.kept layout), or NULL when the forward keeps none.
static uint16_t *kept_part(const GPT *m, size_t l, int part) {
    if (!m->kept_on) return NULL;
    size_t C = (size_t)m->cfg.n_embd;
    return m->a.kept + (l * 7 + (size_t)part) * m->a.kept_cap * C;
}

// The kept rounding of a product input X [rows, cols] at kb (NULL: none): made from X (forward)
// and held for the product(s) that follow, until gemm_hold_rounded_end.
static void kept_round(uint16_t *kb, const float *X, size_t rows, size_t cols) {
    if (!kb) return;
    f32_to_bf16_rows(kb, X, rows, cols, cols, 1.0f);
    gemm_hold_rounded(X, kb, rows, cols, cols);
}
static void kept_hold(const uint16_t *kb, const float *X, size_t rows, size_t cols) {
    if (kb) gemm_hold_rounded(X, kb, rows, cols, cols);
}
// Ends a hold; in the backward (expect 1) the weight gradient's product must have used it, as
// the activation it stands for was not recomputed.
static void kept_end(const uint16_t *kb, int expect) {
    if (!kb) return;
    int uses = gemm_hold_rounded_end();
    if (expect && uses != expect)
        die("gpt_backward: a kept bf16 layer input was used by %d products, not %d", uses, expect);
}

int gpt_forward(GPT *m, int B, const int *len, const int *tokens, Err *e) {
    return gpt_forward_shared(m, B, len, tokens, NULL, NULL, e);
}

int gpt_prompt_sharing(void) { return env_switch_on("RLHF_PROMPT_SHARING"); }

int gpt_forward_shared(GPT *m, int B, const int *len, const int *tokens, const int *parent,
                       const int *prefix, Err *e) {
    return gpt_forward_tail(m, B, len, tokens, parent, prefix, NULL, e);
}

void gpt_tail_from_targets(int B, const int *len, const int *target, int *tail) {
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        int first = len[b] - 1;
        for (int i = 0; i < len[b]; i++)
            if (target[o + (size_t)i] >= 0) { first = i; break; }
        tail[b] = len[b] - first;
        o += (size_t)len[b];
    }
}

int gpt_forward_targets(GPT *m, int B, const int *len, const int *tokens, const int *parent,
                        const int *prefix, const int *target, Err *e) {
    if (B <= 0) return err_set(e, "forward: empty batch");
    int *tail = xmalloc((size_t)B * sizeof(int));
    gpt_tail_from_targets(B, len, target, tail);
    int rc = gpt_forward_tail(m, B, len, tokens, parent, prefix, tail, e);
    free(tail);
    return rc;
}

int gpt_forward_last(GPT *m, int B, const int *len, const int *tokens, const int *parent,
                     const int *prefix, Err *e) {
    if (B <= 0) return err_set(e, "forward: empty batch");
    int *tail = xmalloc((size_t)B * sizeof(int));
    for (int b = 0; b < B; b++) tail[b] = 1;
    int rc = gpt_forward_tail(m, B, len, tokens, parent, prefix, tail, e);
    free(tail);
    return rc;
}

// The last layer's compaction: rows' tail positions gathered to the front of a [N, C] buffer
// (the k-th tail position to row k; in place: a row never moves back past its position) and
// scattered back (the other rows zeroed).
static void tail_gather(const GPT *m, float *dst, const float *src, size_t C) {
    for (int b = 0; b < m->B; b++) {
        size_t from = m->off[b] + (size_t)(m->len[b] - m->tail[b]);
        memmove(dst + m->qoff[b] * C, src + from * C, (size_t)m->tail[b] * C * sizeof(float));
    }
}
static void tail_scatter(const GPT *m, float *x, size_t C) {
    for (int b = m->B - 1; b >= 0; b--) {
        size_t skip = (size_t)(m->len[b] - m->tail[b]), to = m->off[b] + skip;
        memmove(x + to * C, x + m->qoff[b] * C, (size_t)m->tail[b] * C * sizeof(float));
        memset(x + m->off[b] * C, 0, skip * C * sizeof(float));
    }
}

int gpt_forward_tail(GPT *m, int B, const int *len, const int *tokens, const int *parent,
                     const int *prefix, const int *tail, Err *e) {
    const GPTConfig *c = &m->cfg;
    if (B <= 0) return err_set(e, "forward: empty batch");
    size_t N = 0, att = 0;
    int ragged = 0;
    for (int b = 0; b < B; b++) {
        int p = parent ? parent[b] : -1, pre = p >= 0 ? prefix[b] : 0;
        ragged |= len[b] != len[0] || p >= 0;
        if (len[b] <= 0) return err_set(e, "forward: row %d is empty", b);
        if (p >= b || p < -1)
            return err_set(e, "forward: row %d names row %d as its parent (must be an earlier row)",
                           b, p);
        if (p >= 0 && parent[p] >= 0)
            return err_set(e, "forward: row %d's parent, row %d, has a parent itself", b, p);
        if (p >= 0 && (pre < 1 || pre > len[p]))
            return err_set(e, "forward: row %d shares %d tokens of row %d, which has %d", b, pre,
                           p, len[p]);
        if (pre + len[b] > c->n_ctx)
            return err_set(e, "forward: row %d has %d tokens, more than the model's context of %d",
                           b, pre + len[b], c->n_ctx);
        if (tail && (tail[b] < 1 || tail[b] > len[b]))
            return err_set(e, "forward: row %d asks for its last %d positions of %d", b, tail[b],
                           len[b]);
        N += (size_t)len[b];
        att += attention_probs_floats(len[b], pre, c->n_head);
    }
    for (size_t n = 0; n < N; n++)
        if (tokens[n] < 0 || tokens[n] >= c->vocab_size)
            return err_set(e, "forward: token %d at position %zu is outside the vocabulary (0..%d)",
                           tokens[n], n, c->vocab_size - 1);
    ensure_capacity(m, B, N, att, ragged);
    m->B = B;
    m->N = N;
    m->att_size = att;
    size_t o = 0, ao = 0, qo = 0;
    for (int b = 0; b < B; b++) {
        int p = parent ? parent[b] : -1, pre = p >= 0 ? prefix[b] : 0;
        m->len[b] = len[b];
        m->parent[b] = p;
        m->prefix[b] = pre;
        m->tail[b] = tail ? tail[b] : len[b];
        m->qoff[b] = qo;
        qo += (size_t)m->tail[b];
        m->off[b] = o;
        m->att_off[b] = ao;
        for (int i = 0; i < len[b]; i++) m->pos[o + (size_t)i] = pre + i;
        o += (size_t)len[b];
        ao += attention_probs_floats(len[b], pre, c->n_head);
    }
    memcpy(m->tok, tokens, N * sizeof(int));
    m->head_kept = m->head_grad = 0;
    m->Nt = qo;
    m->tailed = qo < N && c->n_layer > 0;  // no layers: no layer to compact

    size_t C = (size_t)c->n_embd, NH = (size_t)c->n_head;
    GPTActs *a = &m->a;
    kept_prepare(m);
    embedding_forward(a->encoded, m->tok, m->pos, m->w.wte, m->w.wpe, N, C);
    const float *res = a->encoded;
    for (int l = 0; l < c->n_layer; l++) {
        size_t li = m->trainable ? (size_t)l : 0;
        const GPTLayer *w = &m->w.h[l];
        float *ln1m = a->ln1_mean + li * N, *ln1r = a->ln1_rstd + li * N;
        float *qkv = a->qkv + li * N * 3 * C, *atty = a->atty + li * N * C;
        float *attp = a->att + li * m->cap_att, *res2 = a->res2 + li * N * C;
        float *ln2m = a->ln2_mean + li * N, *ln2r = a->ln2_rstd + li * N;
        float *fch = a->fch + li * N * 4 * C, *res3 = a->res3 + li * N * C;

        uint16_t *kb = kept_part(m, li, 0), *kb_att = kept_part(m, li, 1);
        uint16_t *kb_ln2 = kept_part(m, li, 2), *kb_gelu = kept_part(m, li, 3);

        layernorm_forward(a->ln, ln1m, ln1r, res, w->ln1w, w->ln1b, N, C);
        kept_round(kb, a->ln, N, C);
        gpt_linear(m, 4 * l + 0, qkv, a->ln, w->qkvw, w->qkvb, N, C, 3 * C);
        kept_end(kb, 0);
        // the last layer of a tailed batch: every position's keys and values (above), the rest
        // for the Nt tail positions only, compacted to the front of each buffer
        int compact = m->tailed && l == c->n_layer - 1;
        size_t Nl = compact ? m->Nt : N;
        AttnBatch ab = {.B = B, .len = m->len, .off = m->off, .att_off = m->att_off,
                        .parent = m->parent, .prefix = m->prefix,
                        .tail = compact ? m->tail : NULL, .qoff = compact ? m->qoff : NULL};
        attention_forward_batch(atty, attp, qkv, &ab, C, (int)NH);
        if (compact) {  // the tail's residual inputs, gathered into res3 (written last below)
            tail_gather(m, res3, res, C);
            res = res3;
        }
        kept_round(kb_att, atty, Nl, C);
        gpt_linear(m, 4 * l + 1, a->proj, atty, w->attprojw, w->attprojb, Nl, C, C);
        kept_end(kb_att, 0);
        residual_forward(res2, res, a->proj, Nl * C);
        layernorm_forward(a->ln, ln2m, ln2r, res2, w->ln2w, w->ln2b, Nl, C);
        kept_round(kb_ln2, a->ln, Nl, C);
        gpt_linear(m, 4 * l + 2, fch, a->ln, w->fcw, w->fcb, Nl, C, 4 * C);
        kept_end(kb_ln2, 0);
        gelu_forward(a->gelu, fch, Nl * 4 * C);
        kept_round(kb_gelu, a->gelu, Nl, 4 * C);
        gpt_linear(m, 4 * l + 3, a->proj, a->gelu, w->fcprojw, w->fcprojb, Nl, 4 * C, C);
        kept_end(kb_gelu, 0);
        residual_forward(res3, res2, a->proj, Nl * C);
        res = res3;
    }
    // the final norm: tail positions only (statistics compact), scattered to their rows of lnf
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, res, m->w.lnfw, m->w.lnfb,
                      m->tailed ? m->Nt : N, C);
    if (m->tailed) tail_scatter(m, a->lnf, C);
    m->has_forward = m->trainable;
    return 0;
}

int gpt_forward_stored(const GPT *m, int B, const int *len, const int *tokens, const int *parent,
                       const int *prefix, const int *tail) {
    if (!m->has_forward || B != m->B) return 0;
    size_t N = 0;
    for (int b = 0; b < B; b++) {
        int p = parent ? parent[b] : -1, pre = p >= 0 ? prefix[b] : 0;
        if (len[b] != m->len[b] || p != m->parent[b] || pre != m->prefix[b]) return 0;
        if ((tail ? tail[b] : len[b]) != m->tail[b]) return 0;
        N += (size_t)len[b];
    }
    return N == m->N && !memcmp(tokens, m->tok, N * sizeof(int));
}

// A head must not read a position whose hidden state a tailed forward left out (its lnf row is
// zero): a target or a value gradient there is a caller's bug.
static void tail_check(const GPT *m, const int *target, const float *dval, const char *who) {
    if (!m->tailed) return;
    for (int b = 0; b < m->B; b++)
        for (size_t n = m->off[b], e = n + (size_t)(m->len[b] - m->tail[b]); n < e; n++)
            if ((target && target[n] >= 0) || (dval && dval[n] != 0.0f))
                die("%s: position %zu (row %d) is outside the %d positions the forward kept", who, n,
                    b, m->tail[b]);
}

// A training model remembers when the head's logits stayed in its scratch (all active positions
// in one chunk), with the targets and temperature they were for, so that the backward reuses them.
void gpt_lm_logprobs(GPT *m, const int *target, float inv_temp, float *logp, float *ent) {
    tail_check(m, target, NULL, "gpt_lm_logprobs");
    int kept = lmhead_forward(logp, ent, m->a.lnf, m->w.wte, target, inv_temp, m->N,
                              (size_t)m->cfg.n_embd, (size_t)m->cfg.vocab_size, m->a.head_scratch);
    m->head_kept = kept && m->trainable;
    if (m->head_kept) {
        memcpy(m->head_target, target, m->N * sizeof(int));
        m->head_inv_temp = inv_temp;
    }
}

void gpt_lm_logprobs_grad(GPT *m, const int *target, float inv_temp, float *logp, float *ent,
                          const float *dlogp, const float *dent) {
    if (!m->trainable) die("gpt_lm_logprobs_grad: model was created frozen (no gradients)");
    if (!m->has_forward) die("gpt_lm_logprobs_grad: no stored forward pass to backpropagate");
    tail_check(m, target, NULL, "gpt_lm_logprobs_grad");
    size_t N = m->N, C = (size_t)m->cfg.n_embd;
    memset(m->a.dlnf, 0, N * C * sizeof(float));
    int grad = dlogp || dent;  // neither: no gradient, as gpt_backward would give none
    lmhead_forward_backward(logp, ent, grad ? m->a.dlnf : NULL, grad ? m->g.wte : NULL, dlogp, dent,
                            m->a.lnf, m->w.wte, target, inv_temp, N, C, (size_t)m->cfg.vocab_size,
                            m->a.head_scratch);
    m->head_kept = 0;  // the scratch holds gradients now
    m->head_grad = 1;
    memcpy(m->head_target, target, N * sizeof(int));
    m->head_inv_temp = inv_temp;
    m->head_has_dlogp = dlogp != NULL;
    m->head_has_dent = dent != NULL;
    if (dlogp) memcpy(m->head_dlogp, dlogp, N * sizeof(float));
    if (dent) memcpy(m->head_dent, dent, N * sizeof(float));
}

// Whether gpt_backward's head arguments are those gpt_lm_logprobs_grad took the gradient for.
static int head_grad_matches(const GPT *m, const int *target, float inv_temp, const float *dlogp,
                             const float *dent) {
    size_t N = m->N;
    if (inv_temp != m->head_inv_temp || !target || memcmp(target, m->head_target, N * sizeof(int)))
        return 0;
    if ((dlogp != NULL) != m->head_has_dlogp || (dent != NULL) != m->head_has_dent) return 0;
    if (dlogp && memcmp(dlogp, m->head_dlogp, N * sizeof(float))) return 0;
    return !dent || !memcmp(dent, m->head_dent, N * sizeof(float));
}

void gpt_values(GPT *m, float *val) {
    if (!m->w.scorew) die("gpt_values: this model has no scalar head");
    scalarhead_forward(val, m->a.lnf, m->w.scorew, m->N, (size_t)m->cfg.n_embd);
}

void gpt_zero_grad(GPT *m) {
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
    m->head_grad = 0;  // wte's share from gpt_lm_logprobs_grad is gone: gpt_backward redoes it
}

void gpt_backward(GPT *m, const int *target, float inv_temp, const float *dlogp,
                  const float *dent, const float *dval) {
    if (!m->trainable) die("gpt_backward: model was created frozen (no gradients)");
    if (!m->has_forward) die("gpt_backward: no stored forward pass to backpropagate");
    const GPTConfig *c = &m->cfg;
    size_t N = m->N, C = (size_t)c->n_embd, NH = (size_t)c->n_head;
    GPTActs *a = &m->a;
    GPTWeights *g = &m->g;

    if (dlogp || dent) tail_check(m, target, NULL, "gpt_backward");
    if (dval) tail_check(m, NULL, dval, "gpt_backward");
    if (m->head_grad) {  // gpt_lm_logprobs_grad did the head: dlnf holds its input gradient
        if (!head_grad_matches(m, target, inv_temp, dlogp, dent))
            die("gpt_backward: gpt_lm_logprobs_grad took the LM head's gradient for another target, "
                "temperature or dL/dlogp / dL/dent than this backward's");
        m->head_grad = 0;
    } else {
        memset(a->dlnf, 0, N * C * sizeof(float));
        if (dlogp || dent) {
            int kept = m->head_kept && inv_temp == m->head_inv_temp &&
                       !memcmp(target, m->head_target, N * sizeof(int));
            lmhead_backward(a->dlnf, g->wte, dlogp, dent, a->lnf, m->w.wte, target, inv_temp, N,
                            C, (size_t)c->vocab_size, a->head_scratch, kept);
        }
    }
    m->head_kept = 0;  // the backward overwrote the scratch
    if (dval) {
        if (!m->w.scorew) die("gpt_backward: value gradient given, but the model has no scalar head");
        scalarhead_backward(a->dlnf, g->scorew, dval, a->lnf, m->w.scorew, N, C);
    }
    // a tailed forward's last layer and final norm ran on the Nt tail positions, compacted
    size_t Nl = m->tailed ? m->Nt : N;
    if (m->tailed) tail_gather(m, a->dlnf, a->dlnf, C);
    const float *res_last = c->n_layer > 0 ? a->res3 + (size_t)(c->n_layer - 1) * N * C : a->encoded;
    memset(a->dres, 0, Nl * C * sizeof(float));
    layernorm_backward(a->dres, g->lnfw, g->lnfb, a->dlnf, res_last, m->w.lnfw, a->lnf_mean,
                       a->lnf_rstd, Nl, C);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        size_t li = (size_t)l;
        const GPTLayer *w = &m->w.h[l];
        GPTLayer *gl = &g->h[l];
        const float *res_in = l == 0 ? a->encoded : a->res3 + (li - 1) * N * C;
        float *ln1m = a->ln1_mean + li * N, *ln1r = a->ln1_rstd + li * N;
        const float *qkv = a->qkv + li * N * 3 * C, *atty = a->atty + li * N * C;
        const float *attp = a->att + li * m->cap_att, *res2 = a->res2 + li * N * C;
        float *ln2m = a->ln2_mean + li * N, *ln2r = a->ln2_rstd + li * N;
        const float *fch = a->fch + li * N * 4 * C;
        int compact = m->tailed && l == c->n_layer - 1;
        if (!compact) Nl = N;

        // the forward's bf16 roundings of this layer's product inputs, when kept
        const uint16_t *kb = kept_part(m, li, 0), *kb_att = kept_part(m, li, 1);
        const uint16_t *kb_ln2 = kept_part(m, li, 2), *kb_gelu = kept_part(m, li, 3);

        // MLP: res3 = res2 + fcproj(gelu(fc(ln2(res2)))); dres holds d res3. The GELU and
        // LayerNorm outputs are recomputed as the forward made them (the same bits; the
        // statistics are rewritten with the values they had) — only the GELU slope when the
        // forward's bf16 roundings of them are kept (the weight gradients read nothing else).
        if (kb) gelu_slope_only(a->gelu_slope, fch, Nl * 4 * C);
        else gelu_forward_slope(a->gelu, a->gelu_slope, fch, Nl * 4 * C);  // and the slope, one exp each
        kept_hold(kb_gelu, a->gelu, Nl, 4 * C);
        matmul_backward_set(a->dfch_gelu, gl->fcprojw, gl->fcprojb, a->dres, a->gelu, w->fcprojw, Nl, 4 * C, C);
        kept_end(kb_gelu, 1);
        gelu_scale(a->dfch_gelu, a->gelu_slope, Nl * 4 * C);  // in place: d gelu out → d fc out
        if (!kb) layernorm_forward(a->ln, ln2m, ln2r, res2, w->ln2w, w->ln2b, Nl, C);
        kept_hold(kb_ln2, a->ln, Nl, C);
        matmul_backward_set(a->dln, gl->fcw, gl->fcb, a->dfch_gelu, a->ln, w->fcw, Nl, C, 4 * C);
        kept_end(kb_ln2, 1);
        layernorm_backward(a->dres, gl->ln2w, gl->ln2b, a->dln, res2, w->ln2w, ln2m, ln2r, Nl, C);
        // attention: res2 = res_in + attproj(attn(qkv(ln1(res_in)))); dres holds d res2
        kept_hold(kb_att, atty, Nl, C);
        matmul_backward_set(a->datty, gl->attprojw, gl->attprojb, a->dres, atty, w->attprojw, Nl, C, C);
        kept_end(kb_att, 1);
        // compacted: d res2 of the tail positions back to their rows (the others' is 0: only
        // their keys and values reached the loss); every position's K/V gradient comes next
        if (compact) tail_scatter(m, a->dres, C);
        memset(a->dqkv, 0, N * 3 * C * sizeof(float));
        AttnBatch ab = {.B = m->B, .len = m->len, .off = m->off, .att_off = m->att_off,
                        .parent = m->parent, .prefix = m->prefix,
                        .tail = compact ? m->tail : NULL, .qoff = compact ? m->qoff : NULL};
        attention_backward_batch(a->dqkv, a->datty, qkv, attp, &ab, C, (int)NH);
        if (!kb) layernorm_forward(a->ln, ln1m, ln1r, res_in, w->ln1w, w->ln1b, N, C);
        kept_hold(kb, a->ln, N, C);
        matmul_backward_set(a->dln, gl->qkvw, gl->qkvb, a->dqkv, a->ln, w->qkvw, N, C, 3 * C);
        kept_end(kb, 1);
        layernorm_backward(a->dres, gl->ln1w, gl->ln1b, a->dln, res_in, w->ln1w, ln1m, ln1r, N, C);
    }
    embedding_backward(g->wte, g->wpe, a->dres, m->tok, m->pos, N, C);
}
