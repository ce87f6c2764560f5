// nn/embedding.c — token + position embedding lookup: forward and deterministic backward.
#include "nn/nn.h"

// out[N,C] = wte[tok[n], :] + wpe[pos[n], :]
void embedding_forward(float *out, const int *tok, const int *pos, const float *wte,
                       const float *wpe, size_t N, size_t C) {
#pragma omp parallel for schedule(static)
    for (size_t n = 0; n < N; n++) {
        const float *te = wte + (size_t)tok[n] * C, *pe = wpe + (size_t)pos[n] * C;
        float *o = out + n * C;
        for (size_t c = 0; c < C; c++) o[c] = te[c] + pe[c];
    }
}

// dwte[tok[n], :] += dout[n, :];  dwpe[pos[n], :] += dout[n, :]   (dout[N,C])
// Each thread owns a block of channels and walks all N tokens in order: no races, and the bits
// do not depend on the thread count.
void embedding_backward(float *dwte, float *dwpe, const float *dout, const int *tok,
                        const int *pos, size_t N, size_t C) {
    if (!dwte && !dwpe) return;
    enum { BLK = 32 };
    size_t nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for schedule(static)
    for (size_t bk = 0; bk < nblk; bk++) {
        size_t c0 = bk * BLK, c1 = c0 + BLK < C ? c0 + BLK : C;
        for (size_t n = 0; n < N; n++) {
            const float *d = dout + n * C;
            if (dwte) {
                float *g = dwte + (size_t)tok[n] * C;
                for (size_t c = c0; c < c1; c++) g[c] += d[c];
            }
            if (dwpe) {
                float *g = dwpe + (size_t)pos[n] * C;
                for (size_t c = c0; c < c1; c++) g[c] += d[c];
            }
        }
    }
}
