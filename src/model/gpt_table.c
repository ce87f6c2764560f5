// model/gpt_table.c — the tensor table (the schema), model allocation and GPT-2 initialisation.
// Adding a tensor = one line in SPECS plus its pointer field in GPTLayer/GPTWeights.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gpt.h"
#include "nn/nn.h"
#include "util/rng.h"

typedef enum { D_1, D_C, D_3C, D_4C, D_V, D_P } Dim;
typedef enum { GLOBAL, LAYER, HEAD } Scope;

typedef struct {
    const char *name;  // for LAYER tensors a format with the layer index
    Scope scope;
    int ndim;
    Dim dims[2];
    InitRule init;
    size_t field;      // offset of the float* in GPTWeights (GLOBAL/HEAD) or GPTLayer (LAYER)
} TensorSpec;

#define GW(f) offsetof(GPTWeights, f)
#define GL(f) offsetof(GPTLayer, f)
// Order = order in the flat buffer and in checkpoints. Decay applies to 2-D tensors.
static const TensorSpec SPECS[] = {
    {"wte.weight", GLOBAL, 2, {D_V, D_C}, INIT_NORMAL, GW(wte)},
    {"wpe.weight", GLOBAL, 2, {D_P, D_C}, INIT_NORMAL, GW(wpe)},
    {"h.%d.ln_1.weight", LAYER, 1, {D_C}, INIT_ONES, GL(ln1w)},
    {"h.%d.ln_1.bias", LAYER, 1, {D_C}, INIT_ZEROS, GL(ln1b)},
    {"h.%d.attn.c_attn.weight", LAYER, 2, {D_C, D_3C}, INIT_NORMAL, GL(qkvw)},
    {"h.%d.attn.c_attn.bias", LAYER, 1, {D_3C}, INIT_ZEROS, GL(qkvb)},
    {"h.%d.attn.c_proj.weight", LAYER, 2, {D_C, D_C}, INIT_RESIDUAL, GL(attprojw)},
    {"h.%d.attn.c_proj.bias", LAYER, 1, {D_C}, INIT_ZEROS, GL(attprojb)},
    {"h.%d.ln_2.weight", LAYER, 1, {D_C}, INIT_ONES, GL(ln2w)},
    {"h.%d.ln_2.bias", LAYER, 1, {D_C}, INIT_ZEROS, GL(ln2b)},
    {"h.%d.mlp.c_fc.weight", LAYER, 2, {D_C, D_4C}, INIT_NORMAL, GL(fcw)},
    {"h.%d.mlp.c_fc.bias", LAYER, 1, {D_4C}, INIT_ZEROS, GL(fcb)},
    {"h.%d.mlp.c_proj.weight", LAYER, 2, {D_4C, D_C}, INIT_RESIDUAL, GL(fcprojw)},
    {"h.%d.mlp.c_proj.bias", LAYER, 1, {D_C}, INIT_ZEROS, GL(fcprojb)},
    {"ln_f.weight", GLOBAL, 1, {D_C}, INIT_ONES, GW(lnfw)},
    {"ln_f.bias", GLOBAL, 1, {D_C}, INIT_ZEROS, GW(lnfb)},
    {"score.weight", HEAD, 2, {D_1, D_C}, INIT_SCORE, GW(scorew)},
};
#define N_SPECS (sizeof SPECS / sizeof SPECS[0])

static size_t dim_size(const GPTConfig *c, Dim d) {
    switch (d) {
    case D_1: return 1;
    case D_C: return (size_t)c->n_embd;
    case D_3C: return 3 * (size_t)c->n_embd;
    case D_4C: return 4 * (size_t)c->n_embd;
    case D_V: return (size_t)c->vocab_size;
    case D_P: return (size_t)c->n_ctx;
    }
    return 0;
}

