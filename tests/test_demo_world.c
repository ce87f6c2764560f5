// tests/test_demo_world.c — the demo world (src/demo/world.c, labelers.c): task determinism, the
// gold judge on hand-written cases for every kind and component, parsing every generated prompt
// back, harmful detection, per-stage call counters, labeler agreement on realistic pairs, and the
// corpus / demonstration / prompt files (valid JSONL with the documented shares).
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demo/labelers.h"
#include "demo/world.h"
#include "support/check.h"
#include "util/fileio.h"

static GoldScore G(const char *p, const char *r, int ended) { return demo_gold(p, r, ended); }

static void check_case(const char *p, const char *r, int ended, double c, double f, double s, double h,
                       double b, int line) {
    GoldScore g = G(p, r, ended);
    CHECK(g.correct == c && g.format == f && g.stop == s && g.harmless == h && fabs(g.brevity - b) < 1e-9,
          "line %d: gold(%s | %s | ended %d) = c%.0f f%.0f s%.0f h%.0f b%.3f", line, p, r, ended, g.correct,
          g.format, g.stop, g.harmless, g.brevity);
    double total = 0.5 * c + 0.15 * f + 0.15 * s + 0.1 * b + 0.1 * h - (1 - h);
    CHECK(fabs(g.total - total) < 1e-9, "line %d: total %g, expected %g", line, g.total, total);
}
#define CASE(p, r, e, c, f, s, h, b) check_case(p, r, e, c, f, s, h, b, __LINE__)

static void test_tasks(void) {
    DemoTask a, b;
    int same = 1, differ = 0, kinds[TASK_KINDS] = {0};
    for (uint64_t i = 0; i < 1000; i++) {
        demo_task(7, i, &a);
        demo_task(7, i, &b);
        same &= !memcmp(&a, &b, sizeof a);
        demo_task(8, i, &b);
        differ += strcmp(a.prompt, b.prompt) != 0;
        CHECK((unsigned)a.kind < TASK_KINDS, "kind %d", a.kind);
        kinds[a.kind]++;
        CHECK(strlen(a.prompt) > 0 && strlen(a.prompt) < 32 && strlen(a.answer) > 0 && strlen(a.answer) <= 8,
              "short task: %s -> %s", a.prompt, a.answer);
    }
    CHECK(same, "demo_task is deterministic");
    CHECK(differ > 500, "another seed gives other tasks (%d of 1000 differ)", differ);
    for (int k = 0; k < TASK_KINDS; k++)
        CHECK(kinds[k] > 1000 / TASK_KINDS / 2, "kind %s appears (%d)", demo_task_kind_name((TaskKind)k), kinds[k]);
}

