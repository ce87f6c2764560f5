// nn/onednn.h — the process's oneDNN CPU engine and stream, shared by the packed inference
// products (nn/packed.c) and the bf16 training products (nn/gemm.c), and f32 → bf16 rounding.
#ifndef RLHF_NN_ONEDNN_H
#define RLHF_NN_ONEDNN_H

#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>
#include <stdint.h>

// The modules that run oneDNN primitives; each has its own stream (a stream must not be used by
// two threads at once, and each module serialises its own calls under its own lock).
typedef enum { ONEDNN_PACKED, ONEDNN_GEMM, ONEDNN_USERS } OnednnUser;

// 1 when the engine and the streams exist (created on first call), 0 if oneDNN has no CPU engine.
int onednn_ready(void);
dnnl_engine_t onednn_engine(void);
dnnl_stream_t onednn_stream(OnednnUser user);
// Destroys every cached oneDNN object (packed and gemm primitives) and then the engine; both
// modules work again afterwards (tests and leak checkers).
void onednn_release_all(void);
// y = scale·x rounded to bf16, to nearest even (a NaN stays a quiet NaN, a denormal becomes a zero
// of its sign: AVX512-BF16's rounding, which it uses where the CPU has it), for a rows × cols
// block stored with leading dimension ld, written densely (ld = cols).
void f32_to_bf16_rows(uint16_t *restrict y, const float *restrict x, size_t rows, size_t cols,
                      size_t ld, float scale);

#endif
