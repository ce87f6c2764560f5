// tok/bpe_train.c — learning a byte-level BPE vocabulary from a corpus. The corpus is first
// reduced to its distinct pre-tokenised words with their frequencies; pair counts are then kept
// up to date incrementally: a merge rewrites only the words that contain the pair (found through
// a per-pair list of words) and adjusts the counts of the pairs in those words. The next merge is
// the most frequent pair, ties broken by the smaller (left id, right id) — a fixed rule, so the
// result is deterministic. A lazy max-heap holds the candidates.
#include <stdlib.h>
#include <string.h>

#include "tok/bpe.h"

struct BpeTrainer {
    uint64_t *hash;  // slot → word hash (0 = empty)
    int *slot;       // slot → word index
    size_t cap;
    char *bytes;
    size_t nb, cb;
    size_t *off;
    uint32_t *len;
    int64_t *freq;
    size_t nw, wcap;
};

static uint64_t hash_piece(const unsigned char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 1099511628211ULL; }
    h ^= h >> 29;
    return h ? h : 1;
}

BpeTrainer *bpe_trainer_new(void) {
    BpeTrainer *t = xcalloc(1, sizeof *t);
    t->cap = 1 << 16;
    t->hash = xcalloc(t->cap, sizeof(uint64_t));
    t->slot = xmalloc(t->cap * sizeof(int));
    return t;
}

void bpe_trainer_free(BpeTrainer *t) {
    if (!t) return;
    free(t->hash); free(t->slot); free(t->bytes); free(t->off); free(t->len); free(t->freq);
    free(t);
}

static void trainer_rehash(BpeTrainer *t) {
    size_t cap = t->cap * 2;
    uint64_t *hash = xcalloc(cap, sizeof(uint64_t));
    int *slot = xmalloc(cap * sizeof(int));
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->hash[i]) continue;
        size_t j = t->hash[i] & (cap - 1);
        while (hash[j]) j = (j + 1) & (cap - 1);
        hash[j] = t->hash[i];
        slot[j] = t->slot[i];
    }
    free(t->hash); free(t->slot);
    t->hash = hash; t->slot = slot; t->cap = cap;
}

static void count_word(BpeTrainer *t, const unsigned char *s, size_t n) {
    uint64_t h = hash_piece(s, n);
    size_t i = h & (t->cap - 1);
    for (; t->hash[i]; i = (i + 1) & (t->cap - 1)) {
        int w = t->slot[i];
        if (t->hash[i] == h && t->len[w] == n && !memcmp(t->bytes + t->off[w], s, n)) {
            t->freq[w]++;
            return;
        }
    }
    if (t->nw == t->wcap) {
        t->wcap = t->wcap ? 2 * t->wcap : 4096;
        t->off = xrealloc(t->off, t->wcap * sizeof(size_t));
        t->len = xrealloc(t->len, t->wcap * sizeof(uint32_t));
        t->freq = xrealloc(t->freq, t->wcap * sizeof(int64_t));
    }
    if (t->nb + n > t->cb) {
        t->cb = (t->nb + n) * 2 + 4096;
        t->bytes = xrealloc(t->bytes, t->cb);
    }
    memcpy(t->bytes + t->nb, s, n);
    t->off[t->nw] = t->nb;
    t->len[t->nw] = (uint32_t)n;
    t->freq[t->nw] = 1;
    t->nb += n;
    t->hash[i] = h;
    t->slot[i] = (int)t->nw;
    t->nw++;
    if (2 * t->nw > t->cap) trainer_rehash(t);
}

void bpe_trainer_add(BpeTrainer *t, const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        size_t j = bpe_pretok_next(s, n, i);
        count_word(t, s + i, j - i);
        i = j;
    }
}

// --- pairs and the heap ---------------------------------------------------------------------

typedef struct {
    int64_t count;
    int a, b;
    int *where;  // words that contain (or once contained) the pair; may repeat
    int nwhere, cwhere;
    long stamp;  // merge step at which `before` was recorded
    int64_t before;
} Pair;

typedef struct {
    int64_t count;
    int pi;
} HeapEnt;

typedef struct {
    Pair *p;
    int n, cap;
    PairMap map;  // (a, b) → pair index
    HeapEnt *heap;
    size_t hn, hcap;
    int *touched;
    int ntouched, ctouched;
    long step;
} Pairs;

