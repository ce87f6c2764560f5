// nn/packed.h — frozen weights packed once for repeated inference products (oneDNN matmul):
// out[M,N] = inp[M,K]·W + bias, any M, without re-packing W on every call as sgemm does.
// Used by batched decoding and frozen models (model/gpt_packed.c); training keeps nn/matmul.c.
#ifndef RLHF_NN_PACKED_H
#define RLHF_NN_PACKED_H

#include <stddef.h>

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
// out[M,N] = inp[M,K]·W + bias. 0, or -1 when oneDNN has no kernel for this M (out untouched:
// the caller falls back to sgemm).
int packed_forward(const PackedMat *p, float *out, const float *inp, size_t M);
// oneDNN's implementation name for the last packed matrix (e.g. "brg:avx512_core"), "none" before.
const char *packed_impl(void);
// Destroys the cached primitives (nn/onednn.h's onednn_release_all calls it; packing works again
// afterwards).
void packed_release_cache(void);

#endif