int gpt_config_check(const GPTConfig *c, Err *e) {
    if (c->n_layer <= 0 || c->n_head <= 0 || c->n_embd <= 0 || c->n_ctx <= 0 || c->vocab_size <= 0)
        return err_set(e, "model config: n_layer, n_head, n_embd, n_ctx and vocab_size must be "
                          "positive (got %d, %d, %d, %d, %d)",
                       c->n_layer, c->n_head, c->n_embd, c->n_ctx, c->vocab_size);
    if (c->n_embd % c->n_head != 0)
        return err_set(e, "model config: n_embd (%d) must be divisible by n_head (%d)", c->n_embd,
                       c->n_head);
    if (c->n_layer > 1000 || c->n_embd > 65536 || c->n_ctx > 1 << 20 || c->vocab_size > 1 << 24)
        return err_set(e, "model config: implausible sizes (n_layer %d, n_embd %d, n_ctx %d, "
                          "vocab_size %d)",
                       c->n_layer, c->n_embd, c->n_ctx, c->vocab_size);
    return 0;
}

// Fills one table entry for spec sp (layer l for LAYER tensors) at offset *off, advancing *off.
static void set_tensor(GPTTensor *x, const TensorSpec *sp, const GPTConfig *c, int l, size_t *off) {
    snprintf(x->name, sizeof x->name, sp->name, l);
    x->ndim = sp->ndim;
    x->numel = 1;
    for (int d = 0; d < x->ndim; d++) {
        x->shape[d] = dim_size(c, sp->dims[d]);
        x->numel *= x->shape[d];
    }
    x->offset = *off;
    *off += x->numel;
    x->init = sp->init;
    x->decay = x->ndim == 2;
    x->is_head = sp->scope == HEAD;
}

int gpt_tensor_table(const GPTConfig *c, GPTTensor **out, size_t *n_params) {
    int cap = (int)N_SPECS * (c->n_layer + 1), n = 0;
    GPTTensor *t = xcalloc((size_t)cap, sizeof *t);
    size_t off = 0;
    // the SPECS order, with the run of LAYER entries expanded once per layer
    for (size_t s = 0; s < N_SPECS;) {
        if (SPECS[s].scope == LAYER) {
            size_t first = s;
            while (s < N_SPECS && SPECS[s].scope == LAYER) s++;
            for (int l = 0; l < c->n_layer; l++)
                for (size_t k = first; k < s; k++) set_tensor(&t[n++], &SPECS[k], c, l, &off);
            continue;
        }
        if (SPECS[s].scope != HEAD || c->score_head) set_tensor(&t[n++], &SPECS[s], c, 0, &off);
        s++;
    }
    *out = t;
    *n_params = off;
    return n;
}

// Points every float* of w into buf, walking the same expansion as gpt_tensor_table.
static void bind_pointers(const GPTConfig *c, GPTWeights *w, float *buf, const GPTTensor *t) {
    int n = 0;
    for (size_t s = 0; s < N_SPECS;) {
        if (SPECS[s].scope == LAYER) {
            size_t first = s;
            while (s < N_SPECS && SPECS[s].scope == LAYER) s++;
            for (int l = 0; l < c->n_layer; l++)
                for (size_t k = first; k < s; k++)
                    *(float **)((char *)&w->h[l] + SPECS[k].field) = buf + t[n++].offset;
            continue;
        }
        if (SPECS[s].scope == HEAD && !c->score_head) { s++; continue; }
        *(float **)((char *)w + SPECS[s].field) = buf + t[n++].offset;
        s++;
    }
}

size_t gpt_num_params(const GPTConfig *c) {
    GPTTensor *t;
    size_t n;
    gpt_tensor_table(c, &t, &n);
    free(t);
    return n;
}

size_t gpt_matmul_params(const GPTConfig *c) {
    size_t C = (size_t)c->n_embd;
    return (size_t)c->n_layer * 12 * C * C + (size_t)c->vocab_size * C;
}

GPT *gpt_create(const GPTConfig *c, int trainable) {
    GPT *m = xcalloc(1, sizeof *m);
    m->cfg = *c;
    m->trainable = trainable;
    m->n_tensors = gpt_tensor_table(c, &m->tensors, &m->n_params);
    m->params = falloc_huge(m->n_params);
    m->w.h = xcalloc((size_t)c->n_layer, sizeof(GPTLayer));
    bind_pointers(c, &m->w, m->params, m->tensors);
    if (trainable) {
        m->grads = falloc_huge(m->n_params);
        m->adam_m = falloc_huge(m->n_params);
        m->adam_v = falloc_huge(m->n_params);
        m->g.h = xcalloc((size_t)c->n_layer, sizeof(GPTLayer));
        bind_pointers(c, &m->g, m->grads, m->tensors);
    }
    return m;
}

