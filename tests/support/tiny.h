// tests/support/tiny.h — tiny models and batches shared by the model-level tests.
#ifndef RLHF_TEST_TINY_H
#define RLHF_TEST_TINY_H

#include "model/gpt.h"

// 2 layers, 2 heads, 16 wide, context 32, vocabulary 40.
GPTConfig tiny_config(int score_head);
GPT *tiny_model(int trainable, int score_head, unsigned long long seed);
// Random tokens in [0, V) for a ragged batch; returns N = Σ len.
size_t tiny_tokens(int *tok, const int *len, int B, int V, unsigned long long seed);
// ‖a − b‖∞ / ‖b‖∞ over one row's outputs (relative to the row's scale, so outputs near zero do
// not turn rounding into large ratios).
double tiny_max_rel(const float *a, const float *b, size_t n);
// ‖a‖∞.
double tiny_max_abs(const float *a, size_t n);

#endif
