// cli/scoring.c — model loading and ragged batching shared by `rlhf logprobs` and `rlhf score`
// (see scoring.h).
#include "cli/scoring.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/model_io.h"
#include "util/fileio.h"
#include "util/json.h"

// An integer config key, or -1 when absent / null / not an integer.
static long config_id(const json_t *j, const char *key) {
    const json_t *v = json_object_get(j, key);
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

int scoring_load(const char *path, ScoringModel *s, Err *e) {
    memset(s, 0, sizeof *s);
    s->eos_id = -1;
    s->cfg_eos = s->cfg_pad = -1;
    ModelFormat f;
    if (model_format_of(path, &f, e)) return -1;
    s->m = model_load(path, 0, e);
    if (!s->m) return -1;
    if (f == MODEL_FMT_HF) {
        char *cp = path_join(path, "config.json");
        json_t *j = json_read_file(cp, e);
        free(cp);
        if (!j) goto fail;
        s->cfg_eos = config_id(j, "eos_token_id");
        s->cfg_pad = config_id(j, "pad_token_id");
        json_decref(j);
        static const char *const files[] = {"tokenizer_config.json", "vocab.json", "encoder.json"};
        int has_files = 0;
        for (int i = 0; i < 3; i++) {
            char *f = path_join(path, files[i]);
            has_files |= path_exists(f);
            free(f);
        }
        if (has_files) {
            s->has_tok = 1;  // (tok_free is safe after a failed tok_load)
            if (tok_load(&s->tok, path, e)) goto fail;
            if (s->tok.vocab_size > s->m->cfg.vocab_size) {
                err_set(e, "%s: the tokenizer has %d ids but the model's vocab_size is %d", path,
                        s->tok.vocab_size, s->m->cfg.vocab_size);
                goto fail;
            }
        } else {
            snprintf(s->no_tok_why, sizeof s->no_tok_why,
                     "the model folder %s has no tokenizer files (tokenizer_config.json)", path);
        }
    } else {
        snprintf(s->no_tok_why, sizeof s->no_tok_why,
                 "%s is an llm.c checkpoint, which carries no tokenizer", path);
    }
    s->eos_id = s->has_tok ? s->tok.eos_id : (int)s->cfg_eos;
    return 0;
fail:
    scoring_free(s);
    return -1;
}

void scoring_free(ScoringModel *s) {
    gpt_free(s->m);
    s->m = NULL;
    if (s->has_tok) tok_free(&s->tok);
    s->has_tok = 0;
}

int scoring_next_batch(const TokRecords *rs, size_t *next, size_t batch_tokens, PackedBatch *pb) {
    size_t i = *next;
    while (i < rs->n && rs->r[i].n == 0) i++;  // empty records have nothing to run
    if (i >= rs->n) {
        *next = i;
        return 0;
    }
    size_t j = i, N = 0;
    int B = 0;
    while (j < rs->n && (B == 0 || N + (size_t)rs->r[j].n <= batch_tokens)) {
        if (rs->r[j].n > 0) { N += (size_t)rs->r[j].n; B++; }
        j++;
    }
    pb->len = xrealloc(pb->len, (size_t)B * sizeof *pb->len);
    pb->off = xrealloc(pb->off, (size_t)B * sizeof *pb->off);
    pb->rec = xrealloc(pb->rec, (size_t)B * sizeof *pb->rec);
    pb->tokens = xrealloc(pb->tokens, N * sizeof *pb->tokens);
    pb->B = B;
    pb->N = N;
    size_t o = 0;
    int b = 0;
    for (size_t k = i; k < j; k++) {
        const TokRecord *r = &rs->r[k];
        if (r->n == 0) continue;
        pb->len[b] = r->n;
        pb->off[b] = o;
        pb->rec[b] = k;
        memcpy(pb->tokens + o, r->ids, (size_t)r->n * sizeof(int));
        o += (size_t)r->n;
        b++;
    }
    *next = j;
    return 1;
}

void packed_batch_free(PackedBatch *pb) {
    free(pb->len);
    free(pb->off);
    free(pb->rec);
    free(pb->tokens);
    memset(pb, 0, sizeof *pb);
}