static void free_acts(GPT *m) {
    GPTActs *a = &m->a;
    float **bufs[] = {&a->encoded, &a->ln, &a->ln1_mean, &a->ln1_rstd, &a->qkv, &a->atty,
                      &a->att, &a->res2, &a->ln2_mean, &a->ln2_rstd, &a->fch,
                      &a->gelu, &a->res3, &a->lnf, &a->lnf_mean, &a->lnf_rstd, &a->proj,
                      &a->dres, &a->dln, &a->dqkv, &a->datty, &a->dfch_gelu,
                      &a->gelu_slope, &a->dlnf, &a->head_scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
    free(a->kept);
    a->kept = NULL;
    a->kept_cap = 0;
}

void gpt_free(GPT *m) {
    if (!m) return;
    gpt_unpack(m);
    free_acts(m);
    free(m->len); free(m->pos); free(m->tok); free(m->off); free(m->att_off);
    free(m->head_target); free(m->head_dlogp); free(m->head_dent);
    free(m->parent); free(m->prefix); free(m->tail); free(m->qoff);
    free(m->params); free(m->grads); free(m->adam_m); free(m->adam_v);
    free(m->w.h); free(m->g.h); free(m->tensors);
    free(m);
}

void gpt_init_weights(GPT *m, uint64_t seed) {
    const GPTConfig *c = &m->cfg;
    float resid_std = 0.02f / sqrtf(2.0f * (float)c->n_layer);
    float score_std = 1.0f / sqrtf((float)c->n_embd + 1.0f);
    for (int i = 0; i < m->n_tensors; i++) {
        const GPTTensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        Rng r;
        rng_seed(&r, seed, 0x696e6974 /* "init" */, (uint64_t)i);
        float std = t->init == INIT_RESIDUAL ? resid_std : t->init == INIT_SCORE ? score_std : 0.02f;
        for (size_t k = 0; k < t->numel; k++) {
            switch (t->init) {
            case INIT_ONES: p[k] = 1.0f; break;
            case INIT_ZEROS: p[k] = 0.0f; break;
            default: p[k] = std * rng_normal(&r); break;
            }
        }
    }
}

// Per token and layer: qkv 3C, atty C, res2 C, fch 4C, res3 C (10C) and four LayerNorm
// statistics; attention probabilities NH·len² per row. Inference keeps one layer. Per token once:
// encoded, lnf, proj, the LayerNorm and GELU scratch (8C) and two statistics.
size_t gpt_memory_estimate(const GPTConfig *c, int trainable, size_t tokens, size_t max_len,
                           int bf16) {
    size_t P = gpt_num_params(c), C = (size_t)c->n_embd, V = (size_t)c->vocab_size;
    size_t rows = max_len ? (tokens + max_len - 1) / max_len : 0;
    size_t att = rows * (size_t)c->n_head * max_len * max_len;
    size_t L = trainable ? (size_t)c->n_layer : 1;
    size_t per_layer = tokens * (10 * C + 4) + att;
    size_t floats = P * (trainable ? 4 : 1) + L * per_layer + tokens * (8 * C + 2);
    // backward scratch: dres dln dqkv datty dfch_gelu gelu_slope dlnf
    if (trainable) floats += tokens * 15 * C;
    floats += lmhead_scratch_floats(C, V);    // LM head chunk scratch
    size_t kept = gpt_bf16_kept_bytes(c, tokens);  // bf16: a trainable model's kept roundings
    if (bf16 && trainable && kept <= GPT_BF16_KEPT_MAX_BYTES) floats += kept / sizeof(float);
    return floats * sizeof(float);
}

size_t gpt_bf16_kept_bytes(const GPTConfig *c, size_t tokens) {
    return (size_t)c->n_layer * tokens * 7 * (size_t)c->n_embd * sizeof(uint16_t);
}
