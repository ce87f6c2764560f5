// model/gpt.h — the GPT-2 model: config, the tensor table (the one schema every allocator,
// initialiser, checkpoint reader/writer and the optimizer walk), parameters / gradients / AdamW
// moments as flat buffers, activations sized per batch, forward and backward over packed ragged
// batches, and the KV-cache forward for generation.
//
// A batch is B rows of their own lengths, packed without padding: N = Σ len[b] tokens, row b at
// [off[b], off[b]+len[b]). Token i of a row sits at position i (training) or past+i (cached).
// The model produces the final hidden states; heads turn them into per-position outputs:
// log-probabilities (+ entropies) of given target tokens, or scalars (reward / value). Losses
// live outside: the caller hands back per-position gradients on those outputs.
#ifndef RLHF_MODEL_GPT_H
#define RLHF_MODEL_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "nn/panels.h"
#include "util/common.h"

typedef struct {
    int n_layer, n_head, n_embd;
    int n_ctx;       // max positions (wpe rows)
    int vocab_size;  // wte rows
    int score_head;  // 1: a scalar head score.weight [1, C] (reward / value models)
} GPTConfig;

// Pointers into a flat buffer, one per tensor; the same struct serves params and grads.
typedef struct {
    float *ln1w, *ln1b;          // [C]
    float *qkvw, *qkvb;          // [C, 3C], [3C]
    float *attprojw, *attprojb;  // [C, C], [C]
    float *ln2w, *ln2b;          // [C]
    float *fcw, *fcb;            // [C, 4C], [4C]
    float *fcprojw, *fcprojb;    // [4C, C], [C]
} GPTLayer;

typedef struct {
    float *wte;          // [V, C] token embedding, tied output layer
    float *wpe;          // [n_ctx, C]
    GPTLayer *h;         // [n_layer]
    float *lnfw, *lnfb;  // [C]
    float *scorew;       // [1, C] or NULL
} GPTWeights;

typedef enum { INIT_NORMAL, INIT_RESIDUAL, INIT_ONES, INIT_ZEROS, INIT_SCORE } InitRule;

// One tensor instance of a model (layer tensors appear once per layer).
typedef struct {
    char name[64];     // Hugging Face name without "transformer.", e.g. "h.3.attn.c_attn.weight"
    int ndim;
    size_t shape[2];
    size_t numel;
    size_t offset;     // in floats, into the flat buffers
    InitRule init;
    int decay;         // AdamW weight decay applies (2-D weights)
    int is_head;       // belongs to the scalar head (score.weight)
} GPTTensor;

// Activations of one forward pass (training keeps every layer's; inference reuses layer 0's).
// The LayerNorm outputs and the GELU output are one layer's scratch: cheap to recompute, the
// backward recomputes them (bit for bit) from the kept inputs and statistics rather than
// keeping 6C floats per token and layer.
typedef struct {
    float *encoded;                       // [N, C]
    float *ln;                            // [N, C] scratch: ln1 / ln2 output of one layer
    float *ln1_mean, *ln1_rstd;           // [L?, N], [L?, N]
    float *qkv;                           // [L?, N, 3C]
    float *atty;                          // [L?, N, C]
    float *att;                           // [L?, Σ NH·len²]
    float *res2;                          // [L?, N, C] residual after attention
    float *ln2_mean, *ln2_rstd;           // [L?, N], [L?, N]
    float *fch;                           // [L?, N, 4C] fc output (GELU input)
    float *gelu;                          // [N, 4C] scratch: GELU output of one layer
    float *res3;                          // [L?, N, C] layer output
    float *lnf, *lnf_mean, *lnf_rstd;     // [N, C], [N], [N]  final hidden states
    float *proj;                          // [N, C] scratch: projection outputs
    // backward scratch
    float *dres, *dln, *dqkv, *datty, *dfch_gelu, *dlnf;  // dfch_gelu: d GELU out, then d fc out
    float *gelu_slope;                    // [N, 4C] GELU's derivative at the recomputed fc output
    float *head_scratch;                  // lmhead_scratch_floats
    // bf16 products (gemm_set_bf16) in a trainable model: each layer's four product inputs as the
    // products rounded them in the forward — ln1 out, attention out, ln2 out, GELU out: 7C
    // bf16 values per token and layer at [l][0 | kept_cap·C | 2·kept_cap·C | 3·kept_cap·C] — so
    // the backward's weight gradients use them and recompute no LayerNorm or GELU output
    uint16_t *kept;
    size_t kept_cap;                      // tokens per layer block (0: none)
} GPTActs;

