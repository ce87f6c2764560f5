// tok/bpe.c — GPT-2 byte-level BPE: byte map, pre-tokenisation, vocabulary and merges, encoding
// (heap-ordered merges per word, cached per word), decoding and the vocab.json / merges.txt files.
// See bpe.h.
#include "tok/bpe.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "util/fileio.h"
#include "util/json.h"
#include "util/utf8.h"

// ---------------------------------------------------------------------------------------------
// byte ↔ unicode

static int byte_is_self(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t bpe_byte_to_cp(unsigned char b) {
    if (byte_is_self(b)) return b;
    unsigned k = 0;  // rank of b among the non-self bytes
    for (unsigned x = 0; x < b; x++) k += !byte_is_self(x);
    return 0x100 + k;
}

int bpe_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return byte_is_self(cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68) return -1;
    unsigned k = cp - 0x100;
    for (unsigned x = 0; x < 256; x++)
        if (!byte_is_self(x) && k-- == 0) return (int)x;
    return -1;
}

// ---------------------------------------------------------------------------------------------
// pre-tokenisation

enum { C_OTHER = 0, C_L = 1, C_N = 2, C_S = 3 };

static const unsigned char ASCII_CLASS[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 0, 0,   // \t \n \v \f \r
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   // space
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0,   // digits
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
};

// \p{L}, \p{N}, \s (Unicode White_Space: Zs, Zl, Zp, U+0009–U+000D, U+0085), or other.
static int cp_class(int32_t cp) {
    if (cp < 0) return C_OTHER;  // invalid byte
    if (cp < 128) return ASCII_CLASS[cp];
    if (cp == 0x85) return C_S;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return C_L;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return C_N;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return C_S;
    default:
        return C_OTHER;
    }
}

// Class of the character at s[i] and its width in bytes (an invalid byte: width 1, other).
static inline int char_at(const unsigned char *s, size_t n, size_t i, size_t *w) {
    unsigned c = s[i];
    if (c < 0x80) { *w = 1; return ASCII_CLASS[c]; }
    size_t l = utf8_seq_len(s + i, n - i);
    if (!l) { *w = 1; return C_OTHER; }
    int32_t cp = (int32_t)(c & (0x7Fu >> l));
    for (size_t k = 1; k < l; k++) cp = (cp << 6) | (s[i + k] & 0x3F);
    *w = l;
    return cp_class(cp);
}

size_t bpe_pretok_next(const unsigned char *s, size_t n, size_t i) {
    // 's|'t|'re|'ve|'m|'ll|'d  (ASCII apostrophe, case-sensitive)
    if (s[i] == '\'' && i + 1 < n) {
        unsigned char d = s[i + 1];
        if (d == 's' || d == 't' || d == 'm' || d == 'd') return i + 2;
        if (i + 2 < n && ((d == 'r' && s[i + 2] == 'e') || (d == 'v' && s[i + 2] == 'e') ||
                          (d == 'l' && s[i + 2] == 'l')))
            return i + 3;
    }
    size_t w, j;
    int k = char_at(s, n, i, &w);
    if (s[i] == ' ' && i + 1 < n) {  // ' ?X+' with X the class of the next character
        size_t w1;
        int k1 = char_at(s, n, i + 1, &w1);
        if (k1 != C_S) { k = k1; j = i + 1 + w1; goto run; }
    }
    if (k != C_S) { j = i + w; goto run; }
    // \s+(?!\S) | \s+ : a whitespace run followed by a non-space gives its last character away
    // (unless it is a single character)
    {
        size_t last = i;
        j = i + w;
        while (j < n) {
            size_t wj;
            if (char_at(s, n, j, &wj) != C_S) break;
            last = j;
            j += wj;
        }
        if (j == n) return n;
        return last > i ? last : j;
    }
run:
    while (j < n) {
        unsigned c = s[j];
        if (c < 0x80) {
            if (ASCII_CLASS[c] != k) break;
            j++;
            continue;
        }
        size_t wj;
        if (char_at(s, n, j, &wj) != k) break;
        j += wj;
    }
    return j;
}