static void test_gold_cases(void) {
    // every kind, correct and clean
    CASE("add 3 and 4", "7", 1, 1, 1, 1, 1, 1);
    CASE("reverse abc", "cba", 1, 1, 1, 1, 1, 1);
    CASE("sort dca", "acd", 1, 1, 1, 1, 1, 1);
    CASE("how many a in banana", "3", 1, 1, 1, 1, 1, 1);
    CASE("how many z in banana", "0", 1, 1, 1, 1, 1, 1);
    CASE("opposite of hot", "cold", 1, 1, 1, 1, 1, 1);
    CASE("capital of france", "paris", 1, 1, 1, 1, 1, 1);
    CASE("uppercase cat", "CAT", 1, 1, 1, 1, 1, 1);
    CASE("add 3 and 4", "  7 ", 1, 1, 1, 1, 1, 1);  // trimmed
    // wrong answers, right form
    CASE("add 3 and 4", "8", 1, 0, 1, 1, 1, 1);
    CASE("reverse abc", "abc", 1, 0, 1, 1, 1, 1);
    CASE("sort dca", "dca", 1, 0, 1, 1, 1, 1);
    CASE("how many a in banana", "2", 1, 0, 1, 1, 1, 1);
    CASE("opposite of hot", "warm", 1, 0, 1, 1, 1, 1);
    CASE("capital of france", "rome", 1, 0, 1, 1, 1, 1);
    CASE("uppercase cat", "cat", 1, 0, 0, 1, 1, 1);  // wrong case is wrong, and not the form
    CASE("add 3 and 4", "seven", 1, 0, 0, 1, 1, 1);
    // format: chatter around a correct answer
    CASE("add 3 and 4", "the answer is 7.", 1, 1, 0, 1, 1, 1 - (16 - 12) / 48.0);
    CASE("opposite of hot", "cold!", 1, 1, 0, 1, 1, 1);
    CASE("capital of france", "Sure! paris", 1, 1, 0, 1, 1, 1);
    CASE("sort dca", "acd, of course.", 1, 1, 0, 1, 1, 1 - (15 - 12) / 48.0);
    // stop: no EOS, or ran on into another turn
    CASE("add 3 and 4", "7", 0, 1, 1, 0, 1, 1);
    CASE("add 3 and 4", "7\n\nUser: add 1 and 1\n\nAssistant: 2", 0, 1, 0, 0, 1, (60 - 34) / 48.0);
    CASE("add 3 and 4", "7 User: hi", 1, 1, 0, 0, 1, 1);
    // harmful
    CASE("add 3 and 4", "7, you idiot.", 1, 1, 0, 1, 0, 1 - (13 - 12) / 48.0);
    CASE("capital of france", "shut up.", 1, 0, 0, 1, 0, 1);
    CASE("reverse abc", "I HATE YOU", 1, 0, 0, 1, 0, 1);
    // brevity: linear from 12 to 60 bytes
    const char *ramble = "7. by the way, alice likes the dog in the river garden.";  // 55 bytes
    CASE("add 3 and 4", ramble, 1, 1, 0, 1, 1, (60 - 55) / 48.0);
    char longr[200];
    snprintf(longr, sizeof longr, "7 %s %s", ramble, ramble);
    CASE("add 3 and 4", longr, 1, 1, 0, 1, 1, 0);
    // prompt forms: a rendered transcript parses; an unknown prompt is never correct
    CASE("\n\nUser: add 3 and 4\n\nAssistant:", "7", 1, 1, 1, 1, 1, 1);
    CASE("\n\nUser: hi\n\nAssistant: hello\n\nUser: sort dca\n\nAssistant:", "acd", 1, 1, 1, 1, 1, 1);
    CASE("tell me a joke", "7", 1, 0, 0, 1, 1, 1);
    CASE("opposite of banana", "ananab", 1, 0, 0, 1, 1, 1);
    // a good answer scores clearly above a wrong, never-ending or rude one
    double good = G("add 3 and 4", "7", 1).total, wrong = G("add 3 and 4", "8", 1).total,
           noend = G("add 3 and 4", "7\n\nUser: add 1 and 1\n\nAssistant: 2", 0).total,
           rude = G("add 3 and 4", "7, you idiot.", 1).total;
    CHECK(good == 1.0 && good - wrong >= 0.4 && good - noend >= 0.3 && good - rude >= 1.0 && rude < 0,
          "ordering: good %g wrong %g noend %g rude %g", good, wrong, noend, rude);
}

static void test_parse_all(void) {
    int parsed = 0, right = 0, same = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        DemoTask t, u;
        demo_task(3, 100000 + i, &t);
        if (demo_parse_task(t.prompt, &u) == 0) {
            parsed++;
            same += u.kind == t.kind && !strcmp(u.answer, t.answer);
        }
        GoldScore g = G(t.prompt, t.answer, 1);
        right += g.correct == 1 && g.total == 1.0;
    }
    CHECK(parsed == 1000, "every generated prompt parses back (%d of 1000)", parsed);
    CHECK(same == 1000, "parsed kind and answer match (%d of 1000)", same);
    CHECK(right == 1000, "the right answer scores correct = 1, total 1 (%d of 1000)", right);
}

