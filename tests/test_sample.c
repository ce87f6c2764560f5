// tests/test_sample.c — token selection and batched generation.
// sample_token: greedy, temperature, top-k, top-p and both together (top-k first, then top-p on
// the renormalised top-k distribution, as Hugging Face applies them) draw only from the allowed
// set, with the renormalised probabilities (a fine deterministic sweep of u and random draws),
// and report log softmax(logits / T) of the chosen token; a GPT-2-sized vocabulary is fast.
// generate: reproducible from the seed, independent of batch size, batch layout and thread
// count; repeated prompts (prefilled once) give each row its own sample; greedy continuations and the reported log-probabilities agree with a full forward pass;
// EOS and max_new stop a sample; bad prompts give an error, not a crash.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gen/sample.h"
#include "tiny.h"
#include "util/rng.h"
#include "util/sysinfo.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ---- reference distribution -----------------------------------------------------------------

// p[v] = softmax(logits / T) in double (T <= 0: T = 1).
static void ref_probs(const float *logits, int V, double T, double *p) {
    if (T <= 0) T = 1;
    double mx = -INFINITY, z = 0;
    for (int v = 0; v < V; v++) mx = fmax(mx, (double)logits[v] / T);
    for (int v = 0; v < V; v++) z += (p[v] = exp((double)logits[v] / T - mx));
    for (int v = 0; v < V; v++) p[v] /= z;
}

static const double *g_sort_p;
static int cmp_prob_desc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (g_sort_p[i] > g_sort_p[j]) return -1;
    if (g_sort_p[i] < g_sort_p[j]) return 1;
    return (i > j) - (i < j);
}

// The allowed set of a config: the top_k most probable, then the smallest prefix (by descending
// probability) of those whose renormalised mass reaches top_p. q[v] = the probability of drawing
// v (0 outside the set). Returns the set's size; *margin = the smallest distance between a
// prefix mass and the top_p threshold (small: the case is too close to call).
static int ref_allowed(const double *p, int V, const SampleConfig *sc, double *q, double *margin) {
    int *ord = malloc((size_t)V * sizeof(int));
    for (int v = 0; v < V; v++) ord[v] = v;
    g_sort_p = p;
    qsort(ord, (size_t)V, sizeof(int), cmp_prob_desc);
    int k = sc->top_k > 0 && sc->top_k < V ? sc->top_k : V;
    double mk = 0;
    for (int i = 0; i < k; i++) mk += p[ord[i]];
    int m = k;
    *margin = INFINITY;
    if (sc->top_p > 0 && sc->top_p < 1) {
        double acc = 0;
        for (int i = 0; i < k; i++) {
            acc += p[ord[i]] / mk;
            *margin = fmin(*margin, fabs(acc - sc->top_p));
            if (acc >= sc->top_p) { m = i + 1; break; }
        }
    }
    double mm = 0;
    for (int i = 0; i < m; i++) mm += p[ord[i]];
    for (int v = 0; v < V; v++) q[v] = 0;
    for (int i = 0; i < m; i++) q[ord[i]] = p[ord[i]] / mm;
    free(ord);
    return m;
}

// ---- sample_token -----------------------------------------------------------------------------

