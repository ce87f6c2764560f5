// cli/cmd_logprobs.c — `rlhf logprobs`: the log-probability a model gives each token of each
// record given the tokens before it, one JSON line per record, and the perplexity over all of
// them on stderr. Records run in packed ragged batches (no padding).
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/scoring.h"
#include "util/flags.h"

static void print_record(const float *lp, int n, int truncated) {
    json_t *j = json_object();
    json_t *a = json_array();
    double sum = 0;
    for (int i = 0; i < n; i++) {
        json_array_append_new(a, json_real(lp[i]));
        sum += lp[i];
    }
    json_object_set_new(j, "logprobs", a);
    json_object_set_new(j, "nll", n > 0 ? json_real(-sum / n) : json_null());
    if (truncated) json_object_set_new(j, "truncated", json_integer(truncated));
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
    printf("%s\n", s);
    free(s);
    json_decref(j);
}

int cmd_logprobs(int argc, char **argv) {
    const char *model = NULL, *data = NULL;
    int batch_tokens = 4096, truncate = 0, no_bos = 0;
    Flag flags[] = {
        {"model", 0, FLAG_STRING, &model, "model: Hugging Face folder or llm.c .bin", 1, 0},
        {"data", 0, FLAG_STRING, &data, "JSONL: one {\"text\": ...} or {\"ids\": [...]} per line", 1, 0},
        {"batch-tokens", 0, FLAG_INT, &batch_tokens, "tokens per forward pass (records are packed, never split)", 0, 0},
        {"truncate", 0, FLAG_BOOL, &truncate, "keep the first n_ctx tokens of longer records (default: error)", 0, 0},
        {"no-bos", 0, FLAG_BOOL, &no_bos, "do not start text records with the end-of-text token", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("logprobs", "--model DIR --data FILE.jsonl [FLAGS]",
                "Prints {\"logprobs\": [log p(t_i | t_<i) for i >= 1], \"nll\": mean negative "
                "logprob} per record (one JSON line each) and the perplexity on stderr. Text is "
                "encoded with the model's tokenizer after an end-of-text token (see --no-bos); "
                "{\"ids\"} are used as given.",
                flags, nf, argc, argv, NULL, 0, NULL);
    if (batch_tokens <= 0) { fprintf(stderr, "rlhf logprobs: --batch-tokens must be positive\n"); return 2; }
    Err e;
    ScoringModel sm;
    if (scoring_load(model, &sm, &e)) { fprintf(stderr, "rlhf logprobs: error: %s\n", e.msg); return 1; }
    GPT *m = sm.m;
    RecordOpts ro = {.shapes = REC_TEXT | REC_IDS, .tok = sm.has_tok ? &sm.tok : NULL,
                     .no_tok_why = sm.no_tok_why, .vocab_size = m->cfg.vocab_size,
                     .eos_id = sm.eos_id, .bos = !no_bos, .eos = 0, .max_len = m->cfg.n_ctx,
                     .truncate = truncate, .long_hint = "--truncate keeps the first tokens"};
    TokRecords rs;
    if (records_load(data, &ro, &rs, &e)) {
        fprintf(stderr, "rlhf logprobs: error: %s\n", e.msg);
        scoring_free(&sm);
        return 1;
    }
    PackedBatch pb = {0};
    int *target = NULL;
    float *logp = NULL;
    size_t next = 0, printed = 0, cap = 0, n_tok = 0;
    double nll_sum = 0;
    int rc = 0;
    while (scoring_next_batch(&rs, &next, (size_t)batch_tokens, &pb)) {
        if (pb.N > cap) {
            cap = pb.N;
            target = xrealloc(target, cap * sizeof *target);
            logp = xrealloc(logp, cap * sizeof *logp);
        }
        for (int b = 0; b < pb.B; b++)
            for (int i = 0; i < pb.len[b]; i++) {
                size_t n = pb.off[b] + (size_t)i;
                target[n] = i + 1 < pb.len[b] ? pb.tokens[n + 1] : -1;
            }
        if (gpt_forward(m, pb.B, pb.len, pb.tokens, &e)) {
            fprintf(stderr, "rlhf logprobs: error: %s:%ld: %s\n", data, rs.r[pb.rec[0]].line, e.msg);
            rc = 1;
            break;
        }
        gpt_lm_logprobs(m, target, 1.0f, logp, NULL);
        // print every record up to the end of this batch, in input order (empty ones included)
        int b = 0;
        for (; printed < next; printed++) {
            const TokRecord *r = &rs.r[printed];
            if (r->n == 0) { print_record(NULL, 0, r->truncated); continue; }
            const float *lp = logp + pb.off[b];
            print_record(lp, r->n - 1, r->truncated);
            for (int i = 0; i + 1 < r->n; i++) nll_sum -= lp[i];
            n_tok += (size_t)(r->n - 1);
            b++;
        }
    }
    for (; !rc && printed < rs.n; printed++) print_record(NULL, 0, rs.r[printed].truncated);
    fflush(stdout);
    if (!rc) {
        if (n_tok > 0)
            fprintf(stderr, "rlhf logprobs: %zu records, %zu tokens predicted: mean nll %.6f, "
                            "perplexity %.6g\n", rs.n, n_tok, nll_sum / (double)n_tok,
                    exp(nll_sum / (double)n_tok));
        else
            fprintf(stderr, "rlhf logprobs: %zu records, no token to predict (a record needs at "
                            "least 2 tokens)\n", rs.n);
    }
    free(target);
    free(logp);
    packed_batch_free(&pb);
    records_free(&rs);
    scoring_free(&sm);
    return rc;
}
