// model/gpt_optim.c — the optimizer step over the tensor table: deterministic global gradient
// norm, clipping, and AdamW with decoupled weight decay on the tensors the table marks.
#include <math.h>

#include "model/gpt.h"
#include "nn/nn.h"

float gpt_adamw_step(GPT *m, const AdamWConfig *oc) {
    if (!m->trainable) die("gpt_adamw_step: model was created frozen");
    double sq = sum_squares(m->grads, m->n_params);
    float norm = (float)sqrt(sq);
    float scale = 1.0f;
    if (oc->grad_clip > 0 && norm > oc->grad_clip) scale = oc->grad_clip / norm;
    m->adam_step++;
    for (int i = 0; i < m->n_tensors; i++) {
        const GPTTensor *t = &m->tensors[i];
        adamw_update(m->params + t->offset, m->grads + t->offset, m->adam_m + t->offset,
                     m->adam_v + t->offset, t->numel, m->adam_step, oc->lr, oc->beta1, oc->beta2,
                     oc->eps, t->decay ? oc->weight_decay : 0.0f, scale);
    }
    return norm;
}
