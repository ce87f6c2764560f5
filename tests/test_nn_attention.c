// tests/test_nn_attention.c — causal attention over packed ragged batches (rows of different
// lengths, including 1): double reference vs finite differences, fp32 kernel vs the reference
// (outputs, saved probabilities, gradients, accumulation) on short rows and rows spanning several
// of the kernel's causal blocks, packing independence, determinism; shared prefixes (a row that
// continues another row's first tokens) against the same rows written out in full; query tails
// (the outputs of a row's last positions only) against the full computation. All of it for both
// product paths (register tiles, gemm_serial); the AVX-512 softmax alone against a double one.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/attention_tiles.h"
#include "nn/nn.h"
#include "support/check.h"
#include "support/ref_nn.h"

typedef struct {
    int B, NH;
    size_t C, N, natt;
    const int *len;
    size_t off[16], att_off[16];
} Shape;

static Shape shape(int B, const int *len, size_t C, int NH) {
    Shape s = {.B = B, .NH = NH, .C = C, .len = len};
    size_t o = 0, a = 0;
    for (int b = 0; b < B; b++) {
        s.off[b] = o, s.att_off[b] = a;
        o += (size_t)len[b], a += (size_t)NH * (size_t)len[b] * (size_t)len[b];
    }
    s.N = o, s.natt = a;
    return s;
}

typedef struct {
    Shape *s;
    double *qkv, *dout, *out;
} Ctx;

static double loss(void *p) {
    Ctx *c = p;
    Shape *s = c->s;
    ref_attention_forward(c->out, NULL, c->qkv, s->len, s->off, s->att_off, s->B, s->C, s->NH);
    return ref_dot(c->dout, c->out, s->N * s->C);
}

static void test_ref_fd(void) {
    static const int len[3] = {4, 1, 6};
    Shape s = shape(3, len, 16, 2);
    Ctx c = {&s, ref_zeros(s.N * 3 * s.C), ref_zeros(s.N * s.C), ref_zeros(s.N * s.C)};
    fill_uniform_d(c.qkv, s.N * 3 * s.C, 1, 1.5), fill_uniform_d(c.dout, s.N * s.C, 2, 1);
    double *g = ref_zeros(s.N * 3 * s.C), *f = ref_zeros(s.N * 3 * s.C);
    ref_attention_backward(g, c.dout, c.qkv, s.len, s.off, s.B, s.C, s.NH);
    ref_fd_grad(loss, &c, c.qkv, s.N * 3 * s.C, 1e-5, f);
    check_close_d("ref attention dqkv vs fd", g, f, s.N * 3 * s.C, 1e-6, 1e-3);
    // a row of length 1 outputs its own V exactly
    double *att = ref_zeros(s.natt);
    ref_attention_forward(c.out, att, c.qkv, s.len, s.off, s.att_off, s.B, s.C, s.NH);
    check_close_d("ref length-1 row = its V", c.out + s.off[1] * s.C,
                  c.qkv + s.off[1] * 3 * s.C + 2 * s.C, s.C, 1e-12, 1e-3);
    free(c.qkv), free(c.dout), free(c.out), free(g), free(f), free(att);
}

