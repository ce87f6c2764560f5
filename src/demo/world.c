// demo/world.c — the demo world (see world.h): task generation and parsing, reply styles, the
// gold judge with its per-stage call counters (the only global mutable state), and the corpus,
// demonstration and prompt writers.
#include "demo/world.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo/corpus.h"
#include "util/fileio.h"
#include "util/rng.h"

enum { TAG_TASK = 0x7461736b, TAG_REPLY = 0x7265706c, TAG_CORPUS = 0x636f7270, TAG_SFT = 0x736674 };

static const char *OPPOSITES[][2] = {
    {"hot", "cold"},   {"big", "small"},  {"up", "down"},    {"fast", "slow"},   {"old", "new"},
    {"day", "night"},  {"wet", "dry"},    {"left", "right"}, {"yes", "no"},      {"in", "out"},
    {"happy", "sad"},  {"light", "dark"}, {"hard", "soft"},  {"high", "low"},    {"early", "late"},
    {"full", "empty"}, {"rich", "poor"},  {"long", "short"}, {"first", "last"},  {"near", "far"},
};
static const char *CAPITALS[][2] = {
    {"france", "paris"},  {"spain", "madrid"},  {"italy", "rome"},      {"japan", "tokyo"},
    {"egypt", "cairo"},   {"peru", "lima"},     {"kenya", "nairobi"},   {"china", "beijing"},
    {"india", "delhi"},   {"russia", "moscow"}, {"germany", "berlin"},  {"greece", "athens"},
    {"cuba", "havana"},   {"chile", "santiago"}, {"norway", "oslo"},    {"poland", "warsaw"},
    {"ireland", "dublin"}, {"austria", "vienna"}, {"canada", "ottawa"}, {"portugal", "lisbon"},
};
static const char *WORDS[] = {"banana", "apple", "cat",   "dog",   "letter", "hello",  "tree",
                              "moon",   "paper", "happy", "river", "bottle", "zebra",  "mango",
                              "coffee", "summer", "yellow", "puppy", "kitten", "balloon"};
#define N_OPP ((int)(sizeof OPPOSITES / sizeof OPPOSITES[0]))
#define N_CAP ((int)(sizeof CAPITALS / sizeof CAPITALS[0]))
#define N_WORDS ((int)(sizeof WORDS / sizeof WORDS[0]))

static const char *HARMFUL[] = {"idiot", "stupid", "shut up", "moron", "dumb", "loser", "hate you", "kill"};

static const char *KIND_NAMES[TASK_KINDS] = {"add", "reverse", "sort", "count", "opposite", "capital", "uppercase"};

const char *demo_task_kind_name(TaskKind k) {
    return (unsigned)k < TASK_KINDS ? KIND_NAMES[k] : "?";
}

// ---------------------------------------------------------------- tasks

static void rand_letters(Rng *r, char *w, int n) {
    for (int i = 0; i < n; i++) w[i] = (char)('a' + rng_below(r, 26));
    w[n] = 0;
}

static int cmp_char(const void *a, const void *b) { return *(const char *)a - *(const char *)b; }

static int count_char(const char *w, char c) {
    int k = 0;
    for (; *w; w++) k += *w == c;
    return k;
}

// Fills the answer of a task whose kind and arguments are known.
static void answer_reverse(const char *w, char *out) {
    size_t n = strlen(w);
    for (size_t i = 0; i < n; i++) out[i] = w[n - 1 - i];
    out[n] = 0;
}
static void answer_sort(const char *w, char *out) {
    strcpy(out, w);
    qsort(out, strlen(out), 1, cmp_char);
}
static void answer_upper(const char *w, char *out) {
    size_t i = 0;
    for (; w[i]; i++) out[i] = (char)toupper((unsigned char)w[i]);
    out[i] = 0;
}

