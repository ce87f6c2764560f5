// nn/panels.h — frozen f32 weights laid out in 32-column panels for products with few rows
// (batched decoding): out[M,N] = inp[M,K]·W + bias with an AVX-512 kernel that streams each panel
// from memory once per product and spreads the next panel's prefetch over the whole computation.
// nn/packed.c uses it for f32 packing where the build targets AVX-512 (else oneDNN's packed
// layout); bits do not depend on M or the thread count (each output sums over k in order).
#ifndef RLHF_NN_PANELS_H
#define RLHF_NN_PANELS_H

#include <stddef.h>

typedef struct {
    size_t K, N, np;  // np panels of K rows × PANEL_COLS floats (the last one zero-padded)
    float *w;
    float *bias;      // owned copy [N], or NULL
} Panels;

// 1 when this build has the kernel (compiled for AVX-512).
int panels_available(void);
// Lays W out in panels: w[K,N] (Conv1D layout) or, when transposed, w[N,K] (the tied wte).
// bias[N] is copied (NULL = none).
void panels_create(Panels *p, const float *w, size_t K, size_t N, int transposed,
                   const float *bias);
void panels_free(Panels *p);
size_t panels_bytes(const Panels *p);
// out[M,N] = inp[M,K]·W + bias (out rows of stride N; out must not alias inp). Threads split
// the panels (one thread inside a parallel region).
void panels_forward(const Panels *p, float *out, const float *inp, size_t M);

// What a product does with y = inp·W + bias (panels_forward_to) as it stores each tile.
typedef enum {
    PANELS_STORE,  // out = y
    PANELS_ADD,    // out += y (a residual stream: vec_accumulate's bits)
    PANELS_GELU,   // out = gelu(y) (gelu_forward's bits)
} PanelsOp;
// Where the outputs go: row m's columns s·seg .. s·seg + seg − 1 at rows[s·M + m] (segments
// s = 0 .. ⌈N/seg⌉ − 1; seg = N: one pointer per row), so one product can write, say, a token's
// query to a scratch row and its key and value straight into a KV cache. seg is N or more, or a
// multiple of 32 (a panel's columns go to one place).
typedef struct {
    float *const *rows;
    size_t seg;
    PanelsOp op;
} PanelsOut;
int panels_out_ok(const Panels *p, const PanelsOut *o);  // 1 when o's seg suits p
// panels_forward's products (the same bits) delivered as o says; no destination may alias inp.
// Dies on a seg that panels_out_ok refuses.
void panels_forward_to(const Panels *p, const PanelsOut *o, const float *inp, size_t M);

#endif
