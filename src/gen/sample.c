// gen/sample.c — token selection (temperature, top-k, top-p by partial selection) and the batched
// generation loop: prefill all prompts of a batch, then decode one token per active row per
// step, compacting finished rows out of the KV cache.
#include "gen/sample.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "nn/gemm.h"
#include "nn/vecmath.h"
#include "util/rng.h"

// Moves the k largest logits' indices to idx[0..k) (unordered), quickselect on idx[lo..hi).
static void select_top(const float *x, int *idx, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = x[idx[(lo + hi) / 2]];
        int i = lo, j = hi;
        while (i <= j) {
            while (x[idx[i]] > pivot) i++;
            while (x[idx[j]] < pivot) j--;
            if (i <= j) { int t = idx[i]; idx[i] = idx[j]; idx[j] = t; i++; j--; }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

// Orders candidate indices by descending logit (ties: lower index first).
static int cmp_desc(const void *pa, const void *pb, void *ctx) {
    const float *x = ctx;
    int a = *(const int *)pa, b = *(const int *)pb;
    if (x[a] > x[b]) return -1;
    if (x[a] < x[b]) return 1;
    return (a > b) - (a < b);
}

static void sort_desc(const float *x, int *idx, int n) {
    qsort_r(idx, (size_t)n, sizeof(int), cmp_desc, (void *)x);
}

// The first index holding the maximum maxv (0 when no logit is above -FLT_MAX: all -inf or NaN).
static int first_max(const float *logits, int V, float maxv) {
    int i = 0;
    if (maxv > -FLT_MAX)
        while (i < V - 1 && logits[i] != maxv) i++;
    return i;
}

int sample_token(float *logits, int V, const SampleConfig *sc, double u, float *logp,
                 int *idx, double *ex) {
    float T = sc->temperature > 0 ? sc->temperature : 1.0f;
    if (T != 1.0f)
        for (int v = 0; v < V; v++) logits[v] /= T;
    // the maximum in vector lanes (exact in any order), then its first index
    float maxv = -FLT_MAX;
#pragma omp simd reduction(max : maxv)
    for (int v = 0; v < V; v++) maxv = logits[v] > maxv ? logits[v] : maxv;
    // exp through libmvec's vector exp (nn/vecmath.h): the whole vocabulary, every step, every row
    double z = 0;
#pragma omp simd reduction(+ : z)
    for (int v = 0; v < V; v++) {
        double x = exp((double)(logits[v] - maxv));
        ex[v] = x;
        z += x;
    }
    double lse = (double)maxv + log(z);
    if (sc->temperature <= 0) {
        int am = first_max(logits, V, maxv);
        *logp = (float)((double)logits[am] - lse);
        return am;
    }
    int k = sc->top_k > 0 && sc->top_k < V ? sc->top_k : V;
    int use_p = sc->top_p > 0 && sc->top_p < 1;
    int chosen = -1;
    if (k == V && !use_p) {  // plain sampling: inverse CDF in index order
        // whole blocks of 8 while the running sum stays at or below the target (the blocks' sums
        // are independent of each other: one dependent addition per 8 terms), then term by term
        double target = u * z, acc = 0;
        int v = 0;
        for (; v + 8 <= V; v += 8) {
            const double *b = ex + v;
            double s8 = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
            if (acc + s8 > target) break;
            acc += s8;
        }
        for (; v < V; v++) {
            acc += ex[v];
            if (acc > target) { chosen = v; break; }
        }
        if (chosen < 0) chosen = first_max(logits, V, maxv);
    } else {
        for (int v = 0; v < V; v++) idx[v] = v;
        // candidates: the top-k; with top-p, grow a sorted prefix of them until it holds mass
        // top_p of the renormalised top-k distribution (top-k first, then top-p, as Hugging Face
        // applies them)
        int m = k;
        if (use_p) {
            double need = sc->top_p;
            if (k < V) {
                select_top(logits, idx, V, k);  // idx[0..k) = the top-k
                double mk = 0;
                for (int i = 0; i < k; i++) mk += exp((double)logits[idx[i]] - lse);
                need *= mk;
            }
            m = k < 64 ? k : 64;
            for (;;) {
                select_top(logits, idx, k, m);
                sort_desc(logits, idx, m);  // m is small unless the distribution is very flat
                double mass = 0;
                int cut = -1;
                for (int i = 0; i < m; i++) {
                    mass += exp((double)logits[idx[i]] - lse);
                    if (mass >= need) { cut = i + 1; break; }
                }
                if (cut > 0) { m = cut; break; }
                if (m >= k) break;  // top-k bound reached before top-p mass
                m = m * 4 < k ? m * 4 : k;
            }
        } else {
            select_top(logits, idx, V, m);
            sort_desc(logits, idx, m);
        }
        double zz = 0;
        for (int i = 0; i < m; i++) zz += ex[idx[i]];
        double target = u * zz, acc = 0;
        for (int i = 0; i < m; i++) {
            acc += ex[idx[i]];
            if (acc > target) { chosen = idx[i]; break; }
        }
        if (chosen < 0) chosen = idx[0];
    }
    *logp = (float)((double)logits[chosen] - lse);
    return chosen;
}

void samples_free(Samples *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->tokens[i]);
        free(s->logp[i]);
    }
    free(s->tokens);
    free(s->logp);
    free(s->len);
    free(s->ended);
    memset(s, 0, sizeof *s);
}

