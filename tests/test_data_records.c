// tests/test_data_records.c — src/data: every record shape parsed; every malformed-record class
// gives its precise FILE:LINE message; skip-bad; implicit prompts; rankings → pairs (ties
// dropped); truncation keeps responses and counts impossible records; the chat template
// round-trips through the tokenizer (byte, BPE special form, BPE plain form); the loss mask
// covers exactly the assistant tokens + EOS; deterministic shuffle/split; ragged batches.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/reader.h"

static char g_path[256];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

// Parses the single record of `line` (written as line 2 after a blank line 1).
static int parse1(const char *line, DataRecord *rec, Err *e) {
    char *t = xmalloc(strlen(line) + 3);
    sprintf(t, "\n%s\n", line);
    write_file(g_path, t);
    free(t);
    DataReader rd;
    if (data_reader_open(&rd, g_path, 0, 0, e)) return -1;
    int got = data_reader_next(&rd, rec, e);
    data_reader_close(&rd);
    return got == 1 ? 0 : -1;
}

static void expect_err(const char *line, const char *want) {
    DataRecord rec;
    Err e;
    int rc = parse1(line, &rec, &e);
    char full[1200];
    snprintf(full, sizeof full, "%s:2: %s", g_path, want);
    CHECK(rc != 0, "accepted bad line %s", line);
    if (rc == 0) { record_free(&rec); return; }
    CHECK(!strcmp(e.msg, full), "line %s\n   got:  %s\n   want: %s", line, e.msg, full);
}

static int convo_is(const Convo *c, int i, ChatRole role, const char *text) {
    return i < c->n && c->msg[i].role == role && !strcmp(c->msg[i].text, text);
}

