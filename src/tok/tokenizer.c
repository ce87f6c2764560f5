// tok/tokenizer.c — the tokenizer interface over the byte-level tokenizer and GPT-2 BPE
// (tok/bpe.c): special tokens, decoding, and the tokenizer files of a model folder.
#include "tok/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "tok/bpe.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/utf8.h"

void tok_init_bytes(Tokenizer *t) {
    t->kind = TOK_BYTES;
    t->vocab_size = 258;
    t->eos_id = 256;
    t->pad_id = 257;
    t->bpe = NULL;
}

void tok_free(Tokenizer *t) {
    bpe_free(t->bpe);
    t->bpe = NULL;
}

void tok_set_cache(Tokenizer *t, int on) {
    if (t->bpe) t->bpe->use_cache = on;
}

static void ensure_cap(int **ids, size_t need, size_t *cap) {
    if (need > *cap) {
        *cap = need * 2 + 16;
        *ids = xrealloc(*ids, *cap * sizeof(int));
    }
}

static void encode_plain(const Tokenizer *t, const char *text, size_t n, int **ids, size_t *len,
                         size_t *cap) {
    if (t->kind == TOK_BPE) {
        bpe_encode(t->bpe, (const unsigned char *)text, n, ids, len, cap);
        return;
    }
    ensure_cap(ids, *len + n, cap);
    for (size_t i = 0; i < n; i++) (*ids)[*len + i] = (unsigned char)text[i];
    *len += n;
}

size_t tok_encode(const Tokenizer *t, const char *text, size_t n, int **ids, size_t *len,
                  size_t *cap) {
    return tok_encode_ex(t, text, n, 0, ids, len, cap);
}

static const char *const BYTE_SPECIALS[2] = {TOK_EOS_TEXT, TOK_PAD_TEXT};

static int n_specials(const Tokenizer *t) {
    return t->kind == TOK_BPE ? t->bpe->n_specials : 2;
}

static int special_at(const Tokenizer *t, int k, const char **text, size_t *len) {
    if (t->kind == TOK_BPE) {
        int id = t->bpe->specials[k];
        *text = t->bpe->dec[id];
        *len = t->bpe->dec_len[id];
        return id;
    }
    *text = BYTE_SPECIALS[k];
    *len = strlen(*text);
    return 256 + k;
}

size_t tok_encode_ex(const Tokenizer *t, const char *text, size_t n, int allow_special, int **ids,
                     size_t *len, size_t *cap) {
    size_t len0 = *len;
    int ns = allow_special ? n_specials(t) : 0;
    if (ns == 0) {
        encode_plain(t, text, n, ids, len, cap);
        return *len - len0;
    }
    // next occurrence of each special at or after the scan position (n = none left)
    size_t *next = xmalloc((size_t)ns * sizeof(size_t));
    for (int k = 0; k < ns; k++) next[k] = (size_t)-1;  // not searched yet
    size_t pos = 0;
    while (pos < n) {
        size_t best = n, blen = 0;
        int bid = -1;
        for (int k = 0; k < ns; k++) {
            const char *st;
            size_t sl;
            int id = special_at(t, k, &st, &sl);
            if (sl == 0) continue;
            if (next[k] == (size_t)-1 || (next[k] < pos)) {
                const char *f = memmem(text + pos, n - pos, st, sl);
                next[k] = f ? (size_t)(f - text) : n;
            }
            if (next[k] < best || (next[k] == best && next[k] < n && sl > blen)) {
                best = next[k];
                blen = sl;
                bid = id;
            }
        }
        encode_plain(t, text + pos, best - pos, ids, len, cap);
        if (best >= n) break;
        ensure_cap(ids, *len + 1, cap);
        (*ids)[(*len)++] = bid;
        pos = best + blen;
    }
    free(next);
    return *len - len0;
}

size_t tok_split_point(const char *text, size_t n) {
    for (size_t p = n; p-- > 1;)
        if (text[p] == '\n' && text[p - 1] >= 0x21 && text[p - 1] <= 0x7E) return p;
    return 0;
}

char *tok_decode_ex(const Tokenizer *t, const int *ids, size_t n, int with_special, size_t *n_out) {
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        int id = ids[i];
        if (t->kind == TOK_BPE && id >= 0 && id < t->bpe->n && t->bpe->dec[id])
            total += t->bpe->dec_len[id];
        else
            total += 16;
    }
    char *s = xmalloc(total);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int id = ids[i];
        if (t->kind == TOK_BPE) {
            const Bpe *b = t->bpe;
            if (id >= 0 && id < b->n && b->dec[id]) {
                if (b->special[id] && !with_special) continue;
                memcpy(s + k, b->dec[id], b->dec_len[id]);
                k += b->dec_len[id];
                continue;
            }
        } else if (id >= 0 && id < 256) {
            s[k++] = (char)id;
            continue;
        } else if (id == 256 || id == 257) {
            if (!with_special) continue;
            const char *st = BYTE_SPECIALS[id - 256];
            memcpy(s + k, st, strlen(st));
            k += strlen(st);
            continue;
        }
        memcpy(s + k, "\xEF\xBF\xBD", 3);  // U+FFFD
        k += 3;
    }
    s[k] = 0;
    if (n_out) *n_out = k;
    return s;
}

