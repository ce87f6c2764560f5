// tests/test_safetensors.c — safetensors write→read round trips (F32 bit-exact, BF16
// round-to-nearest-even), F16/BF16 reading, misaligned data, and many corrupt files, each of
// which must give a clear error naming the file (and the tensor where it applies), never a crash.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "support/check.h"
#include "util/fileio.h"
#include "util/rng.h"

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

// u64 header length (claimed) + header text + data
static void craft_len(const char *path, unsigned long long claimed, const char *hdr,
                      const void *data, size_t ndata) {
    size_t hl = strlen(hdr);
    unsigned char *buf = xmalloc(8 + hl + ndata);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(claimed >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    if (ndata) memcpy(buf + 8 + hl, data, ndata);
    write_bytes(path, buf, 8 + hl + ndata);
    free(buf);
}
static void craft(const char *path, const char *hdr, const void *data, size_t ndata) {
    craft_len(path, strlen(hdr), hdr, data, ndata);
}

// st_open must fail; the message must name the file and contain each given fragment.
static void expect_fail_at(int line, const char *path, const char *frag1, const char *frag2) {
    StFile f;
    Err e;
    memset(&e, 0, sizeof e);
    int rc = st_open(&f, path, &e);
    CHECK(rc == -1, "line %d: st_open should fail", line);
    if (rc == 0) {
        st_close(&f);
        return;
    }
    CHECK(f.map == NULL && f.tensors == NULL && f.path == NULL, "line %d: struct cleared", line);
    CHECK(strncmp(e.msg, path, strlen(path)) == 0 && e.msg[strlen(path)] == ':',
          "line %d: message does not start with the file name: %s", line, e.msg);
    CHECK(strstr(e.msg, frag1) != NULL, "line %d: message lacks \"%s\": %s", line, frag1, e.msg);
    if (frag2)
        CHECK(strstr(e.msg, frag2) != NULL, "line %d: message lacks \"%s\": %s", line, frag2,
              e.msg);
}
#define EXPECT_FAIL(path, f1, f2) expect_fail_at(__LINE__, path, f1, f2)

static float bits_f(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}
static uint32_t f_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static void test_roundtrip_f32(void) {
    char *p = tpath("rt.safetensors");
    Err e;
    float a[6], b[5], c[1];
    fill_uniform(a, 6, 1, 3.0f);
    fill_uniform(b, 5, 2, 1e-3f);
    b[0] = NAN;
    b[1] = -INFINITY;
    b[2] = -0.0f;
    b[3] = bits_f(0x00000001);  // smallest denormal
    b[4] = bits_f(0x7FC12345);  // NaN with payload
    c[0] = 42.0f;
    StWriteTensor ts[4] = {
        {"h.0.attn.c_attn.weight", a, 2, {2, 3}},
        {"b", b, 1, {5}},
        {"scalar", c, 0, {0}},
        {"empty", NULL, 2, {0, 7}},
    };
    const char *mk[] = {"format", "note"};
    const char *mv[] = {"pt", "hello \"world\""};
    CHECK(st_write(p, ts, 4, mk, mv, 2, 0, &e) == 0, "st_write: %s", e.msg);

    char *raw;
    size_t rawn;
    CHECK(read_file(p, &raw, &rawn, &e) == 0, "read raw");
    unsigned long long hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | (unsigned char)raw[i];
    CHECK(hl % 8 == 0, "header length %llu padded to 8", hl);
    CHECK(strncmp(raw + 8, "{\"__metadata__\":", 16) == 0, "__metadata__ first: %.40s", raw + 8);
    CHECK(raw[8 + hl - 1] == '}' || raw[8 + hl - 1] == ' ', "padding with spaces");
    char *ka = strstr(raw + 8, "\"h.0.attn.c_attn.weight\""), *kb = strstr(raw + 8, "\"b\""),
         *ks = strstr(raw + 8, "\"scalar\"");
    CHECK(ka && kb && ks && ka < kb && kb < ks, "tensor keys in the given order");
    CHECK(rawn == 8 + hl + (6 + 5 + 1) * 4, "file size %zu", rawn);
    free(raw);

    StFile f;
    CHECK(st_open(&f, p, &e) == 0, "st_open: %s", e.msg);
    if (f.map) {
        CHECK(f.n == 4, "n = %d", f.n);
        CHECK(strcmp(f.tensors[0].name, "h.0.attn.c_attn.weight") == 0 &&
                  strcmp(f.tensors[1].name, "b") == 0 && strcmp(f.tensors[2].name, "scalar") == 0 &&
                  strcmp(f.tensors[3].name, "empty") == 0,
              "order kept");
        CHECK(f.data_start == 8 + hl && f.file_size == 8 + hl + 48, "data_start/file_size");
        CHECK(st_meta(&f, "format") && strcmp(st_meta(&f, "format"), "pt") == 0, "meta format");
        CHECK(st_meta(&f, "note") && strcmp(st_meta(&f, "note"), "hello \"world\"") == 0,
              "meta note");
        CHECK(st_meta(&f, "absent") == NULL, "absent meta");
        CHECK(st_find(&f, "nope") == NULL, "st_find absent");
        const StTensor *t = st_find(&f, "h.0.attn.c_attn.weight");
        CHECK(t && t->dtype == ST_F32 && strcmp(t->dtype_name, "F32") == 0 && t->ndim == 2 &&
                  t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6 && t->begin == 0 &&
                  t->end == 24,
              "tensor a metadata");
        float ra[6], rb[5], rc[1];
        CHECK(st_read_f32(&f, t, ra, 2, (size_t[]){2, 3}, &e) == 0, "read a: %s", e.msg);
        check_bitwise("a round trip", ra, a, 6);
        t = st_find(&f, "b");
        CHECK(st_read_f32(&f, t, rb, 1, (size_t[]){5}, &e) == 0, "read b: %s", e.msg);
        check_bitwise("b round trip (nan/inf/-0/denormal)", rb, b, 5);
        t = st_find(&f, "scalar");
        CHECK(t && t->ndim == 0 && t->numel == 1, "scalar ndim 0");
        CHECK(st_read_f32(&f, t, rc, 0, NULL, &e) == 0 && rc[0] == 42.0f, "read scalar: %s",
              e.msg);
        t = st_find(&f, "empty");
        CHECK(t && t->numel == 0 && t->begin == t->end, "empty tensor");
        CHECK(st_read_f32(&f, t, rc, 2, (size_t[]){0, 7}, &e) == 0, "read empty: %s", e.msg);
        // shape mismatch
        t = st_find(&f, "h.0.attn.c_attn.weight");
        CHECK(st_read_f32(&f, t, ra, 2, (size_t[]){3, 2}, &e) == -1, "shape mismatch fails");
        char want[1200];
        snprintf(want, sizeof want,
                 "%s: tensor \"h.0.attn.c_attn.weight\": expected shape [3, 2], found [2, 3]", p);
        CHECK(strcmp(e.msg, want) == 0, "shape mismatch message: %s", e.msg);
        CHECK(st_read_f32(&f, t, ra, 1, (size_t[]){6}, &e) == -1 &&
                  strstr(e.msg, "expected shape [6], found [2, 3]"),
              "ndim mismatch: %s", e.msg);
        st_close(&f);
        CHECK(f.map == NULL && f.n == 0, "st_close clears");
    }
    // no temp files left
    char *tmpname = xmalloc(strlen(p) + 32);
    snprintf(tmpname, strlen(p) + 32, "%s.tmp.%ld", p, (long)getpid());
    CHECK(!path_exists(tmpname), "temp removed");
    free(tmpname);

    // no metadata, no tensors
    CHECK(st_write(p, NULL, 0, NULL, NULL, 0, 0, &e) == 0, "empty write: %s", e.msg);
    CHECK(st_open(&f, p, &e) == 0 && f.n == 0 && f.n_meta == 0, "empty file opens: %s", e.msg);
    st_close(&f);

    // writer errors
    char *bad = tpath("no/such/dir/x.safetensors");
    CHECK(st_write(bad, ts, 1, NULL, NULL, 0, 0, &e) == -1 && strstr(e.msg, bad),
          "write into missing folder: %s", e.msg);
    free(bad);
    StWriteTensor dup[2] = {{"x", a, 1, {1}}, {"x", a, 1, {1}}};
    CHECK(st_write(p, dup, 2, NULL, NULL, 0, 0, &e) == -1 && strstr(e.msg, "\"x\""),
          "duplicate names rejected: %s", e.msg);
    free(p);
}

static void test_bf16(void) {
    char *p = tpath("bf16.safetensors");
    Err e;
    float v[] = {
        1.0f,
        1.0f + 0x1p-8f,                      // halfway between 1 and 1+2^-7: ties to even → 1
        1.0f + 3 * 0x1p-8f,                  // halfway, odd below → up to 1+2^-6
        1.0f + 0x1p-8f + 0x1p-20f,           // just above halfway → 1+2^-7
        1.0f + 0x1p-8f - 0x1p-20f,           // just below halfway → 1
        -2.5f,
        -0.0f,
        INFINITY,
        -INFINITY,
        NAN,
        bits_f(0x7F800001),  // signalling NaN with a payload only in the low bits
        bits_f(0x7F7FFFFF),  // FLT_MAX rounds to inf
        bits_f(0x00010000),  // denormal that fits exactly
        3.14159265f,
    };
    const uint16_t want[] = {0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x3F80, 0xC020, 0x8000,
                             0x7F80, 0xFF80, 0,      0,      0x7F80, 0x0001, 0x4049};
    int n = (int)(sizeof v / sizeof *v);
    StWriteTensor t = {"w", v, 1, {(size_t)n}};
    CHECK(st_write(p, &t, 1, NULL, NULL, 0, 1, &e) == 0, "bf16 write: %s", e.msg);
    StFile f;
    CHECK(st_open(&f, p, &e) == 0, "open: %s", e.msg);
    if (!f.map) {
        free(p);
        return;
    }
    const StTensor *tt = st_find(&f, "w");
    CHECK(tt && tt->dtype == ST_BF16 && strcmp(tt->dtype_name, "BF16") == 0 &&
              tt->end - tt->begin == (size_t)n * 2,
          "bf16 tensor");
    const unsigned char *d = (const unsigned char *)f.map + f.data_start;
    for (int i = 0; i < n; i++) {
        uint16_t got = (uint16_t)(d[2 * i] | (d[2 * i + 1] << 8));
        if (isnan(v[i]))
            CHECK((got & 0x7F80) == 0x7F80 && (got & 0x7F) != 0, "[%d] NaN stays NaN: %04x", i,
                  got);
        else
            CHECK(got == want[i], "[%d] bf16 of %.9g: got %04x want %04x", i, v[i], got, want[i]);
    }
    float r[32];
    CHECK(st_read_f32(&f, tt, r, 1, (size_t[]){(size_t)n}, &e) == 0, "read bf16: %s", e.msg);
    for (int i = 0; i < n; i++) {
        if (isnan(v[i])) CHECK(isnan(r[i]), "[%d] NaN read back", i);
        else CHECK(f_bits(r[i]) == (uint32_t)want[i] << 16, "[%d] bf16 read back %g", i, r[i]);
    }
    st_close(&f);
    free(p);
}

static void test_read_f16_bf16(void) {
    char *p = tpath("f16.safetensors");
    Err e;
    const uint16_t h[] = {0x3C00, 0xC000, 0x0001, 0x03FF, 0x0400, 0x7BFF,
                          0x7C00, 0xFC00, 0x7E00, 0x8000, 0x3555, 0x8001};
    const float hw[] = {1.0f,          -2.0f,         0x1p-24f,  1023 * 0x1p-24f,
                        0x1p-14f,      65504.0f,      INFINITY,  -INFINITY,
                        NAN,           -0.0f,         0.333251953125f, -0x1p-24f};
    const uint16_t bf[] = {0x3F80, 0xC040, 0x7FC0, 0x0001};
    const float bw[] = {1.0f, -3.0f, NAN, bits_f(0x00010000)};
    unsigned char data[24 + 8];
    for (int i = 0; i < 12; i++) {
        data[2 * i] = (unsigned char)(h[i] & 0xFF);
        data[2 * i + 1] = (unsigned char)(h[i] >> 8);
    }
    for (int i = 0; i < 4; i++) {
        data[24 + 2 * i] = (unsigned char)(bf[i] & 0xFF);
        data[24 + 2 * i + 1] = (unsigned char)(bf[i] >> 8);
    }
    craft(p,
          "{\"half\":{\"dtype\":\"F16\",\"shape\":[3,4],\"data_offsets\":[0,24]},"
          "\"brain\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]}}   ",
          data, sizeof data);
    StFile f;
    CHECK(st_open(&f, p, &e) == 0, "open: %s", e.msg);
    if (f.map) {
        float r[12];
        const StTensor *t = st_find(&f, "half");
        CHECK(t && t->dtype == ST_F16, "F16 dtype");
        CHECK(st_read_f32(&f, t, r, 2, (size_t[]){3, 4}, &e) == 0, "read f16: %s", e.msg);
        for (int i = 0; i < 12; i++) {
            if (isnan(hw[i])) CHECK(isnan(r[i]), "[%d] f16 nan", i);
            else CHECK(f_bits(r[i]) == f_bits(hw[i]), "[%d] f16 %04x: got %.9g want %.9g", i,
                       h[i], r[i], hw[i]);
        }
        t = st_find(&f, "brain");
        CHECK(t && t->dtype == ST_BF16, "BF16 dtype");
        CHECK(st_read_f32(&f, t, r, 1, (size_t[]){4}, &e) == 0, "read bf16: %s", e.msg);
        for (int i = 0; i < 4; i++) {
            if (isnan(bw[i])) CHECK(isnan(r[i]), "[%d] bf16 nan", i);
            else CHECK(f_bits(r[i]) == f_bits(bw[i]), "[%d] bf16 got %.9g", i, r[i]);
        }
        st_close(&f);
    }
    // every f16 value converts like the reference formula
    {
        unsigned char *all = xmalloc(65536 * 2);
        for (int i = 0; i < 65536; i++) {
            all[2 * i] = (unsigned char)(i & 0xFF);
            all[2 * i + 1] = (unsigned char)(i >> 8);
        }
        craft(p, "{\"x\":{\"dtype\":\"F16\",\"shape\":[65536],\"data_offsets\":[0,131072]}}",
              all, 65536 * 2);
        free(all);
        CHECK(st_open(&f, p, &e) == 0, "open all-f16: %s", e.msg);
        if (f.map) {
            float *r = xmalloc(65536 * sizeof(float));
            CHECK(st_read_f32(&f, st_find(&f, "x"), r, 1, (size_t[]){65536}, &e) == 0, "read");
            int bad = 0;
            for (int i = 0; i < 65536 && bad < 5; i++) {
                int s = i >> 15, ex = (i >> 10) & 31, m = i & 1023;
                double ref = ex == 0 ? ldexp(m, -24)
                             : ex == 31 ? (m ? NAN : INFINITY)
                                        : ldexp(1024 + m, ex - 25);
                if (s) ref = -ref;
                int ok = isnan(ref) ? isnan(r[i]) : ((double)r[i] == ref && (signbit(r[i]) != 0) == s);
                if (!ok) {
                    bad++;
                    CHECK(0, "f16 %04x: got %.9g want %.9g", i, r[i], ref);
                }
            }
            CHECK(bad == 0, "all 65536 f16 values");
            free(r);
            st_close(&f);
        }
    }
    free(p);
}

static void test_misaligned_and_other_dtypes(void) {
    char *p = tpath("mis.safetensors");
    Err e;
    unsigned char data[3 + 8 + 8 + 4];
    data[0] = 1; data[1] = 2; data[2] = 3;
    float x[2] = {1.5f, -7.25f};
    memcpy(data + 3, x, 8);
    memset(data + 11, 0, 8);
    memset(data + 19, 0xAB, 4);
    // header length 83+ is odd-sized on purpose so the data area itself is misaligned too
    craft(p,
          "{\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
          "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[3,11]},"
          "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[11,19]},"
          "\"q\":{\"dtype\":\"Q4_X\",\"shape\":[8],\"data_offsets\":[19,23]}}",
          data, sizeof data);
    StFile f;
    CHECK(st_open(&f, p, &e) == 0, "open: %s", e.msg);
    if (!f.map) {
        free(p);
        return;
    }
    float r[8];
    CHECK(st_read_f32(&f, st_find(&f, "f"), r, 1, (size_t[]){2}, &e) == 0, "misaligned F32: %s",
          e.msg);
    CHECK(r[0] == 1.5f && r[1] == -7.25f, "misaligned values");
    const StTensor *t = st_find(&f, "i");
    CHECK(t->dtype == ST_OTHER && strcmp(t->dtype_name, "I64") == 0, "I64 kept as other");
    CHECK(st_read_f32(&f, t, r, 1, (size_t[]){1}, &e) == -1, "I64 as f32 fails");
    CHECK(strstr(e.msg, p) && strstr(e.msg, "\"i\"") && strstr(e.msg, "I64"), "msg: %s", e.msg);
    t = st_find(&f, "q");
    CHECK(t && t->dtype == ST_OTHER && strcmp(t->dtype_name, "Q4_X") == 0, "unknown dtype kept");
    CHECK(st_read_f32(&f, t, r, 1, (size_t[]){8}, &e) == -1, "unknown dtype as f32 fails");
    CHECK(strstr(e.msg, p) && strstr(e.msg, "\"q\"") && strstr(e.msg, "Q4_X"), "msg: %s", e.msg);
    CHECK(st_read_f32(&f, st_find(&f, "u"), r, 1, (size_t[]){3}, &e) == -1 &&
              strstr(e.msg, "U8"),
          "U8 as f32 fails: %s", e.msg);
    st_close(&f);
    free(p);
}

static void test_corrupt(void) {
    char *p = tpath("bad.safetensors");
    unsigned char z[64] = {0};
    const char *T = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    // missing file
    {
        char *m = tpath("missing.safetensors");
        EXPECT_FAIL(m, "No such file", NULL);
        free(m);
    }
    // not a regular file
    EXPECT_FAIL(g_dir, "not a regular file", NULL);
    // empty file, 7-byte file
    write_bytes(p, z, 0);
    EXPECT_FAIL(p, "empty", NULL);
    write_bytes(p, z, 7);
    EXPECT_FAIL(p, "7 bytes", NULL);
    // header length 0, header length larger than the file, over 100 MB
    write_bytes(p, z, 8);
    EXPECT_FAIL(p, "does not start with '{'", NULL);
    craft_len(p, 1000, T, z, 8);
    EXPECT_FAIL(p, "header length 1000", "truncated");
    craft_len(p, 200000000ULL, T, z, 8);
    EXPECT_FAIL(p, "header length 200000000", "100 MB");
    craft_len(p, 100000001ULL, T, z, 8);
    EXPECT_FAIL(p, "100 MB", NULL);
    craft_len(p, ~0ULL, T, z, 8);
    EXPECT_FAIL(p, "100 MB", NULL);
    // header not starting with '{', not JSON, trailing garbage, duplicate key
    craft(p, " {\"t\":1}", z, 0);
    EXPECT_FAIL(p, "does not start with '{'", NULL);
    craft(p, "[1, 2, 3]", z, 0);
    EXPECT_FAIL(p, "does not start with '{'", NULL);
    craft(p, "{\"t\": {\"dtype\": ", z, 0);
    EXPECT_FAIL(p, "not valid JSON", NULL);
    craft(p, "{} xyz", z, 0);
    EXPECT_FAIL(p, "not valid JSON", NULL);
    craft(p,
          "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
          "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
          z, 8);
    EXPECT_FAIL(p, "not valid JSON", "duplicate");
    {  // a NUL inside the header
        char h[] = "{\"t\":1}";
        unsigned char buf[8 + 8];
        memset(buf, 0, sizeof buf);
        buf[0] = 8;
        memcpy(buf + 8, h, 7);
        buf[15] = 0;
        write_bytes(p, buf, sizeof buf);
        EXPECT_FAIL(p, "not valid JSON", NULL);
    }
    // entry errors, each naming the tensor
    craft(p, "{\"w\": 5}", z, 0);
    EXPECT_FAIL(p, "tensor \"w\": entry must be an object", NULL);
    craft(p, "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": missing \"dtype\"", NULL);
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": missing \"shape\"", NULL);
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": missing \"data_offsets\"", NULL);
    craft(p, "{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": \"dtype\" must be a string, got integer", NULL);
    craft(p, "{\"w\":{\"dtype\":\"\",\"shape\":[2],\"data_offsets\":[0,8]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": invalid dtype", NULL);
    craft(p, "{\"w\":{\"dtype\":\"AVERYLONGDTYPENAME\",\"shape\":[2],\"data_offsets\":[0,8]}}",
          z, 8);
    EXPECT_FAIL(p, "tensor \"w\": invalid dtype", NULL);
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": \"shape\" must be an array", NULL);
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": \"shape\" must hold non-negative integers", NULL);
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": \"shape\" must hold non-negative integers", "real");
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
          z, 4);
    EXPECT_FAIL(p, "tensor \"w\": shape has 9 dimensions", NULL);
    craft(p,
          "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
          "\"data_offsets\":[0,4]}}",
          z, 4);
    EXPECT_FAIL(p, "tensor \"w\": shape is too large", NULL);
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": \"data_offsets\" must be [begin, end]", NULL);
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": \"data_offsets\" must be [begin, end]", NULL);
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": \"data_offsets\" must be [begin, end]", NULL);
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0-8\"}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": \"data_offsets\" must be [begin, end]", NULL);
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": data_offsets [8, 0] end before they begin", NULL);
    // end - begin != numel * dtype size (the exact message)
    {
        unsigned char big[100] = {0};
        char *mp = tpath("model.safetensors");
        craft(mp, "{\"h.0.attn.c_attn.weight\":{\"dtype\":\"F32\",\"shape\":[3,5],"
                  "\"data_offsets\":[0,100]}}",
              big, 100);
        StFile f;
        Err e;
        CHECK(st_open(&f, mp, &e) == -1, "size mismatch fails");
        char want[1200];
        snprintf(want, sizeof want,
                 "%s: tensor \"h.0.attn.c_attn.weight\": data_offsets [0, 100] hold 100 bytes, "
                 "but shape [3, 5] of F32 needs 60",
                 mp);
        CHECK(strcmp(e.msg, want) == 0, "message: %s", e.msg);
        free(mp);
    }
    craft(p, "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,8]}}", z, 8);
    EXPECT_FAIL(p, "tensor \"w\": data_offsets [0, 8] hold 8 bytes, but shape [2] of BF16 needs 4",
                NULL);
    craft(p, "{\"w\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}", z, 8);
    EXPECT_FAIL(p, "shape [2] of I64 needs 16", NULL);
    // overlap, gap, gap at start
    craft(p,
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
          z, 12);
    EXPECT_FAIL(p, "tensor \"b\": data_offsets [4, 12] overlap tensor \"a\" [0, 8]", NULL);
    craft(p,
          "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
          z, 8);
    EXPECT_FAIL(p, "overlap", NULL);
    craft(p,
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
          z, 20);
    EXPECT_FAIL(p, "tensor \"b\": data_offsets [12, 20] leave a gap of 4 bytes after tensor \"a\"",
                NULL);
    craft(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", z, 12);
    EXPECT_FAIL(p, "tensor \"a\": data_offsets [4, 12] leave a gap of 4 bytes at the start", NULL);
    // data not ending at the file end: trailing bytes, truncated data, offsets past the end
    craft(p, T, z, 12);
    EXPECT_FAIL(p, "4 unexpected trailing bytes", NULL);
    craft(p, T, z, 5);
    EXPECT_FAIL(p, "truncated", "\"t\"");
    craft(p,
          "{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000000],"
          "\"data_offsets\":[0,4000000000]}}",
          z, 8);
    EXPECT_FAIL(p, "truncated", NULL);
    craft(p, "{}", z, 4);
    EXPECT_FAIL(p, "4 unexpected trailing bytes", NULL);
    // __metadata__
    craft(p, "{\"__metadata__\":[1],\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
          z, 8);
    EXPECT_FAIL(p, "\"__metadata__\" must be an object of strings, got array", NULL);
    craft(p,
          "{\"__metadata__\":{\"format\":\"pt\",\"n\":3},"
          "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
          z, 8);
    EXPECT_FAIL(p, "\"__metadata__\" value of \"n\" must be a string, got integer", NULL);
    // __metadata__ at the end and header without 8-byte padding are fine
    {
        craft(p,
              "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"__metadata__\":{\"format\":\"pt\"}}",
              z, 8);
        StFile f;
        Err e;
        CHECK(st_open(&f, p, &e) == 0 && f.n == 1 && f.n_meta == 1, "metadata last: %s", e.msg);
        st_close(&f);
    }

    // every truncation of a valid file fails cleanly
    {
        float a[7];
        fill_uniform(a, 7, 3, 1.0f);
        StWriteTensor ts[2] = {{"a", a, 2, {1, 3}}, {"b", a + 3, 1, {4}}};
        Err e;
        char *good = tpath("good.safetensors");
        CHECK(st_write(good, ts, 2, (const char *[]){"k"}, (const char *[]){"v"}, 1, 0, &e) == 0,
              "write: %s", e.msg);
        char *raw;
        size_t n;
        CHECK(read_file(good, &raw, &n, &e) == 0, "read");
        int all_fail = 1;
        for (size_t cut = 0; cut < n; cut++) {
            write_bytes(p, raw, cut);
            StFile f;
            if (st_open(&f, p, &e) == 0) {
                all_fail = 0;
                st_close(&f);
                fprintf(stderr, "truncation to %zu bytes accepted\n", cut);
            } else if (!strstr(e.msg, p)) {
                all_fail = 0;
                fprintf(stderr, "message lacks the file: %s\n", e.msg);
            }
        }
        CHECK(all_fail, "every truncation rejected with the file named");
        // random byte corruption in the header: never a crash, and a success is still valid
        Rng r;
        rng_seed(&r, 11, 0, 0);
        unsigned long long hl = 0;
        for (int i = 7; i >= 0; i--) hl = (hl << 8) | (unsigned char)raw[i];
        int consistent = 1;
        for (int it = 0; it < 2000; it++) {
            char *m = xmalloc(n);
            memcpy(m, raw, n);
            int flips = 1 + (int)rng_below(&r, 3);
            for (int k = 0; k < flips; k++) {
                size_t pos = rng_below(&r, 8 + hl);
                m[pos] = (char)rng_below(&r, 256);
            }
            write_bytes(p, m, n);
            free(m);
            StFile f;
            if (st_open(&f, p, &e) == 0) {
                size_t total = 0;
                for (int i = 0; i < f.n; i++) total += f.tensors[i].end - f.tensors[i].begin;
                if (f.data_start + total != f.file_size) consistent = 0;
                for (int i = 0; i < f.n; i++) {
                    const StTensor *t = &f.tensors[i];
                    float *dst = xmalloc((t->numel ? t->numel : 1) * sizeof(float));
                    if (st_read_f32(&f, t, dst, t->ndim, t->shape, &e) != 0 &&
                        t->dtype != ST_OTHER)
                        consistent = 0;
                    free(dst);
                }
                st_close(&f);
            } else if (!strstr(e.msg, p)) {
                consistent = 0;
                fprintf(stderr, "message lacks the file: %s\n", e.msg);
            }
        }
        CHECK(consistent, "random header corruption handled");
        free(raw);
        free(good);
    }
    free(p);
}

int main(void) {
    const char *base = getenv("RLHF_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/st.XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        return 1;
    }
    g_dir = xstrdup(d);
    test_roundtrip_f32();
    test_bf16();
    test_read_f16_bf16();
    test_misaligned_and_other_dtypes();
    test_corrupt();
    Err e;
    CHECK(remove_tree(g_dir, &e) == 0, "cleanup: %s", e.msg);
    free(g_dir);
    return check_summary("test_safetensors");
}
