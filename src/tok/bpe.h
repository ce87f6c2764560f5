// tok/bpe.h — GPT-2 byte-level BPE (internal to tok/; users go through tokenizer.h): the
// byte↔unicode map, GPT-2 pre-tokenisation over Unicode classes (libutf8proc), the vocabulary
// with its rank-ordered merges, encoding with a per-word cache, decoding, the HF/OpenAI file
// formats, and training a new vocabulary on a corpus.
#ifndef RLHF_TOK_BPE_H
#define RLHF_TOK_BPE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/common.h"

// GPT-2's map: bytes 0x21–0x7E, 0xA1–0xAC, 0xAE–0xFF are their own code point; the other 68
// bytes map to U+0100 + k in increasing byte order.
uint32_t bpe_byte_to_cp(unsigned char b);
int bpe_cp_to_byte(uint32_t cp);  // -1 when cp is outside the byte alphabet

// Pre-tokenisation with the GPT-2 pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// over code points; an invalid UTF-8 byte is its own character (neither letter, number nor
// space). Returns the end of the piece that starts at i (i < n; result > i).
size_t bpe_pretok_next(const unsigned char *s, size_t n, size_t i);

// Open-addressing map from (a, b) id pairs to an int value.
typedef struct {
    uint64_t *keys;  // (a << 32) | b; UINT64_MAX = empty
    int *vals;
    size_t cap, used;  // cap is a power of two
} PairMap;

void pairmap_init(PairMap *m, size_t want);  // room for `want` entries before growing
void pairmap_free(PairMap *m);
// Inserts (a, b) → v unless present; returns the value stored for (a, b) after the call.
int pairmap_get_or_add(PairMap *m, int a, int b, int v);

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}
static inline uint64_t pair_key(int a, int b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }
static inline int pairmap_get(const PairMap *m, int a, int b) {  // -1 when absent
    if (!m->cap) return -1;
    uint64_t k = pair_key(a, b);
    size_t i = mix64(k) & (m->cap - 1);
    for (;;) {
        uint64_t x = m->keys[i];
        if (x == k) return m->vals[i];
        if (x == UINT64_MAX) return -1;
        i = (i + 1) & (m->cap - 1);
    }
}

// Cache of encoded pre-tokenised words (piece bytes → ids); cleared when half full.
typedef struct {
    uint64_t *hash;  // 0 = empty slot
    uint32_t *off, *len, *ioff, *ilen;
    size_t cap, used;
    char *bytes;
    size_t nb, cb;
    int *ids;
    size_t ni, ci;
} WordCache;

typedef struct Bpe {
    int n;              // vocabulary size (ids 0..n-1; an id without a token decodes to U+FFFD)
    int cap;
    char **key;         // the token as written in vocab.json (UTF-8), NULL for an unused id
    char **dec;         // the bytes the token decodes to
    uint32_t *dec_len;
    unsigned char *special;
    int *map_ids;       // key string → id (open addressing over key[]; -1 = empty)
    size_t map_cap;
    int byte_id[256];   // the token of each single byte
    int n_merges, merges_cap;
    int *merge_a, *merge_b, *merge_r;  // merge k (rank k): a b → r
    PairMap ranks;      // (a, b) → rank
    int *specials;      // special ids, in the order they were added
    int n_specials;
    WordCache cache;
    atomic_flag cache_busy;  // the cache serves one encoder at a time; others go uncached
    int use_cache;
} Bpe;

Bpe *bpe_new(void);  // empty vocabulary
void bpe_free(Bpe *b);
// Looks up a vocab.json key; -1 if absent.
int bpe_key_id(const Bpe *b, const char *key);
// Sets id's key (UTF-8); bytes it decodes to: the byte map inverse when every character is in
// the byte alphabet and the token is not special, else the key's own UTF-8. Fails if the key or
// the id is already taken.
int bpe_set_token(Bpe *b, int id, const char *key, int special, Err *e);
// Marks an existing id special (its text is then its key's UTF-8).
void bpe_mark_special(Bpe *b, int id);
// Adds merge a b (next rank); the result token must exist. -1 and *dup = earlier rank on a
// repeated pair.
int bpe_add_merge(Bpe *b, int a, int bb, int r, int *dup);
// Fills byte_id; error when some byte has no single-character token.
int bpe_finish(Bpe *b, const char *ctx, Err *e);

// Reads vocab.json (or encoder.json) and merges.txt (or vocab.bpe): errors name file:line.
Bpe *bpe_read_files(const char *vocab_path, const char *merges_path, Err *e);
int bpe_write_files(const Bpe *b, const char *vocab_path, const char *merges_path, Err *e);

// Encodes text (no special-token matching) by pieces, appending ids.
void bpe_encode(Bpe *b, const unsigned char *s, size_t n, int **ids, size_t *len, size_t *cap);

// Training: counts pre-tokenised words of each added text, then learns merges until the
// vocabulary has vocab_size − n_special tokens (or no pair is left) and appends the specials.
typedef struct BpeTrainer BpeTrainer;
BpeTrainer *bpe_trainer_new(void);
void bpe_trainer_add(BpeTrainer *t, const char *text, size_t n);
void bpe_trainer_free(BpeTrainer *t);
// Consumes (frees) the trainer.
Bpe *bpe_trainer_finish(BpeTrainer *t, int vocab_size, const char *const *specials, int n_special,
                        Err *e);

#endif