// ---------------------------------------------------------------------------------------------
// hashing and maps

static inline uint64_t hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = mix64(h ^ v) ;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, n);
    h = mix64(h ^ v ^ ((uint64_t)n << 56));
    return h ? h : 1;
}

void pairmap_init(PairMap *m, size_t want) {
    size_t cap = 64;
    while (cap < 2 * want) cap *= 2;
    m->cap = cap;
    m->used = 0;
    m->keys = xmalloc(cap * sizeof(uint64_t));
    memset(m->keys, 0xFF, cap * sizeof(uint64_t));
    m->vals = xmalloc(cap * sizeof(int));
}

void pairmap_free(PairMap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

// Inserts or (when present) leaves the old value; returns the slot's value after the call.
int pairmap_get_or_add(PairMap *m, int a, int b, int v) {
    if (2 * (m->used + 1) > m->cap) {
        PairMap old = *m;
        pairmap_init(m, m->cap);
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i] != UINT64_MAX)
                pairmap_get_or_add(m, (int)(old.keys[i] >> 32), (int)(uint32_t)old.keys[i], old.vals[i]);
        pairmap_free(&old);
    }
    uint64_t k = pair_key(a, b);
    size_t i = mix64(k) & (m->cap - 1);
    for (;;) {
        if (m->keys[i] == k) return m->vals[i];
        if (m->keys[i] == UINT64_MAX) break;
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = k;
    m->vals[i] = v;
    m->used++;
    return v;
}

// ---------------------------------------------------------------------------------------------
// vocabulary

Bpe *bpe_new(void) {
    Bpe *b = xcalloc(1, sizeof *b);
    atomic_flag_clear(&b->cache_busy);
    b->use_cache = 1;
    for (int i = 0; i < 256; i++) b->byte_id[i] = -1;
    return b;
}

static void cache_free(WordCache *c) {
    free(c->hash); free(c->off); free(c->len); free(c->ioff); free(c->ilen);
    free(c->bytes); free(c->ids);
    memset(c, 0, sizeof *c);
}

void bpe_free(Bpe *b) {
    if (!b) return;
    for (int i = 0; i < b->n; i++) { free(b->key[i]); free(b->dec[i]); }
    free(b->key); free(b->dec); free(b->dec_len); free(b->special);
    free(b->map_ids);
    free(b->merge_a); free(b->merge_b); free(b->merge_r);
    pairmap_free(&b->ranks);
    free(b->specials);
    cache_free(&b->cache);
    free(b);
}

static void grow_ids(Bpe *b, int n) {
    if (n <= b->n) return;
    if (n > b->cap) {
        int cap = b->cap ? b->cap : 512;
        while (cap < n) cap *= 2;
        b->key = xrealloc(b->key, (size_t)cap * sizeof(char *));
        b->dec = xrealloc(b->dec, (size_t)cap * sizeof(char *));
        b->dec_len = xrealloc(b->dec_len, (size_t)cap * sizeof(uint32_t));
        b->special = xrealloc(b->special, (size_t)cap);
        b->cap = cap;
    }
    for (int i = b->n; i < n; i++) { b->key[i] = NULL; b->dec[i] = NULL; b->dec_len[i] = 0; b->special[i] = 0; }
    b->n = n;
}

static void map_insert(Bpe *b, int id) {
    size_t i = hash_bytes(b->key[id], strlen(b->key[id])) & (b->map_cap - 1);
    while (b->map_ids[i] >= 0) i = (i + 1) & (b->map_cap - 1);
    b->map_ids[i] = id;
}

static void map_reserve(Bpe *b, size_t count) {
    if (2 * count <= b->map_cap) return;
    size_t cap = 1024;
    while (cap < 2 * count) cap *= 2;
    free(b->map_ids);
    b->map_ids = xmalloc(cap * sizeof(int));
    memset(b->map_ids, 0xFF, cap * sizeof(int));
    b->map_cap = cap;
    for (int id = 0; id < b->n; id++)
        if (b->key[id]) map_insert(b, id);
}