// Draws with u = (i + 0.5) / NU for every i (and with NRAND random u), checking each draw is in the
// allowed set and its logp; the sweep's frequencies must equal q up to the sweep's resolution, the
// random draws' within 5 sigma.
static void check_draws_at(int line, const char *what, const float *logits, int V,
                           const SampleConfig *sc, int NU, int NRAND) {
    double *p = malloc((size_t)V * sizeof(double)), *q = malloc((size_t)V * sizeof(double));
    ref_probs(logits, V, sc->temperature, p);
    double margin;
    int m = ref_allowed(p, V, sc, q, &margin);
    CHECK(margin > 1e-6, "line %d %s: test case too close to the top_p threshold (%.3g)", line, what,
          margin);
    long *cnt = calloc((size_t)V, sizeof(long)), *cr = calloc((size_t)V, sizeof(long));
    float *x = malloc((size_t)V * sizeof(float));
    int *idx = malloc((size_t)V * sizeof(int));
    double *ex = malloc((size_t)V * sizeof(double));
    int outside = 0, bad_lp = 0, bad_tok = 0;
    double worst_lp = 0;
    Rng r;
    rng_seed(&r, 1234, (uint64_t)line, (uint64_t)V);
    for (int i = 0; i < NU + NRAND; i++) {
        double u = i < NU ? (i + 0.5) / NU : rng_uniform(&r);
        memcpy(x, logits, (size_t)V * sizeof(float));
        float lp = NAN;
        int t = sample_token(x, V, sc, u, &lp, idx, ex);
        if (t < 0 || t >= V) { bad_tok++; continue; }
        if (q[t] == 0) outside++;
        double d = fabs((double)lp - log(p[t]));
        if (!(d <= 1e-5)) bad_lp++;
        if (d > worst_lp || isnan(d)) worst_lp = d;
        if (i < NU) cnt[t]++;
        else cr[t]++;
    }
    CHECK(bad_tok == 0, "line %d %s: %d tokens out of range", line, what, bad_tok);
    CHECK(outside == 0, "line %d %s: %d draws outside the allowed set of %d", line, what, outside, m);
    CHECK(bad_lp == 0, "line %d %s: %d logp off by more than 1e-5 (worst %.3g)", line, what, bad_lp,
          worst_lp);
    double worst_sweep = 0, worst_rand = 0;
    int drawn = 0;
    for (int v = 0; v < V; v++) {
        if (cnt[v]) drawn++;
        worst_sweep = fmax(worst_sweep, fabs((double)cnt[v] / NU - q[v]) - 2.0 / NU);
        if (NRAND) {
            double sd = sqrt(q[v] * (1 - q[v]) / NRAND);
            worst_rand = fmax(worst_rand, fabs((double)cr[v] / NRAND - q[v]) - 5 * sd - 1e-9);
        }
    }
    CHECK(worst_sweep <= 1e-9, "line %d %s: sweep frequency off by %.3g beyond its resolution", line,
          what, worst_sweep);
    CHECK(worst_rand <= 0, "line %d %s: random-draw frequency off by %.3g beyond 5 sigma", line,
          what, worst_rand);
    // every allowed token of probability well above the sweep's resolution is drawn
    int should = 0;
    for (int v = 0; v < V; v++) should += q[v] > 4.0 / NU;
    CHECK(drawn >= should, "line %d %s: %d tokens drawn, %d allowed ones expected", line, what,
          drawn, should);
    free(p); free(q); free(cnt); free(cr); free(x); free(idx); free(ex);
}
#define CHECK_DRAWS(what, logits, V, sc, NU, NRAND) \
    check_draws_at(__LINE__, what, logits, V, sc, NU, NRAND)

static void test_greedy(void) {
    enum { V = 37 };
    float lg[V], x[V];
    int idx[V];
    double ex[V];
    fill_uniform(lg, V, 3, 4.0f);
    int am = 0;
    for (int v = 1; v < V; v++) if (lg[v] > lg[am]) am = v;
    double p[V];
    ref_probs(lg, V, 1.0, p);
    SampleConfig sc = {.temperature = 0, .top_k = 5, .top_p = 0.5f};
    double us[] = {0.0, 0.3, 0.999999};
    for (int i = 0; i < 3; i++) {
        memcpy(x, lg, sizeof lg);
        float lp;
        int t = sample_token(x, V, &sc, us[i], &lp, idx, ex);
        CHECK(t == am, "greedy picks %d, argmax is %d", t, am);
        CHECK(fabs((double)lp - log(p[am])) <= 1e-6, "greedy logp %.8f, log softmax %.8f", lp, log(p[am]));
    }
    // a tie for the maximum: greedy takes the first of the tied tokens (the max itself is found
    // in vector lanes, its index by a scan)
    for (int first = 0; first < V - 1; first += 6) {
        memcpy(x, lg, sizeof lg);
        x[first] = x[V - 1] = 9.0f;
        float lp;
        int t = sample_token(x, V, &sc, 0.5, &lp, idx, ex);
        CHECK(t == first, "greedy with a tie at %d and %d picks %d", first, V - 1, t);
    }
    // V = 1 and a uniform distribution
    float one = 2.5f;
    int i1;
    double e1;
    float lp;
    SampleConfig s1 = {.temperature = 0.7f, .top_k = 0, .top_p = 0.9f};
    CHECK(sample_token(&one, 1, &s1, 0.5, &lp, &i1, &e1) == 0 && fabs(lp) < 1e-7, "V = 1");
    float flat[V];
    for (int v = 0; v < V; v++) flat[v] = 1.0f;
    SampleConfig s2 = {.temperature = 1.0f, .top_k = 3, .top_p = 1.0f};
    memcpy(x, flat, sizeof flat);
    int t = sample_token(x, V, &s2, 0.99, &lp, idx, ex);
    CHECK(t >= 0 && t < V && fabs((double)lp + log((double)V)) < 1e-6, "flat top-k: %d %g", t, lp);
}