static void test_shapes(void) {
    DataRecord r;
    Err e;
    CHECK(!parse1("{\"text\": \"hi there\"}", &r, &e), "%s", e.msg);
    CHECK(r.shape == REC_SHAPE_TEXT && !strcmp(r.text, "hi there") && r.line == 2, "text");
    record_free(&r);
    CHECK(!parse1("{\"prompt\": \"P\", \"completion\": \"C\"}", &r, &e), "%s", e.msg);
    CHECK(r.shape == REC_SHAPE_COMPLETION && r.prompt.n == 1 && convo_is(&r.prompt, 0, ROLE_USER, "P") &&
          r.k == 1 && convo_is(&r.resp[0], 0, ROLE_ASSISTANT, "C"), "completion");
    record_free(&r);
    CHECK(!parse1("{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", "
                  "\"content\": \"U\"}, {\"role\": \"assistant\", \"content\": \"A1\"}, {\"role\": "
                  "\"user\", \"content\": \"U2\"}, {\"role\": \"assistant\", \"content\": \"A2\"}]}", &r, &e), "%s", e.msg);
    CHECK(r.shape == REC_SHAPE_MESSAGES && r.prompt.n == 4 && convo_is(&r.prompt, 0, ROLE_SYSTEM, "S") &&
          convo_is(&r.prompt, 2, ROLE_ASSISTANT, "A1") && r.k == 1 && r.resp[0].n == 1 &&
          convo_is(&r.resp[0], 0, ROLE_ASSISTANT, "A2"), "messages");
    record_free(&r);
    CHECK(!parse1("{\"instruction\": \"I\", \"input\": \"X\", \"output\": \"O\"}", &r, &e), "%s", e.msg);
    CHECK(r.shape == REC_SHAPE_ALPACA && convo_is(&r.prompt, 0, ROLE_USER, "I\n\nX") &&
          convo_is(&r.resp[0], 0, ROLE_ASSISTANT, "O"), "alpaca");
    record_free(&r);
    CHECK(!parse1("{\"instruction\": \"I\", \"input\": \"\", \"output\": \"O\"}", &r, &e), "%s", e.msg);
    CHECK(convo_is(&r.prompt, 0, ROLE_USER, "I"), "alpaca, empty input");
    record_free(&r);
    CHECK(!parse1("{\"prompt\": [{\"role\": \"user\", \"content\": \"Q\"}], \"chosen\": [{\"role\": "
                  "\"assistant\", \"content\": \"G\"}], \"rejected\": \"B\", \"margin\": 0.5}", &r, &e), "%s", e.msg);
    CHECK(r.shape == REC_SHAPE_PREFERENCE && !r.implicit_prompt && convo_is(&r.prompt, 0, ROLE_USER, "Q") &&
          r.k == 2 && convo_is(&r.resp[0], 0, ROLE_ASSISTANT, "G") && convo_is(&r.resp[1], 0, ROLE_ASSISTANT, "B") &&
          r.has_margin && r.margin == 0.5 && r.n_pairs == 1 && r.pairs[0][0] == 0 && r.pairs[0][1] == 1, "preference");
    record_free(&r);
    CHECK(!parse1("{\"prompt\": \"Q\", \"chosen\": \"G\", \"rejected\": \"B\", \"score_chosen\": 7, "
                  "\"score_rejected\": 4.5}", &r, &e), "%s", e.msg);
    CHECK(r.has_margin && r.margin == 2.5, "score_chosen - score_rejected = margin, got %g", r.margin);
    record_free(&r);
    CHECK(!parse1("{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\", \"c\", \"d\"], \"ranking\": [2, 0, 3, 1]}", &r, &e), "%s", e.msg);
    CHECK(r.shape == REC_SHAPE_RANKING && r.k == 4 && r.n_rank == 4 && r.n_pairs == 6, "ranking: K(K-1)/2 pairs");
    int want[6][2] = {{2, 0}, {2, 3}, {2, 1}, {0, 3}, {0, 1}, {3, 1}};
    for (int i = 0; i < 6 && r.n_pairs == 6; i++)
        CHECK(r.pairs[i][0] == want[i][0] && r.pairs[i][1] == want[i][1], "pair %d", i);
    record_free(&r);
    CHECK(!parse1("{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\", \"c\", \"d\"], \"ranking\": [[0, 1], 2, [3]]}", &r, &e), "%s", e.msg);
    CHECK(r.n_rank == 4 && r.n_pairs == 5, "ties dropped: 6 - 1 pairs, got %d", r.n_pairs);
    for (int i = 0; i < r.n_pairs; i++)
        CHECK(!((r.pairs[i][0] == 0 && r.pairs[i][1] == 1) || (r.pairs[i][0] == 1 && r.pairs[i][1] == 0)), "tied pair kept");
    record_free(&r);
    CHECK(!parse1("{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\", \"c\", \"d\"], \"ranking\": [3, 1]}", &r, &e), "%s", e.msg);
    CHECK(r.n_rank == 2 && r.n_pairs == 1 && r.pairs[0][0] == 3 && r.pairs[0][1] == 1, "subset ranking");
    record_free(&r);
    CHECK(!parse1("{\"prompt\": \"Q\", \"answer\": \"42\"}", &r, &e), "%s", e.msg);
    CHECK(r.shape == REC_SHAPE_PROMPT && r.k == 0 && r.answer && !strcmp(r.answer, "42"), "prompt");
    record_free(&r);
}