char *tok_decode(const Tokenizer *t, const int *ids, size_t n) {
    return tok_decode_ex(t, ids, n, 0, NULL);
}

int tok_special_id(const Tokenizer *t, const char *text) {
    int ns = n_specials(t);
    for (int k = 0; k < ns; k++) {
        const char *st;
        size_t sl;
        int id = special_at(t, k, &st, &sl);
        if (sl == strlen(text) && !memcmp(st, text, sl)) return id;
    }
    return -1;
}

int tok_add_special(Tokenizer *t, const char *text) {
    if (t->kind != TOK_BPE || !text[0]) return -1;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len((const unsigned char *)text + i, n - i);
        if (!l) return -1;
        i += l;
    }
    Bpe *b = t->bpe;
    int id = bpe_key_id(b, text);
    if (id >= 0) {
        bpe_mark_special(b, id);
        return id;
    }
    Err e;
    id = b->n;
    if (bpe_set_token(b, id, text, 1, &e)) die("tok_add_special: %s", e.msg);
    t->vocab_size = b->n;
    return id;
}

int tok_ensure_pad(Tokenizer *t) {
    if (t->pad_id >= 0 && t->pad_id != t->eos_id) return t->pad_id;
    int id = tok_add_special(t, TOK_PAD_TEXT);
    if (id >= 0) t->pad_id = id;
    return t->pad_id;
}

// --- folders ---------------------------------------------------------------------------------

static int save_bytes_config(const Tokenizer *t, const char *dir, Err *e) {
    json_t *j = json_object();
    json_object_set_new(j, "tokenizer_class", json_string("rlhf-bytes"));
    json_object_set_new(j, "rlhf_tokenizer", json_string("bytes"));
    json_object_set_new(j, "vocab_size", json_integer(t->vocab_size));
    json_object_set_new(j, "eos_token_id", json_integer(t->eos_id));
    json_object_set_new(j, "pad_token_id", json_integer(t->pad_id));
    char *path = path_join(dir, "tokenizer_config.json");
    int rc = json_write_file(path, j, e);
    free(path);
    json_decref(j);
    return rc;
}

static json_t *token_or_null(const Bpe *b, int id) {
    return id >= 0 && id < b->n && b->key[id] ? json_string(b->key[id]) : json_null();
}

static int save_bpe(const Tokenizer *t, const char *dir, Err *e) {
    const Bpe *b = t->bpe;
    char *vp = path_join(dir, "vocab.json"), *mp = path_join(dir, "merges.txt");
    int rc = bpe_write_files(b, vp, mp, e);
    free(vp);
    free(mp);
    if (rc) return rc;
    json_t *extra = json_array(), *added = json_object();
    for (int k = 0; k < b->n_specials; k++) {
        int id = b->specials[k];
        if (id != t->eos_id && id != t->pad_id) json_array_append_new(extra, json_string(b->key[id]));
        json_t *a = json_object();
        json_object_set_new(a, "content", json_string(b->key[id]));
        json_object_set_new(a, "lstrip", json_false());
        json_object_set_new(a, "normalized", json_false());
        json_object_set_new(a, "rstrip", json_false());
        json_object_set_new(a, "single_word", json_false());
        json_object_set_new(a, "special", json_true());
        char num[16];
        snprintf(num, sizeof num, "%d", id);
        json_object_set_new(added, num, a);
    }
    json_t *map = json_object();
    json_object_set_new(map, "bos_token", token_or_null(b, t->eos_id));
    json_object_set_new(map, "eos_token", token_or_null(b, t->eos_id));
    json_object_set_new(map, "unk_token", token_or_null(b, t->eos_id));
    json_object_set_new(map, "pad_token", token_or_null(b, t->pad_id));
    if (json_array_size(extra)) json_object_set(map, "additional_special_tokens", extra);
    json_t *j = json_object();
    json_object_set_new(j, "tokenizer_class", json_string("GPT2Tokenizer"));
    json_object_set_new(j, "rlhf_tokenizer", json_string("bpe"));
    json_object_set_new(j, "add_prefix_space", json_false());
    json_object_set_new(j, "add_bos_token", json_false());
    json_object_set_new(j, "errors", json_string("replace"));
    json_object_set_new(j, "clean_up_tokenization_spaces", json_false());
    json_object_update(j, map);
    json_object_set_new(j, "added_tokens_decoder", added);
    json_object_set_new(j, "vocab_size", json_integer(t->vocab_size));
    json_object_set_new(j, "eos_token_id", json_integer(t->eos_id));
    json_object_set_new(j, "pad_token_id", t->pad_id >= 0 ? json_integer(t->pad_id) : json_null());
    char *cp = path_join(dir, "tokenizer_config.json"), *sp = path_join(dir, "special_tokens_map.json");
    rc = json_write_file(cp, j, e);
    if (!rc) rc = json_write_file(sp, map, e);
    free(cp);
    free(sp);
    json_decref(j);
    json_decref(map);
    json_decref(extra);
    return rc;
}

