// model/gpt_optim.c — the optimizer step over the tensor table: deterministic global gradient
// norm, clipping, and AdamW with decoupled weight decay on the tensors the table marks.
#include <math.h>

#include "model/gpt.h"
#include "nn/nn.h"

float gpt_adamw_apply(GPT *m, const AdamWConfig *oc, double grad_sq, size_t lo, size_t hi) {
    float norm = (float)sqrt(grad_sq);
    float scale = 1.0f;
    if (oc->grad_clip > 0 && norm > oc->grad_clip) scale = oc->grad_clip / norm;
    m->adam_step++;
    gpt_unpack(m);  // packed copies (gpt_pack) would go stale
    m->has_forward = 0;  // and so would the stored forward
    for (int i = 0; i < m->n_tensors; i++) {
        const GPTTensor *t = &m->tensors[i];
        size_t a = max_sz(t->offset, lo), b = min_sz(t->offset + t->numel, hi);
        if (a >= b) continue;
        adamw_update(m->params + a, m->grads + a, m->adam_m + a, m->adam_v + a, b - a,
                     m->adam_step, oc->lr, oc->beta1, oc->beta2, oc->eps,
                     t->decay ? oc->weight_decay : 0.0f, scale);
    }
    return norm;
}

float gpt_adamw_step(GPT *m, const AdamWConfig *oc) {
    if (!m->trainable) die("gpt_adamw_step: model was created frozen");
    return gpt_adamw_apply(m, oc, sum_squares(m->grads, m->n_params), 0, m->n_params);
}