static void test_kernel(int B, const int *len, size_t C, int NH, unsigned long long seed) {
    Shape s = shape(B, len, C, NH);
    size_t n3 = s.N * 3 * C, nc = s.N * C;
    float *qkv = ref_rand_f(n3, seed, 2), *dout = ref_rand_f(nc, seed + 1, 1);
    float *out = ref_rand_f(nc, seed + 2, 9), *att = ref_rand_f(s.natt, seed + 3, 9);
    double *dq = ref_to_double(qkv, n3), *ddo = ref_to_double(dout, nc);
    double *rout = ref_zeros(nc), *ratt = ref_zeros(s.natt);
    attention_forward(out, att, qkv, len, s.off, s.att_off, B, C, NH);
    ref_attention_forward(rout, ratt, dq, len, s.off, s.att_off, B, C, NH);
    check_close_f("attention_forward out", out, rout, nc, 1e-3, 1e-3);
    check_close_f("attention_forward att", att, ratt, s.natt, 1e-3, 1e-3);
    int upper_zero = 1;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < len[b]; i++)
                for (int j = i + 1; j < len[b]; j++)
                    upper_zero &= att[s.att_off[b] + ((size_t)h * (size_t)len[b] + (size_t)i) *
                                                         (size_t)len[b] + (size_t)j] == 0.0f;
    CHECK(upper_zero, "att upper triangle must be exactly zero");

    float *g = ref_rand_f(n3, seed + 4, 1);
    double *rg = ref_to_double(g, n3);
    attention_backward(g, dout, qkv, att, len, s.off, s.att_off, B, C, NH);
    ref_attention_backward(rg, ddo, dq, len, s.off, B, C, NH);
    check_close_f("attention_backward dqkv (accumulating)", g, rg, n3, 1e-3, 1e-3);
    attention_backward(NULL, dout, qkv, att, len, s.off, s.att_off, B, C, NH);  // no-op

    // packing independence: each row on its own gives the same bits as inside the batch
    int same = 1;
    for (int b = 0; b < B; b++) {
        float *o1 = calloc(len[b] * C + 1, 4), *a1 = calloc((size_t)NH * len[b] * len[b] + 1, 4);
        float *g1 = calloc(len[b] * 3 * C + 1, 4), *gb = calloc(n3, 4);
        size_t z = 0;
        attention_forward(o1, a1, qkv + s.off[b] * 3 * C, &len[b], &z, &z, 1, C, NH);
        attention_backward(g1, dout + s.off[b] * C, qkv + s.off[b] * 3 * C, a1, &len[b], &z, &z,
                           1, C, NH);
        attention_backward(gb, dout, qkv, att, len, s.off, s.att_off, B, C, NH);
        for (size_t i = 0; i < len[b] * C; i++) same &= o1[i] == out[s.off[b] * C + i];
        for (size_t i = 0; i < len[b] * 3 * C; i++) same &= g1[i] == gb[s.off[b] * 3 * C + i];
        free(o1), free(a1), free(g1), free(gb);
    }
    CHECK(same, "a row alone must give the same bits as the row inside the packed batch");

    free(qkv), free(dout), free(out), free(att), free(dq), free(ddo), free(rout), free(ratt);
    free(g), free(rg);
}

static void test_determinism(void) {
    static const int len[5] = {9, 1, 17, 3, 12};
    Shape s = shape(5, len, 32, 4);
    size_t n3 = s.N * 3 * s.C, nc = s.N * s.C;
    float *qkv = ref_rand_f(n3, 41, 2), *dout = ref_rand_f(nc, 42, 1), *first[3] = {0};
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        float *res[2][3];
        for (int r = 0; r < 2; r++) {
            float *o = calloc(nc, 4), *a = calloc(s.natt, 4), *g = calloc(n3, 4);
            attention_forward(o, a, qkv, len, s.off, s.att_off, s.B, s.C, s.NH);
            attention_backward(g, dout, qkv, a, len, s.off, s.att_off, s.B, s.C, s.NH);
            res[r][0] = o, res[r][1] = a, res[r][2] = g;
        }
        size_t sz[3] = {nc, s.natt, n3};
        const char *nm[3] = {"attention out", "attention att", "attention dqkv"};
        for (int k = 0; k < 3; k++) {
            check_bitwise(nm[k], res[0][k], res[1][k], sz[k]);
            if (!first[k]) first[k] = ref_copy_f(res[0][k], sz[k]);
            else check_bitwise(nm[k], first[k], res[0][k], sz[k]);  // thread-count independent
            free(res[0][k]), free(res[1][k]);
        }
    }
    omp_set_num_threads(saved);
    for (int k = 0; k < 3; k++) free(first[k]);
    free(qkv), free(dout);
}