static void test_harmful_and_replies(void) {
    CHECK(demo_is_harmful("you IDIOT") && demo_is_harmful("what a stupid question") &&
              demo_is_harmful("shut up.") && demo_is_harmful("i hate you"),
          "bad words are harmful (any case)");
    CHECK(!demo_is_harmful("7") && !demo_is_harmful("paris") && !demo_is_harmful("the answer is 7.") &&
              !demo_is_harmful(""),
          "clean answers are not harmful");
    int rude_bad = 0, clean = 0, noend_runs = 0, n = 500;
    for (int i = 0; i < n; i++) {
        DemoTask t;
        demo_task(5, (uint64_t)i, &t);
        char r[1024];
        demo_reply(&t, DEMO_REPLY_RUDE, 5, (uint64_t)i, r, sizeof r);
        rude_bad += demo_is_harmful(r);
        int ok = 1;
        for (int s = DEMO_REPLY_GOOD; s <= DEMO_REPLY_NOEND; s++) {
            demo_reply(&t, (DemoReply)s, 5, (uint64_t)i, r, sizeof r);
            ok &= !demo_is_harmful(r);
            if (s == DEMO_REPLY_NOEND) noend_runs += strstr(r, "\n\nUser: ") != NULL;
            if (s == DEMO_REPLY_GOOD) ok &= G(t.prompt, r, 1).total == 1.0;
            if (s == DEMO_REPLY_WRONG) ok &= G(t.prompt, r, 1).correct == 0;
            if (s == DEMO_REPLY_SLOPPY) ok &= G(t.prompt, r, 1).correct == 1 && G(t.prompt, r, 1).format == 0;
        }
        clean += ok;
    }
    CHECK(rude_bad == n, "every rude reply is harmful (%d of %d)", rude_bad, n);
    CHECK(clean == n, "other styles are clean and score as their style says (%d of %d)", clean, n);
    CHECK(noend_runs == n, "never-ending replies run into another turn (%d of %d)", noend_runs, n);
}

static void test_counters(void) {
    demo_gold_reset_counts();
    demo_gold_set_stage("label");
    for (int i = 0; i < 3; i++) G("add 1 and 1", "2", 1);
    demo_gold_set_stage("eval");
    G("add 1 and 1", "2", 1);
    G("add 1 and 1", "3", 1);
    demo_gold_set_stage("sft");
    demo_gold_set_stage("label");
    G("add 1 and 1", "2", 1);
    CHECK(demo_gold_calls("label") == 4, "label calls %ld", demo_gold_calls("label"));
    CHECK(demo_gold_calls("eval") == 2, "eval calls %ld", demo_gold_calls("eval"));
    CHECK(demo_gold_calls("sft") == 0 && demo_gold_calls("ppo") == 0, "stages without calls count 0");
    demo_gold_reset_counts();
    CHECK(demo_gold_calls("label") == 0 && demo_gold_calls("eval") == 0, "reset clears the counts");
    G("add 1 and 1", "2", 1);
    CHECK(demo_gold_calls("none") == 1 && demo_gold_calls("label") == 0, "after reset the stage is \"none\"");
}

// Realistic pairs of SFT samples: two responses to one prompt, each drawn from a mix of styles an
// SFT model with ~40 % accuracy produces (clean right, clean wrong, sloppy, never-ending, rude).
static void realistic_pairs(int n, double *ga, double *gb) {
    static const int mix[][2] = {{DEMO_REPLY_GOOD, 30}, {DEMO_REPLY_WRONG, 35}, {DEMO_REPLY_SLOPPY, 10},
                                 {DEMO_REPLY_RAMBLE, 5}, {DEMO_REPLY_NOEND, 10}, {DEMO_REPLY_RUDE, 10}};
    for (int i = 0; i < n; i++) {
        DemoTask t;
        demo_task(11, (uint64_t)i, &t);
        for (int side = 0; side < 2; side++) {
            int u = (int)((unsigned)(i * 2654435761u + (unsigned)side * 40503u) >> 8) % 100, acc = 0, s = 0;
            for (int k = 0; k < 6; k++)
                if (u < (acc += mix[k][1])) { s = mix[k][0]; break; }
            char r[1024];
            demo_reply(&t, (DemoReply)s, 11, (uint64_t)(i * 2 + side), r, sizeof r);
            double g = G(t.prompt, r, s != DEMO_REPLY_NOEND).total;
            if (side == 0) ga[i] = g; else gb[i] = g;
        }
    }
}

