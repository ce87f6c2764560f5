// tests/support/ref_gpt.c — double-precision GPT reference (see ref_gpt.h): the composition of
// the ref_nn kernels, written out plainly, every activation of every layer kept for the backward.
#include "ref_gpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_nn.h"

int ref_gpt_find(const GPT *layout, const char *name) {
    for (int i = 0; i < layout->n_tensors; i++)
        if (strcmp(layout->tensors[i].name, name) == 0) return i;
    return -1;
}

// Offset of tensor `name` (layer l substituted into a "%d" name), checking its size.
static size_t tensor_at(const GPT *layout, const char *fmt, int l, size_t numel) {
    char name[64];
    snprintf(name, sizeof name, fmt, l);
    int i = ref_gpt_find(layout, name);
    if (i < 0) {
        fprintf(stderr, "ref_gpt: no tensor \"%s\" in the table\n", name);
        abort();
    }
    if (layout->tensors[i].numel != numel) {
        fprintf(stderr, "ref_gpt: tensor \"%s\" has %zu entries, expected %zu\n", name,
                layout->tensors[i].numel, numel);
        abort();
    }
    return layout->tensors[i].offset;
}

typedef struct {
    size_t ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb;
} LayerOff;

typedef struct {
    size_t wte, wpe, lnfw, lnfb, scorew;
    int has_score;
    LayerOff *h;
} Offsets;

static Offsets find_offsets(const GPT *layout) {
    const GPTConfig *c = &layout->cfg;
    size_t C = (size_t)c->n_embd, V = (size_t)c->vocab_size, P = (size_t)c->n_ctx;
    Offsets o;
    o.wte = tensor_at(layout, "wte.weight", 0, V * C);
    o.wpe = tensor_at(layout, "wpe.weight", 0, P * C);
    o.lnfw = tensor_at(layout, "ln_f.weight", 0, C);
    o.lnfb = tensor_at(layout, "ln_f.bias", 0, C);
    o.has_score = ref_gpt_find(layout, "score.weight") >= 0;
    o.scorew = o.has_score ? tensor_at(layout, "score.weight", 0, C) : 0;
    o.h = calloc((size_t)c->n_layer + 1, sizeof(LayerOff));
    for (int l = 0; l < c->n_layer; l++) {
        LayerOff *h = &o.h[l];
        h->ln1w = tensor_at(layout, "h.%d.ln_1.weight", l, C);
        h->ln1b = tensor_at(layout, "h.%d.ln_1.bias", l, C);
        h->qkvw = tensor_at(layout, "h.%d.attn.c_attn.weight", l, C * 3 * C);
        h->qkvb = tensor_at(layout, "h.%d.attn.c_attn.bias", l, 3 * C);
        h->attprojw = tensor_at(layout, "h.%d.attn.c_proj.weight", l, C * C);
        h->attprojb = tensor_at(layout, "h.%d.attn.c_proj.bias", l, C);
        h->ln2w = tensor_at(layout, "h.%d.ln_2.weight", l, C);
        h->ln2b = tensor_at(layout, "h.%d.ln_2.bias", l, C);
        h->fcw = tensor_at(layout, "h.%d.mlp.c_fc.weight", l, C * 4 * C);
        h->fcb = tensor_at(layout, "h.%d.mlp.c_fc.bias", l, 4 * C);
        h->fcprojw = tensor_at(layout, "h.%d.mlp.c_proj.weight", l, 4 * C * C);
        h->fcprojb = tensor_at(layout, "h.%d.mlp.c_proj.bias", l, C);
    }
    return o;
}

