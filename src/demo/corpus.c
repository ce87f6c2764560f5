// demo/corpus.c — template-generated sentences for the built-in corpus (see corpus.h).
#include "demo/corpus.h"

#include <stdio.h>
#include <string.h>

#include "util/common.h"
#include "util/rng.h"

static const char *NAMES[] = {"alice", "bob", "carol", "dave", "emma", "frank", "grace", "henry"};
static const char *ANIMALS[] = {"cat", "dog", "bird", "fox", "horse", "rabbit", "mouse", "cow"};
static const char *ADJS[] = {"big", "small", "happy", "quick", "lazy", "red", "brown", "quiet"};
static const char *VERBS[] = {"sees", "likes", "feeds", "follows", "finds", "watches"};
static const char *PLACES[] = {"garden", "house", "river", "park", "forest", "school"};
static const char *FOODS[] = {"apples", "bread", "carrots", "cakes", "pears", "eggs"};
static const char *NUMS[] = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};

#define PICK(r, a) (a[rng_below(r, sizeof a / sizeof a[0])])

static int sentence(Rng *r, char *buf, size_t n) {
    switch (rng_below(r, 5)) {
    case 0:
        return snprintf(buf, n, "the %s %s %s the %s %s.\n", PICK(r, ADJS), PICK(r, ANIMALS),
                        PICK(r, VERBS), PICK(r, ADJS), PICK(r, ANIMALS));
    case 1:
        return snprintf(buf, n, "%s %s the %s in the %s.\n", PICK(r, NAMES), PICK(r, VERBS),
                        PICK(r, ANIMALS), PICK(r, PLACES));
    case 2: {
        unsigned a = (unsigned)rng_below(r, 5), b = (unsigned)rng_below(r, 4);
        const char *who = PICK(r, NAMES), *food = PICK(r, FOODS);
        // index i names the number i + 1, so the sum a+1 + b+1 is at index a + b + 1
        return snprintf(buf, n, "%s has %s %s and gets %s more, so %s now has %s %s.\n", who,
                        NUMS[a], food, NUMS[b], who, NUMS[a + b + 1], food);
    }
    case 3:
        return snprintf(buf, n, "in the %s, the %s %s eats %s.\n", PICK(r, PLACES), PICK(r, ADJS),
                        PICK(r, ANIMALS), PICK(r, FOODS));
    default:
        return snprintf(buf, n, "%s and %s walk to the %s with a %s %s.\n", PICK(r, NAMES),
                        PICK(r, NAMES), PICK(r, PLACES), PICK(r, ADJS), PICK(r, ANIMALS));
    }
}

char *demo_corpus(size_t bytes, uint64_t seed) {
    char *out = xmalloc(bytes + 256);
    size_t k = 0;
    Rng r;
    rng_seed(&r, seed, 0x636f7270 /* "corp" */, 0);
    char line[256];
    while (k < bytes) {
        int w = sentence(&r, line, sizeof line);
        if (w <= 0) continue;
        size_t l = (size_t)w < sizeof line ? (size_t)w : sizeof line - 1;
        if (k + l > bytes + 255) break;
        memcpy(out + k, line, l);
        k += l;
    }
    out[k] = 0;
    return out;
}