static void test_errors(void) {
    expect_err("{\"prompt\": \"Q\", \"chosen\": 3, \"rejected\": \"B\"}",
               "field \"chosen\": expected string or list of messages, got number");
    expect_err("{\"prompt\": {}, \"chosen\": \"G\", \"rejected\": \"B\"}",
               "field \"prompt\": expected string or list of messages, got object");
    expect_err("{\"prompt\": \"Q\", \"chosen\": \"G\"}", "missing field \"rejected\"");
    expect_err("{\"prompt\": \"Q\", \"chosen\": \"\", \"rejected\": \"B\"}", "field \"chosen\": empty response");
    expect_err("{\"prompt\": \"Q\", \"chosen\": [], \"rejected\": \"B\"}", "field \"chosen\": empty response");
    expect_err("{\"prompt\": \"Q\", \"chosen\": [\"G\"], \"rejected\": \"B\"}",
               "field \"chosen\"[0]: expected a message object {\"role\", \"content\"}, got string");
    expect_err("{\"prompt\": \"Q\", \"chosen\": [{\"role\": \"user\", \"content\": \"x\"}], \"rejected\": \"B\"}",
               "field \"chosen\"[0].role: a response starts with an assistant message, got \"user\"");
    expect_err("{\"prompt\": \"Q\", \"chosen\": \"G\", \"rejected\": \"B\", \"margin\": \"big\"}",
               "field \"margin\": expected number, got string");
    expect_err("{\"prompt\": \"Q\", \"chosen\": \"G\", \"rejected\": \"B\", \"score_chosen\": 1}",
               "missing field \"score_rejected\" (\"score_chosen\" is given)");
    expect_err("{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}",
               "field \"messages\"[0].role: expected \"system\", \"user\" or \"assistant\", got \"bot\"");
    expect_err("{\"messages\": [{\"role\": 1, \"content\": \"x\"}]}",
               "field \"messages\"[0].role: expected string, got number");
    expect_err("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\"}]}",
               "field \"messages\"[1]: missing field \"content\"");
    expect_err("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": null}]}",
               "field \"messages\"[1].content: expected string, got null");
    expect_err("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
               "field \"messages\": the last message must be the assistant's (nothing to train on)");
    expect_err("{\"messages\": []}", "field \"messages\": empty list");
    expect_err("{\"messages\": \"hi\"}", "field \"messages\": expected list of messages, got string");
    expect_err("{\"completion\": \"C\"}", "missing field \"prompt\"");
    expect_err("{\"prompt\": \"P\", \"completion\": true}",
               "field \"completion\": expected string or list of messages, got boolean");
    expect_err("{\"instruction\": \"I\", \"output\": 5}", "field \"output\": expected string, got number");
    expect_err("{\"output\": \"O\"}", "missing field \"instruction\"");
    expect_err("{\"text\": 7}", "field \"text\": expected string, got number");
    expect_err("{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\", \"c\"], \"ranking\": [0, 3, 1]}",
               "field \"ranking\"[1]: index 3 is out of range: there are 3 responses (indices 0..2)");
    expect_err("{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\", \"c\"], \"ranking\": [0, -1]}",
               "field \"ranking\"[1]: index -1 is out of range: there are 3 responses (indices 0..2)");
    expect_err("{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\", \"c\"], \"ranking\": [0, 1, 0]}",
               "field \"ranking\"[2]: index 0 appears twice");
    expect_err("{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\", \"c\"], \"ranking\": [0, \"1\"]}",
               "field \"ranking\"[1]: expected a response index or a list of tied indices, got string");
    expect_err("{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\", \"c\"], \"ranking\": [1]}",
               "field \"ranking\": expected at least 2 ranked responses, got 1");
    expect_err("{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\", \"c\"], \"ranking\": [[0, 1, 2]]}",
               "field \"ranking\": every ranked response is tied (no ordered pair)");
    expect_err("{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\"], \"ranking\": 1}",
               "field \"ranking\": expected a list of response indices (best first), got number");
    expect_err("{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\"]}", "missing field \"ranking\"");
    expect_err("{\"prompt\": \"Q\", \"responses\": [], \"ranking\": []}",
               "field \"responses\": expected at least 2 responses, got 0");
    expect_err("{\"prompt\": \"Q\", \"responses\": [\"a\", \"\"], \"ranking\": [0, 1]}",
               "field \"responses\"[1]: empty response");
    expect_err("{\"prompt\": \"Q\", \"responses\": [\"a\", 2], \"ranking\": [0, 1]}",
               "field \"responses\"[1]: expected string or list of messages, got number");
    expect_err("[1, 2]", "expected a JSON object, got array");
    expect_err("\"text\"", "expected a JSON object, got string");
    expect_err("{\"foo\": 1}", "no record field: expected one of {\"text\"}, {\"prompt\", \"completion\"}, "
               "{\"messages\"}, {\"instruction\", \"input\", \"output\"}, {\"prompt\", \"chosen\", "
               "\"rejected\"}, {\"prompt\", \"responses\", \"ranking\"}, {\"prompt\"}");
    expect_err("{\"chosen\": \"\\n\\nHuman: a\\n\\nAssistant: x\", \"rejected\": \"other\"}",
               "field \"chosen\": no prompt: \"chosen\" and \"rejected\" share no prefix ending in "
               "\"\\n\\nAssistant:\" (give a \"prompt\" field)");
    expect_err("{\"chosen\": \"x\", \"rejected\": [{\"role\": \"assistant\", \"content\": \"y\"}]}",
               "field \"rejected\": expected string like \"chosen\" (implicit prompt), got array");
    // invalid JSON: the message starts with the location and names the problem
    DataRecord r;
    Err e;
    CHECK(parse1("{\"text\": \"unterminated}", &r, &e) != 0, "invalid JSON accepted");
    char want[400];
    snprintf(want, sizeof want, "%s:2: invalid JSON: ", g_path);
    CHECK(!strncmp(e.msg, want, strlen(want)), "invalid JSON message: %s", e.msg);
}

