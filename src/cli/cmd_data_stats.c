// cli/cmd_data_stats.c — `rlhf data-stats FILE`: what a JSONL data file holds — records per
// shape, token-length percentiles (prompt / response / prompt + response) under the chat
// template, truncation under --max-len, and the bad lines with their messages. Exit 0 when every
// line is good (or --skip-bad), 1 when some line is bad or the file cannot be read, 2 on usage.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "data/encode.h"
#include "data/reader.h"
#include "util/flags.h"

typedef struct {
    int *v;
    size_t n, cap;
} IntVec;

static void iv_push(IntVec *a, int x) {
    if (a->n == a->cap) {
        a->cap = a->cap * 2 + 64;
        a->v = xrealloc(a->v, a->cap * sizeof(int));
    }
    a->v[a->n++] = x;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

// nearest-rank percentile of sorted a
static int pct(const IntVec *a, double q) {
    size_t k = (size_t)(q * (double)a->n + 0.999999);
    if (k < 1) k = 1;
    if (k > a->n) k = a->n;
    return a->v[k - 1];
}

static void print_row(const char *name, IntVec *a) {
    if (a->n == 0) {
        printf("  %-10s %8s %8s %8s %8s %8s\n", name, "-", "-", "-", "-", "0");
        return;
    }
    qsort(a->v, a->n, sizeof(int), cmp_int);
    printf("  %-10s %8d %8d %8d %8d %8zu\n", name, pct(a, 0.5), pct(a, 0.9), pct(a, 0.99),
           a->v[a->n - 1], a->n);
}

int cmd_data_stats(int argc, char **argv) {
    const char *tok_dir = NULL;
    int max_len = 0, min_prompt = -1, skip_bad = 0, max_problems = 20, plain = 0;
    Flag flags[] = {
        {"tokenizer", 0, FLAG_STRING, &tok_dir, "model or tokenizer folder (default: the byte tokenizer)", 0, 0},
        {"max-len", 0, FLAG_INT, &max_len, "count truncation to this many tokens per sequence (0: none)", 0, 0},
        {"min-prompt", 0, FLAG_INT, &min_prompt, "prompt tokens always kept when truncating (-1: max-len/2)", 0, 0},
        {"skip-bad", 0, FLAG_BOOL, &skip_bad, "bad lines are counted and listed but do not fail (exit 0)", 0, 0},
        {"max-problems", 0, FLAG_INT, &max_problems, "bad lines listed at most", 0, 0},
        {"plain-template", 0, FLAG_BOOL, &plain, "use the plain-text chat form even when the tokenizer has role tokens", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    const char *pos[1];
    int npos = 0;
    flags_parse("data-stats", "FILE.jsonl [FLAGS]",
                "Reads every line of FILE (any record shape: text, prompt/completion, messages, "
                "instruction/input/output, prompt/chosen/rejected, prompt/responses/ranking, "
                "prompt) and prints the records per shape, token lengths under the chat template "
                "(docs/chat-template.md) as p50/p90/p99/max, truncation counts for --max-len, and "
                "the bad lines with their messages.",
                flags, nf, argc, argv, pos, 1, &npos);
    if (npos != 1) { fprintf(stderr, "rlhf data-stats: expected one FILE (see --help)\n"); return 2; }
    if (max_len < 0 || max_problems < 0) { fprintf(stderr, "rlhf data-stats: --max-len and --max-problems must be >= 0\n"); return 2; }
    const char *path = pos[0];
    Err e;
    Tokenizer tok;
    memset(&tok, 0, sizeof tok);
    if (tok_dir) {
        if (tok_load(&tok, tok_dir, &e)) { fprintf(stderr, "rlhf data-stats: error: %s\n", e.msg); return 1; }
    } else {
        tok_init_bytes(&tok);
    }
    ChatTemplate ct;
    chat_template_init(&ct, &tok, plain);
    DataReader rd;
    if (data_reader_open(&rd, path, 1, max_problems, &e)) {
        fprintf(stderr, "rlhf data-stats: error: %s\n", e.msg);
        tok_free(&tok);
        return 1;
    }
    long shape[REC_SHAPE_COUNT] = {0}, n_trunc = 0, n_cut_p = 0, n_cut_r = 0, n_too_long = 0,
         n_pairs = 0, n_implicit = 0, n_margin = 0, cmp_full = 0, cmp_shared = 0;
    IntVec lp = {0}, lr = {0}, lt = {0};
    TruncOpts none = {0, -1}, to = {max_len, min_prompt};
    DataRecord rec;
    int got;
    while ((got = data_reader_next(&rd, &rec, &e)) == 1) {
        shape[rec.shape]++;
        n_pairs += rec.n_pairs;
        n_implicit += rec.implicit_prompt;
        n_margin += rec.has_margin;
        EncodedRecord x;
        record_encode(&ct, &rec, &none, &x);
        int is_text = rec.shape == REC_SHAPE_TEXT;
        if (!is_text) iv_push(&lp, x.prompt.n);
        for (int i = 0; i < x.k; i++) {
            iv_push(&lr, x.resp[i].n);
            iv_push(&lt, x.prompt.n + x.resp[i].n);
        }
        if (x.k == 0) iv_push(&lt, x.prompt.n);
        if (x.k >= 2)  // a comparison's rows with and without the prompt shared (data/batch.c)
            for (int i = 0; i < x.k; i++) {
                cmp_full += x.prompt.n + x.resp[i].n;
                cmp_shared += (i > 0 && x.prompt.n >= 2 ? 1 : x.prompt.n) + x.resp[i].n;
            }
        int kp, kr;
        int st = trunc_plan(&to, is_text ? 0 : ct.marker_len, x.prompt.n, x.resp_len0_max, &kp, &kr);
        if (st == ENC_TOO_LONG) n_too_long++;
        if (st == ENC_TRUNCATED) {
            n_trunc++;
            n_cut_p += kp < x.prompt.n;
            n_cut_r += kr < x.resp_len0_max;
        }
        encoded_free(&x);
        record_free(&rec);
    }
    int rc = 0;
    if (got < 0) {
        fprintf(stderr, "rlhf data-stats: error: %s\n", e.msg);
        rc = 1;
    } else {
        long good = 0;
        for (int s = 0; s < REC_SHAPE_COUNT; s++) good += shape[s];
        printf("file: %s\n", path);
        printf("records: %ld good, %ld bad\n", good, rd.n_bad);
        for (int s = 0; s < REC_SHAPE_COUNT; s++)
            if (shape[s]) printf("  %-26s %ld\n", rec_shape_name((RecShape)s), shape[s]);
        if (n_pairs) printf("comparison pairs: %ld (ties dropped)\n", n_pairs);
        if (n_implicit) printf("implicit prompts: %ld\n", n_implicit);
        if (n_margin) printf("with margin: %ld\n", n_margin);
        printf("chat template: %s (tokenizer: %s, vocabulary %d)\n",
               ct.special ? "special role tokens" : "plain text",
               tok.kind == TOK_BPE ? "BPE" : "bytes", tok.vocab_size);
        printf("tokens       %8s %8s %8s %8s %8s\n", "p50", "p90", "p99", "max", "count");
        print_row("prompt", &lp);
        print_row("response", &lr);
        print_row("total", &lt);
        if (cmp_full > 0)
            printf("comparison rows: %ld tokens, %ld with each prompt run once (%.0f%% fewer; "
                   "RLHF_PROMPT_SHARING)\n", cmp_full, cmp_shared,
                   100.0 * (double)(cmp_full - cmp_shared) / (double)cmp_full);
        if (max_len > 0)
            printf("max-len %d: %ld records truncated (%ld prompts cut from the left, %ld "
                   "responses cut from the right), %ld cannot fit\n", max_len, n_trunc, n_cut_p,
                   n_cut_r, n_too_long);
        if (rd.n_bad) {
            printf("problems (%ld bad lines%s):\n", rd.n_bad,
                   rd.n_bad > rd.n_problems ? ", first ones listed" : "");
            for (int i = 0; i < rd.n_problems; i++) printf("  %s\n", rd.problems[i]);
            if (!skip_bad) {
                fprintf(stderr, "rlhf data-stats: %ld bad lines in %s (--skip-bad to accept)\n",
                        rd.n_bad, path);
                rc = 1;
            }
        }
    }
    free(lp.v);
    free(lr.v);
    free(lt.v);
    data_reader_close(&rd);
    tok_free(&tok);
    return rc;
}