static void test_truncation(void) {
    // a hand-made distribution, shuffled so that index order is not probability order
    enum { V = 8 };
    const double pr[V] = {0.30, 0.22, 0.16, 0.12, 0.08, 0.06, 0.04, 0.02};
    const int at[V] = {5, 2, 7, 0, 3, 6, 1, 4};
    float lg[V];
    for (int i = 0; i < V; i++) lg[at[i]] = (float)log(pr[i]) + 1.5f;
    SampleConfig sc = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
    CHECK_DRAWS("plain T=1", lg, V, &sc, 40000, 100000);
    sc.temperature = 0.6f;
    CHECK_DRAWS("plain T=0.6", lg, V, &sc, 20000, 0);
    sc.temperature = 1.7f;
    CHECK_DRAWS("plain T=1.7", lg, V, &sc, 20000, 0);
    sc.temperature = 1.0f;
    for (int k = 1; k <= V + 1; k++) {
        sc.top_k = k;
        CHECK_DRAWS("top-k", lg, V, &sc, 20000, k == 3 ? 100000 : 0);
    }
    sc.top_k = 0;
    const float ps[] = {0.1f, 0.5f, 0.65f, 0.9f, 0.95f, 0.99f};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        sc.top_p = ps[i];
        CHECK_DRAWS("top-p", lg, V, &sc, 20000, 0);
    }
    // top_p = 0.6 alone keeps 3 tokens (0.30 + 0.22 + 0.16); after top_k = 4 (mass 0.80) the
    // renormalised prefix 0.375 + 0.275 already reaches 0.6: 2 tokens
    sc.top_k = 4;
    sc.top_p = 0.6f;
    {
        double p[V], q[V], mg;
        ref_probs(lg, V, 1.0, p);
        CHECK(ref_allowed(p, V, &sc, q, &mg) == 2, "reference: top-k then top-p keeps 2");
    }
    CHECK_DRAWS("top-k 4 + top-p 0.6", lg, V, &sc, 20000, 0);
    sc.top_k = 3; sc.top_p = 0.95f;  // top-k binds
    CHECK_DRAWS("top-k 3 + top-p 0.95", lg, V, &sc, 20000, 0);
    sc.top_k = 6; sc.top_p = 0.5f;   // top-p binds
    CHECK_DRAWS("top-k 6 + top-p 0.5", lg, V, &sc, 20000, 0);
    sc.temperature = 0.8f; sc.top_k = 5; sc.top_p = 0.7f;
    CHECK_DRAWS("T 0.8 + top-k 5 + top-p 0.7", lg, V, &sc, 20000, 50000);

    // random logits, many configurations (cases too close to a top_p threshold are skipped)
    enum { VR = 50 };
    float lr[VR];
    int tried = 0;
    for (int c = 0; c < 40; c++) {
        fill_uniform(lr, VR, 100 + (unsigned long long)c, 1.0f + 0.2f * (float)c);
        SampleConfig s = {.temperature = c % 5 == 0 ? 1.0f : 0.5f + 0.1f * (float)(c % 7),
                          .top_k = c % 3 == 0 ? 0 : 1 + (c * 7) % VR,
                          .top_p = c % 4 == 0 ? 1.0f : 0.3f + 0.15f * (float)(c % 5)};
        double p[VR], q[VR], mg;
        ref_probs(lr, VR, s.temperature, p);
        ref_allowed(p, VR, &s, q, &mg);
        if (mg <= 1e-5) continue;
        tried++;
        CHECK_DRAWS("random logits", lr, VR, &s, 5000, 0);
    }
    CHECK(tried >= 30, "only %d random cases were far enough from a threshold", tried);

    // masked tokens (-inf) are never drawn, with or without truncation
    float lm[VR];
    fill_uniform(lm, VR, 7, 2.0f);
    for (int v = 0; v < VR; v += 3) lm[v] = -INFINITY;
    SampleConfig s3 = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
    CHECK_DRAWS("masked plain", lm, VR, &s3, 5000, 0);
    s3.top_k = 40;
    s3.top_p = 0.97f;
    CHECK_DRAWS("masked top-k/top-p", lm, VR, &s3, 5000, 0);
}

