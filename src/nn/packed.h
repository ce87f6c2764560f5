// nn/packed.h — frozen weights packed once for repeated inference products (our AVX-512 panels
// for f32, nn/panels.c; oneDNN's matmul otherwise): out[M,N] = inp[M,K]·W + bias without
// re-packing W on every call as sgemm does.
// Used by batched decoding and frozen models (model/gpt_packed.c); training keeps nn/matmul.c.
#ifndef RLHF_NN_PACKED_H
#define RLHF_NN_PACKED_H

#include <stddef.h>

#include "nn/panels.h"
#include "util/common.h"

typedef struct PackedMat PackedMat;

// 0 when the environment says RLHF_PACKED=0 (every product then goes through sgemm).
int packed_enabled(void);
// Packs W: w[K,N] (Conv1D layout) or, when transposed, w[N,K] (the tied wte). bias[N] is copied
// (NULL = none). bf16: W kept in bf16 and each product's input rounded to bf16, f32 accumulation
// and output (needs AVX512-BF16 or AVX512-core; refused otherwise). NULL with a message in e
// when oneDNN cannot.
PackedMat *packed_create(const float *w, size_t K, size_t N, int transposed, const float *bias,
                         int bf16, Err *e);
void packed_free(PackedMat *p);
size_t packed_bytes(const PackedMat *p);
// out[M,N] = inp[M,K]·W + bias. 0, or -1 (out untouched: the caller falls back to sgemm) when
// oneDNN has no kernel for this M or, for the f32 panels, M is past the rows they are faster for.
int packed_forward(const PackedMat *p, float *out, const float *inp, size_t M);
// The same product delivered as o says (nn/panels.h: rows scattered in segments, added to a
// residual stream, through GELU): 0, or -1 (nothing written) where the product is not on the f32
// panels (oneDNN, or more rows than they take) or o's segments do not suit them — the caller
// then runs packed_forward (or sgemm) and does the same itself.
int packed_forward_to(const PackedMat *p, const PanelsOut *o, const float *inp, size_t M);
// The implementation of the last packed matrix: "panels:avx512f" or "onednn " and oneDNN's name
// (e.g. "onednn brg:avx512_core"); "none" before.
const char *packed_impl(void);
// Destroys the cached primitives (nn/onednn.h's onednn_release_all calls it; packing works again
// afterwards).
void packed_release_cache(void);

#endif
