// io/safetensors.c — owns the safetensors reader (mmap, full header validation, F32/BF16/F16 →
// float) and writer (ordered JSON header padded to 8 bytes, F32 or BF16 data, atomic write).
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define ST_MAX_HEADER 100000000ULL

typedef struct {
    const char *name;
    size_t size;
    StDtype kind;
} DtypeInfo;

static const DtypeInfo DTYPES[] = {
    {"F32", 4, ST_F32},   {"BF16", 2, ST_BF16},   {"F16", 2, ST_F16},   {"F64", 8, ST_OTHER},
    {"I64", 8, ST_OTHER}, {"I32", 4, ST_OTHER},   {"I16", 2, ST_OTHER}, {"I8", 1, ST_OTHER},
    {"U64", 8, ST_OTHER}, {"U32", 4, ST_OTHER},   {"U16", 2, ST_OTHER}, {"U8", 1, ST_OTHER},
    {"BOOL", 1, ST_OTHER}, {"F8_E4M3", 1, ST_OTHER}, {"F8_E5M2", 1, ST_OTHER},
};

static const DtypeInfo *dtype_lookup(const char *s) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof *DTYPES; i++)
        if (strcmp(DTYPES[i].name, s) == 0) return &DTYPES[i];
    return NULL;
}

static void fmt_shape(char *buf, size_t n, int ndim, const size_t *shape) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%zu", i ? ", " : "", shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

// ---------------------------------------------------------------------------------------------
// Reader

void st_close(StFile *f) {
    if (f->map) munmap(f->map, f->file_size);
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->path);
    memset(f, 0, sizeof *f);
}

// Reads a non-negative JSON integer into *out; 0 on success.
static int json_size(const json_t *v, size_t *out) {
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0) return -1;
    *out = (size_t)x;
    return 0;
}

static int parse_tensor(const char *path, const char *name, json_t *v, StTensor *t, Err *e) {
    if (!json_is_object(v))
        return err_set(e, "%s: tensor \"%s\": entry must be an object, got %s", path, name,
                       json_type_name(v));
    json_t *dt = json_object_get(v, "dtype");
    json_t *sh = json_object_get(v, "shape");
    json_t *off = json_object_get(v, "data_offsets");
    if (!dt) return err_set(e, "%s: tensor \"%s\": missing \"dtype\"", path, name);
    if (!sh) return err_set(e, "%s: tensor \"%s\": missing \"shape\"", path, name);
    if (!off) return err_set(e, "%s: tensor \"%s\": missing \"data_offsets\"", path, name);
    if (!json_is_string(dt))
        return err_set(e, "%s: tensor \"%s\": \"dtype\" must be a string, got %s", path, name,
                       json_type_name(dt));
    const char *dts = json_string_value(dt);
    if (strlen(dts) == 0 || strlen(dts) >= sizeof t->dtype_name)
        return err_set(e, "%s: tensor \"%s\": invalid dtype \"%.40s\"", path, name, dts);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dts);
    const DtypeInfo *di = dtype_lookup(dts);
    t->dtype = di ? di->kind : ST_OTHER;

    if (!json_is_array(sh))
        return err_set(e, "%s: tensor \"%s\": \"shape\" must be an array of integers, got %s",
                       path, name, json_type_name(sh));
    size_t nd = json_array_size(sh);
    if (nd > 8)
        return err_set(e, "%s: tensor \"%s\": shape has %zu dimensions (at most 8 supported)",
                       path, name, nd);
    t->ndim = (int)nd;
    size_t numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        size_t d;
        if (json_size(json_array_get(sh, i), &d) != 0)
            return err_set(e,
                           "%s: tensor \"%s\": \"shape\" must hold non-negative integers; "
                           "element %zu is %s",
                           path, name, i, json_type_name(json_array_get(sh, i)));
        t->shape[i] = d;
        if (__builtin_mul_overflow(numel, d, &numel)) overflow = 1;
    }
    if (overflow) return err_set(e, "%s: tensor \"%s\": shape is too large", path, name);
    t->numel = numel;

    if (!json_is_array(off) || json_array_size(off) != 2 ||
        json_size(json_array_get(off, 0), &t->begin) != 0 ||
        json_size(json_array_get(off, 1), &t->end) != 0)
        return err_set(e,
                       "%s: tensor \"%s\": \"data_offsets\" must be [begin, end] with two "
                       "non-negative integers",
                       path, name);
    if (t->begin > t->end)
        return err_set(e, "%s: tensor \"%s\": data_offsets [%zu, %zu] end before they begin",
                       path, name, t->begin, t->end);
    if (di) {
        size_t need;
        char sbuf[200];
        fmt_shape(sbuf, sizeof sbuf, t->ndim, t->shape);
        if (__builtin_mul_overflow(numel, di->size, &need) || need != t->end - t->begin)
            return err_set(e,
                           "%s: tensor \"%s\": data_offsets [%zu, %zu] hold %zu bytes, but "
                           "shape %s of %s needs %zu",
                           path, name, t->begin, t->end, t->end - t->begin, sbuf, dts,
                           numel * di->size);
    }
    return 0;
}