// GPT-2's vocabulary with top-p: partial selection, correct and fast.
static void test_large_vocab(void) {
    enum { V = 50257 };
    float *lg = malloc(V * sizeof(float)), *x = malloc(V * sizeof(float));
    double *p = malloc(V * sizeof(double)), *q = malloc(V * sizeof(double));
    int *idx = malloc(V * sizeof(int));
    double *ex = malloc(V * sizeof(double));
    Rng r;
    rng_seed(&r, 5, 6, 7);
    for (int shape = 0; shape < 3; shape++) {
        // 0: LM-like (a few strong candidates over a long tail), 1: moderately peaked, 2: flat
        for (int v = 0; v < V; v++) lg[v] = shape == 2 ? (float)rng_uniform(&r) : 2.0f * rng_normal(&r);
        if (shape == 0)
            for (int i = 0; i < 20; i++) lg[rng_below(&r, V)] = 12.0f + (float)i * 0.3f;
        SampleConfig sc = {.temperature = shape == 1 ? 0.7f : 1.0f, .top_k = shape == 1 ? 1000 : 0,
                           .top_p = shape == 0 ? 0.9f : 0.95f};
        ref_probs(lg, V, sc.temperature, p);
        double mg;
        int m = ref_allowed(p, V, &sc, q, &mg);
        int outside = 0, bad_lp = 0;
        const int CALLS = shape == 2 ? 10 : 30;
        double t0 = now_s();
        for (int i = 0; i < CALLS; i++) {
            double u = i == 0 ? 0.0 : i == 1 ? 1.0 - 1e-12 : rng_uniform(&r);
            memcpy(x, lg, V * sizeof(float));
            float lp;
            int t = sample_token(x, V, &sc, u, &lp, idx, ex);
            if (t < 0 || t >= V || q[t] == 0) outside++;
            else if (fabs((double)lp - log(p[t])) > 1e-5) bad_lp++;
        }
        double dt = (now_s() - t0) / CALLS;
        CHECK(mg > 1e-9, "large V shape %d: too close to the threshold", shape);
        CHECK(outside == 0, "large V shape %d: %d draws outside the nucleus of %d", shape, outside, m);
        CHECK(bad_lp == 0, "large V shape %d: %d wrong logp", shape, bad_lp);
        // a full sort of 50257 floats costs a few ms; partial selection of a small nucleus far
        // less. Generous bounds (sanitizer builds run here too).
        double limit = getenv("RLHF_VALGRIND") ? 1e9 : shape == 0 ? 0.02 : 0.2;
        CHECK(dt < limit, "large V shape %d (nucleus %d): %.2f ms per token", shape, m, dt * 1e3);
        printf("V=%d shape %d: nucleus %d tokens, %.3f ms per token\n", V, shape, m, dt * 1e3);
    }
    free(lg); free(x); free(p); free(q); free(idx); free(ex);
}

// ---- generate ---------------------------------------------------------------------------------

enum { NP = 5 };
static const int g_plen[NP] = {3, 1, 7, 5, 2};
static int g_ptok[32];
static const int *g_prompt[NP];
static uint64_t g_sid[NP];

static int gen(GPT *m, const SampleConfig *sc, Samples *s, Err *e) {
    return generate(m, NP, g_prompt, g_plen, g_sid, sc, s, e);
}

