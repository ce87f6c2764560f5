// model/gpt_head.c — giving a language model a scalar head (reward / value models): a new model
// with score_head = 1 replaces the old one; every trunk tensor, its gradients, AdamW moments and
// step are carried over; score.weight is drawn N(0, 1/√(C+1)) from the stream gpt_init_weights
// would use for it (seed, tensor index), so the head is the same as `rlhf init --score-head`'s.
#include <math.h>
#include <string.h>

#include "model/gpt.h"
#include "util/rng.h"

int gpt_add_score_head(GPT **mp, uint64_t seed, Err *e) {
    GPT *m = *mp;
    if (m->cfg.score_head) return 0;
    GPTConfig c = m->cfg;
    c.score_head = 1;
    if (gpt_config_check(&c, e)) return -1;
    GPT *n = gpt_create(&c, m->trainable);
    float std = 1.0f / sqrtf((float)c.n_embd + 1.0f);
    int j = 0;  // the trunk tensors come in the same order in both tables; the head is extra
    for (int i = 0; i < n->n_tensors; i++) {
        const GPTTensor *b = &n->tensors[i];
        if (b->is_head) {
            Rng r;
            rng_seed(&r, seed, 0x696e6974 /* "init", as gpt_init_weights */, (uint64_t)i);
            for (size_t k = 0; k < b->numel; k++) n->params[b->offset + k] = std * rng_normal(&r);
            continue;
        }
        const GPTTensor *a = &m->tensors[j++];
        if (strcmp(a->name, b->name) || a->numel != b->numel) {
            gpt_free(n);
            return err_set(e, "adding a score head: tensor tables differ at %s / %s", a->name, b->name);
        }
        float *bufs_old[4] = {m->params, m->grads, m->adam_m, m->adam_v};
        float *bufs_new[4] = {n->params, n->grads, n->adam_m, n->adam_v};
        for (int k = 0; k < (m->trainable ? 4 : 1); k++)
            memcpy(bufs_new[k] + b->offset, bufs_old[k] + a->offset, a->numel * sizeof(float));
    }
    n->adam_step = m->adam_step;
    gpt_free(m);
    *mp = n;
    return 0;
}