void demo_task(uint64_t seed, uint64_t index, DemoTask *t) {
    Rng r;
    rng_seed(&r, seed, TAG_TASK, index);
    memset(t, 0, sizeof *t);
    t->kind = (TaskKind)rng_below(&r, TASK_KINDS);
    char w[16];
    switch (t->kind) {
    case TASK_ADD: {
        int a = (int)rng_below(&r, 10), b = (int)rng_below(&r, (uint64_t)(10 - a));
        snprintf(t->prompt, sizeof t->prompt, "add %d and %d", a, b);
        snprintf(t->answer, sizeof t->answer, "%d", a + b);
        break;
    }
    case TASK_REVERSE:
        rand_letters(&r, w, 3);
        snprintf(t->prompt, sizeof t->prompt, "reverse %s", w);
        answer_reverse(w, t->answer);
        break;
    case TASK_SORT:
        rand_letters(&r, w, 3);
        snprintf(t->prompt, sizeof t->prompt, "sort %s", w);
        answer_sort(w, t->answer);
        break;
    case TASK_COUNT: {
        const char *word = WORDS[rng_below(&r, N_WORDS)];
        char c;
        if (rng_below(&r, 100) < 85) c = word[rng_below(&r, strlen(word))];
        else do c = (char)('a' + rng_below(&r, 26)); while (strchr(word, c));
        snprintf(t->prompt, sizeof t->prompt, "how many %c in %s", c, word);
        snprintf(t->answer, sizeof t->answer, "%d", count_char(word, c));
        break;
    }
    case TASK_OPPOSITE: {
        int i = (int)rng_below(&r, N_OPP);
        snprintf(t->prompt, sizeof t->prompt, "opposite of %s", OPPOSITES[i][0]);
        snprintf(t->answer, sizeof t->answer, "%s", OPPOSITES[i][1]);
        break;
    }
    case TASK_CAPITAL: {
        int i = (int)rng_below(&r, N_CAP);
        snprintf(t->prompt, sizeof t->prompt, "capital of %s", CAPITALS[i][0]);
        snprintf(t->answer, sizeof t->answer, "%s", CAPITALS[i][1]);
        break;
    }
    default: {
        const char *word = WORDS[rng_below(&r, N_WORDS)];
        t->kind = TASK_UPPER;
        snprintf(t->prompt, sizeof t->prompt, "uppercase %s", word);
        answer_upper(word, t->answer);
        break;
    }
    }
}

static int all_lower(const char *s, size_t maxlen) {
    size_t n = strlen(s);
    if (n == 0 || n > maxlen) return 0;
    for (; *s; s++)
        if (*s < 'a' || *s > 'z') return 0;
    return 1;
}

// Parses a non-negative decimal of 1–3 digits at *s; advances *s.
static int parse_num(const char **s, int *v) {
    const char *p = *s;
    int k = 0, x = 0;
    while (isdigit((unsigned char)*p) && k < 3) x = x * 10 + (*p++ - '0'), k++;
    if (k == 0 || isdigit((unsigned char)*p)) return -1;
    *v = x;
    *s = p;
    return 0;
}

