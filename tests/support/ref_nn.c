// tests/support/ref_nn.c — double-precision reference kernels (see ref_nn.h). Written for
// clarity, not speed: plain loops straight from the definitions.
#include "ref_nn.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

double *ref_to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

float *ref_to_float(const double *x, size_t n) {
    float *f = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) f[i] = (float)x[i];
    return f;
}

double *ref_zeros(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

double ref_dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

float *ref_rand_f(size_t n, unsigned long long seed, float scale) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    fill_uniform(x, n, seed, scale);
    return x;
}

float ref_round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;  // a denormal becomes a zero of its sign
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

float *ref_copy_f(const float *x, size_t n) {
    float *y = malloc((n ? n : 1) * sizeof(float));
    if (n) memcpy(y, x, n * sizeof(float));
    return y;
}

void ref_fd_grad(ref_loss_fn loss, void *ctx, double *x, size_t n, double h, double *grad) {
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i];
        x[i] = x0 + h;
        double lp = loss(ctx);
        x[i] = x0 - h;
        double lm = loss(ctx);
        x[i] = x0;
        grad[i] = (lp - lm) / (2 * h);
    }
}

// ---- matmul ------------------------------------------------------------------------------------
void ref_matmul_forward(double *out, const double *inp, const double *w, const double *bias,
                        size_t N, size_t C, size_t OC) {
    for (size_t n = 0; n < N; n++)
        for (size_t o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0;
            for (size_t c = 0; c < C; c++) s += inp[n * C + c] * w[c * OC + o];
            out[n * OC + o] = s;
        }
}

void ref_matmul_backward(double *dinp, double *dw, double *dbias, const double *dout,
                         const double *inp, const double *w, size_t N, size_t C, size_t OC) {
    for (size_t n = 0; n < N; n++)
        for (size_t o = 0; o < OC; o++) {
            double g = dout[n * OC + o];
            if (dbias) dbias[o] += g;
            for (size_t c = 0; c < C; c++) {
                if (dinp) dinp[n * C + c] += g * w[c * OC + o];
                if (dw) dw[c * OC + o] += g * inp[n * C + c];
            }
        }
}

// ---- layernorm ---------------------------------------------------------------------------------
static void ln_stats(const double *x, size_t C, double *mean, double *rstd) {
    double m = 0, v = 0;
    for (size_t c = 0; c < C; c++) m += x[c];
    m /= (double)C;
    for (size_t c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= (double)C;
    *mean = m;
    *rstd = 1 / sqrt(v + 1e-5);
}

void ref_layernorm_forward(double *out, const double *inp, const double *w, const double *b,
                           size_t N, size_t C) {
    for (size_t n = 0; n < N; n++) {
        double m, r;
        ln_stats(inp + n * C, C, &m, &r);
        for (size_t c = 0; c < C; c++) out[n * C + c] = (inp[n * C + c] - m) * r * w[c] + b[c];
    }
}

// Full Jacobian of x̂ w.r.t. x, row by row: ∂x̂_i/∂x_j = r·(δ_ij − 1/C − x̂_i·x̂_j/C).
void ref_layernorm_backward(double *dinp, double *dw, double *db, const double *dout,
                            const double *inp, const double *w, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++) {
        const double *x = inp + n * C, *dy = dout + n * C;
        double m, r;
        ln_stats(x, C, &m, &r);
        for (size_t c = 0; c < C; c++) {
            double xh = (x[c] - m) * r;
            if (dw) dw[c] += dy[c] * xh;
            if (db) db[c] += dy[c];
        }
        if (!dinp) continue;
        for (size_t j = 0; j < C; j++) {
            double s = 0;
            double xj = (x[j] - m) * r;
            for (size_t i = 0; i < C; i++) {
                double xi = (x[i] - m) * r;
                double jac = r * ((i == j ? 1.0 : 0.0) - 1.0 / (double)C - xi * xj / (double)C);
                s += dy[i] * w[i] * jac;
            }
            dinp[n * C + j] += s;
        }
    }
}

// ---- gelu --------------------------------------------------------------------------------------
static const double GK = 0.79788456080286535588, GA = 0.044715;

void ref_gelu_forward(double *out, const double *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = 0.5 * x * (1 + tanh(GK * (x + GA * x * x * x)));
    }
}

