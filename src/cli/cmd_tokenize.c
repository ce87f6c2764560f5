// cli/cmd_tokenize.c — `rlhf tokenize` (JSON lines of text → id arrays, or back with --decode)
// and `rlhf tokenizer-train` (learn a BPE vocabulary from a corpus and write a tokenizer folder).
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "tok/tokenizer.h"
#include "util/fileio.h"
#include "util/flags.h"
#include "util/json.h"
#include "util/timer.h"
#include "util/utf8.h"

static int line_error(const char *what, long lineno, const char *msg) {
    fprintf(stderr, "rlhf tokenize: error: stdin:%ld: %s%s\n", lineno, what, msg);
    return 1;
}

int cmd_tokenize(int argc, char **argv) {
    const char *dir = NULL;
    int decode = 0, special = 0;
    Flag flags[] = {
        {"tokenizer", 0, FLAG_STRING, &dir, "tokenizer or model folder (vocab.json + merges.txt, or tokenizer_config.json)", 1, 0},
        {"decode", 'd', FLAG_BOOL, &decode, "read arrays of ids, print strings", 0, 0},
        {"special", 0, FLAG_BOOL, &special, "encode: special-token text (\"<|endoftext|>\") becomes its id; decode: special tokens are written as their text instead of skipped", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("tokenize", "--tokenizer DIR [--decode] [--special] < LINES",
                "Reads JSON lines on stdin, each a JSON string, and prints one JSON array of token "
                "ids per line; with --decode reads arrays of ids and prints JSON strings (bytes "
                "that are not valid UTF-8 become U+FFFD).",
                flags, nf, argc, argv, NULL, 0, NULL);
    Tokenizer t;
    Err e;
    if (tok_load(&t, dir, &e)) {
        fprintf(stderr, "rlhf tokenize: error: %s\n", e.msg);
        return 1;
    }
    char *line = NULL;
    size_t lcap = 0, icap = 0;
    int *ids = NULL, rc = 0;
    ssize_t got;
    long lineno = 0;
    while ((got = getline(&line, &lcap, stdin)) >= 0) {
        lineno++;
        size_t k = (size_t)got;
        while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r')) k--;
        json_error_t je;
        json_t *j = json_loadb(line, k, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!j) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s (column %d)", je.text, je.column);
            rc = line_error("invalid JSON: ", lineno, msg);
            break;
        }
        if (!decode) {
            if (!json_is_string(j)) {
                rc = line_error("expected a JSON string, got ", lineno, json_type_name(j));
                json_decref(j);
                break;
            }
            size_t n = 0;
            tok_encode_ex(&t, json_string_value(j), json_string_length(j), special, &ids, &n, &icap);
            putchar('[');
            for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
            fputs("]\n", stdout);
        } else {
            if (!json_is_array(j)) {
                rc = line_error("expected a JSON array of token ids, got ", lineno, json_type_name(j));
                json_decref(j);
                break;
            }
            size_t n = json_array_size(j);
            if (n > icap) { icap = n; ids = xrealloc(ids, icap * sizeof(int)); }
            for (size_t i = 0; i < n && !rc; i++) {
                json_t *v = json_array_get(j, i);
                char msg[160];
                if (!json_is_integer(v)) {
                    snprintf(msg, sizeof msg, "element %zu: expected an integer id, got %s", i, json_type_name(v));
                    rc = line_error("", lineno, msg);
                } else if (json_integer_value(v) < 0 || json_integer_value(v) >= t.vocab_size) {
                    snprintf(msg, sizeof msg, "element %zu: id %lld is outside the vocabulary [0, %d)", i,
                             (long long)json_integer_value(v), t.vocab_size);
                    rc = line_error("", lineno, msg);
                } else {
                    ids[i] = (int)json_integer_value(v);
                }
            }
            if (rc) { json_decref(j); break; }
            size_t bn, cn;
            char *bytes = tok_decode_ex(&t, ids, n, special, &bn);
            char *clean = utf8_sanitize_len(bytes, bn, &cn);
            json_t *s = json_stringn(clean, cn);
            char *out = json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT);
            puts(out);
            free(out);
            json_decref(s);
            free(clean);
            free(bytes);
        }
        json_decref(j);
    }
    free(line);
    free(ids);
    tok_free(&t);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "rlhf tokenize: error: writing stdout: %s\n", strerror(errno));
        return 1;
    }
    return rc;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