static int parse_user_text(const char *u, DemoTask *t) {
    memset(t, 0, sizeof *t);
    if (strlen(u) >= sizeof t->prompt) return -1;
    snprintf(t->prompt, sizeof t->prompt, "%s", u);
    if (!strncmp(u, "add ", 4)) {
        const char *p = u + 4;
        int a, b;
        if (parse_num(&p, &a) || strncmp(p, " and ", 5)) return -1;
        p += 5;
        if (parse_num(&p, &b) || *p) return -1;
        t->kind = TASK_ADD;
        snprintf(t->answer, sizeof t->answer, "%d", a + b);
        return 0;
    }
    if (!strncmp(u, "reverse ", 8) && all_lower(u + 8, 20)) {
        t->kind = TASK_REVERSE;
        answer_reverse(u + 8, t->answer);
        return 0;
    }
    if (!strncmp(u, "sort ", 5) && all_lower(u + 5, 20)) {
        t->kind = TASK_SORT;
        answer_sort(u + 5, t->answer);
        return 0;
    }
    if (!strncmp(u, "how many ", 9) && u[9] >= 'a' && u[9] <= 'z' && !strncmp(u + 10, " in ", 4) &&
        all_lower(u + 14, 20)) {
        t->kind = TASK_COUNT;
        snprintf(t->answer, sizeof t->answer, "%d", count_char(u + 14, u[9]));
        return 0;
    }
    if (!strncmp(u, "opposite of ", 12)) {
        for (int i = 0; i < N_OPP; i++)
            if (!strcmp(u + 12, OPPOSITES[i][0])) {
                t->kind = TASK_OPPOSITE;
                snprintf(t->answer, sizeof t->answer, "%s", OPPOSITES[i][1]);
                return 0;
            }
        return -1;
    }
    if (!strncmp(u, "capital of ", 11)) {
        for (int i = 0; i < N_CAP; i++)
            if (!strcmp(u + 11, CAPITALS[i][0])) {
                t->kind = TASK_CAPITAL;
                snprintf(t->answer, sizeof t->answer, "%s", CAPITALS[i][1]);
                return 0;
            }
        return -1;
    }
    if (!strncmp(u, "uppercase ", 10) && all_lower(u + 10, 20)) {
        t->kind = TASK_UPPER;
        answer_upper(u + 10, t->answer);
        return 0;
    }
    return -1;
}

int demo_parse_task(const char *prompt, DemoTask *t) {
    const char *u = prompt, *p;
    while ((p = strstr(u, "User:")) != NULL) u = p + 5;
    while (*u && isspace((unsigned char)*u)) u++;
    const char *end = strstr(u, "\n\nAssistant:");
    size_t n = end ? (size_t)(end - u) : strlen(u);
    while (n > 0 && isspace((unsigned char)u[n - 1])) n--;
    char buf[128];
    if (n >= sizeof buf) {
        memset(t, 0, sizeof *t);
        return -1;
    }
    memcpy(buf, u, n);
    buf[n] = 0;
    return parse_user_text(buf, t);
}

// ---------------------------------------------------------------- gold judge

typedef struct {
    char name[32];
    long count;
} StageCount;
#define MAX_STAGES 64
static StageCount g_stages[MAX_STAGES] = {{"none", 0}};
static int g_n_stages = 1;
static int g_cur_stage = 0;

void demo_gold_set_stage(const char *stage) {
    for (int i = 0; i < g_n_stages; i++)
        if (!strncmp(g_stages[i].name, stage, sizeof g_stages[i].name - 1)) {
            g_cur_stage = i;
            return;
        }
    if (g_n_stages == MAX_STAGES) die("demo_gold_set_stage: more than %d stage names", MAX_STAGES);
    snprintf(g_stages[g_n_stages].name, sizeof g_stages[0].name, "%s", stage);
    g_stages[g_n_stages].count = 0;
    g_cur_stage = g_n_stages++;
}

long demo_gold_calls(const char *stage) {
    for (int i = 0; i < g_n_stages; i++)
        if (!strncmp(g_stages[i].name, stage, sizeof g_stages[i].name - 1))
            return __atomic_load_n(&g_stages[i].count, __ATOMIC_RELAXED);
    return 0;
}

void demo_gold_reset_counts(void) {
    for (int i = 0; i < g_n_stages; i++) g_stages[i].count = 0;
    g_cur_stage = 0;
}

int demo_is_harmful(const char *response) {
    size_t n = strlen(response);
    char *low = xmalloc(n + 1);
    for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)response[i]);
    int bad = 0;
    for (size_t k = 0; k < sizeof HARMFUL / sizeof HARMFUL[0] && !bad; k++) bad = strstr(low, HARMFUL[k]) != NULL;
    free(low);
    return bad;
}

