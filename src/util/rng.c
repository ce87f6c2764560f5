// util/rng.c — owns the deterministic random streams: xoshiro256** seeded through splitmix64
// from a (seed, a, b) triple (see rng.h).
#include "util/rng.h"

#include <math.h>

static uint64_t splitmix64_next(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// Stateless finaliser (the splitmix64 output function on a value offset by a constant).
static uint64_t mix64(uint64_t v) {
    uint64_t x = v;
    return splitmix64_next(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void rng_seed(Rng *r, uint64_t seed, uint64_t a, uint64_t b) {
    // a and b go through different numbers of mixing rounds so that (s,a,b) != (s,b,a); the
    // extra constant keeps (0,0,0) away from a trivially structured start.
    uint64_t x = seed ^ mix64(a ^ 0x6A09E667F3BCC909ULL) ^ mix64(mix64(b ^ 0xBB67AE8584CAA73BULL));
    x = mix64(x);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64_next(&x);
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 1;  // all-zero state is invalid
}

uint64_t rng_u64(Rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(Rng *r) { return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

float rng_normal(Rng *r) {
    // Box–Muller; u1 in (0, 1] so the log is finite. The second value is discarded.
    double u1 = 1.0 - rng_uniform(r);
    double u2 = rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    return (float)(rad * cos(6.283185307179586476925286766559 * u2));
}

uint64_t rng_below(Rng *r, uint64_t n) {
    if (n <= 1) return 0;
    // Reject the top partial block: with rem = 2^64 mod n, values >= 2^64 - rem would bias the
    // low residues. rem == 0 means n divides 2^64 and every value is fine.
    uint64_t rem = (0 - n) % n;
    uint64_t limit = 0 - rem;
    for (;;) {
        uint64_t x = rng_u64(r);
        if (rem == 0 || x < limit) return x % n;
    }
}

void rng_shuffle(Rng *r, int *idx, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