// Feeds the documents of FILE (.jsonl {"text"} per line, or the whole file) to the trainer.
static int add_corpus(TokTrainer *tr, const char *path, size_t *bytes, size_t *docs, Err *e) {
    *bytes = *docs = 0;
    if (!ends_with(path, ".jsonl")) {
        char *data;
        size_t n;
        if (read_file(path, &data, &n, e)) return -1;
        tok_trainer_add(tr, data, n);
        free(data);
        *bytes = n;
        *docs = 1;
        return 0;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    while ((got = getline(&line, &lcap, fp)) >= 0) {
        lineno++;
        size_t k = (size_t)got;
        while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r' || line[k - 1] == ' ' || line[k - 1] == '\t')) k--;
        if (k == 0) continue;
        json_error_t je;
        json_t *j = json_loadb(line, k, JSON_ALLOW_NUL, &je);
        if (!j) { rc = err_set(e, "%s:%ld: invalid JSON: %s (column %d)", path, lineno, je.text, je.column); break; }
        json_t *t = json_object_get(j, "text");
        if (!json_is_object(j)) rc = err_set(e, "%s:%ld: expected a JSON object, got %s", path, lineno, json_type_name(j));
        else if (!t) rc = err_set(e, "%s:%ld: missing field \"text\"", path, lineno);
        else if (!json_is_string(t)) rc = err_set(e, "%s:%ld: field \"text\": expected string, got %s", path, lineno, json_type_name(t));
        else {
            tok_trainer_add(tr, json_string_value(t), json_string_length(t));
            *bytes += json_string_length(t);
            (*docs)++;
        }
        json_decref(j);
        if (rc) break;
    }
    free(line);
    fclose(fp);
    if (!rc && *docs == 0) rc = err_set(e, "%s: no documents", path);
    return rc;
}

int cmd_tokenizer_train(int argc, char **argv) {
    const char *data = NULL, *out = NULL;
    int vocab = 8192;
    Flag flags[] = {
        {"data", 0, FLAG_STRING, &data, "corpus: .txt (one document) or .jsonl of {\"text\": ...}", 1, 0},
        {"vocab-size", 0, FLAG_INT, &vocab, "total ids: 256 bytes + learned merges + 5 special tokens", 0, 0},
        {"out", 0, FLAG_STRING, &out, "folder to write vocab.json, merges.txt, tokenizer_config.json into", 1, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("tokenizer-train", "--data FILE --out DIR [--vocab-size N]",
                "Learns a GPT-2-style byte-level BPE vocabulary from a corpus (deterministic) and "
                "adds the special tokens <|endoftext|> (EOS), <|pad|> (PAD), <|system|>, <|user|>, "
                "<|assistant|> as the last ids.",
                flags, nf, argc, argv, NULL, 0, NULL);
    if (vocab < 261 || vocab > (1 << 24)) {
        fprintf(stderr, "rlhf tokenizer-train: --vocab-size must be in [261, 16777216] (256 bytes + 5 special tokens at least)\n");
        return 2;
    }
    Err e;
    double t0 = now_s();
    TokTrainer *tr = tok_trainer_new();
    size_t bytes, docs;
    if (add_corpus(tr, data, &bytes, &docs, &e)) {
        tok_trainer_free(tr);
        fprintf(stderr, "rlhf tokenizer-train: error: %s\n", e.msg);
        return 1;
    }
    double t1 = now_s();
    Tokenizer t;
    if (tok_trainer_finish(tr, vocab, &t, &e)) {
        fprintf(stderr, "rlhf tokenizer-train: error: %s\n", e.msg);
        return 1;
    }
    double t2 = now_s();
    int rc = mkdir_p(out, &e) || tok_save(&t, out, &e);
    if (rc) {
        fprintf(stderr, "rlhf tokenizer-train: error: %s\n", e.msg);
    } else {
        infof("tokenizer-train: %zu bytes in %zu document%s → %d ids (256 bytes + %d learned + 5 special) "
              "in %.2f s (counting %.2f s, merging %.2f s); wrote %s",
              bytes, docs, docs == 1 ? "" : "s", t.vocab_size, t.vocab_size - 261, now_s() - t0,
              t1 - t0, t2 - t1, out);
        if (t.vocab_size < vocab)
            warnf("the corpus ran out of pairs to merge: %d ids instead of %d", t.vocab_size, vocab);
    }
    tok_free(&t);
    return rc ? 1 : 0;
}
