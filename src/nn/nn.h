// nn/nn.h — the CPU kernels of the GPT: forward and backward of every op, side by side.
//
// Conventions (every kernel):
// - Activations are PACKED ragged batches: a batch of B rows holds N = Σ len[b] tokens, row b's
//   tokens at [off[b], off[b] + len[b]) of every [N, ...] buffer. No padding token exists here.
// - Linear weights use the Hugging Face Conv1D layout [in, out]: y = x·W + b.
// - Every backward ACCUMULATES (+=) into every gradient it writes (activation and parameter
//   gradients alike); callers zero scratch gradient buffers. A NULL gradient pointer is skipped.
// - Deterministic: no OpenMP float `reduction`; per-thread partial sums are combined in thread
//   order, so the same inputs and thread count give the same bits.
// - Matrix products go to OpenBLAS sgemm (OpenMP build: shares our thread pool; called inside a
//   parallel region it runs single-threaded).
#ifndef RLHF_NN_H
#define RLHF_NN_H

#include <stddef.h>

// ---- matmul: out[N,OC] = inp[N,C] · w[C,OC] + bias[OC]  (bias may be NULL) --------------------
void matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                    size_t N, size_t C, size_t OC);
// dinp[N,C] += dout·wᵀ;  dw[C,OC] += inpᵀ·dout;  dbias[OC] += Σ_n dout[n]
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, size_t N, size_t C, size_t OC);
// The same, but dinp = dout·wᵀ is overwritten (what was in it is ignored): no zeroing pass first.
void matmul_backward_set(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, size_t N, size_t C, size_t OC);

// ---- one-row products (batch-1 decoding; nn/matvec.c): weights streamed once, at memory speed --
// y[OC] = x[C]·W[C,OC] + bias (bias may be NULL). Bits depend on the thread count.
void matvec_in_out(float *y, const float *x, const float *W, const float *bias, size_t C,
                   size_t OC);
// y[V] = A[V,C]·x[C] (a dot product per row of A). Bits independent of the thread count.
void matvec_rows_dot(float *y, const float *A, const float *x, size_t V, size_t C);

// ---- layernorm over the last dim, eps 1e-5 -----------------------------------------------------
// out[N,C] = (inp − mean)·rstd·w + b; saves mean[N], rstd[N] when non-NULL (training).
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, size_t N, size_t C);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, size_t N, size_t C);

// ---- GELU, tanh approximation ("gelu_new") -----------------------------------------------------
// out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
void gelu_forward(float *out, const float *inp, size_t n);  // out may alias inp
// The same on the calling thread alone (gelu_forward's bits; the products' fused GELU, nn/panels.c).
void gelu_forward_serial(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);
// dinp = dout·gelu'(inp), overwritten; dinp may alias dout (in place).
void gelu_backward_set(float *dinp, const float *inp, const float *dout, size_t n);
// The backward's recompute: out = gelu(inp) (gelu_forward's bits) and slope = gelu'(inp), one exp
// per element; then gelu_scale(d, slope) makes d = d·slope — gelu_backward_set's bits.
void gelu_forward_slope(float *out, float *slope, const float *inp, size_t n);
// The slope alone (the same bits), for a backward that needs no GELU output.
void gelu_slope_only(float *slope, const float *inp, size_t n);
void gelu_scale(float *d, const float *slope, size_t n);

// ---- residual ----------------------------------------------------------------------------------
void residual_forward(float *out, const float *a, const float *b, size_t n);  // out = a + b
void vec_accumulate(float *dst, const float *src, size_t n);                  // dst += src

// ---- token + position embedding ----------------------------------------------------------------
// out[N,C] = wte[tok[n]] + wpe[pos[n]]
void embedding_forward(float *out, const int *tok, const int *pos, const float *wte,
                       const float *wpe, size_t N, size_t C);
// dwte[tok[n]] += dout[n]; dwpe[pos[n]] += dout[n]  (deterministic: parallel over channels)
void embedding_backward(float *dwte, float *dwpe, const float *dout, const int *tok,
                        const int *pos, size_t N, size_t C);

// ---- causal self-attention over a packed ragged batch (training) -------------------------------
// qkv[N,3C]: per token Q | K | V, each C wide; head h owns columns h·hs .. h·hs+hs−1 of each
// block (hs = C/NH). Row b attends causally within its own tokens only, scale 1/√hs.
// out[N,C]. att: saved softmax probabilities, row b / head h is a len[b]×len[b] block at
// att + att_off[b] + h·len[b]², upper triangle zero (att_off[b] = Σ_{b'<b} NH·len[b']²).
void attention_forward(float *out, float *att, const float *qkv, const int *len,
                       const size_t *off, const size_t *att_off, int B, size_t C, int NH);
// dqkv[N,3C] += gradient through the attention given dout[N,C]; O(len²) per (row, head).
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        const int *len, const size_t *off, const size_t *att_off, int B, size_t C,
                        int NH);