typedef struct {
    GPTConfig cfg;
    int trainable;       // grads, AdamW moments and per-layer activations exist
    int n_tensors;
    GPTTensor *tensors;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;
    GPTWeights w, g;     // g: pointers into grads (NULL members when !trainable)
    long adam_step;      // AdamW steps taken (bias correction)

    // the current batch (set by gpt_forward)
    int B;
    size_t N;
    int *len, *pos, *tok;
    int *parent, *prefix;  // [B] shared prefixes (gpt_forward_shared): −1 / 0 for a plain row
    int *tail;             // [B] positions of each row that reach the head (gpt_forward_tail)
    size_t *qoff;          // [B] a row's first tail position among the Nt tail positions
    size_t Nt;             // Σ tail: the rows the last layer's attention output, MLP and
    int tailed;            //   final norm run for; tailed: Nt < N (the last layer is compacted)
    size_t *off, *att_off;
    size_t att_size;     // Σ NH·len·(prefix + len)

    GPTActs a;
    size_t cap_N, cap_att, cap_B;
    int has_forward;     // a training forward is stored and may be backpropagated
    int kept_on;         // the stored forward kept its layers' bf16 product inputs (GPTActs.kept)
    int head_kept;       // the LM head's logits for head_target / head_inv_temp are in head_scratch
    int head_grad;       // gpt_lm_logprobs_grad took the head's backward for head_target /
                         //   head_inv_temp / head_dlogp / head_dent: a.dlnf holds its input gradient
    int *head_target;    // [cap_N]
    float *head_dlogp, *head_dent;  // [cap_N] the dL/dlogp and dL/dent it was taken for
    int head_has_dlogp, head_has_dent;
    float head_inv_temp;
    struct GPTPacked *packed;  // packed weight copies (gpt_pack: batched decoding, frozen models) or NULL
} GPT;

// ---- config and tensor table ---------------------------------------------------------------
// Checks a config (positive sizes, C divisible by n_head, ...).
int gpt_config_check(const GPTConfig *c, Err *e);
// Builds the tensor table (names, shapes, offsets, init, decay) for a config; returns the count.
int gpt_tensor_table(const GPTConfig *c, GPTTensor **out, size_t *n_params);
size_t gpt_num_params(const GPTConfig *c);
// Parameters that enter matrix products (for FLOP counts): every 2-D weight except wpe, with
// wte counted once as the output layer.
size_t gpt_matmul_params(const GPTConfig *c);

// ---- lifetime --------------------------------------------------------------------------------
// Allocates parameters (and, if trainable, gradients and AdamW moments). Parameters start zero:
// call gpt_init_weights or load a checkpoint.
GPT *gpt_create(const GPTConfig *c, int trainable);
void gpt_free(GPT *m);
// GPT-2 init: N(0, 0.02); residual projections N(0, 0.02/√(2·n_layer)); LayerNorm 1/0; biases 0;
// score head N(0, 1/√(C+1)). Each tensor draws from its own stream (seed, tensor index).
void gpt_init_weights(GPT *m, uint64_t seed);
// Grows the vocabulary to new_vocab rows (replacing *m): new wte rows = mean of the old rows,
// their grads/moments zero; everything else carried over (model/gpt_resize.c).
int gpt_resize_vocab(GPT **m, int new_vocab, Err *e);
// Gives a language model a scalar head score.weight ~ N(0, 1/√(C+1)) (seed as gpt_init_weights), trunk carried over; no-op if it has one (model/gpt_head.c).
int gpt_add_score_head(GPT **m, uint64_t seed, Err *e);

// Bytes a model will need: parameters (+ grads + 2 moments if trainable) + activations for
// a batch of `tokens` tokens in rows of at most `max_len` tokens (bf16: products in bf16, where a
// trainable model also keeps its layer inputs' roundings).
size_t gpt_memory_estimate(const GPTConfig *c, int trainable, size_t tokens, size_t max_len,
                           int bf16);