static int cmp_by_offset(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int parse_header(StFile *f, const char *hdr, size_t hlen, Err *e) {
    const char *path = f->path;
    if (hlen == 0 || hdr[0] != '{')
        return err_set(e, "%s: header does not start with '{' (not a safetensors file?)", path);
    json_error_t je;
    json_t *root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return err_set(e, "%s: header is not valid JSON: %s (at byte %d of the header)", path,
                       je.text, je.position);
    int rc = -1;
    StTensor **sorted = NULL;
    if (!json_is_object(root)) {
        err_set(e, "%s: header must be a JSON object, got %s", path, json_type_name(root));
        goto done;
    }
    size_t cap = json_object_size(root);
    f->tensors = xcalloc(cap ? cap : 1, sizeof *f->tensors);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                err_set(e, "%s: \"__metadata__\" must be an object of strings, got %s", path,
                        json_type_name(v));
                goto done;
            }
            size_t m = json_object_size(v);
            f->meta_keys = xcalloc(m ? m : 1, sizeof(char *));
            f->meta_values = xcalloc(m ? m : 1, sizeof(char *));
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv)) {
                    err_set(e, "%s: \"__metadata__\" value of \"%s\" must be a string, got %s",
                            path, mk, json_type_name(mv));
                    goto done;
                }
                f->meta_keys[f->n_meta] = xstrdup(mk);
                f->meta_values[f->n_meta] = xstrdup(json_string_value(mv));
                f->n_meta++;
            }
            continue;
        }
        StTensor *t = &f->tensors[f->n];
        memset(t, 0, sizeof *t);
        if (parse_tensor(path, key, v, t, e) != 0) goto done;
        t->name = xstrdup(key);
        f->n++;
    }
    // Sorted by offset, the tensors must tile [0, total) exactly.
    sorted = xmalloc((f->n ? (size_t)f->n : 1) * sizeof *sorted);
    for (int i = 0; i < f->n; i++) sorted[i] = &f->tensors[i];
    qsort(sorted, (size_t)f->n, sizeof *sorted, cmp_by_offset);
    size_t pos = 0;
    const StTensor *prev = NULL;
    for (int i = 0; i < f->n; i++) {
        const StTensor *t = sorted[i];
        if (t->begin < pos) {
            err_set(e, "%s: tensor \"%s\": data_offsets [%zu, %zu] overlap tensor \"%s\" [%zu, %zu]",
                    path, t->name, t->begin, t->end, prev->name, prev->begin, prev->end);
            goto done;
        }
        if (t->begin > pos) {
            if (prev)
                err_set(e,
                        "%s: tensor \"%s\": data_offsets [%zu, %zu] leave a gap of %zu bytes "
                        "after tensor \"%s\" (which ends at %zu)",
                        path, t->name, t->begin, t->end, t->begin - pos, prev->name, pos);
            else
                err_set(e,
                        "%s: tensor \"%s\": data_offsets [%zu, %zu] leave a gap of %zu bytes at "
                        "the start of the data area",
                        path, t->name, t->begin, t->end, t->begin);
            goto done;
        }
        pos = t->end;
        prev = t;
    }
    size_t data_bytes = f->file_size - f->data_start;
    if (pos != data_bytes) {
        if (pos > data_bytes)
            err_set(e,
                    "%s: file is %zu bytes, but the header (8 + %zu) and the tensor data (%zu "
                    "bytes) need %zu: file truncated%s%s%s",
                    path, f->file_size, f->data_start - 8, pos, f->data_start + pos,
                    prev ? " (last tensor \"" : "", prev ? prev->name : "", prev ? "\")" : "");
        else
            err_set(e,
                    "%s: file is %zu bytes, but the header (8 + %zu) and the tensor data (%zu "
                    "bytes) end at %zu: %zu unexpected trailing bytes",
                    path, f->file_size, f->data_start - 8, pos, f->data_start + pos,
                    data_bytes - pos);
        goto done;
    }
    rc = 0;
done:
    free(sorted);
    json_decref(root);
    return rc;
}

