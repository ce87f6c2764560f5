// model/gpt_resize.c — growing the vocabulary (e.g. to add a pad token): a new model with more
// wte rows replaces the old one; every other tensor, the gradients, the AdamW moments and step are
// carried over; the new embedding rows start at the mean of the existing rows (their gradients and
// moments at zero).
#include <string.h>

#include "model/gpt.h"

int gpt_resize_vocab(GPT **mp, int new_vocab, Err *e) {
    GPT *m = *mp;
    int V = m->cfg.vocab_size;
    if (new_vocab == V) return 0;
    if (new_vocab < V)
        return err_set(e, "vocabulary resize: %d → %d would drop embedding rows (only growth is "
                          "supported)", V, new_vocab);
    GPTConfig c = m->cfg;
    c.vocab_size = new_vocab;
    if (gpt_config_check(&c, e)) return -1;
    GPT *n = gpt_create(&c, m->trainable);
    size_t C = (size_t)c.n_embd;
    // the tables list the same tensors in the same order; only wte's row count differs
    for (int i = 0; i < m->n_tensors; i++) {
        const GPTTensor *a = &m->tensors[i], *b = &n->tensors[i];
        float *bufs_old[4] = {m->params, m->grads, m->adam_m, m->adam_v};
        float *bufs_new[4] = {n->params, n->grads, n->adam_m, n->adam_v};
        for (int k = 0; k < (m->trainable ? 4 : 1); k++)
            memcpy(bufs_new[k] + b->offset, bufs_old[k] + a->offset, a->numel * sizeof(float));
    }
    // new rows: the mean embedding (in double, rows in order: deterministic)
    const float *wte = m->w.wte;
    for (size_t j = 0; j < C; j++) {
        double s = 0;
        for (int r = 0; r < V; r++) s += wte[(size_t)r * C + j];
        float mean = (float)(s / V);
        for (int r = V; r < new_vocab; r++) n->w.wte[(size_t)r * C + j] = mean;
    }
    n->adam_step = m->adam_step;
    gpt_free(m);
    *mp = n;
    return 0;
}