double ref_gpt_loss(const GPT *layout, const double *params, const RefGPTBatch *b, double *logp,
                    double *ent, double *val, double *dparams) {
    const GPTConfig *c = &layout->cfg;
    const size_t C = (size_t)c->n_embd, V = (size_t)c->vocab_size, L = (size_t)c->n_layer;
    const int NH = c->n_head;
    Offsets o = find_offsets(layout);
    if (b->cval && !o.has_score) {
        fprintf(stderr, "ref_gpt: value coefficients given, but the model has no score head\n");
        abort();
    }
    const double *p = params;

    // batch bookkeeping: row offsets, positions within the row
    size_t N = 0;
    size_t *off = malloc((size_t)b->B * sizeof(size_t));
    for (int r = 0; r < b->B; r++) {
        if (b->len[r] <= 0 || b->len[r] > c->n_ctx) {
            fprintf(stderr, "ref_gpt: row %d has bad length %d\n", r, b->len[r]);
            abort();
        }
        off[r] = N;
        N += (size_t)b->len[r];
    }
    int *pos = malloc(N * sizeof(int));
    for (int r = 0; r < b->B; r++)
        for (int i = 0; i < b->len[r]; i++) pos[off[r] + (size_t)i] = i;

    // ---- forward (every activation of every layer kept) ----
    double *encoded = ref_zeros(N * C);
    double *ln1 = ref_zeros(L * N * C), *qkv = ref_zeros(L * N * 3 * C);
    double *atty = ref_zeros(L * N * C), *res2 = ref_zeros(L * N * C);
    double *ln2 = ref_zeros(L * N * C), *fch = ref_zeros(L * N * 4 * C);
    double *fchg = ref_zeros(L * N * 4 * C), *res3 = ref_zeros(L * N * C);
    double *proj = ref_zeros(N * C), *lnf = ref_zeros(N * C);
    ref_embedding_forward(encoded, b->tokens, pos, p + o.wte, p + o.wpe, N, C);
    const double *res = encoded;
    for (size_t l = 0; l < L; l++) {
        const LayerOff *w = &o.h[l];
        double *l_ln1 = ln1 + l * N * C, *l_qkv = qkv + l * N * 3 * C, *l_atty = atty + l * N * C;
        double *l_res2 = res2 + l * N * C, *l_ln2 = ln2 + l * N * C;
        double *l_fch = fch + l * N * 4 * C, *l_fchg = fchg + l * N * 4 * C;
        double *l_res3 = res3 + l * N * C;
        ref_layernorm_forward(l_ln1, res, p + w->ln1w, p + w->ln1b, N, C);
        ref_matmul_forward(l_qkv, l_ln1, p + w->qkvw, p + w->qkvb, N, C, 3 * C);
        ref_attention_forward(l_atty, NULL, l_qkv, b->len, off, NULL, b->B, C, NH);
        ref_matmul_forward(proj, l_atty, p + w->attprojw, p + w->attprojb, N, C, C);
        for (size_t i = 0; i < N * C; i++) l_res2[i] = res[i] + proj[i];
        ref_layernorm_forward(l_ln2, l_res2, p + w->ln2w, p + w->ln2b, N, C);
        ref_matmul_forward(l_fch, l_ln2, p + w->fcw, p + w->fcb, N, C, 4 * C);
        ref_gelu_forward(l_fchg, l_fch, N * 4 * C);
        ref_matmul_forward(proj, l_fchg, p + w->fcprojw, p + w->fcprojb, N, 4 * C, C);
        for (size_t i = 0; i < N * C; i++) l_res3[i] = l_res2[i] + proj[i];
        res = l_res3;
    }
    ref_layernorm_forward(lnf, res, p + o.lnfw, p + o.lnfb, N, C);

    // ---- heads and loss ----
    double *lp = ref_zeros(N), *en = ref_zeros(N), *vl = ref_zeros(N);
    int need_lm = b->clogp || b->cent || logp || ent;
    if (need_lm) ref_lmhead_forward(lp, en, lnf, p + o.wte, b->target, b->inv_temp, N, C, V);
    int need_val = o.has_score && (b->cval || val);
    if (need_val) ref_scalarhead_forward(vl, lnf, p + o.scorew, N, C);
    double loss = 0;
    if (b->clogp) loss += ref_dot(b->clogp, lp, N);
    if (b->cent) loss += ref_dot(b->cent, en, N);
    if (b->cval) loss += ref_dot(b->cval, vl, N);
    if (logp) memcpy(logp, lp, N * sizeof(double));
    if (ent) memcpy(ent, en, N * sizeof(double));
    if (val && o.has_score) memcpy(val, vl, N * sizeof(double));

    // ---- backward ----
    if (dparams) {
        double *g = dparams;
        double *dlnf = ref_zeros(N * C), *dres = ref_zeros(N * C);
        double *dln = ref_zeros(N * C), *dqkv = ref_zeros(N * 3 * C), *datty = ref_zeros(N * C);
        double *dfch = ref_zeros(N * 4 * C), *dfchg = ref_zeros(N * 4 * C);
        double *zero = ref_zeros(N);
        if (b->clogp || b->cent)  // the reference kernel wants a dlogp array: zeros stand in
            ref_lmhead_backward(dlnf, g + o.wte, b->clogp ? b->clogp : zero, b->cent, lnf,
                                p + o.wte, b->target, b->inv_temp, N, C, V);
        if (b->cval) ref_scalarhead_backward(dlnf, g + o.scorew, b->cval, lnf, p + o.scorew, N, C);
        const double *res_last = L > 0 ? res3 + (L - 1) * N * C : encoded;
        ref_layernorm_backward(dres, g + o.lnfw, g + o.lnfb, dlnf, res_last, p + o.lnfw, N, C);
        for (size_t l = L; l-- > 0;) {
            const LayerOff *w = &o.h[l];
            const double *res_in = l == 0 ? encoded : res3 + (l - 1) * N * C;
            const double *l_ln1 = ln1 + l * N * C, *l_qkv = qkv + l * N * 3 * C;
            const double *l_atty = atty + l * N * C, *l_res2 = res2 + l * N * C;
            const double *l_ln2 = ln2 + l * N * C, *l_fch = fch + l * N * 4 * C;
            const double *l_fchg = fchg + l * N * 4 * C;
            // res3 = res2 + fcproj(gelu(fc(ln2(res2)))); dres = d res3 → d res2 (in place)
            memset(dfchg, 0, N * 4 * C * sizeof(double));
            ref_matmul_backward(dfchg, g + w->fcprojw, g + w->fcprojb, dres, l_fchg, p + w->fcprojw,
                                N, 4 * C, C);
            memset(dfch, 0, N * 4 * C * sizeof(double));
            ref_gelu_backward(dfch, l_fch, dfchg, N * 4 * C);
            memset(dln, 0, N * C * sizeof(double));
            ref_matmul_backward(dln, g + w->fcw, g + w->fcb, dfch, l_ln2, p + w->fcw, N, C, 4 * C);
            ref_layernorm_backward(dres, g + w->ln2w, g + w->ln2b, dln, l_res2, p + w->ln2w, N, C);
            // res2 = res_in + attproj(attn(qkv(ln1(res_in)))); dres = d res2 → d res_in
            memset(datty, 0, N * C * sizeof(double));
            ref_matmul_backward(datty, g + w->attprojw, g + w->attprojb, dres, l_atty,
                                p + w->attprojw, N, C, C);
            memset(dqkv, 0, N * 3 * C * sizeof(double));
            ref_attention_backward(dqkv, datty, l_qkv, b->len, off, b->B, C, NH);
            memset(dln, 0, N * C * sizeof(double));
            ref_matmul_backward(dln, g + w->qkvw, g + w->qkvb, dqkv, l_ln1, p + w->qkvw, N, C, 3 * C);
            ref_layernorm_backward(dres, g + w->ln1w, g + w->ln1b, dln, res_in, p + w->ln1w, N, C);
        }
        ref_embedding_backward(g + o.wte, g + o.wpe, dres, b->tokens, pos, N, C);
        free(dlnf), free(dres), free(dln), free(dqkv), free(datty);
        free(dfch), free(dfchg), free(zero);
    }

    free(encoded), free(ln1), free(qkv), free(atty), free(res2), free(ln2), free(fch);
    free(fchg), free(res3), free(proj), free(lnf), free(lp), free(en), free(vl);
    free(pos), free(off), free(o.h);
    return loss;
}