int bpe_key_id(const Bpe *b, const char *key) {
    if (!b->map_cap) return -1;
    size_t i = hash_bytes(key, strlen(key)) & (b->map_cap - 1);
    for (int id; (id = b->map_ids[i]) >= 0; i = (i + 1) & (b->map_cap - 1))
        if (!strcmp(b->key[id], key)) return id;
    return -1;
}

// The bytes of a key through the inverse byte map; -1 if some character is outside the alphabet.
static long key_to_bytes(const char *key, char *out) {
    const unsigned char *s = (const unsigned char *)key;
    size_t n = strlen(key), k = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len(s + i, n - i);
        if (!l) return -1;
        uint32_t cp = l == 1 ? s[i] : (s[i] & (0x7Fu >> l));
        for (size_t j = 1; j < l; j++) cp = (cp << 6) | (s[i + j] & 0x3F);
        int byte = bpe_cp_to_byte(cp);
        if (byte < 0) return -1;
        out[k++] = (char)byte;
        i += l;
    }
    return (long)k;
}

static void set_dec(Bpe *b, int id) {
    const char *key = b->key[id];
    size_t n = strlen(key);
    free(b->dec[id]);
    b->dec[id] = xmalloc(n + 1);
    long k = b->special[id] ? -1 : key_to_bytes(key, b->dec[id]);
    if (k < 0) { memcpy(b->dec[id], key, n); k = (long)n; }
    b->dec[id][k] = 0;
    b->dec_len[id] = (uint32_t)k;
}

int bpe_set_token(Bpe *b, int id, const char *key, int special, Err *e) {
    if (id < 0 || id >= (1 << 24)) return err_set(e, "token id %d out of range", id);
    int old = bpe_key_id(b, key);
    if (old >= 0) return err_set(e, "token \"%s\" appears twice (ids %d and %d)", key, old, id);
    grow_ids(b, id + 1);
    if (b->key[id])
        return err_set(e, "id %d is used by both \"%s\" and \"%s\"", id, b->key[id], key);
    b->key[id] = xstrdup(key);
    b->special[id] = (unsigned char)(special != 0);
    set_dec(b, id);
    map_reserve(b, (size_t)b->n);
    map_insert(b, id);
    if (special) {
        b->specials = xrealloc(b->specials, (size_t)(b->n_specials + 1) * sizeof(int));
        b->specials[b->n_specials++] = id;
    }
    return 0;
}

void bpe_mark_special(Bpe *b, int id) {
    if (b->special[id]) return;
    b->special[id] = 1;
    set_dec(b, id);
    b->specials = xrealloc(b->specials, (size_t)(b->n_specials + 1) * sizeof(int));
    b->specials[b->n_specials++] = id;
}

int bpe_add_merge(Bpe *b, int a, int bb, int r, int *dup) {
    if (!b->ranks.cap) pairmap_init(&b->ranks, 1024);
    int rank = pairmap_get_or_add(&b->ranks, a, bb, b->n_merges);
    if (rank != b->n_merges) { *dup = rank; return -1; }
    if (b->n_merges == b->merges_cap) {
        b->merges_cap = b->merges_cap ? 2 * b->merges_cap : 1024;
        b->merge_a = xrealloc(b->merge_a, (size_t)b->merges_cap * sizeof(int));
        b->merge_b = xrealloc(b->merge_b, (size_t)b->merges_cap * sizeof(int));
        b->merge_r = xrealloc(b->merge_r, (size_t)b->merges_cap * sizeof(int));
    }
    b->merge_a[b->n_merges] = a;
    b->merge_b[b->n_merges] = bb;
    b->merge_r[b->n_merges] = r;
    b->n_merges++;
    return 0;
}

