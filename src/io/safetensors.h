// io/safetensors.h — the Hugging Face safetensors format: u64 header length, JSON header naming
// every tensor (dtype, shape, data_offsets), raw little-endian tensor bytes. The reader validates
// the whole header up front (tiling, sizes, file length) and converts F32/BF16/F16 to float; the
// writer pads the header to a multiple of 8 and writes the file atomically.
#ifndef RLHF_IO_SAFETENSORS_H
#define RLHF_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util/common.h"

typedef enum { ST_F32, ST_BF16, ST_F16, ST_OTHER } StDtype;

typedef struct {
    char *name;
    StDtype dtype;
    char dtype_name[16];  // as in the file, e.g. "F32", "I64"
    int ndim;
    size_t shape[8];
    size_t numel;
    size_t begin, end;    // byte offsets relative to the data area
} StTensor;

typedef struct {
    char *path;
    int n;
    StTensor *tensors;
    char **meta_keys, **meta_values;  // __metadata__ (string → string)
    int n_meta;
    size_t data_start;  // 8 + header length
    size_t file_size;
    void *map;          // read-only mmap of the whole file
} StFile;

// Opens and validates; every error names the file and, where it applies, the tensor.
int st_open(StFile *f, const char *path, Err *e);
void st_close(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);
const char *st_meta(const StFile *f, const char *key);  // NULL if absent
// Converts the tensor to float into dst; fails (naming file, tensor, expected vs found) unless
// its shape equals shape[0..ndim) exactly.
int st_read_f32(const StFile *f, const StTensor *t, float *dst, int ndim, const size_t *shape,
                Err *e);

// bfloat16 ↔ float (shared with the llm.c reader/writer): bf16 is the top 16 bits of the fp32
// pattern after round-to-nearest-even; NaN stays a (quiet) NaN.
uint16_t st_bf16_from_f32(float x);
float st_bf16_to_f32(uint16_t h);

typedef struct {
    const char *name;
    const float *data;
    int ndim;
    size_t shape[4];
} StWriteTensor;

// Writes tensors (as F32, or BF16 with round-to-nearest-even when bf16 != 0) in the given order,
// with optional metadata pairs, atomically.
int st_write(const char *path, const StWriteTensor *ts, int n, const char *const *meta_keys,
             const char *const *meta_values, int n_meta, int bf16, Err *e);

#endif
