// io/llmc.c — llm.c model checkpoints (read/write), tokenizer (read, decode) and token shards
// (read); see llmc.h. The 16 llm.c tensors are mapped onto our tensor table by name: the slot
// list below is the only place that knows llm.c's order; shapes come from the table.
#include "io/llmc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "util/fileio.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "llmc.c assumes a little-endian host"
#endif

// llm.c's tensor order; `hf` is our table name (layer tensors without the "h.N." prefix).
// Layer 2-D weights are Conv1D [in, out] in our table and [out, in] in the file.
static const struct {
    const char *name, *hf;
    int layer;
} SLOTS[LLMC_N_TENSORS] = {
    {"wte", "wte.weight", 0},
    {"wpe", "wpe.weight", 0},
    {"ln1w", "ln_1.weight", 1},
    {"ln1b", "ln_1.bias", 1},
    {"qkvw", "attn.c_attn.weight", 1},
    {"qkvb", "attn.c_attn.bias", 1},
    {"attprojw", "attn.c_proj.weight", 1},
    {"attprojb", "attn.c_proj.bias", 1},
    {"ln2w", "ln_2.weight", 1},
    {"ln2b", "ln_2.bias", 1},
    {"fcw", "mlp.c_fc.weight", 1},
    {"fcb", "mlp.c_fc.bias", 1},
    {"fcprojw", "mlp.c_proj.weight", 1},
    {"fcprojb", "mlp.c_proj.bias", 1},
    {"lnfw", "ln_f.weight", 0},
    {"lnfb", "ln_f.bias", 0},
};

