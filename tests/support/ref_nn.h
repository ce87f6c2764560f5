// tests/support/ref_nn.h — slow, obviously-correct DOUBLE-precision references of every nn/
// kernel (forward and backward, same shapes and conventions as src/nn/nn.h: backward ACCUMULATES,
// NULL gradients are skipped), plus small helpers the nn tests share (finite differences,
// float↔double copies).
#ifndef RLHF_TEST_REF_NN_H
#define RLHF_TEST_REF_NN_H

#include <stddef.h>

// ---- helpers -----------------------------------------------------------------------------------
double *ref_to_double(const float *x, size_t n);        // malloc'd copy
float *ref_to_float(const double *x, size_t n);         // malloc'd copy
double *ref_zeros(size_t n);                            // calloc'd
double ref_dot(const double *a, const double *b, size_t n);
float *ref_rand_f(size_t n, unsigned long long seed, float scale);  // malloc'd, fill_uniform
float *ref_copy_f(const float *x, size_t n);                        // malloc'd copy
float ref_round_bf16(float x);  // f32 → bf16 → f32, to nearest even, denormals to ±0 (what bf16 modes apply)
// Central finite differences of loss() w.r.t. every x[i] (x perturbed in place and restored):
// grad[i] = (loss(x + h·e_i) − loss(x − h·e_i)) / 2h.
typedef double (*ref_loss_fn)(void *ctx);
void ref_fd_grad(ref_loss_fn loss, void *ctx, double *x, size_t n, double h, double *grad);

// ---- kernels -----------------------------------------------------------------------------------
void ref_matmul_forward(double *out, const double *inp, const double *w, const double *bias,
                        size_t N, size_t C, size_t OC);
void ref_matmul_backward(double *dinp, double *dw, double *dbias, const double *dout,
                         const double *inp, const double *w, size_t N, size_t C, size_t OC);

void ref_layernorm_forward(double *out, const double *inp, const double *w, const double *b,
                           size_t N, size_t C);
void ref_layernorm_backward(double *dinp, double *dw, double *db, const double *dout,
                            const double *inp, const double *w, size_t N, size_t C);

void ref_gelu_forward(double *out, const double *inp, size_t n);
void ref_gelu_backward(double *dinp, const double *inp, const double *dout, size_t n);

void ref_embedding_forward(double *out, const int *tok, const int *pos, const double *wte,
                           const double *wpe, size_t N, size_t C);
void ref_embedding_backward(double *dwte, double *dwpe, const double *dout, const int *tok,
                            const int *pos, size_t N, size_t C);

// att as in nn.h (att may be NULL in the forward).
void ref_attention_forward(double *out, double *att, const double *qkv, const int *len,
                           const size_t *off, const size_t *att_off, int B, size_t C, int NH);
// Recomputes the probabilities itself (no saved att needed).
void ref_attention_backward(double *dqkv, const double *dout, const double *qkv, const int *len,
                            const size_t *off, int B, size_t C, int NH);

void ref_lmhead_forward(double *logp, double *ent, const double *x, const double *wte,
                        const int *target, double inv_temp, size_t N, size_t C, size_t V);
void ref_lmhead_backward(double *dx, double *dwte, const double *dlogp, const double *dent,
                         const double *x, const double *wte, const int *target, double inv_temp,
                         size_t N, size_t C, size_t V);

void ref_scalarhead_forward(double *val, const double *x, const double *w, size_t N, size_t C);
void ref_scalarhead_backward(double *dx, double *dw, const double *dval, const double *x,
                             const double *w, size_t N, size_t C);

double ref_sum_squares(const double *g, size_t n);
void ref_adamw_update(double *p, const double *g, double *m, double *v, size_t n, long step,
                      double lr, double beta1, double beta2, double eps, double weight_decay,
                      double grad_scale);

#endif
