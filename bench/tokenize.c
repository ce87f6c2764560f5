// bench/tokenize.c — tokenizer speed on ~5 MB of generated English-like prose (a Zipf-weighted
// list of common words with inflections, invented names and rare words, numbers, punctuation,
// quotes, contractions, paragraphs): GPT-2 BPE encoding on one core, with and without the per-word
// cache (needs the GPT-2 files: ../shared/gpt2 or $RLHF_GPT2_DIR, else a JSON note), and training
// a new 8k vocabulary on the same text.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "tok/tokenizer.h"
#include "util/fileio.h"
#include "util/rng.h"
#include "util/timer.h"

static const char *const WORDS[] = {
    "the", "of", "and", "to", "a", "in", "that", "is", "was", "he", "for", "it", "with", "as", "his",
    "on", "be", "at", "by", "I", "this", "had", "not", "are", "but", "from", "or", "have", "an",
    "they", "which", "one", "you", "were", "her", "all", "she", "there", "would", "their", "we",
    "him", "been", "has", "when", "who", "will", "more", "no", "if", "out", "so", "said", "what",
    "up", "its", "about", "into", "than", "them", "can", "only", "other", "new", "some", "could",
    "time", "these", "two", "may", "then", "do", "first", "any", "my", "now", "such", "like", "our",
    "over", "man", "me", "even", "most", "made", "after", "also", "did", "many", "before", "must",
    "through", "back", "years", "where", "much", "your", "way", "well", "down", "should", "because",
    "each", "just", "those", "people", "how", "too", "little", "state", "good", "very", "make",
    "world", "still", "own", "see", "men", "work", "long", "get", "here", "between", "both", "life",
    "being", "under", "never", "day", "same", "another", "know", "while", "last", "might", "us",
    "great", "old", "year", "off", "come", "since", "against", "go", "came", "right", "used",
    "take", "three", "house", "himself", "few", "during", "without", "again", "place", "around",
    "however", "home", "small", "found", "thought", "went", "say", "part", "once", "general",
    "high", "upon", "school", "every", "course", "war", "until", "always", "away", "something",
    "fact", "water", "though", "less", "public", "put", "think", "almost", "hand", "enough", "far",
    "took", "head", "yet", "government", "system", "better", "set", "told", "nothing", "night",
    "end", "why", "called", "eyes", "find", "going", "look", "asked", "later", "knew", "point",
    "next", "program", "city", "business", "give", "group", "toward", "young", "days", "let",
    "room", "president", "side", "social", "given", "present", "several", "order", "national",
    "possible", "rather", "second", "face", "per", "among", "form", "important", "often", "things",
    "looked", "early", "white", "case", "large", "become", "need", "big", "four", "within", "felt",
    "along", "children", "saw", "best", "church", "ever", "least", "power", "development", "light",
    "seemed", "family", "interest", "want", "members", "mind", "country", "area", "others", "done",
    "turned", "although", "open", "problem", "river", "harbour", "lantern", "weather", "quietly",
    "remarkable", "mountain", "question", "answer", "library", "window", "morning", "evening",
    "together", "beautiful", "understand", "remember", "history", "language", "experience",
};
static const char *const SUFFIX[] = {"s", "ed", "ing", "ly", "er", "ness", "ful", "ment", "ation"};
static const char *const SYL[] = {"ka", "lo", "mir", "an", "dre", "vel", "os", "tha", "quin", "be",
                                  "ru", "sel", "gar", "ith", "no", "pa", "zor", "el", "wyn", "ta"};