static const GPTTensor *find_tensor(const GPTTensor *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

static void slot_name(int s, int layer, char *buf, size_t n) {
    if (SLOTS[s].layer) snprintf(buf, n, "h.%d.%s", layer, SLOTS[s].hf);
    else snprintf(buf, n, "%s", SLOTS[s].hf);
}

static int file_size_of(FILE *fp, const char *path, size_t *size, Err *e) {
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) return err_set(e, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return err_set(e, "%s: not a regular file", path);
    *size = (size_t)st.st_size;
    return 0;
}

// Opens path and reads its 1024-byte header; fails (naming the file) if it is shorter.
static FILE *open_with_header(const char *path, int32_t hdr[256], size_t *size, const char *what,
                              Err *e) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        err_set(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (file_size_of(fp, path, size, e)) {
        fclose(fp);
        return NULL;
    }
    if (*size < LLMC_HEADER_BYTES) {
        err_set(e, "%s: file is %zu bytes, shorter than the %d-byte header of an llm.c %s "
                   "(truncated, or not an llm.c file)",
                path, *size, LLMC_HEADER_BYTES, what);
        fclose(fp);
        return NULL;
    }
    if (fread(hdr, 4, 256, fp) != 256) {
        err_set(e, "%s: read error: %s", path, strerror(errno));
        fclose(fp);
        return NULL;
    }
    return fp;
}

static const char *magic_kind(uint32_t magic) {
    switch (magic) {
    case LLMC_MODEL_MAGIC: return "an llm.c model checkpoint";
    case LLMC_TOKENIZER_MAGIC: return "an llm.c tokenizer";
    case LLMC_SHARD_MAGIC: return "an llm.c token shard";
    }
    return NULL;
}

// "PATH: not an llm.c WHAT: magic number M (that is KIND), expected X"
static int bad_magic(const char *path, uint32_t magic, uint32_t want, const char *what, Err *e) {
    const char *k = magic_kind(magic);
    if (k)
        return err_set(e, "%s: this is %s (magic %u), not an llm.c %s (magic %u)", path, k, magic,
                       what, want);
    return err_set(e, "%s: not an llm.c %s: magic number %u, expected %u", path, what, magic, want);
}

int llmc_file_magic(const char *path, uint32_t *magic, Err *e) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    unsigned char b[4];
    size_t got = fread(b, 1, 4, fp);
    fclose(fp);
    if (got != 4) return err_set(e, "%s: file is %zu bytes, too short for a header", path, got);
    *magic = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Model checkpoint

GPTConfig llmc_config(const LlmcModelHeader *h) {
    GPTConfig c = {.n_layer = h->L, .n_head = h->NH, .n_embd = h->C, .n_ctx = h->maxT,
                   .vocab_size = h->V, .score_head = 0};
    return c;
}

// Shapes of the 16 file tensors, from a one-layer tensor table of the same widths.
void llmc_tensor_list(const LlmcModelHeader *h, LlmcTensorInfo out[LLMC_N_TENSORS]) {
    GPTConfig c = llmc_config(h);
    c.n_layer = 1;
    GPTTensor *t;
    size_t np;
    int nt = gpt_tensor_table(&c, &t, &np);
    for (int s = 0; s < LLMC_N_TENSORS; s++) {
        char name[96];
        slot_name(s, 0, name, sizeof name);
        const GPTTensor *x = find_tensor(t, nt, name);
        LlmcTensorInfo *o = &out[s];
        memset(o, 0, sizeof *o);
        o->name = SLOTS[s].name;
        o->hf = SLOTS[s].hf;
        o->layer = SLOTS[s].layer;
        if (!x) continue;  // cannot happen: every slot names a table tensor
        size_t k = 0;
        if (SLOTS[s].layer) o->shape[k++] = (size_t)h->L;
        if (x->ndim == 2 && SLOTS[s].layer) {  // Conv1D [in, out] → [out, in]
            o->shape[k++] = x->shape[1];
            o->shape[k++] = x->shape[0];
        } else {
            for (int d = 0; d < x->ndim; d++) o->shape[k++] = x->shape[d];
        }
        if (s == 0) o->shape[0] = (size_t)h->Vp;  // wte padded to Vp rows
        o->ndim = (int)k;
        o->numel = 1;
        for (size_t d = 0; d < k; d++) o->numel *= o->shape[d];
    }
    free(t);
}

// Parameters stored in the file (wte with Vp rows), with overflow checks; 0 on overflow.
static size_t stored_params(const LlmcModelHeader *h) {
    size_t L = (size_t)h->L, C = (size_t)h->C, r = 0, x;
    // per layer: ln1 2C, qkv 3C·C + 3C, attproj C·C + C, ln2 2C, fc 4C·C + 4C, fcproj 4C·C + C
    size_t per_layer;
    if (__builtin_mul_overflow(C, C, &x) || __builtin_mul_overflow(x, (size_t)12, &x) ||
        __builtin_add_overflow(x, 13 * C, &per_layer) || __builtin_mul_overflow(per_layer, L, &r))
        return 0;
    size_t wte, wpe;
    if (__builtin_mul_overflow((size_t)h->Vp, C, &wte) ||
        __builtin_mul_overflow((size_t)h->maxT, C, &wpe) || __builtin_add_overflow(r, wte, &r) ||
        __builtin_add_overflow(r, wpe, &r) || __builtin_add_overflow(r, 2 * C, &r))
        return 0;
    return r;
}

int llmc_read_header(const char *path, LlmcModelHeader *h, Err *e) {
    memset(h, 0, sizeof *h);
    int32_t hdr[256];
    size_t size;
    FILE *fp = open_with_header(path, hdr, &size, "model checkpoint", e);
    if (!fp) return -1;
    fclose(fp);
    if ((uint32_t)hdr[0] != LLMC_MODEL_MAGIC)
        return bad_magic(path, (uint32_t)hdr[0], LLMC_MODEL_MAGIC, "model checkpoint", e);
    if (hdr[1] != 3 && hdr[1] != 5)
        return err_set(e, "%s: llm.c checkpoint version %d is not supported (expected 3 = fp32 or "
                          "5 = bf16)", path, hdr[1]);
    h->version = hdr[1];
    h->maxT = hdr[2]; h->V = hdr[3]; h->L = hdr[4]; h->NH = hdr[5]; h->C = hdr[6]; h->Vp = hdr[7];
    h->elem_size = h->version == 3 ? 4 : 2;
    h->file_size = size;
    GPTConfig c = llmc_config(h);
    Err ce;
    if (gpt_config_check(&c, &ce))
        return err_set(e, "%s: header describes an invalid model (maxT %d, V %d, L %d, NH %d, C %d): "
                          "%s", path, h->maxT, h->V, h->L, h->NH, h->C, ce.msg);
    if (h->Vp < h->V || h->Vp > (1 << 24))
        return err_set(e, "%s: header: padded vocabulary Vp %d must be at least V %d (and at most "
                          "%d)", path, h->Vp, h->V, 1 << 24);
    h->n_params = stored_params(h);
    size_t bytes;
    if (h->n_params == 0 || __builtin_mul_overflow(h->n_params, h->elem_size, &bytes) ||
        __builtin_add_overflow(bytes, (size_t)LLMC_HEADER_BYTES, &bytes))
        return err_set(e, "%s: header sizes overflow (maxT %d, V %d, Vp %d, L %d, C %d)", path,
                       h->maxT, h->V, h->Vp, h->L, h->C);
    if (size != bytes) {
        char what[64];
        if (size < bytes) snprintf(what, sizeof what, "%zu bytes missing: truncated", bytes - size);
        else snprintf(what, sizeof what, "%zu unexpected trailing bytes", size - bytes);
        return err_set(e, "%s: file is %zu bytes, but its header (version %d, maxT %d, V %d, "
                          "Vp %d, L %d, NH %d, C %d) describes %zu parameters of %zu bytes: "
                          "1024 + %zu = %zu bytes expected (%s)",
                       path, size, h->version, h->maxT, h->V, h->Vp, h->L, h->NH, h->C,
                       h->n_params, h->elem_size, h->n_params * h->elem_size, bytes, what);
    }
    return 0;
}

enum { CHUNK = 1 << 16 };

// Reads n elements of the file's dtype, converting to float.
static int read_floats(FILE *fp, const LlmcModelHeader *h, float *dst, size_t n, void *scratch,
                       const char *path, Err *e) {
    for (size_t j = 0; j < n; j += CHUNK) {
        size_t k = min_sz(CHUNK, n - j);
        if (h->elem_size == 4) {
            if (fread(dst + j, 4, k, fp) != k) goto fail;
        } else {
            uint16_t *b = scratch;
            if (fread(b, 2, k, fp) != k) goto fail;
            for (size_t i = 0; i < k; i++) dst[j + i] = st_bf16_to_f32(b[i]);
        }
    }
    return 0;
fail:
    return err_set(e, "%s: read error%s%s", path, ferror(fp) ? ": " : " (file changed while reading?)",
                   ferror(fp) ? strerror(errno) : "");
}

GPT *llmc_load_model(const char *path, int trainable, Err *e) {
    LlmcModelHeader h;
    if (llmc_read_header(path, &h, e)) return NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        err_set(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    GPTConfig c = llmc_config(&h);
    GPT *m = gpt_create(&c, trainable);
    size_t C = (size_t)h.C;
    size_t maxrow = 4 * C;  // widest [out, in] row
    float *row = xmalloc(max_sz(maxrow, CHUNK) * sizeof(float));
    void *scratch = xmalloc(CHUNK * 2);
    int rc = fseek(fp, LLMC_HEADER_BYTES, SEEK_SET) ? err_set(e, "%s: seek failed", path) : 0;
    for (int s = 0; !rc && s < LLMC_N_TENSORS; s++) {
        for (int l = 0; !rc && l < (SLOTS[s].layer ? h.L : 1); l++) {
            char name[96];
            slot_name(s, l, name, sizeof name);
            const GPTTensor *t = find_tensor(m->tensors, m->n_tensors, name);
            float *dst = m->params + t->offset;
            if (t->ndim == 2 && SLOTS[s].layer) {
                // file [out, in], ours [in, out]: file row o is our column o
                size_t in = t->shape[0], out = t->shape[1];
                for (size_t o = 0; !rc && o < out; o++) {
                    rc = read_floats(fp, &h, row, in, scratch, path, e);
                    for (size_t i = 0; !rc && i < in; i++) dst[i * out + o] = row[i];
                }
            } else {
                rc = read_floats(fp, &h, dst, t->numel, scratch, path, e);
            }
            if (!rc && s == 0 && h.Vp > h.V &&
                fseek(fp, (long)((size_t)(h.Vp - h.V) * C * h.elem_size), SEEK_CUR))
                rc = err_set(e, "%s: seek failed", path);
        }
    }
    free(row);
    free(scratch);
    fclose(fp);
    if (rc) {
        gpt_free(m);
        return NULL;
    }
    return m;
}

static int write_floats(FILE *fp, int bf16, const float *src, size_t n, uint16_t *scratch) {
    if (!bf16) return fwrite(src, 4, n, fp) == n ? 0 : -1;
    for (size_t j = 0; j < n; j += CHUNK) {
        size_t k = min_sz(CHUNK, n - j);
        for (size_t i = 0; i < k; i++) scratch[i] = st_bf16_from_f32(src[j + i]);
        if (fwrite(scratch, 2, k, fp) != k) return -1;
    }
    return 0;
}

int llmc_save_model(const GPT *m, const char *path, int bf16, Err *e) {
    const GPTConfig *c = &m->cfg;
    if (c->score_head)
        return err_set(e, "%s: an llm.c checkpoint has no slot for a scalar head (score.weight): "
                          "save reward/value models as a Hugging Face folder", path);
    int32_t hdr[256] = {0};
    hdr[0] = LLMC_MODEL_MAGIC;
    hdr[1] = bf16 ? 5 : 3;
    hdr[2] = c->n_ctx; hdr[3] = c->vocab_size; hdr[4] = c->n_layer; hdr[5] = c->n_head;
    hdr[6] = c->n_embd;
    hdr[7] = (c->vocab_size + 127) / 128 * 128;
    AtomicFile af;
    if (atomic_open(&af, path, e)) return -1;
    size_t C = (size_t)c->n_embd;
    float *row = xmalloc(max_sz(4 * C, CHUNK) * sizeof(float));
    uint16_t *scratch = xmalloc(CHUNK * 2);
    int ok = fwrite(hdr, 4, 256, af.fp) == 256;
    for (int s = 0; ok && s < LLMC_N_TENSORS; s++) {
        for (int l = 0; ok && l < (SLOTS[s].layer ? c->n_layer : 1); l++) {
            char name[96];
            slot_name(s, l, name, sizeof name);
            const GPTTensor *t = find_tensor(m->tensors, m->n_tensors, name);
            const float *src = m->params + t->offset;
            if (t->ndim == 2 && SLOTS[s].layer) {
                size_t in = t->shape[0], out = t->shape[1];
                for (size_t o = 0; ok && o < out; o++) {
                    for (size_t i = 0; i < in; i++) row[i] = src[i * out + o];
                    ok = write_floats(af.fp, bf16, row, in, scratch) == 0;
                }
            } else {
                ok = write_floats(af.fp, bf16, src, t->numel, scratch) == 0;
            }
            if (ok && s == 0) {  // padding rows V..Vp-1 are zero
                memset(row, 0, C * sizeof(float));
                for (int r = c->vocab_size; ok && r < hdr[7]; r++)
                    ok = write_floats(af.fp, bf16, row, C, scratch) == 0;
            }
        }
    }
    free(row);
    free(scratch);
    if (!ok) {
        err_set(e, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, e);
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

void llmc_tok_free(LlmcTokenizer *t) {
    free(t->off);
    free(t->bytes);
    memset(t, 0, sizeof *t);
}

int llmc_tok_load(LlmcTokenizer *t, const char *path, Err *e) {
    memset(t, 0, sizeof *t);
    int32_t hdr[256];
    size_t size;
    FILE *fp = open_with_header(path, hdr, &size, "tokenizer", e);
    if (!fp) return -1;
    int rc = -1;
    uint32_t magic = (uint32_t)hdr[0], version = (uint32_t)hdr[1], n = (uint32_t)hdr[2],
             eot = (uint32_t)hdr[3];
    if (magic != LLMC_TOKENIZER_MAGIC) {
        bad_magic(path, magic, LLMC_TOKENIZER_MAGIC, "tokenizer", e);
        goto out;
    }
    if (version != 2) {
        err_set(e, "%s: llm.c tokenizer version %u is not supported (expected 2)", path, version);
        goto out;
    }
    if (n == 0 || n > (1u << 24)) {
        err_set(e, "%s: header: %u tokens (expected 1 .. %u)", path, n, 1u << 24);
        goto out;
    }
    if (eot >= n) {
        err_set(e, "%s: header: end-of-text id %u is not below the token count %u", path, eot, n);
        goto out;
    }
    // each token takes 2 .. 256 bytes
    size_t body = size - LLMC_HEADER_BYTES;
    if (body < 2 * (size_t)n) {
        err_set(e, "%s: file is %zu bytes, too short for %u tokens (at least 1024 + %zu bytes): "
                   "truncated", path, size, n, 2 * (size_t)n);
        goto out;
    }
    if (body > 256 * (size_t)n) {
        err_set(e, "%s: file is %zu bytes, longer than %u tokens can fill (at most 1024 + %zu "
                   "bytes)", path, size, n, 256 * (size_t)n);
        goto out;
    }
    unsigned char *buf = xmalloc(body);
    if (fread(buf, 1, body, fp) != body) {
        free(buf);
        err_set(e, "%s: read error: %s", path, strerror(errno));
        goto out;
    }
    t->n = (int)n;
    t->eot = (int)eot;
    t->off = xmalloc(((size_t)n + 1) * sizeof *t->off);
    t->bytes = xmalloc(body - n + 1);
    size_t p = 0, k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (p >= body) {
            err_set(e, "%s: truncated: the file ends before token %u of %u", path, i, n);
            free(buf);
            llmc_tok_free(t);
            goto out;
        }
        size_t len = buf[p++];
        if (len == 0) {
            err_set(e, "%s: token %u has length 0 (at byte %zu; lengths are 1..255)", path, i,
                    LLMC_HEADER_BYTES + p - 1);
            free(buf);
            llmc_tok_free(t);
            goto out;
        }
        if (len > body - p) {
            err_set(e, "%s: truncated: token %u needs %zu bytes at byte %zu, but the file ends "
                       "after %zu", path, i, len, LLMC_HEADER_BYTES + p, body - p);
            free(buf);
            llmc_tok_free(t);
            goto out;
        }
        t->off[i] = (uint32_t)k;
        memcpy(t->bytes + k, buf + p, len);
        k += len;
        p += len;
    }
    t->off[n] = (uint32_t)k;
    free(buf);
    if (p != body) {
        err_set(e, "%s: %zu unexpected trailing bytes after the last of %u tokens", path, body - p, n);
        llmc_tok_free(t);
        goto out;
    }
    rc = 0;
out:
    fclose(fp);
    return rc;
}

char *llmc_tok_decode(const LlmcTokenizer *t, const int *ids, size_t n, size_t *len) {
    size_t need = 1;
    for (size_t i = 0; i < n; i++)
        need += ids[i] >= 0 && ids[i] < t->n ? t->off[ids[i] + 1] - t->off[ids[i]] : 3;
    char *s = xmalloc(need);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int id = ids[i];
        if (id >= 0 && id < t->n) {
            size_t m = t->off[id + 1] - t->off[id];
            memcpy(s + k, t->bytes + t->off[id], m);
            k += m;
        } else {  // U+FFFD
            s[k++] = (char)0xEF; s[k++] = (char)0xBF; s[k++] = (char)0xBD;
        }
    }
    s[k] = 0;
    if (len) *len = k;
    return s;
}

// ---------------------------------------------------------------------------------------------
// Token shards

int llmc_shard_load(const char *path, int vocab_size, int **tokens, size_t *n, Err *e) {
    *tokens = NULL;
    *n = 0;
    int32_t hdr[256];
    size_t size;
    FILE *fp = open_with_header(path, hdr, &size, "token shard", e);
    if (!fp) return -1;
    int rc = -1;
    if ((uint32_t)hdr[0] != LLMC_SHARD_MAGIC) {
        bad_magic(path, (uint32_t)hdr[0], LLMC_SHARD_MAGIC, "token shard", e);
        goto out;
    }
    if (hdr[1] != 1) {
        err_set(e, "%s: llm.c token shard version %d is not supported (expected 1)", path, hdr[1]);
        goto out;
    }
    if (hdr[2] <= 0) {
        err_set(e, "%s: header: token count %d (expected a positive count)", path, hdr[2]);
        goto out;
    }
    size_t ntok = (size_t)hdr[2], want = LLMC_HEADER_BYTES + 2 * ntok;
    if (size != want) {
        err_set(e, "%s: file is %zu bytes, but its header announces %zu tokens: 1024 + 2·%zu = %zu "
                   "bytes expected (%s)", path, size, ntok, ntok, want,
                size < want ? "truncated" : "unexpected trailing bytes");
        goto out;
    }
    uint16_t *raw = xmalloc(ntok * 2);
    if (fread(raw, 2, ntok, fp) != ntok) {
        free(raw);
        err_set(e, "%s: read error: %s", path, strerror(errno));
        goto out;
    }
    int *ids = xmalloc(ntok * sizeof(int));
    for (size_t i = 0; i < ntok; i++) {
        ids[i] = raw[i];
        if (vocab_size > 0 && ids[i] >= vocab_size) {
            err_set(e, "%s: token %zu is id %d, outside the tokenizer's vocabulary of %d ids (a "
                       "shard made with another tokenizer?)", path, i, ids[i], vocab_size);
            free(raw);
            free(ids);
            goto out;
        }
    }
    free(raw);
    *tokens = ids;
    *n = ntok;
    rc = 0;
out:
    fclose(fp);
    return rc;
}