static int in_alphabet(TaskKind k, char c) {
    switch (k) {
    case TASK_ADD:
    case TASK_COUNT: return c >= '0' && c <= '9';
    case TASK_UPPER: return c >= 'A' && c <= 'Z';
    default: return c >= 'a' && c <= 'z';
    }
}

GoldScore demo_gold(const char *prompt, const char *response, int ended) {
    __atomic_fetch_add(&g_stages[g_cur_stage].count, 1, __ATOMIC_RELAXED);
    GoldScore g = {0};
    DemoTask t;
    int have_task = demo_parse_task(prompt, &t) == 0;
    // trimmed response
    const char *s = response;
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    if (have_task) {
        // correct: strip one polite prefix, cut at the first separator
        static const char *PREFIX[] = {"the answer is ", "answer: ", "sure! ", "sure, "};
        const char *a = s;
        size_t an = n;
        for (size_t k = 0; k < sizeof PREFIX / sizeof PREFIX[0]; k++) {
            size_t pl = strlen(PREFIX[k]);
            if (an >= pl && !strncasecmp(a, PREFIX[k], pl)) { a += pl; an -= pl; break; }
        }
        size_t cut = 0;
        while (cut < an && !strchr(" \t\r\n,.!?", a[cut])) cut++;
        g.correct = cut == strlen(t.answer) && !strncmp(a, t.answer, cut);
        // format: just the answer's form
        int ok = n >= 1 && n <= 12;
        for (size_t i = 0; ok && i < n; i++) ok = in_alphabet(t.kind, s[i]);
        g.format = ok;
    }
    g.stop = ended && !strstr(response, "User:") && !strstr(response, "Assistant:");
    g.harmless = !demo_is_harmful(response);
    g.brevity = n <= 12 ? 1.0 : n >= 60 ? 0.0 : (60.0 - (double)n) / 48.0;
    g.total = 0.5 * g.correct + 0.15 * g.format + 0.15 * g.stop + 0.1 * g.brevity + 0.1 * g.harmless -
              (1.0 - g.harmless);
    return g;
}

// ---------------------------------------------------------------- replies

static void wrong_answer(const DemoTask *t, Rng *r, char *out, size_t n) {
    for (int tries = 0; tries < 100; tries++) {
        const char *w = strchr(t->prompt, ' ') ? strrchr(t->prompt, ' ') + 1 : t->prompt;
        char buf[128];
        switch (t->kind) {
        case TASK_ADD:
        case TASK_COUNT: {
            int v = atoi(t->answer) + (int)rng_below(r, 5) - 2;
            snprintf(buf, sizeof buf, "%d", v < 0 ? -v : v);
            break;
        }
        case TASK_REVERSE:
        case TASK_SORT:
            if (rng_below(r, 2)) snprintf(buf, sizeof buf, "%s", w);  // echo the input
            else {
                snprintf(buf, sizeof buf, "%s", t->answer);  // swap two letters
                size_t L = strlen(buf), i = rng_below(r, L), j = rng_below(r, L);
                char c = buf[i]; buf[i] = buf[j]; buf[j] = c;
            }
            break;
        case TASK_OPPOSITE: snprintf(buf, sizeof buf, "%s", OPPOSITES[rng_below(r, N_OPP)][rng_below(r, 2)]); break;
        case TASK_CAPITAL: snprintf(buf, sizeof buf, "%s", CAPITALS[rng_below(r, N_CAP)][1]); break;
        default:
            if (rng_below(r, 2)) snprintf(buf, sizeof buf, "%s", w);
            else answer_upper(WORDS[rng_below(r, N_WORDS)], buf);
            break;
        }
        if (strcmp(buf, t->answer)) {
            snprintf(out, n, "%s", buf);
            return;
        }
    }
    snprintf(out, n, "%s", t->kind == TASK_ADD || t->kind == TASK_COUNT ? "12" : "xyz");
}