int tok_save(const Tokenizer *t, const char *dir, Err *e) {
    return t->kind == TOK_BPE ? save_bpe(t, dir, e) : save_bytes_config(t, dir, e);
}

static int load_bytes(Tokenizer *t, const json_t *j, const char *path, Err *e) {
    tok_init_bytes(t);
    long eos = t->eos_id, pad = t->pad_id;
    if (json_get_long_opt(j, "eos_token_id", &eos, path, e)) return -1;
    if (json_get_long_opt(j, "pad_token_id", &pad, path, e)) return -1;
    if (eos != t->eos_id || pad != t->pad_id)
        return err_set(e, "%s: byte tokenizer expects eos_token_id 256 and pad_token_id 257", path);
    return 0;
}

// A special-token field: a string, {"content": string}, or null / absent (*out = NULL).
static int token_field(const json_t *v, const char *what, const char *path, const char **out, Err *e) {
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v))
        return err_set(e, "%s: field \"%s\": expected a token string or {\"content\": string}", path, what);
    *out = json_string_value(v);
    return 0;
}

// The id of a named special token, adding it at the vocabulary's end when absent (as HF does).
static int special_by_name(Bpe *b, const char *name, const char *path, Err *e) {
    int id = bpe_key_id(b, name);
    if (id >= 0) {
        bpe_mark_special(b, id);
        return id;
    }
    Err e2;
    if (bpe_set_token(b, b->n, name, 1, &e2)) return err_set(e, "%s: %s", path, e2.msg);
    return b->n - 1;
}

// Applies the special tokens of tokenizer_config.json or special_tokens_map.json.
static int apply_specials(Bpe *b, const json_t *j, const char *path, const char **eos,
                          const char **pad, Err *e) {
    if (!json_is_object(j)) return err_set(e, "%s: expected a JSON object", path);
    const json_t *added = json_object_get(j, "added_tokens_decoder");
    if (added) {
        if (!json_is_object(added))
            return err_set(e, "%s: field \"added_tokens_decoder\": expected an object", path);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)added, k, v) {
            char *end;
            long id = strtol(k, &end, 10);
            const char *content;
            if (*end || end == k || id < 0 || id >= (1 << 24))
                return err_set(e, "%s: added_tokens_decoder: \"%s\" is not a token id", path, k);
            if (token_field(v, "added_tokens_decoder", path, &content, e)) return -1;
            if (!content) return err_set(e, "%s: added_tokens_decoder[\"%s\"]: no content", path, k);
            if (id < b->n && b->key[id]) {
                if (strcmp(b->key[id], content))
                    return err_set(e, "%s: added_tokens_decoder: id %ld is \"%s\" but the vocabulary "
                                      "has \"%s\"", path, id, content, b->key[id]);
                bpe_mark_special(b, (int)id);
            } else {
                Err e2;
                if (bpe_set_token(b, (int)id, content, 1, &e2)) return err_set(e, "%s: %s", path, e2.msg);
            }
        }
    }
    static const char *const names[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    for (int k = 0; k < 4; k++) {
        const json_t *v = json_object_get(j, names[k]);
        const char *s;
        if (token_field(v, names[k], path, &s, e)) return -1;
        if (k == 3 && v) *pad = s;
        if (!s) continue;
        if (k == 1) *eos = s;
        if (special_by_name(b, s, path, e) < 0) return -1;
    }
    const json_t *extra = json_object_get(j, "additional_special_tokens");
    if (extra && !json_is_null(extra)) {
        if (!json_is_array(extra))
            return err_set(e, "%s: field \"additional_special_tokens\": expected an array", path);
        size_t i;
        json_t *v;
        json_array_foreach(extra, i, v) {
            const char *s;
            if (token_field(v, "additional_special_tokens", path, &s, e)) return -1;
            if (s && special_by_name(b, s, path, e) < 0) return -1;
        }
    }
    return 0;
}

