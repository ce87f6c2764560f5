// cli/cmd_init.c — `rlhf init`: writes a randomly initialised model folder (GPT-2 init) — a
// language model, or a reward/value model with --score-head — to start training from scratch
// (and to make tiny models for tests). The tokenizer is the byte tokenizer, or the one of an
// existing model folder (--tokenizer).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "io/checkpoint.h"
#include "util/fileio.h"
#include "util/flags.h"

int cmd_init(int argc, char **argv) {
    const char *out = NULL, *tokdir = NULL;
    int layers = 4, heads = 4, embd = 128, ctx = 128, vocab = 0, score_head = 0, force = 0;
    long seed = 1;
    Flag flags[] = {
        {"out", 0, FLAG_STRING, &out, "model folder to write (config.json, model.safetensors, tokenizer)", 1, 0},
        {"layers", 0, FLAG_INT, &layers, "transformer blocks", 0, 0},
        {"heads", 0, FLAG_INT, &heads, "attention heads (must divide --embd)", 0, 0},
        {"embd", 0, FLAG_INT, &embd, "embedding width", 0, 0},
        {"ctx", 0, FLAG_INT, &ctx, "context length (position embeddings)", 0, 0},
        {"vocab", 0, FLAG_INT, &vocab, "vocabulary rows (0 = the tokenizer's size; more pads the table)", 0, 0},
        {"tokenizer", 0, FLAG_STRING, &tokdir, "copy the tokenizer of this model folder (default: byte tokenizer, 258 ids)", 0, 0},
        {"score-head", 0, FLAG_BOOL, &score_head, "add a scalar head: a reward / value model (GPT2ForSequenceClassification)", 0, 0},
        {"seed", 0, FLAG_LONG, &seed, "random seed of the initialisation", 0, 0},
        {"force", 0, FLAG_BOOL, &force, "replace --out if it exists", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("init", "--out DIR [--layers L --heads H --embd C --ctx T] [FLAGS]",
                "Writes a randomly initialised GPT-2 model folder (N(0, 0.02) weights, residual "
                "projections scaled by 1/sqrt(2L), LayerNorm 1/0), loadable by rlhf and by "
                "transformers.",
                flags, nf, argc, argv, NULL, 0, NULL);
    Err e;
    Tokenizer tok;
    if (tokdir) {
        if (tok_load(&tok, tokdir, &e)) {
            fprintf(stderr, "rlhf init: error: %s\n", e.msg);
            tok_free(&tok);
            return 1;
        }
    } else {
        tok_init_bytes(&tok);
    }
    // a reward model reads its score at the last non-pad token (transformers): it needs a PAD
    // distinct from EOS, which GPT-2's own vocabulary lacks
    if (score_head && (tok.pad_id < 0 || tok.pad_id == tok.eos_id)) {
        int pad = tok_ensure_pad(&tok);
        if (pad >= 0 && pad != tok.eos_id)
            fprintf(stderr, "rlhf init: note: the tokenizer had no PAD distinct from EOS: added "
                            "id %d (vocabulary %d)\n", pad, tok.vocab_size);
    }
    int rc = 1;
    GPT *m = NULL;
    if (vocab == 0) vocab = tok.vocab_size;
    if (vocab < tok.vocab_size) {
        fprintf(stderr, "rlhf init: error: --vocab %d is smaller than the tokenizer's %d ids\n",
                vocab, tok.vocab_size);
        rc = 2;
        goto out;
    }
    GPTConfig c = {.n_layer = layers, .n_head = heads, .n_embd = embd, .n_ctx = ctx,
                   .vocab_size = vocab, .score_head = score_head};
    if (gpt_config_check(&c, &e)) {
        fprintf(stderr, "rlhf init: error: %s\n", e.msg);
        rc = 2;
        goto out;
    }
    if (path_exists(out) && !force) {
        fprintf(stderr, "rlhf init: error: %s exists (--force replaces it)\n", out);
        goto out;
    }
    m = gpt_create(&c, 0);
    gpt_init_weights(m, (uint64_t)seed);
    if (ckpt_save_model(m, &tok, out, NULL, &e)) {
        fprintf(stderr, "rlhf init: error: %s\n", e.msg);
        goto out;
    }
    rc = 0;
    fprintf(stderr, "rlhf init: wrote %s: %s, %zu parameters (n_layer %d, n_head %d, n_embd %d, "
                        "n_ctx %d, vocab_size %d)\n", out,
                score_head ? "reward/value model" : "language model", m->n_params, layers, heads,
                embd, ctx, vocab);
out:
    gpt_free(m);
    tok_free(&tok);
    return rc;
}