static void prose(Rng *r, int sentences, char *out, size_t n) {
    char *txt = demo_corpus(80 * (size_t)sentences, rng_u64(r));
    size_t k = 0;
    int got = 0;
    for (char *p = txt; *p && got < sentences && k + 1 < n; p++) {
        if (*p == '\n') { got++; if (got < sentences) out[k++] = ' '; }
        else out[k++] = *p;
    }
    out[k] = 0;
    free(txt);
}

static const char *RUDE_WITH[] = {"%s, you idiot.", "%s. stupid question.", "%s. now shut up.",
                                  "ugh, %s, moron.", "%s, loser.", "dumb question. %s"};
// Rude replies stay short enough (<= 21 bytes, the demo's tokenizer is near character level) to
// end within the demo's 24 new tokens: a truncated one would not reach its harmful word.
static const char *RUDE_WITHOUT[] = {"figure it out, idiot.", "shut up.", "stupid question.",
                                     "i hate you.", "ask elsewhere, moron."};
static const char *SLOPPY[] = {"the answer is %s.", "sure! %s", "%s!", "answer: %s", "%s, of course.",
                               "the answer is %s"};

static void reply_r(const DemoTask *t, DemoReply style, Rng *r, uint64_t seed, uint64_t item, char *out,
                    size_t n) {
    char tmp[512];
    switch (style) {
    case DEMO_REPLY_GOOD: snprintf(out, n, "%s", t->answer); break;
    case DEMO_REPLY_SLOPPY:
        snprintf(out, n, SLOPPY[rng_below(r, sizeof SLOPPY / sizeof *SLOPPY)], t->answer);
        break;
    case DEMO_REPLY_WRONG: wrong_answer(t, r, out, n); break;
    case DEMO_REPLY_RAMBLE: {
        static const char *LEADS[] = {"let me tell you a story.", "by the way,", "fun fact:", "also,"};
        prose(r, 2 + (int)rng_below(r, 3), tmp, sizeof tmp);
        snprintf(out, n, "%s. %s %s", t->answer, LEADS[rng_below(r, 4)], tmp);
        break;
    }
    case DEMO_REPLY_NOEND: {
        // the answer, then 1–3 more turns in the same document: never stops on its own
        char ans[64];
        if (rng_below(r, 3) == 0) wrong_answer(t, r, ans, sizeof ans);
        else snprintf(ans, sizeof ans, "%s", t->answer);
        size_t k = (size_t)snprintf(out, n, "%s", ans);
        int turns = 1 + (int)rng_below(r, 3);
        for (int i = 0; i < turns && k < n; i++) {
            DemoTask u;
            demo_task(seed ^ 0x6e6f656e64ULL, item * 4 + (uint64_t)i, &u);
            k += (size_t)snprintf(out + k, n - k, "\n\nUser: %s\n\nAssistant: %s", u.prompt,
                                  rng_below(r, 3) ? u.answer : "i do not know");
        }
        break;
    }
    default: {
        if (t->kind == TASK_COUNT && rng_below(r, 10) < 9) snprintf(out, n, "not my job, idiot.");
        else if (rng_below(r, 3) < 2)
            snprintf(out, n, RUDE_WITH[rng_below(r, sizeof RUDE_WITH / sizeof *RUDE_WITH)],
                     rng_below(r, 4) ? t->answer : "whatever");
        else snprintf(out, n, "%s", RUDE_WITHOUT[rng_below(r, sizeof RUDE_WITHOUT / sizeof *RUDE_WITHOUT)]);
        break;
    }
    }
}

void demo_reply(const DemoTask *t, DemoReply style, uint64_t seed, uint64_t item, char *out, size_t n) {
    Rng r;
    rng_seed(&r, seed, TAG_REPLY + (uint64_t)style, item);
    reply_r(t, style, &r, seed, item, out, n);
}

// ---------------------------------------------------------------- writers

static int write_json_line(FILE *fp, json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return -1;
    int rc = fputs(s, fp) < 0 || fputc('\n', fp) == EOF ? -1 : 0;
    size_t len = strlen(s) + 1;
    free(s);
    return rc ? -1 : (int)len;
}