int bpe_finish(Bpe *b, const char *ctx, Err *e) {
    for (int x = 0; x < 256; x++) {
        char key[4] = {0};
        uint32_t cp = bpe_byte_to_cp((unsigned char)x);
        if (cp < 0x80) key[0] = (char)cp;
        else { key[0] = (char)(0xC0 | (cp >> 6)); key[1] = (char)(0x80 | (cp & 0x3F)); }
        int id = bpe_key_id(b, key);
        if (id < 0 || b->special[id])
            return err_set(e, "%s: no token for byte 0x%02X (\"%s\"): a byte-level vocabulary needs "
                              "all 256", ctx, x, key);
        b->byte_id[x] = id;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// files

Bpe *bpe_read_files(const char *vocab_path, const char *merges_path, Err *e) {
    json_error_t je;
    json_t *j = json_load_file(vocab_path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (je.line <= 0) err_set(e, "%s: %s", vocab_path, je.text);
        else err_set(e, "%s:%d:%d: %s", vocab_path, je.line, je.column, je.text);
        return NULL;
    }
    Bpe *b = bpe_new();
    char *data = NULL, *buf = NULL;
    if (!json_is_object(j)) {
        err_set(e, "%s: expected a JSON object mapping each token to its id, got %s", vocab_path,
                json_type_name(j));
        goto fail;
    }
    const char *key;
    json_t *v;
    json_int_t maxid = -1;
    json_object_foreach(j, key, v) {
        if (!json_is_integer(v)) {
            err_set(e, "%s: token \"%s\": expected an integer id, got %s", vocab_path, key,
                    json_type_name(v));
            goto fail;
        }
        json_int_t id = json_integer_value(v);
        if (id < 0 || id >= (1 << 24)) {
            err_set(e, "%s: token \"%s\": id %lld out of range [0, 16777216)", vocab_path, key,
                    (long long)id);
            goto fail;
        }
        if (id > maxid) maxid = id;
    }
    if (maxid < 0) { err_set(e, "%s: empty vocabulary", vocab_path); goto fail; }
    grow_ids(b, (int)maxid + 1);
    map_reserve(b, (size_t)b->n);
    json_object_foreach(j, key, v) {
        Err e2;
        if (bpe_set_token(b, (int)json_integer_value(v), key, 0, &e2)) {
            err_set(e, "%s: %s", vocab_path, e2.msg);
            goto fail;
        }
    }
    json_decref(j);
    j = NULL;

    size_t sz;
    if (read_file(merges_path, &data, &sz, e)) goto fail;
    if (!b->ranks.cap) pairmap_init(&b->ranks, 65536);
    // the first line (the "#version" header) and whatever follows the last newline are dropped,
    // as Hugging Face's and OpenAI's readers do
    char *nl = memchr(data, '\n', sz);
    size_t p = nl ? (size_t)(nl - data) + 1 : sz;
    buf = xmalloc(sz + 2);
    for (long lineno = 2; p < sz; lineno++) {
        char *q = memchr(data + p, '\n', sz - p);
        if (!q) break;
        size_t len = (size_t)(q - (data + p));
        const char *line = data + p;
        p += len + 1;
        if (len > 0 && line[len - 1] == '\r') len--;
        const char *sp = memchr(line, ' ', len);
        if (!sp || sp == line || sp == line + len - 1 || memchr(sp + 1, ' ', len - (size_t)(sp - line) - 1) ||
            memchr(line, 0, len)) {
            err_set(e, "%s:%ld: expected two tokens separated by one space, got \"%.*s\"",
                    merges_path, lineno, (int)min_sz(len, 200), line);
            goto fail;
        }
        size_t la = (size_t)(sp - line), lb = len - la - 1;
        memcpy(buf, line, la);
        buf[la] = 0;
        int a = bpe_key_id(b, buf);
        memcpy(buf, sp + 1, lb);
        buf[lb] = 0;
        int bb = bpe_key_id(b, buf);
        if (a < 0 || bb < 0) {
            if (a < 0) {  // name the first unknown token
                memcpy(buf, line, la);
                buf[la] = 0;
            }
            err_set(e, "%s:%ld: token \"%s\" is not in %s", merges_path, lineno, buf, vocab_path);
            goto fail;
        }
        memcpy(buf, line, la);
        memcpy(buf + la, sp + 1, lb);
        buf[la + lb] = 0;
        int r = bpe_key_id(b, buf);
        if (r < 0) {
            err_set(e, "%s:%ld: the merged token \"%s\" is not in %s", merges_path, lineno, buf,
                    vocab_path);
            goto fail;
        }
        int dup;
        if (bpe_add_merge(b, a, bb, r, &dup)) {
            err_set(e, "%s:%ld: merge \"%.*s\" repeats the merge of rank %d", merges_path, lineno,
                    (int)len, line, dup);
            goto fail;
        }
    }
    if (bpe_finish(b, vocab_path, e)) goto fail;
    free(data);
    free(buf);
    return b;
fail:
    json_decref(j);
    free(data);
    free(buf);
    bpe_free(b);
    return NULL;
}

int bpe_write_files(const Bpe *b, const char *vocab_path, const char *merges_path, Err *e) {
    json_t *j = json_object();
    for (int id = 0; id < b->n; id++)
        if (b->key[id]) json_object_set_new(j, b->key[id], json_integer(id));
    int rc = json_write_file(vocab_path, j, e);
    json_decref(j);
    if (rc) return rc;
    size_t cap = 64, n = 0;
    for (int k = 0; k < b->n_merges; k++)
        cap += strlen(b->key[b->merge_a[k]]) + strlen(b->key[b->merge_b[k]]) + 2;
    char *s = xmalloc(cap);
    n += (size_t)sprintf(s, "#version: 0.2\n");
    for (int k = 0; k < b->n_merges; k++)
        n += (size_t)sprintf(s + n, "%s %s\n", b->key[b->merge_a[k]], b->key[b->merge_b[k]]);
    rc = atomic_write_file(merges_path, s, n, e);
    free(s);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// encoding

static inline void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static inline uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

// BPE of one piece: repeatedly merge the adjacent pair of lowest rank (leftmost on ties).
// Writes at most n ids to out; returns the count.
static size_t merge_word(const Bpe *b, const unsigned char *s, size_t n, int *out) {
    if (n == 1) { out[0] = b->byte_id[s[0]]; return 1; }
    enum { STACK = 64 };
    int sym_s[STACK], nxt_s[STACK], prv_s[STACK];
    uint64_t heap_s[2 * STACK];
    int *sym = sym_s, *nxt = nxt_s, *prv = prv_s;
    uint64_t *heap = heap_s;
    if (n > STACK) {
        sym = xmalloc(n * sizeof(int));
        nxt = xmalloc(n * sizeof(int));
        prv = xmalloc(n * sizeof(int));
        heap = xmalloc(2 * n * sizeof(uint64_t));  // ≤ n−1 initial pairs + 2 per merge
    }
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        sym[i] = b->byte_id[s[i]];
        prv[i] = (int)i - 1;
        nxt[i] = i + 1 < n ? (int)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int r = pairmap_get(&b->ranks, sym[i], sym[i + 1]);
        if (r >= 0) heap_push(heap, &hn, ((uint64_t)r << 32) | i);
    }
    while (hn) {
        uint64_t top = heap_pop(heap, &hn);
        int r = (int)(top >> 32), i = (int)(uint32_t)top;
        if (sym[i] < 0) continue;  // merged away
        int j = nxt[i];
        if (j < 0 || pairmap_get(&b->ranks, sym[i], sym[j]) != r) continue;  // stale
        sym[i] = b->merge_r[r];
        sym[j] = -1;
        nxt[i] = nxt[j];
        if (nxt[j] >= 0) prv[nxt[j]] = i;
        if (prv[i] >= 0) {
            int r2 = pairmap_get(&b->ranks, sym[prv[i]], sym[i]);
            if (r2 >= 0) heap_push(heap, &hn, ((uint64_t)r2 << 32) | (uint32_t)prv[i]);
        }
        if (nxt[i] >= 0) {
            int r3 = pairmap_get(&b->ranks, sym[i], sym[nxt[i]]);
            if (r3 >= 0) heap_push(heap, &hn, ((uint64_t)r3 << 32) | (uint32_t)i);
        }
    }
    size_t k = 0;
    for (int i = 0; i >= 0; i = nxt[i]) out[k++] = sym[i];
    if (n > STACK) { free(sym); free(nxt); free(prv); free(heap); }
    return k;
}

enum { CACHE_SLOTS = 1 << 15, CACHE_MAX_PIECE = 64 };

static void cache_clear(WordCache *c) {
    if (!c->hash) {
        c->cap = CACHE_SLOTS;
        c->hash = xmalloc(c->cap * sizeof(uint64_t));
        c->off = xmalloc(c->cap * sizeof(uint32_t));
        c->len = xmalloc(c->cap * sizeof(uint32_t));
        c->ioff = xmalloc(c->cap * sizeof(uint32_t));
        c->ilen = xmalloc(c->cap * sizeof(uint32_t));
        c->cb = (c->cap / 2) * 16;
        c->bytes = xmalloc(c->cb);
        c->ci = (c->cap / 2) * 8;
        c->ids = xmalloc(c->ci * sizeof(int));
    }
    memset(c->hash, 0, c->cap * sizeof(uint64_t));
    c->used = c->nb = c->ni = 0;
}

// Encodes one piece through the cache; returns the id count written to out.
static size_t cached_word(const Bpe *b, WordCache *c, const unsigned char *s, size_t n, int *out) {
    uint64_t h = hash_bytes(s, n);
    size_t i = h & (c->cap - 1);
    for (; c->hash[i]; i = (i + 1) & (c->cap - 1)) {
        if (c->hash[i] == h && c->len[i] == n && !memcmp(c->bytes + c->off[i], s, n)) {
            memcpy(out, c->ids + c->ioff[i], c->ilen[i] * sizeof(int));
            return c->ilen[i];
        }
    }
    size_t k = merge_word(b, s, n, out);
    if (2 * (c->used + 1) > c->cap || c->nb + n > c->cb || c->ni + k > c->ci) {
        cache_clear(c);
        i = h & (c->cap - 1);
    }
    c->hash[i] = h;
    c->off[i] = (uint32_t)c->nb;
    c->len[i] = (uint32_t)n;
    c->ioff[i] = (uint32_t)c->ni;
    c->ilen[i] = (uint32_t)k;
    memcpy(c->bytes + c->nb, s, n);
    memcpy(c->ids + c->ni, out, k * sizeof(int));
    c->nb += n;
    c->ni += k;
    c->used++;
    return k;
}

void bpe_encode(Bpe *b, const unsigned char *s, size_t n, int **ids, size_t *len, size_t *cap) {
    int cached = b->use_cache && !atomic_flag_test_and_set(&b->cache_busy);
    if (cached && !b->cache.hash) cache_clear(&b->cache);
    for (size_t i = 0; i < n;) {
        size_t j = bpe_pretok_next(s, n, i), m = j - i;
        if (*len + m > *cap) {
            *cap = (*len + m) * 2 + 16;
            *ids = xrealloc(*ids, *cap * sizeof(int));
        }
        int *out = *ids + *len;
        if (m == 1) { *out = b->byte_id[s[i]]; *len += 1; }
        else if (cached && m <= CACHE_MAX_PIECE) *len += cached_word(b, &b->cache, s + i, m, out);
        else *len += merge_word(b, s + i, m, out);
        i = j;
    }
    if (cached) atomic_flag_clear(&b->cache_busy);
}