static void test_big_line_and_skip_bad(void) {
    // a 1 MB line
    size_t n = 1 << 20;
    char *line = xmalloc(n + 64);
    strcpy(line, "{\"prompt\": \"P\", \"completion\": \"");
    size_t k = strlen(line);
    for (size_t i = 0; i < n; i++) line[k + i] = (char)('a' + i % 26);
    strcpy(line + k + n, "\"}");
    DataRecord r;
    Err e;
    CHECK(!parse1(line, &r, &e), "1 MB line: %s", e.msg);
    CHECK(r.k == 1 && r.resp[0].msg[0].len == n, "1 MB content kept");
    record_free(&r);
    free(line);
    // skip-bad: counted and skipped, messages kept up to max_problems
    write_file(g_path, "{\"text\": \"a\"}\n{\"text\": 1}\nnot json\n\n{\"text\": \"b\"}\n[]\n");
    DataReader rd;
    CHECK(!data_reader_open(&rd, g_path, 1, 2, &e), "%s", e.msg);
    int good = 0, got;
    while ((got = data_reader_next(&rd, &r, &e)) == 1) good++, record_free(&r);
    CHECK(got == 0 && good == 2 && rd.n_bad == 3 && rd.n_problems == 2, "skip-bad: %d good, %ld bad, %d kept",
          good, rd.n_bad, rd.n_problems);
    char want[400];
    snprintf(want, sizeof want, "%s:2: field \"text\": expected string, got number", g_path);
    CHECK(rd.n_problems > 0 && !strcmp(rd.problems[0], want), "first problem");
    data_reader_close(&rd);
    CHECK(!data_reader_open(&rd, g_path, 0, 0, &e), "%s", e.msg);
    got = data_reader_next(&rd, &r, &e);
    if (got == 1) record_free(&r);
    got = data_reader_next(&rd, &r, &e);
    CHECK(got == -1 && !strcmp(e.msg, want), "without skip-bad: stops at line 2: %s", e.msg);
    data_reader_close(&rd);
}

static void test_implicit(void) {
    DataRecord r;
    Err e;
    CHECK(!parse1("{\"chosen\": \"\\n\\nHuman: What is 2+2?\\n\\nAssistant: 4\\n\\nHuman: Sure?\\n\\nAssistant: Yes, 4.\", "
                  "\"rejected\": \"\\n\\nHuman: What is 2+2?\\n\\nAssistant: 4\\n\\nHuman: Sure?\\n\\nAssistant: Yes, 5.\"}",
                  &r, &e), "%s", e.msg);
    CHECK(r.implicit_prompt && r.prompt.n == 3 && convo_is(&r.prompt, 0, ROLE_USER, "What is 2+2?") &&
          convo_is(&r.prompt, 1, ROLE_ASSISTANT, "4") && convo_is(&r.prompt, 2, ROLE_USER, "Sure?") &&
          convo_is(&r.resp[0], 0, ROLE_ASSISTANT, "Yes, 4.") && convo_is(&r.resp[1], 0, ROLE_ASSISTANT, "Yes, 5."),
          "HH transcript: prompt up to the last common \\n\\nAssistant:");
    record_free(&r);
    CHECK(!parse1("{\"chosen\": [{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"G\"}], "
                  "\"rejected\": [{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"B\"}]}",
                  &r, &e), "%s", e.msg);
    CHECK(r.implicit_prompt && r.prompt.n == 1 && convo_is(&r.prompt, 0, ROLE_USER, "Q") &&
          convo_is(&r.resp[0], 0, ROLE_ASSISTANT, "G") && convo_is(&r.resp[1], 0, ROLE_ASSISTANT, "B"),
          "message lists: common leading messages are the prompt");
    record_free(&r);
}

static int ids_eq(const int *a, size_t na, const int *b, size_t nb) {
    return na == nb && (na == 0 || !memcmp(a, b, na * sizeof(int)));
}