static void test_labelers(void) {
    Labelers L;
    labelers_default(&L, 5);
    CHECK(L.n_labelers == 5, "n labelers");
    int n = 4000;
    double *ga = malloc(n * sizeof *ga), *gb = malloc(n * sizeof *gb);
    realistic_pairs(n, ga, gb);
    double agree = labelers_agreement(&L, n, ga, gb, 1);
    printf("labeler agreement on %d realistic pairs: %.3f\n", n, agree);
    CHECK(agree >= 0.70 && agree <= 0.85, "pairwise agreement %.3f in [0.70, 0.85]", agree);
    // determinism, and choices follow the gold gap
    int det = 1, big = 0, tie = 0, N = 4000;
    for (int i = 0; i < N; i++) {
        det &= labeler_prefers(&L, 2, 0.5, 0.4, 9, (uint64_t)i) == labeler_prefers(&L, 2, 0.5, 0.4, 9, (uint64_t)i);
        big += labeler_prefers(&L, 0, 1.0, -1.0, 9, (uint64_t)i);
        tie += labeler_prefers(&L, 4, 0.5, 0.5, 9, (uint64_t)i);
    }
    CHECK(det, "labeler_prefers is deterministic in (seed, item, l)");
    CHECK(fabs(big / (double)N - (1 - L.flip[0])) < 0.02, "a big gap: preferred at 1 - flip (%g)", big / (double)N);
    CHECK(fabs(tie / (double)N - 0.5) < 0.03, "a tie: preferred half the time (%g)", tie / (double)N);
    // the better response is preferred more often by the careful labeler than by the noisy one
    int c0 = 0, c4 = 0;
    for (int i = 0; i < N; i++) {
        c0 += labeler_prefers(&L, 0, 0.6, 0.5, 3, (uint64_t)i);
        c4 += labeler_prefers(&L, 4, 0.6, 0.5, 3, (uint64_t)i);
    }
    CHECK(c0 > c4 && c4 > N / 2, "careful labeler %d > noisy labeler %d > half", c0, c4);
    free(ga);
    free(gb);
    labelers_free(&L);
}

static json_t **read_jsonl(const char *path, int *n) {
    char *data;
    size_t len;
    Err e;
    *n = 0;
    if (read_file(path, &data, &len, &e)) {
        CHECK(0, "%s", e.msg);
        return NULL;
    }
    int cap = 1024;
    json_t **v = malloc(cap * sizeof *v);
    int bad = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j || !json_is_object(j)) { bad++; json_decref(j); continue; }
        if (*n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = j;
    }
    CHECK(bad == 0, "%s: %d invalid lines", path, bad);
    free(data);
    return v;
}

static void free_jsonl(json_t **v, int n) {
    for (int i = 0; i < n; i++) json_decref(v[i]);
    free(v);
}

static void check_pct(const char *what, int k, int n, int pct) {
    double got = 100.0 * k / (n > 0 ? n : 1);
    CHECK(fabs(got - pct) <= 3.0, "%s: %.1f %% (documented %d %%)", what, got, pct);
}

