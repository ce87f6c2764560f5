// io/model_io.c — format dispatch for model paths; see model_io.h.
#include "io/model_io.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "io/checkpoint.h"
#include "io/llmc.h"

static int ends_with_bin(const char *s) {
    size_t n = strlen(s);
    return n >= 4 && strcmp(s + n - 4, ".bin") == 0;
}

int model_format_of(const char *path, ModelFormat *fmt, Err *e) {
    struct stat st;
    if (stat(path, &st) != 0)
        return err_set(e, "%s: %s (expected a Hugging Face model folder or an llm.c checkpoint "
                          "file *.bin)", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        *fmt = MODEL_FMT_HF;
        return 0;
    }
    if (S_ISREG(st.st_mode) && ends_with_bin(path)) {
        *fmt = MODEL_FMT_LLMC;
        return 0;
    }
    return err_set(e, "%s: not a model: expected a Hugging Face model folder (config.json + "
                      "model.safetensors) or an llm.c checkpoint file named *.bin", path);
}

ModelFormat model_format_for_save(const char *path) {
    return ends_with_bin(path) ? MODEL_FMT_LLMC : MODEL_FMT_HF;
}

const char *model_format_name(ModelFormat f) {
    return f == MODEL_FMT_LLMC ? "llm.c checkpoint" : "Hugging Face folder";
}

GPT *model_load(const char *path, int trainable, Err *e) {
    ModelFormat f;
    if (model_format_of(path, &f, e)) return NULL;
    if (f == MODEL_FMT_LLMC) return llmc_load_model(path, trainable, e);
    return ckpt_load_model(path, trainable, NULL, e);
}

int model_save(const GPT *m, const Tokenizer *tok, const char *path, const json_t *extra, int bf16,
               Err *e) {
    if (model_format_for_save(path) == MODEL_FMT_LLMC) return llmc_save_model(m, path, bf16, e);
    return ckpt_save_model_bf16(m, tok, path, extra, bf16, e);
}

int model_ensure_pad(GPT **m, Tokenizer *tok, int *added, Err *e) {
    *added = 0;
    if (tok->pad_id < 0 || tok->pad_id == tok->eos_id) {
        if (tok_ensure_pad(tok) < 0 || tok->pad_id == tok->eos_id)
            return err_set(e, "this tokenizer cannot take a pad token distinct from EOS");
        *added = 1;
    }
    if (tok->vocab_size > (*m)->cfg.vocab_size) {
        if (gpt_resize_vocab(m, tok->vocab_size, e)) return -1;
        *added = 1;
    }
    return 0;
}