// Renders a multi-turn conversation; checks the round trip and the mask.
static void check_template(const char *what, const Tokenizer *tok, int plain, int want_special) {
    ChatTemplate ct;
    chat_template_init(&ct, tok, plain);
    CHECK(ct.special == want_special, "%s: special form %d", what, ct.special);
    Convo p = {0}, r = {0};
    convo_push(&p, ROLE_SYSTEM, "Be brief.", 9);
    convo_push(&p, ROLE_USER, "Hello there", 11);
    convo_push(&p, ROLE_ASSISTANT, "Hi", 2);
    convo_push(&p, ROLE_USER, "How are you?", 12);
    convo_push(&r, ROLE_ASSISTANT, "Fine, thanks.", 13);
    TokSeq s = {0};
    chat_render_prompt(&ct, &p, &s);
    int np = s.n;
    chat_render_response(&ct, &r, &s);
    char *text = chat_format(&ct, &p, &r);
    const char *want = want_special
        ? "<|system|>Be brief.<|user|>Hello there<|assistant|>Hi<|endoftext|><|user|>How are you?<|assistant|>Fine, thanks.<|endoftext|>"
        : "\n\nSystem: Be brief.\n\nUser: Hello there\n\nAssistant: Hi<|endoftext|>\n\nUser: How are you?\n\nAssistant: Fine, thanks.<|endoftext|>";
    CHECK(!strcmp(text, want), "%s: documented text\n got: %s", what, text);
    size_t nd;
    char *dec = tok_decode_ex(tok, s.ids, (size_t)s.n, 1, &nd);
    CHECK(nd == strlen(text) && !memcmp(dec, text, nd), "%s: decode(render) == text\n got: %s", what, dec);
    int *ids = NULL;
    size_t n = 0, cap = 0;
    if (want_special || tok->kind == TOK_BYTES) {
        tok_encode_ex(tok, text, strlen(text), 1, &ids, &n, &cap);
        CHECK(ids_eq(ids, n, s.ids, (size_t)s.n), "%s: encode(text) == render", what);
    }
    // mask: exactly the assistant contents + their EOS
    int *on = NULL;
    size_t non = 0, ocap = 0;
    for (int i = 0; i < s.n; i++) if (s.mask[i]) {
        if (non == ocap) { ocap = ocap * 2 + 16; on = xrealloc(on, ocap * sizeof(int)); }
        on[non++] = s.ids[i];
    }
    char *m = tok_decode_ex(tok, on, non, 1, &nd);
    const char *wm = want_special ? "Hi<|endoftext|>Fine, thanks.<|endoftext|>" : " Hi<|endoftext|> Fine, thanks.<|endoftext|>";
    CHECK(!strcmp(m, wm), "%s: masked-in tokens are the assistant turns + EOS, got %s", what, m);
    int eos_masked = 1;
    for (int i = 0; i < s.n; i++) if (s.ids[i] == tok->eos_id && !s.mask[i]) eos_masked = 0;
    CHECK(eos_masked && s.ids[s.n - 1] == tok->eos_id, "%s: EOS after assistant turns, trained", what);
    // a prompt ends with the assistant marker; prompt-only rendering is the prefix
    TokSeq q = {0};
    chat_render_prompt(&ct, &p, &q);
    CHECK(q.n == np && !memcmp(q.ids, s.ids, (size_t)np * sizeof(int)) && ct.marker_len > 0, "%s: prompt prefix", what);
    char *qt = tok_decode_ex(tok, q.ids + q.n - ct.marker_len, (size_t)ct.marker_len, 1, NULL);
    CHECK(!strcmp(qt, want_special ? "<|assistant|>" : "\n\nAssistant:"), "%s: prompt ends with the marker: %s", what, qt);
    free(qt);
    free(m);
    free(on);
    free(ids);
    free(dec);
    free(text);
    tokseq_free(&q);
    tokseq_free(&s);
    convo_free(&p);
    convo_free(&r);
}

static void test_template(void) {
    Tokenizer b;
    tok_init_bytes(&b);
    check_template("bytes", &b, 0, 0);
    Tokenizer t;
    Err e;
    TokTrainer *tr = tok_trainer_new();
    const char *corpus = "Hello there. How are you? Fine, thanks. Be brief. Hi! The user and the assistant talk. ";
    for (int i = 0; i < 20; i++) tok_trainer_add(tr, corpus, strlen(corpus));
    CHECK(tok_trainer_finish(tr, 320, &t, &e) == 0, "train: %s", e.msg);
    check_template("BPE special", &t, 0, 1);
    check_template("BPE plain", &t, 1, 0);
    tok_free(&t);
}