void ref_gelu_backward(double *dinp, const double *inp, const double *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double x = inp[i], t = tanh(GK * (x + GA * x * x * x));
        double sech2 = 1 - t * t;
        dinp[i] += dout[i] * (0.5 * (1 + t) + 0.5 * x * sech2 * GK * (1 + 3 * GA * x * x));
    }
}

// ---- embedding ---------------------------------------------------------------------------------
void ref_embedding_forward(double *out, const int *tok, const int *pos, const double *wte,
                           const double *wpe, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++)
            out[n * C + c] = wte[(size_t)tok[n] * C + c] + wpe[(size_t)pos[n] * C + c];
}

void ref_embedding_backward(double *dwte, double *dwpe, const double *dout, const int *tok,
                            const int *pos, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++) {
            if (dwte) dwte[(size_t)tok[n] * C + c] += dout[n * C + c];
            if (dwpe) dwpe[(size_t)pos[n] * C + c] += dout[n * C + c];
        }
}

// ---- attention ---------------------------------------------------------------------------------
// Probabilities of row b, head h, query i over keys j ≤ i into p[0..i].
static void ref_att_probs(double *p, const double *qkv, size_t base, size_t C, size_t hs, int h,
                          int i) {
    size_t C3 = 3 * C;
    const double *q = qkv + (base + (size_t)i) * C3 + (size_t)h * hs;
    double mx = -INFINITY;
    for (int j = 0; j <= i; j++) {
        const double *k = qkv + (base + (size_t)j) * C3 + C + (size_t)h * hs;
        double s = 0;
        for (size_t d = 0; d < hs; d++) s += q[d] * k[d];
        p[j] = s / sqrt((double)hs);
        if (p[j] > mx) mx = p[j];
    }
    double z = 0;
    for (int j = 0; j <= i; j++) z += (p[j] = exp(p[j] - mx));
    for (int j = 0; j <= i; j++) p[j] /= z;
}

void ref_attention_forward(double *out, double *att, const double *qkv, const int *len,
                           const size_t *off, const size_t *att_off, int B, size_t C, int NH) {
    size_t hs = C / (size_t)NH, C3 = 3 * C;
    for (int b = 0; b < B; b++) {
        int L = len[b];
        double *p = malloc(((size_t)L + 1) * sizeof(double));
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < L; i++) {
                ref_att_probs(p, qkv, off[b], C, hs, h, i);
                for (size_t d = 0; d < hs; d++) {
                    double s = 0;
                    for (int j = 0; j <= i; j++)
                        s += p[j] * qkv[(off[b] + (size_t)j) * C3 + 2 * C + (size_t)h * hs + d];
                    out[(off[b] + (size_t)i) * C + (size_t)h * hs + d] = s;
                }
                if (att) {
                    double *a = att + att_off[b] + ((size_t)h * (size_t)L + (size_t)i) * (size_t)L;
                    for (int j = 0; j < L; j++) a[j] = j <= i ? p[j] : 0;
                }
            }
        free(p);
    }
}

// Chain rule one query at a time: o_i = Σ_j p_j v_j, p = softmax(s), s_j = q_i·k_j/√hs.
void ref_attention_backward(double *dqkv, const double *dout, const double *qkv, const int *len,
                            const size_t *off, int B, size_t C, int NH) {
    size_t hs = C / (size_t)NH, C3 = 3 * C;
    double sc = 1 / sqrt((double)hs);
    for (int b = 0; b < B; b++) {
        int L = len[b];
        double *p = malloc(((size_t)L + 1) * sizeof(double));
        double *dp = malloc(((size_t)L + 1) * sizeof(double));
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < L; i++) {
                ref_att_probs(p, qkv, off[b], C, hs, h, i);
                const double *go = dout + (off[b] + (size_t)i) * C + (size_t)h * hs;
                size_t qi = (off[b] + (size_t)i) * C3 + (size_t)h * hs;
                for (int j = 0; j <= i; j++) {  // dp_j = go·v_j; dv_j += p_j·go
                    size_t rj = (off[b] + (size_t)j) * C3 + (size_t)h * hs;
                    dp[j] = 0;
                    for (size_t d = 0; d < hs; d++) {
                        dp[j] += go[d] * qkv[rj + 2 * C + d];
                        dqkv[rj + 2 * C + d] += p[j] * go[d];
                    }
                }
                for (int j = 0; j <= i; j++) {  // ds_j = Σ_k dp_k·∂p_k/∂s_j = p_j·(dp_j − Σ p_k dp_k)
                    double ds = 0;
                    for (int k = 0; k <= i; k++)
                        ds += dp[k] * p[k] * ((k == j ? 1.0 : 0.0) - p[j]);
                    size_t rj = (off[b] + (size_t)j) * C3 + (size_t)h * hs;
                    for (size_t d = 0; d < hs; d++) {
                        dqkv[qi + d] += ds * sc * qkv[rj + C + d];
                        dqkv[rj + C + d] += ds * sc * qkv[qi + d];
                    }
                }
            }
        free(p);
        free(dp);
    }
}

