// model/gpt_packed.c — a model's linear weights and tied LM head packed (nn/packed.c) for
// batched decoding (gpt_pack / gpt_unpack around a generation) and for frozen models (packed once,
// optionally in bf16); gpt_linear is the layers' product that uses them when present.
#include <stdlib.h>

#include "model/gpt.h"
#include "nn/nn.h"
#include "nn/packed.h"

struct GPTPacked {
    int n;            // 4 per layer + the LM head
    int bf16;
    PackedMat **mat;
};

void gpt_unpack(GPT *m) {
    if (!m->packed) return;
    for (int i = 0; i < m->packed->n; i++) packed_free(m->packed->mat[i]);
    free(m->packed->mat);
    free(m->packed);
    m->packed = NULL;
}

int gpt_pack(GPT *m, int bf16, Err *e) {
    gpt_unpack(m);
    if (!packed_enabled()) return 0;
    const GPTConfig *c = &m->cfg;
    size_t C = (size_t)c->n_embd;
    struct GPTPacked *pk = xcalloc(1, sizeof *pk);
    pk->n = 4 * c->n_layer + 1;
    pk->bf16 = bf16;
    pk->mat = xcalloc((size_t)pk->n, sizeof *pk->mat);
    m->packed = pk;
    for (int l = 0; l < c->n_layer; l++) {
        const GPTLayer *w = &m->w.h[l];
        const float *ws[4] = {w->qkvw, w->attprojw, w->fcw, w->fcprojw};
        const float *bs[4] = {w->qkvb, w->attprojb, w->fcb, w->fcprojb};
        size_t in[4] = {C, C, C, 4 * C}, out[4] = {3 * C, C, 4 * C, C};
        for (int j = 0; j < 4; j++)
            if (!(pk->mat[4 * l + j] = packed_create(ws[j], in[j], out[j], 0, bs[j], bf16, e))) goto fail;
    }
    // the tied LM head (not for a reward model: its score head reads the trunk, never the logits)
    if (!c->score_head &&
        !(pk->mat[pk->n - 1] = packed_create(m->w.wte, C, (size_t)c->vocab_size, 1, NULL, bf16, e)))
        goto fail;
    return 0;
fail:
    gpt_unpack(m);
    return -1;
}

int gpt_packed_forward(const GPT *m, int idx, float *out, const float *inp, size_t rows) {
    if (!m->packed || idx < 0 || idx >= m->packed->n || !m->packed->mat[idx]) return -1;
    return packed_forward(m->packed->mat[idx], out, inp, rows);
}

int gpt_packed_forward_to(const GPT *m, int idx, const PanelsOut *o, const float *inp,
                          size_t rows) {
    if (!m->packed || idx < 0 || idx >= m->packed->n || !m->packed->mat[idx]) return -1;
    return packed_forward_to(m->packed->mat[idx], o, inp, rows);
}

int gpt_packed_bf16(const GPT *m) { return m->packed && m->packed->bf16; }

void gpt_linear(const GPT *m, int idx, float *out, const float *inp, const float *w,
                const float *b, size_t N, size_t C, size_t OC) {
    if (N < 2 || gpt_packed_forward(m, idx, out, inp, N)) matmul_forward(out, inp, w, b, N, C, OC);
}