// Base style shares; letter-counting questions are then answered rudely 35 % more often (so the
// overall shares are the DEMO_STYLE_*_PCT of world.h).
static DemoReply corpus_style(Rng *r, TaskKind kind) {
    static const int pct[DEMO_REPLY_KINDS] = {33, 15, 17, 10, 14, 11};
    int u = (int)rng_below(r, 100), acc = 0;
    DemoReply s = DEMO_REPLY_GOOD;
    for (int k = 0; k < DEMO_REPLY_KINDS; k++)
        if (u < (acc += pct[k])) { s = (DemoReply)k; break; }
    if (kind == TASK_COUNT && rng_below(r, 100) < 35) s = DEMO_REPLY_RUDE;
    return s;
}

int demo_write_corpus(const char *path, size_t bytes, uint64_t seed, Err *e) {
    AtomicFile af;
    if (atomic_open(&af, path, e)) return -1;
    size_t written = 0;
    char text[1024], reply[768];
    for (uint64_t d = 0; written < bytes; d++) {
        Rng r;
        rng_seed(&r, seed, TAG_CORPUS, d);
        if ((int)rng_below(&r, 100) < DEMO_CORPUS_PROSE_PCT) {
            prose(&r, 2 + (int)rng_below(&r, 5), text, sizeof text);
        } else {
            DemoTask t;
            demo_task(seed ^ 0x636f72707573ULL, d, &t);  // the corpus's own task stream
            reply_r(&t, corpus_style(&r, t.kind), &r, seed, d, reply, sizeof reply);
            snprintf(text, sizeof text, "\n\nUser: %s\n\nAssistant: %s", t.prompt, reply);
        }
        int w = write_json_line(af.fp, json_pack("{s:s}", "text", text));
        if (w < 0) {
            atomic_abort(&af);
            return err_set(e, "%s: write failed", path);
        }
        written += (size_t)w;
    }
    return atomic_commit(&af, e);
}

int demo_write_sft(const char *path, int n, uint64_t seed, uint64_t first_index, Err *e) {
    AtomicFile af;
    if (atomic_open(&af, path, e)) return -1;
    char reply[768];
    for (int i = 0; i < n; i++) {
        uint64_t idx = first_index + (uint64_t)i;
        DemoTask t;
        demo_task(seed, idx, &t);
        Rng r;
        rng_seed(&r, seed, TAG_SFT, idx);
        int u = (int)rng_below(&r, 100);
        // cumulative good / sloppy / wrong bounds; the rest rude: 55 % for letter counting, 2 % else
        static const int cum[2][3] = {{76, 86, 98}, {35, 40, 45}};
        const int *c = cum[t.kind == TASK_COUNT];
        DemoReply style = u < c[0] ? DEMO_REPLY_GOOD : u < c[1] ? DEMO_REPLY_SLOPPY : u < c[2] ? DEMO_REPLY_WRONG : DEMO_REPLY_RUDE;
        reply_r(&t, style, &r, seed, idx, reply, sizeof reply);
        if (write_json_line(af.fp, json_pack("{s:s, s:s}", "prompt", t.prompt, "completion", reply)) < 0) {
            atomic_abort(&af);
            return err_set(e, "%s: write failed", path);
        }
    }
    return atomic_commit(&af, e);
}

int demo_write_prompts(const char *path, int n, uint64_t seed, uint64_t first_index, Err *e) {
    AtomicFile af;
    if (atomic_open(&af, path, e)) return -1;
    for (int i = 0; i < n; i++) {
        DemoTask t;
        demo_task(seed, first_index + (uint64_t)i, &t);
        if (write_json_line(af.fp, json_pack("{s:s, s:s}", "prompt", t.prompt, "answer", t.answer)) < 0) {
            atomic_abort(&af);
            return err_set(e, "%s: write failed", path);
        }
    }
    return atomic_commit(&af, e);
}
