// tests/test_llmc.c — the llm.c formats: model .bin write→read round trips (version 3 bit-exact,
// version 5 within bf16 rounding), HF → .bin → HF, a .bin built by hand from the published layout
// (so the transpose and the stacking order are checked independently of our writer), many corrupt
// or lying headers (each a clear error naming the file, refused before any allocation), the
// tokenizer .bin (decode + corrupt files) and token shards (direct and through textdata_load).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data/textdata.h"
#include "io/checkpoint.h"
#include "io/llmc.h"
#include "io/model_io.h"
#include "io/safetensors.h"
#include "util/fileio.h"

static char *g_dir;
static char *tpath(const char *name) { return path_join(g_dir, name); }

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(p, 1, n, fp) != n)) {
        perror(path);
        exit(1);
    }
    fclose(fp);
}

static unsigned char *slurp(const char *path, size_t *n) {
    char *d;
    Err e;
    if (read_file(path, &d, n, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    return (unsigned char *)d;
}

static GPTConfig small_config(void) {
    GPTConfig c = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 24, .vocab_size = 260};
    return c;
}

static GPT *rand_model(int trainable, unsigned long long seed) {
    GPTConfig c = small_config();
    GPT *m = gpt_create(&c, trainable);
    fill_uniform(m->params, m->n_params, seed, 1.0f);
    return m;
}

static int same_config(const GPTConfig *a, const GPTConfig *b) {
    return a->n_layer == b->n_layer && a->n_head == b->n_head && a->n_embd == b->n_embd &&
           a->n_ctx == b->n_ctx && a->vocab_size == b->vocab_size && a->score_head == b->score_head;
}

// The call must fail with a message containing path and every non-NULL fragment.
static void expect_msg(int line, int failed, const Err *e, const char *path, const char *f1,
                       const char *f2) {
    CHECK(failed, "line %d: should fail", line);
    if (!failed) return;
    if (getenv("RLHF_TEST_VERBOSE")) fprintf(stderr, "line %d: %s\n", line, e->msg);
    const char *fr[3] = {path, f1, f2};
    for (int i = 0; i < 3; i++)
        if (fr[i]) CHECK(strstr(e->msg, fr[i]) != NULL, "line %d: message lacks \"%s\": %s", line, fr[i], e->msg);
}

static void expect_model_fail(int line, const char *path, const char *f1, const char *f2) {
    Err e;
    memset(&e, 0, sizeof e);
    GPT *m = llmc_load_model(path, 0, &e);
    expect_msg(line, m == NULL, &e, path, f1, f2);
    if (m) gpt_free(m);
    LlmcModelHeader h;
    CHECK(llmc_read_header(path, &h, &e) != 0, "line %d: header accepted", line);
}
#define EXPECT_MODEL_FAIL(p, a, b) expect_model_fail(__LINE__, p, a, b)

// ---------------------------------------------------------------------------------------------

static void test_roundtrip(void) {
    Err e;
    GPT *m = rand_model(0, 7);
    size_t Vp = 384, C = 16, stored = m->n_params + (Vp - 260) * C;
    // version 3: bit-exact, exact size, header fields, zero padding rows
    char *p3 = tpath("m3.bin");
    CHECK(llmc_save_model(m, p3, 0, &e) == 0, "save v3: %s", e.msg);
    size_t n;
    unsigned char *raw = slurp(p3, &n);
    CHECK(n == 1024 + 4 * stored, "v3 file is %zu bytes, want %zu", n, 1024 + 4 * stored);
    int32_t hdr[256];
    memcpy(hdr, raw, sizeof hdr);
    CHECK(hdr[0] == 20240326 && hdr[1] == 3 && hdr[2] == 24 && hdr[3] == 260 && hdr[4] == 2 &&
              hdr[5] == 2 && hdr[6] == 16 && hdr[7] == 384,
          "v3 header %d %d %d %d %d %d %d %d", hdr[0], hdr[1], hdr[2], hdr[3], hdr[4], hdr[5],
          hdr[6], hdr[7]);
    int rest = 0;
    for (int i = 8; i < 256; i++) rest |= hdr[i];
    CHECK(rest == 0, "header words 8..255 are zero");
    {
        const float *pad = (const float *)(raw + 1024) + 260 * C;
        int nz = 0;
        for (size_t i = 0; i < (Vp - 260) * C; i++) nz += pad[i] != 0.0f;
        CHECK(nz == 0, "%d non-zero values in the padding rows", nz);
    }
    free(raw);
    LlmcModelHeader h;
    CHECK(llmc_read_header(p3, &h, &e) == 0 && h.n_params == stored && h.Vp == 384 &&
              h.elem_size == 4,
          "read_header: %s", e.msg);
    GPT *m2 = llmc_load_model(p3, 0, &e);
    CHECK(m2 != NULL, "load v3: %s", e.msg);
    if (m2) {
        CHECK(same_config(&m2->cfg, &m->cfg), "v3 config");
        check_bitwise("v3 params", m2->params, m->params, m->n_params);
        gpt_free(m2);
    }
    m2 = llmc_load_model(p3, 1, &e);
    CHECK(m2 && m2->trainable && m2->grads && m2->adam_m, "trainable load: %s", m2 ? "" : e.msg);
    if (m2) {
        check_bitwise("v3 params (trainable)", m2->params, m->params, m->n_params);
        int nz = 0;
        for (size_t i = 0; i < m2->n_params; i++) nz += m2->grads[i] != 0 || m2->adam_m[i] != 0;
        CHECK(nz == 0, "grads and moments start at zero");
        gpt_free(m2);
    }

    // version 5: half the bytes, each value the round-to-nearest-even bf16 of the original
    char *p5 = tpath("m5.bin");
    CHECK(llmc_save_model(m, p5, 1, &e) == 0, "save v5: %s", e.msg);
    raw = slurp(p5, &n);
    memcpy(hdr, raw, sizeof hdr);
    CHECK(n == 1024 + 2 * stored && hdr[1] == 5, "v5 file %zu bytes, version %d", n, hdr[1]);
    free(raw);
    m2 = llmc_load_model(p5, 0, &e);
    CHECK(m2 != NULL, "load v5: %s", e.msg);
    if (m2) {
        float *want = xmalloc(m->n_params * sizeof(float));
        double worst = 0;
        for (size_t i = 0; i < m->n_params; i++) {
            want[i] = st_bf16_to_f32(st_bf16_from_f32(m->params[i]));
            double r = fabs((double)m2->params[i] - m->params[i]) / fmax(fabs(m->params[i]), 1e-30);
            if (r > worst) worst = r;
        }
        check_bitwise("v5 params = bf16(original)", m2->params, want, m->n_params);
        CHECK(worst <= 1.0 / 256, "bf16 relative error %g > 2^-8", worst);
        free(want);
        gpt_free(m2);
    }
    // the rounding itself: ties to even, and a carry into the exponent
    {
        float a, b, c;
        uint32_t ua = 0x3F808000u, ub = 0x3F818000u, uc = 0x3FFFFFFFu;  // tie→even down, tie→up, carry
        memcpy(&a, &ua, 4); memcpy(&b, &ub, 4); memcpy(&c, &uc, 4);
        CHECK(st_bf16_from_f32(a) == 0x3F80 && st_bf16_from_f32(b) == 0x3F82 &&
                  st_bf16_from_f32(c) == 0x4000,
              "bf16 RNE: %04x %04x %04x", st_bf16_from_f32(a), st_bf16_from_f32(b), st_bf16_from_f32(c));
    }

    // a model with a scalar head has no llm.c form
    GPTConfig ch = small_config();
    ch.score_head = 1;
    GPT *mh = gpt_create(&ch, 0);
    char *ph = tpath("head.bin");
    CHECK(llmc_save_model(mh, ph, 0, &e) != 0 && strstr(e.msg, "score") && !path_exists(ph),
          "score head refused: %s", e.msg);
    gpt_free(mh);
    free(ph);

    // HF folder → .bin → HF folder: the same parameters, through model_load / model_save
    char *d1 = tpath("hf1"), *b1 = tpath("via.bin"), *d2 = tpath("hf2");
    CHECK(ckpt_save_model(m, NULL, d1, NULL, &e) == 0, "%s", e.msg);
    GPT *a = model_load(d1, 0, &e);
    CHECK(a && model_save(a, NULL, b1, NULL, 0, &e) == 0, "HF → bin: %s", e.msg);
    GPT *b = model_load(b1, 0, &e);
    CHECK(b && model_save(b, NULL, d2, NULL, 0, &e) == 0, "bin → HF: %s", e.msg);
    GPT *c = model_load(d2, 0, &e);
    CHECK(c != NULL, "load HF copy: %s", e.msg);
    if (c) {
        CHECK(same_config(&c->cfg, &m->cfg), "HF → bin → HF config");
        check_bitwise("HF → bin → HF params", c->params, m->params, m->n_params);
    }
    gpt_free(a); gpt_free(b); gpt_free(c);
    free(d1); free(b1); free(d2);
    gpt_free(m);
    free(p3);
    free(p5);
}

// ---------------------------------------------------------------------------------------------
// A .bin written from the published layout alone: maxT 3, V 5, Vp 8, L 2, NH 2, C 4. Element k of
// the data area holds the value k (pad rows: -1 or 0), so every value names its file position.

enum { RT = 3, RV = 5, RVP = 8, RL = 2, RNH = 2, RC = 4 };

static size_t ref_file(const char *path, int version, int vp, float pad) {
    int32_t hdr[256] = {20240326, version, RT, RV, RL, RNH, RC, vp};
    size_t total = (size_t)vp * RC + RT * RC + RL * (12 * RC * RC + 13 * RC) + 2 * RC;
    float *x = xmalloc(total * sizeof(float));
    for (size_t k = 0; k < total; k++) x[k] = (float)k;
    for (size_t k = RV * RC; k < (size_t)vp * RC; k++) x[k] = pad;
    size_t es = version == 3 ? 4 : 2;
    unsigned char *buf = xcalloc(1024 + es * total, 1);
    memcpy(buf, hdr, sizeof hdr);
    for (size_t k = 0; k < total; k++) {
        if (es == 4) memcpy(buf + 1024 + 4 * k, &x[k], 4);
        else {
            uint16_t h = st_bf16_from_f32(x[k]);
            memcpy(buf + 1024 + 2 * k, &h, 2);
        }
    }
    write_bytes(path, buf, 1024 + es * total);
    free(buf);
    free(x);
    return total;
}

// value at file element k for this version
static float refv(size_t k, int version) {
    return version == 3 ? (float)k : st_bf16_to_f32(st_bf16_from_f32((float)k));
}

static void test_reference_layout(void) {
    Err e;
    for (int version = 3; version <= 5; version += 2) {
        char *p = tpath(version == 3 ? "ref3.bin" : "ref5.bin");
        ref_file(p, version, RVP, -1.0f);
        GPT *m = llmc_load_model(p, 0, &e);
        CHECK(m != NULL, "reference v%d: %s", version, e.msg);
        if (!m) { free(p); continue; }
        CHECK(m->cfg.n_ctx == RT && m->cfg.vocab_size == RV && m->cfg.n_layer == RL &&
                  m->cfg.n_head == RNH && m->cfg.n_embd == RC,
              "reference config");
        const size_t C = RC;
        size_t base = 0, bad = 0, checked = 0;
#define EXPECT_AT(ptr, idx, k)                                                          \
    do {                                                                                \
        checked++;                                                                      \
        if ((ptr)[idx] != refv(k, version)) {                                           \
            if (bad++ < 5)                                                              \
                fprintf(stderr, "v%d %s[%zu] = %g, want file element %zu\n", version, #ptr, \
                        (size_t)(idx), (double)(ptr)[idx], (size_t)(k));                \
        }                                                                               \
    } while (0)
        // wte [Vp, C]: rows < V, same layout
        for (size_t r = 0; r < RV; r++)
            for (size_t c = 0; c < C; c++) EXPECT_AT(m->w.wte, r * C + c, base + r * C + c);
        base += RVP * C;
        for (size_t t = 0; t < RT; t++)
            for (size_t c = 0; c < C; c++) EXPECT_AT(m->w.wpe, t * C + c, base + t * C + c);
        base += RT * C;
        // per-layer vectors [L, n] and weights [L, out, in] → ours [in, out]
#define VEC(field, n)                                                                    \
    for (size_t l = 0; l < RL; l++)                                                      \
        for (size_t i = 0; i < (n); i++) EXPECT_AT(m->w.h[l].field, i, base + l * (n) + i); \
    base += RL * (n);
#define MAT(field, out, in)                                                              \
    for (size_t l = 0; l < RL; l++)                                                      \
        for (size_t o = 0; o < (out); o++)                                               \
            for (size_t i = 0; i < (in); i++)                                            \
                EXPECT_AT(m->w.h[l].field, i * (out) + o, base + l * (out) * (in) + o * (in) + i); \
    base += RL * (out) * (in);
        VEC(ln1w, C) VEC(ln1b, C)
        MAT(qkvw, 3 * C, C) VEC(qkvb, 3 * C)
        MAT(attprojw, C, C) VEC(attprojb, C)
        VEC(ln2w, C) VEC(ln2b, C)
        MAT(fcw, 4 * C, C) VEC(fcb, 4 * C)
        MAT(fcprojw, C, 4 * C) VEC(fcprojb, C)
        for (size_t c = 0; c < C; c++) EXPECT_AT(m->w.lnfw, c, base + c);
        base += C;
        for (size_t c = 0; c < C; c++) EXPECT_AT(m->w.lnfb, c, base + c);
        base += C;
#undef VEC
#undef MAT
#undef EXPECT_AT
        CHECK(bad == 0, "reference v%d: %zu of %zu values misplaced", version, bad, checked);
        CHECK(checked == m->n_params, "reference: checked %zu values, model has %zu", checked, m->n_params);
        gpt_free(m);

        // our writer reproduces the reference file byte for byte (padding rows written as zero,
        // V rounded up to a multiple of 128 as llm.c does)
        char *pz = tpath("ref_zero.bin"), *pw = tpath("ref_written.bin");
        ref_file(pz, version, 128, 0.0f);
        m = llmc_load_model(pz, 0, &e);
        CHECK(m && llmc_save_model(m, pw, version == 5, &e) == 0, "rewrite: %s", e.msg);
        size_t na, nb;
        unsigned char *a = slurp(pz, &na), *b = slurp(pw, &nb);
        CHECK(na == nb && memcmp(a, b, na) == 0, "v%d: written file differs from the reference", version);
        free(a); free(b);
        gpt_free(m);
        free(pz); free(pw);
        free(p);
    }
}

// ---------------------------------------------------------------------------------------------

// Writes a model file: header words (others zero) + nbody bytes of 0x11.
static void craft_model(const char *path, const int32_t *words, int nwords, size_t nbody) {
    unsigned char *buf = xmalloc(1024 + nbody);
    memset(buf, 0, 1024);
    memcpy(buf, words, (size_t)nwords * 4);
    memset(buf + 1024, 0x11, nbody);
    write_bytes(path, buf, 1024 + nbody);
    free(buf);
}

static void test_corrupt_model(void) {
    Err e;
    char *p = tpath("bad.bin");
    // the small valid geometry: 540 params
    const size_t np = 540;
    int32_t good[8] = {20240326, 3, RT, RV, RL, RNH, RC, RVP};
    craft_model(p, good, 8, 4 * np);
    GPT *m = llmc_load_model(p, 0, &e);
    CHECK(m != NULL, "crafted valid file loads: %s", e.msg);
    gpt_free(m);

    int32_t w[8];
#define WITH(i, v) (memcpy(w, good, sizeof w), w[i] = (v), w)
    craft_model(p, WITH(0, 0x12345678), 8, 4 * np);
    EXPECT_MODEL_FAIL(p, "magic", "20240326");
    craft_model(p, WITH(0, 20240328), 8, 4 * np);
    EXPECT_MODEL_FAIL(p, "tokenizer", NULL);
    craft_model(p, WITH(0, 20240520), 8, 4 * np);
    EXPECT_MODEL_FAIL(p, "token shard", NULL);
    craft_model(p, WITH(1, 4), 8, 4 * np);
    EXPECT_MODEL_FAIL(p, "version 4", "5 = bf16");
    craft_model(p, WITH(1, 1), 8, 4 * np);
    EXPECT_MODEL_FAIL(p, "version 1", NULL);
    // sizes: truncated by one byte, one byte too many, header only, a v3 body read as v5
    craft_model(p, good, 8, 4 * np - 1);
    EXPECT_MODEL_FAIL(p, "truncated", "3184 bytes expected");
    craft_model(p, good, 8, 4 * np + 1);
    EXPECT_MODEL_FAIL(p, "1 unexpected trailing bytes", "3184");
    craft_model(p, good, 8, 0);
    EXPECT_MODEL_FAIL(p, "truncated", NULL);
    craft_model(p, WITH(1, 5), 8, 4 * np);
    EXPECT_MODEL_FAIL(p, "trailing", "2104 bytes expected");
    {
        unsigned char shortf[100] = {0};
        memcpy(shortf, good, sizeof good);
        write_bytes(p, shortf, sizeof shortf);
    }
    EXPECT_MODEL_FAIL(p, "shorter than the 1024-byte header", NULL);
    write_bytes(p, "", 0);
    EXPECT_MODEL_FAIL(p, "0 bytes", NULL);
    // invalid and lying sizes: refused from the header, before anything is allocated
    craft_model(p, WITH(6, 6), 8, 4 * np);  // C 6, NH 2 fine, but the size is wrong
    EXPECT_MODEL_FAIL(p, "bytes expected", NULL);
    craft_model(p, WITH(5, 3), 8, 4 * np);  // C 4 not divisible by NH 3
    EXPECT_MODEL_FAIL(p, "divisible", NULL);
    craft_model(p, WITH(5, 0), 8, 4 * np);
    EXPECT_MODEL_FAIL(p, "positive", NULL);
    craft_model(p, WITH(4, -2), 8, 4 * np);
    EXPECT_MODEL_FAIL(p, "positive", NULL);
    craft_model(p, WITH(2, 0), 8, 4 * np);
    EXPECT_MODEL_FAIL(p, "positive", NULL);
    craft_model(p, WITH(7, RV - 1), 8, 4 * np);  // Vp < V
    EXPECT_MODEL_FAIL(p, "Vp 4", "at least V 5");
    craft_model(p, WITH(7, 0x7fffffff), 8, 4 * np);
    EXPECT_MODEL_FAIL(p, "Vp", NULL);
    craft_model(p, WITH(4, 0x7fffffff), 8, 4 * np);  // L = 2^31 - 1
    EXPECT_MODEL_FAIL(p, "implausible", NULL);
    craft_model(p, WITH(6, 0x7ffffff0), 8, 4 * np);  // C huge
    EXPECT_MODEL_FAIL(p, "implausible", NULL);
    // the largest plausible sizes: terabytes announced, a few bytes present → truncated, no
    // allocation (an allocation of that size would abort the test)
    {
        int32_t big[8] = {20240326, 3, 1 << 20, 1 << 24, 1000, 1, 65536, 1 << 24};
        craft_model(p, big, 8, 64);
        EXPECT_MODEL_FAIL(p, "truncated", "describes");
        big[1] = 5;
        craft_model(p, big, 8, 64);
        EXPECT_MODEL_FAIL(p, "truncated", NULL);
    }
#undef WITH
    // not a file / not there
    char *nd = tpath("nothing.bin");
    EXPECT_MODEL_FAIL(nd, "cannot open", NULL);
    free(nd);
    EXPECT_MODEL_FAIL(g_dir, "not a regular file", NULL);
    free(p);
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

static size_t put_tok(unsigned char *buf, size_t k, const char *s, size_t n) {
    buf[k++] = (unsigned char)n;
    memcpy(buf + k, s, n);
    return k + n;
}

static void expect_tok_fail(int line, const char *path, const char *f1, const char *f2) {
    Err e;
    memset(&e, 0, sizeof e);
    LlmcTokenizer t;
    int rc = llmc_tok_load(&t, path, &e);
    expect_msg(line, rc != 0, &e, path, f1, f2);
    if (!rc) llmc_tok_free(&t);
}
#define EXPECT_TOK_FAIL(p, a, b) expect_tok_fail(__LINE__, p, a, b)

static void test_tokenizer(void) {
    Err e;
    char *p = tpath("tok.bin");
    unsigned char buf[4096];
    uint32_t hdr[256] = {20240328, 2, 4, 3};
    memcpy(buf, hdr, 1024);
    size_t k = 1024;
    k = put_tok(buf, k, "a", 1);
    k = put_tok(buf, k, " bc", 3);
    k = put_tok(buf, k, "\xe2\x82", 2);  // a partial UTF-8 sequence
    k = put_tok(buf, k, "<|endoftext|>", 13);
    write_bytes(p, buf, k);
    LlmcTokenizer t;
    CHECK(llmc_tok_load(&t, p, &e) == 0, "tokenizer: %s", e.msg);
    if (t.n) {
        CHECK(t.n == 4 && t.eot == 3, "n %d eot %d", t.n, t.eot);
        int ids[] = {3, 0, 1, 2, 0};
        size_t n;
        char *s = llmc_tok_decode(&t, ids, 5, &n);
        const char want[] = "<|endoftext|>a bc\xe2\x82" "a";
        CHECK(n == sizeof want - 1 && memcmp(s, want, n) == 0 && s[n] == 0, "decode: \"%s\" (%zu)", s, n);
        free(s);
        int bad[] = {1, 4, -1};
        s = llmc_tok_decode(&t, bad, 3, &n);
        CHECK(n == 3 + 6 && !memcmp(s, " bc\xef\xbf\xbd\xef\xbf\xbd", 9), "invalid ids → U+FFFD: %s", s);
        free(s);
        s = llmc_tok_decode(&t, NULL, 0, &n);
        CHECK(n == 0 && s[0] == 0, "empty decode");
        free(s);
        llmc_tok_free(&t);
    }
    // a long token (255 bytes) at the end
    {
        unsigned char b2[2048];
        uint32_t h2[256] = {20240328, 2, 2, 0};
        memcpy(b2, h2, 1024);
        char longtok[255];
        memset(longtok, 'x', sizeof longtok);
        size_t q = put_tok(b2, 1024, "e", 1);
        q = put_tok(b2, q, longtok, 255);
        write_bytes(p, b2, q);
        CHECK(llmc_tok_load(&t, p, &e) == 0 && t.off[2] - t.off[1] == 255, "255-byte token: %s", e.msg);
        if (t.n) llmc_tok_free(&t);
    }
    // corrupt files
    unsigned char c[4096];
#define CRAFT(h0, h1, h2, h3, body, nbody)                                  \
    do {                                                                    \
        uint32_t hh[256] = {h0, h1, h2, h3};                                \
        memcpy(c, hh, 1024);                                                \
        memcpy(c + 1024, body, nbody);                                      \
        write_bytes(p, c, 1024 + (nbody));                                  \
    } while (0)
    const unsigned char ok4[] = "\x01" "a" "\x03" " bc" "\x02" "de" "\x01" "z";
    CRAFT(20240328, 2, 4, 3, ok4, sizeof ok4 - 1);
    CHECK(llmc_tok_load(&t, p, &e) == 0, "crafted tokenizer: %s", e.msg);
    if (t.n) llmc_tok_free(&t);
    CRAFT(20240326, 2, 4, 3, ok4, sizeof ok4 - 1);
    EXPECT_TOK_FAIL(p, "model checkpoint", NULL);
    CRAFT(1, 2, 4, 3, ok4, sizeof ok4 - 1);
    EXPECT_TOK_FAIL(p, "magic", "20240328");
    CRAFT(20240328, 1, 4, 3, ok4, sizeof ok4 - 1);
    EXPECT_TOK_FAIL(p, "version 1", NULL);
    CRAFT(20240328, 2, 0, 0, ok4, 0);
    EXPECT_TOK_FAIL(p, "0 tokens", NULL);
    CRAFT(20240328, 2, 4, 4, ok4, sizeof ok4 - 1);
    EXPECT_TOK_FAIL(p, "end-of-text id 4", NULL);
    CRAFT(20240328, 2, 0xffffffffu, 3, ok4, sizeof ok4 - 1);
    EXPECT_TOK_FAIL(p, "4294967295 tokens", NULL);
    CRAFT(20240328, 2, 1u << 24, 3, ok4, sizeof ok4 - 1);  // many tokens announced, few bytes
    EXPECT_TOK_FAIL(p, "too short", NULL);
    CRAFT(20240328, 2, 4, 3, ok4, sizeof ok4 - 2);  // the last token's byte missing
    EXPECT_TOK_FAIL(p, "truncated", "token 3");
    CRAFT(20240328, 2, 4, 3, "\x01" "a" "\x00" "\x02" "de" "\x01" "z", 8);
    EXPECT_TOK_FAIL(p, "token 1 has length 0", NULL);
    CRAFT(20240328, 2, 4, 3, "\x01" "a" "\xff" "bc" "\x02" "de" "\x01" "z", 9);
    EXPECT_TOK_FAIL(p, "token 1 needs 255 bytes", NULL);
    CRAFT(20240328, 2, 4, 3, "\x01" "a" "\x03" " bc" "\x02" "de" "\x01" "zQQ", 13);
    EXPECT_TOK_FAIL(p, "2 unexpected trailing bytes", NULL);
    write_bytes(p, hdr, 512);
    EXPECT_TOK_FAIL(p, "shorter than", NULL);
#undef CRAFT
    char *nd = tpath("no_tok.bin");
    EXPECT_TOK_FAIL(nd, "cannot open", NULL);
    free(nd);
    free(p);
}

// ---------------------------------------------------------------------------------------------
// Token shards

static void write_shard(const char *path, int32_t magic, int32_t version, int32_t ntok,
                        const uint16_t *ids, size_t nids) {
    unsigned char *buf = xcalloc(1024 + 2 * nids + 1, 1);
    int32_t hdr[3] = {magic, version, ntok};
    memcpy(buf, hdr, sizeof hdr);
    if (nids) memcpy(buf + 1024, ids, 2 * nids);
    write_bytes(path, buf, 1024 + 2 * nids);
    free(buf);
}

static void expect_shard_fail(int line, const char *path, int vocab, const char *f1, const char *f2) {
    Err e;
    memset(&e, 0, sizeof e);
    int *ids = (int *)1;
    size_t n = 7;
    int rc = llmc_shard_load(path, vocab, &ids, &n, &e);
    expect_msg(line, rc != 0, &e, path, f1, f2);
    CHECK(rc == 0 || (ids == NULL && n == 0), "line %d: outputs cleared on failure", line);
    if (!rc) free(ids);
}
#define EXPECT_SHARD_FAIL(p, v, a, b) expect_shard_fail(__LINE__, p, v, a, b)

static void test_shards(void) {
    Err e;
    char *p = tpath("shard.bin");
    const uint16_t ids[] = {256, 104, 105, 256, 65535, 0, 7};
    write_shard(p, 20240520, 1, 7, ids, 7);
    int *got;
    size_t n;
    int rc = llmc_shard_load(p, 0, &got, &n, &e);
    CHECK(rc == 0 && n == 7, "shard: %s", rc ? e.msg : "");
    if (rc == 0) {
        int same = 1;
        for (size_t i = 0; i < 7; i++) same &= got[i] == ids[i];
        CHECK(same, "shard ids (u16, up to 65535)");
        free(got);
    }
    EXPECT_SHARD_FAIL(p, 50257, "token 4 is id 65535", "50257");
    // through textdata_load (the pretraining reader), with the byte tokenizer
    Tokenizer tok;
    tok_init_bytes(&tok);
    const uint16_t small[] = {256, 104, 105, 256, 120, 121, 122, 10};
    write_shard(p, 20240520, 1, 8, small, 8);
    TokenStream s;
    CHECK(textdata_load(p, &tok, &s, &e) == 0, "textdata_load shard: %s", e.msg);
    if (s.tokens) {
        CHECK(s.n == 8 && s.n_docs == 2 && s.tokens[0] == 256 && s.tokens[7] == 10,
              "shard stream n %zu docs %zu", s.n, s.n_docs);
        textdata_free(&s);
    }
    // named otherwise, found by its magic
    char *p2 = tpath("shard.tokens");
    write_shard(p2, 20240520, 1, 8, small, 8);
    CHECK(textdata_load(p2, &tok, &s, &e) == 0 && s.n == 8, "shard by magic: %s", e.msg);
    textdata_free(&s);
    free(p2);
    // a shard of GPT-2 ids is refused by the byte tokenizer, naming the id
    write_shard(p, 20240520, 1, 7, ids, 7);
    CHECK(textdata_load(p, &tok, &s, &e) != 0 && strstr(e.msg, "65535") && strstr(e.msg, p),
          "out-of-vocabulary shard: %s", e.msg);
    // a .bin that is a model checkpoint
    {
        GPT *m = rand_model(0, 1);
        char *mp = tpath("model_not_shard.bin");
        CHECK(llmc_save_model(m, mp, 0, &e) == 0, "%s", e.msg);
        CHECK(textdata_load(mp, &tok, &s, &e) != 0 && strstr(e.msg, "model checkpoint"),
              "model given as data: %s", e.msg);
        gpt_free(m);
        free(mp);
    }
    // corrupt shards
    write_shard(p, 20240326, 1, 7, ids, 7);
    EXPECT_SHARD_FAIL(p, 0, "model checkpoint", NULL);
    write_shard(p, 42, 1, 7, ids, 7);
    EXPECT_SHARD_FAIL(p, 0, "magic", "20240520");
    write_shard(p, 20240520, 2, 7, ids, 7);
    EXPECT_SHARD_FAIL(p, 0, "version 2", NULL);
    write_shard(p, 20240520, 1, 0, ids, 0);
    EXPECT_SHARD_FAIL(p, 0, "token count 0", NULL);
    write_shard(p, 20240520, 1, -5, ids, 7);
    EXPECT_SHARD_FAIL(p, 0, "token count -5", NULL);
    write_shard(p, 20240520, 1, 8, ids, 7);
    EXPECT_SHARD_FAIL(p, 0, "truncated", "1040 bytes expected");
    write_shard(p, 20240520, 1, 6, ids, 7);
    EXPECT_SHARD_FAIL(p, 0, "trailing", "1036 bytes expected");
    write_shard(p, 20240520, 1, 0x7fffffff, ids, 7);  // 4 GiB announced
    EXPECT_SHARD_FAIL(p, 0, "truncated", NULL);
    write_bytes(p, ids, 10);
    EXPECT_SHARD_FAIL(p, 0, "shorter than", NULL);
    CHECK(textdata_load(p, &tok, &s, &e) != 0 && strstr(e.msg, p), "textdata_load of a short .bin: %s", e.msg);
    free(p);
}

int main(void) {
    const char *base = getenv("RLHF_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/llmc.XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        return 1;
    }
    g_dir = xstrdup(d);
    test_roundtrip();
    test_reference_layout();
    test_corrupt_model();
    test_tokenizer();
    test_shards();
    Err e;
    CHECK(remove_tree(g_dir, &e) == 0, "cleanup: %s", e.msg);
    free(g_dir);
    return check_summary("test_llmc");
}
