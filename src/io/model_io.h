// io/model_io.h — loading and saving a model by path, whatever its format: a folder is a Hugging
// Face model folder (config.json + model.safetensors, io/checkpoint.h), a file named *.bin is an
// llm.c checkpoint (io/llmc.h). Commands take model paths through these two functions.
#ifndef RLHF_IO_MODEL_IO_H
#define RLHF_IO_MODEL_IO_H

#include "model/gpt.h"
#include "tok/tokenizer.h"
#include <jansson.h>

#include "util/common.h"

typedef enum { MODEL_FMT_HF = 1, MODEL_FMT_LLMC = 2 } ModelFormat;

// The format of an existing model path (a folder: HF; a regular file *.bin: llm.c); errors name
// the path and say what was expected.
int model_format_of(const char *path, ModelFormat *fmt, Err *e);
// The format a path will be written in: *.bin → llm.c, anything else → HF folder.
ModelFormat model_format_for_save(const char *path);
const char *model_format_name(ModelFormat f);  // "Hugging Face folder" / "llm.c checkpoint"

// Loads a model (without its tokenizer). trainable: grads and AdamW moments too.
GPT *model_load(const char *path, int trainable, Err *e);
// Saves a model: an HF folder (tok written when non-NULL; weights BF16 when bf16) or an llm.c
// .bin (version 5 when bf16, else 3; tok is not stored: llm.c keeps its tokenizer apart).
// extra (may be NULL): more keys for an HF config.json (ignored for llm.c files).
int model_save(const GPT *m, const Tokenizer *tok, const char *path, const json_t *extra, int bf16,
               Err *e);

// Gives a model + tokenizer pair a PAD distinct from EOS, as transformers needs to read a reward
// model's score at the EOS: adds "<|pad|>" to the tokenizer when it has none (GPT-2's own
// vocabulary) and grows the embedding to the tokenizer's size (new rows start at the mean row).
// *added is set to 1 when anything changed.
int model_ensure_pad(GPT **m, Tokenizer *tok, int *added, Err *e);

#endif
