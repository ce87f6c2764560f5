// cli/cmd_convert.c — `rlhf convert`: reads a model in one format and writes it in another (a
// folder is Hugging Face, *.bin is llm.c), optionally as bf16.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "io/model_io.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/flags.h"

int cmd_convert(int argc, char **argv) {
    const char *from = NULL, *to = NULL, *tokdir = NULL;
    int bf16 = 0, force = 0, add_pad = 0;
    Flag flags[] = {
        {"from", 0, FLAG_STRING, &from, "model to read: a Hugging Face folder or an llm.c *.bin", 1, 0},
        {"to", 0, FLAG_STRING, &to, "where to write: *.bin = llm.c checkpoint, else a Hugging Face folder", 1, 0},
        {"bf16", 0, FLAG_BOOL, &bf16, "store the weights as bf16 (llm.c version 5 / safetensors BF16)", 0, 0},
        {"tokenizer", 0, FLAG_STRING, &tokdir, "tokenizer folder to write into a Hugging Face --to "
                                              "(default: the --from folder's tokenizer, if any)", 0, 0},
        {"force", 0, FLAG_BOOL, &force, "replace --to if it exists", 0, 0},
        {"add-pad", 0, FLAG_BOOL, &add_pad, "give the tokenizer a PAD distinct from EOS (adding "
                                            "\"<|pad|>\" and an embedding row at the mean row when "
                                            "missing, as GPT-2 needs for a reward model)", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("convert", "--from PATH --to PATH [--bf16] [--tokenizer DIR] [--add-pad]",
                "Converts a GPT-2 model between the Hugging Face folder layout (config.json + "
                "model.safetensors) and llm.c's .bin checkpoint (version 3 fp32, version 5 bf16). "
                "The format follows from the path: a folder is Hugging Face, *.bin is llm.c.",
                flags, nf, argc, argv, NULL, 0, NULL);
    Err e;
    ModelFormat ff, tf = model_format_for_save(to);
    if (model_format_of(from, &ff, &e)) { fprintf(stderr, "rlhf convert: error: %s\n", e.msg); return 1; }
    if (path_exists(to)) {
        char a[PATH_MAX], b[PATH_MAX];
        if (realpath(from, a) && realpath(to, b) && strcmp(a, b) == 0) {
            fprintf(stderr, "rlhf convert: error: --from and --to are the same path (%s)\n", to);
            return 1;
        }
        if (!force) {
            fprintf(stderr, "rlhf convert: error: %s already exists (pass --force to replace it)\n", to);
            return 1;
        }
        if ((tf == MODEL_FMT_HF) != (is_dir(to) != 0)) {
            fprintf(stderr, "rlhf convert: error: %s exists and is %s, but a %s is written there\n",
                    to, is_dir(to) ? "a folder" : "a file", model_format_name(tf));
            return 1;
        }
    }
    GPT *m = model_load(from, 0, &e);
    if (!m) { fprintf(stderr, "rlhf convert: error: %s\n", e.msg); return 1; }
    Tokenizer tok = {0}, *tp = NULL;  // tok is freed at the end whether or not it is used
    if (tokdir) {
        if (tok_load(&tok, tokdir, &e)) {
            fprintf(stderr, "rlhf convert: error: --tokenizer: %s\n", e.msg);
            gpt_free(m);
            return 1;
        }
        tp = &tok;
    } else if (ff == MODEL_FMT_HF && tf == MODEL_FMT_HF) {
        if (tok_load(&tok, from, &e) == 0) tp = &tok;
        else fprintf(stderr, "rlhf convert: note: no tokenizer copied (%s); pass --tokenizer DIR\n", e.msg);
    }
    if (tp && tf == MODEL_FMT_LLMC) {
        fprintf(stderr, "rlhf convert: note: an llm.c checkpoint stores no tokenizer; --tokenizer ignored\n");
        tp = NULL;
    }
    if (add_pad) {
        int added;
        if (!tp) {
            fprintf(stderr, "rlhf convert: error: --add-pad needs a tokenizer (--tokenizer DIR, or a "
                            "Hugging Face --from folder that has one)\n");
            tok_free(&tok);
            gpt_free(m);
            return 1;
        }
        if (model_ensure_pad(&m, tp, &added, &e)) {
            fprintf(stderr, "rlhf convert: error: %s\n", e.msg);
            tok_free(&tok);
            gpt_free(m);
            return 1;
        }
        if (added)
            fprintf(stderr, "rlhf convert: added PAD id %d (vocabulary now %d)\n", tp->pad_id,
                    m->cfg.vocab_size);
    }
    if (tp && tp->vocab_size > m->cfg.vocab_size) {
        fprintf(stderr, "rlhf convert: error: the tokenizer has %d ids but the model's vocab_size is %d\n",
                tp->vocab_size, m->cfg.vocab_size);
        tok_free(&tok);
        gpt_free(m);
        return 1;
    }
    // without a tokenizer, keep the source folder's special-token ids (a reward model needs its
    // pad_token_id for transformers to score batches)
    json_t *extra = NULL;
    if (!tp && ff == MODEL_FMT_HF && tf == MODEL_FMT_HF) {
        char *cp = path_join(from, "config.json");
        json_t *src = json_read_file(cp, &e);
        free(cp);
        if (src) {
            extra = json_object();
            const char *keys[] = {"bos_token_id", "eos_token_id", "pad_token_id"};
            for (int i = 0; i < 3; i++) {
                json_t *v = json_object_get(src, keys[i]);
                if (v && json_is_integer(v)) json_object_set(extra, keys[i], v);
            }
            json_decref(src);
        }
    }
    int rc = 0;
    if (model_save(m, tp, to, extra, bf16, &e)) {
        fprintf(stderr, "rlhf convert: error: %s\n", e.msg);
        rc = 1;
    } else {
        fprintf(stderr, "rlhf convert: %s (%s) → %s (%s, %s): %zu parameters, %d layers, %d heads, "
                        "width %d, vocabulary %d\n",
                from, model_format_name(ff), to, model_format_name(tf), bf16 ? "bf16" : "fp32",
                m->n_params, m->cfg.n_layer, m->cfg.n_head, m->cfg.n_embd, m->cfg.vocab_size);
    }
    json_decref(extra);
    tok_free(&tok);
    gpt_free(m);
    return rc;
}