static void test_truncation(void) {
    TruncOpts o = {10, -1};
    int kp, kr;
    CHECK(trunc_plan(&o, 2, 4, 6, &kp, &kr) == ENC_OK && kp == 4 && kr == 6, "fits");
    CHECK(trunc_plan(&o, 2, 8, 4, &kp, &kr) == ENC_TRUNCATED && kp == 6 && kr == 4, "prompt cut from the left first");
    CHECK(trunc_plan(&o, 2, 8, 20, &kp, &kr) == ENC_TRUNCATED && kp == 5 && kr == 5, "prompt keeps max_len/2, response cut");
    CHECK(trunc_plan(&o, 2, 3, 20, &kp, &kr) == ENC_TRUNCATED && kp == 3 && kr == 7, "short prompt kept whole");
    TruncOpts o2 = {10, 0};
    CHECK(trunc_plan(&o2, 2, 8, 20, &kp, &kr) == ENC_TRUNCATED && kp == 2 && kr == 8, "min_prompt 0 keeps the marker");
    TruncOpts o3 = {2, -1};
    CHECK(trunc_plan(&o3, 2, 5, 5, &kp, &kr) == ENC_TOO_LONG, "max_len <= marker: too long");
    TruncOpts o4 = {13, -1};
    CHECK(trunc_plan(&o4, 12, 30, 5, &kp, &kr) == ENC_TRUNCATED && kp == 12 && kr == 1, "one response token kept");
    // a record: the response keeps its start, the prompt its end
    Tokenizer b;
    tok_init_bytes(&b);
    ChatTemplate ct;
    chat_template_init(&ct, &b, 0);
    DataRecord r;
    Err e;
    CHECK(!parse1("{\"prompt\": \"0123456789abcdefghij\", \"completion\": \"ABCDEFGHIJKLMNOPQRSTUVWXYZ\"}", &r, &e), "%s", e.msg);
    TruncOpts to = {40, -1};
    EncodedRecord x;
    CHECK(record_encode(&ct, &r, &to, &x) == ENC_TRUNCATED, "truncated");
    CHECK(x.prompt.n + x.resp[0].n == 40 && x.prompt.n == 20 && x.resp[0].ids[0] == ' ' && x.resp[0].ids[1] == 'A' &&
          x.cut_prompt == x.prompt_len0 - 20, "prompt %d resp %d", x.prompt.n, x.resp[0].n);
    char *pt = tok_decode(&b, x.prompt.ids, (size_t)x.prompt.n);
    CHECK(!strcmp(pt, "cdefghij\n\nAssistant:"), "prompt keeps its end: %s", pt);
    free(pt);
    encoded_free(&x);
    record_free(&r);
    // a dataset: impossible records are counted, never silently dropped
    write_file(g_path, "{\"prompt\": \"P\", \"completion\": \"C\"}\n{\"prompt\": \"PP\", \"completion\": \"CCCCCCCCCCCCCCCCCCCCCCCC\"}\n");
    Dataset tr;
    DataReport rep;
    DataOpts dopt = {.kind = DATA_SFT, .tok = &b, .trunc = {12, -1}};
    CHECK(!dataset_load(g_path, &dopt, &tr, NULL, &rep, &e), "%s", e.msg);
    CHECK(rep.n_too_long == 2 && tr.n == 0, "max-len 12 <= marker 12: both too long (%ld), kept %zu", rep.n_too_long, tr.n);
    dataset_free(&tr);
    data_report_free(&rep);
    dopt.trunc.max_len = 30;
    CHECK(!dataset_load(g_path, &dopt, &tr, NULL, &rep, &e), "%s", e.msg);
    CHECK(rep.n_too_long == 0 && rep.n_truncated == 1 && tr.n == 2 && tr.sft[1].n == 30 &&
          tr.sft[1].ids[tr.sft[1].n_prompt + 1] == 'C', "truncated record kept with its response start");
    dataset_free(&tr);
    data_report_free(&rep);
}