// bf16 products: a trainable model keeps each layer's four product inputs as its forward rounded
// them (GPTActs.kept: L × tokens × 7C bf16 values) when they take at most this much: small
// models' batches (the tiny SFT step 3–6% faster). Larger ones recompute and round again — at
// GPT-2 124M keeping gained nothing measurable and cost peak memory (B=8, T=256: 264 MB, +8%;
// B=4, T=64 keeps its 33 MB). docs/performance.md, eleventh sitting.
#define GPT_BF16_KEPT_MAX_BYTES ((size_t)64 << 20)
size_t gpt_bf16_kept_bytes(const GPTConfig *c, size_t tokens);

// ---- forward / backward over a packed ragged batch ------------------------------------------
// Runs the trunk over B rows (len[b] tokens each, packed in tokens[N]); the final hidden states
// land in m->a.lnf [N, C]. Fails if a row is empty or longer than n_ctx or a token is out of
// the vocabulary. When m->trainable, the activations are kept for gpt_backward.
int gpt_forward(GPT *m, int B, const int *len, const int *tokens, Err *e);
// The same with shared prefixes (prompt sharing; parent / prefix NULL: gpt_forward). Row b with
// parent[b] = p ≥ 0 continues the first prefix[b] tokens of row p: its tokens sit at positions
// prefix[b] … prefix[b] + len[b] − 1 and attend to row p's first prefix[b] positions before their
// own — the outputs (and gradients) of row b are those of the row p[0 … prefix[b]) + row b,
// while the prefix runs once. The caller vouches that the rows really share that prefix.
// Rules (checked): p < b, row p has no parent, 1 ≤ prefix[b] ≤ len[p],
// prefix[b] + len[b] ≤ n_ctx. parent[b] = −1: a plain row (prefix[b] ignored).
int gpt_forward_shared(GPT *m, int B, const int *len, const int *tokens, const int *parent,
                       const int *prefix, Err *e);
// The same, where only the last tail[b] (1 … len[b]) positions of row b need final hidden states
// (tail NULL: every position). The last layer then computes keys and values for every position —
// the tail's attention reads them — but its attention output, MLP and the final LayerNorm only
// for the tail positions (SFT / DPO / RL heads read the response, a reward model its last token:
// a prompt's positions skip most of one layer, forward and backward). The other positions' rows
// of m->a.lnf are zero: the heads must not read them — gpt_lm_logprobs refuses a target there,
// gpt_values gives 0 there, gpt_backward refuses a value gradient there.
int gpt_forward_tail(GPT *m, int B, const int *len, const int *tokens, const int *parent,
                     const int *prefix, const int *tail, Err *e);
// tail[b] for heads that read the positions with target[n] ≥ 0 (the LM head, and value heads
// trained on the same positions): from each row's first such position to its end (1 when a row
// has none).
void gpt_tail_from_targets(int B, const int *len, const int *target, int *tail);
// gpt_forward_tail for the LM head on these targets (tails from gpt_tail_from_targets), and for a
// scalar head read at each row's last position (tails of 1).
int gpt_forward_targets(GPT *m, int B, const int *len, const int *tokens, const int *parent,
                        const int *prefix, const int *target, Err *e);
int gpt_forward_last(GPT *m, int B, const int *len, const int *tokens, const int *parent,
                     const int *prefix, Err *e);
// Whether callers should pack rows with a common prompt as shared prefixes: yes, unless the
// environment sets RLHF_PROMPT_SHARING=0 (every row then runs its whole prompt — the same
// results up to summation order, for tests and for anyone who doubts it).
int gpt_prompt_sharing(void);
// 1 when the stored training forward is of exactly these rows (B, len[], tokens[], parent[] /
// prefix[] and tail[] as given to gpt_forward_tail, NULL for none) and no optimizer step has run since
// (gpt_adamw_apply forgets it): a caller that needs this forward again — PPO's first training
// minibatch after its scoring pass — may go straight to the head or gpt_backward. The caller
// vouches that nothing else changed the weights meanwhile.
int gpt_forward_stored(const GPT *m, int B, const int *len, const int *tokens, const int *parent,
                       const int *prefix, const int *tail);
// LM head on the last forward: for positions with target[n] >= 0, logp[n] = log p(target | ·)
// under softmax(logits·inv_temp), ent[n] (may be NULL) = entropy of that distribution.
void gpt_lm_logprobs(GPT *m, const int *target, float inv_temp, float *logp, float *ent);
// The same for a trainable model whose loss gradient is known before the head runs — dL/dlogp[n]
// and dL/dent[n] (either may be NULL; SFT and pretraining know theirs): the head's backward runs
// with its forward, on each chunk's logits while it has them (wte's gradient accumulated, the
// head's input gradient kept), so that the gpt_backward that must follow — with the same target,
// inv_temp, dlogp and dent, or it dies — does not make the logits a second time. The same bits as
// gpt_lm_logprobs then gpt_backward. A gpt_zero_grad in between is allowed (the head's gradient
// is then taken again by gpt_backward).
void gpt_lm_logprobs_grad(GPT *m, const int *target, float inv_temp, float *logp, float *ent,
                          const float *dlogp, const float *dent);