static int ent_before(const Pairs *ps, HeapEnt x, HeapEnt y) {  // x has priority over y
    if (x.count != y.count) return x.count > y.count;
    const Pair *a = &ps->p[x.pi], *b = &ps->p[y.pi];
    if (a->a != b->a) return a->a < b->a;
    return a->b < b->b;
}

static void hpush(Pairs *ps, int64_t count, int pi) {
    if (ps->hn == ps->hcap) {
        ps->hcap = ps->hcap ? 2 * ps->hcap : 4096;
        ps->heap = xrealloc(ps->heap, ps->hcap * sizeof(HeapEnt));
    }
    HeapEnt v = {count, pi};
    size_t i = ps->hn++;
    while (i > 0) {
        size_t par = (i - 1) / 2;
        if (!ent_before(ps, v, ps->heap[par])) break;
        ps->heap[i] = ps->heap[par];
        i = par;
    }
    ps->heap[i] = v;
}

static HeapEnt hpop(Pairs *ps) {
    HeapEnt top = ps->heap[0], v = ps->heap[--ps->hn];
    size_t i = 0, n = ps->hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && ent_before(ps, ps->heap[c + 1], ps->heap[c])) c++;
        if (!ent_before(ps, ps->heap[c], v)) break;
        ps->heap[i] = ps->heap[c];
        i = c;
    }
    if (n) ps->heap[i] = v;
    return top;
}

static int pair_index(Pairs *ps, int a, int b) {
    int pi = pairmap_get_or_add(&ps->map, a, b, ps->n);
    if (pi == ps->n) {
        if (ps->n == ps->cap) {
            ps->cap = ps->cap ? 2 * ps->cap : 4096;
            ps->p = xrealloc(ps->p, (size_t)ps->cap * sizeof(Pair));
        }
        Pair *p = &ps->p[ps->n++];
        memset(p, 0, sizeof *p);
        p->a = a;
        p->b = b;
        p->stamp = -1;
    }
    return pi;
}

static void where_add(Pair *p, int w) {
    if (p->nwhere && p->where[p->nwhere - 1] == w) return;
    if (p->nwhere == p->cwhere) {
        p->cwhere = p->cwhere ? 2 * p->cwhere : 4;
        p->where = xrealloc(p->where, (size_t)p->cwhere * sizeof(int));
    }
    p->where[p->nwhere++] = w;
}

static void adjust(Pairs *ps, int a, int b, int64_t delta, int w, int track_where) {
    int pi = pair_index(ps, a, b);
    Pair *p = &ps->p[pi];
    if (p->stamp != ps->step) {
        p->stamp = ps->step;
        p->before = p->count;
        if (ps->ntouched == ps->ctouched) {
            ps->ctouched = ps->ctouched ? 2 * ps->ctouched : 1024;
            ps->touched = xrealloc(ps->touched, (size_t)ps->ctouched * sizeof(int));
        }
        ps->touched[ps->ntouched++] = pi;
    }
    p->count += delta;
    if (track_where) where_add(p, w);
}