static void test_mask_targets(void) {
    Tokenizer b;
    tok_init_bytes(&b);
    Err e;
    write_file(g_path, "{\"prompt\": \"abcdef\", \"completion\": \"xyz\"}\n"
                       "{\"prompt\": \"ABCDEF\", \"completion\": \"xyz\"}\n");
    Dataset ds;
    DataReport rep;
    DataOpts o = {.kind = DATA_SFT, .tok = &b, .trunc = {0, -1}};
    CHECK(!dataset_load(g_path, &o, &ds, NULL, &rep, &e), "%s", e.msg);
    CHECK(ds.n == 2, "two examples");
    if (ds.n != 2) return;
    DataBatch bt = {0};
    data_batch_add(&bt, &ds, 0);
    data_batch_add(&bt, &ds, 1);
    int n0 = bt.len[0];
    CHECK(bt.B == 2 && bt.len[1] == n0, "same length");
    int same = 1, n_on = 0;
    for (int i = 0; i < n0; i++) {
        if (bt.targets[i] != bt.targets[n0 + i]) same = 0;
        if (bt.targets[i] >= 0) {
            n_on++;
            if (!ds.sft[0].mask[i + 1] || bt.targets[i] != ds.sft[0].ids[i + 1]) same = 0;
        }
    }
    CHECK(same, "changing prompt tokens leaves the trained targets and their positions unchanged");
    CHECK(n_on == 5, "trained targets: ' xyz' + EOS = 5, got %d", n_on);
    CHECK(bt.targets[n0 - 1] == -1 && bt.targets[n0 - 2] == b.eos_id, "last target: EOS");
    data_batch_free(&bt);
    dataset_free(&ds);
    data_report_free(&rep);
}

static void test_shuffle_split_batches(void) {
    int a[50], c[50], d[50];
    data_order(50, 7, 0, a);
    data_order(50, 7, 0, c);
    data_order(50, 7, 1, d);
    int seen[50] = {0}, perm = 1;
    for (int i = 0; i < 50; i++) { if (a[i] < 0 || a[i] >= 50 || seen[a[i]]++) perm = 0; }
    CHECK(perm && !memcmp(a, c, sizeof a) && memcmp(a, d, sizeof a), "order: permutation, same per (seed, epoch), differs per epoch");
    int nv = 0;
    for (long l = 1; l <= 10000; l++) nv += data_is_val(3, l, 0.1);
    CHECK(nv > 850 && nv < 1150, "val fraction 0.1 of 10000: %d", nv);
    // the split is a function of the line: same on reload, train + val = all
    Tokenizer b;
    tok_init_bytes(&b);
    char *buf = xmalloc(200 * 60);
    buf[0] = 0;
    for (int i = 0; i < 200; i++) sprintf(buf + strlen(buf), "{\"prompt\": \"p%d\", \"chosen\": \"c%d\", \"rejected\": \"r\"}\n", i, i);
    write_file(g_path, buf);
    free(buf);
    Dataset tr, va, tr2, va2;
    DataReport rep;
    Err e;
    DataOpts o = {.kind = DATA_CMP, .tok = &b, .trunc = {0, -1}, .val_fraction = 0.25, .split_seed = 1};
    CHECK(!dataset_load(g_path, &o, &tr, &va, &rep, &e), "%s", e.msg);
    data_report_free(&rep);
    CHECK(!dataset_load(g_path, &o, &tr2, &va2, &rep, &e), "%s", e.msg);
    data_report_free(&rep);
    CHECK(tr.n + va.n == 200 && va.n > 25 && va.n < 75 && va.n == va2.n, "split %zu/%zu", tr.n, va.n);
    int lines_ok = 1;
    for (size_t i = 0; i < va.n && i < va2.n; i++)
        if (va.cmp[i].line != va2.cmp[i].line || !data_is_val(1, va.cmp[i].line, 0.25)) lines_ok = 0;
    CHECK(lines_ok, "same validation records on reload");
    // batches: global batch 16 over the train set, every example once, rows per response; with
    // prompt sharing (the default) the rejected row holds the prompt's last token and its response
    // and continues the chosen row's first n_prompt − 1 positions; without, it holds everything
    for (int share = 1; share >= 0; share--) {
        if (!share) setenv("RLHF_PROMPT_SHARING", "0", 1);
        BatchIter it;
        DataBatch bt = {0};
        batch_iter_init(&it, &tr, 16, 5, 0, 1);
        size_t total = 0;
        int rows_ok = 1;
        char *hit = xcalloc(tr.n, 1);
        while (batch_iter_next(&it, &bt)) {
            total += (size_t)bt.n_examples;
            if (bt.B != 2 * bt.n_examples) rows_ok = 0;
            size_t off = 0;
            for (int r = 0; r < bt.B; r++) {
                const CmpExample *cx = &tr.cmp[bt.example[r]];
                hit[bt.example[r]] = 1;
                int child = share && bt.response[r] > 0, skip = child ? cx->n_prompt - 1 : 0;
                if (bt.parent[r] != (child ? r - 1 : -1) || bt.prefix[r] != skip) rows_ok = 0;
                if (bt.len[r] != cx->n_prompt - skip + cx->n_resp[bt.response[r]]) rows_ok = 0;
                if (bt.tokens[off] != cx->prompt[skip]) rows_ok = 0;
                for (int i = 0; i < bt.len[r]; i++) {
                    int want = i + 1 + skip >= cx->n_prompt && i + 1 < bt.len[r] ? bt.tokens[off + i + 1] : -1;
                    if (bt.targets[off + i] != want) rows_ok = 0;
                }
                off += (size_t)bt.len[r];
            }
            if (off != bt.N) rows_ok = 0;
        }
        int all = 1;
        for (size_t i = 0; i < tr.n; i++) all &= hit[i];
        CHECK(total == tr.n && all && rows_ok,
              "batches cover the epoch once; comparison rows and targets (prompt sharing %d)", share);
        free(hit);
        batch_iter_free(&it);
        data_batch_free(&bt);
    }
    unsetenv("RLHF_PROMPT_SHARING");
    dataset_free(&tr);
    dataset_free(&va);
    dataset_free(&tr2);
    dataset_free(&va2);
    // a stage rejects the wrong shape
    o.kind = DATA_SFT;
    CHECK(dataset_load(g_path, &o, &tr, &va, &rep, &e) != 0 && strstr(e.msg, ":1: a prompt/chosen/rejected record, but SFT data needs"),
          "wrong shape for the stage: %s", e.msg);
}