// ~bytes of English-like text, deterministic.
static char *prose(size_t bytes) {
    size_t cap = bytes + 4096, n = 0;
    char *s = xmalloc(cap);
    Rng r;
    rng_seed(&r, 2024, 7, 0);
    const size_t nw = sizeof WORDS / sizeof WORDS[0];
    int sentence_start = 1, in_quote = 0;
    while (n < bytes) {
        char w[64];
        double u = rng_uniform(&r);
        if (u < 0.80) {  // Zipf-like: index ~ nw^(uniform²)
            double v = rng_uniform(&r);
            size_t k = (size_t)(pow((double)nw, v * v)) - 1;
            snprintf(w, sizeof w, "%s", WORDS[k < nw ? k : nw - 1]);
            if (rng_uniform(&r) < 0.12) {
                size_t l = strlen(w);
                snprintf(w + l, sizeof w - l, "%s", SUFFIX[rng_below(&r, 9)]);
            }
        } else if (u < 0.90) {  // invented words and names
            int ns = 2 + (int)rng_below(&r, 3);
            w[0] = 0;
            for (int k = 0; k < ns; k++) strcat(w, SYL[rng_below(&r, 20)]);
            if (rng_uniform(&r) < 0.4) w[0] = (char)(w[0] - 32);
        } else if (u < 0.94) {  // numbers
            switch (rng_below(&r, 4)) {
            case 0: snprintf(w, sizeof w, "%d", (int)rng_below(&r, 100)); break;
            case 1: snprintf(w, sizeof w, "%d", 1700 + (int)rng_below(&r, 330)); break;
            case 2: snprintf(w, sizeof w, "%d.%d", (int)rng_below(&r, 1000), (int)rng_below(&r, 100)); break;
            default: snprintf(w, sizeof w, "%d,%03d", 1 + (int)rng_below(&r, 999), (int)rng_below(&r, 1000)); break;
            }
        } else {  // contractions
            static const char *const C[] = {"don't", "it's", "I'm", "we'll", "they're", "she'd", "can't", "you've", "isn't"};
            snprintf(w, sizeof w, "%s", C[rng_below(&r, 9)]);
        }
        if (sentence_start && w[0] >= 'a' && w[0] <= 'z') w[0] = (char)(w[0] - 32);
        if (n && s[n - 1] != '\n') s[n++] = ' ';
        if (rng_uniform(&r) < 0.01 && !in_quote) { s[n++] = '"'; in_quote = 1; }
        size_t l = strlen(w);
        memcpy(s + n, w, l);
        n += l;
        sentence_start = 0;
        double p = rng_uniform(&r);
        if (p < 0.07) {
            s[n++] = ',';
        } else if (p < 0.14) {
            static const char END[] = ".....!?;:";
            char c = END[rng_below(&r, 9)];
            s[n++] = c;
            if (in_quote) { s[n++] = '"'; in_quote = 0; }
            sentence_start = c != ';' && c != ':';
            if (sentence_start && rng_uniform(&r) < 0.15) { s[n++] = '\n'; s[n++] = '\n'; }
        } else if (p < 0.145) {
            const char *x = WORDS[rng_below(&r, nw)];
            n += (size_t)sprintf(s + n, " (%s)", x);
        }
    }
    s[n] = 0;
    return s;
}

void bench_tokenize(int repeat) {
    const size_t BYTES = 5u << 20;
    char *text = prose(BYTES);
    size_t n = strlen(text);
    int reps = repeat < 1 ? 1 : repeat;
    double *dt = xmalloc((size_t)reps * sizeof(double));

    // training: 5 MB → 8192 ids
    double t0 = now_s();
    TokTrainer *tr = tok_trainer_new();
    tok_trainer_add(tr, text, n);
    Tokenizer tt;
    Err e;
    if (tok_trainer_finish(tr, 8192, &tt, &e)) die("bench: %s", e.msg);
    double t_train = now_s() - t0;
    printf("{\"bench\": \"tokenizer_train\", \"mb\": %.2f, \"vocab_size\": %d, \"s\": %.3f, \"threads\": 1}\n",
           (double)n / 1e6, tt.vocab_size, t_train);
    tok_free(&tt);
    fflush(stdout);

    const char *dir = getenv("RLHF_GPT2_DIR");
    if (!dir || !*dir) dir = "../shared/gpt2";
    char *enc = path_join(dir, "encoder.json"), *voc = path_join(dir, "vocab.json");
    int have = path_exists(enc) || path_exists(voc);
    free(enc);
    free(voc);
    if (!have) {
        printf("{\"bench\": \"tokenize\", \"skipped\": \"no GPT-2 tokenizer files in %s (set RLHF_GPT2_DIR)\"}\n", dir);
        free(text);
        free(dt);
        return;
    }
    Tokenizer t;
    if (tok_load(&t, dir, &e)) die("bench: %s", e.msg);
    int *ids = NULL;
    size_t len = 0, cap = 0;
    double rate[2];
    for (int cached = 1; cached >= 0; cached--) {
        tok_set_cache(&t, cached);
        for (int it = -1; it < reps; it++) {
            len = 0;
            double t1 = now_s();
            tok_encode(&t, text, n, &ids, &len, &cap);
            if (it >= 0) dt[it] = now_s() - t1;
        }
        rate[cached] = (double)n / 1e6 / bench_median(dt, reps);
    }
    printf("{\"bench\": \"tokenize\", \"tokenizer\": \"gpt2\", \"mb\": %.2f, \"tokens\": %zu, "
           "\"bytes_per_token\": %.2f, \"mb_per_s\": %.1f, \"mb_per_s_nocache\": %.1f, \"threads\": 1, "
           "\"repeat\": %d}\n",
           (double)n / 1e6, len, (double)n / (double)len, rate[1], rate[0], reps);
    fflush(stdout);
    tok_free(&t);
    free(ids);
    free(text);
    free(dt);
}
