// tok/tokenizer.h — turning text into token ids and back. Today: the byte-level tokenizer
// (ids 0..255 are bytes, 256 = EOS, 257 = PAD) for tiny models; GPT-2 BPE joins it later behind
// the same interface. A model folder records its tokenizer in tokenizer_config.json.
#ifndef RLHF_TOK_TOKENIZER_H
#define RLHF_TOK_TOKENIZER_H

#include <stddef.h>

#include "util/common.h"

typedef enum { TOK_BYTES = 1 } TokKind;

typedef struct {
    TokKind kind;
    int vocab_size;  // ids are < vocab_size
    int eos_id;
    int pad_id;
} Tokenizer;

void tok_init_bytes(Tokenizer *t);
// Appends the ids of text[0..n) to *ids (growing it); returns the number of ids appended.
size_t tok_encode(const Tokenizer *t, const char *text, size_t n, int **ids, size_t *len,
                  size_t *cap);
// Decodes ids into a new NUL-terminated string (special tokens are skipped; invalid ids become
// U+FFFD). Free with free().
char *tok_decode(const Tokenizer *t, const int *ids, size_t n);
// Saves / loads tokenizer_config.json in a model folder.
int tok_save(const Tokenizer *t, const char *dir, Err *e);
int tok_load(Tokenizer *t, const char *dir, Err *e);

#endif