static void test_files(const char *dir) {
    Err e;
    char path[512];
    // corpus
    snprintf(path, sizeof path, "%s/corpus.jsonl", dir);
    const size_t bytes = 400000;
    CHECK(demo_write_corpus(path, bytes, 4, &e) == 0, "corpus: %s", e.msg);
    char *data;
    size_t len;
    if (read_file(path, &data, &len, &e) == 0) {
        CHECK(len >= bytes && len < bytes + 2048, "corpus size %zu for %zu requested", len, bytes);
        free(data);
    }
    int n;
    json_t **v = read_jsonl(path, &n);
    int prose = 0, chats = 0, good = 0, sloppy = 0, wrong = 0, ramble = 0, noend = 0, rude = 0, other = 0, notext = 0;
    for (int i = 0; i < n; i++) {
        const char *t = json_string_value(json_object_get(v[i], "text"));
        if (!t) { notext++; continue; }
        if (strncmp(t, "\n\nUser: ", 8)) { prose++; continue; }
        chats++;
        const char *a = strstr(t, "\n\nAssistant: ");
        if (!a) { other++; continue; }
        char prompt[128];
        snprintf(prompt, sizeof prompt, "%.*s", (int)(a - t - 8), t + 8);
        const char *r = a + 13;
        GoldScore g = G(prompt, r, 1);
        if (!g.harmless) rude++;
        else if (strstr(r, "\n\nUser: ")) noend++;
        else if (g.total == 1.0) good++;
        else if (g.correct && strlen(r) > 30) ramble++;
        else if (g.correct && !g.format) sloppy++;
        else if (!g.correct) wrong++;  // usually in the right form ("dog" for "uppercase dog" is not)
        else other++;
    }
    CHECK(notext == 0 && other == 0, "corpus lines: %d without text, %d unclassified", notext, other);
    check_pct("corpus prose", prose, n, DEMO_CORPUS_PROSE_PCT);
    check_pct("corpus good", good, chats, DEMO_STYLE_GOOD_PCT);
    check_pct("corpus sloppy", sloppy, chats, DEMO_STYLE_SLOPPY_PCT);
    check_pct("corpus wrong", wrong, chats, DEMO_STYLE_WRONG_PCT);
    check_pct("corpus rambling", ramble, chats, DEMO_STYLE_RAMBLE_PCT);
    check_pct("corpus never-ending", noend, chats, DEMO_STYLE_NOEND_PCT);
    check_pct("corpus rude", rude, chats, DEMO_STYLE_RUDE_PCT);
    free_jsonl(v, n);
    // the same seed writes the same file
    char path2[512];
    snprintf(path2, sizeof path2, "%s/corpus2.jsonl", dir);
    CHECK(demo_write_corpus(path2, 20000, 4, &e) == 0, "%s", e.msg);
    char *d1, *d2;
    size_t n1, n2;
    if (!read_file(path, &d1, &n1, &e) && !read_file(path2, &d2, &n2, &e)) {
        CHECK(n2 <= n1 && !memcmp(d1, d2, n2), "corpus is deterministic (a prefix of the longer one)");
        free(d1);
        free(d2);
    }

    // demonstrations
    snprintf(path, sizeof path, "%s/sft.jsonl", dir);
    const int N = 3000;
    CHECK(demo_write_sft(path, N, 4, 500, &e) == 0, "sft: %s", e.msg);
    v = read_jsonl(path, &n);
    CHECK(n == N, "sft lines %d", n);
    int sg = 0, ss = 0, sw = 0, sr = 0, so = 0, match = 0;
    for (int i = 0; i < n; i++) {
        const char *p = json_string_value(json_object_get(v[i], "prompt"));
        const char *c = json_string_value(json_object_get(v[i], "completion"));
        if (!p || !c || !*c) { so++; continue; }
        DemoTask t;
        demo_task(4, 500 + (uint64_t)i, &t);
        match += !strcmp(p, t.prompt);
        GoldScore g = G(p, c, 1);
        if (!g.harmless) sr++;
        else if (g.total == 1.0) sg++;
        else if (g.correct && !g.format) ss++;
        else if (!g.correct) sw++;
        else so++;
    }
    CHECK(match == N, "sft prompts are tasks first_index.. (%d of %d)", match, N);
    CHECK(so == 0, "sft: %d unclassified lines", so);
    check_pct("sft good", sg, n, DEMO_SFT_GOOD_PCT);
    check_pct("sft sloppy", ss, n, DEMO_SFT_SLOPPY_PCT);
    check_pct("sft wrong", sw, n, DEMO_SFT_WRONG_PCT);
    check_pct("sft rude", sr, n, DEMO_SFT_RUDE_PCT);
    free_jsonl(v, n);

    // prompts
    snprintf(path, sizeof path, "%s/prompts.jsonl", dir);
    CHECK(demo_write_prompts(path, 200, 4, 1000000, &e) == 0, "prompts: %s", e.msg);
    v = read_jsonl(path, &n);
    CHECK(n == 200, "prompt lines %d", n);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        DemoTask t;
        demo_task(4, 1000000 + (uint64_t)i, &t);
        const char *p = json_string_value(json_object_get(v[i], "prompt"));
        const char *a = json_string_value(json_object_get(v[i], "answer"));
        ok += p && a && !strcmp(p, t.prompt) && !strcmp(a, t.answer);
    }
    CHECK(ok == 200, "prompt lines match demo_task (%d of 200)", ok);
    free_jsonl(v, n);
    Err e2;
    CHECK(demo_write_prompts("/nonexistent-dir/x.jsonl", 1, 1, 0, &e2) == -1, "unwritable path fails");
}

int main(void) {
    test_tasks();
    test_gold_cases();
    test_parse_all();
    test_harmful_and_replies();
    test_counters();
    test_labelers();
    const char *base = getenv("RLHF_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/demo_world.XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL, "mkdtemp");
    if (dir) {
        test_files(dir);
        Err e;
        remove_tree(dir, &e);
    }
    return check_summary("demo_world");
}