// Shared prefixes: the packed batch below (roots, children of a root at various prefix lengths,
// across the 64-row blocks, a plain row) against the expanded batch where each child is its
// parent's first prefix[b] tokens followed by its own (dout zero on those copied rows). The
// child's outputs and probability rows must equal the expanded row's last len[b] ones; a child's
// gradients its expanded own rows'; a root's gradients its expanded rows' plus every child's
// copied rows'. Then the same bits for 1–3 threads.
static void test_shared(void) {
    enum { B = 6 };
    static const int len[B] = {70, 30, 5, 65, 1, 12}, parent[B] = {-1, 0, -1, 0, 2, 0},
                     prefix[B] = {0, 40, 0, 70, 3, 1};
    size_t C = 16, C3 = 3 * C;
    int NH = 2;
    size_t off[B], aoff[B], eoff[B], eaoff[B], N = 0, natt = 0, EN = 0, enatt = 0;
    int elen[B];
    for (int b = 0; b < B; b++) {
        int pre = parent[b] >= 0 ? prefix[b] : 0;
        off[b] = N, aoff[b] = natt, eoff[b] = EN, eaoff[b] = enatt;
        elen[b] = pre + len[b];
        N += (size_t)len[b], natt += attention_probs_floats(len[b], pre, NH);
        EN += (size_t)elen[b], enatt += attention_probs_floats(elen[b], 0, NH);
    }
    float *qkv = ref_rand_f(N * C3, 601, 2), *dout = ref_rand_f(N * C, 602, 1);
    AttnBatch sab = {.B = B, .len = len, .off = off, .att_off = aoff, .parent = parent,
                     .prefix = prefix};
    float *eqkv = calloc(EN * C3, 4), *edout = calloc(EN * C, 4);
    for (int b = 0; b < B; b++) {  // expanded rows: the parent's prefix, then the row's own
        int pre = elen[b] - len[b];
        if (pre) memcpy(eqkv + eoff[b] * C3, qkv + off[parent[b]] * C3, (size_t)pre * C3 * 4);
        memcpy(eqkv + (eoff[b] + (size_t)pre) * C3, qkv + off[b] * C3, (size_t)len[b] * C3 * 4);
        memcpy(edout + (eoff[b] + (size_t)pre) * C, dout + off[b] * C, (size_t)len[b] * C * 4);
    }
    float *out = calloc(N * C, 4), *att = ref_rand_f(natt, 603, 9), *g = calloc(N * C3, 4);
    float *eout = calloc(EN * C, 4), *eatt = calloc(enatt, 4), *eg = calloc(EN * C3, 4);
    attention_forward_batch(out, att, qkv, &sab, C, NH);
    attention_backward_batch(g, dout, qkv, att, &sab, C, NH);
    attention_forward(eout, eatt, eqkv, elen, eoff, eaoff, B, C, NH);
    attention_backward(eg, edout, eqkv, eatt, elen, eoff, eaoff, B, C, NH);
    double *wout = ref_zeros(N * C), *watt = ref_zeros(natt), *wg = ref_zeros(N * C3);
    for (int b = 0; b < B; b++) {
        int pre = elen[b] - len[b];
        size_t W = (size_t)elen[b];
        for (size_t i = 0; i < (size_t)len[b] * C; i++)
            wout[off[b] * C + i] = eout[(eoff[b] + (size_t)pre) * C + i];
        for (int h = 0; h < NH; h++)  // the last len[b] rows of the expanded block
            for (size_t i = 0; i < (size_t)len[b] * W; i++)
                watt[aoff[b] + (size_t)h * (size_t)len[b] * W + i] =
                    eatt[eaoff[b] + (size_t)h * W * W + (size_t)pre * W + i];
        for (size_t i = 0; i < (size_t)len[b] * C3; i++)
            wg[off[b] * C3 + i] += eg[(eoff[b] + (size_t)pre) * C3 + i];
        for (size_t i = 0; i < (size_t)pre * C3; i++)  // the copied rows' K/V gradients
            wg[off[parent[b]] * C3 + i] += eg[eoff[b] * C3 + i];
    }
    check_close_f("shared attention out vs expanded rows", out, wout, N * C, 1e-5, 1e-3);
    check_close_f("shared attention probabilities vs expanded rows", att, watt, natt, 1e-5, 1e-3);
    check_close_f("shared attention dqkv vs expanded rows", g, wg, N * C3, 1e-5, 1e-3);
    int saved = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        float *o2 = calloc(N * C, 4), *a2 = calloc(natt, 4), *g2 = calloc(N * C3, 4);
        attention_forward_batch(o2, a2, qkv, &sab, C, NH);
        attention_backward_batch(g2, dout, qkv, a2, &sab, C, NH);
        check_bitwise("shared attention out (threads)", o2, out, N * C);
        check_bitwise("shared attention att (threads)", a2, att, natt);
        check_bitwise("shared attention dqkv (threads)", g2, g, N * C3);
        free(o2), free(a2), free(g2);
    }
    omp_set_num_threads(saved);
    free(qkv), free(dout), free(eqkv), free(edout), free(out), free(att), free(g), free(eout);
    free(eatt), free(eg), free(wout), free(watt), free(wg);
}