Bpe *bpe_trainer_finish(BpeTrainer *t, int vocab_size, const char *const *specials, int n_special,
                        Err *e) {
    int target = vocab_size - n_special;
    if (target < 256) {
        bpe_trainer_free(t);
        err_set(e, "vocabulary size %d is too small: 256 byte tokens + %d special tokens need at "
                   "least %d", vocab_size, n_special, 256 + n_special);
        return NULL;
    }
    Bpe *b = bpe_new();
    Err e2;
    for (int x = 0; x < 256; x++) {
        char key[4] = {0};
        uint32_t cp = bpe_byte_to_cp((unsigned char)x);
        if (cp < 0x80) key[0] = (char)cp;
        else { key[0] = (char)(0xC0 | (cp >> 6)); key[1] = (char)(0x80 | (cp & 0x3F)); }
        if (bpe_set_token(b, x, key, 0, &e2)) die("bpe: %s", e2.msg);
    }

    // words as symbol sequences (initially their bytes)
    size_t nw = t->nw;
    int *sym = xmalloc((t->nb + 1) * sizeof(int));
    uint32_t *wl = xmalloc((nw + 1) * sizeof(uint32_t));
    long *wstamp = xmalloc((nw + 1) * sizeof(long));
    for (size_t w = 0; w < nw; w++) {
        for (size_t i = 0; i < t->len[w]; i++) sym[t->off[w] + i] = (unsigned char)t->bytes[t->off[w] + i];
        wl[w] = t->len[w];
        wstamp[w] = -1;
    }
    Pairs ps;
    memset(&ps, 0, sizeof ps);
    pairmap_init(&ps.map, 65536);
    ps.step = -1;
    for (size_t w = 0; w < nw; w++) {
        const int *s = sym + t->off[w];
        for (uint32_t i = 0; i + 1 < wl[w]; i++) adjust(&ps, s[i], s[i + 1], t->freq[w], (int)w, 1);
    }
    for (int pi = 0; pi < ps.n; pi++)
        if (ps.p[pi].count > 0) hpush(&ps, ps.p[pi].count, pi);

    int *tmp = xmalloc((t->nb + 1) * sizeof(int));
    char *kbuf = NULL;
    size_t kcap = 0;
    long step = 0;
    while (b->n < target && ps.hn) {
        HeapEnt top = hpop(&ps);
        Pair *p = &ps.p[top.pi];
        if (top.count != p->count) {  // stale: re-queue a lowered count, drop a superseded one
            if (p->count > 0 && p->count < top.count) hpush(&ps, p->count, top.pi);
            continue;
        }
        if (p->count <= 0) break;
        int A = p->a, B = p->b;
        // the new token (a byte string already in the vocabulary keeps its id)
        size_t la = strlen(b->key[A]), lb = strlen(b->key[B]);
        if (la + lb + 1 > kcap) { kcap = 2 * (la + lb + 1); kbuf = xrealloc(kbuf, kcap); }
        memcpy(kbuf, b->key[A], la);
        memcpy(kbuf + la, b->key[B], lb);
        kbuf[la + lb] = 0;
        int N = bpe_key_id(b, kbuf);
        if (N < 0) {
            N = b->n;
            if (bpe_set_token(b, N, kbuf, 0, &e2)) die("bpe: %s", e2.msg);
        }
        int dup;
        (void)bpe_add_merge(b, A, B, N, &dup);  // a pair that reappears keeps its first rank
        ps.step = step++;
        ps.ntouched = 0;
        int nwhere = p->nwhere;
        int *where = p->where;
        p->where = NULL;
        p->nwhere = p->cwhere = 0;
        for (int k = 0; k < nwhere; k++) {
            int w = where[k];
            if (wstamp[w] == ps.step) continue;
            wstamp[w] = ps.step;
            int *s = sym + t->off[w];
            uint32_t n = wl[w], m = 0;
            int found = 0;
            for (uint32_t i = 0; i + 1 < n; i++)
                if (s[i] == A && s[i + 1] == B) { found = 1; break; }
            if (!found) continue;
            int64_t f = t->freq[w];
            for (uint32_t i = 0; i + 1 < n; i++) adjust(&ps, s[i], s[i + 1], -f, w, 0);
            for (uint32_t i = 0; i < n;) {
                if (i + 1 < n && s[i] == A && s[i + 1] == B) { tmp[m++] = N; i += 2; }
                else tmp[m++] = s[i++];
            }
            memcpy(s, tmp, m * sizeof(int));
            wl[w] = m;
            for (uint32_t i = 0; i + 1 < m; i++)
                adjust(&ps, s[i], s[i + 1], f, w, s[i] == N || s[i + 1] == N);
        }
        free(where);
        p = NULL;  // ps.p may have moved
        for (int k = 0; k < ps.ntouched; k++) {
            Pair *q = &ps.p[ps.touched[k]];
            if (q->count > q->before && q->count > 0) hpush(&ps, q->count, ps.touched[k]);
        }
    }
    for (int k = 0; k < n_special; k++) {
        int id = bpe_key_id(b, specials[k]);
        if (id >= 0) { bpe_mark_special(b, id); continue; }
        if (bpe_set_token(b, b->n, specials[k], 1, &e2)) die("bpe: %s", e2.msg);
    }
    if (bpe_finish(b, "trained vocabulary", &e2)) die("bpe: %s", e2.msg);

    for (int pi = 0; pi < ps.n; pi++) free(ps.p[pi].where);
    free(ps.p); free(ps.heap); free(ps.touched);
    pairmap_free(&ps.map);
    free(sym); free(wl); free(wstamp); free(tmp); free(kbuf);
    bpe_trainer_free(t);
    return b;
}