int generate(GPT *m, int n, const int *const *prompt, const int *plen, const uint64_t *sample_id,
             const SampleConfig *sc, Samples *out, Err *e) {
    const GPTConfig *c = &m->cfg;
    int V = c->vocab_size;
    memset(out, 0, sizeof *out);
    out->n = n;
    out->len = xcalloc((size_t)n, sizeof(int));
    out->ended = xcalloc((size_t)n, sizeof(int));
    out->tokens = xcalloc((size_t)n, sizeof(int *));
    out->logp = xcalloc((size_t)n, sizeof(float *));
    for (int i = 0; i < n; i++) {
        out->tokens[i] = xmalloc((size_t)(sc->max_new > 0 ? sc->max_new : 1) * sizeof(int));
        out->logp[i] = xmalloc((size_t)(sc->max_new > 0 ? sc->max_new : 1) * sizeof(float));
        int bad = plen[i] <= 0 ? err_set(e, "generate: prompt %d is empty", i)
                  : plen[i] + sc->max_new > c->n_ctx
                      ? err_set(e, "generate: prompt %d has %d tokens; with %d new tokens it "
                                   "exceeds the model's context of %d",
                                i, plen[i], sc->max_new, c->n_ctx)
                      : 0;
        if (bad) {  // on failure nothing stays allocated (out is cleared)
            samples_free(out);
            return -1;
        }
    }
    if (sc->max_new <= 0) return 0;
    int bs = sc->batch > 0 && sc->batch < n ? sc->batch : n;
    int maxlen = 0;
    for (int i = 0; i < n; i++) maxlen = plen[i] + sc->max_new > maxlen ? plen[i] + sc->max_new : maxlen;
    // 2+ rows per step: pack the weights once for the whole generation (model/gpt_packed.c), in
    // bf16 when the process runs bf16 products (--bf16, nn/gemm.h); without oneDNN the products
    // stay on sgemm
    int packed_here = 0;
    if (bs >= 2 && !m->packed) {
        static int warned;
        Err pe;
        if (gpt_pack(m, gemm_bf16_on(), &pe) == 0) packed_here = m->packed != NULL;
        else if (!warned) {
            warned = 1;
            warnf("batched decoding without packed weights: %s", pe.msg);
        }
    }
    KVCache kv;
    kv_init(&kv, c, bs, maxlen);
    float *logits = falloc((size_t)bs * (size_t)V);
    int nthreads = omp_get_max_threads();
    int *idx = xmalloc((size_t)nthreads * (size_t)V * sizeof(int));  // per-thread top-k/top-p scratch
    double *ex = xmalloc((size_t)nthreads * (size_t)V * sizeof(double));  // per-thread exp(logit − max)
    int *slot = xmalloc((size_t)bs * sizeof(int));  // cache row -> sample index
    int *nn_ = xmalloc((size_t)bs * sizeof(int));
    int *uniq = xmalloc((size_t)bs * sizeof(int));  // row -> its distinct prompt's prefill row
    int *toks = NULL;
    Rng *rng = xmalloc((size_t)bs * sizeof(Rng));
    int rc = 0;
    for (int start = 0; start < n && rc == 0; start += bs) {
        int B = n - start < bs ? n - start : bs;
        kv_reset(&kv);
        // the prefill runs each distinct prompt once (a GRPO group, best-of-n's samples share
        // theirs): U distinct prompts fill cache rows 0..U-1, then every row gets its prompt's
        // cache and first logits copied into place
        size_t N = 0;
        for (int b = 0; b < B; b++) N += (size_t)plen[start + b];
        toks = xrealloc(toks, N * sizeof(int));
        size_t o = 0;
        int U = 0;
        for (int b = 0; b < B; b++) {
            int i = start + b;
            slot[b] = i;
            rng_seed(&rng[b], sc->seed, 0x73616d70 /* "samp" */, sample_id[i]);
            uniq[b] = U;
            for (int d = 0; d < b; d++) {
                int j = start + d;
                if (plen[j] == plen[i] && (prompt[j] == prompt[i] ||
                                           !memcmp(prompt[j], prompt[i], (size_t)plen[i] * sizeof(int)))) {
                    uniq[b] = uniq[d];
                    break;
                }
            }
            if (uniq[b] < U) continue;
            nn_[U++] = plen[i];
            memcpy(toks + o, prompt[i], (size_t)plen[i] * sizeof(int));
            o += (size_t)plen[i];
        }
        if ((rc = gpt_forward_cached(m, &kv, U, nn_, toks, logits, e))) break;
        for (int b = B - 1; b >= 0; b--)  // uniq[b] <= b: sources below b are not written yet
            if (uniq[b] != b) {
                kv_move_row(&kv, b, uniq[b]);
                memcpy(logits + (size_t)b * (size_t)V, logits + (size_t)uniq[b] * (size_t)V,
                       (size_t)V * sizeof(float));
            }
        int active = B;
        while (active > 0) {
            // sample one token per active row: rows are independent (own logits, own RNG stream),
            // so the tokens do not depend on the thread count
#pragma omp parallel for schedule(static) if (active > 1)
            for (int b = 0; b < active; b++) {
                int i = slot[b];
                float lp;
                int t = sample_token(logits + (size_t)b * (size_t)V, V, sc, rng_uniform(&rng[b]), &lp,
                                     idx + (size_t)omp_get_thread_num() * (size_t)V,
                                     ex + (size_t)omp_get_thread_num() * (size_t)V);
                out->tokens[i][out->len[i]] = t;
                out->logp[i][out->len[i]] = lp;
                out->len[i]++;
                if (t == sc->eos_id) out->ended[i] = 1;
            }
            // compact: drop finished rows (move the last active row into the hole)
            for (int b = 0; b < active;) {
                int i = slot[b];
                if (out->ended[i] || out->len[i] >= sc->max_new) {
                    active--;
                    if (b != active) {
                        kv_move_row(&kv, b, active);
                        slot[b] = slot[active];
                        rng[b] = rng[active];
                    }
                    continue;
                }
                b++;
            }
            if (active == 0) break;
            for (int b = 0; b < active; b++) {
                int i = slot[b];
                nn_[b] = 1;
                toks[b] = out->tokens[i][out->len[i] - 1];
            }
            if ((rc = gpt_forward_cached(m, &kv, active, nn_, toks, logits, e))) break;
        }
    }
    if (packed_here) gpt_unpack(m);
    kv_free(&kv);
    free(logits); free(idx); free(ex); free(slot); free(nn_); free(uniq); free(toks); free(rng);
    if (rc) samples_free(out);
    return rc;
}