static int load_bpe(Tokenizer *t, const char *dir, const char *vp, const char *mp, json_t *cfg,
                    const char *cfg_path, Err *e) {
    Bpe *b = bpe_read_files(vp, mp, e);
    if (!b) return -1;
    t->kind = TOK_BPE;
    t->bpe = b;
    const char *eos = NULL, *pad = NULL;
    int rc = -1;
    char *mapp = path_join(dir, "special_tokens_map.json");
    json_t *map = NULL;
    if (cfg && apply_specials(b, cfg, cfg_path, &eos, &pad, e)) goto out;
    if (path_exists(mapp)) {
        map = json_read_file(mapp, e);
        if (!map || apply_specials(b, map, mapp, &eos, &pad, e)) goto out;
    }
    if (!eos) eos = TOK_EOS_TEXT;
    t->eos_id = bpe_key_id(b, eos);
    if (t->eos_id < 0) {
        err_set(e, "%s: no end-of-text token: the vocabulary has no \"%s\" and no eos_token is named",
                vp, eos);
        goto out;
    }
    bpe_mark_special(b, t->eos_id);
    t->pad_id = pad ? bpe_key_id(b, pad) : -1;
    t->vocab_size = b->n;
    rc = 0;
out:
    json_decref(map);
    free(mapp);
    return rc;
}

int tok_load(Tokenizer *t, const char *dir, Err *e) {
    memset(t, 0, sizeof *t);
    char *cfg_path = path_join(dir, "tokenizer_config.json");
    char *vp = path_join(dir, "vocab.json"), *mp = path_join(dir, "merges.txt");
    json_t *cfg = NULL;
    int rc = -1;
    if (!path_exists(vp) || !path_exists(mp)) {
        char *v2 = path_join(dir, "encoder.json"), *m2 = path_join(dir, "vocab.bpe");
        if (path_exists(v2) && path_exists(m2)) {
            free(vp); free(mp);
            vp = v2; mp = m2;
        } else {
            free(v2); free(m2);
            free(vp); free(mp);
            vp = mp = NULL;
        }
    }
    const char *kind = NULL;
    if (path_exists(cfg_path)) {
        cfg = json_read_file(cfg_path, e);
        if (!cfg) goto out;
        if (!json_is_object(cfg)) { err_set(e, "%s: expected a JSON object", cfg_path); goto out; }
        if (json_get_string_opt(cfg, "rlhf_tokenizer", &kind, cfg_path, e)) goto out;
        if (kind && strcmp(kind, "bytes") && strcmp(kind, "bpe")) {
            err_set(e, "%s: field \"rlhf_tokenizer\": unknown tokenizer \"%s\" (expected \"bytes\" "
                       "or \"bpe\")", cfg_path, kind);
            goto out;
        }
    }
    if (kind && !strcmp(kind, "bytes")) {
        rc = load_bytes(t, cfg, cfg_path, e);
    } else if (vp) {
        rc = load_bpe(t, dir, vp, mp, cfg, cfg_path, e);
    } else if (!cfg) {
        err_set(e, "%s: not found, and the folder has no vocab.json + merges.txt (or encoder.json "
                   "+ vocab.bpe): no tokenizer files", cfg_path);
    } else {
        err_set(e, "%s: %s needs vocab.json + merges.txt (or encoder.json + vocab.bpe) in the "
                   "same folder", dir, kind ? "\"rlhf_tokenizer\": \"bpe\"" : "a GPT-2 tokenizer");
    }
out:
    if (rc) tok_free(t);
    json_decref(cfg);
    free(cfg_path);
    free(vp);
    free(mp);
    return rc;
}

// --- training --------------------------------------------------------------------------------

TokTrainer *tok_trainer_new(void) { return bpe_trainer_new(); }

void tok_trainer_add(TokTrainer *tr, const char *text, size_t n) { bpe_trainer_add(tr, text, n); }

void tok_trainer_free(TokTrainer *tr) { bpe_trainer_free(tr); }

int tok_trainer_finish(TokTrainer *tr, int vocab_size, Tokenizer *t, Err *e) {
    static const char *const sp[] = {TOK_EOS_TEXT, TOK_PAD_TEXT, TOK_SYSTEM_TEXT, TOK_USER_TEXT,
                                     TOK_ASSISTANT_TEXT};
    memset(t, 0, sizeof *t);
    Bpe *b = bpe_trainer_finish(tr, vocab_size, sp, 5, e);
    if (!b) return -1;
    t->kind = TOK_BPE;
    t->bpe = b;
    t->vocab_size = b->n;
    t->eos_id = bpe_key_id(b, TOK_EOS_TEXT);
    t->pad_id = bpe_key_id(b, TOK_PAD_TEXT);
    return 0;
}