// Scalar head on the last forward: val[n] for every position (needs cfg.score_head).
void gpt_values(GPT *m, float *val);
void gpt_zero_grad(GPT *m);
// Accumulates parameter gradients of L given dL/dlogp[n] (with the same target/inv_temp as the
// forward; may be NULL), dL/dent[n] (may be NULL) and dL/dval[n] (may be NULL).
void gpt_backward(GPT *m, const int *target, float inv_temp, const float *dlogp,
                  const float *dent, const float *dval);

// ---- optimizer -------------------------------------------------------------------------------
typedef struct {
    float lr, beta1, beta2, eps, weight_decay, grad_clip;  // grad_clip <= 0: no clipping
} AdamWConfig;
// Global gradient norm (deterministic), then one AdamW step over every tensor; returns the norm
// before clipping.
float gpt_adamw_step(GPT *m, const AdamWConfig *oc);
// The update part of that step, given Σg² over the whole gradient: clip scale, step count, AdamW
// on the parameters in [lo, hi) only (a ZeRO-1 shard; 0, n_params for all). Returns the norm.
float gpt_adamw_apply(GPT *m, const AdamWConfig *oc, double grad_sq, size_t lo, size_t hi);

// ---- KV cache (generation) --------------------------------------------------------------------
typedef struct {
    int n_layer, B, T, C;  // rows, positions per row
    float *k, *v;          // [n_layer][B][T][C]
    int *len;              // [B] cached positions per row
} KVCache;

void kv_init(KVCache *kv, const GPTConfig *c, int B, int T);
void kv_free(KVCache *kv);
void kv_reset(KVCache *kv);
// Moves row src's cache into row dst (used to compact active rows during decoding).
void kv_move_row(KVCache *kv, int dst, int src);
// Feeds n_new[b] new tokens (packed in tokens) to cache rows 0..B-1 (B ≤ kv->B), appending their
// keys/values to the cache, and writes the logits of each row's LAST new token to
// logits[B, V] (no temperature). Fails if a row would pass kv->T or n_ctx.
int gpt_forward_cached(GPT *m, KVCache *kv, int B, const int *n_new, const int *tokens,
                       float *logits, Err *e);

// ---- packed weights (model/gpt_packed.c) ------------------------------------------------------
// Packs every linear weight and the LM head once (nn/packed.c, one more copy of those weights in
// memory: 4 bytes per weight, 2 in bf16) so that products with 2 or more rows skip sgemm's
// per-call packing: generate() packs (f32) around a batched generation; a frozen model may be
// packed for its whole life (PPO's --frozen-bf16: bf16, where the layers' products round their
// inputs and weights to bf16). The weights must not change until gpt_unpack. 0 (also when
// RLHF_PACKED=0 asks for no packing: nothing is packed) or -1 with a message.
int gpt_pack(GPT *m, int bf16, Err *e);
void gpt_unpack(GPT *m);
int gpt_packed_bf16(const GPT *m);  // packed, in bf16
// The packed product for linear `idx` (4·layer + 0..3: qkv, attproj, fc, fcproj; 4·n_layer: the
// LM head); -1 when not packed or oneDNN cannot (the caller uses sgemm).
int gpt_packed_forward(const GPT *m, int idx, float *out, const float *inp, size_t rows);
// The same delivered as o says (nn/panels.h); -1 (nothing written) where it cannot be
// (packed_forward_to): the caller runs the product and does the rest itself.
int gpt_packed_forward_to(const GPT *m, int idx, const PanelsOut *o, const float *inp, size_t rows);
// Linear `idx` of the layers, out[N,OC] = inp[N,C]·w + b: packed when the model is and N ≥ 2
// (one row: nn/matvec.c, bound by the weight read anyway), else matmul_forward.
void gpt_linear(const GPT *m, int idx, float *out, const float *inp, const float *w,
                const float *b, size_t N, size_t C, size_t OC);

#endif