// 1 if a and b hold the same samples (tokens, ended; logp bitwise when bitwise, else ≤ 1e-5).
static int same_samples(const Samples *a, const Samples *b, int bitwise, const char *what) {
    if (a->n != b->n) {
        fprintf(stderr, "%s: %d vs %d samples\n", what, a->n, b->n);
        return 0;
    }
    for (int i = 0; i < a->n; i++) {
        if (a->len[i] != b->len[i] || a->ended[i] != b->ended[i] ||
            memcmp(a->tokens[i], b->tokens[i], (size_t)a->len[i] * sizeof(int)) != 0) {
            fprintf(stderr, "%s: sample %d differs (len %d vs %d)\n", what, i, a->len[i], b->len[i]);
            return 0;
        }
        for (int k = 0; k < a->len[i]; k++) {
            float x = a->logp[i][k], y = b->logp[i][k];
            if (bitwise ? memcmp(&x, &y, sizeof x) != 0 : !(fabsf(x - y) <= 1e-5f)) {
                fprintf(stderr, "%s: sample %d token %d: logp %.9g vs %.9g\n", what, i, k, x, y);
                return 0;
            }
        }
    }
    return 1;
}

// Full forward over prompt + generated tokens of every sample: the reported logp of each
// generated token must equal gpt_lm_logprobs under inv_temp (≤ 1e-4); with greedy, each token
// must be the argmax of the full-forward logits (up to near-ties); with top_k, within the top k.
static void check_against_forward(int line, GPT *m, const Samples *s, const SampleConfig *sc) {
    int B = s->n, V = m->cfg.vocab_size;
    size_t C = (size_t)m->cfg.n_embd;
    int len[NP];
    size_t N = 0;
    for (int b = 0; b < B; b++) N += (size_t)(len[b] = g_plen[b] + s->len[b]);
    int *tok = malloc(N * sizeof(int)), *tgt = malloc(N * sizeof(int));
    float *lp = malloc(N * sizeof(float));
    size_t o = 0;
    for (int b = 0; b < B; b++) {
        memcpy(tok + o, g_prompt[b], (size_t)g_plen[b] * sizeof(int));
        memcpy(tok + o + g_plen[b], s->tokens[b], (size_t)s->len[b] * sizeof(int));
        for (int i = 0; i < len[b]; i++)
            tgt[o + (size_t)i] = i + 1 >= g_plen[b] && i + 1 < len[b] ? tok[o + (size_t)i + 1] : -1;
        o += (size_t)len[b];
    }
    Err e;
    CHECK(gpt_forward(m, B, len, tok, &e) == 0, "line %d: %s", line, e.msg);
    float T = sc->temperature > 0 ? sc->temperature : 1.0f;
    gpt_lm_logprobs(m, tgt, 1.0f / T, lp, NULL);
    double worst = 0;
    int not_argmax = 0, not_topk = 0, compared = 0;
    o = 0;
    for (int b = 0; b < B; b++) {
        for (int k = 0; k < s->len[b]; k++) {
            size_t n = o + (size_t)g_plen[b] - 1 + (size_t)k;  // position predicting token k
            worst = fmax(worst, fabs((double)lp[n] - s->logp[b][k]));
            compared++;
            // logits of that position from the final hidden states (tied output layer)
            const float *h = m->a.lnf + n * C;
            double best = -INFINITY, mine = 0;
            int higher = 0;
            double *z = malloc((size_t)V * sizeof(double));
            for (int v = 0; v < V; v++) {
                double acc = 0;
                for (size_t c = 0; c < C; c++) acc += (double)h[c] * m->w.wte[(size_t)v * C + c];
                z[v] = acc;
                best = fmax(best, acc);
            }
            mine = z[s->tokens[b][k]];
            for (int v = 0; v < V; v++) higher += z[v] > mine + 1e-4;
            free(z);
            if (sc->temperature <= 0 && mine < best - 1e-4) not_argmax++;
            if (sc->top_k > 0 && higher >= sc->top_k) not_topk++;
        }
        o += (size_t)len[b];
    }
    CHECK(worst <= 1e-4, "line %d: generate's logp differs from the full forward by %.3g", line, worst);
    CHECK(not_argmax == 0, "line %d: %d greedy tokens are not the full-forward argmax", line, not_argmax);
    CHECK(not_topk == 0, "line %d: %d tokens outside the full-forward top-%d", line, not_topk, sc->top_k);
    CHECK(compared > 0, "line %d: nothing compared", line);
    free(tok); free(tgt); free(lp);
}

