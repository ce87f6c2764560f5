// tests/support/ref_gpt.h — a slow DOUBLE-precision GPT built from the ref_nn kernels: the whole
// forward (trunk, LM head with temperature and entropies, scalar head) over a packed ragged batch,
// a scalar loss made of fixed coefficients on the per-position outputs, and its backward.
//
// The parameters are a double copy of a model's flat buffer; each tensor is found BY NAME in the
// tensor table of a GPT created with the same config (layout->tensors), so the reference relies
// only on the table's names/offsets — never on the model's pointer wiring or its kernels.
#ifndef RLHF_TEST_REF_GPT_H
#define RLHF_TEST_REF_GPT_H

#include <stddef.h>

#include "model/gpt.h"

typedef struct {
    int B;              // rows
    const int *len;     // [B], each in 1..n_ctx
    const int *tokens;  // [N = Σ len], packed
    const int *target;  // [N]: LM target token, < 0 = inactive (logp = ent = 0, no gradient)
    double inv_temp;    // LM head: softmax(logits · inv_temp)
    // loss L = Σ_n clogp[n]·logp[n] + Σ_n cent[n]·ent[n] + Σ_n cval[n]·val[n]; a NULL
    // coefficient array drops its term (cval needs the score head).
    const double *clogp, *cent, *cval;
} RefGPTBatch;

// Returns L for params [layout->n_params] (double, laid out as layout->tensors). Outputs, each
// [N] and may be NULL: logp, ent (LM head; 0 at inactive positions), val (needs the score head).
// dparams (may be NULL): dparams += dL/dparams, same layout.
double ref_gpt_loss(const GPT *layout, const double *params, const RefGPTBatch *b, double *logp,
                    double *ent, double *val, double *dparams);

// Index of the tensor called name in layout->tensors, or -1.
int ref_gpt_find(const GPT *layout, const char *name);

#endif