// ---- lm head -----------------------------------------------------------------------------------
// z = inv_temp·(x·wteᵀ) for one row; p = softmax z.
static void ref_lm_row(double *z, double *p, const double *x, const double *wte, double inv_temp,
                       size_t C, size_t V) {
    double mx = -INFINITY, s = 0;
    for (size_t v = 0; v < V; v++) {
        z[v] = inv_temp * ref_dot(x, wte + v * C, C);
        if (z[v] > mx) mx = z[v];
    }
    for (size_t v = 0; v < V; v++) s += (p[v] = exp(z[v] - mx));
    for (size_t v = 0; v < V; v++) p[v] /= s;
}

void ref_lmhead_forward(double *logp, double *ent, const double *x, const double *wte,
                        const int *target, double inv_temp, size_t N, size_t C, size_t V) {
    double *z = malloc(V * sizeof(double)), *p = malloc(V * sizeof(double));
    for (size_t n = 0; n < N; n++) {
        logp[n] = 0;
        if (ent) ent[n] = 0;
        if (target[n] < 0) continue;
        ref_lm_row(z, p, x + n * C, wte, inv_temp, C, V);
        logp[n] = log(p[target[n]]);
        double h = 0;
        for (size_t v = 0; v < V; v++) h -= p[v] * log(p[v]);
        if (ent) ent[n] = h;
    }
    free(z);
    free(p);
}

// dL/dz_v = dlogp·(1[v=t] − p_v) + dent·∂H/∂z_v, ∂H/∂z_v = −Σ_u (1 + log p_u)·p_u·(δ_uv − p_v);
// then z = inv_temp·x·wteᵀ.
void ref_lmhead_backward(double *dx, double *dwte, const double *dlogp, const double *dent,
                         const double *x, const double *wte, const int *target, double inv_temp,
                         size_t N, size_t C, size_t V) {
    double *z = malloc(V * sizeof(double)), *p = malloc(V * sizeof(double));
    for (size_t n = 0; n < N; n++) {
        if (target[n] < 0) continue;
        ref_lm_row(z, p, x + n * C, wte, inv_temp, C, V);
        double eh = 0;  // Σ_u (1 + log p_u)·p_u
        for (size_t u = 0; u < V; u++) eh += (1 + log(p[u])) * p[u];
        for (size_t v = 0; v < V; v++) {
            double dz = dlogp[n] * (((int)v == target[n] ? 1.0 : 0.0) - p[v]);
            if (dent) dz += dent[n] * (-(1 + log(p[v])) * p[v] + p[v] * eh);
            dz *= inv_temp;
            for (size_t c = 0; c < C; c++) {
                if (dx) dx[n * C + c] += dz * wte[v * C + c];
                if (dwte) dwte[v * C + c] += dz * x[n * C + c];
            }
        }
    }
    free(z);
    free(p);
}

// ---- scalar head -------------------------------------------------------------------------------
void ref_scalarhead_forward(double *val, const double *x, const double *w, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++) val[n] = ref_dot(x + n * C, w, C);
}

void ref_scalarhead_backward(double *dx, double *dw, const double *dval, const double *x,
                             const double *w, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++) {
            if (dx) dx[n * C + c] += dval[n] * w[c];
            if (dw) dw[c] += dval[n] * x[n * C + c];
        }
}

// ---- optimizer ---------------------------------------------------------------------------------
double ref_sum_squares(const double *g, size_t n) { return ref_dot(g, g, n); }

void ref_adamw_update(double *p, const double *g, double *m, double *v, size_t n, long step,
                      double lr, double beta1, double beta2, double eps, double weight_decay,
                      double grad_scale) {
    for (size_t i = 0; i < n; i++) {
        double gi = g[i] * grad_scale;
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        double mh = m[i] / (1 - pow(beta1, (double)step));
        double vh = v[i] / (1 - pow(beta2, (double)step));
        p[i] -= lr * (mh / (sqrt(vh) + eps) + weight_decay * p[i]);
    }
}
