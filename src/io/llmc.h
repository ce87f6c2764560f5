// io/llmc.h — the llm.c file formats: the model checkpoint (.bin, version 3 = fp32, version 5 =
// bf16), the tokenizer (.bin, decode only) and uint16 token shards (.bin, pretraining data).
// Every reader validates the whole header against the file size before it allocates anything:
// a truncated, oversized or lying file is a clear error naming the file and what was expected.
//
// Model layout: 256 int32 header (magic 20240326, version, maxT, V, L, NH, C, Vp), then 16
// tensors without names, each stacked over layers (layer 0 first), linear weights [out, in]
// (the transpose of our Conv1D [in, out]), wte padded to Vp rows (zero on write, ignored on read).
#ifndef RLHF_IO_LLMC_H
#define RLHF_IO_LLMC_H

#include <stddef.h>
#include <stdint.h>

#include "model/gpt.h"
#include "util/common.h"

#define LLMC_MODEL_MAGIC 20240326
#define LLMC_TOKENIZER_MAGIC 20240328
#define LLMC_SHARD_MAGIC 20240520
#define LLMC_HEADER_BYTES 1024
#define LLMC_N_TENSORS 16

typedef struct {
    int version;        // 3: fp32, 5: bf16
    int maxT, V, L, NH, C, Vp;
    size_t elem_size;   // 4 or 2
    size_t n_params;    // as stored (wte with Vp rows)
    size_t file_size;
} LlmcModelHeader;

// One stacked tensor of the file, in file order.
typedef struct {
    const char *name;   // llm.c's name: "wte", "qkvw", ...
    const char *hf;     // ours / Hugging Face, per layer without "h.N.": "attn.c_attn.weight"
    int layer;          // stacked over layers (and named h.N.<hf> per layer)
    int ndim;
    size_t shape[3];    // e.g. qkvw [L, 3C, C]
    size_t numel;
} LlmcTensorInfo;

// Reads the first 4 bytes of a file (0 with *magic set, or -1 naming the file).
int llmc_file_magic(const char *path, uint32_t *magic, Err *e);

// ---- model checkpoint ------------------------------------------------------------------------
// Reads and validates the header: magic, version, positive and plausible sizes, C % NH == 0,
// Vp ≥ V, and the exact file size 1024 + elem_size · n_params.
int llmc_read_header(const char *path, LlmcModelHeader *h, Err *e);
// The model config a header describes.
GPTConfig llmc_config(const LlmcModelHeader *h);
// Fills the 16 tensors of the file in order (shapes from the header).
void llmc_tensor_list(const LlmcModelHeader *h, LlmcTensorInfo out[LLMC_N_TENSORS]);
// Loads a checkpoint (trainable: grads and moments too, zeroed).
GPT *llmc_load_model(const char *path, int trainable, Err *e);
// Writes a checkpoint atomically: version 5 (bf16, round-to-nearest-even) when bf16, else 3.
// Vp = V rounded up to a multiple of 128. Fails for a model with a scalar head.
int llmc_save_model(const GPT *m, const char *path, int bf16, Err *e);

// ---- tokenizer (decode only) -----------------------------------------------------------------
typedef struct {
    int n;              // tokens
    int eot;            // end-of-text id
    uint32_t *off;      // [n + 1]: token i is bytes[off[i] .. off[i+1])
    unsigned char *bytes;
} LlmcTokenizer;

int llmc_tok_load(LlmcTokenizer *t, const char *path, Err *e);
// The bytes of ids (raw, possibly partial UTF-8), NUL-terminated (not counted in *len; len may be
// NULL). Ids outside [0, n) become U+FFFD. Free with free().
char *llmc_tok_decode(const LlmcTokenizer *t, const int *ids, size_t n, size_t *len);
void llmc_tok_free(LlmcTokenizer *t);

// ---- token shards ----------------------------------------------------------------------------
// Loads a shard (magic 20240520, version 1, ntok, then ntok uint16; size exactly 1024 + 2·ntok)
// into *tokens (malloc'd, *n ids). vocab_size > 0: every id must be below it.
int llmc_shard_load(const char *path, int vocab_size, int **tokens, size_t *n, Err *e);

#endif