static void test_prompts_and_val_file(void) {
    Tokenizer b;
    tok_init_bytes(&b);
    Err e;
    char vpath[300];
    snprintf(vpath, sizeof vpath, "%s.val", g_path);
    write_file(g_path, "{\"prompt\": \"abcdefghijklmnopqrstuvwxyz\", \"answer\": \"7\"}\n"
                       "{\"prompt\": \"Q\", \"chosen\": \"a long chosen response\", \"rejected\": \"r\"}\n");
    write_file(vpath, "{\"prompt\": \"V\"}\n");
    Dataset tr, va;
    DataReport rep;
    DataOpts o = {.kind = DATA_PROMPT, .tok = &b, .trunc = {30, -1}, .val_path = vpath};
    CHECK(!dataset_load(g_path, &o, &tr, &va, &rep, &e), "%s", e.msg);
    CHECK(tr.n == 2 && va.n == 1 && rep.n_train == 2 && rep.n_val == 1, "train file + --val file: %zu + %zu", tr.n, va.n);
    if (tr.n == 2) {
        CHECK(tr.prm[0].n == 29 && tr.prm[0].answer && !strcmp(tr.prm[0].answer, "7"), "prompt cut to max_len - 1 from the left, answer kept");
        char *t = tok_decode(&b, tr.prm[0].ids, (size_t)tr.prm[0].n);
        CHECK(!strcmp(t, "jklmnopqrstuvwxyz\n\nAssistant:"), "prompt keeps its end: %s", t);
        free(t);
        CHECK(tr.prm[1].n == 7 + 2 + 12, "a preference's prompt, untouched by its responses' length: %d", tr.prm[1].n);
    }
    dataset_free(&tr);
    dataset_free(&va);
    data_report_free(&rep);
    remove(vpath);
}

int main(void) {
    snprintf(g_path, sizeof g_path, "/tmp/rlhf-test-data-%d.jsonl", (int)getpid());
    test_shapes();
    test_errors();
    test_big_line_and_skip_bad();
    test_implicit();
    test_template();
    test_truncation();
    test_mask_targets();
    test_shuffle_split_batches();
    test_prompts_and_val_file();
    remove(g_path);
    return check_summary("data_records");
}