int st_open(StFile *f, const char *path, Err *e) {
    memset(f, 0, sizeof *f);
    f->path = xstrdup(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(e, "%s: cannot open: %s", path, strerror(errno));
        st_close(f);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err_set(e, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        st_close(f);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(e, "%s: not a regular file", path);
        close(fd);
        st_close(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    if (size < 8) {
        if (size == 0) err_set(e, "%s: file is empty (not a safetensors file)", path);
        else
            err_set(e,
                    "%s: file is only %zu bytes, too short for the 8-byte header length "
                    "(truncated?)",
                    path, size);
        close(fd);
        st_close(f);
        return -1;
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) {
        err_set(e, "%s: cannot map the file: %s", path, strerror(map_errno));
        st_close(f);
        return -1;
    }
    f->map = map;
    f->file_size = size;
    const unsigned char *b = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | b[i];
    if (hlen > ST_MAX_HEADER) {
        err_set(e,
                "%s: header length %llu exceeds the 100 MB limit (not a safetensors file, or "
                "corrupt)",
                path, (unsigned long long)hlen);
        st_close(f);
        return -1;
    }
    if (8 + hlen > size) {
        err_set(e,
                "%s: header length %llu is larger than the %zu bytes that follow it (truncated "
                "file?)",
                path, (unsigned long long)hlen, size - 8);
        st_close(f);
        return -1;
    }
    f->data_start = 8 + (size_t)hlen;
    if (parse_header(f, (const char *)b + 8, (size_t)hlen, e) != 0) {
        st_close(f);
        return -1;
    }
    return 0;
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_meta(const StFile *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: mant · 2^-24, normalise
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while ((mant & 0x400) == 0);
            mant &= 0x3FF;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
        }
    } else if (exp == 31) {  // inf / nan (payload kept, nan stays nan)
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

int st_read_f32(const StFile *f, const StTensor *t, float *dst, int ndim, const size_t *shape,
                Err *e) {
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[200], got[200];
        fmt_shape(want, sizeof want, ndim, shape);
        fmt_shape(got, sizeof got, t->ndim, t->shape);
        return err_set(e, "%s: tensor \"%s\": expected shape %s, found %s", f->path, t->name,
                       want, got);
    }
    const unsigned char *src = (const unsigned char *)f->map + f->data_start + t->begin;
    size_t n = t->numel;
    switch (t->dtype) {
    case ST_F32:
        if (n) memcpy(dst, src, n * 4);
        return 0;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = ((uint32_t)src[2 * i] | ((uint32_t)src[2 * i + 1] << 8)) << 16;
            memcpy(&dst[i], &bits, 4);
        }
        return 0;
    case ST_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = f16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
        return 0;
    case ST_OTHER: break;
    }
    return err_set(e, "%s: tensor \"%s\": dtype %s cannot be read as float (supported: F32, BF16, F16)",
                   f->path, t->name, t->dtype_name);
}

// ---------------------------------------------------------------------------------------------
// Writer

float st_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

uint16_t st_bf16_from_f32(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0)  // NaN: keep it a (quiet) NaN
        return (uint16_t)((u >> 16) | 0x0040);
    u += 0x7FFFu + ((u >> 16) & 1u);  // round to nearest, ties to even
    return (uint16_t)(u >> 16);
}

int st_write(const char *path, const StWriteTensor *ts, int n, const char *const *meta_keys,
             const char *const *meta_values, int n_meta, int bf16, Err *e) {
    size_t esize = bf16 ? 2 : 4;
    json_t *root = json_object();
    if (n_meta > 0) {
        json_t *m = json_object();
        for (int i = 0; i < n_meta; i++)
            json_object_set_new(m, meta_keys[i], json_string(meta_values[i]));
        json_object_set_new(root, "__metadata__", m);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const StWriteTensor *t = &ts[i];
        if (!t->name || !*t->name || strcmp(t->name, "__metadata__") == 0 ||
            json_object_get(root, t->name)) {
            json_decref(root);
            return err_set(e, "%s: tensor %d: name \"%s\" is empty, reserved or repeated", path,
                           i, t->name ? t->name : "(null)");
        }
        if (t->ndim < 0 || t->ndim > 4) {
            json_decref(root);
            return err_set(e, "%s: tensor \"%s\": %d dimensions (0..4 supported)", path, t->name,
                           t->ndim);
        }
        size_t numel = 1;
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) {
            numel *= t->shape[d];
            json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        }
        json_t *ent = json_object();
        json_object_set_new(ent, "dtype", json_string(bf16 ? "BF16" : "F32"));
        json_object_set_new(ent, "shape", shape);
        json_t *offs = json_array();
        json_array_append_new(offs, json_integer((json_int_t)off));
        off += numel * esize;
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_object_set_new(ent, "data_offsets", offs);
        json_object_set_new(root, t->name, ent);
    }
    char *hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!hdr) return err_set(e, "%s: cannot build the header (invalid UTF-8 in a name?)", path);
    size_t hlen = strlen(hdr);
    size_t padded = (hlen + 7) & ~(size_t)7;

    AtomicFile af;
    if (atomic_open(&af, path, e) != 0) {
        free(hdr);
        return -1;
    }
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(lenb, 1, 8, af.fp) == 8 && fwrite(hdr, 1, hlen, af.fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', af.fp) != EOF;
    free(hdr);
    enum { CHUNK = 1 << 14 };
    uint16_t *buf = bf16 ? xmalloc(CHUNK * sizeof *buf) : NULL;
    for (int i = 0; ok && i < n; i++) {
        const StWriteTensor *t = &ts[i];
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
        if (numel == 0) continue;
        if (!bf16) {
            ok = fwrite(t->data, 4, numel, af.fp) == numel;
            continue;
        }
        for (size_t j = 0; ok && j < numel; j += CHUNK) {
            size_t m = min_sz(CHUNK, numel - j);
            for (size_t k = 0; k < m; k++) buf[k] = st_bf16_from_f32(t->data[j + k]);
            ok = fwrite(buf, 2, m, af.fp) == m;
        }
    }
    free(buf);
    if (!ok) {
        err_set(e, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, e);
}
