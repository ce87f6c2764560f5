// nn/gemm.h — the training-size matrix products (the layers' forward and backward, the LM head):
// C[M,N] = alpha·op(A)·op(B) + beta·C, row-major, through oneDNN's fp32 matmul (its jit gemm with
// the CPU's widest vectors; RLHF_SGEMM=openblas: OpenBLAS's sgemm) or — once gemm_set_bf16(1) —
// through oneDNN's matmul on bf16 roundings of A and B with fp32 accumulation and fp32 C
// (AVX512-BF16 or AMX dot products); also the unpacked inference logits (nn/lmhead.c). The
// attention's per-head products come through gemm_serial (always fp32) on CPUs without AVX-512
// (elsewhere nn/attention_tiles.c); batch-1 decoding
// (nn/matvec.c) and packed inference products (nn/packed.h) do not come here.
#ifndef RLHF_NN_GEMM_H
#define RLHF_NN_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "util/common.h"

typedef enum { GEMM_N = 0, GEMM_T = 1 } GemmOp;  // op(X) = X or Xᵀ

// A is stored [M,K] (GEMM_N) or [K,M] (GEMM_T) with leading dimension lda; B [K,N] or [N,K]
// with ldb; C [M,N] with ldc. An RLHF_SGEMM value other than onednn or openblas is fatal. bf16
// mode: the product is that of bf16(alpha·A) and bf16(B) accumulated in fp32, and beta must be 0
// or 1 (the only values this project uses).
void gemm(GemmOp ta, GemmOp tb, size_t M, size_t N, size_t K, float alpha, const float *A,
          size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);

// fp32: C[M,N] = A[M,K]·B[K,N] + bias[N] on every row, the bias added by oneDNN's matmul as it
// writes C (no pass that fills C with the bias first). -1 (C untouched) in bf16 mode (slower
// there), when oneDNN has no such primitive or the fp32 products go to OpenBLAS: the caller then
// adds the bias itself.
int gemm_bias(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
              const float *bias, float *C, size_t ldc);

// bf16 mode: rounds X (stored [rows, cols], leading dimension ld) once; until gemm_hold_end(),
// products whose A or B is exactly that matrix (the same pointer, stored shape and ld, alpha 1)
// use this rounding instead of making their own — the same bits, one pass fewer. The caller must
// not change X in between. Holds nest two deep (the LM head holds its weight across its chunks,
// each chunk's backward its output gradient); gemm_hold_end ends the innermost. fp32 mode:
// nothing happens.
void gemm_hold_begin(const float *X, size_t rows, size_t cols, size_t ld);
void gemm_hold_end(void);
// bf16 mode: the same for a rounding the caller made and keeps, xb = f32_to_bf16_rows(X, rows,
// cols, ld, scale 1) stored densely (nn/onednn.h): until gemm_hold_rounded_end(), products whose
// A or B is exactly X use xb and never read X — X may by then hold other values (a model keeps
// the rounding of an activation from its forward and skips recomputing the activation in the
// backward). Independent of gemm_hold_begin: one of each may be held at a time.
// gemm_hold_rounded_end returns how many products used xb. fp32 mode: nothing happens (0).
void gemm_hold_rounded(const float *X, const uint16_t *xb, size_t rows, size_t cols, size_t ld);
int gemm_hold_rounded_end(void);

// The same product in fp32 on the calling thread alone, for small products inside parallel
// regions (the attention's per-head blocks without AVX-512): oneDNN's dnnl_sgemm, or OpenBLAS's
// sgemm under RLHF_SGEMM=openblas. Never bf16; the bits do not depend on the thread count.
void gemm_serial(GemmOp ta, GemmOp tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                 size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);

// Turns bf16 products on (process-wide) or off. -1 with a message when oneDNN has no bf16 matmul
// on this CPU (it needs AVX512-BF16, AMX or AVX512-core); the mode is then unchanged.
int gemm_set_bf16(int on, Err *e);
int gemm_bf16_on(void);
// oneDNN's implementation of the bf16 products (e.g. "gemm:jit"), "none" before gemm_set_bf16(1).
const char *gemm_bf16_impl(void);
// -1 with a message when RLHF_SGEMM is set to something other than onednn or openblas.
int gemm_check_env(Err *e);
// What runs the fp32 products: "oneDNN gemm:jit" (or another oneDNN implementation) or
// "OpenBLAS sgemm".
const char *gemm_fp32_impl(void);
// Destroys the cached primitives and scratch (nn/onednn.h's onednn_release_all calls it).
void gemm_release_cache(void);

#endif
