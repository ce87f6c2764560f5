// cli/cmd_score.c — `rlhf score`: a reward model's scalar for each record, one JSON line each.
// Records run in packed ragged batches; the score is the scalar head (gpt_values) at one position
// of the record, chosen by --score-at:
//   eos         text records get an EOS appended and are scored at it; {"ids"} at their last id
//   before-eos  EOS appended too, scored at the last token that is not EOS — what transformers'
//               GPT2ForSequenceClassification does when pad_token_id == eos_token_id
//   last        no EOS appended; scored at the last token
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/scoring.h"
#include "data/chat.h"
#include "io/checkpoint.h"
#include "util/fileio.h"
#include "util/flags.h"

enum { AT_EOS, AT_BEFORE_EOS, AT_LAST };

int cmd_score(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *score_at = "eos";
    int batch_tokens = 4096, no_bos = 0, raw = 0, no_template = 0, plain_template = 0;
    Flag flags[] = {
        {"model", 0, FLAG_STRING, &model, "reward model folder (GPT2ForSequenceClassification, one label)", 1, 0},
        {"data", 0, FLAG_STRING, &data, "JSONL: {\"text\"}, {\"ids\"} or {\"prompt\", \"response\"} per line", 1, 0},
        {"score-at", 0, FLAG_STRING, &score_at, "where the score is read: eos, before-eos or last (see docs/scoring.md)", 0, 0},
        {"batch-tokens", 0, FLAG_INT, &batch_tokens, "tokens per forward pass (records are packed, never split)", 0, 0},
        {"no-bos", 0, FLAG_BOOL, &no_bos, "do not start text records with the end-of-text token", 0, 0},
        {"no-template", 0, FLAG_BOOL, &no_template, "{\"prompt\", \"response\"}: concatenate the two texts "
                                                    "instead of rendering them with the chat template", 0, 0},
        {"plain-template", 0, FLAG_BOOL, &plain_template, "use the plain-text chat template even if the "
                                                          "tokenizer has role-marker tokens (as rlhf rm --plain-template)", 0, 0},
        {"raw", 0, FLAG_BOOL, &raw, "print the head's raw output, without the normalisation stored by rlhf rm", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("score", "--model RM_DIR --data FILE.jsonl [FLAGS]",
                "Prints {\"score\": x} per record (one JSON line each): the reward model's scalar "
                "head at the record's end. Text is encoded with the model's tokenizer as "
                "[EOS] text [EOS] ({\"prompt\", \"response\"}: [EOS] prompt response [EOS]); "
                "{\"ids\"} are used as given.",
                flags, nf, argc, argv, NULL, 0, NULL);
    int at = !strcmp(score_at, "eos") ? AT_EOS : !strcmp(score_at, "before-eos") ? AT_BEFORE_EOS
             : !strcmp(score_at, "last") ? AT_LAST : -1;
    if (at < 0) {
        fprintf(stderr, "rlhf score: flag --score-at: expected eos, before-eos or last, got '%s'\n", score_at);
        return 2;
    }
    if (batch_tokens <= 0) { fprintf(stderr, "rlhf score: --batch-tokens must be positive\n"); return 2; }
    Err e;
    ScoringModel sm;
    if (scoring_load(model, &sm, &e)) { fprintf(stderr, "rlhf score: error: %s\n", e.msg); return 1; }
    GPT *m = sm.m;
    int rc = 1;
    TokRecords rs = {0};
    PackedBatch pb = {0};
    float *val = NULL;
    int *tail = NULL;  // [B] positions from the score position on
    if (!m->cfg.score_head) {
        fprintf(stderr, "rlhf score: error: %s has no score head: a reward model is a "
                        "GPT2ForSequenceClassification (config.json \"architectures\") with "
                        "score.weight [1, n_embd]; this is a language model (for it, use rlhf "
                        "logprobs)\n", model);
        goto out;
    }
    if (at == AT_BEFORE_EOS && sm.eos_id < 0) {
        fprintf(stderr, "rlhf score: error: --score-at before-eos needs the EOS id, but %s has "
                        "neither a tokenizer nor an eos_token_id in config.json\n", model);
        goto out;
    }
    if (at == AT_EOS && sm.cfg_pad >= 0 && sm.cfg_pad == sm.cfg_eos)
        warnf("%s: config.json has pad_token_id = eos_token_id = %ld. transformers' "
              "GPT2ForSequenceClassification reads the score at the last token that is not the "
              "pad token, i.e. at the token BEFORE the EOS, so a model trained that way (e.g. with "
              "transformers/TRL) expects --score-at before-eos. Reading at the EOS (--score-at eos).",
              model, sm.cfg_pad);
    double nbias = 0, ngain = 1;
    int has_norm = !raw && ckpt_read_reward_norm(model, &nbias, &ngain);
    RecordOpts ro = {.shapes = REC_TEXT | REC_IDS | REC_PROMPT_RESPONSE,
                     .tok = sm.has_tok ? &sm.tok : NULL, .no_tok_why = sm.no_tok_why,
                     .vocab_size = m->cfg.vocab_size, .eos_id = sm.eos_id, .bos = !no_bos,
                     .eos = at != AT_LAST, .max_len = m->cfg.n_ctx, .truncate = 0,
                     .long_hint = "a reward model must see the whole record"};
    ChatTemplate ct;
    if (sm.has_tok && !no_template) {
        chat_template_init(&ct, &sm.tok, plain_template);
        ro.chat = &ct;
    }
    if (records_load(data, &ro, &rs, &e)) { fprintf(stderr, "rlhf score: error: %s\n", e.msg); goto out; }
    // where each record is read, checked before anything is printed
    int *pos = xmalloc((rs.n ? rs.n : 1) * sizeof *pos);
    for (size_t k = 0; k < rs.n; k++) {
        const TokRecord *r = &rs.r[k];
        if (r->n == 0) {
            fprintf(stderr, "rlhf score: error: %s:%ld: field \"ids\": no tokens: nothing to score\n",
                    data, r->line);
            free(pos);
            goto out;
        }
        pos[k] = r->n - 1;
        if (at == AT_BEFORE_EOS) {
            while (pos[k] >= 0 && r->ids[pos[k]] == sm.eos_id) pos[k]--;
            if (pos[k] < 0) {
                fprintf(stderr, "rlhf score: error: %s:%ld: --score-at before-eos: the record has "
                                "no token other than EOS (%d)\n", data, r->line, sm.eos_id);
                free(pos);
                goto out;
            }
        }
    }
    size_t next = 0, printed = 0, cap = 0;
    while (scoring_next_batch(&rs, &next, (size_t)batch_tokens, &pb)) {
        if (pb.N > cap) { cap = pb.N; val = xrealloc(val, cap * sizeof *val); }
        // the last layer runs from each record's score position on (gpt_forward_tail)
        tail = xrealloc(tail, (size_t)pb.B * sizeof *tail);
        for (int b = 0; b < pb.B; b++) tail[b] = pb.len[b] - pos[pb.rec[b]];
        if (gpt_forward_tail(m, pb.B, pb.len, pb.tokens, NULL, NULL, tail, &e)) {
            fprintf(stderr, "rlhf score: error: %s:%ld: %s\n", data, rs.r[pb.rec[0]].line, e.msg);
            free(pos);
            goto out;
        }
        gpt_values(m, val);
        for (int b = 0; b < pb.B; b++, printed++) {
            json_t *j = json_pack("{s:f}", "score", ngain * ((double)val[pb.off[b] + (size_t)pos[pb.rec[b]]] + nbias));
            char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
            printf("%s\n", s);
            free(s);
            json_decref(j);
        }
    }
    fflush(stdout);
    free(pos);
    fprintf(stderr, "rlhf score: %zu records scored (score read at: %s; %s)\n", printed, score_at,
            has_norm ? "normalised: gain·(raw + bias) from config.json" : "raw");
    rc = 0;
out:
    free(val);
    free(tail);
    packed_batch_free(&pb);
    records_free(&rs);
    scoring_free(&sm);
    return rc;
}
