// io/checkpoint.h — model folders in the Hugging Face layout (config.json + model.safetensors +
// tokenizer files, loadable by `transformers` as GPT2LMHeadModel, or
// GPT2ForSequenceClassification when a scalar head is present) and the optimizer/run state that
// lets a run resume bit-for-bit (optimizer.safetensors + trainer_state.json). Every folder is
// written into a temporary sibling and renamed into place.
#ifndef RLHF_IO_CHECKPOINT_H
#define RLHF_IO_CHECKPOINT_H

#include <jansson.h>

#include "model/gpt.h"
#include "tok/tokenizer.h"
#include "util/common.h"

// Reads config.json of a model folder.
int ckpt_read_config(const char *dir, GPTConfig *c, Err *e);
// Loads a model folder (config, weights, tokenizer). trainable: allocate grads/moments too.
// model.safetensors may hold F32, BF16 or F16 tensors; besides the model's own tensors it may hold
// only the causal-mask buffers h.N.attn.bias / h.N.attn.masked_bias (skipped) and a tied
// lm_head.weight (skipped; a warning if it differs from wte): any other tensor is an error.
GPT *ckpt_load_model(const char *dir, int trainable, Tokenizer *tok, Err *e);
// Loads weights from DIR/model.safetensors into an existing model of matching config.
int ckpt_load_weights(GPT *m, const char *dir, Err *e);
// The reward normalisation `rlhf rm` stores in config.json (score = gain·(raw + bias)); absent
// keys (any other model, an llm.c file): bias 0, gain 1. Returns 1 when the model has one.
int ckpt_read_reward_norm(const char *dir, double *bias, double *gain);
// Writes a model folder atomically. extra (may be NULL): more keys for config.json.
int ckpt_save_model(const GPT *m, const Tokenizer *tok, const char *dir, const json_t *extra,
                    Err *e);
// The same, with the weights stored as BF16 (round-to-nearest-even) when bf16 != 0.
int ckpt_save_model_bf16(const GPT *m, const Tokenizer *tok, const char *dir, const json_t *extra,
                         int bf16, Err *e);
// Writes a training checkpoint folder: the model folder plus optimizer.safetensors (AdamW moments)
// and trainer_state.json (state, an object the stage fills: step, data position, ...).
int ckpt_save_train(const GPT *m, const Tokenizer *tok, const char *dir, const json_t *state,
                    Err *e);
// Restores params, moments and adam_step from a training checkpoint; *state gets the parsed
// trainer_state.json (caller decrefs).
int ckpt_load_train(GPT *m, const char *dir, json_t **state, Err *e);

#endif