// Query tails (AttnBatch.tail): on the shared batch above, each row asks for the outputs of its
// last tail[b] positions only (a tail that starts inside a 64-row block, one that starts on a
// block boundary, whole rows, single positions), written compactly (qoff) or at their own rows.
// Against the full computation with dout zero outside the tails: the tails' outputs and
// probability rows, and every dqkv (keys and values of all positions still get gradients).
static void test_tail(void) {
    enum { B = 6 };
    static const int len[B] = {70, 30, 5, 65, 1, 12}, parent[B] = {-1, 0, -1, 0, 2, 0},
                     prefix[B] = {0, 40, 0, 70, 3, 1}, tail[B] = {7, 30, 1, 1, 1, 5};
    size_t C = 16, C3 = 3 * C;
    int NH = 2;
    size_t off[B], aoff[B], qoff[B], N = 0, natt = 0, NT = 0;
    for (int b = 0; b < B; b++) {
        int pre = parent[b] >= 0 ? prefix[b] : 0;
        off[b] = N, aoff[b] = natt, qoff[b] = NT;
        N += (size_t)len[b], natt += attention_probs_floats(len[b], pre, NH), NT += (size_t)tail[b];
    }
    float *qkv = ref_rand_f(N * C3, 611, 2), *dout = ref_rand_f(N * C, 612, 1);
    AttnBatch sab = {.B = B, .len = len, .off = off, .att_off = aoff, .parent = parent,
                     .prefix = prefix};
    float *dtail = calloc(NT * C, 4);
    for (int b = 0; b < B; b++) {  // dout outside the tails is zero; the compact copy of the rest
        size_t skip = (size_t)(len[b] - tail[b]);
        memset(dout + off[b] * C, 0, skip * C * 4);
        memcpy(dtail + qoff[b] * C, dout + (off[b] + skip) * C, (size_t)tail[b] * C * 4);
    }
    float *out = calloc(N * C, 4), *att = calloc(natt, 4), *g = calloc(N * C3, 4);
    attention_forward_batch(out, att, qkv, &sab, C, NH);
    attention_backward_batch(g, dout, qkv, att, &sab, C, NH);
    float *wout = calloc(NT * C, 4), *watt = calloc(natt, 4);
    for (int b = 0; b < B; b++) {
        int pre = parent[b] >= 0 ? prefix[b] : 0;
        size_t W = (size_t)(pre + len[b]), skip = (size_t)(len[b] - tail[b]);
        memcpy(wout + qoff[b] * C, out + (off[b] + skip) * C, (size_t)tail[b] * C * 4);
        for (int h = 0; h < NH; h++)  // the tail's rows of each head's block
            memcpy(watt + aoff[b] + (size_t)h * (size_t)tail[b] * W,
                   att + aoff[b] + (size_t)h * (size_t)len[b] * W + skip * W,
                   (size_t)tail[b] * W * 4);
    }
    AttnBatch ab = {.B = B, .len = len, .off = off, .att_off = aoff, .parent = parent,
                    .prefix = prefix, .tail = tail, .qoff = qoff};
    int saved = omp_get_max_threads();
    float *first[3] = {0};
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        float *o = calloc(NT * C, 4), *a = calloc(natt, 4), *gt = calloc(N * C3, 4);
        attention_forward_batch(o, a, qkv, &ab, C, NH);
        attention_backward_batch(gt, dtail, qkv, a, &ab, C, NH);
        for (int b = 0; b < B; b++) {  // only the tails' probability rows are written
            int pre = parent[b] >= 0 ? prefix[b] : 0;
            size_t used = (size_t)NH * (size_t)tail[b] * (size_t)(pre + len[b]);
            for (size_t i = aoff[b] + used; i < aoff[b] + (size_t)NH * (size_t)len[b] * (size_t)(pre + len[b]); i++)
                a[i] = 0.0f;
        }
        if (nt == 1) {
            double *dw = ref_to_double(wout, NT * C), *da = ref_to_double(watt, natt),
                   *dg = ref_to_double(g, N * C3);
            check_close_f("tail attention out vs full", o, dw, NT * C, 1e-5, 1e-3);
            check_close_f("tail attention probabilities vs full", a, da, natt, 1e-5, 1e-3);
            check_close_f("tail attention dqkv vs full", gt, dg, N * C3, 1e-5, 1e-3);
            free(dw), free(da), free(dg);
            first[0] = o, first[1] = a, first[2] = gt;
            continue;
        }
        check_bitwise("tail attention out (threads)", o, first[0], NT * C);
        check_bitwise("tail attention att (threads)", a, first[1], natt);
        check_bitwise("tail attention dqkv (threads)", gt, first[2], N * C3);
        free(o), free(a), free(gt);
    }
    omp_set_num_threads(saved);
    // qoff NULL: each tail's outputs at its own rows, the rows before it untouched
    AttnBatch own = ab;
    own.qoff = NULL;
    float *o2 = calloc(N * C, 4), *a2 = calloc(natt, 4), *g2 = calloc(N * C3, 4);
    attention_forward_batch(o2, a2, qkv, &own, C, NH);
    attention_backward_batch(g2, dout, qkv, a2, &own, C, NH);
    for (int b = 0; b < B; b++) {
        size_t skip = (size_t)(len[b] - tail[b]);
        for (size_t i = 0; i < skip * C; i++)
            CHECK(o2[off[b] * C + i] == 0.0f, "row %d: an output before the tail was written", b);
        CHECK(!memcmp(o2 + (off[b] + skip) * C, first[0] + qoff[b] * C, (size_t)tail[b] * C * 4),
              "row %d: tail outputs at their own rows differ from the compact ones", b);
    }
    check_bitwise("tail attention dqkv (own rows vs compact)", g2, first[2], N * C3);
    for (int k = 0; k < 3; k++) free(first[k]);
    free(qkv), free(dout), free(dtail), free(out), free(att), free(g), free(wout), free(watt);
    free(o2), free(a2), free(g2);
}