static void test_generate(void) {
    // one thread unless a check says otherwise: a tiny model's many short parallel regions only
    // wait on each other, badly so on a busy machine
    int threads0 = threads_get();
    threads_set(1);
    GPT *m = tiny_model(0, 0, 21);
    int V = m->cfg.vocab_size;
    tiny_tokens(g_ptok, g_plen, NP, V, 33);
    size_t o = 0;
    for (int i = 0; i < NP; i++) {
        g_prompt[i] = g_ptok + o;
        o += (size_t)g_plen[i];
        g_sid[i] = 1000 + (uint64_t)i;
    }
    Err e;
    SampleConfig sc = {.temperature = 0.9f, .top_k = 0, .top_p = 1.0f, .max_new = 12, .eos_id = -1,
                       .seed = 7, .batch = 0};
    Samples ref, s;
    CHECK(gen(m, &sc, &ref, &e) == 0, "%s", e.msg);
    for (int i = 0; i < NP; i++)
        CHECK(ref.len[i] == sc.max_new && !ref.ended[i], "sample %d: len %d (max_new %d)", i,
              ref.len[i], sc.max_new);
    // same seed → same samples; another seed → others
    CHECK(gen(m, &sc, &s, &e) == 0, "%s", e.msg);
    CHECK(same_samples(&s, &ref, 1, "rerun"), "same seed gives the same samples");
    samples_free(&s);
    sc.seed = 8;
    CHECK(gen(m, &sc, &s, &e) == 0, "%s", e.msg);
    int differ = 0;
    for (int i = 0; i < NP; i++) differ += memcmp(s.tokens[i], ref.tokens[i], (size_t)sc.max_new * sizeof(int)) != 0;
    CHECK(differ >= NP - 1, "another seed changes the samples (%d of %d differ)", differ, NP);
    samples_free(&s);
    sc.seed = 7;
    // batch size and thread count do not matter: the same tokens; the log-probabilities agree to
    // rounding (bit-for-bit with OpenBLAS's AVX-512 kernels, but its Haswell sgemm rounds
    // differently for different row counts)
    int batches[] = {1, 2, 3, 4, 5, 6};
    for (size_t k = 0; k < sizeof batches / sizeof batches[0]; k++) {
        sc.batch = batches[k];
        CHECK(gen(m, &sc, &s, &e) == 0, "%s", e.msg);
        CHECK(same_samples(&s, &ref, 0, "batch"), "batch %d gives the samples of batch 0", sc.batch);
        samples_free(&s);
    }
    sc.batch = 0;
    // (under valgrind, whose floating point differs from the CPU's, only one thread count is run)
    for (int th = getenv("RLHF_VALGRIND") ? 1 : 2; th >= 1; th--) {
        threads_set(th);
        for (int bt = 0; bt <= 2; bt += 2) {
            sc.batch = bt;
            CHECK(gen(m, &sc, &s, &e) == 0, "%s", e.msg);
            CHECK(same_samples(&s, &ref, 0, "threads"), "%d threads, batch %d: same samples", th, bt);
            samples_free(&s);
        }
    }
    sc.batch = 0;
    // a sample alone (its own sample id) equals the same sample in the batch
    for (int i = 0; i < NP; i++) {
        CHECK(generate(m, 1, &g_prompt[i], &g_plen[i], &g_sid[i], &sc, &s, &e) == 0, "%s", e.msg);
        CHECK(s.n == 1 && s.len[0] == ref.len[i] &&
                  memcmp(s.tokens[0], ref.tokens[i], (size_t)ref.len[i] * sizeof(int)) == 0,
              "sample %d alone equals sample %d in the batch", i, i);
        samples_free(&s);
    }
    // repeated prompts (a GRPO group, best-of-n) are prefilled once and copied: each row equals
    // its prompt generated alone under its own sample id (rows 0/2/4 share g_prompt[0] — row 4
    // through a copy of its tokens — and rows 1/3 g_prompt[2])
    {
        int cp[8];
        memcpy(cp, g_prompt[0], (size_t)g_plen[0] * sizeof(int));
        const int *dp[5] = {g_prompt[0], g_prompt[2], g_prompt[0], g_prompt[2], cp};
        int dl[5] = {g_plen[0], g_plen[2], g_plen[0], g_plen[2], g_plen[0]};
        uint64_t ds[5] = {50, 51, 52, 53, 54};
        Samples d, one;
        CHECK(generate(m, 5, dp, dl, ds, &sc, &d, &e) == 0, "%s", e.msg);
        int differ = 0;
        for (int i = 0; i < 5; i++) {
            CHECK(generate(m, 1, &dp[i], &dl[i], &ds[i], &sc, &one, &e) == 0, "%s", e.msg);
            CHECK(one.len[0] == d.len[i] && !memcmp(one.tokens[0], d.tokens[i], (size_t)d.len[i] * sizeof(int)),
                  "repeated prompts: row %d differs from its prompt generated alone", i);
            for (int k = 0; k < d.len[i] && k < one.len[0]; k++)
                CHECK(fabsf(one.logp[0][k] - d.logp[i][k]) <= 1e-5f, "repeated prompts: row %d token %d logp %.9g vs %.9g",
                      i, k, d.logp[i][k], one.logp[0][k]);
            samples_free(&one);
            differ += i > 0 && memcmp(d.tokens[i], d.tokens[0], (size_t)d.len[0] * sizeof(int)) != 0;
        }
        CHECK(differ >= 3, "rows with their own sample ids draw different samples (%d of 4 differ from row 0)", differ);
        samples_free(&d);
    }
    check_against_forward(__LINE__, m, &ref, &sc);
    samples_free(&ref);

    // greedy: argmax of the full forward at every step, logp under T = 1
    SampleConfig g = {.temperature = 0, .top_k = 0, .top_p = 1.0f, .max_new = 10, .eos_id = -1,
                      .seed = 1, .batch = 0};
    CHECK(gen(m, &g, &s, &e) == 0, "%s", e.msg);
    check_against_forward(__LINE__, m, &s, &g);
    Samples s2;
    g.seed = 99;
    g.batch = 2;
    CHECK(gen(m, &g, &s2, &e) == 0, "%s", e.msg);
    CHECK(same_samples(&s2, &s, 0, "greedy"), "greedy ignores the seed and the batch size");
    samples_free(&s2);
    samples_free(&s);
    // truncated sampling: every token within the full forward's top-k, logp before truncation
    SampleConfig t = {.temperature = 0.8f, .top_k = 10, .top_p = 0.9f, .max_new = 15, .eos_id = -1,
                      .seed = 3, .batch = 0};
    CHECK(gen(m, &t, &s, &e) == 0, "%s", e.msg);
    check_against_forward(__LINE__, m, &s, &t);
    samples_free(&s);
    t.temperature = 1.6f;
    t.top_k = 4;
    t.top_p = 1.0f;
    CHECK(gen(m, &t, &s, &e) == 0, "%s", e.msg);
    check_against_forward(__LINE__, m, &s, &t);
    samples_free(&s);

    // EOS: pick the token the unstopped samples emit most, then stop on it
    SampleConfig u = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .max_new = 16, .eos_id = -1,
                      .seed = 11, .batch = 0};
    CHECK(gen(m, &u, &ref, &e) == 0, "%s", e.msg);
    int *freq = calloc((size_t)V, sizeof(int));
    for (int i = 0; i < NP; i++)
        for (int k = 1; k < ref.len[i]; k++) freq[ref.tokens[i][k]]++;
    int eos = 0;
    for (int v = 1; v < V; v++) if (freq[v] > freq[eos]) eos = v;
    free(freq);
    u.eos_id = eos;
    for (int bt = 0; bt <= 3; bt++) {
        u.batch = bt;
        CHECK(gen(m, &u, &s, &e) == 0, "%s", e.msg);
        int n_ended = 0;
        for (int i = 0; i < NP; i++) {
            int first = -1;
            for (int k = 0; k < ref.len[i] && first < 0; k++) if (ref.tokens[i][k] == eos) first = k;
            int want_len = first >= 0 ? first + 1 : u.max_new;
            CHECK(s.len[i] == want_len && s.ended[i] == (first >= 0) && s.len[i] <= u.max_new,
                  "batch %d sample %d: len %d ended %d, want %d %d", bt, i, s.len[i], s.ended[i],
                  want_len, first >= 0);
            if (s.len[i] == want_len) {
                CHECK(memcmp(s.tokens[i], ref.tokens[i], (size_t)want_len * sizeof(int)) == 0,
                      "sample %d: tokens before EOS as without EOS", i);
                int inner = 0;
                for (int k = 0; k + 1 < s.len[i]; k++) inner += s.tokens[i][k] == eos;
                CHECK(inner == 0, "sample %d: EOS only at the end", i);
                if (first >= 0) CHECK(s.tokens[i][s.len[i] - 1] == eos, "sample %d ends with EOS", i);
            }
            n_ended += s.ended[i];
        }
        CHECK(n_ended >= 2 && n_ended < NP, "EOS test: %d of %d samples ended (want a mix)", n_ended, NP);
        // rows leave the cache at different steps (compaction): logp still match the full forward
        check_against_forward(__LINE__, m, &s, &u);
        samples_free(&s);
    }
    samples_free(&ref);

    // max_new: 1, 0, and up to the context exactly
    u.eos_id = -1;
    u.batch = 0;
    u.max_new = 1;
    CHECK(gen(m, &u, &s, &e) == 0, "%s", e.msg);
    for (int i = 0; i < NP; i++) CHECK(s.len[i] == 1, "max_new 1: len %d", s.len[i]);
    samples_free(&s);
    u.max_new = 0;
    CHECK(gen(m, &u, &s, &e) == 0 && s.n == NP, "max_new 0: %s", e.msg);
    for (int i = 0; i < NP; i++) CHECK(s.len[i] == 0 && !s.ended[i], "max_new 0: len %d", s.len[i]);
    samples_free(&s);
    u.max_new = m->cfg.n_ctx - 7;  // the longest prompt has 7 tokens
    CHECK(gen(m, &u, &s, &e) == 0, "max_new up to the context: %s", e.msg);
    if (s.n == NP) {
        for (int i = 0; i < NP; i++) CHECK(s.len[i] == u.max_new, "len %d", s.len[i]);
        check_against_forward(__LINE__, m, &s, &u);
    }
    samples_free(&s);

    // bad requests: an error message, no crash, nothing to free
    u.max_new = m->cfg.n_ctx - 6;
    memset(&e, 0, sizeof e);
    CHECK(gen(m, &u, &s, &e) != 0 && strstr(e.msg, "context") && strstr(e.msg, "prompt 2"),
          "prompt + max_new past the context refused: %s", e.msg);
    CHECK(s.n == 0 && s.tokens == NULL && s.len == NULL, "nothing left allocated after a failure");
    samples_free(&s);  // and freeing the cleared struct is harmless
    int longp[40];
    for (int i = 0; i < 40; i++) longp[i] = i % V;
    const int *lp1[1] = {longp};
    int ll = 33;
    uint64_t sid0 = 0;
    u.max_new = 4;
    memset(&e, 0, sizeof e);
    CHECK(generate(m, 1, lp1, &ll, &sid0, &u, &s, &e) != 0 && strstr(e.msg, "context"),
          "prompt longer than the context refused: %s", e.msg);
    CHECK(s.n == 0 && s.tokens == NULL, "nothing left allocated after a failure");
    ll = 32;  // fills the context: no room for a new token
    CHECK(generate(m, 1, lp1, &ll, &sid0, &u, &s, &e) != 0 && strstr(e.msg, "context"),
          "prompt filling the context refused: %s", e.msg);
    int zl = 0;
    CHECK(generate(m, 1, lp1, &zl, &sid0, &u, &s, &e) != 0 && strstr(e.msg, "empty"),
          "empty prompt refused: %s", e.msg);
    int oov[3] = {1, V, 2}, l3 = 3;
    const int *po[1] = {oov};
    CHECK(generate(m, 1, po, &l3, &sid0, &u, &s, &e) != 0 && strstr(e.msg, "vocabulary"),
          "out-of-vocabulary prompt token refused: %s", e.msg);
    CHECK(s.n == 0 && s.tokens == NULL, "nothing left allocated after a failure");
    // no prompts at all
    CHECK(generate(m, 0, NULL, NULL, NULL, &u, &s, &e) == 0 && s.n == 0, "zero prompts: %s", e.msg);
    samples_free(&s);
    gpt_free(m);
    threads_set(threads0);
}

int main(void) {
    double t0 = now_s();
    test_greedy();
    test_truncation();
    double t1 = now_s();
    test_large_vocab();
    double t2 = now_s();
    test_generate();
    printf("sample_token %.2f s, large vocabulary %.2f s, generate %.2f s\n", t1 - t0, t2 - t1,
           now_s() - t2);
    return check_summary("test_sample");
}
