// tests/test_nn_attention.c — causal attention over packed ragged batches (rows of different
// lengths, including 1): double reference vs finite differences, fp32 kernel vs the reference
// (outputs, saved probabilities, gradients, accumulation) on short rows and rows spanning several
// of the kernel's causal blocks, packing independence, determinism.
#include <math.h>
#include <omp.h>
#include <stdlib.h>

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

int main(void) {
    test_ref_fd();
    static const int l1[4] = {5, 1, 9, 3}, l2[1] = {1}, l3[3] = {31, 2, 7};
    test_kernel(4, l1, 32, 4, 100);
    test_kernel(1, l2, 16, 2, 200);
    test_kernel(3, l3, 24, 3, 300);
    static const int l4[4] = {48, 61, 7, 50};  // longer rows
    test_kernel(4, l4, 32, 2, 400);
    // rows over one or more of the kernel's 64-row causal blocks: at, just past and between the
    // block boundaries
    static const int l5[5] = {64, 65, 129, 150, 63};
    test_kernel(5, l5, 16, 2, 500);
    test_determinism();
    return check_summary("test_nn_attention");
}