// The AVX-512 softmax alone (nn/attention_tiles.h) against a double-precision one: rows whose
// lengths end inside, at and past 16-lane blocks, the largest score of some rows in the last
// partial block and far above the rest (exp of the other scores minus a wrong maximum would
// overflow), every column past a row's limit exactly zero.
static void test_softmax_tiles(void) {
    if (!attn_tiles_available()) return;
    enum { ROWS = 40, W = 57 };
    for (int first = 0; first <= 17; first += 17) {
        float *S = ref_rand_f((size_t)ROWS * W, 900 + first, 3);
        for (int i = 0; i < ROWS && first + i < W; i += 3) {
            int n = first + i + 1;
            S[(size_t)i * W + (size_t)(n - 1)] += 95.0f;  // the max in the row's last block
        }
        double *ref = calloc((size_t)ROWS * W, sizeof(double));
        int rows = W - first < ROWS ? W - first : ROWS;
        for (int i = 0; i < rows; i++) {
            int n = first + i + 1;
            const float *x = S + (size_t)i * W;
            double mx = x[0], sum = 0.0;
            for (int j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
            for (int j = 0; j < n; j++) sum += exp((double)x[j] - mx);
            for (int j = 0; j < n; j++) ref[(size_t)i * W + (size_t)j] = exp((double)x[j] - mx) / sum;
        }
        attn_softmax(S, rows, W, first);
        check_close_f("attn_softmax vs double", S, ref, (size_t)rows * W, 1e-6, 1e-5);
        int zero = 1;
        for (int i = 0; i < rows; i++)
            for (int j = first + i + 1; j < W; j++) zero &= S[(size_t)i * W + (size_t)j] == 0.0f;
        CHECK(zero, "attn_softmax: columns past a row's causal limit must be exactly zero");
        free(S), free(ref);
    }
}

// Every test once with each product path: the register tiles (where the CPU has AVX-512) and
// gemm_serial's library products.
static void run_all(void) {
    test_ref_fd();
    static const int l1[4] = {5, 1, 9, 3}, l2[1] = {1}, l3[3] = {31, 2, 7};
    test_kernel(4, l1, 32, 4, 100);
    test_kernel(1, l2, 16, 2, 200);
    test_kernel(3, l3, 24, 3, 300);
    static const int l4[4] = {48, 61, 7, 50};  // longer rows
    test_kernel(4, l4, 32, 2, 400);
    // rows over one or more of the 64-row causal blocks: at, just past and between the block
    // boundaries
    static const int l5[5] = {64, 65, 129, 150, 63};
    test_kernel(5, l5, 16, 2, 500);
    // the model shapes' head sizes (32: the tiny model, 64: GPT-2) and odd ones (20: a partial
    // 16-lane vector, 100: several 32-column tiles), rows across the 8-row tiles' edges
    static const int l6[4] = {100, 8, 17, 33};
    test_kernel(4, l6, 128, 4, 600);
    test_kernel(4, l6, 128, 2, 700);
    test_kernel(4, l6, 60, 3, 800);
    test_kernel(4, l6, 100, 1, 900);
    test_determinism();
    test_shared();
    test_tail();
}

int main(void) {
    test_softmax_tiles();
    int tiles = attention_set_tiles(1);
    printf("products: %s\n",
           tiles ? "register tiles, then gemm_serial" : "gemm_serial (no AVX-512)");
    run_all();
    if (tiles) {
        attention_set_tiles(0);
        run_all();
    }
    return check_summary("test_nn_attention");
}
