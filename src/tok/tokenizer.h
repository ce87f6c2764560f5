// tok/tokenizer.h — turning text into token ids and back. Two kinds behind one interface: the
// byte-level tokenizer (ids 0..255 are bytes, 256 = EOS, 257 = PAD) for tiny models, and GPT-2
// byte-level BPE (OpenAI's / Hugging Face's files, or a vocabulary trained here). A model folder
// records its tokenizer: tokenizer_config.json, plus vocab.json + merges.txt for BPE.
#ifndef RLHF_TOK_TOKENIZER_H
#define RLHF_TOK_TOKENIZER_H

#include <stddef.h>

#include "util/common.h"

typedef enum { TOK_BYTES = 1, TOK_BPE = 2 } TokKind;

// The special tokens this project uses (a trained BPE gets all of them).
#define TOK_EOS_TEXT "<|endoftext|>"
#define TOK_PAD_TEXT "<|pad|>"
#define TOK_SYSTEM_TEXT "<|system|>"
#define TOK_USER_TEXT "<|user|>"
#define TOK_ASSISTANT_TEXT "<|assistant|>"

struct Bpe;

typedef struct {
    TokKind kind;
    int vocab_size;  // ids are < vocab_size
    int eos_id;
    int pad_id;      // -1 when the vocabulary has none (GPT-2's own); see tok_ensure_pad
    struct Bpe *bpe; // TOK_BPE: vocabulary, merges, special tokens (owned; tok_free)
} Tokenizer;

void tok_init_bytes(Tokenizer *t);
void tok_free(Tokenizer *t);  // safe on a zeroed Tokenizer and after a failed tok_load

// Appends the ids of text[0..n) to *ids (growing it); returns the number of ids appended.
// Special-token strings in the text are encoded as ordinary text.
size_t tok_encode(const Tokenizer *t, const char *text, size_t n, int **ids, size_t *len,
                  size_t *cap);
// Same, but with allow_special the exact text of a special token ("<|endoftext|>", ...) becomes
// that token's id. Thread-safe (the BPE word cache serves one caller at a time).
size_t tok_encode_ex(const Tokenizer *t, const char *text, size_t n, int allow_special, int **ids,
                     size_t *len, size_t *cap);
// A piece boundary in text[0..n): a position p (0 < p < n) such that encoding text[0..p) and
// text[p..n) separately gives the same ids as encoding the whole (a newline that follows a
// visible ASCII character); 0 when there is none. For encoding a stream in chunks.
size_t tok_split_point(const char *text, size_t n);

// Decodes ids into a new NUL-terminated buffer; *n_out (if not NULL) gets its length in bytes —
// the bytes may contain NUL and need not be valid UTF-8. Special tokens are skipped, or written
// as their text with with_special. Ids outside the vocabulary become U+FFFD. Free with free().
char *tok_decode_ex(const Tokenizer *t, const int *ids, size_t n, int with_special, size_t *n_out);
// tok_decode_ex without special tokens, for text.
char *tok_decode(const Tokenizer *t, const int *ids, size_t n);

// The id of a special token by its text, or -1.
int tok_special_id(const Tokenizer *t, const char *text);
// Adds a special token at the end of the vocabulary (BPE only) and returns its id; an existing
// token with that exact text is marked special and its id returned. -1 for the byte tokenizer
// or text that is empty or not valid UTF-8. The model's embedding must grow to match.
int tok_add_special(Tokenizer *t, const char *text);
// Gives the tokenizer a PAD distinct from EOS (adding "<|pad|>" when it has none); returns pad_id.
int tok_ensure_pad(Tokenizer *t);

// Saves into a model folder: tokenizer_config.json; for BPE also vocab.json, merges.txt and
// special_tokens_map.json (the folder then loads in transformers' AutoTokenizer as is).
int tok_save(const Tokenizer *t, const char *dir, Err *e);
// Loads from a folder: BPE when it holds vocab.json + merges.txt (or encoder.json + vocab.bpe),
// unless tokenizer_config.json says "rlhf_tokenizer": "bytes"; EOS/PAD and further special
// tokens come from tokenizer_config.json / special_tokens_map.json when present, else EOS is
// "<|endoftext|>". Errors name the file (and line).
int tok_load(Tokenizer *t, const char *dir, Err *e);

// Training a BPE vocabulary of vocab_size ids (learned tokens, then EOS, PAD and the three chat
// role markers as special tokens at the end): add every document, then finish. Deterministic.
typedef struct BpeTrainer TokTrainer;
TokTrainer *tok_trainer_new(void);
void tok_trainer_add(TokTrainer *tr, const char *text, size_t n);
// Consumes the trainer; fills t (free with tok_free). The vocabulary comes out smaller when the
// corpus runs out of pairs to merge.
int tok_trainer_finish(TokTrainer *tr, int vocab_size, Tokenizer *t, Err *e);
void tok_trainer_free(TokTrainer *tr);  // discards a trainer without finishing

// Encoding without the per-word cache (for benchmarks).
void tok_set_cache(Tokenizer *t, int on);

#endif