// The general form (AttnBatch below; attention_forward / _backward are it with no prefixes and
// no tails). Shared prefixes: a row b with parent[b] = p ≥ 0 (p < b, itself without a parent)
// continues the first prefix[b] (1 … len[p]) tokens of row p: its queries see those keys/values,
// then its own causally, as if the row were the parent's prefix followed by its own tokens; its
// backward adds into row p's K/V gradients. att for such a row is len[b]×(prefix[b] + len[b])
// per head (attention_probs_floats), each probability row the prefix's columns then its own, the
// columns past the causal limit zero. Rows without a parent have prefix[b] ignored.
// Tails: tail (NULL: every position) asks for the outputs of row b's last tail[b]
// (1 … len[b]) positions only — its queries; every position still supplies keys and values. Those
// outputs go to out at rows qoff[b] … qoff[b] + tail[b] − 1 (qoff NULL: the positions' own rows
// off[b] + len[b] − tail[b] …), and the backward reads dout there. att then holds tail[b]×W
// probabilities per head (W = prefix + len) at att + att_off[b] + h·tail[b]·W. The model's last
// layer uses it: only the positions whose hidden states a head reads go past attention there.
typedef struct {
    int B;
    const int *len;
    const size_t *off, *att_off;
    const int *parent, *prefix;  // shared prefixes, or NULL
    const int *tail;             // query rows per row, or NULL
    const size_t *qoff;          // where each row's query rows sit in out / dout, or NULL
} AttnBatch;
void attention_forward_batch(float *out, float *att, const float *qkv, const AttnBatch *ab,
                             size_t C, int NH);
void attention_backward_batch(float *dqkv, const float *dout, const float *qkv, const float *att,
                              const AttnBatch *ab, size_t C, int NH);
// Floats of att for one row of len tokens after prefix shared ones (0: none), all heads.
size_t attention_probs_floats(int len, int prefix, int NH);
// The products inside attention_forward / _backward[_batch]: 1 (the default where the CPU has
// AVX-512) our register tiles, 0 gemm_serial's library products. Returns the previous setting;
// asking for tiles where the CPU lacks AVX-512 leaves them off. For tests and measurements.
int attention_set_tiles(int on);

// ---- causal attention against a KV cache (inference: prefill and decode) -----------------------
// Row b has past[b] cached positions and n_new[b] new tokens (packed in q at q_off[b], row
// stride q_stride floats, the C query columns first). The cache of row b holds keys at
// kcache + b·cache_stride + t·C and values at vcache + b·cache_stride + t·C for positions
// t < past[b] + n_new[b] (the new tokens' K/V are already written there). New token i of row b
// (position past[b]+i) attends to cache positions 0 .. past[b]+i. out[N_new, C] (row stride C).
// scratch: at least nthreads × NH × max_positions floats.
void attention_forward_cached(float *out, const float *q, size_t q_stride, const float *kcache,
                              const float *vcache, size_t cache_stride, const int *past,
                              const int *n_new, const size_t *q_off, int B, size_t C, int NH,
                              float *scratch);

// ---- fused language-model head (output layer tied to wte[V,C]) ---------------------------------
// For every position n with target[n] >= 0: z = (x[n]·wteᵀ)·inv_temp ∈ R^V,
//   logp[n] = z[target[n]] − logsumexp(z),  ent[n] = −Σ_v p_v log p_v  (p = softmax z).
// Positions with target[n] < 0 get logp = ent = 0 and cost nothing. Works on chunks of active
// rows (never a full N×V buffer): scratch holds lmhead_scratch_floats(C, V) floats. The forward
// returns 1 when all active rows fit in one chunk: their logits then stay in the scratch.
size_t lmhead_scratch_floats(size_t C, size_t V);
size_t lmhead_chunk_rows(void);  // active rows per chunk
int lmhead_forward(float *logp, float *ent, const float *x, const float *wte, const int *target,
                    float inv_temp, size_t N, size_t C, size_t V, float *scratch);
// Given dlogp[n] and dent[n] (either may be NULL) at active positions: recomputes the chunk's logits,
// dx[N,C] += ..., dwte[V,C] += ...  (dx or dwte may be NULL). kept = 1 says the scratch still holds
// what lmhead_forward left for these same x, wte, target and inv_temp (it returned 1): the logits
// are taken from there, with the same bits a recomputation would give.
void lmhead_backward(float *dx, float *dwte, const float *dlogp, const float *dent,
                     const float *x, const float *wte, const int *target, float inv_temp,
                     size_t N, size_t C, size_t V, float *scratch, int kept);
// Both at once, for a loss whose dlogp / dent are known before the forward: logp and ent as
// lmhead_forward gives them, dx and dwte as lmhead_backward then adds them (the same bits), each
// chunk's logits made once instead of twice (the backward's recomputation is most of its cost
// when the active rows take several chunks). The scratch keeps nothing for a later backward.
void lmhead_forward_backward(float *logp, float *ent, float *dx, float *dwte, const float *dlogp,
                             const float *dent, const float *x, const float *wte,
                             const int *target, float inv_temp, size_t N, size_t C, size_t V,
                             float *scratch);
// Plain logits for generation: logits[N,V] = x[N,C]·wteᵀ (no temperature).
void lmhead_logits(float *logits, const float *x, const float *wte, size_t N, size_t C, size_t V);

// ---- scalar head (reward / value): val[n] = x[n]·w, w[C] (weight [1,C], no bias) --------------
void scalarhead_forward(float *val, const float *x, const float *w, size_t N, size_t C);
void scalarhead_backward(float *dx, float *dw, const float *dval, const float *x, const float *w,
                         size_t N, size_t C);

// ---- optimizer ---------------------------------------------------------------------------------
// Σ g², accumulated in double per thread and combined in thread order.
double sum_squares(const float *g, size_t n);
// One AdamW step over n parameters. step is 1-based (bias correction 1−β^step). The gradient is
// multiplied by grad_scale first (global-norm clipping). weight_decay is decoupled:
// p −= lr·(m̂/(√v̂ + eps) + weight_decay·p); pass 0 for tensors that do not decay.
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, long step, float lr,
                  float beta1, float beta2, float eps, float weight_decay, float grad_scale);

#endif
